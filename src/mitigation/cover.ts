/**
 * Covering prefixes for hostgroup-scope mitigation (carpet bombing): the few prefixes
 * that hold a set of attacked hosts, and the split of a prefix around whitelisted
 * addresses. Pure functions over Prefix (no I/O, no config), so the safety rules can be
 * tested by themselves; the manager logs the notes they return.
 *
 * Why split rather than refuse outright: a /16 under attack with one whitelisted resolver
 * inside is still best mitigated by the /16 minus that host (16 prefixes for one /32);
 * refusing would leave the whole carpet bomb through. The pieces are the minimal CIDR
 * cover of prefix minus holes, so nothing whitelisted is ever covered.
 */
import { addrBits, maskBytes, prefixContains, prefixToString, type Prefix } from '../wire/addr.js';
import { prefixCovers, prefixesOverlap } from './prefixes.js';

/** An attacked address and how much of the attack it took (sampled packets, say). */
export interface WeightedHost {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
  readonly weight: number;
}

const bitsOf = addrBits;

function bit(b: Uint8Array, i: number): number {
  return (b[i >> 3]! >> (7 - (i & 7))) & 1;
}

function withBit(b: Uint8Array, i: number): Uint8Array {
  const out = Uint8Array.from(b);
  out[i >> 3] = out[i >> 3]! | (1 << (7 - (i & 7)));
  return out;
}

/** The two halves of a prefix (len + 1). */
function halves(p: Prefix): [Prefix, Prefix] {
  const len = p.len + 1;
  return [
    { family: p.family, bytes: maskBytes(p.bytes, len), len },
    { family: p.family, bytes: withBit(maskBytes(p.bytes, len), p.len), len },
  ];
}

/**
 * `p` minus every prefix in `holes`, as the fewest prefixes (a CIDR cover): halves that
 * touch no hole are kept whole, halves inside a hole dropped, the others split again.
 */
export function subtractPrefixes(p: Prefix, holes: readonly Prefix[]): Prefix[] {
  const hit = holes.filter((h) => h.family === p.family && prefixesOverlap(h, p));
  if (hit.length === 0) return [p];
  if (hit.some((h) => prefixCovers(h, p))) return [];
  const [a, b] = halves(p);
  return [...subtractPrefixes(a, hit), ...subtractPrefixes(b, hit)];
}

/** The longest prefix holding every host (all of one family, at least one). */
function commonPrefix(hosts: readonly { bytes: Uint8Array }[], family: 4 | 6): Prefix {
  const first = hosts[0]!.bytes;
  const max = bitsOf(family);
  let len = 0;
  outer: for (; len < max; len++) {
    const v = bit(first, len);
    for (const h of hosts) if (bit(h.bytes, len) !== v) break outer;
  }
  return { family, bytes: maskBytes(first, len), len };
}

interface Group {
  prefix: Prefix;
  hosts: WeightedHost[];
  weight: number;
}

function group(hosts: WeightedHost[], family: 4 | 6): Group {
  let w = 0;
  for (const h of hosts) w += h.weight;
  return { prefix: commonPrefix(hosts, family), hosts, weight: w };
}

const size = (p: Prefix) => 2 ** (bitsOf(p.family) - p.len);

/**
 * At most `max` prefixes, each the tightest prefix of the hosts it holds, covering every
 * host, with the fewest addresses in total (greedy: the split that spares the most
 * addresses first). Hosts are grouped by `within` first (a hostgroup's prefixes, most
 * specific first): a cover never spans two of them, so it never reaches another
 * hostgroup's addresses. Hosts in none of `within` are left out. When the `within`
 * groups alone are more than `max`, the heaviest `max` are kept.
 */
