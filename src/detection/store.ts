/**
 * Slot-indexed counter storage: every host (IPv4 or IPv6) and every hostgroup total owns a
 * slot; all counters live in a few preallocated typed arrays that grow by doubling.
 *
 * Per slot and counter (layout.ts, NC = 30):
 *  - acc:  what arrived since the last tick (float: long flows are spread fractionally);
 *  - ring: one integer bucket per tick of the window (B buckets). The integer part of acc is
 *          moved in on the tick and the fraction carried, so window sums stay exact integers;
 *          a bucket saturates at 2^32-1 and the excess is carried to later ticks;
 *  - sum:  the running window sum (sum of the ring), updated by difference on the tick;
 *  - smooth (only when smoothing is on): EWMA of the per-second window rate.
 * Bit masks say which counters are non-zero in acc and in each bucket, so a tick touches
 * only counters that change; the active list holds slots with anything in their window.
 */
import { NC } from './layout.js';

export const KIND_FREE = 0;
export const KIND_V4 = 4;
export const KIND_V6 = 6;
export const KIND_HOSTGROUP = 7;

export const F_WHITELISTED = 1;
export const F_ACTIVE = 2;
export const F_HOT = 4;

const MAXU32 = 4294967295;

export class CounterStore {
  /** Buckets per window. */
  readonly B: number;
  cap = 0;
  /** Slots handed out so far (high-water mark); free slots are reused first. */
  used = 0;
  live = 0;
  acc!: Float64Array;
  ring!: Uint32Array;
  sum!: Float64Array;
  smooth: Float64Array | null = null;
  accMask!: Uint32Array;
  bmask!: Uint32Array;
  /** Number of non-zero buckets per slot. */
  nz!: Uint16Array;
  kind!: Uint8Array;
  flags!: Uint8Array;
  hg!: Uint16Array;
  /** Address words (v4: word 3 holds the address). */
  addr!: Uint32Array;
  /** Tick number of the last record (for idle eviction). */
  lastSeen!: Uint32Array;
  /** Hot-buffer id per slot, -1 when none. */
  hotBuf!: Int32Array;
  /** IPv4 only: index into the block table (for releasing), -1 otherwise. */
  backref!: Int32Array;

  active: Int32Array;
  activeLen = 0;
  private free: number[] = [];
  /** Slots whose window changed on the last roll. */
  changed: Int32Array;
  changedLen = 0;

  private readonly onGrow: (cap: number) => void;

  constructor(B: number, smoothing: boolean, initialCap: number, onGrow: (cap: number) => void) {
    this.B = B;
    this.onGrow = onGrow;
    this.active = new Int32Array(initialCap);
    this.changed = new Int32Array(initialCap);
    this.resize(initialCap);
    if (smoothing) this.smooth = new Float64Array(this.cap * NC);
  }

