/**
 * The daemon: wires capture -> detection -> mitigation -> BGP speaker, the escalation loop
 * and the HTTP API, and owns the process lifecycle (signals, reload, clean stop). It holds
 * no logic of its own: each part lives in its room, and `parts` below is the one list of
 * them (src/lifecycle.ts), started in order, reconfigured in order, stopped in reverse.
 *
 * Order matters for safety: the journal is replayed and restored mitigations are in the
 * manager's set before the speaker starts, so the first UPDATE a router sees already holds
 * the full desired table (no withdraw-then-reannounce flap after a restart). At a stop the
 * API and intake go first, the speaker (withdrawals, unless graceful restart) and the
 * journal (flushed, closed) last.
 */
import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { prefixToString } from './wire/addr.js';
import type { Config } from './config/types.js';
import { classifierOf, ConfigStore, defaultConfig, loadConfig } from './config/index.js';
import { configureLogging, logger } from './log.js';
import { type Component, reconfigureAll, startAll, stopAll } from './lifecycle.js';
import {
  batchSocketSupport,
  Collector,
  MirrorCapture,
  MirrorThread,
  resolveWorkers,
  type MirrorSource,
} from './capture/index.js';
import { createDetector } from './detection/index.js';
import type { DetectionEngine, HostgroupAttack } from './detection/index.js';
import { resolveShards, ShardedDetector } from './detection/shards/pool.js';
import { saveAttackPcap } from './detection/attack-pcap.js';
import { rateText } from './detection/layout.js';
import { createSpeaker, staticRoutesToDesired, type EmbeddedSpeaker } from './bgp/index.js';
import type { DesiredRoute } from './bgp/types.js';
import { staticFlowspecToDesired } from './flowspec/index.js';
import { MitigationManager, mitigationRoute } from './mitigation/manager.js';
import { Journal, type ReplayResult } from './mitigation/journal.js';
import { flowspecAdapter } from './mitigation/flowspec-adapter.js';
import { hostgroupAlertDocument, Notifier, notifyVia } from './notify/index.js';
import { EscalationLoop } from './escalation/loop.js';
import { ApiServer, type ApiDeps } from './api/server.js';
import { createMetrics } from './api/metrics.js';
import {
  captureEvents,
  captureRows,
  registerShardMetrics,
  registerWorkerMetrics,
  type CaptureSources,
} from './api/capture-metrics.js';
import { DEFAULT_HISTORY } from './config/defaults.js';
import { AttackHistory } from './history/store.js';
import { AttackRecorder } from './history/recorder.js';
import { registerHistoryMetrics } from './history/metrics.js';
import { consoleHook } from './api/ui/index.js';
import { Exports, registerExportMetrics } from './export/index.js';
import { LearnedNetworks, withLearned } from './bgp/learned.js';
import { Assets } from './api/ui/assets.js';
import { LiveEvents } from './api/ui/live.js';
import { HostgroupTraffic, TrafficHistory } from './history/traffic.js';
import { ClusterController } from './cluster/controller.js';
import { clusterApiHook, followerLists, registerClusterMetrics } from './cluster/api.js';

const log = logger.child({ module: 'daemon' });
/** A decode worker's ring to each detection shard (its 64 MiB single ring, split). */
const SHARD_RING_BYTES = 32 * 1024 * 1024;

export interface DaemonOptions {
  /** Config file; undefined = built-in defaults. */
  configFile?: string;
  /** Override the loaded config (tests, demo). */
  config?: Config;
}

