/**
 * Test-only: the interop scenarios run against each real router (bgp-interop-*.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  startBird,
  startGobgp,
  haveBinary,
  waitFor,
  freeAddress,
  type Router,
  type RouterOptions,
} from './routers.js';
import { createSpeaker, type EmbeddedSpeaker } from '../../src/bgp/index.js';
import { bgpTestConfig, peerConfig, route } from './bgp-config.js';
import type { Config } from '../../src/config/types.js';

export interface InteropAddrs {
  /** Candidate router addresses (port 11179); the first free one is used. */
  readonly router: readonly string[];
  /** Candidates for Breakwater's address in the active test. */
  readonly usActive: readonly string[];
  /** Candidates for Breakwater's address in the passive test (listener on 11180). */
  readonly usPassive: readonly string[];
  /** An address that is not a peer (connection must be refused). */
  readonly stranger: string;
}

const ROUTER_AS = 65000;
const OUR_AS = 65100;
const RPORT = 11179;
const LPORT = 11180;

const ROUTES = [
  route('203.0.113.5/32', '192.0.2.1', ['65535:666', '64512:100'], ['65100:666:1']),
  route('198.51.100.7/32', '192.0.2.1', ['65535:666'], []),
  route('2001:db8::5/128', '100::1', ['65535:666'], ['65100:666:2']),
];

function quiet(): { logger?: never } {
  return {};
}

async function routerFor(kind: 'bird' | 'gobgp', o: RouterOptions): Promise<Router> {
  return kind === 'bird' ? startBird(o) : startGobgp(o);
}

function ourState(sp: EmbeddedSpeaker): string {
  return sp.status()[0]?.state ?? 'none';
}

