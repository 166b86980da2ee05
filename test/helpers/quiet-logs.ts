/**
 * Loaded into every test file's process by `npm test` (`node --import`): the daemon's logger
 * writes into memory instead of stderr, and what it kept is printed only when a test in the
 * file failed (the runner then exits non-zero). Output of spawned daemons is registered
 * here too (helpers/daemon.ts), so a failure shows their logs and a pass shows none.
 * BREAKWATER_TEST_LOGS=1 leaves the logger alone (logs as they come).
 */
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

process.on('exit', (code) => {
  if (code === 0 && !process.exitCode) return;
  const out: string[] = [];
  if (lines.length) out.push(`--- logs of this test file (last ${lines.length} lines) ---`, ...lines);
  for (const s of sources) {
    const t = s.text();
    if (t) out.push(`--- output of ${s.label} (last 8000 characters) ---`, t.slice(-8000));
  }
  // Pipes are synchronous on Linux: this reaches the runner before the process ends.
  if (out.length) process.stderr.write(out.join('\n') + '\n');
});
