/**
 * The mitigation manager: attack-driven ban lifecycles over the mitigation set (set.ts,
 * which holds the active mitigations, their safety checks and the desired routes).
 *
 * Order of every change: safety checks -> journal (fsync) -> set -> `onChange()` (the
 * daemon then syncs the speaker). A mitigation keeps the attributes it was announced with,
 * so its withdrawal removes exactly that route even after a config reload.
 *
 * Attack-driven bans follow the hostgroup policy (blackhole, flowspec, both, or notify
 * only), expire after ban_time, and with unban_only_if_attack_finished are kept while the
 * detector still sees the attack. Dry-run keeps them in the set (visible in the API) but
 * out of desiredRoutes(). Every call is serialised by one promise chain.
 */
import type { DesiredRoute } from '../bgp/types.js';
import { classifierOf, type Classifier } from '../config/classifier.js';
import type { Config, Hostgroup, PolicyActions } from '../config/types.js';
import type { AttackDetails, AttackRecord, HostRates } from '../detection/types.js';
import { logger, TurnLines } from '../log.js';
import { addrBits, addrToString, prefixToString, type Prefix } from '../wire/addr.js';
import {
  attackSummary,
  banDetails,
  RecentAttacks,
  type AttackSummary,
  type Ban,
  type TrackedAttack,
} from './bans.js';
import {
  deliver,
  freshDetails,
  hostBanDocument,
  type NotifierApi,
  type NotifyActionName,
  type NotifyDocument,
} from '../notify/index.js';
import { attackCause, causeText, MANUAL, sameCause } from './cause.js';
import { parsePrefix } from './prefixes.js';
import {
  MitigationSet,
  type FlowspecAdapter,
  type FlowspecRule,
  type JournalSink,
  type MitigationInput,
  type RefusalReason,
} from './set.js';
import type { AddResult, Mitigation, MitigationKind, MitigationManagerApi } from './types.js';
import type { FlowSample } from '../capture/flow.js';
import type { HostgroupAttack } from '../detection/index.js';
import { HostgroupScope, type HostgroupBan } from './hostgroup-scope.js';

const log = logger.child({ module: 'mitigation' });
// Per-host lines a carpet bomb repeats for every host: 32 per turn, then one summary.
const linkedLines = new TurnLines(
  log,
  32,
  (n, a, b) => `${n} more attack(s) on already banned hosts linked to their bans (${a} .. ${b})`,
);
const unbanLines = new TurnLines(log, 32, (n, a, b) => `${n} more unban(s) (${a} .. ${b})`);
const keptLines = new TurnLines(
  log,
  32,
  (n, a, b) => `${n} more ban(s) kept while their attacks go on (${a} .. ${b})`,
);

export type { FlowspecAdapter, FlowspecRule, JournalSink } from './set.js';
export { mitigationRoute } from './set.js';
export type { AttackSummary } from './bans.js';

export interface ManagerOptions {
  cfg: Config;
  journal?: JournalSink | null;
  notifier?: NotifierApi | null;
  flowspec?: FlowspecAdapter | null;
  /** Detector.stillAttacking. */
  stillAttacking?: (ip: string) => boolean;
  /** The same for many hosts at once (sharded detection: one query per shard, not per ban). */
  stillAttackingMany?: (ips: readonly string[]) => Map<string, boolean>;
  /** Detector.hostRates, for fresh counters in attack_status notifications. */
  hostRates?: (ip: string) => HostRates | null;
  /** Called after every change of the desired set. */
  onChange?: () => void;
  /** The change as routes (see MitigationSetOptions.onRoutes): what the speaker takes per change. */
  onRoutes?: (put: DesiredRoute | null, remove: DesiredRoute | null) => void;
  /** Detector.hostgroupAttacking: a hostgroup-total limit is crossed right now. */
  hostgroupAttacking?: (name: string) => boolean;
  /** Detector.hostgroupSamples: the hostgroup's aggregate samples now. */
  hostgroupSamples?: (
    name: string,
    outgoing: boolean,
  ) => { attack: FlowSample[]; baseline: FlowSample[] } | null;
  /** Every host ban/unban/status document, whether or not a script or webhook is set (Redis export). */
  onNotify?: (doc: NotifyDocument) => void;
  /** Is onNotify listening right now (default: whenever it is set)? No document is built for nobody. */
  notifyWanted?: () => boolean;
  now?: () => number;
  /** How often expiries and status updates are checked (default 1000 ms). */
  sweepIntervalMs?: number;
}

