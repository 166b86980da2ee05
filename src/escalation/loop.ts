/**
 * The escalation loop's shell: schedule (node-cron), gather inputs from the mitigation
 * manager and detection, call the pure core (decide.ts), apply its decisions through the
 * manager (which persists and announces), log, notify, count.
 *
 * Ownership: the loop only removes mitigations it holds in `own` — ones it created, or
 * kind 'escalation' mitigations adopted from the manager's journal at start (a restart
 * keeps escalations). If an operator removes one, the loop forgets it and does not
 * re-escalate that prefix until no blackholed host is left inside it.
 */
import type { Registry } from 'prom-client';
import { communityText, tryParsePrefix } from '../config/values.js';
import { classifierOf } from '../config/classifier.js';
import type { Config } from '../config/types.js';
import type { Detector, HostRates, AttackRecord, RateFn } from '../detection/types.js';
import { escalationCause } from '../mitigation/cause.js';
import type { MitigationManagerApi } from '../mitigation/types.js';
import { logger as rootLogger, type Logger } from '../log.js';
import { addrToString, parseAddr, prefixContains, prefixToString, type Prefix } from '../wire/addr.js';
import { decide, type BannedHost, type Decision } from './decide.js';
import { EvidenceStore, crossingText, rateFnOf, maxRates } from './rates.js';
import { cronScheduler, type ScheduledJob, type Scheduler } from './schedule.js';
import {
  listView,
  loopMetrics,
  type EscalationNotice,
  type EscalationStats,
  type EscalationView,
  type LoopMetrics,
  type Notify,
  type Owned,
  type RunReport,
} from './view.js';

export { cronScheduler, type ScheduledJob, type Scheduler } from './schedule.js';
export type { EscalationNotice, EscalationStats, EscalationView, Notify, RunReport } from './view.js';

export interface EscalationLoopDeps {
  readonly config: Config;
  readonly manager: MitigationManagerApi;
  /** Rates and attack events; null runs on current-less input (no escalation triggers). */
  readonly detector:
    | (Pick<Detector, 'rateFn' | 'hostRates' | 'on'> & {
        /** Many hosts' rates in one go (sharded detection: one query per shard, not per host). */
        rateFns?: (ips: readonly string[]) => Map<string, RateFn | null>;
      })
    | null;
  readonly notify?: Notify;
  readonly now?: () => number;
  readonly log?: Logger;
  /** Metrics are registered here when given. */
  readonly registry?: Registry;
  readonly scheduler?: Scheduler;
  /** How far before the ban the ban-time peak looks (default 10 s). */
  readonly lookbackMs?: number;
  /**
   * After start(), runs within this time do not count a prefix as below (detection has not
   * filled a window yet, e.g. just after a restart). Default: detection.window_ms.
   */
  readonly settleMs?: number;
}

/** Blackholes looked at per event-loop turn in a run. */
const RUN_SLICE = 4096;
const EVIDENCE_RETAIN_MS = 120_000;

function parsePrefixText(text: string): Prefix | null {
  const p = tryParsePrefix(text);
  return typeof p === 'string' ? null : p;
}

function canonicalIp(ip: string): string | null {
  const a = parseAddr(ip);
  return a ? addrToString(a) : null;
}

export class EscalationLoop {
  private cfg: Config;
  private readonly manager: MitigationManagerApi;
  private readonly detector: EscalationLoopDeps['detector'];
  private readonly notifyFn: Notify | undefined;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly scheduler: Scheduler;
  private readonly lookbackMs: number;
  private readonly settleMs: number | undefined;
  /** Until then (set by start()), a run with every host below does not count towards clear_after. */
  private settledAt = 0;
  private readonly evidence = new EvidenceStore();
  /** Ban-time peak latched per blackhole uuid (survives evidence bucket eviction). */
  private readonly latched = new Map<string, HostRates>();
  private readonly own = new Map<string, Owned>();
  private readonly suppressed = new Set<string>();
  /** Refusal keys seen last run: notify and log loudly only when a refusal is new. */
  private refusalsSeen = new Set<string>();
  private job: ScheduledJob | null = null;
  private running: Promise<RunReport> | null = null;
  private stats = {
    runs: 0,
    overlaps_skipped: 0,
    escalations: 0,
    deescalations: 0,
    refusals: 0,
    last_run_ms: null as number | null,
  };
  private readonly m: LoopMetrics;

