/**
 * Slot-indexed counter storage: every host (IPv4 or IPv6) and every hostgroup total owns a
 * slot; all counters live in a few preallocated typed arrays that grow by doubling.
 *
 * Time is cut into intervals of one tick, numbered. Per slot and counter (layout.ts):
 *  - acc:  the slot's open interval t0[s] (float: long flows are spread fractionally);
 *  - ring: B integer buckets holding the B completed intervals t0-B .. t0-1, at position
 *          interval % B. When acc is closed its integer part goes in and the fraction is
 *          carried into the next interval, so window sums stay exact integers; a bucket
 *          saturates at 2^32-1 and the excess is carried forward;
 *  - sumB: the sum of those B completed buckets;
 *  - smooth (only with smoothing): EWMA of the per-second window rate.
 * acc and sumB of a counter sit side by side (cs[2c], cs[2c+1]) so what a threshold check
 * reads is one or two cache lines per slot.
 *
 * Rotation is lazy: a slot is moved to interval T (its acc closed, buckets older than T-B
 * dropped) by the first record it gets in T, while the hot path has its memory in cache
 * anyway, or by the tick/query that needs it. A tick then costs only the threshold checks
 * of the slots that got traffic (plus the hot ones), not a pass over every counter.
 * The window that ended with interval T, for a slot at t0 = T, is sumB - ring[T % B] + acc.
 */
import { NC } from './layout.js';

export const KIND_FREE = 0;
export const KIND_V4 = 4;
export const KIND_V6 = 6;
export const KIND_HOSTGROUP = 7;

export const F_WHITELISTED = 1;
export const F_HOT = 4;

const MAXU32 = 4294967295;
/** Words of per-slot metadata (see meta). */
export const META = 8;
const NC2 = 2 * NC;

