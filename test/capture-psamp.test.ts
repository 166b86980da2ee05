/**
 * PSAMP packet reports (RFC 5476 §6.4, RFC 5477 §8.2): records that carry a raw packet section
 * (IPFIX IE 315 dataLinkFrameSection from the link layer, 313 ipHeaderPacketSection from the
 * IP header; NetFlow v9 104 layer2packetSectionData) instead of address fields. The decoder
 * parses the section with the frame parser and counts packets = packet count or 1,
 * bytes = octet count, else dataLinkFrameSize (312), else ipTotalLength (224), else the IP
 * header's total length. Golden datagrams are written field by field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writer } from '../src/wire/writer.js';
import { parseV4, v4ToString, v6ToString } from '../src/wire/addr.js';
import { FlowDecoder, type FlowRecord } from '../src/capture/index.js';

interface Got {
  src: string;
  dst: string;
  proto: number;
  sp: number;
  dp: number;
  flags: number;
  frag: boolean;
  icmp: [number, number];
  pkts: number;
  bytes: number;
  rate: number;
  header: number[] | null;
  link: number;
  frame: number;
}

function decoder(): { d: FlowDecoder; out: Got[] } {
  const out: Got[] = [];
  const d = new FlowDecoder({
    onFlow(r: FlowRecord) {
      out.push({
        src: r.ipVersion === 4 ? v4ToString(r.src4) : v6ToString(r.src6),
        dst: r.ipVersion === 4 ? v4ToString(r.dst4) : v6ToString(r.dst6),
        proto: r.protocol,
        sp: r.srcPort,
        dp: r.dstPort,
        flags: r.tcpFlags,
        frag: r.fragment,
        icmp: [r.icmpType, r.icmpCode],
        pkts: r.packets,
        bytes: r.bytes,
        rate: r.samplingRate,
        header: r.header ? [...r.header] : null,
        link: r.headerLinkType,
        frame: r.frameLength,
      });
    },
  });
  return { d, out };
}

/** Ethernet II header: dst MAC, src MAC, EtherType IPv4. */
function ether(w: Writer): void {
  w.bytes([0x02, 0, 0, 0, 0, 0x01]); // destination MAC
  w.bytes([0x02, 0, 0, 0, 0, 0x02]); // source MAC
  w.u16(0x0800); // EtherType IPv4
}

/** IPv4 header (RFC 791 §3.1), 20 bytes, no options. */
function ipv4(
  w: Writer,
  totalLen: number,
  proto: number,
  src: string,
  dst: string,
  flagsFrag = 0x4000,
): void {
  w.u8(0x45); // version 4, IHL 5
  w.u8(0); // DSCP/ECN
  w.u16(totalLen); // total length
  w.u16(0x1234); // identification
  w.u16(flagsFrag); // flags (DF) + fragment offset 0
  w.u8(64); // TTL
  w.u8(proto); // protocol
  w.u16(0); // header checksum (not checked)
  w.u32(parseV4(src)); // source
  w.u32(parseV4(dst)); // destination
}

/** TCP header (RFC 9293 §3.1) up to the flags: ports, seq, ack, offset, flags, window. */
function tcp(w: Writer, sp: number, dp: number, flags: number): void {
  w.u16(sp).u16(dp); // ports
  w.u32(1000); // sequence
  w.u32(0); // acknowledgment
  w.u8(0x50); // data offset 5
  w.u8(flags); // flags
  w.u16(65535); // window
  w.u16(0).u16(0); // checksum, urgent pointer
}

/** IPFIX message header (RFC 7011 §3.1) around the sets `body` writes. */
function ipfix(seq: number, body: (w: Writer) => void): Uint8Array {
  const w = new Writer();
  w.u16(10); // version
  const len = w.placeholder(2); // message length
  w.u32(1700000000); // export time
  w.u32(seq); // sequence number
  w.u32(7); // observation domain id
  body(w);
  w.fillLength(len, 2, 4);
  return w.finish();
}

function set(w: Writer, id: number, body: () => void): void {
  w.u16(id); // set id
  const at = w.placeholder(2); // set length
  body();
  w.fillLength(at, 2, 4);
}

test('golden: IPFIX packet report with dataLinkFrameSection (315, variable) and dataLinkFrameSize (312)', () => {
  // The frame section: 14 Ethernet + 20 IPv4 + 20 TCP = 54 bytes, a SYN to 198.51.100.9:443.
  const frame = new Writer();
  ether(frame);
  ipv4(frame, 1400, 6, '203.0.113.5', '198.51.100.9'); // IP total length 1400 (packet truncated by the exporter)
  tcp(frame, 40000, 443, 0x02);
  const section = frame.finish();
  assert.equal(section.length, 54);
  const msg = ipfix(0, (w) => {
    set(w, 2, () => {
      // Template set (RFC 7011 §3.4.1)
      w.u16(300); // template id
      w.u16(2); // field count
      w.u16(312).u16(2); // dataLinkFrameSize, 2 bytes
      w.u16(315).u16(0xffff); // dataLinkFrameSection, variable length (RFC 7011 §7)
    });
    set(w, 300, () => {
      w.u16(1418); // dataLinkFrameSize: the frame on the wire was 1418 bytes
      w.u8(section.length); // 1-byte variable-length prefix: 54
      w.bytes(section); // the section itself
      w.bytes([0, 0]); // set padding (RFC 7011 §3.3.1): ignored
    });
  });
  const { d, out } = decoder();
  d.decode(msg, '127.0.0.1', 1);
  assert.deepEqual(out, [
    {
      src: '203.0.113.5',
      dst: '198.51.100.9',
      proto: 6,
      sp: 40000,
      dp: 443,
      flags: 0x02,
      frag: false,
      icmp: [-1, -1],
      pkts: 1, // no packetDeltaCount: one report = one packet
      bytes: 1418, // no octetDeltaCount: dataLinkFrameSize
      rate: 1,
      header: [...section], // the link-layer section is handed to detection as the header
      link: 1, // Ethernet
      frame: 1418,
    },
  ]);
  assert.equal(d.stats()[0]!.malformed, 0);
});

