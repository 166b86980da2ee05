/**
 * The reference model of the mitigation lifecycle: what an operator expects the router to
 * hold and the scripts to be told after each step, written from the documented rules
 * (README, docs/escalation.md) and not from the implementation. Small on purpose: plain
 * maps and arrays, no performance tricks, one function per step kind.
 *
 * Rules it encodes:
 *  - one ban per host; an attack on a banned host joins that ban (no new notification);
 *  - a ban ends at its expiry unless the host is still attacked and the policy says
 *    unban_only_if_attack_finished (then it is extended by ban_time); if it ends while the
 *    host is still attacked, the newest attack in progress bans the host again at once;
 *  - a ban covers every attack in progress on its host;
 *  - an operator deleting the last route of a ban ends it (unban), nothing is re-banned;
 *  - notifications use the hostgroup's policy at the time they are sent; routes keep the
 *    attributes they were announced with;
 *  - safety: nothing outside NETWORKS or overlapping WHITELIST; caps on blackholes and
 *    FlowSpec rules; a refused route leaves the ban (and its notifications) in place;
 *  - restart: routes come back from the journal, and so do the bans that hold a route
 *    (expiry kept); a ban holding no route is forgotten (not journalled), attacks start over;
 *  - escalation (hold 0): an owned /24 (/48) goes when no blackholed host is inside, when
 *    its hostgroup's rule is off, or after clear_after runs with no host inside above;
 *    a new one for each above blackholed host, unless suppressed (an operator removed it
 *    while escalated), whitelisted, outside networks or over max_prefixes.
 *
 * Hostgroup scope (README "Carpet bombing", docs/config.md actions.hostgroup):
 *  - a hostgroup-total attack on a hostgroup whose policy has actions.hostgroup is one ban
 *    of the hostgroup: `ban`, or `partial_block` when it is FlowSpec alone (alert_scope
 *    hostgroup), and at its end `unban` / `partial_unblock`; a second start while it holds
 *    joins it (no notification);
 *  - flowspec: destinations are the hostgroup's prefixes holding attacked hosts
 *    (`hostgroup`; a hostgroup without prefixes: as `attacked`), or the smallest prefixes
 *    (fewest addresses) covering them, at most max_prefixes, never spanning two prefixes of
 *    the hostgroup (or of networks); the sampled hosts and those attacked on their own
 *    (no weight) count; a destination holding a whitelisted address is split around it,
 *    only the pieces with attacked hosts kept; one rule per destination with sampled
 *    traffic, largest first, until the coverage target; cap max_flowspec_rules;
 *  - blackhole: while the hostgroup attack holds, the covering /24 (/48) of each host over
 *    its own threshold (of those in progress at the start, then each new one), never wider
 *    than its hostgroup prefix or network, once per prefix; split around the whitelist
 *    (every piece), refused outside networks; cap max_blackholes (pieces in address order);
 *  - expiry at ban_time, extended while the hostgroup attack lasts with
 *    unban_only_if_attack_finished, else a new ban at once if it still lasts; an operator's
 *    delete of its last route ends it; attack_status every ban_status_delay;
 *  - restart: the ban comes back from the journal with its routes (expiry kept, partial
 *    when it holds no blackhole), the attack seen again joins it without a notification;
 *    a ban holding no route is forgotten.
 */
import {
  bitsOf,
  contains,
  covering,
  inside,
  prefixAddr,
  prefixLen,
  prefixText,
  size,
  sortKey,
  subtract,
  tightest,
} from './addr.js';
import {
  ESC,
  ESC_COMMUNITY,
  HOSTS,
  MAX_BLACKHOLES,
  MAX_FLOWSPEC,
  NETWORKS,
  NEXT_HOP,
  SCRIPTS,
  WHITELIST,
  COMMUNITIES,
  HOSTGROUPS,
  HG_BLACKHOLE_LEN,
  HG_COVERAGE,
  HG_MAX_PIECES,
  HG_SAMPLES,
  initialPolicy,
  type Pol,
  type Step,
} from './world.js';

interface MRoute {
  readonly kind: 'blackhole' | 'flowspec' | 'escalation';
  readonly ip: string;
  readonly prefix: string;
  readonly hostgroup: string;
  /** The router's view of it: what it was announced with. */
  readonly view: string;
  readonly ban: MBan | null;
  /** The hostgroup-scope ban that owns it (ban is null then). */
  readonly hg: MHgBan | null;
  /** When it was added (a restored hostgroup ban's status clock starts at its first route's). */
  readonly at: number;
}