  constructor(deps: EscalationLoopDeps) {
    this.cfg = deps.config;
    this.manager = deps.manager;
    this.detector = deps.detector;
    this.notifyFn = deps.notify;
    this.now = deps.now ?? Date.now;
    this.log = deps.log ?? rootLogger.child({ module: 'escalation' });
    this.scheduler = deps.scheduler ?? cronScheduler;
    this.lookbackMs = deps.lookbackMs ?? 10_000;
    this.settleMs = deps.settleMs;
    this.m = loopMetrics(deps.registry);
    const onAttack = (rec: AttackRecord) => {
      const ip = canonicalIp(rec.ip);
      if (ip) this.evidence.record(ip, rec.rates, this.now());
    };
    this.detector?.on('attack_started', onAttack);
    this.detector?.on('attack_updated', onAttack);
  }

  private get dryRun(): boolean {
    return this.cfg.detection.dry_run;
  }

  /** Take kind 'escalation' mitigations from the manager as the loop's own (restart). */
  adopt(): number {
    let n = 0;
    for (const m of this.manager.list('escalation')) {
      if (this.own.has(m.uuid)) continue;
      const net = parsePrefixText(m.prefix);
      if (!net) {
        this.log.error(
          `cannot adopt escalation ${m.uuid}: unparsable prefix ${JSON.stringify(m.prefix)}; left alone`,
        );
        continue;
      }
      const prefix = prefixToString(net);
      this.own.set(m.uuid, {
        state: {
          uuid: m.uuid,
          prefix,
          net,
          hostgroup: m.hostgroup,
          created_at: m.started_at,
          last_above: null,
          runs_below: 0,
          hosts: [m.ip],
        },
        phantom: false,
        dry_run: m.dry_run,
        withdrawHeld: false,
        adopted: true,
        evaluated: false,
        attrs: { next_hop: m.next_hop, communities: m.communities, large_communities: m.large_communities },
        trigger: null,
      });
      this.log.info(`adopted escalation ${prefix}`, {
        uuid: m.uuid,
        hostgroup: m.hostgroup,
        since: new Date(m.started_at).toISOString(),
      });
      n++;
    }
    this.m.active.set(this.own.size);
    return n;
  }

  /** Adopt existing escalations and start the schedule. */
  start(): void {
    if (this.job) return;
    // Detection starts with the loop: its rates cover a full window only after window_ms.
    this.settledAt = this.now() + (this.settleMs ?? this.cfg.detection.window_ms);
    this.adopt();
    this.job = this.scheduler(
      this.cfg.escalation.schedule,
      () => this.tick(),
      () => this.overlap(),
      this.log,
    );
    this.log.info(`escalation loop scheduled ${JSON.stringify(this.cfg.escalation.schedule)}`, {
      dry_run: this.dryRun,
      adopted: this.own.size,
    });
  }

  /** Stop the schedule and wait for a run in progress. */
  async stop(): Promise<void> {
    const job = this.job;
    this.job = null;
    if (job) await job.stop();
    if (this.running) await this.running.catch(() => undefined);
  }

  /**
   * Drop every escalation this loop owns, and the prefixes it suppressed, without
   * withdrawing anything: a deposed cluster leader (src/cluster/) hands them to the new
   * leader's loop, which adopts them from its manager. Call stop() first; start() adopts
   * afresh, so one that the other leader withdrew meanwhile is not taken for an operator's.
   */
  forget(): void {
    this.own.clear();
    this.suppressed.clear();
    this.latched.clear();
    this.m.active.set(0);
  }

