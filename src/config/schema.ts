/**
 * zod schemas for breakwater.yaml and hostgroup policy files, and the translation of zod
 * issues into one-line `file:line:col: path: message` errors. Value types (prefixes,
 * communities, durations...) are parsed here with the pure parsers of values.ts, so the
 * schema output already holds canonical values; cross-field checks live in load.ts and
 * policy.ts. Main-config defaults come from defaults.ts; policy fields have no defaults
 * here because they are inherited (policy.ts).
 */
import { z } from 'zod';
import cron from 'node-cron';
import {
  DEFAULT_API,
  DEFAULT_BGP,
  DEFAULT_CAPTURE,
  DEFAULT_DETECTION,
  DEFAULT_ESCALATION,
  DEFAULT_HISTORY,
  DEFAULT_LOGGING,
  DEFAULT_MITIGATION,
  DEFAULT_PEER,
  DEFAULT_STATE_DIR,
  DEFAULT_GRAPHITE,
  DEFAULT_INFLUXDB,
  DEFAULT_REDIS,
} from './defaults.js';
import { filtersSchema, graphiteAddress, httpUrl, metricPrefix, redisUrl } from './filters.js';
import { BGP_FAMILIES, CLASSES, DIRECTIONS, UNITS, type BgpFamily } from './types.js';
import {
  formatCommunity,
  formatExtendedCommunity,
  parseAsn,
  parseCommunity,
  parseDuration,
  parseExtendedCommunity,
  parseHostPort,
  parseIp,
  parseLargeCommunity,
  parsePrefix,
  parseRouterId,
  ValueError,
} from './values.js';
import type { PathSeg, YamlSource } from './source.js';
import { value } from './zvalue.js';
import { clusterSchema } from './cluster.js';

// ---------------------------------------------------------------- value types

const durationMs = value((v: string | number) => parseDuration(v), 'string|number');
const prefix = value((v: string) => parsePrefix(v));
const ipText = value((v: string) => parseIp(v).text);
const ipv4Text = value((v: string) => parseIp(v, 4).text);
const ipv6Text = value((v: string) => parseIp(v, 6).text);
const asn = value((v: string | number) => parseAsn(v), 'string|number');
const routerId = value((v: string) => parseRouterId(v));
const community = value((v: string | number) => formatCommunity(parseCommunity(v)), 'string|number');
const largeCommunity = value((v: string) => parseLargeCommunity(v).join(':'));
const extCommunity = value((v: string) => formatExtendedCommunity(parseExtendedCommunity(v)));
/** A standard ("a:b", a name) or large ("a:b:c") community, canonical text. */
const anyCommunity = value(
  (v: string | number) =>
    typeof v === 'string' && v.split(':').length === 3
      ? parseLargeCommunity(v).join(':')
      : formatCommunity(parseCommunity(v)),
  'string|number',
);
const hostPort = value((v: string) => parseHostPort(v));
const cronExpr = value((v: string) => {
  if (!cron.validate(v))
    throw new ValueError(
      `invalid cron expression ${JSON.stringify(v)} (e.g. "*/10 * * * * *" = every 10 seconds)`,
    );
  return v;
});
const webhookUrl = value((v: string) => {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new ValueError(`invalid webhook URL ${JSON.stringify(v)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new ValueError(`webhook URL must be http:// or https://, got ${JSON.stringify(v)}`);
  return v;
});

const port = z.int().min(0).max(65535);
const count = z.int().min(0);
const positive = z.int().min(1);
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'names use letters, digits, "_", "." and "-"');
const nextHops = z.strictObject({ ipv4: ipv4Text.optional(), ipv6: ipv6Text.optional() });

// ---------------------------------------------------------------- breakwater.yaml

const listenerSchema = z.strictObject({
  name,
  type: z.enum(['sflow', 'netflow', 'ipfix', 'auto']).default('auto'),
  address: ipText.default('127.0.0.1'),
  port,
});

const exporterSchema = z.strictObject({
  address: prefix,
  name,
  sampling_rate: positive.optional(),
  max_records_per_second: positive.optional(),
  max_link_bps: z.number().min(1e6).optional(),
  max_templates: z.int().min(1).max(4096).optional(),
});

