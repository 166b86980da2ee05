/**
 * The API under an unauthenticated flood must not slow mitigation (issue 14): scrypt on its
 * own thread with a bounded queue, failed logins blocked per source, connections capped
 * and slow clients dropped. A real daemon peers with GoBGP; an sFlow flood to a monitored
 * host is started while the API is under attack, and the time from the daemon's
 * "attack detected" line to the /32 at GoBGP must stay under 0.5 s:
 *   - 1,000 bad-password requests per second for 10 s (from one source): they end in 429s;
 *   - 256 connections (4 sources x 64) sending bad passwords in a closed loop;
 *   - 21,000 slow connections (slowloris, reconnecting) from 12 sources: a legitimate
 *     client is answered throughout, never starved (how fast: bench/api-flood.ts).
 * Router and client addresses: 127.0.0.121-139.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashPassword } from '../src/api/auth.js';
import { freePort, startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { RibWatcher } from './helpers/rib-watcher.js';
import { haveBinary, startGobgp, type Router } from './helpers/routers.js';
import { sflowStream, udpTo } from './helpers/traffic.js';
import { startSlowloris } from './helpers/slowloris.js';

const BW = '127.0.0.121';
const ROUTER = '127.0.0.122';
const FLOOD_SOURCE = '127.0.0.123';
const CONN_SOURCES = ['127.0.0.124', '127.0.0.125', '127.0.0.126', '127.0.0.127'];
const SLOW_SOURCES = Array.from({ length: 12 }, (_, i) => `127.0.0.${128 + i}`);
const LIMIT_S = 0.5;
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
const GOOD = basic('ops', 'the-real-password');

function config(dir: string, sflowPort: number, bgpPort: number): string {
  return `
networks: [203.0.113.0/24]
capture:
  listeners: [{ name: sf, type: sflow, address: 127.0.0.1, port: ${sflowPort} }]
api:
  listen: "127.0.0.1:0"
  max_connections: 512
  max_connections_per_source: 64
  users:
    # The default scrypt cost (N=16384), as hash-password makes it: what a flood would spend.
    ops: { password_hash: "${hashPassword('the-real-password')}" }
bgp:
  local_as: 65010
  router_id: 192.0.2.254
  peers:
    - { name: gobgp, address: ${ROUTER}, port: ${bgpPort}, local_address: ${BW}, remote_as: 65001, hold_time: 30, families: [ipv4-unicast] }
state_dir: ${join(dir, 'state')}
policies: ./policies
`;
}

const POLICY = `
name: default
thresholds: { ban: { incoming: { total: { pps: 20000 } } } }
actions:
  ban_time: 10m
  blackhole: { enabled: true, communities: ["65535:666"], next_hop: { ipv4: 192.0.2.1 } }
`;

/** One request on an agent; resolves to the status (0: a connection error). */
function get(agent: http.Agent, auth: string, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: '/bgp', agent, headers: { authorization: auth }, timeout: timeoutMs },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(0));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}
let port = 0;

