// The daemon's JSON answers as the tests read them (FastNetMon's envelope: success and
import type { AttackDetails } from '../../src/detection/types.js';
import type { NotifyDocument } from '../../src/notify/index.js';
// error_text, then values, object or one item's fields); only the fields tests read.

/** One mitigation, or one item of a bulk PUT/DELETE answer (refused items carry error_text). */
export interface ItemAnswer {
  readonly success: boolean;
  readonly error_text: string;
  readonly uuid: string;
  readonly ip: string;
}

export interface ListAnswer<T = ItemAnswer> {
  readonly success: boolean;
  readonly error_text: string;
  readonly values: T[];
}

export interface ObjectAnswer<T> {
  readonly success: boolean;
  readonly error_text: string;
  readonly object: T;
}

/** GET /blackhole, /flowspec: one active mitigation (times ISO 8601). */
export interface MitigationAnswer {
  readonly uuid: string;
  readonly cause: string;
  readonly hostgroup: string;
  /** Blackholes: the prefix ("203.0.113.5/32") and kind. */
  readonly ip?: string;
  readonly kind?: string;
  readonly dry_run: boolean;
  /** FlowSpec: the rule as announced. */
  readonly announce?: { readonly destination_prefix: string };
}

/** Plain GET /attacks (the manager's live list, then the history's): mitigations by uuid. */
export interface LiveAttackAnswer {
  readonly uuid: string;
  readonly scope: 'host' | 'hostgroup';
  /** null for a hostgroup-total attack. */
  readonly ip: string | null;
  readonly hostgroup: string;
  readonly active: boolean;
  readonly banned: boolean;
  readonly started_at: string;
  readonly mitigations: string[];
  readonly attack_details: { readonly attack_direction: string };
  readonly flow_spec_rules: readonly unknown[];
}

/** GET /attacks?<filters> and /attacks/<uuid> (the history; `full` fields with the uuid form). */
export interface HistoryAttackAnswer {
  readonly uuid: string;
  readonly ip: string;
  readonly hostgroup: string;
  readonly active: boolean;
  readonly attack_type: string;
  readonly attack_direction: string;
  readonly started_at: string;
  readonly mitigations: { uuid: string; kind: string; prefix: string; end_reason: string | null }[];
  readonly timeline: { event: string; detail: string }[];
  readonly packet_dump_detailed: { destination_ip: string }[];
  readonly samples: { readonly protocols: Readonly<Record<string, number>> };
}

/** GET /hostgroup */
export interface HostgroupAnswer {
  readonly name: string;
  readonly networks: string[];
}

/** GET /traffic: seconds since epoch and the rates at each. */
export interface TrafficAnswer {
  readonly t: number[];
  readonly in_pps: number[];
}

/** A notify script's stdin (src/mitigation/notify.ts NotifyDocument), attack_details as the tests read them. */
export type NotifyStdin = Omit<NotifyDocument, 'attack_details'> & {
  readonly attack_details: NotifyDetails;
};
export type NotifyDetails = AttackDetails & {
  /** Hostgroup documents: the rate that crossed the threshold. */
  readonly current_value: number;
  /** Escalation documents. */
  readonly escalation: { readonly uuid: string };
};
