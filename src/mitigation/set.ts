/**
 * The set of active mitigations and its safety: every add is checked (strict prefix,
 * inside `networks`, not whitelisted, caps, valid FlowSpec), journalled (fsync) before it
 * enters the set, and the set is the one source of the BGP speaker's desired routes.
 * Attack-driven ban lifecycles are the manager's (manager.ts); this class does not lock:
 * the manager serialises every call.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { DesiredRoute } from '../bgp/types.js';
import { desiredRoute } from '../bgp/route.js';
import type { FlowSample } from '../capture/flow.js';
import type { Config } from '../config/types.js';
import { communityText, parseExtendedCommunity } from '../config/values.js';
import { logger, TurnLines } from '../log.js';
import { addrBits, parseAddr, prefixToString, type Prefix } from '../wire/addr.js';
import { causeText } from './cause.js';
import type { JournalEntry } from './journal.js';
import { parsePrefix, safetyError } from './prefixes.js';
import type { AddResult, Mitigation, MitigationKind } from './types.js';

const log = logger.child({ module: 'mitigation' });
/** announce / withdraw lines per event-loop turn before the rest go into one summary line. */
const LINES_PER_TURN = 32;

export type FlowspecRule = Readonly<Record<string, unknown>>;

/** What the manager needs from src/flowspec; the daemon passes an adapter over it. */
export interface FlowspecAdapter {
  /** Validate a rule in FastNetMon's JSON shape; `destination` is its destination_prefix. */
  parse(
    rule: unknown,
  ): { ok: true; rule: FlowspecRule; destination: Prefix | null } | { ok: false; error: string };
  /** The route to announce for a parsed rule (deterministic: same rule, same key). */
  toRoute(rule: FlowspecRule, owner: string): DesiredRoute;
  /** Rules covering `coverage` of the attack samples and none of the baseline. */
  generate(samples: readonly FlowSample[], baseline: readonly FlowSample[], coverage: number): FlowspecRule[];
  /**
   * Hostgroup scope: rules whose destinations are `destinations` (at most `maxRules`),
   * with the generator's verdict (coverage reached, collateral within bounds) and its
   * explanation; `rules` is empty when the verdict is no.
   */
  generateScoped?(
    samples: readonly FlowSample[],
    baseline: readonly FlowSample[],
    coverage: number,
    destinations: readonly Prefix[],
    maxRules: number,
  ): { rules: FlowspecRule[]; ok: boolean; explanation: string };
}

export interface JournalSink {
  append(entry: JournalEntry): Promise<void>;
  /** Many entries with one write and one fsync (optional: append() each otherwise). */
  appendMany?(entries: readonly JournalEntry[]): Promise<void>;
}

/** What add() takes: a mitigation without the fields the set assigns. */
export type MitigationInput = Omit<Mitigation, 'uuid' | 'started_at' | 'dry_run'> & {
  uuid?: string;
  /** `prefix` already parsed by the caller (a bulk add parses each address once); not stored. */
  parsed?: Prefix;
};

export type RefusalReason = 'outside_networks' | 'whitelisted' | 'cap' | 'invalid' | 'journal';

export interface MitigationSetOptions {
  readonly cfg: () => Config;
  readonly journal?: JournalSink | null;
  readonly flowspec?: FlowspecAdapter | null;
  /** Called after every change of the desired set. */
  readonly onChange?: () => void;
  /**
   * The same change as routes: one wanted now and/or one no longer wanted, so the speaker
   * updates one key instead of taking the whole set again. Dry-run mitigations have none.
   */
  readonly onRoutes?: (put: DesiredRoute | null, remove: DesiredRoute | null) => void;
  readonly now: () => number;
}

