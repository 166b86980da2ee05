/**
 * Every notify document, built in one place: FastNetMon Advanced's JSON for notify scripts,
 * webhooks and the Redis export (action, alert_scope, ip or hostgroup_name, attack_details,
 * packet_dump_detailed, flow_spec_rules). Host bans, hostgroup-scope bans, hostgroup-total
 * alerts and escalations each have a builder; the callers pass what they know through the
 * small shapes below, so this room depends on no mitigation or escalation state. Pure: no
 * I/O (the runner is notifier.ts). Key order is part of the output (scripts see the JSON).
 */
import type { HostgroupAttack } from '../detection/attacks.js';
import { thresholdName } from '../detection/layout.js';
import { packetDump } from '../detection/report.js';
import type { AttackDetails, AttackRecord, HostRates, PacketDumpEntry } from '../detection/types.js';
import type { EscalationNotice } from '../escalation/view.js';

export type NotifyActionName =
  | 'ban'
  | 'unban'
  | 'attack_status'
  | 'partial_block'
  | 'partial_unblock'
  | 'escalate'
  | 'deescalate'
  | 'escalation_refused';

export interface NotifyDocument {
  readonly action: NotifyActionName;
  readonly alert_scope: 'host' | 'hostgroup';
  readonly ip?: string;
  readonly hostgroup_name?: string;
  /** Escalations: the announced prefix. */
  readonly prefix?: string;
  readonly attack_details: AttackDetails | Readonly<Record<string, unknown>>;
  readonly packet_dump_detailed: readonly PacketDumpEntry[];
  readonly flow_spec_rules: readonly Readonly<Record<string, unknown>>[];
}

type Rule = Readonly<Record<string, unknown>>;

/** A ban's opening notice carries the attack's packets; its status and end notices do not. */
function opens(action: NotifyActionName): boolean {
  return action === 'ban' || action === 'partial_block';
}

/** Refresh the rate fields of attack_details from the host's current counters. */
export function freshDetails(
  details: AttackDetails | Record<string, unknown>,
  r: HostRates | null,
): Record<string, unknown> {
  const d: Record<string, unknown> = { ...details };
  if (!r) return d;
  const set = (dir: 'incoming' | 'outgoing', p: 'in' | 'out') => {
    const g = (k: string) => (r as unknown as Record<string, number>)[`${p}_${k}`] ?? 0;
    d[`total_${dir}_traffic`] = g('bytes');
    d[`total_${dir}_pps`] = g('packets');
    d[`total_${dir}_flows`] = g('flows');
    d[`${dir}_syn_tcp_traffic`] = g('tcp_syn_bytes');
    d[`${dir}_syn_tcp_pps`] = g('tcp_syn_packets');
    d[`${dir}_tcp_traffic`] = g('tcp_bytes');
    d[`${dir}_tcp_pps`] = g('tcp_packets');
    d[`${dir}_udp_traffic`] = g('udp_bytes');
    d[`${dir}_udp_pps`] = g('udp_packets');
    d[`${dir}_icmp_traffic`] = g('icmp_bytes');
    d[`${dir}_icmp_pps`] = g('icmp_packets');
    d[`${dir}_ip_fragmented_traffic`] = g('fragmented_bytes');
    d[`${dir}_ip_fragmented_pps`] = g('fragmented_packets');
  };
  set('incoming', 'in');
  set('outgoing', 'out');
  return d;
}

// ---- host scope ------------------------------------------------------------------------

/** What a host ban's notice needs from the ban (mitigation/bans.ts Ban fits). */
export interface HostBanNotice {
  readonly ip: string;
  /** The freshest attack record (null: restored from the journal, not seen again). */
  readonly rec: AttackRecord | null;
  readonly rules: readonly Rule[];
}

/** A host ban's ban / partial_block / attack_status / unban / partial_unblock. */
export function hostBanDocument(
  action: NotifyActionName,
  b: HostBanNotice,
  details: AttackDetails | Readonly<Record<string, unknown>>,
): NotifyDocument {
  return {
    action,
    alert_scope: 'host',
    ip: b.ip,
    attack_details: details,
    packet_dump_detailed: opens(action) && b.rec ? b.rec.packet_dump_detailed : [],
    flow_spec_rules: [...b.rules],
  };
}

// ---- hostgroup scope -------------------------------------------------------------------

