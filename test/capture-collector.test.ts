/**
 * The UDP collector end to end on loopback: format auto-detection on any port, IPv4 and
 * IPv6 listeners, garbage counted, templates persisted to the state dir and used after a
 * restart; replay refuses non-loopback targets; the live mirror path reads tcpdump's
 * pcap stream (fed from a file with tcpdump -r).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { Collector, MirrorCapture, replay, isLoopback, type FlowRecord } from '../src/capture/index.js';
import type { CaptureListener } from '../src/config/types.js';
import { fixtures, flowPayloads, quietLog, until } from './helpers/capture.js';
import { parseProcNetUdp, socketKey } from '../src/capture/input/socket-drops.js';
import { resolveWorkers } from '../src/capture/input/workers.js';

/** `npm run test:workers` runs this suite with decode workers (BREAKWATER_CAPTURE_WORKERS). */
const envWorkers = (listeners: number) => resolveWorkers('auto', listeners, 2);
const root = fixtures;
const payloads = flowPayloads;

function countingSink() {
  const s = {
    records: 0,
    packets: 0,
    exporters: new Set<string>(),
    onFlow(r: FlowRecord) {
      s.records++;
      s.packets += r.packets;
      s.exporters.add(r.exporter);
    },
  };
  return s;
}

test('collector: any format on any port, IPv4 and IPv6 listeners, garbage counted, exact totals', async () => {
  const listeners: CaptureListener[] = [
    { name: 'v4', type: 'netflow', address: '127.0.0.1', port: 0 },
    { name: 'v6', type: 'sflow', address: '::1', port: 0 },
  ];
  const sink = countingSink();
  const c = new Collector(listeners, sink, {
    receiveBufferBytes: 4 * 1024 * 1024,
    workers: envWorkers(listeners.length),
    log: quietLog,
  });
  await c.start();
  try {
    const [p4, p6] = c.ports();
    // sFlow sent to the "netflow" listener and NetFlow v9 to the "sflow" one: detected by version.
    await replay(payloads('syn_flood.sflow'), { host: '127.0.0.1', port: p4!, rate: 5000 });
    await replay(payloads('syn_flood.nf9'), { host: '::1', port: p6!, rate: 5000 });
    const s = dgram.createSocket('udp4');
    for (const junk of [Buffer.from('hello'), Buffer.alloc(2000, 0xff), Buffer.from([0, 9, 0, 1])]) {
      await new Promise<void>((r) => s.send(junk, p4!, '127.0.0.1', () => r()));
    }
    s.close();
    await until(
      () => sink.records >= 1870 + 1923 && c.stats().exporters.reduce((a, e) => a + e.malformed, 0) >= 3,
    );
    // Decode workers report every 500 ms: ask for figures up to now.
    await c.refresh();
    const st = c.stats();
    const v4 = st.exporters.find((e) => e.exporter === '127.0.0.1')!;
    const v6 = st.exporters.find((e) => e.exporter === '::1')!;
    assert.deepEqual(v4.formats, ['sflow']);
    assert.deepEqual(v6.formats, ['nf9']);
    // sFlow's rate (1:100 here) comes with each sample: the stats show it, per agent.
    assert.deepEqual(Object.values(v4.sampling), [100]);
    assert.match(Object.keys(v4.sampling)[0]!, /^sflow\/[0-9a-f.:]+\/\*$/);
    assert.equal(v4.records, 1923);
    assert.equal(v6.records, 1870);
    assert.equal(v4.malformed, 3);
    assert.equal(sink.packets, 192300 + 187300);
    assert.equal(st.listeners.length, 2);
    assert.ok(st.listeners[0]!.receiveBuffer > 0);
  } finally {
    await c.stop();
  }
});

