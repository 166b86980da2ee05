/**
 * Benchmark: carpet bombing, whole daemon over sockets. `breakwater run` peers with GoBGP
 * and takes synthetic NetFlow v9 (test/helpers/netflow9.ts): one record per host every
 * `--interval` ms, 30k pps per host against a 20k pps per-host threshold, hosts counted up
 * from 10.1.0.0 (4,096 = 10.1.0.0/20, 65,536 = all of 10.1.0.0/16).
 *
 *  (i)  per-host blackhole policy: time from the first datagram until GoBGP holds every
 *       host's /32; peak RSS of the daemon (VmHWM); API p99 latency during the attack
 *       (GET /total_traffic_counters and GET /bgp every 50 ms).
 *  (ii) hostgroup FlowSpec policy (actions.hostgroup.flowspec, host actions off): time from
 *       the first datagram until GoBGP holds the rules (at most 4), and whether their
 *       destinations cover every attacked host.
 *
 *   node dist/bench/carpet-bomb.js [--hosts 4096,65536] [--interval 100] [--only perhost|hostgroup] [--log info]
 *
 * Addresses: GoBGP 127.0.0.151 / .153, Breakwater 127.0.0.152 / .154, ports picked free.
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startDaemon, tempDir, type DaemonHandle } from '../test/helpers/daemon.js';
import { startGobgp, waitFor, type Router } from '../test/helpers/routers.js';
import { nf9Flood } from '../test/helpers/netflow9.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const HOSTS = opt('hosts', '4096,65536').split(',').map(Number);
const INTERVAL = Number(opt('interval', '100'));
const ONLY = opt('only', '');
const LOG = opt('log', 'info'); // the harness waits for the info line "ready"
const PPS = 30_000;

const hostAddr = (i: number) => ((10 << 24) | (1 << 16) | (i & 0xffff)) >>> 0;

/** The daemon's peak RSS (VmHWM); 0 once it has exited (the failure is the daemon's, reported by its log). */
function peakRss(pid: number): number {
  let text = '';
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return 0;
  }
  const m = /VmHWM:\s+(\d+) kB/.exec(text);
  return m ? Number(m[1]) * 1024 : 0;
}

function config(dir: string, nf: number, router: string, port: number, us: string, n: number): string {
  return `
networks: [10.0.0.0/8]
capture:
  listeners: [{ name: nf, type: netflow, address: 127.0.0.1, port: ${nf} }]
  default_sampling_rate: 1
api: { listen: "127.0.0.1:0" }
mitigation: { max_blackholes: ${n + 100}, max_flowspec_rules: 100 }
logging: { level: ${LOG} }
bgp:
  local_as: 65010
  router_id: 192.0.2.254
  peers:
    - { name: gobgp, address: ${router}, port: ${port}, local_address: ${us}, remote_as: 65001, families: [ipv4-unicast, ipv4-flowspec] }
state_dir: ${join(dir, 'state')}
policies: ./policies
`;
}

const PER_HOST = `
name: carpet
prefixes: [10.1.0.0/16]
thresholds: { ban: { incoming: { total: { pps: 20000 } } } }
actions:
  ban_time: 10m
  blackhole: { enabled: true, communities: ["65535:666"], next_hop: { ipv4: 192.0.2.1 } }
`;

const HOSTGROUP = `
name: carpet
prefixes: [10.1.0.0/16]
thresholds:
  ban: { incoming: { total: { pps: 20000 } } }
  hostgroup: { incoming: { total: { pps: 10000000 } } }
actions:
  ban_time: 10m
  blackhole: { enabled: false }
  hostgroup:
    flowspec: { enabled: true, destination: attacked, max_prefixes: 4 }
`;

/** What the daemon counted of its own load: kernel drops, attack starts, deferred starts, late ticks. */
async function loadCounters(
  apiPort: number,
): Promise<{ socketDrops: number; started: number; deferred: number; late: number }> {
  const text = await fetch(`http://127.0.0.1:${apiPort}/metrics`).then(
    (r) => r.text(),
    () => '',
  );
  const sum = (name: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(name))
      .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return {
    socketDrops: sum('breakwater_capture_socket_drops_total'),
    started: sum('breakwater_attacks_detected_total'),
    deferred: sum('breakwater_detection_starts_deferred_total'),
    late: sum('breakwater_detection_ticks_late_total'),
  };
}

