/**
 * The escalation loop's pure decision core: one run = one call, no clock, no I/O.
 *
 * Given the active blackholes (with each host's current rates and ban-time evidence), the
 * escalations the loop owns and the config, it returns what to do with every owned
 * escalation (keep / deescalate) and which new covering prefixes to escalate or refuse.
 * The shell (loop.ts) applies the decisions through the mitigation manager.
 *
 * Rules (docs/escalation.md has the long form):
 *  - A blackholed host is "above" when its current rate is strictly above one of its
 *    hostgroup's escalation thresholds, or, while now < banned_at + hold, its ban-time peak
 *    is (routers that drop before export make current rates collapse after the ban).
 *  - An above host's covering prefix (prefix_length per family) is escalated unless it
 *    overlaps the whitelist, is not wholly inside `networks`, is already held by another
 *    mitigation, was removed by an operator, or the hostgroup's max_prefixes is reached.
 *  - An owned escalation is withdrawn when no blackholed host is inside it (immediately),
 *    or when no host inside was above for `clear_after` consecutive runs and `hold` has
 *    passed since it was created; also (immediately) when config no longer allows it.
 *  - A prefix covering hosts of other hostgroups is escalated (the decision lists them) unless
 *    the escalating hostgroup or one of those has `cross_hostgroups: forbid`.
 *    Runs before detection has filled one window (ratesSettled false) do not count below.
 */
import { Classifier, classifierOf, type PolicyLookup } from '../config/classifier.js';
import type { Hostgroup, EscalationAction } from '../config/types.js';
import type { RateFn } from '../detection/types.js';
import type { Addr, Prefix } from '../wire/addr.js';
import { addrBits, maskBytes, prefixContains, prefixToString } from '../wire/addr.js';
import { crossing, type Crossing } from './rates.js';

/** One active blackhole, as the loop sees it in a run. */
export interface BannedHost {
  /** The blackhole mitigation's uuid. */
  readonly uuid: string;
  /** Host address text (canonical). */
  readonly ip: string;
  readonly addr: Addr;
  readonly hostgroup: string;
  /** When the blackhole started (ms since epoch). */
  readonly banned_at: number;
  /** Detection's current rates for the host, or null when unknown. */
  readonly current: RateFn | null;
  /** Peak rates seen from shortly before the ban onward, or null when none were seen. */
  readonly banPeak: RateFn | null;
}

/** An escalation the loop owns (created by it, or adopted from the journal on restart). */
export interface OwnEscalation {
  readonly uuid: string;
  /** Canonical prefix text, e.g. "203.0.113.0/24". */
  readonly prefix: string;
  readonly net: Prefix;
  /** Hostgroup whose rule created it: its hold, clear_after and max_prefixes apply. */
  readonly hostgroup: string;
  readonly created_at: number;
  readonly last_above: number | null;
  /** Consecutive runs with no host inside above the thresholds. */
  readonly runs_below: number;
  /** Hosts inside that crossed the thresholds while it was escalated. */
  readonly hosts: readonly string[];
}

export interface DecideInput {
  readonly now: number;
  readonly banned: readonly BannedHost[];
  readonly own: readonly OwnEscalation[];
  readonly hostgroups: readonly Hostgroup[];
  readonly networks: readonly Prefix[];
  readonly whitelist: readonly Prefix[];
  /** Prefix texts held by mitigations the loop does not own (a manual /24 blackhole...). */
  readonly occupied: ReadonlySet<string>;
  /** Prefix texts an operator removed while escalated: not re-escalated until cleared. */
  readonly suppressed: ReadonlySet<string>;
  /**
   * false while detection's rates cannot be trusted to be low (it has run for less than
   * one window, e.g. just after a restart): a run with every host below then does not
   * count towards clear_after. Above verdicts stand (a partial window only under-counts).
   * Default true.
   */
  readonly ratesSettled?: boolean;
}

export interface EscalationAttrs {
  readonly next_hop: string | undefined;
  readonly communities: readonly string[];
  readonly large_communities: readonly string[];
}

/** 'manager' is set by the shell when the mitigation manager refuses the add. */
type RefuseReason =
  | 'whitelist'
  | 'outside_networks'
  | 'max_prefixes'
  | 'invalid_prefix_length'
  | 'occupied'
  | 'suppressed'
  | 'crosses_hostgroups'
  | 'manager';

type DeescalateReason =
  | 'unbanned'
  | 'below_thresholds'
  | 'disabled'
  | 'whitelist'
  | 'outside_networks'
  | 'crosses_hostgroups';

