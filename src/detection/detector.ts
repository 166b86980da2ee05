/**
 * The detection engine's façade: DetectorImpl wires the parts below together and forwards
 * the public surface (the Detector interface in types.ts plus the daemon's and tests'
 * extras). Module map of src/detection:
 *
 *   state.ts       shared state: counter store, address indexes, running config (policy,
 *                  compiled thresholds, candidate budgets, hostgroup total slots), interval
 *                  clock; rate(), a slot's address/network as text, the slot of an address
 *   ingest.ts      the hot path (FlowSink.onFlow -> add -> slow): per-record accounting,
 *                  candidate list, baseline ring offers, slot allocation, IPv6 eviction
 *   hot.ts         hot hosts: hot list, per-threshold consecutive-tick counts, hot sample
 *                  buffers (promote / makeHot / release)
 *   tick.ts        the tick: advance/tick, smoothing, threshold evaluation, start/stop timer
 *   attacks.ts     attack lifecycle (start / refresh / end), samples and baseline of the
 *                  record, event listeners; hostgroup-total thresholds and their events
 *   queries.ts     hostRates, rateFn, top, totals, hostgroupRates, stillAttacking,
 *                  overEmergency, detectionStats
 *   reconfigure.ts applying a reloaded config without losing counters
 *   store.ts       typed-array counter store (accumulators, window rings, candidate limits)
 *   addrmap.ts     IPv4/IPv6 slot indexes caching the config room's policy lookup
 *                  (config/classifier.ts: monitored, hostgroup, whitelisted)
 *   shards/        detection.shards: the same engine on worker threads, one per shard of the
 *                  hosts (pool.ts ShardedDetector on the main thread, shard-worker.ts)
 *   samples.ts     sample rings (baseline and hot) and pcap; layout.ts counter layout and
 *                  threshold compilation; report.ts FastNetMon-style details; classify.ts
 *                  attack type; unban.ts unban decision
 *
 * Hot path (onFlow): resolve the destination (incoming) and source (outgoing) slots, add
 * the record to the slot's tick accumulator, offer it to the slot's sample ring. No rates,
 * no objects, no strings.
 * Tick (every tick_ms): roll every active slot's accumulator into its window, then check
 * the ban thresholds of the slots whose window changed plus the "hot" ones (near or above a
 * threshold, or under attack). A host gets hot when its window rate or its last tick's rate
 * reaches `warmFraction` of a ban threshold; from then on it also fills a larger sample
 * buffer (with packet headers), so when a threshold is crossed the attack record has its
 * samples at once. Between ticks (every 10 ms) a hot candidate already over a threshold in
 * the window so far is started at once (tick.ts early()).
 */
import type { FlowRecord, FlowSink } from '../capture/flow.js';
import type { Config, Direction } from '../config/types.js';
import { Attacks, type HostgroupAttack } from './attacks.js';
import { HotHosts } from './hot.js';
import { Ingest } from './ingest.js';
import { Queries, type DetectionStats } from './queries.js';
import { reconfigure } from './reconfigure.js';
import { DetectorState, type DetectorOptions } from './state.js';
import { CAND_BIT, H_MASK, IN0, OUT0, STRIDE } from './store.js';
import { Ticker } from './tick.js';
import type {
  AttackEvent,
  AttackRecord,
  Detector,
  HostRates,
  RateFn,
  TopUnit,
  TrafficTotals,
} from './types.js';

export type { DetectorOptions } from './state.js';

/**
 * What the daemon and the API use of a detection engine: the single engine (DetectorImpl)
 * and the sharded one (shards/pool.ts ShardedDetector) both are one.
 */
