/**
 * loadConfig: breakwater.yaml + the policies folder -> one deep-frozen Config, or a
 * ConfigError whose `.errors` are one-line `file:line:col: message` strings. Schema
 * checks are in schema.ts; the checks that span several keys are here.
 */
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { isLoopback, prefixContains, prefixToString, type Prefix } from '../wire/addr.js';
import { DEFAULT_API, DEFAULT_POLICIES_DIR } from './defaults.js';
import { readPolicyDir, resolveHostgroups } from './policy.js';
import { ACTION_FIELDS, RULE_FIELDS, staticFlowspecToDesired } from '../flowspec/index.js';
import { closestKey, mainSchema, validate, type MainRaw } from './schema.js';
import { displayPath, YamlSource, type PathSeg } from './source.js';
import type { BgpPeerConfig, Config, Hostgroup, IntegrationsConfig } from './types.js';
import { resolveFilters } from './filters.js';
import { parseIp, parsePrefix } from './values.js';
import { sessionSecurityMissing } from '../bgp/sockopt.js';
import { openListenerRefusal } from './exposure.js';
import { buildCluster } from './cluster.js';

/** Order error lines by file, then line and column, so operators read them top-down. */
function sortErrors(lines: readonly string[]): string[] {
  const key = (l: string) => /^(.*?):(\d+):(\d+): /.exec(l);
  return [...lines].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    if (!ka || !kb) return ka ? -1 : kb ? 1 : 0;
    if (ka[1] !== kb[1]) return ka[1]! < kb[1]! ? -1 : 1;
    return Number(ka[2]) - Number(kb[2]) || Number(ka[3]) - Number(kb[3]);
  });
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly errors: readonly string[];
  constructor(errors: readonly string[]) {
    const sorted = sortErrors(errors);
    super(sorted.join('\n'));
    this.errors = sorted;
  }
}

/** Freeze an object graph (typed arrays excepted: they cannot be frozen, and are never shared mutably). */
export function deepFreeze<T>(o: T): T {
  if (o === null || typeof o !== 'object' || ArrayBuffer.isView(o) || Object.isFrozen(o)) return o;
  // Index and for-in loops, not Object.values: 100k static routes freeze in a third of the time.
  if (Array.isArray(o)) for (let i = 0; i < o.length; i++) deepFreeze(o[i]);
  else for (const k in o) deepFreeze((o as Record<string, unknown>)[k]);
  return Object.freeze(o);
}

/**
 * What a valid config may still get wrong, for `check` and `run` to say at start: one line
 * each, no position (they are about what is absent).
 */
export function configWarnings(c: Config): string[] {
  const out: string[] = [];
  if (c.networks.length === 0) {
    out.push(
      `networks is empty: no address is monitored, so nothing will be detected, banned or announced until ${c.file.startsWith('<') ? 'a config (--config FILE) lists' : `${displayPath(c.file)} lists`} your prefixes under networks`,
    );
  }
  return out;
}

/** The built-in configuration `breakwater run` uses without --config. */
export function defaultConfig(): Config {
  const src = YamlSource.synthetic('<defaults>', {});
  const r = build(src, path.resolve(process.cwd()));
  if (!r.ok) throw new ConfigError(r.errors); // unreachable: the defaults are valid
  return r.config;
}