const RECENT_ATTACKS = 100;

/** A ban placed in the maps, its mitigations not yet added. */
interface PlacedBan {
  readonly b: Ban;
  readonly rec: AttackRecord;
  readonly inputs: MitigationInput[];
}

export class MitigationManager implements MitigationManagerApi {
  private cfg: Config;
  /** The config's policy lookup (hostgroup of a prefix, by name), shared with the other rooms. */
  private policy: Classifier;
  private readonly opts: ManagerOptions;
  private readonly set: MitigationSet;
  /** Attack-driven bans by host text: at most one per host. */
  private readonly bans = new Map<string, Ban>();
  /** Attacks the detector reported that are in progress or still hold a ban. */
  private readonly tracked = new Map<string, TrackedAttack>();
  /** Host text -> uuids of its tracked attacks. */
  private readonly hostAttacks = new Map<string, Set<string>>();
  /** Owned mitigation uuid -> its ban. */
  private readonly ownerOf = new Map<string, Ban>();
  private readonly recent = new RecentAttacks(RECENT_ATTACKS);
  private chain: Promise<unknown> = Promise.resolve();
  /** Adds waiting for the lock; each entry is one caller's list (a bulk PUT is one entry). */
  private addQueue: {
    inputs: readonly MitigationInput[];
    resolve: (r: AddResult[]) => void;
    reject: (e: Error) => void;
  }[] = [];
  private banQueue: { uuid: string; resolve: () => void; reject: (e: Error) => void }[] = [];
  private removeQueue: {
    items: readonly { uuid: string; reason: string }[];
    resolve: (ok: boolean[]) => void;
    reject: (e: Error) => void;
  }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;
  /** Hostgroup-scope bans (carpet bombing), one per hostgroup. */
  private readonly scope: HostgroupScope;

  constructor(opts: ManagerOptions) {
    this.opts = opts;
    this.cfg = opts.cfg;
    this.policy = classifierOf(this.cfg);
    this.now = opts.now ?? Date.now;
    this.set = new MitigationSet({
      cfg: () => this.cfg,
      journal: opts.journal,
      flowspec: opts.flowspec,
      onChange: opts.onChange,
      onRoutes: opts.onRoutes,
      now: this.now,
    });
    this.scope = new HostgroupScope({
      set: this.set,
      cfg: () => this.cfg,
      policyFor: (name) => this.policy.hostgroupByName(name),
      now: this.now,
      flowspec: opts.flowspec,
      notify: (doc, hg) => this.deliver(this.policy.hostgroupByName(hg), doc),
      hostgroupAttacking: (name) => this.opts.hostgroupAttacking?.(name) ?? false,
      hostgroupSamples: (name, out) => this.opts.hostgroupSamples?.(name, out) ?? null,
      attackedHosts: (name) => this.attackedHosts(name),
    });
  }

  /** Hosts of a hostgroup with an attack in progress (walks the tracked attacks: once per hostgroup ban, not per change). */
  private *attackedHosts(name: string): Iterable<string> {
    for (const t of this.tracked.values())
      if (t.finishedAt === null && t.rec.hostgroup === name) yield t.rec.ip;
  }

  /** Hostgroup-scope bans in progress (API, tests). */
  hostgroupBans(): readonly HostgroupBan[] {
    return this.scope.list();
  }

  /** A hostgroup-total attack started: its hostgroup-scope mitigation, when the policy has one. */
  onHostgroupAttack(a: HostgroupAttack): Promise<void> {
    return this.locked(() => this.scope.start(a));
  }

  /** A hostgroup-total attack ended: its ban (if any) ends at its expiry. */
  onHostgroupAttackFinished(a: HostgroupAttack): void {
    this.scope.finished(a);
  }

  /** Does this hostgroup's policy mitigate hostgroup-total attacks? */
  mitigatesHostgroup(name: string): boolean {
    return HostgroupScope.enabled(this.policy.hostgroupByName(name));
  }

  /** Refused adds by reason, for metrics. */
  get refused(): Readonly<Record<RefusalReason, number>> {
    return this.set.refused;
  }

  // ---- lifecycle -------------------------------------------------------------------

