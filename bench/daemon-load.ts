/**
 * What the whole-daemon load benchmarks share (daemon-ingest.ts, mirror-ingest.ts): the
 * daemon's /metrics summed per name, per-thread CPU of its process, and C senders built
 * from bench/*.c (they cost far less CPU than the daemon they feed).
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDaemon, type DaemonHandle } from '../test/helpers/daemon.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Each metric's series summed, by metric name. */
export async function metricSums(apiPort: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${apiPort}/metrics`)).text();
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-z_]+)(?:\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (m) sums.set(m[1]!, (sums.get(m[1]!) ?? 0) + Number(m[2]));
  }
  return sums;
}

/** CPU ticks (utime + stime) per thread of `pid`, from /proc/<pid>/task/<tid>/stat. */
export function threadTicks(pid: number): Map<number, number> {
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
 * CPU time per unit (datagram, frame) of the main thread and of the busiest other thread (a
 * decode worker when there is one): what bounds each thread whatever else the machine runs,
 * so 1 / cost is that thread's ceiling.
 */
export function cpuPerUnit(
  pid: number,
  t0: Map<number, number>,
  t1: Map<number, number>,
  units: number,
): { main: number; other: number; second: number } {
  const tick = 1e6 / 100; // µs per clock tick (CLK_TCK is 100 on Linux)
  let main = 0;
  const others: number[] = [];
  for (const [tid, v] of t1) {
    const d = (v - (t0.get(tid) ?? 0)) * tick;
    if (tid === pid) main = d;
    else others.push(d);
  }
  others.sort((x, y) => y - x);
  const per = (x: number) => (units ? x / units : 0);
  // The second busiest: a detection shard beside a decode worker.
  return { main: per(main), other: per(others[0] ?? 0), second: per(others[1] ?? 0) };
}

/** Build bench/<name>.c into `dir`; returns the binary's path. */
export function buildC(name: string, dir: string): string {
  const out = join(dir, name);
  execFileSync('gcc', ['-O2', '-o', out, join(ROOT, 'bench', `${name}.c`)]);
  return out;
}

/** Run a C sender; resolves with the first number it prints (units sent). */
export function runSender(bin: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = spawn(bin, args);
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('error', reject);
    c.on('exit', () => resolve(Number(out.trim().split(/\s+/)[0]) || 0));
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `breakwater run` in `dir` with detection live over `networks` and a ban threshold no
 * benchmark reaches (every record is counted and checked, nothing is banned), the API on
 * an ephemeral port; `capture` is the capture section's lines (indented two spaces).
 */
export function loadDaemon(dir: string, networks: string, capture: string[]): Promise<DaemonHandle> {
  return startDaemon(
    dir,
    [
      `networks: [${networks}]`,
      'capture:',
      ...capture.map((l) => `  ${l}`),
      'api: { listen: "127.0.0.1:0" }',
      `state_dir: ${join(dir, 'state')}`,
      'policies: ./policies',
      'logging: { level: info }',
    ].join('\n'),
    {
      'default.yaml': [
        'name: default',
        'thresholds:',
        '  ban:',
        '    incoming: { total: { pps: 1000000000000, mbps: null, flows: null } }',
        'actions:',
        '  ban_time: 10m',
        '  blackhole: { enabled: false }',
      ].join('\n'),
    },
  );
}
