/**
 * Hostgroup-scope mitigation (carpet bombing): a hostgroup whose total traffic crossed a
 * `thresholds.hostgroup` limit is mitigated as one, by its policy's `actions.hostgroup`:
 *  - flowspec: rules generated from the hostgroup's aggregate samples (the generator's
 *    coverage / collateral rules and explanation, as per host) whose destinations are the
 *    hostgroup's prefixes holding attacked hosts, or the smallest prefixes covering them;
 *  - blackhole: the covering /24 (/48) of each host over its own ban threshold while the
 *    hostgroup attack holds.
 * Every destination is made safe first (cover.ts): inside `networks`, split around (or
 * refused for) whitelisted addresses, each step logged. The routes go through the same
 * MitigationSet as everything else (caps, dry-run, journal before announcement).
 *
 * One ban per hostgroup, like one per host: it ends at its expiry (extended while the
 * hostgroup attack goes on with unban_only_if_attack_finished), or when an operator
 * withdraws its last route. Its mitigations carry the cause { kind: 'hostgroup', name,
 * uuid } (cause.ts), which is how a restart finds them again (restore) and how the
 * escalation loop and the host-ban bookkeeping know to leave them alone. The manager holds its lock
 * around every call here.
 */
import type { Config, Hostgroup } from '../config/types.js';
import type { FlowSample } from '../capture/flow.js';
import type { HostgroupAttack } from '../detection/index.js';
import { logger } from '../log.js';
import { addrToString, parseAddr, prefixContains, prefixToString, type Prefix } from '../wire/addr.js';
import { coveringPrefixes, coveringPrefixOf, safeCover, type WeightedHost } from './cover.js';
import {
  hostgroupAttackDetails,
  hostgroupBanDocument,
  type NotifyActionName,
  type NotifyDocument,
} from '../notify/index.js';
import { causeText, hostgroupCause, sameCause, type HostgroupCause } from './cause.js';
import type { FlowspecAdapter, FlowspecRule, MitigationSet } from './set.js';
import { parsePrefix } from './prefixes.js';
import type { AddResult, Mitigation } from './types.js';
import type { AttackSummary } from './bans.js';

const log = logger.child({ module: 'mitigation' });

/** A split around the whitelist into more pieces than this per prefix is refused. */
const MAX_BLACKHOLE_PIECES = 16;

export interface HostgroupBan {
  readonly hostgroup: string;
  readonly cause: HostgroupCause;
  readonly attackUuid: string;
  /** The hostgroup attack (null: restored from the journal, not seen again yet). */
  attack: HostgroupAttack | null;
  /** The attack is over at the detector (the ban waits for its expiry). */
  finished: boolean;
  readonly uuids: Set<string>;
  readonly rules: FlowspecRule[];
  /** Covering prefixes already blackholed or refused (one try per prefix). */
  readonly covered: Set<string>;
  expiresAt: number;
  lastStatusAt: number;
  readonly startedAt: number;
  partial: boolean;
  /** FlowSpec generations tried (a sweep retries while none gave rules, a few times). */
  flowspecTries: number;
  /** When the rules' destinations were last checked against the attacked hosts. */
  coverCheckedAt: number;
}

/** Most rules when a split around the whitelist needs more destinations than max_prefixes. */
const MAX_SPLIT_RULES = 32;

/** Sweeps that retry FlowSpec generation for a ban without rules. */
const FLOWSPEC_RETRIES = 10;

/** How often a ban's FlowSpec destinations are checked against the hosts attacked now. */
const RECOVER_INTERVAL_MS = 1000;

/**
 * Sampled attack packets to hosts outside every rule's destination, as a share, that make
 * the rules be generated again (hosts over their own thresholds outside count always).
 */
const RECOVER_SHARE = 0.05;

export interface ScopeContext {
  readonly set: MitigationSet;
  cfg(): Config;
  policyFor(name: string): Hostgroup | undefined;
  now(): number;
  readonly flowspec: FlowspecAdapter | null | undefined;
  /** The notify document to the hostgroup's script / webhook (and the Redis export). */
  notify(doc: NotifyDocument, hostgroup: string): void;
  hostgroupAttacking(name: string): boolean;
  hostgroupSamples(name: string, outgoing: boolean): { attack: FlowSample[]; baseline: FlowSample[] } | null;
  /** Hosts of the hostgroup with a host attack in progress (over their own thresholds). */
  attackedHosts(name: string): Iterable<string>;
}

