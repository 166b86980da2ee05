/**
 * Benchmark: how long a legitimate API client waits while the daemon is under pressure
 * (issue 14), each arm against a quiet baseline from the same daemon in the same run:
 *   slowloris: 12 sources x 1,750 slow connections (21,000 at once, reconnecting 5 s after
 *              each drop), clients in processes of their own (test/helpers/slowloris);
 *   save:      a 32-exporter x 4,000-template state (~50 MB of JSON) restored at start and
 *              saved again when a new template arrives (the write must not stall the API).
 * The legitimate client sends one GET every `--gap` ms (5 ms in the save arm, whose write
 * lasts about a second) on a fresh connection and times it.
 * Prints worst, p99 and median per arm. The issue's goals: slowloris worst < 1 s, save
 * worst < 100 ms.
 *
 *   node dist/bench/api-flood.js [--arms slowloris,save] [--seconds 12] [--gap 200]
 */
import http from 'node:http';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startDaemon, tempDir, type DaemonHandle } from '../test/helpers/daemon.js';
import { nf9, sendFrom, writeTemplateState } from '../test/helpers/forge.js';
import { startSlowloris } from '../test/helpers/slowloris.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const ARMS = opt('arms', 'slowloris,save').split(',');
const SECONDS = Number(opt('seconds', '12'));
const GAP = Number(opt('gap', '200'));
const SLOW_SOURCES = Array.from({ length: 12 }, (_, i) => `127.0.0.${28 + i}`);

/** One GET on a fresh connection; resolves to [status, ms] (status 0: an error or timeout). */
function timedGet(port: number, path: string, timeoutMs = 10_000): Promise<[number, number]> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve([res.statusCode ?? 0, performance.now() - t0]));
      res.on('error', () => resolve([0, performance.now() - t0]));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve([0, performance.now() - t0]));
  });
}

interface Sample {
  latencies: number[];
  failed: number;
}

/** GETs every GAP ms until `done()` says stop (or `seconds` pass). */
async function probe(
  port: number,
  seconds: number,
  done: () => boolean = () => false,
  gap = GAP,
): Promise<Sample> {
  const latencies: number[] = [];
  let failed = 0;
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until && !done()) {
    const [status, ms] = await timedGet(port, '/total_traffic_counters');
    if (status === 200) latencies.push(ms);
    else failed++;
    await new Promise((r) => setTimeout(r, gap));
  }
  return { latencies, failed };
}

function describe(s: Sample): string {
  const v = [...s.latencies].sort((a, b) => a - b);
  const at = (q: number) => v[Math.min(v.length - 1, Math.floor(q * v.length))] ?? NaN;
  return `${v.length} GETs, worst ${Math.max(...v).toFixed(1)} ms, p99 ${at(0.99).toFixed(1)} ms, median ${at(0.5).toFixed(1)} ms${s.failed ? `, ${s.failed} FAILED` : ''}`;
}

const BASE = (state: string, extra = '') => `networks: [203.0.113.0/24]
api:
  listen: "127.0.0.1:0"
  max_connections: 512
  max_connections_per_source: 64
${extra}state_dir: ${state}
policies: ./policies
`;
const POLICY = {
  'default.yaml': 'name: default\nthresholds: { ban: { incoming: { total: { pps: 20000 } } } }\n',
};

async function slowlorisArm(): Promise<void> {
  const dir = tempDir('bench-slowloris');
  const d = await startDaemon(dir, BASE(join(dir, 'state')), POLICY);
  try {
    const quiet = await probe(d.apiPort, SECONDS);
    const storm = startSlowloris(d.apiPort, 1750, SLOW_SOURCES);
    let report = '';
    try {
      await new Promise((r) => setTimeout(r, 2000));
      const loaded = await probe(d.apiPort, SECONDS);
      report = await storm.stop();
      console.log(`slowloris quiet: ${describe(quiet)}`);
      console.log(`slowloris 21,000 slow connections: ${describe(loaded)} (${report})`);
      console.log(`slowloris worst ${Math.max(...loaded.latencies).toFixed(0)} ms (goal < 1000 ms)`);
    } finally {
      storm.kill();
    }
  } finally {
    await d.kill();
  }
}

async function saveArm(): Promise<void> {
  const dir = tempDir('bench-save');
  const state = join(dir, 'state');
  const file = writeTemplateState(state, 32, 4000);
  const nf = await freePort('udp');
  const d: DaemonHandle = await startDaemon(
    dir,
    BASE(
      state,
      `capture:\n  listeners: [{ name: nf, type: netflow, address: 127.0.0.1, port: ${nf} }]\n  exporters: [{ address: 127.0.1.0/24, name: lab }]\n`,
    ),
    POLICY,
  );
  try {
    await d.waitLog(/restored \d+ templates/, 60_000);
    const quiet = await probe(d.apiPort, Math.min(SECONDS, 4), undefined, 5);
    const mtime0 = statSync(file).mtimeMs;
    await sendFrom('127.0.1.40', nf, nf9({ seq: 0 })); // a new template: a save ~1 s later
    let after = 0;
    const saving = await probe(d.apiPort, 30, () => statSync(file).mtimeMs !== mtime0 && ++after > 20, 5);
    console.log(`save quiet: ${describe(quiet)}`);
    console.log(`save of ${(statSync(file).size / 1e6).toFixed(1)} MB: ${describe(saving)}`);
    console.log(`save worst ${Math.max(...saving.latencies).toFixed(1)} ms (goal < 100 ms)`);
  } finally {
    await d.kill();
  }
}

if (ARMS.includes('slowloris')) await slowlorisArm();
if (ARMS.includes('save')) await saveArm();