  /** Apply a reloaded config; a changed schedule restarts the job. */
  reconfigure(cfg: Config): void {
    const old = this.cfg.escalation.schedule;
    this.cfg = cfg;
    if (!cfg.detection.dry_run) {
      // Leaving dry-run: forget the simulation; the next run escalates for real.
      for (const [uuid, o] of this.own) if (o.phantom) this.own.delete(uuid);
      for (const o of this.own.values()) o.withdrawHeld = false;
      this.m.active.set(this.own.size);
    }
    if (this.job && old !== cfg.escalation.schedule) {
      void this.job.stop();
      this.job = this.scheduler(
        cfg.escalation.schedule,
        () => this.tick(),
        () => this.overlap(),
        this.log,
      );
      this.log.info(`escalation loop rescheduled ${JSON.stringify(cfg.escalation.schedule)}`);
    }
  }

  private overlap(): void {
    this.stats.overlaps_skipped++;
    this.m.overlaps.inc();
    this.log.warn('escalation run skipped: the previous run is still busy');
  }

  /** The scheduled entry point: one run, errors logged, never thrown into node-cron. */
  async tick(): Promise<void> {
    try {
      await this.runOnce();
    } catch (err) {
      this.log.error(`escalation run failed: ${(err as Error).message}`);
    }
  }

  /** One run at `now`. A call while another run is busy is skipped (skipped: true). */
  runOnce(now: number = this.now()): Promise<RunReport> {
    if (this.running) {
      this.overlap();
      return Promise.resolve({ skipped: true, at: now, duration_ms: 0, decisions: [] });
    }
    const p = this.run(now).finally(() => {
      this.running = null;
    });
    this.running = p;
    return p;
  }

