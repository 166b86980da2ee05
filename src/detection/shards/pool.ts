/**
 * Sharded detection (detection.shards > 0): per-host accounting and threshold checks run on
 * `shards` worker threads (shard-worker.ts), each owning the hosts whose IPv4 /24 or IPv6
 * /64 maps to it (capture/input/shard-router.ts), so each host's counters live in exactly
 * one shard. ShardedDetector is the main thread's engine with the single engine's surface:
 *
 * - Records: every producer (the main thread's sink here, each decode worker, the live
 *   mirror's thread) writes to one ring per shard through a ShardRouter; a full ring drops
 *   and counts (per shard in metrics), never blocks. Rings outlive both their writers and
 *   their shard, so a restarted one of either goes on where the other is.
 * - Attacks: a shard's events arrive once per tick and go to the same listeners as the
 *   single engine's; the attacks in progress are kept here by uuid.
 * - Hostgroup totals: each shard sends its hostgroup accumulators of every interval; they
 *   are added into one engine without hosts (`hg` below), whose hostgroup-total limits,
 *   events, totals() and hostgroupRates() are then those of all traffic. A shard's interval
 *   lands in the main thread's open one, so the window edge may shift by one tick; the sums
 *   are exact.
 * - Queries on one host (rates, still attacking, over emergency) go to its shard and are
 *   answered synchronously (Atomics.wait on the shard's control block, then
 *   receiveMessageOnPort), within QUERY_MS; top, statistics and hostgroup samples ask every
 *   shard and merge. A shard that does not answer in time answers "unknown" (counted).
 * - A shard that dies is started again on the same rings; its counters and attacks in
 *   progress are lost (logged, counted in breakwater_detection_shard_restarts_total) and
 *   rebuilt from the next window: an attack still going is detected again.
 */
import { availableParallelism } from 'node:os';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import {
  createRing,
  ringCounts,
  RingWriter,
  sumCounts,
  type RingCounts,
} from '../../capture/input/record-ring.js';
import { ShardRouter, shardOf4, shardOf6 } from '../../capture/input/shard-router.js';
import type { FlowSample, FlowSink } from '../../capture/flow.js';
import { parseIp } from '../../config/values.js';
import type { Config, Direction, TrafficClass, Unit } from '../../config/types.js';
import type { Logger } from '../../log.js';
import { stopWorker } from '../../threads.js';
import {
  type DetectionEngine,
  DetectorImpl,
  type DetectorOptions,
  type HostgroupAttack,
} from '../detector.js';
import type { DetectionStats } from '../queries.js';
import type { AttackEvent, AttackRecord, HostRates, RateFn, TopUnit, TrafficTotals } from '../types.js';
import {
  C_LOSS,
  C_REPLY,
  CONTROL_BYTES,
  rateKey,
  type ShardQuery,
  type ShardTick,
  type ShardWorkerData,
} from './shard-worker.js';

/** Longest a query waits for a shard's answer (a tick in progress, a carpet bomb's starts). */
const QUERY_MS = 250;
const STOP_MS = 2000;
/** A shard that dies within RESTART_STORM_MS of its start is started again after RESTART_DELAY_MS. */
const RESTART_STORM_MS = 5000;
const RESTART_DELAY_MS = 1000;
/** Attack events given to the listeners per event-loop turn (deliver()). */
const EVENTS_PER_TURN = 64;
/** Statistics are asked of every shard at most this often (a metrics scrape asks several times). */
const STATS_MS = 100;

/**
 * detection.shards to a thread count: a number as given; 'auto' is BREAKWATER_DETECTION_SHARDS
 * when set, else 0 on up to 3 cores (the main thread counts fast enough beside one or two
 * decode workers: bench/RESULTS.md), else 40 % of the cores left after the main thread and
 * one for BGP, the API and the kernel (per datagram a shard costs about two thirds of a decode
 * worker, bench/RESULTS.md "Every core").
 */
export function resolveShards(
  setting: number | 'auto',
  cores: number = availableParallelism(),
  env: Readonly<Record<string, string | undefined>> = process.env,
): number {
  if (setting !== 'auto') return setting;
  const e = env.BREAKWATER_DETECTION_SHARDS;
  const v = e === undefined || e === '' ? Number.NaN : Number(e);
  if (Number.isInteger(v) && v >= 0) return v;
  return cores <= 3 ? 0 : Math.max(1, Math.floor((cores - 2) * 0.4));
}

