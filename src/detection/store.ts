/**
 * Slot-indexed counter storage: every host (IPv4 or IPv6) and every hostgroup total owns a
 * slot; all counters live in a few preallocated typed arrays that grow by doubling.
 *
 * Time is cut into intervals of one tick, numbered. Per slot and counter (layout.ts):
 *  - acc:  the slot's open interval t0 (float: long flows are spread fractionally);
 *  - ring: B integer buckets holding the B completed intervals t0-B .. t0-1, at position
 *          interval % B. When acc is closed its integer part goes in and the fraction is
 *          carried into the next interval, so window sums stay exact integers; a host's
 *          bucket saturates at 2^32-1 and the excess is dropped and counted (`saturated`).
 *          A hostgroup total's bucket does not: past 2^32-1 (4.3 GB in 100 ms, 343 Gbps,
 *          which a carpet bomb of a /16 reaches) it holds the marker 2^32-1 and its exact
 *          value sits in `big` (a handful of hostgroup buckets, never the per-host arrays);
 *  - sum:  the sum of those B completed buckets;
 *  - smooth (only with smoothing): EWMA of the per-second window rate.
 *
 * What the per-record path touches lives in one block per slot (STRIDE doubles, 5 cache
 * lines): a header line (open interval, last record's interval, changed-counter mask,
 * baseline clocks, hostgroup, address, candidate limits), then per direction two lines of
 * accumulators, the kinds most records touch first. A TCP or UDP record touches two lines
 * of its slot and nothing else of it (an IPv6 lookup verifies the address on the first); window bookkeeping (ring, sum) is done when the slot
 * moves to a new interval, and the tick reads it.
 *
 * Rotation is lazy: a slot is moved to interval T (its acc closed, buckets older than T-B
 * dropped) by the first record it gets in T, or by the tick/query that needs it. Rotation
 * also sets the slot's candidate limits: how much more it may receive in T, per direction
 * in packets, bytes and flows, before its window (or T alone) could reach the warm fraction
 * of a threshold. The per-record check is then `acc > limit`, on the line just written.
 * The window that ended with interval T, for a slot at t0 = T, is sum - ring[T % B] + acc.
 */
import { NC } from './layout.js';

const KIND_FREE = 0;
export const KIND_V4 = 4;
export const KIND_V6 = 6;
export const KIND_HOSTGROUP = 7;

export const F_WHITELISTED = 1;
export const F_HOT = 4;

const MAXU32 = 4294967295;
/** WebAssembly.Memory (not in the project's TypeScript lib): a page-aligned, growable buffer. */
const WasmMemory = (
  globalThis as unknown as {
    WebAssembly: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer } };
  }
).WebAssembly.Memory;

/** Doubles per slot block (5 cache lines; blocks are line-aligned, see resize). */
export const STRIDE = 40;
/**
 * Header words (Uint32 view, the block's first line):
 *  0 open interval t0, 1 interval of the last record, 2 changed-counter mask (bits 0..29)
 *  plus CAND_BIT, 3 interval (mod 2^16) of the last incoming / outgoing record offered to the
 *  baseline ring (Uint16 halves), 4 interval of the baseline ring's last eviction (0: none),
 *  5 hostgroup, 6..9 the host's address (v4: word 9), 10..15 the candidate limits as float32
 *  (incoming packets, bytes, flows, then outgoing).
 */
export const H_T0 = 0;
export const H_LAST = 1;
export const H_MASK = 2;
export const H_BASE = 3;
export const H_BASE_EVICT = 4;
export const H_HG = 5;
/** The host's address words, where the IPv6 index verifies a match. */
export const H_ADDR = 6;
export const H_LIM = 10;
/** Put on the tick's candidate list during the open interval. */
export const CAND_BIT = 1 << 30;
/** Block offsets (doubles) of a direction's 15 accumulators: incoming (line 1-2), outgoing (3-4). */
export const IN0 = 8;
export const OUT0 = 24;
/** Offsets inside a direction's part: the kinds most records touch share its first line. */
const R_P = 0;
const R_B = 1;
const R_F = 2;
const R_TCP = 3;
const R_UDP = 5;
const R_SYN = 7;
const R_ICMP = 9;
const R_FRAG = 11;
const R_DROP = 13;

