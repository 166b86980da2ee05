import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FlowSample } from '../src/capture/flow.js';
import {
  AMPLIFICATION_PORTS,
  amplificationOf,
  classifyAttack,
  compileThresholds,
  severity,
  thresholdName,
  unbanDecision,
  type ClassRates,
} from '../src/detection/index.js';

function sample(p: Partial<FlowSample>): FlowSample {
  return {
    timeMs: 0,
    ipVersion: 4,
    src: '192.0.2.1',
    dst: '203.0.113.20',
    protocol: 17,
    srcPort: 53,
    dstPort: 40000,
    icmpType: -1,
    icmpCode: -1,
    tcpFlags: 0,
    fragment: false,
    packetLength: 1400,
    packets: 1,
    bytes: 1400,
    samplingRate: 1,
    exporter: '127.0.0.1',
    ...p,
  };
}

const rates = (r: Partial<ClassRates>): ClassRates => ({
  pps: 0,
  tcp_pps: 0,
  syn_pps: 0,
  udp_pps: 0,
  icmp_pps: 0,
  frag_pps: 0,
  ...r,
});

describe('classification', () => {
  it('syn_flood from the SYN share or a tcp_syn threshold', () => {
    assert.deepEqual(classifyAttack(rates({ pps: 60000, tcp_pps: 60000, syn_pps: 59000 }), 'total', []), {
      type: 'syn_flood',
      protocol: 'tcp',
    });
    assert.equal(
      classifyAttack(rates({ pps: 10000, tcp_pps: 9000, syn_pps: 2000 }), 'tcp_syn', []).type,
      'syn_flood',
    );
    // TCP but not SYNs (e.g. an ACK flood): protocol known, type unknown.
    assert.deepEqual(classifyAttack(rates({ pps: 10000, tcp_pps: 10000, syn_pps: 100 }), 'total', []), {
      type: 'unknown',
      protocol: 'tcp',
    });
  });

  it('every amplification kind by UDP source port', () => {
    const expected: [number, string][] = [
      [53, 'dns_amplification'],
      [123, 'ntp_amplification'],
      [1900, 'ssdp_amplification'],
      [11211, 'memcached_amplification'],
      [389, 'cldap_amplification'],
      [19, 'chargen_amplification'],
      [161, 'snmp_amplification'],
    ];
    assert.equal(AMPLIFICATION_PORTS.size, expected.length);
    for (const [port, type] of expected) {
      const samples = [
        sample({ srcPort: port }),
        sample({ srcPort: port, packets: 3 }),
        sample({ srcPort: 5000 }),
      ];
      const c = classifyAttack(rates({ pps: 1000, udp_pps: 1000 }), 'total', samples);
      assert.equal(c.type, type, `port ${port}`);
      assert.equal(c.protocol, 'udp');
      assert.equal(c.sourcePort, port);
    }
  });

  it('amplification needs a dominant known port; port-less fragments are left out', () => {
    // Fragments without ports must not dilute the share of port 53.
    const s = [sample({ srcPort: 53 }), sample({ srcPort: 0, dstPort: 0, fragment: true, packets: 10 })];
    assert.equal(amplificationOf(s)?.type, 'dns_amplification');
    // Mixed random source ports: a plain UDP flood.
    const mixed = [sample({ srcPort: 53 }), sample({ srcPort: 6000 }), sample({ srcPort: 7000 })];
    assert.equal(amplificationOf(mixed), null);
    assert.deepEqual(classifyAttack(rates({ pps: 1000, udp_pps: 1000 }), 'total', mixed), {
      type: 'udp_flood',
      protocol: 'udp',
    });
    // Weighted by packets: one heavy port-53 record outweighs three small others.
    assert.equal(amplificationOf([sample({ srcPort: 53, packets: 100 }), ...mixed.slice(1)])?.port, 53);
  });

  it('a fragmented amplification is still an amplification; plain fragments are a fragmentation flood', () => {
    const amp = [sample({ srcPort: 123, fragment: true })];
    assert.equal(
      classifyAttack(rates({ pps: 1000, udp_pps: 1000, frag_pps: 900 }), 'fragmented', amp).type,
      'ntp_amplification',
    );
    const frags = [sample({ srcPort: 0, dstPort: 0, fragment: true })];
    assert.deepEqual(classifyAttack(rates({ pps: 1000, udp_pps: 1000, frag_pps: 900 }), 'total', frags), {
      type: 'ip_fragmentation_flood',
      protocol: 'udp',
    });
    assert.equal(
      classifyAttack(rates({ pps: 1000, frag_pps: 100 }), 'fragmented', []).type,
      'ip_fragmentation_flood',
    );
  });

  it('icmp_flood and udp_flood from their class or threshold', () => {
    assert.deepEqual(classifyAttack(rates({ pps: 5000, icmp_pps: 5000 }), 'total', []), {
      type: 'icmp_flood',
      protocol: 'icmp',
    });
    assert.equal(classifyAttack(rates({ pps: 5000, icmp_pps: 100 }), 'icmp', []).type, 'icmp_flood');
    assert.equal(classifyAttack(rates({ pps: 5000, udp_pps: 100 }), 'udp', []).type, 'udp_flood');
  });

  it('unknown when no class dominates', () => {
    assert.deepEqual(
      classifyAttack(rates({ pps: 3000, tcp_pps: 1000, udp_pps: 1000, icmp_pps: 1000 }), 'total', []),
      {
        type: 'unknown',
        protocol: 'unknown',
      },
    );
  });

  it('severity bands', () => {
    assert.equal(severity(1.01), 'low');
    assert.equal(severity(2), 'middle');
    assert.equal(severity(4.9), 'middle');
    assert.equal(severity(5), 'high');
  });

  it('threshold names and compilation', () => {
    assert.equal(thresholdName('total', 'pps'), 'packets_per_second');
    assert.equal(thresholdName('tcp_syn', 'pps'), 'tcp_syn_packets_per_second');
    assert.equal(thresholdName('udp', 'mbps'), 'udp_bits_per_second');
    assert.equal(thresholdName('fragmented', 'pps'), 'ip_fragments_packets_per_second');
    assert.equal(thresholdName('total', 'flows'), 'flows_per_second');
    const unsupported: string[] = [];
    const c = compileThresholds(
      { incoming: { total: { pps: 1, flows: 2 }, tcp: { flows: 3 } }, outgoing: { udp: { mbps: 8 } } },
      unsupported,
    );
    assert.deepEqual(
      c.map((t) => `${t.direction}.${t.cls}.${t.unit}=${t.limit}`),
      ['incoming.total.pps=1', 'incoming.total.flows=2', 'outgoing.udp.mbps=8'],
    );
    assert.deepEqual(unsupported, ['incoming.tcp.flows']);
    // mbps compares bytes/s * 8 / 1e6.
    assert.equal(c[2]!.factor, 8e-6);
  });
});

