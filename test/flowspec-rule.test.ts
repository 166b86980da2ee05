import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WireError } from '../src/wire/reader.js';
import {
  parseRule,
  validate,
  encodeRule,
  decodeNlri,
  decodeRule,
  describe,
  nlriLengthPrefix,
  ruleToJson,
  staticFlowspecToDesired,
  matchesPacket,
  type FlowspecRule,
  type PacketView,
} from '../src/flowspec/index.js';
import { flowspecAdapter } from '../src/mitigation/flowspec-adapter.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
function must(json: Record<string, unknown>, strict = true): FlowspecRule {
  const r = parseRule(json, { strict });
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.rule;
}

test('validation refuses impossible or ambiguous rules with a reason', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [
      { destination_prefix: '203.0.113.5/32', destination_ports: [80], action_type: 'discard' },
      /destination_ports: set protocols to tcp, udp or sctp \(no protocols given\)/,
    ],
    [
      { destination_prefix: '203.0.113.5/32', protocols: ['icmp'], destination_ports: [80] },
      /destination_ports: needs protocol tcp, udp or sctp, but protocols excludes it/,
    ],
    [
      { destination_prefix: '203.0.113.5/32', protocols: ['tcp', 'icmp'], source_ports: [53] },
      /protocols also admits 1/,
    ],
    [
      { destination_prefix: '203.0.113.5/32', source_prefix: '2001:db8::/32', protocols: ['udp'] },
      /source_prefix: 2001:db8::\/32 is IPv6 but the rule is IPv4/,
    ],
    [{ family: 'ipv6', destination_prefix: '203.0.113.5/32' }, /is IPv4 but the rule is IPv6/],
    [
      { destination_prefix: '203.0.113.5/32', protocols: ['udp'], destination_ports: ['2000-1000'] },
      /range "2000-1000" is empty/,
    ],
    [
      { destination_prefix: '203.0.113.5/32', packet_lengths: ['>=2000&<=1000'] },
      /packet_lengths: "2000-1000" can never match \(impossible range\)/,
    ],
    [{ destination_prefix: '203.0.113.5/32', packet_lengths: ['>=5&<=5&!=5'] }, /can never match/],
    [
      { destination_prefix: '203.0.113.5/32', protocols: ['udp'], icmp_codes: [0] },
      /icmp_codes: needs protocol icmp/,
    ],
    [{ destination_prefix: '203.0.113.5/32', icmp_types: [8] }, /icmp_types: set protocols to icmp/],
    [
      { destination_prefix: '203.0.113.5/32', protocols: ['udp'], tcp_flags: ['syn'] },
      /tcp_flags: needs protocol tcp/,
    ],
    [
      { destination_prefix: '203.0.113.5/32', flow_labels: [5] },
      /flow_labels: the flow label component exists only for IPv6/,
    ],
    [
      { destination_prefix: '2001:db8::1/128', fragmentation_flags: ['dont-fragment'] },
      /dont-fragment does not exist in IPv6/,
    ],
    [{ destination_prefix: '203.0.113.5/24' }, /has host bits set \(did you mean 203\.0\.113\.0\/24\?\)/],
    [{ destination_prefix: '203.0.113.0/24/8' }, /offsets exist only for IPv6/],
    [{ destination_prefix: '2001:db8::/32/32' }, /offset "32" must be below the prefix length 32/],
    [
      { destination_prefix: '203.0.113.5/32', protocols: ['udp'], destination_ports: [70000] },
      /destination_ports: value 70000 is not an integer in 0\.\.65535/,
    ],
    [{ destination_prefix: '203.0.113.5/32', dscps: [64] }, /dscps: value 64 is not an integer in 0\.\.63/],
    [
      { destination_prefix: '203.0.113.5/32', protocols: ['tcp'], tcp_flags: ['syn|bogus'] },
      /unknown flag "bogus"/,
    ],
    [
      { destination_prefix: '203.0.113.5/32', protocols: ['tcp'], tcp_flags: ['=syn&!syn'] },
      /can never match/,
    ],
    [
      { destination_prefix: '203.0.113.5/32', protocols: ['udp'], source_ports: ['~53'] },
      /cannot read "~53"/,
    ],
    [{ destination_prefix: '203.0.113.5/32', protocols: [] }, /empty list/],
    [{ action_type: 'discard' }, /matches all traffic/],
    [{ destination_prefix: '203.0.113.5/32', port: [1] }, /port: unknown field/],
    [{ destination_prefix: '203.0.113.5/32', action_type: 'drop' }, /action_type: "drop" is not one of/],
    [{ destination_prefix: '203.0.113.5/32', action_type: 'rate-limit' }, /exactly one of action.rate/],
    [
      { destination_prefix: '203.0.113.5/32', action_type: 'rate-limit', action: { rate: 0 } },
      /use action_type discard for 0/,
    ],
    [
      { destination_prefix: '203.0.113.5/32', action_type: 'discard', action: { rate: 5 } },
      /action.rate does not apply to action_type discard/,
    ],
    [
      {
        destination_prefix: '203.0.113.5/32',
        action_type: 'redirect',
        action: { redirect_target_as: 4200000001, redirect_target_value: 70000 },
      },
      /0\.\.65535 with a 4-byte AS/,
    ],
    [
      {
        destination_prefix: '203.0.113.5/32',
        action_type: 'redirect',
        action: { redirect_target_ip: '2001:db8::1' },
      },
      /is IPv6 but the rule is IPv4/,
    ],
    [{ destination_prefix: '203.0.113.5/32', action_type: 'redirect', action: {} }, /redirect needs/],
    [{ destination_prefix: '203.0.113.5/32', action_type: 'mark' }, /action.dscp is required/],
    [{ destination_prefix: '203.0.113.5/32', action_type: 'mark', action: { dscp: 99 } }, /not a DSCP value/],
  ];
  for (const [json, re] of cases) {
    const err = validate(json);
    assert.ok(err, `accepted ${JSON.stringify(json)}`);
    assert.match(err, re, JSON.stringify(json));
  }
  // The under-specified (not impossible) ones are warnings when not strict.
  const lax = parseRule({ destination_prefix: '203.0.113.5/32', destination_ports: [80] }, { strict: false });
  assert.ok(lax.ok && lax.warnings.length === 1 && /no protocols given/.test(lax.warnings[0]!));
  assert.equal(
    validate(
      { destination_prefix: '203.0.113.5/32', protocols: ['icmp'], destination_ports: [80] },
      { strict: false },
    ) !== null,
    true,
  );
});