/** A hostgroup-scope ban. */
interface MHgBan {
  readonly hostgroup: string;
  expiresAt: number;
  lastStatusAt: number;
  readonly partial: boolean;
  /** The hostgroup attack it is for has been seen (false: restored, not seen again yet). */
  attackSeen: boolean;
  /** That attack is over at the detector. */
  finished: boolean;
  /** Covering prefixes blackholed or refused (one try each). */
  readonly covered: Set<string>;
  /** FlowSpec rules it came to own (an operator's delete does not make it generate again). */
  rules: number;
  /** Their destinations (a deleted rule's too): what counts as covered by the re-cover check. */
  dests: string[];
  /** When the rules' destinations were last checked against the hosts attacked now. */
  coverCheckedAt: number;
  /** FlowSpec generations tried (while none gave a rule: again on each sweep, 10 at most). */
  tries: number;
}

/** Sweeps that retry FlowSpec generation for a hostgroup ban without rules (the implementation's bound). */
const HG_FLOWSPEC_TRIES = 10;

/** How many re-covers changed a ban's rules, over the run (the check's coverage of the case). */
export const modelStats = { recovers: 0 };

/** Re-cover check (README: hostgroup-scope FlowSpec follows a widening attack): at most once a second. */
const HG_RECOVER_MS = 1000;
/** Sampled attack packets outside every rule's destination that make the rules be generated again. */
const HG_RECOVER_SHARE = 0.05;

interface MBan {
  readonly ip: string;
  readonly hostgroup: string;
  expiresAt: number;
  lastStatusAt: number;
  readonly partial: boolean;
  readonly restored: boolean;
}

interface MAttack {
  readonly uuid: string;
  readonly ip: string;
  readonly hostgroup: string;
  readonly startedAt: number;
  finished: boolean;
  ban: MBan | null;
}

interface MEsc {
  readonly prefix: string;
  readonly hostgroup: string;
  runsBelow: number;
}

// ---- the model -------------------------------------------------------------------------

export class LifecycleModel {
  now: number;
  readonly pol = new Map<string, Pol>(HOSTGROUPS.map((h) => [h.name, initialPolicy(h.name)]));
  /** Mitigations in the order they were added (the journal's order). */
  routes: MRoute[] = [];
  bans = new Map<string, MBan>();
  attacks = new Map<string, MAttack>();
  own = new Map<string, MEsc>();
  /** Hostgroup-total attacks in progress at the detector, by hostgroup. */
  hgAttacks = new Set<string>();
  hgBans = new Map<string, MHgBan>();
  suppressed = new Set<string>();
  emergency = new Set<string>();
  /** What the scripts were told: "<action> <ip or prefix> <script>". */
  readonly log: string[] = [];
  /**
   * Every lifecycle event, delivered or not: the log plus "<action> <ip> -" where no script
   * was configured, and "forget <ip> -" for a ban a restart forgot because it held no route.
   */
  readonly fullLog: string[] = [];
  private counter = 0;

  constructor(now: number) {
    this.now = now;
  }

  // ---- observables ----------------------------------------------------------------

  /** What the router should hold, one line per route, sorted. */
  routerView(): string[] {
    return this.routes.map((r) => r.view).sort();
  }

  escalations(): string[] {
    return [...this.own.keys()].sort();
  }

  ownedCount(): number {
    return this.routes.filter((r) => r.ban !== null).length;
  }

  /** Hostgroup-scope bans: "<hostgroup> <routes held> <partial|full> <expiry>", sorted. */
  hostgroupBans(): string[] {
    return [...this.hgBans.values()]
      .map(
        (b) =>
          `${b.hostgroup} ${this.routes.filter((r) => r.hg === b).length} ${b.partial ? 'partial' : 'full'} ${b.expiresAt}`,
      )
      .sort();
  }

  /** The pick order of manual_del: "<kind> <prefix>". */
  static pickOrder(list: readonly { kind: string; prefix: string }[]): number[] {
    return list
      .map((m, i) => [`${m.kind} ${m.prefix}`, i] as const)
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map((x) => x[1]);
  }

