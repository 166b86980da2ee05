/**
 * Global dry-run inside `breakwater run`: the attack is detected and notified, the log says
 * what would be announced, and the router receives nothing (neither the blackhole nor the
 * pinned static route).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { haveBinary, startGobgp, waitFor } from './helpers/routers.js';
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

const BW = '127.0.0.101';
const ROUTER = '127.0.0.102';
const PORT = 11971;

test('dry-run: detects and notifies, announces nothing', { timeout: 60_000 }, async (t) => {
  if (!(await haveBinary('gobgpd'))) return t.skip('gobgpd not installed');
  const dir = tempDir('dryrun');
  const rec = recordingScript(dir);
  const router = await startGobgp({
    address: ROUTER,
    port: PORT,
    asn: 65001,
    peers: [{ address: BW, asn: 65010, passive: true }],
  });
  let d: DaemonHandle | undefined;
  const nf = await freePort('udp');
  try {
    d = await startDaemon(
      dir,
      `networks: [203.0.113.0/24]
dry_run: true
capture: { listeners: [{ name: nf, type: netflow, address: 127.0.0.1, port: ${nf} }] }
api: { listen: "127.0.0.1:0" }
bgp:
  local_as: 65010
  router_id: 192.0.2.254
  peers: [{ name: gobgp, address: ${ROUTER}, port: ${PORT}, local_address: ${BW}, remote_as: 65001 }]
  static_routes: [{ prefix: 203.0.113.5/32, next_hop: 192.0.2.1 }]
state_dir: ${join(dir, 'state')}
policies: ./policies
`,
      {
        'default.yaml': `name: default
thresholds: { ban: { incoming: { total: { pps: 20000, flows: null } } } }
actions:
  blackhole: { enabled: true, communities: ["65535:666"], next_hop: { ipv4: 192.0.2.1 } }
  notify: { script: ${rec.script}, format: json, timeout: 5s }
`,
      },
    );
    await router.waitEstablished(BW, 20000);
    await d.waitLog(/would announce static ipv4-unicast 203\.0\.113\.5\/32/);
    await replay(join(FIXTURES, 'flows/syn_flood.nf9.pcap'), `127.0.0.1:${nf}`);
    const ban = await waitFor(
      'ban notification',
      async () => rec.calls().find((c) => c.stdin?.action === 'ban'),
      10000,
    );
    assert.equal(ban.stdin.ip, '203.0.113.10');
    await d.waitLog(/would announce/);
    const listed = (await d.api<ListAnswer<MitigationAnswer>>('GET', '/blackhole')).json.values;
    assert.equal(listed.length, 1);
    assert.equal(listed[0].dry_run, true);
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(await router.getRoutes('ipv4-unicast'), [], 'the router holds nothing');
  } finally {
    await d?.kill();
    await router.stop();
  }
});
