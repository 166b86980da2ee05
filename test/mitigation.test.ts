import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MitigationManager, type ManagerOptions } from '../src/mitigation/manager.js';
import type { Mitigation } from '../src/mitigation/types.js';
import { prefixToString } from '../src/wire/addr.js';
import {
  attack,
  FakeJournal,
  FakeNotifier,
  fakeFlowspec,
  hostgroup,
  testConfig,
  zeroRates,
  type ConfigPatch,
} from './fixtures/mitigation/helpers.js';
import { causeText, parseCause } from '../src/mitigation/cause.js';

function setup(patch: ConfigPatch = {}, extra: Partial<ManagerOptions> = {}) {
  let now = 1_000_000;
  const journal = new FakeJournal();
  const notifier = new FakeNotifier();
  const attacking = new Set<string>();
  const changes: number[] = [];
  const mgr = new MitigationManager({
    cfg: testConfig(patch),
    journal,
    notifier,
    flowspec: fakeFlowspec,
    stillAttacking: (ip) => attacking.has(ip),
    hostRates: (ip) => zeroRates(ip, 'default', { in_packets: 777, in_bytes: 888 }),
    onChange: () => changes.push(mgr.desiredRoutes().length),
    now: () => now,
    ...extra,
  });
  return { mgr, journal, notifier, attacking, changes, advance: (ms: number) => (now += ms), now: () => now };
}

const withScript = { notify: { script: '/bin/true', format: 'json' as const, timeout_ms: 1000 } };

