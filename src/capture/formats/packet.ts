/**
 * Packet header parser shared by sFlow raw-header records and port-mirror frames.
 *
 * Walks link layer -> encapsulations -> innermost IPv4/IPv6 -> transport and fills the
 * L3/L4 fields of a FlowRecord in place (no allocation). Layers followed:
 *  - Ethernet II with up to LIMITS.MAX_VLAN_TAGS 802.1Q / 802.1ad (0x88a8, 0x9100) tags
 *  - MPLS label stacks (RFC 3032), payload guessed from the first nibble (4/6)
 *  - GRE (RFC 2784/2890; version 1 PPTP per RFC 2637) carrying IPv4/IPv6/Ethernet/MPLS/PPP,
 *    ERSPAN type II (GRE 0x88be)
 *  - L2TPv2 data messages (RFC 2661 §3.1) on UDP 1701 with PPP (RFC 1661, ff03 optional,
 *    protocol field possibly compressed)
 *  - IP-in-IP (4) and IPv6-in-IPv4 (41)
 *  - IPv4 (RFC 791): fragments flagged, transport parsed only in the first fragment
 *  - IPv6 (RFC 8200): hop-by-hop, routing, destination options, AH and the Fragment header
 * The innermost IP header wins: its addresses/ports are what the record carries. ICMP errors
 * are not followed into the quoted packet (the error belongs to its own destination).
 * Truncated headers (sFlow/mirror snaplen) never throw: parsing stops at the last complete
 * header and whatever was filled stays.
 */
import type { FlowRecord } from '../flow.js';
import { LIMITS } from '../limits.js';
import { u32 } from './bytes.js';

/** pcap link types understood by parseFrame. */
export const LINKTYPE = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  /** Some platforms write 12 or 14 for raw IP. */
  RAW_ALT1: 12,
  RAW_ALT2: 14,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

export const ETH_IPV4 = 0x0800;
export const ETH_IPV6 = 0x86dd;

/** Reset the L3/L4 fields a parse fills. */
export function clearL3(rec: FlowRecord): void {
  rec.ipVersion = 4;
  rec.src4 = 0;
  rec.dst4 = 0;
  rec.protocol = 0;
  clearL4(rec);
  rec.fragment = false;
  rec.packetLength = 0;
}

/** Reset the transport fields (ports, TCP flags, ICMP type/code) before a new IP header. */
export function clearL4(rec: FlowRecord): void {
  rec.srcPort = 0;
  rec.dstPort = 0;
  rec.tcpFlags = 0;
  rec.icmpType = -1;
  rec.icmpCode = -1;
}

/**
 * Parse a frame of the given pcap link type. Returns true when an IP header was found
 * (rec holds the innermost one), false for non-IP frames (ARP, LLC, ...) or garbage.
 */
export function parseFrame(
  b: Uint8Array,
  off: number,
  end: number,
  linkType: number,
  rec: FlowRecord,
): boolean {
  clearL3(rec);
  if (end > b.length) end = b.length;
  switch (linkType) {
    case LINKTYPE.ETHERNET:
      return parseEthernet(b, off, end, rec, 0);
    case LINKTYPE.RAW:
    case LINKTYPE.RAW_ALT1:
    case LINKTYPE.RAW_ALT2:
    case LINKTYPE.IPV4:
    case LINKTYPE.IPV6:
      return parseIpByNibble(b, off, end, rec, 0);
    case LINKTYPE.LINUX_SLL:
      if (off + 16 > end) return false;
      return parseEtherType(b, off + 16, end, (b[off + 14]! << 8) | b[off + 15]!, rec, 0);
    case LINKTYPE.LINUX_SLL2:
      if (off + 20 > end) return false;
      return parseEtherType(b, off + 20, end, (b[off]! << 8) | b[off + 1]!, rec, 0);
    case LINKTYPE.NULL: {
      if (off + 4 > end) return false;
      // Host byte order AF value: 2 = INET; 24/28/30 = INET6 on the BSDs/macOS.
      const fam = b[off]! | b[off + 3]!;
      if (fam === 2) return parseIpv4(b, off + 4, end, rec, 0);
      if (fam === 24 || fam === 28 || fam === 30) return parseIpv6(b, off + 4, end, rec, 0);
      return false;
    }
    default:
      return false;
  }
}

function parseIpByNibble(b: Uint8Array, off: number, end: number, rec: FlowRecord, depth: number): boolean {
  if (off >= end) return false;
  const v = b[off]! >> 4;
  if (v === 4) return parseIpv4(b, off, end, rec, depth);
  if (v === 6) return parseIpv6(b, off, end, rec, depth);
  return false;
}