  /**
   * Put back mitigations replayed from the journal (expired ones are dropped). Those an
   * attack placed become that host's ban again, so its expiry, its unban notification and
   * a re-detection of the attack after the restart all go through the one ban.
   */
  async restore(list: readonly Mitigation[]): Promise<{ restored: number; expired: number }> {
    return this.locked(async () => {
      const r = await this.set.restore(list);
      for (const m of this.set.values()) {
        if (
          (m.kind !== 'blackhole' && m.kind !== 'flowspec') ||
          m.cause.kind !== 'attack' ||
          this.ownerOf.has(m.uuid)
        )
          continue;
        let b = this.bans.get(m.ip);
        if (!b) {
          const hg = this.policyFor(m.hostgroup, m.ip);
          b = {
            ip: m.ip,
            hostgroup: m.hostgroup,
            cause: m.cause,
            rec: null,
            attacks: new Set(),
            uuids: new Set(),
            expiresAt: 0,
            lastStatusAt: this.now(),
            startedAt: m.started_at,
            rules: [],
            partial: true,
          };
          if (!hg) log.warn(`restored ban of ${m.ip}: hostgroup ${m.hostgroup} no longer exists`);
          this.bans.set(m.ip, b);
        }
        this.own(b, m);
        const exp =
          m.expires_at ?? this.now() + (this.policyFor(b.hostgroup, b.ip)?.actions.ban_time_ms ?? 0);
        if (exp > b.expiresAt) b.expiresAt = exp;
        if (m.kind === 'blackhole') b.partial = false;
      }
      this.scope.restore(this.set.values());
      return r;
    });
  }

