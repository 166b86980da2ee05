/**
 * The detection engine: per-record accounting (the FlowSink), the tick that turns counters
 * into window rates and checks thresholds, the attack lifecycle and the queries.
 *
 * Hot path (onFlow): resolve the destination (incoming) and source (outgoing) slots, add
 * the record to the slot's tick accumulator, offer it to the slot's sample ring. No rates,
 * no objects, no strings.
 * Tick (every tick_ms): roll every active slot's accumulator into its window, then check
 * the ban thresholds of the slots whose window changed plus the "hot" ones (near or above a
 * threshold, or under attack). A host gets hot when its window rate or its last tick's rate
 * reaches `warmFraction` of a ban threshold; from then on it also fills a larger sample
 * buffer (with packet headers), so when a threshold is crossed the attack record has its
 * samples at once.
 *
 * The baseline (the host's normal traffic, which FlowSpec rules must spare) comes from a
 * slow always-on ring (samples.ts offerBaseline): it considers the first record of a host
 * and direction per tick, keeps one entry per kind of traffic (protocol, service port),
 * refreshes an entry only once a minute, lets a new kind push out an old one at most once
 * per `baselineSpacingMs`, and takes nothing while the host has a hot buffer. When the host
 * turns hot, the entries of the last window are left out: an attack that ramps up for a few
 * ticks below the warm level may have put its own records in the ring by then.
 */
import { randomUUID } from 'node:crypto';
import type { FlowRecord, FlowSample, FlowSink } from '../capture/flow.js';
import type { Config, Direction, ThresholdSet, TrafficClass, Unit } from '../config/types.js';
import { logger } from '../log.js';
import { parseV4, parseV6, v4ToString, v6ToString } from '../wire/addr.js';
import { HG_NONE, NOT_MONITORED, Policy, V4Index, V6Index } from './addrmap.js';
import { classifyAttack, type Classification } from './classify.js';
import {
  compileThresholds,
  counterIndex,
  K_DROP_B,
  K_DROP_P,
  K_FLOWS,
  K_FRAG_B,
  K_FRAG_P,
  K_ICMP_B,
  K_SYN_B,
  K_TCP_B,
  K_UDP_B,
  K_ICMP_P,
  K_SYN_P,
  K_TCP_P,
  K_TOTAL_B,
  K_TOTAL_P,
  K_UDP_P,
  NC,
  ctr,
  unitFactor,
  type CompiledThreshold,
} from './layout.js';
import { buildDetails, buildHostRates, packetDump } from './report.js';
import { buildPcap, SampleArrays, type PcapEntry } from './samples.js';
import {
  ACC_POS,
  CAND_BIT,
  CounterStore,
  F_HOT,
  F_WHITELISTED,
  H_BASE,
  H_BASE_EVICT,
  H_ADDR,
  H_HG,
  H_LAST,
  H_MASK,
  H_T0,
  IN0,
  KIND_HOSTGROUP,
  KIND_V4,
  KIND_V6,
  OUT0,
  H_LIM,
  STRIDE,
} from './store.js';
import type { AttackEvent, AttackRecord, Detector, HostRates, RateFn, TopUnit } from './types.js';

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
  /** Most hosts with a hot sample buffer at once (default 1024). */
  maxHotHosts?: number;
  /** attack_updated at most this often per attack (default 1000 ms). */
  updateIntervalMs?: number;
  /** Ticks below every ban threshold before attack_finished (default: one window). */
  finishTicks?: number;
  /** Initial slot capacity (grows by doubling). */
  initialSlots?: number;
}

/** A hostgroup whose total traffic crossed a hostgroup-total threshold. */
export interface HostgroupAttack {
  readonly hostgroup: string;
  readonly direction: Direction;
  readonly cls: TrafficClass;
  readonly unit: Unit;
  readonly threshold: number;
  value: number;
  peak: number;
  readonly startedAt: number;
}

export interface DetectionStats {
  records: number;
  /** Records where neither address is monitored. */
  unmonitored: number;
  ticks: number;
  hosts_v4: number;
  hosts_v6: number;
  ipv6_evictions: number;
  /** New IPv6 hosts not tracked because the table was full of active hosts. */
  ipv6_overflow: number;
  hot_hosts: number;
  attacks_active: number;
  bytes_per_host: number;
  /** Thresholds in the config that have no counter (e.g. flows for class tcp). */
  unsupported_thresholds: string[];
}

interface Compiled {
  name: string;
  ban: CompiledThreshold[];
  emergency: CompiledThreshold[];
  total: CompiledThreshold[];
  ticksRequired: number;
}

interface AttackState {
  rec: MutableAttackRecord;
  /** Ticks in a row below every ban threshold. */
  below: number;
  fired: CompiledThreshold;
  cls: Classification;
  network: string;
  initialPower: number;
  peakPower: number;
  lastUpdate: number;
}

/** Consecutive-tick counts kept per hot host: ban thresholds beyond this many are ignored. */
const RMAX = 32;
/** Slot flags kept by the detector (store.ts has F_WHITELISTED, F_HOT): over a ban threshold at the last check; under attack. */
const F_OVER = 8;
const F_ATTACK = 16;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type MutableAttackRecord = Mutable<AttackRecord>;


