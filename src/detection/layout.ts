/**
 * Counter layout shared by the store, the hot path and the threshold compiler.
 *
 * Every slot (a host or a hostgroup total) has NC = 30 counters, 15 per direction:
 *   packets/bytes for total, tcp, tcp_syn, udp, icmp, fragmented, dropped, then flows.
 * A counter index is `dir * 15 + k`, so a 32-bit mask can say which counters changed.
 */
import type { Direction, ThresholdSet, TrafficClass, Unit } from '../config/types.js';
import { CLASSES, DIRECTIONS } from '../config/types.js';

export const PER_DIR = 15;
export const NC = 2 * PER_DIR;

export const K_TOTAL_P = 0;
export const K_TOTAL_B = 1;
export const K_TCP_P = 2;
export const K_TCP_B = 3;
export const K_SYN_P = 4;
export const K_SYN_B = 5;
export const K_UDP_P = 6;
export const K_UDP_B = 7;
export const K_ICMP_P = 8;
export const K_ICMP_B = 9;
export const K_FRAG_P = 10;
export const K_FRAG_B = 11;
export const K_DROP_P = 12;
export const K_DROP_B = 13;
export const K_FLOWS = 14;

export const DIR_IN = 0;
export const DIR_OUT = 1;

export function dirIndex(d: Direction): number {
  return d === 'incoming' ? DIR_IN : DIR_OUT;
}

const CLASS_BASE: Record<TrafficClass, number> = {
  total: K_TOTAL_P,
  tcp: K_TCP_P,
  tcp_syn: K_SYN_P,
  udp: K_UDP_P,
  icmp: K_ICMP_P,
  fragmented: K_FRAG_P,
};

/**
 * Counter index for (direction, class, unit), or -1 when no counter exists (flows are kept
 * per direction only, so `flows` is only defined for class `total`).
 */
export function counterIndex(d: Direction, cls: TrafficClass, unit: Unit): number {
  const base = dirIndex(d) * PER_DIR;
  if (unit === 'flows') return cls === 'total' ? base + K_FLOWS : -1;
  return base + CLASS_BASE[cls] + (unit === 'mbps' ? 1 : 0);
}

/** Multiplier from a counter's per-second value to the threshold unit (bytes/s -> Mbit/s). */
export function unitFactor(unit: Unit): number {
  return unit === 'mbps' ? 8 / 1e6 : 1;
}

/** One compiled threshold: compare `rate(counter) * factor > limit`. */
export interface CompiledThreshold {
  readonly direction: Direction;
  readonly cls: TrafficClass;
  readonly unit: Unit;
  readonly counter: number;
  readonly factor: number;
  readonly limit: number;
}

/** Flatten a ThresholdSet into the thresholds that have a counter (others are reported back). */
export function compileThresholds(set: ThresholdSet | undefined, unsupported?: string[]): CompiledThreshold[] {
  const out: CompiledThreshold[] = [];
  if (!set) return out;
  for (const d of DIRECTIONS) {
    const byClass = set[d];
    if (!byClass) continue;
    for (const cls of CLASSES) {
      const byUnit = byClass[cls];
      if (!byUnit) continue;
      for (const unit of ['pps', 'mbps', 'flows'] as const) {
        const limit = byUnit[unit];
        if (limit === undefined || limit === null || !Number.isFinite(limit)) continue;
        const counter = counterIndex(d, cls, unit);
        if (counter < 0) {
          unsupported?.push(`${d}.${cls}.${unit}`);
          continue;
        }
        out.push({ direction: d, cls, unit, counter, factor: unitFactor(unit), limit });
      }
    }
  }
  return out;
}

/** FastNetMon Advanced's threshold names, e.g. tcp_syn + pps -> "tcp_syn_packets_per_second". */
export function thresholdName(cls: TrafficClass, unit: Unit): string {
  const prefix =
    cls === 'total' ? '' : cls === 'fragmented' ? 'ip_fragments_' : `${cls}_`;
  const u = unit === 'pps' ? 'packets_per_second' : unit === 'mbps' ? 'bits_per_second' : 'flows_per_second';
  return prefix + u;
}
