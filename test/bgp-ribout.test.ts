import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AdjRibOut,
  packAnnouncements,
  packWithdrawals,
  endOfRibMessage,
  routeProblem,
  selectForPeer,
  type PackContext,
} from '../src/bgp/ribout.js';
import { decodeMessage, encodeMessage } from '../src/bgp/codec.js';
import { endOfRib } from '../src/bgp/update.js';
import { communityText } from '../src/bgp/attrs.js';
import { prefixToString } from '../src/wire/addr.js';
import { staticRoutesToDesired } from '../src/bgp/static.js';
import type { DesiredRoute } from '../src/bgp/types.js';
import { desiredRoute } from '../src/bgp/route.js';
import { blackholes, route, bgpTestConfig } from './helpers/bgp-config.js';

const ebgp: PackContext = { as4: true, maxMessage: 4096, ebgp: true, localAs: 65100, nextHopSelf: {} };
const ibgp: PackContext = { ...ebgp, ebgp: false };
const ctx = { as4: true, maxLength: 4096 };

function updates(msgs: Uint8Array[], c = ctx) {
  return msgs.map((m) => {
    assert.ok(m.length <= c.maxLength);
    const d = decodeMessage(m, c);
    assert.ok(d.type === 'update');
    assert.equal(d.issues, undefined, JSON.stringify(d.issues));
    return d;
  });
}

function flow(key: string, bytes: number[]): DesiredRoute {
  return desiredRoute({
    key,
    family: 'ipv4-flowspec',
    flowspecNlri: new Uint8Array(bytes),
    communities: [],
    largeCommunities: [],
    extendedCommunities: [new Uint8Array([0x80, 6, 0, 0, 0, 0, 0, 0])],
    owner: 'fs',
  });
}

test('100,000 /32 with the same attributes pack into full 4096-byte UPDATEs', () => {
  const routes = blackholes(100_000, '10.0.0.0', '192.0.2.1', ['65535:666'], ['64512:666:1']);
  const msgs = packAnnouncements(routes, ebgp).messages;
  const ds = updates(msgs);
  const nlri = ds.reduce((n, d) => n + d.nlri.length, 0);
  assert.equal(nlri, 100_000);
  // 4096 - 23 - attributes (4+7+7+7+15 = 40) = 4033 bytes = 806 five-byte NLRI per UPDATE
  assert.equal(ds[0]!.nlri.length, 806);
  assert.equal(msgs.length, Math.ceil(100_000 / 806));
  assert.equal(prefixToString(ds[0]!.nlri[0]!), '10.0.0.0/32');
  const kinds = ds[0]!.attributes.map((a) => a.kind);
  assert.deepEqual(kinds, ['origin', 'as_path', 'next_hop', 'communities', 'large_communities']);
  const wd = updates(packWithdrawals(routes, ebgp));
  assert.equal(
    wd.reduce((n, d) => n + d.withdrawn.length, 0),
    100_000,
  );
  assert.equal(wd.length, Math.ceil(100_000 / Math.floor((4096 - 23) / 5)));
});

test('eBGP prepends our AS and sends no LOCAL_PREF; iBGP sends LOCAL_PREF 100 and an empty AS_PATH', () => {
  const r = [route('203.0.113.5/32', '192.0.2.1', ['65535:666'])];
  const e = updates(packAnnouncements(r, ebgp).messages)[0]!;
  const ap = e.attributes.find((a) => a.kind === 'as_path');
  assert.deepEqual(ap?.kind === 'as_path' ? ap.segments : null, [{ type: 2, asns: [65100] }]);
  assert.ok(!e.attributes.some((a) => a.kind === 'local_pref'));
  const i = updates(packAnnouncements(r, ibgp).messages)[0]!;
  const ap2 = i.attributes.find((a) => a.kind === 'as_path');
  assert.deepEqual(ap2?.kind === 'as_path' ? ap2.segments : null, []);
  const lp = i.attributes.find((a) => a.kind === 'local_pref');
  assert.equal(lp?.kind === 'local_pref' ? lp.value : 0, 100);
});

