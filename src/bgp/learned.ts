/**
 * Networks learned from BGP (networks_from_bgp; FastNetMon issue 430): unicast routes that
 * the chosen peer announces with one of the chosen communities become monitored networks
 * of the chosen hostgroup, and stop being so when withdrawn, when an UPDATE is
 * treat-as-withdraw (RFC 7606), or when the session goes down. A route outside
 * `networks_from_bgp.within` is ignored (logged once per prefix): what Breakwater may
 * announce can never widen beyond that bound. The learned set is capped.
 *
 * withLearned() is pure: the configured Config plus the learned prefixes, in `networks` and
 * in the hostgroup's `prefixes`, which is the Config every other room then reads.
 */
import type { Config, Hostgroup, NetworksFromBgpConfig } from '../config/types.js';
import { deepFreeze } from '../config/load.js';
import { formatCommunity } from '../config/values.js';
import type { Logger } from '../log.js';
import { prefixContains, prefixToString, type Prefix } from '../wire/addr.js';
import { AFI_IPV4, AFI_IPV6, SAFI_UNICAST } from './constants.js';
import type { UpdateMessage } from './update.js';

/** Most learned prefixes kept; more are ignored (and logged once). */
const MAX_LEARNED = 10_000;

const covers = (outer: Prefix, inner: Prefix) =>
  outer.family === inner.family && outer.len <= inner.len && prefixContains(outer, inner.bytes);

/** The configured Config with the learned prefixes added to networks and to the hostgroup. */
export function withLearned(cfg: Config, learned: readonly Prefix[]): Config {
  const nb = cfg.networks_from_bgp;
  if (!nb || learned.length === 0) return cfg;
  const have = new Set(cfg.networks.map(prefixToString));
  const taken = new Set(cfg.hostgroups.flatMap((h) => h.prefixes.map(prefixToString)));
  const add = learned.filter((p) => !have.has(prefixToString(p)));
  // A prefix a policy already names keeps that policy's hostgroup.
  const mine = learned.filter((p) => !taken.has(prefixToString(p)));
  const hostgroups: Hostgroup[] = cfg.hostgroups.map((h) =>
    h.name === nb.hostgroup ? { ...h, prefixes: [...h.prefixes, ...mine] } : h,
  );
  return deepFreeze({ ...cfg, networks: [...cfg.networks, ...add], hostgroups });
}

export class LearnedNetworks {
  /** Learned prefix text -> prefix. */
  private readonly routes = new Map<string, Prefix>();
  private readonly refused = new Set<string>();
  private capped = false;

  constructor(
    private cfg: NetworksFromBgpConfig | undefined,
    private readonly onChange: () => void,
    private readonly log: Logger,
  ) {}

  reconfigure(cfg: NetworksFromBgpConfig | undefined): void {
    const prev = this.cfg;
    this.cfg = cfg;
    if (JSON.stringify(prev) === JSON.stringify(cfg) || this.routes.size === 0) return;
    // Another peer or other communities: relearn from that peer's next UPDATEs (the speaker
    // restarts a changed peer's session, which resends its table). A new bound: keep what
    // is inside it.
    const same =
      cfg &&
      prev &&
      cfg.peer === prev.peer &&
      JSON.stringify(cfg.communities) === JSON.stringify(prev.communities);
    for (const [k, p] of this.routes)
      if (!same || !cfg.within.some((w) => covers(w, p))) this.routes.delete(k);
    this.refused.clear();
    this.onChange();
  }

  list(): Prefix[] {
    return [...this.routes.values()];
  }

  /** The session with `peer` went down: its routes are gone (its routes are implicitly withdrawn). */
  down(peer: string): void {
    if (peer !== this.cfg?.peer || this.routes.size === 0) return;
    this.log.info(
      `networks_from_bgp: session with ${peer} down, ${this.routes.size} learned network(s) removed`,
    );
    this.routes.clear();
    this.onChange();
  }

  update(peer: string, m: UpdateMessage): void {
    const cfg = this.cfg;
    if (!cfg || peer !== cfg.peer) return;
    const announced: Prefix[] = [];
    const withdrawn: Prefix[] = [...m.withdrawn];
    let communities: string[] = [];
    for (const a of m.attributes) {
      if (a.kind === 'communities') communities = communities.concat(a.communities.map(formatCommunity));
      else if (a.kind === 'large_communities')
        communities = communities.concat(a.communities.map((c) => c.join(':')));
      else if (
        (a.kind === 'mp_reach' || a.kind === 'mp_unreach') &&
        a.safi === SAFI_UNICAST &&
        (a.afi === AFI_IPV4 || a.afi === AFI_IPV6)
      ) {
        if (a.kind === 'mp_reach') announced.push(...a.nlri);
        else withdrawn.push(...a.withdrawn);
      }
    }
    announced.push(...m.nlri);
    const treatAsWithdraw = m.issues?.some((i) => i.action === 'treat-as-withdraw') ?? false;
    const tagged = cfg.communities.length === 0 || cfg.communities.some((c) => communities.includes(c));
    let changed = false;
    const drop = (p: Prefix) => {
      if (this.routes.delete(prefixToString(p))) {
        changed = true;
        this.log.info(`networks_from_bgp: ${prefixToString(p)} withdrawn by ${peer}: no longer monitored`);
      }
    };
    for (const p of withdrawn) drop(p);
    for (const p of announced) {
      const key = prefixToString(p);
      // An announcement without the communities replaces (and so withdraws) a tagged one.
      if (treatAsWithdraw || !tagged) {
        drop(p);
        continue;
      }
      if (!cfg.within.some((w) => covers(w, p))) {
        if (!this.refused.has(key) && this.refused.size < 1000) {
          this.refused.add(key);
          this.log.warn(
            `networks_from_bgp: ignoring ${key} from ${peer}: outside networks_from_bgp.within (${cfg.within.map(prefixToString).join(', ')})`,
          );
        }
        drop(p);
        continue;
      }
      if (this.routes.has(key)) continue;
      if (this.routes.size >= MAX_LEARNED) {
        if (!this.capped)
          this.log.warn(
            `networks_from_bgp: more than ${MAX_LEARNED} networks learned from ${peer}; ignoring the rest`,
          );
        this.capped = true;
        continue;
      }
      this.routes.set(key, p);
      changed = true;
      this.log.info(
        `networks_from_bgp: ${key} learned from ${peer}: monitored in hostgroup ${cfg.hostgroup}`,
      );
    }
    if (changed) this.onChange();
  }
}
