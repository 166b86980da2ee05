/**
 * Longest-prefix match on numbers, for the capture hot path (one lookup per flow record).
 *
 * IPv4: a DIR-16-8-8 multibit trie (Gupta/McKeown style controlled prefix expansion): a
 * 65536-slot first level indexed by the top 16 bits, then 256-slot chunks for bits 16-23
 * and 24-31, so a lookup is at most three array reads.
 * IPv6: the prefixes are flattened at build time into disjoint address ranges, each owned
 * by its most specific prefix; a lookup is a binary search over the range starts kept as
 * four uint32 words each (no strings, no BigInt on the lookup path). With a few IPv6
 * prefixes only (the usual config: a handful of networks) a scan of them, most specific
 * first, is faster than the search (measured: 2 prefixes, ~1.4x), so up to LINEAR6 they are
 * scanned instead.
 * A family with no prefixes shares one read-only first level (so a whitelist with no IPv4
 * entries costs no 256 KiB of zeros per config).
 */
import type { Prefix } from '../wire/addr.js';

/** IPv4 first level with no prefix in it (every slot 0 = no match). Never written. */
const EMPTY_L1 = new Int32Array(65536);
/** first6 for the single range [::, no match]: every bucket but 0 starts past it. Never written. */
const EMPTY_FIRST6 = new Uint32Array(65537).fill(1, 1);
/** Up to this many IPv6 prefixes, index6w scans them instead of searching the ranges. */
const LINEAR6 = 8;

export class PrefixTable<V> {
  private readonly values: V[] = [];
  // IPv4 trie. Slot encoding: 0 = no match, k > 0 = values[k - 1], -c = chunk c.
  private readonly l1: Int32Array;
  private pool = new Int32Array(256);
  private chunks = 1; // chunk 0 unused so that -0 never names a chunk
  // IPv6 ranges: starts6[4i..4i+3] (big-endian words), vals6[i] = value index or -1.
  private readonly starts6: Uint32Array;
  private readonly vals6: Int32Array;
  // first6[h] = index of the first range whose start has top 16 bits >= h: narrows the search.
  private readonly first6: Uint32Array;
  // Few IPv6 prefixes: per prefix 4 network words then 4 mask words, most specific first; null = search.
  private readonly lin6: Uint32Array | null;
  private readonly lin6Idx: Int32Array;
  readonly size: number;