export function coveringPrefixes(
  hosts: readonly WeightedHost[],
  within: readonly Prefix[],
  max: number,
): { prefixes: Prefix[]; weights: number[]; dropped: number } {
  const byWithin = new Map<Prefix, WeightedHost[]>();
  const sorted = [...within].sort((a, b) => b.len - a.len);
  for (const h of hosts) {
    const w = sorted.find((p) => p.family === h.family && prefixContains(p, h.bytes));
    if (!w) continue;
    const l = byWithin.get(w);
    if (l) l.push(h);
    else byWithin.set(w, [h]);
  }
  let groups = [...byWithin.entries()].map(([w, l]) => group(l, w.family));
  groups.sort((a, b) => b.weight - a.weight || cmp(a.prefix, b.prefix));
  let dropped = 0;
  if (groups.length > max) {
    for (const g of groups.slice(max)) dropped += g.weight;
    groups = groups.slice(0, max);
  }
  while (groups.length < max) {
    let best = -1;
    let bestGain = 0;
    let bestSplit: [Group, Group] | null = null;
    groups.forEach((g, i) => {
      if (g.prefix.len >= bitsOf(g.prefix.family)) return;
      const split: [WeightedHost[], WeightedHost[]] = [[], []];
      for (const h of g.hosts) split[bit(h.bytes, g.prefix.len)]!.push(h);
      // The tight prefix's next bit differs between its hosts, so both sides are non-empty.
      const a = group(split[0], g.prefix.family);
      const b = group(split[1], g.prefix.family);
      const gain = size(g.prefix) - size(a.prefix) - size(b.prefix);
      if (gain > bestGain) {
        best = i;
        bestGain = gain;
        bestSplit = [a, b];
      }
    });
    if (best < 0 || !bestSplit) break;
    groups.splice(best, 1, ...(bestSplit as [Group, Group]));
  }
  groups.sort((a, b) => cmp(a.prefix, b.prefix));
  return { prefixes: groups.map((g) => g.prefix), weights: groups.map((g) => g.weight), dropped };
}

function cmp(a: Prefix, b: Prefix): number {
  if (a.family !== b.family) return a.family - b.family;
  for (let i = 0; i < a.bytes.length; i++) if (a.bytes[i] !== b.bytes[i]) return a.bytes[i]! - b.bytes[i]!;
  return a.len - b.len;
}

/** The result of making destinations safe: what may be announced and why the rest was not. */
export interface SafeCover {
  readonly prefixes: Prefix[];
  /** One line per split or refusal, for the log. */
  readonly notes: string[];
}

/**
 * Make `dest` safe: each prefix that overlaps a whitelisted one is split around it (or
 * refused when a whitelisted prefix holds all of it); a prefix not wholly inside
 * `networks` is refused. With `keepIfHolds`, pieces of a split that hold none of those
 * hosts are left out (they would only add rules and collateral). At most `maxPieces`
 * pieces per prefix: a split into more is refused.
 */
export function safeCover(
  dest: readonly Prefix[],
  safety: { readonly networks: readonly Prefix[]; readonly whitelist: readonly Prefix[] },
  opts: { keepIfHolds?: readonly WeightedHost[]; maxPieces: number },
): SafeCover {
  const out: Prefix[] = [];
  const notes: string[] = [];
  for (const p of dest) {
    const text = prefixToString(p);
    if (!safety.networks.some((n) => prefixCovers(n, p))) {
      notes.push(`${text} refused: not wholly inside the configured networks`);
      continue;
    }
    const holes = safety.whitelist.filter((w) => w.family === p.family && prefixesOverlap(w, p));
    if (holes.length === 0) {
      out.push(p);
      continue;
    }
    const holeText = holes.map(prefixToString).join(', ');
    let pieces = subtractPrefixes(p, holes);
    if (pieces.length === 0) {
      notes.push(`${text} refused: all of it is whitelisted (${holeText})`);
      continue;
    }
    const hosts = opts.keepIfHolds;
    if (hosts)
      pieces = pieces.filter((q) => hosts.some((h) => h.family === q.family && prefixContains(q, h.bytes)));
    if (pieces.length > opts.maxPieces) {
      notes.push(
        `${text} refused: it holds whitelisted ${holeText} and splitting around it takes ${pieces.length} prefixes (more than ${opts.maxPieces})`,
      );
      continue;
    }
    if (pieces.length === 0) {
      notes.push(`${text} refused: it holds whitelisted ${holeText} and no attacked host is outside it`);
      continue;
    }
    notes.push(`${text} holds whitelisted ${holeText}: split into ${pieces.map(prefixToString).join(', ')}`);
    out.push(...pieces);
  }
  return { prefixes: out, notes };
}

/** The prefix of length `len` holding addr, never wider than the most specific of `within` holding it. */
export function coveringPrefixOf(
  addr: { family: 4 | 6; bytes: Uint8Array },
  len: number,
  within: readonly Prefix[],
): Prefix {
  let l = Math.min(len, bitsOf(addr.family));
  for (const w of within)
    if (w.family === addr.family && prefixContains(w, addr.bytes) && w.len > l) l = w.len;
  return { family: addr.family, bytes: maskBytes(addr.bytes, l), len: l };
}
