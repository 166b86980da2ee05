/**
 * The attack history store against a reference model: seeded random sequences of snapshot
 * writes, reopenings and damaged files; after every step every query equals the model's
 * answer. Plus the bounds (size, age) and the damage cases (torn tail, bad checksum, bad
 * JSON, an unreadable segment) that must be skipped and counted, never thrown.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AttackHistory } from '../src/history/store.js';
import type { HistoryAttack, HistoryQuery } from '../src/history/types.js';
import { parseHistoryQuery } from '../src/api/ui/history-api.js';
import { HttpError } from '../src/api/server.js';
import { tempDir } from './helpers/daemon.js';
import { rng } from '../src/demo/traffic.js';

function attack(
  uuid: string,
  ip: string,
  hostgroup: string,
  started: number,
  finished: number | null,
  updated: number,
  pad = 0,
): HistoryAttack {
  return {
    uuid,
    ip,
    hostgroup,
    started_at: started,
    finished_at: finished,
    updated_at: updated,
    active: finished === null,
    banned: false,
    attack_details: {
      attack_type: 'syn_flood',
      attack_direction: 'incoming',
      peak_attack_power: 1,
    } as HistoryAttack['attack_details'],
    current: { in_pps: 1, out_pps: 0, in_bps: 8, out_bps: 0 },
    samples: { count: 0, protocols: {}, top_sources: [], top_source_ports: [], top_destination_ports: [] },
    packet_dump: [],
    pcap: false,
    mitigations: [],
    flow_spec_rules: [],
    flowspec_explanation: 'x'.repeat(pad),
    timeline: [{ at: started, event: 'detected', detail: 'test' }],
  };
}

/** The model: the newest snapshot per uuid, filtered the documented way. */
function modelQuery(
  model: Map<string, HistoryAttack>,
  q: HistoryQuery,
  now: number,
  maxAge: number,
): string[] {
  return [...model.values()]
    .filter((r) => r.updated_at >= now - maxAge)
    .filter((r) => q.ip === undefined || r.ip === q.ip)
    .filter((r) => q.hostgroup === undefined || r.hostgroup === q.hostgroup)
    .filter((r) => q.until === undefined || r.started_at <= q.until)
    .filter((r) => q.since === undefined || (r.finished_at ?? Infinity) >= q.since)
    .sort((a, b) => b.started_at - a.started_at || (a.uuid < b.uuid ? -1 : 1))
    .slice(0, q.limit ?? Infinity)
    .map((r) => r.uuid);
}

const uuidOf = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

test('random writes and reopenings: every query answers what the model says', async () => {
  const seeds = 30;
  for (let seed = 1; seed <= seeds; seed++) {
    const rand = rng(seed);
    const dir = join(tempDir('hist'), 'history');
    const maxAge = 1_000_000;
    let now = 10_000_000;
    const opts = { dir, maxBytes: 1 << 30, maxAgeMs: maxAge, segmentBytes: 2048, now: () => now };
    let h = await AttackHistory.open(opts);
    const model = new Map<string, HistoryAttack>();
    const ips = ['203.0.113.1', '203.0.113.2', '2001:db8::5'];
    const groups = ['default', 'web'];
    for (let step = 0; step < 120; step++) {
      now += Math.floor(rand() * 20_000);
      const r = rand();
      if (r < 0.6) {
        const id = Math.floor(rand() * 25);
        const prev = model.get(uuidOf(id));
        const started = prev?.started_at ?? now - Math.floor(rand() * 50_000);
        const finished = rand() < 0.5 ? null : started + Math.floor(rand() * 100_000);
        const rec = attack(
          uuidOf(id),
          prev?.ip ?? ips[Math.floor(rand() * ips.length)]!,
          prev?.hostgroup ?? groups[Math.floor(rand() * 2)]!,
          started,
          finished,
          now,
        );
        h.put(rec);
        model.set(rec.uuid, rec);
      } else if (r < 0.7) {
        await h.close();
        h = await AttackHistory.open(opts);
        assert.equal(
          h.stats.corrupt_lines + h.stats.torn_tails,
          0,
          `seed ${seed} step ${step}: a clean reopen found damage`,
        );
      } else {
        const q: HistoryQuery = {
          ...(rand() < 0.5 ? { ip: ips[Math.floor(rand() * ips.length)] } : {}),
          ...(rand() < 0.3 ? { hostgroup: groups[Math.floor(rand() * 2)] } : {}),
          ...(rand() < 0.4 ? { since: now - Math.floor(rand() * 200_000) } : {}),
          ...(rand() < 0.4 ? { until: now - Math.floor(rand() * 100_000) } : {}),
          ...(rand() < 0.3 ? { limit: 1 + Math.floor(rand() * 5) } : {}),
        };
        assert.deepEqual(
          h.query(q).map((x) => x.uuid),
          modelQuery(model, q, now, maxAge),
          `seed ${seed} step ${step} query ${JSON.stringify(q)}`,
        );
      }
      // Invariant after each step: the newest snapshot of every uuid is what get() returns.
      for (const [uuid, rec] of model) {
        const fresh = rec.updated_at >= now - maxAge;
        assert.equal(
          h.get(uuid)?.updated_at,
          fresh ? rec.updated_at : undefined,
          `seed ${seed} step ${step} get ${uuid}`,
        );
      }
    }
    await h.close();
  }
});

