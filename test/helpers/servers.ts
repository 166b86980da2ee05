/**
 * Real servers from Debian's packages for the integration tests (graphite-carbon,
 * influxdb, redis-server), each started on loopback with an ephemeral port and a temp
 * dir, and stopped by the test. A missing binary is an error: the test fails, it does not
 * skip (.ci/run installs the packages).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import type { LiveAttackAnswer, ListAnswer } from './answers.js';
import { freePort, tempDir, type DaemonHandle } from './daemon.js';
import { waitFor } from './routers.js';

const run = promisify(execFile);

export interface Server {
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  output(): string;
  stop(): Promise<void>;
}

/** Throws (the test fails) when the package that ships `bin` is not installed. */
export async function requireBinary(bin: string, pkg: string): Promise<string> {
  for (const p of [`/usr/bin/${bin}`, `/usr/sbin/${bin}`]) {
    try {
      await run('test', ['-x', p]);
      return p;
    } catch {
      /* next */
    }
  }
  throw new Error(`${bin} is not installed: apt-get install ${pkg} (.ci/run does)`);
}

export function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function launch(
  cmd: string,
  args: string[],
  dir: string,
  host: string,
  port: number,
  timeoutMs = 20000,
): Promise<Server> {
  let out = '';
  const p: ChildProcess = spawn(cmd, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20000)));
  p.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20000)));
  const until = Date.now() + timeoutMs;
  while (!(await canConnect(host, port))) {
    if (p.exitCode !== null) throw new Error(`${cmd} exited (${p.exitCode}):\n${out}`);
    if (Date.now() > until) {
      p.kill('SIGKILL');
      throw new Error(`${cmd} did not listen on ${host}:${port}:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host,
    port,
    dir,
    output: () => out,
    stop: () =>
      new Promise<void>((resolve) => {
        if (p.exitCode !== null || p.signalCode !== null) return resolve();
        const t = setTimeout(() => p.kill('SIGKILL'), 5000);
        p.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        p.kill('SIGTERM');
      }),
  };
}

/** carbon-cache with 1-second whisper retention; points are read back from its files. */
export async function startCarbon(
  opts: { linePort?: number } = {},
): Promise<Server & { whisperDir: string }> {
  const bin = await requireBinary('carbon-cache', 'graphite-carbon');
  await requireBinary('whisper-fetch', 'python3-whisper');
  const dir = tempDir('carbon');
  const whisperDir = join(dir, 'whisper');
  mkdirSync(whisperDir, { recursive: true });
  mkdirSync(join(dir, 'log'), { recursive: true });
  const [line, pickle, query] = [
    opts.linePort ?? (await freePort('tcp')),
    await freePort('tcp'),
    await freePort('tcp'),
  ];
  writeFileSync(
    join(dir, 'carbon.conf'),
    `[cache]
STORAGE_DIR = ${dir}/
LOCAL_DATA_DIR = ${whisperDir}/
CONF_DIR = ${dir}/
LOG_DIR = ${dir}/log/
PID_DIR = ${dir}/
DATABASE = whisper
ENABLE_LOGROTATION = False
USER =
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = inf
MAX_CREATES_PER_MINUTE = inf
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = ${line}
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = ${pickle}
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = ${query}
USE_FLOW_CONTROL = True
CACHE_WRITE_STRATEGY = sorted
WHISPER_AUTOFLUSH = True
WHISPER_FALLOCATE_CREATE = False
`,
  );
  writeFileSync(join(dir, 'storage-schemas.conf'), '[default]\npattern = .*\nretentions = 1s:1h\n');
  const s = await launch(
    bin,
    [
      `--config=${join(dir, 'carbon.conf')}`,
      '--nodaemon',
      `--pidfile=${join(dir, 'carbon.pid')}`,
      `--logdir=${join(dir, 'log')}`,
      'start',
    ],
    dir,
    '127.0.0.1',
    line,
  );
  return { ...s, whisperDir };
}

/** Points of one metric from its whisper file: [unix seconds, value] with nulls dropped. */
export async function whisperPoints(
  whisperDir: string,
  metric: string,
  fromS: number,
  untilS: number,
): Promise<[number, number][]> {
  const file = `${join(whisperDir, ...metric.split('.'))}.wsp`;
  const { stdout } = await run('whisper-fetch', ['--json', `--from=${fromS}`, `--until=${untilS}`, file]);
  const j = JSON.parse(stdout) as { start: number; step: number; values: (number | null)[] };
  const out: [number, number][] = [];
  j.values.forEach((v, i) => {
    if (v !== null) out.push([j.start + i * j.step, v]);
  });
  return out;
}

/** influxd's /query answer (InfluxQL 1.x): one result per statement, its series' rows. */
export interface InfluxAnswer {
  readonly results: { readonly series?: { readonly values?: unknown[][] }[] }[];
}

/** influxd (v1) with its own meta/data dirs; optional auth with an admin user. */
export async function startInflux(
  opts: { auth?: { user: string; password: string } } = {},
): Promise<Server & { query(q: string, db?: string): Promise<InfluxAnswer> }> {
  const bin = await requireBinary('influxd', 'influxdb');
  const dir = tempDir('influx');
  const [http, rpc] = [await freePort('tcp'), await freePort('tcp')];
  writeFileSync(
    join(dir, 'influxdb.conf'),
    `reporting-disabled = true
bind-address = "127.0.0.1:${rpc}"
[meta]
  dir = "${dir}/meta"
[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:${http}"
  auth-enabled = ${opts.auth ? 'true' : 'false'}
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
`,
  );
  const s = await launch(bin, ['-config', join(dir, 'influxdb.conf')], dir, '127.0.0.1', http);
  const auth = opts.auth
    ? { authorization: `Basic ${Buffer.from(`${opts.auth.user}:${opts.auth.password}`).toString('base64')}` }
    : undefined;
  const query = async (q: string, db?: string): Promise<InfluxAnswer> => {
    const u = new URL(`http://127.0.0.1:${http}/query`);
    if (db) u.searchParams.set('db', db);
    u.searchParams.set('q', q);
    const res = await fetch(u, { method: 'POST', ...(auth ? { headers: auth } : {}) });
    const j = await res.json();
    if (!res.ok) throw new Error(`influx query ${q}: HTTP ${res.status} ${JSON.stringify(j)}`);
    return j as InfluxAnswer;
  };
  // The HTTP port answers a moment before the meta store is ready.
  for (let i = 0; ; i++) {
    try {
      if (opts.auth) {
        const u = new URL(`http://127.0.0.1:${http}/query`);
        u.searchParams.set(
          'q',
          `CREATE USER "${opts.auth.user}" WITH PASSWORD '${opts.auth.password}' WITH ALL PRIVILEGES`,
        );
        const r = await fetch(u, { method: 'POST' });
        if (!r.ok && i < 50) throw new Error(await r.text());
      } else await query('SHOW DATABASES');
      break;
    } catch (e) {
      if (i >= 50) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { ...s, query };
}

/** redis-server on loopback, no persistence. */
export async function startRedis(): Promise<Server> {
  const bin = await requireBinary('redis-server', 'redis-server');
  const dir = tempDir('redis');
  const port = await freePort('tcp');
  return launch(
    bin,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'no',
    ],
    dir,
    '127.0.0.1',
    port,
  );
}

/** The daemon's breakwater_export_<name>{target} value from /metrics (NaN when absent). */
export async function exportMetric(d: DaemonHandle, name: string, target: string): Promise<number> {
  const m = (await d.api('GET', '/metrics')).json as string;
  const v = new RegExp(`breakwater_export_${name}\\{target="${target}"\\} (\\S+)`).exec(m)?.[1];
  return v === undefined ? NaN : Number(v);
}

/**
 * A target that is down does not hold up detection: the attack on `ip` is in the API while
 * the metrics say the target is down with at least `minErrors` failed writes.
 */
export async function assertDetectsWhileDown(
  d: DaemonHandle,
  target: string,
  ip: string,
  minErrors = 1,
): Promise<void> {
  const attacks = await waitFor('the attack in the API', async () => {
    const r = await d.api<ListAnswer<LiveAttackAnswer>>('GET', '/attacks');
    return r.json.values?.length ? r.json.values : null;
  });
  assert.equal(attacks[0].ip, ip);
  assert.equal(await exportMetric(d, 'up', target), 0);
  assert.ok((await exportMetric(d, 'errors_total', target)) >= minErrors, `${target} errors`);
}