export function parseEthernet(
  b: Uint8Array,
  off: number,
  end: number,
  rec: FlowRecord,
  depth: number,
): boolean {
  if (off + 14 > end) return false;
  let p = off + 12;
  let type = (b[p]! << 8) | b[p + 1]!;
  p += 2;
  let tags = 0;
  while (type === 0x8100 || type === 0x88a8 || type === 0x9100 || type === 0x9200) {
    if (++tags > LIMITS.MAX_VLAN_TAGS || p + 4 > end) return false;
    type = (b[p + 2]! << 8) | b[p + 3]!;
    p += 4;
  }
  return parseEtherType(b, p, end, type, rec, depth);
}

function parseEtherType(
  b: Uint8Array,
  p: number,
  end: number,
  type: number,
  rec: FlowRecord,
  depth: number,
): boolean {
  switch (type) {
    case ETH_IPV4:
      return parseIpv4(b, p, end, rec, depth);
    case ETH_IPV6:
      return parseIpv6(b, p, end, rec, depth);
    case 0x8847:
    case 0x8848:
      return parseMpls(b, p, end, rec, depth);
    case 0x8864: // PPPoE session: 6-byte header then PPP protocol
      if (p + 8 > end) return false;
      return parsePppProto(b, p + 6, end, rec, depth);
    default:
      return false;
  }
}

function parseMpls(b: Uint8Array, p: number, end: number, rec: FlowRecord, depth: number): boolean {
  for (let n = 0; ; n++) {
    if (n >= LIMITS.MAX_MPLS_LABELS || p + 4 > end) return false;
    const bos = b[p + 2]! & 1;
    p += 4;
    if (bos) break;
  }
  return parseIpByNibble(b, p, end, rec, depth);
}

/** PPP protocol field (1 or 2 bytes, RFC 1661 §2 protocol-field compression) then payload. */
function parsePppProto(b: Uint8Array, p: number, end: number, rec: FlowRecord, depth: number): boolean {
  if (p >= end) return false;
  let proto: number;
  if (b[p]! & 1) {
    proto = b[p]!;
    p += 1;
  } else {
    if (p + 2 > end) return false;
    proto = (b[p]! << 8) | b[p + 1]!;
    p += 2;
  }
  if (proto === 0x21) return parseIpv4(b, p, end, rec, depth);
  if (proto === 0x57) return parseIpv6(b, p, end, rec, depth);
  return false;
}

function parsePpp(b: Uint8Array, p: number, end: number, rec: FlowRecord, depth: number): boolean {
  // Address/control ff 03 may be omitted (address-and-control-field compression).
  if (p + 2 <= end && b[p] === 0xff && b[p + 1] === 0x03) p += 2;
  return parsePppProto(b, p, end, rec, depth);
}

export function parseIpv4(b: Uint8Array, p: number, end: number, rec: FlowRecord, depth: number): boolean {
  if (p + 20 > end || b[p]! >> 4 !== 4) return false;
  const ihl = (b[p]! & 15) * 4;
  if (ihl < 20) return false;
  rec.ipVersion = 4;
  rec.packetLength = (b[p + 2]! << 8) | b[p + 3]!;
  const fragField = (b[p + 6]! << 8) | b[p + 7]!;
  const offset = fragField & 0x1fff;
  rec.fragment = (fragField & 0x2000) !== 0 || offset !== 0;
  const proto = b[p + 9]!;
  rec.protocol = proto;
  rec.src4 = u32(b, p + 12);
  rec.dst4 = u32(b, p + 16);
  clearL4(rec);
  if (offset !== 0) return true; // later fragments carry no transport header
  const l4 = p + ihl;
  // Bound by the IP total length when it is sane (Ethernet padding is not payload).
  const ipEnd = rec.packetLength >= ihl && p + rec.packetLength < end ? p + rec.packetLength : end;
  if (l4 > ipEnd) return true;
  return parseTransport(b, l4, ipEnd, proto, rec, depth, rec.fragment);
}

