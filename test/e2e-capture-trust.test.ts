/**
 * The capture trust boundary in a real daemon (issue 14), loopback only: forged floods from
 * a source outside capture.exporters, poisoned records from a listed one, 65,536 spoofed
 * template senders, the API while a large template state is saved, and `breakwater check`
 * refusing an open non-loopback listener.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './helpers/routers.js';
import {
  BIN,
  FIXTURES,
  freePort,
  recordingScript,
  replay,
  startDaemon,
  tempDir,
  type DaemonHandle,
} from './helpers/daemon.js';
import { ipfix, nf5, nf9, sendFrom, U64_MAX, writeTemplateState } from './helpers/forge.js';
import type { ListAnswer, ObjectAnswer } from './helpers/answers.js';

const POLICY = (script: string) => `name: default
thresholds: { ban: { incoming: { total: { pps: 20000, flows: null } } } }
actions:
  ban_time: 60s
  blackhole: { enabled: true, communities: ["65535:666"], next_hop: { ipv4: 192.0.2.1 } }
  notify: { script: ${script}, format: json, timeout: 5s }
`;

/** A daemon with one NetFlow listener on 127.0.0.1:nf and one listed exporter. */
function exporterDaemon(dir: string, nf: number, exporter: string, script: string): Promise<DaemonHandle> {
  const yaml = `networks: [203.0.113.0/24]
capture:
  listeners: [{ name: nf, type: netflow, address: 127.0.0.1, port: ${nf} }]
  exporters: [{ address: ${exporter}, name: edge1 }]
api: { listen: "127.0.0.1:0" }
state_dir: ${join(dir, 'state')}
policies: ./policies
`;
  return startDaemon(dir, yaml, { 'default.yaml': POLICY(script) });
}

function metric(text: string, name: string, labels = ''): number {
  const re = new RegExp(`^${name}${labels ? `\\{${labels}\\}` : ''} (\\S+)$`, 'm');
  const m = re.exec(text);
  return m ? Number(m[1]) : 0;
}

test('forged flows: a flood from an unlisted source bans nothing and leaves no state; poisoned records from a listed one are dropped; the real flood bans', {
  timeout: 90_000,
}, async () => {
  const dir = tempDir('trust');
  const rec = recordingScript(dir);
  const nf = await freePort('udp');
  let d: DaemonHandle | undefined;
  try {
    d = await exporterDaemon(dir, nf, '127.0.0.1', rec.script);
    // 1. The SYN flood capture (~60k pps to 203.0.113.10) from 127.0.0.99, not an exporter.
    await replay(join(FIXTURES, 'flows/syn_flood.nf9.pcap'), `127.0.0.1:${nf}`, [
      '--from',
      '127.0.0.99',
      '--rate',
      '20',
      '--duration',
      '3',
    ]);
    await new Promise((r) => setTimeout(r, 1200));
    assert.deepEqual(rec.calls(), [], 'no ban');
    assert.equal(
      (await d.api<ObjectAnswer<{ in_packets: number }>>('GET', '/single_host_counters/203.0.113.10')).json
        .object.in_packets,
      0,
    );
    assert.deepEqual(
      (await d.api<ListAnswer<unknown>>('GET', '/host_counters/packets/incoming')).json.values ?? [],
      [],
      'no host state',
    );
    let m = (await d.api('GET', '/metrics')).json as string;
    assert.ok(
      metric(m, 'breakwater_capture_unknown_source_datagrams_total') >= 50,
      'the dropped datagrams are counted',
    );
    assert.doesNotMatch(m, /exporter="127\.0\.0\.99"/, 'no exporter state for the forger');
    await d.waitLog(/from sources not in capture\.exporters \(first seen: 127\.0\.0\.99\)/);

    // 2. Poisoned records from the listed exporter: v5 0xffffffff x sampling 0x3fff, v9 and
    //    IPFIX with 8-byte counters and per-record sampling 2^64-1.
    await sendFrom(
      '127.0.0.1',
      nf,
      nf5({ dst: '203.0.113.20', packets: 0xffffffff, bytes: 0xffffffff, sampling: 0x3fff }),
    );
    await sendFrom(
      '127.0.0.1',
      nf,
      nf9({
        seq: 0,
        sourceId: 7,
        sampling: true,
        recs: [{ dst: '203.0.113.30', packets: U64_MAX, bytes: U64_MAX, sampling: U64_MAX }],
      }),
    );
    await sendFrom(
      '127.0.0.1',
      nf,
      ipfix({
        seq: 0,
        sampling: true,
        recs: [{ dst: '203.0.113.40', packets: U64_MAX, bytes: U64_MAX, sampling: U64_MAX }],
      }),
    );
    await waitFor(
      'poisoned records counted',
      async () =>
        metric(
          (await d!.api<string>('GET', '/metrics')).json,
          'breakwater_capture_events_total',
          'event="record_out_of_bounds"',
        ) >= 3,
      5000,
    );
    m = (await d.api('GET', '/metrics')).json as string;
    assert.ok(metric(m, 'breakwater_capture_events_total', 'event="bad_sampling_rate"') >= 2);
    // Within one window (1 s) nothing of it is left anywhere.
    await new Promise((r) => setTimeout(r, 1100));
    for (const ip of ['203.0.113.20', '203.0.113.30', '203.0.113.40'])
      assert.equal(
        (await d.api<ObjectAnswer<{ in_packets: number }>>('GET', `/single_host_counters/${ip}`)).json.object
          .in_packets,
        0,
        ip,
      );
    const totals = (await d.api<ListAnswer<unknown>>('GET', '/total_traffic_counters')).json.values as {
      counter_name: string;
      value: number;
      unit: string;
    }[];
    assert.ok(
      totals.every((t) => t.value === 0),
      JSON.stringify(totals),
    );
    assert.deepEqual(rec.calls(), [], 'still no ban');

    // 3. The same flood from the listed exporter: banned.
    await replay(join(FIXTURES, 'flows/syn_flood.nf9.pcap'), `127.0.0.1:${nf}`, [
      '--from',
      '127.0.0.1',
      '--rate',
      '20',
      '--duration',
      '3',
    ]);
    const ban = await waitFor('ban', async () => rec.calls().find((c) => c.stdin?.action === 'ban'), 10_000);
    assert.equal(ban.stdin.ip, '203.0.113.10');
  } finally {
    await d?.kill();
  }
});

