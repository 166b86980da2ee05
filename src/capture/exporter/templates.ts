/**
 * The template store (goflow2's decoders/netflow/templates.go pattern: one interface, back
 * ends behind it): NetFlow v9 / IPFIX templates per exporter and domain, under a cap per
 * exporter (capture.exporters max_templates, default LIMITS.MAX_TEMPLATES_PER_EXPORTER) and
 * one over all exporters (LIMITS.MAX_TEMPLATES_TOTAL).
 *
 * Two back ends: MemoryTemplateStore (decode files, tests) and FileTemplateStore, which also
 * persists templates and learned rates to the state dir (state-file.ts: debounced, atomic,
 * chunked writes) and loads them back at start (persist.ts validates what it reads), so a
 * restarted collector decodes data at once instead of dropping it until templates return.
 */
import { compileTemplate, type Template, type TemplateSpec } from '../formats/template.js';
import { LIMITS } from '../limits.js';
import type { DomainState, ExporterState } from './exporter.js';
import { StateFile } from './state-file.js';

/** What put() did. */
export type PutResult = 'added' | 'replaced' | 'same' | 'refused';

export interface TemplateStore {
  /** Templates held over all exporters. */
  readonly total: number;
  get(dom: DomainState, id: number): Template | undefined;
  /** Add or replace a template; a new one beyond a cap is refused (counted by the caller). */
  put(ex: ExporterState, dom: DomainState, spec: TemplateSpec): PutResult;
  /** Remove one template, or every template of a kind (options or data); true when any went. */
  withdraw(ex: ExporterState, dom: DomainState, id: number, options: boolean, all: boolean): boolean;
  /** An exporter is forgotten: its templates no longer count. */
  forget(ex: ExporterState): void;
  /** Templates or learned rates changed: persist `chunks()` (a back end without a file does nothing). */
  changed(): void;
  /** The saved state to restore at start, unvalidated (persist.ts checks it); null when none. */
  load(): unknown;
  /** Write what changed now; resolves when it is on disk (never rejects). */
  flush(): Promise<void>;
  /** Persistence counters (0 / null without a file). */
  readonly writes: number;
  readonly lastError: string | null;
  readonly path: string | null;
}

function sameFields(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class MemoryTemplateStore implements TemplateStore {
  total = 0;

  get(dom: DomainState, id: number): Template | undefined {
    return dom.templates.get(id);
  }

  put(ex: ExporterState, dom: DomainState, spec: TemplateSpec): PutResult {
    const old = dom.templates.get(spec.id);
    if (
      old &&
      old.options === spec.options &&
      old.scopeCount === spec.scopeCount &&
      sameFields(old.fields, spec.fields)
    )
      return 'same';
    if (!old && (ex.templateCount >= ex.policy.maxTemplates || this.total >= LIMITS.MAX_TEMPLATES_TOTAL))
      return 'refused';
    // Compiled before anything is counted: an impossible spec throws TemplateError.
    dom.templates.set(spec.id, compileTemplate(spec, dom.ipfix));
    if (!old) {
      ex.templateCount++;
      this.total++;
    }
    ex.stats.templates = ex.templateCount;
    return old ? 'replaced' : 'added';
  }

  withdraw(ex: ExporterState, dom: DomainState, id: number, options: boolean, all: boolean): boolean {
    let changed = false;
    if (all) {
      for (const [tid, t] of dom.templates) {
        if (t.options === options) {
          dom.templates.delete(tid);
          ex.templateCount--;
          this.total--;
          changed = true;
        }
      }
    } else if (dom.templates.delete(id)) {
      ex.templateCount--;
      this.total--;
      changed = true;
    }
    ex.stats.templates = ex.templateCount;
    return changed;
  }

  forget(ex: ExporterState): void {
    this.total -= ex.templateCount;
  }

  changed(): void {}

  load(): unknown {
    return null;
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  get writes(): number {
    return 0;
  }

  get lastError(): string | null {
    return null;
  }

  get path(): string | null {
    return null;
  }
}

/** In memory, and persisted to `dir` (capture-templates.json). */
export class FileTemplateStore extends MemoryTemplateStore {
  readonly file: StateFile;
  private chunks: (() => Iterable<string>) | null = null;

  constructor(dir: string, debounceMs = 1000) {
    super();
    this.file = new StateFile(dir, debounceMs);
  }

  /** What to write (the decoder's persisted form, persist.ts stateChunks). */
  source(chunks: () => Iterable<string>): void {
    this.chunks = chunks;
  }

  override changed(): void {
    if (this.chunks) this.file.schedule(this.chunks);
  }

  override load(): unknown {
    return this.file.load();
  }

  /** Write now even if nothing changed (tests, benchmarks), then anything pending. */
  save(): Promise<void> {
    this.changed();
    return this.file.flush();
  }

  override flush(): Promise<void> {
    return this.file.flush();
  }

  override get writes(): number {
    return this.file.writes;
  }

  override get lastError(): string | null {
    return this.file.lastError;
  }

  override get path(): string {
    return this.file.path;
  }
}