test('collector: templates and rates persist in the state dir; a restart decodes data at once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-capture-'));
  try {
    const all = payloads('syn_flood.nf9');
    // Datagrams whose flowsets include a template (id 0) or options template (id 1).
    const hasTemplate = (b: Uint8Array) => {
      for (let p = 20; p + 4 <= b.length; ) {
        const id = (b[p]! << 8) | b[p + 1]!;
        const len = (b[p + 2]! << 8) | b[p + 3]!;
        if (id < 2) return true;
        if (len < 4) break;
        p += len;
      }
      return false;
    };
    const withTpl = all.filter(hasTemplate);
    const dataOnly = all.filter((b) => !hasTemplate(b));
    assert.ok(withTpl.length >= 1 && dataOnly.length > 10);
    const l: CaptureListener[] = [{ name: 'nf', type: 'auto', address: '127.0.0.1', port: 0 }];
    const s1 = countingSink();
    const c1 = new Collector(l, s1, {
      stateDir: dir,
      persistDebounceMs: 50,
      workers: envWorkers(l.length),
      log: quietLog,
    });
    await c1.start();
    await replay(withTpl, { host: '127.0.0.1', port: c1.ports()[0]!, rate: 1000 });
    await until(() => c1.stats().exporters[0]?.templates === 5);
    await c1.stop();
    assert.ok(existsSync(join(dir, 'capture-templates.json')));

    const s2 = countingSink();
    const c2 = new Collector(l, s2, { stateDir: dir, workers: envWorkers(l.length), log: quietLog });
    await c2.start();
    try {
      assert.equal(c2.stats().templatesRestored, 5);
      await replay(dataOnly, { host: '127.0.0.1', port: c2.ports()[0]!, rate: 5000 });
      const want = 1870 - s1.records;
      await until(() => s2.records >= want);
      await c2.refresh();
      const e = c2.stats().exporters[0]!;
      assert.equal(e.unknownTemplate, 0);
      assert.equal(s2.records, want);
      // The learned 1:100 came back too.
      assert.equal(s1.packets + s2.packets, 187300);
    } finally {
      await c2.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('replay refuses non-loopback targets', async () => {
  assert.ok(isLoopback('127.0.0.5') && isLoopback('::1') && isLoopback('localhost'));
  assert.ok(!isLoopback('192.0.2.1') && !isLoopback('::2') && !isLoopback('example.com'));
  await assert.rejects(
    replay([new Uint8Array(4)], { host: '192.0.2.1', port: 9, rate: 0 }),
    /only targets loopback/,
  );
  const cli = spawnSync(
    process.execPath,
    [
      new URL('../src/cli/main.js', import.meta.url).pathname,
      'replay',
      new URL('flows/syn_flood.nf9.pcap', root).pathname,
      '--to',
      '10.0.0.1:2055',
    ],
    { encoding: 'utf8' },
  );
  assert.equal(cli.status, 2);
  assert.match(cli.stderr, /refusing to send to 10\.0\.0\.1/);
});

test('live mirror: tcpdump pcap stream decoded frame by frame (tcpdump -r as the source)', async () => {
  const which = spawnSync(
    'sh',
    ['-c', 'command -v tcpdump || ls /usr/sbin/tcpdump /usr/bin/tcpdump 2>/dev/null | head -1'],
    { encoding: 'utf8' },
  );
  const bin = which.stdout.trim().split('\n')[0];
  assert.ok(bin, 'tcpdump is required (Debian package tcpdump)');
  const truth = JSON.parse(readFileSync(new URL('mirror/encap.truth.json', root), 'utf8')) as {
    totals: { frames: number; bytes: number };
  };
  const sink = countingSink();
  const m = new MirrorCapture('file', sink, {
    tcpdump: bin,
    sourceArgs: ['-r', new URL('mirror/encap.pcap', root).pathname],
    log: quietLog,
  });
  await m.start();
  await m.done();
  const st = m.stats();
  assert.equal(st.frames, truth.totals.frames);
  assert.equal(st.bytes, truth.totals.bytes);
  assert.equal(sink.records, truth.totals.frames - 1); // all but the ARP frame
  assert.deepEqual([...sink.exporters], ['mirror:file']);
});

test('socket drops: /proc/net/udp rows parsed by address and port (IPv4 words byte-swapped on little-endian, IPv6)', () => {
  const text = [
    '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
    '  812: 0100007F:0807 00000000:0000 07 00000000:00001F40 00:00000000 00000000     0        0 93311 2 0000000000000000 17',
    '  900: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 93312 2 0000000000000000 0',
    'garbage line',
  ].join('\n');
  const le = parseProcNetUdp(text, true);
  assert.deepEqual(le.get(socketKey('127.0.0.1', 2055)!), { drops: 17, rxQueue: 8000 });
  assert.deepEqual(le.get(socketKey('0.0.0.0', 68)!), { drops: 0, rxQueue: 0 });
  assert.equal(le.size, 2, 'the header and a garbage line are skipped');
  // The same bytes printed by a big-endian kernel: 7F000001.
  const be = parseProcNetUdp(text.replace('0100007F', '7F000001'), false);
  assert.equal(be.get(socketKey('127.0.0.1', 2055)!)?.drops, 17);
  const v6 = [
    '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
    '  100: 00000000000000000000000001000000:A1B2 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 5',
  ].join('\n');
  assert.equal(parseProcNetUdp(v6, true).get(socketKey('::1', 0xa1b2)!)?.drops, 5);
});

test('socket drops: datagrams the kernel dropped while the daemon did not read are counted per listener', async (t) => {
  if (!existsSync('/proc/net/udp')) {
    // Not Linux: the counters are absent (null), not zero.
    assert.fail('this test needs /proc/net/udp (Linux)');
  }
  const c = new Collector(
    [{ name: 'tiny', type: 'netflow', address: '127.0.0.1', port: 0 }],
    countingSink(),
    {
      receiveBufferBytes: 4096,
      // The main thread's own socket: this test blocks that thread so the kernel drops.
      workers: 0,
      log: quietLog,
    },
  );
  await c.start();
  t.after(() => c.stop());
  const port = c.ports()[0]!;
  assert.equal(c.stats().listeners[0]!.kernelDrops, 0);
  // A child process sends 2,000 datagrams while this event loop is blocked in spawnSync:
  // nothing reads the socket, its small buffer overflows.
  const r = spawnSync(
    process.execPath,
    [
      '-e',
      `const s=require('dgram').createSocket('udp4');let n=0;const b=Buffer.alloc(1000);` +
        `(function go(){for(let i=0;i<200;i++)s.send(b,${port},'127.0.0.1');if(++n<10)setImmediate(go);else setTimeout(()=>s.close(),200)})()`,
    ],
    { timeout: 20_000 },
  );
  assert.equal(r.status, 0, String(r.stderr));
  const l = c.stats().listeners[0]!;
  assert.ok((l.kernelDrops ?? 0) > 0, `kernel drops counted (${l.kernelDrops})`);
  assert.ok(l.rxQueueBytes !== null && l.rxQueueBytes > 0, 'the queue is full until it is read');
  // Once read, what arrived is decoded and counted as datagrams; drops + read = sent.
  for (let i = 0; i < 40 && c.stats().listeners[0]!.rxQueueBytes !== 0; i++)
    await new Promise((r) => setTimeout(r, 50));
  const after = c.stats().listeners[0]!;
  assert.equal(after.datagrams + after.kernelDrops!, 2000);
});
