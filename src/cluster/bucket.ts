/**
 * The desired-mitigations bucket's I/O: the watch every controller keeps on it (feeding
 * its view, and through it its BGP speaker), the leader's writes (the manager's journal
 * sink: a batch's puts and deletes are sent together and awaited before the manager
 * commits, as the file journal is fsync'd), and the full read a new leader restores from.
 *
 * The bus going away changes nothing here: the view keeps the last set (so the speaker
 * keeps announcing it) until the watch, resumed, says otherwise.
 */
import type { KV, KvEntry } from 'nats';
import { logger } from '../log.js';
import type { JournalEntry } from '../mitigation/journal.js';
import type { JournalSink } from '../mitigation/manager.js';
import type { Mitigation } from '../mitigation/types.js';
import { type Change, decodeValue, DesiredView, encodeValue, keyOf, opsFor } from './desired.js';

const log = logger.child({ module: 'cluster' });

/** A watch that ended (not by stop()) is started again after this, with a full re-read. */
const REWATCH_MS = 1000;

export class DesiredBucket {
  readonly view = new DesiredView();
  private stopWatch: (() => void) | null = null;
  private stopped = false;
  readonly stats = { writes: 0, write_errors: 0, bad_values: 0, rewatches: 0 };

  constructor(
    private readonly kv: KV,
    /** The view changed (watch entries, this node's writes, a re-read). */
    private readonly onChanges: (changes: readonly Change[]) => void,
    /** Writes are refused unless this says the node leads (a deposed leader's manager). */
    private readonly mayWrite: () => boolean,
  ) {}

  /**
   * Start watching; resolves once the bucket's present content is in the view (or after
   * `waitMs`, when the bus is not there: the watch fills the view when it comes).
   */
  async start(waitMs: number): Promise<void> {
    const first = new Promise<void>((resolve) => {
      void this.watch(resolve);
      setTimeout(resolve, waitMs).unref();
    });
    await first;
  }

  private async watch(initialized: () => void): Promise<void> {
    if (this.stopped) return;
    const snapshot = new Map<string, { rev: number; m: Mitigation }>();
    let upTo = 0;
    let live = false;
    try {
      const w = await this.kv.watch({
        key: '>',
        initializedFn: () => {
          live = true;
          this.emit(this.view.replace(snapshot, upTo));
          snapshot.clear();
          initialized();
        },
      });
      this.stopWatch = () => w.stop();
      for await (const e of w) {
        if (live) this.emit(this.entry(e));
        else {
          upTo = Math.max(upTo, e.revision);
          if (e.operation === 'PUT') {
            const m = this.decode(e);
            if (m) snapshot.set(e.key, { rev: e.revision, m });
          } else snapshot.delete(e.key);
        }
      }
    } catch (err) {
      log.warn(`cluster: watch of the desired bucket failed: ${(err as Error).message}`);
    }
    if (this.stopped) return;
    // Ended without stop(): read it all again (a resumed watch must not miss a delete).
    this.stats.rewatches++;
    setTimeout(() => void this.watch(() => undefined), REWATCH_MS).unref();
  }

  private decode(e: KvEntry): Mitigation | null {
    const m = decodeValue(e.value);
    if (!m) {
      this.stats.bad_values++;
      log.error(
        `cluster: desired bucket key ${e.key} (revision ${e.revision}) is not a mitigation record; ignored`,
      );
    }
    return m;
  }

  private entry(e: KvEntry): Change[] {
    const m = e.operation === 'PUT' ? this.decode(e) : null;
    if (e.operation === 'PUT' && !m) return [];
    const c = this.view.apply(e.key, e.revision, m);
    return c ? [c] : [];
  }

  private emit(changes: readonly Change[]): void {
    if (changes.length) this.onChanges(changes);
  }

  /**
   * Everything the bucket holds now, read through a watch of its own (one consumer, not a
   * request per key), and put into the view: what a new leader restores its manager from.
   */
  async readAll(timeoutMs = 10_000): Promise<Mitigation[]> {
    const snapshot = new Map<string, { rev: number; m: Mitigation }>();
    let upTo = 0;
    let done: () => void = () => undefined;
    const initialized = new Promise<void>((r) => (done = r));
    const w = await this.kv.watch({ key: '>', initializedFn: () => done() });
    const reading = (async () => {
      for await (const e of w) {
        upTo = Math.max(upTo, e.revision);
        if (e.operation === 'PUT') {
          const m = this.decode(e);
          if (m) snapshot.set(e.key, { rev: e.revision, m });
        } else snapshot.delete(e.key);
      }
    })();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        initialized,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no full read of the bucket in ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
      w.stop();
      await reading.catch(() => undefined);
    }
    this.emit(this.view.replace(snapshot, upTo));
    return [...snapshot.values()].map((v) => v.m);
  }

  /** The manager's journal: each batch becomes the bucket's puts and deletes, sent together. */
  sink(): JournalSink {
    const appendMany = (entries: readonly JournalEntry[]) => this.write(entries);
    return { append: (e) => appendMany([e]), appendMany };
  }

  private async write(entries: readonly JournalEntry[]): Promise<void> {
    if (!this.mayWrite())
      throw new Error('this controller is not the cluster leader: the leader changes mitigations');
    const ops = opsFor(entries, (uuid) => this.view.get(keyOf(uuid)));
    const results = await Promise.allSettled(
      ops.map((o) => (o.op === 'put' ? this.kv.put(o.key, encodeValue(o.m)) : this.kv.delete(o.key))),
    );
    this.stats.writes += ops.length;
    const failed = results.filter((r) => r.status === 'rejected');
    // Applied locally at once (the watch brings the same revisions back, no change then):
    // this node's speaker announces a batch as soon as the bucket holds it.
    const changes: Change[] = [];
    ops.forEach((o, i) => {
      const r = results[i]!;
      if (r.status !== 'fulfilled') return;
      const c =
        o.op === 'put'
          ? this.view.apply(o.key, r.value as number, o.m)
          : this.view.apply(o.key, this.view.revision(o.key), null, true);
      if (c) changes.push(c);
    });
    this.emit(changes);
    if (failed.length === 0) return;
    this.stats.write_errors += failed.length;
    const why = (failed[0] as PromiseRejectedResult).reason as Error;
    // The manager refuses the whole batch on a journal error: take back the adds of it
    // that did reach the bucket, or the other controllers would announce them.
    const undo = ops.filter((o, i) => o.op === 'put' && results[i]!.status === 'fulfilled');
    await Promise.allSettled(undo.map((o) => this.kv.delete(o.key)));
    const undone: Change[] = [];
    for (const o of undo) {
      const c = this.view.apply(o.key, this.view.revision(o.key), null, true);
      if (c) undone.push(c);
    }
    this.emit(undone);
    throw new Error(
      `${failed.length} of ${ops.length} change(s) not written to the cluster bucket: ${why.message}`,
    );
  }

  stop(): void {
    this.stopped = true;
    this.stopWatch?.();
  }
}