export class Daemon {
  readonly store: ConfigStore;
  detector!: DetectionEngine;
  /** The sharded engine (detection.shards > 0), also `detector`; else null. */
  shards: ShardedDetector | null = null;
  collector!: Collector;
  speaker!: EmbeddedSpeaker;
  manager!: MitigationManager;
  journal!: Journal;
  notifier!: Notifier;
  escalation!: EscalationLoop;
  api: ApiServer | null = null;
  mirror: MirrorSource | null = null;
  history!: AttackHistory;
  recorder!: AttackRecorder;
  exports!: Exports;
  private attacksStarted = 0;
  /** networks_from_bgp: the configured Config plus what BGP taught (what every room reads). */
  learned!: LearnedNetworks;
  private effective: Config | null = null;
  private learnedTimer: NodeJS.Timeout | null = null;
  traffic!: TrafficHistory;
  hostgroupTraffic!: HostgroupTraffic;
  live: LiveEvents | null = null;
  private staticRoutes: DesiredRoute[] = [];
  private stopping: Promise<void> | null = null;
  private pidFile: string | null = null;
  /** cfg.cluster: this node is a controller; the desired bucket feeds the speaker. */
  cluster: ClusterController | null = null;

  constructor(opts: DaemonOptions = {}) {
    const load = (file?: string) => (file ? loadConfig(file) : defaultConfig());
    this.store = new ConfigStore(opts.configFile, load, opts.config);
  }

  get config(): Config {
    return this.effective ?? this.store.current;
  }

  /** Learned networks changed: apply them (coalesced, they come in bursts of UPDATEs). */
  private learnedChanged(): void {
    this.learnedTimer ??= setTimeout(() => {
      this.learnedTimer = null;
      if (this.stopping) return;
      const prev = this.config;
      this.effective = withLearned(this.store.current, this.learned.list());
      this.applyConfig(this.effective, prev);
    }, 100);
  }

  /** Every route the speaker should hold: static config plus active mitigations (in a cluster, the bucket's). */
  desiredRoutes(): DesiredRoute[] {
    return [...this.staticRoutes, ...(this.cluster?.desiredRoutes() ?? this.manager.desiredRoutes())];
  }

  /** Only a cluster's leader changes mitigations; a single daemon always does. */
  private mitigating(): boolean {
    return this.cluster?.isLeader() ?? true;
  }

  private computeStatic(cfg: Config): void {
    const fs = staticFlowspecToDesired(cfg);
    for (const e of fs.errors) log.error(e);
    for (const w of fs.warnings) log.warn(w);
    const routes = [...staticRoutesToDesired(cfg), ...fs.routes];
    // Dry-run announces nothing at all, pinned routes included.
    if (cfg.detection.dry_run) {
      for (const r of routes)
        log.info(`dry run: would announce static ${r.family} ${r.prefix ? prefixToString(r.prefix) : r.key}`);
      this.staticRoutes = [];
    } else this.staticRoutes = routes;
  }

