/**
 * Every capture in test/fixtures/flows and test/fixtures/mirror (copied from the shared
 * fixtures, with tshark-computed truth beside each) decodes to exactly its truth.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import {
  decodeFlowCapture,
  decodeMirrorCapture,
  forEachPacket,
  MirrorDecoder,
  readPcap,
  type FlowRecord,
} from '../src/capture/index.js';
import { v4ToString, v6ToString } from '../src/wire/addr.js';

const root = new URL('../../test/fixtures/', import.meta.url);

interface TruthFlow {
  per_dst: Record<
    string,
    { records?: number; samples?: number; packets_scaled: number; bytes_scaled: number }
  >;
  totals: Record<string, number>;
}
interface TruthMirror {
  per_dst: Record<string, { packets: number; bytes: number; ip_bytes: number }>;
  per_dst_proto: Record<string, { packets: number; bytes: number }>;
  totals: Record<string, number>;
}

function captures(dir: string): string[] {
  return readdirSync(new URL(dir, root))
    .filter((f) => f.endsWith('.pcap'))
    .sort();
}

const flowFiles = captures('flows/');
test('flow fixtures are present', () => {
  assert.ok(flowFiles.length >= 13, `only ${flowFiles.length} flow captures`);
});

for (const f of flowFiles) {
  test(`flows/${f} decodes to its truth`, () => {
    const truth = JSON.parse(
      readFileSync(new URL(`flows/${f.replace(/\.pcap$/, '.truth.json')}`, root), 'utf8'),
    ) as TruthFlow;
    const got = decodeFlowCapture(readFileSync(new URL(`flows/${f}`, root)));
    const want: Record<string, { flows: number; packets: number; bytes: number }> = {};
    for (const [ip, v] of Object.entries(truth.per_dst))
      want[ip] = { flows: (v.records ?? v.samples)!, packets: v.packets_scaled, bytes: v.bytes_scaled };
    assert.deepEqual(got.per_dst, want);
    // Nothing undecoded, malformed or out of sequence in a clean capture.
    assert.equal(got.totals.malformed, 0);
    assert.equal(got.totals.unknown_template, 0);
    assert.equal(got.totals.ignored_frames, 0);
    for (const e of got.exporters) assert.equal(e.sequenceGaps, 0, `${f}: sequence gaps`);
    assert.equal(got.totals.flows, truth.totals.records ?? truth.totals.samples);
  });
}

for (const f of captures('mirror/')) {
  test(`mirror/${f} decodes to its truth (L2TP, GRE, MPLS, VLAN decapsulated)`, () => {
    const truth = JSON.parse(
      readFileSync(new URL(`mirror/${f.replace(/\.pcap$/, '.truth.json')}`, root), 'utf8'),
    ) as TruthMirror;
    const got = decodeMirrorCapture(readFileSync(new URL(`mirror/${f}`, root)));
    const want: Record<string, { packets: number; bytes: number; ip_bytes: number }> = {};
    for (const [ip, v] of Object.entries(truth.per_dst))
      want[ip] = { packets: v.packets, bytes: v.bytes, ip_bytes: v.ip_bytes };
    assert.deepEqual(got.per_dst, want);
    assert.equal(got.totals.frames, truth.totals.frames);
  });
}

test('mirror/encap.pcap: per destination and IP protocol (IPv6 fragments keep the inner next header)', () => {
  const truth = JSON.parse(readFileSync(new URL('mirror/encap.truth.json', root), 'utf8')) as TruthMirror;
  const got: Record<string, { packets: number; bytes: number }> = {};
  const dec = new MirrorDecoder(
    {
      onFlow(r: FlowRecord) {
        const k = `${r.ipVersion === 4 ? v4ToString(r.dst4) : v6ToString(r.dst6)}/${r.protocol}`;
        got[k] ??= { packets: 0, bytes: 0 };
        const t = got[k];
        t.packets += r.packets;
        t.bytes += r.bytes;
      },
    },
    'mirror:test',
  );
  forEachPacket(readFileSync(new URL('mirror/encap.pcap', root)), (p) =>
    dec.onFrame(p.data, p.origLen, p.linkType, p.tsMs),
  );
  assert.deepEqual(got, truth.per_dst_proto);
  assert.equal(dec.stats().nonIpFrames, 1); // the ARP frame
});

test('pcapng (converted by editcap from encap.pcap) reads the same frames, lengths and times', () => {
  const a = readPcap(readFileSync(new URL('mirror/encap.pcap', root)));
  const b = readPcap(readFileSync(new URL('mirror/encap.pcapng', root)));
  assert.equal(b.format, 'pcapng');
  assert.equal(b.errors, 0);
  assert.equal(b.packets.length, a.packets.length);
  for (let i = 0; i < a.packets.length; i++) {
    assert.deepEqual([...b.packets[i]!.data], [...a.packets[i]!.data]);
    assert.equal(b.packets[i]!.origLen, a.packets[i]!.origLen);
    assert.equal(b.packets[i]!.linkType, a.packets[i]!.linkType);
    assert.ok(Math.abs(b.packets[i]!.tsMs - a.packets[i]!.tsMs) < 0.01);
  }
  assert.deepEqual(
    decodeMirrorCapture(readFileSync(new URL('mirror/encap.pcapng', root))).per_dst,
    decodeMirrorCapture(readFileSync(new URL('mirror/encap.pcap', root))).per_dst,
  );
});
