/**
 * `breakwater ctl`: a command-line client for the HTTP API in the style of FastNetMon's
 * fcli. Tables for people, the API's JSON with --json. The core takes its streams and
 * environment as arguments so it is tested against a real ApiServer.
 */
import { readFileSync } from 'node:fs';
import { parseFlags } from './command.js';
import { fingerprintOf, httpRequest, type TlsTrust } from '../api/http-client.js';
import { formatDuration } from '../config/values.js';
import type { TrafficClass, Unit } from '../config/types.js';
import { thresholdText } from '../detection/layout.js';
import { crossingText, type Crossing } from '../escalation/rates.js';

const TOP_UNITS = ['packets', 'bytes', 'flows'];
const TOP_DIRECTIONS = ['incoming', 'outgoing'];

export const CTL_HELP = `Usage: breakwater ctl [options] <command>

Commands:
  blackhole list                 active host blackholes (escalated prefixes: 'escalation')
  blackhole add IP               blackhole one host (/32 or /128) until deleted
  blackhole del UUID             withdraw a blackhole
  flowspec list                  active FlowSpec rules
  flowspec add JSON|-            announce a rule in FastNetMon's JSON ('-' reads stdin)
  flowspec del UUID              withdraw a rule
  host IP                        per-second counters of one host
  top [packets|bytes|flows] [incoming|outgoing]
                                 top hosts (default: packets incoming)
  total                          total traffic counters
  hostgroup                      hostgroups and their networks
  bgp                            BGP peers and their state
  attacks                        active and recent attacks
  escalation                     escalated prefixes
  reload                         reload the config and policies

Options:
  --api URL          API address (env BREAKWATER_API; default http://127.0.0.1:10007;
                     https://… when the daemon has api.tls)
  --ca FILE          trust the CA certificates in FILE (PEM) for https (env BREAKWATER_API_CA);
                     a self-signed certificate is its own CA
  --pin FILE         trust exactly the certificate in FILE, whatever its name or issuer
                     (what --config uses with api.tls)
  --insecure         https without checking the certificate (tests only)
  --user NAME        API user (env BREAKWATER_API_USER)
  --password PASS    API password (env BREAKWATER_API_PASSWORD)
  --limit N          how many hosts for 'top' (default 10)
  --json             print the API's JSON answer
`;

export interface CtlIo {
  out: (s: string) => void;
  err: (s: string) => void;
  env: Readonly<Record<string, string | undefined>>;
  readStdin?: () => Promise<string>;
}

type Json = Record<string, unknown>;

class CtlError extends Error {
  constructor(
    message: string,
    readonly code = 1,
  ) {
    super(message);
  }
}