export function parseIpv6(b: Uint8Array, p: number, end: number, rec: FlowRecord, depth: number): boolean {
  if (p + 40 > end || b[p]! >> 4 !== 6) return false;
  rec.ipVersion = 6;
  const payloadLen = (b[p + 4]! << 8) | b[p + 5]!;
  rec.packetLength = payloadLen + 40;
  let next = b[p + 6]!;
  const s6 = rec.src6;
  const d6 = rec.dst6;
  for (let i = 0; i < 16; i++) {
    s6[i] = b[p + 8 + i]!;
    d6[i] = b[p + 24 + i]!;
  }
  rec.fragment = false;
  clearL4(rec);
  let q = p + 40;
  const ipEnd = payloadLen > 0 && q + payloadLen < end ? q + payloadLen : end;
  let firstFragment = true;
  // Extension headers: hop-by-hop (0), routing (43), destination options (60), length in
  // 8-byte units; Fragment (44), 8 bytes; AH (51), length in 4-byte units (RFC 4302 §2.2).
  for (let n = 0; next === 0 || next === 43 || next === 60 || next === 44 || next === 51; n++) {
    if (next === 44) rec.fragment = true;
    if (n >= LIMITS.MAX_IPV6_EXT_HEADERS || q + 8 > ipEnd) {
      rec.protocol = next;
      return true;
    }
    const nn = b[q]!;
    if (next === 44) {
      if (((b[q + 2]! << 8) | b[q + 3]!) >> 3 !== 0) firstFragment = false;
      q += 8;
    } else if (next === 51) q += (b[q + 1]! + 2) * 4;
    else q += (b[q + 1]! + 1) * 8;
    next = nn;
  }
  rec.protocol = next;
  if (!firstFragment || q > ipEnd) return true;
  return parseTransport(b, q, ipEnd, next, rec, depth, rec.fragment);
}

function parseTransport(
  b: Uint8Array,
  q: number,
  end: number,
  proto: number,
  rec: FlowRecord,
  depth: number,
  fragment: boolean,
): boolean {
  switch (proto) {
    case 6: // TCP: flags in byte 13, NS in the low bit of byte 12 (RFC 3540)
      if (q + 4 <= end) {
        rec.srcPort = (b[q]! << 8) | b[q + 1]!;
        rec.dstPort = (b[q + 2]! << 8) | b[q + 3]!;
      }
      if (q + 14 <= end) rec.tcpFlags = b[q + 13]! | ((b[q + 12]! & 1) << 8);
      return true;
    case 17: // UDP
      if (q + 4 > end) return true;
      rec.srcPort = (b[q]! << 8) | b[q + 1]!;
      rec.dstPort = (b[q + 2]! << 8) | b[q + 3]!;
      if (
        !fragment &&
        depth < LIMITS.MAX_ENCAP_DEPTH &&
        (rec.dstPort === 1701 || rec.srcPort === 1701) &&
        q + 8 < end
      ) {
        parseL2tp(b, q + 8, end, rec, depth + 1);
      }
      return true;
    case 132: // SCTP, DCCP and UDP-Lite share the port layout
    case 33:
    case 136:
      if (q + 4 <= end) {
        rec.srcPort = (b[q]! << 8) | b[q + 1]!;
        rec.dstPort = (b[q + 2]! << 8) | b[q + 3]!;
      }
      return true;
    case 1:
    case 58:
      if (q + 2 <= end) {
        rec.icmpType = b[q]!;
        rec.icmpCode = b[q + 1]!;
      }
      return true;
    case 47:
      if (!fragment && depth < LIMITS.MAX_ENCAP_DEPTH) parseGre(b, q, end, rec, depth + 1);
      return true;
    case 4:
      if (!fragment && depth < LIMITS.MAX_ENCAP_DEPTH) tryInner(b, q, end, rec, depth + 1, 4);
      return true;
    case 41:
      if (!fragment && depth < LIMITS.MAX_ENCAP_DEPTH) tryInner(b, q, end, rec, depth + 1, 6);
      return true;
    default:
      return true;
  }
}

/**
 * Inner packets replace the outer header only when the inner IP header is complete;
 * otherwise the outer header stays (it is still the best destination known). One
 * preallocated save slot per tunnel depth keeps this allocation-free.
 */
interface OuterSave {
  v: 4 | 6;
  s4: number;
  d4: number;
  proto: number;
  sp: number;
  dp: number;
  it: number;
  ic: number;
  fl: number;
  fr: boolean;
  len: number;
  s6: Uint8Array;
  d6: Uint8Array;
}
const saves: OuterSave[] = [];
for (let i = 0; i <= LIMITS.MAX_ENCAP_DEPTH; i++) {
  saves.push({
    v: 4,
    s4: 0,
    d4: 0,
    proto: 0,
    sp: 0,
    dp: 0,
    it: -1,
    ic: -1,
    fl: 0,
    fr: false,
    len: 0,
    s6: new Uint8Array(16),
    d6: new Uint8Array(16),
  });
}

