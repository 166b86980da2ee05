/**
 * Leader election on a JetStream KV bucket (`bw_leader`, history 1, the bucket's TTL the
 * lease): the key `leader` holds the leader's node name. create() takes it only when it
 * does not exist (never taken, deleted, or expired by the TTL); the leader renews it with
 * update() on its revision every lease/3, so a second node's update fails ("wrong last
 * sequence"). A leader that has not renewed for 5/6 of the lease steps down by itself,
 * before the server can expire the key and let another node take it: two leaders would
 * both write the desired bucket.
 *
 * `step` is the whole decision, pure (tested against a model in cluster-logic.test.ts);
 * LeaseRunner does the I/O: a tick every lease/12, one request in flight at a time. A
 * follower tries create() at every tick: the key's expiry sends no watch event (JetStream
 * 2.9 drops an expired message silently), so asking is the only way to learn it is free.
 */
import type { KV } from 'nats';
import { logger } from '../log.js';

const log = logger.child({ module: 'cluster' });

const LEADER_KEY = 'leader';

export type LeaseState =
  | {
      readonly role: 'follower';
      /** The leader this node last saw in the bucket (null: none, or not known). */
      readonly leader: string | null;
      /** The key's revision as last seen (0: none seen), and when this node first saw it. */
      readonly seenRev: number;
      readonly seenAt: number;
      /** The request in flight, if any: an answer counts only for the request it answers. */
      readonly pending: 'create' | 'takeover' | null;
      /** When the last create() was sent (a follower tries every lease/6). */
      readonly triedAt: number;
    }
  | {
      readonly role: 'leader';
      readonly revision: number;
      /** When the last successful create()/update() was sent: the lease runs from there. */
      readonly renewedAt: number;
      readonly pending: 'update' | null;
    };

/**
 * create: take a free key. update: the leader renews its own revision. takeover: a
 * follower replaces a revision nobody renewed for a whole lease (compare-and-set on it).
 */
type Op = 'create' | 'update' | 'takeover';
export type LeaseAction = Op | null;

export type LeaseEvent =
  | { readonly kind: 'tick'; readonly now: number }
  /** A request answered with the key's new revision; `sentAt` when it was sent. */
  | { readonly kind: 'won'; readonly op: Op; readonly revision: number; readonly sentAt: number }
  /** Refused: the key is someone else's (or moved on, or gone). */
  | { readonly kind: 'lost'; readonly op: Op }
  /** A request failed for another reason (bus down, timeout): nothing is known. */
  | { readonly kind: 'failed'; readonly op: Op }
  /** The watch saw the key: its holder and revision, or null when it was deleted or purged. */
  | {
      readonly kind: 'seen';
      readonly leader: string | null;
      readonly revision: number;
      readonly now: number;
    };

type Follower = Extract<LeaseState, { role: 'follower' }>;
export const FOLLOWER: Follower = {
  role: 'follower',
  leader: null,
  seenRev: 0,
  seenAt: 0,
  pending: null,
  triedAt: -Infinity,
};

/**
 * The next state and the request to send. Ticks drive it; a request's answer comes back
 * as won/lost/failed. Only one request is in flight (`pending`): a slow bus cannot pile
 * renewals up, and a late answer is still matched to the one request sent.
 *
 * Safety: the leader stops at 5/6 of the lease after it sent its last successful renewal;
 * a follower replaces that renewal only a whole lease after it saw it, which is after the
 * server stored it, so after the leader sent it. The key's TTL is the backstop for a
 * cluster where no follower was watching; the takeover does not wait for the server to
 * expire it (JetStream expires on a timer of its own, seconds late under load).
 */
