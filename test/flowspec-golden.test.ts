/**
 * Golden bytes: every FlowSpec UPDATE of the ExaBGP session fixture. Each NLRI is decoded,
 * the same rule is re-encoded from our rule JSON (exabgp-rules.json mirrors extra.exabgp)
 * and must give the same NLRI bytes, extended communities, attribute-25 communities and
 * next hop. The peers' own FlowSpec UPDATEs (GoBGP, BIRD) must decode and re-encode
 * byte-identically too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Reader } from '../src/wire/reader.js';
import { addrToString } from '../src/wire/addr.js';
import {
  parseRule,
  encodeRule,
  encodeNlri,
  decodeNlri,
  decodeRule,
  describe,
  readLengthPrefixedNlri,
  ruleToDesiredRoute,
  ruleToJson,
} from '../src/flowspec/index.js';

const fixture = (name: string) => new URL(`../../test/fixtures/flowspec/${name}`, import.meta.url);

interface Msg {
  frame: number;
  direction: string;
  type: string;
  hex: string;
  rule?: string;
}
interface Stream {
  peer: string;
  messages: Msg[];
}
const updates = JSON.parse(readFileSync(fixture('updates.json'), 'utf8')) as { streams: Stream[] };
const rulesDoc = JSON.parse(readFileSync(fixture('exabgp-rules.json'), 'utf8')) as {
  rules: Record<string, Record<string, unknown>>;
};

/** The parts of an UPDATE a FlowSpec test needs (test-only parser; RFC 4271 §4.3, RFC 4760). */
interface FlowUpdate {
  afi: number;
  reach: Uint8Array[];
  unreach: Uint8Array[];
  nextHop?: string;
  ext: Uint8Array[];
  ext6: Uint8Array[];
  communities: string[];
}

