/**
 * Attack history in the state dir: append-only segment files `history/attacks-<seq>.log`,
 * one checksummed line per snapshot of an attack (journal.ts's `<crc32> <json>` lines). The
 * newest snapshot of a uuid wins, so a record is updated by appending it again; nothing is
 * rewritten in place.
 *
 * Bounds (config `history`): segments roll at segment_bytes; the oldest segments are
 * deleted while the total is over max_bytes, and segments whose newest line is older than
 * max_age go too. Records older than max_age are never answered.
 *
 * Robustness: a torn tail (crash mid-write), a bad checksum or bad JSON skips that line and
 * counts it; an unreadable file is counted and skipped; write errors are counted and logged
 * once per run of failures. Nothing here throws into the daemon. A new run always opens a
 * fresh segment, so a torn tail never merges with the next line written.
 *
 * History is for operators, not safety: lines are written in batches, at most `flushMs`
 * (100 ms) after a change and at most `linesPerWrite` (200) per batch, without fsync: an
 * attack detected and banned a few ms later is one line, not two. kill -9 loses the changes
 * not yet written: those of the last 100 ms, or during a carpet bomb the backlog past 2,000
 * lines a second (breakwater_history_pending); the kernel keeps what was written, a power
 * loss may lose the last seconds. The mitigation journal is what is fsync'd before anything
 * is announced.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { logger } from '../log.js';
import { openLine, sealLine } from '../mitigation/journal.js';
import type { HistoryAttack, HistoryQuery } from './types.js';

const log = logger.child({ module: 'history' });

export interface HistoryOptions {
  /** The history directory (state_dir/history). */
  readonly dir: string;
  readonly maxBytes: number;
  readonly maxAgeMs: number;
  /** Roll to a new segment past this size (default max_bytes / 8, at least 64 KiB). */
  readonly segmentBytes?: number;
  /** Changes are written at most this long after they were put (default 100 ms). */
  readonly flushMs?: number;
  /** Records written per flush (default 200: 2,000 lines a second); the rest wait for the next. */
  readonly linesPerWrite?: number;
  readonly now?: () => number;
}

export interface HistoryStats {
  records: number;
  segments: number;
  bytes: number;
  /** Lines skipped at load: bad checksum or JSON. */
  corrupt_lines: number;
  /** Segments whose last line had no newline (a write cut off). */
  torn_tails: number;
  /** Files that could not be read at all. */
  unreadable_files: number;
  /** Segments deleted to keep within max_bytes / max_age. */
  pruned_segments: number;
  written_lines: number;
  write_errors: number;
  /** Records changed and not written yet (a backlog past linesPerWrite, during a carpet bomb). */
  pending: number;
}

interface Segment {
  readonly seq: number;
  readonly path: string;
  bytes: number;
  /** updated_at of the newest line in it (ms). */
  newest: number;
}

interface Entry {
  rec: HistoryAttack;
  seq: number;
}

const FILE_RE = /^attacks-(\d{8})\.log$/;
const segName = (seq: number) => `attacks-${String(seq).padStart(8, '0')}.log`;

/** Most bytes sealed per append (the event loop runs between appends). */
const WRITE_BATCH_BYTES = 4 * 1024 * 1024;

export class AttackHistory {
  readonly stats: HistoryStats = {
    records: 0,
    segments: 0,
    bytes: 0,
    corrupt_lines: 0,
    torn_tails: 0,
    unreadable_files: 0,
    pruned_segments: 0,
    written_lines: 0,
    write_errors: 0,
    pending: 0,
  };
  private readonly byUuid = new Map<string, Entry>();
  private readonly segments: Segment[] = [];
  private readonly now: () => number;
  private readonly segmentBytes: number;
  /**
   * Records put since the last write, by uuid: sealed when written, so an attack changed
   * several times in one turn (detected, banned, updated) costs one line, not three. A
   * carpet bomb of 65,536 hosts once queued ~200k sealed lines in one turn and their join
   * overran V8's string limit ("Invalid string length"), losing the batch and the stop.
   */
  private pending = new Map<string, HistoryAttack>();
  private flushing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private failing = false;
  private closed = false;

  private constructor(private readonly opts: HistoryOptions) {
    this.now = opts.now ?? Date.now;
    this.segmentBytes = opts.segmentBytes ?? Math.max(64 * 1024, Math.floor(opts.maxBytes / 8));
  }

