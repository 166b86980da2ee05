/**
 * Prometheus metrics (prom-client). Every value is read at scrape time from injected
 * providers, so the hot paths keep plain counters and pay nothing for metrics. Counters
 * mirrored from other modules are exported as prom-client Counters refilled in collect().
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { PeerStatus } from '../bgp/types.js';
import type { Detector } from '../detection/types.js';
import type { JournalStats } from '../mitigation/journal.js';
import type { Mitigation } from '../mitigation/types.js';
import { logDropped } from '../log.js';

/** Per-exporter statistics the capture side provides (all counters since start). */
export interface ExporterStats {
  readonly exporter: string;
  /** sflow | netflow5 | netflow9 | ipfix | mirror */
  readonly protocol: string;
  readonly datagrams: number;
  readonly records: number;
  readonly malformed: number;
  /** Records dropped for other reasons (unknown template, queue full). */
  readonly dropped?: number;
  readonly sampling_rate: number;
  /** ms since epoch of the last datagram. */
  readonly last_seen_ms: number;
}

export interface MetricsSources {
  captureStats?: () => readonly ExporterStats[];
  /** Per UDP listener: kernel drops and receive-queue bytes (null where /proc/net/udp cannot be read). */
  listenerStats?: () => readonly {
    readonly name: string;
    readonly kernelDrops: number | null;
    readonly rxQueueBytes: number | null;
  }[];
  /** Capture-wide refusal and drop counts (unknown_source, refused_exporter, evicted_exporter, ...). */
  captureEvents?: () => Readonly<Record<string, number>>;
  detector?: Pick<Detector, 'totals' | 'top'> | null;
  mitigations?: () => readonly Mitigation[];
  refused?: () => Readonly<Record<string, number>>;
  bgpStatus?: () => readonly PeerStatus[];
  notifyOutcomes?: () => Readonly<Record<string, number>>;
  journalStats?: () => JournalStats;
  /** Hot-host sample buffers under detection.hot_sample_bytes (detection/hot.ts). */
  hotBuffers?: () => {
    readonly hot_buffers: number;
    readonly hot_buffer_bytes: number;
    readonly hot_buffers_refused: number;
  };
  /** Detection under load (detection/tick.ts): attack starts deferred to a later tick, ticks run late. */
  detectionLoad?: () => {
    readonly starts_deferred: number;
    readonly starts_early: number;
    readonly ticks_late: number;
    readonly ends_held: number;
  };
  /** Flow filter hits per rule (docs/integrations.md). */
  filterHits?: () => readonly { scope: string; rule: number; action: string; hits: number }[];
  /** How many top hosts per unit and direction (default 10). */
  topN?: number;
  /** process_* metrics (default true). */
  defaultMetrics?: boolean;
}

const PEER_STATES = ['Idle', 'Connect', 'Active', 'OpenSent', 'OpenConfirm', 'Established'] as const;
const KINDS = ['blackhole', 'flowspec', 'escalation'] as const;

function safe<T>(f: (() => T) | undefined | null, fallback: T): T {
  if (!f) return fallback;
  try {
    return f();
  } catch {
    return fallback;
  }
}

type Labels = Record<string, string>;
type Rows = Iterable<readonly [Labels, number]>;

/**
 * A gauge (set) or counter (inc) whose series are all rebuilt from `rows` at each scrape;
 * rows read their providers through safe(), so a failing provider yields no series.
 */
export function scraped(
  reg: Registry[],
  type: 'gauge' | 'counter',
  name: string,
  help: string,
  labelNames: readonly string[],
  rows: () => Rows,
): void {
  const base = { name, help, labelNames, registers: reg };
  if (type === 'gauge') {
    new Gauge({
      ...base,
      collect() {
        this.reset();
        for (const [labels, v] of rows()) this.set(labels, v);
      },
    });
  } else {
    new Counter({
      ...base,
      collect() {
        this.reset();
        for (const [labels, v] of rows()) this.inc(labels, v);
      },
    });
  }
}