/** API latency sampler: GET /total_traffic_counters and /bgp, one at a time, every 50 ms. */
function apiSampler(port: number): { stop(): number[] } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  let open = true;
  const get = (path: string) =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          times.push(performance.now() - t0);
          resolve();
        });
      });
      req.on('error', () => resolve());
    });
  void (async () => {
    let k = 0;
    while (open) {
      await get(k++ % 2 === 0 ? '/total_traffic_counters' : '/bgp');
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    stop() {
      open = false;
      agent.destroy();
      return times;
    },
  };
}

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function run(kind: 'perhost' | 'hostgroup', n: number, k: number): Promise<void> {
  const router = `127.0.0.${151 + 2 * k}`;
  const us = `127.0.0.${152 + 2 * k}`;
  const dir = tempDir(`carpet-${kind}`);
  const port = await freePort('tcp', router);
  const gobgp: Router = await startGobgp({
    address: router,
    port,
    asn: 65001,
    peers: [{ address: us, asn: 65010, passive: true }],
  });
  let d: DaemonHandle | undefined;
  let flood: ReturnType<typeof nf9Flood> | undefined;
  try {
    const nf = await freePort('udp');
    d = await startDaemon(dir, config(dir, nf, router, port, us, n), {
      'carpet.yaml': kind === 'perhost' ? PER_HOST : HOSTGROUP,
    });
    await gobgp.waitEstablished(us, 20_000);
    const pid = d.proc.pid!;
    const hosts = Array.from({ length: n }, (_, i) => hostAddr(i));
    const api = apiSampler(d.apiPort);
    // Spread over the interval in slices of ~100 datagrams, as exporters spread their export.
    flood = nf9Flood({
      port: nf,
      hosts,
      ppsPerHost: PPS,
      intervalMs: INTERVAL,
      slices: Math.max(1, Math.ceil(n / 4500)),
    });
    const t0 = flood.firstAt;
    let rss = 0;
    const rssTimer = setInterval(() => (rss = Math.max(rss, peakRss(pid))), 200);
    if (kind === 'perhost') {
      let last = 0;
      // Progress every 10 s (how the held count grows says where the time goes).
      const progress = setInterval(
        () => process.stdout.write(`  ${((Date.now() - t0) / 1000).toFixed(0)} s: GoBGP holds ${last}\n`),
        10_000,
      );
      await waitFor(
        `GoBGP holding ${n} /32`,
        async () => {
          last = await gobgp.countRoutes('ipv4-unicast');
          return last >= n;
        },
        300_000,
        100,
      )
        .catch(async (e: Error) => {
          // What the daemon counted: drops, refusals, what it advertises.
          const m = await fetch(`http://127.0.0.1:${d!.apiPort}/metrics`).then(
            (r) => r.text(),
            () => '',
          );
          const wanted = m
            .split('\n')
            .filter((l) =>
              /^breakwater_(capture_(datagrams|dropped|records|malformed)|mitigations_(active|refused)|bgp_prefixes_advertised|detection_hot)/.test(
                l,
              ),
            );
          throw new Error(`${e.message} (held ${last})\n${wanted.join('\n')}`);
        })
        .finally(() => clearInterval(progress));
      const held = Date.now() - t0;
      rss = Math.max(rss, peakRss(pid));
      const lat = api.stop();
      const load = await loadCounters(d.apiPort);
      process.stdout.write(
        `carpet bomb, per-host blackhole: ${n} hosts x ${PPS} pps (NetFlow v9, a record per host every ${INTERVAL} ms), threshold 20000 pps\n` +
          `  GoBGP holds all ${n} /32: ${(held / 1000).toFixed(2)} s after the first datagram (${flood.datagrams} datagrams sent)\n` +
          `  daemon peak RSS: ${(rss / 2 ** 20).toFixed(0)} MiB; API during the attack: p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms over ${lat.length} requests\n` +
          `  datagrams the kernel dropped (socket buffer full): ${load.socketDrops}; attacks started: ${load.started}; starts deferred to a later tick: ${load.deferred}; ticks late: ${load.late}\n`,
      );
    } else {
      const rules = await waitFor(
        'FlowSpec rules at GoBGP',
        async () => {
          const r = await gobgp.getRoutes('ipv4-flowspec');
          return r.length > 0 ? r : null;
        },
        120_000,
        100,
      );
      const held = Date.now() - t0;
      const lat = api.stop();
      const dests = rules.map((r) => /destination: ?([0-9.]+\/\d+)/.exec(r.prefix)?.[1] ?? '?');
      const covers = (ip: number) =>
        dests.some((p) => {
          const [a, l] = p.split('/');
          const q = a!.split('.').map(Number);
          const net = ((q[0]! << 24) | (q[1]! << 16) | (q[2]! << 8) | q[3]!) >>> 0;
          const len = Number(l);
          const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
          return (ip & mask) >>> 0 === net;
        });
      const uncovered = hosts.filter((h) => !covers(h)).length;
      process.stdout.write(
        `carpet bomb, hostgroup FlowSpec: ${n} hosts x ${PPS} pps (NetFlow v9, every ${INTERVAL} ms), hostgroup threshold 10M pps\n` +
          `  GoBGP holds ${rules.length} rule(s) ${(held / 1000).toFixed(2)} s after the first datagram; destinations ${dests.join(', ')}; attacked hosts not covered: ${uncovered} of ${n}\n` +
          `  daemon peak RSS: ${(Math.max(rss, peakRss(pid)) / 2 ** 20).toFixed(0)} MiB; API p99 ${pct(lat, 99).toFixed(1)} ms over ${lat.length} requests\n`,
      );
    }
    clearInterval(rssTimer);
  } finally {
    flood?.stop();
    await d?.kill();
    await gobgp.stop();
  }
}

async function main(): Promise<void> {
  let k = 0;
  if (ONLY !== 'hostgroup') for (const n of HOSTS) await run('perhost', n, k++ % 2);
  if (ONLY !== 'perhost') await run('hostgroup', HOSTS[0]!, k++ % 2);
}

main().catch((e: Error) => {
  process.stderr.write(`${e.stack ?? e.message}\n`);
  process.exit(1);
});
