/**
 * Test and bench harness for the controller cluster (issue 17): a 3-node NATS JetStream
 * cluster, one GoBGP router, two `breakwater run` controllers peering with it from their
 * own addresses, each with an sFlow collector and a notify script that appends one line
 * per call to a file the two share (so a duplicate `ban` shows as a second line).
 *
 * Addresses (this work's range): GoBGP .240, controllers .241 and .242, NATS .243-.245.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, startDaemon, tempDir, type DaemonHandle } from './daemon.js';
import { startNatsCluster, type NatsCluster } from './nats.js';
import { startGobgp, waitFor, type Router } from './routers.js';

const run = promisify(execFile);

export const GOBGP = '127.0.0.240';
export const CONTROLLERS = ['127.0.0.241', '127.0.0.242'] as const;
export const NATS = ['127.0.0.243', '127.0.0.244', '127.0.0.245'] as const;
export const NAMES = ['c1', 'c2'] as const;

export interface ClusterStatusAnswer {
  success: boolean;
  object: {
    node: string;
    leader: string | null;
    role: string;
    nats: boolean;
    desired: number;
    takeovers: number;
    controllers: { node: string; role: string; stale: boolean; bgp: { name: string; state: string }[] }[];
  };
}

export interface Rig {
  readonly dir: string;
  readonly nats: NatsCluster;
  readonly gobgp: Router;
  readonly ctl: DaemonHandle[];
  readonly sflow: number[];
  readonly notifyFile: string;
  /** Controllers whose process is running. */
  alive(): number[];
  /** Index of the controller that says it leads (polls up to timeoutMs). */
  leader(timeoutMs?: number): Promise<number>;
  /** Prefixes GoBGP holds from one controller (its Adj-RIB-In, ipv4 unicast). */
  adjIn(i: number): Promise<number>;
  /** UPDATE messages and withdrawn prefixes GoBGP has received from one controller. */
  received(i: number): Promise<{ updates: number; withdrawn: number }>;
  /** `ban` lines the notify script wrote, by host. */
  bans(): Map<string, number>;
  stop(): Promise<void>;
}

function controllerConfig(
  dir: string,
  i: number,
  bgpPort: number,
  sflow: number,
  nats: readonly string[],
): string {
  return `
networks: [10.240.0.0/16]
capture:
  listeners: [{ name: sflow, type: sflow, address: 127.0.0.1, port: ${sflow} }]
api: { listen: "127.0.0.1:0" }
bgp:
  local_as: 65010
  router_id: ${CONTROLLERS[i]}
  peers:
    - { name: gobgp, address: ${GOBGP}, port: ${bgpPort}, local_address: ${CONTROLLERS[i]}, remote_as: 65001, hold_time: 9, families: [ipv4-unicast] }
mitigation: { max_blackholes: 100000 }
cluster:
  nats: [${nats.join(', ')}]
  roles: [controller]
  node: ${NAMES[i]}
  lease_ms: 3000
state_dir: ${join(dir, 'state')}
policies: ./policies
`;
}

function policy(script: string): string {
  return `
name: default
thresholds:
  ban:
    incoming: { total: { pps: 20000 } }
actions:
  ban_time: 1h
  unban_only_if_attack_finished: false
  blackhole: { enabled: true, communities: ["65535:666"], next_hop: { ipv4: 192.0.2.1 } }
  notify: { script: ${script}, format: text, timeout: 5s }
`;
}

export async function startRig(): Promise<Rig> {
  const dir = tempDir('cluster');
  const notifyFile = join(dir, 'notify.log');
  const script = join(dir, 'notify.sh');
  // Legacy text mode: `<ip> <direction> <pps> ban|unban`, one appended line per call.
  writeFileSync(script, `#!/bin/sh\necho "$@" >> '${notifyFile}'\ncat > /dev/null\n`);
  chmodSync(script, 0o755);
  const nats = await startNatsCluster(NATS);
  const bgpPort = await freePort('tcp', GOBGP);
  const gobgp = await startGobgp({
    address: GOBGP,
    port: bgpPort,
    asn: 65001,
    peers: CONTROLLERS.map((a) => ({ address: a, asn: 65010, passive: true, holdTime: 9 })),
  });
  const ctl: DaemonHandle[] = [];
  const sflow: number[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const d = join(dir, NAMES[i]!);
      const port = await freePort('udp');
      sflow.push(port);
      ctl.push(
        await startDaemon(d, controllerConfig(d, i, bgpPort, port, nats.urls), {
          'default.yaml': policy(script),
        }),
      );
    }
    for (const a of CONTROLLERS) await gobgp.waitEstablished(a, 30_000);
  } catch (e) {
    await Promise.all(ctl.map((d) => d.kill('SIGKILL')));
    await gobgp.stop();
    await nats.stop();
    throw e;
  }
  const sock = join(gobgp.dir, 'gobgp.sock');
  const rig: Rig = {
    dir,
    nats,
    gobgp,
    ctl,
    sflow,
    notifyFile,
    alive: () => ctl.flatMap((d, i) => (d.proc.exitCode === null && d.proc.signalCode === null ? [i] : [])),
    async leader(timeoutMs = 15_000) {
      return waitFor(
        'a cluster leader',
        async () => {
          for (const i of rig.alive()) {
            const r = await ctl[i]!.api<ClusterStatusAnswer>('GET', '/cluster');
            if (r.json.object?.role === 'leader') return i + 1;
          }
          return null;
        },
        timeoutMs,
        50,
      ).then((n) => n - 1);
    },
    async adjIn(i) {
      const out = (
        await run(
          'gobgp',
          ['--target', `unix://${sock}`, 'neighbor', CONTROLLERS[i]!, 'adj-in', '-a', 'ipv4', '-j'],
          {
            maxBuffer: 256 * 1024 * 1024,
          },
        )
      ).stdout.trim();
      if (!out || out === 'null') return 0;
      return Object.keys(JSON.parse(out) as object).length;
    },
    async received(i) {
      const out = await run('gobgp', ['--target', `unix://${sock}`, 'neighbor', CONTROLLERS[i]!, '-j']);
      const j = JSON.parse(out.stdout) as {
        state: { messages?: { received?: { update?: number; withdraw_prefix?: number } } };
      };
      const r = j.state.messages?.received;
      return { updates: r?.update ?? 0, withdrawn: r?.withdraw_prefix ?? 0 };
    },
    bans() {
      const m = new Map<string, number>();
      if (!existsSync(notifyFile)) return m;
      for (const line of readFileSync(notifyFile, 'utf8').split('\n')) {
        const [ip, , , action] = line.split(' ');
        if (action === 'ban' && ip) m.set(ip, (m.get(ip) ?? 0) + 1);
      }
      return m;
    },
    async stop() {
      await Promise.all(ctl.map((d) => d.kill('SIGKILL')));
      await gobgp.stop();
      await nats.stop();
    },
  };
  return rig;
}

/** n hosts in 10.240.0.0/16, from 10.240.1.1 on. */
export function hosts(n: number, from = 0): string[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k + 256 + 1;
    return `10.240.${(i >> 8) & 255}.${i & 255}`;
  });
}
