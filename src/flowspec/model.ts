/** FlowSpec rule model: the component table (RFC 8955/8956 types), flag/protocol/action vocabularies and the rule types. */
import type { Prefix } from '../wire/addr.js';
import type { BitMatch, NumMatch } from './ops.js';

type NumField =
  | 'protocols'
  | 'ports'
  | 'destination_ports'
  | 'source_ports'
  | 'icmp_types'
  | 'icmp_codes'
  | 'packet_lengths'
  | 'dscps'
  | 'flow_labels';
export type BitField = 'tcp_flags' | 'fragmentation_flags';
export type MatchField = NumField | BitField;

/** Component table: JSON field, RFC 8955 §4.2.2 / RFC 8956 §3 type, value range. */
export interface FieldDef {
  readonly field: MatchField;
  readonly type: number;
  readonly kind: 'num' | 'bit';
  readonly max: number;
  /** ExaBGP-like keyword used by describe(). */
  readonly label: string;
}
export const FIELDS: readonly FieldDef[] = [
  { field: 'protocols', type: 3, kind: 'num', max: 255, label: 'protocol' },
  { field: 'ports', type: 4, kind: 'num', max: 65535, label: 'port' },
  { field: 'destination_ports', type: 5, kind: 'num', max: 65535, label: 'destination-port' },
  { field: 'source_ports', type: 6, kind: 'num', max: 65535, label: 'source-port' },
  { field: 'icmp_types', type: 7, kind: 'num', max: 255, label: 'icmp-type' },
  { field: 'icmp_codes', type: 8, kind: 'num', max: 255, label: 'icmp-code' },
  { field: 'tcp_flags', type: 9, kind: 'bit', max: 0xfff, label: 'tcp-flags' },
  { field: 'packet_lengths', type: 10, kind: 'num', max: 65535, label: 'packet-length' },
  { field: 'dscps', type: 11, kind: 'num', max: 63, label: 'dscp' },
  { field: 'fragmentation_flags', type: 12, kind: 'bit', max: 0x0f, label: 'fragment' },
  { field: 'flow_labels', type: 13, kind: 'num', max: 0xfffff, label: 'flow-label' },
];
export const FIELD_BY_TYPE: ReadonlyMap<number, FieldDef> = new Map(FIELDS.map((f) => [f.type, f]));

/** TCP flag bits (RFC 8955 §4.2.2.9: the TCP header's flag octets; ns is bit 8). */
export const TCP_FLAGS: Readonly<Record<string, number>> = {
  fin: 0x01,
  syn: 0x02,
  rst: 0x04,
  push: 0x08,
  ack: 0x10,
  urgent: 0x20,
  ece: 0x40,
  cwr: 0x80,
  ns: 0x100,
};
export const TCP_FLAG_ALIASES: Readonly<Record<string, number>> = {
  ...TCP_FLAGS,
  psh: 0x08,
  urg: 0x20,
  reset: 0x04,
};

/** Fragment bits, RFC 8955 §4.2.2.12: `0 0 0 0 LF FF IsF DF`. */
export const FRAG_FLAGS: Readonly<Record<string, number>> = {
  'dont-fragment': 0x01,
  'is-fragment': 0x02,
  'first-fragment': 0x04,
  'last-fragment': 0x08,
};

const PROTOCOLS: Readonly<Record<string, number>> = {
  icmp: 1,
  igmp: 2,
  ipip: 4,
  tcp: 6,
  udp: 17,
  gre: 47,
  esp: 50,
  ah: 51,
  icmpv6: 58,
  ospf: 89,
  pim: 103,
  sctp: 132,
};
export const PROTOCOL_ALIASES: Readonly<Record<string, number>> = {
  ...PROTOCOLS,
  'ipv6-icmp': 58,
  icmp6: 58,
};
const PROTOCOL_NAME = new Map(Object.entries(PROTOCOLS).map(([n, v]) => [v, n]));
export function protocolName(v: number): string | undefined {
  return PROTOCOL_NAME.get(v);
}

/** Protocols that carry ports (RFC 8955 §4.2.2.4: ports are only meaningful for these). */
export const PORT_PROTOCOLS = [6, 17, 132];

export interface FlowPrefix {
  readonly prefix: Prefix;
  /** RFC 8956 §3.1 offset in bits (IPv6 only, else 0). */
  readonly offset: number;
}

export type ActionType = 'discard' | 'rate-limit' | 'redirect' | 'mark' | 'accept';
export const ACTION_TYPES: readonly ActionType[] = ['discard', 'rate-limit', 'redirect', 'mark', 'accept'];

export interface RuleAction {
  readonly type: ActionType;
  /** rate-limit, bytes per second (traffic-rate-bytes). */
  readonly rate?: number;
  /** rate-limit, packets per second (traffic-rate-packets, RFC 8955 §7.1). */
  readonly ratePackets?: number;
  /** redirect to a VRF route target AS:value (2- or 4-byte AS by size). */
  readonly redirectAs?: number;
  readonly redirectValue?: number;
  /** redirect to an IP: with redirectValue a route target IP:value (RFC 8955 §7.4), else a next hop. */
  readonly redirectIp?: string;
  /** How a next-hop redirect is signalled: draft-simpson (0x0800 + MP_REACH next hop) or draft-ietf redirect-ip. */
  readonly redirectIpMode?: 'next-hop' | 'ietf';
  /** Copy instead of redirect (the C bit of redirect-to-IP). */
  readonly copy?: boolean;
  /** traffic-marking DSCP (action_type mark, or added to another action). */
  readonly dscp?: number;
  /** traffic-action bits (RFC 8955 §7.3). */
  readonly sample?: boolean;
  readonly terminal?: boolean;
}

export type RuleMatch = { readonly [K in NumField]?: NumMatch } & { readonly [K in BitField]?: BitMatch };

export interface FlowspecRule {
  readonly family: 4 | 6;
  readonly destination_prefix?: FlowPrefix;
  readonly source_prefix?: FlowPrefix;
  readonly match: RuleMatch;
  readonly action: RuleAction;
  /** Extra standard communities ("a:b") sent with the rule (not in FastNetMon's shape). */
  readonly communities: readonly string[];
}

export type ParseResult = { ok: true; rule: FlowspecRule; warnings: string[] } | { ok: false; error: string };

export interface ParseOptions {
  /**
   * Strict (default) refuses under-specified rules too: ports, TCP flags or ICMP fields
   * without a protocol component restricting to the protocols that carry them. Non-strict
   * turns those into warnings (used for rules learned from the wire).
   */
  readonly strict?: boolean;
}