describe('API floods leave mitigation fast', { timeout: 240_000 }, () => {
  let router: Router;
  let d: DaemonHandle;
  let watcher: RibWatcher;
  let sflowPort = 0;
  const gobgp = { ok: false };

  before(async () => {
    gobgp.ok = await haveBinary('gobgpd');
    if (!gobgp.ok) {
      if (process.env.CI) throw new Error('gobgpd is needed');
      return;
    }
    const dir = tempDir('apiload');
    const bgpPort = await freePort('tcp', ROUTER);
    sflowPort = await freePort('udp');
    router = await startGobgp({
      address: ROUTER,
      port: bgpPort,
      asn: 65001,
      peers: [{ address: BW, asn: 65010, passive: true }],
    });
    d = await startDaemon(dir, config(dir, sflowPort, bgpPort), { 'default.yaml': POLICY });
    port = d.apiPort;
    await router.waitEstablished(BW, 30_000);
    watcher = new RibWatcher(router, ['ipv4-unicast'], 50).start();
  });
  after(async () => {
    await watcher?.stop();
    await d?.kill();
    await router?.stop();
  });

  /**
   * An sFlow flood (30k pps, threshold 20k) to host; resolves to the seconds from the
   * daemon's "attack detected" log line (its own clock) to the /32 at GoBGP.
   */
  async function banLatency(host: string): Promise<number> {
    const flood = sflowStream(sflowPort, '127.0.0.1', 30, 100, () => udpTo(host));
    try {
      await watcher.waitFor((r) => r.some((x) => x.prefix === `${host}/32`), 20_000, `${host}/32`);
    } finally {
      flood.stop();
    }
    const line = new RegExp(
      `^(\\S+) info\\s+\\[detection\\] attack detected ip=${host.replace(/\./g, '\\.')} `,
      'm',
    ).exec(d.output());
    assert.ok(line, `no detection line for ${host}`);
    const detected = Date.parse(line[1]!);
    const at = watcher.events.find((e) => e.op === 'add' && e.route.prefix === `${host}/32`)!.at;
    return (at - detected) / 1000;
  }

  it('baseline: detection -> GoBGP without load', async (t) => {
    if (!gobgp.ok) return t.skip('gobgpd not installed');
    const s = await banLatency('203.0.113.10');
    t.diagnostic(`baseline detection -> GoBGP ${s.toFixed(3)} s`);
    assert.ok(s < LIMIT_S, `${s} s`);
  });

  it('1,000 bad-password requests per second for 10 s end in 429s and leave detection -> GoBGP under 0.5 s', async (t) => {
    if (!gobgp.ok) return t.skip('gobgpd not installed');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32, localAddress: FLOOD_SOURCE });
    const statuses: number[] = [];
    let sent = 0;
    let skipped = 0;
    let inflight = 0;
    const started = Date.now();
    const done: Promise<void>[] = [];
    // One request per ms of wall clock, sent every 10 ms; a request is skipped (counted)
    // rather than queued without bound when 1,000 are already waiting.
    const timer = setInterval(() => {
      // Catch up with the wall clock: timers fire late on a loaded machine.
      const due = Math.min(10_000, Date.now() - started) - sent - skipped;
      for (let k = 0; k < due; k++) {
        if (inflight >= 1000) {
          skipped++;
          continue;
        }
        inflight++;
        sent++;
        done.push(
          get(agent, basic('ops', `guess-${sent}`)).then((s) => {
            statuses.push(s);
            inflight--;
          }),
        );
      }
    }, 10);
    await new Promise((r) => setTimeout(r, 3000));
    const s = await banLatency('203.0.113.11');
    const rest = 10_000 - (Date.now() - started);
    if (rest > 0) await new Promise((r) => setTimeout(r, rest));
    clearInterval(timer);
    await Promise.all(done);
    agent.destroy();
    const count = (c: number) => statuses.filter((x) => x === c).length;
    t.diagnostic(
      `bad-password flood: ${sent} sent in ${((Date.now() - started) / 1000).toFixed(1)} s (${skipped} skipped), 401=${count(401)} 429=${count(429)} 503=${count(503)} errors=${count(0)}; detection -> GoBGP ${s.toFixed(3)} s`,
    );
    assert.ok(s < LIMIT_S, `detection -> GoBGP ${s} s during the flood`);
    assert.ok(count(401) <= 10, `at most 10 password checks fail before the block: ${count(401)}`);
    assert.ok(count(429) >= sent * 0.9, `429s: ${count(429)} of ${sent}`);
    assert.deepEqual(statuses.slice(-100), Array(100).fill(429), 'the flood ends in 429s');
    const m = (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: GOOD } }).then(
      (r) => r.text(),
    )) as string;
    assert.match(m, /^breakwater_api_auth_refused_total\{reason="rate_limited"\} \d{3,}$/m);
  });

  it('256 connections sending bad passwords leave detection -> GoBGP under 0.5 s', async (t) => {
    if (!gobgp.ok) return t.skip('gobgpd not installed');
    let stop = false;
    const statuses = new Map<number, number>();
    const loops: Promise<void>[] = [];
    const agents = CONN_SOURCES.map(
      (a) => new http.Agent({ keepAlive: true, maxSockets: 64, localAddress: a }),
    );
    for (const agent of agents) {
      for (let c = 0; c < 64; c++) {
        loops.push(
          (async () => {
            for (let i = 0; !stop; i++) {
              const s = await get(agent, basic('ops', `c${c}-${i}`));
              statuses.set(s, (statuses.get(s) ?? 0) + 1);
              if (s === 0) await new Promise((r) => setTimeout(r, 50));
            }
          })(),
        );
      }
    }
    await new Promise((r) => setTimeout(r, 2000));
    const s = await banLatency('203.0.113.12');
    await new Promise((r) => setTimeout(r, 1000));
    stop = true;
    await Promise.all(loops);
    for (const a of agents) a.destroy();
    t.diagnostic(
      `256 connections: answers ${JSON.stringify(Object.fromEntries(statuses))}; detection -> GoBGP ${s.toFixed(3)} s`,
    );
    assert.ok(s < LIMIT_S, `detection -> GoBGP ${s} s with 256 attacking connections`);
    assert.ok(
      (statuses.get(401) ?? 0) <= 4 * 10 + 16,
      `password checks are bounded: ${statuses.get(401)} failures`,
    );
  });

  it('21,000 slow connections leave a legitimate client answered, never starved', async (t) => {
    if (!gobgp.ok) return t.skip('gobgpd not installed');
    // The issue's 21,000 sockets at once: 12 sources x 1,750, in two processes of their own.
    const PER_SOURCE = 1750;
    const storm = startSlowloris(port, PER_SOURCE, SLOW_SOURCES);
    try {
      await new Promise((r) => setTimeout(r, 2000)); // the storm is on
      const latencies: number[] = [];
      const statuses: number[] = [];
      const agent = new http.Agent({ keepAlive: false });
      const until = Date.now() + 12_000;
      while (Date.now() < until) {
        const t0 = Date.now();
        statuses.push(await get(agent, GOOD, 5000));
        latencies.push(Date.now() - t0);
        await new Promise((r) => setTimeout(r, 200));
      }
      const m = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: GOOD } }).then(
        (r) => r.text(),
      );
      const report = await storm.stop();
      const worst = Math.max(...latencies);
      const evicted = /^breakwater_api_connections_refused_total\{reason="evicted"\} (\d+)$/m.exec(m)?.[1];
      const perSource = /^breakwater_api_connections_refused_total\{reason="per_source"\} (\d+)$/m.exec(
        m,
      )?.[1];
      const sorted = [...latencies].sort((a, b) => a - b);
      t.diagnostic(
        `slow connections: ${report} (${SLOW_SOURCES.length} sources x ${PER_SOURCE} = ${SLOW_SOURCES.length * PER_SOURCE} at once); evicted=${evicted} per_source=${perSource}; legitimate client: ${latencies.length} requests, worst ${worst} ms, median ${sorted[sorted.length >> 1]} ms`,
      );
      assert.deepEqual([...new Set(statuses)], [200], `legitimate answers: ${statuses.join(' ')}`);
      // Starvation, not speed: a client queued behind the storm (no per-source cap, no
      // eviction) waits for the 5 s timeout or loses its SYN twice (1 s + 2 s retries). The
      // issue's figure (answered within 1 s) is measured by bench/api-flood.ts, not here: on
      // a loaded CI machine one SYN lost to an accept-queue overflow costs a 1 s retry.
      assert.ok(worst < 3000, `worst legitimate latency ${worst} ms: ${latencies.join(' ')}`);
      assert.ok(Number(evicted) > 0 && Number(perSource) > 0, 'both bounds were exercised');
    } finally {
      storm.kill();
    }
  });
});
