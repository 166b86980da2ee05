/**
 * FlowSpec wire codec.
 * - NLRI components: RFC 8955 §4.2.2 (IPv4, types 1-12) and RFC 8956 §3 (IPv6: prefix
 *   offsets, next header, fragment bits without DF, flow label type 13), operators per
 *   RFC 8955 §4.2.1.1 (numeric) and §4.2.1.2 (bitmask).
 * - Actions as extended communities: RFC 8955 §7 (traffic-rate-bytes 0x8006,
 *   traffic-action 0x8007, rt-redirect 0x8008/0x8108/0x8208, traffic-marking 0x8009),
 *   traffic-rate-packets 0x800c (RFC 8955 §7 registry), RFC 8956 §6 rt-redirect-ipv6
 *   (IPv6-address-specific, sub-type 0x000d), redirect to next hop
 *   (draft-simpson-idr-flowspec-redirect, 0x0800 + MP_REACH next hop) and redirect-to-IP
 *   (draft-ietf-idr-flowspec-redirect-ip: 0x010c; IPv6 attribute 25 sub-type 0x000c).
 * The value bytes written here exclude the NLRI length prefix (RFC 8955 §4.1), which the
 * BGP speaker adds.
 */
import { Reader, WireError } from '../wire/reader.js';
import { Writer } from '../wire/writer.js';
import { addrBits, parseAddr, addrToString, prefixToString, type Prefix } from '../wire/addr.js';
import type { DesiredRoute } from '../bgp/types.js';
import { desiredRoute } from '../bgp/route.js';
import { numTermText, bitTermText, type BitAtom, type NumAtom } from './ops.js';
import {
  FIELDS,
  FIELD_BY_TYPE,
  FRAG_FLAGS,
  TCP_FLAGS,
  protocolName,
  type BitField,
  type FlowPrefix,
  type FlowspecRule,
  type RuleAction,
  type RuleMatch,
} from './rule.js';

/** RFC 8955 §4.1: the NLRI length field holds at most 0xfff. */
const MAX_NLRI_LENGTH = 0xfff;

const E_BIT = 0x80;
const A_BIT = 0x40;

function valueLen(v: number): 1 | 2 | 4 {
  // Shortest length that holds the value, as ExaBGP, GoBGP and BIRD do.
  return v < 0x100 ? 1 : v < 0x10000 ? 2 : 4;
}
const LEN_CODE: Record<1 | 2 | 4, number> = { 1: 0x00, 2: 0x10, 4: 0x20 };

function bitAt(b: Uint8Array, i: number): number {
  return (b[i >> 3]! >> (7 - (i & 7))) & 1;
}

function writePrefix(w: Writer, type: number, p: FlowPrefix, family: 4 | 6): void {
  w.u8(type).u8(p.prefix.len);
  if (family === 4) {
    // RFC 8955 §4.2.2.1: length octet, then the prefix padded to an octet boundary.
    w.bytes(p.prefix.bytes.subarray(0, (p.prefix.len + 7) >> 3));
    return;
  }
  // RFC 8956 §3.1: length, offset, then the (length - offset) bits after the offset,
  // left-aligned and padded to an octet boundary.
  w.u8(p.offset);
  const nbits = p.prefix.len - p.offset;
  const out = new Uint8Array((nbits + 7) >> 3);
  for (let i = 0; i < nbits; i++) if (bitAt(p.prefix.bytes, p.offset + i)) out[i >> 3]! |= 0x80 >> (i & 7);
  w.bytes(out);
}

function writeNum(w: Writer, terms: readonly (readonly NumAtom[])[]): void {
  const flat: [NumAtom, boolean][] = [];
  for (const t of terms) for (const [j, a] of t.entries()) flat.push([a, j > 0]);
  flat.forEach(([a, and], i) => {
    const len = valueLen(a.value);
    w.u8((i === flat.length - 1 ? E_BIT : 0) | (and ? A_BIT : 0) | LEN_CODE[len] | (a.op & 7));
    w.uint(a.value, len);
  });
}

function writeBit(w: Writer, terms: readonly (readonly BitAtom[])[]): void {
  const flat: [BitAtom, boolean][] = [];
  for (const t of terms) for (const [j, a] of t.entries()) flat.push([a, j > 0]);
  flat.forEach(([a, and], i) => {
    const len = valueLen(a.value);
    w.u8(
      (i === flat.length - 1 ? E_BIT : 0) |
        (and ? A_BIT : 0) |
        LEN_CODE[len] |
        (a.not ? 2 : 0) |
        (a.match ? 1 : 0),
    );
    w.uint(a.value, len);
  });
}

