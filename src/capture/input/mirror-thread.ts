/**
 * The live port mirror on a worker thread (capture.workers > 0): the worker runs tcpdump
 * and the MirrorCapture of mirror-live.ts, frame parsing included, and writes the records
 * to a ring (record-ring.ts) committed once per chunk of tcpdump's output; the main thread
 * only drains the ring into detection. Same statistics as the main-thread capture, reported
 * every STATS_MS; a worker that dies is started again (counted, logged).
 *
 * This file is both sides: the worker entry runs when it is loaded as a worker with
 * kind 'mirror' in its workerData.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { Logger } from '../../log.js';
import { stopWorker } from '../../threads.js';
import type { FlowSink } from '../flow.js';
import { MirrorCapture, type MirrorCaptureOptions, type MirrorCaptureStats } from './mirror-live.js';
import {
  createRing,
  pumpRing,
  RingReader,
  RingWriter,
  ringCounts,
  sumCounts,
  type RingCounts,
} from './record-ring.js';
import { ShardRouter } from './shard-router.js';
import type { WorkerStats } from './workers.js';

type MirrorWorkerOptions = Omit<MirrorCaptureOptions, 'log' | 'afterChunk'>;

interface MirrorWorkerData {
  kind: 'mirror';
  iface: string;
  /** The ring the main thread drains, or one per detection shard (records routed by destination). */
  rings: SharedArrayBuffer[];
  opts: MirrorWorkerOptions;
}

type FromMirror =
  | { type: 'started' }
  | { type: 'error'; message: string }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string }
  | { type: 'stats'; stats: MirrorCaptureStats }
  | { type: 'done' };

const STATS_MS = 500;
const RESTART_MS = 200;

/** The public surface the daemon uses, whichever thread captures. */
export type MirrorSource = Pick<MirrorCapture, 'start' | 'done' | 'stop' | 'stats'>;

export class MirrorThread implements MirrorSource {
  private worker: Worker | null = null;
  private reader: RingReader;
  private last: MirrorCaptureStats | null = null;
  private running = false;
  private finished!: Promise<void>;
  private markDone: () => void = () => {};
  restarts = 0;

  constructor(
    private readonly iface: string,
    private readonly sink: FlowSink,
    private readonly log: Logger,
    private readonly opts: MirrorWorkerOptions = {},
    private readonly ringBytes = 16 * 1024 * 1024,
    /** Sharded detection: the thread writes to these rings (one per shard), which the shards read. */
    private readonly shardRings: SharedArrayBuffer[] | null = null,
  ) {
    this.reader = new RingReader(createRing(ringBytes));
    this.resetDone();
  }

  private resetDone(): void {
    this.finished = new Promise((r) => {
      this.markDone = r;
    });
  }

  /** Start the worker and its tcpdump; rejects (one line) when tcpdump cannot start. */
  start(): Promise<void> {
    this.running = true;
    return this.spawn();
  }

