/**
 * Graphite export against Debian's carbon-cache: the daemon pushes totals, hostgroup and
 * per-host series over the plaintext protocol; the test reads the points back from the
 * whisper files and compares them with the traffic it sent. A Graphite that is down does
 * not slow detection, is counted in the metrics, and is written to once it comes up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { freePort, startDaemon, tempDir } from './helpers/daemon.js';
import { assertDetectsWhileDown, exportMetric, startCarbon, whisperPoints } from './helpers/servers.js';
import { sflowStream, udpTo } from './helpers/traffic.js';
import { waitFor } from './helpers/routers.js';

const near = (v: number, want: number, tol = 0.2) => Math.abs(v - want) <= want * tol;

function config(dir: string, sflow: number, graphite: number): string {
  return `networks: [10.20.0.0/24]
capture: { listeners: [{ name: sflow, type: sflow, address: 127.0.0.1, port: ${sflow} }] }
api: { listen: "127.0.0.1:0" }
state_dir: ${join(dir, 'state')}
policies: policies
detection: { tick: 100ms, window: 1s, dry_run: true }
graphite: { address: "127.0.0.1:${graphite}", prefix: bw.test, interval: 500ms, top_hosts: 5 }
`;
}
const WEB = 'prefixes: [10.20.0.0/25]\n';

test('graphite: totals, hostgroup and host series reach carbon with the rates sent', {
  timeout: 90_000,
}, async () => {
  const carbon = await startCarbon();
  const dir = tempDir('graphite');
  const sflow = await freePort('udp');
  const d = await startDaemon(dir, config(dir, sflow, carbon.port), { 'web.yaml': WEB });
  // 10 samples x rate 100 every 100 ms = 10,000 pps to 10.20.0.5 (web), 5,000 pps to 10.20.0.200 (default).
  const s1 = sflowStream(sflow, '127.0.0.1', 10, 100, () => udpTo('10.20.0.5'));
  const s2 = sflowStream(sflow, '127.0.0.1', 5, 100, () => udpTo('10.20.0.200'));
  const t0 = Math.floor(Date.now() / 1000);
  try {
    const host = 'bw.test.hosts.10_20_0_5.incoming.pps';
    const file = `${join(carbon.whisperDir, ...host.split('.'))}.wsp`;
    await waitFor('the host series in whisper', async () => existsSync(file), 20000);
    // Let the window fill (1 s) and a few pushes land.
    await new Promise((r) => setTimeout(r, 3500));
    const now = Math.floor(Date.now() / 1000);
    const last = async (m: string) => {
      const pts = await whisperPoints(carbon.whisperDir, m, t0, now + 1);
      assert.ok(pts.length > 0, `no points for ${m}`);
      return pts[pts.length - 1]![1];
    };
    assert.ok(near(await last(host), 10000), `host pps ${await last(host)}`);
    assert.ok(near(await last('bw.test.hosts.10_20_0_200.incoming.pps'), 5000));
    assert.ok(
      near(await last('bw.test.total.incoming.pps'), 15000),
      `total pps ${await last('bw.test.total.incoming.pps')}`,
    );
    assert.ok(near(await last('bw.test.total.incoming.udp.pps'), 15000));
    assert.equal(await last('bw.test.total.incoming.tcp.pps'), 0);
    assert.ok(near(await last('bw.test.hostgroups.web.incoming.pps'), 10000));
    assert.ok(near(await last('bw.test.hostgroups.default.incoming.pps'), 5000));
    // bps is bytes x 8: frames of 500 B IP + 14 Ethernet + 4 FCS.
    const bps = await last('bw.test.hosts.10_20_0_5.incoming.bps');
    assert.ok(bps > 10000 * 500 * 8 * 0.8 && bps < 10000 * 518 * 8 * 1.2, `bps ${bps}`);
    // sFlow packet samples carry no flow count: the series exists and reads 0.
    assert.equal(await last('bw.test.total.incoming.flows'), 0);
    assert.equal(await last('bw.test.attacks.active'), 0);
    assert.equal(await exportMetric(d, 'up', 'graphite'), 1);
    assert.ok((await exportMetric(d, 'points_total', 'graphite')) > 100);
  } finally {
    s1.stop();
    s2.stop();
    await d.kill();
    await carbon.stop();
  }
});

test('graphite down: detection goes on, failures are counted and logged once, points arrive once carbon is up', {
  timeout: 90_000,
}, async () => {
  const dir = tempDir('graphite-down');
  const [sflow, line] = [await freePort('udp'), await freePort('tcp')];
  const d = await startDaemon(dir, config(dir, sflow, line), { 'web.yaml': WEB });
  // 30,000 pps to 10.20.0.9: over the default ban threshold (20,000 pps).
  const s = sflowStream(sflow, '127.0.0.1', 30, 100, () => udpTo('10.20.0.9'));
  let carbon: Awaited<ReturnType<typeof startCarbon>> | null = null;
  try {
    await d.waitLog(/graphite 127\.0\.0\.1:\d+: cannot write/, 20000);
    // Detection is not held up by the dead target.
    await d.waitLog(/10\.20\.0\.9/, 20000);
    await assertDetectsWhileDown(d, 'graphite', '10.20.0.9');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(
      (d.output().match(/graphite 127\.0\.0\.1:\d+: cannot write/g) ?? []).length,
      1,
      'logged once per state change',
    );
    carbon = await startCarbon({ linePort: line });
    await d.waitLog(/graphite 127\.0\.0\.1:\d+: writing again/, 45000);
    const file = join(carbon.whisperDir, 'bw', 'test', 'attacks', 'active.wsp');
    await waitFor('attack count in whisper', async () => existsSync(file), 20000);
    const now = Math.floor(Date.now() / 1000);
    await waitFor('attacks.active = 1', async () => {
      const pts = await whisperPoints(carbon!.whisperDir, 'bw.test.attacks.active', now - 120, now + 5);
      return pts.some(([, v]) => v === 1);
    });
    assert.equal(await exportMetric(d, 'up', 'graphite'), 1);
  } finally {
    s.stop();
    await d.kill();
    await carbon?.stop();
  }
});
