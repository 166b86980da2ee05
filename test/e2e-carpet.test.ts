/**
 * Carpet bombing end to end with a real GoBGP: synthetic NetFlow v9 to many hosts of one
 * prefix into `breakwater run`, under a policy with `actions.hostgroup`.
 *  - FlowSpec: each host below its own threshold, the hostgroup total above its
 *    `thresholds.hostgroup` -> a handful of FlowSpec rules at GoBGP whose destination
 *    covers the attacked hosts and never the whitelisted one; partial_block with
 *    alert_scope hostgroup; kill -9 and restart bring the same rules back; after the
 *    attack, expiry withdraws them (partial_unblock).
 *  - Blackhole: hosts over their own threshold -> their covering /24s at GoBGP, the /24
 *    holding a whitelisted address split around it; no host /32.
 * Addresses: 127.0.0.141-144.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { haveBinary, startGobgp, waitFor, type Router } from './helpers/routers.js';
import { freePort, recordingScript, startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { nf9Flood, v4 } from './helpers/netflow9.js';
import { prefixContains } from '../src/wire/addr.js';
import { tryParsePrefix } from '../src/config/values.js';
import type { LiveAttackAnswer, ListAnswer, MitigationAnswer } from './helpers/answers.js';

const pfx = (s: string) => {
  const p = tryParsePrefix(s);
  if (typeof p === 'string') throw new Error(p);
  return p;
};
const addr = (ip: string) => pfx(`${ip}/32`).bytes;

function config(
  dir: string,
  nf: number,
  router: string,
  port: number,
  us: string,
  whitelist: string,
): string {
  return `
networks: [10.0.0.0/8]
whitelist: [${whitelist}]
capture:
  listeners: [{ name: nf, type: netflow, address: 127.0.0.1, port: ${nf} }]
  default_sampling_rate: 1
api: { listen: "127.0.0.1:0" }
bgp:
  local_as: 65010
  router_id: 192.0.2.254
  peers:
    - { name: gobgp, address: ${router}, port: ${port}, local_address: ${us}, remote_as: 65001, hold_time: 9, families: [ipv4-unicast, ipv4-flowspec] }
state_dir: ${join(dir, 'state')}
policies: ./policies
`;
}

function policy(name: string, prefix: string, script: string, hostgroupActions: string): string {
  return `
name: ${name}
prefixes: [${prefix}]
thresholds:
  ban: { incoming: { total: { pps: 20000 } } }
  hostgroup: { incoming: { total: { pps: 1000000 } } }
actions:
  ban_time: 4s
  unban_only_if_attack_finished: true
  blackhole: { enabled: false }
  notify: { script: ${script}, format: json, timeout: 5s }
  hostgroup:
${hostgroupActions}
`;
}

/** GoBGP's rendering of a FlowSpec NLRI: "[destination: 10.1.0.0/17][protocol: ==tcp]...". */
function fsDestination(r: { prefix: string }): string | null {
  return /destination: ?([0-9.]+\/\d+)/.exec(r.prefix)?.[1] ?? null;
}