export type Decision =
  | {
      readonly action: 'escalate';
      readonly prefix: string;
      readonly net: Prefix;
      readonly hostgroup: string;
      /** The host whose crossing is reported (first above host in address order). */
      readonly host: string;
      /** Every above host inside the new prefix. */
      readonly hosts: readonly string[];
      /** Every hostgroup with hosts inside the prefix (its own among them), sorted. */
      readonly hostgroups: readonly string[];
      readonly trigger: Crossing;
      readonly attrs: EscalationAttrs;
    }
  | {
      readonly action: 'keep';
      readonly uuid: string;
      readonly prefix: string;
      /** Updated state to store. */
      readonly state: OwnEscalation;
      /** A host inside crossed this run (first found), or null when all were below. */
      readonly trigger: { readonly host: string; readonly crossing: Crossing } | null;
    }
  | {
      readonly action: 'deescalate';
      readonly uuid: string;
      readonly prefix: string;
      readonly hostgroup: string;
      readonly hosts: readonly string[];
      readonly reason: DeescalateReason;
      readonly detail: string;
    }
  | {
      readonly action: 'refuse';
      readonly host: string;
      readonly prefix: string;
      readonly hostgroup: string;
      readonly reason: RefuseReason;
      readonly detail: string;
      readonly trigger: Crossing;
    };

function bytesKey(b: Uint8Array): string {
  return b.join('.');
}

function overlaps(a: Prefix, b: Prefix): boolean {
  if (a.family !== b.family) return false;
  return a.len <= b.len ? prefixContains(a, b.bytes) : prefixContains(b, a.bytes);
}

function inside(outer: Prefix, inner: Prefix): boolean {
  return outer.family === inner.family && outer.len <= inner.len && prefixContains(outer, inner.bytes);
}

/** Canonical address order (family, then bytes) so decisions are deterministic. */
function compareAddr(a: Addr, b: Addr): number {
  if (a.family !== b.family) return a.family - b.family;
  for (let i = 0; i < a.bytes.length; i++) if (a.bytes[i] !== b.bytes[i]) return a.bytes[i]! - b.bytes[i]!;
  return 0;
}

/** The covering prefix of `addr` under `rule`, or null when the length is not usable. */
function coveringPrefix(addr: Addr, rule: EscalationAction): Prefix | null {
  const len = addr.family === 4 ? rule.prefix_length.ipv4 : rule.prefix_length.ipv6;
  const max = addrBits(addr.family);
  // A host-length "escalation" would be the blackhole's own route again (same key).
  if (!Number.isInteger(len) || len < 0 || len >= max) return null;
  return { family: addr.family, bytes: maskBytes(addr.bytes, len), len };
}

function attrsFor(family: 4 | 6, rule: EscalationAction): EscalationAttrs {
  return {
    next_hop: family === 4 ? rule.next_hop.ipv4 : rule.next_hop.ipv6,
    communities: rule.communities,
    large_communities: rule.large_communities,
  };
}

/** Why `net` may not be escalated at all (whitelist or networks), or null when it may. */
function safetyProblem(
  net: Prefix,
  input: DecideInput,
): { reason: 'whitelist' | 'outside_networks'; detail: string } | null {
  const w = input.whitelist.find((p) => overlaps(p, net));
  if (w)
    return {
      reason: 'whitelist',
      detail: `${prefixToString(net)} overlaps whitelisted ${prefixToString(w)}`,
    };
  if (!input.networks.some((n) => inside(n, net))) {
    return {
      reason: 'outside_networks',
      detail: `${prefixToString(net)} is not wholly inside any of networks`,
    };
  }
  return null;
}

/**
 * The hostgroups with hosts inside `net`, sorted: each with a prefix inside it, and the one
 * holding `net` itself (longest match, `default` otherwise) unless those inner prefixes fill
 * `net` entirely. An inner prefix wholly overridden by a yet longer one still counts (so
 * `forbid` errs on the side of not announcing).
 */
export function hostgroupsInside(
  net: Prefix,
  hostgroups: readonly Hostgroup[],
  policy: PolicyLookup = new Classifier({ networks: [], whitelist: [], hostgroups }),
): string[] {
  const names = new Set<string>();
  const inner: Prefix[] = [];
  for (const g of hostgroups) {
    for (const p of g.prefixes) {
      if (p.len > net.len && inside(net, p)) {
        names.add(g.name);
        inner.push(p);
      }
    }
  }
  // Do the inner prefixes fill net? Sum the sizes of the outermost ones.
  const bits = addrBits(net.family);
  let filled = 0n;
  for (const p of inner)
    if (!inner.some((q) => q !== p && q.len < p.len && inside(q, p))) filled += 1n << BigInt(bits - p.len);
  // Two groups listing the same prefix count it twice: only a sum below the size is sure.
  const outer = policy.hostgroupFor(net);
  if (outer && filled < 1n << BigInt(bits - net.len)) names.add(outer.name);
  return [...names].sort();
}

