/**
 * Decode workers (capture.workers): the same datagrams give the same records, field for
 * field, with 0, 1 and 2 workers; templates learned by one worker decode another's data;
 * a full ring drops and counts, never blocks; a worker that dies is started again with the
 * templates known. The record ring itself against a reference: random records, random
 * drain sizes, wrap-around, IPv6 and headers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Collector, MirrorCapture, MirrorThread, replay, type FlowRecord } from '../src/capture/index.js';
import { newFlowRecord } from '../src/capture/flow.js';
import { createRing, RingReader, RingWriter } from '../src/capture/input/record-ring.js';
import { resolveWorkers } from '../src/capture/input/workers.js';
import type { CaptureListener } from '../src/config/types.js';
import { fixtures, flowPayloads, quietLog, until } from './helpers/capture.js';

const root = fixtures;
const payloads = flowPayloads;

/** Every field a sink can read, receive time excepted (it is the clock's). */
function text(r: FlowRecord): string {
  const h = r.header;
  return JSON.stringify([
    r.exporter,
    r.durationMs,
    r.ipVersion,
    r.ipVersion === 4 ? r.src4 : Buffer.from(r.src6).toString('hex'),
    r.ipVersion === 4 ? r.dst4 : Buffer.from(r.dst6).toString('hex'),
    r.protocol,
    r.srcPort,
    r.dstPort,
    r.icmpType,
    r.icmpCode,
    r.tcpFlags,
    r.fragment,
    r.packetLength,
    r.packets,
    r.bytes,
    r.flows,
    r.samplingRate,
    r.ifIn,
    r.ifOut,
    r.dropped,
    h ? Buffer.from(h).toString('hex') : null,
    r.headerLinkType,
    r.frameLength,
    r.reverse,
  ]);
}

const FILES = [
  'syn_flood.sflow',
  'syn_flood.nf9',
  'udp6_flood.ipfix',
  'udp6_flood.sflow',
  'udp_dns_amp.nf9',
  'background.nf5',
  'background.ipfix',
];

async function collect(workers: number): Promise<{ records: string[]; totals: string }> {
  const listeners: CaptureListener[] = [
    { name: 'a', type: 'auto', address: '127.0.0.1', port: 0 },
    { name: 'b', type: 'auto', address: '::1', port: 0 },
  ];
  const records: string[] = [];
  const c = new Collector(listeners, { onFlow: (r) => records.push(text(r)) }, { workers, log: quietLog });
  await c.start();
  try {
    assert.equal(c.workerCount, workers);
    const [pa, pb] = c.ports();
    let expected = 0;
    for (const [i, f] of FILES.entries()) {
      const p = payloads(f);
      // Each file from its own source port, alternately to either listener (and thread).
      await replay(
        p,
        i % 2 ? { host: '::1', port: pb!, rate: 20000 } : { host: '127.0.0.1', port: pa!, rate: 20000 },
      );
      expected += p.length;
    }
    const datagrams = () => c.stats().listeners.reduce((a, l) => a + l.datagrams, 0);
    assert.ok(await until(() => datagrams() >= expected), `${datagrams()} of ${expected} datagrams`);
    await c.refresh();
    const st = c.stats();
    const totals = JSON.stringify(
      st.exporters
        .map((e) => [
          e.exporter,
          // Several workers may each have seen part of an exporter's formats and rates first.
          [...e.formats].sort(),
          e.datagrams,
          e.records,
          e.malformed,
          e.templates,
          Object.entries(e.sampling).sort(),
        ])
        .sort(),
    );
    assert.ok(await until(() => records.length >= st.exporters.reduce((a, e) => a + e.records, 0)));
    return { records: records.sort(), totals };
  } finally {
    await c.stop();
  }
}

