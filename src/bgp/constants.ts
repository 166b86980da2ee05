/**
 * BGP numbers: message types (RFC 4271 §4.1), path attribute codes (IANA "BGP Path
 * Attributes"), AFI/SAFI (RFC 4760), capability codes (IANA "Capability Codes").
 */
import type { BgpFamily } from '../config/types.js';

export const MSG_OPEN = 1;
export const MSG_UPDATE = 2;
export const MSG_NOTIFICATION = 3;
export const MSG_KEEPALIVE = 4;
export const MSG_ROUTE_REFRESH = 5;

export const HEADER_LEN = 19;
/** RFC 4271 §4.1 maximum; RFC 8654 raises it to 65535 once both sides offer extended messages. */
export const MAX_MESSAGE = 4096;
export const MAX_EXTENDED_MESSAGE = 65535;

export const ATTR_ORIGIN = 1;
export const ATTR_AS_PATH = 2;
export const ATTR_NEXT_HOP = 3;
export const ATTR_MED = 4;
export const ATTR_LOCAL_PREF = 5;
export const ATTR_ATOMIC_AGGREGATE = 6;
export const ATTR_AGGREGATOR = 7;
export const ATTR_COMMUNITIES = 8;
export const ATTR_MP_REACH = 14;
export const ATTR_MP_UNREACH = 15;
export const ATTR_EXT_COMMUNITIES = 16;
export const ATTR_LARGE_COMMUNITIES = 32;

/** Attribute flag bits, RFC 4271 §4.3. */
export const FLAG_OPTIONAL = 0x80;
export const FLAG_TRANSITIVE = 0x40;
export const FLAG_EXTENDED = 0x10;

export const AFI_IPV4 = 1;
export const AFI_IPV6 = 2;
export const SAFI_UNICAST = 1;
const SAFI_FLOWSPEC = 133;

export const CAP_MULTIPROTOCOL = 1;
export const CAP_ROUTE_REFRESH = 2;
export const CAP_EXTENDED_MESSAGE = 6;
export const CAP_GRACEFUL_RESTART = 64;
export const CAP_AS4 = 65;
export const CAP_ENHANCED_ROUTE_REFRESH = 70;
export const CAP_ROUTE_REFRESH_OLD = 128;

/** RFC 6793 §9: the 2-octet stand-in for a 4-octet AS. */
export const AS_TRANS = 23456;

export const AS_SEQUENCE = 2;

export interface AfiSafi {
  readonly afi: number;
  readonly safi: number;
}

const FAMILY_CODES: Record<BgpFamily, AfiSafi> = {
  'ipv4-unicast': { afi: AFI_IPV4, safi: SAFI_UNICAST },
  'ipv6-unicast': { afi: AFI_IPV6, safi: SAFI_UNICAST },
  'ipv4-flowspec': { afi: AFI_IPV4, safi: SAFI_FLOWSPEC },
  'ipv6-flowspec': { afi: AFI_IPV6, safi: SAFI_FLOWSPEC },
};

export function familyCode(f: BgpFamily): AfiSafi {
  return FAMILY_CODES[f];
}

/** The config family name of an AFI/SAFI pair, or null when we do not speak it. */
export function familyOf(afi: number, safi: number): BgpFamily | null {
  if (afi === AFI_IPV4 && safi === SAFI_UNICAST) return 'ipv4-unicast';
  if (afi === AFI_IPV6 && safi === SAFI_UNICAST) return 'ipv6-unicast';
  if (afi === AFI_IPV4 && safi === SAFI_FLOWSPEC) return 'ipv4-flowspec';
  if (afi === AFI_IPV6 && safi === SAFI_FLOWSPEC) return 'ipv6-flowspec';
  return null;
}

export function familyText(afi: number, safi: number): string {
  return familyOf(afi, safi) ?? `afi ${afi}/safi ${safi}`;
}