export class MitigationSet {
  private readonly set = new Map<string, Mitigation>();
  private readonly fsRoutes = new Map<string, DesiredRoute>();
  /**
   * A blackhole's route, built (its communities parsed) once per mitigation record rather
   * than on every desiredRoutes(); records are immutable, a changed one is a new object.
   */
  private readonly unicastRoutes = new WeakMap<Mitigation, DesiredRoute | undefined>();
  /** Identity -> uuid ("kind prefix" for unicast, the route key for FlowSpec): one map hit per add. */
  private readonly byIdentity = new Map<string, string>();
  private readonly counts: Record<MitigationKind, number> = { blackhole: 0, flowspec: 0, escalation: 0 };
  /** Inside batch(): changes are reported once at the end. */
  private batchDepth = 0;
  private dirty = false;
  private heldRoutes: [DesiredRoute | null, DesiredRoute | null][] = [];
  private readonly removing = new Set<string>();
  private readonly announceLines = new TurnLines(
    log,
    LINES_PER_TURN,
    (n, a, b) =>
      `${n} more announcement(s) in this batch (${a} .. ${b}); each is in GET /blackhole, /flowspec and the journal`,
  );
  private readonly withdrawLines = new TurnLines(
    log,
    LINES_PER_TURN,
    (n, a, b) => `${n} more withdrawal(s) in this batch (${a} .. ${b})`,
  );
  private readonly events = new EventEmitter();
  private readonly cfg: () => Config;
  private readonly now: () => number;
  /** Refused adds by reason, for metrics. */
  readonly refused: Record<RefusalReason, number> = {
    outside_networks: 0,
    whitelisted: 0,
    cap: 0,
    invalid: 0,
    journal: 0,
  };

  constructor(private readonly opts: MitigationSetOptions) {
    this.cfg = opts.cfg;
    this.now = opts.now;
  }

  /** Put back mitigations replayed from the journal; expired ones are dropped. */
  async restore(list: readonly Mitigation[]): Promise<{ restored: number; expired: number }> {
    let restored = 0;
    let expired = 0;
    const now = this.now();
    for (const m of list) {
      if (m.expires_at !== null && m.expires_at <= now) {
        expired++;
        await this.journalAppend({
          op: 'remove',
          uuid: m.uuid,
          reason: 'expired while stopped',
          at: now,
        }).catch((e: Error) => log.error(e.message));
        continue;
      }
      if (m.kind === 'flowspec') {
        const route = this.flowspecRoute(m);
        if (typeof route === 'string') {
          log.error(`restored FlowSpec rule ${m.uuid} cannot be announced: ${route}`);
          continue;
        }
        this.fsRoutes.set(m.uuid, route);
      }
      this.insert(m);
      restored++;
    }
    if (restored || expired)
      log.info(`restored ${restored} mitigation(s) from the state dir; dropped ${expired} expired`);
    if (restored) this.changed();
    return { restored, expired };
  }

  list(kind?: MitigationKind): Mitigation[] {
    const all = [...this.set.values()];
    return kind ? all.filter((m) => m.kind === kind) : all;
  }

  count(kind: MitigationKind): number {
    return this.counts[kind];
  }

  /** Mitigations whose expiry is at or before `now`. */
  expiredBy(now: number): Mitigation[] {
    const out: Mitigation[] = [];
    for (const m of this.set.values()) if (m.expires_at !== null && m.expires_at <= now) out.push(m);
    return out;
  }

  /**
   * Run fn with change reports held back: the speaker then sees one change for a sweep
   * that removes and re-adds a route (no withdraw-then-announce flap) or ends many bans.
   */
  async batch<T>(fn: () => Promise<T>): Promise<T> {
    this.batchDepth++;
    try {
      return await fn();
    } finally {
      this.batchDepth--;
      if (this.batchDepth === 0) {
        const held = this.heldRoutes;
        this.heldRoutes = [];
        for (const [put, remove] of held) this.routeChanged(put, remove);
        if (this.dirty) {
          this.dirty = false;
          this.changed();
        }
      }
    }
  }

  get(uuid: string): Mitigation | undefined {
    return this.set.get(uuid);
  }

  values(): IterableIterator<Mitigation> {
    return this.set.values();
  }

  on(event: 'added' | 'removed', listener: (m: Mitigation, reason: string) => void): void {
    this.events.on(event, listener);
  }