test('65,536 spoofed template senders leave the configured exporter fully decoded', {
  timeout: 120_000,
}, async () => {
  const dir = tempDir('trust-spoof');
  const rec = recordingScript(dir);
  const nf = await freePort('udp');
  let d: DaemonHandle | undefined;
  try {
    d = await exporterDaemon(dir, nf, '127.0.0.91', rec.script);
    const tpl = nf9({ seq: 0 });
    const t0 = Date.now();
    for (let hi = 0; hi < 256; hi++) {
      await Promise.all(Array.from({ length: 256 }, (_, lo) => sendFrom(`127.100.${hi}.${lo}`, nf, tpl)));
    }
    const spoofMs = Date.now() - t0;
    const n = 200;
    for (let i = 0; i < n; i++)
      await sendFrom(
        '127.0.0.91',
        nf,
        nf9({ seq: i, recs: [{ dst: '203.0.113.80', packets: 1, bytes: 60 }] }),
      );
    const m = await waitFor(
      'the real exporter decoded',
      async () => {
        const t = (await d!.api('GET', '/metrics')).json as string;
        return metric(t, 'breakwater_capture_records_total', 'exporter="127.0.0.91",protocol="nf9"') >= n
          ? t
          : null;
      },
      10_000,
    );
    assert.equal(metric(m, 'breakwater_capture_records_total', 'exporter="127.0.0.91",protocol="nf9"'), n);
    assert.equal(metric(m, 'breakwater_capture_malformed_total', 'exporter="127.0.0.91",protocol="nf9"'), 0);
    // Loopback UDP may lose some of a 65,536-datagram burst; most are counted, none held.
    assert.ok(
      metric(m, 'breakwater_capture_unknown_source_datagrams_total') > 60_000,
      `spoofed datagrams counted (sent in ${spoofMs} ms)`,
    );
    assert.equal((m.match(/^breakwater_capture_datagrams_total\{/gm) ?? []).length, 1, 'one exporter known');
  } finally {
    await d?.kill();
  }
});

test('the API is not stalled while a large template state is saved', { timeout: 120_000 }, async (t) => {
  const dir = tempDir('trust-save');
  const rec = recordingScript(dir);
  const nf = await freePort('udp');
  const state = join(dir, 'state');
  // 16 exporters x 4,000 templates of 40 fields (~20 MB of JSON): restored at start, then
  // saved again when a new template arrives.
  const file = writeTemplateState(state, 16, 4000);
  const size0 = statSync(file).size;
  let d: DaemonHandle | undefined;
  try {
    d = await startDaemon(
      dir,
      `networks: [203.0.113.0/24]
capture:
  listeners: [{ name: nf, type: netflow, address: 127.0.0.1, port: ${nf} }]
  exporters: [{ address: 127.0.1.0/24, name: lab }]
api: { listen: "127.0.0.1:0" }
state_dir: ${state}
policies: ./policies
`,
      { 'default.yaml': POLICY(rec.script) },
    );
    await d.waitLog(/restored 64000 templates/);
    const get = async () => {
      const t0 = performance.now();
      const res: { status: number } = await d!.api('GET', '/total_traffic_counters');
      assert.equal(res.status, 200);
      return performance.now() - t0;
    };
    // The same GETs with no save, for 2 s: what this machine's load alone costs. A save on
    // the main thread (the old synchronous write: ~500 ms for this state) stands out above
    // both 300 ms and three times that. The issue's 100 ms is a figure for bench/api-flood.ts:
    // a loaded CI machine (two test files at once) stalls a GET past it without any save.
    let base = 0;
    for (const until = Date.now() + 2000; Date.now() < until; ) {
      base = Math.max(base, await get());
      await new Promise((r) => setTimeout(r, 5));
    }
    const mtime0 = statSync(file).mtimeMs;
    await sendFrom('127.0.1.20', nf, nf9({ seq: 0 })); // a new template: a save ~1 s later
    let max = 0;
    let gets = 0;
    let saved = false;
    const until = Date.now() + 15_000;
    let after = 0;
    while (Date.now() < until && after < 20) {
      max = Math.max(max, await get());
      gets++;
      if (!saved && statSync(file).mtimeMs !== mtime0) saved = true;
      if (saved) after++; // a few more GETs after the rename, then stop
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok(saved, 'the state was saved');
    assert.ok(statSync(file).size > size0 * 0.9, 'the whole state was written');
    const bound = Math.max(300, 3 * base);
    t.diagnostic(
      `slowest of ${gets} GETs during the save of ${statSync(file).size} bytes: ${max.toFixed(1)} ms (without a save: ${base.toFixed(1)} ms; bound ${bound.toFixed(0)} ms)`,
    );
    assert.ok(
      max < bound,
      `slowest of ${gets} GETs during the save: ${max.toFixed(1)} ms (without a save: ${base.toFixed(1)} ms)`,
    );
  } finally {
    await d?.kill();
  }
});

test('breakwater check refuses a non-loopback flow listener without capture.exporters with file:line:col', () => {
  const dir = tempDir('trust-check');
  mkdirSync(join(dir, 'policies'));
  const cfg = join(dir, 'breakwater.yaml');
  writeFileSync(
    cfg,
    `capture:\n  listeners:\n    - { name: nf, type: netflow, address: 0.0.0.0, port: 2055 }\npolicies: ./policies\n`,
  );
  const r = spawnSync(process.execPath, [BIN, 'check', '--config', cfg], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  // One error line (then check's "1 error" summary).
  const lines = (r.stdout + r.stderr)
    .trim()
    .split('\n')
    .filter((l) => /:\d+:\d+: /.test(l));
  assert.equal(lines.length, 1, r.stdout + r.stderr);
  assert.match(
    lines[0]!,
    /breakwater\.yaml:3:\d+: capture\.listeners\[0\]\.address: flow listener on 0\.0\.0\.0 without capture\.exporters/,
  );
  const run = spawnSync(process.execPath, [BIN, 'run', '--config', cfg], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.notEqual(run.status, 0);
  assert.match(
    run.stdout + run.stderr,
    /breakwater\.yaml:3:\d+: capture\.listeners\[0\]\.address: flow listener on 0\.0\.0\.0 without capture\.exporters/,
  );
  writeFileSync(
    cfg,
    `capture:\n  listeners:\n    - { name: nf, type: netflow, address: 0.0.0.0, port: 2055 }\n  exporters: [{ address: 192.0.2.0/28, name: edges }]\npolicies: ./policies\n`,
  );
  const ok = spawnSync(process.execPath, [BIN, 'check', '--config', cfg], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
});