export function step(
  s: LeaseState,
  e: LeaseEvent,
  leaseMs: number,
  self: string,
): { state: LeaseState; action: LeaseAction } {
  const renewEvery = leaseMs / 3;
  // A follower asks for a free key twice as often as the leader renews.
  const retryEvery = leaseMs / 6;
  const deadline = (leaseMs * 5) / 6;
  if (s.role === 'leader') {
    switch (e.kind) {
      case 'tick':
        // Checked even while a renewal is in flight: a bus that does not answer must not
        // keep this node leading past its lease.
        if (e.now - s.renewedAt >= deadline)
          return {
            state: { ...FOLLOWER, leader: self, seenRev: s.revision, seenAt: e.now, triedAt: e.now },
            action: null,
          };
        if (!s.pending && e.now - s.renewedAt >= renewEvery)
          return { state: { ...s, pending: 'update' }, action: 'update' };
        return { state: s, action: null };
      case 'won':
        if (e.op !== s.pending) return { state: s, action: null };
        return { state: { ...s, revision: e.revision, renewedAt: e.sentAt, pending: null }, action: null };
      case 'lost':
        if (e.op !== s.pending) return { state: s, action: null };
        return { state: FOLLOWER, action: null };
      case 'failed':
        if (e.op !== s.pending) return { state: s, action: null };
        return { state: { ...s, pending: null }, action: null };
      case 'seen':
        // Someone else's name under the key: it is theirs (our lease lapsed on the server).
        if (e.leader !== null && e.leader !== self)
          return {
            state: { ...FOLLOWER, leader: e.leader, seenRev: e.revision, seenAt: e.now, triedAt: e.now },
            action: null,
          };
        return { state: s, action: null };
    }
  }
  switch (e.kind) {
    case 'tick':
      if (s.pending) return { state: s, action: null };
      // A holder that has not renewed for a whole lease (as this node saw it) is gone.
      if (s.seenRev > 0) {
        if (e.now - s.seenAt >= leaseMs)
          return { state: { ...s, pending: 'takeover', triedAt: e.now }, action: 'takeover' };
        return { state: s, action: null };
      }
      if (e.now - s.triedAt >= retryEvery)
        return { state: { ...s, pending: 'create', triedAt: e.now }, action: 'create' };
      return { state: s, action: null };
    case 'won':
      // The answer to a renewal sent before this node stepped down is stale: the lease
      // it renewed runs out soon, and leading again for a moment would flap the manager.
      if (e.op !== s.pending) return { state: s, action: null };
      return {
        state: { role: 'leader', revision: e.revision, renewedAt: e.sentAt, pending: null },
        action: null,
      };
    case 'lost':
      if (e.op !== s.pending) return { state: s, action: null };
      // The revision moved on (a renewal this node has not seen yet) or the key expired:
      // start over from a free-key attempt; the watch says who holds it.
      if (e.op === 'takeover')
        return { state: { ...s, seenRev: 0, leader: null, pending: 'create' }, action: 'create' };
      return { state: { ...s, pending: null }, action: null };
    case 'failed':
      if (e.op !== s.pending) return { state: s, action: null };
      return { state: { ...s, pending: null }, action: null };
    case 'seen':
      // A deleted key is free now: try at once rather than at the next tick.
      if (e.leader === null) {
        const free = { ...s, leader: null, seenRev: 0 };
        if (s.pending) return { state: free, action: null };
        return { state: { ...free, pending: 'create', triedAt: e.now }, action: 'create' };
      }
      if (e.revision === s.seenRev) return { state: { ...s, leader: e.leader }, action: null };
      return { state: { ...s, leader: e.leader, seenRev: e.revision, seenAt: e.now }, action: null };
  }
}

/** "wrong last sequence" (10071) and friends: the key is not ours to write. */
function isConflict(e: unknown): boolean {
  const err = e as { api_error?: { err_code?: number }; message?: string };
  return err.api_error?.err_code === 10071 || /wrong last sequence|key exists/i.test(err.message ?? '');
}

export interface LeaseEvents {
  /** This node holds the lease now. */
  onLead(): void;
  /** This node no longer holds it (lost, lapsed, or released). */
  onFollow(): void;
  /** The leader's name changed (null: none known). */
  onLeader?(name: string | null): void;
}

/** The election's I/O over the bucket: requests, the watch of the key, the tick timer. */
export class LeaseRunner {
  private state: LeaseState = FOLLOWER;
  private timer: NodeJS.Timeout | null = null;
  private watchStop: (() => void) | null = null;
  private leaderName: string | null = null;
  private stopped = false;

