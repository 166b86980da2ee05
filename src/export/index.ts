/**
 * The export room: Graphite and InfluxDB pushes of the detector's series (off a timer, one
 * snapshot per interval), Redis records and events on ban/unban, and their Prometheus
 * metrics. The daemon creates one Exports, feeds it attack/notify events, and reconfigures
 * it on reload; nothing here is on the detection path (see queue.ts).
 */
import { Gauge, Counter, type Registry } from 'prom-client';
import type { Config } from '../config/types.js';
import { logger } from '../log.js';
import { ExportQueue, type ExportStats } from './queue.js';
import { graphiteLines, GraphiteTransport } from './graphite.js';
import { influxLines, InfluxTransport } from './influx.js';
import { takeSnapshot, type SeriesSource, type Snapshot } from './series.js';
import { redisBatch, redisCommands, RedisTransport } from './redis.js';
import type { NotifyDocument } from '../notify/index.js';

const log = logger.child({ module: 'export' });

export type { SeriesSource, Snapshot } from './series.js';

interface Pusher {
  readonly key: string;
  readonly queue: ExportQueue;
  /** Graphite/InfluxDB push on a timer; Redis writes on events (null). */
  readonly timer: NodeJS.Timeout | null;
}

export class Exports {
  private pushers = new Map<string, Pusher>();
  /** Counters survive a reconfigure (a new queue per target starts from these). */
  private readonly totals = new Map<string, ExportStats>();
  private cfg: Config | null = null;

  constructor(private readonly src: SeriesSource) {}

  /** Start, stop or restart the pushers the config asks for. */
  configure(cfg: Config): void {
    this.cfg = cfg;
    const want = new Map<
      string,
      { key: string; interval: number; make: () => { queue: ExportQueue; tick: (() => void) | null } }
    >();
    const g = cfg.graphite;
    if (g) {
      want.set('graphite', {
        key: JSON.stringify(g),
        interval: g.interval_ms,
        make: () => {
          const queue = new ExportQueue(
            `graphite ${g.host}:${g.port}`,
            new GraphiteTransport(g.host, g.port),
            log,
          );
          return { queue, tick: () => queue.push(graphiteLines(this.snapshot(g.top_hosts), g.prefix)) };
        },
      });
    }
    const i = cfg.influxdb;
    if (i) {
      want.set('influxdb', {
        key: JSON.stringify(i),
        interval: i.interval_ms,
        make: () => {
          const queue = new ExportQueue(`influxdb ${i.url}`, new InfluxTransport(i), log);
          return { queue, tick: () => queue.push(influxLines(this.snapshot(i.top_hosts))) };
        },
      });
    }
    const r = cfg.redis;
    if (r) {
      want.set('redis', {
        key: JSON.stringify(r),
        interval: 0,
        make: () => ({
          queue: new ExportQueue(`redis ${redactUrl(r.url)}`, new RedisTransport(r.url), log, {
            maxBatches: 1000,
          }),
          tick: null,
        }),
      });
    }
    for (const [name, p] of this.pushers) {
      if (want.get(name)?.key === p.key) continue;
      this.stopOne(name, p);
    }
    for (const [name, w] of want) {
      if (this.pushers.has(name)) continue;
      const { queue, tick } = w.make();
      const prev = this.totals.get(name);
      if (prev) Object.assign(queue.stats, { ...prev, up: 1, queued_batches: 0 });
      let timer: NodeJS.Timeout | null = null;
      if (tick) {
        timer = setInterval(() => {
          try {
            tick();
          } catch (e) {
            log.error(`${name}: building the series failed: ${(e as Error).message}`);
          }
        }, w.interval);
        timer.unref();
        log.info(`${name}: pushing every ${w.interval} ms`);
      } else log.info(`${name}: writing ban records and events`);
      this.pushers.set(name, { key: w.key, queue, timer });
    }
  }