export async function runCtl(argv: string[], io: CtlIo): Promise<number> {
  const { flags, positionals, unknown } = parseFlags(argv, {
    string: ['api', 'user', 'password', 'limit', 'ca', 'pin'],
    boolean: ['json', 'insecure'],
  });
  if (unknown.length) {
    io.err(`breakwater ctl: ${unknown.join('; ')} (try 'breakwater ctl --help')\n`);
    return 2;
  }
  const api = String(flags.api ?? io.env.BREAKWATER_API ?? 'http://127.0.0.1:10007').replace(/\/+$/, '');
  const user = (flags.user as string | undefined) ?? io.env.BREAKWATER_API_USER;
  const password = (flags.password as string | undefined) ?? io.env.BREAKWATER_API_PASSWORD;
  const json = flags.json === true;
  const headers: Record<string, string> = {};
  if (user !== undefined)
    headers.authorization = `Basic ${Buffer.from(`${user}:${password ?? ''}`).toString('base64')}`;

  const trust: TlsTrust = { insecure: flags.insecure === true };
  try {
    const ca = (flags.ca as string | undefined) ?? io.env.BREAKWATER_API_CA;
    if (ca !== undefined) trust.ca = readFileSync(ca);
    if (flags.pin !== undefined) trust.pin = fingerprintOf(readFileSync(String(flags.pin)));
  } catch (e) {
    io.err(`breakwater ctl: ${(e as Error).message}\n`);
    return 2;
  }

  const request = async (method: string, path: string, body?: string): Promise<Json> => {
    let res: { status: number; ok: boolean; text: string };
    try {
      const r = await httpRequest(api + path, {
        method,
        headers: body !== undefined ? { ...headers, 'content-type': 'application/json' } : headers,
        ...(body !== undefined ? { body } : {}),
        timeoutMs: 15_000,
        trust,
      });
      res = { ...r, ok: r.status >= 200 && r.status < 300 };
    } catch (e) {
      throw new CtlError(`cannot reach the API at ${api}: ${(e as Error).message}`);
    }
    const text = res.text;
    let j: Json;
    try {
      j = JSON.parse(text) as Json;
    } catch {
      throw new CtlError(`${method} ${path}: HTTP ${res.status}, not a JSON answer: ${text.slice(0, 200)}`);
    }
    if (!res.ok || j.success !== true) {
      const hint =
        res.status === 401 ? ' (use --user/--password or BREAKWATER_API_USER/BREAKWATER_API_PASSWORD)' : '';
      throw new CtlError(`${String(j.error_text ?? `HTTP ${res.status}`)}${hint}`);
    }
    return j;
  };

  const [what, verb, ...args] = positionals;
  const seg = (s: string) => encodeURIComponent(s);
  const usage = (u: string) => new CtlError(`usage: breakwater ctl ${u}`, 2);
  try {
    switch (what) {
      case 'blackhole': {
        if (verb === undefined || verb === 'list') {
          const j = await request('GET', '/blackhole');
          return print(io, json, j, () =>
            table(values(j), [
              'uuid',
              'ip',
              'kind',
              'hostgroup',
              'cause',
              'started_at',
              'expires_at',
              'dry_run',
            ]),
          );
        }
        if (verb === 'add') {
          if (args.length !== 1) throw usage('blackhole add IP');
          const j = await request('PUT', `/blackhole/${args[0]!.split('/').map(seg).join('/')}`);
          return print(
            io,
            json,
            j,
            () =>
              `blackhole ${String(j.ip)} announced, uuid ${String(j.uuid)}${j.dry_run ? ' (dry-run: not announced)' : ''}\n`,
          );
        }
        if (verb === 'del' || verb === 'delete' || verb === 'remove') {
          if (args.length !== 1) throw usage('blackhole del UUID');
          const j = await request('DELETE', `/blackhole/${seg(args[0]!)}`);
          return print(io, json, j, () => `blackhole ${args[0]!} withdrawn\n`);
        }
        throw usage('blackhole list|add IP|del UUID');
      }
      case 'flowspec': {
        if (verb === undefined || verb === 'list') {
          const j = await request('GET', '/flowspec');
          return print(io, json, j, () =>
            table(
              values(j).map((v) => ({ ...v, rule: JSON.stringify(v.announce) })),
              ['uuid', 'rule', 'hostgroup', 'cause', 'expires_at', 'dry_run'],
            ),
          );
        }
        if (verb === 'add') {
          if (args.length !== 1) throw usage("flowspec add JSON (or '-' to read the rule from stdin)");
          let body = args[0]!;
          if (body === '-') body = (await io.readStdin?.()) ?? '';
          try {
            JSON.parse(body);
          } catch (e) {
            throw new CtlError(`the rule is not valid JSON: ${(e as Error).message}`, 2);
          }
          const j = await request('PUT', '/flowspec', body);
          return print(
            io,
            json,
            j,
            () =>
              `FlowSpec rule announced, uuid ${String(j.uuid)}${j.dry_run ? ' (dry-run: not announced)' : ''}\n`,
          );
        }
        if (verb === 'del' || verb === 'delete' || verb === 'remove') {
          if (args.length !== 1) throw usage('flowspec del UUID');
          const j = await request('DELETE', `/flowspec/${seg(args[0]!)}`);
          return print(io, json, j, () => `FlowSpec rule ${args[0]!} withdrawn\n`);
        }
        throw usage('flowspec list|add JSON|del UUID');
      }
      case 'host': {
        if (!verb || args.length) throw usage('host IP');
        const j = await request('GET', `/single_host_counters/${seg(verb)}`);
        return print(io, json, j, () => hostTable(j.object as Json));
      }
      case 'top': {
        const unit = verb ?? 'packets';
        const direction = args[0] ?? 'incoming';
        // Checked here, so a typo gets ctl's usage rather than the API's.
        if (!TOP_UNITS.includes(unit) || !TOP_DIRECTIONS.includes(direction) || args.length > 1) {
          const bad = !TOP_UNITS.includes(unit)
            ? `unknown unit '${unit}'`
            : !TOP_DIRECTIONS.includes(direction)
              ? `unknown direction '${direction}'`
              : `unexpected '${args[1]!}'`;
          throw usage(`top [packets|bytes|flows] [incoming|outgoing] [--limit N] (${bad})`);
        }
        const limit = flags.limit !== undefined ? `?limit=${seg(String(flags.limit))}` : '';
        const j = await request('GET', `/host_counters/${seg(unit)}/${seg(direction)}${limit}`);
        const p = direction === 'outgoing' ? 'out' : 'in';
        return print(io, json, j, () =>
          table(
            values(j).map((v) => ({
              host: v.host,
              hostgroup: v.hostgroup,
              pps: v[`${p}_packets`],
              mbps: mbps(v[`${p}_bytes`]),
              flows: v[`${p}_flows`],
            })),
            ['host', 'hostgroup', 'pps', 'mbps', 'flows'],
          ),
        );
      }
      case 'total': {
        const j = await request('GET', '/total_traffic_counters');
        return print(io, json, j, () => table(values(j), ['counter_name', 'value', 'unit']));
      }
      case 'hostgroup': {
        const j = await request('GET', '/hostgroup');
        return print(io, json, j, () =>
          table(
            values(j).map((v) => ({
              ...v,
              networks: (v.networks as string[]).join(' ') || '-',
              ban_time: typeof v.ban_time === 'number' ? formatDuration(v.ban_time * 1000) : v.ban_time,
              ban_thresholds: thresholdsText((v.thresholds as Json | undefined)?.ban),
            })),
            [
              'name',
              'parent',
              'networks',
              'ban_time',
              'ban_thresholds',
              'blackhole',
              'flowspec',
              'escalation',
            ],
          ),
        );
      }
      case 'bgp': {
        const j = await request('GET', '/bgp');
        return print(io, json, j, () =>
          table(
            values(j).map((v) => ({
              ...v,
              uptime: typeof v.uptime_s === 'number' && v.uptime_s > 0 ? elapsed(v.uptime_s) : '-',
            })),
            ['name', 'address', 'remote_as', 'state', 'uptime', 'prefixes_out', 'updates_out', 'last_error'],
          ),
        );
      }
      case 'attacks': {
        const j = await request('GET', '/attacks');
        return print(io, json, j, () =>
          table(
            values(j).map((v) => {
              const d = (v.attack_details ?? {}) as Json;
              // The current rate while it lasts; the peak (detection's peak_attack_power, pps
              // in the attack's direction) stays meaningful once it is over.
              const now = d.attack_direction === 'outgoing' ? d.total_outgoing_pps : d.total_incoming_pps;
              return {
                ...v,
                type: d.attack_type,
                pps: v.active ? whole(now) : '-',
                peak_pps: whole(d.peak_attack_power),
                started_at: iso(v.started_at),
                state: v.active ? 'active' : v.banned ? 'banned' : 'over',
              };
            }),
            ['uuid', 'ip', 'hostgroup', 'type', 'pps', 'peak_pps', 'state', 'started_at'],
          ),
        );
      }
      case 'escalation': {
        const j = await request('GET', '/escalation');
        return print(io, json, j, () => {
          return table(
            values(j).map((v) => ({
              ...v,
              covers: v.covers ?? [v.hostgroup],
              trigger: triggerText(v.trigger),
            })),
            [
              'prefix',
              'state',
              'hostgroup',
              'covers',
              'hosts',
              'trigger',
              'runs_below',
              'since',
              'dry_run',
              'uuid',
            ],
          );
        });
      }
      case 'reload': {
        const j = await request('PUT', '/reload');
        return print(io, json, j, () => 'config reloaded\n');
      }
      case undefined:
        io.out(CTL_HELP);
        return 2;
      default:
        throw new CtlError(`unknown ctl command '${what}' (try 'breakwater ctl --help')`, 2);
    }
  } catch (e) {
    if (e instanceof CtlError) {
      io.err(`breakwater ctl: ${e.message}\n`);
      return e.code;
    }
    throw e;
  }
}