function saveOuter(rec: FlowRecord, s: OuterSave): void {
  s.v = rec.ipVersion;
  s.s4 = rec.src4;
  s.d4 = rec.dst4;
  s.proto = rec.protocol;
  s.sp = rec.srcPort;
  s.dp = rec.dstPort;
  s.it = rec.icmpType;
  s.ic = rec.icmpCode;
  s.fl = rec.tcpFlags;
  s.fr = rec.fragment;
  s.len = rec.packetLength;
  s.s6.set(rec.src6);
  s.d6.set(rec.dst6);
}

function restoreOuter(rec: FlowRecord, s: OuterSave): void {
  rec.ipVersion = s.v;
  rec.src4 = s.s4;
  rec.dst4 = s.d4;
  rec.protocol = s.proto;
  rec.srcPort = s.sp;
  rec.dstPort = s.dp;
  rec.icmpType = s.it;
  rec.icmpCode = s.ic;
  rec.tcpFlags = s.fl;
  rec.fragment = s.fr;
  rec.packetLength = s.len;
  rec.src6.set(s.s6);
  rec.dst6.set(s.d6);
}

type InnerKind = 4 | 6 | 'eth' | 'mpls' | 'pppaddr';

function tryInner(
  b: Uint8Array,
  p: number,
  end: number,
  rec: FlowRecord,
  depth: number,
  kind: InnerKind,
): void {
  const s = saves[depth]!;
  saveOuter(rec, s);
  let ok: boolean;
  switch (kind) {
    case 4:
      ok = parseIpv4(b, p, end, rec, depth);
      break;
    case 6:
      ok = parseIpv6(b, p, end, rec, depth);
      break;
    case 'eth':
      ok = parseEthernet(b, p, end, rec, depth);
      break;
    case 'mpls':
      ok = parseMpls(b, p, end, rec, depth);
      break;
    case 'pppaddr':
      ok = parsePpp(b, p, end, rec, depth);
      break;
  }
  if (!ok) restoreOuter(rec, s);
}

function parseGre(b: Uint8Array, q: number, end: number, rec: FlowRecord, depth: number): void {
  if (q + 4 > end) return;
  const flags = (b[q]! << 8) | b[q + 1]!;
  const proto = (b[q + 2]! << 8) | b[q + 3]!;
  const ver = flags & 7;
  let p = q + 4;
  if (ver === 0) {
    if (flags & 0x8000) p += 4; // checksum + reserved1
    if (flags & 0x2000) p += 4; // key
    if (flags & 0x1000) p += 4; // sequence number
  } else if (ver === 1) {
    p += 4; // payload length + call id (key) always present
    if (flags & 0x1000) p += 4;
    if (flags & 0x0080) p += 4; // acknowledgment
  } else return;
  if (p > end) return;
  switch (proto) {
    case ETH_IPV4:
      tryInner(b, p, end, rec, depth, 4);
      return;
    case ETH_IPV6:
      tryInner(b, p, end, rec, depth, 6);
      return;
    case 0x6558: // transparent Ethernet bridging
      tryInner(b, p, end, rec, depth, 'eth');
      return;
    case 0x8847:
    case 0x8848:
      tryInner(b, p, end, rec, depth, 'mpls');
      return;
    case 0x880b:
      tryInner(b, p, end, rec, depth, 'pppaddr');
      return;
    case 0x88be: // ERSPAN type II: 8-byte header, then the mirrored Ethernet frame
      tryInner(b, flags & 0x1000 ? p + 8 : p, end, rec, depth, 'eth');
      return;
    default:
      return;
  }
}

/** L2TPv2 header (RFC 2661 §3.1); only data messages (T=0) carry PPP. */
function parseL2tp(b: Uint8Array, p: number, end: number, rec: FlowRecord, depth: number): void {
  if (p + 6 > end) return;
  const flags = (b[p]! << 8) | b[p + 1]!;
  if ((flags & 0x0f) !== 2 || flags & 0x8000) return;
  p += 2;
  if (flags & 0x4000) p += 2; // length
  p += 4; // tunnel id, session id
  if (flags & 0x0800) p += 4; // Ns, Nr
  if (flags & 0x0200) {
    if (p + 2 > end) return;
    p += 2 + ((b[p]! << 8) | b[p + 1]!); // offset size + padding
  }
  if (p >= end) return;
  tryInner(b, p, end, rec, depth, 'pppaddr');
}
