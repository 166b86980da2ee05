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
/**
 * Writes of one batch in flight at once: a bulk ban of 100,000 hosts is a stream of acked
 * publishes, not 100,000 requests racing the client's timeout.
 */
const IN_FLIGHT = 512;

/** Promise.allSettled over fn(item), at most IN_FLIGHT at a time, results in item order. */
async function settleAll<T, R>(
  items: readonly T[],
  fn: (x: T) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const out: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = { status: 'fulfilled', value: await fn(items[i]!) };
      } catch (reason) {
        out[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, items.length) }, worker));
  return out;
}

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
      log.warn(`watch of the desired bucket failed: ${(err as Error).message}`);
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
      log.error(`desired bucket key ${e.key} (revision ${e.revision}) is not a mitigation record; ignored`);
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
   * Everything the bucket holds now: the view when it is known to be whole, else read
   * through a watch of its own (one consumer, not a request per key) into the view. What a
   * new leader restores its manager from.
   */
  async readAll(timeoutMs = 10_000): Promise<Mitigation[]> {
    // The watch has applied every revision the bucket's stream holds: the view is whole,
    // and one stream-info request replaces reading every key again.
    const last = (await this.kv.status()).streamInfo.state.last_seq;
    if (this.view.lastRevision >= last) return this.view.mitigations();
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
    // A put answers with its revision; a delete with none (0: the view keeps its own).
    const results = await settleAll(ops, async (o): Promise<number> => {
      if (o.op === 'put') return this.kv.put(o.key, encodeValue(o.m));
      await this.kv.delete(o.key);
      return 0;
    });
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
          ? this.view.apply(o.key, r.value, o.m)
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
    await settleAll(undo, (o) => this.kv.delete(o.key));
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
