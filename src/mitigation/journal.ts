/**
 * Append-only journal of active mitigations in the state dir.
 *
 * Files: `mitigations.snapshot` (the state at the last compaction) and `mitigations.journal`
 * (every change since). Each line is `<crc32 hex> <json>\n`; a line whose checksum or JSON
 * does not match is corrupt (a torn write at the tail after a crash, or damage) and is
 * skipped, reported and counted, while every intact line before and after it still counts.
 *
 * Durability: append() resolves only after the bytes are written and fdatasync'd, so a
 * caller that announces after `await append()` never announces something a crash forgets.
 * Concurrent appends are group-committed (one write + one fsync for a batch).
 *
 * Compaction writes the whole state to a temp file, fsyncs it, renames it over the
 * snapshot, fsyncs the directory, then replaces the journal with an empty one the same
 * way. Replay is idempotent (adds keyed by uuid), so a crash between the two renames,
 * which leaves an old journal next to a new snapshot, still yields the right state.
 *
 * A mitigation's cause is typed in memory (cause.ts) and written as its text, the format
 * every earlier version wrote and reads: a journal survives an upgrade and a downgrade.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { causeText, parseCause, type MitigationCause } from './cause.js';
import type { Mitigation } from './types.js';
import { logger } from '../log.js';

const log = logger.child({ module: 'journal' });

export type JournalEntry =
  | { readonly op: 'add'; readonly m: Mitigation }
  | { readonly op: 'remove'; readonly uuid: string; readonly reason: string; readonly at: number }
  | { readonly op: 'update'; readonly uuid: string; readonly expires_at: number | null; readonly at: number };

export interface JournalStats {
  appends: number;
  fsyncs: number;
  compactions: number;
  /** Lines skipped at replay because their checksum or JSON was bad. */
  corrupt_lines: number;
  /** A last line without its newline (a write cut off by a crash). */
  torn_tail: boolean;
}

export interface ReplayResult {
  /** Mitigations alive at the end of the journal, in the order they were added. */
  readonly mitigations: Mitigation[];
  readonly corrupt_lines: number;
  readonly torn_tail: boolean;
  /** Where bad lines were found, "file:line" (for the log). */
  readonly problems: string[];
}

/** One checksummed line, `<crc32 hex> <json>\n` (also the attack history's record format). */
export function sealLine(value: unknown): string {
  const json = JSON.stringify(value);
  // zlib.crc32 of a string is the CRC of its UTF-8 bytes: no Buffer per line.
  const sum = crc32(json).toString(16).padStart(8, '0');
  return `${sum} ${json}\n`;
}