/** NLRI value bytes of a rule, components in increasing type order (RFC 8955 §4.2). */
export function encodeNlri(rule: FlowspecRule): Uint8Array {
  const w = new Writer(64);
  if (rule.destination_prefix) writePrefix(w, 1, rule.destination_prefix, rule.family);
  if (rule.source_prefix) writePrefix(w, 2, rule.source_prefix, rule.family);
  for (const def of FIELDS) {
    const m = rule.match[def.field];
    if (!m) continue;
    w.u8(def.type);
    if (def.kind === 'num') writeNum(w, m as readonly (readonly NumAtom[])[]);
    else writeBit(w, m as readonly (readonly BitAtom[])[]);
  }
  if (w.length > MAX_NLRI_LENGTH)
    throw new RangeError(`FlowSpec NLRI of ${w.length} bytes exceeds ${MAX_NLRI_LENGTH}`);
  return w.finish();
}

/** The 1- or 2-byte NLRI length prefix (RFC 8955 §4.1: 0xfnnn form from 240 up). */
export function nlriLengthPrefix(len: number): Uint8Array {
  if (len < 240) return Uint8Array.of(len);
  if (len > MAX_NLRI_LENGTH) throw new RangeError(`FlowSpec NLRI length ${len} exceeds ${MAX_NLRI_LENGTH}`);
  return Uint8Array.of(0xf0 | (len >> 8), len & 0xff);
}

/** Read one length-prefixed NLRI from r (for MP_REACH/MP_UNREACH parsing). */
export function readLengthPrefixedNlri(r: Reader): Uint8Array {
  const first = r.u8();
  const len = first >= 0xf0 ? ((first & 0x0f) << 8) | r.u8() : first;
  return r.bytes(len);
}

export interface DecodedMatch {
  readonly family: 4 | 6;
  readonly destination_prefix?: FlowPrefix;
  readonly source_prefix?: FlowPrefix;
  readonly match: RuleMatch;
}

function readPrefix(r: Reader, family: 4 | 6): FlowPrefix {
  const len = r.u8();
  const bits = addrBits(family);
  if (len > bits) throw new WireError(`prefix length ${len} > ${bits}`);
  const bytes = new Uint8Array(bits / 8);
  if (family === 4) {
    bytes.set(r.bytes((len + 7) >> 3));
    // Host bits past the length are ignored (canonical form has them zero).
    if (len & 7) bytes[len >> 3]! &= (0xff << (8 - (len & 7))) & 0xff;
    for (let i = (len + 7) >> 3; i < 4; i++) bytes[i] = 0;
    return { prefix: { family, bytes, len }, offset: 0 };
  }
  const offset = r.u8();
  if (offset > len || (offset === len && len !== 0))
    throw new WireError(`IPv6 prefix offset ${offset} >= length ${len}`);
  const nbits = len - offset;
  const pat = r.bytes((nbits + 7) >> 3);
  for (let i = 0; i < nbits; i++) if (bitAt(pat, i)) bytes[(offset + i) >> 3]! |= 0x80 >> ((offset + i) & 7);
  return { prefix: { family, bytes, len }, offset };
}

function readOps<T>(r: Reader, make: (op: number, value: number) => T): T[][] {
  const terms: T[][] = [];
  for (let guard = 0; ; guard++) {
    const op = r.u8();
    const len = 1 << ((op >> 4) & 3);
    const value = r.uint(len);
    const atom = make(op, value);
    if (op & A_BIT && terms.length > 0) terms[terms.length - 1]!.push(atom);
    else terms.push([atom]);
    if (op & E_BIT) return terms;
    if (guard > MAX_NLRI_LENGTH) throw new WireError('operator list without end-of-list bit');
  }
}