describe('unban decision', () => {
  const auto = { manual: false, bannedAt: 1000, banTimeMs: 60_000, unbanOnlyIfAttackFinished: true };

  it('keeps an automatic ban for ban_time', () => {
    const d = unbanDecision(30_000, auto, () => false);
    assert.equal(d.unban, false);
    assert.equal(d.unban === false && d.recheckAt, 61_000);
  });

  it('after ban_time: waits while still attacking when unban_only_if_attack_finished', () => {
    const d = unbanDecision(61_000, auto, () => true);
    assert.deepEqual(d, { unban: false, reason: 'still_attacking', recheckAt: 62_000 });
    assert.deepEqual(
      unbanDecision(61_000, auto, () => false),
      { unban: true, reason: 'ban_time_expired' },
    );
    // Without the option the attack state is not consulted.
    let asked = false;
    const r = unbanDecision(61_000, { ...auto, unbanOnlyIfAttackFinished: false }, () => {
      asked = true;
      return true;
    });
    assert.equal(r.unban, true);
    assert.equal(asked, false);
  });

  it('manual bans follow their own expiry, not the traffic', () => {
    assert.equal(unbanDecision(1e12, { ...auto, manual: true, expiresAt: null }, () => false).unban, false);
    assert.equal(unbanDecision(5000, { ...auto, manual: true, expiresAt: 4000 }, () => true).unban, true);
    assert.equal(unbanDecision(3000, { ...auto, manual: true, expiresAt: 4000 }, () => false).unban, false);
  });
});