/** The parsed JSON of a sealed line (without its newline); undefined when corrupt. */
export function openLine(line: string): unknown {
  if (line.length < 10 || line[8] !== ' ') return undefined;
  const json = line.slice(9);
  if (crc32(json).toString(16).padStart(8, '0') !== line.slice(0, 8)) return undefined;
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

export function encodeLine(entry: JournalEntry | { op: 'snapshot'; at: number; count: number }): string {
  if (entry.op !== 'add') return sealLine(entry);
  // The cause as text, in its place among the keys (the line reads as it always did).
  return sealLine({ ...entry, m: { ...entry.m, cause: causeText(entry.m.cause) } });
}

/** A cause as a line holds it: its text (any version); anything else is kept as an unknown cause. */
function causeOnDisk(v: unknown): MitigationCause {
  return typeof v === 'string' ? parseCause(v) : { kind: 'other', text: String(v) };
}

/** Decode one line (without its newline); null when corrupt. */
export function decodeLine(line: string): JournalEntry | { op: 'snapshot' } | null {
  const v = openLine(line) as { op?: unknown; m?: unknown } | undefined;
  if (!v || typeof v !== 'object') return null;
  if (v.op === 'add') {
    const m = v.m as (Omit<Mitigation, 'cause'> & { cause?: unknown }) | undefined;
    if (!m || typeof m !== 'object') return v as JournalEntry;
    return { op: 'add', m: { ...m, cause: causeOnDisk(m.cause) } };
  }
  if (v.op === 'remove' || v.op === 'update' || v.op === 'snapshot') return v as JournalEntry;
  return null;
}

/** Apply the lines of one file to state; pure apart from the returned counts. */
export function applyText(
  text: string,
  state: Map<string, Mitigation>,
  fileName: string,
): { corrupt: number; torn: boolean; problems: string[] } {
  let corrupt = 0;
  let torn = false;
  const problems: string[] = [];
  const lines = text.split('\n');
  const last = lines.pop(); // '' when the file ends with a newline
  if (last !== undefined && last !== '') {
    torn = true;
    problems.push(`${fileName}:${lines.length + 1}: torn last line (${last.length} bytes, no newline)`);
  }
  lines.forEach((line, i) => {
    if (line === '') return;
    const e = decodeLine(line);
    if (!e) {
      corrupt++;
      problems.push(`${fileName}:${i + 1}: bad checksum or JSON, line skipped`);
      return;
    }
    if (e.op === 'add') {
      if (typeof e.m?.uuid === 'string') state.set(e.m.uuid, e.m);
    } else if (e.op === 'remove') state.delete(e.uuid);
    else if (e.op === 'update') {
      const m = state.get(e.uuid);
      if (m) state.set(e.uuid, { ...m, expires_at: e.expires_at });
    }
  });
  if (torn) {
    // A torn line may still be a complete entry whose newline was lost; it was never
    // acknowledged (the ack follows the fsync of the whole line), so it is dropped.
  }
  return { corrupt, torn, problems };
}

async function readIfExists(path: string): Promise<string> {
  try {
    return await fsp.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw e;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  let h: fsp.FileHandle | undefined;
  try {
    h = await fsp.open(dir, 'r');
    await h.sync();
  } catch (e) {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
    if ((e as NodeJS.ErrnoException).code !== 'EINVAL' && (e as NodeJS.ErrnoException).code !== 'EISDIR')
      throw e;
  } finally {
    await h?.close();
  }
}

export interface JournalOptions {
  /** Compact when the journal holds more than max(compactMinLines, 4 × active) lines. */
  readonly compactMinLines?: number;
}

export class Journal {
  readonly dir: string;
  readonly journalPath: string;
  readonly snapshotPath: string;
  readonly stats: JournalStats = {
    appends: 0,
    fsyncs: 0,
    compactions: 0,
    corrupt_lines: 0,
    torn_tail: false,
  };
  private fh: fsp.FileHandle | null = null;
  private readonly state = new Map<string, Mitigation>();
  private lines = 0;
  /** Appends waiting for the next write: each is one or more lines that share one promise. */
  private pending: {
    lines: string;
    entries: readonly JournalEntry[];
    resolve: () => void;
    reject: (e: Error) => void;
  }[] = [];
  private flushing: Promise<void> | null = null;
  private compacting: Promise<void> | null = null;
  private readonly compactMinLines: number;
  private closed = false;

  private constructor(dir: string, opts: JournalOptions) {
    this.dir = dir;
    this.journalPath = join(dir, 'mitigations.journal');
    this.snapshotPath = join(dir, 'mitigations.snapshot');
    this.compactMinLines = opts.compactMinLines ?? 1000;
  }

  /** Read snapshot + journal without opening for writing (tests, `check`). */
  static async replay(dir: string): Promise<ReplayResult> {
    const state = new Map<string, Mitigation>();
    const snap = applyText(
      await readIfExists(join(dir, 'mitigations.snapshot')),
      state,
      'mitigations.snapshot',
    );
    const jr = applyText(await readIfExists(join(dir, 'mitigations.journal')), state, 'mitigations.journal');
    return {
      mitigations: [...state.values()],
      corrupt_lines: snap.corrupt + jr.corrupt,
      torn_tail: snap.torn || jr.torn,
      problems: [...snap.problems, ...jr.problems],
    };
  }

  /**
   * Replay the state dir, then compact it (so a damaged journal is never appended to) and
   * open the journal for appending. A damaged journal is kept next to it for inspection.
   */
  static async open(
    dir: string,
    opts: JournalOptions = {},
  ): Promise<{ journal: Journal; replay: ReplayResult }> {
    await fsp.mkdir(dir, { recursive: true });
    const j = new Journal(dir, opts);
    const r = await Journal.replay(dir);
    for (const p of r.problems) log.warn(`state journal damage: ${join(dir, p)}`);
    if (r.corrupt_lines > 0 || r.torn_tail) {
      const keep = `${j.journalPath}.damaged-${Date.now()}`;
      await fsp.copyFile(j.journalPath, keep).catch(() => undefined);
      log.warn(
        `state journal: ${r.corrupt_lines} corrupt line(s)${r.torn_tail ? ' and a torn tail' : ''} skipped; ${r.mitigations.length} mitigation(s) recovered; damaged copy kept in ${keep}`,
      );
    }
    j.stats.corrupt_lines = r.corrupt_lines;
    j.stats.torn_tail = r.torn_tail;
    for (const m of r.mitigations) j.state.set(m.uuid, m);
    await j.rewrite();
    return { journal: j, replay: r };
  }

  /** Persist one change; resolves after it is on disk (fdatasync). */
  append(entry: JournalEntry): Promise<void> {
    return this.appendMany([entry]);
  }

  /**
   * Persist many changes with one promise (a bulk API call, a sweep): they are written and
   * fsync'd together, so they are on disk together or refused together.
   */
  appendMany(entries: readonly JournalEntry[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('state journal is closed'));
    if (entries.length === 0) return Promise.resolve();
    let lines = '';
    for (const e of entries) lines += encodeLine(e);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ lines, entries, resolve, reject });
      if (!this.flushing) this.flushing = this.flushLoop();
    });
  }

  /** Mitigations as the journal holds them. */
  active(): Mitigation[] {
    return [...this.state.values()];
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        if (this.compacting) await this.compacting;
        const batch = this.pending;
        this.pending = [];
        try {
          const fh = this.fh;
          if (!fh) throw new Error('state journal is not open');
          await fh.write(batch.length === 1 ? batch[0]!.lines : batch.map((b) => b.lines).join(''));
          await fh.datasync();
          this.stats.fsyncs++;
        } catch (e) {
          const err = new Error(`state journal write to ${this.journalPath} failed: ${(e as Error).message}`);
          for (const b of batch) b.reject(err);
          continue;
        }
        for (const b of batch) {
          for (const e of b.entries) this.applyEntry(e);
          this.stats.appends += b.entries.length;
          this.lines += b.entries.length;
          b.resolve();
        }
        if (this.lines > Math.max(this.compactMinLines, 4 * this.state.size)) await this.runCompaction();
      }
    } finally {
      this.flushing = null;
    }
  }

  private applyEntry(e: JournalEntry): void {
    if (e.op === 'add') this.state.set(e.m.uuid, e.m);
    else if (e.op === 'remove') this.state.delete(e.uuid);
    else {
      const m = this.state.get(e.uuid);
      if (m) this.state.set(e.uuid, { ...m, expires_at: e.expires_at });
    }
  }

  /** Write the state as a new snapshot and start an empty journal. */
  async compact(): Promise<void> {
    while (this.flushing) await this.flushing;
    return this.runCompaction();
  }

  private runCompaction(): Promise<void> {
    if (this.compacting) return this.compacting;
    this.compacting = (async () => {
      try {
        await this.rewrite();
        this.stats.compactions++;
      } finally {
        this.compacting = null;
      }
    })();
    return this.compacting;
  }

  private async rewrite(): Promise<void> {
    const snapTmp = `${this.snapshotPath}.tmp`;
    const items = [...this.state.values()];
    const body =
      encodeLine({ op: 'snapshot', at: Date.now(), count: items.length }) +
      items.map((m) => encodeLine({ op: 'add', m })).join('');
    await writeDurably(snapTmp, body);
    await fsp.rename(snapTmp, this.snapshotPath);
    await fsyncDir(this.dir);
    // New empty journal: replaces the old one atomically, so a crash here leaves either the
    // old journal (idempotent on top of the new snapshot) or the empty one.
    const jTmp = `${this.journalPath}.tmp`;
    await writeDurably(jTmp, '');
    await this.fh?.close();
    this.fh = null;
    await fsp.rename(jTmp, this.journalPath);
    await fsyncDir(this.dir);
    this.fh = await fsp.open(this.journalPath, 'a');
    this.lines = 0;
  }

  async close(): Promise<void> {
    if (this.flushing) await this.flushing;
    this.closed = true;
    await this.fh?.close();
    this.fh = null;
  }
}

async function writeDurably(path: string, body: string): Promise<void> {
  const h = await fsp.open(path, 'w');
  try {
    await h.write(body);
    await h.sync();
  } finally {
    await h.close();
  }
}
