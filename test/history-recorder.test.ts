/**
 * The recorder turns detector and mitigation events into one attack record with its
 * timeline (detected, banned, updated, escalated, unbanned, finished), written to the
 * store, and closes attacks a previous run left open.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AttackHistory } from '../src/history/store.js';
import { AttackRecorder } from '../src/history/recorder.js';
import type { Mitigation } from '../src/mitigation/types.js';
import { attack } from './fixtures/mitigation/helpers.js';
import { tempDir } from './helpers/daemon.js';
import { parseCause } from '../src/mitigation/cause.js';

function mitigation(
  kind: Mitigation['kind'],
  prefix: string,
  ip: string,
  cause: string,
  uuid: string,
): Mitigation {
  return {
    uuid,
    kind,
    prefix,
    ip,
    cause: parseCause(cause),
    hostgroup: 'default',
    started_at: 1000,
    expires_at: null,
    communities: [],
    large_communities: [],
    dry_run: false,
  };
}

/** A store in a fresh dir and a recorder on it, fed by two emitters standing for detector and manager. */
async function recorderOn(
  clock: () => number,
  opts: { persistEveryMs: number; updateLinesPerS?: number },
): Promise<{ dir: string; store: AttackHistory; det: EventEmitter; mgr: EventEmitter; rec: AttackRecorder }> {
  const dir = join(tempDir('rec'), 'history');
  const store = await AttackHistory.open({ dir, maxBytes: 1 << 30, maxAgeMs: 1e12, now: clock });
  const det = new EventEmitter();
  const mgr = new EventEmitter();
  const rec = new AttackRecorder(store, {
    detector: det as never,
    manager: mgr as never,
    now: clock,
    ...opts,
  });
  return { dir, store, det, mgr, rec };
}

test('a ban, an escalation and their ends land on the attack timeline, in the store and across a reopen', async () => {
  let now = 10_000;
  const { dir, store, det, mgr, rec } = await recorderOn(() => now, { persistEveryMs: 5_000 });
  const changes: string[] = [];
  rec.onChange((r) => changes.push(r.timeline.at(-1)!.event));

  const a = { ...attack('203.0.113.10', '11111111-1111-4111-8111-111111111111'), startedAt: now };
  det.emit('attack_started', a);
  now += 10;
  const bh = mitigation('blackhole', '203.0.113.10/32', '203.0.113.10', `attack ${a.uuid}`, 'm-bh');
  mgr.emit('added', bh, '');
  now += 1000;
  det.emit('attack_updated', a);
  now += 1000;
  det.emit('attack_updated', a); // within persistEveryMs: replaces the last "updated" line
  const esc = mitigation(
    'escalation',
    '203.0.113.0/24',
    '203.0.113.10',
    'escalation of 203.0.113.10',
    'm-esc',
  );
  mgr.emit('added', esc, '');
  now += 1000;
  mgr.emit('removed', esc, 'emergency rates gone');
  det.emit('attack_finished', a);
  now += 1000;
  mgr.emit('removed', bh, 'ban time over');
  // Unrelated mitigations do not touch it.
  mgr.emit('added', mitigation('blackhole', '203.0.113.99/32', '203.0.113.99', 'manual', 'm-man'), '');

  const r = rec.get(a.uuid)!;
  assert.deepEqual(
    r.timeline.map((e) => e.event),
    ['detected', 'banned', 'updated', 'escalated', 'unbanned', 'finished', 'unbanned'],
  );
  assert.deepEqual(changes, [
    'detected',
    'banned',
    'updated',
    'updated',
    'escalated',
    'unbanned',
    'finished',
    'unbanned',
  ]);
  assert.equal(r.active, false);
  assert.equal(r.banned, false);
  assert.deepEqual(
    r.mitigations.map((m) => [m.kind, m.end_reason]),
    [
      ['blackhole', 'ban time over'],
      ['escalation', 'emergency rates gone'],
    ],
  );
  assert.equal(r.samples.count, 1);
  assert.equal(r.samples.protocols.tcp! > 0, true);
  await store.close();

  const again = await AttackHistory.open({ dir, maxBytes: 1 << 30, maxAgeMs: 1e12, now: () => now });
  assert.deepEqual(again.get(a.uuid)!.timeline, r.timeline, 'what was written is the final record');
  await again.close();
});