/** Decode NLRI value bytes (no length prefix). Throws WireError on malformed input. */
export function decodeNlri(nlri: Uint8Array, family: 4 | 6): DecodedMatch {
  const r = new Reader(nlri);
  let last = 0;
  let destination_prefix: FlowPrefix | undefined;
  let source_prefix: FlowPrefix | undefined;
  const match: Record<string, unknown> = {};
  if (r.atEnd()) throw new WireError('empty FlowSpec NLRI');
  while (!r.atEnd()) {
    const type = r.u8();
    // RFC 8955 §4.2: components in strictly increasing type order, each at most once.
    if (type <= last) throw new WireError(`component type ${type} after type ${last}`);
    last = type;
    if (type === 1) destination_prefix = readPrefix(r, family);
    else if (type === 2) source_prefix = readPrefix(r, family);
    else {
      const def = FIELD_BY_TYPE.get(type);
      if (!def || (type === 13 && family === 4))
        throw new WireError(`unknown FlowSpec component type ${type}`);
      if (def.kind === 'num') match[def.field] = readOps<NumAtom>(r, (op, value) => ({ op: op & 7, value }));
      else
        match[def.field] = readOps<BitAtom>(r, (op, value) => ({
          not: (op & 2) !== 0,
          match: (op & 1) !== 0,
          value,
        }));
    }
  }
  return {
    family,
    ...(destination_prefix ? { destination_prefix } : {}),
    ...(source_prefix ? { source_prefix } : {}),
    match: match as RuleMatch,
  };
}

// ---------------------------------------------------------------- actions

/** What a rule's actions become on the wire. */
interface EncodedActions {
  /** 8-byte extended communities (attribute 16). */
  readonly extendedCommunities: Uint8Array[];
  /** 20-byte IPv6-address-specific extended communities (attribute 25, RFC 5701). */
  readonly ipv6ExtendedCommunities: Uint8Array[];
  /** MP_REACH next hop for redirect-to-next-hop. */
  readonly nextHop?: string;
}

function ec(type: number, fill: (dv: DataView) => void): Uint8Array {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, type);
  fill(dv);
  return b;
}

/**
 * Extended communities in a fixed order: rate (or discard), redirect, marking, traffic-action.
 * (This is also the order ExaBGP emits for `rate-limit; mark; action` and `redirect; mark`.)
 */
function encodeActions(a: RuleAction, family: 4 | 6): EncodedActions {
  const ext: Uint8Array[] = [];
  const ext6: Uint8Array[] = [];
  let nextHop: string | undefined;
  // RFC 8955 §7.1: traffic-rate-bytes, 2-byte AS (0) + IEEE float32; rate 0 = discard.
  if (a.type === 'discard') ext.push(ec(0x8006, (dv) => dv.setFloat32(4, 0)));
  if (a.rate !== undefined) ext.push(ec(0x8006, (dv) => dv.setFloat32(4, a.rate!)));
  if (a.ratePackets !== undefined) ext.push(ec(0x800c, (dv) => dv.setFloat32(4, a.ratePackets!)));
  if (a.type === 'redirect') {
    if (a.redirectAs !== undefined) {
      // RFC 8955 §7.4 (AS-2, 0x8008) and RFC 7674 (IPv4 0x8108, AS-4 0x8208).
      if (a.redirectAs > 0xffff)
        ext.push(
          ec(0x8208, (dv) => {
            dv.setUint32(2, a.redirectAs!);
            dv.setUint16(6, a.redirectValue!);
          }),
        );
      else
        ext.push(
          ec(0x8008, (dv) => {
            dv.setUint16(2, a.redirectAs!);
            dv.setUint32(4, a.redirectValue!);
          }),
        );
    } else if (a.redirectIp !== undefined) {
      const addr = parseAddr(a.redirectIp)!;
      if (a.redirectValue !== undefined) {
        if (addr.family === 4) {
          ext.push(
            ec(0x8108, (dv) => {
              new Uint8Array(dv.buffer).set(addr.bytes, 2);
              dv.setUint16(6, a.redirectValue!);
            }),
          );
        } else {
          // RFC 8956 §6: rt-redirect-ipv6, IPv6-address-specific type 0x00 sub-type 0x0d.
          const b = new Uint8Array(20);
          b[1] = 0x0d;
          b.set(addr.bytes, 2);
          new DataView(b.buffer).setUint16(18, a.redirectValue);
          ext6.push(b);
        }
      } else if (a.redirectIpMode === 'ietf') {
        // draft-ietf-idr-flowspec-redirect-ip: the target in the community, C bit in the
        // local administrator field.
        if (addr.family === 4) {
          ext.push(
            ec(0x010c, (dv) => {
              new Uint8Array(dv.buffer).set(addr.bytes, 2);
              dv.setUint16(6, a.copy ? 1 : 0);
            }),
          );
        } else {
          const b = new Uint8Array(20);
          b[1] = 0x0c;
          b.set(addr.bytes, 2);
          b[19] = a.copy ? 1 : 0;
          ext6.push(b);
        }
      } else {
        // draft-simpson-idr-flowspec-redirect: 0x0800, C bit last; target = MP_REACH next hop.
        ext.push(ec(0x0800, (dv) => dv.setUint8(7, a.copy ? 1 : 0)));
        nextHop = addrToString(addr);
      }
    }
  }
  // RFC 8955 §7.5: traffic-marking, DSCP in the low 6 bits of the last octet.
  if (a.dscp !== undefined) ext.push(ec(0x8009, (dv) => dv.setUint8(7, a.dscp! & 0x3f)));
  // RFC 8955 §7.3: traffic-action, S (sample) bit 46 = 0x02, T (terminal) bit 47 = 0x01.
  if (a.sample || a.terminal)
    ext.push(ec(0x8007, (dv) => dv.setUint8(7, (a.sample ? 2 : 0) | (a.terminal ? 1 : 0))));
  void family;
  return { extendedCommunities: ext, ipv6ExtendedCommunities: ext6, ...(nextHop ? { nextHop } : {}) };
}