/** Offset inside a direction's part of each counter kind (layout.ts K_* order). */
const KIND_POS = [
  R_P,
  R_B,
  R_F,
  R_TCP,
  R_TCP + 1,
  R_SYN,
  R_SYN + 1,
  R_UDP,
  R_UDP + 1,
  R_ICMP,
  R_ICMP + 1,
  R_FRAG,
  R_FRAG + 1,
  R_DROP,
  R_DROP + 1,
];
/** Block offset of counter c's accumulator (c = 2 * kind + direction, layout.ts). */
export const ACC_POS = new Int32Array(NC);
for (let c = 0; c < NC; c++) ACC_POS[c] = ((c & 1) === 0 ? IN0 : OUT0) + KIND_POS[c >> 1]!;

export class CounterStore {
  /** Buckets per window. */
  readonly B: number;
  cap = 0;
  /** Slots handed out so far (high-water mark); free slots are reused first. */
  used = 0;
  live = 0;
  /** Buckets that saturated at 2^32-1 (the excess dropped, see rotate). */
  saturated = 0;
  /** Hostgroup-total buckets past 2^32-1, by ring index: their exact values (see the header). */
  private readonly big = new Map<number, number>();
  /** The per-slot blocks, as doubles, 32-bit words, float32 and 16-bit halves (same memory). */
  hb!: Float64Array;
  hw!: Uint32Array;
  hf!: Float32Array;
  hh!: Uint16Array;
  sum!: Float64Array;
  ring!: Uint32Array;
  smooth: Float64Array | null = null;
  /** Per slot and bucket: counters non-zero in that bucket. */
  bmask!: Uint32Array;
  kind!: Uint8Array;
  flags!: Uint8Array;
  /** Address words (v4: word 3 holds the address). */
  addr!: Uint32Array;
  /** Hot-buffer id per slot, -1 when none. */
  hotBuf!: Int32Array;
  /** IPv4 only: index into the block table, -1 otherwise. */
  backref!: Int32Array;
  /**
   * Candidate budgets per hostgroup, direction and unit (packets, bytes, flows), index
   * (hg * 2 + dir) * 3 + unit: the count over a window (win) or one interval (tick) at which a
   * host could be at the warm fraction of one of its thresholds. Set by the detector.
   */
  budgetWin = new Float64Array(0);
  budgetTick = new Float64Array(0);
  /** The same at 100% of the thresholds, over a window (for hot hosts without a buffer). */
  budgetOver = new Float64Array(0);
  private free: number[] = [];

  private readonly onGrow: (cap: number) => void;

  constructor(B: number, smoothing: boolean, initialCap: number, onGrow: (cap: number) => void) {
    this.B = B;
    this.onGrow = onGrow;
    this.resize(Math.max(16, initialCap));
    if (smoothing) this.smooth = new Float64Array(this.cap * NC);
  }

  /** Bytes of storage per slot (for the memory figure). */
  bytesPerSlot(): number {
    return (
      STRIDE * 8 + NC * 8 + (this.smooth ? NC * 8 : 0) + NC * 4 * this.B + 4 * this.B + 1 + 1 + 16 + 4 + 4
    );
  }

  setSmoothing(on: boolean): void {
    if (on && !this.smooth) this.smooth = new Float64Array(this.cap * NC);
    if (!on) this.smooth = null;
  }

