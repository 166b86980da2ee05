/**
 * The series Graphite and InfluxDB receive, read from the detector once per push: totals
 * per direction and traffic class (pps, bps, flows), the same per hostgroup, per host for
 * the top N hosts (by packets and by bytes, each direction) and every host under attack,
 * and attack counts. One snapshot, two formatters (graphite.ts, influx.ts).
 * Cost: the top-N scans are O(active hosts) each (bench/export-push.ts measures it).
 */
import type { Direction, TrafficClass } from '../config/types.js';
import type { HostRates, TopUnit } from '../detection/types.js';

export interface SeriesSource {
  hostgroups(): readonly string[];
  hostgroupRates(name: string): HostRates | null;
  top(n: number, unit: TopUnit, direction: Direction): HostRates[];
  activeAttacks(): readonly { readonly ip: string }[];
  hostRates(ip: string): HostRates | null;
  /** attack_started events since start. */
  attacksStarted(): number;
}

export interface RateRow {
  readonly direction: Direction;
  readonly cls: TrafficClass;
  readonly pps: number;
  readonly bps: number;
  /** Flows exist for class total only. */
  readonly flows: number | null;
}

export interface Snapshot {
  readonly timeMs: number;
  readonly total: readonly RateRow[];
  readonly hostgroups: readonly { readonly name: string; readonly rows: readonly RateRow[] }[];
  readonly hosts: readonly {
    readonly ip: string;
    readonly hostgroup: string;
    readonly attacked: boolean;
    readonly rows: readonly RateRow[];
  }[];
  readonly attacksActive: number;
  readonly attacksStarted: number;
}

/** HostRates key stem per class (in_<stem>packets / in_<stem>bytes). */
const STEM: Record<TrafficClass, string> = {
  total: '',
  tcp: 'tcp_',
  tcp_syn: 'tcp_syn_',
  udp: 'udp_',
  icmp: 'icmp_',
  fragmented: 'fragmented_',
};
const CLASSES: readonly TrafficClass[] = ['total', 'tcp', 'tcp_syn', 'udp', 'icmp', 'fragmented'];

function rateRows(r: HostRates): RateRow[] {
  const out: RateRow[] = [];
  const o = r as unknown as Record<string, number>;
  for (const direction of ['incoming', 'outgoing'] as const) {
    const d = direction === 'incoming' ? 'in_' : 'out_';
    for (const cls of CLASSES) {
      out.push({
        direction,
        cls,
        pps: o[`${d}${STEM[cls]}packets`] ?? 0,
        bps: (o[`${d}${STEM[cls]}bytes`] ?? 0) * 8,
        flows: cls === 'total' ? (o[`${d}flows`] ?? 0) : null,
      });
    }
  }
  return out;
}

export function takeSnapshot(src: SeriesSource, topHosts: number, now = Date.now()): Snapshot {
  const hostgroups: { name: string; rows: RateRow[] }[] = [];
  const sum = new Map<string, { pps: number; bps: number; flows: number }>();
  for (const name of src.hostgroups()) {
    const r = src.hostgroupRates(name);
    if (!r) continue;
    const rows = rateRows(r);
    hostgroups.push({ name, rows });
    // Every monitored host is in exactly one hostgroup: the totals are their sum.
    for (const x of rows) {
      const k = `${x.direction} ${x.cls}`;
      const t = sum.get(k) ?? { pps: 0, bps: 0, flows: 0 };
      t.pps += x.pps;
      t.bps += x.bps;
      t.flows += x.flows ?? 0;
      sum.set(k, t);
    }
  }
  const total: RateRow[] = [];
  for (const direction of ['incoming', 'outgoing'] as const) {
    for (const cls of CLASSES) {
      const t = sum.get(`${direction} ${cls}`) ?? { pps: 0, bps: 0, flows: 0 };
      total.push({ direction, cls, pps: t.pps, bps: t.bps, flows: cls === 'total' ? t.flows : null });
    }
  }
  const hosts = new Map<string, { ip: string; hostgroup: string; attacked: boolean; rows: RateRow[] }>();
  const attacks = src.activeAttacks();
  for (const a of attacks) {
    const r = src.hostRates(a.ip);
    if (r && !hosts.has(r.ip))
      hosts.set(r.ip, { ip: r.ip, hostgroup: r.hostgroup, attacked: true, rows: rateRows(r) });
  }
  if (topHosts > 0) {
    for (const unit of ['packets', 'bytes'] as const) {
      for (const dir of ['incoming', 'outgoing'] as const) {
        for (const r of src.top(topHosts, unit, dir)) {
          if (!hosts.has(r.ip))
            hosts.set(r.ip, { ip: r.ip, hostgroup: r.hostgroup, attacked: false, rows: rateRows(r) });
        }
      }
    }
  }
  return {
    timeMs: now,
    total,
    hostgroups,
    hosts: [...hosts.values()],
    attacksActive: attacks.length,
    attacksStarted: src.attacksStarted(),
  };
}