export class CounterStore {
  /** Buckets per window. */
  readonly B: number;
  cap = 0;
  /** Slots handed out so far (high-water mark); free slots are reused first. */
  used = 0;
  live = 0;
  /** acc and sumB interleaved: cs[s*2NC + 2c] = acc, cs[s*2NC + 2c + 1] = sumB. */
  cs!: Float64Array;
  ring!: Uint32Array;
  smooth: Float64Array | null = null;
  /** Counters with anything in acc. */
  accMask!: Uint32Array;
  /** Per slot and bucket: counters non-zero in that bucket. */
  bmask!: Uint32Array;
  /**
   * Per slot, META words on one cache line: [open interval t0, interval of the last record,
   * interval in which it was last put on the tick's candidate list, unused, interval of the
   * last incoming / outgoing record offered to the baseline ring, interval of the ring's last
   * eviction (0: none yet), unused].
   */
  meta!: Uint32Array;
  kind!: Uint8Array;
  flags!: Uint8Array;
  hg!: Uint16Array;
  /** Address words (v4: word 3 holds the address). */
  addr!: Uint32Array;
  /** Hot-buffer id per slot, -1 when none. */
  hotBuf!: Int32Array;
  /** IPv4 only: index into the block table, -1 otherwise. */
  backref!: Int32Array;
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
    return NC2 * 8 + (this.smooth ? NC * 8 : 0) + NC * 4 * this.B + 4 + 4 * this.B + 4 * META + 1 + 1 + 2 + 16 + 4 + 4;
  }

  setSmoothing(on: boolean): void {
    if (on && !this.smooth) this.smooth = new Float64Array(this.cap * NC);
    if (!on) this.smooth = null;
  }

  private resize(cap: number): void {
    const B = this.B;
    const grow = <T extends Float64Array | Uint32Array | Uint16Array | Uint8Array | Int32Array>(
      old: T | undefined,
      make: (n: number) => T,
      per: number,
    ): T => {
      const n = make(cap * per);
      if (old) n.set(old);
      return n;
    };
    this.cs = grow(this.cs, (n) => new Float64Array(n), NC2);
    this.ring = grow(this.ring, (n) => new Uint32Array(n), NC * B);
    if (this.smooth) this.smooth = grow(this.smooth, (n) => new Float64Array(n), NC);
    this.accMask = grow(this.accMask, (n) => new Uint32Array(n), 1);
    this.bmask = grow(this.bmask, (n) => new Uint32Array(n), B);
    this.meta = grow(this.meta, (n) => new Uint32Array(n), META);
    this.kind = grow(this.kind, (n) => new Uint8Array(n), 1);
    this.flags = grow(this.flags, (n) => new Uint8Array(n), 1);
    this.hg = grow(this.hg, (n) => new Uint16Array(n), 1);
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
    this.hg[s] = hg;
    this.flags[s] = flags;
    this.meta.fill(0, META * s, META * s + META);
    this.meta[META * s] = tick;
    this.meta[META * s + 1] = tick;
    this.live++;
    return s;
  }

  /** Zero a slot and return it to the free list. The caller has removed it from its index. */
  release(s: number): void {
    const B = this.B;
    this.cs.fill(0, s * NC2, s * NC2 + NC2);
    this.ring.fill(0, s * NC * B, (s + 1) * NC * B);
    if (this.smooth) this.smooth.fill(0, s * NC, s * NC + NC);
    this.bmask.fill(0, s * B, s * B + B);
    this.accMask[s] = 0;
    this.kind[s] = KIND_FREE;
    this.flags[s] = 0;
    this.addr.fill(0, s * 4, s * 4 + 4);
    this.hotBuf[s] = -1;
    this.backref[s] = -1;
    this.live--;
    this.free.push(s);
  }

  /** Zero every window (used when windows are reset). */
  resetWindows(): void {
    this.cs.fill(0);
    this.ring.fill(0);
    this.smooth?.fill(0);
    this.accMask.fill(0);
    this.bmask.fill(0);
  }

  /** Does the slot hold any traffic (open interval or completed buckets)? */
  hasData(s: number): boolean {
    if (this.accMask[s] !== 0) return true;
    const B = this.B;
    for (let b = s * B, e = b + B; b < e; b++) if (this.bmask[b] !== 0) return true;
    return false;
  }

  /**
   * Move slot s to interval T (> t0): close acc into its bucket, drop the buckets older
   * than T-B. When hgSlot >= 0 nothing else happens (hostgroup totals are added on the hot
   * path). No-op when the slot is already at T.
   */
  rotate(s: number, T: number): void {
    const t0 = this.meta[META * s]!;
    if (T <= t0) return;
    const B = this.B;
    const cs = this.cs;
    const ring = this.ring;
    const bmask = this.bmask;
    const sbase = s * NC2;
    // 1. Drop intervals t0-B .. T-B-1 (at most B of them); the closing interval's position
    //    (t0 % B) is among them, so it is free for acc afterwards.
    const drops = T - t0 < B ? T - t0 : B;
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
        cs[sbase + 2 * c + 1] -= ring[rb + c]!;
        ring[rb + c] = 0;
      }
      bmask[bi] = 0;
    }
    // 2. Close acc (interval t0) into its bucket when still inside the window.
    let m = this.accMask[s]!;
    if (m !== 0) {
      let carry = 0;
      if (T - t0 <= B) {
        const bi = s * B + (t0 % B);
        const rb = bi * NC;
        let nm = 0;
        while (m !== 0) {
          const low = m & -m;
          const c = 31 - Math.clz32(low);
          m ^= low;
          const ai = sbase + 2 * c;
          const v = cs[ai]!;
          const iv = v >= MAXU32 ? MAXU32 : v > 0 ? Math.floor(v) : 0;
          const rem = v - iv;
          cs[ai] = rem;
          if (rem > 0) carry |= low;
          if (iv !== 0) {
            ring[rb + c] = iv;
            cs[ai + 1] += iv;
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
          cs[sbase + 2 * c] = 0;
        }
      }
      this.accMask[s] = carry;
    }
    this.meta[META * s] = T;
  }

  /** Open interval of a slot. */
  t0(s: number): number {
    return this.meta[META * s]!;
  }

  /** Interval of the slot's last record. */
  lastSeen(s: number): number {
    return this.meta[META * s + 1]!;
  }

  /** Counter c's window for a slot at t0 = T (the window that ends with interval T). */
  windowAt(s: number, c: number, T: number): number {
    const i = s * NC2 + 2 * c;
    return this.cs[i]! + this.cs[i + 1]! - this.ring[(s * this.B + (T % this.B)) * NC + c]!;
  }

  /** Counter c's open interval alone (for the tick rate). */
  accOf(s: number, c: number): number {
    return this.cs[s * NC2 + 2 * c]!;
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
