/**
 * Golden byte tests: datagrams built field by field (each write says which field it is)
 * and the FlowRecords they must produce. RFC sections: NetFlow v9 RFC 3954 §5-6,
 * IPFIX RFC 7011 §3, §7, §8; sFlow v5 spec §5; NetFlow v5 Cisco export format.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writer } from '../src/wire/writer.js';
import { parseV4, parseV6, v4ToString, v6ToString } from '../src/wire/addr.js';
import { readFileSync } from 'node:fs';
import { FlowDecoder, capturePayloads, type FlowRecord, type FlowSink } from '../src/capture/index.js';
import { codegen } from '../src/capture/formats/codegen.js';

interface Snap {
  exporter: string;
  src: string;
  dst: string;
  proto: number;
  sp: number;
  dp: number;
  flags: number;
  pkts: number;
  bytes: number;
  flows: number;
  rate: number;
  dur: number;
  ifIn: number;
  ifOut: number;
  dropped: boolean;
  reverse: boolean;
  frag: boolean;
  icmp: [number, number];
  frame: number;
}

function collector(): { sink: FlowSink; out: Snap[] } {
  const out: Snap[] = [];
  return {
    out,
    sink: {
      onFlow(r: FlowRecord) {
        out.push({
          exporter: r.exporter,
          src: r.ipVersion === 4 ? v4ToString(r.src4) : v6ToString(r.src6),
          dst: r.ipVersion === 4 ? v4ToString(r.dst4) : v6ToString(r.dst6),
          proto: r.protocol,
          sp: r.srcPort,
          dp: r.dstPort,
          flags: r.tcpFlags,
          pkts: r.packets,
          bytes: r.bytes,
          flows: r.flows,
          rate: r.samplingRate,
          dur: r.durationMs,
          ifIn: r.ifIn,
          ifOut: r.ifOut,
          dropped: r.dropped,
          reverse: r.reverse,
          frag: r.fragment,
          icmp: [r.icmpType, r.icmpCode],
          frame: r.frameLength,
        });
      },
    },
  };
}

const ip4 = (s: string) => parseV4(s);
const ip6 = (s: string) => parseV6(s)!;

test('NetFlow v5: header sampling 0x4064 = 1:100, records, ICMP in dst port, flow_sequence gaps', () => {
  const { sink, out } = collector();
  const d = new FlowDecoder(sink);
  const dgram = (seq: number, n: number) => {
    const w = new Writer();
    w.u16(5); // version
    w.u16(n); // count
    w.u32(1000); // sysUptime ms
    w.u32(1700000000); // unix_secs
    w.u32(0); // unix_nsecs
    w.u32(seq); // flow_sequence (flows seen before this datagram)
    w.u8(0).u8(0); // engine_type, engine_id
    w.u16(0x4000 | 100); // sampling_interval: mode 1 (packet interval), interval 100
    for (let i = 0; i < n; i++) {
      const icmp = i === 1;
      w.u32(ip4('192.0.2.1')); // srcaddr
      w.u32(ip4('203.0.113.10')); // dstaddr
      w.u32(0); // nexthop
      w.u16(3).u16(4); // input, output ifIndex
      w.u32(2); // dPkts
      w.u32(120); // dOctets
      w.u32(500).u32(1500); // first, last (sysUptime ms)
      w.u16(icmp ? 0 : 40000).u16(icmp ? 0x0303 : 80); // srcport, dstport (ICMP: type 3 code 3)
      w.u8(0); // pad1
      w.u8(icmp ? 0 : 0x02); // tcp_flags
      w.u8(icmp ? 1 : 6); // prot
      w.u8(0); // tos
      w.u16(0).u16(0).u8(0).u8(0).u16(0); // src_as, dst_as, src_mask, dst_mask, pad2
    }
    return w.finish();
  };
  d.decode(dgram(10, 2), '198.51.100.1', 1);
  d.decode(dgram(15, 1), '198.51.100.1', 2); // expected 12: 3 flows lost
  assert.equal(out.length, 3);
  assert.deepEqual(
    { ...out[0]!, icmp: out[0]!.icmp },
    {
      exporter: '198.51.100.1',
      src: '192.0.2.1',
      dst: '203.0.113.10',
      proto: 6,
      sp: 40000,
      dp: 80,
      flags: 2,
      pkts: 200,
      bytes: 12000,
      flows: 100,
      rate: 100,
      dur: 1000,
      ifIn: 3,
      ifOut: 4,
      dropped: false,
      reverse: false,
      frag: false,
      icmp: [-1, -1],
      frame: 0,
    },
  );
  assert.deepEqual(out[1]!.icmp, [3, 3]);
  assert.equal(out[1]!.dp, 0);
  const st = d.stats()[0]!;
  assert.equal(st.records, 3);
  assert.equal(st.sequenceGaps, 3);
  assert.equal(st.malformed, 0);
  // A count larger than the datagram is malformed, and decoding goes on.
  const bad = dgram(16, 1);
  bad[3] = 9;
  d.decode(bad, '198.51.100.1', 3);
  assert.equal(d.stats()[0]!.malformed, 1);
  assert.equal(out.length, 3);
});

/** NetFlow v9 header: version, count, sysUptime, unix secs, sequence, source id. */
function v9Header(w: Writer, seq: number, sourceId: number) {
  w.u16(9); // version
  w.u16(0); // count (informational)
  w.u32(10_000); // sysUptime
  w.u32(1700000000); // unix secs
  w.u32(seq); // package sequence
  w.u32(sourceId); // source id
}