test('decode workers: 0, 1 and 2 workers deliver the same records, field for field, and the same totals', async () => {
  const base = await collect(0);
  assert.ok(base.records.length > 5000, `${base.records.length} records`);
  // Workers 1: both listeners on one worker; workers 2: one each; batched (recvmmsg addon)
  // and, with the addon disabled as where it did not build, through dgram; workers 3: more
  // workers than listeners, every worker on both ports (SO_REUSEPORT), each file's source
  // port hashed to one of them.
  for (const [w, native] of [
    [1, true],
    [2, true],
    [2, false],
    [3, true],
  ] as const) {
    if (!native) process.env.BREAKWATER_DISABLE_NATIVE = '1';
    try {
      const got = await collect(w);
      const how = `workers ${w}${native ? '' : ', addon disabled'}`;
      assert.equal(got.records.length, base.records.length, `${how}: record count`);
      assert.deepEqual(got.records, base.records, `${how}: records`);
      assert.equal(got.totals, base.totals, `${how}: per-exporter totals`);
    } finally {
      delete process.env.BREAKWATER_DISABLE_NATIVE;
    }
  }
});

test('decode workers: templates one worker learned decode the data another receives', async () => {
  const listeners: CaptureListener[] = [
    { name: 'a', type: 'auto', address: '127.0.0.1', port: 0 },
    { name: 'b', type: 'auto', address: '127.0.0.1', port: 0 },
  ];
  let records = 0;
  const c = new Collector(listeners, { onFlow: () => records++ }, { workers: 2, log: quietLog });
  await c.start();
  try {
    const [pa, pb] = c.ports();
    const p = payloads('syn_flood.nf9');
    // The capture starts with its templates: the first datagram to listener a, the rest to b.
    const first = p.findIndex((d) => d.length > 0);
    await replay(p.slice(0, first + 1), { host: '127.0.0.1', port: pa!, rate: 1000, from: '127.0.0.1' });
    await until(() => c.stats().exporters.some((e) => e.templates > 0));
    await new Promise((r) => setTimeout(r, 300));
    const before = records;
    await replay(p.slice(first + 1), { host: '127.0.0.1', port: pb!, rate: 20000 });
    await c.refresh();
    assert.ok(
      await until(() => records - before >= 1800),
      `${records - before} records decoded by the other worker`,
    );
    const st = c.stats();
    assert.equal(
      st.exporters.reduce((a, e) => a + e.pendingDropped, 0),
      0,
    );
  } finally {
    await c.stop();
  }
});

test('decode workers: a worker that dies is started again with the templates it had, counted', async () => {
  const listeners: CaptureListener[] = [{ name: 'a', type: 'auto', address: '127.0.0.1', port: 0 }];
  let records = 0;
  const c = new Collector(listeners, { onFlow: () => records++ }, { workers: 1, log: quietLog });
  await c.start();
  try {
    const p = payloads('syn_flood.nf9');
    const first = p.findIndex((d) => d.length > 0);
    await replay(p.slice(0, first + 1), { host: '127.0.0.1', port: c.ports()[0]!, rate: 1000 });
    assert.ok(await until(() => c.stats().exporters.some((e) => e.templates > 0)));
    await new Promise((r) => setTimeout(r, 200));
    const before = records;
    await c.crashWorker(0);
    // The restarted worker binds the same port again (listener port 0 resolved at first start).
    assert.ok(await until(() => c.stats().workers[0]!.restarts === 1 && c.stats().workers[0]!.up, 10_000));
    await replay(p.slice(first + 1), { host: '127.0.0.1', port: c.ports()[0]!, rate: 20000 });
    assert.ok(await until(() => records - before >= 1800), `${records - before} records after the restart`);
    await c.refresh();
    const st = c.stats();
    assert.equal(st.workers[0]!.restarts, 1);
    assert.ok(st.exporters.reduce((a, e) => a + e.records, 0) >= records);
  } finally {
    await c.stop();
  }
});

