/**
 * Prefix checks the mitigation safety rules rest on: parse "ip" / "ip/len" text strictly,
 * whole-prefix containment in `networks`, overlap with the whitelist. Pure functions, no
 * I/O. A prefix's hostgroup is the config room's lookup (config/classifier.ts).
 */
import type { Config } from '../config/types.js';
import { prefixContains, prefixToString, type Prefix } from '../wire/addr.js';
import { tryParsePrefix } from '../config/values.js';

/**
 * Parse "203.0.113.5", "203.0.113.5/32" or "2001:db8::/48" with the config's strict rules:
 * host bits must be zero when a length is given (203.0.113.5/24 is ambiguous, so refused).
 */
export const parsePrefix = tryParsePrefix;

/** True when the whole of `inner` lies inside `outer`. */
export function prefixCovers(outer: Prefix, inner: Prefix): boolean {
  return outer.family === inner.family && outer.len <= inner.len && prefixContains(outer, inner.bytes);
}

/** True when the two prefixes share at least one address. */
export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  return prefixCovers(a, b) || prefixCovers(b, a);
}

/** The network in `networks` holding all of p, or undefined. */
export function coveringNetwork(networks: readonly Prefix[], p: Prefix): Prefix | undefined {
  return networks.find((n) => prefixCovers(n, p));
}

/** A whitelisted prefix that overlaps p (so announcing p would hit a whitelisted address). */
function whitelistHit(whitelist: readonly Prefix[], p: Prefix): Prefix | undefined {
  return whitelist.find((w) => prefixesOverlap(w, p));
}

/** Why announcing p would break a safety rule, or null when it is allowed. */
export function safetyError(cfg: Pick<Config, 'networks' | 'whitelist'>, p: Prefix): string | null {
  const text = prefixToString(p);
  if (!coveringNetwork(cfg.networks, p)) return `${text} is outside the configured networks`;
  const w = whitelistHit(cfg.whitelist, p);
  if (w) return `${text} overlaps whitelisted ${prefixToString(w)}`;
  return null;
}