export class DetectorImpl implements Detector {
  readonly sink: FlowSink;
  private cfg: Config;
  private policy: Policy;
  private readonly store: CounterStore;
  private readonly v4: V4Index;
  private readonly v6: V6Index;
  private readonly base: SampleArrays;
  private readonly hot: SampleArrays;
  private hotFree: number[] = [];
  private hotOwners = 0;
  private readonly maxHot: number;
  private readonly tickMs: number;
  private readonly B: number;
  private readonly W: number;
  private readonly perSecond: number;
  private readonly perTickSecond: number;
  private alpha = 0;
  private readonly now: () => number;
  private readonly warm: number;
  private readonly updateMs: number;
  private readonly finishTicks: number;
  private samplesPerHost: number;
  /** Ticks between two evictions from a host's baseline ring, and an entry's refresh age. */
  private readonly baseSpacing: number;
  private readonly baseRefresh: number;
  /** Number of the interval being accumulated (a tick closes it). */
  private curTick = 1;
  private lastTickAt: number;
  private timer: NodeJS.Timeout | null = null;
  private compiled: Compiled[] = [];
  private hgSlot = new Int32Array(0);
  /**
   * Hot hosts (near or above a threshold, or under attack), in typed arrays: the list of hot
   * slots, each slot's position in it (-1: not hot), and per position the consecutive-tick
   * counts of its thresholds (RMAX each). Per slot: the interval it got hot, the last one it
   * was warm or over, the last one it was evaluated.
   */
  private hotList = new Int32Array(1024);
  private hotLen = 0;
  private hotPos = new Int32Array(0);
  private runs = new Uint16Array(1024 * RMAX);
  private hotTick = new Uint32Array(0);
  private warmAt = new Uint32Array(0);
  private lastEval = new Uint32Array(0);
  private attacks = new Map<number, AttackState>();
  private hgAttacks = new Map<string, HostgroupAttack>();
  private hgRuns = new Map<string, number>();
  private excludeWl: boolean;
  private exporters: string[] = [''];
  private exporterIds = new Map<string, number>();
  private lastExp = '';
  private lastExpId = 0;
  private listeners: Record<AttackEvent, ((r: AttackRecord) => void)[]> = {
    attack_started: [],
    attack_updated: [],
    attack_finished: [],
  };
  private hgListeners: Record<AttackEvent, ((a: HostgroupAttack) => void)[]> = {
    attack_started: [],
    attack_updated: [],
    attack_finished: [],
  };
  private scratchOver = new Uint8Array(64);
  private reevalAll = false;
  /** Slots that may be near a threshold after the open interval (see add()). */
  private cand = new Int32Array(1024);
  private candLen = 0;
  /** Per hostgroup and direction: [packets window, packets interval, bytes window, bytes interval, flows window, flows interval]. */
  private promoted: number[] = [];
  /** Per hostgroup and direction: packets / bytes in one tick that make a host hot at once. */
  private pktBudget = new Float64Array(0);
  private byteBudget = new Float64Array(0);
  private idleTicks: number;
  private v6Max: number;
  private unsupported: string[] = [];
  readonly stats = { records: 0, unmonitored: 0, ticks: 0, ipv6_evictions: 0, ipv6_overflow: 0 };

  constructor(cfg: Config, opts: DetectorOptions = {}) {
    this.cfg = cfg;
    this.now = opts.now ?? Date.now;
    const d = cfg.detection;
    this.tickMs = Math.max(1, d.tick_ms);
    this.B = Math.max(1, Math.round(d.window_ms / this.tickMs));
    this.W = this.B * this.tickMs;
    this.perSecond = 1000 / this.W;
    this.perTickSecond = 1000 / this.tickMs;
    this.warm = opts.warmFraction ?? 0.5;
    this.updateMs = opts.updateIntervalMs ?? 1000;
    this.finishTicks = Math.max(1, opts.finishTicks ?? this.B);
    this.maxHot = Math.max(1, opts.maxHotHosts ?? 1024);
    this.samplesPerHost = Math.max(1, d.samples_per_host);
    this.excludeWl = d.exclude_whitelisted_sources;
    this.idleTicks = Math.ceil(d.ipv6_idle_ms / this.tickMs);
    this.v6Max = d.ipv6_max_hosts;
    this.alpha = d.smoothing_ms > 0 ? 1 - Math.exp(-this.tickMs / d.smoothing_ms) : 0;
    const initial = opts.initialSlots ?? 1024;
    const R = Math.max(1, opts.baselineSamples ?? 8);
    this.base = new SampleArrays(R, R, false, initial, true);
    this.baseSpacing = Math.max(1, Math.ceil((opts.baselineSpacingMs ?? 1000) / this.tickMs));
    this.baseRefresh = Math.max(this.B + 1, Math.ceil((opts.baselineRefreshMs ?? 60_000) / this.tickMs));
    this.hot = new SampleArrays(this.samplesPerHost, this.samplesPerHost, true, 0);
    this.store = new CounterStore(this.B, this.alpha > 0, initial, (cap) => this.growSlots(cap));
    this.growSlots(this.store.cap);
    this.policy = new Policy(cfg);
    this.v4 = new V4Index(this.policy);
    this.v6 = new V6Index(Math.min(1024, Math.max(16, this.v6Max)), 2 * STRIDE, H_ADDR);
    this.lastTickAt = this.now();
    this.applyHostgroups(cfg);
    const self = this;
    this.sink = { onFlow: (rec: FlowRecord) => self.onFlow(rec) };
  }

  // ---------------------------------------------------------------- hot path

  onFlow(rec: FlowRecord): void {
    this.stats.records++;
    let pk = rec.packets;
    let by = rec.bytes;
    const dur = rec.durationMs;
    // A flow longer than the window contributes its average rate, not its whole volume.
    if (dur > this.W) {
      const f = this.W / dur;
      pk *= f;
      by *= f;
    }
    // Counter mask for the incoming direction (outgoing = << 1); see layout.ts.
    let bits = M_TOTAL;
    const proto = rec.protocol;
    if (proto === 6) {
      bits |= M_TCP;
      // A pure SYN (SYN without ACK): connection attempts, not sessions that began with one.
      if ((rec.tcpFlags & 0x12) === 0x02) bits |= M_SYN;
    } else if (proto === 17) bits |= M_UDP;
    else if (proto === 1 || proto === 58) bits |= M_ICMP;
    if (rec.fragment) bits |= M_FRAG;
    if (rec.dropped) bits |= M_DROP;
    let sIn: number;
    let sOut: number;
    if (rec.ipVersion === 4) {
      sIn = this.slot4(rec.dst4);
      sOut = this.slot4(rec.src4);
      if (this.excludeWl) {
        if (sIn >= 0 && this.policy.whitelisted4(rec.src4)) sIn = -1;
        if (sOut >= 0 && this.policy.whitelisted4(rec.dst4)) sOut = -1;
      }
    } else {
      const d = rec.dst6;
      const s = rec.src6;
      sIn = this.slot6(rd(d, 0), rd(d, 4), rd(d, 8), rd(d, 12));
      sOut = this.slot6(rd(s, 0), rd(s, 4), rd(s, 8), rd(s, 12));
      if (this.excludeWl) {
        if (sIn >= 0 && this.policy.whitelisted6(rd(s, 0), rd(s, 4), rd(s, 8), rd(s, 12))) sIn = -1;
        if (sOut >= 0 && this.policy.whitelisted6(rd(d, 0), rd(d, 4), rd(d, 8), rd(d, 12))) sOut = -1;
      }
    }
    if (sIn < 0 && sOut < 0) {
      this.stats.unmonitored++;
      return;
    }
    const expId = rec.exporter === this.lastExp ? this.lastExpId : this.exporterId(rec.exporter);
    if (sIn >= 0) this.add(sIn, 0, bits, pk, by, rec, false, expId);
    if (sOut >= 0) this.add(sOut, 1, bits, pk, by, rec, true, expId);
  }

