/**
 * The manager with the real src/flowspec adapter: generated rules from attack samples,
 * manual rules through the API shape, identity of routes and refusal reasons.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { flowspecAdapter } from '../src/mitigation/flowspec-adapter.js';
import { MitigationManager } from '../src/mitigation/manager.js';
import { attack, FakeJournal, hostgroup, sample, testConfig } from './fixtures/mitigation/helpers.js';

function mgrWith(fs: { enabled: boolean; action?: string; action_params?: Record<string, unknown> }) {
  const hg = hostgroup('default', [], {
    blackhole: { enabled: false },
    flowspec: {
      enabled: fs.enabled,
      action: fs.action ?? 'discard',
      action_params: fs.action_params ?? {},
      coverage: 0.95,
    },
  });
  return new MitigationManager({
    cfg: testConfig({ hostgroups: [hg] }),
    journal: new FakeJournal(),
    flowspec: flowspecAdapter,
  });
}

describe('mitigation manager with src/flowspec', () => {
  it('an attack with a FlowSpec policy announces the generated rules with the configured action', async () => {
    const mgr = mgrWith({ enabled: true, action: 'rate-limit', action_params: { rate: 12500 } });
    const rec = attack('203.0.113.10');
    const samples = Array.from({ length: 50 }, (_, i) =>
      sample('203.0.113.10', {
        src: `198.51.100.${i + 1}`,
        protocol: 17,
        srcPort: 53,
        dstPort: 40000 + i,
        tcpFlags: 0,
        packetLength: 1400,
      }),
    );
    const baseline = Array.from({ length: 20 }, () =>
      sample('203.0.113.10', { src: '192.0.2.50', protocol: 6, srcPort: 51000, dstPort: 443, tcpFlags: 16 }),
    );
    await mgr.onAttack({ ...rec, samples, baseline });
    const rules = mgr.list('flowspec');
    assert.ok(rules.length >= 1, 'at least one rule generated');
    for (const m of rules) {
      assert.equal(m.rule!.action_type, 'rate-limit');
      assert.deepEqual(m.rule!.action, { rate: 12500 });
      assert.equal(String(m.rule!.destination_prefix), '203.0.113.10/32');
    }
    const routes = mgr.desiredRoutes();
    assert.equal(routes.length, rules.length);
    for (const r of routes) {
      assert.equal(r.family, 'ipv4-flowspec');
      assert.ok(r.flowspecNlri && r.flowspecNlri.length > 0);
      assert.ok(r.extendedCommunities.length >= 1, 'traffic-rate extended community');
    }
  });

  it('manual rules: validated, deduplicated by NLRI, refused with the flowspec reason', async () => {
    const mgr = mgrWith({ enabled: false });
    const rule = {
      destination_prefix: '203.0.113.10/32',
      protocols: ['udp'],
      source_ports: [53],
      action_type: 'discard',
    };
    const a = await mgr.addManualFlowspec(rule);
    assert.equal(a.ok, true, a.error);
    const b = await mgr.addManualFlowspec({ ...rule });
    assert.equal(b.mitigation!.uuid, a.mitigation!.uuid);
    assert.equal(mgr.desiredRoutes().length, 1);
    const bad = await mgr.addManualFlowspec({
      destination_prefix: '203.0.113.10/32',
      action_type: 'explode',
    });
    assert.equal(bad.ok, false);
    assert.match(bad.error!, /^bad FlowSpec rule: action_type: "explode" is not one of/);
    const v6 = await mgr.addManualFlowspec({
      destination_prefix: '2001:db8::1/128',
      protocols: ['tcp'],
      destination_ports: [80],
    });
    assert.equal(v6.ok, true, v6.error);
    assert.deepEqual(
      mgr
        .desiredRoutes()
        .map((r) => r.family)
        .sort(),
      ['ipv4-flowspec', 'ipv6-flowspec'],
    );
    const outside = await mgr.addManualFlowspec({ destination_prefix: '2001:db9::/32' });
    assert.match(outside.error!, /outside the configured networks/);
  });
});