  constructor(
    private readonly kv: KV,
    private readonly node: string,
    private readonly leaseMs: number,
    private readonly events: LeaseEvents,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get role(): 'leader' | 'follower' {
    return this.state.role;
  }

  /**
   * Does this node hold a lease that has not lapsed right now? Asked at each write, not
   * only at ticks: an event loop stalled past the deadline must not write as leader.
   */
  holds(): boolean {
    const s = this.state;
    return s.role === 'leader' && this.now() - s.renewedAt < (this.leaseMs * 5) / 6;
  }

  /** The node holding the lease as far as this node knows. */
  get leader(): string | null {
    return this.state.role === 'leader' ? this.node : this.leaderName;
  }

  async start(): Promise<void> {
    await this.watchKey();
    this.tick();
    // lease/12: a renewal goes out at most lease/12 late, leaving it half the lease to come back.
    this.timer = setInterval(() => this.tick(), Math.max(25, Math.floor(this.leaseMs / 12)));
  }

  /**
   * Watch the key (its current value first). A watch that ends is started again: without
   * it a follower sees no renewals and would wait for the server's expiry to take over.
   */
  private async watchKey(): Promise<void> {
    const w = await this.kv.watch({ key: LEADER_KEY });
    this.watchStop = () => w.stop();
    void (async () => {
      for await (const e of w) {
        const name = e.operation === 'PUT' ? e.string() : null;
        this.feed({ kind: 'seen', leader: name, revision: e.revision, now: this.now() });
      }
    })()
      .catch((e: Error) => log.warn(`lease watch ended: ${e.message}`))
      .then(() => this.rewatch());
  }

  private rewatch(): void {
    if (this.stopped) return;
    setTimeout(() => {
      if (!this.stopped) this.watchKey().catch(() => this.rewatch());
    }, 1000).unref();
  }

  private tick(): void {
    this.feed({ kind: 'tick', now: this.now() });
  }

  private feed(e: LeaseEvent): void {
    if (this.stopped) return;
    const before = this.state;
    const { state, action } = step(before, e, this.leaseMs, this.node);
    this.state = state;
    const name = state.role === 'leader' ? this.node : state.leader;
    if (name !== this.leaderName || before.role !== state.role) {
      const changed = name !== this.leaderName;
      this.leaderName = name;
      if (changed) this.events.onLeader?.(name);
    }
    if (before.role !== state.role) {
      if (state.role === 'leader') {
        log.info(`${this.node} holds the leader lease (revision ${state.revision})`);
        this.events.onLead();
      } else {
        log.warn(
          e.kind === 'tick'
            ? `${this.node} could not renew the leader lease for ${Math.round((this.leaseMs * 5) / 6)} ms: stepping down`
            : `${this.node} lost the leader lease${state.role === 'follower' && state.leader ? ` to ${state.leader}` : ''}`,
        );
        this.events.onFollow();
      }
    }
    if (action) void this.send(action);
  }

  private async send(op: Op): Promise<void> {
    const sentAt = this.now();
    try {
      const s = this.state;
      const rev =
        op === 'create'
          ? await this.kv.create(LEADER_KEY, this.node)
          : await this.kv.update(LEADER_KEY, this.node, s.role === 'leader' ? s.revision : s.seenRev);
      this.feed({ kind: 'won', op, revision: rev, sentAt });
    } catch (e) {
      if (isConflict(e)) this.feed({ kind: 'lost', op });
      else {
        log.debug(`lease ${op} failed: ${(e as Error).message}`);
        this.feed({ kind: 'failed', op });
      }
    }
  }

  /**
   * Stop electing. A leader deletes its key (only if it is still its revision) so another
   * controller takes over at once instead of after the lease.
   */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.watchStop?.();
    const s = this.state;
    this.state = FOLLOWER;
    this.stopped = true;
    if (s.role !== 'leader') return;
    this.events.onFollow();
    try {
      await this.kv.delete(LEADER_KEY, { previousSeq: s.revision });
    } catch (e) {
      // A renewal in flight moved the revision past the one this node last saw: if the key
      // is still ours, delete it at its current revision (else the others wait a lease).
      if (!isConflict(e)) return;
      const cur = await this.kv.get(LEADER_KEY).catch(() => null);
      if (cur && cur.operation === 'PUT' && cur.string() === this.node)
        await this.kv.delete(LEADER_KEY, { previousSeq: cur.revision }).catch(() => undefined);
    }
  }
}