  private add(s: number, dir: number, bits: number, pk: number, by: number, rec: FlowRecord, out: boolean, expId: number): void {
    const st = this.store;
    const T = this.curTick;
    const hb = st.hb;
    const hw = st.hw;
    const bo = s * STRIDE;
    const w = 2 * bo;
    // Lazy rotation on the slot's first record of this interval (its lines are in cache now).
    if (hw[w + H_T0] !== T) st.rotate(s, T);
    hw[w + H_LAST] = T;
    const i = bo + (dir === 0 ? IN0 : OUT0);
    accumulate(hb, i, bits, pk, by, rec.flows);
    const m = bits << dir;
    hw[w + H_MASK] = hw[w + H_MASK]! | m;
    // Hostgroup totals (a few slots, always in cache); they are rotated on the tick.
    const h = this.hgSlot[hw[w + H_HG]!]!;
    accumulate(hb, h * STRIDE + (dir === 0 ? IN0 : OUT0), bits, pk, by, rec.flows);
    hw[2 * h * STRIDE + H_MASK] = hw[2 * h * STRIDE + H_MASK]! | m;
    // Candidate limits (store.ts): crossing one means this host may be near a threshold
    // (or it is hot and its records go to its hot buffer). Counts, not rates: rates are
    // computed on the tick only.
    const hf = st.hf;
    const lw = w + H_LIM + 3 * dir;
    if (hb[i]! > hf[lw]! || hb[i + 1]! > hf[lw + 1]! || hb[i + 2]! > hf[lw + 2]!) this.slow(s, dir, i, rec, out, expId);
    // The baseline ring considers the first record per direction and tick (the clocks are
    // on the first line). A host with a hot buffer keeps its ring as it was; one without
    // (the hot-buffer cap is reached) goes on filling it with marked entries no baseline uses.
    const hh = st.hh;
    const bw = 2 * (w + H_BASE) + dir;
    if (hh[bw] !== (T & 0xffff)) {
      hh[bw] = T;
      const hot = (st.flags[s]! & F_HOT) !== 0;
      if (!hot || st.hotBuf[s]! < 0) {
        const ev = hw[w + H_BASE_EVICT]!;
        const mayEvict = ev === 0 || T - ev >= this.baseSpacing;
        if (this.base.offerBaseline(s, T, rec, out, expId, hot, this.baseRefresh, mayEvict)) hw[w + H_BASE_EVICT] = T;
      }
    }
  }

  /** A record took the slot past one of its candidate limits (see add). */
  private slow(s: number, dir: number, i: number, rec: FlowRecord, out: boolean, expId: number): void {
    const st = this.store;
    const hb = st.hb;
    const fl = st.flags[s]!;
    if (fl & F_WHITELISTED) {
      st.setLimits(s);
      return;
    }
    const w = 2 * s * STRIDE;
    const hw = st.hw;
    const T = this.curTick;
    if ((hw[w + H_MASK]! & CAND_BIT) === 0) {
      if ((fl & F_HOT) === 0) {
        // Limits may be stale (flags changed since the rotation): recompute, then recheck.
        st.setLimits(s);
        const hf = st.hf;
        const lw = w + H_LIM + 3 * dir;
        if (!(hb[i]! > hf[lw]! || hb[i + 1]! > hf[lw + 1]! || hb[i + 2]! > hf[lw + 2]!)) return;
      }
      // On the tick's list (a hot host on its first record of the interval).
      hw[w + H_MASK] = hw[w + H_MASK]! | CAND_BIT;
      if (this.candLen === this.cand.length) this.growCand();
      this.cand[this.candLen++] = s;
    }
    if (fl & F_HOT) {
      const buf = st.hotBuf[s]!;
      if (buf >= 0) this.hot.offer(buf, T, rec, out, expId);
      else {
        // Hot without a buffer (the cap is reached): nothing more to do this interval.
        st.setLim(s, 0, Infinity, Infinity, Infinity);
        st.setLim(s, 1, Infinity, Infinity, Infinity);
      }
      return;
    }
    // A candidate: promote mid-interval when this interval's count alone reaches the warm
    // fraction of a total threshold, so the hot buffer starts filling now rather than at
    // the tick (this record included). Until then, the limits are those budgets.
    const hg = hw[w + H_HG]!;
    const bi = hg * 2 + dir;
    if (hb[i]! > this.pktBudget[bi]! || hb[i + 1]! > this.byteBudget[bi]!) {
      this.promote(s);
      const buf = st.hotBuf[s]!;
      if (buf >= 0) this.hot.offer(buf, T, rec, out, expId);
      return;
    }
    for (let d = 0; d < 2; d++) st.setLim(s, d, this.pktBudget[hg * 2 + d]!, this.byteBudget[hg * 2 + d]!, Infinity);
  }

  private growCand(): void {
    const d = new Int32Array(this.cand.length * 2);
    d.set(this.cand);
    this.cand = d;
  }

  private exporterId(e: string): number {
    let id = this.exporterIds.get(e);
    if (id === undefined) {
      if (this.exporters.length >= 65535) id = 0;
      else {
        id = this.exporters.length;
        this.exporters.push(e);
        this.exporterIds.set(e, id);
      }
    }
    this.lastExp = e;
    this.lastExpId = id;
    return id;
  }

  private slot4(a: number): number {
    const v4 = this.v4;
    const t = v4.top[a >>> 16]!;
    if (t < 0) return -1;
    let blk = t > 0 ? v4.mid[(t - 1) * 256 + ((a >>> 8) & 255)]! : 0;
    if (blk === 0) blk = v4.block(a >>> 8);
    if (blk < 0) return -1;
    const e = (blk - 1) * 256 + (a & 255);
    const s = v4.slot[e]!;
    if (s >= 0) return s;
    if (s === NOT_MONITORED) return -1;
    return this.newSlot4(a, e);
  }

  private newSlot4(a: number, e: number): number {
    const st = this.store;
    const s = st.alloc(KIND_V4, this.v4.hg[e]!, this.v4.wl[e] ? F_WHITELISTED : 0, this.curTick);
    st.setAddr(s, 0, 0, 0, a);
    st.backref[s] = e;
    this.v4.slot[e] = s;
    this.base.clear(s);
    return s;
  }