test('NetFlow v9: template, options template with sampler ids, 64-bit counters, uptime wrap, forwarding status', () => {
  const { sink, out } = collector();
  const d = new FlowDecoder(sink);
  const w = new Writer();
  v9Header(w, 7, 3);
  // Template FlowSet (id 0)
  let set = w.placeholder(4); // set id 0 + length, filled below
  w.setUint(set, 0, 2);
  w.u16(256).u16(11); // template id 256, 11 fields
  w.u16(8).u16(4); // IPV4_SRC_ADDR
  w.u16(12).u16(4); // IPV4_DST_ADDR
  w.u16(7).u16(2); // L4_SRC_PORT
  w.u16(11).u16(2); // L4_DST_PORT
  w.u16(4).u16(1); // PROTOCOL
  w.u16(6).u16(1); // TCP_FLAGS
  w.u16(2).u16(4); // IN_PKTS (32-bit)
  w.u16(1).u16(8); // IN_BYTES (64-bit)
  w.u16(22).u16(4); // FIRST_SWITCHED
  w.u16(21).u16(4); // LAST_SWITCHED
  w.u16(48).u16(1); // FLOW_SAMPLER_ID
  w.setUint(set + 2, w.pos - set, 2);
  // Options Template FlowSet (id 1), RFC 3954 §6.1
  set = w.pos;
  w.u16(1).u16(0); // set id 1, length (filled)
  w.u16(257); // template id
  w.u16(4); // option scope length: one scope field
  w.u16(12); // option length: three fields
  w.u16(1).u16(4); // scope: System, 4 bytes
  w.u16(48).u16(1); // FLOW_SAMPLER_ID
  w.u16(49).u16(1); // FLOW_SAMPLER_MODE
  w.u16(50).u16(4); // FLOW_SAMPLER_RANDOM_INTERVAL
  w.u16(0); // padding to 4 bytes
  w.setUint(set + 2, w.pos - set, 2);
  // Options data (id 257): two samplers
  set = w.pos;
  w.u16(257).u16(0);
  w.u32(0).u8(1).u8(2).u32(10); // system 0, sampler 1, random, 1:10
  w.u32(0).u8(2).u8(2).u32(50); // system 0, sampler 2, random, 1:50
  w.u16(0); // padding
  w.setUint(set + 2, w.pos - set, 2);
  // Data FlowSet (id 256): two records
  set = w.pos;
  w.u16(256).u16(0);
  // record 1: sampler 1, uptime wraps between first and last
  w.u32(ip4('192.0.2.7'))
    .u32(ip4('203.0.113.20'))
    .u16(53)
    .u16(33000)
    .u8(17)
    .u8(0)
    .u32(3)
    .u64(4_294_967_296 + 5);
  w.u32(0xffffff00).u32(0x00000100).u8(1); // first, last (wrapped: 512 ms), sampler 1
  // record 2: sampler 2
  w.u32(ip4('192.0.2.8')).u32(ip4('203.0.113.20')).u16(1234).u16(80).u8(6).u8(0x12).u32(1).u64(60);
  w.u32(9000).u32(9000).u8(2);
  w.zeros(2); // padding (less than a record)
  w.setUint(set + 2, w.pos - set, 2);
  d.decode(w.finish(), '198.51.100.2', 1);
  assert.equal(out.length, 2);
  assert.deepEqual(
    [out[0]!.rate, out[0]!.pkts, out[0]!.bytes, out[0]!.dur],
    [10, 30, (4_294_967_296 + 5) * 10, 512],
  );
  assert.deepEqual(
    [out[0]!.src, out[0]!.dst, out[0]!.sp, out[0]!.dp, out[0]!.proto],
    ['192.0.2.7', '203.0.113.20', 53, 33000, 17],
  );
  assert.deepEqual(
    [out[1]!.rate, out[1]!.pkts, out[1]!.bytes, out[1]!.flags, out[1]!.dur],
    [50, 50, 3000, 0x12, 0],
  );
  const st = d.stats()[0]!;
  assert.equal(st.optionsRecords, 2);
  assert.deepEqual(st.sampling, { 'nf9/3/1': 10, 'nf9/3/2': 50 });
  assert.equal(st.templates, 2);

  // Next packet: sequence 9 (8 lost), a template with FORWARDING_STATUS, a dropped record.
  const w2 = new Writer();
  v9Header(w2, 9, 3);
  set = w2.pos;
  w2.u16(0).u16(0);
  w2.u16(258).u16(4); // template 258, 4 fields
  w2.u16(8).u16(4).u16(12).u16(4); // IPV4_SRC_ADDR, IPV4_DST_ADDR
  w2.u16(2).u16(4); // IN_PKTS
  w2.u16(89).u16(1); // FORWARDING_STATUS
  w2.setUint(set + 2, w2.pos - set, 2);
  set = w2.pos;
  w2.u16(258).u16(0);
  w2.u32(ip4('192.0.2.9')).u32(ip4('203.0.113.30')).u32(4).u8(0x82); // status 10b = dropped, reason 2
  w2.zeros(3);
  w2.setUint(set + 2, w2.pos - set, 2);
  d.decode(w2.finish(), '198.51.100.2', 2);
  assert.equal(out.length, 3);
  // No sampler id in this template: one domain, several samplers, none default -> default 1.
  assert.deepEqual([out[2]!.dropped, out[2]!.pkts, out[2]!.rate], [true, 4, 1]);
  assert.equal(d.stats()[0]!.sequenceGaps, 1);
});

