/**
 * One policy lookup for every room, rebuilt on reload: inside `breakwater run`, detection
 * (a counted host's hostgroup), the API (a host without counters) and mitigation (a manual
 * blackhole's hostgroup attributes) name the same hostgroup for an address, before and after
 * a reload moves the address to another hostgroup.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { waitFor } from './helpers/routers.js';
import { sflowStream, udpTo, type Stream } from './helpers/traffic.js';
import type { ListAnswer, ObjectAnswer } from './helpers/answers.js';

const policy = (name: string, prefixes: string[], community: string) => `name: ${name}
prefixes: [${prefixes.join(', ')}]
actions:
  blackhole: { communities: ["${community}"] }
`;

test('after a reload detection, the API and mitigation all see the new hostgroups', {
  timeout: 60_000,
}, async () => {
  const dir = tempDir('policy-reload');
  let d: DaemonHandle | undefined;
  let s: Stream | undefined;
  const sflow = await freePort('udp');
  try {
    d = await startDaemon(
      dir,
      `networks: [203.0.113.0/24]
capture: { listeners: [{ name: sf, type: sflow, address: 127.0.0.1, port: ${sflow} }] }
api: { listen: "127.0.0.1:0" }
state_dir: ${join(dir, 'state')}
policies: ./policies
`,
      { 'default.yaml': 'name: default\n', 'web.yaml': policy('web', ['203.0.113.0/28'], '65000:1') },
    );
    const h = d;
    // Traffic to .5 only: detection counts it (its hostgroup is the slot's); .6 has no counters.
    s = sflowStream(sflow, '127.0.0.1', 5, 10, () => udpTo('203.0.113.5'));
    const counted = async (ip: string) => {
      const r = await h.api<ObjectAnswer<unknown>>('GET', `/single_host_counters/${ip}`);
      assert.equal(r.status, 200);
      return r.json.object as { hostgroup: string; in_packets: number };
    };
    const seen = (ip: string) =>
      waitFor(
        `counters for ${ip}`,
        async () => ((await counted(ip)).in_packets > 0 ? counted(ip) : null),
        10_000,
      );
    const blackhole = async (ip: string) => {
      const r = await h.api('PUT', `/blackhole/${ip}`);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      const all = (await h.api<ListAnswer<unknown>>('GET', '/blackhole')).json.values as {
        ip: string;
        hostgroup: string;
        communities: string[];
      }[];
      return all.find((m) => m.ip === `${ip}/32`)!;
    };

    assert.equal((await seen('203.0.113.5')).hostgroup, 'web', 'detection');
    const idle = await counted('203.0.113.6');
    assert.equal(idle.in_packets, 0);
    assert.equal(idle.hostgroup, 'web', 'API, no counters');
    const b1 = await blackhole('203.0.113.7');
    assert.equal(b1.hostgroup, 'web', 'mitigation');
    assert.deepEqual(b1.communities, ['65000:1']);

    // web moves to .16/28; a new hostgroup takes .0/28.
    writeFileSync(join(dir, 'policies', 'web.yaml'), policy('web', ['203.0.113.16/28'], '65000:1'));
    writeFileSync(join(dir, 'policies', 'api.yaml'), policy('api', ['203.0.113.0/28'], '65000:2'));
    const r = await h.api('PUT', '/reload');
    assert.equal(r.status, 200, JSON.stringify(r.json));

    assert.equal((await counted('203.0.113.5')).hostgroup, 'api', 'detection after the reload');
    assert.equal((await counted('203.0.113.6')).hostgroup, 'api', 'API after the reload');
    assert.equal((await counted('203.0.113.17')).hostgroup, 'web');
    assert.equal((await counted('203.0.113.40')).hostgroup, 'default');
    const b2 = await blackhole('203.0.113.8');
    assert.equal(b2.hostgroup, 'api', 'mitigation after the reload');
    assert.deepEqual(b2.communities, ['65000:2']);
  } finally {
    s?.stop();
    await d?.kill();
  }
});
