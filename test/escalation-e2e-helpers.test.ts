import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { parseBirdRoutes, parseGobgpRib, RibWatcher, requireBinaries, startBird, startGobgp, waitUntil, birdConfig, gobgpConfig, type RibRoute } from '../src/escalation/e2e.js';

const fx = (name: string) => readFileSync(new URL(`../../test/fixtures/escalation/${name}`, import.meta.url), 'utf8');

test('gobgp JSON RIB: prefixes, next hops (NEXT_HOP and MP_REACH), communities, large communities, neighbor', () => {
  assert.deepEqual(parseGobgpRib(fx('gobgp-rib-ipv4.json')), [
    { prefix: '203.0.113.0/24', next_hop: '192.0.2.66', communities: ['65535:666', '64500:9999'], large_communities: ['64500:666:24'], from: null },
    { prefix: '203.0.113.5/32', next_hop: '192.0.2.1', communities: ['65535:666'], large_communities: [], from: null },
  ]);
  assert.deepEqual(parseGobgpRib(fx('gobgp-rib-ipv6.json')), [
    { prefix: '2001:db8:1::/48', next_hop: '100::66', communities: ['65535:666'], large_communities: [], from: null },
  ]);
  assert.deepEqual(parseGobgpRib(fx('gobgp-rib-ipv4-received.json')), [
    { prefix: '198.51.100.0/24', next_hop: '192.0.2.66', communities: ['65535:666'], large_communities: ['64500:666:24'], from: '127.0.0.22' },
  ]);
  assert.deepEqual(parseGobgpRib('{}\n'), []);
});

test('birdc show route all: attributes per route, empty tables', () => {
  assert.deepEqual(parseBirdRoutes(fx('bird-routes-ipv4.txt')), [
    { prefix: '203.0.113.0/24', next_hop: '192.0.2.66', communities: ['65535:666', '64500:9999'], large_communities: ['64500:666:24'], from: '127.0.0.21' },
    { prefix: '203.0.113.5/32', next_hop: '192.0.2.1', communities: ['65535:666'], large_communities: [], from: '127.0.0.21' },
  ]);
  assert.deepEqual(parseBirdRoutes(fx('bird-routes-ipv6.txt')), [
    { prefix: '2001:db8:1::/48', next_hop: '100::66', communities: ['65535:666'], large_communities: [], from: '127.0.0.21' },
  ]);
  assert.deepEqual(parseBirdRoutes('BIRD 2.0.12 ready.\nTable master4:\n'), []);
});

test('generated router configs name the loopback addresses, ports and passive mode', () => {
  const o = { dir: '/x', address: '127.0.0.81', port: 11791, asn: 65001, neighbors: [{ address: '127.0.0.1', port: 1790, asn: 65000, passive: true }] };
  const g = gobgpConfig(o);
  assert.match(g, /local-address-list = \["127\.0\.0\.81"\]/);
  assert.match(g, /neighbor-address = "127\.0\.0\.1"[\s\S]*remote-port = 1790[\s\S]*passive-mode = true/);
  assert.match(g, /afi-safi-name = "ipv6-unicast"/);
  const b = birdConfig(o);
  assert.match(b, /local 127\.0\.0\.81 port 11791 as 65001;/);
  assert.match(b, /neighbor 127\.0\.0\.1 port 1790 as 65000;/);
  assert.match(b, /strict bind yes;/);
  assert.match(b, /passive on;/);
});

test('live: GoBGP announces to BIRD; the watcher sees the /32, then the /24 with its attributes, then the /24 withdrawn', async (t) => {
  const missing = requireBinaries(['gobgpd', 'gobgp', 'bird', 'birdc']);
  if (missing.length) {
    t.skip(`missing ${missing.join(', ')}`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'bw-esc-e2e-'));
  const A = '127.0.0.81';
  const B = '127.0.0.82';
  const port = 11791;
  const bird = await startBird({ dir: join(dir, 'bird'), address: B, port, asn: 65002, neighbors: [{ address: A, port, asn: 65001 }] });
  const gobgp = await startGobgp({ dir: join(dir, 'gobgp'), address: A, port, asn: 65001, apiPort: 50181, neighbors: [{ address: B, port, asn: 65002, passive: true }] }).catch(async (e: Error) => {
    await bird.stop();
    throw e;
  });
  const watch = new RibWatcher(bird, [4, 6], 50);
  try {
    await waitUntil(async () => ((await bird.established()) && (await gobgp.established()) ? true : undefined), 15_000, 'the session to be Established');
    watch.start();
    const cli = (...a: string[]) => execFileSync('gobgp', ['-u', A, '-p', '50181', ...a]);
    cli('global', 'rib', 'add', '203.0.113.5/32', 'nexthop', '192.0.2.1', 'community', '65535:666');
    await watch.waitFor((r) => r.some((x) => x.prefix === '203.0.113.5/32'), 5_000, 'the /32 at BIRD');
    cli('global', 'rib', 'add', '203.0.113.0/24', 'nexthop', '192.0.2.66', 'community', '65535:666,64500:9999', 'large-community', '64500:666:24');
    cli('global', 'rib', '-a', 'ipv6', 'add', '2001:db8:1::/48', 'nexthop', '100::66', 'community', '65535:666');
    const held = await watch.waitFor((r) => r.length === 3, 5_000, 'three routes at BIRD');
    const slash24 = held.find((x) => x.prefix === '203.0.113.0/24') as RibRoute;
    assert.equal(slash24.next_hop, '192.0.2.66');
    assert.deepEqual(slash24.communities, ['65535:666', '64500:9999']);
    assert.deepEqual(slash24.large_communities, ['64500:666:24']);
    assert.equal(held.find((x) => x.prefix === '2001:db8:1::/48')?.next_hop, '100::66');
    cli('global', 'rib', 'del', '203.0.113.0/24');
    await watch.waitFor((r) => !r.some((x) => x.prefix === '203.0.113.0/24'), 5_000, 'the /24 withdrawn at BIRD');
    await watch.stop();
    const order = watch.events.map((e) => `${e.op} ${e.route.prefix}`);
    assert.equal(order[0], 'add 203.0.113.5/32', watch.describe());
    assert.ok(order.indexOf('add 203.0.113.0/24') > 0, watch.describe());
    assert.equal(order[order.length - 1], 'withdraw 203.0.113.0/24', watch.describe());
    assert.ok(watch.routes().some((x) => x.prefix === '203.0.113.5/32'), 'the /32 stays');
    // GoBGP's own view parses the same way.
    assert.deepEqual((await gobgp.rib(4)).map((r) => r.prefix), ['203.0.113.5/32']);
  } finally {
    await watch.stop();
    await gobgp.stop();
    await bird.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