/** IPFIX message header: version 10, length (filled), export time, sequence, domain. */
function ipfixMsg(seq: number, domain: number, body: (w: Writer) => void): Uint8Array {
  const w = new Writer();
  w.u16(10); // version
  const len = w.placeholder(2); // message length
  w.u32(1700000000); // export time
  w.u32(seq); // sequence: data records before this message
  w.u32(domain); // observation domain id
  body(w);
  w.fillLength(len, 2, 4); // the length counts the whole message
  return w.finish();
}

/** A set: id and length (filled after body). */
function ipfixSet(w: Writer, id: number, body: () => void) {
  w.u16(id);
  const at = w.placeholder(2);
  body();
  w.fillLength(at, 2, 4);
}

test('IPFIX: IPv6, 64-bit counters, variable-length and enterprise fields, ms timestamps, options sampling 305/306 per selector', () => {
  const { sink, out } = collector();
  const d = new FlowDecoder(sink);
  const msg = ipfixMsg(0, 42, (w) => {
    ipfixSet(w, 2, () => {
      w.u16(300).u16(9); // template 300, 9 fields
      w.u16(27).u16(16); // sourceIPv6Address
      w.u16(28).u16(16); // destinationIPv6Address
      w.u16(4).u16(1); // protocolIdentifier
      w.u16(82).u16(0xffff); // interfaceName, variable length
      w.u16(0x8000 | 1000)
        .u16(4)
        .u32(9); // enterprise field (PEN 9, IE 1000), 4 bytes: skipped
      w.u16(1).u16(8); // octetDeltaCount, 64-bit
      w.u16(2).u16(8); // packetDeltaCount, 64-bit
      w.u16(152).u16(8).u16(153).u16(8); // flowStartMilliseconds, flowEndMilliseconds
    });
    ipfixSet(w, 3, () => {
      w.u16(301).u16(3).u16(1); // options template 301, 3 fields, 1 scope field
      w.u16(302).u16(4); // scope: selectorId
      w.u16(305).u16(4); // samplingPacketInterval
      w.u16(306).u16(4); // samplingPacketSpace
    });
    ipfixSet(w, 301, () => {
      w.u32(0).u32(1).u32(99); // selector 0: 1 packet sampled, 99 skipped -> 1:100
    });
    ipfixSet(w, 300, () => {
      // record 1: short variable-length name (1-byte length)
      w.bytes(ip6('2001:db8::1')).bytes(ip6('2001:db8:1::10')).u8(17);
      w.u8(4).bytes([0x65, 0x74, 0x68, 0x30]); // "eth0"
      w.u32(0xdeadbeef); // enterprise value
      w.u64(1000).u64(2);
      w.u64(1700000000000).u64(1700000002500);
      // record 2: long variable-length value (255 then 2-byte length, RFC 7011 §7)
      w.bytes(ip6('2001:db8::2')).bytes(ip6('2001:db8:1::10')).u8(6);
      w.u8(255).u16(300).zeros(300);
      w.u32(0);
      w.u64(64).u64(1);
      w.u64(5).u64(5);
    });
  });
  d.decode(msg, '2001:db8:ffff::1', 1);
  assert.equal(out.length, 2);
  assert.deepEqual(
    [out[0]!.src, out[0]!.dst, out[0]!.proto, out[0]!.bytes, out[0]!.pkts, out[0]!.dur, out[0]!.rate],
    ['2001:db8::1', '2001:db8:1::10', 17, 100_000, 200, 2500, 100],
  );
  assert.deepEqual(
    [out[1]!.src, out[1]!.proto, out[1]!.bytes, out[1]!.pkts, out[1]!.dur],
    ['2001:db8::2', 6, 6400, 100, 0],
  );
  const st = d.stats()[0]!;
  assert.deepEqual(st.sampling, { 'ipfix/42/0': 100 });
  assert.equal(st.malformed, 0);
  // Sequence: 2 flow and 1 options data records were in message 0 (options data records
  // count, RFC 7011 §2/§3.1), so the next one says 3; then saying 7 = 3 lost.
  const next = (seq: number) =>
    ipfixMsg(seq, 42, (w) =>
      ipfixSet(w, 300, () => {
        w.bytes(ip6('2001:db8::3'))
          .bytes(ip6('2001:db8:1::11'))
          .u8(17)
          .u8(0)
          .u32(0)
          .u64(1)
          .u64(1)
          .u64(0)
          .u64(0);
      }),
    );
  d.decode(next(3), '2001:db8:ffff::1', 2);
  d.decode(next(7), '2001:db8:ffff::1', 3);
  assert.equal(d.stats()[0]!.sequenceGaps, 3);
  assert.equal(d.stats()[0]!.sequenceResets, 0);
});

