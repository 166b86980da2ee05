/**
 * Adj-RIB-Out per peer (RFC 4271 §3.2, §9.2): the desired set is diffed against what the
 * peer has been sent, and only the difference goes out. Announcements sharing the same
 * attributes are packed into as few UPDATEs as fit the negotiated message size; IPv4
 * unicast uses the classic NLRI/Withdrawn fields, every other family MP_REACH/MP_UNREACH
 * (RFC 4760). Everything here is pure: it returns UPDATE bytes, the session sends them.
 *
 * The bytes come from the codec's serialisers (attrs.ts writeAttribute, update.ts
 * writeUpdateBody through codec.ts encodeUpdate), the same ones the golden and fuzz tests
 * hold to byte-identical re-encoding: this file decides what goes in an UPDATE, never how
 * it is written. A route's communities arrive already parsed (route.ts).
 */
import type { BgpFamily, NextHops } from '../config/types.js';
import type { DesiredRoute } from './types.js';
import { Writer } from '../wire/writer.js';
import { parseV4, parseV6, type Prefix } from '../wire/addr.js';
import * as C from './constants.js';
import { writeAttribute, type AttrContext, type MpReachAttr, type PathAttribute } from './attrs.js';
import { encodeUpdate, type CodecContext } from './codec.js';
import type { UpdateMessage } from './update.js';
import { flowspecWireLength, prefixWireLength } from './nlri.js';

export interface PackContext {
  readonly as4: boolean;
  readonly maxMessage: number;
  readonly ebgp: boolean;
  readonly localAs: number;
  /** Per-family next hop replacing the route's own (next-hop-self). */
  readonly nextHopSelf: NextHops;
  /** The session's local address: the next hop of last resort. */
  readonly localAddress?: string;
}

/** Identity of a route within a peer's Adj-RIB-Out. */
export function ribKey(r: DesiredRoute): string {
  return `${r.family} ${r.key}`;
}

/** Everything that makes two announcements of the same route different. */
export function routeSignature(r: DesiredRoute): string {
  return `${r.nextHop ?? ''}|${r.attrs.key}`;
}

/** Why a route cannot be sent as given (null when it can). */
export function routeProblem(r: DesiredRoute): string | null {
  const unicast = r.family === 'ipv4-unicast' || r.family === 'ipv6-unicast';
  if (unicast) {
    if (!r.prefix) return 'unicast route without prefix';
    if (r.prefix.family !== (r.family === 'ipv4-unicast' ? 4 : 6))
      return `prefix family does not match ${r.family}`;
  } else {
    if (!r.flowspecNlri || r.flowspecNlri.length === 0) return 'FlowSpec route without NLRI';
    if (r.flowspecNlri.length > 4095) return `FlowSpec NLRI of ${r.flowspecNlri.length} bytes`;
  }
  if (r.nextHop !== undefined && parseV4(r.nextHop) < 0 && !parseV6(r.nextHop))
    return `bad next hop ${r.nextHop}`;
  // Communities were checked when the route was built (route.ts); only the verdict is read here.
  return r.attrs.problem;
}

export interface Selection {
  readonly routes: Map<string, DesiredRoute>;
  /** FlowSpec rules left out by the per-peer cap. */
  readonly capped: number;
  readonly rejected: { route: DesiredRoute; problem: string }[];
}

/** The routes a peer should hold: its families only, valid, FlowSpec capped (0 = no cap). */
export function selectForPeer(
  routes: Iterable<DesiredRoute>,
  families: ReadonlySet<BgpFamily>,
  maxFlowspec: number,
): Selection {
  const out = new Map<string, DesiredRoute>();
  const rejected: Selection['rejected'] = [];
  let flows = 0;
  let capped = 0;
  for (const r of routes) {
    if (!families.has(r.family)) continue;
    const problem = routeProblem(r);
    if (problem) {
      rejected.push({ route: r, problem });
      continue;
    }
    const k = ribKey(r);
    if (out.has(k)) continue;
    if (r.family === 'ipv4-flowspec' || r.family === 'ipv6-flowspec') {
      if (maxFlowspec > 0 && flows >= maxFlowspec) {
        capped++;
        continue;
      }
      flows++;
    }
    out.set(k, r);
  }
  return { routes: out, capped, rejected };
}

export interface RibDiff {
  readonly announce: DesiredRoute[];
  readonly withdraw: DesiredRoute[];
}

