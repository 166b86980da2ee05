/**
 * Path attributes (RFC 4271 §4.3/§5, RFC 1997, RFC 4360, RFC 8092, RFC 4760, RFC 6793)
 * as plain data, with per-attribute decode/encode. Unknown attributes stay raw bytes.
 * Malformed attributes are reported the RFC 7606 way (see update.ts for the actions).
 */
import { Reader } from '../wire/reader.js';
import type { Writer } from '../wire/writer.js';
import { v4FromBytes, v4ToString, parseV4, type Prefix } from '../wire/addr.js';
import {
  parseCommunity as parseCommunityValue,
  parseLargeCommunity as parseLargeCommunityValue,
} from '../config/values.js';
import * as C from './constants.js';
import { BgpError, ERR_UPDATE, UPD_OPTIONAL_ATTR } from './notify.js';
import { decodePrefixes, decodeFlowspecList, writePrefix, writeFlowspec } from './nlri.js';

interface AsPathSegment {
  readonly type: number; // AS_SET 1, AS_SEQUENCE 2, confed 3/4
  readonly asns: readonly number[];
}

interface Base {
  /** Attribute flags as received or to be sent (the extended-length bit is honoured). */
  readonly flags: number;
  readonly code: number;
}

interface OriginAttr extends Base {
  readonly kind: 'origin';
  readonly origin: number;
}
interface AsPathAttr extends Base {
  readonly kind: 'as_path';
  readonly segments: readonly AsPathSegment[];
}
interface NextHopAttr extends Base {
  readonly kind: 'next_hop';
  readonly nextHop: string;
}
interface MedAttr extends Base {
  readonly kind: 'med';
  readonly value: number;
}
interface LocalPrefAttr extends Base {
  readonly kind: 'local_pref';
  readonly value: number;
}
interface AtomicAggregateAttr extends Base {
  readonly kind: 'atomic_aggregate';
}
interface AggregatorAttr extends Base {
  readonly kind: 'aggregator';
  readonly as: number;
  readonly address: string;
}
/** RFC 1997 communities as uint32 (high 16 bits AS). */
interface CommunitiesAttr extends Base {
  readonly kind: 'communities';
  readonly communities: readonly number[];
}
/** RFC 4360: 8 raw bytes each. */
interface ExtCommunitiesAttr extends Base {
  readonly kind: 'ext_communities';
  readonly communities: readonly Uint8Array[];
}
/** RFC 8092: [global admin, local data 1, local data 2]. */
interface LargeCommunitiesAttr extends Base {
  readonly kind: 'large_communities';
  readonly communities: readonly (readonly [number, number, number])[];
}
/** RFC 4760 §3. Unicast NLRI in `nlri`, FlowSpec values in `flowspec`, other SAFIs in `raw`. */
export interface MpReachAttr extends Base {
  readonly kind: 'mp_reach';
  readonly afi: number;
  readonly safi: number;
  readonly nextHop: Uint8Array;
  readonly reserved: number;
  readonly nlri: readonly Prefix[];
  readonly flowspec: readonly Uint8Array[];
  readonly raw?: Uint8Array;
}
/** RFC 4760 §4. An empty one is the End-of-RIB marker of its family (RFC 4724 §2). */
interface MpUnreachAttr extends Base {
  readonly kind: 'mp_unreach';
  readonly afi: number;
  readonly safi: number;
  readonly withdrawn: readonly Prefix[];
  readonly flowspec: readonly Uint8Array[];
  readonly raw?: Uint8Array;
}
interface RawAttr extends Base {
  readonly kind: 'raw';
  readonly value: Uint8Array;
}

export type PathAttribute =
  | OriginAttr
  | AsPathAttr
  | NextHopAttr
  | MedAttr
  | LocalPrefAttr
  | AtomicAggregateAttr
  | AggregatorAttr
  | CommunitiesAttr
  | ExtCommunitiesAttr
  | LargeCommunitiesAttr
  | MpReachAttr
  | MpUnreachAttr
  | RawAttr;

