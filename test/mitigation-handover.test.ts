/**
 * The mitigation seams a cluster controller uses (issue 17): forget() drops the set without
 * a journal line, a route change or a notification (a deposed leader), restore() takes it
 * back without notifying (a new leader), an attack on a restored ban continues it silently,
 * and mitigationRoute() builds from a record the route the manager announces for it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MitigationManager, mitigationRoute } from '../src/mitigation/manager.js';
import type { DesiredRoute } from '../src/bgp/types.js';
import {
  attack,
  FakeJournal,
  FakeNotifier,
  fakeFlowspec,
  hostgroup,
  testConfig,
} from './fixtures/mitigation/helpers.js';

const withScript = { notify: { script: '/bin/true', format: 'json' as const, timeout_ms: 1000 } };

function setup() {
  const journal = new FakeJournal();
  const notifier = new FakeNotifier();
  const routes: [DesiredRoute | null, DesiredRoute | null][] = [];
  const hg = hostgroup('default', [], {
    ...withScript,
    blackhole: {
      communities: ['65535:666'],
      large_communities: [],
      next_hop: { ipv4: '192.0.2.1', ipv6: '100::1' },
    },
  });
  const mgr = new MitigationManager({
    cfg: testConfig({ hostgroups: [hg] }),
    journal,
    notifier,
    flowspec: fakeFlowspec,
    onRoutes: (put, remove) => routes.push([put, remove]),
  });
  return { mgr, journal, notifier, routes };
}

test('forget() empties the manager silently; restore() brings the records back without a notification', async () => {
  const a = setup();
  await a.mgr.onAttack(attack('203.0.113.10'));
  await a.mgr.addManualBlackhole('203.0.113.11');
  const records = a.mgr.list();
  assert.equal(records.length, 2);
  const counts = {
    journal: a.journal.entries.length,
    notes: a.notifier.docs.length,
    routes: a.routes.length,
  };
  assert.equal(await a.mgr.forget(), 2);
  assert.deepEqual(a.mgr.list(), []);
  assert.deepEqual(a.mgr.desiredRoutes(), []);
  assert.deepEqual(a.mgr.counts(), { blackhole: 0, flowspec: 0, escalation: 0 });
  assert.deepEqual(
    { journal: a.journal.entries.length, notes: a.notifier.docs.length, routes: a.routes.length },
    counts,
    'forget wrote, announced and notified nothing',
  );
  // Another manager (the new leader) restores the records: no notification, same routes.
  const b = setup();
  await b.mgr.restore(records);
  assert.equal(b.mgr.list().length, 2);
  assert.equal(b.notifier.docs.length, 0);
  // The attack is still on: it continues the restored ban, no second `ban`.
  await b.mgr.onAttack(attack('203.0.113.10'));
  assert.equal(b.mgr.list().length, 2);
  assert.equal(b.notifier.docs.length, 0);
  // And the forgotten manager can take the set back (re-elected).
  await a.mgr.restore(records);
  assert.equal(a.mgr.list().length, 2);
  await a.mgr.addManualBlackhole('203.0.113.11');
  assert.equal(a.mgr.list().length, 2, 'the restored record still de-duplicates');
});

test('mitigationRoute() is the route the manager announces for the record; none for dry-run', async () => {
  const { mgr } = setup();
  await mgr.onAttack(attack('203.0.113.10'));
  await mgr.addManualFlowspec({
    destination_prefix: '203.0.113.12/32',
    protocols: ['udp'],
    action_type: 'discard',
  });
  const byOwner = new Map(mgr.desiredRoutes().map((r) => [r.owner, r]));
  assert.equal(byOwner.size, 2);
  for (const m of mgr.list()) assert.deepEqual(mitigationRoute(m, fakeFlowspec), byOwner.get(m.uuid), m.kind);
  const [m] = mgr.list('blackhole');
  assert.equal(mitigationRoute({ ...m!, dry_run: true }, fakeFlowspec), undefined);
  const [f] = mgr.list('flowspec');
  assert.equal(mitigationRoute(f!, null), undefined);
});
