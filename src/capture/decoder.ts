/**
 * FlowDecoder: one entry point for every exporter datagram (NetFlow v5/v9, IPFIX, sFlow v5),
 * the format detected by version. It owns the per-exporter state (templates, learned
 * sampling, sequence tracking, statistics), the bounded buffer of data that arrived before
 * its template, and the one FlowRecord the hot path refills for every record.
 *
 * decode() never throws: a WireError or any other failure in a datagram counts it as
 * malformed for its exporter, records already delivered stay delivered, and the next
 * datagram decodes normally.
 */
import { newFlowRecord, type FlowSink, type ReusableFlowRecord } from './flow.js';
import { Allowlist, RecordGuard, type AdmitOptions, type ExporterPolicy } from './admit.js';
import { LIMITS } from './limits.js';
import { newExporterStats, type ExporterStats, type FlowFormat } from './stats.js';
import { compileTemplate, TemplateError, type Template, type TemplateSpec } from './template.js';
import { WireError } from '../wire/reader.js';
import { decodeNetflow5 } from './netflow5.js';
import { decodeNetflow9, decodeIpfix, decodeDataSet } from './netflow9.js';
import { decodeSflow } from './sflow.js';

export interface DomainState {
  readonly domain: number;
  readonly templates: Map<number, Template>;
  /** Learned rate per sampler id (IE 48 / 302). */
  readonly samplers: Map<number, number>;
  /** Rate learned without a sampler id (IE 34, 305/306, ...), 0 = none. */
  rate: number;
  /** Next expected sequence number, -1 = unknown. */
  nextSeq: number;
  /** IPFIX: last sequence seen (-1 = unknown), and whether the exporter counts the current message's records. */
  lastSeq: number;
  postSeq: boolean;
}

export class ExporterState {
  readonly stats: ExporterStats;
  readonly nf9 = new Map<number, DomainState>();
  readonly ipfix = new Map<number, DomainState>();
  /** Sequence expectations for v5 (engine) and sFlow (agent/sub-agent). */
  readonly seq = new Map<string | number, number>();
  templateCount = 0;
  /** Operator override (0 = none): beats any learned or sent rate. */
  override = 0;
  /** sFlow agent interning: last agent seen from this source. */
  agent4 = -1;
  agent6: Uint8Array | null = null;
  agentText = '';
  agentOverride = 0;
  /** sFlow: the rate last put in stats.sampling for the current agent (written on change only). */
  sflowRate = 0;
  /** records/s accounting of the record guard (admit.ts). */
  rpsSecond = -1;
  rpsCount = 0;
  /** Last datagram (or restore) time: what eviction looks at. */
  activeMs = 0;
  constructor(
    readonly address: string,
    public policy: ExporterPolicy,
  ) {
    this.stats = newExporterStats(address);
  }

  domain(ipfix: boolean, id: number, create: boolean): DomainState | undefined {
    const m = ipfix ? this.ipfix : this.nf9;
    let d = m.get(id);
    if (!d && create) {
      if (m.size >= LIMITS.MAX_DOMAINS_PER_EXPORTER) return undefined;
      d = {
        domain: id,
        templates: new Map(),
        samplers: new Map(),
        rate: 0,
        nextSeq: -1,
        lastSeq: -1,
        postSeq: false,
      };
      m.set(id, d);
    }
    return d;
  }

  markFormat(f: FlowFormat): void {
    if (!this.stats.formats.includes(f)) this.stats.formats.push(f);
  }
}

/** Data set held until its template arrives. */
interface Pending {
  ex: ExporterState;
  ipfix: boolean;
  domain: number;
  templateId: number;
  data: Uint8Array;
  uptime: number;
  secs: number;
  timeMs: number;
}