test('IPFIX ipHeaderPacketSection (313, fixed) with counters, sampling and an IPv4 fragment; ipTotalLength (224) as bytes', () => {
  const { d, out } = decoder();
  const pkt = new Writer();
  ipv4(pkt, 576, 17, '192.0.2.1', '203.0.113.77', 0x2000); // MF set: first fragment
  pkt.u16(53).u16(4444).u16(556).u16(0); // UDP ports, length, checksum
  const sec = pkt.finish(); // 28 bytes
  const msg = ipfix(0, (w) => {
    set(w, 2, () => {
      w.u16(301).u16(3);
      w.u16(34).u16(4); // samplingInterval
      w.u16(224).u16(4); // ipTotalLength
      w.u16(313).u16(28); // ipHeaderPacketSection, fixed 28 bytes
      w.u16(302).u16(3);
      w.u16(2).u16(4); // packetDeltaCount
      w.u16(1).u16(4); // octetDeltaCount
      w.u16(313).u16(28);
    });
    set(w, 301, () => {
      w.u32(100).u32(576).bytes(sec); // 1:100, IP length 576
    });
    set(w, 302, () => {
      w.u32(3).u32(999).bytes(sec); // 3 packets, 999 octets: the record's counters win
    });
  });
  d.decode(msg, '127.0.0.1', 1);
  assert.equal(out.length, 2);
  assert.deepEqual(
    out.map((g) => [g.dst, g.proto, g.sp, g.dp, g.frag, g.pkts, g.bytes, g.header, g.link]),
    [
      ['203.0.113.77', 17, 53, 4444, true, 100, 57600, null, 0], // 1 x 100, 576 x 100; an IP section is no link-layer header
      ['203.0.113.77', 17, 53, 4444, true, 3, 999, null, 0],
    ],
  );
});

/** NetFlow v9 export packet (RFC 3954 §5.1). */
function v9(seq: number, count: number, body: (w: Writer) => void): Uint8Array {
  const w = new Writer();
  w.u16(9).u16(count); // version, record count
  w.u32(123456); // sysUptime
  w.u32(1700000000); // unix secs
  w.u32(seq); // sequence
  w.u32(1); // source id
  body(w);
  return w.finish();
}

test('NetFlow v9 layer2packetSectionData (104) with a size (103); zero-filled address fields; ICMP; IP length as bytes', () => {
  const f = new Writer();
  ether(f);
  ipv4(f, 84, 1, '198.51.100.1', '203.0.113.200');
  f.u8(8).u8(0).u16(0).u32(0x00010001); // ICMP echo request
  const section = f.finish(); // 14 + 20 + 8 = 42
  const padded = new Uint8Array(64);
  padded.set(section);
  const msg = v9(0, 2, (w) => {
    set(w, 0, () => {
      w.u16(260).u16(4); // template 260, 4 fields
      w.u16(8).u16(4); // IPV4_SRC_ADDR (sent as zero)
      w.u16(12).u16(4); // IPV4_DST_ADDR (sent as zero)
      w.u16(103).u16(2); // layer2packetSectionSize
      w.u16(104).u16(64); // layer2packetSectionData, 64 bytes, zero padded
    });
    set(w, 260, () => {
      w.u32(0).u32(0).u16(section.length).bytes(padded);
    });
  });
  const { d, out } = decoder();
  d.decode(msg, '127.0.0.1', 1);
  assert.equal(out.length, 1);
  const g = out[0]!;
  assert.deepEqual(
    [g.src, g.dst, g.proto, g.icmp, g.pkts, g.bytes, g.link],
    ['198.51.100.1', '203.0.113.200', 1, [8, 0], 1, 84, 1],
  );
  assert.deepEqual(g.header, [...section]); // trimmed to the section size, not the padding
});

test('a section without IP (ARP) is counted without an address; a later ordinary record carries no stale header', () => {
  const arp = new Writer();
  arp.bytes([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 2]).u16(0x0806).bytes(new Array(28).fill(0));
  const a = arp.finish();
  const msg = ipfix(0, (w) => {
    set(w, 2, () => {
      w.u16(310).u16(1);
      w.u16(315).u16(0xffff);
      w.u16(311).u16(3);
      w.u16(8).u16(4);
      w.u16(12).u16(4);
      w.u16(2).u16(4);
    });
    set(w, 310, () => {
      w.u8(a.length).bytes(a);
    });
    set(w, 311, () => {
      w.u32(parseV4('192.0.2.1')).u32(parseV4('192.0.2.2')).u32(5);
    });
  });
  const { d, out } = decoder();
  d.decode(msg, '127.0.0.1', 1);
  assert.deepEqual(
    out.map((g) => [g.dst, g.pkts, g.header, g.link]),
    [['192.0.2.2', 5, null, 0]],
  );
  assert.equal(d.stats()[0]!.records, 2);
});