function parseUpdate(hexText: string): FlowUpdate | null {
  const buf = Uint8Array.from(Buffer.from(hexText, 'hex'));
  const r = new Reader(buf, 19);
  r.skip(r.u16()); // withdrawn routes
  const attrs = r.sub(r.u16());
  const u: FlowUpdate = { afi: 0, reach: [], unreach: [], ext: [], ext6: [], communities: [] };
  let flow = false;
  while (!attrs.atEnd()) {
    const flags = attrs.u8();
    const type = attrs.u8();
    const len = flags & 0x10 ? attrs.u16() : attrs.u8();
    const a = attrs.sub(len);
    if (type === 14 || type === 15) {
      const afi = a.u16();
      const safi = a.u8();
      if (safi !== 133) return null;
      flow = true;
      u.afi = afi;
      if (type === 14) {
        const nhLen = a.u8();
        const nh = a.bytes(nhLen);
        if (nhLen)
          u.nextHop = addrToString({ family: nhLen === 4 ? 4 : 6, bytes: nh.slice(0, nhLen === 4 ? 4 : 16) });
        a.u8(); // reserved (SNPA count)
      }
      while (!a.atEnd()) (type === 14 ? u.reach : u.unreach).push(Uint8Array.from(readLengthPrefixedNlri(a)));
    } else if (type === 16) {
      while (!a.atEnd()) u.ext.push(a.copy(8));
    } else if (type === 25) {
      while (!a.atEnd()) u.ext6.push(a.copy(20));
    } else if (type === 8) {
      while (!a.atEnd()) u.communities.push(`${a.u16()}:${a.u16()}`);
    }
  }
  return flow ? u : null;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function ruleJson(label: string): { json: Record<string, unknown>; strict: boolean } {
  const base = label
    .replace(/^X(?=[FG]\d)/, '')
    .replace(/^X1$/, 'SF1')
    .replace(/[abc]$/, '');
  const j = rulesDoc.rules[base];
  assert.ok(j, `no rule JSON for ${label} (${base})`);
  const { strict, ...json } = j;
  return { json, strict: strict !== false };
}

const exaMsgs: { peer: string; m: Msg; u: FlowUpdate }[] = [];
const peerMsgs: { peer: string; m: Msg; u: FlowUpdate }[] = [];
for (const s of updates.streams) {
  for (const m of s.messages) {
    if (m.type !== 'UPDATE') continue;
    const u = parseUpdate(m.hex);
    if (!u || (u.reach.length === 0 && u.unreach.length === 0)) continue; // End-of-RIB or unicast
    (m.direction.startsWith('exabgp->') ? exaMsgs : peerMsgs).push({ peer: s.peer, m, u });
  }
}

test('fixture holds every FlowSpec rule of extra.exabgp, to all three peers', () => {
  const labels = new Set(exaMsgs.map((x) => x.m.rule));
  for (const l of ['SF1', 'F1', 'F5a', 'F5b', 'F15b', 'G2', 'G4', 'G9', 'X1', 'XF12', 'XG9'])
    assert.ok(labels.has(l), l);
  // 25 rules (SF1, F1-F15, G1-G9) to three peers, F5 and F15 not to FRR; each withdrawn too.
  assert.equal(exaMsgs.filter((x) => x.u.reach.length).length, 3 * 25 - 2);
  assert.equal(exaMsgs.filter((x) => x.u.unreach.length).length, 3 * 25 - 2);
});

test('announcements: our encoding of each rule equals ExaBGP bytes (NLRI, communities, next hop)', () => {
  let n = 0;
  for (const { peer, m, u } of exaMsgs.filter((x) => x.u.reach.length)) {
    const where = `${peer} frame ${m.frame} ${m.rule}`;
    const { json, strict } = ruleJson(m.rule!);
    const parsed = parseRule(json, { strict });
    assert.ok(parsed.ok, `${where}: ${parsed.ok ? '' : parsed.error}`);
    const enc = encodeRule(parsed.rule);
    assert.equal(u.reach.length, 1, where);
    assert.equal(enc.family, u.afi === 1 ? 'ipv4-flowspec' : 'ipv6-flowspec', where);
    assert.equal(enc.key, hex(u.reach[0]!), `${where} NLRI`);
    assert.deepEqual(enc.extendedCommunities.map(hex), u.ext.map(hex), `${where} extended communities`);
    assert.deepEqual(enc.ipv6ExtendedCommunities.map(hex), u.ext6.map(hex), `${where} attribute 25`);
    assert.equal(enc.nextHop, u.nextHop, `${where} next hop`);
    const route = ruleToDesiredRoute(parsed.rule, 'golden');
    assert.deepEqual(route.communities, u.communities, `${where} communities`);
    assert.equal(route.key, hex(u.reach[0]!));
    assert.deepEqual([...route.flowspecNlri!], [...u.reach[0]!]);
    n++;
  }
  assert.equal(n, 73);
});

test('decode of every ExaBGP NLRI re-encodes byte-identically and round-trips through JSON', () => {
  for (const { peer, m, u } of exaMsgs) {
    const where = `${peer} frame ${m.frame} ${m.rule}`;
    const family = u.afi === 1 ? 4 : 6;
    for (const nlri of [...u.reach, ...u.unreach]) {
      const rule = decodeRule(nlri, family, u.ext, u.ext6, u.nextHop, u.communities);
      assert.equal(hex(encodeNlri(rule)), hex(nlri), where);
      if (u.reach.length) {
        const e = encodeRule(rule);
        assert.deepEqual(e.extendedCommunities.map(hex), u.ext.map(hex), `${where} actions re-encoded`);
        assert.deepEqual(
          e.ipv6ExtendedCommunities.map(hex),
          u.ext6.map(hex),
          `${where} attribute 25 re-encoded`,
        );
      }
      // The decoded rule printed as JSON parses back to the same rule bytes.
      const back = parseRule(ruleToJson(rule), { strict: false });
      assert.ok(back.ok, `${where}: ${back.ok ? '' : back.error} in ${JSON.stringify(ruleToJson(rule))}`);
      assert.equal(encodeRule(back.rule).key, hex(nlri), `${where} JSON round trip`);
      assert.ok(describe(rule).startsWith('destination '), where);
    }
  }
});

test('withdrawals carry the NLRI of the rule they withdraw', () => {
  for (const { peer, m, u } of exaMsgs.filter((x) => x.u.unreach.length)) {
    const { json, strict } = ruleJson(m.rule!);
    const parsed = parseRule(json, { strict });
    assert.ok(parsed.ok);
    assert.equal(encodeRule(parsed.rule).key, hex(u.unreach[0]!), `${peer} frame ${m.frame} ${m.rule}`);
  }
});

test("peers' own FlowSpec UPDATEs (GoBGP, BIRD) decode and re-encode byte-identically", () => {
  const seen = new Set<string>();
  for (const { peer, u } of peerMsgs) {
    const family = u.afi === 1 ? 4 : 6;
    for (const nlri of u.reach) {
      const rule = decodeRule(nlri, family, u.ext, u.ext6, u.nextHop);
      assert.equal(hex(encodeNlri(rule)), hex(nlri), peer);
      assert.deepEqual(encodeRule(rule).extendedCommunities.map(hex), u.ext.map(hex), peer);
      seen.add(`${peer}: ${describe(rule)}`);
    }
  }
  const text = [...seen].sort().join('\n');
  assert.match(
    text,
    /bird: destination 203\.0\.113\.200\/32, protocol udp, destination-port 53, packet-length >512 -> discard/,
  );
  assert.match(
    text,
    /gobgp: destination 203\.0\.113\.10\/32, source 192\.0\.2\.128\/25, protocol udp, destination-port 1024-2048 -> rate-limit 1000 bytes\/s/,
  );
  assert.match(
    text,
    /gobgp: destination 2001:db8:feed::10\/128, next-header tcp, tcp-flags =syn -> redirect to VRF 64512:900/,
  );
});

test('decoded G-rules show IPv6 specifics: flow label widths, next header, ietf redirect', () => {
  const g2 = exaMsgs.find((x) => x.m.rule === 'G2')!;
  const r2 = decodeNlri(g2.u.reach[0]!, 6);
  assert.deepEqual(ruleToJson({ ...r2, action: { type: 'accept' }, communities: [] }).flow_labels, [
    100,
    5000,
    '100000-200000',
  ]);
  const g4 = exaMsgs.find((x) => x.m.rule === 'G4')!;
  const r4 = decodeRule(g4.u.reach[0]!, 6, g4.u.ext, g4.u.ext6);
  assert.equal(r4.action.redirectIp, '2001:db8::10');
  assert.equal(r4.action.redirectIpMode, 'ietf');
  assert.match(describe(r4), /fragment !is-fragment/);
});