const peerSchema = z.strictObject({
  name,
  address: ipText,
  port: port.default(DEFAULT_PEER.port),
  remote_as: asn,
  local_as: asn.optional(),
  local_address: ipText.optional(),
  // RFC 4271 §4.2: zero, or at least three seconds.
  hold_time: z
    .int()
    .min(0)
    .max(65535)
    .refine((v) => v === 0 || v >= 3, 'hold_time must be 0 or at least 3 seconds')
    .default(DEFAULT_PEER.hold_time),
  families: z
    .array(z.enum(BGP_FAMILIES as unknown as readonly [BgpFamily, ...BgpFamily[]]))
    .min(1)
    .default([...DEFAULT_PEER.families]),
  passive: z.boolean().default(DEFAULT_PEER.passive),
  next_hop_self: nextHops.default({}),
  graceful_restart: z.int().min(0).max(4095).default(DEFAULT_PEER.graceful_restart),
  max_flowspec_rules: count.default(DEFAULT_PEER.max_flowspec_rules),
  max_updates_per_second: positive.default(DEFAULT_PEER.max_updates_per_second),
  // RFC 2385 TCP MD5 key; Linux takes at most 80 bytes (TCP_MD5SIG_MAXKEYLEN).
  password: z
    .string()
    .min(1, 'password must not be empty')
    .refine((v) => Buffer.byteLength(v) <= 80, 'password is longer than 80 bytes (the TCP MD5 key limit)')
    .optional(),
  // RFC 5082 GTSM: send TTL 255, refuse segments that arrive with a TTL below 254.
  ttl_security: z.boolean().default(false),
});

const staticRouteSchema = z.strictObject({
  prefix,
  next_hop: ipText,
  communities: z.array(community).default([]),
  large_communities: z.array(largeCommunity).default([]),
  extended_communities: z.array(extCommunity).default([]),
});

