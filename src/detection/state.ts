/**
 * The detector's shared state: the counter store and address indexes, the running config
 * (policy, compiled thresholds, candidate budgets, hostgroup total slots), the clock of
 * intervals, and the read helpers every other part needs (window rates, a slot's address
 * and network as text, the slot of an address). One object, read by the hot path (ingest.ts),
 * the tick (tick.ts), the attack lifecycle (attacks.ts) and the queries (queries.ts).
 */
import { classifierOf, type Classifier } from '../config/classifier.js';
import type { Config } from '../config/types.js';
import { logger } from '../log.js';
import { parseV4, parseV6, prefixToString, v4ToString, v6WordsToString } from '../wire/addr.js';
import { HG_NONE, V4Index, V6Index } from './addrmap.js';
import { compileThresholds, NC, type CompiledThreshold } from './layout.js';
import { buildHostRates } from './report.js';
import { SampleArrays } from './samples.js';
import { HostgroupSamples } from './hgsamples.js';
import { compileFilter, type CompiledFilter } from '../capture/filter.js';
import { CounterStore, H_ADDR, KIND_HOSTGROUP, KIND_V4, STRIDE } from './store.js';
import type { HostRates } from './types.js';

const log = logger.child({ module: 'detection' });

export interface DetectorOptions {
  /** Clock (ms since epoch); tests inject a synthetic one. */
  now?: () => number;
  /** Always-on samples per host and direction kept as the pre-attack baseline (default 8). */
  baselineSamples?: number;
  /** A new kind of traffic evicts an old baseline entry at most once per this many ms (default 1000). */
  baselineSpacingMs?: number;
  /** A baseline entry is replaced by a newer record of its kind after this many ms (default 60000). */
  baselineRefreshMs?: number;
  /** A host becomes hot at this fraction of a ban threshold (default 0.5). */
  warmFraction?: number;
  /** Most hosts with a hot sample buffer at once, below detection.hot_sample_bytes (tests). */
  maxHotHosts?: number;
  /** attack_updated at most this often per attack (default 1000 ms). */
  updateIntervalMs?: number;
  /** Ticks below every ban threshold before attack_finished (default: one window). */
  finishTicks?: number;
  /** Initial slot capacity (grows by doubling). */
  initialSlots?: number;
  /** Milliseconds of a tick spent starting attacks, past its first start (default 40; tick.ts). */
  startBudgetMs?: number;
  /** One detection shard of `count` (detection.shards): only hosts of this shard are counted. */
  shard?: { index: number; count: number };
}

/** A hostgroup's thresholds, compiled to counter indexes. */
export interface Compiled {
  name: string;
  ban: CompiledThreshold[];
  emergency: CompiledThreshold[];
  total: CompiledThreshold[];
  ticksRequired: number;
}

/** Slot flags kept by the detector (store.ts has F_WHITELISTED, F_HOT): over a ban threshold at the last check; under attack. */
export const F_OVER = 8;
export const F_ATTACK = 16;

export class DetectorState {
  cfg: Config;
  policy: Classifier;
  readonly store: CounterStore;
  readonly v4: V4Index;
  readonly v6: V6Index;
  /** The always-on baseline sample ring (samples.ts offerBaseline), one owner per slot. */
  readonly base: SampleArrays;
  /** Aggregate samples of each hostgroup with a hostgroup-total threshold (hgsamples.ts). */
  readonly hgSamples = new HostgroupSamples();
  private hgSampleSig = '';
  readonly tickMs: number;
  /** Buckets in the window, and the window's length in ms (a whole number of ticks). */
  readonly B: number;
  readonly W: number;
  readonly perSecond: number;
  readonly perTickSecond: number;
  /** EWMA weight per tick (smoothing mode), 0 when off. */
  alpha = 0;
  /** A host becomes hot at this fraction of a ban threshold. */
  readonly warm: number;
  /** Ticks between two evictions from a host's baseline ring, and an entry's refresh age. */
  readonly baseSpacing: number;
  readonly baseRefresh: number;
  /** Number of the interval being accumulated (a tick closes it). */
  curTick = 1;
  compiled: Compiled[] = [];
  /** Per hostgroup: the slot of its total traffic. */
  hgSlot = new Int32Array(0);
  /** Per hostgroup and direction: packets / bytes in one tick that make a host hot at once. */
  pktBudget = new Float64Array(0);
  byteBudget = new Float64Array(0);
  excludeWl: boolean;
  idleTicks: number;
  v6Max: number;
  unsupported: string[] = [];
  /** Exporter names by the id kept in samples (0: unknown / too many). */
  readonly exporters: string[] = [''];
  readonly stats = {
    records: 0,
    unmonitored: 0,
    filtered: 0,
    ticks: 0,
    ipv6_evictions: 0,
    ipv6_overflow: 0,
    /** Attack starts moved to a later tick by the tick's start budget (tick.ts). */
    starts_deferred: 0,
    /** Attacks started between ticks, as soon as the window so far was over (tick.ts early()). */
    starts_early: 0,
    /** Ticks run late, after a timer callback that was already catching up (tick.ts). */
    ticks_late: 0,
    /** Attack ends held back because the capture was losing datagrams (tick.ts). */
    ends_held: 0,
  };
  /** capture.filters (every record), and each hostgroup's filters by hostgroup index (null: none anywhere). */
  filter: CompiledFilter | null = null;
  filterUncounted: CompiledFilter | null = null;
  hgFilters: (CompiledFilter | null)[] | null = null;
  /** Called when the store grows its slot capacity (per-slot arrays elsewhere follow). */
  private readonly growHooks: ((cap: number) => void)[] = [];

