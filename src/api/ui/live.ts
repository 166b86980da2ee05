/**
 * Live data for the console: Server-Sent Events at GET /events and the traffic series at
 * GET /traffic?resolution=1s|1m[&hostgroup=<name>].
 *
 * Events (each `event: <name>\ndata: <json>`):
 *   snapshot    on connect: traffic (1 s and 1 min series), attacks, mitigations, peers, exporters
 *   tick        every second: the traffic point, peers, exporters (with rates), mitigation counts
 *   attack      at once on every change of an attack (detected, banned, updated, finished…)
 *   mitigation  at once when a mitigation is added or removed
 *   host        every second with ?host=<ip>: that host's rates
 * Attack and mitigation events are pushed from the event itself, not from the tick, so the
 * screen follows detection within one network round trip. Only an attack's rate updates
 * wait for the next tick (the newest per attack, at most MAX_UPDATES a tick), so a carpet
 * bomb of thousands of hosts does not flood the browsers.
 */
import type http from 'node:http';
import type { PeerStatus } from '../../bgp/types.js';
import type { ExporterStats } from '../../capture/index.js';
import type { HostRates } from '../../detection/types.js';
import type { HistoryAttack } from '../../history/types.js';
import type { TrafficHistory, TrafficSeries } from '../../history/traffic.js';
import { causeText } from '../../mitigation/cause.js';
import type { Mitigation } from '../../mitigation/types.js';
import { parseIp } from '../../config/values.js';
import { HttpError, send } from '../server.js';
import { attackJson, type HistorySource } from './history-api.js';
import type { ConsoleRoute } from './index.js';

export interface LiveSources {
  readonly mitigations: () => readonly Mitigation[];
  /** Active mitigations by kind, O(1) (else counted from mitigations()). */
  readonly mitigationCounts?: () => Readonly<Record<string, number>>;
  readonly onMitigation: (listener: (op: 'added' | 'removed', m: Mitigation, reason: string) => void) => void;
  readonly onAttack: (listener: (rec: HistoryAttack) => void) => void;
  readonly history: HistorySource;
  readonly traffic: TrafficHistory;
  /** Per-hostgroup series; null for an unknown hostgroup. */
  readonly hostgroupTraffic?: (name: string, resolution: '1s' | '1m') => TrafficSeries | null;
  readonly bgpStatus: () => readonly PeerStatus[];
  readonly exporters: () => readonly ExporterStats[];
  readonly hostRates: (ip: string) => HostRates | null;
}

interface Client {
  readonly res: http.ServerResponse;
  readonly host: string | null;
}

const MAX_CLIENTS = 64;
const MAX_UPDATES = 500;
const RECENT_ATTACKS = 50;

export class LiveEvents implements ConsoleRoute {
  private readonly clients = new Set<Client>();
  private readonly prev = new Map<string, { records: number; datagrams: number; at: number }>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly updates = new Map<string, HistoryAttack>();
  /** Events written, for tests and metrics. */
  sent = 0;

