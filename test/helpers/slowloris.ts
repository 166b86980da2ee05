/**
 * Slowloris clients in child processes of their own, so their sockets and timers do not delay
 * the measuring process: each sends a request head one header line a second and, when the
 * daemon drops it, connects again 5 s later. Used by test/api-security-load and
 * bench/api-flood. Two processes share the sources (a process's soft descriptor limit is
 * often 20,000).
 */
import { spawn, type ChildProcess } from 'node:child_process';

const SCRIPT = `
const net = require('node:net');
const [port, per, ...sources] = process.argv.slice(1);
let opened = 0, dropped = 0, stop = false;
const slow = (localAddress) => {
  if (stop) return;
  const s = net.connect({ host: '127.0.0.1', port: Number(port), localAddress });
  opened++;
  let n = 0;
  const tick = setInterval(() => s.write(n++ === 0 ? 'GET /bgp HTTP/1.1\\r\\nHost: x\\r\\n' : 'X-Slow-' + n + ': y\\r\\n'), 1000);
  s.on('error', () => {});
  s.on('close', () => { clearInterval(tick); dropped++; setTimeout(() => slow(localAddress), 5000); });
};
for (const a of sources) for (let i = 0; i < Number(per); i++) slow(a);
process.on('SIGTERM', () => { stop = true; process.stdout.write(opened + ' opened, ' + dropped + ' dropped by the daemon\\n', () => process.exit(0)); });
`;

export interface Slowloris {
  /** Stop the clients; resolves to what each process reports ("N opened, M dropped ..."). */
  stop(): Promise<string>;
  /** Kill without a report (cleanup after a failure). */
  kill(): void;
}

/** `perSource` slow sockets from each of `sources` (127.0.0.x) to 127.0.0.1:port. */
export function startSlowloris(port: number, perSource: number, sources: readonly string[]): Slowloris {
  const half = Math.ceil(sources.length / 2);
  const groups = [sources.slice(0, half), sources.slice(half)].filter((g) => g.length > 0);
  const children: ChildProcess[] = groups.map((src) =>
    spawn(process.execPath, ['-e', SCRIPT, String(port), String(perSource), ...src], {
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  let report = '';
  for (const c of children) c.stdout!.on('data', (b: Buffer) => (report += b.toString()));
  return {
    async stop() {
      await Promise.all(
        children.map((c) =>
          c.exitCode !== null
            ? undefined
            : new Promise((r) => {
                c.once('exit', r);
                c.kill('SIGTERM');
              }),
        ),
      );
      return report.trim().replace(/\n/g, '; ');
    },
    kill() {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    },
  };
}