test('a torn tail, bad checksums, bad JSON and an unreadable segment are skipped and counted', async () => {
  const dir = join(tempDir('hist'), 'history');
  const h1 = await AttackHistory.open({ dir, maxBytes: 1 << 30, maxAgeMs: 1e12 });
  for (let i = 0; i < 5; i++) h1.put(attack(uuidOf(i), '203.0.113.9', 'default', 1000 + i, null, Date.now()));
  await h1.close();
  const [seg] = readdirSync(dir);
  const file = join(dir, seg!);
  const lines = readFileSync(file, 'utf8').split('\n');
  // Line 2: one flipped character (bad checksum); line 4: garbage; tail: half a record.
  lines[1] = lines[1]!.replace('203.0.113.9', '203.0.113.8');
  lines[3] = 'not a record at all';
  writeFileSync(file, lines.join('\n') + lines[4]!.slice(0, 40));
  mkdirSync(join(dir, 'attacks-00000099.log')); // a directory where a segment should be

  const h2 = await AttackHistory.open({ dir, maxBytes: 1 << 30, maxAgeMs: 1e12 });
  assert.equal(h2.stats.corrupt_lines, 2);
  assert.equal(h2.stats.torn_tails, 1);
  assert.equal(h2.stats.unreadable_files, 1);
  assert.deepEqual(
    h2
      .query()
      .map((r) => r.uuid)
      .sort(),
    [uuidOf(0), uuidOf(2), uuidOf(4)],
  );
  // Writing goes on (into a new segment, after the damaged ones) and survives a reopen.
  h2.put(attack(uuidOf(7), '203.0.113.7', 'default', 5000, 6000, Date.now()));
  await h2.close();
  const h3 = await AttackHistory.open({ dir, maxBytes: 1 << 30, maxAgeMs: 1e12 });
  assert.ok(h3.get(uuidOf(7)), 'the record written after the damage is read back');
  assert.equal(h3.get(uuidOf(7))!.ip, '203.0.113.7');
  assert.equal(h3.stats.corrupt_lines, 2, 'the old damage is still counted, nothing new');
  await h3.close();
});

test('size bound: the oldest segments go, the total stays within max_bytes plus one segment', async () => {
  const dir = join(tempDir('hist'), 'history');
  const maxBytes = 20_000;
  const segmentBytes = 4_000;
  const h = await AttackHistory.open({ dir, maxBytes, maxAgeMs: 1e12, segmentBytes });
  for (let i = 0; i < 200; i++) {
    h.put(attack(uuidOf(i), '203.0.113.1', 'default', 1000 + i, 2000 + i, Date.now(), 300));
    if (i % 10 === 9) await h.flush();
  }
  await h.close();
  const total = readdirSync(dir).reduce((s, f) => s + statSync(join(dir, f)).size, 0);
  assert.ok(total <= maxBytes + segmentBytes, `${total} bytes on disk`);
  assert.ok(h.stats.pruned_segments > 0);
  const kept = h.query().map((r) => r.uuid);
  assert.ok(kept.includes(uuidOf(199)), 'the newest attack is kept');
  assert.ok(!kept.includes(uuidOf(0)), 'the oldest attack is gone');
  // What memory says is what the disk says.
  const h2 = await AttackHistory.open({ dir, maxBytes, maxAgeMs: 1e12, segmentBytes });
  assert.deepEqual(
    h2.query().map((r) => r.uuid),
    kept,
  );
  await h2.close();
});

test('age bound: records past max_age are not answered and their segments are deleted', async () => {
  const dir = join(tempDir('hist'), 'history');
  let now = 1_000_000_000;
  const h = await AttackHistory.open({
    dir,
    maxBytes: 1 << 30,
    maxAgeMs: 60_000,
    segmentBytes: 100,
    now: () => now,
  });
  h.put(attack(uuidOf(1), '203.0.113.1', 'default', now - 1000, now, now));
  await h.flush();
  now += 61_000;
  assert.equal(h.get(uuidOf(1)), undefined);
  assert.deepEqual(h.query(), []);
  h.put(attack(uuidOf(2), '203.0.113.2', 'default', now - 1000, now, now));
  await h.close();
  assert.equal(readdirSync(dir).length, 1, 'only the fresh segment is left');
  assert.ok(h.stats.pruned_segments >= 1);
});