  /**
   * The running parts in start order; stopped in reverse (lifecycle.ts). Each tolerates a
   * part not built (a start that failed early) and a stop before its start.
   */
  private readonly parts: readonly Component[] = [
    // Opened (replayed) by build(); closed last, after every change is flushed.
    { name: 'journal', start: () => undefined, stop: () => this.journal?.close() },
    { name: 'attack history', start: () => undefined, stop: () => this.history?.close() },
    // The bucket is loaded before the speaker starts, as the journal is: no empty first table.
    { name: 'cluster bus', start: () => this.cluster?.start(), stop: () => this.cluster?.stop() },
    {
      name: 'bgp speaker',
      // Routes first, then sessions: a peer that comes up gets the whole table at once.
      start: () => {
        this.speaker.sync(this.desiredRoutes());
        return this.speaker.start();
      },
      stop: () => this.speaker?.stop(),
      reconfigure: (cfg) =>
        void this.speaker
          .reconfigure(cfg)
          .catch((e: Error) => log.error(`BGP reconfigure failed: ${e.message}`)),
    },
    {
      name: 'collector',
      start: () => this.collector.start(),
      stop: () => this.collector?.stop(),
      reconfigure: (cfg) => {
        this.collector.setSampling(cfg.capture.default_sampling_rate, cfg.capture.sampling_overrides);
        this.collector.setAdmission({
          exporters: cfg.capture.exporters,
          maxLinkBps: cfg.capture.max_link_bps,
        });
      },
    },
    {
      name: 'mirror capture',
      start: async () => {
        if (!this.mirror) return;
        await this.mirror.start();
        log.info(`reading mirrored frames from ${this.config.capture.mirror_interface} through tcpdump`);
      },
      stop: () => this.mirror?.stop(),
    },
    {
      name: 'detection',
      start: () => this.detector.start(),
      stop: () => this.detector?.stop(),
      reconfigure: (cfg) => this.detector.reconfigure(cfg),
    },
    { name: 'saturation watch', start: () => this.watchSaturation(), stop: () => this.unwatchSaturation() },
    { name: 'traffic history', start: () => this.traffic.start(), stop: () => this.traffic?.stop() },
    {
      name: 'mitigation',
      // In a cluster the manager runs on the leader only (started when it takes over).
      start: () => (this.cluster ? undefined : this.manager.start()),
      stop: () => this.manager?.stop(),
      reconfigure: (cfg) => this.manager.reconfigure(cfg),
    },
    {
      name: 'escalation',
      start: () => (this.cluster ? undefined : this.escalation.start()), // adopts the restored escalations first
      stop: () => this.escalation?.stop(),
      reconfigure: (cfg) => this.escalation.reconfigure(cfg),
    },
    {
      name: 'exports',
      start: () => this.exports.configure(this.config),
      stop: () => this.exports?.stop(),
      reconfigure: (cfg) => this.exports.configure(cfg),
    },
    {
      name: 'api',
      start: () => this.api?.listen(),
      stop: async () => {
        this.live?.close();
        await this.api?.close();
      },
      reconfigure: (cfg) => this.api?.reconfigure(cfg),
    },
    // Last in, first out: a stopping leader hands over before its API and speaker go.
    { name: 'cluster election', start: () => this.cluster?.elect(), stop: () => this.cluster?.resign() },
  ];

  async start(): Promise<void> {
    const cfg = this.config;
    configureLogging(cfg.logging);
    await mkdir(cfg.state_dir, { recursive: true });
    await this.lockStateDir(cfg.state_dir);
    log.info(
      `starting: config ${cfg.file}, state in ${cfg.state_dir}, ${cfg.hostgroups.length} hostgroup(s), ${cfg.networks.length} network(s)${cfg.detection.dry_run ? ', DRY RUN (nothing is announced)' : ''}`,
    );
    await this.build(cfg);
    await startAll(this.parts);
    this.store.subscribe((next) => {
      const prev = this.config;
      this.learned.reconfigure(next.networks_from_bgp);
      this.effective = withLearned(next, this.learned.list());
      this.applyConfig(this.effective, prev);
    });
    log.info('ready');
  }

