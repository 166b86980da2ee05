/**
 * Capture statistics in the metrics' shape (metrics.ts ExporterStats rows and the
 * breakwater_capture_events_total counts), from the collector, the live mirror and the
 * detector's saturation count. Pure over what the sources report; the daemon wires them.
 */
import type { Registry } from 'prom-client';
import type { Collector, MirrorCapture } from '../capture/index.js';
import type { WorkerStats } from '../capture/input/workers.js';
import type { CaptureConfig } from '../config/types.js';
import type { ShardStats } from '../detection/shards/pool.js';
import { scraped, type ExporterStats } from './metrics.js';

type CollectorStats = ReturnType<Collector['stats']>;
type MirrorCaptureStats = ReturnType<MirrorCapture['stats']>;

export interface CaptureSources {
  /** The collector's per-exporter statistics. */
  readonly exporters: () => CollectorStats['exporters'];
  /** The decoder-wide refusal and drop counts. */
  readonly counts: () => CollectorStats['counts'];
  /** The live mirror, when one runs. */
  readonly mirror: () => MirrorCaptureStats | null;
  /** The current capture config (sampling overrides and default). */
  readonly config: () => CaptureConfig;
  /** Detection counter buckets saturated at 2^32-1 (detection/store.ts). */
  readonly bucketsSaturated: () => number;
}

/**
 * One row per exporter. The sampling rate is the operator's override for the exporter,
 * else the rate learned from its data (sFlow samples, NetFlow/IPFIX options or headers;
 * the first if there are several), else the configured default.
 */
export function captureRows(src: CaptureSources): ExporterStats[] {
  const rows: ExporterStats[] = [];
  const cap = src.config();
  const m = src.mirror();
  if (m) {
    rows.push({
      exporter: m.source,
      protocol: 'mirror',
      datagrams: m.frames,
      records: m.ipFrames,
      malformed: m.malformed,
      dropped: Math.max(0, m.kernelDropped),
      sampling_rate: 1,
      last_seen_ms: m.lastSeenMs,
    });
  }
  return rows.concat(
    src.exporters().map((e) => ({
      exporter: e.exporter,
      protocol: e.formats.join('+') || 'unknown',
      datagrams: e.datagrams,
      records: e.records,
      malformed: e.malformed,
      dropped: e.pendingDropped + e.outOfBounds + e.rateLimited,
      sampling_rate:
        cap.sampling_overrides[e.exporter] ?? Object.values(e.sampling)[0] ?? cap.default_sampling_rate,
      last_seen_ms: e.lastSeenMs,
    })),
  );
}

/** Capture-wide counts for /metrics (breakwater_capture_events_total and the unknown-source series). */
export function captureEvents(src: CaptureSources): Record<string, number> {
  const c = src.counts();
  return {
    unknown_source: c.unknownSource,
    refused_exporter: c.refusedExporter,
    evicted_exporter: c.evictedExporter,
    template_refused: c.templateRefused,
    bad_sampling_rate: c.badSamplingRate,
    record_out_of_bounds: c.recordOutOfBounds,
    record_rate_limited: c.recordRateLimited,
    internal_error: c.internalError,
    bucket_saturated: src.bucketsSaturated(),
  };
}

/**
 * One thread pool's metrics: a gauge of its size, and `per(...)` for a family with one row
 * per thread, labelled `label` (decode workers, detection shards).
 */
function threadMetrics<T>(
  reg: Registry,
  rows: () => readonly T[],
  label: string,
  id: (t: T) => string,
  size: { name: string; help: string },
) {
  scraped([reg], 'gauge', size.name, size.help, [], () => [[{}, rows().length]]);
  return (type: 'gauge' | 'counter', name: string, help: string, pick: (t: T) => number) =>
    scraped([reg], type, name, help, [label], () =>
      rows().map((t) => [{ [label]: id(t) }, pick(t)] as const),
    );
}

/** Decode workers and their record rings (capture/input/workers.ts), for /metrics. */
export function registerWorkerMetrics(reg: Registry, workers: () => readonly WorkerStats[]): void {
  const per = threadMetrics(reg, workers, 'worker', (w) => String(w.index), {
    name: 'breakwater_capture_workers',
    help: 'Decode worker threads running (0: flows are received and decoded on the main thread).',
  });
  per(
    'counter',
    'breakwater_capture_ring_records_total',
    'Flow records a decode worker passed to detection.',
    (w) => w.written,
  );
  per(
    'counter',
    'breakwater_capture_ring_dropped_total',
    "Flow records dropped because a decode worker's ring to detection was full (detection did not keep up).",
    (w) => w.dropped,
  );
  per(
    'gauge',
    'breakwater_capture_ring_queue_bytes',
    'Bytes of records waiting in a decode worker ring.',
    (w) => w.queuedBytes,
  );
  per(
    'gauge',
    'breakwater_capture_ring_high_water_bytes',
    'Most bytes ever waiting in a decode worker ring.',
    (w) => w.highWaterBytes,
  );
  per(
    'gauge',
    'breakwater_capture_ring_capacity_bytes',
    'Size of a decode worker ring.',
    (w) => w.capacityBytes,
  );
  per(
    'counter',
    'breakwater_capture_worker_restarts_total',
    'Decode workers started again after they died (their datagrams meanwhile are lost).',
    (w) => w.restarts,
  );
}

/** Detection shards and their record rings (detection/shards/pool.ts), for /metrics. */
export function registerShardMetrics(reg: Registry, shards: () => readonly ShardStats[]): void {
  const per = threadMetrics(reg, shards, 'shard', (s) => String(s.shard), {
    name: 'breakwater_detection_shards',
    help: 'Detection shard threads (detection.shards; 0 or absent: hosts are counted on the main thread).',
  });
  per(
    'gauge',
    'breakwater_detection_shard_up',
    'A detection shard thread is running (1) or starting again (0).',
    (s) => (s.up ? 1 : 0),
  );
  per(
    'counter',
    'breakwater_detection_shard_records_total',
    "Flow records written to a detection shard's rings (by every producer).",
    (s) => s.written,
  );
  per(
    'counter',
    'breakwater_detection_shard_ring_dropped_total',
    "Flow records dropped because a detection shard's ring was full (the shard did not keep up).",
    (s) => s.dropped,
  );
  per(
    'gauge',
    'breakwater_detection_shard_queue_bytes',
    "Bytes of records waiting in a detection shard's rings.",
    (s) => s.queuedBytes,
  );
  per(
    'gauge',
    'breakwater_detection_shard_high_water_bytes',
    "Most bytes ever waiting in one of a detection shard's rings.",
    (s) => s.highWaterBytes,
  );
  per(
    'counter',
    'breakwater_detection_shard_restarts_total',
    'Detection shards started again after they died (their host counters and attacks in progress were lost and rebuilt).',
    (s) => s.restarts,
  );
  per(
    'counter',
    'breakwater_detection_shard_query_timeouts_total',
    'Queries (a host rates, top, statistics) a detection shard did not answer in time (answered as unknown).',
    (s) => s.queryTimeouts,
  );
}
