/**
 * The NATS connection of a cluster node: every configured server, credentials and TLS,
 * reconnecting for ever (a controller outlives any outage of the bus), and its state for
 * GET /cluster and the metrics. The two buckets are opened here, created on first use
 * with as many replicas as the cluster has servers, up to 3 (JetStream's RAFT keeps a
 * bucket through the loss of one of 3 nodes).
 */
import { connect, type ConnectionOptions, type KV, type NatsConnection } from 'nats';
import type { ClusterConfig } from '../config/types.js';
import { logger } from '../log.js';

const log = logger.child({ module: 'cluster' });

export interface BusState {
  connected: boolean;
  disconnects: number;
  reconnects: number;
}

export class Bus {
  readonly state: BusState = { connected: false, disconnects: 0, reconnects: 0 };
  private nc: NatsConnection | null = null;

  constructor(private readonly cfg: ClusterConfig) {}

  /** Connect (retrying until `stopped`, or for ever); resolves once connected. */
  async connect(stopped: () => boolean): Promise<NatsConnection> {
    const c = this.cfg;
    const opts: ConnectionOptions = {
      servers: [...c.nats],
      name: `breakwater ${c.node}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      // Pings find a dead server in ~2 s instead of the default 4 minutes.
      pingInterval: 1000,
      maxPingOut: 2,
      ...(c.credentials && 'token' in c.credentials ? { token: c.credentials.token } : {}),
      ...(c.credentials && 'user' in c.credentials
        ? { user: c.credentials.user, pass: c.credentials.password }
        : {}),
      ...(c.tls
        ? {
            tls: {
              ...(c.tls.ca ? { caFile: c.tls.ca } : {}),
              ...(c.tls.cert ? { certFile: c.tls.cert } : {}),
              ...(c.tls.key ? { keyFile: c.tls.key } : {}),
            },
          }
        : {}),
    };
    let warned = false;
    for (;;) {
      try {
        const nc = await connect(opts);
        this.nc = nc;
        this.state.connected = true;
        log.info(`connected to NATS at ${nc.getServer()}`);
        void this.watchStatus(nc);
        return nc;
      } catch (e) {
        if (stopped()) throw e;
        if (!warned) log.warn(`cannot reach NATS (${c.nats.join(', ')}): ${(e as Error).message}; retrying`);
        warned = true;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.state.connected = false;
        this.state.disconnects++;
        log.warn(`lost NATS server ${String(s.data)}: announcing the last desired set until it is back`);
      } else if (s.type === 'reconnect') {
        this.state.connected = true;
        this.state.reconnects++;
        log.info(`reconnected to NATS at ${String(s.data)}`);
      }
    }
  }

  /** A KV bucket, created if missing; `ttlMs` 0 = keys never expire. */
  async bucket(name: string, ttlMs: number): Promise<KV> {
    if (!this.nc) throw new Error('not connected');
    const replicas = Math.min(3, Math.max(1, this.cfg.nats.length));
    for (;;) {
      try {
        return await this.nc.jetstream().views.kv(name, { history: 1, replicas, ttl: ttlMs });
      } catch (e) {
        // Right after a cluster starts, JetStream may have no meta leader yet.
        log.warn(`cannot open bucket ${name}: ${(e as Error).message}; retrying`);
        if (this.nc.isClosed()) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  async close(): Promise<void> {
    const nc = this.nc;
    this.nc = null;
    this.state.connected = false;
    if (nc && !nc.isClosed()) await nc.close().catch(() => undefined);
  }
}
