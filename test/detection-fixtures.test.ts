/**
 * Real exporter captures (test/fixtures/detection, copied from the shared flows fixtures)
 * through the capture decoders into the detector, with a synthetic clock that follows the
 * pcap timestamps. Policy: policies/default.yaml's ban tier (incoming total 20k pps,
 * 1000 Mbit/s).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { FlowDecoder, forEachPacket, udpPayload } from '../src/capture/index.js';
import { createDetector, type AttackRecord } from '../src/detection/index.js';
import { makeConfig } from './fixtures/detection/helpers.js';

function replay(name: string) {
  const buf = new Uint8Array(
    readFileSync(new URL(`../../test/fixtures/detection/${name}.pcap`, import.meta.url)),
  );
  let clock = 0;
  let first = -1;
  const cfg = makeConfig({ networks: ['203.0.113.0/24', '2001:db8:1::/48'] });
  const det = createDetector(cfg, { now: () => clock });
  const started: { rec: AttackRecord; at: number }[] = [];
  det.on('attack_started', (rec) => started.push({ rec, at: clock }));
  const dec = new FlowDecoder(det.sink);
  let datagrams = 0;
  forEachPacket(buf, (p) => {
    if (first < 0) {
      first = p.tsMs;
      clock = p.tsMs;
      det.advance(clock); // re-bases the tick clock on the capture
    }
    clock = p.tsMs;
    det.advance(clock);
    const u = udpPayload(p.data, p.linkType);
    if (!u) return;
    datagrams++;
    dec.decode(u.payload, u.src, p.tsMs);
  });
  // Let the last datagrams reach a tick, then a couple more.
  for (let i = 0; i < 3; i++) {
    clock += 100;
    det.advance(clock);
  }
  return { det, started, datagrams, first };
}

describe('fixtures through the decoders', () => {
  for (const fmt of ['nf9', 'sflow'] as const) {
    it(`syn_flood.${fmt}: SYN flood on 203.0.113.10, incoming`, () => {
      const { det, started, datagrams } = replay(`syn_flood.${fmt}`);
      assert.ok(datagrams > 0);
      assert.equal(started.length, 1, started.map((s) => s.rec.ip).join());
      const a = started[0]!.rec;
      assert.equal(a.ip, '203.0.113.10');
      assert.equal(a.details.attack_type, 'syn_flood');
      assert.equal(a.details.attack_protocol, 'tcp');
      assert.equal(a.details.attack_direction, 'incoming');
      assert.ok(a.details.incoming_syn_tcp_pps > 20_000);
      assert.ok(a.samples.length > 0);
      assert.ok(a.samples.every((s) => s.dst === '203.0.113.10'));
      assert.ok(
        a.samples.filter((s) => s.tcpFlags === 0x02 && s.dstPort === 80).length >= 0.9 * a.samples.length,
      );
      if (fmt === 'sflow') {
        // sFlow carries packet headers: the attack's fingerprint as a pcap.
        assert.ok(a.pcap && a.pcap.length > 24);
        assert.ok(a.samples[0]!.header);
      } else assert.equal(a.pcap, null);
      assert.ok(det.detectionStats().records > 0);
    });

    it(`udp_dns_amp.${fmt}: DNS amplification on 203.0.113.20, incoming`, () => {
      const { started } = replay(`udp_dns_amp.${fmt}`);
      assert.equal(started.length, 1, started.map((s) => s.rec.ip).join());
      const a = started[0]!.rec;
      assert.equal(a.ip, '203.0.113.20');
      assert.equal(a.details.attack_type, 'dns_amplification');
      assert.equal(a.details.attack_protocol, 'udp');
      assert.equal(a.details.attack_direction, 'incoming');
      assert.ok(a.details.incoming_udp_pps > 20_000);
      // softflowd's v9 template has no fragment field; sFlow headers show the fragments.
      if (fmt === 'sflow') assert.ok(a.details.incoming_ip_fragmented_pps > 0);
    });

    it(`background.${fmt}: no attack with the default policy`, () => {
      const { det, started } = replay(`background.${fmt}`);
      assert.equal(
        started.length,
        0,
        started.map((s) => `${s.rec.ip} ${s.rec.details.attack_detection_threshold}`).join(),
      );
      // ...although it was seen and counted.
      assert.ok(det.detectionStats().hosts_v4 > 10);
      assert.ok(det.detectionStats().hosts_v6 > 0);
    });
  }

  it('udp6_flood.sflow: IPv6 UDP flood on 2001:db8:1::10', () => {
    const { started } = replay('udp6_flood.sflow');
    assert.equal(started.length, 1);
    const a = started[0]!.rec;
    assert.equal(a.ip, '2001:db8:1::10');
    assert.equal(a.ipVersion, 6);
    assert.equal(a.details.attack_type, 'udp_flood');
    assert.equal(a.details.attack_direction, 'incoming');
  });
});
