/**
 * Address helpers on numbers and bytes, shared by codecs and the hot path.
 * IPv4 is a uint32 number; IPv6 is 16 bytes. Text forms are canonical: dotted quad and
 * RFC 5952 (lower case, longest run of two or more zero groups compressed, first on ties).
 * Config-time parsing with full validation lives in src/config (values.ts).
 */
export function v4ToString(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

export function v4FromBytes(b: Uint8Array, off = 0): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

/** Strict dotted-quad parse (1-3 digits per part, no leading zeros, each <= 255); -1 when not IPv4. */
export function parseV4(s: string): number {
  let v = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      v = v * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1; // a leading zero
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else return -1;
  }
  if (digits === 0 || dots !== 3) return -1;
  return v * 256 + part;
}

/** RFC 5952 text of 16 bytes at off. */
export function v6ToString(b: Uint8Array, off = 0): string {
  const g: number[] = new Array(8);
  for (let i = 0; i < 8; i++) g[i] = (b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!;
  // IPv4-mapped ::ffff:a.b.c.d keeps its dotted tail (RFC 5952 §5).
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${v4ToString(v4FromBytes(b, off + 12))}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (x: number) => x.toString(16);
  if (bestStart < 0) return g.map(hex).join(':');
  const head = g.slice(0, bestStart).map(hex).join(':');
  const tail = g
    .slice(bestStart + bestLen)
    .map(hex)
    .join(':');
  return `${head}::${tail}`;
}

/** RFC 5952 text of an IPv6 address held as four big-endian 32-bit words at off. */
export function v6WordsToString(words: ArrayLike<number>, off = 0): string {
  const b = new Uint8Array(16);
  for (let w = 0; w < 4; w++) {
    const x = words[off + w]!;
    b[w * 4] = x >>> 24;
    b[w * 4 + 1] = (x >>> 16) & 255;
    b[w * 4 + 2] = (x >>> 8) & 255;
    b[w * 4 + 3] = x & 255;
  }
  return v6ToString(b);
}

/** Parse IPv6 text (with optional embedded IPv4 tail) into 16 bytes; null when invalid. */
export function parseV6(s: string): Uint8Array | null {
  if (s.length === 0 || s.length > 45) return null;
  let tail4: number | null = null;
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.') >= 0) {
    tail4 = parseV4(s.slice(lastColon + 1));
    if (tail4 < 0) return null;
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const dbl = s.indexOf('::');
  if (dbl !== s.lastIndexOf('::')) return null;
  const parseGroups = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    for (const x of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(x)) return null;
      out.push(parseInt(x, 16));
    }
    return out;
  };
  let groups: number[];
  if (dbl >= 0) {
    const a = parseGroups(s.slice(0, dbl));
    const b = parseGroups(s.slice(dbl + 2));
    if (!a || !b || a.length + b.length > 7) return null;
    groups = [...a, ...new Array(8 - a.length - b.length).fill(0), ...b];
  } else {
    const a = parseGroups(s);
    if (a?.length !== 8) return null;
    groups = a;
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = groups[i]! >> 8;
    out[2 * i + 1] = groups[i]! & 255;
  }
  if (tail4 !== null) {
    out[12] = tail4 >>> 24;
    out[13] = (tail4 >>> 16) & 255;
    out[14] = (tail4 >>> 8) & 255;
    out[15] = tail4 & 255;
  }
  return out;
}

/** Parsed address: family and bytes (4 or 16). */
export interface Addr {
  family: 4 | 6;
  bytes: Uint8Array;
}

export function parseAddr(s: string): Addr | null {
  const v4 = parseV4(s);
  if (v4 >= 0)
    return { family: 4, bytes: new Uint8Array([v4 >>> 24, (v4 >>> 16) & 255, (v4 >>> 8) & 255, v4 & 255]) };
  const v6 = parseV6(s);
  return v6 ? { family: 6, bytes: v6 } : null;
}

export function addrToString(a: Addr): string {
  return a.family === 4 ? v4ToString(v4FromBytes(a.bytes)) : v6ToString(a.bytes);
}

/** A prefix as family, network bytes (host bits zero) and length. */
export interface Prefix {
  family: 4 | 6;
  bytes: Uint8Array;
  len: number;
}

/** Bits in an address of the family: a host route's length (/32, /128). */
export function addrBits(family: 4 | 6): number {
  return family === 4 ? 32 : 128;
}

export function prefixToString(p: Prefix): string {
  return `${addrToString({ family: p.family, bytes: p.bytes })}/${p.len}`;
}

/** True when addr (same family) lies inside prefix. */
export function prefixContains(p: Prefix, addr: Uint8Array): boolean {
  const full = p.len >> 3;
  for (let i = 0; i < full; i++) if (p.bytes[i] !== addr[i]) return false;
  const rem = p.len & 7;
  if (rem === 0) return true;
  const mask = (0xff << (8 - rem)) & 0xff;
  return (p.bytes[full]! & mask) === (addr[full]! & mask);
}

/** Mask addr to len bits (a new array). */
export function maskBytes(addr: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(addr.length);
  const full = len >> 3;
  out.set(addr.subarray(0, full));
  const rem = len & 7;
  if (rem && full < addr.length) out[full] = addr[full]! & ((0xff << (8 - rem)) & 0xff);
  return out;
}

/**
 * A socket address as text with an IPv4-mapped IPv6 address (RFC 4291 §2.5.5.2,
 * `::ffff:a.b.c.d`, what dual-stack sockets report for IPv4 peers) reduced to its IPv4
 * text; anything else unchanged. The one place the daemon unmaps socket addresses.
 */
export function unmapV4(text: string): string {
  return text.length > 7 && text.startsWith('::ffff:') && text.includes('.') ? text.slice(7) : text;
}

/** 127.0.0.0/8, ::1, their IPv4-mapped forms, and the name localhost. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const h = unmapV4(host);
  const a = parseAddr(h);
  if (!a) return false;
  if (a.family === 4) return a.bytes[0] === 127;
  return a.bytes.every((b, i) => (i === 15 ? b === 1 : b === 0));
}