  private async run(now: number): Promise<RunReport> {
    const t0 = performance.now();
    const cfg = this.cfg;

    // Forget owned escalations someone else removed; suppress their prefixes.
    for (const [uuid, o] of this.own) {
      if (o.phantom) continue;
      const m = this.manager.get(uuid);
      if (m?.kind !== 'escalation') {
        this.own.delete(uuid);
        this.suppressed.add(o.state.prefix);
        this.log.warn(
          `escalation ${o.state.prefix} was removed outside the loop; not re-escalated until its hosts are unbanned`,
          { uuid },
        );
      }
    }

    const blackholes = this.manager.list('blackhole');
    const banned: BannedHost[] = [];
    const liveBans = new Set<string>();
    const peaks = new Map<string, HostRates>();
    let k = 0;
    const many = this.detector?.rateFns;
    let current: Map<string, RateFn | null> | null = null;
    for (const b of blackholes) {
      // 100k blackholes take a few hundred ms to look at: give the API and the BGP
      // keepalives a turn between slices (the decisions below see one consistent list).
      if (++k % RUN_SLICE === 0) await new Promise((r) => setImmediate(r));
      if (many && (k - 1) % RUN_SLICE === 0)
        current = many.call(
          this.detector,
          blackholes.slice(k - 1, k - 1 + RUN_SLICE).map((x) => x.ip),
        );
      // A hostgroup-scope blackhole is already a covering prefix, not a host to widen.
      if (b.cause.kind === 'hostgroup') continue;
      const addr = parseAddr(b.ip);
      const ip = addr ? addrToString(addr) : null;
      if (!ip || !addr) {
        this.log.debug(`blackhole ${b.uuid} has no usable host address ${JSON.stringify(b.ip)}; ignored`);
        continue;
      }
      liveBans.add(b.uuid);
      const seen = this.evidence.peak(ip, b.started_at - this.lookbackMs);
      const prev = this.latched.get(b.uuid);
      const peak = prev && seen ? maxRates(prev, seen) : (prev ?? seen);
      if (peak) {
        this.latched.set(b.uuid, peak);
        const p = peaks.get(ip);
        peaks.set(ip, p ? maxRates(p, peak) : peak);
      }
      banned.push({
        uuid: b.uuid,
        ip,
        addr,
        hostgroup: b.hostgroup,
        banned_at: b.started_at,
        current: current ? (current.get(b.ip) ?? null) : (this.detector?.rateFn(ip) ?? null),
        banPeak: peak ? rateFnOf(peak) : null,
      });
    }
    for (const uuid of this.latched.keys()) if (!liveBans.has(uuid)) this.latched.delete(uuid);
    this.evidence.prune(now - this.lookbackMs - EVIDENCE_RETAIN_MS);

    // A suppression ends once no blackholed host is left inside the prefix.
    for (const text of this.suppressed) {
      const net = parsePrefixText(text);
      if (!net || !banned.some((h) => h.addr.family === net.family && prefixContains(net, h.addr.bytes)))
        this.suppressed.delete(text);
    }

    const ownIds = new Set(this.own.keys());
    const occupied = new Set<string>();
    for (const m of this.manager.list()) {
      if (m.kind === 'flowspec' || ownIds.has(m.uuid)) continue;
      // Host routes can never equal a covering prefix (always shorter): skip the parse.
      if (m.prefix.endsWith('/32') || m.prefix.endsWith('/128')) continue;
      const net = parsePrefixText(m.prefix);
      if (net) occupied.add(prefixToString(net));
    }

    const decisions = decide({
      now,
      banned,
      own: [...this.own.values()].map((o) => o.state),
      hostgroups: cfg.hostgroups,
      networks: cfg.networks,
      whitelist: cfg.whitelist,
      occupied,
      suppressed: this.suppressed,
      ratesSettled: now >= this.settledAt,
    });

    const refusalsNow = new Set<string>();
    let changed = false;
    for (const d of decisions) {
      try {
        if (await this.apply(d, now, peaks, refusalsNow)) changed = true;
      } catch (err) {
        changed = true;
        this.log.error(`escalation ${d.action} of ${d.prefix} failed: ${(err as Error).message}`);
      }
    }
    this.refusalsSeen = refusalsNow;

    const duration_ms = performance.now() - t0;
    this.stats.runs++;
    this.stats.last_run_ms = duration_ms;
    this.m.runs.inc();
    this.m.duration.observe(duration_ms / 1000);
    this.m.active.set(this.own.size);
    const counts = { escalate: 0, keep: 0, deescalate: 0, refuse: 0 };
    for (const d of decisions) counts[d.action]++;
    // Info only when the run changed something or counts down to a withdrawal: a steady
    // state (nothing banned, or escalations held above) is debug.
    this.log[changed ? 'info' : 'debug']('escalation run', {
      duration_ms: Math.round(duration_ms * 1000) / 1000,
      blackholes: banned.length,
      active: this.own.size,
      ...counts,
      dry_run: this.dryRun,
    });
    return { skipped: false, at: now, duration_ms, decisions };
  }

