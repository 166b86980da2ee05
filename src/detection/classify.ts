/**
 * Attack classification (pure): from the host's per-class rates in the attack direction,
 * the class of the threshold that fired, and the samples in that direction.
 *
 * Order matters: a SYN flood is TCP; an amplification is UDP from one well-known source
 * port and is usually fragmented too (large replies), so the port test runs before the
 * fragmentation test; what is left is named by its dominant class.
 */
import type { FlowSample } from '../capture/flow.js';
import type { TrafficClass } from '../config/types.js';
import type { AttackType } from './types.js';

/** Reflection/amplification services by UDP source port. */
export const AMPLIFICATION_PORTS: ReadonlyMap<number, AttackType> = new Map<number, AttackType>([
  [53, 'dns_amplification'],
  [123, 'ntp_amplification'],
  [1900, 'ssdp_amplification'],
  [11211, 'memcached_amplification'],
  [389, 'cldap_amplification'],
  [19, 'chargen_amplification'],
  [161, 'snmp_amplification'],
]);

/** Share of the traffic a class or port needs to name the attack. */
const DOMINANT_SHARE = 0.5;

export interface ClassRates {
  readonly pps: number;
  readonly tcp_pps: number;
  readonly syn_pps: number;
  readonly udp_pps: number;
  readonly icmp_pps: number;
  readonly frag_pps: number;
}

export interface Classification {
  readonly type: AttackType;
  readonly protocol: 'tcp' | 'udp' | 'icmp' | 'unknown';
  /** For amplification: the source port that identified it. */
  readonly sourcePort?: number;
}

/**
 * The amplification kind of a set of samples: UDP packets (weighted by their scaled packet
 * count) that carry ports, grouped by source port; the top known port must hold at least
 * DOMINANT_SHARE of them. Non-first fragments carry no ports and are left out.
 */
export function amplificationOf(samples: readonly FlowSample[]): { type: AttackType; port: number } | null {
  let total = 0;
  const byPort = new Map<number, number>();
  for (const s of samples) {
    if (s.protocol !== 17 || (s.srcPort === 0 && s.dstPort === 0)) continue;
    const w = s.packets > 0 ? s.packets : 1;
    total += w;
    if (AMPLIFICATION_PORTS.has(s.srcPort)) byPort.set(s.srcPort, (byPort.get(s.srcPort) ?? 0) + w);
  }
  if (total === 0) return null;
  let best = -1;
  let bestW = 0;
  for (const [p, w] of byPort) {
    if (w > bestW) {
      best = p;
      bestW = w;
    }
  }
  if (best < 0 || bestW < DOMINANT_SHARE * total) return null;
  return { type: AMPLIFICATION_PORTS.get(best)!, port: best };
}

function dominantProtocol(r: ClassRates): 'tcp' | 'udp' | 'icmp' | 'unknown' {
  const p = r.pps;
  if (p <= 0) return 'unknown';
  if (r.tcp_pps >= DOMINANT_SHARE * p) return 'tcp';
  if (r.udp_pps >= DOMINANT_SHARE * p) return 'udp';
  if (r.icmp_pps >= DOMINANT_SHARE * p) return 'icmp';
  return 'unknown';
}

export function classifyAttack(
  r: ClassRates,
  fired: TrafficClass,
  samples: readonly FlowSample[],
): Classification {
  const p = r.pps;
  const share = (x: number) => p > 0 && x >= DOMINANT_SHARE * p;
  const amp = () => {
    const a = amplificationOf(samples);
    return a ? ({ type: a.type, protocol: 'udp', sourcePort: a.port } as const) : null;
  };
  switch (fired) {
    case 'tcp_syn':
      return { type: 'syn_flood', protocol: 'tcp' };
    case 'icmp':
      return { type: 'icmp_flood', protocol: 'icmp' };
    case 'udp':
      return amp() ?? { type: 'udp_flood', protocol: 'udp' };
    case 'fragmented':
      return amp() ?? { type: 'ip_fragmentation_flood', protocol: dominantProtocol(r) };
    case 'tcp':
      return share(r.syn_pps) ? { type: 'syn_flood', protocol: 'tcp' } : { type: 'unknown', protocol: 'tcp' };
    case 'total':
      break;
  }
  if (share(r.syn_pps)) return { type: 'syn_flood', protocol: 'tcp' };
  if (share(r.udp_pps) || share(r.frag_pps)) {
    const a = amp();
    if (a) return a;
  }
  if (share(r.frag_pps)) return { type: 'ip_fragmentation_flood', protocol: dominantProtocol(r) };
  if (share(r.udp_pps)) return { type: 'udp_flood', protocol: 'udp' };
  if (share(r.icmp_pps)) return { type: 'icmp_flood', protocol: 'icmp' };
  return { type: 'unknown', protocol: dominantProtocol(r) };
}

/** Severity from the ratio of the measured rate to the threshold that fired. */
const SEVERITY_MIDDLE = 2;
const SEVERITY_HIGH = 5;

export function severity(ratio: number): 'low' | 'middle' | 'high' {
  if (ratio >= SEVERITY_HIGH) return 'high';
  if (ratio >= SEVERITY_MIDDLE) return 'middle';
  return 'low';
}

export function protocolName(p: number): string {
  switch (p) {
    case 6:
      return 'tcp';
    case 17:
      return 'udp';
    case 1:
      return 'icmp';
    case 58:
      return 'ipv6-icmp';
    default:
      return String(p);
  }
}