  private slot6(w0: number, w1: number, w2: number, w3: number): number {
    const pol = this.policy;
    // Remote addresses (most sources of incoming traffic) stop at the /16 filter.
    if (pol.touch6[w0 >>> 16] === 0) return -1;
    const s = this.v6.find(this.store.hw, w0, w1, w2, w3);
    if (s >= 0) return s;
    if (!pol.monitored6(w0, w1, w2, w3)) return -1;
    if (this.v6.size >= this.v6Max) {
      this.evictV6(Math.max(1, this.v6Max >> 3), 0);
      if (this.v6.size >= this.v6Max) {
        this.stats.ipv6_overflow++;
        return -1;
      }
    }
    const st = this.store;
    const n = st.alloc(KIND_V6, pol.hostgroup6(w0, w1, w2, w3), pol.whitelisted6(w0, w1, w2, w3) ? F_WHITELISTED : 0, this.curTick);
    st.setAddr(n, w0, w1, w2, w3);
    this.v6.insert(st.addr, n);
    this.base.clear(n);
    return n;
  }

  /**
   * Evict up to `n` IPv6 hosts that are neither active nor hot, oldest first; with
   * idleTicks > 0 only those idle longer than that.
   */
  private evictV6(n: number, idleTicks: number): number {
    const st = this.store;
    const cands: number[] = [];
    const limit = this.curTick - idleTicks;
    for (let s = 0; s < st.used; s++) {
      if (st.kind[s] !== KIND_V6 || (st.flags[s]! & F_HOT) !== 0) continue;
      // Never a host with traffic in its window; with idleTicks only those idle that long.
      if (st.lastSeen(s) >= limit || st.lastSeen(s) + this.B >= this.curTick) continue;
      cands.push(s);
    }
    if (cands.length > n) {
      cands.sort((a, b) => st.lastSeen(a) - st.lastSeen(b));
      cands.length = n;
    }
    for (const s of cands) {
      this.v6.remove(st.addr, s);
      st.release(s);
      this.base.clear(s);
      this.stats.ipv6_evictions++;
    }
    return cands.length;
  }

  // ---------------------------------------------------------------- tick

  /** Run every tick due by `now` (catching up at most one window plus one tick). */
  advance(now: number = this.now()): void {
    let n = Math.floor((now - this.lastTickAt) / this.tickMs);
    if (n <= 0) return;
    if (n > this.B + 1) {
      this.lastTickAt = now - (this.B + 1) * this.tickMs;
      n = this.B + 1;
    }
    for (let i = 0; i < n; i++) this.tick(this.lastTickAt + this.tickMs);
  }

  /** Close the current interval at time `now`: check thresholds, emit events. */
  tick(now: number = this.now()): void {
    this.lastTickAt = now;
    const T = this.curTick;
    const st = this.store;
    // From here on rate() reads the window that ended with interval T.
    this.curTick = T + 1;
    this.stats.ticks++;
    if (this.alpha > 0) this.smoothAll(T);
    // Threshold checks: candidates (hosts whose traffic in T may have brought them near a
    // threshold, hot ones with traffic included: only windows with new traffic can rise).
    const d = this.cand;
    const n = this.candLen;
    this.candLen = 0;
    for (let i = 0; i < n; i++) this.evaluate(d[i]!, T, now);
    if (this.reevalAll || this.alpha > 0) {
      // Thresholds changed, or smoothed rates move without traffic: check every host with
      // recent traffic once.
      this.reevalAll = false;
      for (let s = 0; s < st.used; s++) {
        const k = st.kind[s];
        if (k !== KIND_V4 && k !== KIND_V6) continue;
        if (st.lastSeen(s) + this.B < T && !(this.alpha > 0 && st.smooth![s * NC] !== 0)) continue;
        if (this.lastEval[s] !== T) this.evaluate(s, T, now);
      }
    }
    // Promoted mid-interval and not evaluated (no thresholds left, say): hot all the same,
    // so their buffer is accounted for and released after cooling.
    for (const s of this.promoted) if (this.hotPos[s]! < 0 && st.flags[s]! & F_HOT) this.makeHot(s, T);
    this.promoted.length = 0;
    // Hot hosts without traffic in T: their windows can only fall. Those over a threshold
    // or under attack are checked on every tick (consecutive-tick counts, attack end); the
    // others only need to cool down, so each is checked once in `stagger` ticks.
    const stagger = this.B;
    const phase = T % stagger;
    const L = this.hotList;
    for (let i = 0; i < this.hotLen; i++) {
      const s = L[i]!;
      if (this.lastEval[s] === T) continue;
      if ((st.flags[s]! & (F_OVER | F_ATTACK)) === 0 && s % stagger !== phase) continue;
      const before = this.hotLen;
      this.evaluate(s, T, now);
      if (this.hotLen < before) i--; // released: the last hot slot moved into position i
    }
    this.evaluateHostgroups(now);
    // Hostgroup totals move to the next interval now: the hot path adds to them unrotated.
    for (let h = 0; h < this.hgSlot.length; h++) st.rotate(this.hgSlot[h]!, T + 1);
    if (T % Math.max(1, Math.round(1000 / this.tickMs)) === 0 && this.v6.size > 0) this.evictV6(Infinity, this.idleTicks);
  }

  /** Smoothing mode: EWMA step for every slot with recent traffic or a non-zero average. */
  private smoothAll(T: number): void {
    const st = this.store;
    const sm = st.smooth!;
    for (let s = 0; s < st.used; s++) {
      if (st.kind[s] === 0) continue;
      if (st.lastSeen(s) + this.B < T && st.kind[s] !== KIND_HOSTGROUP) {
        let any = false;
        for (let c = 0; c < NC; c++) if (sm[s * NC + c] !== 0) any = true;
        if (!any) continue;
      }
      st.rotate(s, T);
      st.smoothSlot(s, T, this.alpha, this.perSecond);
    }
  }

  /** Per-second rate of counter c: the window that ended with the last tick (or its EWMA). */
  private rate(s: number, c: number): number {
    const st = this.store;
    if (st.smooth && this.alpha > 0) return st.smooth[s * NC + c]!;
    const T = this.curTick - 1;
    if (st.t0(s) > T) return st.sumOf(s, c) * this.perSecond;
    st.rotate(s, T);
    return st.windowAt(s, c, T) * this.perSecond;
  }

  /** Per-second rate of counter c over the last interval alone. */
  private intervalRate(s: number, c: number): number {
    const st = this.store;
    return st.t0(s) === this.curTick - 1 ? st.accOf(s, c) * this.perTickSecond : 0;
  }

