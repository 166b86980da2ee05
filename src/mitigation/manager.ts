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
import type { Config, Hostgroup, PolicyActions } from '../config/types.js';
import type { AttackDetails, AttackRecord, HostRates } from '../detection/types.js';
import { logger } from '../log.js';
import { prefixToString, type Prefix } from '../wire/addr.js';
import { freshDetails, type NotifierApi, type NotifyActionName, type NotifyDocument } from './notify.js';
import { hostgroupFor, hostLength, parsePrefix } from './prefixes.js';
import { hostText, MitigationSet, type FlowspecAdapter, type FlowspecRule, type JournalSink, type MitigationInput, type RefusalReason } from './set.js';
import type { AddResult, Mitigation, MitigationKind, MitigationManagerApi } from './types.js';

const log = logger.child({ module: 'mitigation' });

export { unicastRoute, type FlowspecAdapter, type FlowspecRule, type JournalSink } from './set.js';

export interface ManagerOptions {
  cfg: Config;
  journal?: JournalSink | null;
  notifier?: NotifierApi | null;
  flowspec?: FlowspecAdapter | null;
  /** Detector.stillAttacking. */
  stillAttacking?: (ip: string) => boolean;
  /** Detector.hostRates, for fresh counters in attack_status notifications. */
  hostRates?: (ip: string) => HostRates | null;
  /** Called after every change of the desired set. */
  onChange?: () => void;
  now?: () => number;
  /** How often expiries and status updates are checked (default 1000 ms). */
  sweepIntervalMs?: number;
}

interface AttackEntry {
  rec: AttackRecord;
  hostgroup: Hostgroup;
  uuids: Set<string>;
  expiresAt: number;
  lastStatusAt: number;
  finishedAt: number | null;
  rules: FlowspecRule[];
  /** partial_* when only FlowSpec rules block it, ban/unban otherwise. */
  partial: boolean;
}

export interface AttackSummary {
  readonly uuid: string;
  readonly ip: string;
  readonly hostgroup: string;
  readonly active: boolean;
  readonly banned: boolean;
  readonly started_at: number;
  readonly finished_at: number | null;
  readonly ban_expires_at: number | null;
  readonly mitigations: readonly string[];
  readonly attack_details: AttackDetails | Readonly<Record<string, unknown>>;
  readonly flow_spec_rules: readonly FlowspecRule[];
}

const RECENT_ATTACKS = 100;