test('the issue example and FastNetMon documentation example are accepted', () => {
  const a = must({
    destination_prefix: '203.0.113.5/32',
    protocols: ['udp'],
    source_ports: [53],
    packet_lengths: ['>=500'],
    action_type: 'discard',
  });
  assert.equal(
    describe(a),
    'destination 203.0.113.5/32, protocol udp, source-port 53, packet-length >=500 -> discard',
  );
  const fnm = must({
    source_prefix: '4.0.0.0/24',
    destination_prefix: '127.0.0.0/24',
    destination_ports: [80],
    source_ports: [53, 5353],
    packet_lengths: [777, 1122],
    protocols: ['tcp'],
    fragmentation_flags: ['is-fragment', 'dont-fragment'],
    tcp_flags: ['syn'],
    action_type: 'rate-limit',
    action: { rate: 1024 },
  });
  assert.equal(fnm.action.rate, 1024);
  const icmp6 = must({ destination_prefix: '2001:db8::1/128', protocols: ['ipv6-icmp'], icmp_types: [128] });
  const icmp6b = must({ destination_prefix: '2001:db8::1/128', protocols: ['icmp'], icmp_types: [128] });
  assert.equal(encodeRule(icmp6).key, encodeRule(icmp6b).key, 'icmp means ICMPv6 in an IPv6 rule');
  assert.match(describe(icmp6), /next-header icmpv6, icmp-type 128/);
  // FastNetMon's "syn|ack": a packet with both flags (match bit).
  const both = must({ destination_prefix: '198.51.100.1/32', protocols: ['tcp'], tcp_flags: ['syn|ack'] });
  assert.deepEqual(both.match.tcp_flags, [[{ not: false, match: true, value: 0x12 }]]);
  // not-a-fragment: neither a later nor a first fragment.
  const nf = must({ destination_prefix: '198.51.100.1/32', fragmentation_flags: ['not-a-fragment'] });
  assert.equal(hex(encodeRule(nf).nlri), '0120c63364010c8206');
});

