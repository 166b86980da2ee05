/**
 * Address -> slot indexes for the hot path, and the policy answers (monitored?, hostgroup,
 * whitelisted) they cache. The answers come from the config room's Classifier
 * (config/classifier.ts), the one policy lookup every room uses.
 *
 * IPv4: a /16 table says whether any monitored prefix touches the /16; a lazily allocated
 * chunk of 256 entries per such /16 maps each /24 to a block. A block is created on the
 * first record for that /24 and holds, per address, the slot (or "monitored, no slot yet" /
 * "not monitored"), the hostgroup and the whitelist flag, all resolved once by longest
 * prefix match at block creation. So the per-record cost is three typed-array reads and
 * a /8 costs memory only for /24s that see traffic.
 *
 * IPv6: an open-addressing hash table (linear probing, backward-shift deletion) from the
 * four address words to a slot; the policy for a new address is resolved once by LPM.
 */
import type { Classifier } from '../config/classifier.js';

export const NOT_MONITORED = -1;
const NO_SLOT = -2;
export const HG_NONE = 0xffff;

/** IPv4 /16 -> /24 -> block table. */
export class V4Index {
  /** Per /16: -1 untouched by monitored space, 0 touched but no chunk yet, >0 chunk id + 1. */
  top = new Int32Array(65536);
  /** Chunks of 256 per /16: 0 unexamined, -1 no monitored address, >0 block id + 1. */
  mid = new Int32Array(0);
  private chunks = 0;
  /** Per block: its /24 (address >>> 8). */
  blockNet = new Uint32Array(0);
  blocks = 0;
  /** Per block and address: slot, or NO_SLOT / NOT_MONITORED. */
  slot = new Int32Array(0);
  hg = new Uint16Array(0);
  wl = new Uint8Array(0);

  constructor(private policy: Classifier) {
    this.applyTop();
  }

  private applyTop(): void {
    for (let i = 0; i < 65536; i++) {
      if (this.policy.touch16[i] === 0) this.top[i] = -1;
      else if (this.top[i]! < 0) this.top[i] = 0;
    }
  }

  /** Block id + 1 for a /24 (allocating), or -1 when none of its addresses is monitored. */
  block(net24: number): number {
    const hi = net24 >>> 8;
    let t = this.top[hi]!;
    if (t < 0) return -1;
    if (t === 0) {
      t = ++this.chunks;
      if (this.mid.length < t * 256) {
        const m = new Int32Array(Math.max(256 * 16, t * 256 * 2));
        m.set(this.mid);
        this.mid = m;
      }
      this.top[hi] = t;
    }
    const mi = (t - 1) * 256 + (net24 & 255);
    const v = this.mid[mi]!;
    if (v !== 0) return v;
    const id = this.makeBlock(net24);
    this.mid[mi] = id;
    return id;
  }

  private makeBlock(net24: number): number {
    const base = (net24 << 8) >>> 0;
    const pol = this.policy;
    // Only the prefixes that overlap this /24 matter for its addresses.
    let any = false;
    const slotTmp = new Int32Array(256);
    const hgTmp = new Uint16Array(256);
    const wlTmp = new Uint8Array(256);
    for (let i = 0; i < 256; i++) {
      const a = (base | i) >>> 0;
      const g = pol.group4(a);
      if (g >= 0) {
        any = true;
        slotTmp[i] = NO_SLOT;
        hgTmp[i] = g;
        wlTmp[i] = pol.whitelisted4(a) ? 1 : 0;
      } else {
        slotTmp[i] = NOT_MONITORED;
        hgTmp[i] = HG_NONE;
      }
    }
    if (!any) return -1;
    const id = this.blocks++;
    if (this.blockNet.length <= id) {
      const n = Math.max(64, this.blockNet.length * 2);
      const bn = new Uint32Array(n);
      bn.set(this.blockNet);
      this.blockNet = bn;
      const s = new Int32Array(n * 256);
      s.set(this.slot);
      this.slot = s;
      const h = new Uint16Array(n * 256);
      h.set(this.hg);
      this.hg = h;
      const w = new Uint8Array(n * 256);
      w.set(this.wl);
      this.wl = w;
    }
    this.blockNet[id] = net24;
    this.slot.set(slotTmp, id * 256);
    this.hg.set(hgTmp, id * 256);
    this.wl.set(wlTmp, id * 256);
    return id + 1;
  }

  /** Entry index (block * 256 + low byte) for an address, or -1 when not monitored; no allocation of slots. */
  entry(a: number): number {
    const b = this.block(a >>> 8);
    if (b < 0) return -1;
    const e = (b - 1) * 256 + (a & 255);
    return this.slot[e] === NOT_MONITORED ? -1 : e;
  }

