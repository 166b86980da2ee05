/**
 * Address -> slot indexes for the hot path, and the policy lookups (monitored?, hostgroup,
 * whitelisted) they cache.
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
import type { Config, Hostgroup } from '../config/types.js';
import type { Prefix } from '../wire/addr.js';

export const NOT_MONITORED = -1;
export const NO_SLOT = -2;
export const HG_NONE = 0xffff;

/** A v4 prefix as (network, mask) numbers. */
interface P4 {
  net: number;
  mask: number;
  len: number;
  hg: number;
}
/** A v6 prefix as four (word, mask) pairs. */
interface P6 {
  w: Uint32Array;
  m: Uint32Array;
  len: number;
  hg: number;
}

function p4(p: Prefix, hg: number): P4 {
  const b = p.bytes;
  const net = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  const mask = p.len === 0 ? 0 : (0xffffffff << (32 - p.len)) >>> 0;
  return { net: (net & mask) >>> 0, mask, len: p.len, hg };
}

function p6(p: Prefix, hg: number): P6 {
  const w = new Uint32Array(4);
  const m = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, p.len - 32 * i));
    m[i] = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    const o = i * 4;
    w[i] = (((p.bytes[o]! << 24) | (p.bytes[o + 1]! << 16) | (p.bytes[o + 2]! << 8) | p.bytes[o + 3]!) & m[i]!) >>> 0;
  }
  return { w, m, len: p.len, hg };
}

function in6(p: P6, w0: number, w1: number, w2: number, w3: number): boolean {
  return (
    ((w0 & p.m[0]!) >>> 0) === p.w[0] &&
    ((w1 & p.m[1]!) >>> 0) === p.w[1] &&
    ((w2 & p.m[2]!) >>> 0) === p.w[2] &&
    ((w3 & p.m[3]!) >>> 0) === p.w[3]
  );
}

/** Index of the `default` hostgroup (config puts it first). */
export function defaultHostgroupIndex(hgs: readonly Hostgroup[]): number {
  const i = hgs.findIndex((h) => h.name === 'default');
  return i >= 0 ? i : 0;
}

/** Policy lookups compiled from a Config: monitored networks, hostgroup LPM, whitelist. */
export class Policy {
  readonly nets4: P4[] = [];
  readonly nets6: P6[] = [];
  readonly hg4: P4[] = [];
  readonly hg6: P6[] = [];
  readonly wl4: P4[] = [];
  readonly wl6: P6[] = [];
  readonly defaultHg: number;
  /** Per /16: 0 no monitored prefix touches it, 1 some does. */
  readonly touch16 = new Uint8Array(65536);
  /** Per first 16 bits of an IPv6 address: 1 when a monitored prefix may contain it. */
  readonly touch6 = new Uint8Array(65536);
  /** Per /16 for the whitelist: 0 none, 1 whole /16 whitelisted, 2 partly. */
  readonly wl16 = new Uint8Array(65536);

  constructor(cfg: Config) {
    this.defaultHg = defaultHostgroupIndex(cfg.hostgroups);
    for (const n of cfg.networks) {
      if (n.family === 4) this.nets4.push(p4(n, -1));
      else this.nets6.push(p6(n, -1));
    }
    cfg.hostgroups.forEach((h, i) => {
      for (const p of h.prefixes) {
        if (p.family === 4) this.hg4.push(p4(p, i));
        else this.hg6.push(p6(p, i));
      }
    });
    for (const w of cfg.whitelist) {
      if (w.family === 4) this.wl4.push(p4(w, -1));
      else this.wl6.push(p6(w, -1));
    }
    // Most specific first, so the first match is the longest.
    this.hg4.sort((a, b) => b.len - a.len);
    this.hg6.sort((a, b) => b.len - a.len);
    this.nets4.sort((a, b) => b.len - a.len);
    this.nets6.sort((a, b) => b.len - a.len);
    for (const n of this.nets4) mark16(this.touch16, n, 1);
    for (const n of this.nets6) {
      const first = n.w[0]! >>> 16;
      if (n.len >= 16) this.touch6[first] = 1;
      else this.touch6.fill(1, first, first + (1 << (16 - n.len)));
    }
    for (const w of this.wl4) {
      if (w.len >= 16) {
        const i = w.net >>> 16;
        if (this.wl16[i] !== 1) this.wl16[i] = w.len === 16 ? 1 : 2;
      } else mark16(this.wl16, w, 1);
    }
  }

  monitored4(a: number): boolean {
    for (const n of this.nets4) if (((a & n.mask) >>> 0) === n.net) return true;
    return false;
  }
  hostgroup4(a: number): number {
    for (const h of this.hg4) if (((a & h.mask) >>> 0) === h.net) return h.hg;
    return this.defaultHg;
  }
  whitelisted4(a: number): boolean {
    const t = this.wl16[a >>> 16]!;
    if (t === 0) return false;
    if (t === 1) return true;
    for (const w of this.wl4) if (((a & w.mask) >>> 0) === w.net) return true;
    return false;
  }
  /** The most specific monitored network containing a (text form for reports). */
  network4(a: number): P4 | null {
    for (const n of this.nets4) if (((a & n.mask) >>> 0) === n.net) return n;
    return null;
  }

  monitored6(w0: number, w1: number, w2: number, w3: number): boolean {
    const n = this.nets6;
    for (let i = 0; i < n.length; i++) if (in6(n[i]!, w0, w1, w2, w3)) return true;
    return false;
  }
  hostgroup6(w0: number, w1: number, w2: number, w3: number): number {
    for (const h of this.hg6) if (in6(h, w0, w1, w2, w3)) return h.hg;
    return this.defaultHg;
  }
  whitelisted6(w0: number, w1: number, w2: number, w3: number): boolean {
    const n = this.wl6;
    for (let i = 0; i < n.length; i++) if (in6(n[i]!, w0, w1, w2, w3)) return true;
    return false;
  }
  network6(w0: number, w1: number, w2: number, w3: number): P6 | null {
    for (const n of this.nets6) if (in6(n, w0, w1, w2, w3)) return n;
    return null;
  }
}

function mark16(t: Uint8Array, p: P4, v: number): void {
  if (p.len >= 16) {
    t[p.net >>> 16] = v;
    return;
  }
  const first = p.net >>> 16;
  const n = 1 << (16 - p.len);
  t.fill(v, first, first + n);
}

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

  constructor(private policy: Policy) {
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
      if (pol.monitored4(a)) {
        any = true;
        slotTmp[i] = NO_SLOT;
        hgTmp[i] = pol.hostgroup4(a);
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
  rebuild(policy: Policy): number[] {
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
        if (policy.monitored4(a)) {
          if (this.slot[e] === NOT_MONITORED) this.slot[e] = NO_SLOT;
          this.hg[e] = policy.hostgroup4(a);
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
  const h = Math.imul(w0 ^ Math.imul(w1, 0x85ebca6b) ^ Math.imul(w2, 0xc2b2ae35) ^ Math.imul(w3, 0x27d4eb2f), 0x9e3779b1);
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
  constructor(initial: number, private readonly stride: number, private readonly off: number) {
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
        if ((words[o]! | 0) === (w0 | 0) && (words[o + 1]! | 0) === (w1 | 0) && (words[o + 2]! | 0) === (w2 | 0) && (words[o + 3]! | 0) === (w3 | 0))
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
