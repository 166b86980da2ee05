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
 * Environment: BENCH_WORKERS="0 1 2" (the worker counts to run), BENCH_LISTENERS=1 (listeners,
 * the rate split over them), BENCH_NODE_ARGS (e.g. --cpu-prof), BENCH_SKIP_PLAIN=1.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist/src/cli/main.js');
const PCAP = join(ROOT, 'test/fixtures/flows/udp_dns_amp.nf9.pcap');
const RECORDS_PER_DATAGRAM = 30;

const args = process.argv.slice(2).map(Number);
const seconds = args[0] || 3;
const rates = args.length > 1 ? args.slice(1) : [100_000, 150_000, 200_000];
const workerCounts = (process.env.BENCH_WORKERS ?? '0 1 2').split(/\s+/).filter(Boolean).map(Number);
const listeners = Number(process.env.BENCH_LISTENERS ?? 1);
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

const work = mkdtempSync(join(tmpdir(), 'bw-ingest-'));
const replayer = join(work, 'replay');
execFileSync('gcc', ['-O2', '-o', replayer, join(ROOT, 'bench/udp-replay.c')]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Send at `rate` for `seconds` to each port (the rate split evenly); resolves with datagrams sent. */
function send(ports: number[], rate: number): Promise<number> {
  return Promise.all(
    ports.map(
      (p) =>
        new Promise<number>((resolve, reject) => {
          const c = spawn(replayer, [
            PCAP,
            String(Math.round(rate / ports.length)),
            String(seconds),
            String(p),
          ]);
          let out = '';
          c.stdout.on('data', (d: Buffer) => (out += d.toString()));
          c.on('error', reject);
          c.on('exit', () => resolve(Number(out.trim().split(/\s+/)[0]) || 0));
        }),
    ),
  ).then((n) => n.reduce((a, b) => a + b, 0));
}

async function metrics(api: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${api}/metrics`)).text();
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-z_]+)(?:\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (m) sums.set(m[1]!, (sums.get(m[1]!) ?? 0) + Number(m[2]));
  }
  return sums;
}

/** CPU ticks (utime + stime) per thread of `pid`, from /proc/<pid>/task/<tid>/stat. */
function threadTicks(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), Number(f[11]) + Number(f[12]));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

/**
 * CPU time per datagram of the main thread and of the busiest other thread (a decode
 * worker when there is one): what bounds each thread whatever else the machine runs, so a
 * thread's ceiling is 1 / its cost per datagram.
 */
function cpuPerDatagram(pid: number, t0: Map<number, number>, t1: Map<number, number>, datagrams: number) {
  const tick = 1e6 / 100; // µs per clock tick (CLK_TCK 100 on Linux)
  let main = 0;
  let other = 0;
  for (const [tid, v] of t1) {
    const d = (v - (t0.get(tid) ?? 0)) * tick;
    if (tid === pid) main = d;
    else other = Math.max(other, d);
  }
  return { main: datagrams ? main / datagrams : 0, other: datagrams ? other / datagrams : 0 };
}

interface Row {
  cpu?: { main: number; other: number };
  receiver: string;
  rate: number;
  sent: number;
  received: number;
  ringDropped: number;
  records: number;
}

function row(r: Row): string {
  const lost = r.sent ? (100 * (r.sent - r.received + r.ringDropped / RECORDS_PER_DATAGRAM)) / r.sent : 0;
  return `| ${r.receiver} | ${r.rate.toLocaleString('en')} | ${r.sent.toLocaleString('en')} | ${r.received.toLocaleString('en')} | ${r.ringDropped.toLocaleString('en')} | ${Math.max(0, lost).toFixed(3)} % | ${r.records ? `${(r.records / seconds / 1e6).toFixed(2)} M` : '-'} | ${r.cpu ? `${r.cpu.main.toFixed(2)} / ${r.cpu.other.toFixed(2)}` : '-'} |`;
}

async function daemonRun(workers: number, rate: number, base: number): Promise<Row> {
  const dir = join(work, `w${workers}-${rate}`);
  mkdirSync(join(dir, 'policies'), { recursive: true });
  const ports = Array.from({ length: listeners }, (_, i) => base + i);
  const api = base + 100;
  writeFileSync(
    join(dir, 'breakwater.yaml'),
    [
      'networks: [203.0.113.0/24]',
      'capture:',
      `  workers: ${workers}`,
      '  receive_buffer_bytes: 33554432',
      '  listeners:',
      ...ports.map((p, i) => `    - { name: l${i}, type: netflow, address: 127.0.0.1, port: ${p} }`),
      `api: { listen: "127.0.0.1:${api}" }`,
      `state_dir: ${join(dir, 'state')}`,
      'policies: ./policies',
      'logging: { level: warn }',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'policies/default.yaml'),
    [
      'name: default',
      'thresholds:',
      '  ban:',
      // Far above what the capture carries: every record is counted and checked, nothing is banned.
      '    incoming: { total: { pps: 1000000000000, mbps: null, flows: null } }',
      'actions:',
      '  ban_time: 10m',
      '  blackhole: { enabled: false }',
    ].join('\n'),
  );
  const d: ChildProcess = spawn(
    process.execPath,
    [...nodeArgs, CLI, 'run', '--config', join(dir, 'breakwater.yaml')],
    {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  try {
    for (let i = 0; ; i++) {
      try {
        await metrics(api);
        break;
      } catch {
        if (i > 100) throw new Error('daemon did not start');
        await sleep(100);
      }
    }
    // Warm-up: templates learned, the hot path compiled.
    await send(ports, 20_000);
    await sleep(1500);
    const m0 = await metrics(api);
    const t0 = threadTicks(d.pid!);
    const sent = await send(ports, rate);
    const t1 = threadTicks(d.pid!);
    await sleep(1500);
    const m1 = await metrics(api);
    const diff = (k: string) => (m1.get(k) ?? 0) - (m0.get(k) ?? 0);
    const received = diff('breakwater_capture_datagrams_total');
    return {
      cpu: cpuPerDatagram(d.pid!, t0, t1, received),
      receiver: `breakwater run, workers ${workers}`,
      rate,
      sent,
      received,
      ringDropped: diff('breakwater_capture_ring_dropped_total'),
      records: diff('breakwater_capture_records_total') - diff('breakwater_capture_ring_dropped_total'),
    };
  } finally {
    d.kill('SIGTERM');
    await new Promise((r) => d.once('exit', r));
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
    '| receiver | offered/s | sent | received | ring drops (records) | lost | records/s | CPU µs per datagram: main / busiest other thread |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  let base = 41000 + Math.floor(Math.random() * 2000) * 4;
  const next = () => {
    base += 200;
    return base;
  };
  for (const rate of rates) {
    if (!process.env.BENCH_SKIP_PLAIN) console.log(row(await plainRun(rate, next())));
    for (const w of workerCounts) console.log(row(await daemonRun(w, rate, next())));
  }
  rmSync(work, { recursive: true, force: true });
}

await main();