  /**
   * Forget every mitigation without a journal line, an event or a route change: another
   * node now owns them (a deposed cluster leader, src/cluster/). Refusal counts stay.
   */
  forget(): void {
    this.set.clear();
    this.fsRoutes.clear();
    this.byIdentity.clear();
    this.removing.clear();
    this.heldRoutes = [];
    for (const k of Object.keys(this.counts) as MitigationKind[]) this.counts[k] = 0;
  }

  /** The route a mitigation is announced as (undefined: none can be built). */
  routeOf(m: Mitigation): DesiredRoute | undefined {
    if (m.kind === 'flowspec') return this.fsRoutes.get(m.uuid);
    if (this.unicastRoutes.has(m)) return this.unicastRoutes.get(m);
    const r = unicastRoute(m);
    this.unicastRoutes.set(m, r);
    return r;
  }

  desiredRoutes(): DesiredRoute[] {
    const out: DesiredRoute[] = [];
    const seen = new Set<string>();
    for (const m of this.set.values()) {
      if (m.dry_run) continue;
      const r = this.routeOf(m);
      if (!r) continue;
      const id = `${r.family} ${r.key}`;
      if (seen.has(id)) continue;
      seen.add(id);
      out.push(r);
    }
    return out;
  }

  refuse(kind: RefusalReason, error: string): AddResult {
    this.refused[kind]++;
    return { ok: false, error };
  }

  /** A FlowSpec rule validated by the adapter, with its destination prefix, or a refusal. */
  parseFlowspec(rule: unknown): { rule: FlowspecRule; destination: Prefix } | AddResult {
    const fs = this.opts.flowspec;
    if (!fs) return this.refuse('invalid', 'FlowSpec support is not available');
    const parsed = fs.parse(rule);
    if (!parsed.ok) return this.refuse('invalid', `bad FlowSpec rule: ${parsed.error}`);
    if (!parsed.destination)
      return this.refuse(
        'invalid',
        'a FlowSpec rule needs a destination_prefix inside the configured networks',
      );
    return { rule: parsed.rule, destination: parsed.destination };
  }

  flowspecRoute(m: Mitigation): DesiredRoute | string {
    const fs = this.opts.flowspec;
    if (!fs) return 'FlowSpec support is not available';
    if (!m.rule) return 'no rule';
    try {
      return fs.toRoute(m.rule, m.uuid);
    } catch (e) {
      return (e as Error).message;
    }
  }

  /** Safety checks, de-duplication, caps, journal, then the set (the caller holds the lock). */
  async add(input: MitigationInput): Promise<AddResult> {
    return (await this.addMany([input]))[0]!;
  }

  /**
   * Many adds at once (the caller holds the lock): each is checked as add() would, counting
   * the ones before it in the batch against caps and duplicates; their journal lines share
   * one write and one fsync (group commit); the set and the speaker then see them together.
   */
  async addMany(inputs: readonly MitigationInput[]): Promise<AddResult[]> {
    const results: AddResult[] = new Array(inputs.length);
    const staged: (Staged & { readonly i: number })[] = [];
    const reserved = new Map<string, Mitigation>();
    const extra: Record<MitigationKind, number> = { blackhole: 0, flowspec: 0, escalation: 0 };
    inputs.forEach((input, i) => {
      const p = this.prepare(input, reserved, extra);
      if ('ok' in p) results[i] = p;
      else {
        staged.push({ i, ...p });
        reserved.set(p.id, p.m);
        extra[p.m.kind]++;
      }
    });
    if (staged.length === 0) return results;
    // One journal write for the batch: on disk together, or refused together.
    let failed: string | null = null;
    await this.journalAppendMany(staged.map((x) => ({ op: 'add', m: x.m }) as const)).catch((e: Error) => {
      failed = e.message;
    });
    if (failed !== null) {
      const msg: string = failed;
      log.error(
        `${staged.length} mitigation(s) refused (${describe(staged[0]!.m)}${staged.length > 1 ? ', …' : ''}): ${msg}`,
      );
      for (const x of staged)
        results[x.i] = this.refuse('journal', `could not persist the mitigation: ${msg}`);
      return results;
    }
    await this.batch(async () => {
      for (const x of staged) results[x.i] = { ok: true, mitigation: this.commit(x) };
    });
    return results;
  }