  /**
   * Forget every mitigation and ban without withdrawing, journalling or notifying: a
   * deposed cluster leader hands them to the new leader, which restores them from the
   * cluster's bucket (src/cluster/). Call stop() first; restore() may follow.
   */
  forget(): Promise<number> {
    return this.locked(async () => {
      const n = this.set.list().length;
      this.set.forget();
      this.scope.forget();
      this.bans.clear();
      this.tracked.clear();
      this.hostAttacks.clear();
      this.ownerOf.clear();
      return n;
    });
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.sweep(), this.opts.sweepIntervalMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Apply a reloaded config: new bans follow the new policies, and every later action of
   * an existing ban (notify, status, expiry rules) reads its hostgroup's new policy. The
   * mitigations already announced keep their attributes until they are withdrawn.
   */
  reconfigure(cfg: Config): void {
    this.cfg = cfg;
    this.policy = classifierOf(cfg);
  }

  // ---- MitigationManagerApi --------------------------------------------------------

  list(kind?: MitigationKind): Mitigation[] {
    return this.set.list(kind);
  }

  get(uuid: string): Mitigation | undefined {
    return this.set.get(uuid);
  }

  /** Active mitigations by kind, without walking them. */
  counts(): Record<MitigationKind, number> {
    return {
      blackhole: this.set.count('blackhole'),
      flowspec: this.set.count('flowspec'),
      escalation: this.set.count('escalation'),
    };
  }

  on(event: 'added' | 'removed', listener: (m: Mitigation, reason: string) => void): void {
    this.set.on(event, listener);
  }

  /**
   * Adds from the API and the escalation loop queue up and are taken together when the
   * lock comes free: 32 clients adding at once share one journal fsync instead of waiting
   * for 32 in a row.
   */
  add(input: MitigationInput): Promise<AddResult> {
    return this.addAll([input]).then((r) => r[0]!);
  }

  /** Many adds as one queue entry (answered in order); they share the batch's journal write. */
  private addAll(inputs: readonly MitigationInput[]): Promise<AddResult[]> {
    return new Promise<AddResult[]>((resolve, reject) => {
      this.addQueue.push({ inputs, resolve, reject });
      if (this.addQueue.length > 1) return;
      void this.locked(async () => {
        const batch = this.addQueue;
        this.addQueue = [];
        try {
          const all = batch.length === 1 ? batch[0]!.inputs : batch.flatMap((b) => b.inputs);
          const results = await this.set.addMany(all);
          let k = 0;
          for (const b of batch) {
            b.resolve(results.slice(k, k + b.inputs.length));
            k += b.inputs.length;
          }
        } catch (e) {
          for (const b of batch) b.reject(e as Error);
        }
      });
    });
  }

  /** Withdrawals queue up like adds and share a journal fsync. */
  remove(uuid: string, reason: string): Promise<boolean> {
    return this.removeAll([{ uuid, reason }]).then((r) => r[0]!);
  }

  /** Withdraw many at once: their journal lines share one fsync. */
  removeMany(uuids: readonly string[], reason: string): Promise<boolean[]> {
    return this.removeAll(uuids.map((uuid) => ({ uuid, reason })));
  }

  private removeAll(items: readonly { uuid: string; reason: string }[]): Promise<boolean[]> {
    return new Promise<boolean[]>((resolve, reject) => {
      this.removeQueue.push({ items, resolve, reject });
      if (this.removeQueue.length > 1) return;
      void this.locked(async () => {
        const batch = this.removeQueue;
        this.removeQueue = [];
        try {
          const all = batch.length === 1 ? batch[0]!.items : batch.flatMap((b) => b.items);
          const done = await this.set.batch(() => this.removeManyUnlocked(all));
          let k = 0;
          for (const b of batch) {
            b.resolve(done.slice(k, k + b.items.length));
            k += b.items.length;
          }
        } catch (e) {
          for (const b of batch) b.reject(e as Error);
        }
      });
    });
  }

  /** PUT /blackhole with a list: each host as addManualBlackhole, answered item by item. */
  addManualBlackholes(ips: readonly string[]): Promise<AddResult[]> {
    const results: (AddResult | null)[] = new Array(ips.length).fill(null);
    const inputs: MitigationInput[] = [];
    const at: number[] = [];
    ips.forEach((ip, i) => {
      const r = this.manualBlackholeInput(ip);
      if ('ok' in r) results[i] = r;
      else {
        inputs.push(r);
        at.push(i);
      }
    });
    if (inputs.length === 0) return Promise.resolve(results as AddResult[]);
    return this.addAll(inputs).then((added) => {
      at.forEach((i, k) => {
        results[i] = added[k]!;
      });
      return results as AddResult[];
    });
  }

  desiredRoutes(): DesiredRoute[] {
    return this.set.desiredRoutes();
  }

  // ---- operator helpers (API / ctl) ------------------------------------------------

  /** PUT /blackhole/<ip>: a manual blackhole with the host's hostgroup attributes, no expiry. */
  addManualBlackhole(ipText: string): Promise<AddResult> {
    const r = this.manualBlackholeInput(ipText);
    return 'ok' in r ? Promise.resolve(r) : this.add(r);
  }

  /** What a manual blackhole of one host adds, or its refusal (the address parsed once). */
  private manualBlackholeInput(ipText: string): MitigationInput | AddResult {
    const p = parsePrefix(ipText);
    if (typeof p === 'string') return this.set.refuse('invalid', p);
    if (p.len !== addrBits(p.family))
      return this.set.refuse(
        'invalid',
        `a blackhole is one host (/${addrBits(p.family)}), not ${prefixToString(p)}`,
      );
    const hg = this.policy.hostgroupFor(p);
    const bh = hg?.actions.blackhole;
    return {
      kind: 'blackhole',
      parsed: p,
      prefix: prefixToString(p),
      ip: addrToString(p),
      cause: MANUAL,
      hostgroup: hg?.name ?? 'default',
      expires_at: null,
      next_hop: bh ? (p.family === 4 ? bh.next_hop.ipv4 : bh.next_hop.ipv6) : undefined,
      communities: bh?.communities ?? [],
      large_communities: bh?.large_communities ?? [],
      extended_communities: bh?.extended_communities ?? [],
    };
  }

  /** PUT /flowspec: a manual rule in FastNetMon's JSON shape, no expiry. */
  addManualFlowspec(rule: unknown): Promise<AddResult> {
    const parsed = this.set.parseFlowspec(rule);
    if (!('destination' in parsed)) return Promise.resolve(parsed);
    const hg = this.policy.hostgroupFor(parsed.destination);
    return this.add({
      kind: 'flowspec',
      prefix: prefixToString(parsed.destination),
      ip: addrToString(parsed.destination),
      cause: MANUAL,
      hostgroup: hg?.name ?? 'default',
      expires_at: null,
      communities: [],
      large_communities: [],
      rule: parsed.rule,
    });
  }

  /** Attacks in progress or banned (newest first), then recently finished ones; each attack once. */
  /** Hostgroup-total attacks in progress (`live`, from detection) and the hostgroup-scope bans still held. */
  hostgroupAttacks(live: readonly HostgroupAttack[]): AttackSummary[] {
    return this.scope.summaries(live);
  }

  attacks(): AttackSummary[] {
    const live = [...this.tracked.values()].map(attackSummary).reverse();
    return [...live, ...this.recent.list()];
  }

  /** Sizes of the internal maps and what is wrong between them (tests check after every step). */
  audit(): { bans: number; tracked: number; owned: number; problems: string[] } {
    const problems: string[] = [];
    for (const [ip, b] of this.bans) {
      if (b.ip !== ip) problems.push(`ban keyed ${ip} is for ${b.ip}`);
      for (const u of b.uuids) {
        if (this.ownerOf.get(u) !== b)
          problems.push(`mitigation ${u} of the ban of ${ip} is not owned by it`);
        if (!this.set.get(u)) problems.push(`mitigation ${u} of the ban of ${ip} is not in the set`);
      }
      for (const a of b.attacks)
        if (this.tracked.get(a)?.ban !== b)
          problems.push(`attack ${a} linked to the ban of ${ip} does not point back`);
    }
    for (const [u, b] of this.ownerOf)
      if (this.bans.get(b.ip) !== b || !b.uuids.has(u))
        problems.push(`mitigation ${u} owned by a ban that is gone`);
    for (const [id, t] of this.tracked) {
      if (t.ban === null && t.finishedAt !== null)
        problems.push(`finished attack ${id} without a ban is still tracked`);
      if (t.ban && this.bans.get(t.ban.ip) !== t.ban)
        problems.push(`attack ${id} points at a ban that is gone`);
    }
    let byHost = 0;
    for (const [ip, set] of this.hostAttacks) {
      byHost += set.size;
      for (const a of set)
        if (this.tracked.get(a)?.rec.ip !== ip)
          problems.push(`attack ${a} listed under ${ip} is not tracked there`);
    }
    if (byHost !== this.tracked.size)
      problems.push(`${byHost} attack(s) by host, ${this.tracked.size} tracked`);
    problems.push(...this.scope.audit());
    return { bans: this.bans.size, tracked: this.tracked.size, owned: this.ownerOf.size, problems };
  }

  // ---- detector events -------------------------------------------------------------

  /**
   * attack_started: track it now (so its updates and end are never lost while the ban
   * waits for the journal), then ban the host by its hostgroup policy, or link the attack
   * to the host's ban when one holds.
   */
  onAttack(rec: AttackRecord): Promise<void> {
    if (!this.tracked.has(rec.uuid)) {
      this.tracked.set(rec.uuid, { rec, ban: null, finishedAt: null, lastBan: null });
      const set = this.hostAttacks.get(rec.ip);
      if (set) set.add(rec.uuid);
      else this.hostAttacks.set(rec.ip, new Set([rec.uuid]));
    }
    // Attacks queue and are banned together when the lock comes free: a carpet bomb's
    // thousands of attack_started in one tick share one journal fsync instead of one each.
    return new Promise<void>((resolve, reject) => {
      this.banQueue.push({ uuid: rec.uuid, resolve, reject });
      if (this.banQueue.length > 1) return;
      void this.locked(async () => {
        const batch = this.banQueue;
        this.banQueue = [];
        try {
          await this.banMany(batch.map((b) => b.uuid));
          // A host over its own threshold in a hostgroup under a hostgroup-scope ban: its covering prefix too.
          for (const b of batch) {
            const t = this.tracked.get(b.uuid);
            if (t && t.finishedAt === null) await this.scope.hostAttacked(t.rec.hostgroup, t.rec.ip);
          }
          for (const b of batch) b.resolve();
        } catch (e) {
          for (const b of batch) b.reject(e as Error);
        }
      });
    });
  }

  /** attack_updated: keep the freshest record for status notifications. */
  onAttackUpdate(rec: AttackRecord): void {
    const t = this.tracked.get(rec.uuid);
    if (!t) return;
    t.rec = rec;
    if (t.ban) t.ban.rec = rec;
  }

  /** attack_finished: the ban stays until its expiry (which may now proceed). */
  onAttackFinished(rec: AttackRecord): void {
    const t = this.tracked.get(rec.uuid);
    if (!t) return;
    t.rec = rec;
    t.finishedAt = this.now();
    if (t.ban) t.ban.rec = rec;
    else this.retire(t);
  }

  /** Check expiries and send status updates; runs every sweepIntervalMs (public for tests). */
  sweep(): Promise<void> {
    return this.locked(() => this.set.batch(() => this.sweepUnlocked()));
  }

  // ---- internals -------------------------------------------------------------------

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** The current policy for a ban's hostgroup (by name; the host's hostgroup if that name is gone). */
  private policyFor(name: string, ip: string | Prefix): Hostgroup | undefined {
    const hg = this.policy.hostgroupByName(name);
    if (hg) return hg;
    const p = typeof ip === 'string' ? parsePrefix(ip) : ip;
    return typeof p === 'string' ? this.policy.hostgroupByName('default') : this.policy.hostgroupFor(p);
  }

