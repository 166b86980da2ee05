/**
 * Loaded into every test file's process by `npm test` (`node --import`): the daemon's logger
 * writes into memory instead of stderr, and what it kept is printed only when a test in the
 * file failed (the runner then exits non-zero). Output of spawned daemons is registered
 * here too (helpers/daemon.ts), so a failure shows their logs and a pass shows none.
 * BREAKWATER_TEST_LOGS=1 leaves the logger alone (logs as they come).
 */
import type { ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import winston from 'winston';
import { logger } from '../../src/log.js';

const KEEP_LINES = 2000;
const lines: string[] = [];
const sources: { label: string; text: () => string }[] = [];

/** Keep `text()` to print if the file fails (the last 8000 characters). */
export function keepForFailure(label: string, text: () => string): void {
  sources.push({ label, text });
}

if (!process.env.BREAKWATER_TEST_LOGS) {
  const sink = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      lines.push(String(chunk).replace(/\n$/, ''));
      if (lines.length > KEEP_LINES) lines.splice(0, lines.length - KEEP_LINES);
      done();
    },
  });
  logger.clear();
  logger.add(new winston.transports.Stream({ stream: sink }));
}

/**
 * Daemons and routers a test spawned die with the test file's process, also when the
 * runner stops it on a timeout (SIGTERM): an orphan would keep its addresses and keep
 * dialling routers of later tests.
 */
const children = new Set<ChildProcess>();
export function reapOnExit(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}
function reap(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    reap();
    process.exit(128 + (sig === 'SIGTERM' ? 15 : 2));
  });
}

process.on('exit', (code) => {
  reap();
  if (code === 0 && !process.exitCode) return;
  const out: string[] = [];
  if (lines.length) out.push(`--- logs of this test file (last ${lines.length} lines) ---`, ...lines);
  for (const s of sources) {
    const t = s.text();
    if (t) out.push(`--- output of ${s.label} (last 8000 characters) ---`, t.slice(-8000));
  }
  // Pipes are synchronous on Linux: this reaches the runner before the process ends.
  if (out.length) process.stderr.write(`${out.join('\n')}\n`);
});
