/**
 * Flow filters: the compiled predicate agrees with a plain reference evaluation of the
 * rules on random records and random rule lists (first match decides, allow-list default);
 * hits are counted per rule; config errors in rules are one line file:line:col; the
 * detector does not count what a filter drops (capture-wide and per hostgroup, e.g. UDP from
 * port 443 of a CDN prefix towards the video hostgroup) and a reload applies new rules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { codegen, compileFilter } from '../src/capture/filter.js';
import { newFlowRecord, type FlowRecord } from '../src/capture/flow.js';
import {
  ConfigError,
  parseConfig,
  loadConfig,
  type Config,
  type FlowFilterRule,
} from '../src/config/index.js';
import { parseRange, parseTcpFlags } from '../src/config/filters.js';
import { createDetector } from '../src/detection/index.js';
import { parseV4, parseV6, prefixContains, type Prefix } from '../src/wire/addr.js';
import { tempDir } from './helpers/daemon.js';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- reference: the rules evaluated the obvious way
const inRanges = (v: number, rs: readonly (readonly [number, number])[]) =>
  rs.some(([lo, hi]) => v >= lo && v <= hi);
function addrBytes(r: FlowRecord, side: 's' | 'd'): Uint8Array {
  if (r.ipVersion === 6) return side === 's' ? r.src6 : r.dst6;
  const v = side === 's' ? r.src4 : r.dst4;
  return new Uint8Array([v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
}
const inPrefixes = (r: FlowRecord, side: 's' | 'd', ps: readonly Prefix[]) =>
  ps.some((p) => p.family === r.ipVersion && prefixContains(p, addrBytes(r, side)));
function refMatch(rule: FlowFilterRule, r: FlowRecord): boolean {
  const len = r.packetLength > 0 ? r.packetLength : r.packets > 0 ? Math.round(r.bytes / r.packets) : 0;
  const f = rule.tcp_flags;
  return (
    (!rule.source_prefixes.length || inPrefixes(r, 's', rule.source_prefixes)) &&
    (!rule.destination_prefixes.length || inPrefixes(r, 'd', rule.destination_prefixes)) &&
    (!rule.protocol.length || rule.protocol.includes(r.protocol)) &&
    (!(f.set | f.clear) ||
      (r.protocol === 6 && (r.tcpFlags & f.set) === f.set && (r.tcpFlags & f.clear) === 0)) &&
    (!rule.source_ports.length || inRanges(r.srcPort, rule.source_ports)) &&
    (!rule.destination_ports.length || inRanges(r.dstPort, rule.destination_ports)) &&
    (!rule.exporters.length || rule.exporters.includes(r.exporter)) &&
    (!rule.input_interfaces.length || inRanges(r.ifIn, rule.input_interfaces)) &&
    (!rule.output_interfaces.length || inRanges(r.ifOut, rule.output_interfaces)) &&
    (!rule.packet_length.length || inRanges(len, rule.packet_length))
  );
}
function refKeep(rules: readonly FlowFilterRule[], r: FlowRecord): { keep: boolean; rule: number } {
  for (let i = 0; i < rules.length; i++)
    if (refMatch(rules[i]!, r)) return { keep: rules[i]!.action === 'keep', rule: i };
  return { keep: !rules.every((x) => x.action === 'keep'), rule: rules.length };
}

const V4 = ['10.0.0.0/8', '10.1.2.0/24', '192.0.2.128/25', '0.0.0.0/0', '203.0.113.7/32', '10.1.2.0/23'];
const V6 = ['2001:db8::/32', '2001:db8:1::/48', '2001:db8:1:2::/63', '::/0', '2001:db8::5/128'];
const EXPORTERS = ['192.0.2.1', '192.0.2.2', '2001:db8::e'];
function pfx(t: string): Prefix {
  const [a, l] = t.split('/');
  const v4 = parseV4(a!);
  const bytes =
    v4 >= 0 ? new Uint8Array([v4 >>> 24, (v4 >>> 16) & 255, (v4 >>> 8) & 255, v4 & 255]) : parseV6(a!)!;
  return { family: v4 >= 0 ? 4 : 6, bytes, len: Number(l) };
}

function randomRule(r: () => number): FlowFilterRule {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const maybe = <T>(f: () => T[]): T[] => (r() < 0.3 ? f() : []);
  const range = (max: number): [number, number] => {
    const a = Math.floor(r() * max);
    return r() < 0.4 ? [a, a] : [a, Math.min(max, a + Math.floor(r() * max))];
  };
  const flags =
    r() < 0.2
      ? parseTcpFlags(pick(['syn', 'syn,!ack', 'ack', '!syn', 'fin,ack,!rst']))
      : { set: 0, clear: 0 };
  return {
    action: r() < 0.5 ? 'drop' : 'keep',
    source_prefixes: maybe(() => [pfx(pick(V4)), pfx(pick(V6))].slice(0, 1 + Math.floor(r() * 2))),
    destination_prefixes: maybe(() => [pfx(pick([...V4, ...V6]))]),
    protocol: maybe(() => [pick([6, 17, 1, 58]), pick([6, 17])]),
    source_ports: maybe(() => [range(1100), range(65535)]),
    destination_ports: maybe(() => [range(1100)]),
    tcp_flags: flags,
    exporters: maybe(() => [pick(EXPORTERS)]),
    input_interfaces: maybe(() => [range(8)]),
    output_interfaces: maybe(() => [range(8)]),
    packet_length: maybe(() => [range(1500)]),
    where: 'test:1:1',
  };
}

function randomRecord(r: () => number, rec = newFlowRecord()): FlowRecord {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const v6 = r() < 0.4;
  rec.ipVersion = v6 ? 6 : 4;
  const near4 = () =>
    (pick([0x0a010200, 0x0a010300, 0xc0000280, 0xcb007107, 0x0a000000]) + Math.floor(r() * 300)) >>> 0;
  rec.src4 = near4();
  rec.dst4 = near4();
  for (const b of [rec.src6, rec.dst6]) {
    b.set(parseV6(pick(['2001:db8:1:2::', '2001:db8:1:3::', '2001:db8::5', '2001:db9::']))!);
    b[15] = Math.floor(r() * 256);
    if (r() < 0.3) b[7] = Math.floor(r() * 4);
  }
  rec.protocol = pick([6, 17, 1, 58, 47]);
  rec.srcPort = r() < 0.5 ? Math.floor(r() * 1100) : Math.floor(r() * 65536);
  rec.dstPort = Math.floor(r() * 1100);
  rec.tcpFlags = Math.floor(r() * 256);
  rec.exporter = pick(EXPORTERS);
  rec.ifIn = Math.floor(r() * 9);
  rec.ifOut = Math.floor(r() * 9);
  rec.packetLength = r() < 0.5 ? Math.floor(r() * 1500) : 0;
  rec.packets = 1 + Math.floor(r() * 10);
  rec.bytes = rec.packets * Math.floor(r() * 1500);
  return rec;
}

for (const compiled of [true, false])
  test(`filter: the ${compiled ? 'compiled' : 'interpreted (no code generation)'} predicate equals the reference on 2,000 random rule lists x 500 records, hits counted per rule`, () => {
    codegen.enabled = compiled;
    const r = rng(19);
    const rec = newFlowRecord();
    for (let k = 0; k < 2000; k++) {
      const rules = Array.from({ length: 1 + Math.floor(r() * 10) }, () => randomRule(r));
      const f = compileFilter(rules)!;
      const want = new Float64Array(rules.length + 1);
      for (let i = 0; i < 500; i++) {
        randomRecord(r, rec);
        const ref = refKeep(rules, rec);
        if (ref.rule < rules.length || !ref.keep) want[ref.rule]!++;
        assert.equal(
          f.keep(rec),
          ref.keep,
          `list ${k} record ${i}: ${JSON.stringify(rules[ref.rule] ?? 'default')}`,
        );
      }
      assert.deepEqual([...f.hits], [...want], `hits of list ${k}`);
    }
    assert.equal(compileFilter([]), null);
    codegen.enabled = true;
  });

test('filter values: ranges, protocol names and TCP flags parse as documented; bad ones say why', () => {
  assert.deepEqual(parseRange('>=1024', 65535, 'port'), [1024, 65535]);
  assert.deepEqual(parseRange('<1024', 65535, 'port'), [0, 1023]);
  assert.deepEqual(parseRange('>80', 65535, 'port'), [81, 65535]);
  assert.deepEqual(parseRange('1000-2000', 65535, 'port'), [1000, 2000]);
  assert.deepEqual(parseRange(53, 65535, 'port'), [53, 53]);
  assert.throws(() => parseRange('2000-1000', 65535, 'port'), /range is empty/);
  assert.throws(() => parseRange('70000', 65535, 'port'), /70000 is over 65535/);
  assert.deepEqual(parseTcpFlags('syn,!ack'), { set: 2, clear: 16 });
  assert.throws(() => parseTcpFlags(['syn', '!syn']), /both set and clear/);
});

const BASE = `networks: [10.0.0.0/8, 2001:db8::/32]
capture:
  listeners: []
  filters:
    - action: drop
      match: { protocol: udp, source_ports: 443, source_prefixes: [192.0.2.0/24] }
`;

test('filter config: rules resolve with their location; errors are file:line:col: path: message', () => {
  const c = parseConfig('/tmp/bw.yaml', BASE);
  assert.equal(c.filters?.length, 1);
  assert.equal(c.filters![0]!.where, '/tmp/bw.yaml:5:7');
  assert.deepEqual(c.filters![0]!.protocol, [17]);
  const bad = `networks: [10.0.0.0/8]
capture:
  filters:
    - action: drop
      match:
        protocol: tcpp
        source_ports: ">=70000"
        destination_ports: [80, "90-70"]
        tcp_flags: "syn,!bogus"
        source_prefixes: [10.0.0.1/8]
    - action: reject
      match: { colour: red }
`;
  try {
    parseConfig('/tmp/bw.yaml', bad);
    assert.fail('should not load');
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    assert.deepEqual(e.errors, [
      '/tmp/bw.yaml:6:19: capture.filters[0].match.protocol[0]: invalid protocol "tcpp": expected 0..255 or a name (icmp, igmp, tcp, udp, gre, esp, ah, icmpv6, ipv6-icmp, ospf, pim, sctp)',
      '/tmp/bw.yaml:7:23: capture.filters[0].match.source_ports[0]: invalid port ">=70000": 70000 is over 65535',
      '/tmp/bw.yaml:8:33: capture.filters[0].match.destination_ports[1]: invalid port "90-70": the range is empty (90 > 70)',
      '/tmp/bw.yaml:9:20: capture.filters[0].match.tcp_flags: invalid TCP flag "!bogus": expected fin, syn, rst, psh, ack, urg, ece, cwr, with "!" for a flag that must be clear',
      '/tmp/bw.yaml:10:27: capture.filters[0].match.source_prefixes[0]: prefix 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)',
      '/tmp/bw.yaml:11:15: capture.filters[1].action: expected one of drop, keep, got "reject"',
      '/tmp/bw.yaml:12:16: capture.filters[1].match.colour: unknown key (expected one of: source_prefixes, destination_prefixes, protocol, source_ports, destination_ports, tcp_flags, exporters, input_interfaces, output_interfaces, packet_length)',
    ]);
  }
});

function udp(rec: FlowRecord, src: string, dst: string, sport: number, packets: number): FlowRecord {
  rec.ipVersion = 4;
  rec.src4 = parseV4(src);
  rec.dst4 = parseV4(dst);
  rec.protocol = 17;
  rec.srcPort = sport;
  rec.dstPort = 40000;
  rec.packets = packets;
  rec.bytes = packets * 1000;
  rec.flows = 1;
  rec.exporter = '192.0.2.1';
  rec.timeMs = Date.now();
  return rec;
}

test('filters in detection: capture-wide and per hostgroup (UDP from 443 of the CDN towards video is not counted); reload applies new rules', () => {
  const dir = tempDir('filters');
  mkdirSync(join(dir, 'policies'));
  writeFileSync(
    join(dir, 'policies', 'video.yaml'),
    `prefixes: [10.9.0.0/16]
filters:
  - action: drop
    match: { source_prefixes: [198.51.100.0/24], protocol: udp, source_ports: 443 }
`,
  );
  const write = (extra: string) =>
    writeFileSync(
      join(dir, 'bw.yaml'),
      `networks: [10.0.0.0/8]\ncapture: { listeners: [] }\npolicies: policies\n${extra}`,
    );
  write('');
  let t = 1_000_000;
  const now = () => t;
  let cfg: Config = loadConfig(join(dir, 'bw.yaml'));
  const det = createDetector(cfg, { now });
  const rec = newFlowRecord();
  const feed = () => {
    det.sink.onFlow(udp(rec, '198.51.100.5', '10.9.0.1', 443, 100)); // CDN QUIC to video: filtered for video
    det.sink.onFlow(udp(rec, '198.51.100.5', '10.9.0.1', 53, 10)); // same CDN, port 53: counted
    det.sink.onFlow(udp(rec, '198.51.100.5', '10.1.0.1', 443, 1000)); // CDN to a default host: counted
    det.sink.onFlow(udp(rec, '203.0.113.9', '10.1.0.1', 443, 7)); // counted (until the reload)
  };
  const second = () => {
    for (let i = 0; i < 10; i++) {
      feed();
      t += 100;
      det.advance(t);
    }
  };
  second();
  assert.equal(det.hostRates('10.9.0.1')!.in_packets, 100);
  assert.equal(det.hostRates('10.1.0.1')!.in_packets, 10070);
  assert.equal(det.hostgroupRates('video')!.in_udp_packets, 100);
  let hits = det.filterHits();
  assert.deepEqual(
    hits.map((h) => [h.scope, h.rule, h.action, h.hits]),
    [['hostgroup:video', 0, 'drop', 10]],
  );
  assert.equal(det.detectionStats().filtered, 10);
  // Reload: a capture-wide rule drops everything from 203.0.113.0/24.
  writeFileSync(
    join(dir, 'bw.yaml'),
    `networks: [10.0.0.0/8]\ncapture:\n  listeners: []\n  filters:\n    - { action: drop, match: { source_prefixes: [203.0.113.0/24] } }\npolicies: policies\n`,
  );
  cfg = loadConfig(join(dir, 'bw.yaml'));
  det.reconfigure(cfg);
  second();
  second();
  assert.equal(det.hostRates('10.1.0.1')!.in_packets, 10000);
  assert.equal(det.hostRates('10.9.0.1')!.in_packets, 100);
  hits = det.filterHits();
  assert.deepEqual(
    hits.map((h) => [h.scope, h.rule, h.hits]),
    [
      ['capture', 0, 20],
      ['hostgroup:video', 0, 20],
    ],
  );
});