  /** Build from (prefix, value) pairs; for the same prefix given twice the later one wins. */
  constructor(entries: Iterable<readonly [Prefix, V]>) {
    const v4: { addr: number; len: number; idx: number }[] = [];
    const v6: { start: bigint; end: bigint; len: number; idx: number }[] = [];
    const seen4 = new Map<string, number>();
    const seen6 = new Map<string, number>();
    for (const [p, v] of entries) {
      const idx = this.values.push(v) - 1;
      if (p.family === 4) {
        const addr = ((p.bytes[0]! << 24) | (p.bytes[1]! << 16) | (p.bytes[2]! << 8) | p.bytes[3]!) >>> 0;
        const key = `${addr}/${p.len}`;
        const at = seen4.get(key);
        if (at !== undefined) v4[at]!.idx = idx;
        else seen4.set(key, v4.push({ addr: p.len === 0 ? 0 : addr, len: p.len, idx }) - 1);
      } else {
        let start = 0n;
        for (let i = 0; i < 16; i++) start = (start << 8n) | BigInt(p.bytes[i]!);
        const end = start | ((1n << BigInt(128 - p.len)) - 1n);
        const key = `${start}/${p.len}`;
        const at = seen6.get(key);
        if (at !== undefined) v6[at]!.idx = idx;
        else seen6.set(key, v6.push({ start, end, len: p.len, idx }) - 1);
      }
    }
    this.size = v4.length + v6.length;
    this.l1 = v4.length ? new Int32Array(65536) : EMPTY_L1;
    // Shorter prefixes first: longer ones then overwrite the slots they cover.
    v4.sort((a, b) => a.len - b.len);
    for (const e of v4) this.insert4(e.addr, e.len, e.idx + 1);

    v6.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.len - b.len));
    const starts: bigint[] = [];
    const vals: number[] = [];
    const emit = (start: bigint, val: number) => {
      const n = starts.length;
      if (n && starts[n - 1] === start) {
        vals[n - 1] = val; // a zero-width range: replace it
        if (n > 1 && vals[n - 2] === val) {
          starts.pop();
          vals.pop();
        }
        return;
      }
      if (n && vals[n - 1] === val) return;
      starts.push(start);
      vals.push(val);
    };
    const MAX = (1n << 128n) - 1n;
    emit(0n, -1);
    const stack: (typeof v6)[number][] = [];
    const closeUntil = (limit: bigint | null) => {
      while (stack.length && (limit === null || stack[stack.length - 1]!.end < limit)) {
        const t = stack.pop()!;
        if (t.end < MAX) emit(t.end + 1n, stack.length ? stack[stack.length - 1]!.idx : -1);
      }
    };
    for (const p of v6) {
      closeUntil(p.start);
      emit(p.start, p.idx);
      stack.push(p);
    }
    closeUntil(null);
    this.starts6 = new Uint32Array(starts.length * 4);
    this.vals6 = Int32Array.from(vals);
    starts.forEach((s, i) => {
      for (let w = 0; w < 4; w++) this.starts6[i * 4 + w] = Number((s >> BigInt(96 - 32 * w)) & 0xffffffffn);
    });
    const few = v6.length <= LINEAR6 ? [...v6].sort((a, b) => b.len - a.len) : null;
    this.lin6 = few && new Uint32Array(few.length * 8);
    this.lin6Idx = Int32Array.from(few ?? [], (p) => p.idx);
    few?.forEach((p, i) => {
      for (let w = 0; w < 4; w++) {
        const bits = Math.max(0, Math.min(32, p.len - 32 * w));
        this.lin6![i * 8 + w] = Number((p.start >> BigInt(96 - 32 * w)) & 0xffffffffn);
        this.lin6![i * 8 + 4 + w] = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
      }
    });
    if (few) this.first6 = EMPTY_FIRST6;
    else {
      this.first6 = new Uint32Array(65537);
      for (let h = 0, j = 0; h <= 65536; h++) {
        while (j < starts.length && this.starts6[j * 4]! >>> 16 < h) j++;
        this.first6[h] = j;
      }
    }
  }

  private newChunk(fill: number): number {
    const c = this.chunks++;
    if ((c + 1) * 256 > this.pool.length) {
      const next = new Int32Array(this.pool.length * 2);
      next.set(this.pool);
      this.pool = next;
    }
    this.pool.fill(fill, c * 256, c * 256 + 256);
    return c;
  }

  private insert4(addr: number, len: number, enc: number): void {
    if (len <= 16) {
      const s = addr >>> 16;
      this.l1.fill(enc, s, s + (1 << (16 - len)));
      return;
    }
    const s1 = addr >>> 16;
    let e1 = this.l1[s1]!;
    if (e1 >= 0) {
      e1 = -this.newChunk(e1);
      this.l1[s1] = e1;
    }
    const base2 = -e1 * 256;
    const s2 = (addr >>> 8) & 255;
    if (len <= 24) {
      this.pool.fill(enc, base2 + s2, base2 + s2 + (1 << (24 - len)));
      return;
    }
    let e2 = this.pool[base2 + s2]!;
    if (e2 >= 0) {
      e2 = -this.newChunk(e2);
      this.pool[base2 + s2] = e2;
    }
    const base3 = -e2 * 256;
    const s3 = addr & 255;
    this.pool.fill(enc, base3 + s3, base3 + s3 + (1 << (32 - len)));
  }

  /** Index (in insertion order) of the most specific IPv4 match, or -1. */
  index4(addr: number): number {
    let e = this.l1[addr >>> 16]!;
    if (e < 0) {
      e = this.pool[(-e << 8) | ((addr >>> 8) & 255)]!;
      if (e < 0) e = this.pool[(-e << 8) | (addr & 255)]!;
    }
    return e - 1;
  }

  /** Most specific IPv4 match for a uint32 address. */
  lookup4(addr: number): V | undefined {
    const i = this.index4(addr);
    return i < 0 ? undefined : this.values[i];
  }

  /** Index of the most specific IPv6 match for the 16 bytes at off, or -1. */
  index6(b: Uint8Array, off = 0): number {
    return this.index6w(
      (b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!,
      (b[off + 4]! << 24) | (b[off + 5]! << 16) | (b[off + 6]! << 8) | b[off + 7]!,
      (b[off + 8]! << 24) | (b[off + 9]! << 16) | (b[off + 10]! << 8) | b[off + 11]!,
      (b[off + 12]! << 24) | (b[off + 13]! << 16) | (b[off + 14]! << 8) | b[off + 15]!,
    );
  }

  /**
   * index6 for an address given as four big-endian 32-bit words, signed or unsigned (the
   * detector keeps them in Int32/Uint32 arrays).
   */
  index6w(a0: number, a1: number, a2: number, a3: number): number {
    const lin = this.lin6;
    if (lin !== null) {
      for (let k = 0; k < lin.length; k += 8) {
        if (
          (a0 & lin[k + 4]!) >>> 0 === lin[k] &&
          (a1 & lin[k + 5]!) >>> 0 === lin[k + 1] &&
          (a2 & lin[k + 6]!) >>> 0 === lin[k + 2] &&
          (a3 & lin[k + 7]!) >>> 0 === lin[k + 3]
        )
          return this.lin6Idx[k >> 3]!;
      }
      return -1;
    }
    const w0 = a0 >>> 0;
    const w1 = a1 >>> 0;
    const w2 = a2 >>> 0;
    const w3 = a3 >>> 0;
    const st = this.starts6;
    // Last range whose start <= address (range 0 starts at ::). It is the last range
    // before the address's 16-bit bucket or one inside it.
    const h = w0 >>> 16;
    let lo = this.first6[h]!;
    if (lo > 0) lo--;
    let hi = this.first6[h + 1]! - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      const k = mid << 2;
      let le: boolean;
      if (st[k] !== w0) le = st[k]! < w0;
      else if (st[k + 1] !== w1) le = st[k + 1]! < w1;
      else if (st[k + 2] !== w2) le = st[k + 2]! < w2;
      else le = st[k + 3]! <= w3;
      if (le) lo = mid;
      else hi = mid - 1;
    }
    return this.vals6[lo]!;
  }

  /** Most specific IPv6 match for the 16 bytes at off. */
  lookup6(b: Uint8Array, off = 0): V | undefined {
    const i = this.index6(b, off);
    return i < 0 ? undefined : this.values[i];
  }

  /** Either family by byte length (4 or 16): convenience for non-hot paths. */
  lookup(bytes: Uint8Array): V | undefined {
    if (bytes.length === 4)
      return this.lookup4(((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0);
    return this.lookup6(bytes, 0);
  }
}