test('groups by attributes; IPv6 and FlowSpec via MP_REACH; next-hop-self per family', () => {
  const rs = [
    route('203.0.113.5/32', '192.0.2.1', ['65535:666']),
    route('203.0.113.6/32', '192.0.2.1', ['65535:666']),
    route('203.0.113.7/32', '192.0.2.1', ['65535:666', '65535:65281']),
    route('2001:db8::5/128', '100::1', ['65535:666'], ['65100:666:2']),
    flow('a', [1, 32, 198, 51, 100, 1]),
  ];
  const ds = updates(packAnnouncements(rs, ebgp).messages);
  assert.equal(ds.length, 4);
  assert.deepEqual(
    ds.map((d) => d.nlri.length),
    [2, 1, 0, 0],
  );
  const comm = ds[1]!.attributes.find((a) => a.kind === 'communities');
  assert.deepEqual(comm?.kind === 'communities' ? comm.communities.map(communityText) : [], [
    '65535:666',
    '65535:65281',
  ]);
  const v6 = ds[2]!.attributes.find((a) => a.kind === 'mp_reach');
  assert.ok(v6?.kind === 'mp_reach');
  assert.equal(prefixToString(v6.nlri[0]!), '2001:db8::5/128');
  assert.equal(Buffer.from(v6.nextHop).toString('hex'), '01000000000000000000000000000001');
  const fs = ds[3]!.attributes.find((a) => a.kind === 'mp_reach');
  assert.ok(fs?.kind === 'mp_reach');
  assert.deepEqual([fs.afi, fs.safi, fs.nextHop.length], [1, 133, 0]);
  assert.deepEqual([...fs.flowspec[0]!], [1, 32, 198, 51, 100, 1]);
  assert.ok(ds[3]!.attributes.some((a) => a.kind === 'ext_communities'));
  const self = updates(
    packAnnouncements(rs, { ...ebgp, nextHopSelf: { ipv4: '198.51.100.254', ipv6: '2001:db8::fe' } })
      .messages,
  );
  const nh = self[0]!.attributes.find((a) => a.kind === 'next_hop');
  assert.equal(nh?.kind === 'next_hop' ? nh.nextHop : '', '198.51.100.254');
  const nh6 = self[2]!.attributes.find((a) => a.kind === 'mp_reach');
  assert.equal(
    nh6?.kind === 'mp_reach' ? Buffer.from(nh6.nextHop).toString('hex') : '',
    '20010db80000000000000000000000fe',
  );
});

test('Adj-RIB-Out diff: only differences; changed attributes re-announce; withdrawals of removed routes', () => {
  const rib = new AdjRibOut();
  const a = route('203.0.113.5/32', '192.0.2.1', ['65535:666']);
  const b = route('203.0.113.6/32', '192.0.2.1', ['65535:666']);
  const fams = new Set(['ipv4-unicast', 'ipv6-unicast'] as const);
  let d = rib.diff(selectForPeer([a, b], fams, 0).routes);
  assert.deepEqual([d.announce.length, d.withdraw.length], [2, 0]);
  rib.apply(d);
  d = rib.diff(selectForPeer([a, b], fams, 0).routes);
  assert.deepEqual([d.announce.length, d.withdraw.length], [0, 0]);
  // A copy with other attributes is built again (its communities parsed), not spread.
  const b2 = desiredRoute({ ...b, largeCommunities: ['65100:1:1'] });
  d = rib.diff(selectForPeer([a, b2], fams, 0).routes);
  assert.deepEqual([d.announce.map((r) => r.key), d.withdraw.length], [['203.0.113.6/32'], 0]);
  rib.apply(d);
  d = rib.diff(selectForPeer([b2], fams, 0).routes);
  assert.deepEqual([d.announce.length, d.withdraw.map((r) => r.key)], [0, ['203.0.113.5/32']]);
  rib.apply(d);
  assert.equal(rib.size, 1);
});

test('selection: peer families only, FlowSpec cap, invalid routes rejected', () => {
  const rs = [
    route('203.0.113.5/32', '192.0.2.1'),
    route('2001:db8::1/128', '100::1'),
    flow('a', [1, 32, 1, 2, 3, 4]),
    flow('b', [1, 32, 1, 2, 3, 5]),
    flow('c', [1, 32, 1, 2, 3, 6]),
  ];
  const s = selectForPeer(rs, new Set(['ipv4-unicast', 'ipv4-flowspec'] as const), 2);
  assert.deepEqual(
    [...s.routes.keys()],
    ['ipv4-unicast 203.0.113.5/32', 'ipv4-flowspec a', 'ipv4-flowspec b'],
  );
  assert.equal(s.capped, 1);
  const bad = selectForPeer(
    [route('203.0.113.5/32', '192.0.2.1', ['70000:1'])],
    new Set(['ipv4-unicast'] as const),
    0,
  );
  assert.equal(bad.routes.size, 0);
  assert.match(bad.rejected[0]!.problem, /bad community/);
});

test('End-of-RIB per family decodes as End-of-RIB', () => {
  for (const [f, afi, safi] of [
    ['ipv4-unicast', 1, 1],
    ['ipv6-unicast', 2, 1],
    ['ipv4-flowspec', 1, 133],
    ['ipv6-flowspec', 2, 133],
  ] as const) {
    const d = updates([endOfRibMessage(f)])[0]!;
    assert.deepEqual(endOfRib(d), { afi, safi });
  }
});

