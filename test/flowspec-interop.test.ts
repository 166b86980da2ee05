/**
 * Interop: the ExaBGP fixture's FlowSpec rule set, built from our rule JSON and announced by
 * Breakwater's speaker, appears in GoBGP and BIRD with the same match components and actions
 * as ExaBGP's announcement produced there (peers/*\/announced-* of the fixture). Static rules
 * from config go the same way; withdrawing everything empties the routers' FlowSpec tables.
 * Loopback only: speaker 127.0.0.150, GoBGP 127.0.0.151, BIRD 127.0.0.152.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createSpeaker } from '../src/bgp/index.js';
import type { DesiredRoute } from '../src/bgp/types.js';
import type { BgpPeerConfig, Config } from '../src/config/types.js';
import {
  DEFAULT_API,
  DEFAULT_CAPTURE,
  DEFAULT_DETECTION,
  DEFAULT_ESCALATION,
  DEFAULT_LOGGING,
  DEFAULT_MITIGATION,
} from '../src/config/defaults.js';
import { parseRule, ruleToDesiredRoute, staticFlowspecToDesired } from '../src/flowspec/index.js';
import {
  haveBinary,
  parseBirdRoutes,
  startBird,
  startGobgp,
  waitFor,
  type Router,
} from './helpers/routers.js';

const fixture = (name: string) => new URL(`../../test/fixtures/flowspec/${name}`, import.meta.url);
const rulesDoc = JSON.parse(readFileSync(fixture('exabgp-rules.json'), 'utf8')) as {
  rules: Record<string, Record<string, unknown>>;
};

const SPEAKER = '127.0.0.150';
const GOBGP = '127.0.0.151';
const BIRD = '127.0.0.152';
const PORT = 11_795;
const LOCAL_AS = 65100;
const BIRD_AS = 65002;

function ruleRoutes(): DesiredRoute[] {
  return Object.entries(rulesDoc.rules).map(([label, j]) => {
    const { strict, ...json } = j;
    const r = parseRule(json, { strict: strict !== false });
    assert.ok(r.ok, `${label}: ${r.ok ? '' : r.error}`);
    return ruleToDesiredRoute(r.rule, `interop ${label}`);
  });
}

function peer(name: string, address: string, remoteAs: number): BgpPeerConfig {
  return {
    name,
    address,
    port: PORT,
    remote_as: remoteAs,
    local_as: LOCAL_AS,
    local_address: SPEAKER,
    hold_time: 30,
    families: ['ipv4-flowspec', 'ipv6-flowspec'],
    passive: false,
    next_hop_self: {},
    graceful_restart: 0,
    max_flowspec_rules: 1000,
    max_updates_per_second: 1000,
  };
}

function config(staticFlowspec: Record<string, unknown>[]): Config {
  return {
    file: '<interop test>',
    networks: [],
    whitelist: [],
    capture: DEFAULT_CAPTURE,
    detection: DEFAULT_DETECTION,
    api: { ...DEFAULT_API, enabled: false },
    bgp: {
      local_as: LOCAL_AS,
      router_id: SPEAKER,
      peers: [peer('gobgp', GOBGP, LOCAL_AS), peer('bird', BIRD, BIRD_AS)],
      static_routes: [],
      static_flowspec: staticFlowspec,
    },
    mitigation: DEFAULT_MITIGATION,
    escalation: DEFAULT_ESCALATION,
    logging: DEFAULT_LOGGING,
    state_dir: '/nonexistent',
    policies_dir: null,
    hostgroups: [],
  };
}

/** GoBGP: rule text -> the action attributes it shows (extended communities, attribute 25, next hop). */
function gobgpView(
  entries: Record<string, { attrs: Record<string, unknown>[] }[]>,
  skip: (key: string) => boolean,
): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, paths] of Object.entries(entries)) {
    if (skip(key)) continue;
    const attrs = paths[0]!.attrs;
    const ext = attrs.find((a) => a.type === 16)?.value ?? [];
    const ext6 = attrs.find((a) => a.type === 25)?.value ?? [];
    const nh = attrs.find((a) => a.type === 14)?.nexthop;
    out.set(key, JSON.stringify({ ext, ext6, nh }));
  }
  return out;
}

function birdView(text: string, skip: (key: string) => boolean): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of parseBirdRoutes(text)) {
    if (skip(r.prefix)) continue;
    out.set(r.prefix, JSON.stringify({ ext: r.extendedCommunities, nh: r.nextHop ?? null }));
  }
  return out;
}

async function gobgpRib(
  r: Router,
  fam: 'ipv4-flowspec' | 'ipv6-flowspec',
): Promise<Record<string, { attrs: Record<string, unknown>[] }[]>> {
  const rows = await r.getRoutes(fam);
  return Object.fromEntries(rows.map((x) => [x.prefix, [x.raw as { attrs: Record<string, unknown>[] }]]));
}

