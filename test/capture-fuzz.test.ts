/**
 * Fuzzing the decoder entry points: random bytes, mutated real datagrams, truncations,
 * huge counts, zero-length fields and self-referencing templates never throw, are counted
 * as malformed, and a clean capture decoded afterwards by the same decoder is still exact.
 * Deterministic (seeded PRNG) so a failure reproduces.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Writer } from '../src/wire/writer.js';
import {
  capturePayloads,
  FlowDecoder,
  MirrorDecoder,
  forEachPacket,
  PcapStream,
  readPcap,
  type FlowRecord,
} from '../src/capture/index.js';

const root = new URL('../../test/fixtures/', import.meta.url);

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A sink that also checks every record it sees is sane (no NaN, no negative counters). */
function checkingSink() {
  let n = 0;
  const bad: string[] = [];
  return {
    get n() {
      return n;
    },
    bad,
    onFlow(r: FlowRecord) {
      n++;
      // Collected, not thrown: the decoder would count a throwing sink as an internal error.
      if (!(Number.isFinite(r.packets) && r.packets >= 0)) bad.push(`packets ${r.packets}`);
      if (!(Number.isFinite(r.bytes) && r.bytes >= 0)) bad.push(`bytes ${r.bytes}`);
      if (!(r.samplingRate >= 1)) bad.push(`rate ${r.samplingRate}`);
      if (r.ipVersion !== 4 && r.ipVersion !== 6) bad.push(`ipVersion ${String(r.ipVersion)}`);
    },
  };
}

function noInternalErrors(d: FlowDecoder, sink: { bad: string[] }) {
  assert.deepEqual(sink.bad.slice(0, 5), []);
  const ie = d.stats().reduce((a, e) => a + e.internalErrors, 0);
  assert.equal(ie, 0, `internal errors: ${d.lastInternalError}`);
}

const fixtures = [
  'syn_flood.nf9',
  'background.ipfix',
  'syn_flood.sflow',
  'syn_flood.nf5',
  'udp6_flood.nf9',
  'udp6_flood.sflow',
];
const datagrams = fixtures.map((f) => capturePayloads(readFileSync(new URL(`flows/${f}.pcap`, root))));

function totalsOf(d: FlowDecoder, exporter: string) {
  const s = d.stats().find((e) => e.exporter === exporter)!;
  return [s.records, s.malformed];
}

test('random datagrams (with valid version words) never throw and are counted malformed', () => {
  const rnd = prng(1);
  const sink = checkingSink();
  const d = new FlowDecoder(sink);
  const heads = [[0, 5], [0, 9], [0, 10], [0, 0, 0, 5], []];
  for (let i = 0; i < 20000; i++) {
    const len = Math.floor(rnd() * 200);
    const b = new Uint8Array(len);
    for (let j = 0; j < len; j++) b[j] = Math.floor(rnd() * 256);
    const h = heads[i % heads.length]!;
    for (let j = 0; j < h.length && j < len; j++) b[j] = h[j]!;
    d.decode(b, `10.0.${i % 7}.1`, i);
  }
  const st = d.stats();
  const dgrams = st.reduce((a, e) => a + e.datagrams, 0);
  const bad = st.reduce((a, e) => a + e.malformed, 0);
  assert.equal(dgrams, 20000);
  assert.ok(bad > 10000, `only ${bad} malformed of 20000 random datagrams`);
  noInternalErrors(d, sink);
});

test('mutated and truncated real datagrams never throw; the decoder keeps decoding exactly afterwards', () => {
  const rnd = prng(2);
  const sink = checkingSink();
  const d = new FlowDecoder(sink);
  let mutated = 0;
  for (let round = 0; round < 3; round++) {
    for (const set of datagrams) {
      for (const dg of set) {
        // truncation at a random point
        d.decode(dg.subarray(0, Math.floor(rnd() * dg.length)), '10.9.9.9', 1);
        // byte flips, including in length and count fields
        const m = Uint8Array.from(dg);
        const flips = 1 + Math.floor(rnd() * 8);
        for (let k = 0; k < flips; k++) m[Math.floor(rnd() * m.length)] = Math.floor(rnd() * 256);
        d.decode(m, '10.9.9.9', 2);
        mutated++;
      }
    }
  }
  const bad = d.stats().find((e) => e.exporter === '10.9.9.9')!;
  assert.ok(
    bad.malformed > 0 && bad.malformed <= bad.datagrams,
    `malformed ${bad.malformed} of ${bad.datagrams}`,
  );
  // Same decoder, a clean exporter: exact totals (2 datagram sets: nf9 + sflow).
  const before = sink.n;
  for (const dg of datagrams[0]!) d.decode(dg, '10.1.1.1', 3);
  for (const dg of datagrams[2]!) d.decode(dg, '10.1.1.2', 3);
  assert.deepEqual(totalsOf(d, '10.1.1.1'), [1870, 0]);
  assert.deepEqual(totalsOf(d, '10.1.1.2'), [1923, 0]);
  assert.equal(sink.n - before, 1870 + 1923);
  assert.ok(mutated > 1000);
  noInternalErrors(d, sink);
});