export class HostgroupScope {
  private readonly bans = new Map<string, HostgroupBan>();
  private readonly ownerOf = new Map<string, HostgroupBan>();

  constructor(private readonly ctx: ScopeContext) {}

  /** Is hostgroup-scope mitigation on for this hostgroup? */
  static enabled(hg: Hostgroup | undefined): boolean {
    return !!hg && (hg.actions.hostgroup.flowspec.enabled || hg.actions.hostgroup.blackhole.enabled);
  }

  list(): readonly HostgroupBan[] {
    return [...this.bans.values()];
  }

  /**
   * GET /attacks' hostgroup entries: each hostgroup-total attack detection has in progress
   * (`live`) with its hostgroup's ban when there is one, then the bans whose attacks are
   * over (a ban lasts until its expiry). One pass over each: no per-host work.
   */
  summaries(live: readonly HostgroupAttack[]): AttackSummary[] {
    const out: AttackSummary[] = [];
    const shown = new Set<string>();
    for (const a of live) {
      shown.add(a.hostgroup);
      out.push(hostgroupSummary(a, this.bans.get(a.hostgroup), true));
    }
    for (const b of this.bans.values())
      if (!shown.has(b.hostgroup)) out.push(hostgroupSummary(b.attack, b, false));
    return out;
  }

  owns(uuid: string): boolean {
    return this.ownerOf.has(uuid);
  }

  /** Drop every hostgroup ban from memory (the set forgets their mitigations too). */
  forget(): void {
    this.bans.clear();
    this.ownerOf.clear();
  }

  /** Journal-restored mitigations of hostgroup cause become their hostgroup's ban again. */
  restore(ms: Iterable<Mitigation>): void {
    for (const m of ms) {
      const c = m.cause;
      if (c.kind !== 'hostgroup' || this.ownerOf.has(m.uuid)) continue;
      let b = this.bans.get(c.name);
      if (!b) {
        if (!this.ctx.policyFor(c.name))
          log.warn(`restored hostgroup-scope mitigation ${m.uuid}: hostgroup ${c.name} no longer exists`);
        b = this.newBan(c.name, c.uuid, null, m.started_at, 0, true);
      }
      this.own(b, m);
      const exp = m.expires_at ?? this.ctx.now() + (this.ctx.policyFor(c.name)?.actions.ban_time_ms ?? 0);
      if (exp > b.expiresAt) b.expiresAt = exp;
      if (m.kind === 'blackhole') {
        b.partial = false;
        b.covered.add(m.prefix);
      }
    }
    for (const b of this.bans.values())
      log.info(
        `restored hostgroup-scope ban of ${b.hostgroup} (${b.uuids.size} mitigation(s), until ${new Date(b.expiresAt).toISOString()})`,
      );
  }

  /** A hostgroup-total attack started: mitigate it, or join the ban that holds. */
  async start(a: HostgroupAttack): Promise<void> {
    const held = this.bans.get(a.hostgroup);
    if (held) {
      if (held.attack === null)
        log.info(
          `hostgroup ${a.hostgroup}: attack ${a.uuid} continues the hostgroup-scope ban restored from the state dir; no new announcement`,
        );
      else
        log.info(
          `hostgroup ${a.hostgroup}: attack ${a.uuid} joins the hostgroup-scope ban held (${causeText(held.cause)})`,
        );
      held.attack = a;
      held.finished = false;
      held.coverCheckedAt = this.ctx.now();
      await this.fill(held);
      return;
    }
    const hg = this.ctx.policyFor(a.hostgroup);
    if (!hg || !HostgroupScope.enabled(hg)) return;
    const now = this.ctx.now();
    const hs = hg.actions.hostgroup;
    const b = this.newBan(
      a.hostgroup,
      a.uuid,
      a,
      now,
      now + hg.actions.ban_time_ms,
      !hs.blackhole.enabled && hs.flowspec.enabled,
    );
    await this.fill(b);
    this.notify(b.partial ? 'partial_block' : 'ban', b);
  }

  /** The hostgroup attack is over at the detector: the ban stays until it expires. */
  finished(a: HostgroupAttack): void {
    const b = this.bans.get(a.hostgroup);
    if (!b) return;
    b.finished = true;
    if (b.attack) b.attack.value = a.value;
  }