test('IPFIX: data before its template is held, then decoded when the template arrives', () => {
  const { sink, out } = collector();
  const d = new FlowDecoder(sink);
  const data = ipfixMsg(0, 1, (w) =>
    ipfixSet(w, 400, () => {
      w.u32(ip4('192.0.2.1')).u32(ip4('203.0.113.50')).u32(7); // src, dst, packets
      w.u32(ip4('192.0.2.2')).u32(ip4('203.0.113.50')).u32(8);
    }),
  );
  d.decode(data, '192.0.2.200', 1);
  assert.equal(out.length, 0);
  assert.equal(d.stats()[0]!.unknownTemplate, 1);
  assert.equal(d.pendingSets, 1);
  const tpl = ipfixMsg(2, 1, (w) =>
    ipfixSet(w, 2, () => {
      w.u16(400).u16(3); // template 400: 3 fields
      w.u16(8).u16(4).u16(12).u16(4); // sourceIPv4Address, destinationIPv4Address
      w.u16(2).u16(4); // packetDeltaCount (reduced-size encoding, 4 bytes)
    }),
  );
  d.decode(tpl, '192.0.2.200', 2);
  assert.deepEqual(
    out.map((o) => [o.src, o.dst, o.pkts]),
    [
      ['192.0.2.1', '203.0.113.50', 7],
      ['192.0.2.2', '203.0.113.50', 8],
    ],
  );
  const st = d.stats()[0]!;
  assert.equal(st.pendingDecoded, 1);
  assert.equal(d.pendingSets, 0);
  // A set for a template that never comes is counted as dropped at the end.
  d.decode(
    ipfixMsg(4, 1, (w) => ipfixSet(w, 999, () => w.u32(1))),
    '192.0.2.200',
    3,
  );
  d.dropPending();
  assert.equal(d.stats()[0]!.pendingDropped, 1);
});

