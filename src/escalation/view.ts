/**
 * What the escalation loop shows: the notices it sends, its API view and counters, and its
 * Prometheus metrics. The loop itself (loop.ts) schedules, decides and applies.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { classifierOf } from '../config/classifier.js';
import type { Config } from '../config/types.js';
import type { HostRates } from '../detection/types.js';
import { hostgroupsInside, type Decision, type EscalationAttrs, type OwnEscalation } from './decide.js';
import type { Crossing } from './rates.js';

/** What the notify script/webhook receives for escalation events. */
export interface EscalationNotice {
  readonly action: 'escalate' | 'deescalate' | 'escalation_refused';
  /** The host: the one that triggered (escalate/refused), the first recorded (deescalate). */
  readonly ip: string;
  readonly prefix: string;
  readonly hostgroup: string;
  /** The escalation mitigation's uuid (null for refusals and dry-run). */
  readonly uuid: string | null;
  /** Every host the escalation covers that crossed the thresholds. */
  readonly hosts: readonly string[];
  /** escalate: every hostgroup with hosts inside the prefix (its own among them). */
  readonly hostgroups?: readonly string[];
  /** The threshold crossing that triggered (escalate/refused), else null. */
  readonly counters: Crossing | null;
  /** The host's current per-second counters from detection, or null. */
  readonly host_counters: HostRates | null;
  /** The peak counters seen around the ban (element-wise max), or null. */
  readonly ban_counters: HostRates | null;
  /** deescalate / escalation_refused: the reason code and a sentence. */
  readonly reason?: string;
  readonly detail?: string;
  readonly next_hop?: string;
  readonly communities?: readonly string[];
  readonly large_communities?: readonly string[];
  readonly dry_run: boolean;
}

export type Notify = (n: EscalationNotice) => void | Promise<void>;

/** One escalation in `GET /escalation` / `ctl`. */
export interface EscalationView {
  readonly uuid: string;
  readonly prefix: string;
  readonly hostgroup: string;
  /** Every hostgroup with hosts inside the prefix (its own among them), under the current config. */
  readonly covers: readonly string[];
  readonly hosts: readonly string[];
  /** ISO 8601 times. */
  readonly since: string;
  readonly last_above: string | null;
  readonly runs_below: number;
  /**
   * above: a host inside was above the thresholds in the last run; holding: below, but
   * `hold` has not passed; clearing: below and hold passed, counting runs to clear_after;
   * adopted: restored after a restart, not evaluated yet.
   */
  readonly state: 'above' | 'holding' | 'clearing' | 'adopted';
  readonly dry_run: boolean;
  readonly next_hop: string | null;
  readonly communities: readonly string[];
  readonly large_communities: readonly string[];
  /** The crossing that last kept or created it. */
  readonly trigger: (Crossing & { readonly host: string }) | null;
}

export interface RunReport {
  readonly skipped: boolean;
  readonly at: number;
  readonly duration_ms: number;
  readonly decisions: readonly Decision[];
}

export interface EscalationStats {
  readonly active: number;
  readonly runs: number;
  readonly overlaps_skipped: number;
  readonly escalations: number;
  readonly deescalations: number;
  readonly refusals: number;
  readonly last_run_ms: number | null;
}

/** One escalation the loop holds. */
export interface Owned {
  state: OwnEscalation;
  /** Dry-run only: the loop's simulation, never given to the manager. */
  readonly phantom: boolean;
  /** Shown in the API: phantom, or the manager holds it as dry-run. */
  readonly dry_run: boolean;
  /** A real escalation dry-run kept from being withdrawn (logged once). */
  withdrawHeld: boolean;
  readonly adopted: boolean;
  evaluated: boolean;
  readonly attrs: EscalationAttrs;
  trigger: (Crossing & { host: string }) | null;
}

/** The API view of the loop's escalations, in prefix order. */
export function listView(own: Iterable<Owned>, cfg: Config, now: number): EscalationView[] {
  const out: EscalationView[] = [];
  const policy = classifierOf(cfg);
  for (const o of own) {
    const s = o.state;
    const hold = policy.hostgroupByName(s.hostgroup)?.actions.escalation.hold_ms ?? 0;
    const state: EscalationView['state'] = !o.evaluated
      ? 'adopted'
      : s.runs_below === 0
        ? 'above'
        : now < s.created_at + hold
          ? 'holding'
          : 'clearing';
    out.push({
      uuid: s.uuid,
      prefix: s.prefix,
      hostgroup: s.hostgroup,
      covers: hostgroupsInside(s.net, cfg.hostgroups, policy),
      hosts: s.hosts,
      since: new Date(s.created_at).toISOString(),
      last_above: s.last_above === null ? null : new Date(s.last_above).toISOString(),
      runs_below: s.runs_below,
      state,
      dry_run: o.dry_run,
      next_hop: o.attrs.next_hop ?? null,
      communities: o.attrs.communities,
      large_communities: o.attrs.large_communities,
      trigger: o.trigger,
    });
  }
  return out.sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
}

export interface LoopMetrics {
  readonly active: Gauge;
  readonly runs: Counter;
  readonly overlaps: Counter;
  readonly actions: Counter<'action'>;
  readonly refusals: Counter<'reason'>;
  readonly duration: Histogram;
}

/** The loop's Prometheus metrics, registered in `registry` when given. */
export function loopMetrics(registry: Registry | undefined): LoopMetrics {
  const registers = registry ? [registry] : [];
  return {
    active: new Gauge({
      name: 'breakwater_escalations_active',
      help: 'Prefixes currently escalated by the loop',
      registers,
    }),
    runs: new Counter({ name: 'breakwater_escalation_runs_total', help: 'Escalation loop runs', registers }),
    overlaps: new Counter({
      name: 'breakwater_escalation_overlaps_total',
      help: 'Scheduled runs skipped because a run was still busy',
      registers,
    }),
    actions: new Counter({
      name: 'breakwater_escalation_actions_total',
      help: 'Escalations created and withdrawn',
      labelNames: ['action'],
      registers,
    }),
    refusals: new Counter({
      name: 'breakwater_escalation_refusals_total',
      help: 'Escalations refused (counted once while the refusal persists)',
      labelNames: ['reason'],
      registers,
    }),
    duration: new Histogram({
      name: 'breakwater_escalation_run_duration_seconds',
      help: 'Duration of escalation loop runs',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    }),
  };
}
