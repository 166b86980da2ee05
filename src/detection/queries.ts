/**
 * Read-only queries on the detector: one host's rates (API, escalation), the hostgroup of an
 * address, top N, totals, hostgroup totals, whether a host is still over its ban or
 * emergency thresholds, and the detector's own statistics. Rates are those of the window
 * that ended with the last tick (state.ts rate()).
 */
import type { Direction, TrafficClass, Unit } from '../config/types.js';
import type { Attacks } from './attacks.js';
import type { HotHosts } from './hot.js';
import {
  counterIndex,
  ctr,
  K_FLOWS,
  K_TOTAL_B,
  K_TOTAL_P,
  unitFactor,
  type CompiledThreshold,
} from './layout.js';
import { buildHostRates } from './report.js';
import type { DetectorState } from './state.js';
import { KIND_V4, KIND_V6 } from './store.js';
import type { AttackRecord, HostRates, RateFn, TopUnit, TrafficTotals } from './types.js';

export interface DetectionStats {
  records: number;
  /** Records where neither address is monitored. */
  unmonitored: number;
  /** Records dropped by flow filters (capture.filters, a hostgroup's filters). */
  filtered: number;
  ticks: number;
  hosts_v4: number;
  hosts_v6: number;
  ipv6_evictions: number;
  /** New IPv6 hosts not tracked because the table was full of active hosts. */
  ipv6_overflow: number;
  /** Attack starts moved to a later tick by the tick's start budget. */
  starts_deferred: number;
  /** Attacks started between ticks (the window so far already over a threshold). */
  starts_early: number;
  /** Ticks the timer ran late (after catching up two in a row). */
  ticks_late: number;
  /** Attack ends held back (tick by tick) while the capture was losing datagrams. */
  ends_held: number;
  hot_hosts: number;
  /** Hot hosts with a sample buffer; bytes allocated for those buffers (at most detection.hot_sample_bytes). */
  hot_buffers: number;
  hot_buffer_bytes: number;
  /** Hosts that got hot while the hot-buffer cap was reached (detected all the same, without a buffer). */
  hot_buffers_refused: number;
  attacks_active: number;
  bytes_per_host: number;
  /** Thresholds in the config that have no counter (e.g. flows for class tcp). */
  unsupported_thresholds: string[];
}

export class Queries {
  private readonly st: DetectorState;
  private readonly hot: HotHosts;
  private readonly attacks: Attacks;

  constructor(st: DetectorState, hot: HotHosts, attacks: Attacks) {
    this.st = st;
    this.hot = hot;
    this.attacks = attacks;
  }

  hostRates(ip: string): HostRates | null {
    const s = this.st.findSlot(ip);
    return s >= 0 ? this.st.hostRatesOf(s) : null;
  }

  hostgroupOf(ip: string): string | null {
    return this.st.policy.classify(ip).hostgroup?.name ?? null;
  }

  rateFn(ip: string): RateFn | null {
    const st = this.st;
    if (st.findSlot(ip) < 0) return null;
    // Re-resolved on every call: the slot may be evicted and reused meanwhile.
    return (d: Direction, cls: TrafficClass, unit: Unit) => {
      const s = st.findSlot(ip);
      const c = counterIndex(d, cls, unit);
      if (s < 0 || c < 0) return 0;
      return st.rate(s, c) * unitFactor(unit);
    };
  }

  private overAny(s: number, list: readonly CompiledThreshold[]): boolean {
    for (const t of list) if (this.st.rate(s, t.counter) * t.factor > t.limit) return true;
    return false;
  }

  stillAttacking(ip: string): boolean {
    const st = this.st;
    const s = st.findSlot(ip);
    if (s < 0) return false;
    const c = st.compiled[st.store.hg(s)];
    return c ? this.overAny(s, c.ban) : false;
  }

  overEmergency(ip: string): boolean {
    const st = this.st;
    const s = st.findSlot(ip);
    if (s < 0) return false;
    const c = st.compiled[st.store.hg(s)];
    return c ? this.overAny(s, c.emergency) : false;
  }

  activeAttacks(): AttackRecord[] {
    const out: AttackRecord[] = [];
    for (const a of this.attacks.bySlot.values()) out.push(a.rec);
    return out;
  }

  top(n: number, unit: TopUnit, direction: Direction): HostRates[] {
    if (n <= 0) return [];
    const S = this.st;
    const k = ctr(
      direction === 'incoming' ? 0 : 1,
      unit === 'packets' ? K_TOTAL_P : unit === 'bytes' ? K_TOTAL_B : K_FLOWS,
    );
    const st = S.store;
    const best: { s: number; v: number }[] = [];
    const recent = S.curTick - 1 - S.B;
    for (let s = 0; s < st.used; s++) {
      const kind = st.kind[s];
      if ((kind !== KIND_V4 && kind !== KIND_V6) || st.lastSeen(s) < recent) continue;
      const v = S.rate(s, k);
      if (v <= 0) continue;
      if (best.length === n && v <= best[n - 1]!.v) continue;
      let j = best.length < n ? best.length : n - 1;
      if (best.length < n) best.push({ s, v });
      while (j > 0 && best[j - 1]!.v < v) {
        best[j] = best[j - 1]!;
        j--;
      }
      best[j] = { s, v };
    }
    return best.map((x) => S.hostRatesOf(x.s));
  }

  totals(): TrafficTotals {
    const S = this.st;
    const t = { in_packets: 0, out_packets: 0, in_bytes: 0, out_bytes: 0, in_flows: 0, out_flows: 0 };
    for (let h = 0; h < S.hgSlot.length; h++) {
      const s = S.hgSlot[h]!;
      t.in_packets += S.rate(s, ctr(0, K_TOTAL_P));
      t.out_packets += S.rate(s, ctr(1, K_TOTAL_P));
      t.in_bytes += S.rate(s, ctr(0, K_TOTAL_B));
      t.out_bytes += S.rate(s, ctr(1, K_TOTAL_B));
      t.in_flows += S.rate(s, ctr(0, K_FLOWS));
      t.out_flows += S.rate(s, ctr(1, K_FLOWS));
    }
    return t;
  }

  hostgroupRates(name: string): HostRates | null {
    const S = this.st;
    const h = S.compiled.findIndex((c) => c.name === name);
    if (h < 0) return null;
    const s = S.hgSlot[h]!;
    return buildHostRates('', name, (c) => S.rate(s, c));
  }

  detectionStats(): DetectionStats {
    const S = this.st;
    const st = S.store;
    let v4 = 0;
    let v6 = 0;
    for (let s = 0; s < st.used; s++) {
      if (st.kind[s] === KIND_V4) v4++;
      else if (st.kind[s] === KIND_V6) v6++;
    }
    return {
      ...S.stats,
      hosts_v4: v4,
      hosts_v6: v6,
      hot_hosts: this.hot.len,
      hot_buffers: this.hot.buffersInUse,
      hot_buffer_bytes: this.hot.bufferBytes,
      hot_buffers_refused: this.hot.refused,
      attacks_active: this.attacks.bySlot.size,
      bytes_per_host: this.bytesPerHost(),
      unsupported_thresholds: [...S.unsupported],
    };
  }

  /** Storage per active host: counters and window plus the baseline sample ring. */
  bytesPerHost(): number {
    return this.st.store.bytesPerSlot() + this.st.base.bytesPerOwner();
  }

  /** The hot-buffer cost per hot host (samples with headers). */
  bytesPerHotHost(): number {
    return this.hot.samples.bytesPerOwner();
  }
}