  // ---- steps ----------------------------------------------------------------------

  apply(s: Step): void {
    switch (s.t) {
      case 'attack':
        this.attack(HOSTS[s.host]!.ip, HOSTS[s.host]!.hostgroup);
        return;
      case 'update':
        return; // a fresher record changes no route and no notification
      case 'finish':
        this.finish(HOSTS[s.host]!.ip);
        return;
      case 'tick':
        this.now += s.ms;
        this.sweep();
        return;
      case 'esc':
        this.escalationRun();
        return;
      case 'emergency':
        if (s.on) this.emergency.add(HOSTS[s.host]!.ip);
        else this.emergency.delete(HOSTS[s.host]!.ip);
        return;
      case 'manual_add':
        this.manualAdd(HOSTS[s.host]!.ip, HOSTS[s.host]!.hostgroup);
        return;
      case 'manual_del':
        this.manualDel(s.pick);
        return;
      case 'reload':
        this.pol.set(s.hostgroup, s.pol);
        return;
      case 'restart':
        this.restart();
        return;
      case 'flap':
        return;
      case 'hg_attack':
        this.hgAttack(s.hostgroup);
        return;
      case 'hg_finish':
        this.hgFinish(s.hostgroup);
        return;
    }
  }

  private notify(action: string, what: string, hostgroup: string): void {
    const p = this.pol.get(hostgroup) ?? this.pol.get('default')!;
    const sc = SCRIPTS[p.script];
    if (sc) this.log.push(`${action} ${what} ${sc.script}`);
    this.fullLog.push(`${action} ${what} ${sc ? sc.script : '-'}`);
  }

  private safe(ip: string): boolean {
    return NETWORKS.some((n) => contains(n, ip)) && !WHITELIST.some((w) => contains(w, ip));
  }

  private count(kind: MRoute['kind']): number {
    return this.routes.filter((r) => r.kind === kind).length;
  }

  private hostPrefix(ip: string): string {
    return ip.includes(':') ? `${ip}/128` : `${ip}/32`;
  }

  private blackholeView(ip: string, community: string, prefix = this.hostPrefix(ip)): string {
    const nh = ip.includes(':') ? NEXT_HOP.ipv6 : NEXT_HOP.ipv4;
    return `${ip.includes(':') ? 'ipv6-unicast' : 'ipv4-unicast'} ${prefix} nh=${nh} c=${community}`;
  }

  private attack(ip: string, hostgroup: string): void {
    const a: MAttack = {
      uuid: `atk-${++this.counter}`,
      ip,
      hostgroup,
      startedAt: this.now,
      finished: false,
      ban: null,
    };
    this.attacks.set(a.uuid, a);
    const held = this.bans.get(ip);
    if (held) a.ban = held;
    else this.placeBan(a);
    // A host over its own threshold while its hostgroup's attack holds: its covering prefix.
    const hb = this.hgBans.get(hostgroup);
    if (hb && this.hgHolds(hb) && this.hgWants(hostgroup, 'blackhole')) this.hgBlackholes(hb, [ip]);
  }

  private placeBan(a: MAttack): void {
    const p = this.pol.get(a.hostgroup)!;
    const bh = p.mode === 'blackhole' || p.mode === 'both';
    const fs = p.mode === 'flowspec' || p.mode === 'both';
    const b: MBan = {
      ip: a.ip,
      hostgroup: a.hostgroup,
      expiresAt: this.now + p.banTimeMs,
      lastStatusAt: this.now,
      partial: !bh && fs,
      restored: false,
    };
    this.bans.set(a.ip, b);
    // Every attack in progress on the host is under this ban.
    for (const x of this.attacks.values())
      if (x.ip === a.ip && (x === a || (!x.finished && x.ban === null))) x.ban = b;
    if (bh && this.safe(a.ip)) {
      const prefix = this.hostPrefix(a.ip);
      const exists = this.routes.some((r) => r.kind === 'blackhole' && r.prefix === prefix);
      if (!exists && this.count('blackhole') < MAX_BLACKHOLES) {
        this.routes.push({
          kind: 'blackhole',
          ip: a.ip,
          prefix,
          hostgroup: a.hostgroup,
          view: this.blackholeView(a.ip, COMMUNITIES[p.community]),
          ban: b,
          hg: null,
          at: this.now,
        });
      }
    }
    if (fs && this.safe(a.ip) && this.count('flowspec') < MAX_FLOWSPEC) {
      const fam = a.ip.includes(':') ? 'ipv6-flowspec' : 'ipv4-flowspec';
      this.routes.push({
        kind: 'flowspec',
        ip: a.ip,
        prefix: this.hostPrefix(a.ip),
        hostgroup: a.hostgroup,
        view: `${fam} dst=${this.hostPrefix(a.ip)}`,
        ban: b,
        hg: null,
        at: this.now,
      });
    }
    this.notify(b.partial ? 'partial_block' : 'ban', a.ip, a.hostgroup);
  }

