/**
 * The push side every exporter shares: a bounded queue of batches, a pump that hands them
 * to a transport one send at a time, retry with exponential backoff, and counters for
 * the Prometheus metrics. Nothing here runs on the hot path and nothing waits on the
 * network from the caller's side: push() only appends (dropping the oldest batch when the
 * queue is full, counted), the pump runs on its own promise chain. The state (up/down) is
 * logged once per change, not once per failed attempt.
 */
import type { Logger } from '../log.js';

/** A transport error that retrying cannot fix (bad data): the batch is dropped, counted. */
export class RejectedError extends Error {
  override name = 'RejectedError';
}

export interface Transport {
  /** Deliver these batches (in order); resolve when accepted, throw when not. */
  send(batches: readonly Batch[]): Promise<void>;
  close(): void;
}

export interface Batch {
  readonly text: string;
  /** Points (lines, events) in the batch, for the counters. */
  readonly points: number;
}

export interface ExportStats {
  /** 1 while the last send succeeded (or nothing was tried yet), 0 after a failure. */
  up: number;
  points_sent: number;
  /** Points dropped: the queue was full, or the server rejected them. */
  points_dropped: number;
  /** Failed sends (each retried, with backoff). */
  errors: number;
  queued_batches: number;
}

export interface QueueOptions {
  /** Most batches held while the target is down (default 120). */
  readonly maxBatches?: number;
  /** Most batches per send (default 20). */
  readonly maxPerSend?: number;
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
}

export class ExportQueue {
  readonly stats: ExportStats = { up: 1, points_sent: 0, points_dropped: 0, errors: 0, queued_batches: 0 };
  private readonly q: Batch[] = [];
  private busy = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private backoff: number;
  private state: 'new' | 'up' | 'down' = 'new';
  private closed = false;
  private readonly maxBatches: number;
  private readonly maxPerSend: number;
  private readonly base: number;
  private readonly max: number;

  constructor(
    private readonly target: string,
    private readonly transport: Transport,
    private readonly log: Logger,
    opts: QueueOptions = {},
  ) {
    this.maxBatches = Math.max(1, opts.maxBatches ?? 120);
    this.maxPerSend = Math.max(1, opts.maxPerSend ?? 20);
    this.base = opts.backoffBaseMs ?? 500;
    this.max = opts.backoffMaxMs ?? 30_000;
    this.backoff = this.base;
  }

  push(b: Batch): void {
    if (this.closed || b.points === 0) return;
    this.q.push(b);
    while (this.q.length > this.maxBatches) this.stats.points_dropped += this.q.shift()!.points;
    this.stats.queued_batches = this.q.length;
    this.pump();
  }

  /** Resolves once the queue is empty or the target is down (tests, clean stop). */
  async flush(timeoutMs = 2000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while ((this.q.length || this.busy) && this.state !== 'down' && Date.now() < until)
      await new Promise((r) => setTimeout(r, 10));
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.transport.close();
  }

  private pump(): void {
    if (this.busy || this.retryTimer || this.closed || this.q.length === 0) return;
    this.busy = true;
    const batch = this.q.slice(0, this.maxPerSend);
    this.transport.send(batch).then(
      () => {
        this.q.splice(0, batch.length);
        for (const b of batch) this.stats.points_sent += b.points;
        this.backoff = this.base;
        this.setState('up', '');
        this.done();
      },
      (e: Error) => {
        if (e instanceof RejectedError) {
          // Retrying the same data cannot succeed: drop it, but the target itself is up.
          this.q.splice(0, batch.length);
          for (const b of batch) this.stats.points_dropped += b.points;
          this.stats.errors++;
          this.log.warn(`${this.target}: ${batch.length} batch(es) rejected and dropped: ${e.message}`);
          this.done();
          return;
        }
        this.stats.errors++;
        this.setState('down', e.message);
        this.busy = false;
        this.stats.queued_batches = this.q.length;
        if (this.closed) return;
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          this.pump();
        }, this.backoff);
        this.retryTimer.unref();
        this.backoff = Math.min(this.max, this.backoff * 2);
      },
    );
  }

  private done(): void {
    this.busy = false;
    this.stats.queued_batches = this.q.length;
    this.pump();
  }

  private setState(s: 'up' | 'down', reason: string): void {
    this.stats.up = s === 'up' ? 1 : 0;
    if (s === this.state) return;
    const was = this.state;
    this.state = s;
    if (s === 'down')
      this.log.warn(
        `${this.target}: cannot write (${reason}); retrying with backoff, keeping at most ${this.maxBatches} batches`,
      );
    else if (was === 'down') this.log.info(`${this.target}: writing again`);
    else this.log.info(`${this.target}: connected`);
  }
}
