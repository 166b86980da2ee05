/**
 * The HTTP API (node:http), compatible with FastNetMon Advanced's so existing scripts work:
 * answers are `{"success":true,"values":[…]}` / `{"success":true,"object":{…}}`, errors
 * `{"success":false,"error_text":"…"}` with a fitting HTTP status.
 *
 * Auth: HTTP Basic against api.users (auth.ts: bounded scrypt on its own thread, failed
 * logins limited per source). Roles: a `read` user may only GET. Without users the API is
 * open, so it serves loopback only: the config refuses any other address (load.ts), and
 * requests from elsewhere are refused too. With api.tls it speaks HTTPS only.
 *
 * Connections are capped per source and in total (at the total cap the oldest idle one
 * makes room, so slow clients cannot lock out a legitimate one), with short header, request
 * and idle timeouts checked every second. Every state-changing request leaves an audit line.
 *
 * Everything it shows or changes comes through injected providers (manager, detector, BGP
 * status, reload, escalations, metrics), so it is tested without the daemon.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import type { Registry } from 'prom-client';
import type { PeerStatus } from '../bgp/types.js';
import { classifierOf } from '../config/classifier.js';
import type { Config } from '../config/types.js';
import type { Detector, HostRates, TopUnit } from '../detection/types.js';
import type { HostgroupAttack } from '../detection/attacks.js';
import { buildHostRates } from '../detection/index.js';
import { logger } from '../log.js';
import { causeText } from '../mitigation/cause.js';
import type { AttackSummary } from '../mitigation/manager.js';
import type { HistoryAttack } from '../history/types.js';
import { coveringNetwork, parsePrefix } from '../mitigation/prefixes.js';
import type { AddResult, Mitigation, MitigationManagerApi } from '../mitigation/types.js';
import { addrBits, addrToString, isLoopback, parseAddr, prefixToString, type Prefix } from '../wire/addr.js';
import { BasicAuth, roleOf, sourceKey } from './auth.js';
import { scraped } from './metrics.js';

export { isLoopback };

const log = logger.child({ module: 'api' });

/** The manager surface the API uses: the contract plus the operator helpers. */
interface ApiManager extends MitigationManagerApi {
  addManualBlackhole(ip: string): Promise<AddResult>;
  addManualBlackholes(ips: readonly string[]): Promise<AddResult[]>;
  removeMany(uuids: readonly string[], reason: string): Promise<boolean[]>;
  addManualFlowspec(rule: unknown): Promise<AddResult>;
  attacks(): AttackSummary[];
  /** Hostgroup-total attacks (detection's live list joined with the hostgroup-scope bans). */
  hostgroupAttacks(live: readonly HostgroupAttack[]): AttackSummary[];
}

export interface ApiDeps {
  /** The current config (it changes on reload). */
  config: () => Config;
  manager: ApiManager;
  detector?: Pick<Detector, 'hostRates' | 'top' | 'totals' | 'hostgroupAttacks'> | null;
  bgpStatus?: () => readonly PeerStatus[];
  /** Reload config and policies; throws an Error whose message is shown to the caller. */
  reload?: () => Promise<void>;
  /** Filled by the escalation loop; an empty list until then. */
  escalations?: () => readonly unknown[];
  metrics?: Registry | null;
  /**
   * Routes outside the FastNetMon API (console, live events, attack history), called after
   * authentication for every request; resolves true when it answered the request.
   */
  hook?: ApiHook | null;
  /** The attack history (newest first), for GET /attacks after a restart. */
  history?: (q: { limit: number }) => readonly HistoryAttack[];
}

/** `user` is null when the API has no users (loopback only, everyone is admin). */
export type ApiHook = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  ctx: { url: URL; user: string | null },
) => Promise<boolean>;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const MAX_BODY = 1024 * 1024;
/** Bulk PUT/DELETE /blackhole: 16 MiB and 200,000 items per request. */
const BULK_MAX_BODY = 16 * 1024 * 1024;
const BULK_MAX_ITEMS = 200_000;
const DEFAULT_TOP = 10;
/** Attacks of earlier runs GET /attacks appends from the history. */
const RECENT_FROM_HISTORY = 100;