export interface ShardPoolOptions {
  shards: number;
  log: Logger;
  /** Ring capacity per producer and shard. */
  ringBytes?: number;
  detector?: Omit<DetectorOptions, 'now' | 'shard'>;
  /** Tests: no timers; tick(now) ticks every shard and the hostgroup engine. */
  manual?: boolean;
  now?: () => number;
}

/** Per shard, for /metrics. */
export interface ShardStats extends RingCounts {
  shard: number;
  up: boolean;
  restarts: number;
  queryTimeouts: number;
}

interface Shard {
  index: number;
  worker: Worker | null;
  port: MessagePort | null;
  ctl: Int32Array;
  control: SharedArrayBuffer;
  up: boolean;
  restarts: number;
  seq: number;
  timeouts: number;
  startedAt: number;
}

type Listener = (rec: AttackRecord) => void;
/** A query without its id (distributes over the union). */
type QueryBody = ShardQuery extends infer Q ? (Q extends ShardQuery ? Omit<Q, 'id'> : never) : never;

export class ShardedDetector implements DetectionEngine {
  readonly sink: FlowSink;
  readonly shards: number;
  private readonly url = new URL('./shard-worker.js', import.meta.url);
  /** rings[producer][shard] */
  private readonly rings: SharedArrayBuffer[][] = [];
  private readonly list: Shard[] = [];
  private readonly hg: DetectorImpl;
  private cfg: Config;
  private running = false;
  private readonly listeners = new Map<AttackEvent, Listener[]>();
  /** Attacks in progress, by uuid, and the shard each came from. */
  private readonly active = new Map<string, { rec: AttackRecord; shard: number }>();
  private lossProbe: (() => boolean) | null = null;
  private lossTimer: NodeJS.Timeout | null = null;
  private statsAt = -Infinity;
  private statsCache: ShardReport[] = [];
  private readonly ringBytes: number;
  /** Shard events not yet given to the listeners (deliver()), in arrival order. */
  private pending: (ShardTick['events'][number] & { shard: number })[] = [];
  private pendingAt = 0;
  private delivering = false;

  constructor(
    cfg: Config,
    private readonly opts: ShardPoolOptions,
  ) {
    this.cfg = cfg;
    this.shards = Math.max(1, opts.shards);
    this.ringBytes = opts.ringBytes ?? 16 << 20;
    this.hg = new DetectorImpl(cfg, { ...opts.detector, ...(opts.now ? { now: opts.now } : {}) });
    const main = this.producer();
    const router = new ShardRouter(main.map((r) => new RingWriter(r)));
    // The main thread's producers (single-thread capture, replays) hand records one by one
    // and never commit: publish each at once.
    this.sink = {
      onFlow: (rec) => {
        router.onFlow(rec);
        router.commit();
      },
    };
    for (let i = 0; i < this.shards; i++) {
      const control = new SharedArrayBuffer(CONTROL_BYTES);
      this.list.push({
        index: i,
        worker: null,
        port: null,
        control,
        ctl: new Int32Array(control),
        up: false,
        restarts: 0,
        seq: 0,
        timeouts: 0,
        startedAt: 0,
      });
    }
  }

