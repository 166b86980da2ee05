/**
 * Counter layout shared by the store, the hot path and the threshold compiler.
 *
 * Every slot (a host or a hostgroup total) has NC = 30 counters: 15 kinds (packets/bytes
 * for total, tcp, tcp_syn, udp, icmp, fragmented, dropped, plus flows) in each direction.
 * Counter index = 2 * kind + direction, so a 32-bit mask says which counters changed, and
 * the kinds thresholds use most (total packets, bytes, flows, both directions) share the
 * first cache line of a slot.
 */
import type { Direction, ThresholdSet, TrafficClass, Unit } from '../config/types.js';
import { CLASSES, DIRECTIONS } from '../config/types.js';

const NKIND = 15;
export const NC = 2 * NKIND;

export const K_TOTAL_P = 0;
export const K_TOTAL_B = 1;
export const K_FLOWS = 2;
export const K_TCP_P = 3;
export const K_TCP_B = 4;
export const K_SYN_P = 5;
export const K_SYN_B = 6;
export const K_UDP_P = 7;
export const K_UDP_B = 8;
export const K_ICMP_P = 9;
export const K_ICMP_B = 10;
export const K_FRAG_P = 11;
export const K_FRAG_B = 12;
export const K_DROP_P = 13;
export const K_DROP_B = 14;

const DIR_IN = 0;
const DIR_OUT = 1;

/** Counter index of a kind in a direction (0 = incoming, 1 = outgoing). */
export function ctr(dir: number, kind: number): number {
  return 2 * kind + dir;
}

function dirIndex(d: Direction): number {
  return d === 'incoming' ? DIR_IN : DIR_OUT;
}

const CLASS_KIND: Record<TrafficClass, number> = {
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
  const dir = dirIndex(d);
  if (unit === 'flows') return cls === 'total' ? ctr(dir, K_FLOWS) : -1;
  return ctr(dir, CLASS_KIND[cls] + (unit === 'mbps' ? 1 : 0));
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
export function compileThresholds(
  set: ThresholdSet | undefined,
  unsupported?: string[],
): CompiledThreshold[] {
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

/** A rate with its unit, for people: "100 Mbps", "20000 pps", "12.5 flows/s". */
export function rateText(value: number, unit: Unit): string {
  const v =
    Math.abs(value) >= 100 || Number.isInteger(value) ? Math.round(value) : Number(value.toPrecision(3));
  return `${v} ${unit === 'pps' ? 'pps' : unit === 'mbps' ? 'Mbps' : 'flows/s'}`;
}

/**
 * A threshold for people (logs, ctl, demo), in the policy's own words: udp + mbps 100 ->
 * "udp 100 Mbps". JSON documents keep FastNetMon's names (thresholdName).
 */
export function thresholdText(cls: TrafficClass, unit: Unit, value: number): string {
  return `${cls} ${rateText(value, unit)}`;
}

/** FastNetMon Advanced's threshold names, e.g. tcp_syn + pps -> "tcp_syn_packets_per_second". */
export function thresholdName(cls: TrafficClass, unit: Unit): string {
  const prefix = cls === 'total' ? '' : cls === 'fragmented' ? 'ip_fragments_' : `${cls}_`;
  const u = unit === 'pps' ? 'packets_per_second' : unit === 'mbps' ? 'bits_per_second' : 'flows_per_second';
  return prefix + u;
}
