import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatusSocket } from '../dist/index.js';

// A socket the test drives: it records what the client sends and opens, drops or answers on cue.
function fakeSockets() {
  const made = [];
  const factory = (url) => {
    const s = {
      url, readyState: 0, sent: [], onopen: null, onmessage: null, onclose: null, onerror: null,
      send(data) { this.sent.push(JSON.parse(data)); },
      close() { this.readyState = 3; },
      open() { this.readyState = 1; this.onopen?.({}); },
      drop() { this.readyState = 3; this.onclose?.({}); },
      push(message) { this.onmessage?.({ data: JSON.stringify(message) }); },
    };
    made.push(s);
    return s;
  };
  return { made, factory };
}

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));
const update = (statusId, status, progress) => ({
  type: 'document_status_update', statusId, status, metadata: { progress, message: status }, timestamp: '2026-12-05T00:00:00Z',
});

test('subscriptions are sent on open and again after every reconnect, with a fresh token', async () => {
  const { made, factory } = fakeSockets();
  let tokens = 0;
  const socket = new StatusSocket({ url: 'ws://gw/ws', token: () => `t${++tokens}`, socket: factory, reconnectDelayMs: 5, pingIntervalMs: 0 });
  const seen = [];
  socket.subscribe('b#k1', (u) => seen.push(u.status));
  await tick();
  assert.equal(made.length, 1);
  assert.match(made[0].url, /\?token=t1$/);
  made[0].open();
  assert.deepEqual(made[0].sent, [{ action: 'subscribe', statusId: 'b#k1' }]);
  made[0].push(update('b#k1', 'embedding', 60));
  made[0].push(update('b#other', 'embedding', 60));
  made[0].drop();
  await tick(30);
  assert.equal(made.length, 2, 'reconnected');
  assert.match(made[1].url, /token=t2$/);
  made[1].open();
  assert.deepEqual(made[1].sent, [{ action: 'subscribe', statusId: 'b#k1' }], 're-subscribed');
  made[1].push(update('b#k1', 'completed', 100));
  assert.deepEqual(seen, ['embedding', 'completed']);
  assert.equal(socket.connections, 2);
  socket.close();
  made[1].drop();
  await tick(30);
  assert.equal(made.length, 2, 'no reconnect after close');
});

test('untilDone resolves on the final stage and unsubscribes; pings keep the line alive', async () => {
  const { made, factory } = fakeSockets();
  const socket = new StatusSocket({ url: 'ws://gw/ws', token: 't', socket: factory, pingIntervalMs: 10 });
  await tick();
  made[0].open();
  const progress = [];
  const done = socket.untilDone('b#k', (u) => progress.push(u.metadata.progress));
  made[0].push(update('b#k', 'chunking', 40));
  made[0].push(update('b#k', 'cancelled', 40));
  const last = await done;
  assert.equal(last.status, 'cancelled');
  assert.deepEqual(progress, [40, 40]);
  assert.deepEqual(made[0].sent.filter((m) => m.action !== 'ping').at(-1), { action: 'unsubscribe', statusId: 'b#k' });
  await tick(35);
  assert.ok(made[0].sent.filter((m) => m.action === 'ping').length >= 2, 'pinged');
  socket.close();
});

test('reconnects back off, doubling up to the limit', async () => {
  const { made, factory } = fakeSockets();
  const socket = new StatusSocket({ url: 'ws://gw/ws', token: 't', socket: factory, reconnectDelayMs: 10, maxReconnectDelayMs: 20, pingIntervalMs: 0 });
  await tick();
  const started = Date.now();
  made[0].drop(); // 10 ms
  await tick(15);
  made[1].drop(); // 20 ms
  await tick(25);
  made[2].drop(); // 20 ms (capped)
  await tick(25);
  assert.equal(made.length, 4);
  assert.ok(Date.now() - started >= 50);
  socket.close();
});