/** Methods that change nothing: every role may use them. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Connection bounds (docs/security.md). The total is also kept below the fd limit. */
const API_LIMITS = {
  maxConnections: 2048,
  maxPerSource: 64,
  /** A connection that has not sent a complete request head by then is dropped. */
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  /** No byte either way for this long: dropped (SSE streams send a comment every 15 s; a long bulk change answers within it). */
  idleTimeoutMs: 60_000,
  tlsHandshakeTimeoutMs: 5_000,
  /** How often Node checks the header and request timeouts (its default is 30 s). */
  checkIntervalMs: 1_000,
};

/** The accepted connection net.Server's handle passes to onconnection (libuv TCPWrap). */
interface RawTcpHandle {
  getpeername(out: { address?: string }): number;
  close(): void;
}

interface Conn {
  readonly socket: Socket;
  readonly source: string;
  /** A request is in progress (or a stream is open): never evicted to make room. */
  busy: boolean;
}

export class ApiServer {
  private readonly deps: ApiDeps;
  private readonly auth: BasicAuth;
  private server: http.Server | https.Server | null = null;
  /** The listening socket: admits a connection (admit()) before HTTP or TLS spends anything on it. */
  private front: net.Server | null = null;
  private tls: { cert: string; key: string } | null = null;
  /** By "address|port", which the raw socket and its TLS socket share. */
  private readonly conns = new Map<string, Conn>();
  private readonly perSource = new Map<string, number>();
  private maxConnections = API_LIMITS.maxConnections;
  private maxPerSource = API_LIMITS.maxPerSource;
  readonly connStats = { refused_per_source: 0, evicted: 0 };

  constructor(deps: ApiDeps) {
    this.deps = deps;
    this.auth = new BasicAuth(deps.config().api.users);
    if (deps.metrics) this.registerMetrics(deps.metrics);
  }

