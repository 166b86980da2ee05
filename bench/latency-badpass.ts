/**
 * Benchmark: detection latency while the API is flooded with bad passwords (issue 14).
 * The shared harness (../shared/bench/fastnetmon/latency.py) times the first attack datagram
 * sent -> the ban notify script, `breakwater run` started by bench/latency-daemon.sh with an
 * API user (so every request costs a password check until its source is blocked). Trials
 * alternate between two arms in the same run, one harness trial each, the order swapped every
 * round so drifting machine load falls on both:
 *   quiet: no API traffic;
 *   flood: `--rate` requests/s with a wrong password from 127.0.0.50 over keep-alive
 *          connections for the whole trial (daemon start, background traffic, attack, ban).
 * Prints both medians per format, their ratio, and what the flood was answered with
 * (401 = a password was checked, 429 = the source was blocked before any check).
 *
 *   node dist/bench/latency-badpass.js [--trials 10] [--rate 1000] [--formats sflow,netflow9] [--port 31000]
 */
import http from 'node:http';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashPassword } from '../src/api/auth.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const TRIALS = Number(opt('trials', '10'));
const RATE = Number(opt('rate', '1000'));
const FORMATS = opt('formats', 'sflow,netflow9').split(',');
const PORT = Number(opt('port', '31000'));
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const HARNESS = resolve(ROOT, opt('harness', '../shared/bench/fastnetmon/latency.py'));
const FLOOD_SOURCE = '127.0.0.50';

interface Flood {
  statuses: Map<string, number>;
  sent: number;
  seconds: number;
}

/** `rate` bad-password GETs per second (10 every 10 ms) until stopped. */
function startFlood(apiPort: number, rate: number): { stop(): Promise<Flood> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64, localAddress: FLOOD_SOURCE });
  const statuses = new Map<string, number>();
  const count = (k: string) => statuses.set(k, (statuses.get(k) ?? 0) + 1);
  const auth = `Basic ${Buffer.from('bench:wrong-password').toString('base64')}`;
  let sent = 0;
  let inflight = 0;
  const t0 = Date.now();
  const perTick = Math.max(1, Math.round(rate / 100));
  const timer = setInterval(() => {
    // Sends by the wall clock: a late timer sends what it owes, so the rate holds.
    const owed = Math.floor(((Date.now() - t0) / 1000) * rate) - sent;
    for (let i = 0; i < Math.min(owed, perTick * 5); i++) {
      sent++;
      if (inflight > 4096) {
        count('not_sent_backlog');
        continue;
      }
      inflight++;
      const req = http.get(
        {
          host: '127.0.0.1',
          port: apiPort,
          path: '/total_traffic_counters',
          agent,
          headers: { authorization: auth },
          timeout: 5000,
        },
        (res) => {
          count(String(res.statusCode));
          res.resume();
          res.once('end', () => inflight--);
        },
      );
      req.once('timeout', () => req.destroy(new Error('timeout')));
      req.once('error', (e: NodeJS.ErrnoException) => {
        inflight--;
        count(e.code ?? e.message);
      });
    }
  }, 10);
  return {
    async stop() {
      clearInterval(timer);
      const seconds = (Date.now() - t0) / 1000;
      await new Promise((r) => setTimeout(r, 200));
      agent.destroy();
      return { statuses, sent, seconds };
    },
  };
}

/** One harness trial; resolves to its latency in seconds (undefined: not banned). */
function trial(
  format: string,
  name: string,
  seed: number,
  env: NodeJS.ProcessEnv,
): Promise<number | undefined> {
  const cmd = `${join(ROOT, 'bench/latency-daemon.sh')} {workdir} {notify} {port} {format}`;
  const p = spawn(
    'python3',
    [
      HARNESS,
      '--name',
      name,
      '--format',
      format,
      '--trials',
      '1',
      '--seed',
      String(seed),
      '--port',
      String(PORT),
      '--daemon-cmd',
      cmd,
      '--out',
      '/tmp/bw-bench-badpass',
    ],
    { env, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  p.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  return new Promise((res, rej) => {
    p.once('error', rej);
    p.once('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('SUMMARY '));
      if (code !== 0 || !line) return rej(new Error(`latency.py exited ${code}:\n${out}`));
      res((JSON.parse(line.slice(8)) as { median_s?: number }).median_s);
    });
  });
}

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? (s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : NaN;
};
const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`;

async function main(): Promise<void> {
  if (!existsSync(HARNESS)) throw new Error(`${HARNESS} not found (--harness PATH)`);
  const env = { ...process.env, BW_LAT_PASSWORD_HASH: hashPassword('the-real-password') };
  console.log(
    `detection latency, shared harness, ${TRIALS} trials per arm and format; flood ${RATE} bad-password requests/s from ${FLOOD_SOURCE} to the API (127.0.0.1:${PORT + 20000})`,
  );
  for (const format of FORMATS) {
    const lat = { quiet: [] as number[], flood: [] as number[] };
    const answered = new Map<string, number>();
    let missed = 0;
    let floodSent = 0;
    let floodSeconds = 0;
    for (let r = 0; r < TRIALS; r++) {
      const arms = r % 2 === 0 ? (['quiet', 'flood'] as const) : (['flood', 'quiet'] as const);
      for (const arm of arms) {
        const flood = arm === 'flood' ? startFlood(PORT + 20000, RATE) : undefined;
        let l: number | undefined;
        try {
          l = await trial(format, `bw_badpass_${format}_${arm}`, 1000 + r, env);
        } finally {
          const f = await flood?.stop();
          if (f) {
            floodSent += f.sent;
            floodSeconds += f.seconds;
            for (const [k, v] of f.statuses) answered.set(k, (answered.get(k) ?? 0) + v);
          }
        }
        if (l === undefined) missed++;
        else lat[arm].push(l);
        console.log(`  ${format} round ${r} ${arm}: ${l === undefined ? 'not banned' : ms(l)}`);
      }
    }
    const q = median(lat.quiet);
    const f = median(lat.flood);
    console.log(`${format}: quiet median ${ms(q)} (${lat.quiet.map(ms).join(' ')})`);
    console.log(`${format}: flood median ${ms(f)} (${lat.flood.map(ms).join(' ')})`);
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length);
    const mq = mean(lat.quiet);
    const mf = mean(lat.flood);
    console.log(
      `${format}: flood/quiet ${(f / q).toFixed(3)} (${((f / q - 1) * 100).toFixed(1)} %), means ${ms(mq)} / ${ms(mf)} (${((mf / mq - 1) * 100).toFixed(1)} %); not banned: ${missed}`,
    );
    console.log(
      `${format}: flood sent ${floodSent} requests in ${floodSeconds.toFixed(1)} s (${(floodSent / floodSeconds).toFixed(0)}/s), answered ${JSON.stringify(Object.fromEntries(answered))}`,
    );
  }
}

main().catch((e) => {
  console.error((e as Error).message);
  process.exit(1);
});