  /** Apply one decision; true when it was worth an info line (a change, a countdown, a new refusal). */
  private async apply(
    d: Decision,
    now: number,
    peaks: ReadonlyMap<string, HostRates>,
    refusalsNow: Set<string>,
  ): Promise<boolean> {
    const dry = this.dryRun;
    switch (d.action) {
      case 'keep': {
        const o = this.own.get(d.uuid);
        if (!o) return false;
        const before = o.state.runs_below;
        const first = !o.evaluated;
        o.state = d.state;
        // A below run that did not count (rates not settled) is no verdict: stays 'adopted'.
        if (d.trigger !== null || d.state.runs_below > before) o.evaluated = true;
        if (d.trigger) o.trigger = { ...d.trigger.crossing, host: d.trigger.host };
        // Quiet while the emergency holds; loud while it counts down to a withdrawal, and on
        // the first run after a restart adopted it.
        const above = d.trigger !== null;
        const level = !above || before > 0 || first ? 'info' : 'debug';
        const rule = classifierOf(this.cfg).hostgroupByName(d.state.hostgroup)?.actions.escalation;
        const why = above
          ? 'above the emergency thresholds'
          : d.state.runs_below > before
            ? 'below the emergency thresholds'
            : 'below, not counted: detection has run for less than one window';
        this.log[level](`keep ${d.prefix}: ${why}`, {
          uuid: d.uuid,
          runs_below: d.state.runs_below,
          clear_after: rule?.clear_after ?? null,
          hold_until: rule ? new Date(d.state.created_at + rule.hold_ms).toISOString() : null,
          above: d.trigger?.host ?? null,
        });
        return level === 'info';
      }
      case 'deescalate': {
        const o = this.own.get(d.uuid);
        if (!o) return false;
        const simulated = o.phantom || dry;
        if (o.phantom) {
          this.own.delete(d.uuid);
          this.log.info(`dry-run: would deescalate ${d.prefix}: ${d.detail}`, {
            reason: d.reason,
            hosts: d.hosts,
          });
        } else if (dry) {
          // A real escalation (adopted, or made before dry-run was switched on): dry-run
          // changes no routes, so it stays owned and is withdrawn once dry-run is off.
          if (o.withdrawHeld) return false;
          o.withdrawHeld = true;
          this.log.info(`dry-run: would deescalate ${d.prefix}: ${d.detail}`, {
            uuid: d.uuid,
            reason: d.reason,
            hosts: d.hosts,
          });
        } else {
          // Only ever remove what the loop owns, and only while it is still an escalation.
          const m = this.manager.get(d.uuid);
          if (m && m.kind === 'escalation') {
            const ok = await this.manager.remove(d.uuid, `deescalate: ${d.detail}`);
            if (!ok) this.log.warn(`manager did not remove escalation ${d.prefix}`, { uuid: d.uuid });
          }
          this.own.delete(d.uuid);
          this.log.info(`deescalate ${d.prefix}: ${d.detail}`, {
            uuid: d.uuid,
            reason: d.reason,
            hosts: d.hosts,
          });
        }
        this.stats.deescalations++;
        this.m.actions.inc({ action: 'deescalate' });
        const host = d.hosts[0] ?? o.state.hosts[0] ?? '';
        this.notifyAbout('deescalate', d, host, peaks, {
          uuid: o.phantom ? null : d.uuid,
          hosts: d.hosts,
          counters: null,
          reason: d.reason,
          detail: d.detail,
          dry_run: simulated,
        });
        return true;
      }
      case 'escalate': {
        const attrs = d.attrs;
        let uuid: string;
        let createdAt = now;
        // Covering hosts of other hostgroups is allowed (cross_hostgroups: allow) but never silent.
        const others = d.hostgroups.filter((g) => g !== d.hostgroup);
        const covers = others.length ? `; it covers hosts of hostgroup ${others.join(', ')} too` : '';
        const fields = {
          hosts: d.hosts,
          hostgroups: d.hostgroups,
          next_hop: attrs.next_hop ?? null,
          communities: attrs.communities.map(communityText),
        };
        if (dry) {
          uuid = `dry-run:${d.prefix}`;
          this.log[others.length ? 'warn' : 'info'](
            `dry-run: would escalate ${d.prefix} for ${d.host}: ${crossingText(d.trigger)}${covers}`,
            fields,
          );
        } else {
          const res = await this.manager.add({
            kind: 'escalation',
            prefix: d.prefix,
            ip: d.host,
            cause: escalationCause(d.host),
            hostgroup: d.hostgroup,
            expires_at: null,
            next_hop: attrs.next_hop,
            communities: attrs.communities,
            large_communities: attrs.large_communities,
          });
          if (!res.ok || !res.mitigation) {
            this.refuse(
              {
                action: 'refuse',
                host: d.host,
                prefix: d.prefix,
                hostgroup: d.hostgroup,
                reason: 'manager',
                detail: `mitigation manager refused: ${res.error ?? 'no reason given'}`,
                trigger: d.trigger,
              },
              peaks,
              refusalsNow,
            );
            return true;
          }
          uuid = res.mitigation.uuid;
          // The manager's start time: what adoption reads back after a restart.
          createdAt = res.mitigation.started_at;
          this.log[others.length ? 'warn' : 'info'](
            `escalate ${d.prefix} for ${d.host}: ${crossingText(d.trigger)}${covers}`,
            { uuid, ...fields },
          );
        }
        this.own.set(uuid, {
          state: {
            uuid,
            prefix: d.prefix,
            net: d.net,
            hostgroup: d.hostgroup,
            created_at: createdAt,
            last_above: now,
            runs_below: 0,
            hosts: d.hosts,
          },
          phantom: dry,
          dry_run: dry,
          withdrawHeld: false,
          adopted: false,
          evaluated: true,
          attrs,
          trigger: { ...d.trigger, host: d.host },
        });
        this.stats.escalations++;
        this.m.actions.inc({ action: 'escalate' });
        this.notifyAbout('escalate', d, d.host, peaks, {
          uuid: dry ? null : uuid,
          hosts: d.hosts,
          hostgroups: d.hostgroups,
          counters: d.trigger,
          next_hop: attrs.next_hop,
          communities: attrs.communities,
          large_communities: attrs.large_communities,
          dry_run: dry,
        });
        return true;
      }
      case 'refuse':
        return this.refuse(d, peaks, refusalsNow);
    }
  }