  constructor(private readonly src: LiveSources) {
    src.onAttack((rec) => {
      if (this.clients.size === 0) return;
      if (rec.active && rec.timeline.at(-1)?.event === 'updated') this.updates.set(rec.uuid, rec);
      else {
        this.updates.delete(rec.uuid);
        this.publish('attack', attackJson(rec, false));
      }
    });
    // Cheap per change (a carpet bomb adds thousands a second): nothing is built without a
    // client, and the counts come from the manager's counters, not a walk of every mitigation.
    src.onMitigation((op, m, reason) => {
      if (this.clients.size > 0)
        this.publish('mitigation', { op, reason, mitigation: mitigationJson(m), counts: this.counts() });
    });
    src.traffic.onPoint((t, v) => this.tick(t, v));
    // Comments keep proxies and browsers from timing out an idle stream.
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) c.res.write(': ping\n\n');
    }, 15_000);
    this.heartbeat.unref();
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): boolean {
    if (url.pathname === '/traffic') {
      if (req.method !== 'GET')
        throw new HttpError(405, `${req.method} is not allowed on /traffic (allowed: GET)`);
      const r = url.searchParams.get('resolution') ?? '1s';
      if (r !== '1s' && r !== '1m')
        throw new HttpError(400, `resolution must be 1s (15 minutes) or 1m (24 hours), not '${r}'`);
      const hg = url.searchParams.get('hostgroup');
      if (hg === null) {
        send(res, 200, { success: true, object: { resolution: r, ...this.src.traffic.series(r) } });
        return true;
      }
      const s = this.src.hostgroupTraffic?.(hg, r) ?? null;
      if (!s) throw new HttpError(404, `no hostgroup '${hg}'`);
      send(res, 200, { success: true, object: { resolution: r, hostgroup: hg, ...s } });
      return true;
    }
    if (url.pathname !== '/events') return false;
    if (req.method !== 'GET')
      throw new HttpError(405, `${req.method} is not allowed on /events (allowed: GET)`);
    if (this.clients.size >= MAX_CLIENTS)
      throw new HttpError(503, `too many live consoles (${MAX_CLIENTS}); close one`);
    let host: string | null = null;
    const h = url.searchParams.get('host');
    if (h !== null) {
      try {
        host = parseIp(h).text;
      } catch {
        throw new HttpError(400, `host: '${h}' is not an IPv4 or IPv6 address`);
      }
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    res.socket?.setNoDelay(true);
    const c: Client = { res, host };
    this.clients.add(c);
    req.on('close', () => this.clients.delete(c));
    res.write('retry: 2000\n\n');
    this.write(c, 'snapshot', this.snapshot(host));
    return true;
  }

  private snapshot(host: string | null): unknown {
    const attacks = this.src.history
      .query(host ? { ip: host, limit: RECENT_ATTACKS } : { limit: RECENT_ATTACKS })
      .map((r) => attackJson(this.src.history.get(r.uuid) ?? r, false));
    return {
      now: Date.now(),
      traffic: { '1s': this.src.traffic.series('1s'), '1m': this.src.traffic.series('1m') },
      attacks,
      mitigations: this.src.mitigations().map(mitigationJson),
      counts: this.counts(),
      peers: this.src.bgpStatus(),
      exporters: this.exporters(Date.now()),
      ...(host ? { host: this.src.hostRates(host) } : {}),
    };
  }

  private tick(t: number, v: readonly number[]): void {
    if (this.clients.size === 0) {
      this.exporters(Date.now()); // keep the rate baseline fresh
      return;
    }
    const data = {
      t,
      in_pps: v[0],
      out_pps: v[1],
      in_bps: v[2],
      out_bps: v[3],
      peers: this.src.bgpStatus(),
      exporters: this.exporters(Date.now()),
      counts: this.counts(),
    };
    let n = 0;
    for (const rec of this.updates.values())
      if (n++ < MAX_UPDATES) this.publish('attack', attackJson(rec, false));
    this.updates.clear();
    for (const c of this.clients) {
      this.write(c, 'tick', data);
      if (c.host) this.write(c, 'host', { t, rates: this.src.hostRates(c.host) });
    }
  }

  private counts(): Record<string, number> {
    if (this.src.mitigationCounts) return { ...this.src.mitigationCounts() };
    const out: Record<string, number> = { blackhole: 0, flowspec: 0, escalation: 0 };
    for (const m of this.src.mitigations()) out[m.kind] = (out[m.kind] ?? 0) + 1;
    return out;
  }

  /** Exporters with records/s and datagrams/s since the last call. */
  private exporters(now: number): unknown[] {
    return this.src.exporters().map((e) => {
      const p = this.prev.get(e.exporter);
      const dt = p ? (now - p.at) / 1000 : 0;
      this.prev.set(e.exporter, { records: e.records, datagrams: e.datagrams, at: now });
      return {
        exporter: e.exporter,
        formats: e.formats,
        records_per_second: p && dt > 0 ? Math.max(0, (e.records - p.records) / dt) : 0,
        datagrams_per_second: p && dt > 0 ? Math.max(0, (e.datagrams - p.datagrams) / dt) : 0,
        sampling: e.sampling,
        templates: e.templates,
        sequence_gaps: e.sequenceGaps,
        malformed: e.malformed,
        dropped: e.pendingDropped,
        last_seen: e.lastSeenMs ? new Date(e.lastSeenMs).toISOString() : null,
      };
    });
  }

  private publish(event: string, data: unknown): void {
    for (const c of this.clients) this.write(c, event, data);
  }

  private write(c: Client, event: string, data: unknown): void {
    c.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    this.sent++;
  }
}

function mitigationJson(m: Mitigation): Record<string, unknown> {
  return {
    ...m,
    cause: causeText(m.cause),
    started_at: new Date(m.started_at).toISOString(),
    expires_at: m.expires_at === null ? null : new Date(m.expires_at).toISOString(),
  };
}