/** A hostgroup attack's fields in a notify document's attack_details (one shape for every hostgroup notice). */
export function hostgroupAttackDetails(a: HostgroupAttack): Record<string, unknown> {
  return {
    attack_direction: a.direction,
    attack_detection_threshold_class: a.cls,
    attack_detection_threshold_unit: a.unit,
    attack_detection_threshold_value: a.threshold,
    current_value: a.value,
    peak_value: a.peak,
    start_time: new Date(a.startedAt).toISOString(),
  };
}

/**
 * A hostgroup-scope document (FastNetMon Advanced's notify for hostgroup-level
 * thresholds): alert_scope "hostgroup", hostgroup_name instead of ip.
 */
export function hostgroupDocument(
  action: NotifyActionName,
  hostgroup: string,
  details: Readonly<Record<string, unknown>>,
  flowSpecRules: readonly Rule[] = [],
  packetDump: readonly PacketDumpEntry[] = [],
): NotifyDocument {
  return {
    action,
    alert_scope: 'hostgroup',
    hostgroup_name: hostgroup,
    attack_details: { host_group: hostgroup, ...details },
    packet_dump_detailed: packetDump,
    flow_spec_rules: flowSpecRules,
  };
}

/** A hostgroup-total attack with no hostgroup-scope mitigation: its alert only (ban when it starts, unban when it ends). */
export function hostgroupAlertDocument(action: 'ban' | 'unban', a: HostgroupAttack): NotifyDocument {
  return hostgroupDocument(action, a.hostgroup, { attack_uuid: a.uuid, ...hostgroupAttackDetails(a) });
}

/** What a hostgroup-scope ban's notice needs from the ban (mitigation/hostgroup-scope.ts HostgroupBan fits). */
export interface HostgroupBanNotice {
  readonly hostgroup: string;
  readonly attackUuid: string;
  /** The hostgroup attack (null: restored from the journal, not seen again). */
  readonly attack: HostgroupAttack | null;
  /** Its mitigations' uuids. */
  readonly uuids: Iterable<string>;
  readonly rules: readonly Rule[];
}

/** A hostgroup-scope ban's ban / partial_block / attack_status / unban / partial_unblock. */
export function hostgroupBanDocument(action: NotifyActionName, b: HostgroupBanNotice): NotifyDocument {
  const a = b.attack;
  const details: Record<string, unknown> = {
    attack_uuid: b.attackUuid,
    attack_detection_source: 'automatic',
    ...(a ? hostgroupAttackDetails(a) : {}),
    mitigations: [...b.uuids],
  };
  const dump = opens(action) && a ? packetDump(a.samples.slice(0, 100)) : [];
  return hostgroupDocument(action, b.hostgroup, details, [...b.rules], dump);
}

// ---- escalations -----------------------------------------------------------------------

/**
 * The document for one escalation notice. attack_details carries the host's current
 * counters under FastNetMon's names, the threshold that triggered
 * (attack_detection_threshold*), and an `escalation` object with the prefix, uuid, hosts,
 * reason, route attributes, the counter value and its source ("current" or "ban") and the
 * ban-time peak counters.
 */
export function escalationDocument(n: EscalationNotice): NotifyDocument {
  const c = n.counters;
  const details: Record<string, unknown> = {
    ...freshDetails({ host_group: n.hostgroup, host_network: n.prefix }, n.host_counters),
    ...(c
      ? {
          attack_detection_threshold: thresholdName(c.class, c.unit),
          attack_detection_threshold_direction: c.direction,
          attack_detection_threshold_class: c.class,
          attack_detection_threshold_unit: c.unit,
          attack_detection_threshold_value: c.threshold,
        }
      : {}),
    escalation: {
      uuid: n.uuid,
      prefix: n.prefix,
      hosts: n.hosts,
      hostgroups: n.hostgroups ?? [n.hostgroup],
      reason: n.reason ?? null,
      detail: n.detail ?? null,
      counter_value: c?.value ?? null,
      counter_source: c?.source ?? null,
      ban_counters: n.ban_counters,
      next_hop: n.next_hop ?? null,
      communities: n.communities ?? [],
      large_communities: n.large_communities ?? [],
      dry_run: n.dry_run,
    },
  };
  return {
    action: n.action,
    alert_scope: 'host',
    ip: n.ip,
    hostgroup_name: n.hostgroup,
    prefix: n.prefix,
    attack_details: details,
    packet_dump_detailed: [],
    flow_spec_rules: [],
  };
}