interface DecodedActions {
  readonly action: RuleAction;
  /** Communities that are not FlowSpec actions (route targets and the like), kept as-is. */
  readonly other: Uint8Array[];
}

/** Actions from extended communities (what encodeActions writes, plus other senders' forms). */
function decodeActions(
  ext: readonly Uint8Array[],
  ext6: readonly Uint8Array[] = [],
  nextHop?: string,
): DecodedActions {
  const a: { -readonly [K in keyof RuleAction]: RuleAction[K] } = { type: 'accept' };
  const other: Uint8Array[] = [];
  let discard = false;
  for (const c of ext) {
    if (c.length !== 8) throw new WireError(`extended community of ${c.length} bytes`);
    const dv = new DataView(c.buffer, c.byteOffset, 8);
    const t = dv.getUint16(0);
    switch (t) {
      case 0x8006:
      case 0x800c: {
        const rate = dv.getFloat32(4);
        if (rate === 0) discard = true;
        else if (t === 0x8006) a.rate = rate;
        else a.ratePackets = rate;
        break;
      }
      case 0x8007:
        if (c[7]! & 2) a.sample = true;
        if (c[7]! & 1) a.terminal = true;
        break;
      case 0x8008:
        a.redirectAs = dv.getUint16(2);
        a.redirectValue = dv.getUint32(4);
        break;
      case 0x8208:
        a.redirectAs = dv.getUint32(2);
        a.redirectValue = dv.getUint16(6);
        break;
      case 0x8108:
        a.redirectIp = addrToString({ family: 4, bytes: c.slice(2, 6) });
        a.redirectValue = dv.getUint16(6);
        break;
      case 0x0800:
        a.redirectIp = nextHop ?? '';
        a.redirectIpMode = 'next-hop';
        if (c[7]! & 1) a.copy = true;
        break;
      case 0x010c:
        a.redirectIp = addrToString({ family: 4, bytes: c.slice(2, 6) });
        a.redirectIpMode = 'ietf';
        if (c[7]! & 1) a.copy = true;
        break;
      case 0x8009:
        a.dscp = c[7]! & 0x3f;
        break;
      default:
        other.push(c);
    }
  }
  for (const c of ext6) {
    if (c.length !== 20) throw new WireError(`IPv6 extended community of ${c.length} bytes`);
    const sub = (c[0]! << 8) | c[1]!;
    const ip = addrToString({ family: 6, bytes: c.slice(2, 18) });
    const local = (c[18]! << 8) | c[19]!;
    if (sub === 0x000d) {
      a.redirectIp = ip;
      a.redirectValue = local;
    } else if (sub === 0x000c) {
      a.redirectIp = ip;
      a.redirectIpMode = 'ietf';
      if (local & 1) a.copy = true;
    } else other.push(c);
  }
  if (a.redirectIp !== undefined || a.redirectAs !== undefined) a.type = 'redirect';
  else if (discard) a.type = 'discard';
  else if (a.rate !== undefined || a.ratePackets !== undefined) a.type = 'rate-limit';
  else if (a.dscp !== undefined) a.type = 'mark';
  return { action: a, other };
}

// ---------------------------------------------------------------- whole rules