function print(io: CtlIo, json: boolean, j: Json, human: () => string): number {
  io.out(json ? `${JSON.stringify(j, null, 2)}\n` : human());
  return 0;
}

function values(j: Json): Json[] {
  return Array.isArray(j.values) ? (j.values as Json[]) : [];
}

function iso(v: unknown): string {
  return typeof v === 'number' ? new Date(v).toISOString() : String(v ?? '');
}

function whole(v: unknown): unknown {
  return typeof v === 'number' ? Math.round(v) : v;
}

/** Seconds as "3d4h", "1h2m5s", "42s" (a peer's uptime). */
function elapsed(seconds: number): string {
  let s = Math.floor(seconds);
  let out = '';
  for (const [u, n] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (s >= n) {
      out += `${Math.floor(s / n)}${u}`;
      s %= n;
    }
  }
  return s > 0 || out === '' ? `${out}${s}s` : out;
}

/** A threshold set in the policy's words: "incoming total 20000 pps, incoming udp 100 Mbps". */
function thresholdsText(set: unknown): string {
  const out: string[] = [];
  for (const [direction, byClass] of Object.entries(
    (set ?? {}) as Record<string, Record<string, Record<string, number | null>>>,
  )) {
    for (const [cls, byUnit] of Object.entries(byClass ?? {})) {
      for (const [unit, limit] of Object.entries(byUnit ?? {})) {
        if (typeof limit === 'number')
          out.push(`${direction} ${thresholdText(cls as TrafficClass, unit as Unit, limit)}`);
      }
    }
  }
  return out.join(', ') || '-';
}