/** Standard flags of the attributes we build (RFC 4271 §5 categories). */
export const STD_FLAGS: Record<number, number> = {
  [C.ATTR_ORIGIN]: C.FLAG_TRANSITIVE,
  [C.ATTR_AS_PATH]: C.FLAG_TRANSITIVE,
  [C.ATTR_NEXT_HOP]: C.FLAG_TRANSITIVE,
  [C.ATTR_MED]: C.FLAG_OPTIONAL,
  [C.ATTR_LOCAL_PREF]: C.FLAG_TRANSITIVE,
  [C.ATTR_ATOMIC_AGGREGATE]: C.FLAG_TRANSITIVE,
  [C.ATTR_AGGREGATOR]: C.FLAG_OPTIONAL | C.FLAG_TRANSITIVE,
  [C.ATTR_COMMUNITIES]: C.FLAG_OPTIONAL | C.FLAG_TRANSITIVE,
  [C.ATTR_MP_REACH]: C.FLAG_OPTIONAL,
  [C.ATTR_MP_UNREACH]: C.FLAG_OPTIONAL,
  [C.ATTR_EXT_COMMUNITIES]: C.FLAG_OPTIONAL | C.FLAG_TRANSITIVE,
  [C.ATTR_LARGE_COMMUNITIES]: C.FLAG_OPTIONAL | C.FLAG_TRANSITIVE,
};

/** A malformed attribute: what RFC 7606 says to do with it, and the NOTIFICATION it maps to. */
export class AttrError extends Error {
  constructor(
    readonly action: 'treat-as-withdraw' | 'attribute-discard',
    readonly code: number,
    readonly subcode: number,
    message: string,
  ) {
    super(message);
  }
}

export interface AttrContext {
  /** 4-octet AS negotiated (RFC 6793): AS_PATH and AGGREGATOR carry 4-octet ASNs. */
  readonly as4: boolean;
}

function lenErr(
  name: string,
  len: number,
  want: string,
  action: AttrError['action'] = 'treat-as-withdraw',
): AttrError {
  return new AttrError(action, ERR_UPDATE, 5, `${name}: length ${len}, expected ${want}`);
}

/**
 * Decode one attribute's value. Throws AttrError for RFC 7606 treat-as-withdraw /
 * attribute-discard cases and BgpError for MP_REACH/MP_UNREACH that cannot be parsed
 * (RFC 7606 §7.3 / §5.3: session reset).
 */
export function decodeAttribute(
  flags: number,
  code: number,
  value: Uint8Array,
  ctx: AttrContext,
): PathAttribute {
  const len = value.length;
  const r = new Reader(value);
  switch (code) {
    case C.ATTR_ORIGIN: {
      if (len !== 1) throw lenErr('ORIGIN', len, '1');
      const origin = value[0]!;
      if (origin > 2) throw new AttrError('treat-as-withdraw', ERR_UPDATE, 6, `ORIGIN value ${origin}`);
      return { kind: 'origin', flags, code, origin };
    }
    case C.ATTR_AS_PATH:
      return { kind: 'as_path', flags, code, segments: decodeAsPath(r, ctx.as4 ? 4 : 2) };
    case C.ATTR_NEXT_HOP:
      if (len !== 4) throw lenErr('NEXT_HOP', len, '4');
      return { kind: 'next_hop', flags, code, nextHop: v4ToString(v4FromBytes(value)) };
    case C.ATTR_MED:
      if (len !== 4) throw lenErr('MULTI_EXIT_DISC', len, '4');
      return { kind: 'med', flags, code, value: r.u32() };
    case C.ATTR_LOCAL_PREF:
      if (len !== 4) throw lenErr('LOCAL_PREF', len, '4');
      return { kind: 'local_pref', flags, code, value: r.u32() };
    case C.ATTR_ATOMIC_AGGREGATE:
      if (len !== 0) throw lenErr('ATOMIC_AGGREGATE', len, '0', 'attribute-discard');
      return { kind: 'atomic_aggregate', flags, code };
    case C.ATTR_AGGREGATOR: {
      const asLen = ctx.as4 ? 4 : 2;
      if (len !== asLen + 4) throw lenErr('AGGREGATOR', len, String(asLen + 4), 'attribute-discard');
      const as = asLen === 4 ? r.u32() : r.u16();
      return { kind: 'aggregator', flags, code, as, address: v4ToString(r.u32()) };
    }
    case C.ATTR_COMMUNITIES: {
      if (len === 0 || len % 4) throw lenErr('COMMUNITIES', len, 'a non-zero multiple of 4');
      const communities: number[] = [];
      while (!r.atEnd()) communities.push(r.u32());
      return { kind: 'communities', flags, code, communities };
    }
    case C.ATTR_EXT_COMMUNITIES: {
      if (len === 0 || len % 8) throw lenErr('EXTENDED_COMMUNITIES', len, 'a non-zero multiple of 8');
      const communities: Uint8Array[] = [];
      while (!r.atEnd()) communities.push(r.copy(8));
      return { kind: 'ext_communities', flags, code, communities };
    }
    case C.ATTR_LARGE_COMMUNITIES: {
      if (len === 0 || len % 12) throw lenErr('LARGE_COMMUNITIES', len, 'a non-zero multiple of 12');
      const communities: [number, number, number][] = [];
      while (!r.atEnd()) communities.push([r.u32(), r.u32(), r.u32()]);
      return { kind: 'large_communities', flags, code, communities };
    }
    case C.ATTR_MP_REACH:
      return decodeMpReach(flags, r);
    case C.ATTR_MP_UNREACH:
      return decodeMpUnreach(flags, r);
    default:
      return { kind: 'raw', flags, code, value: Uint8Array.from(value) };
  }
}