  /**
   * A host of a mitigated hostgroup crossed its own threshold: its covering prefix too,
   * while the hostgroup attack holds. A ban restored from the journal whose attack has not
   * been seen again does not know that it holds: the attack's return covers its hosts (fill).
   */
  async hostAttacked(hostgroup: string, ip: string): Promise<void> {
    const b = this.bans.get(hostgroup);
    if (!b || b.finished || b.attack === null) return;
    const hg = this.ctx.policyFor(hostgroup);
    if (hg?.actions.hostgroup.blackhole.enabled) await this.blackholeHosts(b, hg, [ip]);
  }

  /** Expiries, extensions, late FlowSpec generation, status notifications. */
  async sweep(now: number): Promise<void> {
    for (const b of [...this.bans.values()]) {
      const policy = this.ctx.policyFor(b.hostgroup)?.actions;
      const attacking = this.attacking(b.hostgroup);
      if (b.expiresAt <= now) {
        if (attacking && (policy?.unban_only_if_attack_finished ?? true)) {
          b.expiresAt = now + (policy?.ban_time_ms ?? 0);
          await this.ctx.set.extend(b.uuids, b.expiresAt);
          log.info(
            `hostgroup-scope ban of ${b.hostgroup} kept: the hostgroup attack is still in progress (until ${new Date(b.expiresAt).toISOString()})`,
          );
        } else {
          const last = b.attack;
          for (const u of [...b.uuids]) await this.removeOwned(u, 'expired');
          this.finish(b, 'expired');
          // ban_time ran out while the attack goes on (unban_only_if_attack_finished off):
          // a new ban at once, as for a host (the batch around the sweep spares the flap).
          if (attacking && last) await this.start(last);
          continue;
        }
      } else if (attacking && !b.finished && b.rules.length === 0 && b.flowspecTries < FLOWSPEC_RETRIES) {
        // Too few samples at the start: the rules once the attack has some.
        const hg = this.ctx.policyFor(b.hostgroup);
        if (hg?.actions.hostgroup.flowspec.enabled) await this.flowspecRules(b, hg);
      } else if (
        attacking &&
        !b.finished &&
        b.attack !== null &&
        b.rules.length > 0 &&
        now - b.coverCheckedAt >= RECOVER_INTERVAL_MS
      ) {
        // A carpet bomb widens as it goes: hosts attacked after the rules were made.
        b.coverCheckedAt = now;
        const hg = this.ctx.policyFor(b.hostgroup);
        if (hg?.actions.hostgroup.flowspec.enabled) await this.recover(b, hg);
      }
      if (policy && policy.ban_status_delay_ms > 0 && now - b.lastStatusAt >= policy.ban_status_delay_ms) {
        b.lastStatusAt = now;
        this.notify('attack_status', b);
      }
    }
  }

  /** A mitigation of a hostgroup ban left the set (the manager removed it): an operator's delete of the last ends the ban. */
  removed(uuid: string, reason: string): void {
    const b = this.ownerOf.get(uuid);
    if (!b) return;
    this.ownerOf.delete(uuid);
    b.uuids.delete(uuid);
    if (b.uuids.size === 0 && reason !== 'expired') this.finish(b, reason);
  }

  audit(): string[] {
    const problems: string[] = [];
    for (const [name, b] of this.bans) {
      if (b.hostgroup !== name) problems.push(`hostgroup ban keyed ${name} is for ${b.hostgroup}`);
      for (const u of b.uuids) {
        if (this.ownerOf.get(u) !== b)
          problems.push(`mitigation ${u} of the hostgroup ban of ${name} is not owned by it`);
        if (!this.ctx.set.get(u))
          problems.push(`mitigation ${u} of the hostgroup ban of ${name} is not in the set`);
      }
    }
    for (const [u, b] of this.ownerOf)
      if (this.bans.get(b.hostgroup) !== b)
        problems.push(`mitigation ${u} owned by a hostgroup ban that is gone`);
    return problems;
  }

  // ---- internals -------------------------------------------------------------------

  private newBan(
    name: string,
    uuid: string,
    a: HostgroupAttack | null,
    startedAt: number,
    expiresAt: number,
    partial: boolean,
  ): HostgroupBan {
    const b: HostgroupBan = {
      hostgroup: name,
      cause: hostgroupCause(name, uuid),
      attackUuid: uuid,
      attack: a,
      finished: false,
      uuids: new Set(),
      rules: [],
      covered: new Set(),
      expiresAt,
      lastStatusAt: startedAt,
      startedAt,
      partial,
      flowspecTries: 0,
      coverCheckedAt: startedAt,
    };
    this.bans.set(name, b);
    return b;
  }