  private finish(ip: string): void {
    const a = [...this.attacks.values()].find((x) => x.ip === ip && !x.finished);
    if (!a) return;
    a.finished = true;
    if (!a.ban) this.attacks.delete(a.uuid);
  }

  private attacked(ip: string): boolean {
    for (const a of this.attacks.values()) if (a.ip === ip && !a.finished) return true;
    return false;
  }

  /** End a ban: its routes go, one unban, its finished attacks leave. */
  private endBan(b: MBan, removeRoutes: boolean): void {
    if (removeRoutes) this.routes = this.routes.filter((r) => r.ban !== b);
    this.bans.delete(b.ip);
    for (const a of [...this.attacks.values()]) {
      if (a.ban !== b) continue;
      a.ban = null;
      if (a.finished) this.attacks.delete(a.uuid);
    }
    this.notify(b.partial ? 'partial_unblock' : 'unban', b.ip, b.hostgroup);
  }

  private sweep(): void {
    for (const b of [...this.bans.values()]) {
      const p = this.pol.get(b.hostgroup)!;
      if (b.expiresAt <= this.now) {
        const attacked = this.attacked(b.ip);
        if (attacked && p.unbanOnly) {
          b.expiresAt = this.now + p.banTimeMs;
        } else {
          this.endBan(b, true);
          if (attacked) {
            const live = [...this.attacks.values()].filter((a) => a.ip === b.ip && !a.finished);
            const newest = live.reduce((x, y) => (y.startedAt >= x.startedAt ? y : x));
            this.placeBan(newest);
          }
          continue;
        }
      }
      if (p.statusDelayMs > 0 && this.now - b.lastStatusAt >= p.statusDelayMs) {
        b.lastStatusAt = this.now;
        this.notify('attack_status', b.ip, b.hostgroup);
      }
    }
    this.hgSweep();
  }

  private manualAdd(ip: string, hostgroup: string): void {
    if (!this.safe(ip)) return;
    const prefix = this.hostPrefix(ip);
    if (this.routes.some((r) => r.kind === 'blackhole' && r.prefix === prefix)) return;
    if (this.count('blackhole') >= MAX_BLACKHOLES) return;
    const p = this.pol.get(hostgroup)!;
    this.routes.push({
      kind: 'blackhole',
      ip,
      prefix,
      hostgroup,
      view: this.blackholeView(ip, COMMUNITIES[p.community]),
      ban: null,
      hg: null,
      at: this.now,
    });
  }

  private manualDel(pick: number): void {
    if (this.routes.length === 0) return;
    const order = LifecycleModel.pickOrder(this.routes);
    const r = this.routes[order[pick % order.length]!]!;
    this.routes = this.routes.filter((x) => x !== r);
    if (r.ban && !this.routes.some((x) => x.ban === r.ban)) this.endBan(r.ban, false);
    if (r.hg && !this.routes.some((x) => x.hg === r.hg)) this.hgEnd(r.hg);
  }