test('equal rules are byte-identical whatever the order in the JSON', () => {
  const a = must(
    {
      destination_prefix: '198.51.100.1/32',
      protocols: ['udp', 'tcp'],
      destination_ports: [443, 80, '1000-2000', 80],
      tcp_flags: ['!=rst', '=syn'],
      packet_lengths: ['<=2000&>=1000'],
    },
    false,
  );
  const b = must(
    {
      packet_lengths: ['1000-2000'],
      tcp_flags: ['syn', '!=reset'],
      destination_ports: [80, '>=1000&<=2000', 443],
      protocols: [6, 17],
      destination_prefix: '198.51.100.1/32',
    },
    false,
  );
  // "syn" without "=" and "=syn" are different operators on the wire; make them equal first.
  const b2 = must({ ...ruleToJson(b), tcp_flags: ['=syn', '!=rst'] }, false);
  assert.equal(encodeRule(a).key, encodeRule(b2).key);
  assert.notEqual(encodeRule(a).key, encodeRule(b).key);
  assert.deepEqual(ruleToJson(a).destination_ports, [80, 443, '1000-2000']);
});

test('RFC 8956 §3.1 prefix offset: only the bits after the offset are carried', () => {
  const r = must({ source_prefix: '2001:db8:0:0:1234:5678:9a00::/104/64', protocols: ['udp'] });
  const nlri = encodeRule(r).nlri;
  assert.equal(hex(nlri), `${'0268401234567890a'.replace('90a', '9a')}038111`);
  const d = decodeNlri(nlri, 6);
  assert.equal(d.source_prefix!.offset, 64);
  assert.equal(
    describe({ ...d, action: { type: 'accept' }, communities: [] }),
    'source ::1234:5678:9a00:0/104 offset 64, next-header udp -> accept',
  );
  assert.equal(
    hex(encodeRule(must(ruleToJson({ ...d, action: { type: 'discard' }, communities: [] }))).nlri),
    hex(nlri),
  );
  // Bits before the offset are ignored, so these two are the same rule.
  const other = must({ source_prefix: 'ffff:ffff:ffff:ffff:1234:5678:9a00::/104/64', protocols: ['udp'] });
  assert.equal(encodeRule(other).key, encodeRule(r).key);
});

test('value lengths 1/2/4, the NLRI length prefix and big NLRI', () => {
  const r = must({ destination_prefix: '2001:db8::/32', flow_labels: [255, 256, 65535, 65536, 1048575] });
  // =255 in 1 byte, =256 and =65535 in 2, =65536 and =1048575 in 4 (op len codes 0x00/0x10/0x20).
  assert.equal(hex(encodeRule(r).nlri).slice(-38), '0d01ff11010011ffff2100010000a1000fffff');
  assert.deepEqual([...nlriLengthPrefix(239)], [239]);
  assert.deepEqual([...nlriLengthPrefix(240)], [0xf0, 0xf0]);
  assert.deepEqual([...nlriLengthPrefix(4095)], [0xff, 0xff]);
  assert.throws(() => nlriLengthPrefix(4096), RangeError);
  const many = Array.from({ length: 300 }, (_, i) => 1000 + 2 * i);
  const big = must({ destination_prefix: '198.51.100.1/32', protocols: ['udp'], destination_ports: many });
  const e = encodeRule(big);
  assert.equal(e.nlri.length, 6 + 3 + 1 + 300 * 3);
  assert.equal(hex(encodeNlriBack(e.nlri)), hex(e.nlri));
  const huge = {
    destination_prefix: '198.51.100.1/32',
    protocols: ['udp'],
    destination_ports: Array.from({ length: 1400 }, (_, i) => 1000 + 2 * i),
  };
  assert.equal(validate(huge), 'the rule needs 4210 bytes of NLRI, more than the 4095 FlowSpec allows');
  const { destination_ports: _p, ...small } = huge;
  assert.throws(
    () =>
      encodeRule({
        ...must(small),
        match: {
          ...must(small).match,
          destination_ports: huge.destination_ports.map((v) => [{ op: 1, value: v }]),
        },
      }),
    /exceeds 4095/,
  );
});

function encodeNlriBack(nlri: Uint8Array): Uint8Array {
  return encodeRule({ ...decodeNlri(nlri, 4), action: { type: 'discard' }, communities: [] }).nlri;
}