describe('mitigation manager: policy actions', () => {
  it('blackhole policy announces the /32 with the hostgroup communities and next hop, journalled first', async () => {
    const hg = hostgroup('default', [], {
      ...withScript,
      blackhole: {
        communities: ['65535:666', '65000:1'],
        large_communities: ['65000:0:666'],
        next_hop: { ipv4: '192.0.2.1', ipv6: '100::1' },
      },
    });
    const { mgr, journal, notifier, changes } = setup({ hostgroups: [hg] });
    await mgr.onAttack(attack('203.0.113.10'));
    const routes = mgr.desiredRoutes();
    assert.equal(routes.length, 1);
    const r = routes[0]!;
    assert.equal(r.key, '203.0.113.10/32');
    assert.equal(r.family, 'ipv4-unicast');
    assert.equal(r.nextHop, '192.0.2.1');
    assert.deepEqual(r.communities, ['65535:666', '65000:1']);
    assert.deepEqual(r.largeCommunities, ['65000:0:666']);
    assert.equal(prefixToString(r.prefix!), '203.0.113.10/32');
    const [m] = mgr.list('blackhole');
    assert.equal(r.owner, m!.uuid);
    assert.equal(causeText(m!.cause), 'attack a-203.0.113.10');
    assert.equal(m!.expires_at, 1_000_000 + hg.actions.ban_time_ms);
    assert.equal(journal.entries.length, 1);
    assert.equal(journal.entries[0]!.op, 'add');
    assert.deepEqual(changes, [1]);
    assert.equal(notifier.docs.length, 1);
    const doc = notifier.docs[0]!.doc;
    assert.equal(doc.action, 'ban');
    assert.equal(doc.alert_scope, 'host');
    assert.equal(doc.ip, '203.0.113.10');
    assert.equal((doc.attack_details as { attack_uuid: string }).attack_uuid, 'a-203.0.113.10');
    assert.equal(doc.packet_dump_detailed.length, 1);
    assert.deepEqual(doc.flow_spec_rules, []);
  });

  it('IPv6 hosts get a /128 with the IPv6 next hop', async () => {
    const { mgr } = setup();
    await mgr.onAttack(attack('2001:db8::5'));
    const [r] = mgr.desiredRoutes();
    assert.equal(r!.key, '2001:db8::5/128');
    assert.equal(r!.family, 'ipv6-unicast');
    assert.equal(r!.nextHop, '100::1');
  });

  it('flowspec-only policy announces generated rules with the configured action (partial_block)', async () => {
    const hg = hostgroup('default', [], {
      ...withScript,
      blackhole: { enabled: false },
      flowspec: { enabled: true, action: 'rate-limit', action_params: { rate: 1000 } },
    });
    const { mgr, notifier } = setup({ hostgroups: [hg] });
    await mgr.onAttack(attack('203.0.113.10'));
    assert.equal(mgr.list('blackhole').length, 0);
    const fs = mgr.list('flowspec');
    assert.equal(fs.length, 1);
    assert.deepEqual(fs[0]!.rule, {
      destination_prefix: '203.0.113.10/32',
      protocols: ['tcp'],
      tcp_flags: ['syn'],
      action_type: 'rate-limit',
      action: { rate: 1000 },
    });
    const routes = mgr.desiredRoutes();
    assert.equal(routes.length, 1);
    assert.equal(routes[0]!.family, 'ipv4-flowspec');
    assert.equal(notifier.docs[0]!.doc.action, 'partial_block');
    assert.equal(notifier.docs[0]!.doc.flow_spec_rules.length, 1);
  });

  it('both: a blackhole and the FlowSpec rules', async () => {
    const hg = hostgroup('default', [], { flowspec: { enabled: true } });
    const { mgr } = setup({ hostgroups: [hg] });
    await mgr.onAttack(attack('203.0.113.10'));
    assert.deepEqual(
      mgr
        .desiredRoutes()
        .map((r) => r.family)
        .sort(),
      ['ipv4-flowspec', 'ipv4-unicast'],
    );
  });

  it('notify only: the script is told, nothing is announced', async () => {
    const hg = hostgroup('default', [], { ...withScript, blackhole: { enabled: false } });
    const { mgr, notifier, changes, advance } = setup({ hostgroups: [hg] });
    await mgr.onAttack(attack('203.0.113.10'));
    assert.equal(mgr.list().length, 0);
    assert.deepEqual(changes, []);
    assert.equal(notifier.docs[0]!.doc.action, 'ban');
    assert.equal(mgr.attacks()[0]!.banned, true);
    advance(hg.actions.ban_time_ms);
    await mgr.sweep();
    assert.deepEqual(
      notifier.docs.map((d) => d.doc.action),
      ['ban', 'unban'],
    );
  });

  it('picks the hostgroup by name from the attack record', async () => {
    const web = hostgroup('web', ['203.0.113.0/28'], { blackhole: { communities: ['65000:80'] } });
    const { mgr } = setup({ hostgroups: [hostgroup('default', []), web] });
    await mgr.onAttack(attack('203.0.113.5', 'x', 'web'));
    assert.deepEqual(mgr.desiredRoutes()[0]!.communities, ['65000:80']);
    assert.equal(mgr.list()[0]!.hostgroup, 'web');
  });

  it('a second attack_started for a banned host does not add a second ban', async () => {
    const { mgr } = setup();
    await mgr.onAttack(attack('203.0.113.10', 'first'));
    await mgr.onAttack(attack('203.0.113.10', 'second'));
    assert.equal(mgr.list().length, 1);
  });
});