test('IPFIX: template withdrawal (one and all) and redefinition', () => {
  const { sink, out } = collector();
  const d = new FlowDecoder(sink);
  const ex = '192.0.2.201';
  const tpl = (id: number, fields: [number, number][]) =>
    ipfixMsg(0, 5, (w) =>
      ipfixSet(w, 2, () => {
        w.u16(id).u16(fields.length);
        for (const [ie, len] of fields) w.u16(ie).u16(len);
      }),
    );
  const data = (id: number, body: (w: Writer) => void) =>
    ipfixMsg(0, 5, (w) => ipfixSet(w, id, () => body(w)));
  d.decode(
    tpl(256, [
      [12, 4],
      [2, 4],
    ]),
    ex,
    1,
  ); // destinationIPv4Address, packetDeltaCount
  d.decode(tpl(257, [[12, 4]]), ex, 1);
  d.decode(
    data(256, (w) => w.u32(ip4('203.0.113.1')).u32(3)),
    ex,
    2,
  );
  assert.equal(out.length, 1);
  // Withdraw 256: field count 0 (RFC 7011 §8.1).
  d.decode(
    ipfixMsg(0, 5, (w) => ipfixSet(w, 2, () => w.u16(256).u16(0))),
    ex,
    3,
  );
  assert.equal(d.stats()[0]!.templates, 1);
  d.decode(
    data(256, (w) => w.u32(ip4('203.0.113.1')).u32(3)),
    ex,
    4,
  );
  assert.equal(out.length, 1);
  assert.equal(d.stats()[0]!.unknownTemplate, 1);
  // Redefine 256 with another layout: the held set is decoded with it.
  d.decode(
    tpl(256, [
      [12, 4],
      [1, 4],
    ]),
    ex,
    5,
  ); // destinationIPv4Address, octetDeltaCount
  assert.equal(out.length, 2);
  assert.deepEqual([out[1]!.bytes, out[1]!.pkts], [3, 0]);
  // Withdraw all data templates: template id 2 with field count 0.
  d.decode(
    ipfixMsg(0, 5, (w) => ipfixSet(w, 2, () => w.u16(2).u16(0))),
    ex,
    6,
  );
  assert.equal(d.stats()[0]!.templates, 0);
});

test('IPFIX: bidirectional initiator/responder octets become two directions', () => {
  const { sink, out } = collector();
  const d = new FlowDecoder(sink);
  d.decode(
    ipfixMsg(0, 0, (w) => {
      ipfixSet(w, 2, () => {
        w.u16(500).u16(8);
        w.u16(8).u16(4).u16(12).u16(4); // source, destination IPv4
        w.u16(7).u16(2).u16(11).u16(2); // ports
        w.u16(231).u16(8).u16(232).u16(8); // initiatorOctets, responderOctets
        w.u16(298).u16(8).u16(299).u16(8); // initiatorPackets, responderPackets
      });
      ipfixSet(w, 500, () => {
        w.u32(ip4('192.0.2.5')).u32(ip4('203.0.113.80')).u16(50000).u16(443);
        w.u64(1500).u64(90000).u64(20).u64(70);
      });
    }),
    '192.0.2.202',
    1,
  );
  assert.deepEqual(
    out.map((o) => [o.src, o.dst, o.sp, o.dp, o.bytes, o.pkts, o.reverse]),
    [
      ['192.0.2.5', '203.0.113.80', 50000, 443, 1500, 20, false],
      ['203.0.113.80', '192.0.2.5', 443, 50000, 90000, 70, true],
    ],
  );
});

