/**
 * The desired mitigations as the cluster holds them (`bw_mitigations`): one KV key per
 * mitigation, its value the mitigation record the manager keeps (JSON). Every controller
 * builds the routes to announce from the records with the manager's own builder
 * (mitigation/set.ts mitigationRoute), so the same record is the same route everywhere,
 * and a new leader restores its manager from the same records.
 *
 * This file is the pure part: keys, values, the manager's journal entries as bucket
 * operations, and the view a controller keeps of the bucket (revisions, so a duplicate or
 * late watch entry changes nothing). bucket.ts does the I/O.
 */
import { createHash } from 'node:crypto';
import type { JournalEntry } from '../mitigation/journal.js';
import type { Mitigation } from '../mitigation/types.js';

export const DESIRED_BUCKET = 'bw_mitigations';

/** A KV key takes [-/_=.a-zA-Z0-9]; a uuid fits, anything else an API caller chose is hashed. */
export function keyOf(uuid: string): string {
  if (/^[A-Za-z0-9_-]{1,128}$/.test(uuid)) return uuid;
  return `h-${createHash('sha256').update(uuid).digest('hex').slice(0, 40)}`;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeValue(m: Mitigation): Uint8Array {
  return enc.encode(JSON.stringify({ v: 1, m }));
}

/** The record in a value, or null when it is not one this version wrote (logged by the caller). */
export function decodeValue(bytes: Uint8Array): Mitigation | null {
  let j: unknown;
  try {
    j = JSON.parse(dec.decode(bytes));
  } catch {
    return null;
  }
  if (!j || typeof j !== 'object') return null;
  const m = (j as { v?: unknown; m?: Partial<Mitigation> }).m;
  if ((j as { v?: unknown }).v !== 1 || !m || typeof m !== 'object') return null;
  const kinds = ['blackhole', 'flowspec', 'escalation'];
  if (
    typeof m.uuid !== 'string' ||
    !kinds.includes(m.kind as string) ||
    typeof m.prefix !== 'string' ||
    typeof m.ip !== 'string' ||
    typeof m.hostgroup !== 'string' ||
    typeof m.started_at !== 'number' ||
    !(m.expires_at === null || typeof m.expires_at === 'number') ||
    !Array.isArray(m.communities) ||
    !Array.isArray(m.large_communities) ||
    typeof m.cause !== 'object' ||
    m.cause === null
  )
    return null;
  return m as Mitigation;
}

export type BucketOp =
  | { readonly op: 'put'; readonly key: string; readonly m: Mitigation }
  | { readonly op: 'del'; readonly key: string };

/**
 * One manager batch (the journal entries of one group commit) as bucket operations, one
 * per key, the last change of each key winning: an add and its removal in one batch
 * write nothing but the delete. `current` is the record before the batch (for updates).
 */
export function opsFor(
  entries: readonly JournalEntry[],
  current: (uuid: string) => Mitigation | undefined,
): BucketOp[] {
  const last = new Map<string, BucketOp>();
  for (const e of entries) {
    const key = keyOf(e.op === 'add' ? e.m.uuid : e.uuid);
    if (e.op === 'add') last.set(key, { op: 'put', key, m: e.m });
    else if (e.op === 'remove') last.set(key, { op: 'del', key });
    else {
      const prev = last.get(key);
      const m = prev?.op === 'put' ? prev.m : prev ? undefined : current(e.uuid);
      // An update of a record this node does not hold has nothing to update.
      if (m) last.set(key, { op: 'put', key, m: { ...m, expires_at: e.expires_at } });
    }
  }
  return [...last.values()];
}

/** A change of one key's record: what was there, what is there now (null: none). */
export interface Change {
  readonly key: string;
  readonly before: Mitigation | null;
  readonly after: Mitigation | null;
}

/**
 * What this controller knows the bucket holds. Each key keeps the revision it was last
 * seen at, deleted ones too (as tombstones), so the watch's duplicates and entries older
 * than what the leader already applied locally are no change.
 */
export class DesiredView {
  private readonly keys = new Map<string, { rev: number; m: Mitigation | null }>();
  private live = 0;
  /** The highest revision applied: equal to the stream's last sequence, the view is whole. */
  private seen = 0;

  get lastRevision(): number {
    return this.seen;
  }

  get size(): number {
    return this.live;
  }

  get(key: string): Mitigation | undefined {
    return this.keys.get(key)?.m ?? undefined;
  }

  revision(key: string): number {
    return this.keys.get(key)?.rev ?? 0;
  }

  mitigations(): Mitigation[] {
    const out: Mitigation[] = [];
    for (const v of this.keys.values()) if (v.m) out.push(v.m);
    return out;
  }

  /**
   * A watch entry (or this node's own write, with the revision the server gave it): the
   * change, or null when it is no newer than what is known. A local delete passes the
   * revision it removed (`force`), since the server answers a delete with none.
   */
  apply(key: string, rev: number, m: Mitigation | null, force = false): Change | null {
    const had = this.keys.get(key);
    if (rev > this.seen) this.seen = rev;
    if (had && !force && rev <= had.rev) return null;
    const before = had?.m ?? null;
    this.keys.set(key, { rev: Math.max(rev, had?.rev ?? 0), m });
    this.live += (m ? 1 : 0) - (before ? 1 : 0);
    if (before === null && m === null) return null;
    return { key, before, after: m };
  }

  /**
   * A full read of the bucket (a new watch's initial values, up to revision `upTo`): keys
   * it lacks that were last seen at or below `upTo` were deleted meanwhile. Returns the
   * changes; tombstones older than the read are dropped.
   */
  replace(snapshot: ReadonlyMap<string, { rev: number; m: Mitigation }>, upTo: number): Change[] {
    const out: Change[] = [];
    if (upTo > this.seen) this.seen = upTo;
    for (const [key, v] of snapshot) {
      const c = this.apply(key, v.rev, v.m);
      if (c) out.push(c);
    }
    for (const [key, v] of [...this.keys]) {
      if (snapshot.has(key) || v.rev > upTo) continue;
      if (v.m) {
        out.push({ key, before: v.m, after: null });
        this.live--;
      }
      this.keys.delete(key);
    }
    return out;
  }
}
