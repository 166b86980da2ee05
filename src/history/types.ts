/**
 * What the attack history keeps of one attack: the record, a summary of its samples, its
 * mitigations and its timeline. Times are ms since epoch here and ISO 8601 in the API.
 */
import type { AttackDetails, PacketDumpEntry } from '../detection/types.js';

export type TimelineEvent = 'detected' | 'banned' | 'updated' | 'escalated' | 'unbanned' | 'finished';

export interface TimelineEntry {
  readonly at: number;
  readonly event: TimelineEvent;
  readonly detail: string;
}

interface HistoryMitigation {
  readonly uuid: string;
  readonly kind: string;
  readonly prefix: string;
  readonly started_at: number;
  ended_at: number | null;
  end_reason: string | null;
  readonly dry_run: boolean;
  readonly rule?: Readonly<Record<string, unknown>>;
}

export interface SampleSummary {
  /** Samples kept with the attack (the detector's ring for the host). */
  readonly count: number;
  /** Sampled packets (each sample scaled by its rate) per protocol. */
  readonly protocols: Readonly<Record<string, number>>;
  readonly top_sources: readonly { readonly ip: string; readonly packets: number }[];
  readonly top_source_ports: readonly { readonly port: number; readonly packets: number }[];
  readonly top_destination_ports: readonly { readonly port: number; readonly packets: number }[];
}

export interface HistoryAttack {
  readonly uuid: string;
  readonly ip: string;
  readonly hostgroup: string;
  readonly started_at: number;
  finished_at: number | null;
  updated_at: number;
  active: boolean;
  /** A mitigation of this attack is announced (or would be, in dry-run) right now. */
  banned: boolean;
  attack_details: AttackDetails;
  /** Current per-second rates of the host at the last update (in/out pps and bits/s). */
  current: { in_pps: number; out_pps: number; in_bps: number; out_bps: number };
  samples: SampleSummary;
  /** The first samples in FastNetMon's packet_dump_detailed form (at most 50). */
  packet_dump: readonly PacketDumpEntry[];
  /** True when state_dir/attacks/<uuid>.pcap was written. */
  pcap: boolean;
  mitigations: HistoryMitigation[];
  flow_spec_rules: Readonly<Record<string, unknown>>[];
  /** FlowSpec generation's coverage / collateral explanation, when rules were generated. */
  flowspec_explanation: string | null;
  timeline: TimelineEntry[];
}

export interface HistoryQuery {
  /** ms; attacks still running at or after it. */
  readonly since?: number;
  /** ms; attacks started at or before it. */
  readonly until?: number;
  readonly ip?: string;
  readonly hostgroup?: string;
  readonly limit?: number;
}
