/**
 * FlowDecoder: one entry point for every exporter datagram (NetFlow v5/v9, IPFIX, sFlow v5),
 * the format detected by version. This is where the capture rooms meet: it owns the exporter
 * room's state (exporter table, sampling rates, template store; capture/exporter/), hands
 * each datagram to a format decoder (capture/formats/) with one narrow DecodeContext, and
 * keeps the bounded buffer of data that arrived before its template.
 *
 * decode() never throws: a WireError or any other failure in a datagram counts it as
 * malformed for its exporter, records already delivered stay delivered, and the next
 * datagram decodes normally.
 */
import { newFlowRecord, type FlowSink } from './flow.js';
import { RecordGuard, type AdmitOptions } from './exporter/admit.js';
import type { DomainState, ExporterState } from './exporter/exporter.js';
import { exportState, importState, stateChunks, type DecoderState } from './exporter/persist.js';
import { SamplingRates } from './exporter/rates.js';
import type { ExporterStats, FlowFormat } from './exporter/stats.js';
import { ExporterTable } from './exporter/table.js';
import { MemoryTemplateStore, type TemplateStore } from './exporter/templates.js';
import type { DecodeContext, TemplateHost } from './formats/context.js';
import { decodeNetflow5 } from './formats/netflow5.js';
import { decodeDataSet, decodeIpfix, decodeNetflow9 } from './formats/netflow9.js';
import { RecordAcc } from './formats/record-acc.js';
import { decodeSflow } from './formats/sflow.js';
import { TemplateError, type Template, type TemplateSpec } from './formats/template.js';
import { LIMITS } from './limits.js';
import { WireError } from '../wire/reader.js';

export type { DecoderState };

/** Data set held until its template arrives, with the header of the datagram it came in. */
interface Pending {
  ex: ExporterState;
  dom: DomainState;
  templateId: number;
  data: Uint8Array;
  timeMs: number;
  uptime: number;
  secs: number;
}

export interface DecoderOptions {
  /** Rate used for an exporter until one is learned (default 1). */
  defaultSamplingRate?: number;
  /** Per exporter address (UDP source or sFlow agent): always wins. */
  samplingOverrides?: Readonly<Record<string, number>>;
  /**
   * Called when templates or learned rates change (besides the store's own persistence),
   * with the exporter whose state changed (null: any).
   */
  onStateChange?: (exporter: string | null) => void;
  /** Where templates live (default: in memory; the collector passes a FileTemplateStore). */
  templates?: TemplateStore;
  /** capture.exporters (allowlist, per-exporter bounds) and the default record bound. */
  admit?: AdmitOptions;
  /** A datagram from a source outside capture.exporters was dropped (for a rate-limited log). */
  onUnknownSource?: (address: string) => void;
}

/** Decoder-wide counts of what was refused or dropped (exported in /metrics). */
export interface DecoderCounts {
  /** Datagrams dropped before decoding: their source is not in capture.exporters. */
  unknownSource: number;
  /** Datagrams refused: the exporter table was full. */
  refusedExporter: number;
  /** Exporters forgotten (idle, or the least recently seen of a full table, or unlisted by a reload). */
  evictedExporter: number;
  /** Templates refused by a per-exporter or the global template cap. */
  templateRefused: number;
  /** Sampling rates refused by the one check (sane): 0, above MAX_SAMPLING_RATE, not finite. */
  badSamplingRate: number;
  /** Records dropped by the record bound / the records-per-second limit. */
  recordOutOfBounds: number;
  recordRateLimited: number;
  /** Exceptions that were not wire errors, over all exporters. */
  internalError: number;
}

export class FlowDecoder {
  private readonly guard: RecordGuard;
  private readonly rates: SamplingRates;
  private readonly table: ExporterTable;
  readonly store: TemplateStore;
  /** What the format decoders get (one per decoder, reused for every datagram). */
  private readonly ctx: DecodeContext;
  private readonly pending: Pending[] = [];
  private pendingBytes = 0;
  private readonly onStateChange: ((exporter: string | null) => void) | undefined;
  private templateRefused = 0;
  private internalErrors = 0;
  /** Message of the last internal error (see ExporterStats.internalErrors). */
  lastInternalError = '';