test('decoder refuses malformed NLRI instead of guessing', () => {
  const bad = [
    '', // empty
    '0320c6336401', // protocol with a 4-byte value and no end-of-list bit before the data ends
    '0381110120c6336401', // protocol before destination: out of order
    '038106038111', // the same type twice
    '0e8101', // unknown type 14
    '0120c63364', // truncated prefix
  ];
  for (const h of bad) {
    assert.throws(() => decodeNlri(Uint8Array.from(Buffer.from(h, 'hex')), 4), WireError, h);
  }
  assert.throws(
    () => decodeNlri(Uint8Array.from(Buffer.from('0d8101', 'hex')), 4),
    /unknown FlowSpec component type 13/,
  );
  assert.throws(
    () => decodeNlri(Uint8Array.from(Buffer.from('03011103', 'hex')), 4),
    WireError,
    'no end-of-list bit',
  );
  assert.throws(() => decodeNlri(Uint8Array.from(Buffer.from('0121c6336401', 'hex')), 4), /prefix length 33/);
  // Operators the encoder never writes still decode: true/false, 8-byte values.
  const d = decodeNlri(Uint8Array.from(Buffer.from('0a0700b00000000000000064', 'hex')), 4);
  assert.deepEqual(d.match.packet_lengths, [[{ op: 7, value: 0 }], [{ op: 0, value: 100 }]]);
});

test('actions: every kind encodes to the RFC communities and decodes back', () => {
  const base = { destination_prefix: '198.51.100.9/32', protocols: ['udp'] };
  const cases: [Record<string, unknown>, string[], string | undefined][] = [
    [{ action_type: 'discard' }, ['8006000000000000'], undefined],
    [{ action_type: 'accept' }, [], undefined],
    [{ action_type: 'accept', action: { sample: true, terminal: true } }, ['8007000000000003'], undefined],
    [{ action_type: 'rate-limit', action: { rate: 125000 } }, ['8006000047f42400'], undefined],
    [{ action_type: 'rate-limit', action: { rate_packets: 1000 } }, ['800c0000447a0000'], undefined],
    [
      { action_type: 'redirect', action: { redirect_target_as: 65000, redirect_target_value: 4000000000 } },
      ['8008fde8ee6b2800'],
      undefined,
    ],
    [
      { action_type: 'redirect', action: { redirect_target_as: 4200000001, redirect_target_value: 100 } },
      ['8208fa56ea010064'],
      undefined,
    ],
    [
      { action_type: 'redirect', action: { redirect_target_ip: '192.0.2.11', redirect_target_value: 100 } },
      ['8108c000020b0064'],
      undefined,
    ],
    [
      { action_type: 'redirect', action: { redirect_target_ip: '192.0.2.10' } },
      ['0800000000000000'],
      '192.0.2.10',
    ],
    [
      { action_type: 'redirect', action: { redirect_target_ip: '192.0.2.10', copy: true } },
      ['0800000000000001'],
      '192.0.2.10',
    ],
    [
      { action_type: 'redirect', action: { redirect_target_ip: '192.0.2.11', redirect_ip_mode: 'ietf' } },
      ['010cc000020b0000'],
      undefined,
    ],
    [{ action_type: 'mark', action: { dscp: 46 } }, ['800900000000002e'], undefined],
    [
      { action_type: 'rate-limit', action: { rate: 9600, dscp: 0, sample: true } },
      ['8006000046160000', '8009000000000000', '8007000000000002'],
      undefined,
    ],
  ];
  for (const [act, ext, nh] of cases) {
    const r = must({ ...base, ...act });
    const e = encodeRule(r);
    assert.deepEqual(e.extendedCommunities.map(hex), ext, JSON.stringify(act));
    assert.equal(e.nextHop, nh);
    const back = decodeRule(e.nlri, 4, e.extendedCommunities, e.ipv6ExtendedCommunities, e.nextHop);
    assert.deepEqual(ruleToJson(back), ruleToJson(r), JSON.stringify(act));
  }
  // RFC 8956 §6 rt-redirect-ipv6 travels in attribute 25.
  const v6 = must({
    destination_prefix: '2001:db8::1/128',
    action_type: 'redirect',
    action: { redirect_target_ip: '2001:db8::99', redirect_target_value: 7 },
  });
  const e6 = encodeRule(v6);
  assert.deepEqual(e6.ipv6ExtendedCommunities.map(hex), ['000d20010db80000000000000000000000990007']);
  assert.equal(decodeRule(e6.nlri, 6, [], e6.ipv6ExtendedCommunities).action.redirectValue, 7);
});

