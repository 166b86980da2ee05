/**
 * The hot path (the FlowSink): per record, resolve the destination (incoming) and source
 * (outgoing) slots, add the record to the slot's and its hostgroup's tick accumulators,
 * offer it to the slot's baseline ring, and, when a candidate limit is crossed (slow()),
 * put the slot on the tick's candidate list or into its hot buffer. No rates, no objects,
 * no strings per record: everything is in the store's typed arrays.
 *
 * The baseline (the host's normal traffic, which FlowSpec rules must spare) comes from a
 * slow always-on ring (samples.ts offerBaseline): it considers the first record of a host
 * and direction per tick, keeps one entry per kind of traffic (protocol, service port),
 * refreshes an entry only once a minute, lets a new kind push out an old one at most once
 * per `baselineSpacingMs`, and takes nothing while the host has a hot buffer.
 *
 * Also here: slot allocation for new addresses and IPv6 eviction (the hot path allocates).
 */
import type { FlowRecord, FlowSink } from '../capture/flow.js';
import { dstShard, srcShard } from '../capture/input/shard-router.js';
import { hash6, NOT_MONITORED, type V4Index, type V6Index } from './addrmap.js';
import type { HotHosts } from './hot.js';
import {
  K_DROP_B,
  K_DROP_P,
  K_FLOWS,
  K_FRAG_B,
  K_FRAG_P,
  K_ICMP_B,
  K_ICMP_P,
  K_SYN_B,
  K_SYN_P,
  K_TCP_B,
  K_TCP_P,
  K_TOTAL_B,
  K_TOTAL_P,
  K_UDP_B,
  K_UDP_P,
} from './layout.js';
import type { SampleArrays } from './samples.js';
import { rd, type DetectorState } from './state.js';
import {
  CAND_BIT,
  F_HOT,
  F_WHITELISTED,
  H_BASE,
  H_ADDR,
  H_BASE_EVICT,
  H_HG,
  H_LAST,
  H_LIM,
  H_MASK,
  H_T0,
  IN0,
  KIND_V4,
  KIND_V6,
  OUT0,
  STRIDE,
  type CounterStore,
} from './store.js';