test('decode workers: the live mirror on a worker thread delivers the same records as on the main thread', async () => {
  const which = spawnSync(
    'sh',
    ['-c', 'command -v tcpdump || ls /usr/sbin/tcpdump /usr/bin/tcpdump 2>/dev/null'],
    {
      encoding: 'utf8',
    },
  );
  const bin = which.stdout.trim().split('\n')[0];
  assert.ok(bin, 'tcpdump is required (Debian package tcpdump)');
  const file = new URL('mirror/encap.pcap', root).pathname;
  const opts = { tcpdump: bin, sourceArgs: ['-r', file] };
  const main: string[] = [];
  const m0 = new MirrorCapture('file', { onFlow: (r) => main.push(text(r)) }, { ...opts, log: quietLog });
  await m0.start();
  await m0.done();
  const threaded: string[] = [];
  const m1 = new MirrorThread('file', { onFlow: (r) => threaded.push(text(r)) }, quietLog, opts);
  await m1.start();
  await m1.done();
  const st1 = m1.stats();
  await m1.stop();
  assert.ok(main.length > 10, `${main.length} frames`);
  assert.deepEqual(threaded, main);
  assert.deepEqual(
    { ...st1, lastSeenMs: 0, running: false },
    { ...m0.stats(), lastSeenMs: 0, running: false },
  );
  assert.equal(m1.ring().dropped, 0);
});

