/**
 * A decode worker (worker_threads entry; capture.workers > 0). It owns the sockets of the
 * listeners given to it: receives, decodes with its own FlowDecoder and writes each record
 * to its ring (record-ring.ts), one commit per datagram. Detection, mitigation, BGP and the
 * API stay on the main thread; nothing here blocks it.
 *
 * What the main thread must know travels as rare messages: the bound ports, statistics
 * every STATS_MS, log lines (the main thread's logger has the operator's settings), and the
 * decoder state (templates, learned sampling) when it changes, which the main thread keeps
 * as the union of all workers', persists in the state dir and hands to every other worker,
 * so an exporter sending to two listeners is decoded by both with what either learned.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { CaptureListener } from '../../config/types.js';
import type { AdmitOptions } from '../exporter/admit.js';
import type { ExporterStats } from '../exporter/stats.js';
import { FlowDecoder, type DecoderCounts, type DecoderState } from '../decoder.js';
import { BatchSocket, batchSocketSupport } from './batch-socket.js';
import {
  bindListener,
  logBound,
  newListenerStats,
  type BoundListener,
  type ListenerStats,
} from './listen.js';
import { RingWriter } from './record-ring.js';
import { ShardRouter } from './shard-router.js';

export interface CaptureWorkerData {
  index: number;
  listeners: CaptureListener[];
  /** One ring (the main thread drains it), or one per detection shard (records routed by destination). */
  rings: SharedArrayBuffer[];
  receiveBufferBytes: number;
  defaultSamplingRate: number;
  samplingOverrides: Record<string, number>;
  admit: AdmitOptions | null;
  /** Every worker holds every listener, sharing its port (SO_REUSEPORT; batched receive only). */
  share: boolean;
  /** Templates and rates known at start (the state dir's as saved, or what other workers learned). */
  state: unknown;
}

export interface WorkerStatsMessage {
  type: 'stats';
  listeners: ListenerStats[];
  exporters: ExporterStats[];
  counts: DecoderCounts;
  pendingSets: number;
  lastOutOfBounds: string;
}

/** Worker → main thread. */
export type FromWorker =
  | { type: 'bound'; listeners: ListenerStats[]; receive: string; fds: number[] }
  | { type: 'bind-error'; message: string }
  | { type: 'log'; level: 'info' | 'warn'; message: string }
  | { type: 'unknown-source'; address: string }
  | { type: 'state'; state: DecoderState }
  | WorkerStatsMessage;

/** Main thread → worker. */
export type ToWorker =
  | { type: 'sampling'; defaultRate: number; overrides: Record<string, number> }
  | { type: 'admission'; admit: AdmitOptions }
  | { type: 'state'; state: DecoderState }
  | { type: 'stats' }
  | { type: 'stop' };

const STATS_MS = 500;
/** Template bursts (an exporter's restart) become one state message. */
const STATE_DEBOUNCE_MS = 50;

