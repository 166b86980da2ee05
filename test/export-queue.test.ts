/**
 * The export queue every target shares: bounded (oldest batches dropped and counted while
 * the target is down), order kept, retried with backoff until the target is back, refused
 * data dropped without stalling the rest; push() never waits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExportQueue, RejectedError, type Batch, type Transport } from '../src/export/queue.js';
import { logger } from '../src/log.js';

class FakeTarget implements Transport {
  up = false;
  reject = new Set<string>();
  got: string[] = [];
  attempts = 0;
  async send(b: readonly Batch[]): Promise<void> {
    this.attempts++;
    await new Promise((r) => setTimeout(r, 1));
    if (!this.up) throw new Error('connection refused');
    const bad = b.find((x) => this.reject.has(x.text));
    if (bad) throw new RejectedError(`bad ${bad.text}`);
    this.got.push(...b.map((x) => x.text));
  }
  close(): void {}
}

const silent = logger.child({ module: 'test' });
silent.level = 'error';

test('queue: bounded while the target is down, oldest dropped and counted, the rest delivered in order', async () => {
  const t = new FakeTarget();
  const q = new ExportQueue('fake', t, silent, {
    maxBatches: 10,
    maxPerSend: 3,
    backoffBaseMs: 5,
    backoffMaxMs: 20,
  });
  const t0 = performance.now();
  for (let i = 0; i < 25; i++) q.push({ text: `b${i}`, points: 2 });
  assert.ok(performance.now() - t0 < 50, 'push never waits on the target');
  assert.equal(q.stats.points_dropped, 15 * 2);
  assert.equal(q.stats.queued_batches, 10);
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(q.stats.up, 0);
  assert.ok(q.stats.errors >= 2, 'retried');
  assert.ok(t.attempts < 20, `backoff grows (${t.attempts} attempts in 80 ms)`);
  t.up = true;
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(
    t.got,
    Array.from({ length: 10 }, (_, i) => `b${i + 15}`),
  );
  assert.equal(q.stats.points_sent, 20);
  assert.equal(q.stats.up, 1);
  assert.equal(q.stats.queued_batches, 0);
  q.close();
});

test('queue: data the target refuses is dropped and counted, later batches still go', async () => {
  const t = new FakeTarget();
  t.up = true;
  t.reject.add('bad');
  const q = new ExportQueue('fake', t, silent, { maxPerSend: 1, backoffBaseMs: 5 });
  q.push({ text: 'a', points: 1 });
  q.push({ text: 'bad', points: 7 });
  q.push({ text: 'c', points: 1 });
  await q.flush();
  assert.deepEqual(t.got, ['a', 'c']);
  assert.equal(q.stats.points_dropped, 7);
  assert.equal(q.stats.points_sent, 2);
  assert.equal(q.stats.up, 1);
  q.close();
});