export class AdjRibOut {
  private readonly sent = new Map<string, { route: DesiredRoute; sig: string }>();

  /** What must be sent for the peer to hold exactly `desired` (not applied). */
  diff(desired: ReadonlyMap<string, DesiredRoute>): RibDiff {
    const announce: DesiredRoute[] = [];
    const withdraw: DesiredRoute[] = [];
    for (const [k, r] of desired) {
      const cur = this.sent.get(k);
      if (!cur || cur.sig !== routeSignature(r)) announce.push(r);
    }
    for (const [k, cur] of this.sent) if (!desired.has(k)) withdraw.push(cur.route);
    return { announce, withdraw };
  }

  /**
   * The difference for the given keys only, against `desired` (undefined: not wanted):
   * what one change costs, whatever the table's size.
   */
  diffKeys(keys: Iterable<string>, desired: (key: string) => DesiredRoute | undefined): RibDiff {
    const announce: DesiredRoute[] = [];
    const withdraw: DesiredRoute[] = [];
    for (const k of keys) {
      const r = desired(k);
      const cur = this.sent.get(k);
      if (r) {
        if (!cur || cur.sig !== routeSignature(r)) announce.push(r);
      } else if (cur) withdraw.push(cur.route);
    }
    return { announce, withdraw };
  }

  apply(d: RibDiff): void {
    for (const r of d.withdraw) this.sent.delete(ribKey(r));
    for (const r of d.announce) this.sent.set(ribKey(r), { route: r, sig: routeSignature(r) });
  }

  clear(): void {
    this.sent.clear();
  }

  routes(family?: BgpFamily): DesiredRoute[] {
    const out: DesiredRoute[] = [];
    for (const { route } of this.sent.values()) if (!family || route.family === family) out.push(route);
    return out;
  }

  get size(): number {
    return this.sent.size;
  }
}

function nextHopFor(r: DesiredRoute, ctx: PackContext): string | undefined {
  if (r.family === 'ipv4-unicast')
    return (
      ctx.nextHopSelf.ipv4 ??
      r.nextHop ??
      (ctx.localAddress && parseV4(ctx.localAddress) >= 0 ? ctx.localAddress : undefined)
    );
  if (r.family === 'ipv6-unicast')
    return (
      ctx.nextHopSelf.ipv6 ??
      r.nextHop ??
      (ctx.localAddress && parseV6(ctx.localAddress) ? ctx.localAddress : undefined)
    );
  // FlowSpec: next hop only when the rule carries one (redirect-to-IP), RFC 8955 §4 otherwise 0.
  return r.nextHop;
}

const EMPTY = new Uint8Array(0);

function nextHopBytes(family: BgpFamily, nh: string | undefined): Uint8Array {
  if (nh === undefined) return EMPTY;
  const v4 = parseV4(nh);
  if (v4 >= 0) {
    const b = new Uint8Array([v4 >>> 24, (v4 >>> 16) & 255, (v4 >>> 8) & 255, v4 & 255]);
    if (family === 'ipv6-unicast') {
      // IPv4-mapped IPv6 next hop (RFC 4291 §2.5.5.2) for an IPv4-only peer.
      const m = new Uint8Array(16);
      m[10] = 0xff;
      m[11] = 0xff;
      m.set(b, 12);
      return m;
    }
    return b;
  }
  return parseV6(nh) ?? EMPTY;
}

const ORIGIN_IGP: PathAttribute = {
  kind: 'origin',
  flags: C.FLAG_TRANSITIVE,
  code: C.ATTR_ORIGIN,
  origin: 0,
};
/** RFC 4271 §5.1.5: LOCAL_PREF goes to internal peers only; 100 is the customary default. */
const LOCAL_PREF_100: PathAttribute = {
  kind: 'local_pref',
  flags: C.FLAG_TRANSITIVE,
  code: C.ATTR_LOCAL_PREF,
  value: 100,
};
/**
 * MP_REACH_NLRI / MP_UNREACH_NLRI are optional non-transitive (RFC 4760 §3, §4); we always
 * use the 2-octet length (RFC 4271 §4.3 extended-length bit) so that the room left for
 * NLRI is known before they are added.
 */
const MP_FLAGS = C.FLAG_OPTIONAL | C.FLAG_EXTENDED;

/**
 * The attributes every announcement of a session carries: ORIGIN IGP (RFC 4271 §5.1.1),
 * AS_PATH with our AS prepended towards eBGP peers and empty towards iBGP ones (§5.1.2;
 * a 2-octet session gets AS_TRANS for a 4-octet AS, RFC 6793 §9, written by attrs.ts).
 */
