/**
 * Rule generation on the port-mirror fixtures: background plus syn_flood / udp_dns_amp.
 * Samples come from the real capture path (pcap reader + mirror decoder). As the detector
 * would, the victim's samples inside the attack window are the attack and the victim's
 * samples before it are the baseline.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readPcap } from '../src/capture/formats/pcap.js';
import { MirrorDecoder } from '../src/capture/input/mirror.js';
import type { FlowRecord, FlowSample } from '../src/capture/flow.js';
import { v4ToString, v6ToString } from '../src/wire/addr.js';
import {
  generateRules,
  matchesPacket,
  packetFromSample,
  type GeneratedRules,
} from '../src/flowspec/index.js';

const fixture = (name: string) => new URL(`../../test/fixtures/flowspec/${name}`, import.meta.url);

function samplesOf(file: string): FlowSample[] {
  const out: FlowSample[] = [];
  const sink = {
    onFlow(r: FlowRecord) {
      out.push({
        timeMs: r.timeMs,
        ipVersion: r.ipVersion,
        src: r.ipVersion === 4 ? v4ToString(r.src4) : v6ToString(r.src6),
        dst: r.ipVersion === 4 ? v4ToString(r.dst4) : v6ToString(r.dst6),
        protocol: r.protocol,
        srcPort: r.srcPort,
        dstPort: r.dstPort,
        icmpType: r.icmpType,
        icmpCode: r.icmpCode,
        tcpFlags: r.tcpFlags,
        fragment: r.fragment,
        packetLength: r.packetLength,
        packets: r.packets,
        bytes: r.bytes,
        samplingRate: r.samplingRate,
        exporter: r.exporter,
        ...(r.header ? { header: Uint8Array.from(r.header) } : {}),
      });
    },
  };
  const dec = new MirrorDecoder(sink, 'mirror:test');
  for (const p of readPcap(readFileSync(fixture(file))).packets)
    dec.onFrame(p.data, p.origLen, p.linkType, p.tsMs);
  return out;
}

// Fixture timeline: t=0 is epoch 1700000000; attacks run at t=12-15 s (fixtures README).
const T0 = 1_700_000_000_000;
const ATTACK_START = T0 + 12_000;
const ATTACK_END = T0 + 15_100;

function split(all: FlowSample[], victim: string) {
  const v = all.filter((s) => s.dst === victim);
  return {
    attack: v.filter((s) => s.timeMs >= ATTACK_START && s.timeMs < ATTACK_END),
    baseline: v.filter((s) => s.timeMs < ATTACK_START),
  };
}

const background = samplesOf('background.pcap');

/** Fraction of background.pcap packets to `victim` that the generated rules match. */
function backgroundHit(g: GeneratedRules, victim: string): { hit: number; total: number } {
  const pkts = background.filter((s) => s.dst === victim).map(packetFromSample);
  let hit = 0;
  for (const p of pkts) if (g.rules.some((r) => matchesPacket(r.rule, p))) hit++;
  return { hit, total: pkts.length };
}