export interface DecoderOptions {
  /** Rate used for an exporter until one is learned (default 1). */
  defaultSamplingRate?: number;
  /** Per exporter address (UDP source or sFlow agent): always wins. */
  samplingOverrides?: Readonly<Record<string, number>>;
  /** Called when templates or learned rates change (persistence hooks in here). */
  onStateChange?: () => void;
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

/** Persisted form of templates and learned rates (state dir JSON). */
export interface DecoderState {
  version: 1;
  exporters: Record<
    string,
    {
      nf9?: Record<string, PersistedDomain>;
      ipfix?: Record<string, PersistedDomain>;
    }
  >;
}
interface PersistedDomain {
  templates: TemplateSpec[];
  samplers: Record<string, number>;
  rate: number;
}

export class FlowDecoder {
  /** @internal the one record refilled for every flow (hot path: no allocation). */
  readonly rec: ReusableFlowRecord = newFlowRecord();
  /** @internal every decoder delivers through this: the record bound, then the real sink. */
  readonly sink: FlowSink;
  private readonly guard: RecordGuard;
  private allow: Allowlist;
  private readonly onUnknownSource: ((address: string) => void) | undefined;
  /** Templates held over all exporters (LIMITS.MAX_TEMPLATES_TOTAL). */
  templateTotal = 0;
  private lastEvictSweep = -Infinity;
  private lastIdleSweep = 0;
  private readonly c = {
    unknownSource: 0,
    evictedExporter: 0,
    templateRefused: 0,
    badSamplingRate: 0,
    internalError: 0,
  };
  /** @internal */
  readonly exporters = new Map<string, ExporterState>();
  /** @internal header context of the datagram being decoded (v9 uptime / unix secs, IPFIX export time). */
  hdrUptime = 0;
  hdrSecs = 0;
  defaultRate: number;
  private overrides: Readonly<Record<string, number>>;
  private readonly pending: Pending[] = [];
  private pendingBytes = 0;
  private readonly onStateChange: (() => void) | undefined;
  /** Message of the last internal error (see ExporterStats.internalErrors). */
  lastInternalError = '';
  /** Datagrams refused because the exporter table is full. */
  refusedExporters = 0;

  constructor(sink: FlowSink, opts: DecoderOptions = {}) {
    this.guard = new RecordGuard(sink);
    this.sink = this.guard;
    this.allow = new Allowlist(opts.admit);
    this.onUnknownSource = opts.onUnknownSource;
    this.defaultRate = sane(opts.defaultSamplingRate ?? 1) || 1;
    this.overrides = opts.samplingOverrides ?? {};
    this.onStateChange = opts.onStateChange;
  }

  setSampling(defaultRate: number, overrides: Readonly<Record<string, number>>): void {
    this.defaultRate = sane(defaultRate) || 1;
    this.overrides = overrides;
    for (const ex of this.exporters.values()) {
      ex.override = this.operatorRate(ex.address, ex.policy);
      ex.agentOverride = sane(overrides[ex.agentText] ?? 0) || ex.override;
    }
  }

  /**
   * New capture.exporters / bounds (config reload): exporters no longer admitted are
   * forgotten at once, the others take their new policy.
   */
  setAdmission(admit: AdmitOptions): void {
    this.allow = new Allowlist(admit);
    for (const [addr, ex] of this.exporters) {
      const p = this.allow.lookup(addr);
      if (p === null) this.evict(addr, ex);
      else {
        ex.policy = p;
        ex.override = this.operatorRate(addr, p);
        ex.agentOverride = sane(this.overrides[ex.agentText] ?? 0) || ex.override;
      }
    }
  }

  /** sampling_overrides for the address, else the exporter entry's sampling_rate, else 0. */
  private operatorRate(address: string, p: ExporterPolicy): number {
    return sane(this.overrides[address] ?? 0) || sane(p.samplingRate);
  }

  /**
   * The one check every sampling rate read from the wire goes through (v5 header, sFlow
   * sample, options data, per-record IE 34/50/305): a usable rate, or 0 (counted).
   */
  checkRate(r: number): number {
    const s = sane(r);
    if (s === 0 && r !== 0) this.c.badSamplingRate++;
    return s;
  }