/** Why `net` may not cover hosts of other hostgroups (cross_hostgroups: forbid), or null. */
function crossingProblem(
  net: Prefix,
  own: string,
  covered: readonly string[],
  policy: PolicyLookup,
): string | null {
  const others = covered.filter((n) => n !== own);
  if (others.length === 0) return null;
  const forbid = [own, ...others].filter(
    (n) => policy.hostgroupByName(n)?.actions.escalation.cross_hostgroups === 'forbid',
  );
  if (forbid.length === 0) return null;
  return `${prefixToString(net)} covers hosts of hostgroup ${others.join(', ')} besides ${own}, and cross_hostgroups is forbid for ${forbid.join(', ')}`;
}

/** Is `h` above its hostgroup's escalation thresholds this run? */
function hostCrossing(h: BannedHost, policy: PolicyLookup, now: number): Crossing | null {
  const g = policy.hostgroupByName(h.hostgroup);
  if (!g?.actions.escalation.enabled) return null;
  const rule = g.actions.escalation;
  if (h.current) {
    const c = crossing(rule.thresholds, h.current, 'current');
    if (c) return c;
  }
  // Ban-time evidence is trusted for `hold` after the ban only, so an escalation built on
  // it ends (hold + clear_after runs later) instead of being re-created forever.
  if (h.banPeak && now < h.banned_at + rule.hold_ms) return crossing(rule.thresholds, h.banPeak, 'ban');
  return null;
}