export interface EncodedRule extends EncodedActions {
  readonly family: 'ipv4-flowspec' | 'ipv6-flowspec';
  readonly nlri: Uint8Array;
  /** Hex of the canonical NLRI: the rule's identity. */
  readonly key: string;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function encodeRule(rule: FlowspecRule): EncodedRule {
  const nlri = encodeNlri(rule);
  return {
    family: rule.family === 4 ? 'ipv4-flowspec' : 'ipv6-flowspec',
    nlri,
    key: hex(nlri),
    ...encodeActions(rule.action, rule.family),
  };
}

/** A rule back from the wire: NLRI value bytes plus the UPDATE's action attributes. */
export function decodeRule(
  nlri: Uint8Array,
  family: 4 | 6,
  ext: readonly Uint8Array[] = [],
  ext6: readonly Uint8Array[] = [],
  nextHop?: string,
  communities: readonly string[] = [],
): FlowspecRule {
  const m = decodeNlri(nlri, family);
  return { ...m, action: decodeActions(ext, ext6, nextHop).action, communities: [...communities] };
}

/** The speaker's input for one rule (the speaker adds the NLRI length and MP_REACH). */
export function ruleToDesiredRoute(rule: FlowspecRule, owner: string): DesiredRoute {
  const e = encodeRule(rule);
  return desiredRoute({
    key: e.key,
    family: e.family,
    flowspecNlri: e.nlri,
    ...(e.nextHop ? { nextHop: e.nextHop } : {}),
    communities: [...rule.communities],
    largeCommunities: [],
    extendedCommunities: e.extendedCommunities,
    ...(e.ipv6ExtendedCommunities.length ? { ipv6ExtendedCommunities: e.ipv6ExtendedCommunities } : {}),
    owner,
  });
}

// ---------------------------------------------------------------- text

function fpText(p: FlowPrefix): string {
  return `${prefixToString(p.prefix as Prefix)}${p.offset ? ` offset ${p.offset}` : ''}`;
}

/** One-line match text, ExaBGP-like: `destination 198.51.100.1/32, protocol udp, source-port 53`. */
export function describeMatch(m: DecodedMatch): string {
  const parts: string[] = [];
  if (m.destination_prefix) parts.push(`destination ${fpText(m.destination_prefix)}`);
  if (m.source_prefix) parts.push(`source ${fpText(m.source_prefix)}`);
  for (const def of FIELDS) {
    const v = m.match[def.field];
    if (!v) continue;
    const label = def.field === 'protocols' && m.family === 6 ? 'next-header' : def.label;
    let text: string;
    if (def.kind === 'num') {
      const name =
        def.field === 'protocols'
          ? (x: number) => (m.family === 6 && x === 1 ? undefined : protocolName(x))
          : undefined;
      text = (v as readonly (readonly NumAtom[])[]).map((t) => numTermText(t, name)).join(' or ');
    } else {
      const names = (def.field as BitField) === 'tcp_flags' ? TCP_FLAGS : FRAG_FLAGS;
      text = (v as readonly (readonly BitAtom[])[]).map((t) => bitTermText(t, names)).join(' or ');
    }
    parts.push(`${label} ${text}`);
  }
  return parts.join(', ');
}

function describeAction(a: RuleAction): string {
  const parts: string[] = [];
  switch (a.type) {
    case 'discard':
      parts.push('discard');
      break;
    case 'accept':
      parts.push('accept');
      break;
    case 'rate-limit':
      parts.push(
        a.rate !== undefined ? `rate-limit ${a.rate} bytes/s` : `rate-limit ${a.ratePackets} packets/s`,
      );
      break;
    case 'mark':
      break;
    case 'redirect':
      if (a.redirectAs !== undefined) parts.push(`redirect to VRF ${a.redirectAs}:${a.redirectValue}`);
      else if (a.redirectValue !== undefined)
        parts.push(`redirect to VRF ${a.redirectIp}:${a.redirectValue}`);
      else
        parts.push(
          `${a.copy ? 'copy' : 'redirect'} to next hop ${a.redirectIp}${a.redirectIpMode === 'ietf' ? ' (redirect-ip)' : ''}`,
        );
      break;
  }
  if (a.type !== 'rate-limit' && a.rate !== undefined) parts.push(`rate-limit ${a.rate} bytes/s`);
  if (a.dscp !== undefined) parts.push(`mark dscp ${a.dscp}`);
  if (a.sample) parts.push('sample');
  if (a.terminal) parts.push('terminal');
  return parts.join(', ');
}

/** Human text of a whole rule. */
export function describe(rule: FlowspecRule): string {
  return `${describeMatch(rule)} -> ${describeAction(rule.action)}`;
}