  /**
   * A new producer's rings, one per shard (a decode worker writes them through a
   * ShardRouter). Every producer is known before start().
   */
  producer(ringBytes = this.ringBytes): SharedArrayBuffer[] {
    if (this.running) throw new Error('detection shards: producers are added before start');
    const rings = Array.from({ length: this.shards }, () => createRing(ringBytes));
    this.rings.push(rings);
    return rings;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const s of this.list) this.spawn(s, false);
    if (!this.opts.manual) this.hg.start();
    this.lossTimer = setInterval(() => this.pushLoss(), this.cfg.detection.tick_ms);
    this.lossTimer.unref();
  }

  private spawn(s: Shard, restarted: boolean): void {
    const { port1, port2 } = new MessageChannel();
    port1.unref();
    const data: ShardWorkerData = {
      index: s.index,
      count: this.shards,
      cfg: shardConfig(this.cfg, this.shards),
      opts: this.opts.detector ?? {},
      rings: this.rings.map((r) => r[s.index]!),
      control: s.control,
      rpc: port2,
      manual: this.opts.manual ?? false,
      restarted,
    };
    const w = new Worker(this.url, {
      workerData: { kind: 'detection-shard', data },
      transferList: [port2],
      name: `detection-${s.index}`,
    });
    s.worker = w;
    s.port = port1;
    s.up = true;
    s.startedAt = Date.now();
    w.on('message', (m: ShardTick) => {
      if (m.type === 'tick') this.onTick(s.index, m);
    });
    w.on('error', (e) => this.opts.log.error(`detection shard ${s.index}: ${e.message}`));
    w.on('exit', (code) => {
      if (s.worker !== w) return;
      s.worker = null;
      s.up = false;
      s.port?.close();
      s.port = null;
      if (this.running) this.restart(s, code);
    });
  }

  private restart(s: Shard, code: number): void {
    s.restarts++;
    // Its events not yet delivered are of the state that is gone.
    this.pending = this.pending.slice(this.pendingAt).filter((e) => e.shard !== s.index);
    this.pendingAt = 0;
    let lost = 0;
    for (const [uuid, a] of this.active)
      if (a.shard === s.index) {
        this.active.delete(uuid);
        lost++;
      }
    // One that dies again soon after its start waits a second first (no restart storm).
    const wait = Date.now() - s.startedAt < RESTART_STORM_MS ? RESTART_DELAY_MS : 0;
    this.opts.log.error(
      `detection shard ${s.index} exited with code ${code}; its host counters and ${lost} attack(s) in progress are lost and rebuilt from the next window (restart ${s.restarts}${wait ? `, in ${wait} ms` : ''}, counted in breakwater_detection_shard_restarts_total); bans already made stay`,
    );
    if (wait === 0) this.spawn(s, true);
    else
      setTimeout(() => {
        if (this.running && !s.worker) this.spawn(s, true);
      }, wait).unref();
  }

  private onTick(shard: number, t: ShardTick): void {
    this.hg.addHostgroupInterval(t.acc, t.mask);
    for (const e of t.events) this.pending.push({ ...e, shard });
    if (this.opts.manual) this.deliver(Infinity);
    else if (!this.delivering && this.pending.length > 0) {
      this.delivering = true;
      setImmediate(() => this.deliver(EVENTS_PER_TURN));
    }
  }

  /**
   * Hand at most `max` events to the listeners (manager, history, escalation evidence), the
   * rest on the next turns: a carpet bomb's tick brings hundreds of starts in one message,
   * and their listeners must not hold the API and BGP for all of them at once.
   */
  private deliver(max: number): void {
    let n = 0;
    while (this.pendingAt < this.pending.length && n++ < max) {
      const { event, rec, shard } = this.pending[this.pendingAt++]!;
      if (event === 'attack_finished') this.active.delete(rec.uuid);
      else this.active.set(rec.uuid, { rec, shard });
      for (const l of this.listeners.get(event) ?? []) {
        try {
          l(rec);
        } catch (e) {
          this.opts.log.error(`${event} listener failed: ${(e as Error).message}`);
        }
      }
    }
    if (this.pendingAt < this.pending.length) {
      setImmediate(() => this.deliver(max));
      return;
    }
    this.pending = [];
    this.pendingAt = 0;
    this.delivering = false;
  }

  private pushLoss(): void {
    const v = this.lossProbe?.() ? 1 : 0;
    for (const s of this.list) Atomics.store(s.ctl, C_LOSS, v);
  }

  /** One synchronous query to one shard; undefined when it is down or too slow. */
  private call<T>(s: Shard, q: QueryBody, timeoutMs = QUERY_MS): T | undefined {
    const port = s.port;
    if (!s.up || !port) return undefined;
    s.seq = (s.seq + 1) & 0x3fffffff;
    const id = s.seq;
    port.postMessage({ ...q, id });
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const seen = Atomics.load(s.ctl, C_REPLY);
      for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
        const r = m.message as { id: number; result: T; error: string | null };
        if (r.id !== id) continue; // the late answer to a query that timed out
        if (r.error !== null) {
          this.opts.log.error(`detection shard ${s.index}: ${q.op}: ${r.error}`);
          return undefined;
        }
        return r.result;
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        s.timeouts++;
        return undefined;
      }
      Atomics.wait(s.ctl, C_REPLY, seen, left);
    }
  }

  private shardOf(ip: string): Shard | null {
    try {
      const p = parseIp(ip);
      const n = this.shards;
      if (p.family === 4) {
        const b = p.bytes;
        return this.list[shardOf4(((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0, n)]!;
      }
      return this.list[shardOf6(p.bytes, n)]!;
    } catch {
      return null;
    }
  }

  private ask<T>(ip: string, op: 'hostRates' | 'emergency'): T | undefined {
    const s = this.shardOf(ip);
    return s ? this.call<T>(s, { op, ip }) : undefined;
  }

  /** Tests (manual): count everything written so far, tick every shard, then the hostgroup engine. */
  tick(now: number = (this.opts.now ?? Date.now)()): void {
    for (const s of this.list) {
      const t = this.call<ShardTick | null>(s, { op: 'tick', now }, 10_000);
      if (t) this.onTick(s.index, t);
    }
    this.hg.tick(now);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.hg.stop();
    if (this.lossTimer) clearInterval(this.lossTimer);
    this.lossTimer = null;
    await Promise.all(
      this.list.map(async (s) => {
        const w = s.worker;
        if (w) await stopWorker(w, () => s.port?.postMessage({ op: 'stop', id: -1 }), STOP_MS);
      }),
    );
  }

  /** End a shard as a crash would (tests): it is started again. */
  async crash(index: number): Promise<void> {
    await this.list[index]?.worker?.terminate();
  }

  on(event: AttackEvent, listener: Listener): void {
    const l = this.listeners.get(event) ?? [];
    l.push(listener);
    this.listeners.set(event, l);
  }

  onHostgroup(event: AttackEvent, listener: (a: HostgroupAttack) => void): void {
    // The hostgroup engine has no records, so no samples: those are every shard's.
    this.hg.onHostgroup(event, (a) => {
      if (event !== 'attack_started') return listener(a);
      const s = this.hostgroupSamples(a.hostgroup, a.direction === 'outgoing');
      listener({ ...a, samples: s.attack, baseline: s.baseline });
    });
  }

  setLossProbe(probe: (() => boolean) | null): void {
    this.lossProbe = probe;
  }

  reconfigure(cfg: Config): void {
    this.cfg = cfg;
    this.hg.reconfigure(cfg);
    for (const s of this.list) this.call(s, { op: 'reconfigure', cfg: shardConfig(cfg, this.shards) }, 5000);
  }

  hostRates(ip: string): HostRates | null {
    return this.ask<HostRates | null>(ip, 'hostRates') ?? null;
  }

  rateFn(ip: string): RateFn | null {
    return this.rateFns([ip]).get(ip) ?? null;
  }

  /** Many hosts' rates with one query per shard (the escalation loop over 100k blackholes). */
  rateFns(ips: readonly string[]): Map<string, RateFn | null> {
    const out = new Map<string, RateFn | null>();
    for (const [ip, v] of this.many<ArrayLike<number> | null>('ratesMany', ips))
      out.set(ip, v ? rateFnOver(v) : null);
    return out;
  }

  /** stillAttacking of many hosts, one query per shard (the unban sweep when many bans expire). */
  stillAttackingMany(ips: readonly string[]): Map<string, boolean> {
    const out = new Map<string, boolean>();
    for (const [ip, v] of this.many<boolean>('stillMany', ips)) out.set(ip, v ?? true);
    return out;
  }

  /** One query per shard over its hosts among `ips`; a shard that does not answer gives undefined. */
  private many<T>(op: 'ratesMany' | 'stillMany', ips: readonly string[]): [string, T | undefined][] {
    const by = new Map<Shard, string[]>();
    for (const ip of ips) {
      const s = this.shardOf(ip);
      if (!s) continue;
      const l = by.get(s);
      if (l) l.push(ip);
      else by.set(s, [ip]);
    }
    const out: [string, T | undefined][] = [];
    for (const [s, list] of by) {
      const r = this.call<T[]>(s, { op, ips: list });
      for (const [i, ip] of list.entries()) out.push([ip, r?.[i]]);
    }
    return out;
  }

  /**
   * Unknown (its shard is starting again, or did not answer in time) counts as still
   * attacking: the caller is the unban check, and a ban is kept one more ban_time rather
   * than lifted in the middle of an attack nobody could see.
   */
  stillAttacking(ip: string): boolean {
    // Not a host address (no shard): nothing counts it, never held.
    return this.stillAttackingMany([ip]).get(ip) ?? false;
  }

  overEmergency(ip: string): boolean {
    return this.ask<boolean>(ip, 'emergency') ?? false;
  }

  hostgroupOf(ip: string): string | null {
    return this.hg.hostgroupOf(ip);
  }

  activeAttacks(): AttackRecord[] {
    return [...this.active.values()].map((a) => a.rec);
  }

  top(n: number, unit: TopUnit, direction: Direction): HostRates[] {
    if (n <= 0) return [];
    const all: HostRates[] = [];
    for (const s of this.list)
      all.push(...(this.call<HostRates[]>(s, { op: 'top', n, unit, direction }) ?? []));
    const key = `${direction === 'incoming' ? 'in' : 'out'}_${unit}` as keyof HostRates;
    return all.sort((a, b) => (b[key] as number) - (a[key] as number)).slice(0, n);
  }

  totals(): TrafficTotals {
    return this.hg.totals();
  }

  hostgroupRates(name: string): HostRates | null {
    return this.hg.hostgroupRates(name);
  }

  hostgroupAttacks(): readonly HostgroupAttack[] {
    return this.hg.hostgroupAttacks();
  }

  hostgroupAttacking(name: string): boolean {
    return this.hg.hostgroupAttacking(name);
  }

  hostgroupSamples(name: string, outgoing: boolean): { attack: FlowSample[]; baseline: FlowSample[] } {
    const out = { attack: [] as FlowSample[], baseline: [] as FlowSample[] };
    for (const s of this.list) {
      const r = this.call<{ attack: FlowSample[]; baseline: FlowSample[] }>(s, {
        op: 'hgSamples',
        name,
        outgoing,
      });
      if (!r) continue;
      out.attack.push(...r.attack);
      out.baseline.push(...r.baseline);
    }
    return out;
  }

  private reports(): ShardReport[] {
    const t = performance.now();
    if (t - this.statsAt < STATS_MS) return this.statsCache;
    this.statsAt = t;
    this.statsCache = this.list.map((s) => this.call<ShardReport>(s, { op: 'stats' })).filter((r) => !!r);
    return this.statsCache;
  }

  detectionStats(): DetectionStats {
    const rs = this.reports().map((r) => r.detection);
    const out = { ...this.hg.detectionStats() } as unknown as Record<string, unknown>;
    for (const k of Object.keys(out)) {
      if (typeof out[k] !== 'number') continue;
      // Per engine, not summed: the ticks every shard ran, the cost of one host.
      if (k === 'ticks' || k === 'bytes_per_host') out[k] = Math.max(0, ...rs.map((r) => r[k as 'ticks']));
      else out[k] = rs.reduce((a, r) => a + (r[k as keyof DetectionStats] as number), 0);
    }
    if (rs[0]) out.unsupported_thresholds = rs[0].unsupported_thresholds;
    return out as unknown as DetectionStats;
  }

  /** Hits per flow filter rule, summed over the shards. */
  filterHits(): ReturnType<DetectorImpl['filterHits']> {
    const by = new Map<string, ReturnType<DetectorImpl['filterHits']>[number]>();
    for (const r of this.reports())
      for (const h of r.filterHits) {
        const k = `${h.scope}|${h.rule}`;
        const m = by.get(k);
        if (m) m.hits += h.hits;
        else by.set(k, { ...h });
      }
    return [...by.values()];
  }

  bytesPerHost(): number {
    return this.reports()[0]?.bytesPerHost ?? this.hg.bytesPerHost();
  }

  bytesPerHotHost(): number {
    return this.reports()[0]?.bytesPerHotHost ?? this.hg.bytesPerHotHost();
  }

  get bucketsSaturated(): number {
    return this.reports().reduce((a, r) => a + r.saturated, this.hg.bucketsSaturated);
  }

  get windowMs(): number {
    return this.hg.windowMs;
  }

  /** Per shard: its rings' counters summed over the producers, liveness, restarts. */
  shardStats(): ShardStats[] {
    return this.list.map((s) => {
      const c = sumCounts(this.rings.map((p) => ringCounts(p[s.index]!)));
      return { shard: s.index, up: s.up, restarts: s.restarts, queryTimeouts: s.timeouts, ...c };
    });
  }
}

/**
 * A shard's config: the memory bounds (detection.ipv6_max_hosts, hot_sample_bytes) shared
 * out, so N shards hold what one engine would (a shard whose /64s fill up first evicts first).
 */
function shardConfig(cfg: Config, n: number): Config {
  const d = cfg.detection;
  return {
    ...cfg,
    detection: {
      ...d,
      ipv6_max_hosts: Math.max(1, Math.ceil(d.ipv6_max_hosts / n)),
      hot_sample_bytes: Math.ceil(d.hot_sample_bytes / n),
    },
  };
}

/** A RateFn over one host's 'ratesMany' answer (RATE_KEYS order). */
function rateFnOver(r: ArrayLike<number>): RateFn {
  return (d: Direction, cls: TrafficClass, unit: Unit) => r[rateKey(d, cls, unit)] ?? 0;
}

interface ShardReport {
  detection: DetectionStats;
  filterHits: ReturnType<DetectorImpl['filterHits']>;
  bytesPerHost: number;
  bytesPerHotHost: number;
  saturated: number;
  totals: TrafficTotals;
}