  private evaluate(s: number, T: number, now: number): void {
    const st = this.store;
    const k = st.kind[s]!;
    if (k !== KIND_V4 && k !== KIND_V6) return;
    const fl = st.flags[s]!;
    if (fl & F_WHITELISTED) return; // never banned
    const c = this.compiled[st.hg(s)];
    if (!c) return;
    let pos = this.hotPos[s]!;
    const thr = c.ban;
    const n = thr.length < RMAX ? thr.length : RMAX;
    if (n === 0 && pos < 0 && (fl & F_HOT) === 0) return;
    this.lastEval[s] = T;
    if (this.scratchOver.length < n) this.scratchOver = new Uint8Array(n * 2);
    const over = this.scratchOver;
    let anyOver = false;
    let warm = false;
    // Rates of the window that ended with T: the slot is at T (it got records in T) or is
    // moved there now.
    if (this.alpha === 0) st.rotate(s, T);
    const hb = st.hb;
    const bo = s * STRIDE;
    const atT = st.t0(s) === T;
    for (let j = 0; j < n; j++) {
      const t = thr[j]!;
      const acc = atT ? hb[bo + ACC_POS[t.counter]!]! : 0;
      const v = (this.alpha > 0 ? this.rate(s, t.counter) : st.windowAt(s, t.counter, T) * this.perSecond) * t.factor;
      const o = v > t.limit;
      over[j] = o ? 1 : 0;
      if (o) anyOver = true;
      const w = this.warm * t.limit;
      if (v >= w || acc * this.perTickSecond * t.factor >= w) warm = true;
    }
    if (pos < 0) {
      if (!warm && !anyOver && (fl & F_HOT) === 0) return;
      pos = this.makeHot(s, T);
    }
    if (warm || anyOver) this.warmAt[s] = T;
    st.flags[s] = anyOver ? st.flags[s]! | F_OVER : st.flags[s]! & ~F_OVER;
    const runs = this.runs;
    const r0 = pos * RMAX;
    for (let j = 0; j < n; j++) runs[r0 + j] = over[j] ? (runs[r0 + j]! < 65535 ? runs[r0 + j]! + 1 : 65535) : 0;
    const a = st.flags[s]! & F_ATTACK ? this.attacks.get(s) : undefined;
    if (!a) {
      let best = -1;
      let bestRatio = 0;
      for (let j = 0; j < n; j++) {
        if (runs[r0 + j]! < c.ticksRequired) continue;
        const t = thr[j]!;
        const ratio = (this.rate(s, t.counter) * t.factor) / t.limit;
        if (ratio > bestRatio) {
          bestRatio = ratio;
          best = j;
        }
      }
      if (best >= 0) {
        this.startAttack(s, thr[best]!, now, c.name);
        return;
      }
      // Cooled down: a window below the warm level since the slot was last warm or over.
      if (!warm && !anyOver && T - this.warmAt[s]! >= this.B) this.releaseHot(s);
      return;
    }
    const power = this.rate(s, ctr(a.fired.direction === 'incoming' ? 0 : 1, K_TOTAL_P));
    if (power > a.peakPower) a.peakPower = power;
    if (anyOver) a.below = 0;
    else a.below++;
    if (a.below >= this.finishTicks) {
      this.refreshAttack(s, a);
      this.endAttack(s, a);
      return;
    }
    if (now - a.lastUpdate >= this.updateMs) {
      a.lastUpdate = now;
      this.refreshAttack(s, a);
      this.emit('attack_updated', a.rec);
    }
  }

  private endAttack(s: number, a: AttackState): void {
    this.attacks.delete(s);
    this.store.flags[s] = this.store.flags[s]! & ~F_ATTACK;
    this.emit('attack_finished', a.rec);
  }

  private growSlots(cap: number): void {
    this.base.resize(cap);
    const g32 = (a: Uint32Array) => {
      const b = new Uint32Array(cap);
      b.set(a);
      return b;
    };
    const p = new Int32Array(cap).fill(-1);
    p.set(this.hotPos);
    this.hotPos = p;
    this.hotTick = g32(this.hotTick);
    this.warmAt = g32(this.warmAt);
    this.lastEval = g32(this.lastEval);
  }

  private takeHotBuffer(): number {
    let buf = -1;
    if (this.hotFree.length > 0) buf = this.hotFree.pop()!;
    else if (this.hotOwners < this.maxHot) {
      buf = this.hotOwners++;
      if (buf >= this.hot.owners) this.hot.resize(Math.min(this.maxHot, Math.max(16, this.hot.owners * 2)));
    }
    if (buf >= 0) this.hot.clear(buf);
    return buf;
  }

  /** Hot path: give a slot its hot buffer now; the tick creates its HotState. */
  private promote(s: number): number {
    const st = this.store;
    st.hotBuf[s] = this.takeHotBuffer();
    st.flags[s] = st.flags[s]! | F_HOT;
    st.setLimits(s);
    this.promoted.push(s);
    return st.flags[s]!;
  }

  /** Put a slot on the hot list (with a hot buffer when one is free); returns its position. */
  private makeHot(s: number, T: number): number {
    const st = this.store;
    // Promoted during this interval: the buffer is already filling.
    if ((st.flags[s]! & F_HOT) === 0) {
      st.hotBuf[s] = this.takeHotBuffer();
      st.flags[s] = st.flags[s]! | F_HOT;
    }
    st.setLimits(s);
    if (this.hotLen === this.hotList.length) {
      const l = new Int32Array(this.hotList.length * 2);
      l.set(this.hotList);
      this.hotList = l;
      const r = new Uint16Array(l.length * RMAX);
      r.set(this.runs);
      this.runs = r;
    }
    const pos = this.hotLen++;
    this.hotList[pos] = s;
    this.hotPos[s] = pos;
    this.runs.fill(0, pos * RMAX, pos * RMAX + RMAX);
    this.hotTick[s] = T;
    this.warmAt[s] = T;
    return pos;
  }

  private releaseHot(s: number): void {
    const st = this.store;
    const buf = st.hotBuf[s]!;
    if (buf >= 0) this.hotFree.push(buf);
    st.flags[s] = st.flags[s]! & ~(F_HOT | F_OVER);
    st.hotBuf[s] = -1;
    st.setLimits(s);
    const pos = this.hotPos[s]!;
    if (pos < 0) return;
    const last = --this.hotLen;
    if (pos !== last) {
      const m = this.hotList[last]!;
      this.hotList[pos] = m;
      this.hotPos[m] = pos;
      this.runs.copyWithin(pos * RMAX, last * RMAX, last * RMAX + RMAX);
    }
    this.hotPos[s] = -1;
  }