  private restart(): void {
    this.attacks.clear();
    this.hgAttacks.clear();
    for (const b of this.bans.values())
      if (!this.routes.some((r) => r.ban === b)) this.fullLog.push(`forget ${b.ip} -`);
    for (const b of this.hgBans.values())
      if (!this.routes.some((r) => r.hg === b)) this.fullLog.push(`forget hg:${b.hostgroup} -`);
    const bans = new Map<string, MBan>();
    const hgBans = new Map<string, MHgBan>();
    const rebuilt: MRoute[] = [];
    for (const r of this.routes) {
      if (r.hg) {
        let b = hgBans.get(r.hostgroup);
        if (!b) {
          const mine = this.routes.filter((x) => x.hg === r.hg);
          b = {
            hostgroup: r.hostgroup,
            expiresAt: r.hg.expiresAt,
            lastStatusAt: r.at,
            partial: !mine.some((x) => x.kind === 'blackhole'),
            attackSeen: false,
            finished: false,
            covered: new Set(mine.filter((x) => x.kind === 'blackhole').map((x) => x.prefix)),
            rules: mine.filter((x) => x.kind === 'flowspec').length,
            dests: mine.filter((x) => x.kind === 'flowspec').map((x) => x.prefix),
            coverCheckedAt: 0,
            tries: 0,
          };
          hgBans.set(r.hostgroup, b);
        }
        rebuilt.push({ ...r, hg: b });
        continue;
      }
      if (!r.ban) {
        rebuilt.push(r);
        continue;
      }
      let b = bans.get(r.ip);
      if (!b) {
        const hasBlackhole = this.routes.some((x) => x.ban === r.ban && x.kind === 'blackhole');
        b = {
          ip: r.ip,
          hostgroup: r.hostgroup,
          expiresAt: r.ban.expiresAt,
          lastStatusAt: this.now,
          partial: !hasBlackhole,
          restored: true,
        };
        bans.set(r.ip, b);
      }
      rebuilt.push({ ...r, ban: b });
    }
    this.routes = rebuilt;
    this.bans = bans;
    this.hgBans = hgBans;
    this.own = new Map(
      this.routes
        .filter((r) => r.kind === 'escalation')
        .map((r) => [r.prefix, { prefix: r.prefix, hostgroup: r.hostgroup, runsBelow: 0 }]),
    );
    this.suppressed.clear();
  }

  private escalationRun(): void {
    // Owned escalations an operator removed: forgotten and suppressed.
    for (const [prefix] of this.own) {
      if (!this.routes.some((r) => r.kind === 'escalation' && r.prefix === prefix)) {
        this.own.delete(prefix);
        this.suppressed.add(prefix);
      }
    }
    // A hostgroup-scope blackhole is a covering prefix already, not a host to widen.
    const banned = this.routes
      .filter((r) => r.kind === 'blackhole' && r.hg === null)
      .sort((a, b) => (sortKey(a.ip) < sortKey(b.ip) ? -1 : 1));
    const above = (r: MRoute) => (this.pol.get(r.hostgroup)?.esc ?? false) && this.emergency.has(r.ip);
    for (const s of [...this.suppressed])
      if (!banned.some((r) => contains(s, r.ip))) this.suppressed.delete(s);

    const held = new Map<string, number>();
    const withdrawn = new Set<string>();
    for (const e of [...this.own.values()]) {
      const rule = this.pol.get(e.hostgroup);
      const inside = banned.filter((r) => contains(e.prefix, r.ip));
      let drop = !rule?.esc || inside.length === 0;
      if (!drop) {
        if (inside.some(above)) e.runsBelow = 0;
        else if (++e.runsBelow >= ESC.clearAfter) drop = true;
      }
      if (drop) {
        this.routes = this.routes.filter((r) => !(r.kind === 'escalation' && r.prefix === e.prefix));
        this.own.delete(e.prefix);
        withdrawn.add(e.prefix);
        this.notify('deescalate', e.prefix, e.hostgroup);
      } else held.set(e.hostgroup, (held.get(e.hostgroup) ?? 0) + 1);
    }
    const fresh = new Map<string, { hostgroup: string }>();
    for (const r of banned) {
      if (!above(r)) continue;
      const prefix = covering(r.ip);
      if (this.own.has(prefix) || withdrawn.has(prefix) || fresh.has(prefix)) continue;
      if (this.suppressed.has(prefix)) continue;
      if (WHITELIST.some((w) => contains(prefix, w.split('/')[0]!))) continue;
      if (
        !NETWORKS.some(
          (n) =>
            contains(n, prefix.split('/')[0]!) && Number(n.split('/')[1]) <= Number(prefix.split('/')[1]),
        )
      )
        continue;
      if ((held.get(r.hostgroup) ?? 0) >= ESC.maxPrefixes) continue;
      held.set(r.hostgroup, (held.get(r.hostgroup) ?? 0) + 1);
      fresh.set(prefix, { hostgroup: r.hostgroup });
    }
    for (const [prefix, f] of fresh) {
      const fam = prefix.includes(':') ? 'ipv6-unicast' : 'ipv4-unicast';
      const nh = prefix.includes(':') ? NEXT_HOP.ipv6 : NEXT_HOP.ipv4;
      this.routes.push({
        kind: 'escalation',
        ip: prefix,
        prefix,
        hostgroup: f.hostgroup,
        view: `${fam} ${prefix} nh=${nh} c=${ESC_COMMUNITY}`,
        ban: null,
        hg: null,
        at: this.now,
      });
      this.own.set(prefix, { prefix, hostgroup: f.hostgroup, runsBelow: 0 });
      this.notify('escalate', prefix, f.hostgroup);
    }
  }

