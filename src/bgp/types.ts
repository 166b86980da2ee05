/**
 * What the rest of the daemon gives the BGP speaker: a desired set of routes. The RIB-out
 * manager diffs it against what each peer holds and sends only the difference.
 */
import type { BgpFamily } from '../config/types.js';
import type { Prefix } from '../wire/addr.js';
import type { PathAttribute } from './attrs.js';

export interface DesiredRoute {
  /**
   * Identity within its family: for unicast the prefix text ("203.0.113.5/32"), for
   * FlowSpec the hex of the canonical NLRI bytes. Two routes with the same key are the
   * same route; a changed attribute with the same key is a replacement.
   */
  readonly key: string;
  readonly family: BgpFamily;
  /** Unicast families. */
  readonly prefix?: Prefix;
  /** FlowSpec families: the NLRI value bytes (without the length prefix), RFC 8955 §4. */
  readonly flowspecNlri?: Uint8Array;
  /** Text address; for FlowSpec usually absent (no next hop, RFC 8955 §4 uses 0 length). */
  readonly nextHop?: string;
  /** "a:b" standard communities (well-known names already resolved), as shown in logs and the API. */
  readonly communities: readonly string[];
  /** "a:b:c" large communities, as shown. */
  readonly largeCommunities: readonly string[];
  /** Extended communities as 8 raw bytes each (FlowSpec actions, route targets). */
  readonly extendedCommunities: readonly Uint8Array[];
  /**
   * IPv6-address-specific extended communities (attribute 25, RFC 5701), 20 raw bytes each:
   * FlowSpec redirect-to-IPv6 (RFC 8956 §6, draft-ietf-idr-flowspec-redirect-ip). Rarely set.
   */
  readonly ipv6ExtendedCommunities?: readonly Uint8Array[];
  /** Who asked for it (mitigation uuid, "static"): for logs and the API only. */
  readonly owner: string;
  /**
   * The attributes above in wire form, built once by desiredRoute() (route.ts) when the
   * route is built: the RIB-out packs, groups and diffs these and never reads the text.
   * A copy with other attributes must be built through desiredRoute() again.
   */
  readonly attrs: RouteAttributes;
}

/** A desired route's own path attributes, parsed from its text once. */
export interface RouteAttributes {
  /**
   * COMMUNITIES (RFC 1997), EXTENDED_COMMUNITIES (RFC 4360), IPv6 Address Specific
   * Extended Community (RFC 5701, attribute 25) and LARGE_COMMUNITY (RFC 8092), those
   * present, as the typed values attrs.ts writes, in ascending type code.
   */
  readonly list: readonly PathAttribute[];
  /** Identity of `list`: equal keys, identical attribute bytes. */
  readonly key: string;
  /** Why the attributes cannot be sent (a community that does not parse), else null. */
  readonly problem: string | null;
}

export type PeerStateName = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established';

export interface PeerStatus {
  readonly name: string;
  readonly address: string;
  readonly remote_as: number;
  readonly state: PeerStateName;
  readonly uptime_s: number;
  readonly last_error: string | null;
  readonly messages_in: number;
  readonly messages_out: number;
  readonly updates_in: number;
  readonly updates_out: number;
  readonly prefixes_in: number;
  readonly prefixes_out: number;
  readonly families: readonly BgpFamily[];
  /** Received UPDATEs with RFC 7606 errors (treat-as-withdraw / attribute-discard). */
  readonly malformed_updates_in?: number;
  /** FlowSpec rules left out by max_flowspec_rules. */
  readonly flowspec_capped?: number;
  /** UPDATEs waiting to be sent (back-pressure or max_updates_per_second). */
  readonly queued_updates?: number;
}

/** The speaker's public surface used by mitigation, API and the daemon. */
export interface Speaker {
  start(): Promise<void>;
  /** Replace the whole desired set and send the differences to every established peer. */
  sync(routes: Iterable<DesiredRoute>): void;
  /** One change at a time: routes wanted now and routes no longer wanted (by owner), O(changes). */
  update(put: Iterable<DesiredRoute>, remove: Iterable<DesiredRoute>): void;
  /** Per-peer count of routes actually advertised (after caps). */
  status(): PeerStatus[];
  /** Clean stop: withdraw everything (unless graceful restart), NOTIFICATION cease, close. */
  stop(): Promise<void>;
  on(event: 'established' | 'down', listener: (peer: string, reason: string) => void): void;
}
