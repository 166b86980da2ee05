/**
 * Adj-RIB-Out per peer (RFC 4271 §3.2, §9.2): the desired set is diffed against what the
 * peer has been sent, and only the difference goes out. Announcements sharing the same
 * attributes are packed into as few UPDATEs as fit the negotiated message size; IPv4
 * unicast uses the classic NLRI/Withdrawn fields, every other family MP_REACH/MP_UNREACH
 * (RFC 4760). Everything here is pure: it returns UPDATE bytes, the session sends them.
 */
import type { BgpFamily, NextHops } from '../config/types.js';
import type { DesiredRoute } from './types.js';
import { Writer } from '../wire/writer.js';
import { parseV4, parseV6 } from '../wire/addr.js';
import * as C from './constants.js';
import { parseCommunity, parseLargeCommunity } from './attrs.js';
import { flowspecWireLength, prefixWireLength, writeFlowspec, writePrefix } from './nlri.js';

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
  let ext = '';
  for (const e of r.extendedCommunities) ext += Buffer.from(e).toString('hex') + ',';
  for (const e of r.ipv6ExtendedCommunities ?? []) ext += '6:' + Buffer.from(e).toString('hex') + ',';
  return `${r.nextHop ?? ''}|${r.communities.join(',')}|${r.largeCommunities.join(',')}|${ext}`;
}

/** Why a route cannot be sent as given (null when it can). */
export function routeProblem(r: DesiredRoute): string | null {
  const unicast = r.family === 'ipv4-unicast' || r.family === 'ipv6-unicast';
  if (unicast) {
    if (!r.prefix) return 'unicast route without prefix';
    if (r.prefix.family !== (r.family === 'ipv4-unicast' ? 4 : 6)) return `prefix family does not match ${r.family}`;
  } else {
    if (!r.flowspecNlri || r.flowspecNlri.length === 0) return 'FlowSpec route without NLRI';
    if (r.flowspecNlri.length > 4095) return `FlowSpec NLRI of ${r.flowspecNlri.length} bytes`;
  }
  if (r.nextHop !== undefined && parseV4(r.nextHop) < 0 && !parseV6(r.nextHop)) return `bad next hop ${r.nextHop}`;
  for (const c of r.communities) if (Number.isNaN(parseCommunity(c))) return `bad community ${c}`;
  for (const c of r.largeCommunities) if (!parseLargeCommunity(c)) return `bad large community ${c}`;
  for (const e of r.extendedCommunities) if (e.length !== 8) return 'extended community is not 8 bytes';
  for (const e of r.ipv6ExtendedCommunities ?? []) if (e.length !== 20) return 'IPv6 extended community is not 20 bytes';
  return null;
}

export interface Selection {
  readonly routes: Map<string, DesiredRoute>;
  /** FlowSpec rules left out by the per-peer cap. */
  readonly capped: number;
  readonly rejected: { route: DesiredRoute; problem: string }[];
}

/** The routes a peer should hold: its families only, valid, FlowSpec capped (0 = no cap). */
export function selectForPeer(routes: Iterable<DesiredRoute>, families: ReadonlySet<BgpFamily>, maxFlowspec: number): Selection {
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
  if (r.family === 'ipv4-unicast') return ctx.nextHopSelf.ipv4 ?? r.nextHop ?? (ctx.localAddress && parseV4(ctx.localAddress) >= 0 ? ctx.localAddress : undefined);
  if (r.family === 'ipv6-unicast') return ctx.nextHopSelf.ipv6 ?? r.nextHop ?? (ctx.localAddress && parseV6(ctx.localAddress) ? ctx.localAddress : undefined);
  // FlowSpec: next hop only when the rule carries one (redirect-to-IP), RFC 8955 §4 otherwise 0.
  return r.nextHop;
}

function nextHopBytes(family: BgpFamily, nh: string | undefined): Uint8Array {
  if (nh === undefined) return new Uint8Array(0);
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
  return parseV6(nh) ?? new Uint8Array(0);
}

function attr(w: Writer, flags: number, code: number, body: (w: Writer) => void): void {
  w.u8(flags).u8(code);
  const at = w.placeholder(1);
  const start = w.pos;
  body(w);
  const len = w.pos - start;
  if (len > 255) {
    const value = w.view().slice(start, w.pos);
    w.pos = at - 2;
    w.u8(flags | C.FLAG_EXTENDED).u8(code).u16(len).bytes(value);
  } else w.setUint(at, len, 1);
}