  private resize(cap: number): void {
    const B = this.B;
    const grow = <T extends Float64Array | Uint32Array | Uint8Array | Int32Array>(
      old: T | undefined,
      make: (n: number) => T,
      per: number,
    ): T => {
      const n = make(cap * per);
      if (old) n.set(old);
      return n;
    };
    // The blocks live in a WebAssembly memory: its buffer starts on a page boundary, so every
    // block starts on a cache line (a malloc'ed ArrayBuffer is only 16-byte aligned, and a
    // block straddling lines costs a miss more per record).
    const mem = new WasmMemory({ initial: Math.ceil((cap * STRIDE * 8) / 65536) });
    const hb = new Float64Array(mem.buffer, 0, cap * STRIDE);
    if (this.hb) hb.set(this.hb);
    this.hb = hb;
    this.hw = new Uint32Array(mem.buffer, 0, cap * STRIDE * 2);
    this.hf = new Float32Array(mem.buffer, 0, cap * STRIDE * 2);
    this.hh = new Uint16Array(mem.buffer, 0, cap * STRIDE * 4);
    this.sum = grow(this.sum, (n) => new Float64Array(n), NC);
    this.ring = grow(this.ring, (n) => new Uint32Array(n), NC * B);
    if (this.smooth) this.smooth = grow(this.smooth, (n) => new Float64Array(n), NC);
    this.bmask = grow(this.bmask, (n) => new Uint32Array(n), B);
    this.kind = grow(this.kind, (n) => new Uint8Array(n), 1);
    this.flags = grow(this.flags, (n) => new Uint8Array(n), 1);
    this.addr = grow(this.addr, (n) => new Uint32Array(n), 4);
    const oldCap = this.cap;
    this.hotBuf = grow(this.hotBuf, (n) => new Int32Array(n), 1);
    this.hotBuf.fill(-1, oldCap);
    this.backref = grow(this.backref, (n) => new Int32Array(n), 1);
    this.backref.fill(-1, oldCap);
    this.cap = cap;
  }

  /** A new slot whose open interval is `tick` (empty windows). */
  alloc(kind: number, hg: number, flags: number, tick: number): number {
    let s: number;
    if (this.free.length > 0) s = this.free.pop()!;
    else {
      if (this.used === this.cap) {
        this.resize(this.cap * 2);
        this.onGrow(this.cap);
      }
      s = this.used++;
    }
    this.kind[s] = kind;
    this.flags[s] = flags;
    const w = s * STRIDE * 2;
    this.hw.fill(0, w, w + 16);
    this.hw[w + H_T0] = tick;
    this.hw[w + H_LAST] = tick;
    this.hw[w + H_HG] = hg;
    this.setLimits(s);
    this.live++;
    return s;
  }

  /** Zero a slot and return it to the free list. The caller has removed it from its index. */
  release(s: number): void {
    const B = this.B;
    this.hb.fill(0, s * STRIDE, s * STRIDE + STRIDE);
    this.sum.fill(0, s * NC, s * NC + NC);
    if (this.kind[s] === KIND_HOSTGROUP)
      for (let i = s * NC * B; i < (s + 1) * NC * B; i++) if (this.ring[i] === MAXU32) this.big.delete(i);
    this.ring.fill(0, s * NC * B, (s + 1) * NC * B);
    if (this.smooth) this.smooth.fill(0, s * NC, s * NC + NC);
    this.bmask.fill(0, s * B, s * B + B);
    this.kind[s] = KIND_FREE;
    this.flags[s] = 0;
    this.addr.fill(0, s * 4, s * 4 + 4);
    this.hotBuf[s] = -1;
    this.backref[s] = -1;
    this.live--;
    this.free.push(s);
  }

  /** Set a slot's address (the store's addr and the block's copy). */
  setAddr(s: number, w0: number, w1: number, w2: number, w3: number): void {
    const a = this.addr;
    a[s * 4] = w0;
    a[s * 4 + 1] = w1;
    a[s * 4 + 2] = w2;
    a[s * 4 + 3] = w3;
    const w = s * STRIDE * 2 + H_ADDR;
    this.hw[w] = w0;
    this.hw[w + 1] = w1;
    this.hw[w + 2] = w2;
    this.hw[w + 3] = w3;
  }

  hg(s: number): number {
    return this.hw[s * STRIDE * 2 + H_HG]!;
  }

  setHg(s: number, hg: number): void {
    this.hw[s * STRIDE * 2 + H_HG] = hg;
  }