  private spawn(): Promise<void> {
    const data: MirrorWorkerData = {
      kind: 'mirror',
      iface: this.iface,
      rings: this.shardRings ?? [this.reader.buffer],
      opts: this.opts,
    };
    const w = new Worker(new URL(import.meta.url), { workerData: data, name: `mirror-${this.iface}` });
    this.worker = w;
    const r = this.reader;
    return new Promise((resolve, reject) => {
      let up = false;
      w.on('message', (m: FromMirror) => {
        if (m.type === 'started') {
          up = true;
          if (!this.shardRings)
            void pumpRing(r, this.sink, () => this.reader === r && (this.running || r.pending()));
          resolve();
        } else if (m.type === 'error') reject(new Error(m.message));
        else if (m.type === 'log') this.log[m.level](m.message);
        else if (m.type === 'stats') this.last = m.stats;
        else if (m.type === 'done') {
          // tcpdump ended (the end of a -r file, or it was stopped): deliver the rest
          // (detection shards read theirs themselves).
          if (!this.shardRings) r.drainAll(this.sink);
          this.markDone();
        }
      });
      w.on('error', (e) => {
        this.log.error(`mirror ${this.iface} worker: ${e.message}`);
        if (!up) reject(e);
      });
      w.on('exit', (code) => {
        if (this.worker !== w) return;
        this.worker = null;
        if (!up)
          return reject(
            new Error(`mirror ${this.iface}: its worker exited (code ${code}) before tcpdump ran`),
          );
        if (!this.running) return;
        this.restarts++;
        // Shard rings outlive the thread; its own ring is drained and replaced.
        if (!this.shardRings) {
          r.drainAll(this.sink);
          this.reader = new RingReader(createRing(this.ringBytes));
          r.close();
        }
        this.log.error(
          `mirror ${this.iface}: its worker exited with code ${code}; starting it again (restart ${this.restarts}); frames until then are lost`,
        );
        setTimeout(() => {
          if (this.running)
            this.spawn().catch((e: Error) => this.log.error(`mirror ${this.iface}: ${e.message}`));
        }, RESTART_MS).unref();
      });
    });
  }

  /** Resolves when tcpdump has exited (e.g. at the end of a -r file). */
  done(): Promise<void> {
    return this.finished;
  }

  async stop(): Promise<void> {
    this.running = false;
    const w = this.worker;
    if (w) await stopWorker(w, () => w.postMessage('stop'), 5000);
    this.reader.drainAll(this.sink);
    this.reader.close();
  }

  stats(): MirrorCaptureStats {
    return (
      this.last ?? {
        source: `mirror:${this.iface}`,
        frames: 0,
        bytes: 0,
        ipFrames: 0,
        nonIpFrames: 0,
        malformed: 0,
        lastSeenMs: 0,
        running: this.worker !== null,
        kernelDropped: -1,
        streamErrors: 0,
      }
    );
  }

  /** Its row among the decode workers' in /metrics (worker="mirror"). */
  workerStats(): WorkerStats {
    return {
      index: 'mirror',
      up: this.worker !== null,
      restarts: this.restarts,
      listeners: [],
      ...this.ring(),
    };
  }

  ring(): RingCounts {
    return this.shardRings ? sumCounts(this.shardRings.map(ringCounts)) : this.reader.counts();
  }
}

function runWorker(port: NonNullable<typeof parentPort>, data: MirrorWorkerData): void {
  const post = (m: FromMirror) => port.postMessage(m);
  const writer =
    data.rings.length === 1
      ? new RingWriter(data.rings[0]!)
      : new ShardRouter(data.rings.map((r) => new RingWriter(r)));
  const log = {
    info: (message: string) => post({ type: 'log', level: 'info', message }),
    warn: (message: string) => post({ type: 'log', level: 'warn', message }),
    error: (message: string) => post({ type: 'log', level: 'error', message }),
    debug: () => {},
  } as unknown as Logger;
  const cap = new MirrorCapture(data.iface, writer, { ...data.opts, afterChunk: () => writer.commit(), log });
  const timer = setInterval(() => {
    writer.flushCounts();
    post({ type: 'stats', stats: cap.stats() });
  }, STATS_MS);
  const finish = () => {
    writer.commit();
    writer.flushCounts();
    post({ type: 'stats', stats: cap.stats() });
  };
  port.on('message', (m) => {
    if (m !== 'stop') return;
    clearInterval(timer);
    void cap.stop().then(() => {
      finish();
      port.close();
    });
  });
  cap.start().then(
    () => {
      post({ type: 'started' });
      void cap.done().then(() => {
        finish();
        post({ type: 'done' });
      });
    },
    (e: Error) => {
      clearInterval(timer);
      post({ type: 'error', message: e.message });
      port.close();
    },
  );
}

if (!isMainThread && parentPort && (workerData as { kind?: string } | null)?.kind === 'mirror')
  runWorker(parentPort, workerData as MirrorWorkerData);
