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
 */
import { ESC, ESC_COMMUNITY, HOSTS, INITIAL_POLICY, MAX_BLACKHOLES, MAX_FLOWSPEC, NETWORKS, NEXT_HOP, SCRIPTS, WHITELIST, COMMUNITIES, HOSTGROUPS, type Pol, type Step } from './world.js';

interface MRoute {
  readonly kind: 'blackhole' | 'flowspec' | 'escalation';
  readonly ip: string;
  readonly prefix: string;
  readonly hostgroup: string;
  /** The router's view of it: what it was announced with. */
  readonly view: string;
  readonly ban: MBan | null;
}

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

// ---- address helpers (tiny and independent of src/wire) ------------------------------

function v4(ip: string): number | null {
  const p = ip.split('.');
  if (p.length !== 4) return null;
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

function v6Words(ip: string): number[] | null {
  if (!ip.includes(':')) return null;
  const [head, tail] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail !== undefined ? 8 - h.length - t.length : 0;
  return [...h, ...Array(fill).fill('0'), ...t].map((x) => parseInt(x, 16));
}

const containsMemo = new Map<string, boolean>();

/** Does prefix `net` ("a/len") contain address `ip`? */
export function contains(net: string, ip: string): boolean {
  const k = `${net}|${ip}`;
  let v = containsMemo.get(k);
  if (v === undefined) containsMemo.set(k, (v = containsSlow(net, ip)));
  return v;
}

function containsSlow(net: string, ip: string): boolean {
  const [addr, lenText] = net.split('/');
  const len = Number(lenText);
  const a4 = v4(addr!);
  const b4 = v4(ip);
  if (a4 !== null && b4 !== null) return len === 0 || a4 >>> (32 - len) === b4 >>> (32 - len);
  const a6 = v6Words(addr!);
  const b6 = v6Words(ip);
  if (!a6 || !b6) return false;
  for (let bit = 0; bit < len; bit++) {
    const w = bit >> 4;
    const m = 0x8000 >> (bit & 15);
    if ((a6[w]! & m) !== (b6[w]! & m)) return false;
  }
  return true;
}

function covering(ip: string): string {
  const a = v4(ip);
  if (a !== null) {
    const n = (a & 0xffffff00) >>> 0;
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.0/${ESC.prefixV4}`;
  }
  const w = v6Words(ip)!;
  const keep = w.slice(0, 3).map((x) => x.toString(16));
  while (keep.length && keep[keep.length - 1] === '0') keep.pop();
  return `${keep.join(':')}::/${ESC.prefixV6}`;
}

const sortKeys = new Map<string, string>();

function sortKey(ip: string): string {
  let k = sortKeys.get(ip);
  if (k === undefined) sortKeys.set(ip, (k = sortKeySlow(ip)));
  return k;
}

function sortKeySlow(ip: string): string {
  const a = v4(ip);
  if (a !== null) return `4 ${a.toString(16).padStart(8, '0')}`;
  return `6 ${v6Words(ip)!.map((x) => x.toString(16).padStart(4, '0')).join('')}`;
}

// ---- the model -------------------------------------------------------------------------

export class LifecycleModel {
  now: number;
  readonly pol = new Map<string, Pol>(HOSTGROUPS.map((h) => [h.name, { ...INITIAL_POLICY, esc: h.name === 'web' || h.name === 'v6' }]));
  /** Mitigations in the order they were added (the journal's order). */
  routes: MRoute[] = [];
  bans = new Map<string, MBan>();
  attacks = new Map<string, MAttack>();
  own = new Map<string, MEsc>();
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

  /** The pick order of manual_del: "<kind> <prefix>". */
  static pickOrder(list: readonly { kind: string; prefix: string }[]): number[] {
    return list.map((m, i) => [`${m.kind} ${m.prefix}`, i] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((x) => x[1]);
  }

  // ---- steps ----------------------------------------------------------------------

  apply(s: Step): void {
    switch (s.t) {
      case 'attack':
        return this.attack(HOSTS[s.host]!.ip, HOSTS[s.host]!.hostgroup);
      case 'update':
        return; // a fresher record changes no route and no notification
      case 'finish':
        return this.finish(HOSTS[s.host]!.ip);
      case 'tick':
        this.now += s.ms;
        return this.sweep();
      case 'esc':
        return this.escalationRun();
      case 'emergency':
        if (s.on) this.emergency.add(HOSTS[s.host]!.ip);
        else this.emergency.delete(HOSTS[s.host]!.ip);
        return;
      case 'manual_add':
        return this.manualAdd(HOSTS[s.host]!.ip, HOSTS[s.host]!.hostgroup);
      case 'manual_del':
        return this.manualDel(s.pick);
      case 'reload':
        this.pol.set(s.hostgroup, s.pol);
        return;
      case 'restart':
        return this.restart();
      case 'flap':
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

  private blackholeView(ip: string, community: string): string {
    const nh = ip.includes(':') ? NEXT_HOP.ipv6 : NEXT_HOP.ipv4;
    return `${ip.includes(':') ? 'ipv6-unicast' : 'ipv4-unicast'} ${this.hostPrefix(ip)} nh=${nh} c=${community}`;
  }

  private attack(ip: string, hostgroup: string): void {
    const a: MAttack = { uuid: `atk-${++this.counter}`, ip, hostgroup, startedAt: this.now, finished: false, ban: null };
    this.attacks.set(a.uuid, a);
    const held = this.bans.get(ip);
    if (held) a.ban = held;
    else this.placeBan(a);
  }

  private placeBan(a: MAttack): void {
    const p = this.pol.get(a.hostgroup)!;
    const bh = p.mode === 'blackhole' || p.mode === 'both';
    const fs = p.mode === 'flowspec' || p.mode === 'both';
    const b: MBan = { ip: a.ip, hostgroup: a.hostgroup, expiresAt: this.now + p.banTimeMs, lastStatusAt: this.now, partial: !bh && fs, restored: false };
    this.bans.set(a.ip, b);
    // Every attack in progress on the host is under this ban.
    for (const x of this.attacks.values()) if (x.ip === a.ip && (x === a || (!x.finished && x.ban === null))) x.ban = b;
    if (bh && this.safe(a.ip)) {
      const prefix = this.hostPrefix(a.ip);
      const exists = this.routes.some((r) => r.kind === 'blackhole' && r.prefix === prefix);
      if (!exists && this.count('blackhole') < MAX_BLACKHOLES) {
        this.routes.push({ kind: 'blackhole', ip: a.ip, prefix, hostgroup: a.hostgroup, view: this.blackholeView(a.ip, COMMUNITIES[p.community]), ban: b });
      }
    }
    if (fs && this.safe(a.ip) && this.count('flowspec') < MAX_FLOWSPEC) {
      const fam = a.ip.includes(':') ? 'ipv6-flowspec' : 'ipv4-flowspec';
      this.routes.push({ kind: 'flowspec', ip: a.ip, prefix: this.hostPrefix(a.ip), hostgroup: a.hostgroup, view: `${fam} dst=${this.hostPrefix(a.ip)}`, ban: b });
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
  }

  private manualAdd(ip: string, hostgroup: string): void {
    if (!this.safe(ip)) return;
    const prefix = this.hostPrefix(ip);
    if (this.routes.some((r) => r.kind === 'blackhole' && r.prefix === prefix)) return;
    if (this.count('blackhole') >= MAX_BLACKHOLES) return;
    const p = this.pol.get(hostgroup)!;
    this.routes.push({ kind: 'blackhole', ip, prefix, hostgroup, view: this.blackholeView(ip, COMMUNITIES[p.community]), ban: null });
  }

  private manualDel(pick: number): void {
    if (this.routes.length === 0) return;
    const order = LifecycleModel.pickOrder(this.routes);
    const r = this.routes[order[pick % order.length]!]!;
    this.routes = this.routes.filter((x) => x !== r);
    if (r.ban && !this.routes.some((x) => x.ban === r.ban)) this.endBan(r.ban, false);
  }

  private restart(): void {
    this.attacks.clear();
    for (const b of this.bans.values()) if (!this.routes.some((r) => r.ban === b)) this.fullLog.push(`forget ${b.ip} -`);
    const bans = new Map<string, MBan>();
    const rebuilt: MRoute[] = [];
    for (const r of this.routes) {
      if (!r.ban) {
        rebuilt.push(r);
        continue;
      }
      let b = bans.get(r.ip);
      if (!b) {
        const hasBlackhole = this.routes.some((x) => x.ban === r.ban && x.kind === 'blackhole');
        b = { ip: r.ip, hostgroup: r.hostgroup, expiresAt: r.ban.expiresAt, lastStatusAt: this.now, partial: !hasBlackhole, restored: true };
        bans.set(r.ip, b);
      }
      rebuilt.push({ ...r, ban: b });
    }
    this.routes = rebuilt;
    this.bans = bans;
    this.own = new Map(this.routes.filter((r) => r.kind === 'escalation').map((r) => [r.prefix, { prefix: r.prefix, hostgroup: r.hostgroup, runsBelow: 0 }]));
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
    const banned = this.routes.filter((r) => r.kind === 'blackhole').sort((a, b) => (sortKey(a.ip) < sortKey(b.ip) ? -1 : 1));
    const above = (r: MRoute) => (this.pol.get(r.hostgroup)?.esc ?? false) && this.emergency.has(r.ip);
    for (const s of [...this.suppressed]) if (!banned.some((r) => contains(s, r.ip))) this.suppressed.delete(s);

    const held = new Map<string, number>();
    const withdrawn = new Set<string>();
    for (const e of [...this.own.values()]) {
      const rule = this.pol.get(e.hostgroup);
      const inside = banned.filter((r) => contains(e.prefix, r.ip));
      let drop = !rule || !rule.esc || inside.length === 0;
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
      if (!NETWORKS.some((n) => contains(n, prefix.split('/')[0]!) && Number(n.split('/')[1]) <= Number(prefix.split('/')[1]))) continue;
      if ((held.get(r.hostgroup) ?? 0) >= ESC.maxPrefixes) continue;
      held.set(r.hostgroup, (held.get(r.hostgroup) ?? 0) + 1);
      fresh.set(prefix, { hostgroup: r.hostgroup });
    }
    for (const [prefix, f] of fresh) {
      const fam = prefix.includes(':') ? 'ipv6-unicast' : 'ipv4-unicast';
      const nh = prefix.includes(':') ? NEXT_HOP.ipv6 : NEXT_HOP.ipv4;
      this.routes.push({ kind: 'escalation', ip: prefix, prefix, hostgroup: f.hostgroup, view: `${fam} ${prefix} nh=${nh} c=${ESC_COMMUNITY}`, ban: null });
      this.own.set(prefix, { prefix, hostgroup: f.hostgroup, runsBelow: 0 });
      this.notify('escalate', prefix, f.hostgroup);
    }
  }
}
