/**
 * The input room (capture/input/): where bytes come from. collector.ts (this file) listens
 * for exporter datagrams over UDP, mirror-live.ts reads a live port mirror from a capture
 * process, mirror.ts turns mirrored frames into records, decode-file.ts decodes whole pcap
 * files (`breakwater decode`, tests), replay.ts sends a capture's datagrams again. Datagrams
 * go to a FlowDecoder (capture/decoder.ts, which calls the formats room and keeps the
 * exporter room); frames go to a MirrorDecoder; both deliver FlowRecords to a FlowSink.
 *
 * UDP collectors: one socket per configured listener (IPv4 or IPv6, bound by listen.ts),
 * all feeding one FlowDecoder, so templates, learned rates and statistics are per exporter
 * whatever port it sends to. With capture.workers > 0 the sockets and their decoding move
 * to worker threads (workers.ts); this class still owns the listeners' kernel counters,
 * the state dir and the log lines, and answers for the workers. The format is detected by
 * version on every port (a listener's `type` is informational). Bad input never throws out
 * of the socket handler: the decoder counts it.
 */
import type { CaptureListener } from '../../config/types.js';
import { openListenerRefusal } from '../../config/exposure.js';
import type { AdmitOptions } from '../exporter/admit.js';
import { logger, type Logger } from '../../log.js';
import { FlowDecoder, type DecoderCounts, type DecoderState } from '../decoder.js';
import type { FlowSink } from '../flow.js';
import type { ExporterStats } from '../exporter/stats.js';
import { FileTemplateStore } from '../exporter/templates.js';
import { bindListener, newListenerStats, type BoundListener, type ListenerStats } from './listen.js';
import { batchSocketSupport } from './batch-socket.js';
import { DecodeWorkers, type WorkerStats } from './workers.js';
import { readProcNetUdp, socketKey } from './socket-drops.js';

export interface CollectorOptions {
  /** Directory for persisted templates and learned rates (none = not persisted). */
  stateDir?: string;
  /** Requested SO_RCVBUF per socket (default 32 MiB). */
  receiveBufferBytes?: number;
  defaultSamplingRate?: number;
  samplingOverrides?: Readonly<Record<string, number>>;
  /** Debounce of state writes (default 1000 ms). */
  persistDebounceMs?: number;
  /** capture.exporters and the default record bound (none: every source, loopback listeners only). */
  admit?: AdmitOptions;
  /** Decode worker threads (0: receive and decode on the main thread). */
  workers?: number;
  /**
   * Record ring per worker, bytes (default 64 MiB: ~700k IPv4 records, a quarter second at
   * 3M records/s, what a main thread busy with a tick or a collection must be able to miss).
   */
  ringBytes?: number;
  /**
   * Sharded detection: each decode worker writes its records to these rings, one per shard
   * (called once per worker; workers.ts), and the sink gets nothing from the workers.
   */
  shardRings?: () => SharedArrayBuffer[];
  log?: Logger;
}

export interface CollectorStats {
  listeners: ListenerStats[];
  exporters: ExporterStats[];
  /** Data sets held waiting for their template. */
  pendingSets: number;
  /** Templates restored from the state dir at start. */
  templatesRestored: number;
  stateWrites: number;
  stateError: string | null;
  /** Refused, evicted and dropped counts (decoder-wide). */
  counts: DecoderCounts;
  /** Decode workers and their rings (empty when decoding on the main thread). */
  workers: WorkerStats[];
}

/** Kernel drops are read this often; a drop within LOSS_HOLD_MS makes losingDatagrams() true. */
const LOSS_POLL_MS = 500;
const LOSS_HOLD_MS = 3000;

/** Least interval between two log lines about unknown sources, and addresses named per line. */
const UNKNOWN_LOG_MS = 10_000;
const UNKNOWN_LOG_ADDRS = 8;