test('templates and learned rates survive a restart (exportState/importState)', () => {
  const first = collector();
  const d1 = new FlowDecoder(first.sink);
  const ex = '192.0.2.203';
  const w = new Writer();
  v9Header(w, 1, 0);
  let s = w.pos;
  w.u16(0).u16(0).u16(256).u16(2).u16(12).u16(4).u16(2).u16(4); // template 256: IPV4_DST_ADDR, IN_PKTS
  w.setUint(s + 2, w.pos - s, 2);
  s = w.pos;
  w.u16(1).u16(0).u16(257).u16(4).u16(4).u16(2).u16(4).u16(34).u16(4); // options 257: scope Interface, SAMPLING_INTERVAL
  w.u16(0);
  w.setUint(s + 2, w.pos - s, 2);
  s = w.pos;
  w.u16(257).u16(0).u32(1).u32(64); // interface 1, 1:64
  w.setUint(s + 2, w.pos - s, 2);
  d1.decode(w.finish(), ex, 1);
  const saved = JSON.parse(JSON.stringify(d1.exportState())) as unknown;
  const second = collector();
  const d2 = new FlowDecoder(second.sink);
  assert.equal(d2.importState(saved), 2);
  const w2 = new Writer();
  v9Header(w2, 2, 0);
  s = w2.pos;
  w2.u16(256).u16(0).u32(ip4('203.0.113.9')).u32(5);
  w2.setUint(s + 2, w2.pos - s, 2);
  d2.decode(w2.finish(), ex, 2);
  assert.deepEqual(
    second.out.map((o) => [o.dst, o.pkts, o.rate]),
    [['203.0.113.9', 320, 64]],
  );
  assert.equal(d2.stats()[0]!.unknownTemplate, 0);
  // Garbage state is ignored, not fatal.
  assert.equal(
    new FlowDecoder(second.sink).importState({
      version: 1,
      exporters: { x: { nf9: { '0': { templates: [{ id: 256, fields: [1, 2] }] } } } },
    }),
    0,
  );
});

/** sFlow v5 datagram header with an IPv4 or IPv6 agent. */
function sflowDatagram(agent: string, seq: number, samples: ((w: Writer) => void)[]): Uint8Array {
  const w = new Writer();
  w.u32(5); // version
  if (agent.includes(':'))
    w.u32(2).bytes(ip6(agent)); // agent address type IPv6 + address
  else w.u32(1).u32(ip4(agent)); // agent address type IPv4 + address
  w.u32(0); // sub-agent id
  w.u32(seq); // datagram sequence number
  w.u32(123456); // uptime ms
  w.u32(samples.length); // number of samples
  for (const s of samples) s(w);
  return w.finish();
}

function sample(w: Writer, format: number, body: () => void) {
  w.u32(format); // data format (enterprise 0)
  const at = w.placeholder(4); // sample length
  body();
  w.fillLength(at, 4);
}

function record(w: Writer, format: number, body: () => void) {
  w.u32(format); // flow data format
  const at = w.placeholder(4); // flow data length
  body();
  w.fillLength(at, 4);
}