  counts(): DecoderCounts {
    return {
      unknownSource: this.c.unknownSource,
      refusedExporter: this.refusedExporters,
      evictedExporter: this.c.evictedExporter,
      templateRefused: this.c.templateRefused,
      badSamplingRate: this.c.badSamplingRate,
      recordOutOfBounds: this.guard.counts.outOfBounds,
      recordRateLimited: this.guard.counts.rateLimited,
      internalError: this.c.internalError,
    };
  }

  /** The last record the bound dropped, as text ('' = none yet). */
  get lastOutOfBounds(): string {
    return this.guard.lastOutOfBounds;
  }

  /** @internal configured override for an address, 0 = none. */
  overrideFor(address: string): number {
    return sane(this.overrides[address] ?? 0);
  }

  /** @internal */
  exporter(address: string, now = Date.now()): ExporterState | undefined {
    let ex = this.exporters.get(address);
    if (!ex) {
      const p = this.allow.lookup(address);
      if (p === null) {
        this.c.unknownSource++;
        this.onUnknownSource?.(address);
        return undefined;
      }
      if (this.exporters.size >= LIMITS.MAX_EXPORTERS && !this.makeRoom(now)) {
        this.refusedExporters++;
        return undefined;
      }
      ex = new ExporterState(address, p);
      ex.override = this.operatorRate(address, p);
      ex.activeMs = now;
      this.exporters.set(address, ex);
    }
    return ex;
  }

  /**
   * A full table: forget the least recently seen exporters not in capture.exporters (a
   * listed one is never evicted for others). At most one sweep per EVICT_SWEEP_MS, so a
   * flood of new sources cannot make every datagram walk the table.
   */
  private makeRoom(now: number): boolean {
    if (now - this.lastEvictSweep < LIMITS.EVICT_SWEEP_MS) return false;
    this.lastEvictSweep = now;
    const seen: number[] = [];
    for (const ex of this.exporters.values()) if (!ex.policy.listed) seen.push(ex.activeMs);
    if (seen.length === 0) return false;
    const sorted = Float64Array.from(seen).sort();
    const k = Math.min(sorted.length, Math.max(1, Math.floor(LIMITS.MAX_EXPORTERS * LIMITS.EVICT_FRACTION)));
    const cut = sorted[k - 1]!;
    let n = 0;
    for (const [addr, ex] of this.exporters) {
      if (n >= k) break;
      if (!ex.policy.listed && ex.activeMs <= cut) {
        this.evict(addr, ex);
        n++;
      }
    }
    return this.exporters.size < LIMITS.MAX_EXPORTERS;
  }

  /** Forget unlisted exporters silent for EXPORTER_IDLE_MS. */
  private sweepIdle(now: number): void {
    this.lastIdleSweep = now;
    for (const [addr, ex] of this.exporters) {
      if (!ex.policy.listed && now - ex.activeMs > LIMITS.EXPORTER_IDLE_MS) this.evict(addr, ex);
    }
  }

  private evict(addr: string, ex: ExporterState): void {
    this.exporters.delete(addr);
    this.templateTotal -= ex.templateCount;
    this.c.evictedExporter++;
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const p = this.pending[i]!;
      if (p.ex !== ex) continue;
      this.pending.splice(i, 1);
      this.pendingBytes -= p.data.length;
    }
    if (ex.templateCount > 0) this.onStateChange?.();
  }