  // ---- hostgroup scope ---------------------------------------------------------------

  private hgWants(hostgroup: string, what: 'flowspec' | 'blackhole'): boolean {
    const m = this.pol.get(hostgroup)!.hg;
    return m === what || m === 'both';
  }

  /** The hostgroup attack a ban is for is in progress (seen, not over). */
  private hgHolds(b: MHgBan): boolean {
    return b.attackSeen && !b.finished && this.hgAttacks.has(b.hostgroup);
  }

  private hgAttack(name: string): void {
    if (this.hgAttacks.has(name)) return; // one hostgroup-total attack at a time
    this.hgAttacks.add(name);
    this.hgStart(name);
  }

  private hgStart(name: string): void {
    const held = this.hgBans.get(name);
    if (held) {
      held.attackSeen = true;
      held.finished = false;
      held.coverCheckedAt = this.now;
      this.hgFill(held);
      return;
    }
    const fs = this.hgWants(name, 'flowspec');
    const bh = this.hgWants(name, 'blackhole');
    if (!fs && !bh) return; // no actions.hostgroup: the daemon only notifies (not the manager's part)
    const p = this.pol.get(name)!;
    const b: MHgBan = {
      hostgroup: name,
      expiresAt: this.now + p.banTimeMs,
      lastStatusAt: this.now,
      partial: fs && !bh,
      attackSeen: true,
      finished: false,
      covered: new Set(),
      rules: 0,
      dests: [],
      coverCheckedAt: this.now,
      tries: 0,
    };
    this.hgBans.set(name, b);
    this.hgFill(b);
    this.notify(b.partial ? 'partial_block' : 'ban', `hg:${name}`, name);
  }

  private hgFinish(name: string): void {
    if (!this.hgAttacks.delete(name)) return;
    const b = this.hgBans.get(name);
    if (b) b.finished = true;
  }

  private hgFill(b: MHgBan): void {
    if (this.hgWants(b.hostgroup, 'flowspec') && b.rules === 0) this.hgFlowspec(b);
    if (this.hgWants(b.hostgroup, 'blackhole')) this.hgBlackholes(b, this.attackedHosts(b.hostgroup));
  }

  /** Hosts of the hostgroup attacked on their own right now, in the order their attacks began. */
  private attackedHosts(name: string): string[] {
    return [...this.attacks.values()].filter((a) => !a.finished && a.hostgroup === name).map((a) => a.ip);
  }

  private hgPrefixes(name: string): readonly string[] {
    return HOSTGROUPS.find((h) => h.name === name)!.prefixes;
  }