function decodeAsPath(r: Reader, asLen: 2 | 4): AsPathSegment[] {
  const segs: AsPathSegment[] = [];
  while (!r.atEnd()) {
    if (r.remaining < 2)
      throw new AttrError('treat-as-withdraw', ERR_UPDATE, 11, 'AS_PATH: truncated segment header');
    const type = r.u8();
    const n = r.u8();
    if (type < 1 || type > 4)
      throw new AttrError('treat-as-withdraw', ERR_UPDATE, 11, `AS_PATH: segment type ${type}`);
    if (n === 0) throw new AttrError('treat-as-withdraw', ERR_UPDATE, 11, 'AS_PATH: empty segment');
    if (r.remaining < n * asLen) {
      throw new AttrError(
        'treat-as-withdraw',
        ERR_UPDATE,
        11,
        `AS_PATH: segment of ${n} ASNs overruns the attribute`,
      );
    }
    const asns: number[] = [];
    for (let i = 0; i < n; i++) asns.push(asLen === 4 ? r.u32() : r.u16());
    segs.push({ type, asns });
  }
  return segs;
}

function mpErr(msg: string): BgpError {
  return new BgpError(ERR_UPDATE, UPD_OPTIONAL_ATTR, msg);
}

function decodeMpNlri(
  afi: number,
  safi: number,
  r: Reader,
  what: string,
): { nlri: Prefix[]; flowspec: Uint8Array[]; raw?: Uint8Array } {
  const fam = C.familyOf(afi, safi);
  if (fam === 'ipv4-unicast' || fam === 'ipv6-unicast') {
    return { nlri: decodePrefixes(r, afi === C.AFI_IPV4 ? 4 : 6, UPD_OPTIONAL_ATTR, what), flowspec: [] };
  }
  if (fam === 'ipv4-flowspec' || fam === 'ipv6-flowspec') {
    return { nlri: [], flowspec: decodeFlowspecList(r, UPD_OPTIONAL_ATTR, what) };
  }
  return { nlri: [], flowspec: [], raw: r.copy(r.remaining) };
}

function decodeMpReach(flags: number, r: Reader): MpReachAttr {
  if (r.remaining < 5) throw mpErr(`MP_REACH_NLRI: length ${r.remaining} < 5`);
  const afi = r.u16();
  const safi = r.u8();
  const nhLen = r.u8();
  if (r.remaining < nhLen + 1) throw mpErr(`MP_REACH_NLRI: next hop length ${nhLen} overruns the attribute`);
  const nextHop = r.copy(nhLen);
  const fam = C.familyOf(afi, safi);
  // RFC 4760 §3 / RFC 2545 §3: 4 for IPv4, 16 or 32 for IPv6; RFC 8955 §4: FlowSpec 0 (or an address).
  if (fam === 'ipv4-unicast' && nhLen !== 4 && nhLen !== 16 && nhLen !== 32)
    throw mpErr(`MP_REACH_NLRI: ipv4 next hop length ${nhLen}`);
  if (fam === 'ipv6-unicast' && nhLen !== 16 && nhLen !== 32)
    throw mpErr(`MP_REACH_NLRI: ipv6 next hop length ${nhLen}`);
  const reserved = r.u8();
  const n = decodeMpNlri(afi, safi, r, 'MP_REACH_NLRI');
  return { kind: 'mp_reach', flags, code: C.ATTR_MP_REACH, afi, safi, nextHop, reserved, ...n };
}