  /**
   * Decode one UDP payload from `exporter` (its source address as canonical text) received
   * at timeMs. Never throws. Returns the format decoded, or null when it was not one.
   */
  decode(data: Uint8Array, exporter: string, timeMs: number): FlowFormat | null {
    // Per datagram: one Map lookup for a known exporter; the allowlist is asked only for a
    // new source (and answers repeated unknown ones from its cache).
    const ex = this.exporters.get(exporter) ?? this.exporter(exporter, timeMs);
    if (!ex) return null;
    if (timeMs - this.lastIdleSweep > 10_000) this.sweepIdle(timeMs);
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
        decodeNetflow5(this, ex, data, timeMs);
      } else if (v16 === 9) {
        fmt = 'nf9';
        decodeNetflow9(this, ex, data, timeMs);
      } else if (v16 === 10) {
        fmt = 'ipfix';
        decodeIpfix(this, ex, data, timeMs);
      } else if (v16 === 0 && data[2] === 0 && data[3] === 5) {
        fmt = 'sflow';
        decodeSflow(this, ex, data, timeMs);
      } else throw new WireError(`unknown version ${v16}`);
      ex.markFormat(fmt);
    } catch (e) {
      // Wire input never escapes as an exception: bad input (WireError, TemplateError) is
      // counted as malformed; anything else is a bug or a throwing sink, counted apart.
      if (e instanceof WireError || e instanceof TemplateError || !(e instanceof Error)) st.malformed++;
      else {
        st.internalErrors++;
        this.c.internalError++;
        this.lastInternalError = e.message;
      }
    }
    return fmt;
  }

  /** Resolve the sampling rate for a record (see docs/README: override > record > sampler > domain > default). */
  rateFor(ex: ExporterState, dom: DomainState, samplerId: number, recordInterval: number): number {
    if (ex.override > 0) return ex.override;
    if (recordInterval !== 0) {
      // IE 34/50/305 in the record itself: the same one check as every other rate.
      const r = this.checkRate(recordInterval);
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

  /** @internal learned from options data. */
  learnRate(ex: ExporterState, dom: DomainState, samplerId: number, rate: number): void {
    rate = this.checkRate(rate);
    if (rate <= 0) return;
    const fmt = dom === ex.ipfix.get(dom.domain) ? 'ipfix' : 'nf9';
    if (samplerId >= 0) {
      if (dom.samplers.get(samplerId) === rate) return;
      if (!dom.samplers.has(samplerId) && dom.samplers.size >= LIMITS.MAX_SAMPLERS_PER_DOMAIN) return;
      dom.samplers.set(samplerId, rate);
      ex.stats.sampling[`${fmt}/${dom.domain}/${samplerId}`] = rate;
    } else {
      if (dom.rate === rate) return;
      dom.rate = rate;
      ex.stats.sampling[`${fmt}/${dom.domain}/*`] = rate;
    }
    this.onStateChange?.();
  }

  /** @internal add or replace a template; decodes any data held for it. */
  addTemplate(ex: ExporterState, ipfix: boolean, dom: DomainState, spec: TemplateSpec): void {
    const old = dom.templates.get(spec.id);
    if (
      old &&
      old.options === spec.options &&
      old.scopeCount === spec.scopeCount &&
      sameFields(old.fields, spec.fields)
    ) {
      return;
    }
    if (
      !old &&
      (ex.templateCount >= ex.policy.maxTemplates || this.templateTotal >= LIMITS.MAX_TEMPLATES_TOTAL)
    ) {
      ex.stats.templatesRefused++;
      this.c.templateRefused++;
      return;
    }
    const tpl = compileTemplate(spec, ipfix);
    dom.templates.set(spec.id, tpl);
    if (!old) {
      ex.templateCount++;
      this.templateTotal++;
    }
    ex.stats.templates = ex.templateCount;
    this.onStateChange?.();
    if (this.pending.length) this.flushPending(ex, ipfix, dom, tpl);
  }

  /** @internal IPFIX withdrawal (RFC 7011 §8.1); id === setId withdraws all of that kind. */
  withdrawTemplate(ex: ExporterState, dom: DomainState, id: number, options: boolean, all: boolean): void {
    let changed = false;
    if (all) {
      for (const [tid, t] of dom.templates) {
        if (t.options === options) {
          dom.templates.delete(tid);
          ex.templateCount--;
          this.templateTotal--;
          changed = true;
        }
      }
    } else if (dom.templates.delete(id)) {
      ex.templateCount--;
      this.templateTotal--;
      changed = true;
    }
    ex.stats.templates = ex.templateCount;
    if (changed) this.onStateChange?.();
  }

  /** @internal hold a data set whose template is unknown (copied; bounded). */
  hold(
    ex: ExporterState,
    ipfix: boolean,
    domain: number,
    templateId: number,
    set: Uint8Array,
    timeMs: number,
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
    this.pending.push({
      ex,
      ipfix,
      domain,
      templateId,
      data: Uint8Array.from(set),
      uptime: this.hdrUptime,
      secs: this.hdrSecs,
      timeMs,
    });
    this.pendingBytes += set.length;
  }

  private expirePending(now: number): void {
    while (this.pending.length && now - this.pending[0]!.timeMs > LIMITS.PENDING_MAX_AGE_MS) {
      const old = this.pending.shift()!;
      this.pendingBytes -= old.data.length;
      old.ex.stats.pendingDropped++;
    }
  }

  private flushPending(ex: ExporterState, ipfix: boolean, dom: DomainState, tpl: Template): void {
    const saveUp = this.hdrUptime;
    const saveSecs = this.hdrSecs;
    for (let i = 0; i < this.pending.length; ) {
      const p = this.pending[i]!;
      if (p.ex !== ex || p.ipfix !== ipfix || p.domain !== dom.domain || p.templateId !== tpl.id) {
        i++;
        continue;
      }
      this.pending.splice(i, 1);
      this.pendingBytes -= p.data.length;
      this.hdrUptime = p.uptime;
      this.hdrSecs = p.secs;
      try {
        decodeDataSet(this, ex, dom, tpl, p.data, 0, p.data.length, p.timeMs);
        ex.stats.pendingDecoded++;
      } catch (e) {
        if (e instanceof WireError) ex.stats.malformed++;
        else throw e;
      }
    }
    this.hdrUptime = saveUp;
    this.hdrSecs = saveSecs;
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
    return [...this.exporters.values()].map((e) => ({
      ...e.stats,
      formats: [...e.stats.formats],
      agents: [...e.stats.agents],
      sampling: { ...e.stats.sampling },
    }));
  }

  /** Persisted form of one exporter, or undefined when it has nothing worth saving. */
  private exporterState(ex: ExporterState): DecoderState['exporters'][string] | undefined {
    const dump = (m: Map<number, DomainState>) => {
      const r: Record<string, PersistedDomain> = {};
      for (const [id, d] of m) {
        if (!d.templates.size && !d.samplers.size && !d.rate) continue;
        r[id] = {
          templates: [...d.templates.values()].map((t) => ({
            id: t.id,
            options: t.options,
            scopeCount: t.scopeCount,
            fields: [...t.fields],
          })),
          samplers: Object.fromEntries(d.samplers),
          rate: d.rate,
        };
      }
      return Object.keys(r).length ? r : undefined;
    };
    const nf9 = dump(ex.nf9);
    const ipfix = dump(ex.ipfix);
    return nf9 || ipfix ? { ...(nf9 ? { nf9 } : {}), ...(ipfix ? { ipfix } : {}) } : undefined;
  }

  exportState(): DecoderState {
    const out: DecoderState = { version: 1, exporters: {} };
    for (const [addr, ex] of this.exporters) {
      const e = this.exporterState(ex);
      if (e) out.exporters[addr] = e;
    }
    return out;
  }

  /**
   * The same JSON as exportState(), one exporter per chunk, produced lazily: the state
   * writer (state.ts) pulls a chunk, writes it and yields to the event loop, so a large
   * state never stalls the API or the collector. Exporters added or removed while the
   * walk runs are taken or skipped as Map iteration does; the file is a cache either way.
   */
  *exportStateChunks(): Generator<string> {
    yield '{"version":1,"exporters":{';
    let first = true;
    for (const [addr, ex] of this.exporters) {
      const e = this.exporterState(ex);
      if (!e) continue;
      yield `${first ? '' : ','}${JSON.stringify(addr)}:${JSON.stringify(e)}`;
      first = false;
    }
    yield '}}';
  }

  /** Load persisted templates/rates; bad entries are skipped. Returns templates loaded. */
  importState(state: unknown): number {
    let n = 0;
    if (!isObj(state) || state.version !== 1 || !isObj(state.exporters)) return 0;
    for (const [addr, e] of Object.entries(state.exporters)) {
      if (!isObj(e)) continue;
      // Restored state obeys today's capture.exporters: a source no longer listed (or a
      // spoofer's templates saved by an older version) does not come back.
      const ex = this.exporter(addr);
      if (!ex) continue;
      for (const kind of ['nf9', 'ipfix'] as const) {
        const doms = e[kind];
        if (!isObj(doms)) continue;
        for (const [id, d] of Object.entries(doms)) {
          const domId = Number(id);
          if (!isObj(d) || !Number.isInteger(domId) || domId < 0 || domId > 0xffffffff) continue;
          const dom = ex.domain(kind === 'ipfix', domId, true);
          if (!dom) continue;
          if (typeof d.rate === 'number' && sane(d.rate) > 0) dom.rate = sane(d.rate);
          if (isObj(d.samplers)) {
            for (const [sid, r] of Object.entries(d.samplers)) {
              if (typeof r === 'number' && sane(r) > 0 && dom.samplers.size < LIMITS.MAX_SAMPLERS_PER_DOMAIN)
                dom.samplers.set(Number(sid), sane(r));
            }
          }
          for (const [sid, r] of dom.samplers) ex.stats.sampling[`${kind}/${domId}/${sid}`] = r;
          if (dom.rate) ex.stats.sampling[`${kind}/${domId}/*`] = dom.rate;
          if (!Array.isArray(d.templates)) continue;
          for (const t of d.templates) {
            if (!isObj(t) || !Number.isInteger(t.id) || !Array.isArray(t.fields)) continue;
            if (
              !t.fields.every(
                (x: unknown) => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 0xffffffff,
              )
            )
              continue;
            try {
              const spec: TemplateSpec = {
                id: t.id as number,
                options: !!t.options,
                scopeCount: Number(t.scopeCount) || 0,
                fields: t.fields as number[],
              };
              if (
                !dom.templates.has(spec.id) &&
                (ex.templateCount >= ex.policy.maxTemplates ||
                  this.templateTotal >= LIMITS.MAX_TEMPLATES_TOTAL)
              )
                continue;
              if (!dom.templates.has(spec.id)) {
                ex.templateCount++;
                this.templateTotal++;
              }
              dom.templates.set(spec.id, compileTemplate(spec, kind === 'ipfix'));
              n++;
            } catch {
              /* an impossible template in the file is skipped */
            }
          }
          ex.stats.templates = ex.templateCount;
        }
      }
    }
    return n;
  }
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** A usable sampling rate, or 0. */
export function sane(r: number): number {
  return Number.isFinite(r) && r >= 1 && r <= LIMITS.MAX_SAMPLING_RATE ? r : 0;
}

function sameFields(a: number[], b: number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** @internal sequence tracking shared by the formats: returns the gap (0 = in order). */
export function checkSeq(st: ExporterStats, expected: number, got: number): void {
  if (expected < 0) return;
  const gap = (got - expected) >>> 0;
  if (gap === 0) return;
  if (gap < LIMITS.SEQ_MAX_GAP) st.sequenceGaps += gap;
  else st.sequenceResets++;
}
