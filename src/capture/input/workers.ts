/**
 * The decode workers (capture.workers > 0): a pool of worker threads, each owning the
 * sockets of some listeners (capture-worker.ts), each with its record ring drained on the
 * main thread into detection's sink.
 *
 * Receive path: the main thread never touches a datagram: receive and decode leave it, the
 * per-host accounting stays. With no more workers than listeners, each listener's socket
 * lives in one worker (listener i in worker i mod N). With more workers than listeners and
 * the udpbatch addon built, every worker binds every listener with SO_REUSEPORT and the
 * kernel spreads exporters over the workers by a hash of the 4-tuple, so one exporter stays
 * on one worker (its templates and sequence numbers in one decoder) while a single port's
 * many exporters use every worker. Node 20's dgram has no SO_REUSEPORT (reusePort came in
 * Node 23), and the cluster module shares a socket between processes, not threads: without
 * the addon a port is read by one thread.
 *
 * A worker that dies is started again at once with what the pool knows (templates and
 * rates); its records still in the ring are delivered first, its counters are kept, and the
 * restart is counted and logged. Datagrams sent while it was down are lost (the port is
 * closed for that moment), which the log line says.
 */
import { Worker } from 'node:worker_threads';
import type { CaptureListener } from '../../config/types.js';
import type { Logger } from '../../log.js';
import type { AdmitOptions } from '../exporter/admit.js';
import type { ExporterStats } from '../exporter/stats.js';
import type { DecoderCounts, DecoderState } from '../decoder.js';
import type { FlowSink } from '../flow.js';
import type { CaptureWorkerData, FromWorker, ToWorker, WorkerStatsMessage } from './capture-worker.js';
import type { ListenerStats } from './listen.js';
import { stopWorker } from '../../threads.js';
import { closeBatchFd } from './batch-socket.js';
import { createRing, pumpRing, RingReader, ringCounts, sumCounts, type RingCounts } from './record-ring.js';

export interface WorkerPoolOptions {
  workers: number;
  ringBytes: number;
  receiveBufferBytes: number;
  defaultSamplingRate: number;
  samplingOverrides: Readonly<Record<string, number>>;
  admit: AdmitOptions | null;
  /** Templates and rates to give a restarted worker (at the first start: start()'s argument). */
  state: () => DecoderState | null;
  /** A worker learned templates or rates. */
  onState: (state: DecoderState) => void;
  onUnknownSource: (address: string) => void;
  /** Workers may share a port (SO_REUSEPORT through the udpbatch addon). */
  shareable: boolean;
  /**
   * Sharded detection (detection/shards/pool.ts): a worker's rings, one per detection shard,
   * which the shards read; records are routed to them by destination and never pass through
   * the main thread (the sink is then unused). The rings outlive a worker's restart.
   */
  shardRings?: () => SharedArrayBuffer[];
  log: Logger;
}

/**
 * capture.workers to a thread count: a number is taken as given; 'auto' is
 * BREAKWATER_CAPTURE_WORKERS when set, else cores - 2 and at least 1 (the main thread and
 * one more core for BGP, the API and the kernel's share; measured in bench/RESULTS.md: one
 * worker on two cores takes more than the main thread alone); never more than one per
 * listener unless workers can share a port (`shareable`), and none without a listener.
 */
export function resolveWorkers(
  setting: number | 'auto',
  listeners: number,
  cores: number,
  env: Readonly<Record<string, string | undefined>> = process.env,
  shareable = false,
): number {
  let n: number;
  if (setting !== 'auto') n = setting;
  else {
    const e = env.BREAKWATER_CAPTURE_WORKERS;
    const v = e === undefined || e === '' ? Number.NaN : Number(e);
    n = Number.isInteger(v) && v >= 0 ? v : Math.max(1, cores - 2);
  }
  if (listeners === 0) return 0;
  return Math.max(0, shareable ? n : Math.min(n, listeners));
}

/** Per worker, for /metrics. */
export interface WorkerStats extends RingCounts {
  /** The worker's number, or 'mirror' for the live mirror's thread. */
  index: number | 'mirror';
  /** Its sockets are bound and it decodes (false while it starts again). */
  up: boolean;
  restarts: number;
  listeners: string[];
}

