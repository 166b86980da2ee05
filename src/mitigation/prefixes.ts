/**
 * Prefix checks the mitigation safety rules rest on: parse "ip" / "ip/len" text strictly,
 * whole-prefix containment in `networks`, overlap with the whitelist, and the hostgroup
 * an address belongs to (longest match). Pure functions, no I/O.
 */
import type { Config, Hostgroup } from '../config/types.js';
import { maskBytes, parseAddr, prefixContains, prefixToString, type Prefix } from '../wire/addr.js';

/**
 * Parse "203.0.113.5", "203.0.113.5/32" or "2001:db8::/48". Host bits must be zero when a
 * length is given (an announcement of 203.0.113.5/24 is ambiguous, so it is refused).
 */
export function parsePrefix(text: string): Prefix | string {
  const slash = text.indexOf('/');
  const addrText = slash >= 0 ? text.slice(0, slash) : text;
  const a = parseAddr(addrText.trim());
  if (!a) return `'${addrText}' is not an IPv4 or IPv6 address`;
  const max = a.family === 4 ? 32 : 128;
  let len = max;
  if (slash >= 0) {
    const l = text.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(l) || Number(l) > max) return `'${text}': prefix length must be 0..${max}`;
    len = Number(l);
  }
  const masked = maskBytes(a.bytes, len);
  for (let i = 0; i < masked.length; i++) {
    if (masked[i] !== a.bytes[i]) return `'${text}' has host bits set (did you mean ${prefixToString({ family: a.family, bytes: masked, len })}?)`;
  }
  return { family: a.family, bytes: a.bytes, len };
}

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
export function whitelistHit(whitelist: readonly Prefix[], p: Prefix): Prefix | undefined {
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

/** The hostgroup whose prefixes hold `addr` most specifically; `default` (first) otherwise. */
export function hostgroupFor(hostgroups: readonly Hostgroup[], p: Prefix): Hostgroup | undefined {
  let best: Hostgroup | undefined;
  let bestLen = -1;
  for (const hg of hostgroups) {
    for (const hp of hg.prefixes) {
      if (hp.len > bestLen && prefixCovers(hp, p)) {
        best = hg;
        bestLen = hp.len;
      }
    }
  }
  return best ?? hostgroups.find((h) => h.name === 'default') ?? hostgroups[0];
}

export function hostLength(family: 4 | 6): number {
  return family === 4 ? 32 : 128;
}
