/**
 * Who may steer detection, and how much one record may claim.
 *
 * - Allowlist (capture.exporters): a datagram whose UDP source is not inside a listed
 *   address or prefix is dropped before decoding, so it creates no template, exporter or
 *   host state. The check runs once per new source (the decoder's exporter table answers
 *   known ones); negative answers are cached per source text, so a flood from one forged
 *   source costs one Map lookup per datagram. Without a list every source is admitted.
 * - Record bound: a record's packets and bytes (sampling applied) may not exceed what a
 *   link of max_link_bps could carry in the record's duration (at least
 *   MIN_RECORD_DURATION_MS). Beyond that it is dropped and counted: one forged record with
 *   2^32-1 packets x 16383 must never reach the counters.
 * - max_records_per_second per exporter: records beyond it in one second are dropped and
 *   counted.
 */
import type { CaptureExporter } from '../../config/types.js';
import { PrefixTable } from '../../config/prefix-table.js';
import { parseAddr } from '../../wire/addr.js';
import type { FlowRecord, FlowSink } from '../flow.js';
import { LIMITS } from '../limits.js';

/** What the decoder applies to one exporter (resolved once, when the exporter is created). */
export interface ExporterPolicy {
  /** The capture.exporters entry's name, '' for an unlisted exporter (no allowlist). */
  readonly name: string;
  /** Listed in capture.exporters: never evicted to make room for others. */
  readonly listed: boolean;
  /** Operator sampling rate, 0 = none. */
  readonly samplingRate: number;
  /** Records per second, 0 = unbounded. */
  readonly maxRps: number;
  /** Packets and bytes a record may carry per ms of its duration. */
  readonly maxPktsPerMs: number;
  readonly maxBytesPerMs: number;
  readonly maxTemplates: number;
}

export interface AdmitOptions {
  exporters?: readonly CaptureExporter[];
  /** Default record bound for every exporter (bits per second). */
  maxLinkBps?: number;
}

function policy(
  name: string,
  listed: boolean,
  e: Partial<CaptureExporter>,
  defaultBps: number,
): ExporterPolicy {
  const bps = e.max_link_bps ?? defaultBps;
  return {
    name,
    listed,
    samplingRate: e.sampling_rate ?? 0,
    maxRps: e.max_records_per_second ?? 0,
    maxPktsPerMs: bps / LIMITS.MIN_WIRE_FRAME_BITS / 1000,
    maxBytesPerMs: bps / 8 / 1000,
    maxTemplates: e.max_templates ?? LIMITS.MAX_TEMPLATES_PER_EXPORTER,
  };
}

export class Allowlist {
  /** No capture.exporters: every source is admitted with `open`'s policy. */
  readonly isOpen: boolean;
  readonly open: ExporterPolicy;
  private readonly table: PrefixTable<ExporterPolicy> | null;
  private readonly refused = new Map<string, true>();

  constructor(opts: AdmitOptions = {}) {
    const bps = opts.maxLinkBps ?? LIMITS.DEFAULT_MAX_LINK_BPS;
    this.open = policy('', false, {}, bps);
    const list = opts.exporters ?? [];
    this.isOpen = list.length === 0;
    this.table = this.isOpen
      ? null
      : new PrefixTable(list.map((e) => [e.address, policy(e.name, true, e, bps)] as const));
  }

  /** The policy for a source address (canonical text), or null when it is not admitted. */
  lookup(addr: string): ExporterPolicy | null {
    const t = this.table;
    if (t === null) return this.open;
    if (this.refused.has(addr)) return null;
    const a = parseAddr(addr);
    const p = a ? t.lookup(a.bytes) : undefined;
    if (p) return p;
    if (this.refused.size >= LIMITS.UNKNOWN_CACHE) this.refused.clear();
    this.refused.set(addr, true);
    return null;
  }
}

/** The record bound's outcome counters (decoder-wide; per exporter in ExporterStats). */
export interface GuardCounts {
  outOfBounds: number;
  rateLimited: number;
}

/** What the guard needs of the exporter whose datagram is being decoded. */
export interface GuardedExporter {
  policy: ExporterPolicy;
  rpsSecond: number;
  rpsCount: number;
  readonly stats: { outOfBounds: number; rateLimited: number };
}

/**
 * The sink every decoder hands its records to: applies the record bound and the per-exporter
 * records/s limit (a couple of compares), then forwards to the real sink.
 */
export class RecordGuard implements FlowSink {
  /** The exporter of the datagram being decoded, and its bounds copied flat (set per datagram). */
  private cur: GuardedExporter | null = null;
  private maxP = Infinity;
  private maxB = Infinity;
  private maxRps = 0;
  readonly counts: GuardCounts = { outOfBounds: 0, rateLimited: 0 };
  /** The last record dropped as out of bounds (for the log), as text. */
  lastOutOfBounds = '';

  constructor(
    private readonly out: FlowSink,
    private readonly minDurationMs = LIMITS.MIN_RECORD_DURATION_MS,
  ) {}

  /** Called by the decoder before each datagram. */
  enter(ex: GuardedExporter): void {
    this.cur = ex;
    const p = ex.policy;
    this.maxP = p.maxPktsPerMs;
    this.maxB = p.maxBytesPerMs;
    this.maxRps = p.maxRps;
  }

  onFlow(rec: FlowRecord): void {
    const d = rec.durationMs;
    // biome-ignore lint/complexity/useMathMinMax: a NaN duration must take the minimum (Math.max gives NaN)
    const ms = d > this.minDurationMs ? d : this.minDurationMs;
    // The common case: within the bound, no records/s limit. Written so that NaN fails it.
    if (rec.packets <= this.maxP * ms && rec.bytes <= this.maxB * ms) {
      if (this.maxRps === 0) {
        this.out.onFlow(rec);
        return;
      }
      if (this.admitRate(rec.timeMs)) this.out.onFlow(rec);
      return;
    }
    const ex = this.cur;
    if (ex) ex.stats.outOfBounds++;
    this.counts.outOfBounds++;
    this.lastOutOfBounds = `${rec.packets} packets, ${rec.bytes} bytes in ${d} ms (sampling ${rec.samplingRate})`;
  }

  private admitRate(timeMs: number): boolean {
    const ex = this.cur!;
    const s = Math.floor(timeMs / 1000);
    if (s !== ex.rpsSecond) {
      ex.rpsSecond = s;
      ex.rpsCount = 0;
    }
    if (++ex.rpsCount <= this.maxRps) return true;
    ex.stats.rateLimited++;
    this.counts.rateLimited++;
    return false;
  }
}