export class MitigationManager implements MitigationManagerApi {
  private cfg: Config;
  private readonly opts: ManagerOptions;
  private readonly set: MitigationSet;
  private readonly attacksById = new Map<string, AttackEntry>();
  private readonly ownerOf = new Map<string, string>();
  private readonly recent: AttackSummary[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(opts: ManagerOptions) {
    this.opts = opts;
    this.cfg = opts.cfg;
    this.now = opts.now ?? Date.now;
    this.set = new MitigationSet({ cfg: () => this.cfg, journal: opts.journal, flowspec: opts.flowspec, onChange: opts.onChange, now: this.now });
  }

  /** Refused adds by reason, for metrics. */
  get refused(): Readonly<Record<RefusalReason, number>> {
    return this.set.refused;
  }

  // ---- lifecycle -------------------------------------------------------------------

  /** Put back mitigations replayed from the journal; expired ones are dropped. */
  async restore(list: readonly Mitigation[]): Promise<{ restored: number; expired: number }> {
    return this.locked(() => this.set.restore(list));
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

  /** Apply a reloaded config: policies for new bans; existing mitigations keep their attributes. */
  reconfigure(cfg: Config): void {
    this.cfg = cfg;
  }

  // ---- MitigationManagerApi --------------------------------------------------------

  list(kind?: MitigationKind): Mitigation[] {
    return this.set.list(kind);
  }

  get(uuid: string): Mitigation | undefined {
    return this.set.get(uuid);
  }

  on(event: 'added' | 'removed', listener: (m: Mitigation, reason: string) => void): void {
    this.set.on(event, listener);
  }

  add(input: MitigationInput): Promise<AddResult> {
    return this.locked(() => this.set.add(input));
  }

  remove(uuid: string, reason: string): Promise<boolean> {
    return this.locked(() => this.removeUnlocked(uuid, reason));
  }

  desiredRoutes(): DesiredRoute[] {
    return this.set.desiredRoutes();
  }

  // ---- operator helpers (API / ctl) ------------------------------------------------

  /** PUT /blackhole/<ip>: a manual blackhole with the host's hostgroup attributes, no expiry. */
  addManualBlackhole(ipText: string): Promise<AddResult> {
    const p = parsePrefix(ipText);
    if (typeof p === 'string') return Promise.resolve(this.set.refuse('invalid', p));
    if (p.len !== hostLength(p.family)) return Promise.resolve(this.set.refuse('invalid', `a blackhole is one host (/${hostLength(p.family)}), not ${prefixToString(p)}`));
    const hg = hostgroupFor(this.cfg.hostgroups, p);
    const bh = hg?.actions.blackhole;
    return this.add({
      kind: 'blackhole',
      prefix: prefixToString(p),
      ip: hostText(p),
      cause: 'manual',
      hostgroup: hg?.name ?? 'default',
      expires_at: null,
      next_hop: bh ? (p.family === 4 ? bh.next_hop.ipv4 : bh.next_hop.ipv6) : undefined,
      communities: bh?.communities ?? [],
      large_communities: bh?.large_communities ?? [],
      extended_communities: bh?.extended_communities ?? [],
    });
  }

  /** PUT /flowspec: a manual rule in FastNetMon's JSON shape, no expiry. */
  addManualFlowspec(rule: unknown): Promise<AddResult> {
    const parsed = this.set.parseFlowspec(rule);
    if (!('destination' in parsed)) return Promise.resolve(parsed);
    const hg = hostgroupFor(this.cfg.hostgroups, parsed.destination);
    return this.add({
      kind: 'flowspec',
      prefix: prefixToString(parsed.destination),
      ip: hostText(parsed.destination),
      cause: 'manual',
      hostgroup: hg?.name ?? 'default',
      expires_at: null,
      communities: [],
      large_communities: [],
      rule: parsed.rule,
    });
  }

  /** Active attacks (newest first) and then recently finished ones. */
  attacks(): AttackSummary[] {
    const active = [...this.attacksById.values()].map((e) => this.summary(e, true)).reverse();
    return [...active, ...this.recent];
  }

  // ---- detector events -------------------------------------------------------------

  /** attack_started: apply the hostgroup policy. */
  onAttack(rec: AttackRecord): Promise<void> {
    return this.locked(() => this.ban(rec));
  }

  /** attack_updated: keep the freshest record for status notifications. */
  onAttackUpdate(rec: AttackRecord): void {
    const e = this.attacksById.get(rec.uuid);
    if (e) e.rec = rec;
  }

  /** attack_finished: the ban stays until its expiry (which may now proceed). */
  onAttackFinished(rec: AttackRecord): void {
    const e = this.attacksById.get(rec.uuid);
    if (!e) return;
    e.rec = rec;
    e.finishedAt = this.now();
  }

  /** Check expiries and send status updates; runs every sweepIntervalMs (public for tests). */
  sweep(): Promise<void> {
    return this.locked(() => this.sweepUnlocked());
  }

  // ---- internals -------------------------------------------------------------------

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async removeUnlocked(uuid: string, reason: string): Promise<boolean> {
    if (!(await this.set.remove(uuid, reason))) return false;
    const owner = this.ownerOf.get(uuid);
    this.ownerOf.delete(uuid);
    if (owner) {
      const e = this.attacksById.get(owner);
      if (e) {
        e.uuids.delete(uuid);
        if (e.uuids.size === 0 && reason !== 'expired') this.finishBan(e, reason);
      }
    }
    return true;
  }

  private policyFor(name: string, ip: Prefix): Hostgroup | undefined {
    return this.cfg.hostgroups.find((h) => h.name === name) ?? hostgroupFor(this.cfg.hostgroups, ip);
  }

  private async ban(rec: AttackRecord): Promise<void> {
    const p = parsePrefix(rec.ip);
    if (typeof p === 'string') {
      log.error(`attack ${rec.uuid}: ${p}`);
      return;
    }
    const hostPrefix: Prefix = { family: p.family, bytes: p.bytes, len: hostLength(p.family) };
    const ipText = hostText(hostPrefix);
    for (const e of this.attacksById.values()) {
      if (e.rec.ip === ipText) {
        log.debug(`attack ${rec.uuid} on ${ipText}: already banned by attack ${e.rec.uuid}`);
        e.rec = rec;
        return;
      }
    }
    const hg = this.policyFor(rec.hostgroup, hostPrefix);
    if (!hg) {
      log.error(`attack ${rec.uuid} on ${ipText}: no hostgroup policy`);
      return;
    }
    if (this.adoptRestored(rec, hg, ipText)) return;
    const policy = hg.actions;
    const now = this.now();
    const expiresAt = now + policy.ban_time_ms;
    const cause = `attack ${rec.uuid}`;
    const entry: AttackEntry = {
      rec,
      hostgroup: hg,
      uuids: new Set(),
      expiresAt,
      lastStatusAt: now,
      finishedAt: null,
      rules: [],
      partial: !policy.blackhole.enabled && policy.flowspec.enabled,
    };
    this.attacksById.set(rec.uuid, entry);
    const own = (r: AddResult) => {
      if (r.ok && r.mitigation) {
        // An existing mitigation of another cause (a manual ban) is left to its owner.
        if (r.mitigation.cause === cause) {
          entry.uuids.add(r.mitigation.uuid);
          this.ownerOf.set(r.mitigation.uuid, rec.uuid);
        }
      } else log.warn(`attack ${rec.uuid} on ${ipText}: ${r.error}`);
      return r;
    };
    if (policy.blackhole.enabled) {
      const bh = policy.blackhole;
      own(
        await this.set.add({
          kind: 'blackhole',
          prefix: prefixToString(hostPrefix),
          ip: ipText,
          cause,
          hostgroup: hg.name,
          expires_at: expiresAt,
          next_hop: p.family === 4 ? bh.next_hop.ipv4 : bh.next_hop.ipv6,
          communities: bh.communities,
          large_communities: bh.large_communities,
          extended_communities: bh.extended_communities,
        }),
      );
    }
    if (policy.flowspec.enabled) {
      const fs = this.opts.flowspec;
      if (!fs) log.warn(`attack ${rec.uuid} on ${ipText}: hostgroup ${hg.name} wants FlowSpec but FlowSpec support is not available`);
      else {
        let rules: FlowspecRule[] = [];
        try {
          rules = fs.generate(rec.samples, rec.baseline, policy.flowspec.coverage);
        } catch (e) {
          log.error(`attack ${rec.uuid}: FlowSpec rule generation failed: ${(e as Error).message}`);
        }
        if (rules.length === 0) log.warn(`attack ${rec.uuid} on ${ipText}: no FlowSpec rule could be generated from ${rec.samples.length} sample(s)`);
        for (const r0 of rules) {
          const rule = withAction(r0, policy);
          const r = own(
            await this.set.add({ kind: 'flowspec', prefix: prefixToString(hostPrefix), ip: ipText, cause, hostgroup: hg.name, expires_at: expiresAt, communities: [], large_communities: [], rule }),
          );
          if (r.ok && r.mitigation?.rule) entry.rules.push(r.mitigation.rule);
        }
      }
    }
    const action: NotifyActionName = entry.partial ? 'partial_block' : 'ban';
    if (!policy.blackhole.enabled && !policy.flowspec.enabled) log.info(`attack ${rec.uuid} on ${ipText}: notify only (hostgroup ${hg.name})`);
    this.notify(action, entry, rec.details);
  }

  /**
   * After a restart the detector sees a running attack anew, while the ban it caused was
   * restored from the journal without its attack record. That is the same attack: adopt the
   * restored mitigations (keeping their expiry) instead of announcing or notifying twice.
   */
  private adoptRestored(rec: AttackRecord, hg: Hostgroup, ipText: string): boolean {
    const mine = [...this.set.values()].filter(
      (m) => m.ip === ipText && (m.kind === 'blackhole' || m.kind === 'flowspec') && m.cause.startsWith('attack ') && !this.ownerOf.has(m.uuid),
    );
    if (mine.length === 0) return false;
    const expiries = mine.map((m) => m.expires_at ?? this.now() + hg.actions.ban_time_ms);
    const entry: AttackEntry = {
      rec,
      hostgroup: hg,
      uuids: new Set(mine.map((m) => m.uuid)),
      expiresAt: Math.max(...expiries),
      lastStatusAt: this.now(),
      finishedAt: null,
      rules: mine.flatMap((m) => (m.rule ? [m.rule] : [])),
      partial: !mine.some((m) => m.kind === 'blackhole'),
    };
    this.attacksById.set(rec.uuid, entry);
    for (const m of mine) this.ownerOf.set(m.uuid, rec.uuid);
    log.info(`attack ${rec.uuid} on ${ipText} continues the ban restored from the state dir (${mine.map((m) => `${m.kind} ${m.uuid}`).join(', ')}); no new announcement`);
    return true;
  }

  private notify(action: NotifyActionName, e: AttackEntry, details: AttackDetails | Readonly<Record<string, unknown>>): void {
    const n = this.opts.notifier;
    const na = e.hostgroup.actions.notify;
    if (!n || (!na.script && !na.webhook)) return;
    const doc: NotifyDocument = {
      action,
      alert_scope: 'host',
      ip: e.rec.ip,
      attack_details: details,
      packet_dump_detailed: action === 'ban' || action === 'partial_block' ? e.rec.packet_dump_detailed : [],
      flow_spec_rules: e.rules,
    };
    n.notify(doc, na);
  }

  private finishBan(e: AttackEntry, reason: string): void {
    this.attacksById.delete(e.rec.uuid);
    for (const u of e.uuids) this.ownerOf.delete(u);
    this.recent.unshift(this.summary(e, false));
    if (this.recent.length > RECENT_ATTACKS) this.recent.pop();
    log.info(`unban ${e.rec.ip} (attack ${e.rec.uuid}, ${reason})`);
    this.notify(e.partial ? 'partial_unblock' : 'unban', e, freshDetails(e.rec.details, this.opts.hostRates?.(e.rec.ip) ?? null));
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
    for (const e of [...this.attacksById.values()]) {
      const policy = e.hostgroup.actions;
      if (e.expiresAt <= now) {
        if (policy.unban_only_if_attack_finished && this.stillAttacking(e.rec.ip)) {
          e.expiresAt = now + policy.ban_time_ms;
          await this.set.extend(e.uuids, e.expiresAt);
          log.info(`ban of ${e.rec.ip} kept: attack still in progress (until ${new Date(e.expiresAt).toISOString()})`);
        } else {
          for (const u of [...e.uuids]) await this.removeUnlocked(u, 'expired');
          this.finishBan(e, 'expired');
          continue;
        }
      }
      if (policy.ban_status_delay_ms > 0 && now - e.lastStatusAt >= policy.ban_status_delay_ms) {
        e.lastStatusAt = now;
        this.notify('attack_status', e, freshDetails(e.rec.details, this.opts.hostRates?.(e.rec.ip) ?? null));
      }
    }
    // Mitigations without a live attack entry: manual ones with an expiry, restored ones.
    for (const m of this.set.list()) {
      if (m.expires_at === null || m.expires_at > now || this.ownerOf.has(m.uuid)) continue;
      const hg = this.cfg.hostgroups.find((h) => h.name === m.hostgroup);
      if (m.kind !== 'escalation' && hg?.actions.unban_only_if_attack_finished && this.stillAttacking(m.ip)) {
        await this.set.extend([m.uuid], now + hg.actions.ban_time_ms);
        continue;
      }
      await this.removeUnlocked(m.uuid, 'expired');
      if (m.cause.startsWith('attack ') && hg && !this.list().some((o) => o.cause === m.cause)) {
        const n = this.opts.notifier;
        const na = hg.actions.notify;
        if (n && (na.script || na.webhook)) {
          n.notify(
            { action: 'unban', alert_scope: 'host', ip: m.ip, attack_details: { attack_uuid: m.cause.slice(7), host_group: m.hostgroup }, packet_dump_detailed: [], flow_spec_rules: m.rule ? [m.rule] : [] },
            na,
          );
        }
      }
    }
  }

  private summary(e: AttackEntry, active: boolean): AttackSummary {
    return {
      uuid: e.rec.uuid,
      ip: e.rec.ip,
      hostgroup: e.hostgroup.name,
      active: active && e.finishedAt === null,
      banned: active,
      started_at: e.rec.startedAt,
      finished_at: e.finishedAt,
      ban_expires_at: active ? e.expiresAt : null,
      mitigations: [...e.uuids],
      attack_details: e.rec.details,
      flow_spec_rules: e.rules,
    };
  }
}

/** The policy's FlowSpec action put on a generated rule (FastNetMon's action_type/action). */
function withAction(rule: FlowspecRule, policy: PolicyActions): FlowspecRule {
  return { ...rule, action_type: policy.flowspec.action, action: { ...policy.flowspec.action_params } };
}
