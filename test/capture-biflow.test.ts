/**
 * Bidirectional records (issue 13 item 7): the responder direction of an IPFIX biflow record
 * (RFC 5103 reverse elements, or IE 231/232 initiator/responder octets) and of a NetFlow v9
 * NSEL record (Cisco ASA NF_F_FWD/REV_FLOW_DELTA_BYTES 231/232, packets 298/299) counts one
 * flow for its host, as well as its packets and bytes. It stays marked `reverse` (no new record
 * arrived), so per-exporter record counts do not change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeFlowCapture, FlowDecoder, type FlowRecord } from '../src/capture/index.js';
import { parseV4, v4ToString } from '../src/wire/addr.js';
import { Writer } from '../src/wire/writer.js';

interface Seen {
  src: string;
  dst: string;
  flows: number;
  pkts: number;
  bytes: number;
  reverse: boolean;
}

function sinkOf(out: Seen[]) {
  return {
    onFlow(r: FlowRecord) {
      out.push({
        src: v4ToString(r.src4),
        dst: v4ToString(r.dst4),
        flows: r.flows,
        pkts: r.packets,
        bytes: r.bytes,
        reverse: r.reverse,
      });
    },
  };
}

function set(w: Writer, id: number, body: () => void): void {
  w.u16(id);
  const at = w.placeholder(2);
  body();
  w.fillLength(at, 2, 4);
}

/** One IPFIX message: template 400 (addresses, 231/232 octets, 298/299 packets) and one record. */
function ipfixBiflow(samplingIe50: number): Uint8Array {
  const w = new Writer();
  w.u16(10);
  const len = w.placeholder(2);
  w.u32(1700000000).u32(0).u32(0);
  set(w, 2, () => {
    w.u16(400).u16(samplingIe50 ? 7 : 6);
    w.u16(8).u16(4).u16(12).u16(4);
    w.u16(231).u16(8).u16(232).u16(8);
    w.u16(298).u16(8).u16(299).u16(8);
    if (samplingIe50) w.u16(50).u16(4);
  });
  set(w, 400, () => {
    w.u32(parseV4('192.0.2.5')).u32(parseV4('203.0.113.80'));
    w.u64(1500).u64(90000).u64(20).u64(70);
    if (samplingIe50) w.u32(samplingIe50);
  });
  w.fillLength(len, 2, 4);
  return w.finish();
}

/** A NetFlow v9 NSEL-style export packet: template 260 with 231/232 and 298/299, one record. */
function v9Nsel(): Uint8Array {
  const w = new Writer();
  w.u16(9).u16(2).u32(10_000).u32(1700000000).u32(0).u32(0);
  set(w, 0, () => {
    w.u16(260).u16(6);
    w.u16(8).u16(4).u16(12).u16(4);
    w.u16(231).u16(4).u16(232).u16(4);
    w.u16(298).u16(4).u16(299).u16(4);
  });
  set(w, 260, () => {
    w.u32(parseV4('198.51.100.7')).u32(parseV4('203.0.113.9'));
    w.u32(400).u32(12000).u32(5).u32(11);
  });
  return w.finish();
}

test('IPFIX biflow: the responder direction counts one flow for its host', () => {
  const out: Seen[] = [];
  const d = new FlowDecoder(sinkOf(out));
  d.decode(ipfixBiflow(0), '192.0.2.202', 1);
  assert.deepEqual(out, [
    { src: '192.0.2.5', dst: '203.0.113.80', flows: 1, pkts: 20, bytes: 1500, reverse: false },
    { src: '203.0.113.80', dst: '192.0.2.5', flows: 1, pkts: 70, bytes: 90000, reverse: true },
  ]);
  assert.equal(d.stats()[0]!.records, 1, 'one record on the wire');
});

test('IPFIX biflow, sampled 1:10: both directions carry the scaled flow count', () => {
  const out: Seen[] = [];
  const d = new FlowDecoder(sinkOf(out));
  d.decode(ipfixBiflow(10), '192.0.2.202', 1);
  assert.deepEqual(
    out.map((o) => [o.dst, o.flows, o.pkts, o.bytes, o.reverse]),
    [
      ['203.0.113.80', 10, 200, 15000, false],
      ['192.0.2.5', 10, 700, 900000, true],
    ],
  );
});

test('NetFlow v9 NSEL initiator/responder counters: the responder direction counts one flow', () => {
  const out: Seen[] = [];
  const d = new FlowDecoder(sinkOf(out));
  d.decode(v9Nsel(), '192.0.2.203', 1);
  assert.deepEqual(out, [
    { src: '198.51.100.7', dst: '203.0.113.9', flows: 1, pkts: 5, bytes: 400, reverse: false },
    { src: '203.0.113.9', dst: '198.51.100.7', flows: 1, pkts: 11, bytes: 12000, reverse: true },
  ]);
});

/** A pcap (LINKTYPE_RAW) of IPv4/UDP datagrams from 192.0.2.203 carrying `payloads`. */
function pcapOf(payloads: Uint8Array[]): Uint8Array {
  const w = new Writer();
  w.u32(0xa1b2c3d4).u16(2).u16(4).u32(0).u32(0).u32(65535).u32(101);
  let t = 1;
  for (const pl of payloads) {
    const len = 28 + pl.length;
    w.u32(t++).u32(0).u32(len).u32(len);
    w.u8(0x45).u8(0).u16(len).u16(0).u16(0).u8(64).u8(17).u16(0);
    w.u32(parseV4('192.0.2.203')).u32(parseV4('192.0.2.1'));
    w.u16(2055)
      .u16(2055)
      .u16(8 + pl.length)
      .u16(0);
    w.bytes(pl);
  }
  return w.finish();
}

test('decode: per destination the responder host has one flow, totals count records as sent', () => {
  const got = decodeFlowCapture(pcapOf([v9Nsel()]));
  assert.deepEqual(got.per_dst, {
    '203.0.113.9': { flows: 1, packets: 5, bytes: 400 },
    '198.51.100.7': { flows: 1, packets: 11, bytes: 12000 },
  });
  assert.equal(got.totals.flows, 1);
  assert.equal(got.totals.records_without_ip, 0);
});

test('softflowd biflow capture: every responder host has its flows', () => {
  const got = decodeFlowCapture(
    readFileSync(new URL('../../test/fixtures/capture-extra/softflowd-ipfix-biflow.pcap', import.meta.url)),
  );
  const flows = Object.values(got.per_dst).reduce((a, v) => a + v.flows!, 0);
  // 255 records on the wire, 239 of them with a responder direction.
  assert.equal(got.totals.flows, 255);
  assert.equal(flows, 255 + 239);
});