  /** Which hosts this engine counts (count 0: all; see ingest.ts). */
  readonly shard: { index: number; count: number };

  constructor(cfg: Config, opts: DetectorOptions) {
    this.cfg = cfg;
    this.shard = opts.shard ?? { index: 0, count: 0 };
    const d = cfg.detection;
    this.tickMs = Math.max(1, d.tick_ms);
    this.B = Math.max(1, Math.round(d.window_ms / this.tickMs));
    this.W = this.B * this.tickMs;
    this.perSecond = 1000 / this.W;
    this.perTickSecond = 1000 / this.tickMs;
    this.warm = opts.warmFraction ?? 0.5;
    this.excludeWl = d.exclude_whitelisted_sources;
    this.idleTicks = Math.ceil(d.ipv6_idle_ms / this.tickMs);
    this.v6Max = d.ipv6_max_hosts;
    this.alpha = d.smoothing_ms > 0 ? 1 - Math.exp(-this.tickMs / d.smoothing_ms) : 0;
    const initial = opts.initialSlots ?? 1024;
    const R = Math.max(1, opts.baselineSamples ?? 8);
    this.base = new SampleArrays(R, R, false, initial, true);
    this.baseSpacing = Math.max(1, Math.ceil((opts.baselineSpacingMs ?? 1000) / this.tickMs));
    this.baseRefresh = Math.max(this.B + 1, Math.ceil((opts.baselineRefreshMs ?? 60_000) / this.tickMs));
    this.store = new CounterStore(this.B, this.alpha > 0, initial, (cap) => this.grow(cap));
    this.base.resize(this.store.cap);
    this.policy = classifierOf(cfg);
    this.v4 = new V4Index(this.policy);
    this.v6 = new V6Index(Math.min(1024, Math.max(16, this.v6Max)), 2 * STRIDE, H_ADDR);
  }

  /** Register per-slot arrays to grow with the store; called at once with the current capacity. */
  onGrow(hook: (cap: number) => void): void {
    this.growHooks.push(hook);
    hook(this.store.cap);
  }

  private grow(cap: number): void {
    this.base.resize(cap);
    for (const h of this.growHooks) h(cap);
  }

  /** Compile the hostgroups' thresholds and candidate budgets; keep the total slots of hostgroups that stay. */
  applyHostgroups(cfg: Config): void {
    const st = this.store;
    const oldNames = this.compiled.map((c) => c.name);
    const oldSlots = this.hgSlot;
    const unsupported: string[] = [];
    this.compiled = cfg.hostgroups.map((h) => ({
      name: h.name,
      ban: compileThresholds(h.thresholds.ban, unsupported),
      emergency: compileThresholds(h.thresholds.emergency, unsupported),
      // Hostgroup-total limits: checked on the hostgroup's total slot only (hostgroup events),
      // never against a host.
      total: compileThresholds(h.thresholds.hostgroup, unsupported),
      ticksRequired: Math.max(1, h.ticks_required),
    }));
    if (unsupported.length > 0 && unsupported.join() !== this.unsupported.join()) {
      log.warn(
        `thresholds without a counter are ignored (flows exist for class total only): ${unsupported.join(', ')}`,
      );
    }
    this.unsupported = unsupported;
    const n = this.compiled.length;
    this.pktBudget = new Float64Array(n * 2).fill(Infinity);
    this.byteBudget = new Float64Array(n * 2).fill(Infinity);
    const perTick = (this.warm * this.tickMs) / 1000;
    const perWindow = (this.warm * this.W) / 1000;
    // Candidate budgets (store.ts): a class's count never exceeds the total's, so comparing
    // totals with the smallest limit of any class in that unit is a safe filter.
    const win = new Float64Array(n * 2 * 3).fill(Infinity);
    const tick = new Float64Array(n * 2 * 3).fill(Infinity);
    const over = new Float64Array(n * 2 * 3).fill(Infinity);
    this.compiled.forEach((c, h) => {
      for (const t of c.ban) {
        const j =
          (h * 2 + (t.direction === 'incoming' ? 0 : 1)) * 3 +
          (t.unit === 'pps' ? 0 : t.unit === 'mbps' ? 1 : 2);
        const perSec = t.limit / t.factor; // packets, bytes or flows per second
        win[j] = Math.min(win[j]!, perSec * perWindow);
        tick[j] = Math.min(tick[j]!, perSec * perTick);
        over[j] = Math.min(over[j]!, (perSec * this.W) / 1000);
      }
    });
    st.budgetWin = win;
    st.budgetTick = tick;
    st.budgetOver = over;
    this.compiled.forEach((c, h) => {
      for (const t of c.ban) {
        if (t.cls !== 'total' || t.unit === 'flows') continue;
        const bi = h * 2 + (t.direction === 'incoming' ? 0 : 1);
        if (t.unit === 'pps') this.pktBudget[bi] = Math.min(this.pktBudget[bi]!, t.limit * perTick);
        else this.byteBudget[bi] = Math.min(this.byteBudget[bi]!, (t.limit / t.factor) * perTick);
      }
    });
    const slots = new Int32Array(cfg.hostgroups.length);
    const kept = new Set<number>();
    cfg.hostgroups.forEach((h, i) => {
      const j = oldNames.indexOf(h.name);
      if (j >= 0) {
        slots[i] = oldSlots[j]!;
        kept.add(j);
        st.setHg(slots[i]!, i);
      } else slots[i] = st.alloc(KIND_HOSTGROUP, i, 0, this.curTick);
    });
    for (let j = 0; j < oldSlots.length; j++) if (!kept.has(j)) st.release(oldSlots[j]!);
    this.hgSlot = slots;
    // Aggregate samples for hostgroups with a hostgroup-total limit (a reload that changes
    // which those are, or their order, starts the rings afresh).
    const sampled = this.compiled.map((c) => c.total.length > 0);
    const sig = this.compiled.map((c, i) => (sampled[i] ? c.name : '')).join('|');
    if (sig !== this.hgSampleSig) {
      this.hgSampleSig = sig;
      this.hgSamples.configure(sampled);
    }
    // Flow filters: compiled once per (re)load; their hit counters start again at 0.
    this.filter = compileFilter(cfg.filters);
    // A shard's copy of a record it does not own (the source's side): the same verdict,
    // hits not counted, since the owner counted them (ingest.ts).
    this.filterUncounted = this.shard.count > 0 ? compileFilter(cfg.filters) : null;
    const hf = cfg.hostgroups.map((h) => compileFilter(h.filters));
    this.hgFilters = hf.some((f) => f !== null) ? hf : null;
  }