export function interopTests(kind: 'bird' | 'gobgp', pools: InteropAddrs): void {
  const binary = kind === 'bird' ? 'bird' : 'gobgpd';

  test(`${kind}: active mode — routes with next hop and communities, withdrawal on removal and on clean stop`, async (t) => {
    if (!(await haveBinary(binary))) return t.skip(`${binary} not installed`);
    const a = {
      router: await freeAddress(pools.router, [RPORT]),
      usActive: await freeAddress(pools.usActive, [RPORT, LPORT]),
    };
    const r = await routerFor(kind, {
      address: a.router,
      port: RPORT,
      asn: ROUTER_AS,
      peers: [{ address: a.usActive, asn: OUR_AS, passive: true }],
    });
    const cfg = bgpTestConfig({
      peers: [
        peerConfig({
          name: kind,
          address: a.router,
          port: RPORT,
          remote_as: ROUTER_AS,
          local_address: a.usActive,
        }),
      ],
    });
    const sp = createSpeaker(cfg, { backoffBaseMs: 200, ...quiet() });
    try {
      sp.sync(ROUTES);
      await sp.start();
      await r.waitEstablished(a.usActive);
      await waitFor(
        '3 routes',
        async () =>
          (await r.countRoutes('ipv4-unicast')) === 2 && (await r.countRoutes('ipv6-unicast')) === 1,
      );
      const v4 = await r.getRoutes('ipv4-unicast');
      const v6 = await r.getRoutes('ipv6-unicast');
      const bh = v4.find((x) => x.prefix === '203.0.113.5/32');
      assert.ok(bh, JSON.stringify(v4));
      assert.equal(bh.nextHop, '192.0.2.1');
      assert.deepEqual(bh.communities, ['65535:666', '64512:100']);
      assert.deepEqual(bh.largeCommunities, ['65100:666:1']);
      assert.deepEqual(bh.asPath, [OUR_AS]);
      const other = v4.find((x) => x.prefix === '198.51.100.7/32');
      assert.deepEqual(other?.communities, ['65535:666']);
      assert.deepEqual(other?.largeCommunities, []);
      assert.equal(v6.length, 1);
      assert.equal(v6[0]!.prefix, '2001:db8::5/128');
      assert.equal(v6[0]!.nextHop, '100::1');
      assert.deepEqual(v6[0]!.communities, ['65535:666']);
      assert.deepEqual(v6[0]!.largeCommunities, ['65100:666:2']);
      const st = sp.status()[0]!;
      assert.equal(st.state, 'Established');
      assert.equal(st.prefixes_out, 3);
      assert.deepEqual([...st.families].sort(), [
        'ipv4-flowspec',
        'ipv4-unicast',
        'ipv6-flowspec',
        'ipv6-unicast',
      ]);

      // Removal: only the difference is sent.
      const before = st.updates_out;
      sp.sync([ROUTES[0]!, ROUTES[2]!]);
      await waitFor('198.51.100.7/32 withdrawn', async () => (await r.countRoutes('ipv4-unicast')) === 1);
      assert.equal((await r.getRoutes('ipv4-unicast'))[0]!.prefix, '203.0.113.5/32');
      assert.equal(sp.status()[0]!.updates_out, before + 1);
      assert.equal(await r.withdrawnPrefixes(a.usActive), 1);

      // ROUTE-REFRESH from the router: the Adj-RIB-Out is sent again, nothing changes.
      if (r.routeRefresh) {
        const beforeRefresh = sp.status()[0]!;
        await r.routeRefresh(a.usActive);
        await waitFor(
          'answer to ROUTE-REFRESH',
          async () => sp.status()[0]!.updates_out > beforeRefresh.updates_out,
        );
        assert.ok(sp.status()[0]!.messages_in > beforeRefresh.messages_in); // one ROUTE-REFRESH per family
        assert.equal(sp.status()[0]!.state, 'Established');
        assert.equal(await r.countRoutes('ipv4-unicast'), 1);
        assert.equal(await r.withdrawnPrefixes(a.usActive), 1);
      }

      // Clean stop: withdraw everything before the Cease.
      await sp.stop();
      await waitFor(
        'withdrawals of the 2 remaining routes',
        async () => (await r.withdrawnPrefixes(a.usActive)) === 3,
        5000,
      );
      if (kind === 'bird') {
        const log = r.log();
        assert.ok(
          log.lastIndexOf(' > removed ') < log.indexOf('Administrative shutdown'),
          'withdrawals precede the NOTIFICATION',
        );
        assert.match(log, /Breakwater shutting down/);
      }
      assert.equal(await r.countRoutes('ipv4-unicast'), 0);
      assert.equal(await r.countRoutes('ipv6-unicast'), 0);
    } finally {
      await sp.stop();
      await r.stop();
    }
  });

  test(`${kind}: passive mode — router connects, restart brings the table back, hold timer expiry noticed`, async (t) => {
    if (!(await haveBinary(binary))) return t.skip(`${binary} not installed`);
    const a = {
      router: await freeAddress(pools.router, [RPORT]),
      usPassive: await freeAddress(pools.usPassive, [LPORT]),
      stranger: pools.stranger,
    };
    const r = await routerFor(kind, {
      address: a.router,
      port: RPORT,
      asn: ROUTER_AS,
      peers: [{ address: a.usPassive, asn: OUR_AS, port: LPORT, passive: false }],
    });
    const cfg: Config = bgpTestConfig({
      listen: { address: a.usPassive, port: LPORT },
      peers: [
        peerConfig({
          name: kind,
          address: a.router,
          port: RPORT,
          remote_as: ROUTER_AS,
          local_address: a.usPassive,
          passive: true,
          hold_time: 3,
        }),
      ],
    });
    const sp = createSpeaker(cfg, { backoffBaseMs: 200, backoffMaxMs: 1000 });
    const events: string[] = [];
    sp.on('established', (p) => events.push(`up ${p}`));
    sp.on('down', (p, why) => events.push(`down ${p} ${why}`));
    try {
      sp.sync(ROUTES);
      await sp.start();
      assert.deepEqual(sp.listening(), [{ address: a.usPassive, port: LPORT }]);

      // A connection from an address that is not a peer is closed at once.
      const stranger = net.connect({ host: a.usPassive, port: LPORT, localAddress: a.stranger });
      stranger.on('error', () => undefined);
      await new Promise<void>((res) => stranger.once('close', () => res()));

      await waitFor('session (router connects)', async () => ourState(sp) === 'Established', 30000, 100);
      await waitFor(
        'full table',
        async () =>
          (await r.countRoutes('ipv4-unicast')) === 2 && (await r.countRoutes('ipv6-unicast')) === 1,
      );
      assert.equal(sp.status()[0]!.state, 'Established');

      // Router restart: the session comes back and the whole table is sent again.
      await r.restart();
      await waitFor(
        'session after router restart',
        async () => ourState(sp) === 'Established' && (await r.peerState(a.usPassive)) === 'Established',
        30000,
        100,
      );
      await waitFor(
        'full table after restart',
        async () =>
          (await r.countRoutes('ipv4-unicast')) === 2 && (await r.countRoutes('ipv6-unicast')) === 1,
      );
      assert.ok(events.filter((e) => e.startsWith('up')).length >= 2, events.join('; '));

      // Hold timer: a frozen router sends no KEEPALIVEs; we notice within the 3 s hold time.
      const frozenAt = Date.now();
      r.pause();
      await waitFor('hold timer expiry', async () => ourState(sp) !== 'Established', 8000, 50);
      const took = Date.now() - frozenAt;
      r.resume();
      assert.match(sp.status()[0]!.last_error ?? '', /hold timer expired/);
      assert.ok(took >= 1500 && took < 6000, `noticed after ${took} ms`);
      assert.ok(
        events.some((e) => /hold timer expired/.test(e)),
        events.join('; '),
      );
      await waitFor(
        'session after the router wakes up',
        async () => ourState(sp) === 'Established',
        30000,
        100,
      );
      await waitFor(
        'full table again',
        async () =>
          (await r.countRoutes('ipv4-unicast')) === 2 && (await r.countRoutes('ipv6-unicast')) === 1,
      );
    } finally {
      r.resume();
      await sp.stop();
      await r.stop();
    }
  });

  test(`${kind}: graceful restart configured — a stop leaves the routes with the router`, async (t) => {
    if (!(await haveBinary(binary))) return t.skip(`${binary} not installed`);
    const a = {
      router: await freeAddress(pools.router, [RPORT]),
      usActive: await freeAddress(pools.usActive, [RPORT, LPORT]),
    };
    const r = await routerFor(kind, {
      address: a.router,
      port: RPORT,
      asn: ROUTER_AS,
      peers: [{ address: a.usActive, asn: OUR_AS, passive: true, gracefulRestart: true }],
    });
    const cfg = bgpTestConfig({
      peers: [
        peerConfig({
          name: kind,
          address: a.router,
          port: RPORT,
          remote_as: ROUTER_AS,
          local_address: a.usActive,
          graceful_restart: 120,
        }),
      ],
    });
    const sp = createSpeaker(cfg, { backoffBaseMs: 200 });
    try {
      sp.sync(ROUTES);
      await sp.start();
      await waitFor(
        '3 routes',
        async () =>
          (await r.countRoutes('ipv4-unicast')) === 2 && (await r.countRoutes('ipv6-unicast')) === 1,
      );
      await sp.stop();
      await waitFor(
        'router notices the session is gone',
        async () => (await r.peerState(a.usActive)) !== 'Established',
        5000,
      );
      await new Promise((res) => setTimeout(res, 500));
      assert.equal(await r.countRoutes('ipv4-unicast'), 2, 'routes kept (stale) for the restart time');
      assert.equal(await r.withdrawnPrefixes(a.usActive), 0);
      // The restarted speaker takes the session back and re-announces the same table.
      const sp2 = createSpeaker(cfg, { backoffBaseMs: 200 });
      sp2.sync(ROUTES.slice(0, 1));
      await sp2.start();
      await waitFor(
        'table replaced after restart',
        async () =>
          (await r.countRoutes('ipv4-unicast')) === 1 && (await r.countRoutes('ipv6-unicast')) === 0,
        15000,
      );
      await sp2.stop();
    } finally {
      await sp.stop();
      await r.stop();
    }
  });
}
