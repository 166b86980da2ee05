/**
 * The live mirror's rate, whole daemon: `breakwater run` with `capture.mirror_interface: lo`
 * (tcpdump -i lo, filtered to the benchmark's port), detection live over 127.0.0.0/8 with
 * thresholds nothing reaches, fed 1400-byte UDP datagrams by a C sendmmsg sender
 * (bench/udp-send.c, a copy of ../shared/bench/udp-limit/send.c) at fixed rates, for
 * capture.workers 0 (tcpdump's stream parsed on the main thread) and 1 (on a worker).
 *
 * Lost = frames sent but not counted by the daemon (tcpdump's kernel drops, or a full ring),
 * as a share of what was sent. Also the CPU per frame of the main thread and of the busiest
 * other thread, as in daemon-ingest.ts.
 *
 *   node dist/bench/mirror-ingest.js [seconds per rate, default 3] [rates...]
 * Environment: BENCH_WORKERS="0 1". Needs tcpdump and root (or CAP_NET_RAW) for -i lo.
 */
import dgram from 'node:dgram';
import { rmSync } from 'node:fs';
import { tempDir } from '../test/helpers/daemon.js';
import { buildC, cpuPerUnit, loadDaemon, metricSums, runSender, sleep, threadTicks } from './daemon-load.js';

const args = process.argv.slice(2).map(Number);
const seconds = args[0] || 3;
const rates = args.length > 1 ? args.slice(1) : [50_000, 100_000, 150_000, 200_000];
const workerCounts = (process.env.BENCH_WORKERS ?? '0 1').split(/\s+/).filter(Boolean).map(Number);

const work = tempDir('mirror-bench');
const sender = buildC('udp-send', work);

async function run(workers: number, rate: number, port: number): Promise<string> {
  // The datagrams need a bound port (else ICMP errors end the connected sender); it never reads.
  const sink = dgram.createSocket({ type: 'udp4', recvBufferSize: 4096 });
  await new Promise<void>((r) => sink.bind(port, '127.0.0.1', () => r()));
  const dir = tempDir(`mirror-w${workers}`);
  const d = await loadDaemon(dir, '127.0.0.0/8', [
    `workers: ${workers}`,
    'listeners: []',
    'mirror_interface: lo',
    `mirror_filter: "udp and dst port ${port}"`,
  ]);
  try {
    await sleep(1000); // tcpdump is up
    await runSender(sender, ['20000', '1', String(port)]);
    await sleep(1500);
    const m0 = await metricSums(d.apiPort);
    const pid = d.proc.pid!;
    const t0 = threadTicks(pid);
    const sent = await runSender(sender, [String(rate), String(seconds), String(port)]);
    const t1 = threadTicks(pid);
    await sleep(1500);
    const m1 = await metricSums(d.apiPort);
    const diff = (k: string) => (m1.get(k) ?? 0) - (m0.get(k) ?? 0);
    const frames = diff('breakwater_capture_datagrams_total');
    const ringDropped = diff('breakwater_capture_ring_dropped_total');
    const got = frames - ringDropped;
    const cpu = cpuPerUnit(pid, t0, t1, frames);
    const lost = sent ? (100 * Math.max(0, sent - got)) / sent : 0;
    return `| breakwater run, mirror on lo, workers ${workers} | ${rate.toLocaleString('en')} | ${sent.toLocaleString('en')} | ${got.toLocaleString('en')} | ${ringDropped.toLocaleString('en')} | ${lost.toFixed(3)} % | ${cpu.main.toFixed(2)} / ${cpu.other.toFixed(2)} |`;
  } finally {
    await d.kill();
    sink.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(
  `# live mirror ingest, ${seconds} s per rate, 1400-byte UDP datagrams on lo, tcpdump -B 32768 -s 256`,
);
console.log(
  '| receiver | offered frames/s | sent | counted | ring drops | lost | CPU µs per frame: main / busiest other thread |',
);
console.log('|---|---|---|---|---|---|---|');
let port = 43000 + Math.floor(Math.random() * 1000) * 2;
for (const rate of rates)
  for (const w of workerCounts) {
    port += 2;
    console.log(await run(w, rate, port));
  }
rmSync(work, { recursive: true, force: true });