test('a history dir that cannot be created does not throw; writes are counted as errors', async () => {
  const base = tempDir('hist');
  writeFileSync(join(base, 'file'), 'x');
  const h = await AttackHistory.open({
    dir: join(base, 'file', 'history'),
    maxBytes: 1 << 30,
    maxAgeMs: 1e12,
  });
  h.put(attack(uuidOf(1), '203.0.113.1', 'default', 1, 2, Date.now()));
  await h.close();
  assert.equal(h.stats.write_errors, 1);
});

test('GET /attacks parameters: ISO, epoch ms and durations; errors name the parameter', () => {
  const now = Date.parse('2026-01-31T12:00:00Z');
  const p = (s: string) => parseHistoryQuery(new URLSearchParams(s), now);
  assert.deepEqual(
    p('since=2026-01-31T11:00:00Z&until=1769860800000&ip=203.0.113.5/32&hostgroup=web&limit=5'),
    {
      since: Date.parse('2026-01-31T11:00:00Z'),
      until: 1769860800000,
      ip: '203.0.113.5',
      hostgroup: 'web',
      limit: 5,
    },
  );
  assert.deepEqual(p('since=15m'), { since: now - 15 * 60_000 });
  assert.deepEqual(p('ip=2001:DB8::0:5'), { ip: '2001:db8::5' });
  const bad = (s: string, re: RegExp) =>
    assert.throws(
      () => p(s),
      (e: unknown) => e instanceof HttpError && e.status === 400 && re.test(e.message),
    );
  bad('since=yesterday', /^since: 'yesterday' is not a time/);
  bad('limit=0', /^limit must be an integer/);
  bad('ip=300.1.1.1', /^ip: '300\.1\.1\.1' is not an IPv4 or IPv6 address/);
  bad('from=1', /^unknown parameter 'from'/);
  bad('since=2026-01-31T12:00:00Z&until=2026-01-31T11:00:00Z', /since is after until/);
});

test('a backlog is written at most linesPerWrite per flush, oldest change first, each record once in its newest state', async () => {
  const dir = join(tempDir('hist'), 'history');
  const now = 1_000_000;
  const h = await AttackHistory.open({
    dir,
    maxBytes: 1 << 30,
    maxAgeMs: 1e12,
    now: () => now,
    flushMs: 20,
    linesPerWrite: 50,
  });
  const recs = Array.from({ length: 120 }, (_, i) => attack(uuidOf(i), `10.0.0.${i}`, 'g', now, null, now));
  for (const r of recs) h.put(r);
  // The first record changes again before it is written: one line, its newest state.
  recs[0]!.timeline.push({ at: now, event: 'banned', detail: 'x' });
  h.put(recs[0]!);
  await new Promise((r) => setTimeout(r, 35)); // one flush due, not three
  assert.equal(h.stats.written_lines, 50);
  assert.equal(h.stats.pending, 70);
  const onDisk = () =>
    readdirSync(dir)
      .sort()
      .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean))
      .map((l) => JSON.parse(l.slice(l.indexOf('{'))) as HistoryAttack);
  // Oldest change first: record 0 was put again last, so it is not in the first batch.
  assert.deepEqual(
    onDisk().map((r) => r.uuid),
    recs.slice(1, 51).map((r) => r.uuid),
  );
  // The rest drains on later flushes without another put.
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(h.stats.pending, 0);
  const all = onDisk();
  assert.equal(all.length, 120, 'each record written once');
  assert.deepEqual(
    all.at(-1)!.timeline.map((e) => e.event),
    ['detected', 'banned'],
  );
  await h.close();
});

test('flush and close write the whole backlog at once', async () => {
  const dir = join(tempDir('hist'), 'history');
  const h = await AttackHistory.open({ dir, maxBytes: 1 << 30, maxAgeMs: 1e12, linesPerWrite: 10 });
  const now = Date.now();
  for (let i = 0; i < 95; i++) h.put(attack(uuidOf(i), `10.0.1.${i}`, 'g', now, null, now));
  await h.close();
  assert.equal(h.stats.written_lines, 95);
  const again = await AttackHistory.open({ dir, maxBytes: 1 << 30, maxAgeMs: 1e12 });
  assert.equal(again.query({}).length, 95);
  await again.close();
});
