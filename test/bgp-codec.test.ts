import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeMessage,
  encodeMessage,
  encodeOpen,
  encodeNotification,
  encodeRouteRefresh,
  encodeKeepalive,
  readHeader,
  openCapabilities,
  type UpdateMessage,
} from '../src/bgp/codec.js';
import { BgpError, notificationText } from '../src/bgp/notify.js';
import { buildCapabilities, parseCapabilities, negotiate } from '../src/bgp/capabilities.js';
import { endOfRib } from '../src/bgp/update.js';
import { parseAddr } from '../src/wire/addr.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const pfx = (s: string) => {
  const [a, l] = s.split('/');
  return { ...parseAddr(a!)!, len: Number(l) };
};

function withHeader(type: number, body: number[]): Uint8Array {
  const len = 19 + body.length;
  return new Uint8Array([...new Array(16).fill(0xff), len >> 8, len & 255, type, ...body]);
}

function expectError(
  bytes: Uint8Array,
  code: number,
  subcode: number,
  ctx = { as4: true, maxLength: 4096 },
): BgpError {
  try {
    decodeMessage(bytes, ctx);
  } catch (e) {
    assert.ok(e instanceof BgpError, String(e));
    assert.equal(`${e.code}/${e.subcode}`, `${code}/${subcode}`, e.message);
    return e;
  }
  assert.fail('expected a BgpError');
}

test('OPEN round trip with our capabilities; 4-octet AS uses AS_TRANS', () => {
  const caps = buildCapabilities({
    asn: 4200000001,
    families: ['ipv4-unicast', 'ipv6-flowspec'],
    gracefulRestart: 120,
    extendedMessage: true,
  });
  const bytes = encodeOpen({
    version: 4,
    myAs: 23456,
    holdTime: 90,
    routerId: '192.0.2.200',
    params: [{ kind: 'capabilities', capabilities: caps }],
  });
  const m = decodeMessage(bytes);
  assert.equal(m.type, 'open');
  assert.equal(hex(encodeMessage(m)), hex(bytes));
  const p = parseCapabilities(m);
  assert.equal(p.as4, 4200000001);
  assert.deepEqual(p.families, [
    { afi: 1, safi: 1 },
    { afi: 2, safi: 133 },
  ]);
  assert.deepEqual(p.gracefulRestart, { restartTime: 120, restarting: false });
  assert.equal(p.extendedMessage, true);
  assert.equal(p.enhancedRouteRefresh, true);
  assert.equal(openCapabilities(m).length, caps.length);
});

test('negotiation: common families, min hold time, extended messages only when both offer', () => {
  const local = {
    asn: 65100,
    families: ['ipv4-unicast', 'ipv6-unicast', 'ipv4-flowspec'] as const,
    gracefulRestart: 0,
    extendedMessage: true,
  };
  const peerCaps = buildCapabilities({
    asn: 65000,
    families: ['ipv6-unicast', 'ipv4-unicast', 'ipv6-flowspec'],
    gracefulRestart: 0,
    extendedMessage: false,
  });
  const open = decodeMessage(
    encodeOpen({
      version: 4,
      myAs: 65000,
      holdTime: 30,
      routerId: '10.0.0.1',
      params: [{ kind: 'capabilities', capabilities: peerCaps }],
    }),
  );
  assert.ok(open.type === 'open');
  const n = negotiate({ ...local, families: [...local.families] }, 90, open);
  assert.deepEqual(n.families, ['ipv4-unicast', 'ipv6-unicast']);
  assert.equal(n.holdTime, 30);
  assert.equal(n.maxMessage, 4096);
  assert.equal(n.remoteAs, 65000);
  const withExt = decodeMessage(
    encodeOpen({
      version: 4,
      myAs: 65000,
      holdTime: 30,
      routerId: '10.0.0.1',
      params: [{ kind: 'capabilities', capabilities: [...peerCaps, { code: 6, value: new Uint8Array(0) }] }],
    }),
  );
  assert.ok(withExt.type === 'open');
  assert.equal(negotiate({ ...local, families: [...local.families] }, 90, withExt).maxMessage, 65535);
  assert.equal(
    negotiate({ ...local, families: [...local.families], extendedMessage: false }, 90, withExt).maxMessage,
    4096,
  );
});

