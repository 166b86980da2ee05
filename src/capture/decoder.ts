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
  constructor(readonly address: string) {
    this.stats = newExporterStats(address);
  }

  domain(ipfix: boolean, id: number, create: boolean): DomainState | undefined {
    const m = ipfix ? this.ipfix : this.nf9;
    let d = m.get(id);
    if (!d && create) {
      if (m.size >= LIMITS.MAX_DOMAINS_PER_EXPORTER) return undefined;
      d = { domain: id, templates: new Map(), samplers: new Map(), rate: 0, nextSeq: -1, lastSeq: -1, postSeq: false };
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

  constructor(
    readonly sink: FlowSink,
    opts: DecoderOptions = {},
  ) {
    this.defaultRate = sane(opts.defaultSamplingRate ?? 1) || 1;
    this.overrides = opts.samplingOverrides ?? {};
    this.onStateChange = opts.onStateChange;
  }

  setSampling(defaultRate: number, overrides: Readonly<Record<string, number>>): void {
    this.defaultRate = sane(defaultRate) || 1;
    this.overrides = overrides;
    for (const ex of this.exporters.values()) {
      ex.override = sane(overrides[ex.address] ?? 0);
      ex.agentOverride = sane(overrides[ex.agentText] ?? 0) || ex.override;
    }
  }

  /** @internal configured override for an address, 0 = none. */
  overrideFor(address: string): number {
    return sane(this.overrides[address] ?? 0);
  }

  /** @internal */
  exporter(address: string): ExporterState | undefined {
    let ex = this.exporters.get(address);
    if (!ex) {
      if (this.exporters.size >= LIMITS.MAX_EXPORTERS) {
        this.refusedExporters++;
        return undefined;
      }
      ex = new ExporterState(address);
      ex.override = sane(this.overrides[address] ?? 0);
      this.exporters.set(address, ex);
    }
    return ex;
  }

  /**
   * Decode one UDP payload from `exporter` (its source address as canonical text) received
   * at timeMs. Never throws. Returns the format decoded, or null when it was not one.
   */
  decode(data: Uint8Array, exporter: string, timeMs: number): FlowFormat | null {
    const ex = this.exporter(exporter);
    if (!ex) return null;
    const st = ex.stats;
    st.datagrams++;
    st.bytes += data.length;
    st.lastSeenMs = timeMs;
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
        this.lastInternalError = e.message;
      }
    }
    return fmt;
  }

  /** Resolve the sampling rate for a record (see docs/README: override > record > sampler > domain > default). */
  rateFor(ex: ExporterState, dom: DomainState, samplerId: number, recordInterval: number): number {
    if (ex.override > 0) return ex.override;
    if (recordInterval > 0) return recordInterval;
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
    rate = sane(rate);
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
    if (old && old.options === spec.options && old.scopeCount === spec.scopeCount && sameFields(old.fields, spec.fields)) {
      return;
    }
    if (!old && ex.templateCount >= LIMITS.MAX_TEMPLATES_PER_EXPORTER) return;
    const tpl = compileTemplate(spec, ipfix);
    dom.templates.set(spec.id, tpl);
    if (!old) ex.templateCount++;
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
          changed = true;
        }
      }
    } else if (dom.templates.delete(id)) {
      ex.templateCount--;
      changed = true;
    }
    ex.stats.templates = ex.templateCount;
    if (changed) this.onStateChange?.();
  }

  /** @internal hold a data set whose template is unknown (copied; bounded). */
  hold(ex: ExporterState, ipfix: boolean, domain: number, templateId: number, set: Uint8Array, timeMs: number): void {
    ex.stats.unknownTemplate++;
    this.expirePending(timeMs);
    if (set.length > LIMITS.PENDING_MAX_BYTES / 4) {
      ex.stats.pendingDropped++;
      return;
    }
    while (this.pending.length >= LIMITS.PENDING_MAX_SETS || this.pendingBytes + set.length > LIMITS.PENDING_MAX_BYTES) {
      const old = this.pending.shift()!;
      this.pendingBytes -= old.data.length;
      old.ex.stats.pendingDropped++;
    }
    this.pending.push({ ex, ipfix, domain, templateId, data: Uint8Array.from(set), uptime: this.hdrUptime, secs: this.hdrSecs, timeMs });
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

  exportState(): DecoderState {
    const out: DecoderState = { version: 1, exporters: {} };
    const dump = (m: Map<number, DomainState>) => {
      const r: Record<string, PersistedDomain> = {};
      for (const [id, d] of m) {
        if (!d.templates.size && !d.samplers.size && !d.rate) continue;
        r[id] = {
          templates: [...d.templates.values()].map((t) => ({ id: t.id, options: t.options, scopeCount: t.scopeCount, fields: [...t.fields] })),
          samplers: Object.fromEntries(d.samplers),
          rate: d.rate,
        };
      }
      return Object.keys(r).length ? r : undefined;
    };
    for (const [addr, ex] of this.exporters) {
      const nf9 = dump(ex.nf9);
      const ipfix = dump(ex.ipfix);
      if (nf9 || ipfix) out.exporters[addr] = { ...(nf9 ? { nf9 } : {}), ...(ipfix ? { ipfix } : {}) };
    }
    return out;
  }

  /** Load persisted templates/rates; bad entries are skipped. Returns templates loaded. */
  importState(state: unknown): number {
    let n = 0;
    if (!isObj(state) || state.version !== 1 || !isObj(state.exporters)) return 0;
    for (const [addr, e] of Object.entries(state.exporters)) {
      if (!isObj(e)) continue;
      const ex = this.exporter(addr);
      if (!ex) break;
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
              if (typeof r === 'number' && sane(r) > 0 && dom.samplers.size < LIMITS.MAX_SAMPLERS_PER_DOMAIN) dom.samplers.set(Number(sid), sane(r));
            }
          }
          for (const [sid, r] of dom.samplers) ex.stats.sampling[`${kind}/${domId}/${sid}`] = r;
          if (dom.rate) ex.stats.sampling[`${kind}/${domId}/*`] = dom.rate;
          if (!Array.isArray(d.templates)) continue;
          for (const t of d.templates) {
            if (!isObj(t) || !Number.isInteger(t.id) || !Array.isArray(t.fields)) continue;
            if (!t.fields.every((x: unknown) => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 0xffffffff)) continue;
            try {
              const spec: TemplateSpec = { id: t.id as number, options: !!t.options, scopeCount: Number(t.scopeCount) || 0, fields: t.fields as number[] };
              if (!dom.templates.has(spec.id) && ex.templateCount >= LIMITS.MAX_TEMPLATES_PER_EXPORTER) continue;
              if (!dom.templates.has(spec.id)) ex.templateCount++;
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