  /**
   * The host's baseline: its slow ring's entries from before the last window before it got
   * hot (an attack ramping up below the warm level may be in that window), in one direction.
   * The ring keeps those entries while the host is hot (samples.ts).
   */
  private baselineOf(s: number, out: boolean): FlowSample[] {
    const text = this.slotText(s);
    const T = this.hotTick[s]!;
    const b = this.base;
    const res: FlowSample[] = [];
    for (const e of b.baselineEntries(s)) {
      if (b.tick[e]! + this.B <= T && !b.marked(e) && b.hostIsSource(e) === out) res.push(b.materialise(e, text, this.exporters));
    }
    return res;
  }

  /**
   * The attack samples in the attack direction (the host is the destination for incoming,
   * the source for outgoing): the hot buffer, else the baseline ring's entries since the
   * host got hot.
   */
  private attackSamples(s: number, out: boolean): { samples: FlowSample[]; pcap: Uint8Array | null } {
    const text = this.slotText(s);
    const samples: FlowSample[] = [];
    const pcapEntries: PcapEntry[] = [];
    const buf = this.store.hotBuf[s]!;
    if (buf >= 0 && this.hot.count[buf]! > 0) {
      const h = this.hot;
      for (const e of h.entries(buf)) {
        if (h.hostIsSource(e) !== out) continue;
        const smp = h.materialise(e, text, this.exporters);
        samples.push(smp);
        if (smp.header && h.hlink![e]! !== 0) {
          pcapEntries.push({ timeMs: smp.timeMs, linkType: h.hlink![e]!, header: smp.header, frameLength: h.flen![e]! });
        }
      }
    }
    if (samples.length === 0) {
      const b = this.base;
      for (const e of b.baselineEntries(s)) if (b.marked(e) && b.hostIsSource(e) === out) samples.push(b.materialise(e, text, this.exporters));
    }
    return { samples, pcap: buildPcap(pcapEntries) };
  }

  private startAttack(s: number, fired: CompiledThreshold, now: number, hgName: string): void {
    const ip = this.slotText(s);
    const v6 = this.store.kind[s] === KIND_V6;
    const rates = this.hostRatesOf(s);
    const out = fired.direction === 'outgoing';
    const { samples, pcap } = this.attackSamples(s, out);
    const dirSamples = samples;
    const dir = out ? 1 : 0;
    const cls = classifyAttack(
      {
        pps: this.rate(s, ctr(dir, K_TOTAL_P)),
        tcp_pps: this.rate(s, ctr(dir, K_TCP_P)),
        syn_pps: this.rate(s, ctr(dir, K_SYN_P)),
        udp_pps: this.rate(s, ctr(dir, K_UDP_P)),
        icmp_pps: this.rate(s, ctr(dir, K_ICMP_P)),
        frag_pps: this.rate(s, ctr(dir, K_FRAG_P)),
      },
      fired.cls,
      dirSamples,
    );
    const power = this.rate(s, ctr(dir, K_TOTAL_P));
    const uuid = randomUUID();
    const network = this.networkText(s);
    const details = buildDetails({
      uuid,
      hostgroup: hgName,
      network,
      cls,
      fired,
      firedValue: this.rate(s, fired.counter) * fired.factor,
      initialPower: power,
      peakPower: power,
      startedAt: now,
      rates,
    });
    const rec: MutableAttackRecord = {
      uuid,
      ip,
      ipVersion: v6 ? 6 : 4,
      hostgroup: hgName,
      details,
      samples,
      baseline: this.baselineOf(s, out),
      packet_dump_detailed: packetDump(samples),
      pcap,
      startedAt: now,
      rates,
    };
    this.attacks.set(s, { rec, below: 0, fired, cls, network, initialPower: power, peakPower: power, lastUpdate: now });
    this.store.flags[s] = this.store.flags[s]! | F_ATTACK;
    log.info('attack detected', { ip, type: cls.type, direction: fired.direction, threshold: details.attack_detection_threshold, pps: Math.round(power) });
    this.emit('attack_started', rec);
  }

  private refreshAttack(s: number, a: AttackState): void {
    const rates = this.hostRatesOf(s);
    const { samples, pcap } = this.attackSamples(s, a.fired.direction === 'outgoing');
    a.rec.rates = rates;
    if (samples.length > 0) {
      a.rec.samples = samples;
      a.rec.packet_dump_detailed = packetDump(samples);
      if (pcap) a.rec.pcap = pcap;
    }
    a.rec.details = buildDetails({
      uuid: a.rec.uuid,
      hostgroup: a.rec.hostgroup,
      network: a.network,
      cls: a.cls,
      fired: a.fired,
      firedValue: this.rate(s, a.fired.counter) * a.fired.factor,
      initialPower: a.initialPower,
      peakPower: a.peakPower,
      startedAt: a.rec.startedAt,
      rates,
    });
  }

  private evaluateHostgroups(now: number): void {
    for (let h = 0; h < this.compiled.length; h++) {
      const c = this.compiled[h]!;
      if (c.total.length === 0) continue;
      const s = this.hgSlot[h]!;
      for (const t of c.total) {
        const key = `${c.name}|${t.direction}|${t.cls}|${t.unit}`;
        const v = this.rate(s, t.counter) * t.factor;
        const cur = this.hgAttacks.get(key);
        if (v > t.limit) {
          const runs = (this.hgRuns.get(key) ?? 0) + 1;
          this.hgRuns.set(key, runs);
          if (cur) {
            cur.value = v;
            if (v > cur.peak) cur.peak = v;
          } else if (runs >= c.ticksRequired) {
            const a: HostgroupAttack = { hostgroup: c.name, direction: t.direction, cls: t.cls, unit: t.unit, threshold: t.limit, value: v, peak: v, startedAt: now };
            this.hgAttacks.set(key, a);
            this.emitHg('attack_started', a);
          }
        } else {
          this.hgRuns.set(key, 0);
          if (cur) {
            cur.value = v;
            this.hgAttacks.delete(key);
            this.emitHg('attack_finished', cur);
          }
        }
      }
    }
  }

  // ---------------------------------------------------------------- lifecycle, events

