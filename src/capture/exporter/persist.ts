/**
 * The persisted form of templates and learned rates (capture-templates.json in the state
 * dir), written and read through the template store (templates.ts).
 *
 * Loading validates with zod one level at a time, so one bad entry is skipped without losing
 * the rest: a file written by another version, or edited by hand, restores what is usable.
 * Restored state obeys today's capture.exporters and caps, like live data.
 */
import { z } from 'zod';
import type { TemplateSpec } from '../formats/template.js';
import { LIMITS } from '../limits.js';
import type { DomainState, ExporterState } from './exporter.js';
import { sane } from './rates.js';
import type { TemplateStore } from './templates.js';

/** Persisted form of templates and learned rates (state dir JSON). */
export interface DecoderState {
  version: 1;
  exporters: Record<string, PersistedExporter>;
}
interface PersistedExporter {
  nf9?: Record<string, PersistedDomain>;
  ipfix?: Record<string, PersistedDomain>;
}
interface PersistedDomain {
  templates: TemplateSpec[];
  samplers: Record<string, number>;
  rate: number;
}

/** Persisted form of one exporter, or undefined when it has nothing worth saving. */
function exporterState(ex: ExporterState): PersistedExporter | undefined {
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

export function exportState(exporters: ReadonlyMap<string, ExporterState>): DecoderState {
  const out: DecoderState = { version: 1, exporters: {} };
  for (const [addr, ex] of exporters) {
    const e = exporterState(ex);
    if (e) out.exporters[addr] = e;
  }
  return out;
}

/**
 * The same JSON as exportState(), one exporter per chunk, produced lazily: the state writer
 * (state-file.ts) pulls a chunk, writes it and yields to the event loop, so a large state
 * never stalls the API or the collector. Exporters added or removed while the walk runs are
 * taken or skipped as Map iteration does; the file is a cache either way.
 */
export function* stateChunks(exporters: ReadonlyMap<string, ExporterState>): Generator<string> {
  yield '{"version":1,"exporters":{';
  let first = true;
  for (const [addr, ex] of exporters) {
    const e = exporterState(ex);
    if (!e) continue;
    yield `${first ? '' : ','}${JSON.stringify(addr)}:${JSON.stringify(e)}`;
    first = false;
  }
  yield '}}';
}

const entries = z.record(z.string(), z.unknown());
const topSchema = z.object({ version: z.literal(1), exporters: entries });
const exporterSchema = z.object({ nf9: z.unknown().optional(), ipfix: z.unknown().optional() });
const domainSchema = z.object({
  rate: z.unknown().optional(),
  samplers: z.unknown().optional(),
  templates: z.unknown().optional(),
});
const templateSchema = z.object({
  id: z.number().int(),
  options: z.unknown().optional(),
  scopeCount: z.unknown().optional(),
  fields: z.array(z.number().int().min(0).max(0xffffffff)),
});
const rateSchema = z.number().refine((r) => sane(r) > 0);

/** Where restored state goes: the decoder's exporter table (admission applies) and its store. */
export interface RestoreTarget {
  /** The exporter for an address, created if admitted; undefined when refused. */
  exporter(address: string): ExporterState | undefined;
  readonly store: TemplateStore;
}

/** Load persisted templates/rates; bad entries are skipped. Returns templates loaded. */
export function importState(state: unknown, to: RestoreTarget): number {
  const top = topSchema.safeParse(state);
  if (!top.success) return 0;
  let n = 0;
  for (const [addr, raw] of Object.entries(top.data.exporters)) {
    const e = exporterSchema.safeParse(raw);
    if (!e.success) continue;
    // Restored state obeys today's capture.exporters: a source no longer listed (or a
    // spoofer's templates saved by an older version) does not come back.
    const ex = to.exporter(addr);
    if (!ex) continue;
    for (const kind of ['nf9', 'ipfix'] as const) {
      const doms = entries.safeParse(e.data[kind]);
      if (!doms.success) continue;
      for (const [id, rawDom] of Object.entries(doms.data)) {
        const domId = Number(id);
        const d = domainSchema.safeParse(rawDom);
        if (!d.success || !Number.isInteger(domId) || domId < 0 || domId > 0xffffffff) continue;
        const dom = ex.domain(kind === 'ipfix', domId, true);
        if (!dom) continue;
        n += restoreDomain(ex, dom, kind, d.data, to.store);
      }
    }
  }
  return n;
}

function restoreDomain(
  ex: ExporterState,
  dom: DomainState,
  kind: 'nf9' | 'ipfix',
  d: z.infer<typeof domainSchema>,
  store: TemplateStore,
): number {
  const rate = rateSchema.safeParse(d.rate);
  if (rate.success) dom.rate = rate.data;
  const samplers = entries.safeParse(d.samplers);
  if (samplers.success) {
    for (const [sid, r] of Object.entries(samplers.data)) {
      if (rateSchema.safeParse(r).success && dom.samplers.size < LIMITS.MAX_SAMPLERS_PER_DOMAIN)
        dom.samplers.set(Number(sid), r as number);
    }
  }
  for (const [sid, r] of dom.samplers) ex.stats.sampling[`${kind}/${dom.domain}/${sid}`] = r;
  if (dom.rate) ex.stats.sampling[`${kind}/${dom.domain}/*`] = dom.rate;
  if (!Array.isArray(d.templates)) return 0;
  let n = 0;
  for (const raw of d.templates) {
    const t = templateSchema.safeParse(raw);
    if (!t.success) continue;
    const spec: TemplateSpec = {
      id: t.data.id,
      options: !!t.data.options,
      scopeCount: Number(t.data.scopeCount) || 0,
      fields: t.data.fields,
    };
    try {
      const r = store.put(ex, dom, spec);
      if (r === 'added' || r === 'replaced') n++;
    } catch {
      /* an impossible template in the file is skipped */
    }
  }
  ex.stats.templates = ex.templateCount;
  return n;
}
