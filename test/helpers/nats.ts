/**
 * Test harness: a 3-node nats-server JetStream cluster on loopback (issue 17), each node on
 * its own 127.0.0.x with kernel-chosen ports, routes between all three, its store in a
 * temporary folder. Resolves once JetStream's meta group has a leader (before that a
 * bucket cannot be created); nodes can be killed (-9) and started again on their store.
 *
 *   const bus = await startNatsCluster(['127.0.0.243', '127.0.0.244', '127.0.0.245']);
 *   bus.urls               // ["nats://127.0.0.243:PORT", ...]
 *   await bus.kill(0);     // kill -9 one node
 *   await bus.start(0);    // back on its store
 *   await bus.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, tempDir } from './daemon.js';
import { reapOnExit } from './quiet-logs.js';
import { waitFor } from './routers.js';

export interface NatsNode {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly url: string;
  proc: ChildProcess | null;
  output: string;
}

export interface NatsCluster {
  readonly nodes: readonly NatsNode[];
  readonly urls: readonly string[];
  readonly dir: string;
  /** kill -9 node i (its store is kept for start()). */
  kill(i: number): Promise<void>;
  /** Start nodes again on their stores and wait until JetStream has a meta leader (a quorum). */
  start(...nodes: number[]): Promise<void>;
  /** Index of the node leading a stream's RAFT group (KV bucket X is stream KV_X), or -1. */
  streamLeader(stream: string): Promise<number>;
  /** Wait until JetStream has a meta leader seen from node i (default: any live node). */
  ready(i?: number): Promise<void>;
  stop(): Promise<void>;
}

interface NodeSpec extends NatsNode {
  readonly clusterPort: number;
  readonly monitorPort: number;
  readonly conf: string;
}

export async function startNatsCluster(addresses: readonly string[]): Promise<NatsCluster> {
  const dir = tempDir('nats');
  const specs: NodeSpec[] = [];
  for (const [i, address] of addresses.entries()) {
    const name = `n${i + 1}`;
    const port = await freePort('tcp', address);
    const clusterPort = await freePort('tcp', address);
    const monitorPort = await freePort('tcp', address);
    specs.push({
      name,
      address,
      port,
      clusterPort,
      monitorPort,
      url: `nats://${address}:${port}`,
      conf: join(dir, `${name}.conf`),
      proc: null,
      output: '',
    });
  }
  for (const s of specs) {
    const store = join(dir, s.name);
    mkdirSync(store, { recursive: true });
    const routes = specs.filter((o) => o !== s).map((o) => `"nats-route://${o.address}:${o.clusterPort}"`);
    writeFileSync(
      s.conf,
      `server_name: ${s.name}\nlisten: "${s.address}:${s.port}"\nhttp: "${s.address}:${s.monitorPort}"\n` +
        `jetstream { store_dir: "${store}" }\n` +
        `cluster { name: bw-test\n  listen: "${s.address}:${s.clusterPort}"\n  routes: [${routes.join(', ')}] }\n`,
    );
  }
  const launch = (s: NodeSpec) => {
    const p = spawn('nats-server', ['-c', s.conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    reapOnExit(p);
    const keep = (d: Buffer) => (s.output = (s.output + d.toString()).slice(-20000));
    p.stdout!.on('data', keep);
    p.stderr!.on('data', keep);
    s.proc = p;
  };
  const alive = (s: NodeSpec) => s.proc !== null && s.proc.exitCode === null && s.proc.signalCode === null;
  /** The meta group's leader as node s sees it (monitoring /jsz), or null. */
  const metaLeader = async (s: NodeSpec): Promise<string | null> => {
    const res = await fetch(`http://${s.address}:${s.monitorPort}/jsz`);
    const j = (await res.json()) as { meta_cluster?: { leader?: string } };
    return j.meta_cluster?.leader || null;
  };
  const cluster: NatsCluster = {
    nodes: specs,
    urls: specs.map((s) => s.url),
    dir,
    async ready(i?: number) {
      const which = i === undefined ? specs.filter(alive) : [specs[i]!];
      await waitFor(
        'JetStream meta leader',
        async () => {
          for (const s of which) if (!(await metaLeader(s))) return false;
          return true;
        },
        30_000,
        100,
      );
    },
    async streamLeader(stream) {
      for (const s of specs.filter(alive)) {
        const res = await fetch(`http://${s.address}:${s.monitorPort}/jsz?accounts=true&streams=true`);
        const j = (await res.json()) as {
          account_details?: { stream_detail?: { name: string; cluster?: { leader?: string } }[] }[];
        };
        for (const a of j.account_details ?? [])
          for (const d of a.stream_detail ?? [])
            if (d.name === stream && d.cluster?.leader)
              return specs.findIndex((x) => x.name === d.cluster!.leader);
      }
      return -1;
    },
    async kill(i) {
      const s = specs[i]!;
      const p = s.proc;
      if (!p || !alive(s)) return;
      await new Promise<void>((r) => {
        p.once('exit', () => r());
        p.kill('SIGKILL');
      });
    },
    async start(...nodes) {
      for (const i of nodes) launch(specs[i]!);
      await cluster.ready();
    },
    async stop() {
      await Promise.all(specs.map((_, i) => cluster.kill(i)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  for (const s of specs) launch(s);
  try {
    await cluster.ready();
  } catch (e) {
    const logs = specs.map((s) => `--- ${s.name}\n${s.output.slice(-1500)}`).join('\n');
    await cluster.stop();
    throw new Error(`${(e as Error).message}\n${logs}`);
  }
  return cluster;
}
