/**
 * Tick cost with 65,536 active IPv4 hosts and 100,000 active IPv6 hosts (goal < 10 ms), and
 * storage per active host.
 *   node dist/bench/detection-tick.js [rounds, default 30]
 * Policies:
 *  - default thresholds (20k pps etc.): every host busy, none near a threshold;
 *  - carpet: thresholds just above every host's rate, so every host is near its threshold
 *    (hot) and is checked on every tick (the worst case; hot sample buffers are capped at
 *    1,024 hosts).
 * Cases per round:
 *  - busy: every host got records since the last tick;
 *  - quiet: nothing arrived, the windows still hold traffic (buckets leave the window).
 * Each host receives a TCP and a UDP record per tick, in and out (a SYN now and then), so
 * about a dozen of its 30 counters change on every tick.
 */
import { newFlowRecord } from '../src/capture/flow.js';
import { createDetector } from '../src/detection/index.js';
import { makeConfig } from '../test/fixtures/detection/helpers.js';

const rounds = Number(process.argv[2] ?? 30);
const V4 = 65536;
const V6 = 100_000;

function run(name: string, pps: number): void {
  const cfg = makeConfig({
    networks: ['10.20.0.0/16', '2001:db8::/32'],
    hostgroups: [
      {
        name: 'default',
        ban: { incoming: { total: { pps, mbps: 1000, flows: 3500 } }, outgoing: { total: { pps: 50000 } } },
      },
    ],
    detection: { ipv6_max_hosts: 1_000_000, ipv6_idle_ms: 3_600_000 },
  });
  let now = 1_700_000_000_000;
  const ab0 = process.memoryUsage().arrayBuffers;
  const det = createDetector(cfg, { now: () => now, initialSlots: 1024 });
  const rec = newFlowRecord();
  rec.exporter = '127.0.0.1';
  rec.samplingRate = 1;
  rec.flows = 1;
  const remote6 = new Uint8Array([0x3f, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  const host6 = new Uint8Array(16);
  host6.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1]);

  function feedAll(round: number): void {
    for (let pass = 0; pass < 2; pass++) {
      rec.protocol = pass === 0 ? 6 : 17;
      rec.tcpFlags = pass === 0 && (round & 7) === 0 ? 0x02 : 0x18;
      rec.packets = 3;
      rec.bytes = 1500;
      rec.timeMs = now;
      rec.ipVersion = 4;
      for (let h = 0; h < V4; h++) {
        rec.dst4 = (0x0a140000 + h) >>> 0;
        rec.src4 = 0xc6120001;
        det.sink.onFlow(rec);
        rec.src4 = rec.dst4;
        rec.dst4 = 0xc6120001;
        det.sink.onFlow(rec);
      }
      rec.ipVersion = 6;
      for (let h = 0; h < V6; h++) {
        host6[12] = (h >>> 24) & 255;
        host6[13] = (h >>> 16) & 255;
        host6[14] = (h >>> 8) & 255;
        host6[15] = h & 255;
        rec.dst6 = host6;
        rec.src6 = remote6;
        det.sink.onFlow(rec);
        rec.dst6 = remote6;
        rec.src6 = host6;
        det.sink.onFlow(rec);
      }
    }
  }

  function timeTick(): number {
    now += 100;
    const t = performance.now();
    det.tick(now);
    return performance.now() - t;
  }

  // Warm-up: allocate every slot and settle the JIT.
  for (let r = 0; r < 12; r++) {
    feedAll(r);
    timeTick();
  }
  const busy: number[] = [];
  const quiet: number[] = [];
  for (let r = 0; r < rounds; r++) {
    feedAll(r);
    busy.push(timeTick());
    if (r % 3 === 2) quiet.push(timeTick());
  }
  const st = det.detectionStats();
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  const p95 = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length * 0.95)]!;
  const ab = process.memoryUsage().arrayBuffers - ab0;
  console.log(
    `detection tick, ${name}: ${st.hosts_v4} IPv4 + ${st.hosts_v6} IPv6 active hosts, ${st.hot_hosts} hot, ${st.attacks_active} attacks (goal < 10 ms)`,
  );
  console.log(
    `  busy tick  (every host got records): median ${med(busy).toFixed(2)} ms, p95 ${p95(busy).toFixed(2)} ms, max ${Math.max(...busy).toFixed(2)} ms (${busy.length} ticks)`,
  );
  console.log(
    `  quiet tick (no new records):         median ${med(quiet).toFixed(2)} ms, max ${Math.max(...quiet).toFixed(2)} ms (${quiet.length} ticks)`,
  );
  console.log(
    `  storage per active host: ${det.bytesPerHost()} bytes by layout (counters + ${10}-bucket window + baseline sample ring)`,
  );
  if (ab > 0)
    console.log(
      `  typed-array memory / hosts: ${(ab / (st.hosts_v4 + st.hosts_v6)).toFixed(0)} bytes (includes doubling slack and indexes)`,
    );
  console.log(
    `  hot host (near a threshold) extra: ${det.bytesPerHotHost()} bytes (samples_per_host = ${cfg.detection.samples_per_host} with headers)`,
  );
  console.log('  (FastNetMon: about 1,130 bytes per monitored IPv4 address, preallocated)');
}

// Each host gets 6 packets per 100 ms in each direction: 60 pps.
run('default policy (20k pps)', 20000);
run('carpet (every host near its 80 pps threshold)', 80);