export class Ingest implements FlowSink {
  private readonly st: DetectorState;
  private readonly hot: HotHosts;
  // Never replaced: kept here so the hot path reads them without going through `st`.
  private readonly store: CounterStore;
  private readonly base: SampleArrays;
  private readonly v4: V4Index;
  private readonly v6: V6Index;
  private readonly W: number;
  private readonly baseSpacing: number;
  private readonly baseRefresh: number;
  private readonly stats: DetectorState['stats'];
  /** Slots that may be near a threshold after the open interval (see add()); the tick drains it. */
  cand = new Int32Array(1024);
  candLen = 0;
  /**
   * DataViews over the record's src6/dst6 arrays (a decoder refills the same two), so a
   * word is one big-endian load instead of four byte loads; two entries, keyed by identity.
   */
  private vk0: Uint8Array | null = null;
  private vv0: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(16));
  private vk1: Uint8Array | null = null;
  private vv1: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(16));
  private vNext = 0;
  private exporterIds = new Map<string, number>();
  private lastExp = '';
  private lastExpId = 0;
  /** detection.shards: this engine's shard and the shard count (0: not sharded). */
  private readonly shard: number;
  private readonly shards: number;

  constructor(st: DetectorState, hot: HotHosts) {
    this.shard = st.shard.index;
    this.shards = st.shard.count;
    this.st = st;
    this.hot = hot;
    this.store = st.store;
    this.base = st.base;
    this.v4 = st.v4;
    this.v6 = st.v6;
    this.W = st.W;
    this.baseSpacing = st.baseSpacing;
    this.baseRefresh = st.baseRefresh;
    this.stats = st.stats;
  }

  onFlow(rec: FlowRecord): void {
    const st = this.st;
    // A detection shard (detection.shards) counts the sides whose address it owns; the
    // destination's shard owns the record itself (records, filtered, unmonitored).
    let mineIn = true;
    let mineOut = true;
    const n = this.shards;
    if (n !== 0) {
      mineIn = dstShard(rec, n) === this.shard;
      mineOut = srcShard(rec, n) === this.shard;
      if (!mineIn && !mineOut) return;
    }
    if (mineIn) this.stats.records++;
    // capture.filters (src/capture/filter.ts): one compiled predicate, before anything else.
    const flt = mineIn ? st.filter : st.filterUncounted;
    if (flt !== null && !flt.keep(rec)) {
      if (mineIn) this.stats.filtered++;
      return;
    }
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
      sIn = mineIn ? this.slot4(rec.dst4) : -1;
      sOut = mineOut ? this.slot4(rec.src4) : -1;
      if (st.excludeWl) {
        if (sIn >= 0 && st.policy.whitelisted4(rec.src4)) sIn = -1;
        if (sOut >= 0 && st.policy.whitelisted4(rec.dst4)) sOut = -1;
      }
    } else {
      const d = rec.dst6;
      const s = rec.src6;
      // The /16 filter on the first two bytes before anything else: most sources of
      // incoming traffic (and destinations of outgoing) are remote and stop here.
      const touch = st.policy.touch6;
      if (!mineIn || touch[(d[0]! << 8) | d[1]!] === 0) sIn = -1;
      else {
        const v = d === this.vk0 ? this.vv0 : d === this.vk1 ? this.vv1 : this.view(d);
        sIn = this.slot6(v.getInt32(0), v.getInt32(4), v.getInt32(8), v.getInt32(12));
      }
      if (!mineOut || touch[(s[0]! << 8) | s[1]!] === 0) sOut = -1;
      else {
        const v = s === this.vk0 ? this.vv0 : s === this.vk1 ? this.vv1 : this.view(s);
        sOut = this.slot6(v.getInt32(0), v.getInt32(4), v.getInt32(8), v.getInt32(12));
      }
      if (st.excludeWl) {
        if (sIn >= 0 && st.policy.whitelisted6(rd(s, 0), rd(s, 4), rd(s, 8), rd(s, 12))) sIn = -1;
        if (sOut >= 0 && st.policy.whitelisted6(rd(d, 0), rd(d, 4), rd(d, 8), rd(d, 12))) sOut = -1;
      }
    }
    if (sIn < 0 && sOut < 0) {
      if (mineIn && (mineOut || !this.sourceMonitored(rec))) this.stats.unmonitored++;
      return;
    }
    // A hostgroup's filters decide whether the record counts towards its hosts.
    const hf = st.hgFilters;
    if (hf !== null) {
      if (sIn >= 0) {
        const f = hf[this.store.hg(sIn)];
        if (f && !f.keep(rec)) sIn = -1;
      }
      if (sOut >= 0) {
        const f = hf[this.store.hg(sOut)];
        if (f && !f.keep(rec)) sOut = -1;
      }
      if (sIn < 0 && sOut < 0) {
        if (mineIn) this.stats.filtered++;
        return;
      }
    }
    const expId = rec.exporter === this.lastExp ? this.lastExpId : this.exporterId(rec.exporter);
    if (sIn >= 0) this.add(sIn, 0, bits, pk, by, rec, false, expId);
    if (sOut >= 0) this.add(sOut, 1, bits, pk, by, rec, true, expId);
  }

  private add(
    s: number,
    dir: number,
    bits: number,
    pk: number,
    by: number,
    rec: FlowRecord,
    out: boolean,
    expId: number,
  ): void {
    const st = this.store;
    const T = this.st.curTick;
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
    const hgi = hw[w + H_HG]!;
    const h = this.st.hgSlot[hgi]!;
    accumulate(hb, h * STRIDE + (dir === 0 ? IN0 : OUT0), bits, pk, by, rec.flows);
    hw[2 * h * STRIDE + H_MASK] = hw[2 * h * STRIDE + H_MASK]! | m;
    // The hostgroup's aggregate samples (only hostgroups with a hostgroup-total limit).
    const hgs = this.st.hgSamples;
    if (hgs.sampled[hgi] === 1) hgs.offer(hgi, T, rec, out, expId);
    // Candidate limits (store.ts): crossing one means this host may be near a threshold
    // (or it is hot and its records go to its hot buffer). Counts, not rates: rates are
    // computed on the tick only.
    const hf = st.hf;
    const lw = w + H_LIM + 3 * dir;
    if (hb[i]! > hf[lw]! || hb[i + 1]! > hf[lw + 1]! || hb[i + 2]! > hf[lw + 2]!)
      this.slow(s, dir, i, rec, out, expId);
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
        if (this.base.offerBaseline(s, T, rec, out, expId, hot, this.baseRefresh, mayEvict))
          hw[w + H_BASE_EVICT] = T;
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
    const T = this.st.curTick;
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
      if (buf >= 0) this.hot.samples.offer(buf, T, rec, out, expId);
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
    const pb = this.st.pktBudget;
    const bb = this.st.byteBudget;
    if (hb[i]! > pb[bi]! || hb[i + 1]! > bb[bi]!) {
      this.hot.promote(s);
      const buf = st.hotBuf[s]!;
      if (buf >= 0) this.hot.samples.offer(buf, T, rec, out, expId);
      return;
    }
    for (let d = 0; d < 2; d++) st.setLim(s, d, pb[hg * 2 + d]!, bb[hg * 2 + d]!, Infinity);
  }

  /** Sharded: is the record's source a monitored host (counted by its own shard)? */
  private sourceMonitored(rec: FlowRecord): boolean {
    const p = this.st.policy;
    if (rec.ipVersion === 4) return p.group4(rec.src4) >= 0;
    const a = rec.src6;
    return p.group6(rd(a, 0), rd(a, 4), rd(a, 8), rd(a, 12)) >= 0;
  }

  private view(b: Uint8Array): DataView<ArrayBufferLike> {
    const v = new DataView(b.buffer, b.byteOffset, 16);
    if (this.vNext === 0) {
      this.vk0 = b;
      this.vv0 = v;
    } else {
      this.vk1 = b;
      this.vv1 = v;
    }
    this.vNext ^= 1;
    return v;
  }

  private growCand(): void {
    const d = new Int32Array(this.cand.length * 2);
    d.set(this.cand);
    this.cand = d;
  }

  private exporterId(e: string): number {
    let id = this.exporterIds.get(e);
    if (id === undefined) {
      const exporters = this.st.exporters;
      if (exporters.length >= 65535) id = 0;
      else {
        id = exporters.length;
        exporters.push(e);
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
    const s = st.alloc(KIND_V4, this.v4.hg[e]!, this.v4.wl[e] ? F_WHITELISTED : 0, this.st.curTick);
    st.setAddr(s, 0, 0, 0, a);
    st.backref[s] = e;
    this.v4.slot[e] = s;
    this.base.clear(s);
    return s;
  }

  private slot6(w0: number, w1: number, w2: number, w3: number): number {
    const pol = this.st.policy;
    // Remote addresses (most sources of incoming traffic) stop at the /16 filter.
    if (pol.touch6[w0 >>> 16] === 0) return -1;
    // V6Index.find, inlined (V8 would not inline it here): probe the 8-byte entries by
    // hash, verify the address on the slot's first line, which add() updates next anyway.
    const v6 = this.v6;
    const tab = v6.tab;
    const mask = v6.mask;
    const hw = this.store.hw;
    const h = hash6(w0, w1, w2, w3);
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e = tab[2 * i]!;
      if (e === 0) break;
      if (tab[2 * i + 1] === h) {
        const o = (e - 1) * HW_STRIDE + H_ADDR;
        if (
          (hw[o]! | 0) === w0 &&
          (hw[o + 1]! | 0) === w1 &&
          (hw[o + 2]! | 0) === w2 &&
          (hw[o + 3]! | 0) === w3
        )
          return e - 1;
      }
    }
    const g = pol.group6(w0, w1, w2, w3);
    if (g < 0) return -1;
    const v6Max = this.st.v6Max;
    if (this.v6.size >= v6Max) {
      this.evictV6(Math.max(1, v6Max >> 3), 0);
      if (this.v6.size >= v6Max) {
        this.stats.ipv6_overflow++;
        return -1;
      }
    }
    const st = this.store;
    const n = st.alloc(KIND_V6, g, pol.whitelisted6(w0, w1, w2, w3) ? F_WHITELISTED : 0, this.st.curTick);
    st.setAddr(n, w0, w1, w2, w3);
    this.v6.insert(st.addr, n);
    this.base.clear(n);
    return n;
  }

  /**
   * Evict up to `n` IPv6 hosts that are neither active nor hot, oldest first; with
   * idleTicks > 0 only those idle longer than that.
   */
  evictV6(n: number, idleTicks: number): number {
    const st = this.store;
    const cands: number[] = [];
    const cur = this.st.curTick;
    const B = this.st.B;
    const limit = cur - idleTicks;
    for (let s = 0; s < st.used; s++) {
      if (st.kind[s] !== KIND_V6 || (st.flags[s]! & F_HOT) !== 0) continue;
      // Never a host with traffic in its window; with idleTicks only those idle that long.
      if (st.lastSeen(s) >= limit || st.lastSeen(s) + B >= cur) continue;
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
}

/** Uint32 words per slot block (the V6Index's stride over store.hw). */
const HW_STRIDE = 2 * STRIDE;

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