test('static routes from config become desired routes', () => {
  const cfg = bgpTestConfig({
    peers: [],
    static_routes: [
      {
        prefix: { family: 4, bytes: new Uint8Array([203, 0, 113, 5]), len: 32 },
        prefix_text: '203.0.113.5/32',
        next_hop: '192.0.2.1',
        communities: ['65535:666'],
        large_communities: ['65001:666:1'],
        extended_communities: ['rt:65000:100'],
      },
    ],
  });
  const [r] = staticRoutesToDesired(cfg);
  assert.equal(r!.family, 'ipv4-unicast');
  assert.equal(r!.key, '203.0.113.5/32');
  assert.equal(r!.owner, 'static');
  assert.equal(Buffer.from(r!.extendedCommunities[0]!).toString('hex'), '0002fde800000064');
  assert.deepEqual(r!.largeCommunities, ['65001:666:1']);
});

test("ribout's UPDATEs are the codec's: each decodes cleanly and encodeMessage gives back the same bytes", () => {
  const many = Array.from({ length: 70 }, (_, i) => `65000:${i}`); // 280 bytes: COMMUNITIES takes the extended length (RFC 4271 §4.3)
  const rs = [
    route('203.0.113.5/32', '192.0.2.1', ['65535:666'], ['64512:666:1']),
    route('203.0.113.6/32', '192.0.2.1', many),
    route('2001:db8::5/128', '192.0.2.1', ['65535:666']), // IPv4-mapped next hop in MP_REACH
    desiredRoute({
      key: 'x',
      family: 'ipv6-unicast',
      prefix: route('2001:db8::6/128', '100::1').prefix!,
      nextHop: '100::1',
      communities: [],
      largeCommunities: ['1:2:3'],
      extendedCommunities: [new Uint8Array([0, 2, 0xfd, 0xe8, 0, 0, 0, 100])],
      ipv6ExtendedCommunities: [new Uint8Array(20).fill(7)],
      owner: 't',
    }),
    flow('a', [1, 32, 198, 51, 100, 1]),
    flow(
      'b',
      Array.from({ length: 300 }, (_, i) => i & 0xff),
    ), // 2-octet NLRI length (RFC 8955 §4)
  ];
  for (const c of [
    ebgp,
    ibgp,
    { ...ebgp, as4: false, localAs: 4200000001 },
    { ...ebgp, maxMessage: 65535 },
  ]) {
    const codec = { as4: c.as4, maxLength: c.maxMessage };
    const msgs = [
      ...packAnnouncements(rs, c).messages,
      ...packWithdrawals(rs, c),
      endOfRibMessage('ipv6-flowspec'),
    ];
    assert.equal(msgs.length, 5 + 3 + 1);
    for (const [i, d] of updates(msgs, codec).entries())
      assert.equal(
        Buffer.from(encodeMessage(d, codec)).toString('hex'),
        Buffer.from(msgs[i]!).toString('hex'),
      );
  }
  const two = updates(packAnnouncements([rs[0]!], { ...ebgp, as4: false, localAs: 4200000001 }).messages, {
    as4: false,
    maxLength: 4096,
  })[0]!;
  const ap = two.attributes.find((a) => a.kind === 'as_path');
  assert.deepEqual(ap?.kind === 'as_path' ? ap.segments : null, [{ type: 2, asns: [23456] }]); // AS_TRANS, RFC 6793 §9
});

test('communities are parsed once, when the route is built: the sync reads the values, not the text', () => {
  const comms = ['65535:666', '65000:1'];
  const large = ['64512:666:1'];
  const r = route('203.0.113.5/32', '192.0.2.1', comms, large);
  assert.deepEqual(
    r.attrs.list.map((a) =>
      a.kind === 'communities' || a.kind === 'large_communities' ? [a.code, a.communities] : [a.code],
    ),
    [
      [8, [0xffff029a, 0xfde80001]],
      [32, [[64512, 666, 1]]],
    ],
  );
  assert.equal(r.attrs.problem, null);
  // The same text elsewhere shares the parse.
  assert.equal(route('203.0.113.6/32', '192.0.2.1', [...comms], [...large]).attrs, r.attrs);
  // Text changed behind the route's back is not read again: the UPDATE carries what was parsed.
  comms[0] = 'not a community';
  large[0] = '1:1:1';
  assert.equal(routeProblem(r), null);
  const d = updates(packAnnouncements([r], ebgp).messages)[0]!;
  const c = d.attributes.find((a) => a.kind === 'communities');
  assert.deepEqual(c?.kind === 'communities' ? c.communities.map(communityText) : [], [
    '65535:666',
    '65000:1',
  ]);
  const l = d.attributes.find((a) => a.kind === 'large_communities');
  assert.deepEqual(l?.kind === 'large_communities' ? l.communities : [], [[64512, 666, 1]]);
  // Text that does not parse is a problem of the route, found at build time, not an exception.
  const bad = route('203.0.113.7/32', '192.0.2.1', ['65535:666', 'blackhole'], ['1:2']);
  assert.equal(bad.attrs.problem, 'bad community blackhole');
  assert.equal(routeProblem(bad), 'bad community blackhole');
  assert.deepEqual(
    packAnnouncements([bad], ebgp).skipped.map((s) => s.problem),
    ['bad community blackhole'],
  );
});
