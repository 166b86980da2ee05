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
  detector?: Pick<Detector, 'totals' | 'top'> | null;
  mitigations?: () => readonly Mitigation[];
  refused?: () => Readonly<Record<string, number>>;
  bgpStatus?: () => readonly PeerStatus[];
  notifyOutcomes?: () => Readonly<Record<string, number>>;
  journalStats?: () => JournalStats;
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

/** Build a registry with Breakwater's metrics over the given providers. */
export function createMetrics(src: MetricsSources, registry: Registry = new Registry()): Registry {
  const reg = [registry];
  if (src.defaultMetrics !== false) processMetrics(reg);

  const exporterCounter = (name: string, help: string, pick: (e: ExporterStats) => number | undefined) =>
    new Counter({
      name,
      help,
      labelNames: ['exporter', 'protocol'],
      registers: reg,
      collect() {
        this.reset();
        for (const e of safe(src.captureStats, [])) {
          const v = pick(e);
          if (v !== undefined) this.inc({ exporter: e.exporter, protocol: e.protocol }, v);
        }
      },
    });
  exporterCounter('breakwater_capture_datagrams_total', 'Flow datagrams (or mirrored packets) received per exporter.', (e) => e.datagrams);
  exporterCounter('breakwater_capture_records_total', 'Flow records or packet samples decoded per exporter.', (e) => e.records);
  exporterCounter('breakwater_capture_malformed_total', 'Malformed datagrams or records per exporter (counted and skipped).', (e) => e.malformed);
  exporterCounter('breakwater_capture_dropped_total', 'Records dropped per exporter for other reasons (unknown template, overload).', (e) => e.dropped ?? 0);
  new Gauge({
    name: 'breakwater_capture_sampling_rate',
    help: 'Sampling rate applied to each exporter.',
    labelNames: ['exporter', 'protocol'],
    registers: reg,
    collect() {
      this.reset();
      for (const e of safe(src.captureStats, [])) this.set({ exporter: e.exporter, protocol: e.protocol }, e.sampling_rate);
    },
  });
  new Gauge({
    name: 'breakwater_capture_last_seen_timestamp_seconds',
    help: 'Unix time of the last datagram from each exporter.',
    labelNames: ['exporter', 'protocol'],
    registers: reg,
    collect() {
      this.reset();
      for (const e of safe(src.captureStats, [])) this.set({ exporter: e.exporter, protocol: e.protocol }, e.last_seen_ms / 1000);
    },
  });

  const totals = (name: string, help: string, inKey: 'in_packets' | 'in_bytes' | 'in_flows', outKey: 'out_packets' | 'out_bytes' | 'out_flows') =>
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
  totals('breakwater_traffic_packets_per_second', 'Total monitored traffic, packets per second.', 'in_packets', 'out_packets');
  totals('breakwater_traffic_bytes_per_second', 'Total monitored traffic, bytes per second.', 'in_bytes', 'out_bytes');
  totals('breakwater_traffic_flows_per_second', 'Total monitored traffic, flows per second.', 'in_flows', 'out_flows');

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
          for (const h of safe(() => d.top(topN, unit, direction), [])) this.set({ host: h.ip, unit, direction }, h[key]);
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
        for (const dry of [false, true]) this.set({ kind, dry_run: String(dry) }, list.filter((m) => m.kind === kind && m.dry_run === dry).length);
      }
    },
  });
  new Counter({
    name: 'breakwater_mitigations_refused_total',
    help: 'Mitigations refused by the safety rules, by reason.',
    labelNames: ['reason'],
    registers: reg,
    collect() {
      this.reset();
      for (const [reason, v] of Object.entries(safe(src.refused, {}))) this.inc({ reason }, v);
    },
  });

  new Gauge({
    name: 'breakwater_bgp_peer_state',
    help: 'BGP session state of each peer: 1 for the current state, 0 for the others.',
    labelNames: ['peer', 'address', 'state'],
    registers: reg,
    collect() {
      this.reset();
      for (const p of safe(src.bgpStatus, [])) for (const s of PEER_STATES) this.set({ peer: p.name, address: p.address, state: s }, p.state === s ? 1 : 0);
    },
  });
  new Gauge({
    name: 'breakwater_bgp_peer_up',
    help: 'Whether the BGP session is Established.',
    labelNames: ['peer', 'address'],
    registers: reg,
    collect() {
      this.reset();
      for (const p of safe(src.bgpStatus, [])) this.set({ peer: p.name, address: p.address }, p.state === 'Established' ? 1 : 0);
    },
  });
  const peerGauge = (name: string, help: string, pick: (p: PeerStatus) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['peer', 'address'],
      registers: reg,
      collect() {
        this.reset();
        for (const p of safe(src.bgpStatus, [])) this.set({ peer: p.name, address: p.address }, pick(p));
      },
    });
  peerGauge('breakwater_bgp_peer_uptime_seconds', 'Seconds since the session became Established (0 when down).', (p) => p.uptime_s);
  peerGauge('breakwater_bgp_prefixes_advertised', 'Routes currently advertised to the peer.', (p) => p.prefixes_out);
  peerGauge('breakwater_bgp_prefixes_received', 'Routes received from the peer.', (p) => p.prefixes_in);
  const peerCounter = (name: string, help: string, pick: (p: PeerStatus) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['peer', 'address'],
      registers: reg,
      collect() {
        this.reset();
        for (const p of safe(src.bgpStatus, [])) this.inc({ peer: p.name, address: p.address }, pick(p));
      },
    });
  peerCounter('breakwater_bgp_messages_received_total', 'BGP messages received from the peer.', (p) => p.messages_in);
  peerCounter('breakwater_bgp_messages_sent_total', 'BGP messages sent to the peer.', (p) => p.messages_out);
  peerCounter('breakwater_bgp_updates_received_total', 'BGP UPDATE messages received from the peer.', (p) => p.updates_in);
  peerCounter('breakwater_bgp_updates_sent_total', 'BGP UPDATE messages sent to the peer.', (p) => p.updates_out);

  new Counter({
    name: 'breakwater_notify_runs_total',
    help: 'Notify script runs and webhook posts by outcome (ok, failed, timeout, missing, dropped, webhook_ok, webhook_failed).',
    labelNames: ['outcome'],
    registers: reg,
    collect() {
      this.reset();
      for (const [outcome, v] of Object.entries(safe(src.notifyOutcomes, {}))) this.inc({ outcome }, v);
    },
  });

  if (src.journalStats) {
    const js = src.journalStats;
    new Counter({
      name: 'breakwater_journal_corrupt_lines_total',
      help: 'State journal lines found corrupt (and skipped) at the last start.',
      registers: reg,
      collect() {
        this.reset();
        this.inc(safe(js, null)?.corrupt_lines ?? 0);
      },
    });
    new Counter({
      name: 'breakwater_journal_appends_total',
      help: 'Changes written (and fsynced) to the state journal.',
      registers: reg,
      collect() {
        this.reset();
        this.inc(safe(js, null)?.appends ?? 0);
      },
    });
    new Counter({
      name: 'breakwater_journal_compactions_total',
      help: 'State journal compactions.',
      registers: reg,
      collect() {
        this.reset();
        this.inc(safe(js, null)?.compactions ?? 0);
      },
    });
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
