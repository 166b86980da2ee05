/**
 * The manager's bookkeeping for attack-driven bans: one `Ban` per host (keyed by the host's
 * canonical text), the attacks the detector reported (`TrackedAttack`, keyed by attack
 * uuid) and which ban each attack and each owned mitigation belongs to. Every lookup the
 * lifecycle needs is a map hit, so a change costs the same with 10 bans or 100,000.
 *
 * Why per host and not per attack: the detector may report a second attack on a host
 * that is still banned (the first one finished, traffic came back). That is the same
 * ban, not a new one; keying the ban by the first attack's uuid is what once left
 * entries behind that unbanned every second and blocked every later ban of the host.
 */
import type { AttackDetails, AttackRecord } from '../detection/types.js';
import type { AttackCause } from './cause.js';
import type { FlowspecRule } from './set.js';

export interface Ban {
  readonly ip: string;
  /** The hostgroup whose policy placed it; later actions read that policy from the current config. */
  readonly hostgroup: string;
  /** The attack that placed it (the cause of its mitigations). */
  readonly cause: AttackCause;
  /** The freshest record of a linked attack; null for a ban restored from the journal not seen again yet. */
  rec: AttackRecord | null;
  /** Attacks linked to this ban (the one that placed it and any re-detection while it holds). */
  readonly attacks: Set<string>;
  /** Mitigations this ban owns. */
  readonly uuids: Set<string>;
  expiresAt: number;
  lastStatusAt: number;
  readonly startedAt: number;
  readonly rules: FlowspecRule[];
  /** partial_* when only FlowSpec rules block it, ban/unban otherwise (a restored ban learns it from its routes). */
  partial: boolean;
}

export interface TrackedAttack {
  rec: AttackRecord;
  ban: Ban | null;
  finishedAt: number | null;
  /** The ban this attack had when it ended, for the history. */
  lastBan: { readonly uuids: readonly string[]; readonly rules: readonly FlowspecRule[] } | null;
}

export interface AttackSummary {
  readonly uuid: string;
  /** 'host': one address over its thresholds; 'hostgroup': a hostgroup's total over thresholds.hostgroup. */
  readonly scope: 'host' | 'hostgroup';
  /** The attacked host (null for a hostgroup-total attack). */
  readonly ip: string | null;
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

export function attackSummary(t: TrackedAttack): AttackSummary {
  const b = t.ban;
  return {
    uuid: t.rec.uuid,
    scope: 'host',
    ip: t.rec.ip,
    hostgroup: t.rec.hostgroup,
    active: t.finishedAt === null,
    banned: b !== null,
    started_at: t.rec.startedAt,
    finished_at: t.finishedAt,
    ban_expires_at: b ? b.expiresAt : null,
    mitigations: b ? [...b.uuids] : (t.lastBan?.uuids ?? []),
    attack_details: t.rec.details,
    flow_spec_rules: b ? [...b.rules] : (t.lastBan?.rules ?? []),
  };
}

/** The attack_details of a ban's notifications: its freshest record, or what a restored ban knows. */
export function banDetails(b: Ban): AttackDetails | Readonly<Record<string, unknown>> {
  return b.rec ? b.rec.details : { attack_uuid: b.cause.uuid, host_group: b.hostgroup };
}

/** Bounded list of finished attacks, newest first. */
export class RecentAttacks {
  private readonly items: AttackSummary[] = [];
  constructor(private readonly cap: number) {}

  add(s: AttackSummary): void {
    this.items.unshift(s);
    if (this.items.length > this.cap) this.items.pop();
  }

  list(): readonly AttackSummary[] {
    return this.items;
  }
}
