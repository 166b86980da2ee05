/**
 * Sampling rates (see docs/README, "Sampling"): the operator's override beats a rate in the
 * record (IE 34/50/305), which beats the record's sampler (IE 48/302) as learned from options
 * data, then the domain's learned rate, then the only sampler announced, then the default.
 * Every rate read from the wire goes through the one check, sane().
 */
import type { RateResolver } from '../formats/context.js';
import type { RecordRates } from '../formats/template.js';
import { LIMITS } from '../limits.js';
import type { ExporterPolicy } from './admit.js';
import type { DomainState, ExporterState } from './exporter.js';

/** A usable sampling rate, or 0. */
export function sane(r: number): number {
  return Number.isFinite(r) && r >= 1 && r <= LIMITS.MAX_SAMPLING_RATE ? r : 0;
}

/** Per-record resolution bound to one domain (reused: rebound for every data set). */
class DomainRates implements RecordRates {
  ex: ExporterState | null = null;
  dom: DomainState | null = null;
  constructor(private readonly rates: SamplingRates) {}
  forRecord(samplerId: number, recordInterval: number): number {
    return this.rates.rateFor(this.ex!, this.dom!, samplerId, recordInterval);
  }
}

export class SamplingRates implements RateResolver {
  defaultRate: number;
  private overrides: Readonly<Record<string, number>>;
  /** Rates refused by sane() (0, above MAX_SAMPLING_RATE, not finite). */
  refused = 0;
  private readonly bound = new DomainRates(this);

  constructor(
    defaultRate: number,
    overrides: Readonly<Record<string, number>>,
    /** A learned rate changed (persistence hooks in here). */
    private readonly onChange: (ex: ExporterState) => void,
  ) {
    this.defaultRate = sane(defaultRate) || 1;
    this.overrides = overrides;
  }

  /** New default and overrides (config reload); exporters take them with apply(). */
  set(defaultRate: number, overrides: Readonly<Record<string, number>>): void {
    this.defaultRate = sane(defaultRate) || 1;
    this.overrides = overrides;
  }

  /** Put the operator's rates on an exporter (created, reloaded or re-admitted). */
  apply(ex: ExporterState): void {
    ex.override = this.operatorRate(ex.address, ex.policy);
    ex.agentOverride = this.overrideFor(ex.agentText) || ex.override;
  }

  /** sampling_overrides for the address, else the exporter entry's sampling_rate, else 0. */
  operatorRate(address: string, p: ExporterPolicy): number {
    return this.overrideFor(address) || sane(p.samplingRate);
  }

  overrideFor(address: string): number {
    return sane(this.overrides[address] ?? 0);
  }

  check(r: number): number {
    const s = sane(r);
    if (s === 0 && r !== 0) this.refused++;
    return s;
  }

  /** Resolve the rate for a record (override > record > sampler > domain > one sampler > default). */
  rateFor(ex: ExporterState, dom: DomainState, samplerId: number, recordInterval: number): number {
    if (ex.override > 0) return ex.override;
    if (recordInterval !== 0) {
      // IE 34/50/305 in the record itself: the same one check as every other rate.
      const r = this.check(recordInterval);
      if (r > 0) return r;
    }
    if (samplerId >= 0) {
      const r = dom.samplers.get(samplerId);
      if (r !== undefined) return r;
    }
    if (dom.rate > 0) return dom.rate;
    // One sampler announced and records that don't name theirs: it is that one.
    if (dom.samplers.size === 1) for (const r of dom.samplers.values()) return r;
    return this.defaultRate;
  }

  forSet(ex: ExporterState, dom: DomainState): number {
    return this.rateFor(ex, dom, -1, 0);
  }

  forDomain(ex: ExporterState, dom: DomainState): RecordRates {
    const b = this.bound;
    b.ex = ex;
    b.dom = dom;
    return b;
  }

  learn(ex: ExporterState, dom: DomainState, samplerId: number, rate: number): void {
    const r = this.check(rate);
    if (r <= 0) return;
    const fmt = dom.ipfix ? 'ipfix' : 'nf9';
    if (samplerId >= 0) {
      if (dom.samplers.get(samplerId) === r) return;
      if (!dom.samplers.has(samplerId) && dom.samplers.size >= LIMITS.MAX_SAMPLERS_PER_DOMAIN) return;
      dom.samplers.set(samplerId, r);
      ex.stats.sampling[`${fmt}/${dom.domain}/${samplerId}`] = r;
    } else {
      if (dom.rate === r) return;
      dom.rate = r;
      ex.stats.sampling[`${fmt}/${dom.domain}/*`] = r;
    }
    this.onChange(ex);
  }
}