export function decide(input: DecideInput): Decision[] {
  const { now } = input;
  // The config's one policy lookup (the same one the other rooms ask, when the lists are the config's).
  const policy = classifierOf(input);
  const banned = [...input.banned].sort((a, b) => compareAddr(a.addr, b.addr));
  // One entry per host address (two blackholes of one host count once).
  const hosts = new Map<string, { h: BannedHost; c: Crossing | null }>();
  for (const h of banned) {
    const c = hostCrossing(h, policy, now);
    const prev = hosts.get(h.ip);
    if (!prev || (!prev.c && c)) hosts.set(h.ip, { h, c });
  }
  const hostList = [...hosts.values()];
  const out: Decision[] = [];
  const perGroup = new Map<string, number>();
  const count = (g: string) => perGroup.get(g) ?? 0;
  const held = new Set<string>();
  const withdrawn = new Set<string>();

  // Blackholed hosts inside each owned escalation: one masked lookup per host and distinct
  // (family, length) of the owned prefixes, not a scan of every host per escalation.
  const insideOf = new Map<OwnEscalation, { h: BannedHost; c: Crossing | null }[]>();
  const byShape = new Map<string, Map<string, OwnEscalation[]>>();
  for (const e of input.own) {
    insideOf.set(e, []);
    const shape = `${e.net.family}/${e.net.len}`;
    let m = byShape.get(shape);
    if (!m) {
      m = new Map();
      byShape.set(shape, m);
    }
    const k = bytesKey(e.net.bytes);
    const list = m.get(k);
    if (list) list.push(e);
    else m.set(k, [e]);
  }
  if (byShape.size > 0) {
    for (const x of hostList) {
      for (const [shape, m] of byShape) {
        const [fam, len] = shape.split('/');
        if (Number(fam) !== x.h.addr.family) continue;
        const es = m.get(bytesKey(maskBytes(x.h.addr.bytes, Number(len))));
        if (es) for (const e of es) insideOf.get(e)!.push(x);
      }
    }
  }

  // 1. Owned escalations: keep or withdraw.
  for (const e of input.own) {
    const rule = policy.hostgroupByName(e.hostgroup)?.actions.escalation;
    const insideHosts = insideOf.get(e)!;
    const base = { uuid: e.uuid, prefix: e.prefix, hostgroup: e.hostgroup, hosts: e.hosts };
    if (!rule?.enabled) {
      out.push({
        action: 'deescalate',
        ...base,
        reason: 'disabled',
        detail: `escalation is not enabled for hostgroup ${e.hostgroup}`,
      });
      withdrawn.add(e.prefix);
      continue;
    }
    const unsafe = safetyProblem(e.net, input);
    if (unsafe) {
      out.push({ action: 'deescalate', ...base, reason: unsafe.reason, detail: unsafe.detail });
      withdrawn.add(e.prefix);
      continue;
    }
    const crosses = crossingProblem(
      e.net,
      e.hostgroup,
      hostgroupsInside(e.net, input.hostgroups, policy),
      policy,
    );
    if (crosses) {
      out.push({ action: 'deescalate', ...base, reason: 'crosses_hostgroups', detail: crosses });
      withdrawn.add(e.prefix);
      continue;
    }
    if (insideHosts.length === 0) {
      out.push({
        action: 'deescalate',
        ...base,
        reason: 'unbanned',
        detail: `no blackholed host left inside ${e.prefix}`,
      });
      withdrawn.add(e.prefix);
      continue;
    }
    const still = new Set(insideHosts.map((x) => x.h.ip));
    const above = insideHosts.filter((x) => x.c !== null);
    const hostsNow = e.hosts.filter((ip) => still.has(ip));
    for (const x of above) if (!hostsNow.includes(x.h.ip)) hostsNow.push(x.h.ip);
    if (above.length > 0) {
      const first = above[0]!;
      out.push({
        action: 'keep',
        uuid: e.uuid,
        prefix: e.prefix,
        state: { ...e, last_above: now, runs_below: 0, hosts: hostsNow },
        trigger: { host: first.h.ip, crossing: first.c! },
      });
    } else if (input.ratesSettled === false) {
      // Rates still filling their first window: "below" means nothing yet.
      out.push({
        action: 'keep',
        uuid: e.uuid,
        prefix: e.prefix,
        state: { ...e, hosts: hostsNow },
        trigger: null,
      });
    } else {
      const runs = e.runs_below + 1;
      const holdLeft = e.created_at + rule.hold_ms - now;
      if (runs >= rule.clear_after && holdLeft <= 0) {
        out.push({
          action: 'deescalate',
          ...base,
          hosts: hostsNow,
          reason: 'below_thresholds',
          detail: `no host inside above the emergency thresholds for ${runs} runs (clear_after ${rule.clear_after}) and hold ${rule.hold_ms} ms passed`,
        });
        withdrawn.add(e.prefix);
        continue;
      }
      out.push({
        action: 'keep',
        uuid: e.uuid,
        prefix: e.prefix,
        state: { ...e, runs_below: runs, hosts: hostsNow },
        trigger: null,
      });
    }
    held.add(e.prefix);
    perGroup.set(e.hostgroup, count(e.hostgroup) + 1);
  }

  // 2. Above hosts not covered by an owned escalation of their exact covering prefix.
  const fresh = new Map<string, Extract<Decision, { action: 'escalate' }>>();
  for (const { h, c } of hostList) {
    if (!c) continue;
    const rule = policy.hostgroupByName(h.hostgroup)!.actions.escalation;
    const net = coveringPrefix(h.addr, rule);
    if (!net) {
      const len = h.addr.family === 4 ? rule.prefix_length.ipv4 : rule.prefix_length.ipv6;
      out.push({
        action: 'refuse',
        host: h.ip,
        prefix: `${h.ip}/${len}`,
        hostgroup: h.hostgroup,
        reason: 'invalid_prefix_length',
        detail: `prefix_length ${len} of hostgroup ${h.hostgroup} is not shorter than a host route`,
        trigger: c,
      });
      continue;
    }
    const prefix = prefixToString(net);
    if (held.has(prefix)) continue;
    // Withdrawn this run (config no longer allows it, or its rule was disabled): decide
    // afresh next run rather than flap within one run.
    if (withdrawn.has(prefix)) continue;
    const pending = fresh.get(prefix);
    if (pending) {
      fresh.set(prefix, { ...pending, hosts: [...pending.hosts, h.ip] });
      continue;
    }
    const refuse = (reason: RefuseReason, detail: string) => {
      out.push({ action: 'refuse', host: h.ip, prefix, hostgroup: h.hostgroup, reason, detail, trigger: c });
    };
    if (input.suppressed.has(prefix)) {
      refuse(
        'suppressed',
        `${prefix} was removed by an operator while escalated; not re-escalated until its hosts are unbanned`,
      );
      continue;
    }
    const unsafe = safetyProblem(net, input);
    if (unsafe) {
      refuse(unsafe.reason, unsafe.detail);
      continue;
    }
    if (input.occupied.has(prefix)) {
      refuse('occupied', `${prefix} is already held by a mitigation the escalation loop does not own`);
      continue;
    }
    const covered = hostgroupsInside(net, input.hostgroups, policy);
    const crosses = crossingProblem(net, h.hostgroup, covered, policy);
    if (crosses) {
      refuse('crosses_hostgroups', crosses);
      continue;
    }
    if (count(h.hostgroup) >= rule.max_prefixes) {
      refuse(
        'max_prefixes',
        `hostgroup ${h.hostgroup} already has ${count(h.hostgroup)} escalated prefixes (max_prefixes ${rule.max_prefixes})`,
      );
      continue;
    }
    perGroup.set(h.hostgroup, count(h.hostgroup) + 1);
    fresh.set(prefix, {
      action: 'escalate',
      prefix,
      net,
      hostgroup: h.hostgroup,
      host: h.ip,
      hosts: [h.ip],
      hostgroups: covered,
      trigger: c,
      attrs: attrsFor(h.addr.family, rule),
    });
  }
  out.push(...fresh.values());
  return out;
}