  constructor(sink: FlowSink, opts: DecoderOptions = {}) {
    this.guard = new RecordGuard(sink);
    this.onStateChange = opts.onStateChange;
    this.store = opts.templates ?? new MemoryTemplateStore();
    this.rates = new SamplingRates(opts.defaultSamplingRate ?? 1, opts.samplingOverrides ?? {}, (ex) =>
      this.changed(ex),
    );
    this.table = new ExporterTable(opts.admit, this.rates, (ex) => this.forget(ex), opts.onUnknownSource);
    const host: TemplateHost = {
      add: (ex, dom, spec) => this.addTemplate(ex, dom, spec),
      withdraw: (ex, dom, id, options, all) => {
        if (this.store.withdraw(ex, dom, id, options, all)) this.changed(ex);
      },
      hold: (ex, dom, id, set, timeMs, uptime, secs) => this.hold(ex, dom, id, set, timeMs, uptime, secs),
    };
    this.ctx = {
      rec: newFlowRecord(),
      sink: this.guard,
      acc: new RecordAcc(),
      rates: this.rates,
      templates: host,
      optionsRecords: 0,
    };
  }

  /** Templates held over all exporters (LIMITS.MAX_TEMPLATES_TOTAL). */
  get templateTotal(): number {
    return this.store.total;
  }

  /** Datagrams refused because the exporter table is full. */
  get refusedExporters(): number {
    return this.table.refused;
  }

  private changed(ex: ExporterState | null = null): void {
    this.store.changed();
    this.onStateChange?.(ex ? ex.address : null);
  }

  setSampling(defaultRate: number, overrides: Readonly<Record<string, number>>): void {
    this.rates.set(defaultRate, overrides);
    for (const ex of this.table.map.values()) this.rates.apply(ex);
  }

  /**
   * New capture.exporters / bounds (config reload): exporters no longer admitted are
   * forgotten at once, the others take their new policy.
   */
  setAdmission(admit: AdmitOptions): void {
    this.table.setAdmission(admit);
  }

  counts(): DecoderCounts {
    return {
      unknownSource: this.table.unknownSource,
      refusedExporter: this.table.refused,
      evictedExporter: this.table.evicted,
      templateRefused: this.templateRefused,
      badSamplingRate: this.rates.refused,
      recordOutOfBounds: this.guard.counts.outOfBounds,
      recordRateLimited: this.guard.counts.rateLimited,
      internalError: this.internalErrors,
    };
  }

  /** The last record the bound dropped, as text ('' = none yet). */
  get lastOutOfBounds(): string {
    return this.guard.lastOutOfBounds;
  }

