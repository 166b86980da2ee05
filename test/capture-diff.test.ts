/**
 * Differential test against tshark on captures of exporters and settings that the shared
 * fixtures do not cover (test/fixtures/capture-extra: pmacctd nfprobe IPFIX/v9/v5 with
 * sampling, engine/source ids, IPv6 transport, µs timestamps and 64-bit counters; pmacctd
 * sfprobe with an IPv6 agent; softflowd IPFIX sampled, biflow, NTP/sec/ms timestamps, short
 * timeouts and other tracking levels; softflowd `-v psamp` PSAMP packet reports, whose records
 * carry only a raw frame section, IE 315). Each truth was computed from tshark's decode by
 * test/fixtures/capture-extra/truth.py, with the definitions of the shared fixtures README.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { capturePayloads, decodeFlowCapture, FlowDecoder, type FlowRecord } from '../src/capture/index.js';
import { parseV4, v4ToString } from '../src/wire/addr.js';
import { Writer } from '../src/wire/writer.js';

const dir = new URL('../../test/fixtures/capture-extra/', import.meta.url);

interface Truth {
  format: 'cflow' | 'sflow';
  exporter: string;
  per_dst: Record<
    string,
    { records?: number; samples?: number; packets_scaled: number; bytes_scaled: number }
  >;
  totals: Record<string, number>;
  /** Sampling rates tshark saw in options data: "exporter/domain/sampler or *" -> rate. */
  rates: Record<string, number>;
}

/**
 * Exporter defects tshark sees too: pmacct's sfprobe with an IPv6 agent writes the longer
 * agent header over the first flow sample of its first datagram, so that datagram is
 * malformed (tshark decodes the broken sample without an IP header and stops there).
 */
const malformedByExporter: Record<string, number> = { 'pmacct-sflow-v6agent-s3.pcap': 1 };

const files = readdirSync(dir)
  .filter((f) => f.endsWith('.pcap'))
  .sort();

test('extra exporter captures are present', () => {
  assert.ok(files.length >= 10, `only ${files.length} captures`);
});

for (const f of files) {
  test(`capture-extra/${f} decodes exactly as tshark`, () => {
    const truth = JSON.parse(
      readFileSync(new URL(f.replace(/\.pcap$/, '.truth.json'), dir), 'utf8'),
    ) as Truth;
    const got = decodeFlowCapture(readFileSync(new URL(f, dir)));
    const want: Record<string, { flows: number; packets: number; bytes: number }> = {};
    for (const [ip, v] of Object.entries(truth.per_dst))
      want[ip] = { flows: (v.records ?? v.samples)!, packets: v.packets_scaled, bytes: v.bytes_scaled };
    assert.deepEqual(got.per_dst, want);
    const malformed = malformedByExporter[f] ?? 0;
    assert.equal(got.totals.malformed, malformed);
    const expectFlows =
      truth.format === 'sflow'
        ? truth.totals.samples! - (truth.totals.samples_without_ip ?? 0)
        : truth.totals.records!;
    assert.equal(got.totals.flows, expectFlows);
    assert.equal(got.totals.datagrams, truth.totals.datagrams);
    assert.equal(got.totals.unknown_template, 0);
    assert.equal(got.totals.pending_dropped, 0);
    assert.equal(got.totals.records_without_ip, 0);
    // A clean capture: no datagram lost, none out of order.
    for (const e of got.exporters) {
      assert.equal(e.sequenceGaps, 0, `${f}: sequence gaps`);
      assert.equal(e.sequenceResets, 0, `${f}: sequence resets`);
    }
    // The options-data rates learned per domain and sampler are the ones tshark decoded
    // (sFlow's come with every sample, and the packet totals above already check them).
    const learned: Record<string, number> = {};
    for (const e of got.exporters) {
      for (const [k, r] of Object.entries(e.sampling))
        if (!k.startsWith('nf5/') && !k.startsWith('sflow/')) learned[k.slice(k.indexOf('/') + 1)] = r;
    }
    const told: Record<string, number> = {};
    for (const [k, r] of Object.entries(truth.rates)) told[k.slice(k.indexOf('/') + 1)] = r;
    assert.deepEqual(learned, told);
  });
}

