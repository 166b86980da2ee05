/**
 * Pure parsers for the value types config files carry: durations, prefixes, addresses,
 * AS numbers, router ids and BGP communities (standard RFC 1997, large RFC 8092, extended
 * RFC 4360 / RFC 5668 / RFC 8955 §7). Each throws ValueError with an operator-readable
 * message (no location: the schema adds file:line:col). Used by the schema and by modules
 * that turn community text into wire bytes.
 */
import {
  addrBits,
  parseV4,
  parseV6,
  prefixToString,
  v4ToString,
  v6ToString,
  type Prefix,
} from '../wire/addr.js';

export class ValueError extends Error {
  override name = 'ValueError';
}

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(v));

// ---------------------------------------------------------------- durations

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Duration in milliseconds. Strings: one or more <number><unit> parts with units ms, s, m,
 * h, d ("500ms", "10s", "1h30m"); a bare number (YAML number or numeric string) is seconds.
 */
export function parseDuration(v: string | number): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0)
      throw new ValueError(`invalid duration ${show(v)}: must be a non-negative number of seconds`);
    return Math.round(v * 1000);
  }
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    const m = re.exec(s);
    if (m === null) break;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (s.length === 0 || pos !== s.length) {
    throw new ValueError(
      `invalid duration ${show(v)} (use e.g. 500ms, 10s, 30m, 1h, or a number of seconds)`,
    );
  }
  return Math.round(total);
}

/** Shortest text for a duration in ms that parseDuration reads back ("30m", "1500ms"). */
export function formatDuration(ms: number): string {
  for (const [u, f] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= f && ms % f === 0) return `${ms / f}${u}`;
  }
  return `${ms}ms`;
}

// ---------------------------------------------------------------- addresses and prefixes

/** An IP address of either (or the given) family, in canonical text. */
export function parseIp(s: string, family?: 4 | 6): { family: 4 | 6; bytes: Uint8Array; text: string } {
  if (typeof s !== 'string') throw new ValueError(`expected an IP address, got ${show(s)}`);
  const v4 = parseV4(s);
  if (v4 >= 0) {
    if (family === 6) throw new ValueError(`expected an IPv6 address, got IPv4 address ${s}`);
    return { family: 4, bytes: u32Bytes(v4), text: v4ToString(v4) };
  }
  const v6 = parseV6(s);
  if (v6) {
    if (family === 4) throw new ValueError(`expected an IPv4 address, got IPv6 address ${s}`);
    return { family: 6, bytes: v6, text: v6ToString(v6) };
  }
  const what = family === 4 ? 'an IPv4 address' : family === 6 ? 'an IPv6 address' : 'an IP address';
  throw new ValueError(`expected ${what}, got ${show(s)}`);
}

function u32Bytes(v: number): Uint8Array {
  return new Uint8Array([v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
}

/**
 * "addr/len" (or a bare address = host route) into a Prefix. Host bits must be zero:
 * "203.0.113.1/24" is refused with the network it probably meant.
 */
/** parsePrefix for runtime input (API, journal): the prefix, or the reason it is refused. */
export function tryParsePrefix(text: string): Prefix | string {
  try {
    return parsePrefix(text.trim());
  } catch (e) {
    if (e instanceof ValueError) return e.message;
    throw e;
  }
}

export function parsePrefix(text: string): Prefix {
  if (typeof text !== 'string')
    throw new ValueError(`expected a prefix like 192.0.2.0/24, got ${show(text)}`);
  const slash = text.indexOf('/');
  const addrText = slash >= 0 ? text.slice(0, slash) : text;
  let addr: { family: 4 | 6; bytes: Uint8Array };
  try {
    addr = parseIp(addrText);
  } catch {
    throw new ValueError(`invalid prefix ${show(text)}: ${show(addrText)} is not an IP address`);
  }
  const max = addrBits(addr.family);
  let len = max;
  if (slash >= 0) {
    const lt = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(lt) || Number(lt) > max) {
      throw new ValueError(`invalid prefix ${show(text)}: length must be 0..${max}`);
    }
    len = Number(lt);
  }
  const net = new Uint8Array(addr.bytes.length);
  const full = len >> 3;
  net.set(addr.bytes.subarray(0, full));
  if (len & 7) net[full] = addr.bytes[full]! & ((0xff << (8 - (len & 7))) & 0xff);
  for (let i = 0; i < net.length; i++) {
    if (net[i] !== addr.bytes[i]) {
      const p = { family: addr.family, bytes: net, len };
      throw new ValueError(`prefix ${text} has host bits set (did you mean ${prefixToString(p)}?)`);
    }
  }
  return { family: addr.family, bytes: net, len };
}

// ---------------------------------------------------------------- AS numbers, router id

/** A 4-octet AS number: 1..4294967295 (asplain, or asdot "1.10"), not AS_TRANS 23456. */
export function parseAsn(v: unknown): number {
  let n = NaN;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string') {
    const dot = /^(\d{1,5})\.(\d{1,5})$/.exec(v);
    if (dot && Number(dot[1]) <= 65535 && Number(dot[2]) <= 65535)
      n = Number(dot[1]) * 65536 + Number(dot[2]);
    else if (/^\d+$/.test(v)) n = Number(v);
  }
  if (!Number.isInteger(n) || n < 1 || n > 4294967295) {
    const hint = typeof v === 'number' && !Number.isInteger(v) ? ' (quote asdot numbers: "1.10")' : '';
    throw new ValueError(`invalid AS number ${show(v)}: must be an integer 1..4294967295${hint}`);
  }
  if (n === 23456) throw new ValueError('invalid AS number 23456: it is AS_TRANS (RFC 6793), not a real AS');
  return n;
}