export const mainSchema = z.strictObject({
  networks: z.array(prefix).default([]),
  whitelist: z.array(prefix).default([]),
  capture: z
    .strictObject({
      listeners: z.array(listenerSchema).default([...DEFAULT_CAPTURE.listeners]),
      exporters: z.array(exporterSchema).default([]),
      max_link_bps: z.number().min(1e6).default(DEFAULT_CAPTURE.max_link_bps),
      receive_buffer_bytes: count.default(DEFAULT_CAPTURE.receive_buffer_bytes),
      workers: z.union([z.literal('auto'), count.max(64)]).default(DEFAULT_CAPTURE.workers),
      default_sampling_rate: positive.default(DEFAULT_CAPTURE.default_sampling_rate),
      sampling_overrides: z.record(z.string(), positive).default({}),
      mirror_interface: z.string().min(1).optional(),
      mirror_filter: z.string().min(1).optional(),
      filters: filtersSchema.optional(),
    })
    .prefault({}),
  detection: z
    .strictObject({
      tick: durationMs.default(DEFAULT_DETECTION.tick_ms),
      window: durationMs.default(DEFAULT_DETECTION.window_ms),
      smoothing: durationMs.default(DEFAULT_DETECTION.smoothing_ms),
      ipv6_max_hosts: positive.default(DEFAULT_DETECTION.ipv6_max_hosts),
      ipv6_idle: durationMs.default(DEFAULT_DETECTION.ipv6_idle_ms),
      exclude_whitelisted_sources: z.boolean().default(DEFAULT_DETECTION.exclude_whitelisted_sources),
      samples_per_host: count.default(DEFAULT_DETECTION.samples_per_host),
      hot_sample_bytes: count.default(DEFAULT_DETECTION.hot_sample_bytes),
      shards: z.union([z.literal('auto'), count.max(64)]).default(DEFAULT_DETECTION.shards),
      dry_run: z.boolean().optional(),
    })
    .prefault({}),
  dry_run: z.boolean().optional(),
  api: z
    .strictObject({
      enabled: z.boolean().default(DEFAULT_API.enabled),
      listen: hostPort.optional(),
      host: ipText.optional(),
      port: port.optional(),
      users: z
        .record(
          z.string(),
          z.strictObject({ password_hash: z.string().min(1), role: z.enum(['admin', 'read']).optional() }),
        )
        .default({}),
      tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
      max_connections: positive.optional(),
      max_connections_per_source: positive.optional(),
    })
    .prefault({}),
  bgp: z
    .strictObject({
      local_as: asn.default(DEFAULT_BGP.local_as),
      router_id: routerId.default(DEFAULT_BGP.router_id),
      listen: z.strictObject({ address: ipText.default('127.0.0.1'), port: port.default(179) }).optional(),
      peers: z.array(peerSchema).default([]),
      static_routes: z.array(staticRouteSchema).default([]),
      static_flowspec: z.array(z.record(z.string(), z.unknown())).default([]),
    })
    .prefault({}),
  mitigation: z
    .strictObject({
      max_blackholes: count.default(DEFAULT_MITIGATION.max_blackholes),
      max_flowspec_rules: count.default(DEFAULT_MITIGATION.max_flowspec_rules),
      notify_concurrency: positive.default(DEFAULT_MITIGATION.notify_concurrency),
      webhook_retries: count.default(DEFAULT_MITIGATION.webhook_retries),
    })
    .prefault({}),
  escalation: z.strictObject({ schedule: cronExpr.default(DEFAULT_ESCALATION.schedule) }).prefault({}),
  history: z
    .strictObject({
      max_bytes: z
        .int()
        .min(64 * 1024)
        .default(DEFAULT_HISTORY.max_bytes),
      max_age: durationMs.default(DEFAULT_HISTORY.max_age_ms),
    })
    .prefault({}),
  logging: z
    .strictObject({
      level: z.enum(['error', 'warn', 'info', 'debug']).default(DEFAULT_LOGGING.level),
      format: z.enum(['text', 'json']).default(DEFAULT_LOGGING.format),
    })
    .prefault({}),
  state_dir: z.string().min(1).default(DEFAULT_STATE_DIR),
  policies: z.string().min(1).optional(),
  // Integrations (docs/integrations.md): absent = off.
  graphite: z
    .strictObject({
      address: graphiteAddress,
      prefix: metricPrefix.default(DEFAULT_GRAPHITE.prefix),
      interval: durationMs.default(DEFAULT_GRAPHITE.interval_ms),
      top_hosts: count.default(DEFAULT_GRAPHITE.top_hosts),
    })
    .optional(),
  influxdb: z
    .strictObject({
      url: httpUrl,
      database: z.string().min(1).default(DEFAULT_INFLUXDB.database),
      retention_policy: z.string().min(1).optional(),
      username: z.string().min(1).optional(),
      password: z.string().optional(),
      interval: durationMs.default(DEFAULT_INFLUXDB.interval_ms),
      top_hosts: count.default(DEFAULT_INFLUXDB.top_hosts),
    })
    .optional(),
  redis: z
    .strictObject({
      url: redisUrl.default(DEFAULT_REDIS.url),
      key_prefix: z.string().default(DEFAULT_REDIS.key_prefix),
      ttl: durationMs.default(DEFAULT_REDIS.ttl_ms),
      channel: z.string().min(1).default(DEFAULT_REDIS.channel),
    })
    .optional(),
  networks_from_bgp: z
    .strictObject({
      peer: name,
      communities: z.array(anyCommunity).default([]),
      hostgroup: name,
      within: z.array(prefix).min(1),
    })
    .optional(),
  cluster: clusterSchema.optional(),
});
export type MainRaw = z.output<typeof mainSchema>;

// ---------------------------------------------------------------- policy files

/** A threshold may be null in a child policy to drop the one it would inherit. */
const limit = z.number().min(0).nullable().optional();
const unitMap = z.strictObject(
  Object.fromEntries(UNITS.map((u) => [u, limit])) as Record<(typeof UNITS)[number], typeof limit>,
);
const classMap = z.strictObject(
  Object.fromEntries(CLASSES.map((c) => [c, unitMap.optional()])) as Record<
    (typeof CLASSES)[number],
    z.ZodOptional<typeof unitMap>
  >,
);
const thresholdSetSchema = z.strictObject(
  Object.fromEntries(DIRECTIONS.map((d) => [d, classMap.optional()])) as Record<
    (typeof DIRECTIONS)[number],
    z.ZodOptional<typeof classMap>
  >,
);
export type ThresholdSetRaw = z.output<typeof thresholdSetSchema>;