test('carpet bomb under a hostgroup FlowSpec policy: a handful of rules at GoBGP, whitelist respected, restored after kill -9, withdrawn at expiry', {
  timeout: 120_000,
}, async (t) => {
  if (!(await haveBinary('gobgpd'))) return t.skip('gobgpd not installed');
  const dir = tempDir('carpet-fs');
  const rec = recordingScript(dir);
  const ROUTER = '127.0.0.141';
  const US = '127.0.0.142';
  const port = await freePort('tcp', ROUTER);
  const router: Router = await startGobgp({
    address: ROUTER,
    port,
    asn: 65001,
    peers: [{ address: US, asn: 65010, passive: true }],
  });
  let d: DaemonHandle | undefined;
  // 1,024 hosts of 10.1.0.0/22 at 5k pps each: 5.1M pps for the hostgroup, none over 20k.
  const hosts = Array.from({ length: 1024 }, (_, i) => v4(`10.1.${i >> 8}.${i & 255}`));
  let flood: ReturnType<typeof nf9Flood> | undefined;
  try {
    const nf = await freePort('udp');
    d = await startDaemon(dir, config(dir, nf, ROUTER, port, US, '10.1.200.53/32'), {
      'carpet.yaml': policy(
        'carpet',
        '10.1.0.0/16',
        rec.script,
        '    flowspec: { enabled: true, destination: hostgroup, max_prefixes: 4 }',
      ),
    });
    await router.waitEstablished(US, 20000);
    flood = nf9Flood({ port: nf, hosts, ppsPerHost: 5000 });
    const rules = await waitFor(
      'FlowSpec rules at GoBGP',
      async () => {
        const r = await router.getRoutes('ipv4-flowspec');
        return r.length > 0 ? r : null;
      },
      20000,
    );
    assert.ok(rules.length <= 4, `${rules.length} rules: ${rules.map((r) => r.prefix).join(' | ')}`);
    const wl = addr('10.1.200.53');
    for (const r of rules) {
      const dst = fsDestination(r);
      assert.ok(dst, `no destination in ${r.prefix}`);
      assert.ok(!prefixContains(pfx(dst), wl), `${dst} covers the whitelisted 10.1.200.53`);
    }
    // Every attacked host is under some rule's destination.
    for (const h of ['10.1.0.0', '10.1.1.77', '10.1.3.255']) {
      assert.ok(
        rules.some((r) => prefixContains(pfx(fsDestination(r)!), addr(h))),
        `${h} not covered`,
      );
    }
    assert.equal((await router.getRoutes('ipv4-unicast')).length, 0, 'no host blackhole');
    const listed = (await d.api<ListAnswer<MitigationAnswer>>('GET', '/flowspec')).json.values.filter((v) =>
      String(v.cause).startsWith('hostgroup carpet attack '),
    );
    assert.equal(listed.length, rules.length);
    const doc = await waitFor(
      'partial_block notification',
      async () =>
        rec.calls().find((c) => c.stdin?.alert_scope === 'hostgroup' && c.stdin.action === 'partial_block'),
      10000,
    );
    assert.equal(doc.stdin.hostgroup_name, 'carpet');
    assert.equal(doc.stdin.flow_spec_rules.length, rules.length);
    assert.equal(
      rec.calls().filter((c) => c.stdin?.alert_scope === 'host' && c.stdin.action === 'ban').length,
      0,
      'no host ban',
    );
    // GET /attacks lists the hostgroup attack once, with its rules, and no host attack.
    const attacks = (await d.api<ListAnswer<LiveAttackAnswer>>('GET', '/attacks')).json.values;
    const hgAttacks = attacks.filter((a) => a.scope === 'hostgroup');
    assert.equal(hgAttacks.length, 1, JSON.stringify(attacks.map((a) => [a.scope, a.ip, a.hostgroup])));
    assert.equal(hgAttacks[0].hostgroup, 'carpet');
    assert.equal(hgAttacks[0].ip, null);
    assert.equal(hgAttacks[0].active, true);
    assert.equal(hgAttacks[0].banned, true);
    assert.deepEqual([...hgAttacks[0].mitigations].sort(), listed.map((v) => v.uuid).sort());
    assert.equal(hgAttacks[0].flow_spec_rules.length, rules.length);
    assert.equal(hgAttacks[0].attack_details.attack_direction, 'incoming');
    assert.ok(!Number.isNaN(Date.parse(hgAttacks[0].started_at)));

    await d.kill('SIGKILL');
    await waitFor(
      'rules gone with the session',
      async () => (await router.getRoutes('ipv4-flowspec')).length === 0,
      30000,
    );
    await d.restart();
    await waitFor(
      'rules back after restart',
      async () => (await router.getRoutes('ipv4-flowspec')).length === rules.length,
      20000,
    );
    const after = (await d.api<ListAnswer<MitigationAnswer>>('GET', '/flowspec')).json.values.filter((v) =>
      String(v.cause).startsWith('hostgroup carpet attack '),
    );
    assert.deepEqual(
      after.map((v) => v.uuid).sort(),
      listed.map((v) => v.uuid).sort(),
      'the same rules (uuids kept)',
    );

    flood.stop();
    await waitFor(
      'withdrawn at expiry once the attack is over',
      async () => (await router.getRoutes('ipv4-flowspec')).length === 0,
      30000,
    );
    await waitFor(
      'partial_unblock notification',
      async () =>
        rec.calls().find((c) => c.stdin?.alert_scope === 'hostgroup' && c.stdin.action === 'partial_unblock'),
      10000,
    );
    assert.equal(
      rec.calls().filter((c) => c.stdin?.alert_scope === 'hostgroup' && c.stdin.action === 'partial_block')
        .length,
      1,
      'the restart sent no second partial_block',
    );
  } finally {
    flood?.stop();
    await d?.kill();
    await router.stop();
  }
});

