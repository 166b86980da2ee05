/**
 * Trust boundaries of the capture side (issue 14): the exporter allowlist, the record
 * bound, the one sampling-rate check, template and exporter caps with eviction, the
 * bucket saturation that is no longer a debt, and the asynchronous state writer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlowDecoder } from '../src/capture/decoder.js';
import { codegen } from '../src/capture/formats/codegen.js';
import { LIMITS } from '../src/capture/limits.js';
import { StateFile } from '../src/capture/exporter/state-file.js';
import type { FlowRecord, FlowSink } from '../src/capture/flow.js';
import { parsePrefix } from '../src/config/values.js';
import { ConfigError, parseConfig } from '../src/config/index.js';
import { createDetector } from '../src/detection/index.js';
import { makeConfig, rec } from './fixtures/detection/helpers.js';
import { ipfix, nf5, nf9, U64_MAX } from './helpers/forge.js';

function sink(): FlowSink & { got: { dst4: number; packets: number; bytes: number; rate: number }[] } {
  const got: { dst4: number; packets: number; bytes: number; rate: number }[] = [];
  return {
    got,
    onFlow: (r: FlowRecord) =>
      void got.push({ dst4: r.dst4, packets: r.packets, bytes: r.bytes, rate: r.samplingRate }),
  };
}
const exporters = (...e: [string, string, Record<string, number>?][]) =>
  e.map(([a, name, x]) => ({ address: parsePrefix(a), name, ...(x ?? {}) }));
const NOW = 1_700_000_000_000;

test('allowlist: a source outside capture.exporters is dropped before decoding, leaving no state; a listed one and a prefix decode', () => {
  const s = sink();
  const unknown: string[] = [];
  const d = new FlowDecoder(s, {
    admit: { exporters: exporters(['127.0.0.1', 'edge1'], ['127.0.1.0/24', 'edges']) },
    onUnknownSource: (a) => unknown.push(a),
  });
  const dgram = nf9({ seq: 0, recs: [{ dst: '203.0.113.10', packets: 10, bytes: 600 }] });
  for (let i = 0; i < 100; i++) assert.equal(d.decode(dgram, '127.0.0.99', NOW), null);
  assert.equal(s.got.length, 0);
  assert.deepEqual(d.stats(), [], 'no exporter state for the forger');
  assert.equal(d.templateTotal, 0, 'no template either');
  assert.equal(d.counts().unknownSource, 100);
  assert.equal(unknown.length, 100);
  assert.equal(d.decode(dgram, '127.0.0.1', NOW), 'nf9');
  assert.equal(d.decode(dgram, '127.0.1.77', NOW), 'nf9');
  assert.equal(s.got.length, 2);
  assert.deepEqual(
    d
      .stats()
      .map((e) => e.exporter)
      .sort(),
    ['127.0.0.1', '127.0.1.77'],
  );
  // A reload that drops the prefix forgets its exporters (and their templates) at once.
  d.setAdmission({ exporters: exporters(['127.0.0.1', 'edge1']) });
  assert.deepEqual(
    d.stats().map((e) => e.exporter),
    ['127.0.0.1'],
  );
  assert.equal(d.templateTotal, 1);
  assert.equal(d.decode(dgram, '127.0.1.77', NOW), null);
});

test('record bound: v5 with 0xffffffff counters and sampling 0x3fff is dropped and counted; a sane record with the same rate is not', () => {
  const s = sink();
  const d = new FlowDecoder(s);
  d.decode(
    nf5({ dst: '203.0.113.20', packets: 0xffffffff, bytes: 0xffffffff, sampling: 0x3fff }),
    '127.0.0.91',
    NOW,
  );
  assert.equal(s.got.length, 0);
  assert.equal(d.counts().recordOutOfBounds, 1);
  assert.equal(d.stats()[0]!.outOfBounds, 1);
  assert.match(d.lastOutOfBounds, /sampling 16383/);
  d.decode(
    nf5({ dst: '203.0.113.20', packets: 100, bytes: 6000, sampling: 0x3fff, seq: 1 }),
    '127.0.0.91',
    NOW,
  );
  assert.deepEqual(s.got, [{ dst4: 0xcb007114, packets: 1638300, bytes: 98298000, rate: 16383 }]);
  // The bound follows max_link_bps and the record's duration: 1 Gbit/s for 10 s is 1.25e9 bytes.
  const t = sink();
  const e = new FlowDecoder(t, {
    admit: { exporters: exporters(['127.0.0.91', 'small', { max_link_bps: 1e9 }]) },
  });
  e.decode(
    nf5({ dst: '203.0.113.21', packets: 1_000_000, bytes: 1.2e9, durationMs: 10_000 }),
    '127.0.0.91',
    NOW,
  );
  e.decode(
    nf5({ dst: '203.0.113.21', packets: 1_000_000, bytes: 1.3e9, durationMs: 10_000, seq: 1 }),
    '127.0.0.91',
    NOW,
  );
  assert.equal(t.got.length, 1);
  assert.equal(e.counts().recordOutOfBounds, 1);
});

for (const compiled of [true, false]) {
  test(`per-record sampling 2^64-1 goes through the one check and 8-byte counters through the bound (v9 and IPFIX, ${compiled ? 'compiled' : 'generic'} path)`, () => {
    codegen.enabled = compiled;
    try {
      const s = sink();
      const d = new FlowDecoder(s);
      const poison = { dst: '203.0.113.30', packets: U64_MAX, bytes: U64_MAX, sampling: U64_MAX };
      d.decode(nf9({ seq: 0, sampling: true, recs: [poison] }), '127.0.0.92', NOW);
      d.decode(
        ipfix({ seq: 0, sampling: true, recs: [{ ...poison, dst: '203.0.113.40' }] }),
        '127.0.0.93',
        NOW,
      );
      assert.equal(s.got.length, 0);
      assert.equal(d.counts().recordOutOfBounds, 2);
      assert.equal(d.counts().badSamplingRate, 2);
      // Modest counters with the absurd rate: the rate is refused (default 1 applies), the record kept.
      d.decode(
        nf9({
          seq: 1,
          sampling: true,
          recs: [{ dst: '203.0.113.31', packets: 10, bytes: 600, sampling: U64_MAX }],
        }),
        '127.0.0.92',
        NOW,
      );
      d.decode(
        nf9({
          seq: 2,
          sampling: true,
          recs: [{ dst: '203.0.113.31', packets: 10, bytes: 600, sampling: 1 << 25 }],
        }),
        '127.0.0.92',
        NOW,
      );
      d.decode(
        nf9({
          seq: 3,
          sampling: true,
          recs: [{ dst: '203.0.113.31', packets: 10, bytes: 600, sampling: 64 }],
        }),
        '127.0.0.92',
        NOW,
      );
      assert.deepEqual(
        s.got.map((r) => r.rate),
        [1, 1, 64],
      );
      assert.equal(d.counts().badSamplingRate, 4);
      assert.ok(LIMITS.MAX_SAMPLING_RATE < 1 << 25);
    } finally {
      codegen.enabled = true;
    }
  });
}

test('max_records_per_second: records beyond it in one second are dropped and counted', () => {
  const s = sink();
  const d = new FlowDecoder(s, {
    admit: { exporters: exporters(['127.0.0.94', 'chatty', { max_records_per_second: 5 }]) },
  });
  const recs = Array.from({ length: 8 }, () => ({ dst: '203.0.113.50', packets: 1, bytes: 60 }));
  d.decode(nf9({ seq: 0, recs }), '127.0.0.94', NOW);
  assert.equal(s.got.length, 5);
  assert.equal(d.counts().recordRateLimited, 3);
  d.decode(nf9({ seq: 1, recs, template: false }), '127.0.0.94', NOW + 1000);
  assert.equal(s.got.length, 10, 'the next second has its own budget');
});

test('template caps: per exporter (max_templates) and global, refusals counted', () => {
  const d = new FlowDecoder(sink(), {
    admit: { exporters: exporters(['127.0.0.95', 'few', { max_templates: 2 }]) },
  });
  for (let id = 256; id < 260; id++) d.decode(nf9({ seq: id, tplId: id }), '127.0.0.95', NOW);
  assert.equal(d.stats()[0]!.templates, 2);
  assert.equal(d.stats()[0]!.templatesRefused, 2);
  assert.equal(d.counts().templateRefused, 2);
  // Global: 17 open exporters x 4096 templates would exceed MAX_TEMPLATES_TOTAL.
  const g = new FlowDecoder(sink());
  const per = LIMITS.MAX_TEMPLATES_PER_EXPORTER;
  const n = Math.ceil(LIMITS.MAX_TEMPLATES_TOTAL / per) + 1;
  for (let e = 0; e < n; e++)
    for (let id = 256; id < 256 + per; id++) g.decode(nf9({ seq: id, tplId: id }), `127.2.0.${e + 1}`, NOW);
  assert.equal(g.templateTotal, LIMITS.MAX_TEMPLATES_TOTAL);
  assert.equal(g.counts().templateRefused, n * per - LIMITS.MAX_TEMPLATES_TOTAL);
});

test('exporter table: full of spoofed senders, the least recently seen unlisted ones are evicted; idle ones are forgotten; listed ones never', () => {
  const s = sink();
  const d = new FlowDecoder(s);
  const tpl = nf9({ seq: 0 });
  let t = NOW;
  d.decode(tpl, '127.0.0.96', t); // a real exporter, seen at the start and again later
  for (let i = 1; i < LIMITS.MAX_EXPORTERS; i++) d.decode(tpl, `127.10.${(i >> 8) & 255}.${i & 255}`, t++);
  d.decode(nf9({ seq: 1, recs: [{ dst: '203.0.113.60', packets: 1, bytes: 60 }] }), '127.0.0.96', t++);
  assert.equal(d.stats().length, LIMITS.MAX_EXPORTERS);
  // Full: a newcomer makes the oldest sixteenth go (not the real exporter, seen just now).
  assert.equal(d.decode(tpl, '127.200.0.1', t), 'nf9');
  assert.ok(
    d.counts().evictedExporter >= LIMITS.MAX_EXPORTERS / 16 - 1,
    `evicted ${d.counts().evictedExporter}`,
  );
  const held = new Set(d.stats().map((e) => e.exporter));
  assert.ok(held.has('127.0.0.96') && held.has('127.200.0.1'));
  assert.equal(
    d.templateTotal,
    d.stats().reduce((a, e) => a + e.templates, 0),
  );
  // An hour later everything idle is forgotten; a listed exporter never is.
  const l = new FlowDecoder(sink(), {
    admit: { exporters: exporters(['127.0.0.97', 'edge'], ['127.3.0.0/16', 'lab']) },
  });
  l.decode(tpl, '127.0.0.97', NOW);
  l.decode(tpl, '127.3.0.1', NOW);
  l.decode(tpl, '127.3.0.2', NOW + LIMITS.EXPORTER_IDLE_MS + 60_000);
  assert.deepEqual(
    l
      .stats()
      .map((e) => e.exporter)
      .sort(),
    ['127.0.0.97', '127.3.0.1', '127.3.0.2'],
  );
  const o = new FlowDecoder(sink());
  o.decode(tpl, '127.0.0.98', NOW);
  o.decode(tpl, '127.0.0.99', NOW + LIMITS.EXPORTER_IDLE_MS + 60_000);
  assert.deepEqual(
    o.stats().map((e) => e.exporter),
    ['127.0.0.99'],
  );
  assert.equal(o.counts().evictedExporter, 1);
});

test('detection: a saturated bucket is counted and its excess dropped, never carried (the host is back to zero within one window)', () => {
  let now = NOW;
  const det = createDetector(makeConfig({}), { now: () => now });
  // 1e15 packets in one record: far beyond 2^32-1 per 100 ms bucket.
  det.sink.onFlow(
    rec({ timeMs: now, src: '192.0.2.1', dst: '203.0.113.70', protocol: 17, packets: 1e15, bytes: 1e15 }),
  );
  for (let i = 0; i < 12; i++) {
    now += 100;
    det.tick(now);
  }
  assert.equal(det.hostRates('203.0.113.70')?.in_packets ?? 0, 0);
  assert.equal(det.totals().in_packets, 0);
  assert.ok(det.bucketsSaturated > 0);
});

test('state: written in chunks off the event loop (timers keep running), atomically, the same JSON as exportState', async () => {
  const d = new FlowDecoder(sink());
  for (let e = 0; e < 16; e++)
    for (let id = 256; id < 256 + 1000; id++) d.decode(nf9({ seq: id, tplId: id }), `127.0.1.${e + 1}`, NOW);
  const dir = mkdtempSync(join(tmpdir(), 'bw-trust-'));
  const f = new StateFile(dir, 10_000);
  f.schedule(() => d.exportStateChunks());
  let last = performance.now();
  let maxGap = 0;
  const timer = setInterval(() => {
    const t = performance.now();
    maxGap = Math.max(maxGap, t - last);
    last = t;
  }, 1);
  const t0 = performance.now();
  await f.flush();
  const took = performance.now() - t0;
  clearInterval(timer);
  assert.equal(f.lastError, null);
  assert.deepEqual(JSON.parse(readFileSync(f.path, 'utf8')), JSON.parse(JSON.stringify(d.exportState())));
  assert.ok(
    maxGap < 100,
    `the event loop stalled ${maxGap.toFixed(1)} ms during a ${took.toFixed(0)} ms write`,
  );
});

test('check and run refuse a non-loopback flow listener without capture.exporters (file:line:col), accept it with them', () => {
  const open = 'capture:\n  listeners:\n    - { name: nf, type: netflow, address: 0.0.0.0, port: 2055 }\n';
  assert.throws(
    () => parseConfig('/etc/bw.yaml', open),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.errors.length === 1 &&
      /^\/etc\/bw\.yaml:3:\d+: capture\.listeners\[0\]\.address: flow listener on 0\.0\.0\.0 without capture\.exporters/.test(
        e.errors[0]!,
      ),
  );
  const c = parseConfig(
    '/etc/bw.yaml',
    `${open}  exporters: [{ address: 192.0.2.0/28, name: edges, sampling_rate: 1024 }]\n`,
  );
  assert.equal(c.capture.exporters.length, 1);
  assert.equal(c.capture.exporters[0]!.sampling_rate, 1024);
  assert.equal(c.capture.max_link_bps, 400e9);
  parseConfig('/etc/bw.yaml', 'capture:\n  listeners: [{ name: nf, address: "::1", port: 2055 }]\n');
});

test('detection: a hostgroup total past 2^32-1 bytes in one interval stays exact (a carpet bomb of 944 Gbps), and leaves with its window', () => {
  let now = NOW;
  const det = createDetector(
    makeConfig({
      networks: ['10.1.0.0/16'],
      hostgroups: [
        { name: 'default' },
        { name: 'carpet', prefixes: ['10.1.0.0/16'], hostgroupTotal: { incoming: { total: { mbps: 1e9 } } } },
      ],
    }),
    { now: () => now },
  );
  // 64 hosts at 1.8 GB each in one 100 ms interval: every host's bucket is exact, their
  // hostgroup's is 115.2 GB, 27 times 2^32.
  const per = 1.8e9;
  for (let i = 0; i < 64; i++)
    det.sink.onFlow(
      rec({ timeMs: now, src: '192.0.2.1', dst: `10.1.0.${i}`, protocol: 6, packets: 3e7, bytes: per }),
    );
  now += 100;
  det.tick(now);
  assert.equal(det.hostRates('10.1.0.5')!.in_bytes, per, 'a host: exact');
  assert.equal(det.hostgroupRates('carpet')!.in_bytes, 64 * per, 'the hostgroup: exact past 2^32-1');
  assert.equal(det.bucketsSaturated, 0);
  for (let i = 0; i < 11; i++) {
    now += 100;
    det.tick(now);
  }
  assert.equal(det.hostgroupRates('carpet')!.in_bytes, 0, 'gone with its window');
});