describe('mitigation manager: safety', () => {
  const base = (kind: Mitigation['kind'], prefix: string) => ({
    kind,
    prefix,
    ip: prefix.split('/')[0]!,
    cause: parseCause('manual'),
    hostgroup: 'default',
    expires_at: null,
    communities: [],
    large_communities: [],
  });

  it('never a whitelisted address', async () => {
    const { mgr, journal } = setup();
    await mgr.onAttack(attack('203.0.113.200'));
    assert.equal(mgr.list().length, 0);
    const r = await mgr.add(base('blackhole', '203.0.113.200/32'));
    assert.equal(r.ok, false);
    assert.match(r.error!, /whitelisted 203\.0\.113\.200\/32/);
    // a wider prefix that contains a whitelisted address is refused too
    const e = await mgr.add(base('escalation', '203.0.113.192/26'));
    assert.equal(e.ok, false);
    assert.match(e.error!, /whitelist/);
    assert.equal(journal.entries.length, 0);
    assert.equal(mgr.refused.whitelisted, 3);
  });

  it('never a prefix outside networks, checked for the whole prefix', async () => {
    const { mgr } = setup();
    const out = await mgr.add(base('blackhole', '198.51.100.1/32'));
    assert.match(out.error!, /198\.51\.100\.1\/32 is outside the configured networks/);
    // 203.0.112.0/23 starts outside 203.0.113.0/24 though it contains it
    const wide = await mgr.add(base('escalation', '203.0.112.0/23'));
    assert.equal(wide.ok, false);
    assert.match(wide.error!, /outside/);
    const ok = await mgr.add(base('escalation', '203.0.113.0/25'));
    assert.equal(ok.ok, true);
    assert.equal(mgr.desiredRoutes()[0]!.key, '203.0.113.0/25');
    const flow = await mgr.add({
      ...base('flowspec', ''),
      rule: { destination_prefix: '192.0.2.0/24', protocols: ['udp'] },
    });
    assert.match(flow.error!, /outside/);
  });

  it('refuses bad input with a reason', async () => {
    const { mgr } = setup();
    assert.match(
      (await mgr.add(base('blackhole', '203.0.113.300/32'))).error!,
      /"203\.0\.113\.300" is not an IP address/,
    );
    assert.match((await mgr.add(base('blackhole', '203.0.113.0/24'))).error!, /one host/);
    assert.match((await mgr.add(base('escalation', '203.0.113.5/24'))).error!, /host bits/);
    assert.match(
      (await mgr.add({ ...base('blackhole', '203.0.113.5/32'), next_hop: '100::1' })).error!,
      /not an IPv4 address/,
    );
    assert.match(
      (await mgr.add({ ...base('flowspec', ''), rule: { protocols: ['udp'] } })).error!,
      /needs a destination_prefix/,
    );
    assert.match(
      (await mgr.add({ ...base('flowspec', ''), rule: { destination_prefix: '203.0.113.5/32', bogus: 1 } }))
        .error!,
      /unknown field 'bogus'/,
    );
    assert.equal(mgr.list().length, 0);
  });

  it('caps the number of blackholes and FlowSpec rules, also under concurrent adds', async () => {
    const { mgr } = setup({ mitigation: { max_blackholes: 2, max_flowspec_rules: 1 } });
    const rs = await Promise.all([1, 2, 3, 4].map((i) => mgr.add(base('blackhole', `203.0.113.${i}/32`))));
    assert.deepEqual(
      rs.map((r) => r.ok),
      [true, true, false, false],
    );
    assert.match(rs[2]!.error!, /max_blackholes \(2\) reached/);
    assert.equal(mgr.list('blackhole').length, 2);
    assert.equal(
      (await mgr.add({ ...base('flowspec', ''), rule: { destination_prefix: '203.0.113.9/32' } })).ok,
      true,
    );
    const f2 = await mgr.add({ ...base('flowspec', ''), rule: { destination_prefix: '203.0.113.8/32' } });
    assert.match(f2.error!, /max_flowspec_rules \(1\) reached/);
    assert.equal(mgr.refused.cap, 3);
  });

  it('dry-run keeps the mitigation visible but out of the desired routes', async () => {
    const { mgr, changes, notifier } = setup({
      dry_run: true,
      hostgroups: [hostgroup('default', [], withScript)],
    });
    await mgr.onAttack(attack('203.0.113.10'));
    const [m] = mgr.list();
    assert.equal(m!.dry_run, true);
    assert.deepEqual(mgr.desiredRoutes(), []);
    assert.deepEqual(changes, []);
    assert.equal(notifier.docs[0]!.doc.action, 'ban');
  });

  it('a journal failure refuses the add and announces nothing', async () => {
    const { mgr, journal, changes } = setup();
    journal.fail = true;
    const r = await mgr.add(base('blackhole', '203.0.113.5/32'));
    assert.equal(r.ok, false);
    assert.match(r.error!, /could not persist.*disk full/);
    assert.deepEqual(mgr.desiredRoutes(), []);
    assert.deepEqual(changes, []);
  });

  it('the same prefix twice gives back the existing mitigation', async () => {
    const { mgr } = setup();
    const a = await mgr.add(base('blackhole', '203.0.113.5/32'));
    const b = await mgr.add(base('blackhole', '203.0.113.5/32'));
    assert.equal(a.mitigation!.uuid, b.mitigation!.uuid);
    assert.equal(mgr.list().length, 1);
  });
});