function sessionAttributes(ctx: PackContext): PathAttribute[] {
  const segments = ctx.ebgp ? [{ type: C.AS_SEQUENCE, asns: [ctx.localAs] }] : [];
  return [ORIGIN_IGP, { kind: 'as_path', flags: C.FLAG_TRANSITIVE, code: C.ATTR_AS_PATH, segments }];
}

/**
 * One group's attribute list in ascending type code (RFC 4271 §5 SHOULD): the session's,
 * NEXT_HOP for IPv4 unicast (RFC 4271 §5.1.3; other families carry it in MP_REACH_NLRI),
 * LOCAL_PREF for iBGP, and the route's own around `mp` (type 14) when there is one.
 */
function groupAttributes(
  session: readonly PathAttribute[],
  r: DesiredRoute,
  nh: string | undefined,
  mp: MpReachAttr | null,
  ctx: PackContext,
): PathAttribute[] {
  const out = [...session];
  if (r.family === 'ipv4-unicast')
    out.push({ kind: 'next_hop', flags: C.FLAG_TRANSITIVE, code: C.ATTR_NEXT_HOP, nextHop: nh! });
  if (!ctx.ebgp) out.push(LOCAL_PREF_100);
  let placed = !mp;
  for (const a of r.attrs.list) {
    if (!placed && a.code > C.ATTR_MP_REACH) {
      out.push(mp!);
      placed = true;
    }
    out.push(a);
  }
  if (!placed) out.push(mp!);
  return out;
}

/** Bytes the attributes take on the wire (an MP attribute without NLRI counts its fixed part). */
function attributesLength(attrs: readonly PathAttribute[], ctx: AttrContext): number {
  const w = new Writer(256);
  for (const a of attrs) writeAttribute(w, a, ctx);
  return w.length;
}

function isFlowspec(f: BgpFamily): boolean {
  return f === 'ipv4-flowspec' || f === 'ipv6-flowspec';
}

/** Wire length of the route's NLRI: a prefix (RFC 4271 §4.3) or a FlowSpec NLRI with its length (RFC 8955 §4). */
function nlriLength(r: DesiredRoute): number {
  return isFlowspec(r.family) ? flowspecWireLength(r.flowspecNlri!) : prefixWireLength(r.prefix!);
}

export interface Packed {
  readonly messages: Uint8Array[];
  /** Routes that could not be sent (no next hop, NLRI larger than a message). */
  readonly skipped: { route: DesiredRoute; problem: string }[];
}

/** UPDATEs announcing `routes`, grouped by identical attributes, each as full as fits. */
export function packAnnouncements(routes: readonly DesiredRoute[], ctx: PackContext): Packed {
  const groups = new Map<string, { first: DesiredRoute; nh: string | undefined; routes: DesiredRoute[] }>();
  const skipped: Packed['skipped'] = [];
  for (const r of routes) {
    if (r.attrs.problem) {
      skipped.push({ route: r, problem: r.attrs.problem });
      continue;
    }
    const nh = nextHopFor(r, ctx);
    if ((r.family === 'ipv4-unicast' || r.family === 'ipv6-unicast') && nh === undefined) {
      skipped.push({
        route: r,
        problem: 'no next hop (route, next_hop_self and session address all missing)',
      });
      continue;
    }
    if (r.family === 'ipv4-unicast' && parseV4(nh!) < 0) {
      skipped.push({ route: r, problem: `IPv4 route with next hop ${nh}` });
      continue;
    }
    const k = `${r.family}|${nh ?? ''}|${r.attrs.key}`;
    let g = groups.get(k);
    if (!g) {
      g = { first: r, nh, routes: [] };
      groups.set(k, g);
    }
    g.routes.push(r);
  }
  const messages: Uint8Array[] = [];
  const codec: CodecContext = { as4: ctx.as4, maxLength: ctx.maxMessage };
  const session = sessionAttributes(ctx);
  for (const g of groups.values()) {
    const fam = g.first.family;
    const classic = fam === 'ipv4-unicast';
    const flow = isFlowspec(fam);
    const { afi, safi } = C.familyCode(fam);
    const mp: MpReachAttr | null = classic
      ? null
      : {
          kind: 'mp_reach',
          flags: MP_FLAGS,
          code: C.ATTR_MP_REACH,
          afi,
          safi,
          nextHop: nextHopBytes(fam, g.nh),
          reserved: 0,
          nlri: [],
          flowspec: [],
        };
    const attrs = groupAttributes(session, g.first, g.nh, mp, ctx);
    const mpAt = mp ? attrs.indexOf(mp) : -1;
    // RFC 4271 §4.3: 19-byte header, two 2-octet length fields, the attributes, then NLRI.
    const room = ctx.maxMessage - C.HEADER_LEN - 4 - attributesLength(attrs, ctx);
    let i = 0;
    while (i < g.routes.length) {
      const first = g.routes[i]!;
      if (nlriLength(first) > room) {
        skipped.push({
          route: first,
          problem: `NLRI of ${nlriLength(first)} bytes does not fit a ${ctx.maxMessage}-byte UPDATE`,
        });
        i++;
        continue;
      }
      const prefixes: Prefix[] = [];
      const flows: Uint8Array[] = [];
      let used = 0;
      while (i < g.routes.length) {
        const r = g.routes[i]!;
        const n = nlriLength(r);
        if (used + n > room) break;
        if (flow) flows.push(r.flowspecNlri!);
        else prefixes.push(r.prefix!);
        used += n;
        i++;
      }
      let m: UpdateMessage;
      if (classic) m = { type: 'update', withdrawn: [], attributes: attrs, nlri: prefixes };
      else {
        const withNlri = attrs.slice();
        withNlri[mpAt] = { ...mp!, nlri: prefixes, flowspec: flows };
        m = { type: 'update', withdrawn: [], attributes: withNlri, nlri: [] };
      }
      messages.push(encodeUpdate(m, codec));
    }
  }
  return { messages, skipped };
}