const STOP_MS = 2000;

interface Slot {
  index: number;
  listeners: CaptureListener[];
  worker: Worker | null;
  /** The ring the main thread drains, or null when the worker writes to detection shards. */
  reader: RingReader | null;
  /** What the worker writes to: [reader's ring], or one ring per detection shard. */
  rings: SharedArrayBuffer[];
  last: WorkerStatsMessage | null;
  restarts: number;
  up: boolean;
  /** Descriptors of its batch sockets: closed here if it dies without closing them. */
  fds: number[];
  /** Ring counters and decoder statistics of earlier incarnations. */
  carried: RingCounts;
  retired: WorkerStatsMessage[];
}

const zeroRing = (capacityBytes: number): RingCounts => ({
  written: 0,
  dropped: 0,
  queuedBytes: 0,
  highWaterBytes: 0,
  capacityBytes,
});

export class DecodeWorkers {
  private readonly slots: Slot[] = [];
  private running = false;
  private readonly url = new URL('./capture-worker.js', import.meta.url);
  /** Every worker holds every listener on a shared port. */
  readonly share: boolean;
  private listeners: CaptureListener[];

  constructor(
    listeners: readonly CaptureListener[],
    private readonly sink: FlowSink,
    private readonly opts: WorkerPoolOptions,
  ) {
    this.share = opts.shareable && opts.workers > listeners.length;
    const n = this.share ? opts.workers : Math.max(1, Math.min(opts.workers, listeners.length));
    this.listeners = [...listeners];
    for (let i = 0; i < n; i++) {
      const reader = opts.shardRings ? null : new RingReader(createRing(opts.ringBytes));
      this.slots.push({
        index: i,
        listeners: this.share ? [...listeners] : listeners.filter((_, j) => j % n === i),
        worker: null,
        reader,
        rings: reader ? [reader.buffer] : opts.shardRings!(),
        last: null,
        restarts: 0,
        up: false,
        fds: [],
        carried: zeroRing(0),
        retired: [],
      });
    }
  }

  get size(): number {
    return this.slots.length;
  }

