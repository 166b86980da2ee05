/**
 * Builders for the objects detection hands out (HostRates, AttackDetails, packet dumps).
 * They read a slot's per-second rates through a `rate(counter)` function, so they work the
 * same with and without smoothing.
 */
import type { FlowSample } from '../capture/flow.js';
import type { CompiledThreshold } from './layout.js';
import {
  K_DROP_B,
  K_DROP_P,
  K_FLOWS,
  K_FRAG_B,
  K_FRAG_P,
  K_ICMP_B,
  K_ICMP_P,
  K_SYN_B,
  K_SYN_P,
  K_TCP_B,
  K_TCP_P,
  K_TOTAL_B,
  K_TOTAL_P,
  K_UDP_B,
  K_UDP_P,
  ctr,
  thresholdName,
} from './layout.js';
import { protocolName, severity, type Classification } from './classify.js';
import type { AttackDetails, HostRates, PacketDumpEntry } from './types.js';

export type RateOf = (counter: number) => number;

export function buildHostRates(ip: string, hostgroup: string, r: RateOf): HostRates {
  return {
    ip,
    hostgroup,
    in_packets: r(ctr(0, K_TOTAL_P)),
    out_packets: r(ctr(1, K_TOTAL_P)),
    in_bytes: r(ctr(0, K_TOTAL_B)),
    out_bytes: r(ctr(1, K_TOTAL_B)),
    in_flows: r(ctr(0, K_FLOWS)),
    out_flows: r(ctr(1, K_FLOWS)),
    in_tcp_packets: r(ctr(0, K_TCP_P)),
    out_tcp_packets: r(ctr(1, K_TCP_P)),
    in_tcp_bytes: r(ctr(0, K_TCP_B)),
    out_tcp_bytes: r(ctr(1, K_TCP_B)),
    in_tcp_syn_packets: r(ctr(0, K_SYN_P)),
    out_tcp_syn_packets: r(ctr(1, K_SYN_P)),
    in_tcp_syn_bytes: r(ctr(0, K_SYN_B)),
    out_tcp_syn_bytes: r(ctr(1, K_SYN_B)),
    in_udp_packets: r(ctr(0, K_UDP_P)),
    out_udp_packets: r(ctr(1, K_UDP_P)),
    in_udp_bytes: r(ctr(0, K_UDP_B)),
    out_udp_bytes: r(ctr(1, K_UDP_B)),
    in_icmp_packets: r(ctr(0, K_ICMP_P)),
    out_icmp_packets: r(ctr(1, K_ICMP_P)),
    in_icmp_bytes: r(ctr(0, K_ICMP_B)),
    out_icmp_bytes: r(ctr(1, K_ICMP_B)),
    in_fragmented_packets: r(ctr(0, K_FRAG_P)),
    out_fragmented_packets: r(ctr(1, K_FRAG_P)),
    in_fragmented_bytes: r(ctr(0, K_FRAG_B)),
    out_fragmented_bytes: r(ctr(1, K_FRAG_B)),
    in_dropped_packets: r(ctr(0, K_DROP_P)),
    out_dropped_packets: r(ctr(1, K_DROP_P)),
    in_dropped_bytes: r(ctr(0, K_DROP_B)),
    out_dropped_bytes: r(ctr(1, K_DROP_B)),
  };
}

export interface DetailsInput {
  readonly uuid: string;
  readonly hostgroup: string;
  readonly network: string;
  readonly cls: Classification;
  readonly fired: CompiledThreshold;
  /** Current value of the fired threshold's rate, in its unit. */
  readonly firedValue: number;
  readonly initialPower: number;
  readonly peakPower: number;
  readonly startedAt: number;
  readonly rates: HostRates;
}

export function buildDetails(x: DetailsInput): AttackDetails {
  const r = x.rates;
  return {
    attack_uuid: x.uuid,
    host_group: x.hostgroup,
    host_network: x.network,
    attack_severity: severity(x.fired.limit > 0 ? x.firedValue / x.fired.limit : Infinity),
    attack_type: x.cls.type,
    attack_protocol: x.cls.protocol,
    attack_direction: x.fired.direction,
    attack_detection_source: 'automatic',
    attack_detection_threshold: thresholdName(x.fired.cls, x.fired.unit),
    attack_detection_threshold_direction: x.fired.direction,
    attack_detection_threshold_class: x.fired.cls,
    attack_detection_threshold_unit: x.fired.unit,
    attack_detection_threshold_value: x.fired.limit,
    initial_attack_power: x.initialPower,
    peak_attack_power: x.peakPower,
    start_time: new Date(x.startedAt).toISOString(),
    total_incoming_traffic: r.in_bytes,
    total_outgoing_traffic: r.out_bytes,
    total_incoming_pps: r.in_packets,
    total_outgoing_pps: r.out_packets,
    total_incoming_flows: r.in_flows,
    total_outgoing_flows: r.out_flows,
    incoming_syn_tcp_traffic: r.in_tcp_syn_bytes,
    outgoing_syn_tcp_traffic: r.out_tcp_syn_bytes,
    incoming_syn_tcp_pps: r.in_tcp_syn_packets,
    outgoing_syn_tcp_pps: r.out_tcp_syn_packets,
    incoming_tcp_traffic: r.in_tcp_bytes,
    outgoing_tcp_traffic: r.out_tcp_bytes,
    incoming_tcp_pps: r.in_tcp_packets,
    outgoing_tcp_pps: r.out_tcp_packets,
    incoming_udp_traffic: r.in_udp_bytes,
    outgoing_udp_traffic: r.out_udp_bytes,
    incoming_udp_pps: r.in_udp_packets,
    outgoing_udp_pps: r.out_udp_packets,
    incoming_icmp_traffic: r.in_icmp_bytes,
    outgoing_icmp_traffic: r.out_icmp_bytes,
    incoming_icmp_pps: r.in_icmp_packets,
    outgoing_icmp_pps: r.out_icmp_packets,
    incoming_ip_fragmented_traffic: r.in_fragmented_bytes,
    outgoing_ip_fragmented_traffic: r.out_fragmented_bytes,
    incoming_ip_fragmented_pps: r.in_fragmented_packets,
    outgoing_ip_fragmented_pps: r.out_fragmented_packets,
  };
}

export function packetDump(samples: readonly FlowSample[]): PacketDumpEntry[] {
  return samples.map((s) => ({
    source_ip: s.src,
    destination_ip: s.dst,
    source_port: s.srcPort,
    destination_port: s.dstPort,
    protocol: protocolName(s.protocol),
    tcp_flags: s.tcpFlags,
    fragmentation: s.fragment,
    packets: s.packets,
    length: s.bytes,
    ip_length: s.packetLength,
    sample_ratio: s.samplingRate,
    agent_address: s.exporter,
    timestamp: s.timeMs / 1000,
  }));
}