  /** The checks of an add, or its refusal; `reserved`/`extra` are the batch's earlier items. */
  private prepare(
    input: MitigationInput,
    reserved: ReadonlyMap<string, Mitigation>,
    extra: Readonly<Record<MitigationKind, number>>,
  ): AddResult | Staged {
    let prefix: Prefix;
    let rule: FlowspecRule | undefined;
    if (input.kind === 'flowspec') {
      const parsed = this.parseFlowspec(input.rule);
      if (!('destination' in parsed)) return parsed;
      prefix = parsed.destination;
      rule = parsed.rule;
    } else {
      const p = input.parsed ?? parsePrefix(input.prefix);
      if (typeof p === 'string') return this.refuse('invalid', p);
      // A blackhole is one host, except a hostgroup-scope one (the covering prefix of attacked hosts).
      if (input.kind === 'blackhole' && p.len !== addrBits(p.family) && input.cause.kind !== 'hostgroup') {
        return this.refuse(
          'invalid',
          `a blackhole is one host (/${addrBits(p.family)}), not ${input.prefix}`,
        );
      }
      prefix = p;
      if (input.next_hop !== undefined) {
        const nh = parseAddr(input.next_hop);
        if (!nh || nh.family !== p.family)
          return this.refuse('invalid', `next hop '${input.next_hop}' is not an IPv${p.family} address`);
      }
    }
    const unsafe = safetyError(this.cfg(), prefix);
    if (unsafe) return this.refuse(unsafe.includes('whitelist') ? 'whitelisted' : 'outside_networks', unsafe);

    const prefixText = prefixToString(prefix);
    let route: DesiredRoute | undefined;
    if (input.kind === 'flowspec') {
      const r = this.flowspecRoute({ ...(input as Mitigation), rule, uuid: input.uuid ?? 'pending' });
      if (typeof r === 'string') return this.refuse('invalid', `bad FlowSpec rule: ${r}`);
      route = r;
    }
    const id = route ? flowspecIdentity(route) : `${input.kind} ${prefixText}`;
    const same = this.byIdentity.get(id);
    if (same !== undefined) return { ok: true, mitigation: this.set.get(same)! };
    const pending = reserved.get(id);
    if (pending) return { ok: true, mitigation: pending };
    if (input.uuid !== undefined && this.set.has(input.uuid))
      return this.refuse('invalid', `uuid ${input.uuid} is already in use`);

    const count = this.counts[input.kind] + extra[input.kind];
    if (input.kind === 'blackhole' && count >= this.cfg().mitigation.max_blackholes) {
      return this.refuse(
        'cap',
        `max_blackholes (${this.cfg().mitigation.max_blackholes}) reached; ${prefixText} not announced`,
      );
    }
    if (input.kind === 'flowspec' && count >= this.cfg().mitigation.max_flowspec_rules) {
      return this.refuse(
        'cap',
        `max_flowspec_rules (${this.cfg().mitigation.max_flowspec_rules}) reached; rule for ${prefixText} not announced`,
      );
    }

    const m: Mitigation = {
      uuid: input.uuid ?? randomUUID(),
      kind: input.kind,
      prefix: prefixText,
      ip: input.ip,
      cause: input.cause,
      hostgroup: input.hostgroup,
      started_at: this.now(),
      expires_at: input.expires_at,
      ...(input.kind !== 'flowspec' && input.next_hop !== undefined ? { next_hop: input.next_hop } : {}),
      communities: input.kind === 'flowspec' ? [] : [...input.communities],
      large_communities: input.kind === 'flowspec' ? [] : [...input.large_communities],
      ...(input.kind !== 'flowspec' && input.extended_communities?.length
        ? { extended_communities: [...input.extended_communities] }
        : {}),
      ...(rule ? { rule } : {}),
      dry_run: this.cfg().detection.dry_run,
    };
    return { m, route, id, unicast: route ? undefined : unicastRoute(m, prefix) };
  }