/** BGP identifier (RFC 6286): a non-zero dotted-quad. */
export function parseRouterId(v: unknown): string {
  const n = typeof v === 'string' ? parseV4(v) : -1;
  if (n < 0) throw new ValueError(`invalid router_id ${show(v)}: must be an IPv4 dotted quad like 192.0.2.1`);
  if (n === 0) throw new ValueError('invalid router_id 0.0.0.0: must be non-zero');
  return v4ToString(n);
}

/** "host:port", "[v6]:port" into parts (port 0..65535). */
export function parseHostPort(s: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:\s]+):(\d+)$/.exec(s);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535)
    throw new ValueError(
      `invalid listen address ${show(s)}: use host:port, e.g. 127.0.0.1:10007 or [::1]:10007`,
    );
  return { host: parseIp(m[1]!).text, port };
}

// ---------------------------------------------------------------- communities

/** Well-known standard communities (RFC 1997, 3765, 7611, 7999, 8326, RFC 9494). */
export const WELL_KNOWN_COMMUNITIES: Readonly<Record<string, number>> = {
  'graceful-shutdown': 0xffff0000,
  'accept-own': 0xffff0001,
  'llgr-stale': 0xffff0006,
  'no-llgr': 0xffff0007,
  blackhole: 0xffff029a,
  'no-export': 0xffffff01,
  'no-advertise': 0xffffff02,
  'no-export-subconfed': 0xffffff03,
  'local-as': 0xffffff03,
  'no-peer': 0xffffff04,
  nopeer: 0xffffff04,
};

/** Standard community "a:b" (16 bits each), a well-known name, or a 32-bit number. */
export function parseCommunity(v: string | number): number {
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= 0 && v <= 0xffffffff) return v;
  } else if (typeof v === 'string') {
    const named = WELL_KNOWN_COMMUNITIES[v.toLowerCase().replace(/_/g, '-')];
    if (named !== undefined) return named;
    const m = /^(\d{1,5}):(\d{1,5})$/.exec(v);
    if (m && Number(m[1]) <= 65535 && Number(m[2]) <= 65535) return Number(m[1]) * 65536 + Number(m[2]);
    if (/^\d{1,10}$/.test(v) && Number(v) <= 0xffffffff) return Number(v);
  }
  throw new ValueError(
    `invalid community ${show(v)}: expected a:b with each part 0..65535, or a well-known name (blackhole, no-export, no-advertise, ...)`,
  );
}

export function formatCommunity(n: number): string {
  return `${Math.floor(n / 65536)}:${n & 0xffff}`;
}

/** Value -> its well-known name; the first name listed wins (no-export-subconfed, not local-as). */
const COMMUNITY_NAMES: ReadonlyMap<number, string> = (() => {
  const m = new Map<number, string>();
  for (const [name, v] of Object.entries(WELL_KNOWN_COMMUNITIES)) if (!m.has(v)) m.set(v, name);
  return m;
})();

/**
 * A standard community for people (logs, ctl): its well-known name where it has one
 * (65535:65281 -> "no-export", 65535:666 -> "blackhole"), else "a:b". Text that is not a
 * community is shown as given.
 */
export function communityText(v: string | number): string {
  let n: number;
  try {
    n = parseCommunity(v);
  } catch {
    return String(v);
  }
  return COMMUNITY_NAMES.get(n) ?? formatCommunity(n);
}

/** Large community "a:b:c" (RFC 8092), each part 0..4294967295. */
export function parseLargeCommunity(v: string): [number, number, number] {
  const m = typeof v === 'string' ? /^(\d{1,10}):(\d{1,10}):(\d{1,10})$/.exec(v) : null;
  const parts = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [];
  if (!m || parts.some((p) => p > 0xffffffff)) {
    throw new ValueError(`invalid large community ${show(v)}: expected a:b:c with each part 0..4294967295`);
  }
  return parts as [number, number, number];
}

const EXT_SUBTYPES: Record<string, number> = {
  rt: 0x02,
  target: 0x02,
  'route-target': 0x02,
  ro: 0x03,
  origin: 0x03,
  soo: 0x03,
};

