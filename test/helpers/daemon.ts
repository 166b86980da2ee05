/**
 * Test harness: `breakwater run` as a child process on a temporary config and state dir,
 * with helpers to call its API and replay captures into its collectors.
 *
 * Ports: tests never use fixed ones (a daemon running on the defaults, or another test file,
 * may hold them). Configs take ports from freePort(), or port 0 for the API, whose bound
 * port the handle reads from the daemon's log. The daemon's output is kept and printed only
 * when the test file fails (helpers/quiet-logs.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { mkdtempSync, writeFileSync, mkdirSync, readFileSync, readdirSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { keepForFailure, reapOnExit } from './quiet-logs.js';
import type { NotifyStdin } from './answers.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = join(ROOT, 'dist/src/cli/main.js');
export const FIXTURES = join(ROOT, 'test/fixtures');

export interface DaemonHandle {
  readonly dir: string;
  /** The API's port (read from the log: it may be configured as 0). */
  readonly apiPort: number;
  proc: ChildProcess;
  output(): string;
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }>;
  waitLog(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Start again on the same config and state (after a kill). */
  restart(): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * A port the kernel hands out as free right now on `host` (bind to port 0, read, close):
 * for configs that must name a port before the daemon starts and keep it across restarts.
 */
export function freePort(type: 'tcp' | 'udp', host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    if (type === 'udp') {
      const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
      s.once('error', reject);
      s.bind(0, host, () => {
        const { port } = s.address();
        s.close(() => resolve(port));
      });
      return;
    }
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ port: 0, host, exclusive: true }, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** The API port a daemon's log says it listens on, from the last "API listening" line. */
function apiPortIn(out: string): number | null {
  const all = [...out.matchAll(/API listening on https?:\/\/(?:\[[^\]]+\]|[^:/\s]+):(\d+)/g)];
  return all.length ? Number(all[all.length - 1]![1]) : null;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `bw-${prefix}-`));
}

/** A notify script that records each call's arguments and stdin under dir/calls/. */
export function recordingScript(dir: string): {
  script: string;
  calls(): { args: string[]; stdin: NotifyStdin }[];
} {
  const calls = join(dir, 'calls');
  mkdirSync(calls, { recursive: true });
  const script = join(dir, 'notify.sh');
  writeFileSync(
    script,
    `#!/bin/sh\nn=$(date +%s%N)-$$\ncat > '${calls}/'$n.stdin\nprintf '%s\\n' "$@" > '${calls}/'$n.args\n`,
  );
  chmodSync(script, 0o755);
  return {
    script,
    calls() {
      return readdirSync(calls)
        .filter((f) => f.endsWith('.args'))
        .sort()
        .map((f) => {
          const base = f.slice(0, -5);
          const text = readFileSync(join(calls, `${base}.stdin`), 'utf8');
          let stdin: unknown = text;
          try {
            stdin = JSON.parse(text);
          } catch {
            /* text mode */
          }
          // A script's stdin is the daemon's JSON document (text only if the daemon broke it).
          return {
            args: readFileSync(join(calls, f), 'utf8').split('\n').filter(Boolean),
            stdin: stdin as NotifyStdin,
          };
        });
    },
  };
}

/** Start `breakwater run` on configYaml; resolves once it logged "ready". */
export async function startDaemon(
  dir: string,
  configYaml: string,
  policies: Record<string, string>,
): Promise<DaemonHandle> {
  mkdirSync(join(dir, 'policies'), { recursive: true });
  writeFileSync(join(dir, 'breakwater.yaml'), configYaml);
  for (const [name, text] of Object.entries(policies)) writeFileSync(join(dir, 'policies', name), text);
  let out = '';
  const launch = () => {
    // BREAKWATER_NODE_ARGS: extra node flags for the daemon (benchmarks: --cpu-prof ...).
    const nodeArgs = process.env.BREAKWATER_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    const p = spawn(process.execPath, [...nodeArgs, BIN, 'run', '--config', join(dir, 'breakwater.yaml')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    reapOnExit(p);
    p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    return p;
  };
  let apiPort = 0;
  keepForFailure(`breakwater run --config ${join(dir, 'breakwater.yaml')}`, () => out);
  const h: DaemonHandle = {
    dir,
    get apiPort() {
      return apiPort;
    },
    proc: launch(),
    output: () => out,
    async api<T>(method: string, path: string, body?: unknown) {
      if (!apiPort) throw new Error(`the daemon has not logged its API port:\n${out.slice(-3000)}`);
      const res = await fetch(`http://127.0.0.1:${apiPort}${path}`, {
        method,
        ...(body !== undefined
          ? {
              body: typeof body === 'string' ? body : JSON.stringify(body),
              headers: { 'content-type': 'application/json' },
            }
          : {}),
      });
      const text = await res.text();
      let json: unknown = text;
      try {
        json = JSON.parse(text);
      } catch {
        /* metrics are text */
      }
      return { status: res.status, json: json as T };
    },
    async waitLog(re, timeoutMs = 20000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const m = re.exec(out);
        if (m) return m[0];
        if (h.proc.exitCode !== null)
          throw new Error(`daemon exited (${h.proc.exitCode}) while waiting for ${re}:\n${out.slice(-3000)}`);
        if (Date.now() > until) throw new Error(`timed out waiting for ${re}:\n${out.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async restart() {
      out += '\n--- restart ---\n';
      const mark = out.length;
      h.proc = launch();
      const until = Date.now() + 20000;
      while (!/\bready\b/.test(out.slice(mark))) {
        if (h.proc.exitCode !== null) throw new Error(`daemon exited on restart:\n${out.slice(mark)}`);
        if (Date.now() > until) throw new Error(`daemon not ready after restart:\n${out.slice(mark)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      apiPort = apiPortIn(out.slice(mark)) ?? 0;
    },
    kill(signal = 'SIGTERM') {
      const p = h.proc;
      if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p.exitCode);
      return new Promise((resolve) => {
        p.once('exit', (code) => resolve(code));
        p.kill(signal);
      });
    },
  };
  await h.waitLog(/\bready\b/);
  apiPort = apiPortIn(out) ?? 0;
  return h;
}

/** `breakwater replay` a capture to a loopback collector; resolves with its output. */
export function replay(file: string, to: string, extra: string[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, 'replay', file, '--to', to, ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`replay exited ${code}: ${out}`))));
  });
}
