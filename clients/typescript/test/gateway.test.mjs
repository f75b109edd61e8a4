// The client against a running local gateway (`ragctl dev`), as CI runs it
// (scripts/client-test.sh): RAG_GATEWAY_URL, and tokens of two users in
// RAG_CLIENT_TOKEN_A / RAG_CLIENT_USER_A and RAG_CLIENT_TOKEN_B / RAG_CLIENT_USER_B.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { RagApiError, RagClient, StatusSocket } from '../dist/index.js';

const base = process.env.RAG_GATEWAY_URL;
const a = { token: process.env.RAG_CLIENT_TOKEN_A, user: process.env.RAG_CLIENT_USER_A };
const b = { token: process.env.RAG_CLIENT_TOKEN_B, user: process.env.RAG_CLIENT_USER_B };
const required = process.env.RAG_CLIENT_REQUIRE_GATEWAY === '1';
const skip = !base && !required ? 'no RAG_GATEWAY_URL: run scripts/client-test.sh' : false;

const rejects = async (promise, status) => {
  await assert.rejects(promise, (e) => e instanceof RagApiError && e.status === status && typeof e.code === 'string');
};

test('upload, submit, live status, filtered search with citations, manage, share, delete', { skip, timeout: 120_000 }, async () => {
  assert.ok(base && a.token && b.token, 'RAG_GATEWAY_URL and both users\' tokens are set');
  const alice = new RagClient({ baseUrl: base, token: a.token });
  const bob = new RagClient({ baseUrl: base, token: async () => b.token });
  const key = `${a.user}/client/${randomUUID()}/charter.md`;
  const text = '# Charter\n\n## Scope\n\nThe observatory measures tides twice a day.\n\n## Funding\n\nGrants renew every three years.';
  const uploaded = await alice.uploadToGateway('local', key, text, 'text/markdown');
  assert.equal(uploaded.size, Buffer.byteLength(text));
  const statusId = `local#${key}`;

  const socket = new StatusSocket({ url: `${base.replace(/^http/, 'ws')}/ws`, token: a.token, pingIntervalMs: 200 });
  const stages = [];
  const done = socket.untilDone(statusId, (u) => stages.push(u.status));
  const accepted = await alice.processDocument({ bucket: 'local', key, tags: ['charter'], knowledge_base_id: 'kb-ocean', metadata: { fileName: 'charter.md' } });
  assert.equal(accepted.statusId, statusId);
  assert.ok(['queued', 'completed'].includes(accepted.status));
  let last;
  try {
    last = await done;
  } finally {
    socket.close();
  }
  assert.equal(last.status, 'completed', JSON.stringify(stages));
  assert.equal(last.metadata.progress, 100);

  const found = await alice.query({ query: 'how often are tides measured', filter: { field: 'tags', contains: 'charter' }, context: 1 });
  assert.ok(found.results.length > 0);
  assert.equal(found.results[0].document_id, statusId);
  assert.deepEqual(found.results[0].citation.heading_path.slice(0, 1), ['Charter']);
  const none = await alice.query({ query: 'tides', filter: { field: 'knowledge_base_id', eq: 'kb-other' } });
  assert.equal(none.results.length, 0);
  await rejects(alice.query({ query: '' }), 400);

  assert.equal((await alice.getStatus(statusId)).status, 'completed');
  const listed = [];
  for await (const record of alice.allDocuments({ limit: 1, status: ['completed'] })) listed.push(record.statusId);
  assert.ok(listed.includes(statusId));
  const view = await alice.getDocument(statusId);
  assert.equal(view.indexed, true);
  assert.deepEqual(view.metadata.attributes.tags, ['charter']);
  await rejects(bob.getDocument(statusId), 403);

  assert.deepEqual((await alice.shareDocument(statusId, b.user)).shared_with, [b.user]);
  const bobs = await bob.query({ query: 'tides twice a day', document_ids: [statusId] });
  assert.equal(bobs.results[0]?.document_id, statusId);
  assert.deepEqual((await alice.unshareDocument(statusId, b.user)).shared_with, []);
  assert.equal((await bob.query({ query: 'tides twice a day', document_ids: [statusId] })).results.length, 0);

  await rejects(alice.cancelDocument(statusId), 409);
  const deleted = await alice.deleteDocument(statusId);
  assert.equal(deleted.indexed, true);
  await rejects(alice.getDocument(statusId), 404);
});

test('a ping is answered, and a refused connection is tried again with a fresh token', { skip, timeout: 60_000 }, async () => {
  const messages = [];
  const states = [];
  const socket = new StatusSocket({
    url: `${base.replace(/^http/, 'ws')}/ws`, token: a.token, pingIntervalMs: 0, reconnectDelayMs: 50,
    onMessage: (m) => messages.push(m), onState: (s) => states.push(s),
  });
  const waitFor = async (check) => {
    for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(check());
  };
  // A bad token is refused by $connect: the client keeps trying with a fresh one.
  let calls = 0;
  const flaky = new StatusSocket({
    url: `${base.replace(/^http/, 'ws')}/ws`, token: () => (++calls === 1 ? 'not-a-token' : a.token),
    pingIntervalMs: 0, reconnectDelayMs: 50,
  });
  try {
    await waitFor(() => states.includes('open'));
    socket.ping();
    await waitFor(() => messages.some((m) => m.type === 'pong'));
    await waitFor(() => flaky.connections === 1);
    assert.ok(calls >= 2);
  } finally {
    flaky.close();
    socket.close();
  }
});