test('hostile structures: huge counts, zero-length sets and fields, template loops, giant templates', () => {
  const sink = checkingSink();
  const d = new FlowDecoder(sink);
  const ex = '10.2.2.2';
  const v9 = (body: (w: Writer) => void) => {
    const w = new Writer();
    w.u16(9).u16(0xffff).u32(0).u32(0).u32(0).u32(0); // header with a huge count
    body(w);
    return w.finish();
  };
  const cases: Uint8Array[] = [
    v9((w) => w.u16(0).u16(0)), // set length 0 (would loop forever)
    v9((w) => w.u16(0).u16(2)), // set length below its own header
    v9((w) => w.u16(0).u16(8).u16(256).u16(0)), // v9 template with no fields
    v9((w) => w.u16(0).u16(12).u16(256).u16(1).u16(1).u16(0)), // only field has length 0: zero-length records
    v9((w) => w.u16(0).u16(8).u16(256).u16(60000)), // 60000 fields announced, none present
    v9((w) => w.u16(1).u16(10).u16(256).u16(3).u16(0)), // options scope length not a multiple of 4
    v9((w) => w.u16(256).u16(0xfff0).zeros(8)), // data set longer than the datagram
  ];
  // IPFIX: a variable-length-only template whose records would be 1 byte each, a 3-byte
  // length pointing past the end, and a template that redefines itself in every message.
  const ipfix = (body: (w: Writer) => void) => {
    const w = new Writer();
    w.u16(10);
    const at = w.placeholder(2);
    w.u32(0).u32(0).u32(0);
    body(w);
    w.fillLength(at, 2, 4);
    return w.finish();
  };
  cases.push(ipfix((w) => w.u16(2).u16(12).u16(300).u16(1).u16(82).u16(0xffff)));
  cases.push(ipfix((w) => w.u16(300).u16(8).u8(255).u16(0xffff).u8(0)));
  cases.push(
    ipfix((w) =>
      w
        .u16(300)
        .u16(4 + 3000)
        .zeros(3000),
    ),
  ); // 3000 one-byte records: bounded work
  for (let i = 0; i < 50; i++) {
    cases.push(
      ipfix((w) =>
        w
          .u16(2)
          .u16(16)
          .u16(301)
          .u16(2)
          .u16(12)
          .u16(4)
          .u16(i % 2 ? 1 : 2)
          .u16(4),
      ),
    );
  }
  cases.push(ipfix((w) => w.u16(2).u16(8).u16(302).u16(0x7fff))); // field count beyond the limit
  // sFlow: a billion samples, a sample longer than the datagram, a huge header length.
  const sflow = (body: (w: Writer) => void) => {
    const w = new Writer();
    w.u32(5).u32(1).u32(0x0a000001).u32(0).u32(1).u32(0);
    body(w);
    return w.finish();
  };
  cases.push(sflow((w) => w.u32(1_000_000_000)));
  cases.push(sflow((w) => w.u32(1).u32(1).u32(0xffffff00)));
  cases.push(
    sflow((w) =>
      w.u32(1).u32(1).u32(48).zeros(28).u32(1).u32(1).u32(16).u32(1).u32(60).u32(0).u32(0xfffffff0),
    ),
  );
  cases.push(sflow((w) => w.u32(1).u32(1).u32(32).zeros(28).u32(0xffffffff))); // 4 billion flow records
  cases.push(new Uint8Array([0, 0, 0, 5, 0, 0, 0, 9])); // sFlow with agent type 9
  for (const c of cases) d.decode(c, ex, 1);
  const st = d.stats().find((e) => e.exporter === ex)!;
  assert.equal(st.datagrams, cases.length);
  assert.ok(st.malformed >= 14, `malformed ${st.malformed}`);
  assert.ok(st.templates <= 3, `templates ${st.templates}`);
  // Still decoding: a clean v5 capture after all that.
  for (const dg of datagrams[3]!) d.decode(dg, '10.3.3.3', 2);
  assert.deepEqual(totalsOf(d, '10.3.3.3'), [1870, 0]);
  noInternalErrors(d, sink);
});

test('mirror frames and pcap files: random and truncated input never throws', () => {
  const rnd = prng(3);
  const sink = checkingSink();
  const m = new MirrorDecoder(sink, 'mirror:fuzz');
  const frames: Uint8Array[] = [];
  forEachPacket(readFileSync(new URL('mirror/encap.pcap', root)), (p) =>
    frames.push(Uint8Array.from(p.data)),
  );
  for (let i = 0; i < 20000; i++) {
    const f = frames[i % frames.length]!;
    const c = Uint8Array.from(f.subarray(0, Math.floor(rnd() * (f.length + 1))));
    for (let k = 0; k < 3; k++) if (c.length) c[Math.floor(rnd() * c.length)] = Math.floor(rnd() * 256);
    m.onFrame(c, f.length, [1, 101, 113, 276, 0, 12][i % 6]!, i);
  }
  assert.equal(m.stats().malformed, 0);
  assert.deepEqual(sink.bad.slice(0, 5), []);
  assert.equal(m.stats().frames, 20000);
  // pcap readers: truncated files report errors instead of throwing.
  const file = readFileSync(new URL('mirror/encap.pcap', root));
  for (let cut = 24; cut < file.length; cut += 97) {
    const r = readPcap(file.subarray(0, cut));
    assert.ok(r.errors <= 1);
  }
  // The stream parser gets the same packets whatever the chunking.
  let n = 0;
  const s = new PcapStream(() => n++);
  for (let i = 0; i < file.length; ) {
    const k = 1 + Math.floor(rnd() * 300);
    s.push(file.subarray(i, i + k));
    i += k;
  }
  assert.equal(n, 91);
});
