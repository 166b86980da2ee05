/**
 * `breakwater run` with detection.shards: 2 and a decode worker: the SYN flood from the
 * sFlow and NetFlow v9 captures is detected on the shard threads (the records never pass
 * through the main thread) and notified with FastNetMon Advanced's JSON, samples included;
 * GET /attacks lists it; the metrics show the shards and their rings; a reload goes through.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { FIXTURES, freePort, recordingScript, replay, startDaemon, tempDir } from './helpers/daemon.js';
import { waitFor } from './helpers/routers.js';

for (const [format, type, file] of [
  ['sFlow', 'sflow', 'syn_flood.sflow.pcap'],
  ['NetFlow v9', 'netflow', 'syn_flood.nf9.pcap'],
] as const) {
  test(`detection on 2 shards with a decode worker: the ${format} SYN flood is banned with its samples`, {
    timeout: 60_000,
  }, async () => {
    const dir = tempDir('shards');
    const rec = recordingScript(dir);
    const port = await freePort('udp');
    const d = await startDaemon(
      dir,
      `
networks: [203.0.113.0/24]
capture:
  workers: 1
  listeners: [{ name: l, type: ${type}, address: 127.0.0.1, port: ${port} }]
detection: { shards: 2 }
api: { listen: "127.0.0.1:0" }
state_dir: ${join(dir, 'state')}
policies: ./policies
`,
      {
        'default.yaml': `
name: default
thresholds:
  ban:
    incoming: { total: { pps: 20000 } }
actions:
  ban_time: 10m
  blackhole: { enabled: false }
  notify: { script: ${rec.script}, format: json, timeout: 5s }
`,
      },
    );
    try {
      assert.match(d.output(), /detection on 2 shard thread\(s\)/);
      await replay(
        join(FIXTURES, `flows/${file}`),
        `127.0.0.1:${port}`,
        type === 'sflow' ? ['--rate', '2000'] : [],
      );
      const ban = await waitFor(
        'ban notification',
        async () => rec.calls().find((c) => c.stdin?.action === 'ban'),
        15000,
      );
      assert.equal(ban.stdin.ip, '203.0.113.10');
      assert.equal(ban.stdin.attack_details.attack_type, 'syn_flood');
      assert.ok(ban.stdin.attack_details.total_incoming_pps > 20000);
      assert.ok(ban.stdin.packet_dump_detailed.length > 0, 'samples from the shard');
      // A worker publishes its ring counters with its statistics, every 500 ms.
      const rows = (text: string) => [
        ...text.matchAll(/^breakwater_detection_shard_records_total\{shard="(\d)"\} (\d+)$/gm),
      ];
      const metrics = await waitFor(
        'records counted on the shards',
        async () => {
          const text = String((await d.api<string>('GET', '/metrics')).json);
          return rows(text).reduce((a, m) => a + Number(m[2]), 0) > 0 ? text : undefined;
        },
        5000,
      );
      assert.match(metrics, /^breakwater_detection_shards 2$/m);
      assert.equal(rows(metrics).length, 2, 'a row per shard');
      assert.match(metrics, /^breakwater_detection_shard_ring_dropped_total\{shard="0"\} 0$/m);
      assert.match(metrics, /^breakwater_capture_workers 1$/m);
      const attacks = await d.api<{ values: { ip?: string }[] }>('GET', '/attacks');
      assert.equal(attacks.status, 200);
      assert.ok(
        JSON.stringify(attacks.json).includes('203.0.113.10'),
        `the attack is listed: ${JSON.stringify(attacks.json).slice(0, 300)}`,
      );
      d.proc.kill('SIGHUP');
      await d.waitLog(/config reloaded/);
    } finally {
      assert.equal(await d.kill(), 0, d.output().slice(-2000));
    }
  });
}