test('OPEN errors: version, hold time, optional parameter type, BGP id', () => {
  const base = [4, 0xfd, 0xe8, 0, 90, 10, 0, 0, 1, 0];
  const e = expectError(withHeader(1, [3, ...base.slice(1)]), 2, 1);
  assert.deepEqual([...e.data], [0, 4]);
  expectError(withHeader(1, [4, 0xfd, 0xe8, 0, 2, 10, 0, 0, 1, 0]), 2, 6);
  expectError(withHeader(1, [4, 0xfd, 0xe8, 0, 90, 0, 0, 0, 0, 0]), 2, 3);
  expectError(withHeader(1, [4, 0xfd, 0xe8, 0, 90, 10, 0, 0, 1, 3, 1, 1, 0]), 2, 4);
});

test('header errors: marker, length, type', () => {
  const ka = encodeKeepalive();
  const bad = Uint8Array.from(ka);
  bad[3] = 0;
  expectError(bad, 1, 1);
  const e = expectError(withHeader(4, [0]), 1, 2);
  assert.deepEqual([...e.data], [0, 20]);
  expectError(withHeader(9, []), 1, 3);
  assert.throws(
    () => readHeader(new Uint8Array([...new Array(16).fill(0xff), 0x10, 0x01, 2]), 0, 4096),
    (x: unknown) => x instanceof BgpError && x.subcode === 2,
  );
  assert.equal(readHeader(ka.subarray(0, 18), 0, 4096), null);
});

test('NOTIFICATION and ROUTE-REFRESH encode/decode; words for logs', () => {
  const n = decodeMessage(encodeNotification(6, 2, new Uint8Array([4, 0x62, 0x79, 0x65, 0x21])));
  assert.ok(n.type === 'notification');
  assert.equal(notificationText(n.code, n.subcode, n.data), 'Cease / Administrative Shutdown (6/2): "bye!"');
  assert.equal(notificationText(3, 11, new Uint8Array(0)), 'UPDATE Message Error / Malformed AS_PATH (3/11)');
  assert.equal(notificationText(4, 0, new Uint8Array(0)), 'Hold Timer Expired (4/0)');
  const rr = decodeMessage(encodeRouteRefresh(2, 133, 1));
  assert.deepEqual(rr, { type: 'route-refresh', afi: 2, safi: 133, subtype: 1 });
  expectError(withHeader(5, [0, 1, 0, 1, 0]), 7, 1);
});

test('UPDATE with every attribute kind round-trips; FlowSpec NLRI length of 1 and 2 octets', () => {
  const big = new Uint8Array(300).fill(7);
  big[0] = 1;
  const u: UpdateMessage = {
    type: 'update',
    withdrawn: [pfx('192.0.2.0/24')],
    attributes: [
      { kind: 'origin', flags: 0x40, code: 1, origin: 2 },
      {
        kind: 'as_path',
        flags: 0x40,
        code: 2,
        segments: [
          { type: 2, asns: [65100, 4200000001] },
          { type: 1, asns: [1, 2] },
        ],
      },
      { kind: 'next_hop', flags: 0x40, code: 3, nextHop: '192.0.2.1' },
      { kind: 'med', flags: 0x80, code: 4, value: 5 },
      { kind: 'local_pref', flags: 0x40, code: 5, value: 100 },
      { kind: 'atomic_aggregate', flags: 0x40, code: 6 },
      { kind: 'aggregator', flags: 0xc0, code: 7, as: 4200000001, address: '192.0.2.9' },
      { kind: 'communities', flags: 0xc0, code: 8, communities: [0xffff029a] },
      {
        kind: 'mp_reach',
        flags: 0x90,
        code: 14,
        afi: 1,
        safi: 133,
        nextHop: new Uint8Array(0),
        reserved: 0,
        nlri: [],
        flowspec: [new Uint8Array([1, 32, 198, 51, 100, 1]), big],
      },
      {
        kind: 'mp_unreach',
        flags: 0x90,
        code: 15,
        afi: 2,
        safi: 1,
        withdrawn: [pfx('2001:db8::/33')],
        flowspec: [],
      },
      {
        kind: 'ext_communities',
        flags: 0xc0,
        code: 16,
        communities: [new Uint8Array([0x80, 6, 0, 0, 0, 0, 0, 0])],
      },
      { kind: 'raw', flags: 0xe0, code: 99, value: new Uint8Array([1, 2, 3]) },
      { kind: 'large_communities', flags: 0xc0, code: 32, communities: [[4200000001, 666, 1]] },
    ],
    nlri: [pfx('203.0.113.5/32'), pfx('10.0.0.0/8'), pfx('0.0.0.0/0')],
  };
  const bytes = encodeMessage(u);
  const d = decodeMessage(bytes);
  assert.ok(d.type === 'update');
  assert.equal(d.issues, undefined);
  assert.equal(hex(encodeMessage(d)), hex(bytes));
  const mp = d.attributes.find((a) => a.kind === 'mp_reach');
  assert.ok(mp?.kind === 'mp_reach');
  assert.equal(mp.flowspec.length, 2);
  assert.equal(mp.flowspec[1]!.length, 300);
  // 2-octet length 0xf12c for 300 bytes (RFC 8955 §4)
  assert.ok(hex(bytes).includes('f12c0107'));
  const raw = d.attributes.find((a) => a.kind === 'raw');
  assert.deepEqual(raw?.kind === 'raw' ? [...raw.value] : [], [1, 2, 3]);
  // 2-octet AS session: AS_PATH with AS_TRANS for a 4-octet AS
  const two = encodeMessage(u, { as4: false, maxLength: 4096 });
  const d2 = decodeMessage(two, { as4: false, maxLength: 4096 });
  assert.ok(d2.type === 'update');
  const ap = d2.attributes.find((a) => a.kind === 'as_path');
  assert.deepEqual(ap?.kind === 'as_path' ? ap.segments[0]!.asns : [], [65100, 23456]);
});