  /** Every part built and wired (nothing listens or runs yet); the journal replayed into the manager. */
  private async build(cfg: Config): Promise<void> {
    const shards = resolveShards(cfg.detection.shards);
    this.shards =
      shards > 0 ? new ShardedDetector(cfg, { shards, log: logger.child({ module: 'detection' }) }) : null;
    this.detector = this.shards ?? createDetector(cfg);
    if (this.shards)
      log.info(
        `detection on ${shards} shard thread(s) (detection.shards; hosts split by IPv4 /24, IPv6 /64)`,
      );
    this.notifier = new Notifier({
      concurrency: cfg.mitigation.notify_concurrency,
      webhookRetries: cfg.mitigation.webhook_retries,
    });
    const { journal, replay } = await Journal.open(cfg.state_dir);
    this.journal = journal;
    for (const p of replay.problems) log.error(`journal: ${p}`);
    this.speaker = createSpeaker(cfg);
    if (cfg.cluster) this.cluster = this.buildCluster(cfg);
    await this.buildMitigation(cfg, replay);
    this.computeStatic(cfg);
    this.wireDetection();
    const hist = cfg.history ?? DEFAULT_HISTORY;
    this.history = await AttackHistory.open({
      dir: join(cfg.state_dir, 'history'),
      maxBytes: hist.max_bytes,
      maxAgeMs: hist.max_age_ms,
    });
    this.recorder = new AttackRecorder(this.history, {
      detector: this.detector,
      manager: this.manager,
      coverage: (hg) => classifierOf(this.config).hostgroupByName(hg)?.actions.flowspec.coverage,
    });
    const metrics = this.buildMetrics();
    this.exports = new Exports({
      hostgroups: () => this.config.hostgroups.map((h) => h.name),
      hostgroupRates: (n) => this.detector.hostgroupRates(n),
      top: (n, unit, dir) => this.detector.top(n, unit, dir),
      activeAttacks: () => this.detector.activeAttacks(),
      hostRates: (ip) => this.detector.hostRates(ip),
      attacksStarted: () => this.attacksStarted,
    });
    registerExportMetrics(metrics, () => this.exports.stats());
    this.escalation = new EscalationLoop({
      config: cfg,
      manager: this.manager,
      detector: this.detector,
      registry: metrics,
      notify: notifyVia(this.notifier, () => this.config),
    });

    // From here on `config` is this one (plus learned networks): a reload's subscriber still sees it as the previous one.
    this.effective = cfg;
    this.learned = new LearnedNetworks(cfg.networks_from_bgp, () => this.learnedChanged(), log);
    this.speaker.onUpdate((peer, m) => this.learned.update(peer, m));
    this.speaker.on('down', (peer) => this.learned.down(peer));

    this.collector = new Collector(cfg.capture.listeners, this.detector.sink, {
      stateDir: cfg.state_dir,
      receiveBufferBytes: cfg.capture.receive_buffer_bytes,
      defaultSamplingRate: cfg.capture.default_sampling_rate,
      samplingOverrides: cfg.capture.sampling_overrides,
      admit: { exporters: cfg.capture.exporters, maxLinkBps: cfg.capture.max_link_bps },
      workers: resolveWorkers(
        cfg.capture.workers,
        cfg.capture.listeners.length,
        // The cores detection shards take are not there for decode workers.
        availableParallelism() - shards,
        process.env,
        batchSocketSupport().available,
      ),
      ...(this.shards ? { shardRings: () => this.shards!.producer(SHARD_RING_BYTES) } : {}),
    });
    // Attacks do not end on rates known to be short of what arrived (detection/tick.ts).
    this.detector.setLossProbe(() => this.collector.losingDatagrams());
    if (cfg.capture.mirror_interface) {
      const iface = cfg.capture.mirror_interface;
      const filter = cfg.capture.mirror_filter ? { filter: cfg.capture.mirror_filter } : {};
      // With decode workers, tcpdump's stream is parsed on a worker thread too (mirror-thread.ts).
      this.mirror =
        resolveWorkers(cfg.capture.workers, 1, availableParallelism()) > 0
          ? new MirrorThread(
              iface,
              this.detector.sink,
              logger.child({ module: 'capture' }),
              filter,
              undefined,
              this.shards?.producer(SHARD_RING_BYTES) ?? null,
            )
          : new MirrorCapture(iface, this.detector.sink, filter);
    }
    this.traffic = new TrafficHistory(() => this.detector.totals());
    this.hostgroupTraffic = new HostgroupTraffic(
      () => this.config.hostgroups.map((h) => h.name),
      (name) => this.detector.hostgroupRates(name),
    );
    this.traffic.onPoint((t) => this.hostgroupTraffic.sample(t));

    if (cfg.api.enabled) {
      this.api = new ApiServer({
        config: () => this.config,
        manager: this.apiManager(),
        detector: this.detector,
        bgpStatus: () => this.speaker.status(),
        reload: async () => {
          const r = this.reload();
          if (!r.ok) throw new Error(r.errors.join('; '));
        },
        escalations: () => this.escalation.list(),
        metrics,
        hook: this.apiHook(),
        history: (q) => this.history.query(q),
      });
    }
  }

