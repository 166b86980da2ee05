/**
 * Capabilities we offer and what a peer's OPEN negotiates (RFC 5492): multiprotocol
 * (RFC 4760 §8), route refresh (RFC 2918) and enhanced route refresh (RFC 7313), graceful
 * restart (RFC 4724 §3), 4-octet AS (RFC 6793) and extended messages (RFC 8654).
 */
import type { BgpFamily } from '../config/types.js';
import * as C from './constants.js';
import type { Capability, OpenMessage } from './codec.js';
import { openCapabilities } from './codec.js';

export interface LocalCapabilities {
  readonly asn: number;
  readonly families: readonly BgpFamily[];
  /** Restart time in seconds, 0 = do not offer graceful restart. */
  readonly gracefulRestart: number;
  readonly extendedMessage: boolean;
}

export function buildCapabilities(l: LocalCapabilities): Capability[] {
  const caps: Capability[] = [];
  for (const f of l.families) {
    const { afi, safi } = C.familyCode(f);
    caps.push({ code: C.CAP_MULTIPROTOCOL, value: new Uint8Array([afi >> 8, afi & 0xff, 0, safi]) });
  }
  caps.push({ code: C.CAP_ROUTE_REFRESH, value: new Uint8Array(0) });
  caps.push({ code: C.CAP_ENHANCED_ROUTE_REFRESH, value: new Uint8Array(0) });
  const as = l.asn >>> 0;
  caps.push({
    code: C.CAP_AS4,
    value: new Uint8Array([as >>> 24, (as >>> 16) & 0xff, (as >>> 8) & 0xff, as & 0xff]),
  });
  if (l.gracefulRestart > 0) {
    // RFC 4724 §3: restart flags (R=0) + 12-bit time, then per family AFI/SAFI and F bit.
    // F=1: the routes we re-announce after a restart are the same "forwarding state".
    const t = Math.min(l.gracefulRestart, 4095);
    const v = [t >> 8, t & 0xff];
    for (const f of l.families) {
      const { afi, safi } = C.familyCode(f);
      v.push(afi >> 8, afi & 0xff, safi, 0x80);
    }
    caps.push({ code: C.CAP_GRACEFUL_RESTART, value: new Uint8Array(v) });
  }
  if (l.extendedMessage) caps.push({ code: C.CAP_EXTENDED_MESSAGE, value: new Uint8Array(0) });
  return caps;
}

/** What a peer's OPEN offers. */
export interface PeerCapabilities {
  /** Families from multiprotocol capabilities; when none is sent, ipv4-unicast (RFC 4760 §8). */
  readonly families: readonly { afi: number; safi: number }[];
  readonly as4: number | null;
  readonly routeRefresh: boolean;
  readonly enhancedRouteRefresh: boolean;
  readonly extendedMessage: boolean;
  readonly gracefulRestart: { restartTime: number; restarting: boolean } | null;
  readonly codes: readonly number[];
}

export function parseCapabilities(open: OpenMessage): PeerCapabilities {
  const caps = openCapabilities(open);
  const families: { afi: number; safi: number }[] = [];
  let as4: number | null = null;
  let rr = false;
  let err = false;
  let ext = false;
  let gr: PeerCapabilities['gracefulRestart'] = null;
  let anyMp = false;
  for (const c of caps) {
    const v = c.value;
    switch (c.code) {
      case C.CAP_MULTIPROTOCOL:
        if (v.length === 4) {
          anyMp = true;
          families.push({ afi: (v[0]! << 8) | v[1]!, safi: v[3]! });
        }
        break;
      case C.CAP_AS4:
        if (v.length === 4) as4 = ((v[0]! << 24) | (v[1]! << 16) | (v[2]! << 8) | v[3]!) >>> 0;
        break;
      case C.CAP_ROUTE_REFRESH:
      case C.CAP_ROUTE_REFRESH_OLD:
        rr = true;
        break;
      case C.CAP_ENHANCED_ROUTE_REFRESH:
        err = true;
        break;
      case C.CAP_EXTENDED_MESSAGE:
        ext = true;
        break;
      case C.CAP_GRACEFUL_RESTART:
        if (v.length >= 2)
          gr = { restartTime: ((v[0]! & 0x0f) << 8) | v[1]!, restarting: (v[0]! & 0x80) !== 0 };
        break;
    }
  }
  if (!anyMp) families.push({ afi: C.AFI_IPV4, safi: C.SAFI_UNICAST });
  return {
    families,
    as4,
    routeRefresh: rr,
    enhancedRouteRefresh: err,
    extendedMessage: ext,
    gracefulRestart: gr,
    codes: caps.map((c) => c.code),
  };
}

/** The session's negotiated parameters. */
export interface Negotiated {
  /** Families both sides offered, in our configured order. */
  readonly families: readonly BgpFamily[];
  readonly as4: boolean;
  readonly remoteAs: number;
  readonly routeRefresh: boolean;
  readonly enhancedRouteRefresh: boolean;
  readonly maxMessage: number;
  readonly holdTime: number;
  readonly peerGracefulRestart: boolean;
}

export function negotiate(local: LocalCapabilities, localHoldTime: number, open: OpenMessage): Negotiated {
  const p = parseCapabilities(open);
  const families = local.families.filter((f) => {
    const { afi, safi } = C.familyCode(f);
    return p.families.some((x) => x.afi === afi && x.safi === safi);
  });
  const holdTime = Math.min(localHoldTime, open.holdTime);
  return {
    families,
    as4: p.as4 !== null,
    remoteAs: p.as4 ?? open.myAs,
    routeRefresh: p.routeRefresh,
    enhancedRouteRefresh: p.enhancedRouteRefresh,
    maxMessage: local.extendedMessage && p.extendedMessage ? C.MAX_EXTENDED_MESSAGE : C.MAX_MESSAGE,
    holdTime,
    peerGracefulRestart: p.gracefulRestart !== null,
  };
}