  private own(b: Ban, m: Mitigation): void {
    b.uuids.add(m.uuid);
    this.ownerOf.set(m.uuid, b);
    if (m.rule) b.rules.push(m.rule);
  }

  /** A finished attack without a ban leaves the live list for the history. */
  private retire(t: TrackedAttack): void {
    this.tracked.delete(t.rec.uuid);
    const set = this.hostAttacks.get(t.rec.ip);
    set?.delete(t.rec.uuid);
    if (set?.size === 0) this.hostAttacks.delete(t.rec.ip);
    this.recent.add(attackSummary(t));
  }

  private async removeUnlocked(uuid: string, reason: string): Promise<boolean> {
    return (await this.removeManyUnlocked([{ uuid, reason }]))[0]!;
  }

  /** Withdraw many (one journal write), then each one's ban bookkeeping. */
  private async removeManyUnlocked(items: readonly { uuid: string; reason: string }[]): Promise<boolean[]> {
    const gone = await this.set.removeMany(items);
    return items.map(({ uuid, reason }, i) => {
      if (!gone[i]) return false;
      this.scope.removed(uuid, reason);
      const b = this.ownerOf.get(uuid);
      this.ownerOf.delete(uuid);
      if (b) {
        b.uuids.delete(uuid);
        // The operator withdrew the last route of an attack's ban: that ban is over.
        if (b.uuids.size === 0 && reason !== 'expired') this.finishBan(b, reason);
      }
      return true;
    });
  }