/** Attributes before (codes < 14) and after (codes > 15) the MP attributes, for one group. */
function buildAttrs(r: DesiredRoute, nh: string | undefined, ctx: PackContext): { pre: Uint8Array; post: Uint8Array } {
  const w = new Writer(128);
  attr(w, C.FLAG_TRANSITIVE, C.ATTR_ORIGIN, (x) => x.u8(0)); // IGP
  attr(w, C.FLAG_TRANSITIVE, C.ATTR_AS_PATH, (x) => {
    // eBGP: our AS prepended (RFC 4271 §5.1.2); iBGP: empty AS_PATH.
    if (ctx.ebgp) {
      x.u8(C.AS_SEQUENCE).u8(1);
      if (ctx.as4) x.u32(ctx.localAs);
      else x.u16(ctx.localAs > 0xffff ? C.AS_TRANS : ctx.localAs);
    }
  });
  if (r.family === 'ipv4-unicast') attr(w, C.FLAG_TRANSITIVE, C.ATTR_NEXT_HOP, (x) => x.u32(parseV4(nh!)));
  if (!ctx.ebgp) attr(w, C.FLAG_TRANSITIVE, C.ATTR_LOCAL_PREF, (x) => x.u32(100));
  if (r.communities.length) {
    attr(w, C.FLAG_OPTIONAL | C.FLAG_TRANSITIVE, C.ATTR_COMMUNITIES, (x) => {
      for (const c of r.communities) x.u32(parseCommunity(c));
    });
  }
  const pre = w.finish();
  w.reset();
  if (r.extendedCommunities.length) {
    attr(w, C.FLAG_OPTIONAL | C.FLAG_TRANSITIVE, C.ATTR_EXT_COMMUNITIES, (x) => {
      for (const e of r.extendedCommunities) x.bytes(e);
    });
  }
  // RFC 5701 IPv6 Address Specific Extended Community (attribute 25): FlowSpec redirect to IPv6.
  if (r.ipv6ExtendedCommunities?.length) {
    attr(w, C.FLAG_OPTIONAL | C.FLAG_TRANSITIVE, 25, (x) => {
      for (const e of r.ipv6ExtendedCommunities!) x.bytes(e);
    });
  }
  if (r.largeCommunities.length) {
    attr(w, C.FLAG_OPTIONAL | C.FLAG_TRANSITIVE, C.ATTR_LARGE_COMMUNITIES, (x) => {
      for (const l of r.largeCommunities) {
        const [a, b, c] = parseLargeCommunity(l)!;
        x.u32(a).u32(b).u32(c);
      }
    });
  }
  return { pre, post: w.finish() };
}

function header(w: Writer): void {
  for (let i = 0; i < 16; i++) w.u8(0xff);
  w.u16(0).u8(C.MSG_UPDATE);
}

function nlriLength(r: DesiredRoute): number {
  return r.prefix ? prefixWireLength(r.prefix) : flowspecWireLength(r.flowspecNlri!);
}