/** Load and validate a config file and its policies; without a file, the defaults. */
export function loadConfig(file?: string): Config {
  if (file === undefined) return defaultConfig();
  const abs = path.resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(abs, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError([
      `${displayPath(abs)}:1:1: cannot read config: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
    ]);
  }
  return parseConfig(abs, text);
}

/** Validate config text as if read from `file` (policies are still read from disk). */
export function parseConfig(file: string, text: string): Config {
  const y = YamlSource.parse(file, text);
  if (!y.ok) throw new ConfigError(y.errors);
  if (y.src.data !== null && (typeof y.src.data !== 'object' || Array.isArray(y.src.data))) {
    throw new ConfigError([y.src.at([], 'the config must be a map of keys (networks, capture, bgp, ...)')]);
  }
  const r = build(y.src, path.dirname(file));
  if (!r.ok) throw new ConfigError(r.errors);
  return r.config;
}

function build(
  src: YamlSource,
  baseDir: string,
): { ok: true; config: Config } | { ok: false; errors: string[] } {
  const v = validate(mainSchema, src);
  if (!v.ok) return v;
  const raw = v.value;
  const errors: string[] = [];
  const err = (p: PathSeg[], msg: string, which: 'key' | 'value' = 'value') =>
    errors.push(src.at(p, msg, which));

  checkCapture(raw, err);
  const peers = checkBgp(raw, err);

  // api: listen "host:port", or host/port.
  let apiHost = DEFAULT_API.host;
  let apiPort = DEFAULT_API.port;
  if (raw.api.listen) {
    if (raw.api.host !== undefined || raw.api.port !== undefined)
      err(['api', 'listen'], 'give either listen or host/port, not both');
    ({ host: apiHost, port: apiPort } = raw.api.listen);
  } else {
    apiHost = raw.api.host ?? apiHost;
    apiPort = raw.api.port ?? apiPort;
  }
  const apiTls = checkApi(raw, apiHost, baseDir, err);

  if (
    raw.dry_run !== undefined &&
    raw.detection.dry_run !== undefined &&
    raw.dry_run !== raw.detection.dry_run
  ) {
    err(['dry_run'], 'dry_run is set differently here and under detection');
  }
  if (raw.detection.tick > raw.detection.window)
    err(['detection', 'tick'], 'tick must not be longer than window');
  if (raw.detection.tick === 0) err(['detection', 'tick'], 'tick must be greater than 0');

  // Policies.
  let policiesDir: string | null = DEFAULT_POLICIES_DIR;
  let hostgroups: Hostgroup[] = [];
  if (raw.policies !== undefined) {
    policiesDir = path.resolve(baseDir, raw.policies);
    let isDir = false;
    try {
      isDir = fs.statSync(policiesDir).isDirectory();
    } catch {
      /* reported below */
    }
    if (!isDir) err(['policies'], `policies folder ${displayPath(policiesDir)} does not exist`);
    else {
      const pf = readPolicyDir(policiesDir);
      errors.push(...pf.errors);
      // `networks` is the one list of what is monitored and may be announced: a hostgroup
      // prefix outside it would be neither counted nor mitigated.
      for (const f of pf.files) {
        (f.raw.prefixes ?? []).forEach((p, i) => {
          if (raw.networks.some((n) => inside(n, p))) return;
          const fix = `add it (or a prefix covering it) to networks in ${src.shown}`;
          errors.push(
            f.src.at(
              ['prefixes', i],
              `${prefixToString(p)} is outside networks, so it is neither monitored nor mitigated: ${fix}`,
            ),
          );
        });
      }
      if (!pf.errors.length) {
        const r = resolveHostgroups(pf.files);
        if (r.ok) hostgroups = r.hostgroups;
        else errors.push(...r.errors);
      }
    }
  }
  if (raw.policies === undefined) {
    const r = resolveHostgroups([]);
    if (r.ok) hostgroups = r.hostgroups;
  }
  const integrations = buildIntegrations(raw, src, hostgroups, err);
  const cluster = raw.cluster ? buildCluster(raw.cluster, baseDir, err) : undefined;
  if (errors.length) return { ok: false, errors };

  const overrides: Record<string, number> = {};
  for (const [k, rate] of Object.entries(raw.capture.sampling_overrides)) overrides[parseIp(k).text] = rate;

  const config: Config = {
    file: src.file,
    networks: raw.networks,
    whitelist: raw.whitelist,
    capture: {
      listeners: raw.capture.listeners,
      exporters: raw.capture.exporters.map((e) => ({
        address: e.address,
        name: e.name,
        ...(e.sampling_rate !== undefined ? { sampling_rate: e.sampling_rate } : {}),
        ...(e.max_records_per_second !== undefined
          ? { max_records_per_second: e.max_records_per_second }
          : {}),
        ...(e.max_link_bps !== undefined ? { max_link_bps: e.max_link_bps } : {}),
        ...(e.max_templates !== undefined ? { max_templates: e.max_templates } : {}),
      })),
      max_link_bps: raw.capture.max_link_bps,
      receive_buffer_bytes: raw.capture.receive_buffer_bytes,
      workers: raw.capture.workers,
      default_sampling_rate: raw.capture.default_sampling_rate,
      sampling_overrides: overrides,
      ...(raw.capture.mirror_interface !== undefined
        ? { mirror_interface: raw.capture.mirror_interface }
        : {}),
      ...(raw.capture.mirror_filter !== undefined ? { mirror_filter: raw.capture.mirror_filter } : {}),
    },
    detection: {
      tick_ms: raw.detection.tick,
      window_ms: raw.detection.window,
      smoothing_ms: raw.detection.smoothing,
      ipv6_max_hosts: raw.detection.ipv6_max_hosts,
      ipv6_idle_ms: raw.detection.ipv6_idle,
      exclude_whitelisted_sources: raw.detection.exclude_whitelisted_sources,
      samples_per_host: raw.detection.samples_per_host,
      hot_sample_bytes: raw.detection.hot_sample_bytes,
      shards: raw.detection.shards,
      dry_run: raw.dry_run ?? raw.detection.dry_run ?? false,
    },
    api: {
      enabled: raw.api.enabled,
      host: apiHost,
      port: apiPort,
      users: raw.api.users,
      ...(apiTls ? { tls: apiTls } : {}),
      ...(raw.api.max_connections !== undefined ? { max_connections: raw.api.max_connections } : {}),
      ...(raw.api.max_connections_per_source !== undefined
        ? { max_connections_per_source: raw.api.max_connections_per_source }
        : {}),
    },
    bgp: {
      local_as: raw.bgp.local_as,
      router_id: raw.bgp.router_id,
      ...(raw.bgp.listen ? { listen: raw.bgp.listen } : {}),
      peers,
      static_routes: raw.bgp.static_routes.map((r) => ({
        prefix: r.prefix,
        prefix_text: prefixToString(r.prefix),
        next_hop: r.next_hop,
        communities: r.communities,
        large_communities: r.large_communities,
        extended_communities: r.extended_communities,
      })),
      static_flowspec: raw.bgp.static_flowspec,
    },
    mitigation: raw.mitigation,
    escalation: raw.escalation,
    history: { max_bytes: raw.history.max_bytes, max_age_ms: raw.history.max_age },
    logging: raw.logging,
    state_dir: path.resolve(baseDir, raw.state_dir),
    policies_dir: policiesDir,
    hostgroups,
    ...integrations,
    ...(cluster ? { cluster } : {}),
  };
  return { ok: true, config: deepFreeze(config) };
}

type Err = (p: PathSeg[], msg: string, which?: 'key' | 'value') => void;

/** graphite, influxdb, redis, networks_from_bgp and capture.filters (docs/integrations.md). */
function buildIntegrations(
  raw: MainRaw,
  src: YamlSource,
  hostgroups: readonly Hostgroup[],
  err: Err,
): IntegrationsConfig {
  const out: { -readonly [K in keyof IntegrationsConfig]: IntegrationsConfig[K] } = {};
  const g = raw.graphite;
  if (g) {
    if (g.interval < 100) err(['graphite', 'interval'], 'interval must be at least 100ms');
    out.graphite = {
      host: g.address.host,
      port: g.address.port,
      prefix: g.prefix,
      interval_ms: g.interval,
      top_hosts: g.top_hosts,
    };
  }
  const i = raw.influxdb;
  if (i) {
    if (i.interval < 100) err(['influxdb', 'interval'], 'interval must be at least 100ms');
    if ((i.username === undefined) !== (i.password === undefined))
      err(
        ['influxdb', i.username === undefined ? 'password' : 'username'],
        'give both username and password, or neither',
      );
    out.influxdb = {
      url: i.url,
      database: i.database,
      ...(i.retention_policy !== undefined ? { retention_policy: i.retention_policy } : {}),
      ...(i.username !== undefined ? { username: i.username } : {}),
      ...(i.password !== undefined ? { password: i.password } : {}),
      interval_ms: i.interval,
      top_hosts: i.top_hosts,
    };
  }
  if (raw.redis)
    out.redis = {
      url: raw.redis.url,
      key_prefix: raw.redis.key_prefix,
      ttl_ms: raw.redis.ttl,
      channel: raw.redis.channel,
    };
  const n = raw.networks_from_bgp;
  if (n) {
    if (!raw.bgp.peers.some((p) => p.name === n.peer)) {
      err(
        ['networks_from_bgp', 'peer'],
        `no BGP peer named "${n.peer}" (known: ${raw.bgp.peers.map((p) => p.name).join(', ') || 'none'})`,
      );
    }
    if (hostgroups.length && !hostgroups.some((h) => h.name === n.hostgroup)) {
      err(
        ['networks_from_bgp', 'hostgroup'],
        `no hostgroup named "${n.hostgroup}" (known: ${hostgroups.map((h) => h.name).join(', ')})`,
      );
    }
    out.networks_from_bgp = {
      peer: n.peer,
      communities: n.communities,
      hostgroup: n.hostgroup,
      within: n.within,
    };
  }
  if (raw.capture.filters?.length)
    out.filters = resolveFilters(raw.capture.filters, src, ['capture', 'filters']);
  return out;
}

/**
 * What `run` would refuse about the API, refused here so `check` says it first, with a
 * position: an open API (no users) on a non-loopback address, and TLS files that cannot be
 * read or do not make a certificate and key pair. Returns the TLS paths made absolute.
 */
function checkApi(
  raw: MainRaw,
  host: string,
  baseDir: string,
  err: Err,
): { cert: string; key: string } | null {
  if (!raw.api.enabled) return null;
  if (Object.keys(raw.api.users).length === 0 && !isLoopback(host)) {
    err(
      ['api', raw.api.listen ? 'listen' : 'host'],
      `the API would listen on ${host} without api.users: an open API only listens on loopback (127.0.0.1 or ::1); add users (breakwater hash-password) or listen on loopback`,
    );
  }
  const t = raw.api.tls;
  if (!t) return null;
  const files = { cert: path.resolve(baseDir, t.cert), key: path.resolve(baseDir, t.key) };
  const pem: Partial<Record<'cert' | 'key', Buffer>> = {};
  for (const k of ['cert', 'key'] as const) {
    try {
      pem[k] = fs.readFileSync(files[k]);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      err(
        ['api', 'tls', k],
        `cannot read ${displayPath(files[k])}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message}`,
      );
    }
  }
  if (pem.cert && pem.key) {
    try {
      tls.createSecureContext({ cert: pem.cert, key: pem.key });
    } catch (e) {
      // OpenSSL's words: "key values mismatch", "no start line" (not PEM), ...
      err(
        ['api', 'tls', 'cert'],
        `${displayPath(files.cert)} and ${displayPath(files.key)} are not a PEM certificate and its private key: ${(e as Error).message}`,
      );
    }
  }
  return files;
}

/** Each item's name is used once in capture.<list>; a repeat names the first user. */
function uniqueNames(items: readonly { name: string }[], list: string, what: string, err: Err): void {
  const seen = new Map<string, number>();
  items.forEach((x, i) => {
    const first = seen.get(x.name);
    if (first !== undefined)
      err(['capture', list, i, 'name'], `${what} name "${x.name}" is already used by ${list}[${first}]`);
    else seen.set(x.name, i);
  });
}

function checkCapture(raw: MainRaw, err: Err): void {
  uniqueNames(raw.capture.listeners, 'listeners', 'listener', err);
  const binds = new Map<string, number>();
  raw.capture.listeners.forEach((l, i) => {
    const key = `${l.address}|${l.port}`;
    const db = binds.get(key);
    if (db !== undefined && l.port !== 0)
      err(
        ['capture', 'listeners', i, 'port'],
        `${l.address} port ${l.port} is already used by listeners[${db}]`,
      );
    else binds.set(key, i);
  });
  uniqueNames(raw.capture.exporters, 'exporters', 'exporter', err);
  if (raw.capture.exporters.length === 0) {
    raw.capture.listeners.forEach((l, i) => {
      const why = openListenerRefusal(l.address);
      if (why) err(['capture', 'listeners', i, 'address'], why);
    });
  }
  for (const k of Object.keys(raw.capture.sampling_overrides)) {
    try {
      parseIp(k);
    } catch {
      err(['capture', 'sampling_overrides', k], `exporter ${JSON.stringify(k)} is not an IP address`, 'key');
    }
  }
}

/**
 * The daemon never announces outside `networks` or over a whitelisted address; pinned
 * static routes and rules are held to the same rule as mitigations.
 */
const inside = (outer: Prefix, inner: Prefix) =>
  outer.family === inner.family && outer.len <= inner.len && prefixContains(outer, inner.bytes);

function announceSafety(raw: MainRaw, p: Prefix): string | null {
  if (!raw.networks.some((n) => inside(n, p)))
    return `${prefixToString(p)} is outside networks: Breakwater never announces it`;
  const w = raw.whitelist.find((x) => x.family === p.family && (inside(x, p) || inside(p, x)));
  if (w) return `${prefixToString(p)} covers whitelisted ${prefixToString(w)}: Breakwater never announces it`;
  return null;
}

function checkBgp(raw: MainRaw, err: Err): BgpPeerConfig[] {
  const fam = (s: string) => parseIp(s).family;
  const names = new Map<string, number>();
  const addrs = new Map<string, number>();
  const peers = raw.bgp.peers.map((p, i): BgpPeerConfig => {
    const at = (k: string): PathSeg[] => ['bgp', 'peers', i, k];
    const dn = names.get(p.name);
    if (dn !== undefined) err(at('name'), `peer name "${p.name}" is already used by bgp.peers[${dn}]`);
    else names.set(p.name, i);
    const key = `${p.address}|${p.port}`;
    const da = addrs.get(key);
    if (da !== undefined)
      err(at('address'), `peer ${p.address} port ${p.port} is already configured as bgp.peers[${da}]`);
    else addrs.set(key, i);
    if (p.local_address !== undefined && fam(p.local_address) !== fam(p.address)) {
      err(
        at('local_address'),
        `local_address ${p.local_address} is IPv${fam(p.local_address)} but the peer address ${p.address} is IPv${fam(p.address)}`,
      );
    }
    // Never run a session unauthenticated because the addon that sets the key is missing.
    const missing = sessionSecurityMissing(p);
    if (missing) err(at(p.password !== undefined ? 'password' : 'ttl_security'), missing);
    return {
      name: p.name,
      address: p.address,
      port: p.port,
      remote_as: p.remote_as,
      local_as: p.local_as ?? raw.bgp.local_as,
      ...(p.local_address !== undefined ? { local_address: p.local_address } : {}),
      hold_time: p.hold_time,
      families: p.families,
      passive: p.passive,
      next_hop_self: p.next_hop_self,
      graceful_restart: p.graceful_restart,
      max_flowspec_rules: p.max_flowspec_rules,
      max_updates_per_second: p.max_updates_per_second,
      ...(p.password !== undefined ? { password: p.password } : {}),
      ...(p.ttl_security ? { ttl_security: true } : {}),
    };
  });
  raw.bgp.static_routes.forEach((r, i) => {
    const nf = fam(r.next_hop);
    if (nf !== r.prefix.family) {
      err(
        ['bgp', 'static_routes', i, 'next_hop'],
        `next hop ${r.next_hop} is IPv${nf} but prefix ${prefixToString(r.prefix)} is IPv${r.prefix.family}`,
      );
    }
    const unsafe = announceSafety(raw, r.prefix);
    if (unsafe) err(['bgp', 'static_routes', i, 'prefix'], unsafe);
  });
  // The same validation `run` applies when it announces them (staticFlowspecToDesired),
  // here so that `check` refuses what `run` would drop, with a position.
  const fs = staticFlowspecToDesired({ bgp: { static_flowspec: raw.bgp.static_flowspec } });
  const refused = new Set<number>();
  for (const { index, reason } of fs.refused) {
    refused.add(index);
    const rule = raw.bgp.static_flowspec[index]!;
    const { path: at, message, which } = locateRuleError(rule, reason);
    err(['bgp', 'static_flowspec', index, ...at], message, which);
  }
  raw.bgp.static_flowspec.forEach((rule, i) => {
    if (refused.has(i)) return;
    const dst = (rule as Record<string, unknown>).destination_prefix;
    if (typeof dst !== 'string') return; // the FlowSpec module refuses rules without one
    let p: Prefix;
    try {
      p = parsePrefix(dst);
    } catch (e) {
      err(['bgp', 'static_flowspec', i, 'destination_prefix'], (e as Error).message);
      return;
    }
    const unsafe = announceSafety(raw, p);
    if (unsafe) err(['bgp', 'static_flowspec', i, 'destination_prefix'], unsafe);
  });
  return peers;
}

/**
 * Where in a static FlowSpec rule a refusal reason (`field: message`, `action.rate: ...`)
 * points, and the message to show there; an unknown field gets "did you mean".
 */
function locateRuleError(
  rule: Record<string, unknown>,
  reason: string,
): { path: PathSeg[]; message: string; which: 'key' | 'value' } {
  const m = /^([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?: (.*)$/.exec(reason);
  if (!m || !(m[1]! in rule)) return { path: [], message: reason, which: 'value' };
  const [, field, sub, msg] = m as unknown as [string, string, string | undefined, string];
  const path: PathSeg[] = sub !== undefined ? [field, sub] : [field];
  if (msg !== 'unknown field') return { path, message: msg, which: 'value' };
  const known = sub !== undefined ? ACTION_FIELDS : RULE_FIELDS;
  const name = sub ?? field;
  // `action_params` (a policy's key) in a rule: its parameters go under `action`.
  const guess =
    closestKey(name, known) ?? known.find((k) => k.length >= 4 && name.startsWith(`${k}_`)) ?? null;
  return {
    path,
    message: `unknown field${guess ? `: did you mean ${guess}?` : ` (known: ${known.join(', ')})`}`,
    which: 'key',
  };
}