test('RFC 7606: treat-as-withdraw and attribute-discard keep the session, with code/subcode', () => {
  const nlri = [32, 203, 0, 113, 5];
  const attrs = (...a: number[][]) => {
    const flat = a.flat();
    return withHeader(2, [0, 0, flat.length >> 8, flat.length & 255, ...flat, ...nlri]);
  };
  const origin = [0x40, 1, 1, 0];
  const asPath = [0x40, 2, 0];
  const nh = [0x40, 3, 4, 192, 0, 2, 1];
  const issues = (b: Uint8Array) => {
    const m = decodeMessage(b);
    assert.ok(m.type === 'update');
    return (m.issues ?? []).map((i) => `${i.action} ${i.code}/${i.subcode} ${i.attr}`);
  };
  assert.deepEqual(issues(attrs(origin, asPath, nh)), []);
  assert.deepEqual(issues(attrs([0x40, 1, 1, 7], asPath, nh)), ['treat-as-withdraw 3/6 1']);
  assert.deepEqual(issues(attrs(origin, [0x40, 2, 4, 2, 3, 0, 1], nh)), ['treat-as-withdraw 3/11 2']);
  assert.deepEqual(issues(attrs(origin, asPath, [0x40, 3, 3, 1, 2, 3])), ['treat-as-withdraw 3/5 3']);
  assert.deepEqual(issues(attrs(origin, asPath)), ['treat-as-withdraw 3/3 3']);
  assert.deepEqual(issues(attrs([0xc0, 1, 1, 0], asPath, nh)), ['treat-as-withdraw 3/4 1']);
  assert.deepEqual(issues(attrs(origin, asPath, nh, [0xc0, 8, 3, 1, 2, 3])), ['treat-as-withdraw 3/5 8']);
  assert.deepEqual(issues(attrs(origin, asPath, nh, [0xc0, 32, 4, 1, 2, 3, 4])), [
    'treat-as-withdraw 3/5 32',
  ]);
  assert.deepEqual(issues(attrs(origin, asPath, nh, [0x40, 6, 1, 0])), ['attribute-discard 3/5 6']);
  assert.deepEqual(issues(attrs(origin, asPath, nh, origin)), ['attribute-discard 3/1 1']);
  // Session-reset class: thrown with the NOTIFICATION to send.
  expectError(withHeader(2, [0, 9, 0, 0]), 3, 1);
  expectError(withHeader(2, [0, 0, 0, 0, 33, 1, 2, 3, 4, 5]), 3, 10);
  expectError(attrs(origin, asPath, nh, [0x40, 77, 0]), 3, 2);
  expectError(attrs(origin, asPath, [0x80, 14, 3, 0, 1, 1]), 3, 9);
  expectError(attrs([0x80, 15, 3, 0, 2, 1], [0x80, 15, 3, 0, 2, 1]), 3, 1);
  // MP_REACH with a FlowSpec NLRI whose length overruns the attribute
  expectError(attrs(origin, asPath, [0x80, 14, 7, 0, 1, 133, 0, 0, 9, 1]), 3, 9);
});

test('End-of-RIB markers', () => {
  const v4 = decodeMessage(withHeader(2, [0, 0, 0, 0]));
  assert.ok(v4.type === 'update');
  assert.deepEqual(endOfRib(v4), { afi: 1, safi: 1 });
  const v6f = decodeMessage(withHeader(2, [0, 0, 0, 6, 0x80, 15, 3, 0, 2, 133]));
  assert.ok(v6f.type === 'update');
  assert.deepEqual(endOfRib(v6f), { afi: 2, safi: 133 });
});
