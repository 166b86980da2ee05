/**
 * Every capture in test/fixtures/flows and test/fixtures/mirror (copied from the shared
 * fixtures, with tshark-computed truth beside each) decodes to exactly its truth.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { decodeFlowCapture, decodeMirrorCapture } from '../src/capture/index.js';

const root = new URL('../../test/fixtures/', import.meta.url);

interface TruthFlow {
  per_dst: Record<string, { records?: number; samples?: number; packets_scaled: number; bytes_scaled: number }>;
  totals: Record<string, number>;
}
interface TruthMirror {
  per_dst: Record<string, { packets: number; bytes: number; ip_bytes: number }>;
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
    const truth = JSON.parse(readFileSync(new URL(`flows/${f.replace(/\.pcap$/, '.truth.json')}`, root), 'utf8')) as TruthFlow;
    const got = decodeFlowCapture(readFileSync(new URL(`flows/${f}`, root)));
    const want: Record<string, { flows: number; packets: number; bytes: number }> = {};
    for (const [ip, v] of Object.entries(truth.per_dst)) want[ip] = { flows: (v.records ?? v.samples)!, packets: v.packets_scaled, bytes: v.bytes_scaled };
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
    const truth = JSON.parse(readFileSync(new URL(`mirror/${f.replace(/\.pcap$/, '.truth.json')}`, root), 'utf8')) as TruthMirror;
    const got = decodeMirrorCapture(readFileSync(new URL(`mirror/${f}`, root)));
    const want: Record<string, { packets: number; bytes: number; ip_bytes: number }> = {};
    for (const [ip, v] of Object.entries(truth.per_dst)) want[ip] = { packets: v.packets, bytes: v.bytes, ip_bytes: v.ip_bytes };
    assert.deepEqual(got.per_dst, want);
    assert.equal(got.totals.frames, truth.totals.frames);
  });
}