  /** Bytes of storage per slot (for the memory figure). */
  bytesPerSlot(): number {
    return NC * 8 * (this.smooth ? 3 : 2) + NC * 4 * this.B + 4 + 4 * this.B + 2 + 1 + 1 + 2 + 16 + 4 + 4 + 4 + 8;
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
    this.acc = grow(this.acc, (n) => new Float64Array(n), NC);
    this.ring = grow(this.ring, (n) => new Uint32Array(n), NC * B);
    this.sum = grow(this.sum, (n) => new Float64Array(n), NC);
    if (this.smooth) this.smooth = grow(this.smooth, (n) => new Float64Array(n), NC);
    this.accMask = grow(this.accMask, (n) => new Uint32Array(n), 1);
    this.bmask = grow(this.bmask, (n) => new Uint32Array(n), B);
    this.nz = grow(this.nz, (n) => new Uint16Array(n), 1);
    this.kind = grow(this.kind, (n) => new Uint8Array(n), 1);
    this.flags = grow(this.flags, (n) => new Uint8Array(n), 1);
    this.hg = grow(this.hg, (n) => new Uint16Array(n), 1);
    this.addr = grow(this.addr, (n) => new Uint32Array(n), 4);
    this.lastSeen = grow(this.lastSeen, (n) => new Uint32Array(n), 1);
    const oldCap = this.cap;
    this.hotBuf = grow(this.hotBuf, (n) => new Int32Array(n), 1);
    this.hotBuf.fill(-1, oldCap);
    this.backref = grow(this.backref, (n) => new Int32Array(n), 1);
    this.backref.fill(-1, oldCap);
    if (this.active.length < cap) {
      const a = new Int32Array(cap);
      a.set(this.active);
      this.active = a;
      this.changed = new Int32Array(cap);
    }
    this.cap = cap;
  }

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
    this.lastSeen[s] = tick;
    this.live++;
    return s;
  }

  /** Zero a slot and return it to the free list. The caller has removed it from its index. */
  release(s: number): void {
    if (this.flags[s]! & F_ACTIVE) this.removeActive(s);
    const B = this.B;
    this.acc.fill(0, s * NC, s * NC + NC);
    this.ring.fill(0, s * NC * B, (s + 1) * NC * B);
    this.sum.fill(0, s * NC, s * NC + NC);
    if (this.smooth) this.smooth.fill(0, s * NC, s * NC + NC);
    this.bmask.fill(0, s * B, s * B + B);
    this.accMask[s] = 0;
    this.nz[s] = 0;
    this.kind[s] = KIND_FREE;
    this.flags[s] = 0;
    this.addr.fill(0, s * 4, s * 4 + 4);
    this.hotBuf[s] = -1;
    this.backref[s] = -1;
    this.live--;
    this.free.push(s);
  }

  private removeActive(s: number): void {
    const a = this.active;
    for (let i = 0; i < this.activeLen; i++) {
      if (a[i] === s) {
        a[i] = a[--this.activeLen]!;
        break;
      }
    }
    this.flags[s] = this.flags[s]! & ~F_ACTIVE;
  }

  /** Put a slot on the active list (the hot path calls this on a slot's first record). */
  markActive(s: number): void {
    this.flags[s] = this.flags[s]! | F_ACTIVE;
    this.active[this.activeLen++] = s;
  }

  /** Zero every window (used when tick or window length changes). */
  resetWindows(): void {
    this.acc.fill(0);
    this.ring.fill(0);
    this.sum.fill(0);
    this.smooth?.fill(0);
    this.accMask.fill(0);
    this.bmask.fill(0);
    this.nz.fill(0);
    for (let i = 0; i < this.activeLen; i++) this.flags[this.active[i]!] = this.flags[this.active[i]!]! & ~F_ACTIVE;
    this.activeLen = 0;
  }

  /**
   * Move one slot's acc into bucket b (overwriting the bucket that leaves the window).
   * When hgSlot >= 0 the integer amounts are also added to that slot's acc (hostgroup
   * totals). Returns true when the slot's window changed.
   */
  rollSlot(s: number, b: number, hgSlot: number): boolean {
    const B = this.B;
    const bi = s * B + b;
    const leaving = this.bmask[bi]!;
    let m = this.accMask[s]! | leaving;
    if (m === 0) return false;
    const acc = this.acc;
    const ring = this.ring;
    const sum = this.sum;
    const base = s * NC;
    const rbase = bi * NC;
    const hbase = hgSlot * NC;
    let carry = 0;
    let nm = 0;
    let hmask = 0;
    while (m !== 0) {
      const low = m & -m;
      const c = 31 - Math.clz32(low);
      m ^= low;
      const i = base + c;
      const v = acc[i]!;
      const iv = v >= MAXU32 ? MAXU32 : v > 0 ? Math.floor(v) : 0;
      const rem = v - iv;
      acc[i] = rem;
      if (rem > 0) carry |= low;
      const old = ring[rbase + c]!;
      ring[rbase + c] = iv;
      sum[i] = sum[i]! + iv - old;
      if (iv !== 0) {
        nm |= low;
        if (hgSlot >= 0) {
          acc[hbase + c] = acc[hbase + c]! + iv;
          hmask |= low;
        }
      }
    }
    this.accMask[s] = carry;
    this.bmask[bi] = nm;
    if (leaving !== 0 && nm === 0) this.nz[s] = this.nz[s]! - 1;
    else if (leaving === 0 && nm !== 0) this.nz[s] = this.nz[s]! + 1;
    if (hmask !== 0) this.accMask[hgSlot] = this.accMask[hgSlot]! | hmask;
    return true;
  }

  /** EWMA step for one slot: smooth += alpha * (rate - smooth). Returns the largest value. */
  smoothSlot(s: number, alpha: number, perSecond: number): number {
    const sm = this.smooth!;
    const sum = this.sum;
    let max = 0;
    const base = s * NC;
    for (let c = 0; c < NC; c++) {
      const i = base + c;
      const v = sm[i]! + alpha * (sum[i]! * perSecond - sm[i]!);
      // Flush tiny residues so idle slots can leave the active list.
      sm[i] = v < 1e-6 ? 0 : v;
      if (v > max) max = v;
    }
    return max;
  }

  /**
   * Roll every active slot into bucket b; fill `changed` with the slots whose window
   * changed, and drop idle slots from the active list. hgSlotOf maps a host's hostgroup
   * index to its total slot.
   */
  rollActive(b: number, hgSlotOf: Int32Array, alpha: number, perSecond: number): void {
    const a = this.active;
    const flags = this.flags;
    const kind = this.kind;
    const hg = this.hg;
    let cl = 0;
    const smoothing = this.smooth !== null && alpha > 0;
    for (let i = this.activeLen - 1; i >= 0; i--) {
      const s = a[i]!;
      const k = kind[s]!;
      const hgSlot = k === KIND_HOSTGROUP ? -1 : hgSlotOf[hg[s]!]!;
      let changed = this.rollSlot(s, b, hgSlot);
      let smax = 0;
      if (smoothing) {
        smax = this.smoothSlot(s, alpha, perSecond);
        if (smax > 0) changed = true;
      }
      if (changed) this.changed[cl++] = s;
      if (this.nz[s] === 0 && this.accMask[s] === 0 && smax === 0) {
        flags[s] = flags[s]! & ~F_ACTIVE;
        a[i] = a[--this.activeLen]!;
      }
    }
    this.changedLen = cl;
  }
}