  private ban(attackUuid: string): Promise<void> {
    return this.banMany([attackUuid]);
  }

  /**
   * Ban these attacks' hosts: each ban's bookkeeping first (a second attack on a host of
   * the batch links to the first one's ban), then all their mitigations through one
   * addMany (caps counted across the batch, one journal write and fsync), then the
   * notifications.
   */
  private async banMany(attackUuids: readonly string[]): Promise<void> {
    const placed: PlacedBan[] = [];
    for (const u of attackUuids) {
      const p = this.prepareBan(u);
      if (p) placed.push(p);
    }
    const inputs = placed.flatMap((p) => p.inputs);
    const results = inputs.length > 0 ? await this.set.addMany(inputs) : [];
    let k = 0;
    for (const p of placed) {
      const { b, rec } = p;
      for (let i = 0; i < p.inputs.length; i++) {
        const r = results[k++]!;
        if (r.ok && r.mitigation) {
          // An existing mitigation of another cause (a manual ban) is left to its owner.
          if (sameCause(r.mitigation.cause, b.cause)) this.own(b, r.mitigation);
        } else log.warn(`attack ${rec.uuid} on ${b.ip}: ${r.error}`);
      }
      this.notify(b.partial ? 'partial_block' : 'ban', b, rec.details);
    }
  }

  private prepareBan(attackUuid: string): PlacedBan | null {
    const t = this.tracked.get(attackUuid);
    if (!t || t.ban) return null; // finished and retired while queued, or already linked
    const rec = t.rec;
    const p = parsePrefix(rec.ip);
    if (typeof p === 'string') {
      log.error(`attack ${rec.uuid}: ${p}`);
      this.dropUnbanned(t);
      return null;
    }
    const hostPrefix: Prefix = { family: p.family, bytes: p.bytes, len: addrBits(p.family) };
    const ipText = addrToString(hostPrefix);
    const held = this.bans.get(ipText);
    if (held) {
      if (held.rec === null) {
        log.info(
          `attack ${rec.uuid} on ${ipText} continues the ban restored from the state dir (${[...held.uuids].join(', ') || 'no routes'}); no new announcement`,
        );
      } else
        linkedLines.info(
          `attack ${rec.uuid} on ${ipText}: the host is already banned (${causeText(held.cause)}); linked to that ban`,
          ipText,
        );
      this.link(held, t);
      return null;
    }
    const hg = this.policyFor(rec.hostgroup, hostPrefix);
    if (!hg) {
      log.error(`attack ${rec.uuid} on ${ipText}: no hostgroup policy`);
      this.dropUnbanned(t);
      return null;
    }
    return this.placeBan(t, hg, hostPrefix, ipText);
  }

