/**
 * The mitigation manager's contract: the set of active mitigations is the one source of
 * the BGP speaker's desired routes. Detection events, the API, `ctl` and the escalation
 * loop all change it only through this surface.
 */
import type { DesiredRoute } from '../bgp/types.js';
import type { MitigationCause } from './cause.js';

export type MitigationKind = 'blackhole' | 'flowspec' | 'escalation';

export interface Mitigation {
  readonly uuid: string;
  readonly kind: MitigationKind;
  /** The announced prefix in text ("203.0.113.5/32", "203.0.113.0/24", "2001:db8::5/128"). */
  readonly prefix: string;
  /** The host this is about (ip without length); for escalations, the host that triggered it. */
  readonly ip: string;
  /** Who placed it (cause.ts; the API shows causeText). */
  readonly cause: MitigationCause;
  readonly hostgroup: string;
  /** ms since epoch. */
  readonly started_at: number;
  /** ms since epoch; null = no expiry (manual until deleted, escalations managed by the loop). */
  readonly expires_at: number | null;
  /** Blackhole/escalation attributes. */
  readonly next_hop?: string;
  readonly communities: readonly string[];
  readonly large_communities: readonly string[];
  /** Extended communities in config text form (e.g. "rt:65000:1"); optional, added later. */
  readonly extended_communities?: readonly string[];
  /** FlowSpec: the rule in FastNetMon's JSON shape. */
  readonly rule?: Readonly<Record<string, unknown>>;
  /** True when dry-run stopped it from being announced. */
  readonly dry_run: boolean;
}

export interface AddResult {
  readonly ok: boolean;
  readonly mitigation?: Mitigation;
  /** Why it was refused: outside networks, whitelisted, cap reached, bad rule. */
  readonly error?: string;
}

export interface MitigationManagerApi {
  list(kind?: MitigationKind): Mitigation[];
  get(uuid: string): Mitigation | undefined;
  /** Persisted (fsync'd) before it is announced. */
  add(m: Omit<Mitigation, 'uuid' | 'started_at' | 'dry_run'> & { uuid?: string }): Promise<AddResult>;
  remove(uuid: string, reason: string): Promise<boolean>;
  /** Desired routes for the speaker (dry-run entries excluded). */
  desiredRoutes(): DesiredRoute[];
  on(event: 'added' | 'removed', listener: (m: Mitigation, reason: string) => void): void;
}