  /** An evicted exporter: its templates stop counting, its held data goes. */
  private forget(ex: ExporterState): void {
    this.store.forget(ex);
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const p = this.pending[i]!;
      if (p.ex !== ex) continue;
      this.pending.splice(i, 1);
      this.pendingBytes -= p.data.length;
    }
    if (ex.templateCount > 0) this.changed(ex);
  }

  /**
   * Decode one UDP payload from `exporter` (its source address as canonical text) received
   * at timeMs. Never throws. Returns the format decoded, or null when it was not one.
   */
  decode(data: Uint8Array, exporter: string, timeMs: number): FlowFormat | null {
    // Per datagram: one Map lookup for a known exporter; the allowlist is asked only for a
    // new source (and answers repeated unknown ones from its cache).
    const ex = this.table.map.get(exporter) ?? this.table.get(exporter, timeMs);
    if (!ex) return null;
    this.table.tick(timeMs);
    const st = ex.stats;
    st.datagrams++;
    st.bytes += data.length;
    st.lastSeenMs = timeMs;
    ex.activeMs = timeMs;
    this.guard.enter(ex);
    let fmt: FlowFormat | null = null;
    try {
      if (data.length < 4) throw new WireError('short datagram');
      const v16 = (data[0]! << 8) | data[1]!;
      if (v16 === 5) {
        fmt = 'nf5';
        decodeNetflow5(this.ctx, ex, data, timeMs);
      } else if (v16 === 9) {
        fmt = 'nf9';
        decodeNetflow9(this.ctx, ex, data, timeMs);
      } else if (v16 === 10) {
        fmt = 'ipfix';
        decodeIpfix(this.ctx, ex, data, timeMs);
      } else if (v16 === 0 && data[2] === 0 && data[3] === 5) {
        fmt = 'sflow';
        decodeSflow(this.ctx, ex, data, timeMs);
      } else throw new WireError(`unknown version ${v16}`);
      ex.markFormat(fmt);
    } catch (e) {
      // Wire input never escapes as an exception: bad input (WireError, TemplateError) is
      // counted as malformed; anything else is a bug or a throwing sink, counted apart.
      if (e instanceof WireError || e instanceof TemplateError || !(e instanceof Error)) st.malformed++;
      else {
        st.internalErrors++;
        this.internalErrors++;
        this.lastInternalError = e.message;
      }
    }
    return fmt;
  }

  /** Add or replace a template (caps apply); decodes any data held for it. */
  private addTemplate(ex: ExporterState, dom: DomainState, spec: TemplateSpec): void {
    const r = this.store.put(ex, dom, spec);
    if (r === 'same') return;
    if (r === 'refused') {
      ex.stats.templatesRefused++;
      this.templateRefused++;
      return;
    }
    this.changed(ex);
    if (this.pending.length) this.flushPending(ex, dom, this.store.get(dom, spec.id)!);
  }

  /** Hold a data set whose template is unknown (copied; bounded). */
  private hold(
    ex: ExporterState,
    dom: DomainState,
    templateId: number,
    set: Uint8Array,
    timeMs: number,
    uptime: number,
    secs: number,
  ): void {
    ex.stats.unknownTemplate++;
    this.expirePending(timeMs);
    if (set.length > LIMITS.PENDING_MAX_BYTES / 4) {
      ex.stats.pendingDropped++;
      return;
    }
    while (
      this.pending.length >= LIMITS.PENDING_MAX_SETS ||
      this.pendingBytes + set.length > LIMITS.PENDING_MAX_BYTES
    ) {
      const old = this.pending.shift()!;
      this.pendingBytes -= old.data.length;
      old.ex.stats.pendingDropped++;
    }
    this.pending.push({ ex, dom, templateId, data: Uint8Array.from(set), timeMs, uptime, secs });
    this.pendingBytes += set.length;
  }

  private expirePending(now: number): void {
    while (this.pending.length && now - this.pending[0]!.timeMs > LIMITS.PENDING_MAX_AGE_MS) {
      const old = this.pending.shift()!;
      this.pendingBytes -= old.data.length;
      old.ex.stats.pendingDropped++;
    }
  }

  private flushPending(ex: ExporterState, dom: DomainState, tpl: Template): void {
    for (let i = 0; i < this.pending.length; ) {
      const p = this.pending[i]!;
      if (p.ex !== ex || p.dom !== dom || p.templateId !== tpl.id) {
        i++;
        continue;
      }
      this.pending.splice(i, 1);
      this.pendingBytes -= p.data.length;
      try {
        decodeDataSet(this.ctx, ex, dom, tpl, p.data, 0, p.data.length, p.timeMs);
        ex.stats.pendingDecoded++;
      } catch (e) {
        if (e instanceof WireError) ex.stats.malformed++;
        else throw e;
      }
    }
  }

  /** Data sets currently held for a template. */
  get pendingSets(): number {
    return this.pending.length;
  }

  /** Drop everything still held (counted), e.g. at the end of a file. */
  dropPending(): void {
    for (const p of this.pending) p.ex.stats.pendingDropped++;
    this.pending.length = 0;
    this.pendingBytes = 0;
  }

  stats(): ExporterStats[] {
    return [...this.table.map.values()].map((e) => ({
      ...e.stats,
      formats: [...e.stats.formats],
      agents: [...e.stats.agents],
      sampling: { ...e.stats.sampling },
    }));
  }

  /** Persisted form of templates and learned rates (exporter/persist.ts). */
  exportState(): DecoderState {
    return exportState(this.table.map);
  }

  /** exportState() of some exporters only (a decode worker's news: what changed). */
  exportStateOf(addresses: Iterable<string>): DecoderState {
    const m = new Map<string, ExporterState>();
    for (const a of addresses) {
      const ex = this.table.map.get(a);
      if (ex) m.set(a, ex);
    }
    return exportState(m);
  }

  /** The same JSON as exportState(), one exporter per chunk (for the chunked state writer). */
  exportStateChunks(): Generator<string> {
    return stateChunks(this.table.map);
  }

  /** Load persisted templates/rates (validated; bad entries are skipped). Returns templates loaded. */
  importState(state: unknown): number {
    return importState(state, { exporter: (a) => this.table.get(a), store: this.store });
  }

  /** Restore what the template store saved (a file back end), if anything. Returns templates loaded. */
  restore(): number {
    const saved = this.store.load();
    return saved ? this.importState(saved) : 0;
  }
}
