/**
 * The attack history over HTTP:
 *   GET /attacks?since=&until=&ip=&hostgroup=&limit=   (any of these: answered from history)
 *   GET /attacks/<uuid>                                 one record with samples and timeline
 *   GET /attacks/<uuid>/pcap                            its samples as a pcap
 * Times are ISO 8601 (since/until also accept epoch ms or a duration back from now: "15m").
 * `GET /attacks` without any of these stays the manager's live list (server.ts).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type http from 'node:http';
import { parseDuration, parseIp } from '../../config/values.js';
import type { HistoryAttack, HistoryQuery } from '../../history/types.js';
import { HttpError } from '../server.js';

const HISTORY_PARAMS = ['since', 'until', 'ip', 'hostgroup', 'limit'] as const;
const MAX_LIMIT = 10_000;

export interface HistorySource {
  query(q: HistoryQuery): HistoryAttack[];
  get(uuid: string): HistoryAttack | undefined;
}

/** Parse the query string; throws HttpError(400) naming the bad parameter. */
export function parseHistoryQuery(q: URLSearchParams, now = Date.now()): HistoryQuery {
  for (const k of q.keys()) {
    if (!(HISTORY_PARAMS as readonly string[]).includes(k))
      throw new HttpError(400, `unknown parameter '${k}' (GET /attacks takes ${HISTORY_PARAMS.join(', ')})`);
  }
  const out: { -readonly [K in keyof HistoryQuery]: HistoryQuery[K] } = {};
  for (const k of ['since', 'until'] as const) {
    const v = q.get(k);
    if (v !== null) out[k] = parseTime(k, v, now);
  }
  const ip = q.get('ip');
  if (ip !== null) {
    try {
      out.ip = parseIp(ip.replace(/\/(32|128)$/, '')).text;
    } catch {
      throw new HttpError(400, `ip: '${ip}' is not an IPv4 or IPv6 address`);
    }
  }
  const hg = q.get('hostgroup');
  if (hg !== null) out.hostgroup = hg;
  const limit = q.get('limit');
  if (limit !== null) {
    const n = Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT)
      throw new HttpError(400, `limit must be an integer 1..${MAX_LIMIT}, not '${limit}'`);
    out.limit = n;
  }
  if (out.since !== undefined && out.until !== undefined && out.since > out.until)
    throw new HttpError(400, 'since is after until');
  return out;
}

function parseTime(name: string, v: string, now: number): number {
  if (/^\d{10,}$/.test(v)) return Number(v);
  if (/^\d+(\.\d+)?(ms|s|m|h|d)$/.test(v)) {
    try {
      return now - parseDuration(v);
    } catch {
      /* fall through */
    }
  }
  const t = Date.parse(v);
  if (Number.isNaN(t))
    throw new HttpError(
      400,
      `${name}: '${v}' is not a time (ISO 8601 such as 2026-01-31T12:00:00Z, epoch ms, or a duration back from now such as 15m)`,
    );
  return t;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The API's shape of a record: ISO times; `full` adds samples, packets and timeline. */
export function attackJson(r: HistoryAttack, full: boolean): Record<string, unknown> {
  const base: Record<string, unknown> = {
    uuid: r.uuid,
    ip: r.ip,
    hostgroup: r.hostgroup,
    active: r.active,
    banned: r.banned,
    attack_type: r.attack_details.attack_type,
    attack_direction: r.attack_details.attack_direction,
    attack_protocol: r.attack_details.attack_protocol,
    attack_severity: r.attack_details.attack_severity,
    threshold: {
      name: r.attack_details.attack_detection_threshold,
      direction: r.attack_details.attack_detection_threshold_direction,
      class: r.attack_details.attack_detection_threshold_class,
      unit: r.attack_details.attack_detection_threshold_unit,
      value: r.attack_details.attack_detection_threshold_value,
    },
    peak_attack_power: r.attack_details.peak_attack_power,
    initial_attack_power: r.attack_details.initial_attack_power,
    current: r.current,
    started_at: iso(r.started_at),
    finished_at: iso(r.finished_at),
    updated_at: iso(r.updated_at),
    mitigations: r.mitigations.map((m) => ({
      ...m,
      started_at: iso(m.started_at),
      ended_at: iso(m.ended_at),
    })),
    pcap: r.pcap,
  };
  if (!full) return base;
  return {
    ...base,
    attack_details: r.attack_details,
    samples: r.samples,
    packet_dump_detailed: r.packet_dump,
    flow_spec_rules: r.flow_spec_rules,
    flowspec_explanation: r.flowspec_explanation,
    timeline: r.timeline.map((e) => ({ ...e, at: iso(e.at) })),
  };
}

/**
 * Answer the history routes; false when the request is not one of them (GET /attacks
 * without history parameters goes on to server.ts).
 */
export async function historyRoute(
  src: HistorySource,
  stateDir: string,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
): Promise<unknown | undefined> {
  const parts = url.pathname.split('/').filter(Boolean);
  if (parts[0] !== 'attacks' || req.method !== 'GET') return undefined;
  if (parts.length === 1) {
    if (![...url.searchParams.keys()].length) return undefined;
    const values = src.query(parseHistoryQuery(url.searchParams)).map((r) => attackJson(r, false));
    return { success: true, values };
  }
  const uuid = parts[1]!;
  if (!/^[0-9a-f-]{36}$/i.test(uuid)) throw new HttpError(400, `'${uuid}' is not an attack uuid`);
  const rec = src.get(uuid);
  if (!rec) throw new HttpError(404, `no attack ${uuid} in the history`);
  if (parts.length === 2) return { success: true, object: attackJson(rec, true) };
  if (parts.length === 3 && parts[2] === 'pcap') {
    let data: Buffer;
    try {
      data = await readFile(join(stateDir, 'attacks', `${uuid}.pcap`));
    } catch {
      throw new HttpError(
        404,
        `attack ${uuid} has no pcap (only sources with packet headers, sFlow and the mirror, give one)`,
      );
    }
    res.statusCode = 200;
    res.setHeader('content-type', 'application/vnd.tcpdump.pcap');
    res.setHeader('content-disposition', `attachment; filename="${uuid}.pcap"`);
    res.setHeader('content-length', data.length);
    res.end(data);
    return null;
  }
  throw new HttpError(404, `no such endpoint: ${url.pathname}`);
}