test('an attack left active by a stopped daemon is closed at the next start', async () => {
  const dir = join(tempDir('rec'), 'history');
  const store = await AttackHistory.open({ dir, maxBytes: 1 << 30, maxAgeMs: 1e12 });
  const det = new EventEmitter();
  const mgr = new EventEmitter();
  new AttackRecorder(store, { detector: det as never, manager: mgr as never });
  det.emit('attack_started', {
    ...attack('203.0.113.11', '22222222-2222-4222-8222-222222222222'),
    startedAt: Date.now(),
  });
  await store.close();

  const store2 = await AttackHistory.open({ dir, maxBytes: 1 << 30, maxAgeMs: 1e12 });
  assert.equal(
    store2.get('22222222-2222-4222-8222-222222222222')!.active,
    true,
    'as written by the stopped run',
  );
  const rec2 = new AttackRecorder(store2, {
    detector: new EventEmitter() as never,
    manager: new EventEmitter() as never,
  });
  const r = rec2.get('22222222-2222-4222-8222-222222222222')!;
  assert.equal(r.active, false);
  assert.ok(r.finished_at !== null && r.finished_at >= r.started_at, 'closed at its last update');
  assert.match(r.timeline.at(-1)!.detail, /daemon stopped during the attack/);
  assert.deepEqual(rec2.counts().active.size, 0);
  await store2.close();
});

test('periodic snapshots past the per-second budget are deferred, counted and written at the next chance', async () => {
  let now = 50_000;
  const { dir, store, det, rec } = await recorderOn(() => now, { persistEveryMs: 1_000, updateLinesPerS: 2 });
  const attacks = [0, 1, 2, 3].map((i) => ({
    ...attack(`203.0.113.${20 + i}`, `3333333${i}-3333-4333-8333-333333333333`),
    startedAt: now,
  }));
  for (const a of attacks) det.emit('attack_started', a);
  await store.flush();
  // Lines on disk: one per start so far, then one per snapshot written.
  const lines = () =>
    readdirSync(dir)
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('')
      .split('\n')
      .filter(Boolean).length;
  const written = () => lines() - attacks.length;
  assert.equal(written(), 0);

  now += 1_500; // every attack is due a snapshot; the budget allows two this second
  for (const a of attacks)
    det.emit('attack_updated', { ...a, details: { ...a.details, peak_attack_power: 99_999 } });
  await store.flush();
  assert.equal(written(), 2, 'two snapshots written');
  assert.equal(rec.deferredUpdates, 2, 'two deferred and counted');
  assert.equal(rec.counts().deferredUpdates, 2);
  // The live record still answers with the newest figures.
  for (const a of attacks) assert.equal(rec.get(a.uuid)!.timeline.at(-1)!.event, 'updated');

  now += 1_000; // next second: the two deferred ones are written at their next update
  for (const a of attacks.slice(2)) det.emit('attack_updated', a);
  await store.flush();
  assert.equal(written(), 4);

  // An end is always written, whatever the budget.
  now += 10;
  for (const a of attacks) det.emit('attack_updated', a);
  for (const a of attacks) det.emit('attack_finished', a);
  await store.flush();
  assert.equal(written(), 8, 'the four ends are written past the budget');
  await store.close();
  const again = await AttackHistory.open({ dir, maxBytes: 1 << 30, maxAgeMs: 1e12, now: () => now });
  for (const a of attacks) assert.equal(again.get(a.uuid)!.timeline.at(-1)!.event, 'finished');
  await again.close();
});
