/**
 * Networks learned from BGP (networks_from_bgp) with GoBGP as the peer that announces
 * them: a route with the chosen community inside `within` becomes a monitored network of
 * the chosen hostgroup (GET /hostgroup shows it; an attack on it is detected and
 * blackholed to the router); routes without the community, or outside `within`, are not;
 * a withdraw or the session going down removes it again. Also the pure parts: withLearned
 * and the UPDATE handling against a reference set, with treat-as-withdraw.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, startDaemon, tempDir } from './helpers/daemon.js';
import { requireBinary } from './helpers/servers.js';
import { startGobgp, waitFor } from './helpers/routers.js';
import { sflowStream, udpTo } from './helpers/traffic.js';
import { LearnedNetworks, withLearned } from '../src/bgp/learned.js';
import { parseConfig, parsePrefix } from '../src/config/index.js';
import { logger } from '../src/log.js';
import { summarize } from '../src/cli/commands/check.js';
import type { UpdateMessage } from '../src/bgp/update.js';
import { prefixToString } from '../src/wire/addr.js';
import type { HostgroupAnswer, ListAnswer, LiveAttackAnswer, ObjectAnswer } from './helpers/answers.js';

const run = promisify(execFile);
const BW = '127.0.0.221';
const ROUTER = '127.0.0.222';
const quiet = logger.child({ module: 'test' });
quiet.level = 'error';

const CFG = `networks: [10.0.0.0/8]
capture: { listeners: [] }
bgp:
  peers: [{ name: edge, address: 127.0.0.9, remote_as: 65001 }]
networks_from_bgp: { peer: edge, communities: ["65001:100", "65001:1:2"], hostgroup: default, within: [198.18.0.0/15, 2001:db8:c::/48] }
`;

function upd(
  nlri: string[],
  withdrawn: string[],
  communities: number[] = [],
  large: [number, number, number][] = [],
  issues = false,
): UpdateMessage {
  const attributes: UpdateMessage['attributes'][number][] = [];
  if (communities.length)
    attributes.push({ kind: 'communities', flags: 0xc0, code: 8, communities } as never);
  if (large.length)
    attributes.push({ kind: 'large_communities', flags: 0xc0, code: 32, communities: large } as never);
  const v6 = nlri.filter((p) => p.includes(':'));
  if (v6.length)
    attributes.push({
      kind: 'mp_reach',
      flags: 0x80,
      code: 14,
      afi: 2,
      safi: 1,
      nextHop: new Uint8Array(16),
      reserved: 0,
      nlri: v6.map(parsePrefix),
      flowspec: [],
    } as never);
  return {
    type: 'update',
    withdrawn: withdrawn.map(parsePrefix),
    attributes,
    nlri: nlri.filter((p) => !p.includes(':')).map(parsePrefix),
    ...(issues
      ? { issues: [{ action: 'treat-as-withdraw', code: 3, subcode: 1, reason: 'test' }] as never }
      : {}),
  };
}

test('learned networks: UPDATE handling follows peer, community, within and withdraws; withLearned extends networks and the hostgroup', () => {
  const cfg = parseConfig('/tmp/bw.yaml', CFG);
  let changes = 0;
  const l = new LearnedNetworks(cfg.networks_from_bgp, () => changes++, quiet);
  const list = () => l.list().map(prefixToString).sort();
  const C = 65001 * 65536 + 100;
  l.update('edge', upd(['198.18.1.0/24', '2001:db8:c:1::/64'], [], [C]));
  l.update('other', upd(['198.18.2.0/24'], [], [C])); // another peer
  l.update('edge', upd(['198.18.3.0/24'], [], [65001 * 65536 + 7])); // other community
  l.update('edge', upd(['203.0.113.0/24', '198.16.0.0/14'], [], [C])); // outside within (the /14 is wider than it)
  l.update('edge', upd(['198.19.4.0/24'], [], [], [[65001, 1, 2]])); // the large community
  assert.deepEqual(list(), ['198.18.1.0/24', '198.19.4.0/24', '2001:db8:c:1::/64']);
  assert.equal(changes, 2);
  // Re-announced without the community: no longer tagged, so no longer learned.
  l.update('edge', upd(['198.19.4.0/24'], [], [65001 * 65536 + 7]));
  l.update('edge', upd([], ['198.18.1.0/24']));
  l.update('edge', upd(['2001:db8:c:1::/64'], [], [C], [], true)); // RFC 7606 treat-as-withdraw
  assert.deepEqual(list(), []);
  l.update('edge', upd(['198.18.9.0/24'], [], [C]));
  const eff = withLearned(cfg, l.list());
  assert.deepEqual(eff.networks.map(prefixToString), ['10.0.0.0/8', '198.18.9.0/24']);
  assert.deepEqual(eff.hostgroups.find((h) => h.name === 'default')!.prefixes.map(prefixToString), [
    '198.18.9.0/24',
  ]);
  assert.ok(Object.isFrozen(eff.networks));
  assert.equal(withLearned(cfg, []), cfg);
  l.down('edge');
  assert.deepEqual(list(), []);
});

test('networks_from_bgp config: check shows it; peer and hostgroup must exist, within is required', () => {
  assert.match(
    summarize(parseConfig('/tmp/bw.yaml', CFG)),
    /\nnetworks_from_bgp: routes from peer edge with community 65001:100 or 65001:1:2 -> hostgroup default, only within 198\.18\.0\.0\/15, 2001:db8:c::\/48\n/,
  );
  assert.throws(
    () => parseConfig('/tmp/bw.yaml', CFG.replace('peer: edge', 'peer: nope')),
    /\/tmp\/bw\.yaml:5:28: networks_from_bgp\.peer: no BGP peer named "nope" \(known: edge\)/,
  );
  assert.throws(
    () => parseConfig('/tmp/bw.yaml', CFG.replace('hostgroup: default', 'hostgroup: video')),
    /networks_from_bgp\.hostgroup: no hostgroup named "video"/,
  );
  assert.throws(
    () => parseConfig('/tmp/bw.yaml', CFG.replace(', within: [198.18.0.0/15, 2001:db8:c::/48]', '')),
    /networks_from_bgp\.within: missing required key/,
  );
});

test('networks from BGP with GoBGP: learned into the hostgroup, attacked and blackholed, removed on withdraw', {
  timeout: 120_000,
}, async () => {
  await requireBinary('gobgpd', 'gobgpd');
  const port = await freePort('tcp', ROUTER);
  const router = await startGobgp({
    address: ROUTER,
    port,
    asn: 65001,
    peers: [{ address: BW, asn: 65010, passive: true, families: ['ipv4-unicast', 'ipv6-unicast'] }],
  });
  const gobgp = (...args: string[]) =>
    run('gobgp', ['--target', `unix://${join(router.dir, 'gobgp.sock')}`, ...args]);
  const dir = tempDir('learned');
  const sflow = await freePort('udp');
  const d = await startDaemon(
    dir,
    `networks: [10.0.0.0/8]
capture: { listeners: [{ name: sflow, type: sflow, address: 127.0.0.1, port: ${sflow} }] }
api: { listen: "127.0.0.1:0" }
state_dir: ${join(dir, 'state')}
policies: policies
detection: { tick: 100ms, window: 1s }
bgp:
  local_as: 65010
  router_id: 192.0.2.254
  peers: [{ name: edge, address: ${ROUTER}, port: ${port}, local_address: ${BW}, remote_as: 65001 }]
networks_from_bgp: { peer: edge, communities: ["65001:100"], hostgroup: customers, within: [198.18.0.0/15] }
`,
    {
      'customers.yaml': `thresholds: { ban: { incoming: { total: { pps: 20000 } } } }
actions: { blackhole: { enabled: true, communities: ["65535:666"], next_hop: { ipv4: 192.0.2.1 } } }
`,
    },
  );
  let s: ReturnType<typeof sflowStream> | null = null;
  const customers = async (): Promise<string[]> =>
    (await d.api<ListAnswer<HostgroupAnswer>>('GET', '/hostgroup')).json.values.find(
      (h) => h.name === 'customers',
    )!.networks;
  try {
    await router.waitEstablished(BW, 30000);
    await gobgp('global', 'rib', 'add', '198.18.1.0/24', 'community', '65001:100', '-a', 'ipv4');
    await gobgp('global', 'rib', 'add', '198.18.2.0/24', 'community', '65001:7', '-a', 'ipv4');
    await gobgp('global', 'rib', 'add', '203.0.113.0/24', 'community', '65001:100', '-a', 'ipv4');
    await waitFor(
      'the learned network in GET /hostgroup',
      async () => (await customers()).includes('198.18.1.0/24'),
      20000,
    );
    await d.waitLog(/ignoring 203\.0\.113\.0\/24 from edge: outside networks_from_bgp\.within/);
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(await customers(), ['198.18.1.0/24'], 'no community or outside within: not learned');
    // An attack on a learned network: detected in the hostgroup and blackholed to the router.
    s = sflowStream(sflow, '127.0.0.1', 30, 100, () => udpTo('198.18.1.5'));
    const bh = await waitFor(
      'the blackhole at the router',
      async () => (await router.getRoutes('ipv4-unicast')).find((r) => r.prefix === '198.18.1.5/32'),
      20000,
    );
    assert.deepEqual(bh.communities, ['65535:666']);
    const attacks = (await d.api<ListAnswer<LiveAttackAnswer>>('GET', '/attacks')).json.values;
    assert.equal(attacks[0].hostgroup, 'customers');
    s.stop();
    // Withdrawn: no longer monitored.
    await gobgp('global', 'rib', 'del', '198.18.1.0/24', '-a', 'ipv4');
    await waitFor(
      'the network gone from GET /hostgroup',
      async () => !(await customers()).includes('198.18.1.0/24'),
      20000,
    );
    const host = await d.api<ObjectAnswer<unknown>>('GET', '/single_host_counters/198.18.1.7');
    assert.notEqual(host.json.success, true, JSON.stringify(host.json));
    // Learned again, then the session goes down: removed with it.
    await gobgp('global', 'rib', 'add', '198.18.1.0/24', 'community', '65001:100', '-a', 'ipv4');
    await waitFor('learned again', async () => (await customers()).includes('198.18.1.0/24'), 20000);
    await router.stop();
    await waitFor('removed when the session is down', async () => (await customers()).length === 0, 20000);
    await d.waitLog(/session with edge down, 1 learned network\(s\) removed/);
  } finally {
    s?.stop();
    await d.kill();
    await router.stop();
  }
});