  start(): void {
    if (this.timer) return;
    this.lastTickAt = this.now();
    this.timer = setInterval(() => this.advance(this.now()), this.tickMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  on(event: AttackEvent, listener: (rec: AttackRecord) => void): void {
    this.listeners[event].push(listener);
  }

  /** Hostgroup-total threshold events. */
  onHostgroup(event: AttackEvent, listener: (a: HostgroupAttack) => void): void {
    this.hgListeners[event].push(listener);
  }

  private emit(event: AttackEvent, rec: AttackRecord): void {
    for (const l of this.listeners[event]) {
      try {
        l(rec);
      } catch (err) {
        log.error(`${event} listener failed: ${(err as Error).message}`);
      }
    }
  }

  private emitHg(event: AttackEvent, a: HostgroupAttack): void {
    for (const l of this.hgListeners[event]) {
      try {
        l(a);
      } catch (err) {
        log.error(`hostgroup ${event} listener failed: ${(err as Error).message}`);
      }
    }
  }

  // ---------------------------------------------------------------- config

  private applyHostgroups(cfg: Config): void {
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
      log.warn(`thresholds without a counter are ignored (flows exist for class total only): ${unsupported.join(', ')}`);
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
        const j = (h * 2 + (t.direction === 'incoming' ? 0 : 1)) * 3 + (t.unit === 'pps' ? 0 : t.unit === 'mbps' ? 1 : 2);
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
  }

  reconfigure(cfg: Config): void {
    const d = cfg.detection;
    if (d.tick_ms !== this.cfg.detection.tick_ms || d.window_ms !== this.cfg.detection.window_ms) {
      log.warn('detection.tick_ms / window_ms changes take effect after a restart; keeping the running values');
    }
    this.cfg = cfg;
    this.excludeWl = d.exclude_whitelisted_sources;
    this.idleTicks = Math.ceil(d.ipv6_idle_ms / this.tickMs);
    this.v6Max = d.ipv6_max_hosts;
    this.alpha = d.smoothing_ms > 0 ? 1 - Math.exp(-this.tickMs / d.smoothing_ms) : 0;
    this.store.setSmoothing(this.alpha > 0);
    const policy = new Policy(cfg);
    this.policy = policy;
    const st = this.store;
    // Hosts whose monitoring ends lose their slot (and any attack in progress finishes).
    for (const e of this.v4.rebuild(policy)) {
      const s = this.v4.slot[e]!;
      this.dropSlot(s);
      this.v4.slot[e] = NOT_MONITORED;
    }
    for (let s = 0; s < st.used; s++) {
      const k = st.kind[s];
      if (k === KIND_V4) {
        const e = st.backref[s]!;
        st.setHg(s, this.v4.hg[e]!);
        st.flags[s] = (st.flags[s]! & ~F_WHITELISTED) | (this.v4.wl[e] ? F_WHITELISTED : 0);
      } else if (k === KIND_V6) {
        const o = s * 4;
        const a = st.addr;
        if (!policy.monitored6(a[o]!, a[o + 1]!, a[o + 2]!, a[o + 3]!)) {
          this.v6.remove(a, s);
          this.dropSlot(s);
          continue;
        }
        st.setHg(s, policy.hostgroup6(a[o]!, a[o + 1]!, a[o + 2]!, a[o + 3]!));
        st.flags[s] = (st.flags[s]! & ~F_WHITELISTED) | (policy.whitelisted6(a[o]!, a[o + 1]!, a[o + 2]!, a[o + 3]!) ? F_WHITELISTED : 0);
      }
    }
    this.applyHostgroups(cfg);
    // New budgets, flags and hostgroups: new candidate limits.
    for (let s = 0; s < st.used; s++) if (st.kind[s] === KIND_V4 || st.kind[s] === KIND_V6) st.setLimits(s);
    this.reevalAll = true;
    // Threshold lists may have changed shape: restart the consecutive-tick counts.
    this.runs.fill(0);
    for (const [s, a] of [...this.attacks]) if (st.flags[s]! & F_WHITELISTED) this.endAttack(s, a);
  }

  private dropSlot(s: number): void {
    const a = this.attacks.get(s);
    if (a) this.endAttack(s, a);
    if (this.store.flags[s]! & F_HOT || this.hotPos[s]! >= 0) this.releaseHot(s);
    this.store.release(s);
    this.base.clear(s);
  }

  // ---------------------------------------------------------------- queries

  private slotText(s: number): string {
    const st = this.store;
    const o = s * 4;
    if (st.kind[s] === KIND_V4) return v4ToString(st.addr[o + 3]!);
    const b = new Uint8Array(16);
    for (let w = 0; w < 4; w++) {
      const x = st.addr[o + w]!;
      b[w * 4] = x >>> 24;
      b[w * 4 + 1] = (x >>> 16) & 255;
      b[w * 4 + 2] = (x >>> 8) & 255;
      b[w * 4 + 3] = x & 255;
    }
    return v6ToString(b);
  }

  private networkText(s: number): string {
    const st = this.store;
    const o = s * 4;
    const a = st.addr;
    if (st.kind[s] === KIND_V4) {
      const n = this.policy.network4(a[o + 3]!);
      return n ? `${v4ToString(n.net)}/${n.len}` : '';
    }
    const n = this.policy.network6(a[o]!, a[o + 1]!, a[o + 2]!, a[o + 3]!);
    if (!n) return '';
    const b = new Uint8Array(16);
    for (let w = 0; w < 4; w++) {
      const x = n.w[w]!;
      b[w * 4] = x >>> 24;
      b[w * 4 + 1] = (x >>> 16) & 255;
      b[w * 4 + 2] = (x >>> 8) & 255;
      b[w * 4 + 3] = x & 255;
    }
    return `${v6ToString(b)}/${n.len}`;
  }

  /** Slot of a host given as text, without allocating; -1 when unknown. */
  private findSlot(ip: string): number {
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

  private hgName(s: number): string {
    const h = this.store.hg(s);
    return h === HG_NONE ? '' : (this.compiled[h]?.name ?? '');
  }

  private hostRatesOf(s: number): HostRates {
    return buildHostRates(this.slotText(s), this.hgName(s), (c) => this.rate(s, c));
  }

  hostRates(ip: string): HostRates | null {
    const s = this.findSlot(ip);
    return s >= 0 ? this.hostRatesOf(s) : null;
  }

  /** Hostgroup name of a monitored address (also for hosts never seen), or null. */
  hostgroupOf(ip: string): string | null {
    const a = parseV4(ip);
    let h: number;
    if (a >= 0) {
      if (!this.policy.monitored4(a)) return null;
      h = this.policy.hostgroup4(a);
    } else {
      const b = parseV6(ip);
      if (!b || !this.policy.monitored6(rd(b, 0), rd(b, 4), rd(b, 8), rd(b, 12))) return null;
      h = this.policy.hostgroup6(rd(b, 0), rd(b, 4), rd(b, 8), rd(b, 12));
    }
    return this.cfg.hostgroups[h]?.name ?? null;
  }

  rateFn(ip: string): RateFn | null {
    if (this.findSlot(ip) < 0) return null;
    // Re-resolved on every call: the slot may be evicted and reused meanwhile.
    return (d: Direction, cls: TrafficClass, unit: Unit) => {
      const s = this.findSlot(ip);
      const c = counterIndex(d, cls, unit);
      if (s < 0 || c < 0) return 0;
      return this.rate(s, c) * unitFactor(unit);
    };
  }

  private overAny(s: number, list: readonly CompiledThreshold[]): boolean {
    for (const t of list) if (this.rate(s, t.counter) * t.factor > t.limit) return true;
    return false;
  }

  stillAttacking(ip: string): boolean {
    const s = this.findSlot(ip);
    if (s < 0) return false;
    const c = this.compiled[this.store.hg(s)];
    return c ? this.overAny(s, c.ban) : false;
  }

  /** Is the host above its hostgroup's emergency tier right now? */
  overEmergency(ip: string): boolean {
    const s = this.findSlot(ip);
    if (s < 0) return false;
    const c = this.compiled[this.store.hg(s)];
    return c ? this.overAny(s, c.emergency) : false;
  }

  /** Attacks in progress. */
  activeAttacks(): AttackRecord[] {
    const out: AttackRecord[] = [];
    for (const a of this.attacks.values()) out.push(a.rec);
    return out;
  }

  top(n: number, unit: TopUnit, direction: Direction): HostRates[] {
    if (n <= 0) return [];
    const k = ctr(direction === 'incoming' ? 0 : 1, unit === 'packets' ? K_TOTAL_P : unit === 'bytes' ? K_TOTAL_B : K_FLOWS);
    const st = this.store;
    const best: { s: number; v: number }[] = [];
    const recent = this.curTick - 1 - this.B;
    for (let s = 0; s < st.used; s++) {
      const kind = st.kind[s];
      if ((kind !== KIND_V4 && kind !== KIND_V6) || st.lastSeen(s) < recent) continue;
      const v = this.rate(s, k);
      if (v <= 0) continue;
      if (best.length === n && v <= best[n - 1]!.v) continue;
      let j = best.length < n ? best.length : n - 1;
      if (best.length < n) best.push({ s, v });
      while (j > 0 && best[j - 1]!.v < v) {
        best[j] = best[j - 1]!;
        j--;
      }
      best[j] = { s, v };
    }
    return best.map((x) => this.hostRatesOf(x.s));
  }

  totals(): { in_packets: number; out_packets: number; in_bytes: number; out_bytes: number; in_flows: number; out_flows: number } {
    const t = { in_packets: 0, out_packets: 0, in_bytes: 0, out_bytes: 0, in_flows: 0, out_flows: 0 };
    for (let h = 0; h < this.hgSlot.length; h++) {
      const s = this.hgSlot[h]!;
      t.in_packets += this.rate(s, ctr(0, K_TOTAL_P));
      t.out_packets += this.rate(s, ctr(1, K_TOTAL_P));
      t.in_bytes += this.rate(s, ctr(0, K_TOTAL_B));
      t.out_bytes += this.rate(s, ctr(1, K_TOTAL_B));
      t.in_flows += this.rate(s, ctr(0, K_FLOWS));
      t.out_flows += this.rate(s, ctr(1, K_FLOWS));
    }
    return t;
  }

  /** Per-second rates of a hostgroup's total traffic, or null for an unknown name. */
  hostgroupRates(name: string): HostRates | null {
    const h = this.compiled.findIndex((c) => c.name === name);
    if (h < 0) return null;
    const s = this.hgSlot[h]!;
    return buildHostRates('', name, (c) => this.rate(s, c));
  }

  detectionStats(): DetectionStats {
    const st = this.store;
    let v4 = 0;
    let v6 = 0;
    let attacks = 0;
    for (let s = 0; s < st.used; s++) {
      if (st.kind[s] === KIND_V4) v4++;
      else if (st.kind[s] === KIND_V6) v6++;
    }
    attacks = this.attacks.size;
    return {
      ...this.stats,
      hosts_v4: v4,
      hosts_v6: v6,
      hot_hosts: this.hotLen,
      attacks_active: attacks,
      bytes_per_host: this.bytesPerHost(),
      unsupported_thresholds: [...this.unsupported],
    };
  }

  /** Storage per active host: counters and window plus the baseline sample ring. */
  bytesPerHost(): number {
    return this.store.bytesPerSlot() + this.base.bytesPerOwner();
  }

  /** The hot-buffer cost per hot host (samples with headers). */
  bytesPerHotHost(): number {
    return this.hot.bytesPerOwner();
  }

  /** Length of the window actually used (a whole number of ticks). */
  get windowMs(): number {
    return this.W;
  }
}

function rd(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

// Counter masks for the incoming direction (counter = 2 * kind + direction).
const kb = (k: number) => 1 << (2 * k);
const M_TOTAL = kb(K_TOTAL_P) | kb(K_TOTAL_B) | kb(K_FLOWS);
const M_TCP = kb(K_TCP_P) | kb(K_TCP_B);
const M_SYN = kb(K_SYN_P) | kb(K_SYN_B);
const M_UDP = kb(K_UDP_P) | kb(K_UDP_B);
const M_ICMP = kb(K_ICMP_P) | kb(K_ICMP_B);
const M_FRAG = kb(K_FRAG_P) | kb(K_FRAG_B);
const M_DROP = kb(K_DROP_P) | kb(K_DROP_B);

/** Add one record to an open interval: i = the block offset of the direction's part (store.ts R_*). */
function accumulate(hb: Float64Array, i: number, bits: number, pk: number, by: number, flows: number): void {
  hb[i] += pk;
  hb[i + 1] += by;
  hb[i + 2] += flows;
  if (bits & M_TCP) {
    hb[i + 3] += pk;
    hb[i + 4] += by;
    if (bits & M_SYN) {
      hb[i + 7] += pk;
      hb[i + 8] += by;
    }
  } else if (bits & M_UDP) {
    hb[i + 5] += pk;
    hb[i + 6] += by;
  } else if (bits & M_ICMP) {
    hb[i + 9] += pk;
    hb[i + 10] += by;
  }
  if (bits & M_FRAG) {
    hb[i + 11] += pk;
    hb[i + 12] += by;
  }
  if (bits & M_DROP) {
    hb[i + 13] += pk;
    hb[i + 14] += by;
  }
}