  /** Load what is on disk (never throws for bad content; a missing dir is created). */
  static async open(opts: HistoryOptions): Promise<AttackHistory> {
    const h = new AttackHistory(opts);
    await h.load();
    return h;
  }

  private async load(): Promise<void> {
    const { dir } = this.opts;
    try {
      await fsp.mkdir(dir, { recursive: true });
    } catch (e) {
      log.error(
        `attack history: cannot create ${dir}: ${(e as Error).message}; history is not kept (writes are retried and counted)`,
      );
      this.failing = true;
      this.segments.push({ seq: 1, path: join(dir, segName(1)), bytes: 0, newest: 0 });
      return;
    }
    let names: string[] = [];
    try {
      names = (await fsp.readdir(dir)).filter((n) => FILE_RE.test(n)).sort();
    } catch (e) {
      log.error(`attack history: cannot list ${dir}: ${(e as Error).message}`);
    }
    for (const name of names) {
      const seq = Number(FILE_RE.exec(name)![1]);
      const path = join(dir, name);
      let text: string;
      try {
        text = await fsp.readFile(path, 'utf8');
      } catch (e) {
        this.stats.unreadable_files++;
        log.warn(`attack history: cannot read ${path}: ${(e as Error).message}; skipped`);
        continue;
      }
      const seg: Segment = { seq, path, bytes: Buffer.byteLength(text), newest: 0 };
      const lines = text.split('\n');
      const tail = lines.pop();
      if (tail) {
        this.stats.torn_tails++;
        log.warn(
          `attack history: ${path}:${lines.length + 1}: torn last line (${tail.length} bytes), skipped`,
        );
      }
      let bad = 0;
      for (const line of lines) {
        if (line === '') continue;
        const rec = openLine(line) as HistoryAttack | undefined;
        if (
          !rec ||
          typeof rec !== 'object' ||
          typeof rec.uuid !== 'string' ||
          typeof rec.updated_at !== 'number'
        ) {
          bad++;
          continue;
        }
        seg.newest = Math.max(seg.newest, rec.updated_at);
        this.index(rec, seq);
      }
      if (bad) {
        this.stats.corrupt_lines += bad;
        log.warn(`attack history: ${path}: ${bad} corrupt line(s) skipped`);
      }
      this.segments.push(seg);
    }
    const next = (this.segments.at(-1)?.seq ?? 0) + 1;
    this.segments.push({ seq: next, path: join(dir, segName(next)), bytes: 0, newest: 0 });
    await this.prune();
    this.refreshStats();
    if (this.byUuid.size)
      log.info(
        `attack history: ${this.byUuid.size} attack(s) from ${this.segments.length - 1} segment(s) in ${dir}`,
      );
  }

  private index(rec: HistoryAttack, seq: number): void {
    const old = this.byUuid.get(rec.uuid);
    if (!old || old.rec.updated_at <= rec.updated_at) this.byUuid.set(rec.uuid, { rec, seq });
  }

  /** Record the newest snapshot of an attack (written in the background). */
  put(rec: HistoryAttack): void {
    if (this.closed) return;
    const cur = this.segments.at(-1)!;
    this.index(rec, cur.seq);
    this.stats.records = this.byUuid.size;
    // Delete first: a record put again goes after the others (file order = change order).
    this.pending.delete(rec.uuid);
    this.pending.set(rec.uuid, rec);
    if (!this.timer) {
      this.timer = setTimeout(() => this.startWrite(), this.opts.flushMs ?? 100);
      this.timer.unref();
    }
  }

  get(uuid: string): HistoryAttack | undefined {
    const e = this.byUuid.get(uuid);
    return e && this.fresh(e.rec) ? e.rec : undefined;
  }

  /** Matching attacks, newest start first. An attack matches a time range when it overlaps it. */
  query(q: HistoryQuery = {}): HistoryAttack[] {
    const out: HistoryAttack[] = [];
    for (const { rec } of this.byUuid.values()) {
      if (!this.fresh(rec)) continue;
      if (q.ip !== undefined && rec.ip !== q.ip) continue;
      if (q.hostgroup !== undefined && rec.hostgroup !== q.hostgroup) continue;
      if (q.until !== undefined && rec.started_at > q.until) continue;
      if (q.since !== undefined && (rec.finished_at ?? Infinity) < q.since) continue;
      out.push(rec);
    }
    out.sort((a, b) => b.started_at - a.started_at || (a.uuid < b.uuid ? -1 : 1));
    return q.limit !== undefined ? out.slice(0, q.limit) : out;
  }

