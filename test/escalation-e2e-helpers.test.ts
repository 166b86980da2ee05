/**
 * The e2e harness pieces the escalation end-to-end test relies on, without routers:
 * RibWatcher's event and state recording (against a scripted RIB), and the BIRD route
 * parser of test/helpers/routers.ts on `birdc show route all` text captured from BIRD 2
 * holding an escalation (the /32 blackhole and the /24 with its communities).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { BgpFamily } from '../src/config/types.js';
import { parseBirdRoutes, type RibRoute } from './helpers/routers.js';
import { RibWatcher, routeText } from './helpers/rib-watcher.js';

const fx = (name: string) =>
  readFileSync(new URL(`../../test/fixtures/escalation/${name}`, import.meta.url), 'utf8');

function route(
  prefix: string,
  nextHop: string,
  communities: string[] = [],
  largeCommunities: string[] = [],
): RibRoute {
  return {
    prefix,
    nextHop,
    communities,
    largeCommunities,
    extendedCommunities: [],
    asPath: [65010],
    raw: null,
  };
}

/** A router whose RIB is whatever the test last set; `fail` makes the next read throw. */
function scripted() {
  const rib: Record<string, RibRoute[]> = { 'ipv4-unicast': [], 'ipv6-unicast': [] };
  let fail = false;
  return {
    rib,
    failNext() {
      fail = true;
    },
    async getRoutes(family: BgpFamily): Promise<RibRoute[]> {
      if (fail) {
        fail = false;
        throw new Error('birdc: connection refused');
      }
      return rib[family] ?? [];
    },
  };
}

test('birdc show route all (BIRD 2 holding an escalation): prefixes, next hops, communities, large communities', () => {
  const v4 = parseBirdRoutes(fx('bird-routes-ipv4.txt'));
  assert.deepEqual(
    v4.map((r) => routeText(r)),
    [
      '203.0.113.5/32 next-hop 192.0.2.1 community 65535:666',
      '203.0.113.0/24 next-hop 192.0.2.66 community 65535:666 64500:9999 large-community 64500:666:24',
    ],
  );
  assert.deepEqual(v4[0]!.asPath, [65001]);
  assert.equal(v4[1]!.localPref, 100);
  assert.deepEqual(
    parseBirdRoutes(fx('bird-routes-ipv6.txt')).map((r) => routeText(r)),
    ['2001:db8:1::/48 next-hop 100::66 community 65535:666'],
  );
  assert.deepEqual(parseBirdRoutes('BIRD 2.0.12 ready.\nTable master4:\n'), []);
});

test('RibWatcher records add, change and withdraw in order, per family, and the states held after each change', async () => {
  const r = scripted();
  const w = new RibWatcher(r, ['ipv4-unicast', 'ipv6-unicast']);
  await w.poll(1000);
  assert.equal(w.events.length, 0);
  assert.equal(w.states.length, 0, 'an empty RIB that stays empty is no change');

  r.rib['ipv4-unicast'] = [route('203.0.113.10/32', '192.0.2.1', ['65535:666'])];
  await w.poll(1100);
  await w.poll(1200); // unchanged: nothing recorded
  r.rib['ipv4-unicast'] = [
    route('203.0.113.10/32', '192.0.2.1', ['65535:666']),
    route('203.0.113.0/24', '192.0.2.66', ['65001:777']),
  ];
  r.rib['ipv6-unicast'] = [route('2001:db8:1::/48', '100::66')];
  await w.poll(2300);
  r.rib['ipv4-unicast'] = [
    route('203.0.113.10/32', '192.0.2.1', ['65535:666']),
    route('203.0.113.0/24', '192.0.2.66', ['65001:777', '65535:666']),
  ];
  await w.poll(2400);
  r.rib['ipv4-unicast'] = [route('203.0.113.10/32', '192.0.2.1', ['65535:666'])];
  r.rib['ipv6-unicast'] = [];
  await w.poll(5000);

  assert.deepEqual(
    w.events.map((e) => `${e.at} ${e.family} ${e.op} ${e.route.prefix}`),
    [
      '1100 ipv4-unicast add 203.0.113.10/32',
      '2300 ipv4-unicast add 203.0.113.0/24',
      '2300 ipv6-unicast add 2001:db8:1::/48',
      '2400 ipv4-unicast change 203.0.113.0/24',
      '5000 ipv4-unicast withdraw 203.0.113.0/24',
      '5000 ipv6-unicast withdraw 2001:db8:1::/48',
    ],
  );
  assert.deepEqual(
    w.states.map((s) => `${s.at}: ${s.routes.map((x) => x.prefix).join(', ')}`),
    [
      '1100: 203.0.113.10/32',
      '2300: 2001:db8:1::/48, 203.0.113.0/24, 203.0.113.10/32',
      '2400: 2001:db8:1::/48, 203.0.113.0/24, 203.0.113.10/32',
      '5000: 203.0.113.10/32',
    ],
  );
  assert.equal(w.first('add', '203.0.113.0/24')?.at, 2300);
  assert.equal(w.first('withdraw', '203.0.113.10/32'), undefined);
  assert.equal(w.route('203.0.113.10/32')?.nextHop, '192.0.2.1');
  assert.equal(
    w.describe(),
    [
      '+0.0s add 203.0.113.10/32 next-hop 192.0.2.1 community 65535:666',
      '+1.2s add 203.0.113.0/24 next-hop 192.0.2.66 community 65001:777',
      '+1.2s add 2001:db8:1::/48 next-hop 100::66',
      '+1.3s change 203.0.113.0/24 next-hop 192.0.2.66 community 65001:777 65535:666',
      '+3.9s withdraw 203.0.113.0/24',
      '+3.9s withdraw 2001:db8:1::/48',
    ].join('\n'),
  );
});

test('RibWatcher: a failed read keeps the last view (a restarting router is not a withdrawal)', async () => {
  const r = scripted();
  const w = new RibWatcher(r, ['ipv4-unicast']);
  r.rib['ipv4-unicast'] = [route('203.0.113.0/24', '192.0.2.66')];
  await w.poll(1);
  r.failNext();
  await w.poll(2);
  assert.match(w.lastError ?? '', /connection refused/);
  assert.deepEqual(
    w.events.map((e) => e.op),
    ['add'],
  );
  r.rib['ipv4-unicast'] = [];
  await w.poll(3);
  assert.deepEqual(
    w.events.map((e) => e.op),
    ['add', 'withdraw'],
  );
});

test('RibWatcher.waitFor polls on its own timer and times out naming what it waited for', async () => {
  const r = scripted();
  const w = new RibWatcher(r, ['ipv4-unicast'], 10).start();
  try {
    setTimeout(() => (r.rib['ipv4-unicast'] = [route('203.0.113.0/24', '192.0.2.66')]), 50);
    const held = await w.waitFor((x) => x.some((y) => y.prefix === '203.0.113.0/24'), 2000, 'the /24');
    assert.equal(held.length, 1);
    await assert.rejects(
      w.waitFor((x) => x.length === 0, 150, 'the /24 withdrawn'),
      /timed out after 150 ms waiting for the \/24 withdrawn/,
    );
  } finally {
    await w.stop();
  }
  const n = w.events.length;
  r.rib['ipv4-unicast'] = [];
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(w.events.length, n, 'stopped: no more polls');
});