test('static_flowspec from config: routes for valid rules, one line per refused rule', () => {
  const res = staticFlowspecToDesired({
    bgp: {
      static_flowspec: [
        {
          destination_prefix: '203.0.113.5/32',
          protocols: ['udp'],
          source_ports: [53],
          packet_lengths: ['>=500'],
          action_type: 'discard',
        },
        {
          destination_prefix: '2001:db8::5/128',
          protocols: ['tcp'],
          tcp_flags: ['syn'],
          action_type: 'rate-limit',
          action: { rate: 1e6 },
        },
        { destination_prefix: '203.0.113.6/32', destination_ports: [80] },
        {
          destination_prefix: '203.0.113.5/32',
          protocols: ['udp'],
          source_ports: ['=53'],
          packet_lengths: ['>=500'],
          action_type: 'accept',
        },
      ],
    },
  });
  assert.equal(res.routes.length, 2);
  assert.equal(res.routes[0]!.family, 'ipv4-flowspec');
  assert.equal(res.routes[0]!.owner, 'static');
  assert.equal(
    res.routes[0]!.key,
    '0120cb0071050381110681350a931f4'.slice(0, 0) + hex(res.routes[0]!.flowspecNlri!),
  );
  assert.equal(res.routes[1]!.family, 'ipv6-flowspec');
  assert.deepEqual(res.errors, [
    'bgp.static_flowspec[2]: destination_ports: set protocols to tcp, udp or sctp (no protocols given); routers only see destination_ports for tcp, udp or sctp',
    'bgp.static_flowspec[3]: same match as bgp.static_flowspec[0]',
  ]);
});

test('matchesPacket follows router semantics (ports invisible in later fragments, IsF/FF bits)', () => {
  const pkt = (o: Partial<PacketView>): PacketView => ({
    ipVersion: 4,
    src: Uint8Array.of(192, 0, 2, 1),
    dst: Uint8Array.of(198, 51, 100, 1),
    protocol: 17,
    srcPort: 53,
    dstPort: 3333,
    icmpType: -1,
    icmpCode: -1,
    tcpFlags: -1,
    length: 1500,
    dscp: 0,
    flowLabel: 0,
    frag: 'none',
    df: false,
    packets: 1,
    ...o,
  });
  const dns = must({ destination_prefix: '198.51.100.1/32', protocols: ['udp'], source_ports: [53] });
  assert.ok(matchesPacket(dns, pkt({})));
  assert.ok(matchesPacket(dns, pkt({ frag: 'first' })));
  assert.ok(!matchesPacket(dns, pkt({ frag: 'last', srcPort: -1, dstPort: -1 })));
  const frag = must({ destination_prefix: '198.51.100.1/32', fragmentation_flags: ['is-fragment'] });
  assert.ok(!matchesPacket(frag, pkt({ frag: 'first' })));
  assert.ok(matchesPacket(frag, pkt({ frag: 'middle' })));
  const ports = must({ destination_prefix: '198.51.100.1/32', protocols: ['udp'], ports: [3333] });
  assert.ok(matchesPacket(ports, pkt({})));
  assert.ok(!matchesPacket(ports, pkt({ dstPort: 4444 })));
  const v6 = must({ destination_prefix: '2001:db8::/32' });
  assert.ok(!matchesPacket(v6, pkt({})));
});

test('mitigation adapter: parse normalises, toRoute is deterministic, destination is reported', () => {
  const p = flowspecAdapter.parse({
    destination_prefix: '203.0.113.5/32',
    protocols: ['udp', 'tcp'],
    destination_ports: [443, 80],
  });
  assert.ok(p.ok);
  assert.deepEqual(p.rule.destination_ports, [80, 443]);
  assert.equal(p.rule.action_type, 'discard');
  assert.equal(p.destination?.len, 32);
  const a = flowspecAdapter.toRoute(p.rule, 'm1');
  const b = flowspecAdapter.toRoute(
    { destination_prefix: '203.0.113.5/32', protocols: [6, 17], destination_ports: [80, 443] },
    'm2',
  );
  assert.equal(a.key, b.key);
  assert.equal(a.owner, 'm1');
  const bad = flowspecAdapter.parse({ destination_prefix: '203.0.113.5/32', destination_ports: [80] });
  assert.ok(!bad.ok && /no protocols given/.test(bad.error));
  assert.throws(() => flowspecAdapter.toRoute({ destination_prefix: 'x' }, 'm3'), /FlowSpec rule refused/);
});