/**
 * Extended community (8 bytes). Accepted forms:
 *  - rt:/target:/route-target: and ro:/origin:/soo: with ASN:N or IPv4:N (RFC 4360 §3.1-3.3,
 *    RFC 5668 for 4-octet ASNs: ASN > 65535 takes a 16-bit local part);
 *  - redirect:ASN:N (RFC 8955 §7.4 / RFC 7674: 2-octet AS 0x8008, IPv4 0x8108, 4-octet AS 0x8208);
 *  - traffic-rate:ASN:bytes_per_second (RFC 8955 §7.3, IEEE float32);
 *  - traffic-marking:DSCP (RFC 8955 §7.5);
 *  - raw 0x followed by 16 hex digits.
 */
export function parseExtendedCommunity(v: string): Uint8Array {
  const bad = (why: string) => new ValueError(`invalid extended community ${show(v)}: ${why}`);
  if (typeof v !== 'string') throw bad('expected text like rt:65000:100');
  const out = new Uint8Array(8);
  const dv = new DataView(out.buffer);
  const raw = /^0x([0-9a-fA-F]{16})$/.exec(v);
  if (raw) {
    for (let i = 0; i < 8; i++) out[i] = parseInt(raw[1]!.slice(2 * i, 2 * i + 2), 16);
    return out;
  }
  const colon = v.indexOf(':');
  const kind = colon > 0 ? v.slice(0, colon).toLowerCase() : '';
  const rest = v.slice(colon + 1);
  const u = (t: string, max: number, what: string): number => {
    if (!/^\d{1,10}$/.test(t) || Number(t) > max) throw bad(`${what} must be 0..${max}`);
    return Number(t);
  };
  if (kind === 'traffic-marking') {
    out[0] = 0x80;
    out[1] = 0x09;
    out[7] = u(rest, 63, 'DSCP');
    return out;
  }
  const sep = rest.lastIndexOf(':');
  if (sep <= 0) throw bad('expected <kind>:<global>:<local>, e.g. rt:65000:100, or 0x + 16 hex digits');
  const glob = rest.slice(0, sep);
  const local = rest.slice(sep + 1);
  if (kind === 'traffic-rate') {
    out[0] = 0x80;
    out[1] = 0x06;
    dv.setUint16(2, u(glob, 65535, 'AS'));
    const rate = Number(local);
    if (!/^\d+(\.\d+)?$/.test(local) || !Number.isFinite(Math.fround(rate)))
      throw bad('rate must be a non-negative number of bytes per second');
    dv.setFloat32(4, rate);
    return out;
  }
  const isRedirect = kind === 'redirect';
  const sub = isRedirect ? 0x08 : EXT_SUBTYPES[kind];
  if (sub === undefined)
    throw bad(
      `unknown kind "${kind}" (use rt, ro, redirect, traffic-rate, traffic-marking or 0x + 16 hex digits)`,
    );
  const ip = parseV4(glob);
  if (ip >= 0) {
    out[0] = isRedirect ? 0x81 : 0x01;
    out[1] = sub;
    dv.setUint32(2, ip);
    dv.setUint16(6, u(local, 65535, 'local part with an IPv4 global part'));
    return out;
  }
  const asn = u(glob, 4294967295, 'AS');
  if (asn <= 65535) {
    out[0] = isRedirect ? 0x80 : 0x00;
    out[1] = sub;
    dv.setUint16(2, asn);
    dv.setUint32(4, u(local, 4294967295, 'local part'));
  } else {
    out[0] = isRedirect ? 0x82 : 0x02;
    out[1] = sub;
    dv.setUint32(2, asn);
    dv.setUint16(6, u(local, 65535, 'local part with a 4-octet AS'));
  }
  return out;
}

/** Canonical text of an extended community; parseExtendedCommunity reads it back to the same bytes. */
export function formatExtendedCommunity(b: Uint8Array): string {
  const dv = new DataView(b.buffer, b.byteOffset, 8);
  const [t, s] = [b[0]!, b[1]!];
  const raw = () => `0x${[...b.subarray(0, 8)].map((x) => x.toString(16).padStart(2, '0')).join('')}`;
  if (s === 0x02 || s === 0x03) {
    const k = s === 0x02 ? 'rt' : 'ro';
    if (t === 0x00) return `${k}:${dv.getUint16(2)}:${dv.getUint32(4)}`;
    if (t === 0x01) return `${k}:${v4ToString(dv.getUint32(2))}:${dv.getUint16(6)}`;
    if (t === 0x02 && dv.getUint32(2) > 65535) return `${k}:${dv.getUint32(2)}:${dv.getUint16(6)}`;
  }
  if (s === 0x08) {
    if (t === 0x80) return `redirect:${dv.getUint16(2)}:${dv.getUint32(4)}`;
    if (t === 0x81) return `redirect:${v4ToString(dv.getUint32(2))}:${dv.getUint16(6)}`;
    if (t === 0x82 && dv.getUint32(2) > 65535) return `redirect:${dv.getUint32(2)}:${dv.getUint16(6)}`;
  }
  if (t === 0x80 && s === 0x06) return `traffic-rate:${dv.getUint16(2)}:${dv.getFloat32(4)}`;
  if (t === 0x80 && s === 0x09 && dv.getUint32(2) === 0 && b[6] === 0 && b[7]! <= 63)
    return `traffic-marking:${b[7]}`;
  return raw();
}