  /** Start every worker; resolves with the bound listeners, rejects (one line) when a bind fails. */
  async start(saved: unknown = null): Promise<ListenerStats[]> {
    this.running = true;
    try {
      if (this.share) {
        // The first worker resolves port 0; the others join the ports it got.
        const first = await this.spawn(this.slots[0]!, saved);
        this.listeners = this.listeners.map((l, i) => ({ ...l, port: first[i]?.port ?? l.port }));
        for (const s of this.slots.slice(1)) s.listeners = [...this.listeners];
        await Promise.all(this.slots.slice(1).map((s) => this.spawn(s, saved)));
        for (const s of this.slots) void this.pump(s);
        return first;
      }
      const bound = await Promise.all(this.slots.map((s) => this.spawn(s, saved)));
      for (const s of this.slots) void this.pump(s);
      // Back in listener order (listener i is in worker i mod N).
      const n = this.slots.length;
      const total = bound.reduce((a, b) => a + b.length, 0);
      const out: ListenerStats[] = [];
      for (let i = 0; i < total; i++) out.push(bound[i % n]![Math.floor(i / n)]!);
      return out;
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** Start a worker with `state` (the saved file's content at the first start; else what the pool knows). */
  private spawn(s: Slot, state: unknown = this.opts.state()): Promise<ListenerStats[]> {
    const o = this.opts;
    const data: CaptureWorkerData = {
      index: s.index,
      listeners: s.listeners,
      share: this.share,
      rings: s.rings,
      receiveBufferBytes: o.receiveBufferBytes,
      defaultSamplingRate: o.defaultSamplingRate,
      samplingOverrides: { ...o.samplingOverrides },
      admit: o.admit,
      state,
    };
    const w = new Worker(this.url, { workerData: data, name: `capture-${s.index}` });
    s.worker = w;
    return new Promise((resolve, reject) => {
      let up = false;
      w.on('message', (m: FromWorker) => {
        if (m.type === 'bound') {
          up = true;
          s.up = true;
          s.fds = m.fds;
          o.log.info(
            `decode worker ${s.index} (${s.listeners.map((l) => l.name).join(', ')}) receives through ${m.receive}`,
          );
          // A restarted worker binds the ports its listeners got (port 0 is resolved once).
          s.listeners = s.listeners.map((l, i) => ({ ...l, port: m.listeners[i]?.port ?? l.port }));
          resolve(m.listeners);
        } else if (m.type === 'bind-error') reject(new Error(m.message));
        else this.onMessage(s, m);
      });
      w.on('error', (e) => {
        o.log.error(`decode worker ${s.index}: ${e.message}`);
        if (!up) reject(e);
      });
      w.on('exit', (code) => {
        if (s.worker !== w) return;
        s.worker = null;
        s.up = false;
        // A worker stopped by stop() closed its sockets; one that died did not.
        if (this.running) for (const fd of s.fds) closeBatchFd(fd);
        s.fds = [];
        if (!up) {
          reject(new Error(`decode worker ${s.index} exited (code ${code}) before binding its listeners`));
          return;
        }
        if (this.running) this.restart(s, code);
      });
    });
  }

  private onMessage(s: Slot, m: FromWorker): void {
    if (m.type === 'stats') s.last = m;
    else if (m.type === 'log') this.opts.log[m.level](`decode worker ${s.index}: ${m.message}`);
    else if (m.type === 'unknown-source') this.opts.onUnknownSource(m.address);
    else if (m.type === 'state') {
      this.opts.onState(m.state);
      for (const o of this.slots) if (o !== s) this.post(o, { type: 'state', state: m.state });
    }
  }

  /** A worker died: deliver what it committed, keep its counters, start a new one on a new ring. */
  private restart(s: Slot, code: number): void {
    if (s.reader) this.retireRing(s, s.reader);
    if (s.last) s.retired.push(s.last);
    s.last = null;
    s.restarts++;
    this.opts.log.error(
      `decode worker ${s.index} (${s.listeners.map((l) => l.name).join(', ')}) exited with code ${code}; starting it again with the templates known (restart ${s.restarts}, counted in breakwater_capture_worker_restarts_total); datagrams sent to its listeners until it is back are lost`,
    );
    this.spawn(s).then(
      () => {
        this.opts.log.info(`decode worker ${s.index} is back`);
        void this.pump(s);
      },
      (e: Error) => this.opts.log.error(`decode worker ${s.index} could not start again: ${e.message}`),
    );
  }

  /** A dead worker's ring: deliver what it committed, keep its counters, give the slot a new ring. */
  private retireRing(s: Slot, old: RingReader): void {
    old.drainAll(this.sink);
    const c = old.counts();
    s.carried = {
      written: s.carried.written + c.written,
      dropped: s.carried.dropped + c.dropped,
      queuedBytes: 0,
      highWaterBytes: Math.max(s.carried.highWaterBytes, c.highWaterBytes),
      capacityBytes: c.capacityBytes,
    };
    s.reader = new RingReader(createRing(this.opts.ringBytes));
    s.rings = [s.reader.buffer];
    old.close();
  }

  /** Drain one worker's ring into the sink for as long as the pool runs (and that ring is current). */
  private async pump(s: Slot): Promise<void> {
    const r = s.reader;
    if (!r) return; // the detection shards read its rings
    return pumpRing(r, this.sink, () => this.running && s.reader === r);
  }

  private post(s: Slot, m: ToWorker): void {
    s.worker?.postMessage(m);
  }

  setSampling(defaultRate: number, overrides: Readonly<Record<string, number>>): void {
    for (const s of this.slots) this.post(s, { type: 'sampling', defaultRate, overrides: { ...overrides } });
  }

  setAdmission(admit: AdmitOptions): void {
    for (const s of this.slots) this.post(s, { type: 'admission', admit });
  }

  /** Stop every worker (sockets closed, last records delivered). */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(
      this.slots.map(async (s) => {
        const w = s.worker;
        if (!w) return;
        await stopWorker(w, () => this.post(s, { type: 'stop' }), STOP_MS);
        s.worker = null;
      }),
    );
    for (const s of this.slots) {
      s.reader?.drainAll(this.sink);
      s.reader?.close();
    }
  }

  /** End a worker as a crash would (tests, `kill` drills): it is started again. */
  async crash(index: number): Promise<void> {
    await this.slots[index]?.worker?.terminate();
  }

  workerStats(): WorkerStats[] {
    return this.slots.map((s) => {
      const c = sumCounts(s.rings.map(ringCounts));
      return {
        index: s.index,
        up: s.up,
        restarts: s.restarts,
        listeners: s.listeners.map((l) => l.name),
        written: s.carried.written + c.written,
        dropped: s.carried.dropped + c.dropped,
        queuedBytes: c.queuedBytes,
        highWaterBytes: Math.max(s.carried.highWaterBytes, c.highWaterBytes),
        capacityBytes: c.capacityBytes,
      };
    });
  }

  /** Records dropped on full rings, all workers. */
  ringDropped(): number {
    let n = 0;
    for (const s of this.workerStats()) n += s.dropped;
    return n;
  }

  /** Every worker's latest statistics (and those of the incarnations before a restart). */
  private reports(): WorkerStatsMessage[] {
    const out: WorkerStatsMessage[] = [];
    for (const s of this.slots) {
      out.push(...s.retired);
      if (s.last) out.push(s.last);
    }
    return out;
  }

  /** Ask every worker for fresh statistics; resolves when they answered (or after 1 s). */
  async refresh(): Promise<void> {
    await Promise.all(
      this.slots.map(
        (s) =>
          new Promise<void>((res) => {
            const w = s.worker;
            if (!w) return res();
            const t = setTimeout(done, 1000);
            function done() {
              clearTimeout(t);
              w!.off('message', on);
              res();
            }
            const on = (m: FromWorker) => {
              if (m.type === 'stats') done();
            };
            w.on('message', on);
            this.post(s, { type: 'stats' });
          }),
      ),
    );
  }

  /** Per listener, summed over the workers that read it (all of them on a shared port). */
  listenerStats(): ListenerStats[] {
    const by = new Map<string, ListenerStats>();
    for (const s of this.slots)
      for (const l of s.last?.listeners ?? []) {
        const m = by.get(l.name);
        if (!m) by.set(l.name, { ...l });
        else {
          m.datagrams += l.datagrams;
          m.bytes += l.bytes;
          m.receiveBuffer = Math.max(m.receiveBuffer, l.receiveBuffer);
        }
      }
    return [...by.values()];
  }

  exporters(): ExporterStats[] {
    return mergeExporters(this.reports().map((r) => r.exporters));
  }

  /** Summed over the workers' reports, from `zero` (the main thread's own, all 0 in worker mode). */
  counts(zero: DecoderCounts): DecoderCounts {
    const sum: Record<string, number> = { ...zero };
    for (const r of this.reports()) for (const [k, v] of Object.entries(r.counts)) sum[k] = (sum[k] ?? 0) + v;
    return sum as unknown as DecoderCounts;
  }

  pendingSets(): number {
    let n = 0;
    for (const s of this.slots) n += s.last?.pendingSets ?? 0;
    return n;
  }

  lastOutOfBounds(): string {
    for (const r of this.reports().reverse()) if (r.lastOutOfBounds) return r.lastOutOfBounds;
    return '';
  }
}

/** One row per exporter over several decoders: counters add up, templates and last-seen are the most. */
function mergeExporters(lists: readonly ExporterStats[][]): ExporterStats[] {
  if (lists.length === 1) return lists[0]!;
  const by = new Map<string, ExporterStats>();
  for (const list of lists)
    for (const e of list) {
      const m = by.get(e.exporter);
      if (!m) {
        by.set(e.exporter, {
          ...e,
          formats: [...e.formats],
          agents: [...e.agents],
          sampling: { ...e.sampling },
        });
        continue;
      }
      for (const k of Object.keys(e) as (keyof ExporterStats)[]) {
        const v = e[k];
        if (typeof v !== 'number') continue;
        const cur = m[k] as number;
        (m as unknown as Record<string, number>)[k] =
          k === 'templates' || k === 'lastSeenMs' ? Math.max(cur, v) : cur + v;
      }
      for (const f of e.formats) if (!m.formats.includes(f)) m.formats.push(f);
      for (const a of e.agents) if (!m.agents.includes(a)) m.agents.push(a);
      Object.assign(m.sampling, e.sampling);
    }
  return [...by.values()];
}