test('sFlow v5: flow sample with raw Ethernet/802.1Q/IPv4/TCP header, expanded sample with sampled_ipv4, counters, IPv6 agent', () => {
  const { sink, out } = collector();
  const d = new FlowDecoder(sink);
  // The sampled frame: Ethernet + 802.1Q + IPv4 + TCP SYN (54 bytes captured).
  const f = new Writer();
  f.zeros(12); // dst, src MAC
  f.u16(0x8100).u16(100); // 802.1Q tag, VLAN 100
  f.u16(0x0800); // IPv4
  f.u8(0x45).u8(0).u16(40).u16(1).u16(0x4000).u8(64).u8(6).u16(0); // IPv4: ihl 5, len 40, DF, TTL, TCP
  f.u32(ip4('192.0.2.33')).u32(ip4('203.0.113.10'));
  f.u16(12345).u16(80).u32(1).u32(0).u8(0x50).u8(0x02).u16(1024).u16(0).u16(0); // TCP SYN
  const frame = f.finish();
  const dg = sflowDatagram('2001:db8::99', 1, [
    (w) =>
      sample(w, 1, () => {
        w.u32(1); // sequence number
        w.u32(0x00000007); // source id: type 0, ifIndex 7
        w.u32(512); // sampling rate
        w.u32(10000); // sample pool
        w.u32(0); // drops
        w.u32(7); // input ifIndex (format 0)
        w.u32(9); // output ifIndex
        w.u32(2); // flow records
        record(w, 1001, () => w.u32(100).u32(0).u32(200).u32(0)); // extended switch: src vlan/prio, dst vlan/prio
        record(w, 1, () => {
          w.u32(1); // header protocol: Ethernet
          w.u32(68); // frame length (wire + FCS)
          w.u32(4); // stripped (FCS)
          w.u32(frame.length); // header length
          w.bytes(frame).zeros((4 - (frame.length % 4)) % 4); // header, padded to 4
        });
      }),
    (w) => sample(w, 2, () => w.zeros(16)), // counters sample: counted only
    (w) =>
      sample(w, 3, () => {
        w.u32(2); // sequence number
        w.u32(0).u32(8); // source id type, index
        w.u32(100); // sampling rate
        w.u32(500).u32(0); // sample pool, drops
        w.u32(0).u32(8); // input format, value
        w.u32(0).u32(11); // output format, value
        w.u32(1); // flow records
        record(w, 3, () => {
          w.u32(1200); // IP packet length
          w.u32(17); // protocol
          w.u32(ip4('198.51.100.53')).u32(ip4('203.0.113.20')); // src, dst
          w.u32(53).u32(40000); // src port, dst port
          w.u32(0).u32(0); // tcp flags, tos
        });
      }),
  ]);
  d.decode(dg, '127.0.0.1', 1);
  assert.equal(out.length, 2);
  assert.deepEqual(
    [
      out[0]!.exporter,
      out[0]!.src,
      out[0]!.dst,
      out[0]!.sp,
      out[0]!.dp,
      out[0]!.flags,
      out[0]!.pkts,
      out[0]!.bytes,
      out[0]!.frame,
      out[0]!.ifIn,
      out[0]!.ifOut,
    ],
    ['2001:db8::99', '192.0.2.33', '203.0.113.10', 12345, 80, 2, 512, 68 * 512, 68, 7, 9],
  );
  assert.deepEqual(
    [out[1]!.src, out[1]!.dst, out[1]!.proto, out[1]!.pkts, out[1]!.bytes, out[1]!.ifIn, out[1]!.ifOut],
    ['198.51.100.53', '203.0.113.20', 17, 100, 120000, 8, 11],
  );
  const st = d.stats()[0]!;
  assert.deepEqual([st.records, st.counterSamples, st.agents], [2, 1, ['2001:db8::99']]);
  // Datagram sequence: 1 then 4 -> 2 datagrams lost.
  d.decode(sflowDatagram('2001:db8::99', 4, []), '127.0.0.1', 2);
  assert.equal(d.stats()[0]!.sequenceGaps, 2);
  // sampled_ipv6 (type 4) with an IPv4 agent; operator override wins over the sent rate.
  d.setSampling(1, { '192.0.2.77': 1000 });
  d.decode(
    sflowDatagram('192.0.2.77', 1, [
      (w) =>
        sample(w, 1, () => {
          w.u32(1).u32(1).u32(256).u32(0).u32(0).u32(1).u32(2).u32(1);
          record(w, 4, () => {
            w.u32(1000).u32(6); // length, protocol
            w.bytes(ip6('2001:db8:ff::1')).bytes(ip6('2001:db8:1::10')); // src, dst
            w.u32(443).u32(50000).u32(0x12).u32(0); // ports, tcp flags, priority
          });
        }),
    ]),
    '127.0.0.2',
    3,
  );
  assert.deepEqual(
    [out[2]!.exporter, out[2]!.dst, out[2]!.rate, out[2]!.pkts, out[2]!.flags],
    ['192.0.2.77', '2001:db8:1::10', 1000, 1000, 0x12],
  );
});

