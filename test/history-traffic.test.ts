/** Traffic history: 1 s points for 15 minutes, 1 min averages for 24 hours, fixed rings. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrafficHistory } from '../src/history/traffic.js';

test('per-second points roll over after 900; per-minute points are the averages of their seconds', () => {
  let pps = 0;
  const t = new TrafficHistory(() => ({
    in_packets: pps,
    out_packets: pps / 2,
    in_bytes: pps * 100,
    out_bytes: 0,
  }));
  const seen: number[] = [];
  t.onPoint((s) => seen.push(s));
  const start = 1_800_000_000; // a minute boundary (divisible by 60)
  for (let i = 0; i < 25 * 60 * 60 + 1; i++) {
    pps = i % 60; // 0..59 within each minute: average 29.5
    t.sample((start + i) * 1000);
  }
  const s = t.series('1s');
  assert.equal(s.t.length, 900);
  assert.equal(s.t.at(-1), start + 25 * 3600);
  assert.equal(s.t[0], start + 25 * 3600 - 899);
  assert.deepEqual(s.in_pps.slice(-3), [58, 59, 0]);
  assert.equal(s.out_pps.at(-2), 29.5);
  assert.equal(s.in_bps.at(-2), 59 * 800);
  const m = t.series('1m');
  assert.equal(m.t.length, 1440, '24 hours of minutes, the oldest hour rolled out');
  assert.equal(m.t.at(-1), start + 25 * 3600 - 60);
  assert.ok(
    m.in_pps.every((v) => v === 29.5),
    'each minute is the mean of its 60 seconds',
  );
  assert.equal(m.in_bps[0], 29.5 * 800);
  assert.equal(seen.length, 25 * 3600 + 1);
  // Since filter.
  assert.equal(t.series('1s', start + 25 * 3600 - 9).t.length, 10);
});

test('per hostgroup: one series per configured hostgroup, following reloads', async () => {
  const { HostgroupTraffic } = await import('../src/history/traffic.js');
  let names = ['default', 'web'];
  const hg = new HostgroupTraffic(
    () => names,
    (n) => (n === 'web' ? { in_packets: 100, out_packets: 1, in_bytes: 1000, out_bytes: 10 } : null),
  );
  hg.sample(1000);
  hg.sample(1001);
  assert.deepEqual(hg.series('web', '1s')!.in_pps, [100, 100]);
  assert.deepEqual(hg.series('web', '1s')!.in_bps, [8000, 8000]);
  assert.deepEqual(hg.series('default', '1s')!.in_pps, [0, 0], 'no rates yet: zeros, not gaps');
  assert.equal(hg.series('dns', '1s'), null);
  names = ['default', 'dns'];
  hg.sample(1002);
  assert.equal(hg.series('web', '1s'), null, 'a removed hostgroup is dropped');
  assert.deepEqual(hg.series('dns', '1s')!.t, [1002], 'an added one starts empty');
  assert.equal(hg.series('default', '1s')!.t.length, 3);
});
