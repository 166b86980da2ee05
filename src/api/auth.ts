/**
 * API passwords: scrypt (node:crypto) hashes in the form
 *   scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>
 * made by `breakwater hash-password`, and HTTP Basic auth checks against api.users.
 * Verification compares with timingSafeEqual; successful checks are cached briefly by a
 * digest of the Authorization header so a busy `ctl` or scraper does not pay scrypt on
 * every request (scrypt's cost is the point against offline guessing, not online use).
 *
 * The daemon's checks run on one worker thread with a bounded queue, and a source address
 * with too many failures is refused before any scrypt: an unauthenticated flood can take
 * one core at most and never the threadpool the journal needs (docs/security.md).
 */
import { createHash, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { ApiUser } from '../config/types.js';
import { logger } from '../log.js';
import { addrToString, maskBytes, parseAddr, unmapV4 } from '../wire/addr.js';

const log = logger.child({ module: 'api' });

const KEYLEN = 32;
const SCRYPT_DEFAULTS = { N: 16384, r: 8, p: 1 } as const;

export function hashPassword(
  password: string,
  params: { N: number; r: number; p: number } = SCRYPT_DEFAULTS,
): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password.normalize('NFC'), salt, KEYLEN, {
    N: params.N,
    r: params.r,
    p: params.p,
    maxmem: 256 * params.N * params.r + 1024 * 1024,
  });
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

interface Parsed {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

/** Parse a stored hash; a string explains what is wrong with it. */
export function parseHash(encoded: string): Parsed | string {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt')
    return 'expected scrypt$N$r$p$salt$hash (from breakwater hash-password)';
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (!Number.isInteger(N) || N < 2 || (N & (N - 1)) !== 0 || N > 2 ** 20)
    return 'scrypt N must be a power of two up to 2^20';
  if (!Number.isInteger(r) || r < 1 || r > 32 || !Number.isInteger(p) || p < 1 || p > 16)
    return 'scrypt r/p out of range';
  const salt = Buffer.from(parts[4]!, 'base64');
  const hash = Buffer.from(parts[5]!, 'base64');
  if (salt.length < 8 || hash.length < 16) return 'salt or hash too short';
  return { N, r, p, salt, hash };
}

export function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const h = parseHash(encoded);
  if (typeof h === 'string') return Promise.resolve(false);
  return new Promise((resolve) => {
    scrypt(
      password.normalize('NFC'),
      h.salt,
      h.hash.length,
      { N: h.N, r: h.r, p: h.p, maxmem: 256 * h.N * h.r + 1024 * 1024 },
      (err, key) => {
        resolve(!err && key.length === h.hash.length && timingSafeEqual(key, h.hash));
      },
    );
  });
}

