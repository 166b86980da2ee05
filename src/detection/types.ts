/**
 * Detection's public contract: attack events with FastNetMon Advanced's field names,
 * per-host counter queries and top-N. Mitigation consumes these; detection never mitigates.
 */
import type { FlowSample, FlowSink } from '../capture/flow.js';
import type { Direction, TrafficClass, Unit } from '../config/types.js';

/** Per-second rates of one host (FastNetMon Advanced's single_host_counters names). */
export interface HostRates {
  readonly ip: string;
  readonly hostgroup: string;
  readonly in_packets: number;
  readonly out_packets: number;
  readonly in_bytes: number;
  readonly out_bytes: number;
  readonly in_flows: number;
  readonly out_flows: number;
  readonly in_tcp_packets: number;
  readonly out_tcp_packets: number;
  readonly in_tcp_bytes: number;
  readonly out_tcp_bytes: number;
  readonly in_tcp_syn_packets: number;
  readonly out_tcp_syn_packets: number;
  readonly in_tcp_syn_bytes: number;
  readonly out_tcp_syn_bytes: number;
  readonly in_udp_packets: number;
  readonly out_udp_packets: number;
  readonly in_udp_bytes: number;
  readonly out_udp_bytes: number;
  readonly in_icmp_packets: number;
  readonly out_icmp_packets: number;
  readonly in_icmp_bytes: number;
  readonly out_icmp_bytes: number;
  readonly in_fragmented_packets: number;
  readonly out_fragmented_packets: number;
  readonly in_fragmented_bytes: number;
  readonly out_fragmented_bytes: number;
  readonly in_dropped_packets: number;
  readonly out_dropped_packets: number;
  readonly in_dropped_bytes: number;
  readonly out_dropped_bytes: number;
}

/** Rate lookup used by escalation and threshold checks: rate(direction, class, unit). */
export type RateFn = (direction: Direction, cls: TrafficClass, unit: Unit) => number;

export type AttackType =
  | 'syn_flood'
  | 'udp_flood'
  | 'icmp_flood'
  | 'ip_fragmentation_flood'
  | 'dns_amplification'
  | 'ntp_amplification'
  | 'ssdp_amplification'
  | 'memcached_amplification'
  | 'cldap_amplification'
  | 'chargen_amplification'
  | 'snmp_amplification'
  | 'unknown';

/** FastNetMon Advanced attack_details fields (rates are per second; traffic in bytes/s). */
export interface AttackDetails {
  readonly attack_uuid: string;
  readonly host_group: string;
  readonly host_network: string;
  readonly attack_severity: 'low' | 'middle' | 'high';
  readonly attack_type: AttackType;
  readonly attack_protocol: string; // tcp | udp | icmp | unknown
  readonly attack_direction: Direction;
  readonly attack_detection_source: 'automatic' | 'manual';
  readonly attack_detection_threshold: string; // e.g. "packets_per_second"
  readonly attack_detection_threshold_direction: Direction;
  readonly attack_detection_threshold_class: TrafficClass;
  readonly attack_detection_threshold_unit: Unit;
  readonly attack_detection_threshold_value: number;
  readonly initial_attack_power: number;
  readonly peak_attack_power: number;
  readonly start_time: string; // ISO 8601
  readonly total_incoming_traffic: number;
  readonly total_outgoing_traffic: number;
  readonly total_incoming_pps: number;
  readonly total_outgoing_pps: number;
  readonly total_incoming_flows: number;
  readonly total_outgoing_flows: number;
  readonly incoming_syn_tcp_traffic: number;
  readonly outgoing_syn_tcp_traffic: number;
  readonly incoming_syn_tcp_pps: number;
  readonly outgoing_syn_tcp_pps: number;
  readonly incoming_tcp_traffic: number;
  readonly outgoing_tcp_traffic: number;
  readonly incoming_tcp_pps: number;
  readonly outgoing_tcp_pps: number;
  readonly incoming_udp_traffic: number;
  readonly outgoing_udp_traffic: number;
  readonly incoming_udp_pps: number;
  readonly outgoing_udp_pps: number;
  readonly incoming_icmp_traffic: number;
  readonly outgoing_icmp_traffic: number;
  readonly incoming_icmp_pps: number;
  readonly outgoing_icmp_pps: number;
  readonly incoming_ip_fragmented_traffic: number;
  readonly outgoing_ip_fragmented_traffic: number;
  readonly incoming_ip_fragmented_pps: number;
  readonly outgoing_ip_fragmented_pps: number;
}

/** One packet/flow sample in FastNetMon Advanced's packet_dump_detailed form. */
export interface PacketDumpEntry {
  readonly source_ip: string;
  readonly destination_ip: string;
  readonly source_port: number;
  readonly destination_port: number;
  readonly protocol: string;
  readonly tcp_flags: number;
  readonly fragmentation: boolean;
  readonly packets: number;
  readonly length: number;
  readonly ip_length: number;
  readonly sample_ratio: number;
  readonly agent_address: string;
  readonly timestamp: number;
}

export interface AttackRecord {
  readonly uuid: string;
  readonly ip: string;
  readonly ipVersion: 4 | 6;
  readonly hostgroup: string;
  readonly details: AttackDetails;
  /** Samples taken during the attack (the ring at detection time, then kept updating). */
  readonly samples: readonly FlowSample[];
  /** Samples of the host from before the attack: the baseline for FlowSpec generation. */
  readonly baseline: readonly FlowSample[];
  readonly packet_dump_detailed: readonly PacketDumpEntry[];
  /** The samples as a pcap (Ethernet link type) where raw headers exist, else null. */
  readonly pcap: Uint8Array | null;
  readonly startedAt: number;
  /** Current rates, refreshed on every update. */
  readonly rates: HostRates;
}

export type AttackEvent = 'attack_started' | 'attack_updated' | 'attack_finished';

export type TopUnit = 'packets' | 'bytes' | 'flows';

/** Per-second totals over all monitored traffic. */
export interface TrafficTotals {
  in_packets: number;
  out_packets: number;
  in_bytes: number;
  out_bytes: number;
  in_flows: number;
  out_flows: number;
}

export interface Detector {
  /** The capture side feeds records here. */
  readonly sink: FlowSink;
  start(): void;
  stop(): void;
  /** Current per-second rates of one host, or null when unknown/unmonitored. */
  hostRates(ip: string): HostRates | null;
  /** Threshold-style rate lookup for one host (escalation), or null. */
  rateFn(ip: string): RateFn | null;
  /** Top N hosts by unit and direction, highest first. */
  top(n: number, unit: TopUnit, direction: Direction): HostRates[];
  /** Totals over all monitored traffic, per second. */
  totals(): TrafficTotals;
  /** Is the attack on this host still above its ban thresholds right now? */
  stillAttacking(ip: string): boolean;
  on(event: AttackEvent, listener: (rec: AttackRecord) => void): void;
  /** Hostgroup-total attacks in progress. */
  hostgroupAttacks(): readonly import('./attacks.js').HostgroupAttack[];
  /** Apply a reloaded config (hostgroups, thresholds) without losing counters. */
  reconfigure(cfg: import('../config/types.js').Config): void;
}