  private attacking(name: string): boolean {
    try {
      return this.ctx.hostgroupAttacking(name);
    } catch {
      return false;
    }
  }

  private own(b: HostgroupBan, m: Mitigation): void {
    b.uuids.add(m.uuid);
    this.ownerOf.set(m.uuid, b);
    if (m.rule) b.rules.push(m.rule);
  }

  private take(b: HostgroupBan, r: AddResult): void {
    if (r.ok && r.mitigation) {
      // A re-cover's repeat of a rule the ban holds comes back as that mitigation.
      if (sameCause(r.mitigation.cause, b.cause) && !b.uuids.has(r.mitigation.uuid))
        this.own(b, r.mitigation);
    } else log.warn(`hostgroup ${b.hostgroup} (${causeText(b.cause)}): ${r.error}`);
  }

  /** What the policy wants and the ban does not hold yet: FlowSpec rules, covering prefixes. */
  private async fill(b: HostgroupBan): Promise<void> {
    const hg = this.ctx.policyFor(b.hostgroup);
    if (!hg) return;
    const hs = hg.actions.hostgroup;
    if (hs.flowspec.enabled && b.rules.length === 0) await this.flowspecRules(b, hg);
    if (hs.blackhole.enabled) await this.blackholeHosts(b, hg, this.ctx.attackedHosts(b.hostgroup));
  }

  /**
   * The rules' destinations no longer hold the attack (hosts attacked since they were
   * made): generate them again from the samples of now, announce the new ones, then
   * withdraw the old ones the new set does not repeat (make before break: if any new rule
   * is refused, the old ones stay). Destinations of rules an operator deleted still count
   * as covered, so a delete is not undone here.
   */
  private async recover(b: HostgroupBan, hg: Hostgroup): Promise<void> {
    const outgoing = b.attack?.direction === 'outgoing';
    const now = this.ctx.hostgroupSamples(hg.name, outgoing);
    const dests: Prefix[] = [];
    for (const r of b.rules) {
      const d = parsePrefix(String(r.destination_prefix ?? ''));
      if (typeof d !== 'string') dests.push(d);
    }
    const inside = (h: { family: 4 | 6; bytes: Uint8Array }) =>
      dests.some((d) => d.family === h.family && prefixContains(d, h.bytes));
    let total = 0;
    let outside = 0;
    for (const h of weightedHosts(now?.attack ?? [], outgoing, [])) {
      total += h.weight;
      if (!inside(h)) outside += h.weight;
    }
    let lone = 0;
    for (const ip of this.ctx.attackedHosts(hg.name)) {
      const a = parseAddr(ip);
      if (a && !inside(a)) lone++;
    }
    if (lone === 0 && (total === 0 || outside / total < RECOVER_SHARE)) return;
    const old = [...b.uuids].filter((u) => this.ctx.set.get(u)?.kind === 'flowspec');
    log.info(
      `hostgroup ${hg.name}: the FlowSpec rules no longer hold the attack (${lone} host(s) over their own thresholds and ${total > 0 ? ((outside / total) * 100).toFixed(1) : '0'}% of the sampled packets outside their destinations): generating them again`,
    );
    const made = await this.flowspecRules(b, hg, true);
    if (made === null) return;
    const keep = new Set(made);
    const gone = old.filter((u) => !keep.has(u));
    for (const u of gone) {
      const rule = this.ctx.set.get(u)?.rule;
      await this.removeOwned(u, 'replaced');
      const i = rule ? b.rules.indexOf(rule) : -1;
      if (i >= 0) b.rules.splice(i, 1);
    }
    log.info(
      `hostgroup ${hg.name}: hostgroup-scope FlowSpec re-covered: ${made.filter((u) => !old.includes(u)).length} rule(s) announced, ${gone.length} withdrawn`,
    );
  }

