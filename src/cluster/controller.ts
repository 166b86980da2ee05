/**
 * The controller role (issue 17): every controller watches the desired bucket and feeds
 * its own BGP speaker the same routes; the one holding the leader lease runs the
 * mitigation manager and the escalation loop, whose changes go to the bucket (the
 * cluster's journal). A new leader reads the bucket whole and restores its manager from
 * it without notifying (the old leader already told the scripts and webhooks); a deposed
 * one stops its loops and forgets its set, leaving the routes to the bucket.
 *
 * The daemon gives it typed hooks (routes of a record, the speaker's feed, lead/follow)
 * and nothing of its internals; the controller gives back a journal sink for the manager,
 * the routes to announce, its status, an API hook and metrics.
 */
import type { DesiredRoute, PeerStatus } from '../bgp/types.js';
import type { ClusterConfig } from '../config/types.js';
import { logger } from '../log.js';
import type { JournalSink } from '../mitigation/manager.js';
import type { Mitigation, MitigationKind } from '../mitigation/types.js';
import { DesiredBucket } from './bucket.js';
import { Bus } from './bus.js';
import { DESIRED_BUCKET, keyOf, type Change } from './desired.js';
import { LeaseRunner } from './lease.js';
import { NODES_BUCKET, NODES_TTL_MS, NodeBoard, nodeReport, type NodeView } from './nodes.js';

const log = logger.child({ module: 'cluster' });

const LEADER_BUCKET = 'bw_leader';

export type ControllerRole = 'leader' | 'taking-over' | 'follower';

export interface ControllerHooks {
  /** The route a record is announced as (the manager's own builder); undefined: none. */
  routeOf(m: Mitigation): DesiredRoute | undefined;
  /** The speaker's feed: routes wanted now, routes no longer wanted. */
  announce(put: readonly DesiredRoute[], remove: readonly DesiredRoute[]): void;
  /**
   * This node leads: restore the manager from these records (no notifications), start its
   * loops, and hand it the attacks detected meanwhile (a restored ban continues, silently).
   */
  lead(records: readonly Mitigation[]): Promise<void>;
  /** This node's BGP sessions, for the other controllers' GET /cluster. */
  bgpStatus(): readonly PeerStatus[];
  /** This node no longer leads: stop the loops, forget the manager's set (no withdrawal, no notification). */
  follow(): Promise<void>;
}

export interface ClusterStatus {
  readonly node: string;
  readonly leader: string | null;
  readonly role: ControllerRole;
  readonly nats: boolean;
  readonly desired: number;
  readonly takeovers: number;
  /** Every controller heard of on the bus (this one first), with its BGP sessions. */
  readonly controllers: readonly NodeView[];
}

export class ClusterController {
  private readonly bus: Bus;
  private bucket: DesiredBucket | null = null;
  private lease: LeaseRunner | null = null;
  private nodes: NodeBoard | null = null;
  private roleNow: ControllerRole = 'follower';
  /** Role changes, one at a time: a takeover finishes (or is undone) before the next. */
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  private opened: Promise<void> | null = null;
  private electing = false;
  /** Routes announced per key, to withdraw exactly what a record's change replaces. */
  private readonly routes = new Map<string, DesiredRoute>();
  readonly stats = { takeovers: 0, last_takeover_ms: 0, stepdowns: 0 };

  constructor(
    readonly cfg: ClusterConfig,
    private readonly hooks: ControllerHooks,
  ) {
    this.bus = new Bus(cfg);
  }

  get role(): ControllerRole {
    return this.roleNow;
  }

  /**
   * Does this node lead, its manager restored (detection events, the API's changes)? Not
   * while it takes over: an attack banned before the restore would be banned twice.
   */
  isLeader(): boolean {
    return this.roleNow === 'leader' && this.lease?.holds() === true;
  }

  /**
   * May the manager's journal write the bucket? From the start of a takeover (a restore
   * writes the removal of what expired meanwhile), while the lease holds.
   */
  private mayWrite(): boolean {
    return this.roleNow !== 'follower' && this.lease?.holds() === true;
  }

  get busConnected(): boolean {
    return this.bus.state.connected;
  }

  get busDisconnects(): number {
    return this.bus.state.disconnects;
  }

  get desiredCount(): number {
    return this.bucket?.view.size ?? 0;
  }

  /** The manager's journal: the bucket, written only while this node leads. */
  sink(): JournalSink {
    const appendMany = async (entries: Parameters<NonNullable<JournalSink['appendMany']>>[0]) => {
      if (!this.bucket) throw new Error('the cluster bus is not connected yet');
      await this.bucket.sink().appendMany!(entries);
    };
    return { append: (e) => appendMany([e]), appendMany };
  }

  /** The bucket's mitigations as this node knows them (what a follower's API lists). */
  mitigations(kind?: MitigationKind): Mitigation[] {
    const all = this.bucket?.view.mitigations() ?? [];
    return kind ? all.filter((m) => m.kind === kind) : all;
  }

  mitigation(uuid: string): Mitigation | undefined {
    return this.bucket?.view.get(keyOf(uuid));
  }

  /** Every route the bucket asks for, as this node knows it (the speaker's full set). */
  desiredRoutes(): DesiredRoute[] {
    return [...this.routes.values()];
  }