export class Collector {
  /**
   * Decodes every datagram on the main thread; with decode workers it receives none and
   * holds the union of what the workers learned (persisted, given to a restarted worker).
   */
  readonly decoder: FlowDecoder;
  /** The decode workers (capture.workers > 0), else null. */
  private readonly pool: DecodeWorkers | null;
  /** Templates and learned rates persisted in the state dir (none: kept in memory only). */
  private readonly state: FileTemplateStore | null;
  private readonly log: Logger;
  private bound: BoundListener[] = [];
  private templatesRestored = 0;
  private unknownLoggedAt = -Infinity;
  private unknownSince = 0;
  private readonly unknownAddrs = new Set<string>();
  private outOfBoundsLogged = 0;
  private outOfBoundsTimer: NodeJS.Timeout | null = null;
  /** Kernel drops per listener at the last log line (socket-drops.ts). */
  private readonly dropsLogged = new Map<string, number>();
  /** Sum of kernel drops at the last poll, and when it last grew (ms). */
  private dropsSeen = 0;
  private ringDropsSeen = 0;
  private lastLossAt = -Infinity;
  private lossTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly listeners: readonly CaptureListener[],
    sink: FlowSink,
    private readonly opts: CollectorOptions = {},
  ) {
    this.log = opts.log ?? logger.child({ module: 'capture' });
    const state = opts.stateDir ? new FileTemplateStore(opts.stateDir, opts.persistDebounceMs ?? 1000) : null;
    this.state = state;
    this.decoder = new FlowDecoder(sink, {
      defaultSamplingRate: opts.defaultSamplingRate ?? 1,
      samplingOverrides: opts.samplingOverrides ?? {},
      ...(opts.admit ? { admit: opts.admit } : {}),
      ...(state ? { templates: state } : {}),
      onUnknownSource: (a) => this.noteUnknown(a),
    });
    state?.source(() => this.decoder.exportStateChunks());
    const workers = opts.workers ?? 0;
    this.pool =
      workers > 0 && listeners.length > 0
        ? new DecodeWorkers(listeners, sink, {
            workers,
            ringBytes: opts.ringBytes ?? 64 * 1024 * 1024,
            receiveBufferBytes: opts.receiveBufferBytes ?? 32 * 1024 * 1024,
            defaultSamplingRate: opts.defaultSamplingRate ?? 1,
            samplingOverrides: opts.samplingOverrides ?? {},
            admit: opts.admit ?? null,
            state: () => this.decoder.exportState(),
            onState: (s) => this.learned(s),
            onUnknownSource: (a) => this.noteUnknown(a),
            shareable: batchSocketSupport().available,
            ...(opts.shardRings ? { shardRings: opts.shardRings } : {}),
            log: this.log,
          })
        : null;
  }

  /** Decode worker threads running (0: the main thread decodes). */
  get workerCount(): number {
    return this.pool?.size ?? 0;
  }

  /** What a worker learned: kept in the union decoder, persisted with the rest. */
  private learned(s: DecoderState): void {
    this.decoder.importState(s);
    this.state?.changed();
  }

  /** Rate-limited: one line per UNKNOWN_LOG_MS naming the first few sources seen since the last. */
  private noteUnknown(addr: string): void {
    this.unknownSince++;
    if (this.unknownAddrs.size < UNKNOWN_LOG_ADDRS) this.unknownAddrs.add(addr);
    const now = Date.now();
    if (now - this.unknownLoggedAt < UNKNOWN_LOG_MS) return;
    this.unknownLoggedAt = now;
    this.log.warn(
      `dropped ${this.unknownSince} datagram(s) from sources not in capture.exporters (first seen: ${[...this.unknownAddrs].join(', ')}); counted in breakwater_capture_unknown_source_datagrams_total`,
    );
    this.unknownSince = 0;
    this.unknownAddrs.clear();
  }

  /** Records the bound dropped, logged at most every 10 s with the last one. */
  private logOutOfBounds(): void {
    const n = this.counts().recordOutOfBounds;
    if (n === this.outOfBoundsLogged) return;
    this.log.warn(
      `dropped ${n - this.outOfBoundsLogged} flow record(s) claiming more than their exporter's links could carry (last: ${this.pool ? this.pool.lastOutOfBounds() : this.decoder.lastOutOfBounds}); see capture.max_link_bps`,
    );
    this.outOfBoundsLogged = n;
  }

  /** Read every listener's kernel counters (socket-drops.ts); null where they cannot be read. */
  private refreshKernelCounters(): void {
    if (this.bound.length === 0) return;
    const rows = readProcNetUdp();
    let sum = 0;
    for (const b of this.bound) {
      const k = socketKey(b.st.address, b.st.port);
      const r = rows && k ? rows.get(k) : undefined;
      b.st.kernelDrops = r ? r.drops : null;
      b.st.rxQueueBytes = r ? r.rxQueue : null;
      sum += r ? r.drops : 0;
    }
    if (sum > this.dropsSeen) this.lastLossAt = Date.now();
    this.dropsSeen = sum;
    // Records a full ring dropped are lost the same way.
    const ring = this.pool?.ringDropped() ?? 0;
    if (ring > this.ringDropsSeen) this.lastLossAt = Date.now();
    this.ringDropsSeen = ring;
  }

  /**
   * Did the kernel drop datagrams on some listener in the last 3 s (read every 500 ms)?
   * Detection then holds attack ends: the rates it sees are too low by what was lost.
   */
  losingDatagrams(now = Date.now()): boolean {
    return now - this.lastLossAt < LOSS_HOLD_MS;
  }

  /** Datagrams the kernel dropped since the last line, per listener, at most every 10 s. */
  private logKernelDrops(): void {
    this.refreshKernelCounters();
    for (const b of this.bound) {
      const n = b.st.kernelDrops;
      if (n === null) continue;
      const before = this.dropsLogged.get(b.st.name) ?? 0;
      if (n <= before) continue;
      this.dropsLogged.set(b.st.name, n);
      this.log.warn(
        `listener '${b.st.name}' ${b.st.address}:${b.st.port}: the kernel dropped ${n - before} datagram(s) since the last report (${n} in all): its ${b.st.receiveBuffer}-byte receive buffer was full, the daemon did not read fast enough; counted in breakwater_capture_socket_drops_total`,
      );
    }
  }

  /** Load saved templates, then bind every listener. Rejects (one line) when a bind fails. */
  async start(): Promise<void> {
    // The rule `breakwater check` applies too (config/exposure.ts), for configs built in code.
    if (!this.opts.admit?.exporters?.length) {
      for (const l of this.listeners) {
        const why = openListenerRefusal(l.address);
        if (why) throw new Error(`capture listener '${l.name}': ${why}`);
      }
    }
    this.outOfBoundsTimer = setInterval(() => {
      this.logOutOfBounds();
      this.logKernelDrops();
    }, UNKNOWN_LOG_MS);
    this.outOfBoundsTimer.unref();
    this.lossTimer = setInterval(() => this.refreshKernelCounters(), LOSS_POLL_MS);
    this.lossTimer.unref();
    const saved = this.state ? this.state.load() : null;
    if (this.state?.lastError) this.log.warn(this.state.lastError);
    // Workers start (and import the saved state on their own threads) while this one does.
    const up = this.pool?.start(saved);
    up?.catch(() => {});
    if (saved) {
      this.templatesRestored = this.decoder.importState(saved);
      this.log.info(`restored ${this.templatesRestored} templates from ${this.state!.path}`);
    }
    try {
      if (this.pool) {
        const listening = await up!;
        this.bound = this.listeners.map((cfg, i) => ({
          cfg,
          sock: null,
          st: listening[i] ?? newListenerStats(cfg),
        }));
        this.log.info(
          this.pool.share
            ? `decoding ${this.listeners.length} listener(s) on ${this.pool.size} worker threads sharing each port (SO_REUSEPORT: the kernel keeps an exporter on one worker)`
            : `decoding ${this.listeners.length} listener(s) on ${this.pool.size} worker thread(s) (capture.workers; a listener is read by one thread)`,
        );
      } else
        for (const l of this.listeners)
          this.bound.push(
            await bindListener(l, this.opts.receiveBufferBytes ?? 32 * 1024 * 1024, this.log, (msg, src) =>
              this.decoder.decode(msg, src, Date.now()),
            ),
          );
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** Close every socket and write the state now. */
  async stop(): Promise<void> {
    const b = this.bound;
    this.bound = [];
    await Promise.all(b.map((x) => new Promise<void>((r) => (x.sock ? x.sock.close(() => r()) : r()))));
    await this.pool?.stop();
    if (this.outOfBoundsTimer) clearInterval(this.outOfBoundsTimer);
    this.outOfBoundsTimer = null;
    if (this.lossTimer) clearInterval(this.lossTimer);
    this.lossTimer = null;
    await this.state?.flush();
  }

  /** Apply new sampling settings (config reload). */
  setSampling(defaultRate: number, overrides: Readonly<Record<string, number>>): void {
    this.decoder.setSampling(defaultRate, overrides);
    this.pool?.setSampling(defaultRate, overrides);
  }

  /** Apply new capture.exporters and bounds (config reload). */
  setAdmission(admit: AdmitOptions): void {
    this.decoder.setAdmission(admit);
    this.pool?.setAdmission(admit);
  }

  /** Write the template state now (tests, benchmarks); resolves when it is on disk. */
  async saveState(): Promise<void> {
    await this.state?.save();
  }

  /** Refused, evicted and dropped counts over every decoder. */
  counts(): DecoderCounts {
    return this.pool ? this.pool.counts(this.decoder.counts()) : this.decoder.counts();
  }

  /**
   * Statistics now. With decode workers they are the workers' latest reports (every 500 ms);
   * `await refresh()` first for figures up to this moment.
   */
  stats(): CollectorStats {
    if (this.pool) {
      const live = this.pool.listenerStats();
      for (const b of this.bound) {
        const l = live.find((x) => x.name === b.st.name);
        if (l)
          Object.assign(b.st, {
            datagrams: l.datagrams,
            bytes: l.bytes,
            receiveBuffer: l.receiveBuffer,
            port: l.port,
          });
      }
    }
    this.refreshKernelCounters();
    return {
      listeners: this.bound.map((b) => ({ ...b.st })),
      exporters: this.pool ? this.pool.exporters() : this.decoder.stats(),
      pendingSets: this.pool ? this.pool.pendingSets() : this.decoder.pendingSets,
      templatesRestored: this.templatesRestored,
      stateWrites: this.state?.writes ?? 0,
      stateError: this.state?.lastError ?? null,
      counts: this.counts(),
      workers: this.pool?.workerStats() ?? [],
    };
  }

  /** Ask the decode workers for statistics up to now (nothing to do without workers). */
  async refresh(): Promise<void> {
    await this.pool?.refresh();
  }

  /** End decode worker `i` as a crash would; it is started again (tests, drills). */
  async crashWorker(i: number): Promise<void> {
    await this.pool?.crash(i);
  }

  /** Bound ports in listener order (useful when a listener asked for port 0). */
  ports(): number[] {
    return this.bound.map((b) => b.st.port);
  }
}