/** Decode "Basic base64(user:pass)"; null when absent or malformed. */
function parseBasic(header: string | undefined): { user: string; password: string } | null {
  if (!header) return null;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return null;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return null;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** A successful check is trusted again for this long (by a digest of the header). */
const CACHE_MS = 60_000;
const CACHE_MAX = 1000;
/**
 * Failed logins per source address: this many within FAIL_WINDOW_MS block the source for
 * BLOCK_MS (429 with Retry-After), before any scrypt is spent on it.
 */
const MAX_FAILURES = 10;
const FAIL_WINDOW_MS = 60_000;
const BLOCK_MS = 60_000;
const SOURCES_MAX = 65_536;
/**
 * Checks waiting for the scrypt thread; beyond it a request is refused at once (503), so a
 * flood from many addresses costs one core at most and a queue no longer than ~1 s.
 */
const SCRYPT_QUEUE_MAX = 16;

export type AuthResult =
  | { ok: true; user: string }
  | { ok: false; status: 401 | 429 | 503; message: string; retryAfterS?: number };

/** Counters for /metrics (breakwater_api_auth_*). */
export interface AuthStats {
  /** Wrong user name or password (each one spent a scrypt). */
  failures: number;
  /** Refused with 429: the source had too many failures. */
  rate_limited: number;
  /** Refused with 503: the scrypt queue was full. */
  busy: number;
  /** Answered from the cache of successful checks. */
  cache_hits: number;
  /** Sources blocked (each time one crosses MAX_FAILURES). */
  sources_blocked: number;
}

/**
 * One worker thread running scryptSync (scrypt-worker.ts): password checks are serial, off
 * the main thread and off libuv's pool, and their queue is bounded. Started on first use;
 * unref'd so it never keeps the process alive.
 */
class ScryptThread {
  private worker: Worker | null = null;
  private readonly waiting = new Map<number, (ok: boolean) => void>();
  private nextId = 1;

  get queued(): number {
    return this.waiting.size;
  }

  verify(password: string, h: Parsed): Promise<boolean> {
    const w = this.start();
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      w.postMessage({
        id,
        password: password.normalize('NFC'),
        salt: h.salt,
        hash: h.hash,
        N: h.N,
        r: h.r,
        p: h.p,
      });
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./scrypt-worker.js', import.meta.url));
    w.unref();
    w.on('message', (m: { id: number; ok: boolean }) => {
      const r = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      r?.(m.ok);
    });
    // A dead thread fails the checks in flight (401) and is started again on the next one.
    const fail = () => {
      if (this.worker === w) this.worker = null;
      for (const r of this.waiting.values()) r(false);
      this.waiting.clear();
    };
    w.on('error', fail);
    w.on('exit', fail);
    this.worker = w;
    return w;
  }

  async stop(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}

interface SourceState {
  windowStart: number;
  failures: number;
  /** Checks of this source in progress: they count against its budget before they fail. */
  pending: number;
  blockedUntil: number;
}

/**
 * Sources are counted by address; IPv6 by /64 (one host usually holds a whole /64, and
 * rotating inside it must not reset the count).
 */
export function sourceKey(remote: string): string {
  const h = unmapV4(remote);
  const a = parseAddr(h);
  if (!a || a.family === 4) return h;
  return `${addrToString({ family: 6, bytes: maskBytes(a.bytes, 64) })}/64`;
}

export class BasicAuth {
  private readonly cache = new Map<string, { user: string; until: number }>();
  private readonly sources = new Map<string, SourceState>();
  private readonly scrypt = new ScryptThread();
  readonly stats: AuthStats = { failures: 0, rate_limited: 0, busy: 0, cache_hits: 0, sources_blocked: 0 };

  constructor(private users: Readonly<Record<string, ApiUser>>) {}

  setUsers(users: Readonly<Record<string, ApiUser>>): void {
    this.users = users;
    this.cache.clear();
  }

  get enabled(): boolean {
    return Object.keys(this.users).length > 0;
  }

  /**
   * Check the Authorization header of a request from `source` (its remote address). Order
   * matters: a cached success first (a legitimate client behind the same address as an
   * attacker keeps working), then the source's block (no scrypt for it), then the bounded
   * scrypt queue.
   */
  async check(header: string | undefined, source: string, now = Date.now()): Promise<AuthResult> {
    const c = parseBasic(header);
    if (!c)
      return {
        ok: false,
        status: 401,
        message: header
          ? 'malformed Authorization header (expected HTTP Basic)'
          : 'authentication required (HTTP Basic, api.users)',
      };
    const key = createHash('sha256').update(header!).digest('base64');
    const hit = this.cache.get(key);
    if (hit && hit.until > now && Object.hasOwn(this.users, hit.user)) {
      this.stats.cache_hits++;
      return { ok: true, user: hit.user };
    }
    const sk = sourceKey(source);
    const st = this.source(sk, now);
    if (st.blockedUntil > now) {
      this.stats.rate_limited++;
      return {
        ok: false,
        status: 429,
        message: `too many failed logins from ${sk}: try again later`,
        retryAfterS: Math.max(1, Math.ceil((st.blockedUntil - now) / 1000)),
      };
    }
    // Checks in flight count too: a burst cannot get more than MAX_FAILURES guesses in.
    if (st.failures + st.pending >= MAX_FAILURES) {
      this.stats.rate_limited++;
      return {
        ok: false,
        status: 429,
        message: `too many failed logins from ${sk}: try again later`,
        retryAfterS: Math.max(1, Math.ceil((st.windowStart + FAIL_WINDOW_MS - now) / 1000)),
      };
    }
    if (this.scrypt.queued >= SCRYPT_QUEUE_MAX) {
      this.stats.busy++;
      return {
        ok: false,
        status: 503,
        message: 'too many password checks in progress: try again shortly',
        retryAfterS: 1,
      };
    }
    const u = Object.hasOwn(this.users, c.user) ? this.users[c.user] : undefined;
    // An unknown user still costs one scrypt, so timing does not reveal user names.
    const parsed = parseHash(u?.password_hash ?? DUMMY_HASH);
    st.pending++;
    let ok = false;
    try {
      ok = typeof parsed !== 'string' && (await this.scrypt.verify(c.password, parsed));
    } finally {
      st.pending--;
    }
    if (!ok || !u) {
      this.stats.failures++;
      this.failed(sk, Date.now());
      return { ok: false, status: 401, message: 'wrong user name or password' };
    }
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, { user: c.user, until: Date.now() + CACHE_MS });
    return { ok: true, user: c.user };
  }

  /** The source's state, its failure window restarted when over. */
  private source(sk: string, now: number): SourceState {
    let st = this.sources.get(sk);
    if (!st) {
      if (this.sources.size >= SOURCES_MAX) this.prune(now);
      st = { windowStart: now, failures: 0, pending: 0, blockedUntil: 0 };
      this.sources.set(sk, st);
    } else if (now - st.windowStart > FAIL_WINDOW_MS && st.blockedUntil <= now) {
      st.windowStart = now;
      st.failures = 0;
    }
    return st;
  }

  private failed(sk: string, now: number): void {
    const st = this.source(sk, now);
    st.failures++;
    if (st.failures >= MAX_FAILURES && st.blockedUntil <= now) {
      st.blockedUntil = now + BLOCK_MS;
      this.stats.sources_blocked++;
      log.warn(
        `API: ${st.failures} failed logins from ${sk} within ${FAIL_WINDOW_MS / 1000} s: refused (429) for ${BLOCK_MS / 1000} s`,
      );
    }
  }

  /** Forget sources whose window and block are over; if none are, the oldest entry. */
  private prune(now: number): void {
    for (const [k, s] of this.sources)
      if (s.pending === 0 && s.blockedUntil <= now && now - s.windowStart > FAIL_WINDOW_MS)
        this.sources.delete(k);
    if (this.sources.size >= SOURCES_MAX) this.sources.delete(this.sources.keys().next().value!);
  }

  stop(): Promise<void> {
    return this.scrypt.stop();
  }
}

/** admin (the default) or read: what a user may do (server.ts enforces it). */
export function roleOf(users: Readonly<Record<string, ApiUser>>, user: string | null): 'admin' | 'read' {
  if (user === null) return 'admin';
  return (Object.hasOwn(users, user) ? users[user]!.role : undefined) ?? 'admin';
}

const DUMMY_HASH = `scrypt$${SCRYPT_DEFAULTS.N}$${SCRYPT_DEFAULTS.r}$${SCRYPT_DEFAULTS.p}$${Buffer.alloc(16).toString('base64')}$${Buffer.alloc(32).toString('base64')}`;