/** The escalation's crossing: "203.0.113.10: incoming total 52900 pps > 50000 pps (current)". */
function triggerText(t: unknown): string {
  if (!t || typeof t !== 'object') return '-';
  const c = t as Crossing & { host: string };
  return `${c.host}: ${crossingText(c)}`;
}

function mbps(bytes: unknown): string {
  return typeof bytes === 'number' ? ((bytes * 8) / 1e6).toFixed(3) : '';
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (Array.isArray(v)) return v.join(' ') || '-';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** A plain aligned table; "(none)" when empty. */
export function table(rows: readonly Json[], cols: readonly string[]): string {
  if (rows.length === 0) return '(none)\n';
  const cells = rows.map((r) => cols.map((c) => cell(r[c])));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: readonly string[]) =>
    r
      .map((s, i) => (i === r.length - 1 ? s : s.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[line(cols.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n')}\n`;
}

function hostTable(o: Json): string {
  const rows: Json[] = [];
  for (const cls of ['', 'tcp_', 'tcp_syn_', 'udp_', 'icmp_', 'fragmented_', 'dropped_']) {
    rows.push({
      class: cls === '' ? 'total' : cls.slice(0, -1),
      in_pps: o[`in_${cls}packets`],
      in_mbps: mbps(o[`in_${cls}bytes`]),
      out_pps: o[`out_${cls}packets`],
      out_mbps: mbps(o[`out_${cls}bytes`]),
    });
  }
  const flows = `flows/s: in ${cell(o.in_flows)}, out ${cell(o.out_flows)}`;
  return `${cell(o.ip)} (hostgroup ${cell(o.hostgroup)})\n${table(rows, ['class', 'in_pps', 'in_mbps', 'out_pps', 'out_mbps'])}${flows}\n`;
}
