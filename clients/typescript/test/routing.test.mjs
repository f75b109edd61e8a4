import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rolloutBucket, routeDocument } from '../dist/index.js';

const doc = { fileName: 'notes.txt', contentType: 'text/plain', size: 1000 };

test('a user always lands in the same bucket, and buckets spread evenly', () => {
  assert.equal(rolloutBucket('alice@example.com'), rolloutBucket('alice@example.com'));
  const counts = new Array(10).fill(0);
  for (let i = 0; i < 10_000; i++) counts[Math.floor(rolloutBucket(`user-${i}`) / 10)] += 1;
  for (const c of counts) assert.ok(c > 850 && c < 1150, `uneven: ${counts}`);
});

test('the percentage decides, stably, and grows without moving anyone back', () => {
  const users = Array.from({ length: 2000 }, (_, i) => `u${i}`);
  const on = (percent) => new Set(users.filter((u) =>
    routeDocument({ enabled: true, rolloutPercent: percent }, u, doc).backend === 'async-v2'));
  const ten = on(10);
  const fifty = on(50);
  assert.ok(ten.size > 140 && ten.size < 260, `${ten.size} of 2000 at 10%`);
  for (const u of ten) assert.ok(fifty.has(u), 'raising the percentage moved a user back');
  assert.equal(on(0).size, 0);
  assert.equal(on(100).size, users.length);
});

test('the flag, allowed users and document rules come first', () => {
  const config = {
    enabled: true, rolloutPercent: 0, allowUsers: ['tester'], alwaysAsyncFromBytes: 10_000_000,
    alwaysAsyncExtensions: ['pptx'], alwaysAsyncContentTypes: ['application/vnd.openxmlformats-officedocument.presentationml'],
  };
  assert.deepEqual(routeDocument({ ...config, enabled: false }, 'tester', doc), { backend: 'legacy', reason: 'disabled' });
  assert.equal(routeDocument(config, 'tester', doc).reason, 'allowed_user');
  assert.equal(routeDocument(config, 'x', { ...doc, size: 20_000_000 }).reason, 'document_size');
  assert.equal(routeDocument(config, 'x', { ...doc, fileName: 'Deck.PPTX' }).reason, 'document_type');
  assert.equal(routeDocument(config, 'x', { ...doc, fileName: 'deck', contentType: 'application/vnd.openxmlformats-officedocument.presentationml.presentation' }).reason, 'document_type');
  assert.deepEqual(routeDocument(config, 'x', doc), { backend: 'legacy', reason: 'not_in_rollout' });
});