/** UPDATEs withdrawing `routes`: IPv4 unicast in Withdrawn Routes, others in MP_UNREACH (RFC 4760 §4). */
export function packWithdrawals(routes: readonly DesiredRoute[], ctx: PackContext): Uint8Array[] {
  const byFamily = new Map<BgpFamily, DesiredRoute[]>();
  for (const r of routes) {
    let l = byFamily.get(r.family);
    if (!l) {
      l = [];
      byFamily.set(r.family, l);
    }
    l.push(r);
  }
  const out: Uint8Array[] = [];
  const codec: CodecContext = { as4: ctx.as4, maxLength: ctx.maxMessage };
  for (const [fam, list] of byFamily) {
    const classic = fam === 'ipv4-unicast';
    const flow = isFlowspec(fam);
    const { afi, safi } = C.familyCode(fam);
    // Header, the two length fields, and for MP_UNREACH its 4-byte header plus AFI/SAFI.
    const room = ctx.maxMessage - C.HEADER_LEN - 4 - (classic ? 0 : 7);
    let i = 0;
    while (i < list.length) {
      const prefixes: Prefix[] = [];
      const flows: Uint8Array[] = [];
      let used = 0;
      while (i < list.length) {
        const r = list[i]!;
        const n = nlriLength(r);
        if (n > room) {
          i++;
          continue;
        }
        if (used + n > room) break;
        if (flow) flows.push(r.flowspecNlri!);
        else prefixes.push(r.prefix!);
        used += n;
        i++;
      }
      const m: UpdateMessage = classic
        ? { type: 'update', withdrawn: prefixes, attributes: [], nlri: [] }
        : {
            type: 'update',
            withdrawn: [],
            attributes: [
              {
                kind: 'mp_unreach',
                flags: MP_FLAGS,
                code: C.ATTR_MP_UNREACH,
                afi,
                safi,
                withdrawn: prefixes,
                flowspec: flows,
              },
            ],
            nlri: [],
          };
      out.push(encodeUpdate(m, codec));
    }
  }
  return out;
}

/** End-of-RIB marker (RFC 4724 §2): empty UPDATE for IPv4 unicast, empty MP_UNREACH otherwise. */
export function endOfRibMessage(fam: BgpFamily): Uint8Array {
  const { afi, safi } = C.familyCode(fam);
  const attributes: PathAttribute[] =
    fam === 'ipv4-unicast'
      ? []
      : [
          {
            kind: 'mp_unreach',
            flags: C.FLAG_OPTIONAL,
            code: C.ATTR_MP_UNREACH,
            afi,
            safi,
            withdrawn: [],
            flowspec: [],
          },
        ];
  return encodeUpdate({ type: 'update', withdrawn: [], attributes, nlri: [] });
}