export type DetectionEngine = Pick<
  DetectorImpl,
  | 'sink'
  | 'start'
  | 'on'
  | 'onHostgroup'
  | 'setLossProbe'
  | 'reconfigure'
  | 'hostRates'
  | 'rateFn'
  | 'top'
  | 'totals'
  | 'stillAttacking'
  | 'overEmergency'
  | 'hostgroupOf'
  | 'activeAttacks'
  | 'hostgroupRates'
  | 'hostgroupAttacks'
  | 'hostgroupAttacking'
  | 'hostgroupSamples'
  | 'detectionStats'
  | 'filterHits'
  | 'bytesPerHost'
  | 'bytesPerHotHost'
  | 'bucketsSaturated'
  | 'windowMs'
> & { stop(): void | Promise<void> };

/** Doubles of a hostgroup's accumulators per interval: both directions (store.ts IN0..OUT0+16). */
const HG_PART = OUT0 + 16 - IN0;
export type { HostgroupAttack } from './attacks.js';
export type { DetectionStats } from './queries.js';

export class DetectorImpl implements Detector {
  /** The capture side feeds records here (the hot path itself, no wrapper). */
  readonly sink: FlowSink;
  readonly stats: DetectorState['stats'];
  private readonly now: () => number;
  private readonly st: DetectorState;
  private readonly ingest: Ingest;
  private readonly hot: HotHosts;
  private readonly attacks: Attacks;
  private readonly ticker: Ticker;
  private readonly queries: Queries;

  /** Counter buckets that saturated at 2^32-1 (the excess dropped, never carried; store.ts). */
  get bucketsSaturated(): number {
    return this.st.store.saturated;
  }

  constructor(cfg: Config, opts: DetectorOptions = {}) {
    this.now = opts.now ?? Date.now;
    const st = new DetectorState(cfg, opts);
    this.st = st;
    this.stats = st.stats;
    this.hot = new HotHosts(
      st,
      Math.max(1, cfg.detection.samples_per_host),
      cfg.detection.hot_sample_bytes,
      opts.maxHotHosts,
    );
    this.ingest = new Ingest(st, this.hot);
    this.sink = this.ingest;
    this.attacks = new Attacks(st, this.hot);
    this.ticker = new Ticker(
      st,
      this.ingest,
      this.hot,
      this.attacks,
      this.now,
      opts.updateIntervalMs ?? 1000,
      Math.max(1, opts.finishTicks ?? st.B),
      opts.startBudgetMs,
    );
    this.queries = new Queries(st, this.hot, this.attacks);
    st.applyHostgroups(cfg);
  }

  onFlow(rec: FlowRecord): void {
    this.ingest.onFlow(rec);
  }

  /** Run every tick due by `now` (catching up at most one window plus one tick). */
  advance(now: number = this.now()): void {
    this.ticker.advance(now);
  }

  /** Close the current interval at time `now`: check thresholds, emit events. */
  tick(now: number = this.now()): void {
    this.ticker.tick(now);
  }

  /** Between ticks: start attacks already over a threshold (tick.ts early(); start() runs it every 10 ms). */
  early(now: number = this.now()): void {
    this.ticker.early(now);
  }

  /**
   * While `probe` answers true (the capture is losing datagrams), attacks do not end: their
   * rates are too low by what was lost (tick.ts).
   */
  setLossProbe(probe: (() => boolean) | null): void {
    this.ticker.lossProbe = probe;
  }

  start(): void {
    this.ticker.start();
  }

  stop(): void {
    this.ticker.stop();
  }

  on(event: AttackEvent, listener: (rec: AttackRecord) => void): void {
    this.attacks.on(event, listener);
  }

  /** Hostgroup-total threshold events. */
  onHostgroup(event: AttackEvent, listener: (a: HostgroupAttack) => void): void {
    this.attacks.onHostgroup(event, listener);
  }

  /** Hostgroup-total attacks in progress. */
  hostgroupAttacks(): readonly HostgroupAttack[] {
    return this.attacks.hostgroupAttacks();
  }

  /** Is the hostgroup's total over one of its hostgroup-total limits right now? */
  hostgroupAttacking(name: string): boolean {
    return this.attacks.hostgroupAttacking(name);
  }

