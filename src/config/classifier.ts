/**
 * HostClassifier: which hostgroup a host belongs to, and whether it is monitored or
 * whitelisted, in one table lookup per question (built once per config, rebuilt on reload).
 *
 * A host is monitored when it lies in `networks` or in any hostgroup prefix. Its hostgroup
 * is the one with the most specific prefix containing it; a monitored host in no hostgroup
 * prefix belongs to `default` (index 0). Networks never decide the group: a network
 * prefix more specific than a hostgroup prefix inherits that hostgroup.
 */
import { prefixContains, type Prefix } from '../wire/addr.js';
import { PrefixTable } from './prefix-table.js';
import type { Config, Hostgroup } from './types.js';

export const HOST_OTHER = 0;
export const HOST_MONITORED = 1;
export const HOST_WHITELISTED = 2;
export type HostKind = typeof HOST_OTHER | typeof HOST_MONITORED | typeof HOST_WHITELISTED;

export class HostClassifier {
  readonly hostgroups: readonly Hostgroup[];
  private readonly groups: PrefixTable<number>;
  private readonly white: PrefixTable<true>;

  constructor(config: Pick<Config, 'networks' | 'whitelist' | 'hostgroups'>) {
    this.hostgroups = config.hostgroups;
    const hg: [Prefix, number][] = [];
    config.hostgroups.forEach((g, i) => g.prefixes.forEach((p) => hg.push([p, i])));
    const entries: [Prefix, number][] = config.networks.map((n) => {
      // The group of the most specific hostgroup prefix that contains the whole network.
      let best = 0;
      let bestLen = -1;
      for (const [p, i] of hg) {
        if (p.family === n.family && p.len <= n.len && p.len > bestLen && prefixContains(p, n.bytes)) {
          best = i;
          bestLen = p.len;
        }
      }
      return [n, best];
    });
    // Hostgroup prefixes after networks: for an identical prefix the hostgroup wins.
    this.groups = new PrefixTable([...entries, ...hg]);
    this.white = new PrefixTable(config.whitelist.map((p) => [p, true as const]));
  }

  /** Hostgroup index of an IPv4 host (uint32), or -1 when not monitored. */
  group4(addr: number): number {
    const i = this.groups.lookup4(addr);
    return i === undefined ? -1 : i;
  }

  /** Hostgroup index of the IPv6 host at bytes[off..off+16), or -1 when not monitored. */
  group6(bytes: Uint8Array, off = 0): number {
    const i = this.groups.lookup6(bytes, off);
    return i === undefined ? -1 : i;
  }

  whitelisted4(addr: number): boolean {
    return this.white.index4(addr) >= 0;
  }

  whitelisted6(bytes: Uint8Array, off = 0): boolean {
    return this.white.index6(bytes, off) >= 0;
  }

  /** Whitelisted wins over monitored; anything else is other. */
  kind4(addr: number): HostKind {
    if (this.white.index4(addr) >= 0) return HOST_WHITELISTED;
    return this.groups.index4(addr) >= 0 ? HOST_MONITORED : HOST_OTHER;
  }

  kind6(bytes: Uint8Array, off = 0): HostKind {
    if (this.white.index6(bytes, off) >= 0) return HOST_WHITELISTED;
    return this.groups.index6(bytes, off) >= 0 ? HOST_MONITORED : HOST_OTHER;
  }
}
