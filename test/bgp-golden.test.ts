/**
 * Golden tests: every BGP message of a real ExaBGP <-> GoBGP/BIRD/FRR capture decodes,
 * agrees with TShark's independent decode, and re-encodes byte-identically.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readTcpStreams, splitBgp } from './helpers/bgp-pcap.js';
import { decodeMessage, encodeMessage, openCapabilities, type BgpMessage } from '../src/bgp/codec.js';
import { parseCapabilities } from '../src/bgp/capabilities.js';
import { endOfRib } from '../src/bgp/update.js';
import { communityText, largeCommunityText } from '../src/bgp/attrs.js';
import { notificationText } from '../src/bgp/notify.js';
import { prefixToString, v6ToString } from '../src/wire/addr.js';

const FIX = new URL('../../test/fixtures/bgp/', import.meta.url);

interface FixMsg {
  frame: number;
  direction: string;
  type: string;
  hex: string;
  rule?: string;
  summary?: string;
  tshark: Record<string, unknown>;
}
interface FixStream {
  stream: number;
  peer: string;
  peer_address: string;
  messages: FixMsg[];
}
const fixture = JSON.parse(readFileSync(new URL('updates.json', FIX), 'utf8')) as {
  addresses: Record<string, string>;
  streams: FixStream[];
};
const ctx = { as4: true, maxLength: 65535 };
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const fromHex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));

test('pcap reassembly yields exactly the messages listed in updates.json', () => {
  const dirs = readTcpStreams(new URL('exabgp-session.pcap', FIX));
  const addr = fixture.addresses;
  for (const s of fixture.streams) {
    for (const [from, to] of [
      [s.peer, 'exabgp'],
      ['exabgp', s.peer],
    ] as const) {
      const d = dirs.find((x) => x.src === addr[from] && x.dst === addr[to]);
      assert.ok(d, `direction ${from}->${to}`);
      const got = splitBgp(d.data).map(hex);
      const want = s.messages.filter((m) => m.direction === `${from}->${to}`).map((m) => m.hex);
      assert.equal(got.length, want.length, `${from}->${to} message count`);
      assert.deepEqual(got, want);
    }
  }
});

function allMessages(): (FixMsg & { peer: string; msg: BgpMessage; bytes: Uint8Array })[] {
  const out = [];
  for (const s of fixture.streams) {
    for (const m of s.messages) {
      const bytes = fromHex(m.hex);
      out.push({ ...m, peer: s.peer, bytes, msg: decodeMessage(bytes, ctx) });
    }
  }
  return out;
}

test('every message decodes cleanly and re-encodes byte-identically', () => {
  const msgs = allMessages();
  assert.equal(msgs.length, 101 + 85 + 98);
  const types: Record<string, number> = {};
  for (const m of msgs) {
    types[m.msg.type] = (types[m.msg.type] ?? 0) + 1;
    assert.equal(m.msg.type.toUpperCase(), m.type, `frame ${m.frame}`);
    if (m.msg.type === 'update')
      assert.equal(m.msg.issues, undefined, `frame ${m.frame} ${JSON.stringify(m.msg.issues)}`);
    assert.equal(
      hex(encodeMessage(m.msg, ctx)),
      m.hex,
      `frame ${m.frame} (${m.peer} ${m.direction}) re-encode`,
    );
  }
  assert.deepEqual(types, { open: 6, keepalive: 12, update: 254, 'route-refresh': 10, notification: 2 });
});

type TsAttr = Record<string, unknown>;
function tsAttrs(t: Record<string, unknown>): TsAttr[] {
  const pa = t['bgp.update.path_attributes'] as Record<string, unknown> | undefined;
  if (!pa) return [];
  const a = pa['bgp.update.path_attribute'];
  return (Array.isArray(a) ? a : [a]) as TsAttr[];
}
function keysOf(v: unknown): string[] {
  return v && typeof v === 'object' ? Object.keys(v as object) : [];
}

test('decoded fields agree with TShark', () => {
  for (const m of allMessages()) {
    const t = m.tshark;
    const where = `frame ${m.frame} ${m.peer}`;
    if (m.msg.type === 'open') {
      assert.equal(String(m.msg.myAs), t['bgp.open.myas'], where);
      assert.equal(String(m.msg.holdTime), t['bgp.open.holdtime'], where);
      assert.equal(m.msg.routerId, t['bgp.open.identifier'], where);
    } else if (m.msg.type === 'notification') {
      assert.equal(String(m.msg.code), t['bgp.notify.major_error'], where);
      assert.match(
        notificationText(m.msg.code, m.msg.subcode, m.msg.data),
        /^Cease \/ Administrative Shutdown \(6\/2\): "Administrative Shutdown"$/,
      );
    } else if (m.msg.type === 'route-refresh') {
      assert.equal(String(m.msg.afi), t['bgp.route_refresh.afi'], where);
      assert.equal(String(m.msg.safi), t['bgp.route_refresh.safi'], where);
      assert.equal(String(m.msg.subtype), t['bgp.route_refresh.subtype'], where);
    } else if (m.msg.type === 'update') {
      const ta = tsAttrs(t);
      assert.equal(m.msg.attributes.length, ta.length, where);
      m.msg.attributes.forEach((a, i) => {
        assert.equal(
          `0x${a.flags.toString(16).padStart(2, '0')}`,
          ta[i]!['bgp.update.path_attribute.flags'],
          `${where} attr ${i} flags`,
        );
        assert.equal(
          String(a.code),
          ta[i]!['bgp.update.path_attribute.type_code'],
          `${where} attr ${i} code`,
        );
        if (a.kind === 'next_hop') assert.equal(a.nextHop, ta[i]!['bgp.update.path_attribute.next_hop']);
        if (a.kind === 'origin') assert.equal(String(a.origin), ta[i]!['bgp.update.path_attribute.origin']);
        if (a.kind === 'med')
          assert.equal(String(a.value), ta[i]!['bgp.update.path_attribute.multi_exit_disc']);
        if (a.kind === 'local_pref')
          assert.equal(String(a.value), ta[i]!['bgp.update.path_attribute.local_pref']);
        if (a.kind === 'mp_reach' && a.safi === 1) {
          assert.deepEqual(
            a.nlri.map(prefixToString),
            keysOf(ta[i]!['bgp.update.path_attribute.mp_reach_nlri']),
            where,
          );
          if (a.afi === 2) {
            const nh = ta[i]!['bgp.update.path_attribute.mp_reach_nlri.next_hop_tree'] as Record<
              string,
              string
            >;
            assert.equal(v6ToString(a.nextHop), nh['bgp.update.path_attribute.mp_reach_nlri.next_hop.ipv6']);
          }
        }
        if (a.kind === 'mp_unreach' && a.safi === 1) {
          assert.deepEqual(
            a.withdrawn.map(prefixToString),
            keysOf(ta[i]!['bgp.update.path_attribute.mp_unreach_nlri']),
            where,
          );
        }
        if (a.kind === 'mp_reach' && a.safi === 133) assert.ok(a.flowspec.length >= 1, where);
      });
      assert.deepEqual(m.msg.nlri.map(prefixToString), keysOf(t['bgp.update.nlri']), `${where} nlri`);
      assert.deepEqual(
        m.msg.withdrawn.map(prefixToString),
        keysOf(t['bgp.update.withdrawn_routes']),
        `${where} withdrawn`,
      );
      if (m.summary?.startsWith('End-of-RIB')) assert.ok(endOfRib(m.msg), `${where} EoR`);
    }
  }
});

test('specific content: capabilities packing, communities, FlowSpec NLRI, enhanced route refresh', () => {
  const msgs = allMessages();
  // BIRD and GoBGP pack capabilities in one optional parameter; ExaBGP one per parameter.
  const birdOpen = msgs.find(
    (m) => m.peer === 'bird' && m.direction === 'bird->exabgp' && m.msg.type === 'open',
  )!;
  assert.ok(birdOpen.msg.type === 'open');
  assert.equal(birdOpen.msg.params.length, 1);
  assert.equal(openCapabilities(birdOpen.msg).length, 9);
  const exaOpen = msgs.find(
    (m) => m.peer === 'bird' && m.direction === 'exabgp->bird' && m.msg.type === 'open',
  )!;
  assert.ok(exaOpen.msg.type === 'open');
  assert.equal(exaOpen.msg.myAs, 23456);
  assert.ok(exaOpen.msg.params.length > 1);
  const caps = parseCapabilities(exaOpen.msg);
  assert.equal(caps.as4, 4200000001);
  assert.equal(caps.extendedMessage, true);
  assert.equal(caps.families.length, 4);
  const gobgpOpen = msgs.find(
    (m) => m.peer === 'gobgp' && m.direction === 'gobgp->exabgp' && m.msg.type === 'open',
  )!;
  assert.ok(gobgpOpen.msg.type === 'open');
  assert.deepEqual(parseCapabilities(gobgpOpen.msg).gracefulRestart, { restartTime: 120, restarting: false });

  const u1 = msgs.find((m) => m.rule === 'U1' && m.peer === 'gobgp')!;
  assert.ok(u1.msg.type === 'update');
  const comm = u1.msg.attributes.find((a) => a.kind === 'communities');
  assert.ok(comm?.kind === 'communities');
  assert.deepEqual(comm.communities.map(communityText), ['65535:666', '64512:666', '65535:65281']);
  const large = u1.msg.attributes.find((a) => a.kind === 'large_communities');
  assert.ok(large?.kind === 'large_communities');
  assert.deepEqual(large.communities.map(largeCommunityText), ['4200000001:666:10', '64512:1:2']);
  assert.ok(u1.msg.attributes.some((a) => a.kind === 'local_pref' && a.value === 200));

  const f1 = msgs.find((m) => m.rule === 'F1' && m.peer === 'bird')!;
  assert.ok(f1.msg.type === 'update');
  const mp = f1.msg.attributes.find((a) => a.kind === 'mp_reach');
  assert.ok(mp?.kind === 'mp_reach');
  assert.equal(mp.safi, 133);
  assert.equal(mp.flowspec.length, 1);
  // component 1 (destination prefix) 198.51.100.101/32 first, RFC 8955 §4.2.2.1
  assert.deepEqual([...mp.flowspec[0]!.subarray(0, 6)], [1, 32, 198, 51, 100, 101]);

  const rrSubtypes = msgs
    .filter((m) => m.msg.type === 'route-refresh' && m.direction === 'bird->exabgp')
    .map((m) => (m.msg.type === 'route-refresh' ? m.msg.subtype : -1));
  assert.deepEqual([...new Set(rrSubtypes)].sort(), [1, 2]);
});