  /** An attack that cannot be banned: tracked until it finishes, like any unbanned attack. */
  private dropUnbanned(t: TrackedAttack): void {
    if (t.finishedAt !== null) this.retire(t);
  }

  private link(b: Ban, t: TrackedAttack): void {
    t.ban = b;
    b.attacks.add(t.rec.uuid);
    b.rec = t.rec;
  }

  /** A new ban for the host (in the maps at once) and the mitigations its policy wants. */
  private placeBan(t: TrackedAttack, hg: Hostgroup, hostPrefix: Prefix, ipText: string): PlacedBan {
    const rec = t.rec;
    const policy = hg.actions;
    const now = this.now();
    const expiresAt = now + policy.ban_time_ms;
    const cause = attackCause(rec.uuid);
    const b: Ban = {
      ip: ipText,
      hostgroup: hg.name,
      cause,
      rec,
      attacks: new Set(),
      uuids: new Set(),
      expiresAt,
      lastStatusAt: now,
      startedAt: now,
      rules: [],
      partial: !policy.blackhole.enabled && policy.flowspec.enabled,
    };
    this.bans.set(ipText, b);
    // Every attack in progress on the host is under this ban (one left without a ban when
    // an operator withdrew an earlier one, say), so its end and its list entry follow it.
    for (const a of this.hostAttacks.get(rec.ip) ?? []) {
      const other = this.tracked.get(a);
      if (other && other !== t && other.ban === null && other.finishedAt === null) {
        other.ban = b;
        b.attacks.add(a);
      }
    }
    this.link(b, t);
    const inputs: MitigationInput[] = [];
    if (policy.blackhole.enabled) {
      const bh = policy.blackhole;
      inputs.push({
        kind: 'blackhole',
        prefix: prefixToString(hostPrefix),
        ip: ipText,
        cause,
        hostgroup: hg.name,
        expires_at: expiresAt,
        next_hop: hostPrefix.family === 4 ? bh.next_hop.ipv4 : bh.next_hop.ipv6,
        communities: bh.communities,
        large_communities: bh.large_communities,
        extended_communities: bh.extended_communities,
      });
    }
    if (policy.flowspec.enabled) {
      const fs = this.opts.flowspec;
      if (!fs)
        log.warn(
          `attack ${rec.uuid} on ${ipText}: hostgroup ${hg.name} wants FlowSpec but FlowSpec support is not available`,
        );
      else {
        let rules: FlowspecRule[] = [];
        try {
          rules = fs.generate(rec.samples, rec.baseline, policy.flowspec.coverage);
        } catch (e) {
          log.error(`attack ${rec.uuid}: FlowSpec rule generation failed: ${(e as Error).message}`);
        }
        if (rules.length === 0)
          log.warn(
            `attack ${rec.uuid} on ${ipText}: no FlowSpec rule could be generated from ${rec.samples.length} sample(s)`,
          );
        for (const r0 of rules) {
          const rule = withAction(r0, policy);
          inputs.push({
            kind: 'flowspec',
            prefix: prefixToString(hostPrefix),
            ip: ipText,
            cause,
            hostgroup: hg.name,
            expires_at: expiresAt,
            communities: [],
            large_communities: [],
            rule,
          });
        }
      }
    }
    if (!policy.blackhole.enabled && !policy.flowspec.enabled)
      log.info(`attack ${rec.uuid} on ${ipText}: notify only (hostgroup ${hg.name})`);
    return { b, rec, inputs };
  }

  /** `details` may be a function: built only when someone listens (65,536 bans' status docs are not free). */
  private notify(
    action: NotifyActionName,
    b: Ban,
    details: AttackDetails | Readonly<Record<string, unknown>> | (() => Record<string, unknown>),
  ): void {
    this.deliver(this.policyFor(b.hostgroup, b.ip), () =>
      hostBanDocument(action, b, typeof details === 'function' ? details() : details),
    );
  }