  /**
   * Generate and announce the ban's rules. `fresh`: from the samples of now (a re-cover),
   * and the uuids of the rules it holds afterwards, or null when any was refused or none
   * was made; else the samples of the attack's start.
   */
  private async flowspecRules(b: HostgroupBan, hg: Hostgroup, fresh = false): Promise<string[] | null> {
    const fs = this.ctx.flowspec;
    if (!fs?.generateScoped) {
      log.warn(`hostgroup ${hg.name} wants hostgroup-scope FlowSpec but FlowSpec support is not available`);
      return null;
    }
    if (!fresh) b.flowspecTries++;
    const a = b.attack;
    const outgoing = a?.direction === 'outgoing';
    // The samples of the attack's start, else (a restored ban, a retry) those of now.
    let samples: readonly FlowSample[] = !fresh && a && a.samples.length > 0 ? a.samples : [];
    let baseline: readonly FlowSample[] = a ? a.baseline : [];
    if (samples.length === 0) {
      const now = this.ctx.hostgroupSamples(hg.name, outgoing);
      if (now) {
        samples = now.attack;
        baseline = baseline.length ? baseline : now.baseline;
      }
    }
    if (samples.length === 0) {
      log.warn(
        `hostgroup ${hg.name}: no aggregate samples yet for hostgroup-scope FlowSpec rules; retried on the next sweep`,
      );
      return null;
    }
    const f = hg.actions.hostgroup.flowspec;
    const cfg = this.ctx.cfg();
    const hosts = weightedHosts(samples, outgoing, this.ctx.attackedHosts(hg.name));
    const within = hg.prefixes.length > 0 ? hg.prefixes : cfg.networks;
    let dest: Prefix[];
    if (f.destination === 'hostgroup' && hg.prefixes.length > 0) {
      dest = hg.prefixes.filter((p) =>
        hosts.some((h) => h.family === p.family && prefixContains(p, h.bytes)),
      );
    } else dest = coveringPrefixes(hosts, within, f.max_prefixes).prefixes;
    const safe = safeCover(dest, cfg, { keepIfHolds: hosts, maxPieces: 64 });
    for (const n of safe.notes) log.warn(`hostgroup ${hg.name}: FlowSpec destination ${n}`);
    let prefixes = safe.prefixes;
    // A split around the whitelist may need more destinations than max_prefixes: covering
    // the attack beats the rule budget then (logged), up to MAX_SPLIT_RULES.
    const budget =
      prefixes.length > f.max_prefixes && safe.notes.some((n) => n.includes(': split into'))
        ? MAX_SPLIT_RULES
        : f.max_prefixes;
    if (budget > f.max_prefixes)
      log.warn(
        `hostgroup ${hg.name}: the split around the whitelist takes ${prefixes.length} destination prefixes, more than max_prefixes ${f.max_prefixes}; up to ${budget} rules allowed for it`,
      );
    if (prefixes.length > budget) {
      // The tightest cover of the attacked hosts inside the pieces, the heaviest kept.
      const c = coveringPrefixes(hosts, prefixes, budget);
      const total = hosts.reduce((s, h) => s + h.weight, 0);
      log.warn(
        `hostgroup ${hg.name}: ${prefixes.length} safe destination prefixes, more than ${budget}: kept ${c.prefixes.map(prefixToString).join(', ')}` +
          (c.dropped > 0 && total > 0
            ? ` (${((c.dropped / total) * 100).toFixed(1)}% of the sampled attack left uncovered)`
            : ''),
      );
      prefixes = c.prefixes;
    }
    if (prefixes.length === 0) {
      log.warn(`hostgroup ${hg.name}: no safe destination prefix for hostgroup-scope FlowSpec rules`);
      return null;
    }
    const coverage = f.coverage ?? hg.actions.flowspec.coverage;
    let g: ReturnType<NonNullable<FlowspecAdapter['generateScoped']>>;
    try {
      g = fs.generateScoped(samples, baseline, coverage, prefixes, budget);
    } catch (e) {
      log.error(`hostgroup ${hg.name}: FlowSpec rule generation failed: ${(e as Error).message}`);
      return null;
    }
    log.info(
      `hostgroup ${hg.name}: hostgroup-scope FlowSpec from ${samples.length} aggregate sample(s), destinations ${prefixes.map(prefixToString).join(', ')}:\n${g.explanation}`,
    );
    if (!g.ok) {
      log.warn(
        `hostgroup ${hg.name}: no hostgroup-scope FlowSpec rule announced: the rules miss the coverage target or match too much of the baseline`,
      );
      return null;
    }
    const action = {
      action_type: f.action ?? hg.actions.flowspec.action,
      action: { ...(f.action_params ?? hg.actions.flowspec.action_params) },
    };
    const inputs = g.rules.map((r0) => {
      const rule: Record<string, unknown> = { ...r0, ...action };
      const dst = String(rule.destination_prefix ?? '');
      const p = parseAddr(dst.replace(/\/\d+$/, ''));
      return {
        kind: 'flowspec' as const,
        prefix: dst,
        ip: p ? addrToString(p) : dst,
        cause: b.cause,
        hostgroup: hg.name,
        expires_at: b.expiresAt,
        communities: [],
        large_communities: [],
        rule,
      };
    });
    const results = await this.ctx.set.addMany(inputs);
    for (const r of results) this.take(b, r);
    if (results.some((r) => !r.ok || !r.mitigation || !sameCause(r.mitigation.cause, b.cause))) return null;
    return results.map((r) => r.mitigation!.uuid);
  }

