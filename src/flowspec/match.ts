/**
 * Evaluate a FlowSpec rule against one packet the way a router applies it (RFC 8955 §5-6
 * semantics per component): used by rule generation to measure coverage and collateral.
 *
 * Router view of fragments: a fragment other than the first carries no transport header, so
 * port, TCP-flag and ICMP components cannot match it (RFC 8955 §4.2.2.4-9 match on the
 * transport header); IsF matches a fragment other than the first, FF a first fragment, LF the
 * last one (RFC 8955 §4.2.2.12).
 */
import type { FlowSample } from '../capture/flow.js';
import { parseAddr, prefixContains } from '../wire/addr.js';
import { evalBit, evalNum, type BitMatch, type NumMatch } from './ops.js';
import type { FlowPrefix, FlowspecRule } from './rule.js';

type FragKind = 'none' | 'first' | 'middle' | 'last';

export interface PacketView {
  readonly ipVersion: 4 | 6;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly protocol: number;
  /** -1 when the packet has no visible transport header (later fragments, other protocols). */
  readonly srcPort: number;
  readonly dstPort: number;
  readonly icmpType: number;
  readonly icmpCode: number;
  /** -1 when no TCP header is visible. */
  readonly tcpFlags: number;
  /** IP total length (IPv6: payload length + 40). */
  readonly length: number;
  readonly dscp: number;
  readonly flowLabel: number;
  readonly frag: FragKind;
  readonly df: boolean;
  /** Weight (sampled packets scaled by the sampling rate). */
  readonly packets: number;
}

function fragBits(p: PacketView): number {
  let v = p.df ? 0x01 : 0;
  if (p.frag === 'middle' || p.frag === 'last') v |= 0x02;
  if (p.frag === 'first') v |= 0x04;
  if (p.frag === 'last') v |= 0x08;
  return v;
}

function prefixMatch(fp: FlowPrefix, addr: Uint8Array): boolean {
  if (fp.offset === 0) return prefixContains(fp.prefix, addr);
  for (let i = fp.offset; i < fp.prefix.len; i++) {
    const a = (addr[i >> 3]! >> (7 - (i & 7))) & 1;
    const b = (fp.prefix.bytes[i >> 3]! >> (7 - (i & 7))) & 1;
    if (a !== b) return false;
  }
  return true;
}

/** True when a router applying `rule` would match the packet. */
export function matchesPacket(
  rule: Pick<FlowspecRule, 'family' | 'destination_prefix' | 'source_prefix' | 'match'>,
  p: PacketView,
): boolean {
  if (rule.family !== p.ipVersion) return false;
  if (rule.destination_prefix && !prefixMatch(rule.destination_prefix, p.dst)) return false;
  if (rule.source_prefix && !prefixMatch(rule.source_prefix, p.src)) return false;
  const m = rule.match;
  const num = (mm: NumMatch | undefined, v: number) => mm === undefined || (v >= 0 && evalNum(mm, v));
  if (!num(m.protocols, p.protocol)) return false;
  if (m.ports && !(num(m.ports, p.srcPort) && p.srcPort >= 0) && !(num(m.ports, p.dstPort) && p.dstPort >= 0))
    return false;
  if (!num(m.destination_ports, p.dstPort)) return false;
  if (!num(m.source_ports, p.srcPort)) return false;
  if (!num(m.icmp_types, p.icmpType)) return false;
  if (!num(m.icmp_codes, p.icmpCode)) return false;
  if (m.tcp_flags && (p.tcpFlags < 0 || !evalBit(m.tcp_flags as BitMatch, p.tcpFlags))) return false;
  if (!num(m.packet_lengths, p.length)) return false;
  if (!num(m.dscps, p.dscp)) return false;
  if (m.fragmentation_flags && !evalBit(m.fragmentation_flags as BitMatch, fragBits(p))) return false;
  if (!num(m.flow_labels, p.flowLabel)) return false;
  return true;
}

interface IpBits {
  frag: FragKind;
  df: boolean;
  dscp: number;
  flowLabel: number;
}

/** IP-level bits from a raw Ethernet header copy (VLAN tags skipped); null when not plain IP. */
function ipBitsFromHeader(h: Uint8Array): IpBits | null {
  let o = 12;
  if (h.length < o + 2) return null;
  let et = (h[o]! << 8) | h[o + 1]!;
  while ((et === 0x8100 || et === 0x88a8 || et === 0x9100) && h.length >= o + 6) {
    o += 4;
    et = (h[o]! << 8) | h[o + 1]!;
  }
  o += 2;
  if (et === 0x0800 && h.length >= o + 20) {
    const flags = (h[o + 6]! << 8) | h[o + 7]!;
    const mf = (flags & 0x2000) !== 0;
    const off = flags & 0x1fff;
    const frag: FragKind = off === 0 ? (mf ? 'first' : 'none') : mf ? 'middle' : 'last';
    return { frag, df: (flags & 0x4000) !== 0, dscp: h[o + 1]! >> 2, flowLabel: 0 };
  }
  if (et === 0x86dd && h.length >= o + 40) {
    const w = ((h[o]! << 24) | (h[o + 1]! << 16) | (h[o + 2]! << 8) | h[o + 3]!) >>> 0;
    let frag: FragKind = 'none';
    // Only a Fragment header directly after the fixed header is looked at here.
    if (h[o + 6] === 44 && h.length >= o + 48) {
      const fo = (h[o + 42]! << 8) | h[o + 43]!;
      const off = fo >> 3;
      const mf = (fo & 1) !== 0;
      frag = off === 0 ? (mf ? 'first' : 'none') : mf ? 'middle' : 'last';
    }
    return { frag, df: false, dscp: (w >>> 22) & 0x3f, flowLabel: w & 0xfffff };
  }
  return null;
}

/**
 * A kept sample as the router would see it. Fragment kind, DSCP, DF and flow label come from
 * the raw header when the sample has one; otherwise a fragment without ports is taken to be
 * a later fragment (the capture layer parses transport headers of first fragments only).
 */
export function packetFromSample(s: FlowSample): PacketView {
  const src = parseAddr(s.src)?.bytes ?? new Uint8Array(s.ipVersion === 4 ? 4 : 16);
  const dst = parseAddr(s.dst)?.bytes ?? new Uint8Array(s.ipVersion === 4 ? 4 : 16);
  const bits = s.header ? ipBitsFromHeader(s.header) : null;
  let frag: FragKind;
  if (bits) frag = bits.frag;
  else if (!s.fragment) frag = 'none';
  else frag = s.srcPort === 0 && s.dstPort === 0 ? 'middle' : 'first';
  const l4 = frag === 'none' || frag === 'first';
  const ported = l4 && (s.protocol === 6 || s.protocol === 17 || s.protocol === 132);
  const icmp = l4 && (s.protocol === 1 || s.protocol === 58);
  return {
    ipVersion: s.ipVersion,
    src,
    dst,
    protocol: s.protocol,
    srcPort: ported ? s.srcPort : -1,
    dstPort: ported ? s.dstPort : -1,
    icmpType: icmp ? s.icmpType : -1,
    icmpCode: icmp ? s.icmpCode : -1,
    tcpFlags: l4 && s.protocol === 6 ? s.tcpFlags : -1,
    length: s.packetLength,
    dscp: bits?.dscp ?? 0,
    flowLabel: bits?.flowLabel ?? 0,
    frag,
    df: bits?.df ?? false,
    packets: s.packets > 0 ? s.packets : 1,
  };
}