  /** Set a direction's candidate limits (float32, rounded down: a limit is a filter). */
  setLim(s: number, dir: number, p: number, b: number, f: number): void {
    const o = s * STRIDE * 2 + H_LIM + 3 * dir;
    const hf = this.hf;
    hf[o] = down32(p);
    hf[o + 1] = down32(b);
    hf[o + 2] = down32(f);
  }

  /**
   * The slot's candidate limits for its open interval, from its flags, hostgroup budgets and
   * window: whitelisted -> never; hot with a buffer -> every record (the slow path feeds the
   * hot buffer and puts the slot on the tick's list); otherwise how much more of each unit
   * the interval can take before the window could reach the warm fraction of a threshold
   * (hot without a buffer: the threshold itself).
   */
  setLimits(s: number): void {
    const fl = this.flags[s]!;
    const k = this.kind[s];
    let fixed = NaN;
    if (k !== KIND_V4 && k !== KIND_V6) fixed = Infinity;
    else if (fl & F_WHITELISTED) fixed = Infinity;
    // Hot with a buffer: every record (the slow path feeds the buffer). Hot without one: it
    // is near a threshold already, so only traffic that could take it over one matters.
    else if (fl & F_HOT && this.hotBuf[s]! >= 0) fixed = -Infinity;
    const over = (fl & F_HOT) !== 0;
    if (!Number.isNaN(fixed)) {
      this.setLim(s, 0, fixed, fixed, fixed);
      this.setLim(s, 1, fixed, fixed, fixed);
      return;
    }
    const w = s * STRIDE * 2;
    const T = this.hw[w + H_T0]!;
    const hg = this.hw[w + H_HG]!;
    const B = this.B;
    const rb = (s * B + (T % B)) * NC;
    const bm = this.bmask[s * B + (T % B)]!;
    const sum = this.sum;
    const so = s * NC;
    const hf = this.hf;
    for (let dir = 0; dir < 2; dir++) {
      const j = (hg * 2 + dir) * 3;
      const o = w + H_LIM + 3 * dir;
      for (let u = 0; u < 3; u++) {
        // Counters 0..5: total packets, bytes, flows in each direction (layout.ts).
        const c = 2 * u + dir;
        const rem = sum[so + c]! - (bm & (1 << c) ? this.bucket(rb + c) : 0);
        const a = (over ? this.budgetOver[j + u]! : this.budgetWin[j + u]!) - rem;
        const b = over ? Infinity : this.budgetTick[j + u]!;
        // biome-ignore lint/complexity/useMathMinMax: a NaN budget must yield b, as Math.min would not
        const v = a < b ? a : b;
        hf[o + u] = v >= -Infinity ? down32(v) : Infinity; // no budgets for this hostgroup: never a candidate
      }
    }
  }

