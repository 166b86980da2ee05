/**
 * The exporter table: one ExporterState per admitted source address, bounded. A new source
 * is admitted through the allowlist (admit.ts); when the table is full the least recently
 * seen exporters not in capture.exporters make room (at most one sweep per EVICT_SWEEP_MS,
 * so a flood of new sources cannot make every datagram walk the table), and unlisted
 * exporters silent for EXPORTER_IDLE_MS are forgotten.
 */
import { LIMITS } from '../limits.js';
import { Allowlist, type AdmitOptions } from './admit.js';
import { ExporterState } from './exporter.js';
import type { SamplingRates } from './rates.js';

export class ExporterTable {
  readonly map = new Map<string, ExporterState>();
  private allow: Allowlist;
  private lastEvictSweep = -Infinity;
  private lastIdleSweep = 0;
  unknownSource = 0;
  refused = 0;
  evicted = 0;

  constructor(
    admit: AdmitOptions | undefined,
    private readonly rates: SamplingRates,
    /** An exporter is being forgotten (its templates and held data go with it). */
    private readonly onEvict: (ex: ExporterState) => void,
    private readonly onUnknownSource: ((address: string) => void) | undefined,
  ) {
    this.allow = new Allowlist(admit);
  }

  /** The exporter for an address, created when admitted and there is room; else undefined (counted). */
  get(address: string, now = Date.now()): ExporterState | undefined {
    let ex = this.map.get(address);
    if (!ex) {
      const p = this.allow.lookup(address);
      if (p === null) {
        this.unknownSource++;
        this.onUnknownSource?.(address);
        return undefined;
      }
      if (this.map.size >= LIMITS.MAX_EXPORTERS && !this.makeRoom(now)) {
        this.refused++;
        return undefined;
      }
      ex = new ExporterState(address, p);
      ex.override = this.rates.operatorRate(address, p);
      ex.activeMs = now;
      this.map.set(address, ex);
    }
    return ex;
  }

  /** New capture.exporters / bounds: exporters no longer admitted are forgotten at once. */
  setAdmission(admit: AdmitOptions): void {
    this.allow = new Allowlist(admit);
    for (const [addr, ex] of this.map) {
      const p = this.allow.lookup(addr);
      if (p === null) this.evict(addr, ex);
      else {
        ex.policy = p;
        this.rates.apply(ex);
      }
    }
  }

  /** Called per datagram: forgets idle exporters at most every 10 s. */
  tick(now: number): void {
    if (now - this.lastIdleSweep > 10_000) this.sweepIdle(now);
  }

  private makeRoom(now: number): boolean {
    if (now - this.lastEvictSweep < LIMITS.EVICT_SWEEP_MS) return false;
    this.lastEvictSweep = now;
    const seen: number[] = [];
    for (const ex of this.map.values()) if (!ex.policy.listed) seen.push(ex.activeMs);
    if (seen.length === 0) return false;
    const sorted = Float64Array.from(seen).sort();
    const k = Math.min(sorted.length, Math.max(1, Math.floor(LIMITS.MAX_EXPORTERS * LIMITS.EVICT_FRACTION)));
    const cut = sorted[k - 1]!;
    let n = 0;
    for (const [addr, ex] of this.map) {
      if (n >= k) break;
      if (!ex.policy.listed && ex.activeMs <= cut) {
        this.evict(addr, ex);
        n++;
      }
    }
    return this.map.size < LIMITS.MAX_EXPORTERS;
  }

  private sweepIdle(now: number): void {
    this.lastIdleSweep = now;
    for (const [addr, ex] of this.map) {
      if (!ex.policy.listed && now - ex.activeMs > LIMITS.EXPORTER_IDLE_MS) this.evict(addr, ex);
    }
  }

  private evict(addr: string, ex: ExporterState): void {
    this.map.delete(addr);
    this.evicted++;
    this.onEvict(ex);
  }
}