test('SYN flood: destination /32, protocol tcp, tcp_flags syn, destination port 80; spares background', () => {
  const { attack, baseline } = split(samplesOf('syn_flood.pcap'), '203.0.113.10');
  assert.ok(
    attack.length > 17_000 && baseline.length > 20,
    `${attack.length} attack, ${baseline.length} baseline`,
  );
  const g = generateRules(attack, baseline, { coverage: 0.95 });
  assert.ok(g.ok, g.explanation);
  assert.equal(g.rules.length, 1, g.explanation);
  const j = g.rules[0]!.json;
  assert.equal(j.destination_prefix, '203.0.113.10/32');
  assert.deepEqual(j.protocols, ['tcp']);
  assert.deepEqual(j.tcp_flags, ['syn']);
  assert.deepEqual(j.destination_ports, [80]);
  assert.equal(j.source_ports, undefined, 'spoofed source ports must not become a component');
  assert.equal(j.source_prefix, undefined, 'spoofed sources are not concentrated');
  // Legitimate SYNs to :80 carry options (52 bytes); the flood's are 40: the length
  // component is what keeps the rule off the host's normal handshakes.
  assert.deepEqual(j.packet_lengths, [40]);
  assert.ok(g.coverage >= 0.95, `coverage ${g.coverage}`);
  const bg = backgroundHit(g, '203.0.113.10');
  assert.ok(bg.total > 100);
  assert.ok(bg.hit / bg.total <= 0.01, `matches ${bg.hit}/${bg.total} background packets`);
  assert.match(g.explanation, /tcp-flags syn: 99\.\d% of the victim's sampled attack packets/);
});

test('DNS amplification: destination /32, protocol udp, source port 53 + packet-length range; fragments handled', () => {
  const { attack, baseline } = split(samplesOf('udp_dns_amp.pcap'), '203.0.113.20');
  const g = generateRules(attack, baseline, { coverage: 0.95 });
  assert.ok(g.ok, g.explanation);
  const first = g.rules[0]!.json;
  assert.equal(first.destination_prefix, '203.0.113.20/32');
  assert.deepEqual(first.protocols, ['udp']);
  assert.deepEqual(first.source_ports, [53]);
  assert.equal(first.destination_ports, undefined);
  const lens = first.packet_lengths as string[];
  assert.equal(lens.length, 1);
  const m = /^(\d+)-(\d+)$/.exec(lens[0]!);
  assert.ok(m, `packet_lengths ${lens[0]}`);
  // Legitimate replies to the resolver are 70-260 bytes; the amplified ones 1,200 and up.
  assert.ok(Number(m[1]) > 260 && Number(m[2]) <= 1500, lens[0]);
  // Later fragments carry no UDP header: a router cannot match them on port 53, so a second
  // rule takes them by the fragment bit.
  assert.equal(g.rules.length, 2, g.explanation);
  const second = g.rules[1]!.json;
  assert.equal(second.destination_prefix, '203.0.113.20/32');
  assert.deepEqual(second.fragmentation_flags, ['is-fragment']);
  assert.ok(g.coverage >= 0.95, `coverage ${g.coverage}`);
  assert.ok(g.rules[0]!.coverage > 0.5 && g.rules[1]!.coverage > 0.3);
  const bg = backgroundHit(g, '203.0.113.20');
  assert.ok(bg.total > 50);
  assert.ok(bg.hit / bg.total <= 0.01, `matches ${bg.hit}/${bg.total} background packets`);
  assert.match(g.explanation, /source-port 53: \d+\.\d% of the victim's sampled attack packets/);
});

test('generation is deterministic whatever the sample order', () => {
  const { attack, baseline } = split(samplesOf('udp_dns_amp.pcap'), '203.0.113.20');
  const a = generateRules(attack, baseline);
  // A fixed permutation (reverse, then interleave halves).
  const rev = [...attack].reverse();
  const mixed = rev.filter((_, i) => i % 2 === 0).concat(rev.filter((_, i) => i % 2 === 1));
  const b = generateRules(mixed, [...baseline].reverse());
  assert.deepEqual(
    b.rules.map((r) => r.json),
    a.rules.map((r) => r.json),
  );
  assert.equal(b.explanation, a.explanation);
});

test('without a baseline, optional components are left out (shorter rules win)', () => {
  const { attack } = split(samplesOf('syn_flood.pcap'), '203.0.113.10');
  const g = generateRules(attack, []);
  const j = g.rules[0]!.json;
  assert.equal(j.packet_lengths, undefined);
  assert.deepEqual(j.tcp_flags, ['syn']);
  assert.deepEqual(j.destination_ports, [80]);
});

test('generated rules carry the requested action and a concentrated source becomes a prefix', () => {
  const mk = (src: string, sport: number, len: number, dst = '198.51.100.7'): FlowSample => ({
    timeMs: 0,
    ipVersion: 4,
    src,
    dst,
    protocol: 17,
    srcPort: sport,
    dstPort: 4444,
    icmpType: -1,
    icmpCode: -1,
    tcpFlags: 0,
    fragment: false,
    packetLength: len,
    packets: 10,
    bytes: 10 * len,
    samplingRate: 10,
    exporter: 'x',
  });
  const attack = Array.from({ length: 200 }, (_, i) => mk(`192.0.2.${i % 250}`, 1000 + i, 512));
  // The victim's normal traffic: the same port and size from elsewhere.
  const baseline = Array.from({ length: 50 }, (_, i) => mk(`203.0.113.${i}`, 2000 + i, 512));
  const g = generateRules(attack, baseline, { action_type: 'rate-limit', action: { rate: 1000 } });
  const j = g.rules[0]!.json;
  assert.equal(j.source_prefix, '192.0.2.0/24');
  assert.equal(j.action_type, 'rate-limit');
  assert.deepEqual(j.action, { rate: 1000 });
  assert.deepEqual(j.destination_ports, [4444]);
  assert.equal(g.baselineFraction, 0);
});
