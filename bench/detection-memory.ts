/**
 * Benchmark: detection memory per active host (issue 15 item 5: goal <= 600 B on average).
 *
 *  (i)   by layout: the bytes every active host owns in the detector's typed arrays (the
 *        per-slot block, window sums, window ring, bucket masks, flags and indexes, the
 *        baseline sample ring), from the running code's own sizes;
 *  (ii)  measured in-process: heap + ArrayBuffer growth of a detector as 65,536 hosts get
 *        traffic (below every threshold), per host;
 *  (iii) measured on the whole daemon (`breakwater run` over sockets, NetFlow v9 from
 *        test/helpers/netflow9.ts): RSS after 0, 8,192, 16,384, 32,768 and 65,536 active
 *        hosts (1,000 pps each, threshold 20,000 pps), and the least-squares slope in bytes
 *        per host.
 *
 *   node dist/bench/detection-memory.js [--hosts 65536] [--no-daemon]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDetector } from '../src/detection/index.js';
import { NC } from '../src/detection/layout.js';
import { STRIDE } from '../src/detection/store.js';
import { makeConfig, rec } from '../test/fixtures/detection/helpers.js';
import { freePort, startDaemon, tempDir } from '../test/helpers/daemon.js';
import { nf9Flood } from '../test/helpers/netflow9.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const HOSTS = Number(opt('hosts', '65536'));
const NO_DAEMON = args.includes('--no-daemon');

const hostText = (i: number) => `10.1.${(i >> 8) & 255}.${i & 255}`;
const hostAddr = (i: number) => ((10 << 24) | (1 << 16) | (i & 0xffff)) >>> 0;

function layout(): void {
  const det = createDetector(makeConfig({ networks: ['10.1.0.0/16'] }));
  const st = (
    det as unknown as {
      st: {
        store: { B: number; bytesPerSlot(): number };
        base: { bytesPerOwner(): number; perOwner: number };
      };
    }
  ).st;
  const B = st.store.B;
  const parts: [string, number][] = [
    [`slot block (${STRIDE} doubles: header, accumulators)`, STRIDE * 8],
    [`window sums (${NC} doubles)`, NC * 8],
    [`window ring (${B} buckets x ${NC} u32)`, NC * 4 * B],
    [`bucket masks (${B} u32)`, 4 * B],
    [
      'kind, flags, address, hot buffer, index backref',
      st.store.bytesPerSlot() - STRIDE * 8 - NC * 8 - NC * 4 * B - 4 * B,
    ],
    [`baseline sample ring (${st.base.perOwner} entries)`, st.base.bytesPerOwner()],
  ];
  process.stdout.write(
    `detection memory per active host, by layout (window ${B} buckets, ${NC} counters):\n`,
  );
  for (const [k, v] of parts) process.stdout.write(`  ${k.padEnd(52)} ${String(v).padStart(5)} B\n`);
  process.stdout.write(
    `  bytes per active host by layout: ${det.bytesPerHost()} B (goal <= 600 B); hot sample buffer: ${det.bytesPerHotHost()} B per hot host, under detection.hot_sample_bytes\n`,
  );
}

function inProcess(n: number): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  const used = () => {
    gc?.();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = used();
  let now = 1_700_000_000_000;
  const det = createDetector(makeConfig({ networks: ['10.1.0.0/16'] }), { now: () => now });
  for (let t = 0; t < 10; t++) {
    for (let i = 0; i < n; i++)
      det.sink.onFlow(
        rec({
          src: '192.0.2.1',
          dst: hostText(i),
          protocol: 17,
          srcPort: 53,
          dstPort: 4000,
          packets: 100,
          bytes: 10_000,
          timeMs: now,
        }),
      );
    now += 100;
    det.tick(now);
  }
  const after = used();
  process.stdout.write(
    `in-process detector, ${n} active hosts: heap + ArrayBuffers grew ${((after - before) / 2 ** 20).toFixed(1)} MiB = ${Math.round((after - before) / n)} B per host${gc ? '' : ' (run with --expose-gc for a settled figure)'} (capacity doubles, so up to 2x the layout)\n`,
  );
  void det.detectionStats();
}

function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

async function daemon(n: number): Promise<void> {
  const dir = tempDir('detmem');
  const nf = await freePort('udp');
  const cfg = `
networks: [10.0.0.0/8]
capture:
  listeners: [{ name: nf, type: netflow, address: 127.0.0.1, port: ${nf} }]
  default_sampling_rate: 1
api: { listen: "127.0.0.1:0" }
logging: { level: info }
state_dir: ${join(dir, 'state')}
policies: ./policies
`;
  const policy = `
name: carpet
prefixes: [10.1.0.0/16]
thresholds: { ban: { incoming: { total: { pps: 20000 } } } }
actions: { ban_time: 10m, blackhole: { enabled: false } }
`;
  const d = await startDaemon(dir, cfg, { 'carpet.yaml': policy });
  try {
    const pid = d.proc.pid!;
    const settle = () => new Promise((r) => setTimeout(r, 3000));
    await settle();
    const points: [number, number][] = [[0, rss(pid)]];
    for (const k of [8192, 16384, 32768, 65536].filter((x) => x <= n)) {
      const hosts = Array.from({ length: k }, (_, i) => hostAddr(i));
      const flood = nf9Flood({ port: nf, hosts, ppsPerHost: 1000, intervalMs: 100 });
      await settle();
      flood.stop();
      await new Promise((r) => setTimeout(r, 500));
      points.push([k, rss(pid)]);
    }
    const mx = points.reduce((a, p) => a + p[0], 0) / points.length;
    const my = points.reduce((a, p) => a + p[1], 0) / points.length;
    const slope =
      points.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0) /
      points.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
    process.stdout.write(
      `whole daemon (breakwater run, NetFlow v9, 1,000 pps per host, no host over its threshold):\n` +
        points
          .map(([k, r]) => `  ${String(k).padStart(6)} active hosts: RSS ${(r / 2 ** 20).toFixed(0)} MiB\n`)
          .join('') +
        `  RSS slope over ${points.at(-1)![0]} hosts: ${Math.round(slope)} B per active host\n`,
    );
  } finally {
    await d.kill();
  }
}

async function main(): Promise<void> {
  layout();
  inProcess(HOSTS);
  if (!NO_DAEMON) await daemon(HOSTS);
}

main().catch((e: Error) => {
  process.stderr.write(`${e.stack ?? e.message}\n`);
  process.exit(1);
});