function run(port: NonNullable<typeof parentPort>, data: CaptureWorkerData): void {
  const post = (m: FromWorker) => port.postMessage(m);
  const writer =
    data.rings.length === 1
      ? new RingWriter(data.rings[0]!)
      : new ShardRouter(data.rings.map((r) => new RingWriter(r)));
  let stateTimer: NodeJS.Timeout | null = null;
  let importing = false;
  /** Exporters whose templates or rates changed since the last state message (null: all). */
  let dirty: Set<string> | null = new Set();
  const decoder = new FlowDecoder(writer, {
    defaultSamplingRate: data.defaultSamplingRate,
    samplingOverrides: data.samplingOverrides,
    ...(data.admit ? { admit: data.admit } : {}),
    onUnknownSource: (address) => post({ type: 'unknown-source', address }),
    onStateChange: (exporter) => {
      // What another worker taught us is not news to send back.
      if (importing) return;
      if (exporter === null) dirty = null;
      else dirty?.add(exporter);
      if (stateTimer) return;
      stateTimer = setTimeout(() => {
        stateTimer = null;
        // Only what changed: with 64,000 templates held, a new one must not cost a copy of all.
        const state = dirty ? decoder.exportStateOf(dirty) : decoder.exportState();
        dirty = new Set();
        post({ type: 'state', state });
      }, STATE_DEBOUNCE_MS);
    },
  });
  const learn = (state: unknown) => {
    importing = true;
    try {
      decoder.importState(state);
    } finally {
      importing = false;
    }
  };
  if (data.state) learn(data.state);
  const log = {
    info: (message: string) => post({ type: 'log', level: 'info', message }),
    warn: (message: string) => post({ type: 'log', level: 'warn', message }),
  };
  const bound: BoundListener[] = [];
  /** The listeners read in batches (udpbatch addon), when it is built. */
  let batch: BatchSocket[] = [];
  let stopped = false;
  const stats = (): WorkerStatsMessage => {
    writer.commit();
    writer.flushCounts();
    return {
      type: 'stats',
      listeners: bound.map((b) => ({ ...b.st })),
      exporters: decoder.stats(),
      counts: decoder.counts(),
      pendingSets: decoder.pendingSets,
      lastOutOfBounds: decoder.lastOutOfBounds,
    };
  };
  const timer = setInterval(() => post(stats()), STATS_MS);
  port.on('message', (m: ToWorker) => {
    if (m.type === 'sampling') decoder.setSampling(m.defaultRate, m.overrides);
    else if (m.type === 'admission') decoder.setAdmission(m.admit);
    else if (m.type === 'state') learn(m.state);
    else if (m.type === 'stats') post(stats());
    else if (m.type === 'stop') {
      stopped = true;
      clearInterval(timer);
      if (stateTimer) clearTimeout(stateTimer);
      for (const x of batch) x.close();
      const socks = bound.filter((b) => b.sock);
      void Promise.all(socks.map((b) => new Promise<void>((r) => b.sock!.close(() => r())))).then(() => {
        post(stats());
        port.close();
      });
    }
  });
  const support = batchSocketSupport();
  if (support.available) {
    // Batched: recvmmsg into one buffer per socket, decoded in place (batch-socket.ts).
    const socks: BatchSocket[] = [];
    try {
      for (const l of data.listeners) {
        const sock = BatchSocket.open(l, data.receiveBufferBytes, data.share);
        socks.push(sock);
        const st = { ...newListenerStats(l), port: sock.port, receiveBuffer: sock.receiveBuffer };
        bound.push({ cfg: l, sock: null, st });
        logBound(l, st, data.receiveBufferBytes, log);
      }
    } catch (e) {
      for (const x of socks) x.close();
      clearInterval(timer);
      post({ type: 'bind-error', message: (e as Error).message });
      port.close();
      return;
    }
    batch = socks;
    // One clock read per round of batches, not per datagram (they arrived together).
    let now = 0;
    const handlers = bound.map(({ st }) => (msg: Uint8Array, source: string) => {
      st.datagrams++;
      st.bytes += msg.length;
      decoder.decode(msg, source, now);
    });
    const loop = () => {
      if (stopped) return;
      // Up to 16 rounds over the sockets per turn, then the event loop (stats, state, stop).
      for (let i = 0; i < 16; i++) {
        let n = 0;
        now = Date.now();
        for (let k = 0; k < socks.length; k++) n += socks[k]!.receive(0, handlers[k]!);
        writer.commit();
        if (n > 0) continue;
        // Nothing waiting: sleep in poll(2) a little (a thread of its own), then yield.
        if (i === 0) BatchSocket.waitAny(socks, 20);
        break;
      }
      setImmediate(loop);
    };
    setImmediate(loop);
    post({
      type: 'bound',
      listeners: bound.map((x) => ({ ...x.st })),
      receive: 'recvmmsg (udpbatch addon)',
      fds: socks.map((x) => x.fd),
    });
    return;
  }
  void (async () => {
    try {
      for (const l of data.listeners)
        bound.push(
          await bindListener(l, data.receiveBufferBytes, log, (msg, source) => {
            decoder.decode(msg, source, Date.now());
            writer.commit();
          }),
        );
      post({
        type: 'bound',
        listeners: bound.map((b) => ({ ...b.st })),
        receive: `Node's dgram (${support.error ?? 'batched receive unavailable'})`,
        fds: [],
      });
    } catch (e) {
      for (const b of bound) b.sock!.close();
      clearInterval(timer);
      post({ type: 'bind-error', message: (e as Error).message });
      port.close();
    }
  })();
}

if (parentPort) run(parentPort, workerData as CaptureWorkerData);