  /** A host or hostgroup-scope notice to the hostgroup's script / webhook and the export. */
  private deliver(hg: Hostgroup | undefined, doc: NotifyDocument | (() => NotifyDocument)): void {
    deliver(
      {
        notifier: this.opts.notifier,
        action: hg?.actions.notify,
        listener: this.opts.onNotify,
        listening: this.opts.notifyWanted,
      },
      doc,
    );
  }

  private finishBan(b: Ban, reason: string): void {
    this.bans.delete(b.ip);
    for (const u of b.uuids) this.ownerOf.delete(u);
    const last = { uuids: [...b.uuids], rules: [...b.rules] };
    for (const a of b.attacks) {
      const t = this.tracked.get(a);
      if (!t || t.ban !== b) continue;
      t.ban = null;
      t.lastBan = last;
      if (t.finishedAt !== null) this.retire(t);
    }
    unbanLines.info(`unban ${b.ip} (${causeText(b.cause)}, ${reason})`, b.ip);
    this.notify(b.partial ? 'partial_unblock' : 'unban', b, () =>
      freshDetails(banDetails(b), this.opts.hostRates?.(b.ip) ?? null),
    );
  }

  private stillAttacking(ip: string): boolean {
    try {
      return this.opts.stillAttacking?.(ip) ?? false;
    } catch {
      return false;
    }
  }

  private async sweepUnlocked(): Promise<void> {
    const now = this.now();
    const bans = [...this.bans.values()];
    const many = this.opts.stillAttackingMany;
    let still: Map<string, boolean> | null = null;
    if (many) {
      const expired = bans.filter((b) => b.expiresAt <= now).map((b) => b.ip);
      if (expired.length > 0) {
        try {
          still = many(expired);
        } catch {
          still = null;
        }
      }
    }
    for (const b of bans) {
      const policy = this.policyFor(b.hostgroup, b.ip)?.actions;
      if (b.expiresAt <= now) {
        const attacking = still?.get(b.ip) ?? this.stillAttacking(b.ip);
        if (attacking && (policy?.unban_only_if_attack_finished ?? true)) {
          b.expiresAt = now + (policy?.ban_time_ms ?? 0);
          await this.set.extend(b.uuids, b.expiresAt);
          keptLines.info(
            `ban of ${b.ip} kept: attack still in progress (until ${new Date(b.expiresAt).toISOString()})`,
            b.ip,
          );
        } else {
          await this.removeManyUnlocked([...b.uuids].map((uuid) => ({ uuid, reason: 'expired' })));
          this.finishBan(b, 'expired');
          // ban_time ran out while the attack goes on (unban_only_if_attack_finished off):
          // the host is banned again at once from the attack's latest record, as a new
          // ban (FastNetMon re-bans on its next check; here without a gap, the set's batch
          // lets the speaker see only the end result).
          if (attacking) await this.reban(b);
          continue;
        }
      }
      if (policy && policy.ban_status_delay_ms > 0 && now - b.lastStatusAt >= policy.ban_status_delay_ms) {
        b.lastStatusAt = now;
        this.notify('attack_status', b, () =>
          freshDetails(banDetails(b), this.opts.hostRates?.(b.ip) ?? null),
        );
      }
    }
    // Mitigations no ban owns (manual ones with an expiry) end at their own expiry.
    await this.scope.sweep(now);
    for (const m of this.set.expiredBy(now)) {
      if (this.ownerOf.has(m.uuid) || this.scope.owns(m.uuid)) continue;
      await this.removeUnlocked(m.uuid, 'expired');
    }
  }

  /** The newest attack of an expired ban still in progress at the detector starts a new ban. */
  private async reban(b: Ban): Promise<void> {
    let newest: TrackedAttack | null = null;
    for (const a of b.attacks) {
      const t = this.tracked.get(a);
      if (
        t &&
        t.ban === null &&
        t.finishedAt === null &&
        (!newest || t.rec.startedAt >= newest.rec.startedAt)
      )
        newest = t;
    }
    if (newest) await this.ban(newest.rec.uuid);
  }
}

/** The policy's FlowSpec action put on a generated rule (FastNetMon's action_type/action). */
function withAction(rule: FlowspecRule, policy: PolicyActions): FlowspecRule {
  return { ...rule, action_type: policy.flowspec.action, action: { ...policy.flowspec.action_params } };
}