  /**
   * At most `max` prefixes of fewest addresses covering `ips` (one family), each the
   * tightest prefix of the hosts it holds: the sorted hosts cut into runs, every cut tried.
   * As few prefixes as gives that size (two /32s are no smaller than their /31).
   */
  private smallestCover(ips: readonly string[], max: number): string[] {
    const sorted = [...new Set(ips)].sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : 1));
    let best: string[] = [tightest(sorted)];
    let tie = false;
    const cuts = (from: number, left: number): string[][] => {
      if (left === 1) return [[tightest(sorted.slice(from))]];
      const out: string[][] = [[tightest(sorted.slice(from))]];
      for (let i = from + 1; i < sorted.length; i++)
        for (const rest of cuts(i, left - 1)) out.push([tightest(sorted.slice(from, i)), ...rest]);
      return out;
    };
    const total = (c: string[]) => c.reduce((s, p) => s + size(p), 0);
    // Fewest addresses; between covers as small, the fewest prefixes (no rule for nothing spared).
    const better = (c: string[]) =>
      total(c) < total(best) || (total(c) === total(best) && c.length < best.length);
    for (const c of cuts(0, Math.min(max, sorted.length))) {
      if (better(c)) [best, tie] = [c, false];
      else if (total(c) === total(best) && c.length === best.length && c.join() !== best.join()) tie = true;
    }
    if (tie) throw new Error(`the model's world has two smallest covers of ${sorted.join(', ')}`);
    return best;
  }

  private hgFlowspec(b: MHgBan, recover = false): void {
    if (!recover) b.tries++;
    const name = b.hostgroup;
    const p = this.pol.get(name)!;
    const sampled = HG_SAMPLES[name]!;
    const hosts = [...sampled.map(([ip]) => ip), ...this.attackedHosts(name)];
    const own = this.hgPrefixes(name);
    const within = own.length > 0 ? own : NETWORKS;
    let dest: string[];
    if (p.hgDest === 'hostgroup' && own.length > 0)
      dest = own.filter((n) => hosts.some((ip) => contains(n, ip)));
    else {
      // Grouped by the most specific prefix of `within` holding them: a cover never spans two.
      const groups = new Map<string, string[]>();
      for (const ip of hosts) {
        const w = [...within].sort((x, y) => prefixLen(y) - prefixLen(x)).find((n) => contains(n, ip));
        if (w) groups.set(w, [...(groups.get(w) ?? []), ip]);
      }
      if (groups.size > p.hgMax)
        throw new Error(`the model's world has more groups than max_prefixes in ${name}`);
      const perGroup = [...groups.values()].map((g) => this.smallestCover(g, p.hgMax));
      if (perGroup.length > 1 && perGroup.some((c) => c.length > 1))
        throw new Error(`the model's world splits two groups of ${name}`);
      dest = perGroup.flat();
    }
    // Safe: inside networks; around the whitelist, only the pieces with attacked hosts.
    const safe: string[] = [];
    for (const d of dest) {
      if (!NETWORKS.some((n) => inside(d, n))) continue;
      const pieces = subtract(d, WHITELIST).filter((q) => hosts.some((ip) => contains(q, ip)));
      safe.push(...pieces);
    }
    if (safe.length > p.hgMax)
      throw new Error(`the model's world splits ${dest.join(', ')} into more than max_prefixes`);
    // One rule per destination with sampled traffic, the largest first, until the coverage target.
    const total = sampled.reduce((s, [, w]) => s + w, 0);
    const weighted = safe
      .map((d) => ({ d, w: sampled.filter(([ip]) => contains(d, ip)).reduce((s, [, w]) => s + w, 0) }))
      .filter((x) => x.w > 0);
    weighted.sort((x, y) => y.w - x.w);
    if (weighted.some((x, i) => i > 0 && x.w === weighted[i - 1]!.w))
      throw new Error(`the model's world ties two destinations of ${name}`);
    const rules: string[] = [];
    let covered = 0;
    for (const { d, w } of weighted) {
      if (rules.length >= p.hgMax || covered / total >= HG_COVERAGE) break;
      rules.push(d);
      covered += w;
    }
    if (covered / total < HG_COVERAGE) return; // the rules miss the coverage target: none announced
    // A re-cover announces the rules it does not hold yet; if all fit, the old rules the new
    // set does not repeat are withdrawn (make before break), else the old ones stay.
    let refused = false;
    const before = [...b.dests];
    for (const d of rules) {
      const fam = d.includes(':') ? 'ipv6-flowspec' : 'ipv4-flowspec';
      const view = `${fam} dst=${d}`;
      const same = this.routes.find((r) => r.view === view);
      if (recover && same) {
        if (same.hg !== b) refused = true; // another cause holds it: not the ban's
        continue;
      }
      if (same) throw new Error(`the model's world repeats the FlowSpec rule ${view}`);
      if (this.count('flowspec') >= MAX_FLOWSPEC) {
        refused = true;
        continue;
      }
      this.routes.push({
        kind: 'flowspec',
        ip: prefixAddr(d),
        prefix: d,
        hostgroup: name,
        view,
        ban: null,
        hg: b,
        at: this.now,
      });
      b.rules++;
      b.dests.push(d);
    }
    if (!recover || refused) return;
    const keep = new Set(rules);
    const gone = this.routes.filter((r) => r.hg === b && r.kind === 'flowspec' && !keep.has(r.prefix));
    if (gone.length > 0 || rules.some((d) => !before.includes(d))) modelStats.recovers++;
    this.routes = this.routes.filter((r) => !gone.includes(r));
    for (const r of gone) {
      const i = b.dests.indexOf(r.prefix);
      if (i >= 0) b.dests.splice(i, 1);
      b.rules--;
    }
  }

  /** Do the rules' destinations still hold the attack? Else generate them again. */
  private hgRecover(b: MHgBan): void {
    const inside = (ip: string) => b.dests.some((d) => contains(d, ip));
    const sampled = HG_SAMPLES[b.hostgroup]!;
    const total = sampled.reduce((s, [, w]) => s + w, 0);
    const outside = sampled.filter(([ip]) => !inside(ip)).reduce((s, [, w]) => s + w, 0);
    const lone = this.attackedHosts(b.hostgroup).filter((ip) => !inside(ip)).length;
    if (lone === 0 && (total === 0 || outside / total < HG_RECOVER_SHARE)) return;
    this.hgFlowspec(b, true);
  }

  /** The covering prefix of each host (once per prefix), made safe, within the caps. */
  private hgBlackholes(b: MHgBan, ips: readonly string[]): void {
    const name = b.hostgroup;
    const p = this.pol.get(name)!;
    const within = [...this.hgPrefixes(name), ...NETWORKS];
    for (const ip of ips) {
      const v6 = ip.includes(':');
      let len: number = v6 ? HG_BLACKHOLE_LEN.ipv6 : HG_BLACKHOLE_LEN.ipv4;
      for (const w of within) if (contains(w, ip) && prefixLen(w) > len) len = prefixLen(w);
      const cover = prefixText(bitsOf(ip), len);
      if (b.covered.has(cover)) continue;
      b.covered.add(cover);
      if (!NETWORKS.some((n) => inside(cover, n))) continue;
      const pieces = subtract(cover, WHITELIST);
      if (pieces.length > HG_MAX_PIECES) continue;
      for (const q of pieces) {
        b.covered.add(q);
        if (this.routes.some((r) => r.kind === 'blackhole' && r.prefix === q)) continue;
        if (this.count('blackhole') >= MAX_BLACKHOLES) continue;
        this.routes.push({
          kind: 'blackhole',
          ip,
          prefix: q,
          hostgroup: name,
          view: this.blackholeView(ip, COMMUNITIES[p.community], q),
          ban: null,
          hg: b,
          at: this.now,
        });
      }
    }
  }

  /** End a hostgroup ban: its routes go (unless already gone), one unban / partial_unblock. */
  private hgEnd(b: MHgBan): void {
    this.routes = this.routes.filter((r) => r.hg !== b);
    this.hgBans.delete(b.hostgroup);
    this.notify(b.partial ? 'partial_unblock' : 'unban', `hg:${b.hostgroup}`, b.hostgroup);
  }

  private hgSweep(): void {
    for (const b of [...this.hgBans.values()]) {
      const p = this.pol.get(b.hostgroup)!;
      const attacking = this.hgAttacks.has(b.hostgroup);
      if (b.expiresAt <= this.now) {
        if (attacking && p.unbanOnly) b.expiresAt = this.now + p.banTimeMs;
        else {
          const seen = b.attackSeen;
          this.hgEnd(b);
          // ban_time ran out while the attack goes on: a new ban at once, as for a host.
          if (attacking && seen) this.hgStart(b.hostgroup);
          continue;
        }
      } else if (
        this.hgHolds(b) &&
        b.rules === 0 &&
        b.tries < HG_FLOWSPEC_TRIES &&
        this.hgWants(b.hostgroup, 'flowspec')
      )
        this.hgFlowspec(b);
      else if (this.hgHolds(b) && b.rules > 0 && this.now - b.coverCheckedAt >= HG_RECOVER_MS) {
        b.coverCheckedAt = this.now;
        if (this.hgWants(b.hostgroup, 'flowspec')) this.hgRecover(b);
      }
      if (p.statusDelayMs > 0 && this.now - b.lastStatusAt >= p.statusDelayMs) {
        b.lastStatusAt = this.now;
        this.notify('attack_status', `hg:${b.hostgroup}`, b.hostgroup);
      }
    }
  }
}