test("FlowSpec rule set reaches GoBGP and BIRD as ExaBGP's did; static rules too; withdrawals remove them", {
  timeout: 90_000,
}, async (t) => {
  const haveGobgp = await haveBinary('gobgpd');
  const haveBird = await haveBinary('bird');
  if (!haveGobgp || !haveBird) {
    t.diagnostic('gobgpd or bird is not installed: interop not run (CI installs them and fails without)');
    return;
  }
  const gobgp = await startGobgp({
    address: GOBGP,
    port: PORT,
    asn: LOCAL_AS,
    peers: [{ address: SPEAKER, asn: LOCAL_AS, passive: true }],
  });
  const bird = await startBird({
    address: BIRD,
    port: PORT,
    asn: BIRD_AS,
    peers: [{ address: SPEAKER, asn: LOCAL_AS, passive: true }],
  });
  const staticRules = [
    {
      destination_prefix: '203.0.113.5/32',
      protocols: ['udp'],
      source_ports: [53],
      packet_lengths: ['>=500'],
      action_type: 'discard',
    },
  ];
  const st = staticFlowspecToDesired(config(staticRules));
  assert.deepEqual(st.errors, []);
  const speaker = createSpeaker(config(staticRules));
  try {
    await speaker.start();
    const rules = ruleRoutes();
    speaker.sync([...rules, ...st.routes]);
    await gobgp.waitEstablished(SPEAKER, 30_000);
    await bird.waitEstablished(SPEAKER, 30_000);

    const v4 = rules.filter((r) => r.family === 'ipv4-flowspec').length + 1;
    const v6 = rules.filter((r) => r.family === 'ipv6-flowspec').length;
    for (const r of [gobgp, bird]) {
      await waitFor(
        `${r.kind} ipv4-flowspec = ${v4}`,
        async () => (await r.countRoutes('ipv4-flowspec')) === v4,
        30_000,
      );
      await waitFor(
        `${r.kind} ipv6-flowspec = ${v6}`,
        async () => (await r.countRoutes('ipv6-flowspec')) === v6,
        30_000,
      );
    }

    // GoBGP: the fixture holds ExaBGP's rules plus GoBGP's own; ours must equal ExaBGP's part
    // (minus SF1/our static rule, which differ in destination only).
    const own = (k: string) =>
      k.includes('203.0.113.10/32') || k.includes('2001:db8:feed::10/128') || k.includes('203.0.113.5/32');
    for (const fam of ['ipv4-flowspec', 'ipv6-flowspec'] as const) {
      const want = gobgpView(
        JSON.parse(readFileSync(fixture(`peers/announced-rib-${fam}.json`), 'utf8')),
        own,
      );
      const got = gobgpView(await gobgpRib(gobgp, fam), own);
      assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), `GoBGP ${fam} match components`);
      for (const [k, w] of want) assert.equal(got.get(k), w, `GoBGP ${fam} actions of ${k}`);
    }
    // BIRD: same comparison on its flowtab text.
    const birdOwn = (k: string) =>
      k.includes('203.0.113.200/32') || k.includes('2001:db8:feed:2::/64') || k.includes('203.0.113.5/32');
    for (const [fam, file] of [
      ['ipv4-flowspec', 'announced-flowtab4.txt'],
      ['ipv6-flowspec', 'announced-flowtab6.txt'],
    ] as const) {
      const want = birdView(readFileSync(fixture(`peers/${file}`), 'utf8'), birdOwn);
      const gotRoutes = await bird.getRoutes(fam);
      const got = birdView(gotRoutes.map((r) => r.raw as string).join('\n'), birdOwn);
      assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), `BIRD ${fam} match components`);
      for (const [k, w] of want) assert.equal(got.get(k), w, `BIRD ${fam} actions of ${k}`);
    }
    // The static rule from config, as each router renders it.
    const g4 = await gobgp.getRoutes('ipv4-flowspec');
    assert.ok(
      g4.some(
        (r) =>
          r.prefix ===
          '[destination: 203.0.113.5/32][protocol: ==udp][source-port: ==53][packet-length: >=500]',
      ),
    );
    const b4 = await bird.getRoutes('ipv4-flowspec');
    assert.ok(
      b4.some((r) => r.prefix === 'flow4 { dst 203.0.113.5/32; proto 17; sport 53; length >= 500; }'),
      b4.map((r) => r.prefix).join('\n'),
    );

    // Withdraw everything.
    speaker.sync([]);
    for (const r of [gobgp, bird]) {
      for (const fam of ['ipv4-flowspec', 'ipv6-flowspec'] as const) {
        await waitFor(`${r.kind} ${fam} empty`, async () => (await r.countRoutes(fam)) === 0, 30_000);
      }
    }
  } finally {
    await speaker.stop();
    await gobgp.stop();
    await bird.stop();
  }
});