test('a handshake refused with an error and no close is tried again, once', async () => {
  const { made, factory } = fakeSockets();
  const socket = new StatusSocket({ url: 'ws://gw/ws', token: 't', socket: factory, reconnectDelayMs: 5, pingIntervalMs: 0 });
  await tick();
  made[0].onerror?.({}); // readyState still CONNECTING
  made[0].drop(); // a runtime that also closes: not a second reconnect
  await tick(20);
  assert.equal(made.length, 2);
  made[1].open();
  assert.equal(socket.connections, 1);
  socket.close();
});

test('a connection that never opens is given up after the timeout', async () => {
  const { made, factory } = fakeSockets();
  const socket = new StatusSocket({ url: 'ws://gw/ws', token: 't', socket: factory, connectTimeoutMs: 10, reconnectDelayMs: 5, pingIntervalMs: 0 });
  await tick(40);
  assert.ok(made.length >= 2, `${made.length} connections tried`);
  socket.close();
});

test('a confirmed subscription resolves true; a refused or unanswered one false', async () => {
  const { made, factory } = fakeSockets();
  const socket = new StatusSocket({ url: 'ws://gw/ws', token: 't', socket: factory, pingIntervalMs: 0 });
  const before = socket.subscribeConfirmed('b#early', () => {}, 50);
  assert.equal(await before.confirmed, false, 'not connected yet');
  await tick();
  made[0].open();
  const ok = socket.subscribeConfirmed('b#mine', () => {}, 1000);
  const refused = socket.subscribeConfirmed('b#theirs', () => {}, 1000);
  const silent = socket.subscribeConfirmed('b#silent', () => {}, 20);
  made[0].push({ type: 'subscription_confirmed', statusId: 'b#mine' });
  made[0].push({ type: 'error', error: 'Not authorized to subscribe to this document', statusId: 'b#theirs' });
  assert.deepEqual(await Promise.all([ok.confirmed, refused.confirmed, silent.confirmed]), [true, false, false]);
  // A second listener of the same document asks again, so it is confirmed too.
  const again = socket.subscribeConfirmed('b#mine', () => {}, 1000);
  assert.deepEqual(made[0].sent.filter((m) => m.statusId === 'b#mine').length, 2);
  made[0].push({ type: 'subscription_confirmed', statusId: 'b#mine' });
  assert.equal(await again.confirmed, true);
  socket.close();
});

test('an open connection that hears nothing is replaced', async () => {
  const { made, factory } = fakeSockets();
  const socket = new StatusSocket({ url: 'ws://gw/ws', token: 't', socket: factory, pingIntervalMs: 0, silenceTimeoutMs: 20, reconnectDelayMs: 5 });
  await tick();
  made[0].open();
  await tick(60);
  assert.ok(made.length >= 2, 'reconnected after silence');
  socket.close();
});

test('closing while the token is fetched opens nothing and leaves no timer', async () => {
  const { made, factory } = fakeSockets();
  let release;
  const token = () => new Promise((r) => { release = r; });
  const states = [];
  const socket = new StatusSocket({ url: 'ws://gw/ws', token, socket: factory, pingIntervalMs: 10, onState: (s) => states.push(s) });
  const refused = assert.rejects(socket.untilDone('b#k'), /closed/);
  socket.close();
  release('t');
  await tick(20);
  assert.equal(made.length, 0);
  await refused;
  assert.deepEqual(states, ['connecting', 'closed']);
});

test('a refused subscription ends untilDone and is not asked again on reconnect', async () => {
  const { made, factory } = fakeSockets();
  const states = [];
  const socket = new StatusSocket({ url: 'ws://gw/ws', token: 't', socket: factory, pingIntervalMs: 0, reconnectDelayMs: 5, onState: (s) => states.push(s) });
  await tick();
  made[0].open();
  const theirs = assert.rejects(socket.untilDone('b#theirs'), /Not authorized/);
  made[0].push({ type: 'error', error: 'Not authorized to subscribe to this document', statusId: 'b#theirs' });
  await theirs;
  made[0].drop();
  await tick(20);
  made[1].open();
  assert.deepEqual(made[1].sent, []);
  socket.close();
  assert.equal(states.filter((s) => s === 'closed').length, 2, `one 'closed' per connection: ${states}`);
});