/** A random record, as a decoder would fill it. */
function randomRecord(rnd: () => number, i: number): FlowRecord {
  const r = newFlowRecord();
  r.exporter = `10.0.0.${Math.floor(rnd() * 5)}`;
  r.timeMs = 1.7e12 + i;
  r.durationMs = Math.floor(rnd() * 60000);
  r.ipVersion = rnd() < 0.3 ? 6 : 4;
  if (r.ipVersion === 6) {
    for (let k = 0; k < 16; k++) {
      r.src6[k] = Math.floor(rnd() * 256);
      r.dst6[k] = Math.floor(rnd() * 256);
    }
  } else {
    r.src4 = Math.floor(rnd() * 2 ** 32);
    r.dst4 = Math.floor(rnd() * 2 ** 32);
  }
  r.protocol = Math.floor(rnd() * 256);
  r.srcPort = Math.floor(rnd() * 65536);
  r.dstPort = Math.floor(rnd() * 65536);
  r.icmpType = Math.floor(rnd() * 257) - 1;
  r.icmpCode = Math.floor(rnd() * 257) - 1;
  r.tcpFlags = Math.floor(rnd() * 256);
  r.fragment = rnd() < 0.1;
  r.packetLength = Math.floor(rnd() * 9000);
  r.packets = Math.floor(rnd() * 2 ** 40);
  r.bytes = Math.floor(rnd() * 2 ** 50);
  r.flows = Math.floor(rnd() * 100);
  r.samplingRate = 1 + Math.floor(rnd() * 2 ** 20);
  r.ifIn = Math.floor(rnd() * 2 ** 32);
  r.ifOut = Math.floor(rnd() * 2 ** 32);
  r.dropped = rnd() < 0.1;
  r.reverse = rnd() < 0.1;
  if (rnd() < 0.4) {
    const h = new Uint8Array(Math.floor(rnd() * 300));
    for (let k = 0; k < h.length; k++) h[k] = Math.floor(rnd() * 256);
    r.header = h;
    r.headerLinkType = 1;
    r.frameLength = h.length + Math.floor(rnd() * 1000);
  }
  return r;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test('record ring: random records through a small ring come out equal, in order; a full ring drops and counts', () => {
  for (let run = 0; run < 20; run++) {
    const rnd = lcg(run + 1);
    const sab = createRing(1 << 16);
    const w = new RingWriter(sab);
    const r = new RingReader(sab);
    const sent: string[] = [];
    const got: string[] = [];
    let dropped = 0;
    for (let i = 0; i < 3000; i++) {
      const rec = randomRecord(rnd, i);
      const before = w.counts().dropped;
      w.onFlow(rec);
      w.commit();
      w.flushCounts();
      if (w.counts().dropped === before) sent.push(text(rec) + rec.timeMs);
      else dropped++;
      // The reader falls behind at random, so the ring fills, wraps and drains in pieces.
      if (rnd() < 0.01) r.drain({ onFlow: (x) => got.push(text(x) + x.timeMs) }, Math.floor(rnd() * 150));
    }
    while (r.drain({ onFlow: (x) => got.push(text(x) + x.timeMs) }, 1000) > 0);
    assert.deepEqual(got, sent, `run ${run}`);
    const c = r.counts();
    assert.equal(c.dropped, dropped, `run ${run}: dropped`);
    assert.equal(c.written, sent.length);
    assert.ok(dropped > 0, `run ${run}: the small ring filled`);
    assert.equal(c.queuedBytes, 0);
  }
});

test('capture.workers: auto is the environment, else cores - 2 and at least 1, never more than listeners', () => {
  assert.equal(resolveWorkers('auto', 3, 2, {}), 1);
  assert.equal(resolveWorkers('auto', 3, 1, {}), 1);
  assert.equal(resolveWorkers('auto', 0, 8, {}), 0);
  assert.equal(resolveWorkers('auto', 3, 8, {}), 3);
  assert.equal(resolveWorkers('auto', 8, 8, {}), 6);
  assert.equal(resolveWorkers('auto', 3, 2, { BREAKWATER_CAPTURE_WORKERS: '2' }), 2);
  assert.equal(resolveWorkers('auto', 1, 2, { BREAKWATER_CAPTURE_WORKERS: '2' }), 1);
  assert.equal(resolveWorkers('auto', 3, 2, { BREAKWATER_CAPTURE_WORKERS: 'x' }), 1);
  assert.equal(resolveWorkers('auto', 3, 2, { BREAKWATER_CAPTURE_WORKERS: '0' }), 0);
  assert.equal(resolveWorkers(0, 3, 16, { BREAKWATER_CAPTURE_WORKERS: '2' }), 0);
  assert.equal(resolveWorkers(2, 3, 2, {}), 2);
});

test('decode workers writing to detection shards: a worker that dies goes on with the same shard rings', async () => {
  const listeners: CaptureListener[] = [{ name: 'a', type: 'auto', address: '127.0.0.1', port: 0 }];
  const rings = [createRing(1 << 22), createRing(1 << 22)];
  let viaMain = 0;
  const c = new Collector(
    listeners,
    { onFlow: () => viaMain++ },
    { workers: 1, shardRings: () => rings, log: quietLog },
  );
  await c.start();
  // The test reads the rings as the shards would.
  const readers = rings.map((r) => new RingReader(r));
  const got = { records: 0, unnamed: 0 };
  const sink = {
    onFlow: (f: FlowRecord) => {
      got.records++;
      if (f.exporter === '') got.unnamed++;
    },
  };
  const drain = () => {
    for (const r of readers) r.drainAll(sink);
    return got.records;
  };
  try {
    const p = payloads('syn_flood.nf9');
    const first = p.findIndex((d) => d.length > 0);
    await replay(p.slice(0, first + 1), { host: '127.0.0.1', port: c.ports()[0]!, rate: 1000 });
    assert.ok(await until(() => c.stats().exporters.some((e) => e.templates > 0)));
    await c.refresh();
    const writtenBefore = c.stats().workers[0]!.written;
    const before = drain();
    await c.crashWorker(0);
    assert.ok(await until(() => c.stats().workers[0]!.restarts === 1 && c.stats().workers[0]!.up, 10_000));
    await replay(p.slice(first + 1), { host: '127.0.0.1', port: c.ports()[0]!, rate: 20000 });
    assert.ok(
      await until(() => drain() - before >= 1800),
      `${got.records - before} records after the restart`,
    );
    await c.refresh();
    const st = c.stats().workers[0]!;
    assert.ok(st.written >= writtenBefore + 1800, `ring counters go on: ${writtenBefore} -> ${st.written}`);
    assert.equal(st.written, got.records, 'every record written to a shard ring was read from one');
    assert.equal(got.unnamed, 0, 'the restarted worker named its exporter again before its records');
    assert.equal(viaMain, 0, 'nothing passed through the main thread');
  } finally {
    await c.stop();
  }
});
