/**
 * The one way a DesiredRoute is built. Whoever wants a route (static config, a blackhole,
 * a FlowSpec rule) gives its attributes as text; they are parsed here, once, into the
 * attrs.ts values the UPDATE serialiser writes, so a sync of a hundred thousand routes
 * compares and packs ready values instead of parsing every community again.
 */
import type { DesiredRoute, RouteAttributes } from './types.js';
import * as C from './constants.js';
import { parseCommunity, parseLargeCommunity, type PathAttribute } from './attrs.js';

/** A route as its builder describes it: everything but the parsed attributes. */
type DesiredRouteInit = Omit<DesiredRoute, 'attrs'>;

type Building = { -readonly [K in keyof DesiredRoute]: DesiredRoute[K] };

export function desiredRoute(init: DesiredRouteInit): DesiredRoute {
  // Field by field rather than `{ ...init, attrs }`: a spread costs several times more, and
  // a static config or a carpet bomb builds a hundred thousand of these at once. The
  // optional fields stay absent when the builder left them out.
  const r = { key: init.key, family: init.family } as Building;
  if ('prefix' in init) r.prefix = init.prefix;
  if ('flowspecNlri' in init) r.flowspecNlri = init.flowspecNlri;
  if ('nextHop' in init) r.nextHop = init.nextHop;
  r.communities = init.communities;
  r.largeCommunities = init.largeCommunities;
  r.extendedCommunities = init.extendedCommunities;
  if ('ipv6ExtendedCommunities' in init) r.ipv6ExtendedCommunities = init.ipv6ExtendedCommunities;
  r.owner = init.owner;
  r.attrs = routeAttributes(init);
  return r;
}

const OPT_TRANS = C.FLAG_OPTIONAL | C.FLAG_TRANSITIVE;
/** RFC 5701 §2: the IPv6 Address Specific Extended Community attribute (type 25, optional transitive). */
const ATTR_IPV6_EXT_COMMUNITIES = 25;

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}

/**
 * Parsed attributes by their text: routes built from one policy (a hostgroup's blackhole
 * communities, a static list) share one parse and one set of values. Values are never
 * changed once built, so sharing them is invisible (a pure function's memo); the bound
 * keeps a churn of distinct sets, FlowSpec rates say, from growing it.
 */
const parsed = new Map<string, RouteAttributes>();
const PARSED_MAX = 4096;

function routeAttributes(r: DesiredRouteInit): RouteAttributes {
  // The text is the identity (it is what was configured); equal text, equal bytes. Each
  // entry ends in ',' and each list in '|', which no valid community contains; text that
  // does is bad anyway and gets a key of its own, unshared.
  let key = '';
  let plain = true;
  for (const c of r.communities) {
    if (c.includes(',') || c.includes('|')) plain = false;
    key += `${c},`;
  }
  key += '|';
  for (const c of r.largeCommunities) {
    if (c.includes(',') || c.includes('|')) plain = false;
    key += `${c},`;
  }
  key += '|';
  for (const e of r.extendedCommunities) key += `${hex(e)},`;
  if (r.ipv6ExtendedCommunities) for (const e of r.ipv6ExtendedCommunities) key += `6:${hex(e)},`;
  if (!plain) return parse(r, JSON.stringify([r.communities, r.largeCommunities]) + key);
  let a = parsed.get(key);
  if (!a) {
    if (parsed.size >= PARSED_MAX) parsed.clear();
    a = parse(r, key);
    parsed.set(key, a);
  }
  return a;
}

function parse(r: DesiredRouteInit, key: string): RouteAttributes {
  let problem: string | null = null;
  const list: PathAttribute[] = [];
  // RFC 1997: four octets each, the high two the AS.
  const communities: number[] = [];
  for (const c of r.communities) {
    const v = parseCommunity(c);
    if (Number.isNaN(v)) problem ??= `bad community ${c}`;
    communities.push(v);
  }
  // RFC 8092 §2: global administrator, local data 1, local data 2 (four octets each).
  const large: (readonly [number, number, number])[] = [];
  for (const c of r.largeCommunities) {
    const v = parseLargeCommunity(c);
    if (v) large.push(v);
    else problem ??= `bad large community ${c}`;
  }
  // RFC 4360 §2: eight octets each; RFC 5701 §2: twenty.
  for (const e of r.extendedCommunities) if (e.length !== 8) problem ??= 'extended community is not 8 bytes';
  const ext6 = r.ipv6ExtendedCommunities ?? [];
  for (const e of ext6) if (e.length !== 20) problem ??= 'IPv6 extended community is not 20 bytes';

  // RFC 4271 §5: a sender SHOULD order path attributes by ascending type code (8, 16, 25, 32).
  if (communities.length)
    list.push({ kind: 'communities', flags: OPT_TRANS, code: C.ATTR_COMMUNITIES, communities });
  // Copies: the values may be shared by every route of the same text, whoever built them.
  if (r.extendedCommunities.length)
    list.push({
      kind: 'ext_communities',
      flags: OPT_TRANS,
      code: C.ATTR_EXT_COMMUNITIES,
      communities: r.extendedCommunities.map((e) => Uint8Array.from(e)),
    });
  if (ext6.length) {
    // No typed kind for attribute 25 in attrs.ts (received ones stay raw): its value is the 20-byte entries back to back.
    const value = new Uint8Array(ext6.reduce((n, e) => n + e.length, 0));
    let at = 0;
    for (const e of ext6) {
      value.set(e, at);
      at += e.length;
    }
    list.push({ kind: 'raw', flags: OPT_TRANS, code: ATTR_IPV6_EXT_COMMUNITIES, value });
  }
  if (large.length)
    list.push({
      kind: 'large_communities',
      flags: OPT_TRANS,
      code: C.ATTR_LARGE_COMMUNITIES,
      communities: large,
    });
  return { list, key, problem };
}