export const policySchema = z.strictObject({
  name: name.optional(),
  description: z.string().optional(),
  prefixes: z.array(prefix).optional(),
  parent: name.nullable().optional(),
  thresholds: z
    .strictObject({
      ban: thresholdSetSchema.optional(),
      emergency: thresholdSetSchema.optional(),
      hostgroup: thresholdSetSchema.optional(),
    })
    .optional(),
  ticks_required: positive.optional(),
  filters: filtersSchema.optional(),
  actions: z
    .strictObject({
      ban_time: durationMs.optional(),
      unban_only_if_attack_finished: z.boolean().optional(),
      ban_status_delay: durationMs.optional(),
      blackhole: z
        .strictObject({
          enabled: z.boolean().optional(),
          communities: z.array(community).optional(),
          large_communities: z.array(largeCommunity).optional(),
          extended_communities: z.array(extCommunity).optional(),
          next_hop: nextHops.optional(),
        })
        .optional(),
      flowspec: z
        .strictObject({
          enabled: z.boolean().optional(),
          action: z.enum(['discard', 'rate-limit', 'redirect', 'mark', 'accept']).optional(),
          action_params: z.record(z.string(), z.unknown()).optional(),
          coverage: z.number().gt(0).max(1).optional(),
        })
        .optional(),
      notify: z
        .strictObject({
          script: z.string().min(1).optional(),
          format: z.enum(['json', 'text']).optional(),
          webhook: webhookUrl.optional(),
          timeout: durationMs.optional(),
        })
        .optional(),
      escalation: z
        .strictObject({
          enabled: z.boolean().optional(),
          thresholds: thresholdSetSchema.optional(),
          prefix_length: z
            .strictObject({
              ipv4: z.int().min(0).max(32).optional(),
              ipv6: z.int().min(0).max(128).optional(),
            })
            .optional(),
          communities: z.array(community).optional(),
          large_communities: z.array(largeCommunity).optional(),
          next_hop: nextHops.optional(),
          hold: durationMs.optional(),
          clear_after: positive.optional(),
          max_prefixes: count.optional(),
          cross_hostgroups: z.enum(['allow', 'forbid']).optional(),
        })
        .optional(),
      hostgroup: z
        .strictObject({
          flowspec: z
            .strictObject({
              enabled: z.boolean().optional(),
              destination: z.enum(['hostgroup', 'attacked']).optional(),
              max_prefixes: z.int().min(1).max(64).optional(),
              action: z.enum(['discard', 'rate-limit', 'redirect', 'mark', 'accept']).optional(),
              action_params: z.record(z.string(), z.unknown()).optional(),
              coverage: z.number().gt(0).max(1).optional(),
            })
            .optional(),
          blackhole: z
            .strictObject({
              enabled: z.boolean().optional(),
              prefix_length: z
                .strictObject({
                  ipv4: z.int().min(8).max(32).optional(),
                  ipv6: z.int().min(16).max(128).optional(),
                })
                .optional(),
              communities: z.array(community).optional(),
              large_communities: z.array(largeCommunity).optional(),
              extended_communities: z.array(extCommunity).optional(),
              next_hop: nextHops.optional(),
            })
            .optional(),
        })
        .optional(),
    })
    .optional(),
});
export type PolicyRaw = z.output<typeof policySchema>;

// ---------------------------------------------------------------- issues -> lines

