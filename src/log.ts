/**
 * The daemon's logger (winston). Level and format come from config (`logging`); until the
 * config is loaded it logs text at info to stderr. Modules take a child logger:
 *   const log = logger.child({ module: 'bgp' });
 *
 * A log sink that fails must never take the daemon down: `breakwater run | head -2`, or
 * `tee` killed by Ctrl-C, closes the pipe under us. Writes then fail with EPIPE (or EIO on
 * a vanished terminal); an unhandled 'error' on process.stderr would become an
 * uncaughtException, whose handler logs to the same stream, which fails again, forever,
 * with every failed line buffered (GBs) and signals starved. So the sink below stops
 * writing to a stream once it has failed, drops lines past a bounded backlog, and counts
 * everything it drops (`logDropped()`, the metric breakwater_log_dropped_total).
 */
import { Writable } from 'node:stream';
import winston from 'winston';
import type { LoggingConfig } from './config/types.js';

const textFormat = winston.format.printf((info) => {
  const { level, message, timestamp, module, ...rest } = info as Record<string, unknown>;
  const extra = Object.keys(rest).filter((k) => typeof k === 'string' && k !== 'splat');
  const tail = extra.length ? ` ${extra.map((k) => `${k}=${fmt(rest[k])}`).join(' ')}` : '';
  return `${timestamp} ${String(level).padEnd(5)} ${module ? `[${module}] ` : ''}${message}${tail}`;
});

function fmt(v: unknown): string {
  if (typeof v === 'string') return /\s/.test(v) ? JSON.stringify(v) : v;
  return JSON.stringify(v);
}

function formatFor(format: LoggingConfig['format']) {
  return format === 'json'
    ? winston.format.combine(winston.format.timestamp(), winston.format.json())
    : winston.format.combine(winston.format.timestamp(), textFormat);
}

/** Lines not written because the sink failed or its backlog was full. */
let dropped = 0;
/** Streams that have failed (closed pipe, vanished terminal): never written again. */
const broken = new WeakSet<NodeJS.WritableStream>();
/** A sink whose unwritten backlog exceeds this drops lines instead of buffering them. */
const MAX_BACKLOG_BYTES = 4 * 1024 * 1024;

/** Count one line lost outside the sink (an output error that reached uncaughtException). */
export function countDropped(): void {
  dropped++;
}

/** How many log lines were dropped since start (a failed or stalled log sink). */
export function logDropped(): number {
  return dropped;
}

/**
 * True for the errors a closed or vanished output stream raises on write. The run
 * command's uncaughtException handler uses it to count, not log, such an error: logging
 * it would write to the stream that just failed.
 */
export function isStreamWriteError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return (
    code === 'EPIPE' ||
    code === 'EIO' ||
    code === 'ECONNRESET' ||
    code === 'ERR_STREAM_DESTROYED' ||
    code === 'ERR_STREAM_WRITE_AFTER_END'
  );
}

/**
 * Guard a stream: a write error marks it broken (later writes are dropped) instead of
 * reaching uncaughtException. Installed on stdout and stderr at import; idempotent.
 */
export function guardStream(stream: NodeJS.WritableStream): void {
  const s = stream as NodeJS.WritableStream & { __bwGuarded?: boolean };
  if (s.__bwGuarded) return;
  s.__bwGuarded = true;
  stream.on('error', () => {
    broken.add(stream);
  });
}

/** Write one line to a guarded stream, or count it as dropped. Never throws. */
export function safeWrite(stream: NodeJS.WritableStream, line: string): boolean {
  const w = stream as NodeJS.WritableStream & {
    writableLength?: number;
    destroyed?: boolean;
    writableEnded?: boolean;
  };
  if (broken.has(stream) || w.destroyed || w.writableEnded || (w.writableLength ?? 0) > MAX_BACKLOG_BYTES) {
    dropped++;
    return false;
  }
  try {
    stream.write(line, (err) => {
      if (err) {
        broken.add(stream);
        dropped++;
      }
    });
    return true;
  } catch {
    // A synchronous throw (a destroyed stream on some paths): same outcome.
    broken.add(stream);
    dropped++;
    return false;
  }
}

guardStream(process.stdout);
guardStream(process.stderr);

/**
 * winston's Stream transport over a Writable that hands each line to safeWrite and is done
 * at once: winston never waits on (or buffers for) a stalled or failed sink.
 */
function safeSink(stream: NodeJS.WritableStream): Writable {
  return new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _enc, done) {
      safeWrite(stream, typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
      done();
    },
  });
}

export const logger = winston.createLogger({
  level: process.env.BREAKWATER_LOG_LEVEL ?? 'info',
  format: formatFor('text'),
  transports: [new winston.transports.Stream({ stream: safeSink(process.stderr) })],
});

/** Apply the config's logging section (on start and on reload). */
export function configureLogging(cfg: LoggingConfig): void {
  logger.level = process.env.BREAKWATER_LOG_LEVEL ?? cfg.level;
  logger.format = formatFor(cfg.format);
}

export type Logger = winston.Logger;

/**
 * At most `perTurn` lines of one kind per event-loop turn, then one summary line when the
 * turn ends: a bulk request or a carpet bomb changes 100,000 mitigations in a few turns,
 * and a line each cost seconds of the main thread (winston's formatting and streams).
 * Every change is still in the journal, the audit line and the metrics.
 */
export class TurnLines {
  private n = 0;
  private first = '';
  private last = '';
  private scheduled = false;

  constructor(
    private readonly log: Logger,
    private readonly perTurn: number,
    /** The summary: `more` lines not written, the first and last of them (short texts). */
    private readonly summary: (more: number, first: string, last: string) => string,
  ) {}

  /**
   * Log `line` at info, or count it (`short` names it in the summary). A function is called
   * only when the line is written: past the turn's budget a bulk change builds no text.
   */
  info(line: string | (() => string), short: string): void {
    if (++this.n <= this.perTurn) this.log.info(typeof line === 'string' ? line : line());
    else {
      if (this.first === '') this.first = short;
      this.last = short;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    const more = this.n - this.perTurn;
    if (more > 0) this.log.info(this.summary(more, this.first, this.last));
    this.n = 0;
    this.first = this.last = '';
    this.scheduled = false;
  }
}