  /** Into the set, once journalled: log, events, the speaker. */
  private commit(x: Staged): Mitigation {
    const m = x.m;
    if (x.route) this.fsRoutes.set(m.uuid, this.flowspecRoute(m) as DesiredRoute);
    else this.unicastRoutes.set(m, x.unicast);
    this.insert(m);
    this.announceLines.info(
      () =>
        m.dry_run
          ? `dry-run: would announce ${describe(m)} (${causeText(m.cause)})`
          : `announce ${describe(m)} (${causeText(m.cause)})`,
      m.prefix,
    );
    this.events.emit('added', m, causeText(m.cause));
    if (!m.dry_run) {
      this.routeChanged(this.routeOf(m) ?? null, null);
      this.changed();
    }
    return m;
  }

  /** Journal, then out of the set; the removed mitigation, or null when there was none. */
  async remove(uuid: string, reason: string): Promise<Mitigation | null> {
    return (await this.removeMany([{ uuid, reason }]))[0]!;
  }

  /**
   * Many withdrawals with one journal write: each answered in order with the mitigation it
   * removed, or null when there was none (unknown, or already going: the second of two for
   * one uuid, in this batch or one running beside it).
   */
  async removeMany(items: readonly { uuid: string; reason: string }[]): Promise<(Mitigation | null)[]> {
    const found: (Mitigation | null)[] = items.map(({ uuid }) => {
      const m = this.set.get(uuid);
      if (!m || this.removing.has(uuid)) return null;
      this.removing.add(uuid);
      return m;
    });
    const at = this.now();
    const entries: JournalEntry[] = [];
    items.forEach(({ uuid, reason }, i) => {
      if (found[i]) entries.push({ op: 'remove', uuid, reason, at });
    });
    // The journal write comes first so a restart cannot bring back a withdrawn route; if
    // it fails the routes are still withdrawn (the operator asked), and the error is logged.
    await this.journalAppendMany(entries).catch((e: Error) =>
      log.error(`withdrawal of ${entries.length} mitigation(s) not persisted: ${e.message}`),
    );
    return items.map(({ reason }, i) => {
      const m = found[i];
      if (!m) return null;
      this.removing.delete(m.uuid);
      this.drop(m, reason);
      return m;
    });
  }

  /** Out of the set and its indexes (journalled already): log, events, the speaker. */
  private drop(m: Mitigation, reason: string): void {
    const uuid = m.uuid;
    const id = this.identity(m);
    if (this.byIdentity.get(id) === uuid) this.byIdentity.delete(id);
    this.counts[m.kind]--;
    const route = m.dry_run ? undefined : this.routeOf(m);
    this.set.delete(uuid);
    this.fsRoutes.delete(uuid);
    this.withdrawLines.info(
      () => `${m.dry_run ? 'dry-run: would withdraw' : 'withdraw'} ${describe(m)} (${reason})`,
      m.prefix,
    );
    this.events.emit('removed', m, reason);
    if (!m.dry_run) {
      this.routeChanged(null, route ?? null);
      this.changed();
    }
  }

  /** A new expiry for these mitigations (journal first). */
  async extend(uuids: Iterable<string>, expiresAt: number): Promise<void> {
    for (const u of uuids) {
      const m = this.set.get(u);
      if (!m) continue;
      await this.journalAppend({ op: 'update', uuid: u, expires_at: expiresAt, at: this.now() }).catch(
        (e: Error) => log.error(e.message),
      );
      this.set.set(u, { ...m, expires_at: expiresAt });
    }
  }

  private identity(m: Mitigation): string {
    const r = m.kind === 'flowspec' ? this.fsRoutes.get(m.uuid) : undefined;
    return r ? flowspecIdentity(r) : `${m.kind} ${m.prefix}`;
  }

