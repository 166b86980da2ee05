/**
 * `breakwater run` with bgp.peers, bgp.static_routes and bgp.static_flowspec announces them
 * to real routers (GoBGP and BIRD), and a SIGHUP reload applies a changed static list.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { haveBinary, startBird, startGobgp, waitFor, type Router } from './helpers/routers.js';
import { startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';

const BW = '127.0.0.91';
const GOBGP = '127.0.0.92';
const BIRD = '127.0.0.93';
const PORT = 11891;

function config(dir: string, statics: string, withBird = true): string {
  return `
networks: [203.0.113.0/24, "2001:db8::/32"]
capture: { listeners: [] }
api: { listen: "127.0.0.1:0" }
bgp:
  local_as: 65010
  router_id: 192.0.2.254
  peers:
    - { name: gobgp, address: ${GOBGP}, port: ${PORT}, local_address: ${BW}, remote_as: 65001, families: [ipv4-unicast, ipv6-unicast, ipv4-flowspec, ipv6-flowspec] }
${withBird ? `    - { name: bird, address: ${BIRD}, port: ${PORT + 1}, local_address: ${BW}, remote_as: 65002, families: [ipv4-unicast, ipv6-unicast, ipv4-flowspec, ipv6-flowspec] }\n` : ''}${statics}
state_dir: ${join(dir, 'state')}
policies: ./policies
`;
}

const STATICS_1 = `  static_routes:
    - { prefix: 203.0.113.5/32, next_hop: 192.0.2.1, communities: ["65535:666"], large_communities: ["65001:666:1"] }
    - { prefix: "2001:db8::5/128", next_hop: "100::1", communities: ["65535:666"] }
  static_flowspec:
    - { destination_prefix: 203.0.113.6/32, protocols: [udp], source_ports: [53], packet_lengths: [">=500"], action_type: discard }`;
const STATICS_2 = `  static_routes:
    - { prefix: 203.0.113.7/32, next_hop: 192.0.2.1, communities: ["65535:666"] }`;

async function prefixes(r: Router, family: 'ipv4-unicast' | 'ipv6-unicast' | 'ipv4-flowspec') {
  return (await r.getRoutes(family)).map((x) => x.prefix).sort();
}

test('static routes and static FlowSpec from config reach GoBGP and BIRD; SIGHUP applies changes', {
  timeout: 90_000,
}, async (t) => {
  if (!(await haveBinary('gobgpd')) || !(await haveBinary('bird'))) return t.skip('routers not installed');
  const dir = tempDir('static');
  const gobgp = await startGobgp({
    address: GOBGP,
    port: PORT,
    asn: 65001,
    peers: [{ address: BW, asn: 65010, passive: true }],
  });
  const bird = await startBird({
    address: BIRD,
    port: PORT + 1,
    asn: 65002,
    peers: [{ address: BW, asn: 65010, passive: true }],
  });
  let d: DaemonHandle | undefined;
  try {
    d = await startDaemon(dir, config(dir, STATICS_1), { 'default.yaml': 'name: default\n' });
    for (const r of [gobgp, bird]) {
      await waitFor(
        `${r.kind}: static IPv4 route`,
        async () => (await prefixes(r, 'ipv4-unicast')).includes('203.0.113.5/32'),
        20000,
      );
      const v4 = (await r.getRoutes('ipv4-unicast')).find((x) => x.prefix === '203.0.113.5/32')!;
      assert.equal(v4.nextHop, '192.0.2.1', r.kind);
      assert.ok(v4.communities.includes('65535:666'), `${r.kind} ${v4.communities}`);
      assert.ok(v4.largeCommunities.includes('65001:666:1'), `${r.kind} ${v4.largeCommunities}`);
      const v6 = await waitFor(
        `${r.kind}: static IPv6 route`,
        async () => (await r.getRoutes('ipv6-unicast')).find((x) => x.prefix === '2001:db8::5/128'),
        10000,
      );
      assert.equal(v6.nextHop, '100::1', r.kind);
      const fs = await waitFor(
        `${r.kind}: static FlowSpec rule`,
        async () => (await r.getRoutes('ipv4-flowspec'))[0],
        10000,
      );
      const text = JSON.stringify(fs.raw) + fs.prefix + fs.extendedCommunities.join(' ');
      assert.match(text, /203\.0\.113\.6\/32/, r.kind);
      assert.match(text, /53/, r.kind);
      assert.match(
        fs.extendedCommunities.join(' '),
        /discard|"subtype":6,"as":0,"rate":0\b|0x80060000,0x0\b/i,
        `${r.kind}: ${fs.extendedCommunities}`,
      );
    }
    // Reload with another static list and without the BIRD peer: GoBGP loses the old routes
    // and gets the new one; BIRD's session is closed (Cease), so it holds nothing.
    writeFileSync(join(dir, 'breakwater.yaml'), config(dir, STATICS_2, false));
    d.proc.kill('SIGHUP');
    await waitFor(
      'gobgp: reload applied',
      async () => {
        const v4 = await prefixes(gobgp, 'ipv4-unicast');
        return (
          v4.length === 1 &&
          v4[0] === '203.0.113.7/32' &&
          (await prefixes(gobgp, 'ipv6-unicast')).length === 0 &&
          (await prefixes(gobgp, 'ipv4-flowspec')).length === 0
        );
      },
      15000,
    );
    await waitFor(
      'bird: peer removed',
      async () =>
        (await bird.peerState(BW)) !== 'Established' && (await prefixes(bird, 'ipv4-unicast')).length === 0,
      15000,
    );
    // Adding the peer back by reload brings it the current table.
    writeFileSync(join(dir, 'breakwater.yaml'), config(dir, STATICS_2));
    d.proc.kill('SIGHUP');
    await waitFor(
      'bird: peer added back',
      async () => (await prefixes(bird, 'ipv4-unicast')).join() === '203.0.113.7/32',
      20000,
    );
    // A bad reload is refused and changes nothing at the routers.
    writeFileSync(
      join(dir, 'breakwater.yaml'),
      config(dir, STATICS_2).replace('203.0.113.7/32', '203.0.113.7/24'),
    );
    d.proc.kill('SIGHUP');
    await d.waitLog(/reload refused/);
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(await prefixes(gobgp, 'ipv4-unicast'), ['203.0.113.7/32']);
  } finally {
    await d?.kill();
    await gobgp.stop();
    await bird.stop();
  }
});