/** IPFIX message (RFC 7011 §3.1) with the given sequence number. */
function ipfixMsg(seq: number, body: (w: Writer) => void): Uint8Array {
  const w = new Writer();
  w.u16(10);
  const len = w.placeholder(2);
  w.u32(1700000000).u32(seq).u32(42);
  body(w);
  w.fillLength(len, 2, 4);
  return w.finish();
}

function set(w: Writer, id: number, body: () => void): void {
  w.u16(id);
  const at = w.placeholder(2);
  body();
  w.fillLength(at, 2, 4);
}

test('IPFIX sequence numbers count options data records too (RFC 7011 §3.1, as pmacct sends them)', () => {
  const got: string[] = [];
  const d = new FlowDecoder({
    onFlow: (r: FlowRecord) => void got.push(`${v4ToString(r.dst4)} ${r.packets}`),
  });
  const flow = (w: Writer, dst: string) =>
    set(w, 256, () => {
      w.u32(parseV4('198.51.100.1')).u32(parseV4(dst)).u32(1).u32(100);
    });
  const first = ipfixMsg(0, (w) => {
    set(w, 2, () => {
      w.u16(256).u16(4).u16(8).u16(4).u16(12).u16(4).u16(2).u16(4).u16(1).u16(4);
    });
    set(w, 3, () => {
      w.u16(257).u16(3).u16(1); // options template: scope exporter address, sampler id, random interval
      w.u16(130).u16(4).u16(48).u16(1).u16(50).u16(4);
    });
    set(w, 257, () => {
      w.u32(parseV4('127.0.0.1')).u8(1).u32(10);
      w.u32(parseV4('127.0.0.1')).u8(2).u32(20);
    });
    flow(w, '203.0.113.1');
  });
  d.decode(first, '127.0.0.1', 1);
  // 1 flow + 2 options data records before the second message: its sequence is 3.
  d.decode(
    ipfixMsg(3, (w) => flow(w, '203.0.113.2')),
    '127.0.0.1',
    2,
  );
  assert.equal(d.stats()[0]!.sequenceGaps, 0);
  assert.equal(d.stats()[0]!.sequenceResets, 0);
  // Then 4: one more record went missing.
  d.decode(
    ipfixMsg(5, (w) => flow(w, '203.0.113.3')),
    '127.0.0.1',
    3,
  );
  assert.equal(d.stats()[0]!.sequenceGaps, 1);
  assert.deepEqual(got, ['203.0.113.1 1', '203.0.113.2 1', '203.0.113.3 1']);
});

test('softflowd PSAMP reports hand their frame section to the sink as an Ethernet header', () => {
  const seen: { dst: number; hdrDst: number; link: number; frame: number; pktLen: number }[] = [];
  const d = new FlowDecoder({
    onFlow: (r: FlowRecord) => {
      const h = r.header!;
      // Untagged IPv4 frames in this capture: the IP destination sits at 14 + 16.
      const hdrDst = ((h[30]! << 24) | (h[31]! << 16) | (h[32]! << 8) | h[33]!) >>> 0;
      seen.push({
        dst: r.dst4,
        hdrDst,
        link: r.headerLinkType,
        frame: r.frameLength,
        pktLen: r.packetLength,
      });
    },
  });
  let t = 0;
  for (const p of capturePayloads(readFileSync(new URL('softflowd-psamp-s12.pcap', dir))))
    d.decode(p, '127.0.0.1', ++t);
  assert.equal(seen.length, 180);
  for (const s of seen) {
    assert.equal(s.link, 1);
    assert.equal(s.hdrDst, s.dst);
    assert.ok(s.frame >= s.pktLen + 14);
  }
  assert.equal(d.stats()[0]!.malformed, 0);
});