  /**
   * Move slot s to interval T (> t0): close acc into its bucket, drop the buckets older
   * than T-B, set the candidate limits. No-op when the slot is already at T.
   */
  rotate(s: number, T: number): void {
    const hw = this.hw;
    const w = s * STRIDE * 2;
    const t0 = hw[w + H_T0]!;
    if (T <= t0) return;
    const B = this.B;
    const hb = this.hb;
    const sum = this.sum;
    const ring = this.ring;
    const bmask = this.bmask;
    const so = s * NC;
    const bo = s * STRIDE;
    // 1. Drop intervals t0-B .. T-B-1 (at most B of them); the closing interval's position
    //    (t0 % B) is among them, so it is free for acc afterwards.
    const drops = Math.min(T - t0, B);
    for (let i = 0; i < drops; i++) {
      const pos = (t0 + i) % B; // == (t0 - B + i) % B
      const bi = s * B + pos;
      let m = bmask[bi]!;
      if (m === 0) continue;
      const rb = bi * NC;
      while (m !== 0) {
        const low = m & -m;
        const c = 31 - Math.clz32(low);
        m ^= low;
        sum[so + c] -= this.bucket(rb + c);
        if (ring[rb + c] === MAXU32) this.big.delete(rb + c);
        ring[rb + c] = 0;
      }
      bmask[bi] = 0;
    }
    // 2. Close acc (interval t0) into its bucket when still inside the window.
    let m = hw[w + H_MASK]! & ~CAND_BIT;
    let carry = 0;
    if (m !== 0) {
      if (T - t0 <= B) {
        const bi = s * B + (t0 % B);
        const rb = bi * NC;
        let nm = 0;
        while (m !== 0) {
          const low = m & -m;
          const c = 31 - Math.clz32(low);
          m ^= low;
          const ai = bo + ACC_POS[c]!;
          const v = hb[ai]!;
          // A bucket saturates at 2^32-1 and the excess is dropped, never carried: a carried
          // excess would be a debt that keeps a host "attacked" long after its traffic
          // stopped (one forged record drained for minutes). Saturation is counted instead.
          let iv: number;
          let rem: number;
          if (v >= MAXU32 && this.kind[s] === KIND_HOSTGROUP) {
            iv = Math.floor(v);
            rem = v - iv;
            this.big.set(rb + c, iv);
          } else if (v >= MAXU32) {
            iv = MAXU32;
            rem = 0;
            this.saturated++;
          } else {
            iv = v > 0 ? Math.floor(v) : 0;
            rem = v - iv;
          }
          hb[ai] = rem;
          if (rem > 0) carry |= low;
          if (iv !== 0) {
            ring[rb + c] = Math.min(iv, MAXU32);
            sum[so + c] += iv;
            nm |= low;
          }
        }
        bmask[bi] = nm;
      } else {
        // Idle for more than a window: the open interval has left it too.
        while (m !== 0) {
          const low = m & -m;
          const c = 31 - Math.clz32(low);
          m ^= low;
          hb[bo + ACC_POS[c]!] = 0;
        }
      }
    }
    hw[w + H_MASK] = carry;
    hw[w + H_T0] = T;
    this.setLimits(s);
  }

  /** Open interval of a slot. */
  t0(s: number): number {
    return this.hw[s * STRIDE * 2 + H_T0]!;
  }

  /** Interval of the slot's last record. */
  lastSeen(s: number): number {
    return this.hw[s * STRIDE * 2 + H_LAST]!;
  }

  /** Counter c's window for a slot at t0 = T (the window that ends with interval T). */
  windowAt(s: number, c: number, T: number): number {
    return (
      this.hb[s * STRIDE + ACC_POS[c]!]! +
      this.sum[s * NC + c]! -
      this.bucket((s * this.B + (T % this.B)) * NC + c)
    );
  }

  /** A ring bucket's value: the marker 2^32-1 of a hostgroup bucket stands for its exact value in `big`. */
  private bucket(i: number): number {
    const v = this.ring[i]!;
    return v === MAXU32 ? (this.big.get(i) ?? v) : v;
  }

  /** Counter c's completed buckets (the window that ended with t0 - 1). */
  sumOf(s: number, c: number): number {
    return this.sum[s * NC + c]!;
  }

  /** Counter c's open interval alone (for the tick rate). */
  accOf(s: number, c: number): number {
    return this.hb[s * STRIDE + ACC_POS[c]!]!;
  }

  /** EWMA step for one slot at t0 = T: smooth += alpha * (rate - smooth). Returns the largest value. */
  smoothSlot(s: number, T: number, alpha: number, perSecond: number): number {
    const sm = this.smooth!;
    let max = 0;
    const base = s * NC;
    for (let c = 0; c < NC; c++) {
      const i = base + c;
      const v = sm[i]! + alpha * (this.windowAt(s, c, T) * perSecond - sm[i]!);
      // Flush tiny residues so idle slots stop costing work.
      sm[i] = v < 1e-6 ? 0 : v;
      if (v > max) max = v;
    }
    return max;
  }
}

/** The largest float32 not above v. */
function down32(v: number): number {
  const f = Math.fround(v);
  return f <= v ? f : Math.fround(v - Math.abs(v) * 1.2e-7);
}
