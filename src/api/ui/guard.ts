/**
 * Who may change what, and CSRF.
 *
 * Roles: api.users.<name>.role is `admin` (default) or `read`; a read user gets 403 on
 * every state-changing request (enforced in server.ts for every route, this hook's or
 * not). Without users (loopback only) everyone is admin.
 *
 * CSRF: a browser sends Basic credentials it has cached with any request, also one a
 * foreign page makes (a form POSTing to /blackhole/<ip> is a "simple" cross-site request),
 * so a state-changing request that comes from a browser must carry `x-csrf-token`, which
 * only same-origin script can read (GET /ui/session). A request is a browser's when it has
 * any of Origin, Referer, Cookie or Sec-Fetch-Site: browsers add Origin to every POST, PUT
 * and DELETE (as "null" when the referrer is hidden), while ctl, curl and FastNetMon scripts
 * send none of them and keep working without a token (Node's fetch sends Sec-Fetch-Mode,
 * so that one does not count). The token is an HMAC of the user
 * name under a key made at start, so it needs no server-side session and dies with the process.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { ApiUser } from '../../config/types.js';
import { roleOf } from '../auth.js';
import { HttpError } from '../server.js';

export type Role = 'admin' | 'read';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export class Guard {
  private readonly key = randomBytes(32);

  constructor(private readonly users: () => Readonly<Record<string, ApiUser>>) {}

  role(user: string | null): Role {
    return roleOf(this.users(), user);
  }

  token(user: string | null): string {
    return createHmac('sha256', this.key)
      .update(`csrf\0${user ?? ''}`)
      .digest('base64url');
  }

  /** Throws HttpError(403) when the request may not change state. */
  check(req: http.IncomingMessage, user: string | null): void {
    if (SAFE.has(req.method ?? 'GET')) return;
    // Roles are enforced by server.ts before this hook runs, for every route.
    if (!fromBrowser(req)) return;
    const given = req.headers['x-csrf-token'];
    const want = Buffer.from(this.token(user));
    const got = Buffer.from(typeof given === 'string' ? given : '');
    if (got.length !== want.length || !timingSafeEqual(got, want)) {
      throw new HttpError(
        403,
        given
          ? 'CSRF token does not match (reload the console)'
          : 'CSRF token missing: a browser request that changes state needs the x-csrf-token header from GET /ui/session',
      );
    }
  }
}

function fromBrowser(req: http.IncomingMessage): boolean {
  const h = req.headers;
  return (
    h.origin !== undefined ||
    h.referer !== undefined ||
    h.cookie !== undefined ||
    h['sec-fetch-site'] !== undefined
  );
}
