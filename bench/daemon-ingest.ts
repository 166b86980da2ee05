/**
 * Whole-daemon ingest: `breakwater run` with detection live (a policy over 203.0.113.0/24,
 * the capture's victims, thresholds above what the capture carries so nothing is banned)
 * fed 30-record NetFlow v9 datagrams (test/fixtures/flows/udp_dns_amp.nf9.pcap) by a C
 * sendmmsg replayer (bench/udp-replay.c, a copy of ../shared/bench/udp-limit/replay.c) at
 * fixed rates, for capture.workers 0, 1 and 2, and the cheapest Node receiver (a socket
 * that only counts) in the same run for the ceiling.
 *
 * Per run it also prints the CPU time per datagram of the daemon's main thread and of its
 * busiest other thread (/proc/<pid>/task/<tid>/stat): what each thread costs whatever else
 * the machine is doing, so 1 / cost is that thread's ceiling.
 *
 * Lost = datagrams sent but not received by the daemon (kernel drops on a full socket
 * buffer) plus records dropped on a full worker ring, as a share of what was sent. Figures
 * come from the daemon's own /metrics after the run.
 *
 *   node dist/bench/daemon-ingest.js [seconds per rate, default 3] [rates...]
 * Environment: BENCH_WORKERS="0 1 2" (the worker counts to run), BENCH_SHARDS="0" (the
 * detection.shards counts, each run with every worker count), BENCH_LISTENERS=1 (listeners,
 * the rate split over them), BREAKWATER_NODE_ARGS (e.g. --cpu-prof), BENCH_SKIP_PLAIN=1.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../test/helpers/daemon.js';
import {
  buildC,
  cpuPerUnit,
  loadDaemon,
  metricSums,
  ROOT,
  runSender,
  sleep,
  threadTicks,
} from './daemon-load.js';

const PCAP = join(ROOT, 'test/fixtures/flows/udp_dns_amp.nf9.pcap');
const RECORDS_PER_DATAGRAM = 30;

const args = process.argv.slice(2).map(Number);
const seconds = args[0] || 3;
const rates = args.length > 1 ? args.slice(1) : [100_000, 150_000, 200_000];
const workerCounts = (process.env.BENCH_WORKERS ?? '0 1 2').split(/\s+/).filter(Boolean).map(Number);
const listeners = Number(process.env.BENCH_LISTENERS ?? 1);
const shardCounts = (process.env.BENCH_SHARDS ?? '0').split(/\s+/).filter(Boolean).map(Number);

const work = tempDir('ingest');
const replayer = buildC('udp-replay', work);

/** Send at `rate` for `seconds` to each port (the rate split evenly); resolves with datagrams sent. */
async function send(ports: number[], rate: number): Promise<number> {
  const n = await Promise.all(
    ports.map((p) =>
      runSender(replayer, [PCAP, String(Math.round(rate / ports.length)), String(seconds), String(p)]),
    ),
  );
  return n.reduce((a, b) => a + b, 0);
}

interface Row {
  cpu?: { main: number; other: number; second: number };
  receiver: string;
  rate: number;
  sent: number;
  received: number;
  ringDropped: number;
  records: number;
}

function row(r: Row): string {
  const lost = r.sent ? (100 * (r.sent - r.received + r.ringDropped / RECORDS_PER_DATAGRAM)) / r.sent : 0;
  return `| ${r.receiver} | ${r.rate.toLocaleString('en')} | ${r.sent.toLocaleString('en')} | ${r.received.toLocaleString('en')} | ${r.ringDropped.toLocaleString('en')} | ${Math.max(0, lost).toFixed(3)} % | ${r.records ? `${(r.records / seconds / 1e6).toFixed(2)} M` : '-'} | ${r.cpu ? `${r.cpu.main.toFixed(2)} / ${r.cpu.other.toFixed(2)} / ${r.cpu.second.toFixed(2)}` : '-'} |`;
}

async function daemonRun(workers: number, shards: number, rate: number, base: number): Promise<Row> {
  const dir = tempDir(`ingest-w${workers}`);
  // detection.shards is 'auto' in the bench's config: the daemon reads the count from here.
  process.env.BREAKWATER_DETECTION_SHARDS = String(shards);
  const ports = Array.from({ length: listeners }, (_, i) => base + i);
  // BREAKWATER_NODE_ARGS (e.g. --cpu-prof) reaches the daemon through the test helpers' startDaemon.
  const d = await loadDaemon(dir, '203.0.113.0/24', [
    `workers: ${workers}`,
    'receive_buffer_bytes: 33554432',
    'listeners:',
    ...ports.map((p, i) => `  - { name: l${i}, type: netflow, address: 127.0.0.1, port: ${p} }`),
  ]);
  try {
    // Warm-up: templates learned, the hot path compiled.
    await send(ports, 20_000);
    await sleep(1500);
    const m0 = await metricSums(d.apiPort);
    const pid = d.proc.pid!;
    const t0 = threadTicks(pid);
    const sent = await send(ports, rate);
    const t1 = threadTicks(pid);
    await sleep(1500);
    const m1 = await metricSums(d.apiPort);
    const diff = (k: string) => (m1.get(k) ?? 0) - (m0.get(k) ?? 0);
    const received = diff('breakwater_capture_datagrams_total');
    // With decode workers their rings are the shards' (counted in both families): once.
    const dropped = diff(
      workers > 0 ? 'breakwater_capture_ring_dropped_total' : 'breakwater_detection_shard_ring_dropped_total',
    );
    return {
      cpu: cpuPerUnit(pid, t0, t1, received),
      receiver: `breakwater run, workers ${workers}, shards ${shards}`,
      rate,
      sent,
      received,
      ringDropped: dropped,
      records: diff('breakwater_capture_records_total') - dropped,
    };
  } finally {
    await d.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The ceiling: a Node socket per listener that only counts (as ../shared/bench/udp-limit/recv.mjs). */
async function plainRun(rate: number, base: number): Promise<Row> {
  const ports = Array.from({ length: listeners }, (_, i) => base + i);
  const script = `
    const dgram = require('node:dgram');
    let n = 0;
    for (const p of ${JSON.stringify(ports)}) {
      const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 33554432 });
      s.on('message', () => n++);
      s.bind(p, '127.0.0.1');
    }
    process.on('SIGTERM', () => { process.stdout.write(String(n)); process.exit(0); });`;
  const c = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await sleep(500);
  const sent = await send(ports, rate);
  await sleep(500);
  c.kill('SIGTERM');
  await new Promise((r) => c.once('exit', r));
  return {
    receiver: 'Node socket that only counts',
    rate,
    sent,
    received: Number(out),
    ringDropped: 0,
    records: 0,
  };
}

async function main(): Promise<void> {
  const rmem = readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim();
  console.log(
    `# whole-daemon ingest, ${seconds} s per rate, ${listeners} listener(s), udp_dns_amp.nf9 (30 records/datagram), net.core.rmem_max ${rmem}`,
  );
  console.log(
    '| receiver | offered/s | sent | received | ring drops (records) | lost | records/s | CPU µs per datagram: main / busiest other thread / second busiest |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  let base = 41000 + Math.floor(Math.random() * 2000) * 4;
  const next = () => {
    base += 200;
    return base;
  };
  for (const rate of rates) {
    if (!process.env.BENCH_SKIP_PLAIN) console.log(row(await plainRun(rate, next())));
    for (const sh of shardCounts)
      for (const w of workerCounts) console.log(row(await daemonRun(w, sh, rate, next())));
  }
  rmSync(work, { recursive: true, force: true });
}

await main();