  /** Hits per filter rule, for the metrics: scope "capture" or "hostgroup:<name>". */
  filterHits(): { scope: string; rule: number; action: string; where: string; hits: number }[] {
    const out: { scope: string; rule: number; action: string; where: string; hits: number }[] = [];
    const add = (scope: string, f: CompiledFilter | null) => {
      if (!f) return;
      for (const [i, r] of f.rules.entries())
        out.push({ scope, rule: i, action: r.action, where: r.where, hits: f.hits[i]! });
      if (f.allowList)
        out.push({
          scope,
          rule: f.rules.length,
          action: 'drop',
          where: 'no rule matched',
          hits: f.hits[f.rules.length]!,
        });
    };
    add('capture', this.filter);
    for (const [h, f] of (this.hgFilters ?? []).entries())
      add(`hostgroup:${this.cfg.hostgroups[h]?.name ?? h}`, f);
    return out;
  }

  /** Per-second rate of counter c: the window that ended with the last tick (or its EWMA). */
  rate(s: number, c: number): number {
    const st = this.store;
    if (st.smooth && this.alpha > 0) return st.smooth[s * NC + c]!;
    const T = this.curTick - 1;
    if (st.t0(s) > T) return st.sumOf(s, c) * this.perSecond;
    st.rotate(s, T);
    return st.windowAt(s, c, T) * this.perSecond;
  }

  slotText(s: number): string {
    const st = this.store;
    const o = s * 4;
    if (st.kind[s] === KIND_V4) return v4ToString(st.addr[o + 3]!);
    return v6WordsToString(st.addr, o);
  }

  networkText(s: number): string {
    const st = this.store;
    const o = s * 4;
    const a = st.addr;
    const n =
      st.kind[s] === KIND_V4
        ? this.policy.network4(a[o + 3]!)
        : this.policy.network6(a[o]!, a[o + 1]!, a[o + 2]!, a[o + 3]!);
    return n ? prefixToString(n) : '';
  }

  /** Slot of a host given as text, without allocating; -1 when unknown. */
  findSlot(ip: string): number {
    const a = parseV4(ip);
    if (a >= 0) {
      const t = this.v4.top[a >>> 16]!;
      if (t <= 0) return -1;
      const blk = this.v4.mid[(t - 1) * 256 + ((a >>> 8) & 255)]!;
      if (blk <= 0) return -1;
      return this.v4.slot[(blk - 1) * 256 + (a & 255)]!;
    }
    const b = parseV6(ip);
    if (!b) return -1;
    return this.v6.find(this.store.hw, rd(b, 0), rd(b, 4), rd(b, 8), rd(b, 12));
  }

  hgName(s: number): string {
    const h = this.store.hg(s);
    return h === HG_NONE ? '' : (this.compiled[h]?.name ?? '');
  }

  hostRatesOf(s: number): HostRates {
    return buildHostRates(this.slotText(s), this.hgName(s), (c) => this.rate(s, c));
  }
}

/** Big-endian 32-bit word of an address at byte offset o. */
export function rd(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
