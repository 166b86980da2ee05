/**
 * What every controller says of itself, on the bus (KV bucket `bw_nodes`, one key per
 * node, rewritten every 2 s): its role and its BGP sessions. GET /cluster on any node then
 * shows every controller's sessions, so one question answers "does every router still
 * hear every controller?". A node not heard of for 3 periods is shown as stale; the
 * bucket's TTL drops it from the server too.
 */
import type { KV } from 'nats';
import type { PeerStatus } from '../bgp/types.js';
import { logger } from '../log.js';

const log = logger.child({ module: 'cluster' });

export const NODES_BUCKET = 'bw_nodes';
const EVERY_MS = 2000;
/** The bucket's TTL: a node gone for this long is gone from the server as well. */
export const NODES_TTL_MS = 15_000;

export interface NodeReport {
  readonly node: string;
  readonly role: string;
  readonly desired: number;
  readonly bgp: readonly { name: string; address: string; state: string; prefixes_out: number }[];
}

export interface NodeView extends NodeReport {
  /** Seconds since this node last heard it (local clock: no skew between hosts). */
  readonly age_s: number;
  readonly stale: boolean;
}

export function nodeReport(
  node: string,
  role: string,
  desired: number,
  peers: readonly PeerStatus[],
): NodeReport {
  return {
    node,
    role,
    desired,
    bgp: peers.map((p) => ({
      name: p.name,
      address: p.address,
      state: p.state,
      prefixes_out: p.prefixes_out,
    })),
  };
}

export class NodeBoard {
  private readonly heard = new Map<string, { report: NodeReport; at: number }>();
  private timer: NodeJS.Timeout | null = null;
  private stopWatch: (() => void) | null = null;
  private stopped = false;

  constructor(
    private readonly kv: KV,
    private readonly self: () => NodeReport,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async start(): Promise<void> {
    const w = await this.kv.watch({ key: '>' });
    this.stopWatch = () => w.stop();
    void (async () => {
      for await (const e of w) {
        if (e.operation !== 'PUT') {
          this.heard.delete(e.key);
          continue;
        }
        try {
          this.heard.set(e.key, { report: e.json<NodeReport>(), at: this.now() });
        } catch {
          /* not a report this version wrote */
        }
      }
    })().catch((e: Error) => log.debug(`nodes watch ended: ${e.message}`));
    this.publish();
    this.timer = setInterval(() => this.publish(), EVERY_MS);
    this.timer.unref();
  }

  private publish(): void {
    if (this.stopped) return;
    const r = this.self();
    void this.kv.put(r.node, JSON.stringify(r)).catch(() => undefined); // the next one will do
  }

  /** Every controller heard of, this one first as it is now. */
  list(): NodeView[] {
    const me = this.self();
    const now = this.now();
    const others: NodeView[] = [];
    for (const [node, h] of this.heard) {
      if (node === me.node) continue;
      const age = (now - h.at) / 1000;
      others.push({ ...h.report, age_s: Math.round(age * 10) / 10, stale: age * 1000 > 3 * EVERY_MS });
    }
    others.sort((a, b) => a.node.localeCompare(b.node));
    return [{ ...me, age_s: 0, stale: false }, ...others];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.stopWatch?.();
    // Gone at once for the others rather than stale for 6 s.
    await this.kv.delete(this.self().node).catch(() => undefined);
  }
}