function writeNlri(w: Writer, r: DesiredRoute): void {
  if (r.prefix) writePrefix(w, r.prefix);
  else writeFlowspec(w, r.flowspecNlri!);
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
    const nh = nextHopFor(r, ctx);
    if ((r.family === 'ipv4-unicast' || r.family === 'ipv6-unicast') && nh === undefined) {
      skipped.push({ route: r, problem: 'no next hop (route, next_hop_self and session address all missing)' });
      continue;
    }
    if (r.family === 'ipv4-unicast' && parseV4(nh!) < 0) {
      skipped.push({ route: r, problem: `IPv4 route with next hop ${nh}` });
      continue;
    }
    const k = `${r.family}|${nh ?? ''}|${r.communities.join(',')}|${r.largeCommunities.join(',')}|${r.extendedCommunities.map((e) => Buffer.from(e).toString('hex')).join(',')}|${(r.ipv6ExtendedCommunities ?? []).map((e) => Buffer.from(e).toString('hex')).join(',')}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { first: r, nh, routes: [] }));
    g.routes.push(r);
  }
  const messages: Uint8Array[] = [];
  const w = new Writer(ctx.maxMessage);
  for (const g of groups.values()) {
    const { pre, post } = buildAttrs(g.first, g.nh, ctx);
    const fam = g.first.family;
    const classic = fam === 'ipv4-unicast';
    const { afi, safi } = C.familyCode(fam);
    const nhb = classic ? new Uint8Array(0) : nextHopBytes(fam, g.nh);
    const mpFixed = classic ? 0 : 4 + 5 + nhb.length; // flags, code, 2-octet length; afi, safi, nh len, reserved
    const room = ctx.maxMessage - C.HEADER_LEN - 4 - pre.length - post.length - mpFixed;
    let i = 0;
    while (i < g.routes.length) {
      const first = g.routes[i]!;
      if (nlriLength(first) > room) {
        skipped.push({ route: first, problem: `NLRI of ${nlriLength(first)} bytes does not fit a ${ctx.maxMessage}-byte UPDATE` });
        i++;
        continue;
      }
      w.reset();
      header(w);
      w.u16(0); // withdrawn routes length
      const aAt = w.placeholder(2);
      w.bytes(pre);
      let mpLenAt = -1;
      if (classic) {
        w.bytes(post);
        w.fillLength(aAt, 2);
      } else {
        w.u8(C.FLAG_OPTIONAL | C.FLAG_EXTENDED).u8(C.ATTR_MP_REACH);
        mpLenAt = w.placeholder(2);
        w.u16(afi).u8(safi).u8(nhb.length).bytes(nhb).u8(0);
      }
      let used = 0;
      while (i < g.routes.length) {
        const r = g.routes[i]!;
        const n = nlriLength(r);
        if (used + n > room) break;
        writeNlri(w, r);
        used += n;
        i++;
      }
      if (!classic) {
        w.fillLength(mpLenAt, 2);
        w.bytes(post);
        w.fillLength(aAt, 2);
      }
      w.setUint(16, w.pos, 2);
      messages.push(w.finish());
    }
  }
  return { messages, skipped };
}

/** UPDATEs withdrawing `routes`: IPv4 unicast in Withdrawn Routes, others in MP_UNREACH. */
export function packWithdrawals(routes: readonly DesiredRoute[], ctx: PackContext): Uint8Array[] {
  const byFamily = new Map<BgpFamily, DesiredRoute[]>();
  for (const r of routes) {
    let l = byFamily.get(r.family);
    if (!l) byFamily.set(r.family, (l = []));
    l.push(r);
  }
  const out: Uint8Array[] = [];
  const w = new Writer(ctx.maxMessage);
  for (const [fam, list] of byFamily) {
    const classic = fam === 'ipv4-unicast';
    const { afi, safi } = C.familyCode(fam);
    const room = ctx.maxMessage - C.HEADER_LEN - 4 - (classic ? 0 : 7);
    let i = 0;
    while (i < list.length) {
      w.reset();
      header(w);
      const wAt = w.placeholder(2);
      let aAt = -1;
      let mpAt = -1;
      if (!classic) {
        aAt = w.placeholder(2);
        w.u8(C.FLAG_OPTIONAL | C.FLAG_EXTENDED).u8(C.ATTR_MP_UNREACH);
        mpAt = w.placeholder(2);
        w.u16(afi).u8(safi);
      }
      let used = 0;
      while (i < list.length) {
        const n = nlriLength(list[i]!);
        if (n > room) {
          i++;
          continue;
        }
        if (used + n > room) break;
        writeNlri(w, list[i]!);
        used += n;
        i++;
      }
      if (classic) {
        w.fillLength(wAt, 2);
        w.u16(0);
      } else {
        w.fillLength(mpAt, 2);
        w.fillLength(aAt, 2);
      }
      w.setUint(16, w.pos, 2);
      out.push(w.finish());
    }
  }
  return out;
}

/** End-of-RIB marker (RFC 4724 §2): empty UPDATE for IPv4 unicast, empty MP_UNREACH otherwise. */
export function endOfRibMessage(fam: BgpFamily): Uint8Array {
  const w = new Writer(32);
  header(w);
  w.u16(0);
  if (fam === 'ipv4-unicast') w.u16(0);
  else {
    const { afi, safi } = C.familyCode(fam);
    w.u16(6).u8(C.FLAG_OPTIONAL).u8(C.ATTR_MP_UNREACH).u8(3).u16(afi).u8(safi);
  }
  w.setUint(16, w.pos, 2);
  return w.finish();
}