function describe(v: unknown): string {
  if (v === null) return 'nothing (null)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

const EXPECTED: Record<string, string> = {
  number: 'a number',
  int: 'an integer',
  string: 'a string',
  'string or number': 'a string or number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a map',
  record: 'a map',
};

/** Keys the schema accepts at a path (for "unknown key" hints). */
function keysAt(schema: z.ZodType, p: readonly PathSeg[]): string[] {
  let s: unknown = schema;
  const unwrap = (x: unknown): unknown => {
    for (;;) {
      const def = (x as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
      if (!def) return x;
      if (
        def.type === 'optional' ||
        def.type === 'default' ||
        def.type === 'prefault' ||
        def.type === 'nullable'
      )
        x = def.innerType;
      else if (def.type === 'pipe') x = def.in;
      else return x;
    }
  };
  for (const seg of p) {
    s = unwrap(s);
    const def = (s as { _zod: { def: Record<string, unknown> } })._zod.def;
    if (def.type === 'object') s = (def.shape as Record<string, unknown>)[String(seg)];
    else if (def.type === 'array') s = def.element;
    else if (def.type === 'record') s = def.valueType;
    else return [];
    if (!s) return [];
  }
  const def = (unwrap(s) as { _zod: { def: Record<string, unknown> } })._zod.def;
  return def.type === 'object' ? Object.keys(def.shape as object) : [];
}

/** Levenshtein distance (insert, delete, substitute; adjacent swaps count 1). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [
    i,
    ...new Array<number>(b.length).fill(0),
  ]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The known key an unknown one was probably meant to be: `-` for `_` and case do not
 * count, then the nearest within a third of its length (at least 1, at most 3 edits).
 */
export function closestKey(key: string, known: readonly string[]): string | null {
  const norm = (s: string) => s.toLowerCase().replace(/-/g, '_');
  const k = norm(key);
  let best: string | null = null;
  let bestD = Math.min(3, Math.max(1, Math.floor(k.length / 3))) + 1;
  for (const c of known) {
    const d = editDistance(k, norm(c));
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

/** Validate `src.data` against `schema`; errors are located lines in document order. */
export function validate<S extends z.ZodType>(
  schema: S,
  src: YamlSource,
): { ok: true; value: z.output<S> } | { ok: false; errors: string[] } {
  const data = src.data === null ? {} : src.data;
  const r = schema.safeParse(data, { reportInput: true });
  if (r.success) return { ok: true, value: r.data };
  const out: { line: number; col: number; text: string }[] = [];
  const push = (p: readonly PathSeg[], msg: string, which: 'key' | 'value' = 'value') => {
    const { line, col } = src.pos(p, which);
    out.push({ line, col, text: src.at(p, msg, which) });
  };
  const segs = (iss: z.core.$ZodIssue) =>
    iss.path.filter((s): s is PathSeg => typeof s === 'string' || typeof s === 'number');
  // A misspelt key (`remote-as`) is one mistake: say "did you mean remote_as?" there, and
  // leave out the "missing required key" the same typo causes for remote_as.
  const meant = new Set<string>();
  for (const iss of r.error.issues) {
    if (iss.code !== 'unrecognized_keys') continue;
    const p = segs(iss);
    for (const k of iss.keys) {
      const m = closestKey(k, keysAt(schema, p));
      if (m) meant.add(JSON.stringify([...p, m]));
    }
  }
  for (const iss of r.error.issues) {
    const p = segs(iss);
    switch (iss.code) {
      case 'unrecognized_keys': {
        const known = keysAt(schema, p);
        for (const k of iss.keys) {
          const m = closestKey(k, known);
          push(
            [...p, k],
            m
              ? `unknown key: did you mean ${m}?`
              : `unknown key${known.length ? ` (expected one of: ${known.join(', ')})` : ''}`,
            'key',
          );
        }
        break;
      }
      case 'invalid_type':
        if (iss.input === undefined && meant.has(JSON.stringify(p))) break;
        if (iss.input === undefined) push(p, 'missing required key');
        else push(p, `expected ${EXPECTED[iss.expected] ?? iss.expected}, got ${describe(iss.input)}`);
        break;
      case 'too_small':
        if (iss.origin === 'array')
          push(p, `must have at least ${iss.minimum} item${iss.minimum === 1 ? '' : 's'}`);
        else if (iss.origin === 'string') push(p, 'must not be empty');
        else push(p, `must be ${iss.inclusive ? '>=' : '>'} ${iss.minimum}, got ${describe(iss.input)}`);
        break;
      case 'too_big':
        push(p, `must be ${iss.inclusive ? '<=' : '<'} ${iss.maximum}, got ${describe(iss.input)}`);
        break;
      case 'invalid_value':
        push(p, `expected one of ${iss.values.map((v) => String(v)).join(', ')}, got ${describe(iss.input)}`);
        break;
      case 'invalid_format':
        push(p, `${iss.message}, got ${describe(iss.input)}`);
        break;
      default:
        push(p, iss.message);
    }
  }
  out.sort((a, b) => a.line - b.line || a.col - b.col);
  return { ok: false, errors: [...new Set(out.map((o) => o.text))] };
}
