/**
 * End to end with a real GoBGP: replay the SYN-flood NetFlow v9 capture into
 * `breakwater run`; GoBGP receives 203.0.113.10/32 with the configured community and
 * next-hop, the notify script gets FastNetMon Advanced's JSON, GET /blackhole lists the ban,
 * and after ban_time the route is withdrawn and the unban notification runs. Then a
 * kill -9 during an active ban: the ban comes back after restart and is re-announced.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { haveBinary, startGobgp, waitFor, type Router } from './helpers/routers.js';
import {
  FIXTURES,
  freePort,
  recordingScript,
  replay,
  startDaemon,
  tempDir,
  type DaemonHandle,
} from './helpers/daemon.js';
import type { ListAnswer, MitigationAnswer } from './helpers/answers.js';

const BW = '127.0.0.61';
const ROUTER = '127.0.0.62';
const BGP_PORT = 11861;

function config(dir: string, collectorPort: number): string {
  return `
networks: [203.0.113.0/24, "2001:db8::/32"]
whitelist: [203.0.113.53/32]
capture:
  listeners: [{ name: nf, type: netflow, address: 127.0.0.1, port: ${collectorPort} }]
api: { listen: "127.0.0.1:0" }
bgp:
  local_as: 65010
  router_id: 192.0.2.254
  peers:
    - { name: gobgp, address: ${ROUTER}, port: ${BGP_PORT}, local_address: ${BW}, remote_as: 65001, hold_time: 9, families: [ipv4-unicast, ipv6-unicast] }
state_dir: ${join(dir, 'state')}
policies: ./policies
`;
}

function policy(script: string, banTime: string): string {
  return `
name: default
thresholds:
  ban:
    incoming: { total: { pps: 20000 } }
actions:
  ban_time: ${banTime}
  unban_only_if_attack_finished: false
  blackhole: { enabled: true, communities: ["65535:666"], large_communities: ["65010:666:1"], next_hop: { ipv4: 192.0.2.1 } }
  notify: { script: ${script}, format: json, timeout: 5s }
`;
}

async function gobgpRoute(r: Router, prefix: string) {
  return (await r.getRoutes('ipv4-unicast')).find((x) => x.prefix === prefix);
}

test('SYN flood from NetFlow v9 is blackholed on GoBGP, notified, listed, and withdrawn after ban_time', {
  timeout: 90_000,
}, async (t) => {
  if (!(await haveBinary('gobgpd'))) return t.skip('gobgpd not installed');
  const dir = tempDir('e2e');
  const rec = recordingScript(dir);
  const router = await startGobgp({
    address: ROUTER,
    port: BGP_PORT,
    asn: 65001,
    peers: [{ address: BW, asn: 65010, passive: true }],
  });
  let d: DaemonHandle | undefined;
  try {
    const nf = await freePort('udp');
    d = await startDaemon(dir, config(dir, nf), { 'default.yaml': policy(rec.script, '4s') });
    await router.waitEstablished(BW, 20000);
    await replay(join(FIXTURES, 'flows/syn_flood.nf9.pcap'), `127.0.0.1:${nf}`);

    const route = await waitFor(
      '203.0.113.10/32 on GoBGP',
      () => gobgpRoute(router, '203.0.113.10/32'),
      15000,
    );
    assert.equal(route.nextHop, '192.0.2.1');
    assert.ok(route.communities.includes('65535:666'), `communities ${route.communities}`);
    assert.ok(route.largeCommunities.includes('65010:666:1'), `large ${route.largeCommunities}`);
    // Only the attacked host: background hosts stay below the threshold.
    const all = await router.getRoutes('ipv4-unicast');
    assert.deepEqual(
      all.map((r) => r.prefix),
      ['203.0.113.10/32'],
    );

    const bh = await d.api<ListAnswer<MitigationAnswer>>('GET', '/blackhole');
    assert.equal(bh.status, 200);
    assert.equal(bh.json.success, true);
    const ban = bh.json.values.find((v) => v.ip === '203.0.113.10/32');
    assert.ok(ban?.uuid, JSON.stringify(bh.json));

    const ban1 = await waitFor(
      'ban notification',
      async () => rec.calls().find((c) => c.stdin?.action === 'ban'),
      10000,
    );
    assert.equal(ban1.stdin.ip, '203.0.113.10');
    assert.equal(ban1.stdin.alert_scope, 'host');
    assert.equal(ban1.stdin.attack_details.attack_direction, 'incoming');
    assert.equal(ban1.stdin.attack_details.attack_type, 'syn_flood');
    assert.ok(ban1.stdin.attack_details.total_incoming_pps > 20000);
    assert.ok(Array.isArray(ban1.stdin.packet_dump_detailed) && ban1.stdin.packet_dump_detailed.length > 0);

    await waitFor(
      'withdrawal after ban_time',
      async () => !(await gobgpRoute(router, '203.0.113.10/32')),
      20000,
    );
    await waitFor(
      'unban notification',
      async () => rec.calls().find((c) => c.stdin?.action === 'unban'),
      10000,
    );
    const after = await d.api<ListAnswer<MitigationAnswer>>('GET', '/blackhole');
    assert.equal(after.json.values.filter((v) => v.ip === '203.0.113.10/32').length, 0);
  } finally {
    await d?.kill();
    await router.stop();
  }
});

test('kill -9 during an active ban: the ban is restored and re-announced after restart', {
  timeout: 90_000,
}, async (t) => {
  if (!(await haveBinary('gobgpd'))) return t.skip('gobgpd not installed');
  const dir = tempDir('e2e-kill');
  const rec = recordingScript(dir);
  const router = await startGobgp({
    address: '127.0.0.63',
    port: BGP_PORT + 1,
    asn: 65001,
    peers: [{ address: '127.0.0.64', asn: 65010, passive: true }],
  });
  let d: DaemonHandle | undefined;
  try {
    const nf = await freePort('udp');
    const cfg = config(dir, nf).replace(
      `${ROUTER}, port: ${BGP_PORT}, local_address: ${BW}`,
      `127.0.0.63, port: ${BGP_PORT + 1}, local_address: 127.0.0.64`,
    );
    d = await startDaemon(dir, cfg, { 'default.yaml': policy(rec.script, '10m') });
    await router.waitEstablished('127.0.0.64', 20000);
    await replay(join(FIXTURES, 'flows/syn_flood.nf9.pcap'), `127.0.0.1:${nf}`);
    await waitFor('route on GoBGP', () => gobgpRoute(router, '203.0.113.10/32'), 15000);
    const before = (await d.api<ListAnswer<MitigationAnswer>>('GET', '/blackhole')).json.values.filter(
      (v) => v.ip === '203.0.113.10/32',
    );
    assert.equal(before.length, 1);

    await d.kill('SIGKILL');
    // The session drops with the process: GoBGP forgets the route (no graceful restart).
    await waitFor(
      'route gone with the session',
      async () => !(await gobgpRoute(router, '203.0.113.10/32')),
      30000,
    );
    await d.restart();
    await waitFor('route re-announced', () => gobgpRoute(router, '203.0.113.10/32'), 20000);
    const after = (await d.api<ListAnswer<MitigationAnswer>>('GET', '/blackhole')).json.values.filter(
      (v) => v.ip === '203.0.113.10/32',
    );
    assert.equal(after.length, 1, 'one ban, not two');
    assert.equal(after[0].uuid, before[0].uuid, 'the same ban (uuid kept)');
    // Exactly one route, and the restart sent no ban notification of its own.
    assert.equal((await router.getRoutes('ipv4-unicast')).length, 1);
    assert.equal(rec.calls().filter((c) => c.stdin?.action === 'ban').length, 1);
    // Clean stop withdraws.
    await d.kill('SIGTERM');
    await waitFor(
      'withdrawn on clean stop',
      async () => !(await gobgpRoute(router, '203.0.113.10/32')),
      15000,
    );
  } finally {
    await d?.kill();
    await router.stop();
  }
});