test("compiled template decoders give exactly the generic path's records", () => {
  const root = new URL('../../test/fixtures/flows/', import.meta.url);
  for (const f of ['syn_flood.nf9', 'udp6_flood.nf9', 'background.ipfix', 'udp6_flood.ipfix']) {
    const dgrams = capturePayloads(readFileSync(new URL(`${f}.pcap`, root)));
    const run = (compiled: boolean) => {
      codegen.enabled = compiled;
      try {
        const { sink, out } = collector();
        const d = new FlowDecoder(sink);
        for (const g of dgrams) d.decode(g, '127.0.0.1', 5);
        return out;
      } finally {
        codegen.enabled = true;
      }
    };
    const generic = run(false);
    const fast = run(true);
    assert.ok(generic.length > 100);
    assert.deepEqual(fast, generic, f);
  }
});

/** A classic pcap of Ethernet/IPv4/UDP frames from `src` carrying the given payloads. */
function pcapOf(src: string, payloads: Uint8Array[]): Uint8Array {
  const w = new Writer();
  // pcap header, written big-endian (magic a1b2c3d4 in file order)
  w.u32(0xa1b2c3d4).u16(2).u16(4).u32(0).u32(0).u32(65535).u32(1);
  payloads.forEach((p, i) => {
    const len = 14 + 20 + 8 + p.length;
    w.u32(1700000000 + i)
      .u32(0)
      .u32(len)
      .u32(len); // ts, incl_len, orig_len
    w.zeros(12).u16(0x0800); // Ethernet
    w.u8(0x45)
      .u8(0)
      .u16(20 + 8 + p.length)
      .u32(0)
      .u8(64)
      .u8(17)
      .u16(0); // IPv4 header
    w.u32(ip4(src)).u32(ip4('127.0.0.77'));
    w.u16(40000)
      .u16(2055)
      .u16(8 + p.length)
      .u16(0); // UDP
    w.bytes(p);
  });
  return w.finish();
}

test('decode of a file: a rate announced after the first records applies to the whole capture; live decoding is sequential', async () => {
  const { decodeFlowCapture } = await import('../src/capture/index.js');
  const d1 = new Writer();
  v9Header(d1, 1, 0);
  let s = d1.pos;
  d1.u16(0).u16(0).u16(256).u16(2).u16(12).u16(4).u16(2).u16(4); // template 256: IPV4_DST_ADDR, IN_PKTS
  d1.setUint(s + 2, d1.pos - s, 2);
  s = d1.pos;
  d1.u16(256).u16(0).u32(ip4('203.0.113.7')).u32(2); // one record, 2 packets
  d1.setUint(s + 2, d1.pos - s, 2);
  const d2 = new Writer();
  v9Header(d2, 2, 0);
  s = d2.pos;
  d2.u16(1).u16(0).u16(257).u16(4).u16(4).u16(1).u16(4).u16(34).u16(4).u16(0); // options: scope System, SAMPLING_INTERVAL
  d2.setUint(s + 2, d2.pos - s, 2);
  s = d2.pos;
  d2.u16(257).u16(0).u32(0).u32(10); // system 0: 1:10
  d2.setUint(s + 2, d2.pos - s, 2);
  const file = decodeFlowCapture(pcapOf('192.0.2.10', [d1.finish(), d2.finish()]));
  assert.deepEqual(file.per_dst, { '203.0.113.7': { flows: 1, packets: 20, bytes: 0 } });
  const { sink, out } = collector();
  const live = new FlowDecoder(sink);
  live.decode(d1.finish(), '192.0.2.10', 1);
  live.decode(d2.finish(), '192.0.2.10', 2);
  assert.equal(out[0]!.pkts, 2);
});