  /**
   * A cluster controller: the bucket's routes go to the speaker; leading restores the
   * manager from the bucket (restore() notifies no one) and starts its loops; following
   * stops them and forgets the set (the bucket, not this node, holds it now).
   */
  private buildCluster(cfg: Config): ClusterController {
    return new ClusterController(cfg.cluster!, {
      routeOf: (m) => mitigationRoute(m, flowspecAdapter),
      announce: (put, remove) => this.speaker.update(put, remove),
      bgpStatus: () => this.speaker.status(),
      lead: async (records) => {
        await this.manager.restore(records.filter((m) => !this.manager.get(m.uuid)));
        this.manager.start();
        this.escalation.start();
        // Attacks this node saw while it followed (their attack_started was not acted on):
        // a host the old leader banned continues its restored ban without a notification,
        // one it had not banned yet is banned now.
        for (const rec of this.detector.activeAttacks()) void this.manager.onAttack(rec);
        for (const a of this.detector.hostgroupAttacks())
          if (this.manager.mitigatesHostgroup(a.hostgroup)) void this.manager.onHostgroupAttack(a);
      },
      follow: async () => {
        await this.escalation.stop();
        this.escalation.forget();
        this.manager.stop();
        await this.manager.forget();
      },
    });
  }

  /** The manager as the API sees it (in a cluster, a follower lists the bucket's set). */
  private apiManager(): ApiDeps['manager'] {
    return this.cluster ? followerLists(this.manager, this.cluster) : this.manager;
  }

  /** The API's extra routes: GET /cluster and a follower's 409 first, then the console. */
  private apiHook(): NonNullable<ApiDeps['hook']> {
    const ui = this.consoleHook();
    if (!this.cluster) return ui;
    const cluster = clusterApiHook(this.cluster);
    return async (req, res, ctx) => (await cluster(req, res, ctx)) || ui(req, res, ctx);
  }

  /** The mitigation manager over the journal, with the replayed mitigations restored. */
  private async buildMitigation(cfg: Config, replay: ReplayResult): Promise<void> {
    this.manager = new MitigationManager({
      cfg,
      // In a cluster the bucket is the journal: a batch is in it before it is announced.
      journal: this.cluster ? this.cluster.sink() : this.journal,
      notifier: this.notifier,
      flowspec: flowspecAdapter,
      stillAttacking: (ip) => this.detector.stillAttacking(ip),
      ...(this.shards
        ? { stillAttackingMany: (ips: readonly string[]) => this.shards!.stillAttackingMany(ips) }
        : {}),
      hostRates: (ip) => this.detector.hostRates(ip),
      hostgroupAttacking: (name) => this.detector.hostgroupAttacking(name),
      hostgroupSamples: (name, out) => this.detector.hostgroupSamples(name, out),
      // One key per change (the whole set only at start and reload): a change costs the
      // same with 10 mitigations active or 100,000.
      // In a cluster the speaker takes the bucket's routes (every controller the same).
      onRoutes: (put, remove) => {
        if (!this.cluster) this.speaker.update(put ? [put] : [], remove ? [remove] : []);
      },
      onNotify: (doc) => this.exports?.onNotify(doc),
      notifyWanted: () => this.exports?.wantsNotify() ?? false,
    });
    if (this.cluster) {
      if (replay.mitigations.length)
        log.warn(
          `cluster: ${replay.mitigations.length} mitigation(s) in ${cfg.state_dir}'s journal are left alone: a controller takes the cluster's bucket`,
        );
      return;
    }
    await this.manager.restore(replay.mitigations);
  }

  /** Detection's events to mitigation (and the attack's pcap to the state dir). */
  private wireDetection(): void {
    this.detector.on('attack_started', (rec) => {
      this.attacksStarted++;
      if (this.mitigating()) void this.manager.onAttack(rec);
      void saveAttackPcap(this.config.state_dir, rec);
    });
    this.detector.on('attack_updated', (rec) => this.mitigating() && this.manager.onAttackUpdate(rec));
    this.detector.on('attack_finished', (rec) => this.mitigating() && this.manager.onAttackFinished(rec));
    // Hostgroup-total thresholds alert with alert_scope "hostgroup"; they never ban a host.
    // With actions.hostgroup the manager mitigates the hostgroup (and notifies ban / unban
    // with the ban's life, not the attack's).
    this.detector.onHostgroup('attack_started', (a) => this.hostgroupAttack('ban', a));
    this.detector.onHostgroup('attack_finished', (a) => this.hostgroupAttack('unban', a));
  }