  /** A host ban/unban document (mitigation's notify tap): Redis records and events. */
  /** Does anything here take notify documents (so the manager need not build them)? */
  wantsNotify(): boolean {
    return !!this.cfg?.redis && this.pushers.has('redis');
  }

  onNotify(doc: NotifyDocument): void {
    const r = this.cfg?.redis;
    const p = this.pushers.get('redis');
    if (!r || !p) return;
    const cmds = redisCommands(doc, r);
    if (cmds.length) p.queue.push(redisBatch(cmds));
  }

  private snapshotCache: { at: number; top: number; s: Snapshot } | null = null;

  /** Graphite and InfluxDB on the same interval share one snapshot. */
  private snapshot(top: number): Snapshot {
    const now = Date.now();
    const c = this.snapshotCache;
    if (c && c.top === top && now - c.at < 50) return c.s;
    const s = takeSnapshot(this.src, top, now);
    this.snapshotCache = { at: now, top, s };
    return s;
  }

  private stopOne(name: string, p: Pusher): void {
    if (p.timer) clearInterval(p.timer);
    p.queue.close();
    this.totals.set(name, { ...p.queue.stats });
    this.pushers.delete(name);
  }

  /** Counters per target, for the metrics. */
  stats(): Map<string, ExportStats> {
    const out = new Map<string, ExportStats>();
    for (const [name, s] of this.totals) out.set(name, s);
    for (const [name, p] of this.pushers) out.set(name, p.queue.stats);
    return out;
  }

  /** Push one snapshot to every target now and wait for it to be written (tests). */
  async pushNow(): Promise<void> {
    this.snapshotCache = null;
    const cfg = this.cfg;
    for (const [name, p] of this.pushers) {
      if (name === 'graphite' && cfg?.graphite)
        p.queue.push(graphiteLines(this.snapshot(cfg.graphite.top_hosts), cfg.graphite.prefix));
      if (name === 'influxdb' && cfg?.influxdb)
        p.queue.push(influxLines(this.snapshot(cfg.influxdb.top_hosts)));
      // Redis has nothing to push on demand: its queue is only flushed.
      await p.queue.flush();
    }
  }

  stop(): void {
    for (const [name, p] of [...this.pushers]) this.stopOne(name, p);
  }
}

/** A URL for logs: the password is not shown. */
function redactUrl(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

/** breakwater_export_* metrics over Exports.stats(), registered on the daemon's registry. */
export function registerExportMetrics(registry: Registry, stats: () => Map<string, ExportStats>): void {
  const reg = [registry];
  const series = (
    type: 'gauge' | 'counter',
    name: string,
    help: string,
    pick: (s: ExportStats) => number,
  ) => {
    const base = { name, help, labelNames: ['target'], registers: reg };
    const fill = (set: (labels: { target: string }, v: number) => void) => {
      for (const [target, s] of stats()) set({ target }, pick(s));
    };
    if (type === 'gauge') {
      new Gauge({
        ...base,
        collect() {
          this.reset();
          fill((l, v) => this.set(l, v));
        },
      });
    } else {
      new Counter({
        ...base,
        collect() {
          this.reset();
          fill((l, v) => this.inc(l, v));
        },
      });
    }
  };
  series(
    'gauge',
    'breakwater_export_up',
    'Whether the last write to the export target succeeded (graphite, influxdb, redis).',
    (s) => s.up,
  );
  series(
    'counter',
    'breakwater_export_points_total',
    'Points (lines, events) written to the export target.',
    (s) => s.points_sent,
  );
  series(
    'counter',
    'breakwater_export_dropped_points_total',
    'Points dropped: the queue was full while the target was down, or the target rejected them.',
    (s) => s.points_dropped,
  );
  series(
    'counter',
    'breakwater_export_errors_total',
    'Failed writes to the export target (retried with backoff).',
    (s) => s.errors,
  );
  series(
    'gauge',
    'breakwater_export_queued_batches',
    'Batches waiting for the export target.',
    (s) => s.queued_batches,
  );
}
