/**
 * Push overhead at 65,536 active hosts: one Graphite/InfluxDB push = a snapshot of the
 * detector (hostgroup totals, top 20 hosts by pps and bps per direction, hosts under attack)
 * plus formatting it as carbon plaintext and as InfluxDB line protocol. Prints ms per push
 * (median of 50) and the share of one core at the default 1 s interval. The network write
 * is asynchronous and not on this path.
 *   node dist/bench/export-push.js [hosts, default 65536] [top_hosts, default 20]
 */
import { newFlowRecord } from '../src/capture/flow.js';
import { createDetector } from '../src/detection/index.js';
import { graphiteLines } from '../src/export/graphite.js';
import { influxLines } from '../src/export/influx.js';
import { takeSnapshot, type SeriesSource } from '../src/export/series.js';
import { makeConfig } from '../test/fixtures/detection/helpers.js';

const hosts = Number(process.argv[2] ?? 65536);
const top = Number(process.argv[3] ?? 20);
const cfg = makeConfig({
  networks: ['10.0.0.0/8'],
  hostgroups: [
    { name: 'default', ban: { incoming: { total: { pps: 1e12 } } } },
    { name: 'web', prefixes: ['10.20.0.0/17'], ban: { incoming: { total: { pps: 1e12 } } } },
  ],
});
let now = 1_700_000_000_000;
const det = createDetector(cfg, { now: () => now, initialSlots: 1 << 17 });
const rec = newFlowRecord();
rec.exporter = '127.0.0.1';
rec.ipVersion = 4;
rec.protocol = 17;
rec.flows = 1;
for (let t = 0; t < 12; t++) {
  for (let h = 0; h < hosts; h++) {
    rec.dst4 = (0x0a140000 + h) >>> 0;
    rec.src4 = 0x08080808;
    rec.packets = 1 + (h % 97);
    rec.bytes = rec.packets * 500;
    rec.timeMs = now;
    det.sink.onFlow(rec);
  }
  now += 100;
  det.tick(now);
}
const src: SeriesSource = {
  hostgroups: () => cfg.hostgroups.map((h) => h.name),
  hostgroupRates: (n) => det.hostgroupRates(n),
  top: (n, u, d) => det.top(n, u, d),
  activeAttacks: () => det.activeAttacks(),
  hostRates: (ip) => det.hostRates(ip),
  attacksStarted: () => 0,
};
const active = det.detectionStats().hosts_v4;
const times: { snap: number; graphite: number; influx: number }[] = [];
let lines = 0;
for (let i = 0; i < 55; i++) {
  const a = performance.now();
  const s = takeSnapshot(src, top, now);
  const b = performance.now();
  const g = graphiteLines(s, 'breakwater');
  const c = performance.now();
  const f = influxLines(s);
  const d = performance.now();
  lines = g.points + f.points;
  if (i >= 5) times.push({ snap: b - a, graphite: c - b, influx: d - c });
}
const med = (k: 'snap' | 'graphite' | 'influx') =>
  times.map((t) => t[k]).sort((x, y) => x - y)[times.length >> 1]!;
const total = med('snap') + med('graphite') + med('influx');
console.log(`export push, ${active} active hosts, top_hosts ${top} (median of ${times.length} pushes)`);
console.log(
  `  snapshot ${med('snap').toFixed(2)} ms + graphite text ${med('graphite').toFixed(2)} ms + influx text ${med('influx').toFixed(2)} ms = ${total.toFixed(2)} ms per push (${lines} lines)`,
);
console.log(`  at the default 1 s interval: ${(total / 10).toFixed(2)} % of one core with both targets on`);