describe('mitigation manager: unban', () => {
  it('expires after ban_time when the attack is over; withdraws and notifies unban with fresh counters', async () => {
    const hg = hostgroup('default', [], { ...withScript, ban_time_ms: 60_000 });
    const { mgr, notifier, journal, advance, attacking, changes } = setup({ hostgroups: [hg] });
    attacking.add('203.0.113.10');
    await mgr.onAttack(attack('203.0.113.10'));
    advance(59_999);
    await mgr.sweep();
    assert.equal(mgr.list().length, 1);
    advance(1);
    await mgr.sweep(); // expired but still attacking: kept, expiry extended
    assert.equal(mgr.list().length, 1);
    assert.equal(mgr.list()[0]!.expires_at, 1_000_000 + 120_000);
    assert.equal(journal.entries.at(-1)!.op, 'update');
    attacking.delete('203.0.113.10');
    mgr.onAttackFinished(attack('203.0.113.10'));
    advance(60_000);
    await mgr.sweep();
    assert.equal(mgr.list().length, 0);
    assert.deepEqual(mgr.desiredRoutes(), []);
    assert.deepEqual(changes, [1, 0]);
    assert.equal(journal.entries.at(-1)!.op, 'remove');
    const unban = notifier.docs.at(-1)!.doc;
    assert.equal(unban.action, 'unban');
    assert.equal((unban.attack_details as Record<string, number>).total_incoming_pps, 777);
    const [summary] = mgr.attacks();
    assert.equal(summary!.banned, false);
  });

  it('without unban_only_if_attack_finished it expires even while attacking, and the attack still in progress is banned again at once', async () => {
    const hg = hostgroup('default', [], {
      ...withScript,
      ban_time_ms: 1000,
      unban_only_if_attack_finished: false,
    });
    const { mgr, advance, attacking, notifier, changes } = setup({ hostgroups: [hg] });
    attacking.add('203.0.113.10');
    await mgr.onAttack(attack('203.0.113.10'));
    const first = mgr.list()[0]!.uuid;
    advance(1000);
    await mgr.sweep();
    assert.deepEqual(
      notifier.docs.map((d) => d.doc.action),
      ['ban', 'unban', 'ban'],
    );
    const [m] = mgr.list();
    assert.notEqual(m!.uuid, first, 'the expired ban is gone; a new one holds');
    assert.equal(m!.expires_at, 1_000_000 + 2000);
    assert.deepEqual(changes, [1, 1], 'the speaker never sees the route withdrawn');
    // Once the attack is over the new ban ends for good.
    attacking.delete('203.0.113.10');
    mgr.onAttackFinished(attack('203.0.113.10'));
    advance(1000);
    await mgr.sweep();
    assert.equal(mgr.list().length, 0);
    assert.deepEqual(
      notifier.docs.map((d) => d.doc.action),
      ['ban', 'unban', 'ban', 'unban'],
    );
    assert.deepEqual(mgr.audit(), { bans: 0, tracked: 0, owned: 0, problems: [] });
  });

  it('a host attacked again while banned: one unban at expiry, then protected again by the next attack (regression)', async () => {
    const hg = hostgroup('default', [], { ...withScript, ban_time_ms: 60_000 });
    const { mgr, advance, attacking, notifier } = setup({ hostgroups: [hg] });
    const ip = '203.0.113.10';
    attacking.add(ip);
    await mgr.onAttack(attack(ip, 'A'));
    attacking.delete(ip);
    mgr.onAttackFinished(attack(ip, 'A'));
    advance(10_000);
    attacking.add(ip);
    await mgr.onAttack(attack(ip, 'B')); // re-detected while the ban of A holds
    assert.equal(mgr.list().length, 1, 'still one ban');
    attacking.delete(ip);
    mgr.onAttackFinished(attack(ip, 'B'));
    for (let i = 0; i < 60; i++) {
      advance(1000);
      await mgr.sweep();
    }
    const actions = () => notifier.docs.map((d) => d.doc.action).filter((a) => a !== 'attack_status');
    assert.deepEqual(actions(), ['ban', 'unban'], 'one unban, not one every second');
    assert.equal(mgr.list().length, 0);
    const ids = mgr.attacks().map((a) => a.uuid);
    assert.deepEqual([...ids].sort(), ['A', 'B'], 'each attack listed once');
    assert.ok(mgr.attacks().every((a) => !a.banned && !a.active));
    // The next attack is banned and announced again.
    attacking.add(ip);
    await mgr.onAttack(attack(ip, 'C'));
    assert.deepEqual(
      mgr.desiredRoutes().map((r) => r.key),
      ['203.0.113.10/32'],
    );
    assert.deepEqual(actions(), ['ban', 'unban', 'ban']);
    assert.equal(mgr.attacks().find((a) => a.uuid === 'C')!.banned, true);
    assert.deepEqual(mgr.audit().problems, []);
  });

  it('after a reload every later action of an existing ban uses the new notify settings (regression)', async () => {
    const oldScript = {
      notify: { script: '/old.sh', format: 'text' as const, timeout_ms: 1000 },
      ban_time_ms: 60_000,
      ban_status_delay_ms: 5000,
    };
    const newScript = {
      notify: { script: '/new.sh', format: 'json' as const, timeout_ms: 1000 },
      ban_time_ms: 60_000,
      ban_status_delay_ms: 5000,
    };
    const { mgr, advance, notifier } = setup({ hostgroups: [hostgroup('default', [], oldScript)] });
    await mgr.onAttack(attack('203.0.113.10'));
    mgr.reconfigure(testConfig({ hostgroups: [hostgroup('default', [], newScript)] }));
    advance(5000);
    await mgr.sweep();
    mgr.onAttackFinished(attack('203.0.113.10'));
    advance(60_000);
    await mgr.sweep();
    assert.deepEqual(
      notifier.docs.map((d) => `${d.doc.action} ${d.action.script} ${d.action.format}`),
      ['ban /old.sh text', 'attack_status /new.sh json', 'unban /new.sh json'],
    );
    assert.deepEqual(mgr.desiredRoutes(), []);
  });

  it('withdraws exactly what was announced even after a reload changed the policy', async () => {
    const hg1 = hostgroup('default', [], { ban_time_ms: 1000, blackhole: { communities: ['65535:666'] } });
    const seen: string[][] = [];
    const t = setup({ hostgroups: [hg1] });
    t.mgr.on('removed', (m) => seen.push([...m.communities]));
    await t.mgr.onAttack(attack('203.0.113.10'));
    t.mgr.reconfigure(
      testConfig({
        hostgroups: [
          hostgroup('default', [], { ban_time_ms: 1000, blackhole: { communities: ['65000:9'] } }),
        ],
      }),
    );
    assert.deepEqual(t.mgr.desiredRoutes()[0]!.communities, ['65535:666']);
    t.advance(1000);
    await t.mgr.sweep();
    assert.deepEqual(seen, [['65535:666']]);
    await t.mgr.onAttack(attack('203.0.113.11'));
    assert.deepEqual(t.mgr.desiredRoutes()[0]!.communities, ['65000:9']);
  });

  it('an attack expiry never removes a manual blackhole of the same host', async () => {
    const hg = hostgroup('default', [], { ban_time_ms: 1000, flowspec: { enabled: true } });
    const { mgr, advance } = setup({ hostgroups: [hg] });
    const manual = await mgr.addManualBlackhole('203.0.113.10');
    assert.equal(manual.ok, true);
    await mgr.onAttack(attack('203.0.113.10'));
    assert.equal(mgr.list().length, 2); // the manual blackhole plus the attack's FlowSpec rule
    advance(1000);
    await mgr.sweep();
    assert.deepEqual(
      mgr.list().map((m) => m.uuid),
      [manual.mitigation!.uuid],
    );
  });

  it('sends attack_status every ban_status_delay with fresh counters', async () => {
    const hg = hostgroup('default', [], { ...withScript, ban_status_delay_ms: 5000 });
    const { mgr, notifier, advance } = setup({ hostgroups: [hg] });
    await mgr.onAttack(attack('203.0.113.10'));
    advance(4999);
    await mgr.sweep();
    assert.equal(notifier.docs.length, 1);
    advance(1);
    await mgr.sweep();
    assert.equal(notifier.docs.length, 2);
    const st = notifier.docs[1]!.doc;
    assert.equal(st.action, 'attack_status');
    assert.equal((st.attack_details as Record<string, number>).total_incoming_pps, 777);
    assert.equal((st.attack_details as Record<string, number>).total_incoming_traffic, 888);
  });

  it('restore keeps expiries, drops expired entries and re-announces the rest', async () => {
    const { mgr, journal, changes } = setup();
    const mk = (uuid: string, prefix: string, expires_at: number | null): Mitigation => ({
      uuid,
      kind: 'blackhole',
      prefix,
      ip: prefix.split('/')[0]!,
      cause: parseCause('manual'),
      hostgroup: 'default',
      started_at: 1,
      expires_at,
      next_hop: '192.0.2.1',
      communities: ['65535:666'],
      large_communities: [],
      dry_run: false,
    });
    const r = await mgr.restore([
      mk('u1', '203.0.113.1/32', 999_999),
      mk('u2', '203.0.113.2/32', 2_000_000),
      mk('u3', '203.0.113.3/32', null),
    ]);
    assert.deepEqual(r, { restored: 2, expired: 1 });
    assert.deepEqual(
      mgr.desiredRoutes().map((x) => x.key),
      ['203.0.113.2/32', '203.0.113.3/32'],
    );
    assert.equal(mgr.get('u2')!.expires_at, 2_000_000);
    assert.deepEqual(
      journal.entries.map((e) => e.op),
      ['remove'],
    );
    assert.deepEqual(changes, [2]);
  });

  it('an attack seen again after a restart adopts the restored ban: no second announcement or ban notification', async () => {
    const hg = hostgroup('default', [], { ...withScript, ban_time_ms: 600_000 });
    const { mgr, journal, notifier, advance, now } = setup({ hostgroups: [hg] });
    const restored: Mitigation = {
      uuid: 'r1',
      kind: 'blackhole',
      prefix: '203.0.113.10/32',
      ip: '203.0.113.10',
      cause: parseCause('attack old-uuid'),
      hostgroup: 'default',
      started_at: 1,
      expires_at: now() + 60_000,
      next_hop: '192.0.2.1',
      communities: ['65535:666'],
      large_communities: [],
      dry_run: false,
    };
    await mgr.restore([restored]);
    await mgr.onAttack(attack('203.0.113.10', 'new-uuid'));
    assert.deepEqual(
      mgr.list().map((m) => m.uuid),
      ['r1'],
      'no second blackhole',
    );
    assert.equal(journal.entries.length, 0, 'nothing journalled');
    assert.equal(notifier.docs.length, 0, 'no second ban notification');
    // The restored expiry still rules: it ends then, with one unban for the adopted attack.
    advance(60_001);
    await mgr.sweep();
    assert.equal(mgr.list().length, 0);
    assert.deepEqual(
      notifier.docs.map((d) => d.doc.action),
      ['unban'],
    );
  });
});