  private async blackholeHosts(b: HostgroupBan, hg: Hostgroup, ips: Iterable<string>): Promise<void> {
    const cfg = this.ctx.cfg();
    const hb = hg.actions.hostgroup.blackhole;
    const bh = hg.actions.blackhole;
    const within = [...hg.prefixes, ...cfg.networks];
    const inputs = [];
    for (const ip of ips) {
      const addr = parseAddr(ip);
      if (!addr) continue;
      const cover = coveringPrefixOf(
        addr,
        addr.family === 4 ? hb.prefix_length.ipv4 : hb.prefix_length.ipv6,
        within,
      );
      const text = prefixToString(cover);
      if (b.covered.has(text)) continue;
      b.covered.add(text);
      const safe = safeCover([cover], cfg, { maxPieces: MAX_BLACKHOLE_PIECES });
      for (const n of safe.notes) log.warn(`hostgroup ${hg.name}: blackhole for ${ip}: ${n}`);
      const nh = hb.next_hop ?? bh.next_hop;
      for (const p of safe.prefixes) {
        const pt = prefixToString(p);
        if (pt !== text) b.covered.add(pt);
        inputs.push({
          kind: 'blackhole' as const,
          prefix: pt,
          ip,
          cause: b.cause,
          hostgroup: hg.name,
          expires_at: b.expiresAt,
          next_hop: p.family === 4 ? nh.ipv4 : nh.ipv6,
          communities: hb.communities ?? bh.communities,
          large_communities: hb.large_communities ?? bh.large_communities,
          extended_communities: hb.extended_communities ?? bh.extended_communities,
        });
      }
    }
    if (inputs.length === 0) return;
    for (const r of await this.ctx.set.addMany(inputs)) this.take(b, r);
  }

  private async removeOwned(uuid: string, reason: string): Promise<void> {
    await this.ctx.set.remove(uuid, reason);
    this.removed(uuid, reason);
  }

  private finish(b: HostgroupBan, reason: string): void {
    this.bans.delete(b.hostgroup);
    for (const u of b.uuids) this.ownerOf.delete(u);
    log.info(`unban hostgroup ${b.hostgroup} (${causeText(b.cause)}, ${reason})`);
    this.notify(b.partial ? 'partial_unblock' : 'unban', b);
  }

  private notify(action: NotifyActionName, b: HostgroupBan): void {
    this.ctx.notify(hostgroupBanDocument(action, b), b.hostgroup);
  }
}

/** The attacked addresses of the samples (the destination of incoming ones) with their packets, plus hosts over their own thresholds. */
function weightedHosts(
  samples: readonly FlowSample[],
  outgoing: boolean,
  attacked: Iterable<string>,
): WeightedHost[] {
  const by = new Map<string, { family: 4 | 6; bytes: Uint8Array; weight: number }>();
  const add = (ip: string, w: number) => {
    const e = by.get(ip);
    if (e) {
      e.weight += w;
      return;
    }
    const a = parseAddr(ip);
    if (a) by.set(ip, { family: a.family, bytes: a.bytes, weight: w });
  };
  for (const s of samples) add(outgoing ? s.src : s.dst, s.packets);
  for (const ip of attacked) add(ip, 0);
  return [...by.values()];
}

function hostgroupSummary(
  a: HostgroupAttack | null,
  b: HostgroupBan | undefined,
  active: boolean,
): AttackSummary {
  const hostgroup = a?.hostgroup ?? b!.hostgroup;
  return {
    uuid: a?.uuid ?? b!.attackUuid,
    scope: 'hostgroup',
    ip: null,
    hostgroup,
    active,
    banned: b !== undefined,
    started_at: a?.startedAt ?? b!.startedAt,
    finished_at: null,
    ban_expires_at: b ? b.expiresAt : null,
    mitigations: b ? [...b.uuids] : [],
    attack_details: { host_group: hostgroup, ...(a ? hostgroupAttackDetails(a) : {}) },
    flow_spec_rules: b ? [...b.rules] : [],
  };
}