function decodeMpUnreach(flags: number, r: Reader): MpUnreachAttr {
  if (r.remaining < 3) throw mpErr(`MP_UNREACH_NLRI: length ${r.remaining} < 3`);
  const afi = r.u16();
  const safi = r.u8();
  const n = decodeMpNlri(afi, safi, r, 'MP_UNREACH_NLRI');
  return {
    kind: 'mp_unreach',
    flags,
    code: C.ATTR_MP_UNREACH,
    afi,
    safi,
    withdrawn: n.nlri,
    flowspec: n.flowspec,
    ...(n.raw ? { raw: n.raw } : {}),
  };
}

/** Write an attribute's value (no header). */
function writeAttributeValue(w: Writer, a: PathAttribute, ctx: AttrContext): void {
  switch (a.kind) {
    case 'origin':
      w.u8(a.origin);
      return;
    case 'as_path':
      for (const s of a.segments) {
        // RFC 4271 §4.3: at most 255 ASNs per segment; longer paths are split.
        for (let i = 0; i < s.asns.length; i += 255) {
          const chunk = s.asns.slice(i, i + 255);
          w.u8(s.type).u8(chunk.length);
          for (const as of chunk) {
            if (ctx.as4) w.u32(as);
            else w.u16(as > 0xffff ? C.AS_TRANS : as);
          }
        }
      }
      return;
    case 'next_hop':
      w.u32(parseV4(a.nextHop));
      return;
    case 'med':
    case 'local_pref':
      w.u32(a.value);
      return;
    case 'atomic_aggregate':
      return;
    case 'aggregator':
      if (ctx.as4) w.u32(a.as);
      else w.u16(a.as > 0xffff ? C.AS_TRANS : a.as);
      w.u32(parseV4(a.address));
      return;
    case 'communities':
      for (const c of a.communities) w.u32(c);
      return;
    case 'ext_communities':
      for (const c of a.communities) w.bytes(c);
      return;
    case 'large_communities':
      for (const [g, l1, l2] of a.communities) w.u32(g).u32(l1).u32(l2);
      return;
    case 'mp_reach':
      w.u16(a.afi).u8(a.safi).u8(a.nextHop.length).bytes(a.nextHop).u8(a.reserved);
      for (const p of a.nlri) writePrefix(w, p);
      for (const f of a.flowspec) writeFlowspec(w, f);
      if (a.raw) w.bytes(a.raw);
      return;
    case 'mp_unreach':
      w.u16(a.afi).u8(a.safi);
      for (const p of a.withdrawn) writePrefix(w, p);
      for (const f of a.flowspec) writeFlowspec(w, f);
      if (a.raw) w.bytes(a.raw);
      return;
    case 'raw':
      w.bytes(a.value);
      return;
  }
}

/**
 * Write a whole attribute: flags, type, length (2 octets when the extended-length flag is
 * set or the value exceeds 255 bytes), value.
 */
export function writeAttribute(w: Writer, a: PathAttribute, ctx: AttrContext): void {
  const flagsAt = w.pos;
  w.u8(a.flags).u8(a.code);
  const ext = (a.flags & C.FLAG_EXTENDED) !== 0;
  const lenAt = w.placeholder(ext ? 2 : 1);
  writeAttributeValue(w, a, ctx);
  const len = w.pos - lenAt - (ext ? 2 : 1);
  if (!ext && len > 255) {
    // Promote to extended length: shift the value right by one byte.
    const value = w.view().slice(lenAt + 1, w.pos);
    w.pos = flagsAt;
    w.u8(a.flags | C.FLAG_EXTENDED)
      .u8(a.code)
      .u16(len)
      .bytes(value);
    return;
  }
  w.setUint(lenAt, len, ext ? 2 : 1);
}

/** "a:b" text of an RFC 1997 community. */
export function communityText(c: number): string {
  return `${c >>> 16}:${c & 0xffff}`;
}

/**
 * Parse "a:b" (each 0..65535) into a uint32; NaN when invalid. Only the canonical text
 * routes carry (config resolves well-known names to "a:b"); the number itself is config's
 * parseCommunity.
 */
export function parseCommunity(s: string): number {
  if (!/^\d{1,5}:\d{1,5}$/.test(s)) return NaN;
  try {
    return parseCommunityValue(s);
  } catch {
    return NaN;
  }
}

/** Parse "a:b:c" (each 0..2^32-1); null when invalid (config's parseLargeCommunity). */
export function parseLargeCommunity(s: string): [number, number, number] | null {
  try {
    return parseLargeCommunityValue(s);
  } catch {
    return null;
  }
}

export function largeCommunityText(c: readonly [number, number, number]): string {
  return `${c[0]}:${c[1]}:${c[2]}`;
}