  private fresh(rec: HistoryAttack): boolean {
    return rec.updated_at >= this.now() - this.opts.maxAgeMs;
  }

  /** Wait until everything put so far is written. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.flushing = this.flushing.then(() => this.write(Infinity));
    await this.flushing;
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  private startWrite(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.flushing = this.flushing.then(() => this.write(this.opts.linesPerWrite ?? 200));
  }

  /**
   * Write up to `limit` pending records, oldest change first. Sealing a record is a
   * JSON.stringify of ~2 KB: a carpet bomb of 65,536 attacks writing every start and ban at
   * once took a third of the main thread while the socket needed it. The bound spreads that
   * over seconds; a record changed again meanwhile is written once, in its newest state.
   */
  private async write(limit: number): Promise<void> {
    if (this.pending.size === 0) return;
    const recs: HistoryAttack[] = [];
    for (const [uuid, rec] of this.pending) {
      if (recs.length >= limit) break;
      recs.push(rec);
      this.pending.delete(uuid);
    }
    this.stats.pending = this.pending.size;
    if (this.pending.size > 0 && !this.timer && !this.closed) {
      this.timer = setTimeout(() => this.startWrite(), this.opts.flushMs ?? 100);
      this.timer.unref();
    }
    // Sealed and appended in batches of at most WRITE_BATCH_BYTES: the event loop runs
    // between them and no string nears V8's limit, however many attacks changed at once.
    for (let i = 0; i < recs.length; ) {
      const lines: string[] = [];
      let bytes = 0;
      let newest = 0;
      for (; i < recs.length && bytes < WRITE_BATCH_BYTES; i++) {
        const line = sealLine(recs[i]!);
        lines.push(line);
        bytes += line.length;
        newest = Math.max(newest, recs[i]!.updated_at);
      }
      if (!(await this.append(lines, newest))) {
        this.stats.write_errors += recs.length - i; // the rest of this turn's records
        return;
      }
    }
    await this.prune();
    this.refreshStats();
  }

  /** Append sealed lines to the newest segment; false when the write failed (counted). */
  private async append(lines: readonly string[], newest: number): Promise<boolean> {
    const seg = this.segments.at(-1)!;
    const text = lines.join('');
    try {
      await fsp.appendFile(seg.path, text);
      seg.bytes += Buffer.byteLength(text);
      seg.newest = Math.max(seg.newest, newest);
      this.stats.written_lines += lines.length;
      if (this.failing) log.info(`attack history: writing to ${seg.path} again`);
      this.failing = false;
    } catch (e) {
      this.stats.write_errors += lines.length;
      if (!this.failing)
        log.error(
          `attack history: cannot write ${seg.path}: ${(e as Error).message}; ${lines.length} record(s) not kept (counted; later writes are retried)`,
        );
      this.failing = true;
      return false;
    }
    if (seg.bytes >= this.segmentBytes) {
      const seq = seg.seq + 1;
      this.segments.push({ seq, path: join(this.opts.dir, segName(seq)), bytes: 0, newest: 0 });
    }
    return true;
  }

  /** Delete whole old segments: over max_bytes (oldest first) or past max_age. */
  private async prune(): Promise<void> {
    const cutoff = this.now() - this.opts.maxAgeMs;
    let total = this.segments.reduce((s, x) => s + x.bytes, 0);
    while (this.segments.length > 1) {
      const old = this.segments[0]!;
      if (total <= this.opts.maxBytes && old.newest >= cutoff) break;
      this.segments.shift();
      total -= old.bytes;
      this.stats.pruned_segments++;
      for (const [uuid, e] of this.byUuid) if (e.seq === old.seq) this.byUuid.delete(uuid);
      await fsp.unlink(old.path).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') log.warn(`attack history: cannot delete ${old.path}: ${e.message}`);
      });
    }
  }

  private refreshStats(): void {
    this.stats.records = this.byUuid.size;
    this.stats.segments = this.segments.filter((s) => s.bytes > 0).length;
    this.stats.bytes = this.segments.reduce((s, x) => s + x.bytes, 0);
  }
}
