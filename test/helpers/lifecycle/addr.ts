/**
 * Address and prefix arithmetic of the lifecycle model, on text ("a.b.c.d", "a/len"):
 * tiny, slow where it does not matter, and independent of src/wire so that the model
 * does not share the implementation's bugs.
 */
import { ESC } from './world.js';

export function v4(ip: string): number | null {
  const p = ip.split('.');
  if (p.length !== 4) return null;
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

export function v6Words(ip: string): number[] | null {
  if (!ip.includes(':')) return null;
  const [head, tail] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail !== undefined ? 8 - h.length - t.length : 0;
  return [...h, ...Array(fill).fill('0'), ...t].map((x) => parseInt(x, 16));
}

const containsMemo = new Map<string, boolean>();

/** Does prefix `net` ("a/len") contain address `ip`? */
export function contains(net: string, ip: string): boolean {
  const k = `${net}|${ip}`;
  let v = containsMemo.get(k);
  if (v === undefined) {
    v = containsSlow(net, ip);
    containsMemo.set(k, v);
  }
  return v;
}

export function containsSlow(net: string, ip: string): boolean {
  const [addr, lenText] = net.split('/');
  const len = Number(lenText);
  const a4 = v4(addr!);
  const b4 = v4(ip);
  if (a4 !== null && b4 !== null) return len === 0 || a4 >>> (32 - len) === b4 >>> (32 - len);
  const a6 = v6Words(addr!);
  const b6 = v6Words(ip);
  if (!a6 || !b6) return false;
  for (let bit = 0; bit < len; bit++) {
    const w = bit >> 4;
    const m = 0x8000 >> (bit & 15);
    if ((a6[w]! & m) !== (b6[w]! & m)) return false;
  }
  return true;
}

export function covering(ip: string): string {
  const a = v4(ip);
  if (a !== null) {
    const n = (a & 0xffffff00) >>> 0;
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.0/${ESC.prefixV4}`;
  }
  const w = v6Words(ip)!;
  const keep = w.slice(0, 3).map((x) => x.toString(16));
  while (keep.length && keep[keep.length - 1] === '0') keep.pop();
  return `${keep.join(':')}::/${ESC.prefixV6}`;
}

const sortKeys = new Map<string, string>();

export function sortKey(ip: string): string {
  let k = sortKeys.get(ip);
  if (k === undefined) {
    k = sortKeySlow(ip);
    sortKeys.set(ip, k);
  }
  return k;
}

export function sortKeySlow(ip: string): string {
  const a = v4(ip);
  if (a !== null) return `4 ${a.toString(16).padStart(8, '0')}`;
  return `6 ${v6Words(ip)!
    .map((x) => x.toString(16).padStart(4, '0'))
    .join('')}`;
}

/** An address as bits ('0'/'1' string), and back to canonical prefix text (RFC 5952 for IPv6). */
export function bitsOf(ip: string): string {
  const a = v4(ip);
  if (a !== null) return a.toString(2).padStart(32, '0');
  return v6Words(ip)!
    .map((w) => w.toString(2).padStart(16, '0'))
    .join('');
}

export function prefixText(bits: string, len: number): string {
  const full = bits.slice(0, len).padEnd(bits.length, '0');
  if (bits.length === 32)
    return `${[0, 8, 16, 24].map((i) => parseInt(full.slice(i, i + 8), 2)).join('.')}/${len}`;
  const w = Array.from({ length: 8 }, (_, i) => parseInt(full.slice(i * 16, i * 16 + 16), 2));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = w.map((x) => x.toString(16));
  const text =
    best < 0 ? hex.join(':') : `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
  return `${text}/${len}`;
}

export function prefixLen(net: string): number {
  return Number(net.split('/')[1]);
}

export function prefixAddr(net: string): string {
  return net.split('/')[0]!;
}

/** Is prefix `inner` inside prefix `outer`? */
export function inside(inner: string, outer: string): boolean {
  return prefixLen(outer) <= prefixLen(inner) && contains(outer, prefixAddr(inner));
}

export function overlaps(a: string, b: string): boolean {
  return inside(a, b) || inside(b, a);
}

/** The tightest prefix holding every address (all of one family). */
export function tightest(ips: readonly string[]): string {
  const bs = ips.map(bitsOf);
  let len = 0;
  while (len < bs[0]!.length && bs.every((b) => b[len] === bs[0]![len])) len++;
  return prefixText(bs[0]!, len);
}

export function size(net: string): number {
  return 2 ** ((net.includes(':') ? 128 : 32) - prefixLen(net));
}

/** `net` minus the prefixes `holes`, as the fewest prefixes, in address order. */
export function subtract(net: string, holes: readonly string[]): string[] {
  const hit = holes.filter((h) => overlaps(h, net));
  if (hit.length === 0) return [net];
  if (hit.some((h) => inside(net, h))) return [];
  const bits = bitsOf(prefixAddr(net));
  const len = prefixLen(net);
  const lo = prefixText(`${bits.slice(0, len)}0`.padEnd(bits.length, '0'), len + 1);
  const hi = prefixText(`${bits.slice(0, len)}1`.padEnd(bits.length, '0'), len + 1);
  return [...subtract(lo, hit), ...subtract(hi, hit)];
}
