/**
 * Hostgroup-total thresholds inside `breakwater run`: a hostgroup's total traffic over its
 * `thresholds.hostgroup` limit notifies with alert_scope "hostgroup" and bans no host.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { waitFor } from './helpers/routers.js';
import {
  FIXTURES,
  freePort,
  recordingScript,
  replay,
  startDaemon,
  tempDir,
  type DaemonHandle,
} from './helpers/daemon.js';
import type { ListAnswer, LiveAttackAnswer, MitigationAnswer } from './helpers/answers.js';

test('hostgroup total over its threshold: hostgroup-scope notification, no host ban', {
  timeout: 60_000,
}, async () => {
  const dir = tempDir('hg');
  const rec = recordingScript(dir);
  let d: DaemonHandle | undefined;
  const nf = await freePort('udp');
  try {
    d = await startDaemon(
      dir,
      `networks: [203.0.113.0/24]
capture: { listeners: [{ name: nf, type: netflow, address: 127.0.0.1, port: ${nf} }] }
api: { listen: "127.0.0.1:0" }
state_dir: ${join(dir, 'state')}
policies: ./policies
`,
      {
        'default.yaml': `name: default
thresholds:
  ban:
    incoming: { total: { pps: 100000000, flows: null } }
  hostgroup:
    incoming: { total: { pps: 30000 } }
actions:
  notify: { script: ${rec.script}, format: json, timeout: 5s }
`,
      },
    );
    await replay(join(FIXTURES, 'flows/syn_flood.nf9.pcap'), `127.0.0.1:${nf}`);
    const call = await waitFor(
      'hostgroup notification',
      async () => rec.calls().find((c) => c.stdin?.alert_scope === 'hostgroup'),
      10000,
    );
    assert.equal(call.stdin.action, 'ban');
    assert.equal(call.stdin.hostgroup_name, 'default');
    assert.equal(call.stdin.attack_details.attack_direction, 'incoming');
    assert.equal(call.stdin.attack_details.attack_detection_threshold_value, 30000);
    assert.ok(call.stdin.attack_details.current_value > 30000);
    assert.equal(rec.calls().filter((c) => c.stdin?.alert_scope === 'host').length, 0, 'no host-scope ban');
    assert.deepEqual((await d.api<ListAnswer<MitigationAnswer>>('GET', '/blackhole')).json.values, []);
    // GET /attacks shows it while it lasts: scope hostgroup, no address, notified but not mitigated.
    const attacks = (await d.api<ListAnswer<LiveAttackAnswer>>('GET', '/attacks')).json.values;
    const hg = attacks.filter((a) => a.scope === 'hostgroup');
    if (hg.length) {
      assert.equal(hg.length, 1);
      assert.deepEqual(
        [hg[0].hostgroup, hg[0].ip, hg[0].active, hg[0].banned, hg[0].mitigations],
        ['default', null, true, false, []],
      );
      assert.equal(hg[0].uuid, call.stdin.attack_details.attack_uuid);
    } else
      assert.ok(
        rec.calls().some((c) => c.stdin?.alert_scope === 'hostgroup' && c.stdin.action === 'unban'),
        'the hostgroup attack is gone from /attacks only once it is over',
      );
    assert.equal(attacks.filter((a) => a.scope === 'host').length, 0);
    await waitFor(
      'hostgroup back under',
      async () => rec.calls().find((c) => c.stdin?.alert_scope === 'hostgroup' && c.stdin.action === 'unban'),
      10000,
    );
  } finally {
    await d?.kill();
  }
});