  private buildMetrics(): ReturnType<typeof createMetrics> {
    const capture: CaptureSources = {
      exporters: () => this.collector.stats().exporters,
      counts: () => this.collector.counts(),
      mirror: () => this.mirror?.stats() ?? null,
      config: () => this.config.capture,
      bucketsSaturated: () => this.detector.bucketsSaturated,
    };
    const metrics = createMetrics({
      captureStats: () => captureRows(capture),
      captureEvents: () => captureEvents(capture),
      detector: this.detector,
      mitigations: () => this.manager.list(),
      refused: () => this.manager.refused,
      bgpStatus: () => this.speaker.status(),
      notifyOutcomes: () => this.notifier.outcomes,
      journalStats: () => this.journal.stats,
      filterHits: () => this.detector.filterHits(),
      listenerStats: () => this.collector.stats().listeners,
      hotBuffers: () => this.detector.detectionStats(),
      detectionLoad: () => this.detector.detectionStats(),
    });
    registerWorkerMetrics(metrics, () => {
      const w = this.collector.stats().workers;
      const m = this.mirror instanceof MirrorThread ? this.mirror : null;
      return m ? [...w, m.workerStats()] : w;
    });
    if (this.shards) {
      const sh = this.shards;
      registerShardMetrics(metrics, () => sh.shardStats());
    }
    if (this.cluster) registerClusterMetrics(metrics, this.cluster);
    registerHistoryMetrics(
      metrics,
      () => this.history.stats,
      () => this.recorder.counts(),
    );
    return metrics;
  }

  /** The console on the API listener: static files, live events, attack history. */
  private consoleHook() {
    const history = {
      query: (q: Parameters<AttackHistory['query']>[0]) => this.history.query(q),
      get: (uuid: string) => this.recorder.get(uuid),
    };
    this.live = new LiveEvents({
      mitigations: () => this.manager.list(),
      mitigationCounts: () => this.manager.counts(),
      onMitigation: (l) => {
        this.manager.on('added', (m, r) => l('added', m, r));
        this.manager.on('removed', (m, r) => l('removed', m, r));
      },
      onAttack: (l) => this.recorder.onChange(l),
      history,
      traffic: this.traffic,
      hostgroupTraffic: (name, r) => this.hostgroupTraffic.series(name, r),
      bgpStatus: () => this.speaker.status(),
      exporters: () => this.collector.stats().exporters,
      hostRates: (ip) => this.detector.hostRates(ip),
    });
    return consoleHook({ config: () => this.config, history, routes: [new Assets(), this.live] }).hook;
  }

  /** SIGHUP / PUT /reload: re-read config and policies; a bad file keeps the running one. */
  reload(): { ok: true } | { ok: false; errors: string[] } {
    const r = this.store.reload();
    return r.ok ? { ok: true } : { ok: false, errors: [...r.errors] };
  }

  private applyConfig(cfg: Config, prev: Config): void {
    configureLogging(cfg.logging);
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    if (
      !same(cfg.capture.listeners, prev.capture.listeners) ||
      cfg.capture.mirror_interface !== prev.capture.mirror_interface ||
      cfg.capture.mirror_filter !== prev.capture.mirror_filter ||
      cfg.capture.workers !== prev.capture.workers
    ) {
      log.warn('capture listeners, mirror or workers changed: they take effect at the next restart');
    }
    if (cfg.api.host !== prev.api.host || cfg.api.port !== prev.api.port)
      log.warn('api listen address changed: it takes effect at the next restart');
    if (cfg.state_dir !== prev.state_dir) log.warn('state_dir changed: it takes effect at the next restart');
    if (!same(cfg.cluster, prev.cluster)) log.warn('cluster changed: it takes effect at the next restart');
    reconfigureAll(this.parts, cfg);
    this.computeStatic(cfg);
    this.speaker.sync(this.desiredRoutes());
  }