  /** Into the set and its indexes (the FlowSpec route, when any, is already in fsRoutes). */
  private insert(m: Mitigation): void {
    this.set.set(m.uuid, m);
    this.byIdentity.set(this.identity(m), m.uuid);
    this.counts[m.kind]++;
  }

  private async journalAppend(e: JournalEntry): Promise<void> {
    if (this.opts.journal) await this.opts.journal.append(e);
  }

  private async journalAppendMany(es: readonly JournalEntry[]): Promise<void> {
    const j = this.opts.journal;
    if (!j || es.length === 0) return;
    if (j.appendMany) await j.appendMany(es);
    else await Promise.all(es.map((e) => j.append(e)));
  }

  private routeChanged(put: DesiredRoute | null, remove: DesiredRoute | null): void {
    if (!this.opts.onRoutes || (!put && !remove)) return;
    if (this.batchDepth > 0) {
      this.heldRoutes.push([put, remove]);
      return;
    }
    try {
      this.opts.onRoutes(put, remove);
    } catch (e) {
      log.error(`onRoutes failed: ${(e as Error).message}`);
    }
  }

  private changed(): void {
    if (this.batchDepth > 0) {
      this.dirty = true;
      return;
    }
    try {
      this.opts.onChange?.();
    } catch (e) {
      log.error(`onChange failed: ${(e as Error).message}`);
    }
  }
}

/** An add that passed every check, waiting for its journal line. */
interface Staged {
  readonly m: Mitigation;
  /** A FlowSpec rule's route (its identity); undefined for unicast. */
  readonly route: DesiredRoute | undefined;
  /** A blackhole's or escalation's route, built from the prefix parsed in prepare. */
  readonly unicast?: DesiredRoute | undefined;
  readonly id: string;
}

function flowspecIdentity(r: DesiredRoute): string {
  return `flowspec ${r.family} ${r.key}`;
}

function describe(m: Mitigation): string {
  if (m.kind === 'flowspec') return `FlowSpec rule ${m.uuid} for ${m.prefix} ${JSON.stringify(m.rule)}`;
  const attrs = [
    m.next_hop ? `next-hop ${m.next_hop}` : 'next-hop self',
    ...m.communities.map((c) => `community ${communityText(c)}`),
    ...m.large_communities.map((c) => `large-community ${c}`),
  ];
  return `${m.kind} ${m.prefix} ${attrs.join(' ')}`;
}

/**
 * The route a mitigation record is announced as, built as the set builds it: a cluster
 * controller announces the leader's records with it, so every controller sends the same
 * route for the same record. undefined: dry-run, or none can be built.
 */
export function mitigationRoute(m: Mitigation, flowspec: FlowspecAdapter | null): DesiredRoute | undefined {
  if (m.dry_run) return undefined;
  if (m.kind !== 'flowspec') return unicastRoute(m);
  if (!flowspec || !m.rule) return undefined;
  try {
    return flowspec.toRoute(m.rule, m.uuid);
  } catch {
    return undefined; // the leader refused it when it was added; nothing to guess at
  }
}

/**
 * Unicast route of a blackhole/escalation, with the attributes stored at announcement
 * (`parsed`: its prefix when the caller has it parsed already).
 */
function unicastRoute(m: Mitigation, parsed?: Prefix): DesiredRoute | undefined {
  const p = parsed ?? parsePrefix(m.prefix);
  if (typeof p === 'string') return undefined;
  return desiredRoute({
    key: m.prefix,
    family: p.family === 4 ? 'ipv4-unicast' : 'ipv6-unicast',
    prefix: p,
    ...(m.next_hop !== undefined ? { nextHop: m.next_hop } : {}),
    communities: m.communities,
    largeCommunities: m.large_communities,
    extendedCommunities: (m.extended_communities ?? []).flatMap((c) => {
      try {
        return [parseExtendedCommunity(c)];
      } catch {
        return []; // validated when configured; a bad one is never guessed at
      }
    }),
    owner: m.uuid,
  });
}
