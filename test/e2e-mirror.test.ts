/**
 * A live port mirror inside `breakwater run`: capture.mirror_interface reads frames through
 * tcpdump (here on the loopback interface) and a UDP flood to a monitored loopback host is
 * detected and reported.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { join } from 'node:path';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { haveBinary, waitFor } from './helpers/routers.js';
import { recordingScript, startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';

test('live mirror on lo: a UDP flood to a monitored host is detected', { timeout: 60_000 }, async (t) => {
  if (!(await haveBinary('tcpdump'))) return t.skip('tcpdump not installed');
  if (process.getuid?.() !== 0 && !process.env.CI) return t.skip('capturing on lo needs root');
  const dir = tempDir('mirror');
  const rec = recordingScript(dir);
  const victim = '127.0.0.99';
  let d: DaemonHandle | undefined;
  const sock = dgram.createSocket('udp4');
  try {
    d = await startDaemon(
      dir,
      `networks: [${victim}/32]
capture: { listeners: [], mirror_interface: lo }
api: { listen: "127.0.0.1:0" }
state_dir: ${join(dir, 'state')}
policies: ./policies
`,
      {
        'default.yaml': `name: default
thresholds:
  ban:
    incoming: { udp: { pps: 2000 } }
actions:
  blackhole: { enabled: false }
  notify: { script: ${rec.script}, format: json, timeout: 5s }
`,
      },
    );
    await d.waitLog(/reading mirrored frames from lo/);
    await new Promise((r) => setTimeout(r, 500)); // tcpdump attaches
    const payload = Buffer.alloc(100);
    const until = Date.now() + 4000;
    let sent = 0;
    while (Date.now() < until && !rec.calls().some((c) => c.stdin?.action === 'ban')) {
      for (let i = 0; i < 100; i++) sock.send(payload, 9, victim);
      sent += 100;
      await new Promise((r) => setTimeout(r, 10));
    }
    const ban = await waitFor(
      'ban notification',
      async () => rec.calls().find((c) => c.stdin?.action === 'ban'),
      5000,
    );
    assert.equal(ban.stdin.ip, victim);
    assert.equal(ban.stdin.attack_details.attack_direction, 'incoming');
    assert.equal(ban.stdin.attack_details.attack_protocol, 'udp');
    assert.ok(ban.stdin.attack_details.incoming_udp_pps > 2000, JSON.stringify(ban.stdin.attack_details));
    assert.ok(sent > 0);
    // The attack's samples are kept as a pcap in the state dir (its fingerprint).
    const attacks = join(dir, 'state', 'attacks');
    const file = await waitFor(
      'attack pcap',
      async () =>
        existsSync(attacks) &&
        readdirSync(attacks).find(
          (f) => f.endsWith('.pcap') && statSync(join(attacks, f)).size > 24 + 16 + 28,
        ),
      5000,
    );
    const pcap = readFileSync(join(attacks, file));
    assert.equal(pcap.readUInt32LE(0), 0xa1b2c3d4, 'classic pcap magic');
    assert.ok(pcap.length > 24 + 16 + 28, 'holds at least one packet');
    const metrics = await d.api('GET', '/metrics');
    assert.match(String(metrics.json), /mirror:lo/);
  } finally {
    sock.close();
    await d?.kill();
  }
});
