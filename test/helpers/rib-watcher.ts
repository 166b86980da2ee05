/**
 * Test harness: watch a real router's RIB (a Router from ./routers.ts) and record every
 * change in order, so an end-to-end test can assert the order in which routes arrived and
 * left ("the /32 first, then the /24") and print the timeline of what the router held.
 *
 *   const w = new RibWatcher(router, ['ipv4-unicast']).start();
 *   await w.waitFor((r) => r.some((x) => x.prefix === '203.0.113.0/24'), 10_000, 'the /24');
 *   await w.stop();
 *   console.log(w.describe());
 *
 * Changes between two polls collapse into one poll: `everyMs` bounds the time resolution.
 */
import type { BgpFamily } from '../../src/config/types.js';
import { waitFor, type RibRoute, type Router } from './routers.js';

export interface RibEvent {
  /** ms since epoch of the poll that saw the change. */
  readonly at: number;
  readonly op: 'add' | 'change' | 'withdraw';
  readonly family: BgpFamily;
  readonly route: RibRoute;
}

/** What the router held after a poll that changed something. */
export interface RibState {
  readonly at: number;
  readonly routes: readonly RibRoute[];
}

/** The attributes the e2e tests compare; raw router text and AS path are left out. */
function same(a: RibRoute, b: RibRoute): boolean {
  return (
    a.nextHop === b.nextHop &&
    a.communities.join() === b.communities.join() &&
    a.largeCommunities.join() === b.largeCommunities.join()
  );
}

const byPrefix = (a: RibRoute, b: RibRoute) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0);

/** One route as a line: prefix, next hop, communities, large communities. */
export function routeText(r: RibRoute): string {
  return [
    r.prefix,
    `next-hop ${r.nextHop ?? '-'}`,
    ...(r.communities.length ? [`community ${r.communities.join(' ')}`] : []),
    ...(r.largeCommunities.length ? [`large-community ${r.largeCommunities.join(' ')}`] : []),
  ].join(' ');
}

export class RibWatcher {
  readonly events: RibEvent[] = [];
  readonly states: RibState[] = [];
  /** The last poll error (the router restarting, a CLI timeout); polling goes on. */
  lastError: string | null = null;
  private readonly current = new Map<string, RibRoute>();
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;

  constructor(
    readonly router: Pick<Router, 'getRoutes'> & Partial<Pick<Router, 'kind'>>,
    private readonly families: readonly BgpFamily[] = ['ipv4-unicast'],
    private readonly everyMs = 100,
  ) {}

  /** One poll (start() runs it on a timer). A family that fails to read keeps its last view. */
  async poll(now: number = Date.now()): Promise<void> {
    let changed = false;
    for (const family of this.families) {
      let routes: RibRoute[];
      try {
        routes = await this.router.getRoutes(family);
      } catch (e) {
        this.lastError = (e as Error).message;
        continue;
      }
      const seen = new Set<string>();
      for (const r of [...routes].sort(byPrefix)) {
        const key = `${family} ${r.prefix}`;
        seen.add(key);
        const old = this.current.get(key);
        if (!old) this.events.push({ at: now, op: 'add', family, route: r });
        else if (!same(old, r)) this.events.push({ at: now, op: 'change', family, route: r });
        else continue;
        changed = true;
        this.current.set(key, r);
      }
      for (const [key, r] of this.current) {
        if (key.startsWith(`${family} `) && !seen.has(key)) {
          this.current.delete(key);
          this.events.push({ at: now, op: 'withdraw', family, route: r });
          changed = true;
        }
      }
    }
    if (changed) this.states.push({ at: now, routes: this.routes() });
  }

  start(): this {
    if (this.timer) return this;
    const tick = () => {
      this.polling = this.poll().finally(() => {
        this.polling = null;
        if (this.timer) this.timer = setTimeout(tick, this.everyMs);
      });
    };
    this.timer = setTimeout(tick, 0);
    return this;
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.polling) await this.polling;
  }

  /** Routes held after the last poll, in prefix order. */
  routes(): RibRoute[] {
    return [...this.current.values()].sort(byPrefix);
  }

  route(prefix: string): RibRoute | undefined {
    return [...this.current.values()].find((r) => r.prefix === prefix);
  }

  /** Wait until `pred` holds for the routes held (polls itself when not started). */
  waitFor(pred: (routes: RibRoute[]) => boolean, timeoutMs: number, what: string): Promise<RibRoute[]> {
    return waitFor(
      `${what}${this.router.kind ? ` at ${this.router.kind}` : ''}`,
      async () => {
        if (!this.timer) await this.poll();
        const r = this.routes();
        return pred(r) ? r : undefined;
      },
      timeoutMs,
      Math.max(20, this.everyMs),
    );
  }

  /** The first event matching op and prefix, if any. */
  first(op: RibEvent['op'], prefix: string): RibEvent | undefined {
    return this.events.find((e) => e.op === op && e.route.prefix === prefix);
  }

  /** The events as lines `+1.2s add 203.0.113.0/24 next-hop … community …` (t0 = the first event). */
  describe(t0 = this.events[0]?.at ?? 0): string {
    return this.events
      .map(
        (e) =>
          `+${((e.at - t0) / 1000).toFixed(1)}s ${e.op} ${e.op === 'withdraw' ? e.route.prefix : routeText(e.route)}`,
      )
      .join('\n');
  }
}