  /** The hostgroup's aggregate samples of the last window and its baseline before it. */
  hostgroupSamples(name: string, outgoing: boolean): ReturnType<Attacks['hostgroupSamples']> {
    return this.attacks.hostgroupSamples(name, outgoing);
  }

  reconfigure(cfg: Config): void {
    reconfigure({ st: this.st, hot: this.hot, attacks: this.attacks, ticker: this.ticker }, cfg);
  }

  hostRates(ip: string): HostRates | null {
    return this.queries.hostRates(ip);
  }

  /** Hostgroup name of a monitored address (also for hosts never seen), or null. */
  hostgroupOf(ip: string): string | null {
    return this.queries.hostgroupOf(ip);
  }

  rateFn(ip: string): RateFn | null {
    return this.queries.rateFn(ip);
  }

  stillAttacking(ip: string): boolean {
    return this.queries.stillAttacking(ip);
  }

  /** Is the host above its hostgroup's emergency tier right now? */
  overEmergency(ip: string): boolean {
    return this.queries.overEmergency(ip);
  }

  /** Attacks in progress. */
  activeAttacks(): AttackRecord[] {
    return this.queries.activeAttacks();
  }

  top(n: number, unit: TopUnit, direction: Direction): HostRates[] {
    return this.queries.top(n, unit, direction);
  }

  totals(): TrafficTotals {
    return this.queries.totals();
  }

  /** Per-second rates of a hostgroup's total traffic, or null for an unknown name. */
  hostgroupRates(name: string): HostRates | null {
    return this.queries.hostgroupRates(name);
  }

  detectionStats(): DetectionStats {
    return this.queries.detectionStats();
  }

  /** Hits per flow filter rule (metrics). */
  filterHits(): ReturnType<DetectorState['filterHits']> {
    return this.st.filterHits();
  }

  /** Storage per active host: counters and window plus the baseline sample ring. */
  bytesPerHost(): number {
    return this.queries.bytesPerHost();
  }

  /** The hot-buffer cost per hot host (samples with headers). */
  bytesPerHotHost(): number {
    return this.queries.bytesPerHotHost();
  }

  /**
   * Sharded detection (detection.shards): `cb` gets, at the end of every tick, this
   * engine's hostgroup-total accumulators of the interval that closed (HG_PART doubles per
   * hostgroup, in config order) and their changed-counter masks. The main thread adds every
   * shard's into one engine without hosts (addHostgroupInterval), whose hostgroup totals,
   * limits and events are then those of all traffic.
   */
  onHostgroupInterval(cb: (acc: Float64Array, mask: Uint32Array) => void): void {
    const st = this.st;
    this.ticker.intervalClosed = () => {
      const n = st.hgSlot.length;
      const acc = new Float64Array(n * HG_PART);
      const mask = new Uint32Array(n);
      const { hb, hw } = st.store;
      for (let h = 0; h < n; h++) {
        const s = st.hgSlot[h]!;
        acc.set(hb.subarray(s * STRIDE + IN0, s * STRIDE + IN0 + HG_PART), h * HG_PART);
        mask[h] = hw[2 * s * STRIDE + H_MASK]! & ~CAND_BIT;
      }
      cb(acc, mask);
    };
  }

  /** Add a shard's hostgroup accumulators (onHostgroupInterval) to the open interval. */
  addHostgroupInterval(acc: Float64Array, mask: Uint32Array): void {
    const st = this.st;
    const n = Math.min(st.hgSlot.length, mask.length);
    const { hb, hw } = st.store;
    for (let h = 0; h < n; h++) {
      const s = st.hgSlot[h]!;
      st.store.rotate(s, st.curTick);
      const o = s * STRIDE + IN0;
      for (let j = 0; j < HG_PART; j++) hb[o + j] = hb[o + j]! + acc[h * HG_PART + j]!;
      hw[2 * s * STRIDE + H_MASK] = hw[2 * s * STRIDE + H_MASK]! | mask[h]!;
    }
  }

  /** Length of the window actually used (a whole number of ticks). */
  get windowMs(): number {
    return this.st.W;
  }
}