test('carpet bomb under a hostgroup blackhole policy: the covering /24s at GoBGP, split around the whitelist', {
  timeout: 90_000,
}, async (t) => {
  if (!(await haveBinary('gobgpd'))) return t.skip('gobgpd not installed');
  const dir = tempDir('carpet-bh');
  const rec = recordingScript(dir);
  const ROUTER = '127.0.0.143';
  const US = '127.0.0.144';
  const port = await freePort('tcp', ROUTER);
  const router: Router = await startGobgp({
    address: ROUTER,
    port,
    asn: 65001,
    peers: [{ address: US, asn: 65010, passive: true }],
  });
  let d: DaemonHandle | undefined;
  // 32 hosts in each of 10.2.1.0/24 and 10.2.5.0/24 at 30k pps: each over 20k, 1.9M in all.
  const hosts = [
    ...Array.from({ length: 32 }, (_, i) => v4(`10.2.1.${i * 3}`)),
    ...Array.from({ length: 32 }, (_, i) => v4(`10.2.5.${100 + i}`)),
  ];
  let flood: ReturnType<typeof nf9Flood> | undefined;
  try {
    const nf = await freePort('udp');
    d = await startDaemon(dir, config(dir, nf, ROUTER, port, US, '10.2.5.53/32'), {
      'carpet.yaml': policy(
        'carpet',
        '10.2.0.0/16',
        rec.script,
        '    blackhole: { enabled: true, prefix_length: { ipv4: 24 }, communities: ["65535:666"], next_hop: { ipv4: 192.0.2.1 } }',
      ),
    });
    await router.waitEstablished(US, 20000);
    flood = nf9Flood({ port: nf, hosts, ppsPerHost: 30000 });
    // 10.2.1.0/24, and 10.2.5.0/24 minus 10.2.5.53: 8 prefixes.
    const routes = await waitFor(
      'covering prefixes at GoBGP',
      async () => {
        const r = await router.getRoutes('ipv4-unicast');
        return r.length >= 9 ? r : null;
      },
      20000,
    );
    const got = routes.map((r) => r.prefix).sort();
    assert.equal(got.length, 9, got.join(' '));
    assert.ok(got.includes('10.2.1.0/24'));
    assert.ok(!got.some((p) => p.endsWith('/32') && !p.startsWith('10.2.5.')), `host routes: ${got}`);
    const wl = addr('10.2.5.53');
    for (const p of got) assert.ok(!prefixContains(pfx(p), wl), `${p} covers the whitelisted host`);
    for (const h of hosts)
      assert.ok(
        got.some((p) =>
          prefixContains(
            pfx(p),
            pfx(`${[h >>> 24, (h >>> 16) & 255, (h >>> 8) & 255, h & 255].join('.')}/32`).bytes,
          ),
        ),
      );
    for (const r of routes) {
      assert.equal(r.nextHop, '192.0.2.1');
      assert.ok(r.communities.includes('65535:666'));
    }
    const bh = (await d.api<ListAnswer<MitigationAnswer>>('GET', '/blackhole')).json.values
      .map((v) => v.ip)
      .sort();
    assert.deepEqual(bh, got);
    await waitFor(
      'ban notification',
      async () => rec.calls().find((c) => c.stdin?.alert_scope === 'hostgroup' && c.stdin.action === 'ban'),
      10000,
    );
    assert.match(d.output(), /10\.2\.5\.0\/24 holds whitelisted 10\.2\.5\.53\/32: split into/);
    flood.stop();
    await waitFor(
      'withdrawn at expiry',
      async () => (await router.getRoutes('ipv4-unicast')).length === 0,
      30000,
    );
  } finally {
    flood?.stop();
    await d?.kill();
    await router.stop();
  }
});