  /**
   * One daemon per state dir: two writing the same journal would lose mitigations. The pid
   * file of a daemon that died (kill -9) is stale and taken over.
   */
  private async lockStateDir(dir: string): Promise<void> {
    const file = join(dir, 'breakwater.pid');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await writeFile(file, `${process.pid}\n`, { flag: 'wx' });
        this.pidFile = file;
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new Error(
          `state dir ${dir} is in use by another breakwater (pid ${pid}); stop it or use another state_dir`,
        );
      }
      log.warn(`taking over ${file} left by a daemon that is gone (pid ${pid || 'unknown'})`);
      await unlink(file).catch(() => undefined);
    }
    throw new Error(`cannot lock state dir ${dir}`);
  }

  private saturationTimer: NodeJS.Timeout | null = null;

  /**
   * A counter bucket at 2^32-1 is an event to log (at most every 10 s), not a debt: the
   * excess was dropped (detection/store.ts).
   */
  private watchSaturation(): void {
    let seen = 0;
    let held = 0;
    this.saturationTimer = setInterval(() => {
      const h = this.detector.detectionStats().ends_held;
      if (h !== held)
        log.warn(
          'the capture is losing datagrams (kernel drops, breakwater_capture_socket_drops_total): attacks below their thresholds are not ended until it stops (breakwater_detection_ends_held_total)',
        );
      held = h;
      const n = this.detector.bucketsSaturated;
      if (n === seen) return;
      log.warn(
        `${n - seen} detection counter bucket(s) saturated at 2^32-1 in one interval; the excess was dropped, not carried (breakwater_capture_events_total{event="bucket_saturated"})`,
      );
      seen = n;
    }, 10_000);
    this.saturationTimer.unref();
  }

  private unwatchSaturation(): void {
    if (this.saturationTimer) clearInterval(this.saturationTimer);
    this.saturationTimer = null;
  }

  /**
   * A hostgroup-total attack started ('ban') or ended ('unban'): to the manager when its
   * hostgroup is mitigated as one (or a hostgroup-scope ban holds), else only its alert.
   */
  private hostgroupAttack(action: 'ban' | 'unban', a: HostgroupAttack): void {
    if (!this.mitigating()) return;
    const what = `${a.direction} ${a.cls} ${rateText(a.value, a.unit)} (threshold ${rateText(a.threshold, a.unit)}, peak ${rateText(a.peak, a.unit)})`;
    if (action === 'ban')
      log.warn(`hostgroup ${a.hostgroup}: total traffic over its hostgroup threshold: ${what}`);
    else log.info(`hostgroup ${a.hostgroup}: total traffic back under its hostgroup threshold`);
    if (
      this.manager.mitigatesHostgroup(a.hostgroup) ||
      this.manager.hostgroupBans().some((b) => b.hostgroup === a.hostgroup)
    ) {
      if (action === 'ban') void this.manager.onHostgroupAttack(a);
      else this.manager.onHostgroupAttackFinished(a);
      return;
    }
    const hg = classifierOf(this.config).hostgroupByName(a.hostgroup);
    if (hg) this.notifier.notify(hostgroupAlertDocument(action, a), hg.actions.notify);
  }

  /** Clean stop: every part in reverse start order (API and intake first, routes withdrawn unless graceful restart, the journal last). */
  stop(reason = 'stop requested'): Promise<void> {
    this.stopping ??= (async () => {
      log.info(`stopping: ${reason}`);
      if (this.learnedTimer) clearTimeout(this.learnedTimer);
      await stopAll(this.parts, log);
      if (this.pidFile) await unlink(this.pidFile).catch(() => undefined);
      log.info('stopped');
    })();
    return this.stopping;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
