/**
 * The console's side of the API listener, plugged into ApiServer as its hook:
 *   /ui/…            the console's static files (assets.ts)
 *   /ui/session      who you are, your role, your CSRF token
 *   /events          Server-Sent Events for the live views (events.ts)
 *   /traffic         traffic history for the charts
 *   /attacks?…       the attack history (history-api.ts)
 * and, for every request, the role and CSRF checks (guard.ts) before server.ts acts.
 */
import type http from 'node:http';
import type { Config } from '../../config/types.js';
import type { ApiHook } from '../server.js';
import { HttpError, send } from '../server.js';
import { Guard } from './guard.js';
import { historyRoute, type HistorySource } from './history-api.js';

export interface ConsoleRoute {
  /** Answer the request (true) or leave it (false). */
  handle(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    user: string | null,
  ): Promise<boolean> | boolean;
}

export interface ConsoleDeps {
  readonly config: () => Config;
  readonly history?: HistorySource | null;
  /** Further routes (static files, events, traffic), tried in order. */
  readonly routes?: readonly ConsoleRoute[];
}

export function consoleHook(deps: ConsoleDeps): { hook: ApiHook; guard: Guard } {
  const guard = new Guard(() => deps.config().api.users);
  const hook: ApiHook = async (req, res, { url, user }) => {
    guard.check(req, user);
    if (url.pathname === '/ui/session') {
      if (req.method !== 'GET')
        throw new HttpError(405, `${req.method} is not allowed on /ui/session (allowed: GET)`);
      res.setHeader('cache-control', 'no-store');
      send(res, 200, { success: true, user, role: guard.role(user), csrf_token: guard.token(user) });
      return true;
    }
    for (const r of deps.routes ?? []) if (await r.handle(req, res, url, user)) return true;
    if (deps.history) {
      const body = await historyRoute(deps.history, deps.config().state_dir, req, res, url);
      if (body === null) return true;
      if (body !== undefined) {
        send(res, 200, body);
        return true;
      }
    }
    return false;
  };
  return { hook, guard };
}