  status(): ClusterStatus {
    return {
      node: this.cfg.node,
      leader: this.lease?.leader ?? null,
      role: this.roleNow,
      nats: this.bus.state.connected,
      desired: this.desiredCount,
      takeovers: this.stats.takeovers,
      controllers: this.nodes?.list() ?? [],
    };
  }

  /**
   * Connect and load the bucket into the view; resolves once it is loaded or after
   * `waitMs` (NATS unreachable: the routes come when it is back, nothing is withdrawn).
   */
  async start(waitMs = 5000): Promise<void> {
    let loaded: () => void = () => undefined;
    const ready = new Promise<void>((r) => (loaded = r));
    this.opened = (async () => {
      await this.bus.connect(() => this.stopped);
      const kv = await this.bus.bucket(DESIRED_BUCKET, 0);
      this.bucket = new DesiredBucket(
        kv,
        (c) => this.changed(c),
        () => this.mayWrite(),
      );
      await this.bucket.start(waitMs);
      loaded();
      // Apart from the election's chain: a slow third bucket must not hold up a takeover.
      void this.startNodes().catch((e: Error) => log.warn(`node board not started: ${e.message}`));
    })();
    this.opened.catch((e: Error) => {
      if (!this.stopped) log.error(`${e.message}`);
    });
    const t = setTimeout(() => {
      log.warn(`the desired bucket is not loaded after ${waitMs} ms: starting with what is known`);
      loaded();
    }, waitMs);
    await ready;
    clearTimeout(t);
  }

  private async startNodes(): Promise<void> {
    const kv = await this.bus.bucket(NODES_BUCKET, NODES_TTL_MS);
    if (this.stopped) return;
    this.nodes = new NodeBoard(kv, () =>
      nodeReport(this.cfg.node, this.roleNow, this.desiredCount, this.hooks.bgpStatus()),
    );
    await this.nodes.start();
  }

  /** Join the election (once the bucket is open: a leader must be able to read it). */
  elect(): void {
    if (this.electing || this.stopped) return;
    this.electing = true;
    void this.opened
      ?.then(async () => {
        if (this.stopped) return;
        const kv = await this.bus.bucket(LEADER_BUCKET, this.cfg.lease_ms);
        if (this.stopped) return;
        this.lease = new LeaseRunner(kv, this.cfg.node, this.cfg.lease_ms, {
          onLead: () => this.queue(() => this.takeOver()),
          onFollow: () => this.queue(() => this.stepDown()),
        });
        await this.lease.start();
      })
      .catch((e: Error) => log.error(`election not started: ${e.message}`));
  }

  private queue(fn: () => Promise<void>): void {
    this.chain = this.chain.then(fn).catch((e: Error) => {
      log.error(`${e.message}`);
    });
  }

  private async takeOver(): Promise<void> {
    // This election's runner: resign() may drop it from `this.lease` meanwhile.
    const lease = this.lease;
    if (lease?.role !== 'leader' || !this.bucket) return;
    const t0 = performance.now();
    this.roleNow = 'taking-over';
    // The bucket as it is now (readAll checks the watch has caught up with the old
    // leader's last writes, else reads it whole).
    let records: Mitigation[] | null = null;
    while (records === null && lease.role === 'leader' && !this.stopped) {
      records = await this.bucket.readAll().catch(async (e: Error) => {
        log.warn(`reading the desired bucket to take over failed: ${e.message}; retrying`);
        await new Promise((r) => setTimeout(r, 250));
        return null;
      });
    }
    if (records === null || lease.role !== 'leader') {
      this.roleNow = 'follower';
      return;
    }
    await this.hooks.lead(records);
    this.roleNow = 'leader';
    this.stats.takeovers++;
    this.stats.last_takeover_ms = Math.round(performance.now() - t0);
    log.info(
      `${this.cfg.node} leads: manager restored from ${records.length} mitigation(s) in the bucket in ${this.stats.last_takeover_ms} ms (no notifications sent)`,
    );
  }

  private async stepDown(): Promise<void> {
    if (this.roleNow === 'follower') return;
    this.roleNow = 'follower';
    this.stats.stepdowns++;
    await this.hooks.follow();
    const say = this.stopped ? log.info.bind(log) : log.warn.bind(log);
    say(`${this.cfg.node} follows now: escalation and mitigation changes stopped here`);
  }

  /** The bucket changed: the speaker gets exactly the routes that differ. */
  private changed(changes: readonly Change[]): void {
    const put: DesiredRoute[] = [];
    const remove: DesiredRoute[] = [];
    for (const c of changes) {
      const old = this.routes.get(c.key);
      const next = c.after ? this.hooks.routeOf(c.after) : undefined;
      if (old && (!next || old.owner !== next.owner || old.key !== next.key || old.family !== next.family))
        remove.push(old);
      if (next) {
        this.routes.set(c.key, next);
        put.push(next);
      } else this.routes.delete(c.key);
    }
    if (put.length || remove.length) this.hooks.announce(put, remove);
  }

  /** Leave the election: a leader releases the lease at once, so another takes over now. */
  async resign(): Promise<void> {
    const l = this.lease;
    this.lease = null;
    await l?.stop();
    await this.chain;
  }

  /** Stop watching and disconnect (after resign(); the speaker keeps its routes till its own stop). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.resign();
    await this.nodes?.stop();
    this.bucket?.stop();
    await this.bus.close();
  }
}
