/**
 * API passwords: scrypt (node:crypto) hashes in the form
 *   scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>
 * made by `breakwater hash-password`, and HTTP Basic auth checks against api.users.
 * Verification compares with timingSafeEqual; successful checks are cached briefly by a
 * digest of the Authorization header so a busy `ctl` or scraper does not pay scrypt on
 * every request (scrypt's cost is the point against offline guessing, not online use).
 */
import { createHash, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import type { ApiUser } from '../config/types.js';

const KEYLEN = 32;
export const SCRYPT_DEFAULTS = { N: 16384, r: 8, p: 1 } as const;

export function hashPassword(password: string, params: { N: number; r: number; p: number } = SCRYPT_DEFAULTS): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password.normalize('NFC'), salt, KEYLEN, { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 });
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
  if (parts.length !== 6 || parts[0] !== 'scrypt') return 'expected scrypt$N$r$p$salt$hash (from breakwater hash-password)';
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (!Number.isInteger(N) || N < 2 || (N & (N - 1)) !== 0 || N > 2 ** 20) return 'scrypt N must be a power of two up to 2^20';
  if (!Number.isInteger(r) || r < 1 || r > 32 || !Number.isInteger(p) || p < 1 || p > 16) return 'scrypt r/p out of range';
  const salt = Buffer.from(parts[4]!, 'base64');
  const hash = Buffer.from(parts[5]!, 'base64');
  if (salt.length < 8 || hash.length < 16) return 'salt or hash too short';
  return { N, r, p, salt, hash };
}

export function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const h = parseHash(encoded);
  if (typeof h === 'string') return Promise.resolve(false);
  return new Promise((resolve) => {
    scrypt(password.normalize('NFC'), h.salt, h.hash.length, { N: h.N, r: h.r, p: h.p, maxmem: 256 * h.N * h.r + 1024 * 1024 }, (err, key) => {
      resolve(!err && key.length === h.hash.length && timingSafeEqual(key, h.hash));
    });
  });
}

/** Decode "Basic base64(user:pass)"; null when absent or malformed. */
export function parseBasic(header: string | undefined): { user: string; password: string } | null {
  if (!header) return null;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return null;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return null;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

const CACHE_MS = 60_000;

export class BasicAuth {
  private readonly cache = new Map<string, number>();
  constructor(private users: Readonly<Record<string, ApiUser>>) {}

  setUsers(users: Readonly<Record<string, ApiUser>>): void {
    this.users = users;
    this.cache.clear();
  }

  get enabled(): boolean {
    return Object.keys(this.users).length > 0;
  }

  /** The user name when the header carries valid credentials, else null. */
  async check(header: string | undefined): Promise<string | null> {
    const c = parseBasic(header);
    if (!c) return null;
    const key = createHash('sha256').update(header!).digest('base64');
    const until = this.cache.get(key);
    if (until !== undefined && until > Date.now()) return c.user;
    const u = Object.prototype.hasOwnProperty.call(this.users, c.user) ? this.users[c.user] : undefined;
    // An unknown user still costs one scrypt, so timing does not reveal user names.
    const ok = await verifyPassword(c.password, u?.password_hash ?? DUMMY_HASH);
    if (!ok || !u) return null;
    if (this.cache.size > 1000) this.cache.clear();
    this.cache.set(key, Date.now() + CACHE_MS);
    return c.user;
  }
}

const DUMMY_HASH = `scrypt$${SCRYPT_DEFAULTS.N}$${SCRYPT_DEFAULTS.r}$${SCRYPT_DEFAULTS.p}$${Buffer.alloc(16).toString('base64')}$${Buffer.alloc(32).toString('base64')}`;
