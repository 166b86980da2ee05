/**
 * Synthetic traffic for `breakwater demo` and benchmarks: sFlow v5 datagrams (sFlow v5
 * spec, sflow.org "sFlow Version 5", §5: sample_datagram_v5 / flow_sample / sampled_header)
 * carrying Ethernet + IPv4 + TCP/UDP headers. Deterministic (seeded) so runs repeat.
 */
import { Writer } from '../wire/writer.js';
import { parseV4 } from '../wire/addr.js';

export interface SynthPacket {
  src: string;
  dst: string;
  protocol: 6 | 17 | 1;
  srcPort: number;
  dstPort: number;
  tcpFlags: number;
  /** IP total length. */
  ipLength: number;
}

/** Small deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Ethernet + IPv4 + L4 header bytes (no payload) for one packet. */
function packetHeader(p: SynthPacket): Uint8Array {
  const w = new Writer(64);
  w.bytes([0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2]).u16(0x0800);
  // IPv4 header, RFC 791 §3.1; checksum left 0 (collectors do not verify it).
  w.u8(0x45).u8(0).u16(p.ipLength).u16(0).u16(0x4000).u8(64).u8(p.protocol).u16(0);
  w.u32(parseV4(p.src)).u32(parseV4(p.dst));
  if (p.protocol === 6) {
    w.u16(p.srcPort).u16(p.dstPort).u32(1).u32(0).u8(0x50).u8(p.tcpFlags).u16(65535).u16(0).u16(0);
  } else if (p.protocol === 17) {
    w.u16(p.srcPort)
      .u16(p.dstPort)
      .u16(Math.max(8, p.ipLength - 20))
      .u16(0);
  } else {
    w.u8(8).u8(0).u16(0).u32(0);
  }
  return w.finish();
}

export interface SflowAgent {
  agent: string;
  sequence: number;
  sampleSequence: number;
  uptimeMs: number;
}

/** One sFlow v5 datagram holding one flow sample per packet. */
export function sflowDatagram(agent: SflowAgent, packets: SynthPacket[], samplingRate: number): Uint8Array {
  const w = new Writer(1400);
  w.u32(5)
    .u32(1)
    .u32(parseV4(agent.agent))
    .u32(0)
    .u32(++agent.sequence)
    .u32(agent.uptimeMs)
    .u32(packets.length);
  for (const p of packets) {
    const hdr = packetHeader(p);
    w.u32(1); // enterprise 0, format 1: flow_sample
    const sampleLen = w.placeholder(4);
    w.u32(++agent.sampleSequence)
      .u32(1)
      .u32(samplingRate)
      .u32(agent.sampleSequence * samplingRate)
      .u32(0);
    w.u32(1).u32(2).u32(1); // input ifIndex, output ifIndex, one record
    w.u32(1); // flow record: raw packet header
    const recLen = w.placeholder(4);
    w.u32(1)
      .u32(p.ipLength + 14 + 4)
      .u32(4)
      .u32(hdr.length); // ethernet, frame length incl. FCS, 4 stripped
    w.bytes(hdr).zeros((4 - (hdr.length % 4)) % 4);
    w.fillLength(recLen, 4);
    w.fillLength(sampleLen, 4);
  }
  return w.finish();
}

export type Scenario = 'background' | 'resolver' | 'syn_flood' | 'dns_amplification';

/**
 * Packets (before sampling) for one scenario. Background: web/DNS/NTP traffic to
 * 203.0.113.0/26 at low rates; SYN flood: spoofed SYNs to 203.0.113.10:80; DNS
 * amplification: large UDP replies from port 53 to 203.0.113.20. Resolver: the normal, small
 * DNS replies 203.0.113.20 gets from its resolver before the attack, so the host's baseline
 * holds the DNS traffic a FlowSpec rule must spare (the packet-length match is then kept).
 */
export function makePacket(kind: Scenario, r: () => number): SynthPacket {
  const rnd = (n: number) => Math.floor(r() * n);
  const remote = () => `198.51.100.${1 + rnd(200)}`;
  switch (kind) {
    case 'syn_flood':
      return {
        src: `${1 + rnd(220)}.${rnd(256)}.${rnd(256)}.${1 + rnd(254)}`,
        dst: '203.0.113.10',
        protocol: 6,
        srcPort: 1024 + rnd(60000),
        dstPort: 80,
        tcpFlags: 0x02,
        ipLength: 40,
      };
    case 'resolver':
      return {
        src: '198.51.100.53',
        dst: '203.0.113.20',
        protocol: 17,
        srcPort: 53,
        dstPort: 1024 + rnd(60000),
        tcpFlags: 0,
        ipLength: 80 + rnd(200),
      };
    case 'dns_amplification':
      return {
        src: `192.0.2.${1 + rnd(250)}`,
        dst: '203.0.113.20',
        protocol: 17,
        srcPort: 53,
        dstPort: 1024 + rnd(60000),
        tcpFlags: 0,
        ipLength: 1200 + rnd(300),
      };
    default: {
      const host = `203.0.113.${1 + rnd(40)}`;
      const x = r();
      if (x < 0.7)
        return {
          src: remote(),
          dst: host,
          protocol: 6,
          srcPort: 1024 + rnd(60000),
          dstPort: 443,
          tcpFlags: 0x10,
          ipLength: 200 + rnd(1300),
        };
      if (x < 0.9)
        return {
          src: remote(),
          dst: host,
          protocol: 17,
          srcPort: 53,
          dstPort: 1024 + rnd(60000),
          tcpFlags: 0,
          ipLength: 80 + rnd(200),
        };
      return { src: remote(), dst: host, protocol: 1, srcPort: 0, dstPort: 0, tcpFlags: 0, ipLength: 84 };
    }
  }
}