  /** Re-resolve every existing block against a new policy. Returns entries whose slot lost monitoring. */
  rebuild(policy: Classifier): number[] {
    this.policy = policy;
    this.applyTop();
    // /24s found empty under the old policy may be monitored now.
    for (let i = 0; i < this.mid.length; i++) if (this.mid[i] === -1) this.mid[i] = 0;
    const lost: number[] = [];
    for (let id = 0; id < this.blocks; id++) {
      const base = (this.blockNet[id]! << 8) >>> 0;
      for (let i = 0; i < 256; i++) {
        const a = (base | i) >>> 0;
        const e = id * 256 + i;
        const g = policy.group4(a);
        if (g >= 0) {
          if (this.slot[e] === NOT_MONITORED) this.slot[e] = NO_SLOT;
          this.hg[e] = g;
          this.wl[e] = policy.whitelisted4(a) ? 1 : 0;
        } else {
          if (this.slot[e]! >= 0) lost.push(e);
          else this.slot[e] = NOT_MONITORED;
          this.hg[e] = HG_NONE;
          this.wl[e] = 0;
        }
      }
    }
    // /16s no longer touched by monitored space keep their chunks: entries say not monitored.
    return lost;
  }
}

/**
 * The four words multiplied in parallel (not a serial chain: shorter latency on the hot
 * path), then one more multiply and a fold so high bits reach the table index. Exported
 * for Ingest, which inlines the lookup.
 */
export function hash6(w0: number, w1: number, w2: number, w3: number): number {
  const h = Math.imul(
    w0 ^ Math.imul(w1, 0x85ebca6b) ^ Math.imul(w2, 0xc2b2ae35) ^ Math.imul(w3, 0x27d4eb2f),
    0x9e3779b1,
  );
  return (h ^ (h >>> 15)) >>> 0;
}

/**
 * IPv6 address -> slot: open addressing (linear probing, backward-shift deletion). An entry
 * is [slot + 1 (0: empty), 32-bit hash], 8 bytes, so the table stays small enough for the
 * cache; a hash match is verified against the address words in the slot's own block (which
 * the record is about to update anyway): one cache miss per lookup instead of two.
 */
export class V6Index {
  tab: Uint32Array;
  /** Entries - 1 (a power of two minus one). */
  mask: number;
  size = 0;

  /** words[s * stride + off .. +3] hold slot s's address (the counter store's blocks). */
  constructor(
    initial: number,
    private readonly stride: number,
    private readonly off: number,
  ) {
    let n = 16;
    while (n < initial * 2) n <<= 1;
    this.tab = new Uint32Array(n * 2);
    this.mask = n - 1;
  }

  find(words: Uint32Array, w0: number, w1: number, w2: number, w3: number): number {
    const tab = this.tab;
    const mask = this.mask;
    const h = hash6(w0, w1, w2, w3);
    let i = h & mask;
    for (;;) {
      const e = tab[2 * i]!;
      if (e === 0) return -1;
      if (tab[2 * i + 1] === h) {
        const o = (e - 1) * this.stride + this.off;
        // Signed comparison: callers may pass the words signed or unsigned (same bits).
        if (
          (words[o]! | 0) === (w0 | 0) &&
          (words[o + 1]! | 0) === (w1 | 0) &&
          (words[o + 2]! | 0) === (w2 | 0) &&
          (words[o + 3]! | 0) === (w3 | 0)
        )
          return e - 1;
      }
      i = (i + 1) & mask;
    }
  }

  /** Add slot s, whose address is addr[4s .. 4s+3]. */
  insert(addr: Uint32Array, s: number): void {
    if ((this.size + 1) * 2 > this.mask + 1) this.grow();
    const o = s * 4;
    this.place(s + 1, hash6(addr[o]!, addr[o + 1]!, addr[o + 2]!, addr[o + 3]!));
    this.size++;
  }

  private place(e: number, h: number): void {
    const tab = this.tab;
    let i = h & this.mask;
    while (tab[2 * i] !== 0) i = (i + 1) & this.mask;
    tab[2 * i] = e;
    tab[2 * i + 1] = h;
  }

  private grow(): void {
    const old = this.tab;
    const n = (this.mask + 1) * 2;
    this.tab = new Uint32Array(n * 2);
    this.mask = n - 1;
    for (let o = 0; o < old.length; o += 2) if (old[o] !== 0) this.place(old[o]!, old[o + 1]!);
  }

  /** Remove slot s, whose address is addr[4s .. 4s+3] (backward-shift deletion). */
  remove(addr: Uint32Array, s: number): void {
    const tab = this.tab;
    const mask = this.mask;
    const a = s * 4;
    let i = hash6(addr[a]!, addr[a + 1]!, addr[a + 2]!, addr[a + 3]!) & mask;
    while (tab[2 * i] !== s + 1) {
      if (tab[2 * i] === 0) return;
      i = (i + 1) & mask;
    }
    let j = i;
    for (;;) {
      tab[2 * i] = 0;
      for (;;) {
        j = (j + 1) & mask;
        if (tab[2 * j] === 0) {
          this.size--;
          return;
        }
        const k = tab[2 * j + 1]! & mask;
        // Move entry j back to i unless its home k lies cyclically in (i, j].
        if (i <= j ? i < k && k <= j : i < k || k <= j) continue;
        tab[2 * i] = tab[2 * j]!;
        tab[2 * i + 1] = tab[2 * j + 1]!;
        i = j;
        break;
      }
    }
  }
}