  /** Log, count and notify a refusal the first run it appears; true then. */
  private refuse(
    d: Extract<Decision, { action: 'refuse' }>,
    peaks: ReadonlyMap<string, HostRates>,
    refusalsNow: Set<string>,
  ): boolean {
    const key = `${d.host}|${d.prefix}|${d.reason}`;
    refusalsNow.add(key);
    if (this.refusalsSeen.has(key)) {
      this.log.debug(`still refusing ${d.prefix} for ${d.host}: ${d.detail}`);
      return false;
    }
    this.stats.refusals++;
    this.m.refusals.inc({ reason: d.reason });
    this.log.warn(`refused to escalate ${d.prefix} for ${d.host}: ${d.detail} (${crossingText(d.trigger)})`, {
      reason: d.reason,
    });
    // A suppressed prefix is the operator's own doing: log it, do not page anyone.
    if (d.reason === 'suppressed') return true;
    this.notifyAbout('escalation_refused', d, d.host, peaks, {
      uuid: null,
      hosts: [d.host],
      counters: d.trigger,
      reason: d.reason,
      detail: d.detail,
      dry_run: this.dryRun,
    });
    return true;
  }

  /** A notice about `host` in d's prefix, with the host's current and ban-time counters. */
  private notifyAbout(
    action: EscalationNotice['action'],
    d: { readonly prefix: string; readonly hostgroup: string },
    host: string,
    peaks: ReadonlyMap<string, HostRates>,
    rest: Omit<EscalationNotice, 'action' | 'ip' | 'prefix' | 'hostgroup' | 'host_counters' | 'ban_counters'>,
  ): void {
    this.notify({
      action,
      ip: host,
      prefix: d.prefix,
      hostgroup: d.hostgroup,
      ...rest,
      host_counters: host ? (this.detector?.hostRates(host) ?? null) : null,
      ban_counters: peaks.get(host) ?? null,
    });
  }

  private notify(n: EscalationNotice): void {
    if (!this.notifyFn) return;
    try {
      const r = this.notifyFn(n);
      if (r && typeof (r as Promise<void>).catch === 'function') {
        (r as Promise<void>).catch((err: unknown) =>
          this.log.error(`escalation notify (${n.action} ${n.prefix}) failed: ${(err as Error).message}`),
        );
      }
    } catch (err) {
      this.log.error(`escalation notify (${n.action} ${n.prefix}) failed: ${(err as Error).message}`);
    }
  }

  /** Escalations for `GET /escalation` and `ctl`, in prefix order. */
  list(now: number = this.now()): EscalationView[] {
    return listView(this.own.values(), this.cfg, now);
  }

  /** Plain counters (for ctl and tests; Prometheus has the same under breakwater_escalation*). */
  statsSnapshot(): EscalationStats {
    return { active: this.own.size, ...this.stats };
  }

  /** Is a run in progress? */
  get busy(): boolean {
    return this.running !== null;
  }
}