  /** Listen on api.host:api.port (port 0: any free port); resolves to the bound address. */
  async listen(): Promise<{ host: string; port: number }> {
    const { host, port, users, tls } = this.deps.config().api;
    if (Object.keys(users).length === 0 && !isLoopback(host)) {
      // The config refuses this already (check and run alike); kept for embedders.
      throw new Error(
        `api.host ${host}: without api.users the API is open, so it only listens on loopback (127.0.0.1 or ::1); add users (breakwater hash-password) to serve ${host}`,
      );
    }
    const opts: http.ServerOptions = {
      headersTimeout: API_LIMITS.headersTimeoutMs,
      requestTimeout: API_LIMITS.requestTimeoutMs,
      keepAliveTimeout: API_LIMITS.keepAliveTimeoutMs,
      connectionsCheckingInterval: API_LIMITS.checkIntervalMs,
    };
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void this.handle(req, res);
    let server: http.Server | https.Server;
    if (tls) {
      this.tls = tls;
      server = https.createServer(
        { ...opts, ...readTls(tls), handshakeTimeout: API_LIMITS.tlsHandshakeTimeoutMs },
        handler,
      );
    } else server = http.createServer(opts, handler);
    server.timeout = API_LIMITS.idleTimeoutMs;
    this.maxConnections = Math.min(
      this.deps.config().api.max_connections ?? API_LIMITS.maxConnections,
      fdBudget(),
    );
    this.maxPerSource = this.deps.config().api.max_connections_per_source ?? API_LIMITS.maxPerSource;
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const c = this.conns.get(connKey(req.socket));
      if (!c) return;
      c.busy = true;
      res.once('close', () => (c.busy = false));
    });
    // Connections are admitted on a plain net.Server and only then handed to the HTTP(S)
    // server: a refused one costs a map lookup and a close, not a parser and TLS state, so
    // a connection storm is accepted fast enough that the kernel's accept queue does not
    // overflow (it then drops a legitimate client's handshake, retried only after 1 s).
    const front = net.createServer((s) => {
      if (this.admit(s)) server.emit('connection', s);
    });
    await new Promise<void>((resolve, reject) => {
      front.once('error', (e: NodeJS.ErrnoException) =>
        reject(new Error(`API cannot listen on ${host}:${port}: ${e.code ?? e.message}`)),
      );
      // A deep accept queue for bursts (Node's default is 511); the kernel caps it at somaxconn.
      front.listen({ port, host, backlog: 4096 }, () => resolve());
    });
    this.refuseRaw(front);
    front.on('error', (e) => log.error(`API server error: ${e.message}`));
    server.on('error', (e) => log.error(`API server error: ${e.message}`));
    // Node starts its header and request timeout checks when the HTTP server listens.
    server.emit('listening');
    this.front = front;
    // A failed handshake (plain HTTP to the TLS port, a scanner) is the client's problem.
    server.on('tlsClientError', (e: Error, s: Socket) => {
      log.debug(`API TLS handshake from ${s.remoteAddress ?? '?'} failed: ${e.message}`);
      s.destroy();
    });
    this.server = server;
    const a = front.address() as AddressInfo;
    log.info(
      `API listening on ${tls ? 'https' : 'http'}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}${this.auth.enabled ? '' : ' (no users: loopback only, no auth)'}`,
    );
    return { host: a.address, port: a.port };
  }

  /**
   * A new connection: refused when its source holds maxPerSource already; at the total cap
   * the oldest connection with no request in progress is closed to make room, so idle or
   * slow clients (who send nothing, or a byte at a time) cannot lock out a real one.
   */
  private admit(socket: Socket): boolean {
    const key = connKey(socket);
    const source = sourceKey(socket.remoteAddress ?? '?');
    const n = this.perSource.get(source) ?? 0;
    if (n >= this.maxPerSource) {
      this.connStats.refused_per_source++;
      socket.destroy();
      return false;
    }
    if (this.conns.size >= this.maxConnections) {
      for (const c of this.conns.values()) {
        if (c.busy) continue;
        this.connStats.evicted++;
        this.forget(connKey(c.socket), c);
        c.socket.destroy();
        break;
      }
    }
    const c: Conn = { socket, source, busy: false };
    this.conns.set(key, c);
    this.perSource.set(source, n + 1);
    socket.once('close', () => this.forget(key, c));
    return true;
  }

  /**
   * A source over its cap is refused on the raw accepted handle, before Node builds a Socket
   * (and its 'close' bookkeeping) for it: in a reconnect wave of 20,000 slow clients that is
   * several times cheaper per connection, so the listener drains the kernel's accept queue
   * before it overflows (an overflow drops a legitimate client's SYN, retried after 1 s).
   * This reaches into net.Server's handle (stable since Node 12); where it is not there,
   * admit() refuses the same connections a little slower.
   */
  private refuseRaw(front: net.Server): void {
    const h = (front as unknown as { _handle?: { onconnection?: (err: number, ch?: RawTcpHandle) => void } })
      ._handle;
    const accept = h?.onconnection;
    if (!h || typeof accept !== 'function') return;
    h.onconnection = (err, ch) => {
      if (!err && ch && typeof ch.getpeername === 'function') {
        const peer: { address?: string } = {};
        if (
          ch.getpeername(peer) === 0 &&
          peer.address !== undefined &&
          (this.perSource.get(sourceKey(peer.address)) ?? 0) >= this.maxPerSource
        ) {
          this.connStats.refused_per_source++;
          ch.close();
          return;
        }
      }
      accept.call(h, err, ch);
    };
  }

  private forget(key: string, c: Conn): void {
    if (this.conns.get(key) !== c) return;
    this.conns.delete(key);
    const n = (this.perSource.get(c.source) ?? 1) - 1;
    if (n <= 0) this.perSource.delete(c.source);
    else this.perSource.set(c.source, n);
  }

  private registerMetrics(reg: Registry): void {
    const r = [reg];
    const a = this.auth.stats;
    scraped(
      r,
      'counter',
      'breakwater_api_auth_failures_total',
      'API requests with a wrong user name or password (each cost one scrypt).',
      [],
      () => [[{}, a.failures]],
    );
    scraped(
      r,
      'counter',
      'breakwater_api_auth_refused_total',
      'API requests refused before a password check: rate_limited (429, the source had too many failures) or busy (503, the scrypt queue was full).',
      ['reason'],
      () => [
        [{ reason: 'rate_limited' }, a.rate_limited],
        [{ reason: 'busy' }, a.busy],
      ],
    );
    scraped(
      r,
      'counter',
      'breakwater_api_auth_sources_blocked_total',
      'Times a source address was blocked for too many failed logins.',
      [],
      () => [[{}, a.sources_blocked]],
    );
    scraped(
      r,
      'counter',
      'breakwater_api_auth_cache_hits_total',
      'API requests authenticated from the cache of recent successful checks.',
      [],
      () => [[{}, a.cache_hits]],
    );
    scraped(
      r,
      'counter',
      'breakwater_api_connections_refused_total',
      'API connections closed by the bounds: per_source (the source held too many) or evicted (idle, closed to make room at the total cap).',
      ['reason'],
      () => [
        [{ reason: 'per_source' }, this.connStats.refused_per_source],
        [{ reason: 'evicted' }, this.connStats.evicted],
      ],
    );
    scraped(r, 'gauge', 'breakwater_api_connections', 'Open API connections.', [], () => [
      [{}, this.conns.size],
    ]);
  }

  /** Users and the certificate (re-read from its files) change on reload; the listen address and TLS on/off need a restart. */
  reconfigure(cfg: Config): void {
    this.auth.setUsers(cfg.api.users);
    const tls = cfg.api.tls;
    if (!this.server) return;
    if (!tls !== !this.tls) {
      log.warn(`api.tls ${tls ? 'added' : 'removed'}: it takes effect at the next restart`);
      return;
    }
    if (tls && this.server instanceof https.Server) {
      try {
        this.server.setSecureContext(readTls(tls));
        this.tls = tls;
        log.info(`API certificate re-read from ${tls.cert}`);
      } catch (e) {
        log.error(`API certificate not changed: ${(e as Error).message}`);
      }
    }
  }

  async close(): Promise<void> {
    const s = this.server;
    const front = this.front;
    this.server = null;
    this.front = null;
    await this.auth.stop();
    if (!s || !front) return;
    // The HTTP server never listened itself: its close() only stops the timeout checks.
    s.close(() => undefined);
    await new Promise<void>((r) => {
      front.close(() => r());
      s.closeAllConnections();
      for (const c of this.conns.values()) c.socket.destroy();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = Date.now();
    const method = req.method ?? 'GET';
    // Read now: the socket is detached from the request once the answer is sent.
    const source = req.socket.remoteAddress ?? '?';
    let user: string | null = null;
    if (!SAFE_METHODS.has(method)) {
      // The audit trail: who changed (or tried to change) what, from where, with what result.
      res.once('close', () => {
        const who = user ?? (this.auth.enabled ? '-' : '(no users)');
        log.info(
          `audit: user=${who} source=${source} ${method} ${req.url ?? '/'} -> ${res.statusCode}${res.writableFinished ? '' : ' (aborted)'}`,
        );
      });
    }
    try {
      if (this.auth.enabled) {
        const r = await this.auth.check(req.headers.authorization, source);
        if (!r.ok) {
          if (r.status === 401)
            res.setHeader('www-authenticate', 'Basic realm="breakwater", charset="UTF-8"');
          if (r.retryAfterS !== undefined) res.setHeader('retry-after', String(r.retryAfterS));
          throw new HttpError(r.status, r.message);
        }
        user = r.user;
      } else if (!isLoopback(source)) {
        throw new HttpError(403, 'the API without users answers loopback clients only');
      }
      if (!SAFE_METHODS.has(method) && roleOf(this.deps.config().api.users, user) !== 'admin') {
        throw new HttpError(
          403,
          `user '${user}' has the read role: it may look but not change anything (${method} needs role admin)`,
        );
      }
      const url = new URL(req.url ?? '/', 'http://x');
      if (this.deps.hook && (await this.deps.hook(req, res, { url, user }))) return;
      const parts = url.pathname
        .split('/')
        .filter((p) => p !== '')
        .map((p) => {
          try {
            return decodeURIComponent(p);
          } catch {
            throw new HttpError(400, `bad percent-encoding in the path: '${p}'`);
          }
        });
      const body = await this.route(req.method ?? 'GET', parts, url.searchParams, req, res);
      if (body !== undefined) send(res, 200, body);
    } catch (e) {
      const status = e instanceof HttpError ? e.status : 500;
      const msg = e instanceof HttpError ? e.message : `internal error: ${(e as Error).message}`;
      if (status === 500) log.error(`API ${req.method} ${req.url}: ${(e as Error).stack ?? msg}`);
      send(res, status, { success: false, error_text: msg });
    } finally {
      log.debug(`API ${req.method} ${req.url} ${res.statusCode} ${Date.now() - started} ms`);
    }
  }

  private async route(
    method: string,
    parts: string[],
    q: URLSearchParams,
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): Promise<unknown> {
    const [head, ...rest] = parts;
    const m = method === 'POST' ? 'PUT' : method; // FastNetMon clients use both for "add"
    const allow = (...methods: string[]) => {
      if (!methods.includes(m)) {
        res.setHeader('allow', methods.join(', '));
        throw new HttpError(
          405,
          `${method} is not allowed on /${parts.join('/')} (allowed: ${methods.join(', ')})`,
        );
      }
    };
    const mgr = this.deps.manager;
    switch (head) {
      case 'blackhole': {
        if (m === 'GET' && rest.length === 0) {
          // Host bans only, as FastNetMon lists them: its scripts strip the /32 or /128 and
          // ask /single_host_counters/<ip>. Escalated prefixes are on /escalation.
          const values = mgr
            .list('blackhole')
            .map((x) => ({ uuid: x.uuid, ip: x.prefix, kind: x.kind, ...details(x) }));
          return { success: true, values };
        }
        if (m === 'PUT' && rest.length >= 1)
          return this.added(await mgr.addManualBlackhole(rest.join('/')), (x) => ({
            uuid: x.uuid,
            ip: x.prefix,
          }));
        if (m === 'DELETE' && rest.length === 1) return this.removed(rest[0]!, ['blackhole', 'escalation']);
        if ((m === 'PUT' || m === 'DELETE') && rest.length === 0)
          return this.bulk(m, await readJson(req, BULK_MAX_BODY, 'a JSON list'));
        allow(...(rest.length ? ['PUT', 'DELETE'] : ['GET', 'PUT', 'DELETE']));
        break;
      }
      case 'flowspec': {
        if (m === 'GET' && rest.length === 0) {
          return {
            success: true,
            values: mgr
              .list('flowspec')
              .map((x) => ({ uuid: x.uuid, announce: x.rule ?? {}, ...details(x) })),
          };
        }
        if (m === 'PUT' && rest.length === 0) {
          const rule = await readJson(req);
          return this.added(await mgr.addManualFlowspec(rule), (x) => ({ uuid: x.uuid, announce: x.rule }));
        }
        if (m === 'DELETE' && rest.length === 1) return this.removed(rest[0]!, ['flowspec']);
        allow(...(rest.length ? ['DELETE'] : ['GET', 'PUT']));
        break;
      }
      case 'single_host_counters': {
        allow('GET');
        if (rest.length < 1 || rest.length > 2)
          throw new HttpError(400, 'usage: GET /single_host_counters/<ip> (or <ip>/32, <ip>/128)');
        const p = this.monitoredHost(rest.join('/'));
        const ip = addrToString({ family: p.family, bytes: p.bytes });
        const r = this.deps.detector?.hostRates(ip) ?? null;
        return {
          success: true,
          // A monitored host without traffic: the same shape as one with, all zero.
          object:
            r ??
            buildHostRates(ip, classifierOf(this.deps.config()).hostgroupFor(p)?.name ?? 'default', () => 0),
        };
      }
      case 'host_counters': {
        allow('GET');
        const [unit, direction] = rest;
        if (
          rest.length !== 2 ||
          !['packets', 'bytes', 'flows'].includes(unit!) ||
          !['incoming', 'outgoing'].includes(direction!)
        ) {
          throw new HttpError(
            400,
            'usage: GET /host_counters/<packets|bytes|flows>/<incoming|outgoing>[?limit=N]',
          );
        }
        const limitText = q.get('limit');
        const limit = limitText === null ? DEFAULT_TOP : Number(limitText);
        if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
          throw new HttpError(400, `limit must be an integer 1..10000, not '${limitText}'`);
        const key = `${direction === 'incoming' ? 'in' : 'out'}_${unit}` as keyof HostRates;
        const top =
          this.deps.detector?.top(limit, unit as TopUnit, direction as 'incoming' | 'outgoing') ?? [];
        return { success: true, values: top.map((h) => ({ host: h.ip, value: h[key], ...h })) };
      }
      case 'total_traffic_counters': {
        allow('GET');
        const t = this.deps.detector?.totals() ?? {
          in_packets: 0,
          out_packets: 0,
          in_bytes: 0,
          out_bytes: 0,
          in_flows: 0,
          out_flows: 0,
        };
        const values = [];
        for (const [dir, p] of [
          ['incoming', 'in'],
          ['outgoing', 'out'],
        ] as const) {
          values.push({ counter_name: `${dir} traffic`, value: t[`${p}_packets`], unit: 'pps' });
          values.push({
            counter_name: `${dir} traffic`,
            value: round3((t[`${p}_bytes`] * 8) / 1e6),
            unit: 'mbps',
          });
          values.push({ counter_name: `${dir} traffic`, value: t[`${p}_flows`], unit: 'flows' });
        }
        return { success: true, values };
      }
      case 'hostgroup': {
        allow('GET');
        const values = this.deps.config().hostgroups.map((h) => ({
          name: h.name,
          parent: h.parent,
          file: h.file,
          networks: h.prefixes.map(prefixToString),
          ban_time: h.actions.ban_time_ms / 1000,
          unban_only_if_attack_finished: h.actions.unban_only_if_attack_finished,
          thresholds: h.thresholds,
          blackhole: h.actions.blackhole.enabled,
          flowspec: h.actions.flowspec.enabled,
          escalation: h.actions.escalation.enabled,
        }));
        return { success: true, values };
      }
      case 'bgp':
        allow('GET');
        return { success: true, values: this.deps.bgpStatus?.() ?? [] };
      case 'attacks':
        allow('GET');
        // Times in ISO 8601, as everywhere in the API (the manager keeps epoch ms).
        {
          // Hostgroup-total attacks first (scope 'hostgroup', ip null), then each host's.
          const summaries = [
            ...mgr.hostgroupAttacks(this.deps.detector?.hostgroupAttacks() ?? []),
            ...mgr.attacks(),
          ];
          const live = summaries.map((a) => ({
            ...a,
            started_at: isoTime(a.started_at),
            finished_at: isoTime(a.finished_at),
            ban_expires_at: isoTime(a.ban_expires_at),
          }));
          // Then the history's recent attacks this run does not know (earlier runs): the list
          // survives a restart, newest first, in the same shape.
          const seen = new Set(live.map((a) => a.uuid));
          const past = (this.deps.history?.({ limit: RECENT_FROM_HISTORY }) ?? [])
            .filter((r) => !seen.has(r.uuid))
            .map((r) => ({
              uuid: r.uuid,
              scope: 'host' as const,
              ip: r.ip,
              hostgroup: r.hostgroup,
              active: r.active,
              banned: r.banned,
              started_at: isoTime(r.started_at),
              finished_at: isoTime(r.finished_at),
              ban_expires_at: null,
              mitigations: r.mitigations.map((m) => m.uuid),
              attack_details: r.attack_details,
              flow_spec_rules: r.flow_spec_rules,
            }));
          return { success: true, values: [...live, ...past] };
        }
      case 'escalation':
        allow('GET');
        return { success: true, values: this.deps.escalations?.() ?? [] };
      case 'reload': {
        allow('PUT');
        if (!this.deps.reload) throw new HttpError(501, 'reload is not available');
        try {
          await this.deps.reload();
        } catch (e) {
          throw new HttpError(400, `reload failed, the running config is unchanged: ${(e as Error).message}`);
        }
        this.reconfigure(this.deps.config());
        return { success: true };
      }
      case 'metrics': {
        allow('GET');
        const reg = this.deps.metrics;
        if (!reg) throw new HttpError(404, 'metrics are not enabled');
        const text = await reg.metrics();
        res.statusCode = 200;
        res.setHeader('content-type', reg.contentType);
        res.end(text);
        return undefined;
      }
      default:
        throw new HttpError(404, `no such endpoint: /${parts.join('/')}`);
    }
    throw new HttpError(400, `bad request: ${method} /${parts.join('/')}`);
  }

  /** One host, written `IP`, `IP/32` or `IP/128` (as /blackhole lists it), inside `networks`. */
  private monitoredHost(text: string): Prefix {
    const slash = text.indexOf('/');
    const ip = slash < 0 ? text : text.slice(0, slash);
    const a = parseAddr(ip);
    if (!a) throw new HttpError(400, `'${ip}' is not an IPv4 or IPv6 address`);
    const len = slash < 0 ? null : text.slice(slash + 1);
    const host = String(addrBits(a.family));
    if (len !== null && len !== host)
      throw new HttpError(400, `'${text}' is not one host: write ${ip} or ${ip}/${host}`);
    const p = parsePrefix(ip) as Prefix;
    if (!coveringNetwork(this.deps.config().networks, p))
      throw new HttpError(404, `${ip} is not in the monitored networks`);
    return p;
  }

  private added(r: AddResult, shape: (m: Mitigation) => Record<string, unknown>): unknown {
    if (!r.ok || !r.mitigation) {
      const err = r.error ?? 'refused';
      const status = /reached/.test(err) ? 409 : /could not persist/.test(err) ? 503 : 400;
      throw new HttpError(status, err);
    }
    return { success: true, ...shape(r.mitigation), ...(r.mitigation.dry_run ? { dry_run: true } : {}) };
  }

  /**
   * PUT /blackhole with ["ip", …] (or [{"ip": …}]) and DELETE /blackhole with ["uuid", …]:
   * every item answered in order, {success, uuid, ip} or {success: false, error_text}; one
   * bad item or one over a cap does not sink the others.
   */
  private async bulk(method: 'PUT' | 'DELETE', body: unknown): Promise<unknown> {
    if (!Array.isArray(body))
      throw new HttpError(
        400,
        `${method} /blackhole takes a JSON list (${method === 'PUT' ? 'of IP addresses' : 'of uuids'})`,
      );
    if (body.length > BULK_MAX_ITEMS)
      throw new HttpError(413, `${body.length} items; at most ${BULK_MAX_ITEMS} per request`);
    const mgr = this.deps.manager;
    if (method === 'PUT') {
      const ips = body.map((x) =>
        typeof x === 'string'
          ? x
          : x && typeof x === 'object' && typeof (x as { ip?: unknown }).ip === 'string'
            ? (x as { ip: string }).ip
            : null,
      );
      const wanted = ips.flatMap((ip) => (ip === null ? [] : [ip]));
      const results = await mgr.addManualBlackholes(wanted);
      let k = 0;
      const values = ips.map((ip, i) => {
        if (ip === null)
          return { success: false, error_text: `item ${i}: not an IP address text or {"ip": …}` };
        const r = results[k++]!;
        return r.ok && r.mitigation
          ? {
              success: true,
              uuid: r.mitigation.uuid,
              ip: r.mitigation.prefix,
              ...(r.mitigation.dry_run ? { dry_run: true } : {}),
            }
          : { success: false, ip, error_text: r.error ?? 'refused' };
      });
      return { success: true, values };
    }
    const uuids = body.map((x) => (typeof x === 'string' ? x : null));
    const known = uuids.map((u) => {
      const kind = u === null ? undefined : mgr.get(u)?.kind;
      return kind === 'blackhole' || kind === 'escalation' ? u : null;
    });
    const removed = await mgr.removeMany(
      known.flatMap((u) => (u === null ? [] : [u])),
      'removed through the API',
    );
    let k = 0;
    const values = uuids.map((u, i) => {
      if (u === null) return { success: false, error_text: `item ${i}: not a uuid text` };
      if (known[i] === null)
        return { success: false, uuid: u, error_text: `no blackhole or escalation with uuid ${u}` };
      return removed[k++]
        ? { success: true, uuid: u }
        : { success: false, uuid: u, error_text: `no blackhole or escalation with uuid ${u}` };
    });
    return { success: true, values };
  }

  private async removed(uuid: string, kinds: Mitigation['kind'][]): Promise<unknown> {
    const m = this.deps.manager.get(uuid);
    if (!m || !kinds.includes(m.kind)) throw new HttpError(404, `no ${kinds.join(' or ')} with uuid ${uuid}`);
    const ok = await this.deps.manager.remove(uuid, 'removed through the API');
    if (!ok) throw new HttpError(404, `no ${kinds.join(' or ')} with uuid ${uuid}`);
    return { success: true };
  }
}

function connKey(s: Socket): string {
  return `${s.remoteAddress ?? '?'}|${s.remotePort ?? 0}`;
}

function readTls(t: { cert: string; key: string }): { cert: Buffer; key: Buffer } {
  return { cert: readFileSync(t.cert), key: readFileSync(t.key) };
}

/**
 * Connections the API may hold: below the soft descriptor limit (Linux: /proc/self/limits),
 * leaving room for the journal, BGP sessions, collectors and notify scripts, so the cap is
 * reached before accept() fails with EMFILE.
 */
function fdBudget(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!m || m[1] === 'unlimited') return Infinity;
    return Math.max(64, Number(m[1]) - 512);
  } catch {
    return Infinity;
  }
}

function details(m: Mitigation): Record<string, unknown> {
  return {
    cause: causeText(m.cause),
    hostgroup: m.hostgroup,
    started_at: isoTime(m.started_at),
    expires_at: isoTime(m.expires_at),
    ...(m.next_hop !== undefined ? { next_hop: m.next_hop } : {}),
    ...(m.kind !== 'flowspec' ? { communities: m.communities, large_communities: m.large_communities } : {}),
    dry_run: m.dry_run,
  };
}

/** Epoch ms -> ISO 8601, the API's one time format. */
function isoTime(ms: number): string;
function isoTime(ms: number | null): string | null;
function isoTime(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export function send(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}

async function readJson(
  req: http.IncomingMessage,
  max = MAX_BODY,
  what = 'a JSON FlowSpec rule',
): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > max) throw new HttpError(413, `request body over ${max} bytes`);
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new HttpError(400, `the request body must be ${what}`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `the request body is not valid JSON: ${(e as Error).message}`);
  }
}
