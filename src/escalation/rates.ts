/**
 * Threshold checks for the escalation loop, and the "ban-time evidence" store.
 *
 * Why evidence: many routers drop blackholed traffic before they export flows, so once the
 * /32 is announced the host's current rate collapses to ~0 and a loop that only looked at
 * current rates would never escalate. The store keeps the rates detection reported in its
 * attack events for each host; the decision core uses their element-wise maximum over the
 * seconds before the ban (and after it) for a bounded time after the ban (docs/escalation.md).
 */
import { CLASSES, DIRECTIONS, UNITS } from '../config/types.js';
import type { Direction, ThresholdSet, TrafficClass, Unit } from '../config/types.js';
import { rateText } from '../detection/layout.js';
import type { HostRates, RateFn } from '../detection/types.js';

/** Which threshold a rate crossed, with the numbers, for logs and notifications. */
export interface Crossing {
  readonly direction: Direction;
  readonly class: TrafficClass;
  readonly unit: Unit;
  /** The observed rate (per second; mbps for mbps). */
  readonly value: number;
  /** The configured emergency limit it is strictly above. */
  readonly threshold: number;
  /** "current": detection's rate now; "ban": the peak seen around the ban (evidence). */
  readonly source: 'current' | 'ban';
}

/** A crossing for people: "incoming udp 812 Mbps > 100 Mbps (current)". */
export function crossingText(c: Crossing): string {
  return `${c.direction} ${c.class} ${rateText(c.value, c.unit)} > ${rateText(c.threshold, c.unit)} (${c.source === 'ban' ? 'ban-time peak' : 'current'})`;
}

/**
 * First threshold of `set` that `rate` is strictly above, in DIRECTIONS x CLASSES x UNITS
 * order, or null. Same rule as detection (src/detection/layout.ts): `rate > limit`, an
 * absent/null/non-finite limit is no threshold, and 0 is a real limit (any traffic).
 */
export function crossing(set: ThresholdSet, rate: RateFn, source: Crossing['source']): Crossing | null {
  for (const direction of DIRECTIONS) {
    const byClass = set[direction];
    if (!byClass) continue;
    for (const cls of CLASSES) {
      const byUnit = byClass[cls];
      if (!byUnit) continue;
      for (const unit of UNITS) {
        const limit = byUnit[unit];
        if (limit === undefined || limit === null || !Number.isFinite(limit)) continue;
        const value = rate(direction, cls, unit);
        if (value > limit) return { direction, class: cls, unit, value, threshold: limit, source };
      }
    }
  }
  return null;
}

type NumericKey = Exclude<keyof HostRates, 'ip' | 'hostgroup'>;

function key(direction: Direction, cls: TrafficClass, what: 'packets' | 'bytes'): NumericKey {
  const d = direction === 'incoming' ? 'in' : 'out';
  return (cls === 'total' ? `${d}_${what}` : `${d}_${cls}_${what}`) as NumericKey;
}

/**
 * RateFn over a HostRates snapshot: pps = packets/s, mbps = bytes/s * 8 / 1e6, flows =
 * flows/s. HostRates only has flow rates for the total class; per-class flows read as 0.
 */
export function rateFnOf(h: HostRates): RateFn {
  return (direction, cls, unit) => {
    if (unit === 'flows') {
      if (cls !== 'total') return 0;
      return direction === 'incoming' ? h.in_flows : h.out_flows;
    }
    if (unit === 'pps') return h[key(direction, cls, 'packets')];
    return (h[key(direction, cls, 'bytes')] * 8) / 1_000_000;
  };
}

/** Element-wise maximum of two snapshots (ip/hostgroup from `a`). */
export function maxRates(a: HostRates, b: HostRates): HostRates {
  const out: Record<string, unknown> = { ...a };
  for (const k of Object.keys(a) as (keyof HostRates)[]) {
    if (k === 'ip' || k === 'hostgroup') continue;
    const x = a[k];
    const y = b[k];
    if (typeof y === 'number' && y > x) out[k] = y;
  }
  return out as unknown as HostRates;
}

interface Bucket {
  /** Start of the one-second bucket (ms since epoch, multiple of 1000). */
  readonly second: number;
  rates: HostRates;
}

/**
 * Rates detection reported for hosts under attack (attack_started / attack_updated),
 * merged into one-second buckets (element-wise max). Bounded in memory: at most `perHost`
 * buckets per host (oldest dropped) and `maxHosts` hosts (the least recently created host
 * is dropped first). The loop latches each blackhole's peak every run, so the buckets only
 * need to span the lookback plus one run interval.
 */
export class EvidenceStore {
  private readonly byHost = new Map<string, Bucket[]>();

  constructor(
    private readonly perHost = 128,
    private readonly maxHosts = 10_000,
  ) {}

  record(ip: string, rates: HostRates, at: number): void {
    const second = Math.floor(at / 1000) * 1000;
    let list = this.byHost.get(ip);
    if (!list) {
      // Full: the oldest quarter goes in one pass. Deleting the single oldest key per new
      // host made every keys().next() walk the deleted entries before it (V8 keeps them
      // until a rehash): 14 s of a 65,536-host carpet bomb.
      if (this.byHost.size >= this.maxHosts) {
        let drop = Math.max(1, this.maxHosts >> 2);
        for (const k of this.byHost.keys()) {
          this.byHost.delete(k);
          if (--drop === 0) break;
        }
      }
      list = [];
      this.byHost.set(ip, list);
    }
    const last = list[list.length - 1];
    if (last && last.second === second) {
      last.rates = maxRates(last.rates, rates);
      return;
    }
    list.push({ second, rates });
    // Out-of-order events are rare (one detector clock); keep the list sorted anyway.
    if (last && last.second > second) list.sort((a, b) => a.second - b.second);
    if (list.length > this.perHost) list.splice(0, list.length - this.perHost);
  }

  /** Element-wise peak of the host's buckets from the second containing `since`, or null. */
  peak(ip: string, since: number): HostRates | null {
    const list = this.byHost.get(ip);
    if (!list) return null;
    const from = Math.floor(since / 1000) * 1000;
    let acc: HostRates | null = null;
    for (const b of list) {
      if (b.second < from) continue;
      acc = acc ? maxRates(acc, b.rates) : b.rates;
    }
    return acc;
  }

  /** Drop buckets that started before `before`. */
  prune(before: number): void {
    for (const [ip, list] of this.byHost) {
      const fresh = list.filter((b) => b.second + 1000 > before);
      if (fresh.length === 0) this.byHost.delete(ip);
      else if (fresh.length !== list.length) this.byHost.set(ip, fresh);
    }
  }

  get size(): number {
    return this.byHost.size;
  }
}