/** Build a registry with Breakwater's metrics over the given providers. */
export function createMetrics(src: MetricsSources, registry: Registry = new Registry()): Registry {
  const reg = [registry];
  if (src.defaultMetrics !== false) processMetrics(reg);
  // src/log.ts drops (never buffers without bound) lines a failed or stalled log sink cannot take.
  scraped(
    reg,
    'counter',
    'breakwater_log_dropped_total',
    'Log lines dropped because the log output failed (closed pipe, EPIPE/EIO) or stalled.',
    [],
    () => [[{}, logDropped()]],
  );

  const perExporter = (
    type: 'gauge' | 'counter',
    name: string,
    help: string,
    pick: (e: ExporterStats) => number | undefined,
  ) =>
    scraped(reg, type, name, help, ['exporter', 'protocol'], function* () {
      for (const e of safe(src.captureStats, [])) {
        const v = pick(e);
        if (v !== undefined) yield [{ exporter: e.exporter, protocol: e.protocol }, v] as const;
      }
    });
  // What the kernel dropped before the daemon read it (capture/input/socket-drops.ts).
  for (const [type, name, help, pick] of [
    [
      'counter',
      'breakwater_capture_socket_drops_total',
      'Datagrams the kernel dropped per UDP listener because its receive buffer was full (the daemon did not read fast enough; see capture.receive_buffer_bytes and net.core.rmem_max).',
      (l: { kernelDrops: number | null }) => l.kernelDrops,
    ],
    [
      'gauge',
      'breakwater_capture_socket_receive_queue_bytes',
      'Bytes waiting in a UDP listener receive queue at scrape time.',
      (l: { rxQueueBytes: number | null }) => l.rxQueueBytes,
    ],
  ] as const)
    scraped(reg, type, name, help, ['listener'], function* () {
      for (const l of safe(src.listenerStats, [])) {
        const v = pick(l);
        if (v !== null) yield [{ listener: l.name }, v] as const;
      }
    });

  perExporter(
    'counter',
    'breakwater_capture_datagrams_total',
    'Flow datagrams (or mirrored packets) received per exporter.',
    (e) => e.datagrams,
  );
  perExporter(
    'counter',
    'breakwater_capture_records_total',
    'Flow records or packet samples decoded per exporter.',
    (e) => e.records,
  );
  perExporter(
    'counter',
    'breakwater_capture_malformed_total',
    'Malformed datagrams or records per exporter (counted and skipped).',
    (e) => e.malformed,
  );
  perExporter(
    'counter',
    'breakwater_capture_dropped_total',
    'Records dropped per exporter for other reasons (unknown template, overload).',
    (e) => e.dropped ?? 0,
  );
  perExporter(
    'gauge',
    'breakwater_capture_sampling_rate',
    'Sampling rate applied to each exporter.',
    (e) => e.sampling_rate,
  );
  perExporter(
    'gauge',
    'breakwater_capture_last_seen_timestamp_seconds',
    'Unix time of the last datagram from each exporter.',
    (e) => e.last_seen_ms / 1000,
  );

  // The allowlist (capture.exporters): what an unknown source sent never reaches a decoder.
  scraped(
    reg,
    'counter',
    'breakwater_capture_unknown_source_datagrams_total',
    'Flow datagrams dropped before decoding because their source is not in capture.exporters.',
    [],
    () => {
      const e = safe(src.captureEvents, {} as Readonly<Record<string, number>>);
      return e.unknown_source === undefined ? [] : [[{}, e.unknown_source]];
    },
  );
  scraped(
    reg,
    'counter',
    'breakwater_capture_events_total',
    'Capture refusals and drops by event: refused_exporter (table full), evicted_exporter, template_refused (caps), bad_sampling_rate, record_out_of_bounds (more than max_link_bps could carry), record_rate_limited (max_records_per_second), internal_error, bucket_saturated (a counter bucket at 2^32-1, excess dropped).',
    ['event'],
    function* () {
      for (const [k, v] of Object.entries(safe(src.captureEvents, {} as Readonly<Record<string, number>>)))
        if (k !== 'unknown_source') yield [{ event: k }, v] as const;
    },
  );

  // detection.hot_sample_bytes: one cap on all hot-host sample buffers; what it refused is counted.
  const hot = (
    type: 'gauge' | 'counter',
    name: string,
    help: string,
    key: 'hot_buffers' | 'hot_buffer_bytes' | 'hot_buffers_refused',
  ) =>
    scraped(reg, type, name, help, [], () => {
      const h = safe(src.hotBuffers, null);
      return h ? [[{}, h[key]]] : [];
    });
  hot(
    'gauge',
    'breakwater_detection_hot_buffers',
    'Hot hosts holding a sample buffer (with packet headers).',
    'hot_buffers',
  );
  hot(
    'gauge',
    'breakwater_detection_hot_buffer_bytes',
    'Bytes allocated for hot-host sample buffers (at most detection.hot_sample_bytes).',
    'hot_buffer_bytes',
  );
  hot(
    'counter',
    'breakwater_detection_hot_buffers_refused_total',
    'Hosts that got hot while detection.hot_sample_bytes was reached: detected all the same, samples from the baseline ring instead.',
    'hot_buffers_refused',
  );

  for (const [key, name, help] of [
    [
      'starts_deferred',
      'breakwater_detection_starts_deferred_total',
      'Attack starts moved to the next tick because the tick had spent its 40 ms start budget (a carpet bomb)',
    ],
    [
      'starts_early',
      'breakwater_detection_starts_early_total',
      'Attacks started between two ticks, as soon as the window so far was over a ban threshold',
    ],
    [
      'ticks_late',
      'breakwater_detection_ticks_late_total',
      'Detection ticks run late because the main thread was busy (more than two due at once)',
    ],
    [
      'ends_held',
      'breakwater_detection_ends_held_total',
      'Attack checks that would have ended an attack but did not because the capture was losing datagrams (kernel drops in the last 3 s)',
    ],
  ] as const)
    scraped(reg, 'counter', name, help, [], () => {
      const d = safe(src.detectionLoad, null);
      return d ? [[{}, d[key]]] : [];
    });

  const totals = (
    name: string,
    help: string,
    inKey: 'in_packets' | 'in_bytes' | 'in_flows',
    outKey: 'out_packets' | 'out_bytes' | 'out_flows',
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ['direction'],
      registers: reg,
      collect() {
        this.reset();
        const t = safe(() => src.detector?.totals() ?? null, null);
        if (!t) return;
        this.set({ direction: 'incoming' }, t[inKey]);
        this.set({ direction: 'outgoing' }, t[outKey]);
      },
    });
  totals(
    'breakwater_traffic_packets_per_second',
    'Total monitored traffic, packets per second.',
    'in_packets',
    'out_packets',
  );
  totals(
    'breakwater_traffic_bytes_per_second',
    'Total monitored traffic, bytes per second.',
    'in_bytes',
    'out_bytes',
  );
  totals(
    'breakwater_traffic_flows_per_second',
    'Total monitored traffic, flows per second.',
    'in_flows',
    'out_flows',
  );

  const topN = src.topN ?? 10;
  new Gauge({
    name: 'breakwater_top_host_rate',
    help: `Per-second rate of the top ${topN} hosts by unit and direction.`,
    labelNames: ['host', 'unit', 'direction'],
    registers: reg,
    collect() {
      this.reset();
      const d = src.detector;
      if (!d) return;
      for (const unit of ['packets', 'bytes', 'flows'] as const) {
        for (const direction of ['incoming', 'outgoing'] as const) {
          const key = `${direction === 'incoming' ? 'in' : 'out'}_${unit}` as const;
          for (const h of safe(() => d.top(topN, unit, direction), []))
            this.set({ host: h.ip, unit, direction }, h[key]);
        }
      }
    },
  });

  new Gauge({
    name: 'breakwater_mitigations_active',
    help: 'Active mitigations by kind (dry_run="true" ones are not announced).',
    labelNames: ['kind', 'dry_run'],
    registers: reg,
    collect() {
      this.reset();
      const list = safe(src.mitigations, []);
      for (const kind of KINDS) {
        for (const dry of [false, true])
          this.set(
            { kind, dry_run: String(dry) },
            list.filter((m) => m.kind === kind && m.dry_run === dry).length,
          );
      }
    },
  });
  const byKey = (
    name: string,
    help: string,
    label: string,
    provider: (() => Readonly<Record<string, number>>) | undefined,
  ) =>
    scraped(reg, 'counter', name, help, [label], () =>
      Object.entries(safe(provider, {})).map(([k, v]) => [{ [label]: k }, v] as const),
    );
  byKey(
    'breakwater_mitigations_refused_total',
    'Mitigations refused by the safety rules, by reason.',
    'reason',
    src.refused,
  );

  scraped(
    reg,
    'gauge',
    'breakwater_bgp_peer_state',
    'BGP session state of each peer: 1 for the current state, 0 for the others.',
    ['peer', 'address', 'state'],
    function* () {
      for (const p of safe(src.bgpStatus, []))
        for (const s of PEER_STATES)
          yield [{ peer: p.name, address: p.address, state: s }, p.state === s ? 1 : 0] as const;
    },
  );
  const perPeer = (type: 'gauge' | 'counter', name: string, help: string, pick: (p: PeerStatus) => number) =>
    scraped(reg, type, name, help, ['peer', 'address'], () =>
      safe(src.bgpStatus, []).map((p) => [{ peer: p.name, address: p.address }, pick(p)] as const),
    );
  perPeer('gauge', 'breakwater_bgp_peer_up', 'Whether the BGP session is Established.', (p) =>
    p.state === 'Established' ? 1 : 0,
  );
  perPeer(
    'gauge',
    'breakwater_bgp_peer_uptime_seconds',
    'Seconds since the session became Established (0 when down).',
    (p) => p.uptime_s,
  );
  perPeer(
    'gauge',
    'breakwater_bgp_prefixes_advertised',
    'Routes currently advertised to the peer.',
    (p) => p.prefixes_out,
  );
  perPeer(
    'gauge',
    'breakwater_bgp_prefixes_received',
    'Routes received from the peer.',
    (p) => p.prefixes_in,
  );
  perPeer(
    'counter',
    'breakwater_bgp_messages_received_total',
    'BGP messages received from the peer.',
    (p) => p.messages_in,
  );
  perPeer(
    'counter',
    'breakwater_bgp_messages_sent_total',
    'BGP messages sent to the peer.',
    (p) => p.messages_out,
  );
  perPeer(
    'counter',
    'breakwater_bgp_updates_received_total',
    'BGP UPDATE messages received from the peer.',
    (p) => p.updates_in,
  );
  perPeer(
    'counter',
    'breakwater_bgp_updates_sent_total',
    'BGP UPDATE messages sent to the peer.',
    (p) => p.updates_out,
  );

  byKey(
    'breakwater_notify_runs_total',
    'Notify script runs and webhook posts by outcome (ok, failed, timeout, missing, dropped, webhook_ok, webhook_failed).',
    'outcome',
    src.notifyOutcomes,
  );

  scraped(
    reg,
    'counter',
    'breakwater_filter_hits_total',
    'Records a flow filter rule matched (action drop: not counted), by scope (capture or hostgroup:<name>) and rule index.',
    ['scope', 'rule', 'action'],
    () =>
      safe(src.filterHits, []).map(
        (h) => [{ scope: h.scope, rule: String(h.rule), action: h.action }, h.hits] as const,
      ),
  );

  if (src.journalStats) {
    const js = src.journalStats;
    const journal = (name: string, help: string, pick: (s: JournalStats) => number) =>
      scraped(reg, 'counter', name, help, [], () => {
        const s = safe(js, null);
        return [[{}, s ? pick(s) : 0]] as const;
      });
    journal(
      'breakwater_journal_corrupt_lines_total',
      'State journal lines found corrupt (and skipped) at the last start.',
      (s) => s.corrupt_lines,
    );
    journal(
      'breakwater_journal_appends_total',
      'Changes written (and fsynced) to the state journal.',
      (s) => s.appends,
    );
    journal('breakwater_journal_compactions_total', 'State journal compactions.', (s) => s.compactions);
  }
  return registry;
}

/**
 * A few process metrics. prom-client's collectDefaultMetrics is not used: its
 * nodejs_active_*_total gauges fail `promtool check metrics` (a _total suffix on a gauge).
 */
function processMetrics(reg: Registry[]): void {
  const startSeconds = Math.round(Date.now() / 1000 - process.uptime());
  new Counter({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
    registers: reg,
    collect() {
      const u = process.cpuUsage();
      this.reset();
      this.inc((u.user + u.system) / 1e6);
    },
  });
  new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    registers: reg,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Gauge({
    name: 'process_start_time_seconds',
    help: 'Start time of the process since unix epoch in seconds.',
    registers: reg,
    collect() {
      this.set(startSeconds);
    },
  });
  new Gauge({
    name: 'nodejs_heap_used_bytes',
    help: 'V8 heap in use, bytes.',
    registers: reg,
    collect() {
      this.set(process.memoryUsage().heapUsed);
    },
  });
}
