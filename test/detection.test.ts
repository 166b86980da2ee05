import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createDetector,
  type AttackRecord,
  type DetectorImpl,
  type HostgroupAttack,
} from '../src/detection/index.js';
import { generateRules } from '../src/flowspec/generate.js';
import { UPDATES_PER_SECOND } from '../src/detection/tick.js';
import { makeConfig, rec, type ConfigSpec, type RecSpec } from './fixtures/detection/helpers.js';

const T0 = 1_700_000_000_000;

function setup(spec: ConfigSpec = {}, opts: Parameters<typeof createDetector>[1] = {}) {
  let now = T0;
  const det = createDetector(makeConfig(spec), { now: () => now, ...opts });
  const events: { ev: string; rec: AttackRecord }[] = [];
  for (const ev of ['attack_started', 'attack_updated', 'attack_finished'] as const)
    det.on(ev, (r) => events.push({ ev, rec: r }));
  const tick = () => {
    now += 100;
    det.tick(now);
  };
  const feed = (r: RecSpec, times = 1) => {
    for (let i = 0; i < times; i++) det.sink.onFlow(rec({ timeMs: now, ...r }));
  };
  return { det, events, tick, feed, clock: () => now };
}

const SYN = { src: '192.0.2.1', dst: '203.0.113.10', protocol: 6, tcpFlags: 0x02, dstPort: 80 } as const;

describe('window arithmetic', () => {
  it('rates are the window sum over the window, rolled on the tick only', () => {
    const { det, tick, feed } = setup();
    feed({ ...SYN, packets: 1000, bytes: 46000 });
    // Not yet visible: rates are computed on the tick, never per record.
    assert.equal(det.hostRates('203.0.113.10')?.in_packets ?? 0, 0);
    tick();
    let r = det.hostRates('203.0.113.10')!;
    assert.equal(r.in_packets, 1000); // 1000 packets in a 1 s window
    assert.equal(r.in_bytes, 46000);
    assert.equal(r.in_tcp_packets, 1000);
    assert.equal(r.in_tcp_syn_packets, 1000);
    assert.equal(r.in_udp_packets, 0);
    assert.equal(r.in_flows, 1);
    for (let i = 1; i < 10; i++) {
      feed({ ...SYN, packets: 1000, bytes: 46000 });
      tick();
    }
    r = det.hostRates('203.0.113.10')!;
    assert.equal(r.in_packets, 10000);
    assert.equal(r.in_flows, 10);
    // Traffic stops: one bucket leaves the window per tick.
    tick();
    assert.equal(det.hostRates('203.0.113.10')!.in_packets, 9000);
    for (let i = 0; i < 9; i++) tick();
    assert.equal(det.hostRates('203.0.113.10')!.in_packets, 0);
    assert.deepEqual(det.top(5, 'packets', 'incoming'), []);
  });

  it('counts each side of a record: incoming for the destination, outgoing for the source', () => {
    const { det, tick, feed } = setup();
    feed({
      src: '203.0.113.5',
      dst: '198.51.100.7',
      protocol: 17,
      srcPort: 53,
      dstPort: 5353,
      packets: 7,
      bytes: 700,
    });
    tick();
    const a = det.hostRates('203.0.113.5')!;
    const b = det.hostRates('198.51.100.7')!;
    assert.equal(a.out_packets, 7);
    assert.equal(a.out_udp_bytes, 700);
    assert.equal(a.in_packets, 0);
    assert.equal(b.in_packets, 7);
    assert.equal(b.out_packets, 0);
    assert.equal(det.hostRates('192.0.2.1'), null, 'unmonitored address has no counters');
    const t = det.totals();
    assert.equal(t.in_packets, 7);
    assert.equal(t.out_packets, 7);
  });

  it('keeps fractions exact across ticks (carry) and counts classes independently', () => {
    const { det, tick, feed } = setup();
    // 3 records of 1/3 packet (spread flows give fractions): the window must show exactly 1.
    for (let i = 0; i < 3; i++) feed({ ...SYN, packets: 1 / 3, bytes: 100 / 3, flows: 0 });
    tick();
    tick();
    const r = det.hostRates('203.0.113.10')!;
    assert.ok(Math.abs(r.in_packets - 1) < 1e-9, String(r.in_packets));
    feed({
      src: '192.0.2.1',
      dst: '203.0.113.10',
      protocol: 17,
      fragment: true,
      dropped: true,
      packets: 5,
      bytes: 7000,
    });
    feed({ src: '192.0.2.1', dst: '203.0.113.10', protocol: 1, packets: 2, bytes: 128 });
    tick();
    const q = det.hostRates('203.0.113.10')!;
    assert.equal(q.in_udp_packets, 5);
    assert.equal(q.in_fragmented_packets, 5);
    assert.equal(q.in_dropped_bytes, 7000);
    assert.equal(q.in_icmp_packets, 2);
    assert.ok(Math.abs(q.in_packets - 8) < 1e-9);
  });

  it('a tick that catches up after a stall rolls empty buckets', () => {
    const { det, feed, clock } = setup();
    feed({ ...SYN, packets: 500 });
    det.advance(clock() + 100);
    assert.equal(det.hostRates('203.0.113.10')!.in_packets, 500);
    det.advance(clock() + 1100); // 10 more ticks: the bucket has left the window
    assert.equal(det.hostRates('203.0.113.10')!.in_packets, 0);
  });
});

describe('long flows', () => {
  it('a flow longer than the window contributes its average rate', () => {
    const { det, tick, feed } = setup();
    // One NetFlow record of a 100 s download: 10 GB, 7M packets.
    feed({
      src: '192.0.2.80',
      dst: '203.0.113.30',
      srcPort: 443,
      dstPort: 50000,
      tcpFlags: 0x1b,
      packets: 7_000_000,
      bytes: 10e9,
      durationMs: 100_000,
    });
    tick();
    const r = det.hostRates('203.0.113.30')!;
    assert.equal(r.in_bytes, 1e8); // 10 GB / 100 s
    assert.equal(r.in_packets, 70_000);
  });

  it('a large legitimate single flow causes no spike, the same volume in one instant does', () => {
    const cfg: ConfigSpec = {
      hostgroups: [{ name: 'default', ban: { incoming: { total: { mbps: 1000 } } } }],
    };
    const a = setup(cfg);
    // 5 GB over 60 s = 667 Mbit/s average: under 1000 Mbit/s.
    a.feed({
      src: '192.0.2.80',
      dst: '203.0.113.30',
      srcPort: 443,
      tcpFlags: 0x1b,
      packets: 3_500_000,
      bytes: 5e9,
      durationMs: 60_000,
    });
    for (let i = 0; i < 12; i++) a.tick();
    assert.equal(a.events.length, 0);
    const b = setup(cfg);
    b.feed({
      src: '192.0.2.80',
      dst: '203.0.113.30',
      srcPort: 443,
      tcpFlags: 0x1b,
      packets: 3_500_000,
      bytes: 5e9,
      durationMs: 0,
    });
    b.tick();
    assert.equal(b.events[0]?.ev, 'attack_started');
  });

  it('a flow shorter than the window counts whole', () => {
    const { det, tick, feed } = setup();
    feed({ ...SYN, packets: 300, durationMs: 800 });
    tick();
    assert.equal(det.hostRates('203.0.113.10')!.in_packets, 300);
  });
});

describe('smoothing', () => {
  it('EWMA of the window rate with alpha = 1 - exp(-tick/tau)', () => {
    const { det, tick, feed } = setup({ detection: { smoothing_ms: 1000 } });
    const alpha = 1 - Math.exp(-100 / 1000);
    let expect = 0;
    let windowSum = 0;
    for (let i = 0; i < 15; i++) {
      if (i < 5) feed({ ...SYN, packets: 1000 });
      tick();
      if (i < 5) windowSum += 1000;
      if (i >= 10) windowSum -= 1000; // ticks 0..4 leave at 10..14
      expect += alpha * (windowSum - expect);
      const got = det.hostRates('203.0.113.10')!.in_packets;
      assert.ok(Math.abs(got - expect) < 1e-6, `tick ${i}: ${got} vs ${expect}`);
    }
  });
});

describe('thresholds', () => {
  const cfgFor = (ticks: number): ConfigSpec => ({
    hostgroups: [{ name: 'default', ban: { incoming: { total: { pps: 5000 } } }, ticks_required: ticks }],
  });

  it('fires on the first tick above the threshold (strictly greater)', () => {
    const { tick, feed, events } = setup(cfgFor(1));
    const started: number[] = [];
    for (let i = 1; i <= 6; i++) {
      feed({ ...SYN, packets: 2500 }); // window rate after tick i: 2500 * i
      tick();
      if (events.some((e) => e.ev === 'attack_started')) started.push(i);
    }
    // 5000 is not above 5000; 7500 is.
    assert.equal(started[0], 3);
    const a = events[0]!.rec;
    assert.equal(a.ip, '203.0.113.10');
    assert.equal(a.details.attack_direction, 'incoming');
    assert.equal(a.details.attack_detection_threshold, 'packets_per_second');
    assert.equal(a.details.attack_detection_threshold_value, 5000);
    assert.equal(a.details.initial_attack_power, 7500);
    assert.equal(a.details.attack_type, 'syn_flood');
    assert.equal(a.details.attack_protocol, 'tcp');
    assert.equal(a.details.attack_severity, 'low'); // 1.5x
    assert.equal(events.filter((e) => e.ev === 'attack_started').length, 1);
  });

  it('ticks_required: the threshold must hold for N consecutive ticks', () => {
    const { tick, feed, events } = setup(cfgFor(3));
    let startedAt = 0;
    for (let i = 1; i <= 8; i++) {
      feed({ ...SYN, packets: 2500 });
      tick();
      if (!startedAt && events.some((e) => e.ev === 'attack_started')) startedAt = i;
    }
    assert.equal(startedAt, 5); // over at 3, 4, 5
  });

  it('a burst shorter than ticks_required is not an attack', () => {
    const { tick, feed, events } = setup(cfgFor(3));
    feed({ ...SYN, packets: 6000 });
    tick(); // over (6000) for ticks 1..10 of the window? no: feed once, then below after it leaves
    tick();
    assert.equal(events.length, 0, 'over for 2 ticks only so far');
    // The window still holds it for the rest of the window, so it does fire on the third tick:
    tick();
    assert.equal(events[0]?.ev, 'attack_started');
    // ...whereas a threshold that drops in between restarts the count.
    const b = setup(cfgFor(3));
    b.feed({ ...SYN, packets: 6000 });
    b.tick();
    b.tick();
    b.det.reconfigure(makeConfig(cfgFor(3))); // restarts consecutive counts
    for (let i = 0; i < 10; i++) b.tick(); // burst leaves the window after tick 10
    assert.equal(b.events.filter((e) => e.ev === 'attack_started').length, 1);
  });

  it('severity from the ratio to the threshold', () => {
    const { tick, feed, events } = setup(cfgFor(1));
    feed({ ...SYN, packets: 60_000 }); // 60k pps vs 5k: 12x
    tick();
    assert.equal(events[0]!.rec.details.attack_severity, 'high');
    const m = setup(cfgFor(1));
    m.feed({ ...SYN, packets: 15_000 }); // 3x
    m.tick();
    assert.equal(m.events[0]!.rec.details.attack_severity, 'middle');
  });

  it('direction comes from the threshold that fired', () => {
    const { tick, feed, events } = setup({
      hostgroups: [
        { name: 'default', ban: { incoming: { total: { pps: 100000 } }, outgoing: { udp: { pps: 1000 } } } },
      ],
    });
    // A host sending a UDP flood (e.g. compromised): outgoing.
    feed({
      src: '203.0.113.40',
      dst: '192.0.2.9',
      protocol: 17,
      srcPort: 40000,
      dstPort: 80,
      packets: 5000,
      bytes: 5e5,
    });
    tick();
    const a = events[0]!.rec;
    assert.equal(a.ip, '203.0.113.40');
    assert.equal(a.details.attack_direction, 'outgoing');
    assert.equal(a.details.attack_detection_threshold_direction, 'outgoing');
    assert.equal(a.details.attack_detection_threshold, 'udp_packets_per_second');
    assert.equal(a.details.attack_type, 'udp_flood');
    assert.equal(a.details.total_outgoing_pps, 5000);
  });

  it('mbps and flows units', () => {
    const { tick, feed, events } = setup({
      hostgroups: [{ name: 'default', ban: { incoming: { total: { mbps: 100, flows: 1e9 } } } }],
    });
    feed({ ...SYN, packets: 10_000, bytes: 12_500_000 }); // 100 Mbit in 1 s: not above
    tick();
    assert.equal(events.length, 0);
    feed({ ...SYN, packets: 1, bytes: 1 });
    tick();
    assert.equal(events[0]?.rec.details.attack_detection_threshold, 'bits_per_second');
    const f = setup({ hostgroups: [{ name: 'default', ban: { incoming: { total: { flows: 50 } } } }] });
    f.feed({ ...SYN, packets: 1, flows: 1 }, 51);
    f.tick();
    assert.equal(f.events[0]?.rec.details.attack_detection_threshold, 'flows_per_second');
  });

  it('whitelisted hosts are counted but never banned', () => {
    const { det, tick, feed, events } = setup({ whitelist: ['203.0.113.10/32'] });
    feed({ ...SYN, packets: 100_000 });
    tick();
    assert.equal(events.length, 0);
    assert.equal(det.hostRates('203.0.113.10')!.in_packets, 100_000);
    assert.equal(
      det.stillAttacking('203.0.113.10'),
      true,
      'rates are above; the ban decision is the whitelist',
    );
  });

  it('exclude_whitelisted_sources drops traffic from whitelisted remotes', () => {
    const { det, tick, feed } = setup({
      whitelist: ['192.0.2.0/24'],
      detection: { exclude_whitelisted_sources: true },
    });
    feed({ ...SYN, src: '192.0.2.1', packets: 100 });
    feed({ ...SYN, src: '198.18.0.1', packets: 7 });
    tick();
    assert.equal(det.hostRates('203.0.113.10')!.in_packets, 7);
  });

  it('emergency tier, rateFn and stillAttacking', () => {
    const { det, tick, feed } = setup({
      hostgroups: [
        {
          name: 'default',
          ban: { incoming: { total: { pps: 1000 } } },
          emergency: { incoming: { total: { pps: 50_000 } } },
        },
      ],
    });
    feed({ ...SYN, packets: 20_000, bytes: 20_000 * 60 });
    tick();
    assert.equal(det.stillAttacking('203.0.113.10'), true);
    assert.equal(det.overEmergency('203.0.113.10'), false);
    const fn = det.rateFn('203.0.113.10')!;
    assert.equal(fn('incoming', 'total', 'pps'), 20_000);
    assert.equal(fn('incoming', 'tcp_syn', 'pps'), 20_000);
    assert.equal(fn('incoming', 'total', 'mbps'), 9.6);
    assert.equal(fn('outgoing', 'total', 'pps'), 0);
    feed({ ...SYN, packets: 40_000 });
    tick();
    assert.equal(det.overEmergency('203.0.113.10'), true);
    for (let i = 0; i < 10; i++) tick();
    assert.equal(det.stillAttacking('203.0.113.10'), false);
    assert.equal(det.rateFn('192.0.2.1'), null);
  });
});

describe('hostgroups', () => {
  const spec: ConfigSpec = {
    networks: ['203.0.113.0/24', '198.51.100.0/24', '2001:db8::/32'],
    hostgroups: [
      { name: 'default', ban: { incoming: { total: { pps: 20_000 } } } },
      // Resolved thresholds: `customers` inherits default's and tightens; `vip` is more specific.
      {
        name: 'customers',
        prefixes: ['203.0.113.0/24', '2001:db8:1::/48'],
        ban: { incoming: { total: { pps: 1000 } } },
      },
      {
        name: 'vip',
        parent: 'customers',
        prefixes: ['203.0.113.128/25', '2001:db8:1:2::/64'],
        ban: { incoming: { total: { pps: 100 } } },
      },
    ],
  };

  it('most specific prefix wins, for IPv4 and IPv6', () => {
    const { det, tick, feed, events } = setup(spec);
    for (const dst of [
      '203.0.113.10',
      '203.0.113.200',
      '198.51.100.1',
      '2001:db8:1::5',
      '2001:db8:1:2::5',
      '2001:db8:9::1',
    ]) {
      const src = dst.includes(':') ? '3fff::1' : '192.0.2.1';
      feed({ src, dst, packets: 1500 });
    }
    tick();
    assert.equal(det.hostgroupOf('203.0.113.10'), 'customers');
    assert.equal(det.hostgroupOf('203.0.113.200'), 'vip');
    assert.equal(det.hostgroupOf('198.51.100.1'), 'default');
    assert.equal(det.hostgroupOf('2001:db8:1:2::5'), 'vip');
    assert.equal(det.hostgroupOf('192.0.2.1'), null);
    const byIp = new Map(events.filter((e) => e.ev === 'attack_started').map((e) => [e.rec.ip, e.rec]));
    assert.deepEqual([...byIp.keys()].sort(), [
      '2001:db8:1:2::5',
      '2001:db8:1::5',
      '203.0.113.10',
      '203.0.113.200',
    ]);
    assert.equal(byIp.get('203.0.113.200')!.hostgroup, 'vip');
    assert.equal(byIp.get('203.0.113.200')!.details.attack_detection_threshold_value, 100);
    assert.equal(byIp.get('203.0.113.10')!.details.attack_detection_threshold_value, 1000);
    assert.equal(byIp.get('2001:db8:1::5')!.hostgroup, 'customers');
    assert.equal(byIp.get('2001:db8:1::5')!.ipVersion, 6);
    assert.equal(byIp.get('203.0.113.10')!.details.host_network, '203.0.113.0/24');
    assert.equal(byIp.get('2001:db8:1::5')!.details.host_network, '2001:db8::/32');
    assert.equal(det.hostRates('2001:db8:1::5')!.hostgroup, 'customers');
  });

  it('hostgroup totals and hostgroup-total thresholds', () => {
    const s: ConfigSpec = {
      hostgroups: [
        { name: 'default', ban: {} },
        {
          name: 'web',
          prefixes: ['203.0.113.0/26'],
          ban: { incoming: { total: { pps: 1e9 } } },
          hostgroupTotal: { incoming: { total: { pps: 1500 } } },
        },
      ],
    };
    const { det, tick, feed } = setup(s);
    const hg: { ev: string; a: HostgroupAttack }[] = [];
    det.onHostgroup('attack_started', (a) => hg.push({ ev: 'started', a }));
    det.onHostgroup('attack_finished', (a) => hg.push({ ev: 'finished', a }));
    for (let i = 1; i <= 20; i++) feed({ src: '192.0.2.1', dst: `203.0.113.${i}`, packets: 100 });
    feed({ src: '192.0.2.1', dst: '203.0.113.100', packets: 5000 }); // default group
    tick();
    assert.equal(det.hostgroupRates('web')!.in_packets, 2000);
    assert.equal(det.hostgroupRates('default')!.in_packets, 5000);
    assert.equal(det.totals().in_packets, 7000);
    assert.equal(hg.length, 1);
    assert.equal(hg[0]!.a.hostgroup, 'web');
    assert.equal(hg[0]!.a.value, 2000);
    for (let i = 0; i < 10; i++) tick();
    assert.equal(hg[1]?.ev, 'finished');
  });

  it('a hostgroup-total threshold raises a hostgroup event, never a per-host ban', () => {
    const { det, tick, feed, events } = setup({
      hostgroups: [
        { name: 'default', ban: {} },
        {
          name: 'web',
          prefixes: ['203.0.113.0/26'],
          ban: {},
          hostgroupTotal: { incoming: { total: { pps: 1000, mbps: 1 } } },
        },
      ],
    });
    const hg: HostgroupAttack[] = [];
    det.onHostgroup('attack_started', (a) => hg.push(a));
    // One host carries far more than the hostgroup's total limit, for a few seconds.
    for (let t = 0; t < 30; t++) {
      feed({ src: '192.0.2.1', dst: '203.0.113.7', packets: 5000, bytes: 5000 * 1000 });
      tick();
    }
    assert.deepEqual(hg.map((a) => `${a.hostgroup} ${a.direction} ${a.cls} ${a.unit}`).sort(), [
      'web incoming total mbps',
      'web incoming total pps',
    ]);
    assert.equal(events.length, 0, 'no host attack');
    assert.equal(det.activeAttacks().length, 0);
    assert.equal(det.stillAttacking('203.0.113.7'), false);
  });

  it('reconfigure keeps counters and applies new thresholds', () => {
    const { det, tick, feed, events } = setup(spec);
    feed({ src: '192.0.2.1', dst: '198.51.100.1', packets: 900 });
    tick();
    assert.equal(events.length, 0);
    det.reconfigure(
      makeConfig({
        ...spec,
        hostgroups: [
          ...spec.hostgroups!,
          { name: 'lab', prefixes: ['198.51.100.0/28'], ban: { incoming: { total: { pps: 500 } } } },
        ],
      }),
    );
    assert.equal(det.hostRates('198.51.100.1')!.in_packets, 900, 'counters survive');
    assert.equal(det.hostRates('198.51.100.1')!.hostgroup, 'lab');
    tick();
    assert.equal(events[0]?.rec.hostgroup, 'lab');
    // Dropping a network forgets its hosts.
    det.reconfigure(makeConfig({ ...spec, networks: ['203.0.113.0/24'] }));
    assert.equal(det.hostRates('198.51.100.1'), null);
  });
});

/** 10.1.0.0/16 monitored, a host banned over 10,000 pps incoming. */
const TEN_K_IN_10_1 = makeConfig({
  networks: ['10.1.0.0/16'],
  hostgroups: [{ name: 'default', ban: { incoming: { total: { pps: 10_000 } } } }],
});

/** One UDP record of 5,000 packets (50,000 pps over a 100 ms tick) to each host. */
function overEach(det: ReturnType<typeof createDetector>, hosts: readonly string[], now: number): void {
  for (const dst of hosts)
    det.sink.onFlow(
      rec({
        src: '192.0.2.1',
        dst,
        protocol: 17,
        srcPort: 53,
        dstPort: 4000,
        packets: 5000,
        bytes: 500_000,
        timeMs: now,
      }),
    );
}

describe('attack lifecycle', () => {
  it('updates of many attacks stay within the budget per tick, and every attack gets its turn', () => {
    // 6,000 hosts under attack: one update each per second would be 6,000/s; the budget
    // (UPDATES_PER_SECOND) stretches each one's interval to 3 s, at most 200 per tick.
    const { tick, feed, events } = setup({
      networks: ['10.0.0.0/8'],
      hostgroups: [{ name: 'default', ban: { incoming: { total: { pps: 5000 } } } }],
    });
    const N = 6000;
    const host = (i: number) => `10.2.${i >> 8}.${i & 255}`;
    const perTick: number[] = [];
    for (let t = 0; t < 80; t++) {
      for (let i = 0; i < N; i++) feed({ ...SYN, dst: host(i), packets: 1000 });
      const before = events.length;
      tick();
      perTick.push(events.slice(before).filter((e) => e.ev === 'attack_updated').length);
    }
    assert.equal(events.filter((e) => e.ev === 'attack_started').length, N, 'every host attacked once');
    assert.equal(events.filter((e) => e.ev === 'attack_finished').length, 0);
    assert.ok(
      Math.max(...perTick) <= (UPDATES_PER_SECOND * 100) / 1000,
      `updates per tick: max ${Math.max(...perTick)}`,
    );
    // Started at tick ~6; over the remaining ~7 s every attack was updated at least once and
    // none more often than its stretched interval allows (3 s: at most 3 times).
    const byUuid = new Map<string, number>();
    for (const e of events)
      if (e.ev === 'attack_updated') byUuid.set(e.rec.uuid, (byUuid.get(e.rec.uuid) ?? 0) + 1);
    assert.equal(byUuid.size, N, 'every attack updated');
    assert.ok(
      Math.max(...byUuid.values()) <= 3,
      `most updates of one attack: ${Math.max(...byUuid.values())}`,
    );
  });

  it('started, updated once per second, finished after a window below', () => {
    const { tick, feed, events } = setup({
      hostgroups: [{ name: 'default', ban: { incoming: { total: { pps: 5000 } } } }],
    });
    for (let i = 0; i < 30; i++) {
      feed({ ...SYN, packets: 1000 }); // 10k pps steady
      tick();
    }
    const started = events.filter((e) => e.ev === 'attack_started');
    const updated = events.filter((e) => e.ev === 'attack_updated');
    assert.equal(started.length, 1);
    // started at tick 6 (6000 > 5000); 24 more ticks = 2.4 s: updates at +1 s and +2 s.
    assert.equal(updated.length, 2);
    assert.equal(updated[0]!.rec.uuid, started[0]!.rec.uuid);
    assert.equal(updated[1]!.rec.details.peak_attack_power, 10000);
    assert.equal(updated[1]!.rec.details.initial_attack_power, 6000);
    // Stop: the window drops to 5000 after 5 ticks, then one full window below.
    let finishedAfter = 0;
    for (let i = 1; i <= 30 && !finishedAfter; i++) {
      tick();
      if (events.some((e) => e.ev === 'attack_finished')) finishedAfter = i;
    }
    assert.equal(finishedAfter, 14); // 5000 at +5 is not above; then 10 ticks below
    const fin = events.find((e) => e.ev === 'attack_finished')!.rec;
    assert.equal(fin.uuid, started[0]!.rec.uuid);
    assert.equal(fin.details.peak_attack_power, 10000);
  });

  it('the attack record has samples at once, a baseline from before, and a pcap where headers exist', () => {
    const { tick, feed, events } = setup({
      hostgroups: [{ name: 'default', ban: { incoming: { total: { pps: 20_000 } } } }],
    });
    // Baseline: web traffic for a second.
    for (let i = 0; i < 10; i++) {
      feed({
        src: '198.18.0.5',
        dst: '203.0.113.10',
        protocol: 6,
        tcpFlags: 0x18,
        srcPort: 51000,
        dstPort: 443,
        packets: 10,
        bytes: 10 * 800,
      });
      tick();
    }
    // sFlow-like SYN flood with packet headers: 100 samples x 100 per tick = 100k pps.
    const hdr = new Uint8Array(60);
    hdr[12] = 0x08;
    for (let t = 0; t < 3 && !events.length; t++) {
      for (let i = 0; i < 100; i++)
        feed({
          ...SYN,
          src: `198.19.${t}.${i}`,
          srcPort: 1024 + i,
          packets: 100,
          bytes: 6000,
          samplingRate: 100,
          header: hdr,
        });
      tick();
    }
    const a = events.find((e) => e.ev === 'attack_started')!.rec;
    assert.ok(a.samples.length > 0 && a.samples.length <= 100, `samples ${a.samples.length}`);
    assert.ok(
      a.samples.every((s) => s.dst === '203.0.113.10' && s.tcpFlags === 0x02 && s.samplingRate === 100),
    );
    assert.equal(a.samples[0]!.header!.length, 60);
    assert.ok(a.baseline.length > 0);
    assert.ok(
      a.baseline.every((s) => s.dstPort === 443 && s.src === '198.18.0.5'),
      'baseline holds only pre-attack traffic',
    );
    assert.equal(a.packet_dump_detailed.length, a.samples.length);
    assert.equal(a.packet_dump_detailed[0]!.protocol, 'tcp');
    assert.ok(a.pcap);
    const dv = new DataView(a.pcap.buffer, a.pcap.byteOffset);
    assert.equal(dv.getUint32(0, true), 0xa1b2c3d4);
    assert.equal(dv.getUint32(20, true), 1);
    assert.equal(a.pcap.length, 24 + a.samples.length * (16 + 60));
  });

  it('an attack that ramps up over several ticks leaves the baseline clean', () => {
    // The demo's case: a DNS amplification against a udp mbps threshold grows for a few ticks
    // before the host turns hot; the host's normal traffic is sparse and includes DNS replies.
    const { tick, feed, events } = setup({
      hostgroups: [{ name: 'default', ban: { incoming: { total: { pps: 20_000 }, udp: { mbps: 100 } } } }],
    });
    const host = '203.0.113.20';
    const web = (i: number) => ({
      src: `198.18.0.${1 + (i % 50)}`,
      dst: host,
      protocol: 6,
      tcpFlags: 0x10,
      srcPort: 40000 + i,
      dstPort: 443,
      packets: 10,
      bytes: 10 * 700,
      samplingRate: 10,
    });
    const dns = (i: number) => ({
      src: `198.18.1.${1 + (i % 50)}`,
      dst: host,
      protocol: 17,
      srcPort: 53,
      dstPort: 30000 + i,
      packets: 10,
      bytes: 10 * 150,
      samplingRate: 10,
    });
    // Background for 4 s: a sampled packet every other tick, every fifth one a DNS reply.
    for (let i = 0; i < 40; i++) {
      if (i % 2 === 0) feed(i % 10 === 4 ? dns(i) : web(i));
      tick();
    }
    // The flood: 40, 80, 120 ... samples of 1:10 per tick (4k, 8k, 12k ... pps) of 1300 bytes.
    const amp = (t: number, i: number) => ({
      src: `192.0.2.${1 + ((t * 7 + i) % 250)}`,
      dst: host,
      protocol: 17,
      srcPort: 53,
      dstPort: 1024 + i,
      packets: 10,
      bytes: 10 * 1300,
      samplingRate: 10,
    });
    let hotAt = -1;
    for (let t = 1; t <= 12 && !events.length; t++) {
      for (let i = 0; i < Math.min(200, 40 * t); i++) feed(amp(t, i));
      tick();
      hotAt = t;
    }
    assert.ok(hotAt >= 3, `the ramp took ${hotAt} tick(s): not a ramp`);
    const a = events.find((e) => e.ev === 'attack_started')!.rec;
    assert.equal(a.details.attack_type, 'dns_amplification');
    const kinds = a.baseline.map((s) => `${s.protocol}/${s.srcPort}/${s.bytes / s.packets}`);
    assert.ok(
      a.baseline.every((s) => s.bytes / s.packets !== 1300),
      `no attack sample in the baseline: ${kinds.join(' ')}`,
    );
    assert.ok(
      a.baseline.some((s) => s.protocol === 17 && s.srcPort === 53),
      `the normal DNS replies are in it: ${kinds.join(' ')}`,
    );
    assert.ok(
      a.baseline.some((s) => s.protocol === 6),
      `and the web traffic: ${kinds.join(' ')}`,
    );
    // So the FlowSpec generator builds a rule that spares the normal DNS replies.
    const g = generateRules(a.samples, a.baseline);
    assert.ok(g.ok && g.rules.length === 1, g.explanation);
    assert.ok(g.rules[0]!.rule.match.packet_lengths, JSON.stringify(g.rules[0]!.rule));
  });

  it('the baseline ring keeps one entry per kind of traffic, at most baselineSamples', () => {
    const { tick, feed, events } = setup(
      { hostgroups: [{ name: 'default', ban: { incoming: { total: { pps: 20_000 } } } }] },
      { baselineSamples: 8 },
    );
    const host = '203.0.113.10';
    // 5 s of a busy host: web, DNS and ICMP, many records per tick.
    for (let t = 0; t < 50; t++) {
      for (let i = 0; i < 20; i++) {
        const k = (t + i) % 3;
        if (k === 0)
          feed({
            src: '198.18.0.5',
            dst: host,
            protocol: 6,
            srcPort: 50000 + i,
            dstPort: 443,
            packets: 10,
            bytes: 8000,
          });
        else if (k === 1)
          feed({
            src: '198.18.0.6',
            dst: host,
            protocol: 17,
            srcPort: 53,
            dstPort: 50000 + i,
            packets: 2,
            bytes: 300,
          });
        else
          feed({ src: '198.18.0.7', dst: host, protocol: 1, srcPort: 0, dstPort: 0, packets: 1, bytes: 84 });
      }
      tick();
    }
    // Then a UDP flood to random ports, from random ports: a new kind on every record.
    for (let t = 0; t < 20 && !events.length; t++) {
      for (let i = 0; i < 40; i++)
        feed({
          src: `192.0.2.${i}`,
          dst: host,
          protocol: 17,
          srcPort: 1024 + t * 100 + i,
          dstPort: 2024 + t * 100 + i,
          packets: 8 * t,
          bytes: 8 * t * 500,
        });
      tick();
    }
    const a = events.find((e) => e.ev === 'attack_started')!.rec;
    const kinds = new Set(a.baseline.map((s) => `${s.protocol}/${Math.min(s.srcPort, s.dstPort)}`));
    assert.deepEqual([...kinds].sort(), ['1/0', '17/53', '6/443'], [...kinds].join(' '));
    assert.ok(a.baseline.length <= 8);
    assert.ok(
      a.baseline.every((s) => s.src.startsWith('198.18.')),
      'no flood record',
    );
  });

  it('hosts beyond the hot-buffer cap are detected on their first tick over, and cool down', () => {
    const { det, tick, feed, events } = setup(
      { hostgroups: [{ name: 'default', ban: { incoming: { total: { pps: 10_000 } } } }] },
      { maxHotHosts: 1 },
    );
    // 20 hosts at 70% of the threshold for a second: all hot, one with a buffer.
    for (let t = 0; t < 10; t++) {
      for (let h = 1; h <= 20; h++) feed({ ...SYN, dst: `203.0.113.${h}`, packets: 700 });
      tick();
    }
    assert.equal(det.detectionStats().hot_hosts, 20);
    assert.equal(events.length, 0);
    // Host 17 goes over: detected on that very tick.
    for (let h = 1; h <= 20; h++) feed({ ...SYN, dst: `203.0.113.${h}`, packets: h === 17 ? 5000 : 700 });
    tick();
    assert.deepEqual(
      events.map((e) => `${e.ev} ${e.rec.ip}`),
      ['attack_started 203.0.113.17'],
    );
    // Everything stops: the attack finishes after a window below, every host cools down.
    for (let t = 0; t < 40; t++) tick();
    assert.deepEqual(
      events.filter((e) => e.ev !== 'attack_updated').map((e) => e.ev),
      ['attack_started', 'attack_finished'],
    );
    assert.equal(det.detectionStats().hot_hosts, 0);
  });

  it('a tick starts attacks within its budget; the rest start in the next ticks, counted, each once', () => {
    let now = T0;
    const det = createDetector(
      TEN_K_IN_10_1,
      { now: () => now, startBudgetMs: 0 }, // 0: one start per tick, whatever the machine
    );
    const started: string[] = [];
    det.on('attack_started', (r: AttackRecord) => started.push(r.ip));
    const hosts = ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4', '10.1.0.5'];
    const perTick: number[] = [];
    for (let t = 0; t < 12; t++) {
      overEach(det, hosts, now);
      now += 100;
      const before = started.length;
      det.tick(now);
      perTick.push(started.length - before);
    }
    // The 1 s window passes 10,000 pps at the third tick: from then on one start per tick
    // until all five are started.
    assert.deepEqual(perTick.slice(0, 8), [0, 0, 1, 1, 1, 1, 1, 0]);
    assert.deepEqual([...started].sort(), hosts);
    assert.equal(det.detectionStats().starts_deferred, 4 + 3 + 2 + 1);
    // A deferred host's attack is not ended meanwhile: all five stay active.
    assert.equal(det.detectionStats().attacks_active, 5);
  });

  it('an attack does not end while the capture is losing datagrams; it ends at the first tick without loss', () => {
    let now = T0;
    const det = createDetector(TEN_K_IN_10_1, { now: () => now });
    let losing = false;
    det.setLossProbe(() => losing);
    const finished: number[] = [];
    let t = 0;
    det.on('attack_finished', () => finished.push(t));
    for (t = 0; t < 60; t++) {
      if (t < 20) overEach(det, ['10.1.0.9'], now);
      if (t === 20) losing = true; // the traffic "stops" while datagrams are being lost
      if (t === 45) losing = false;
      now += 100;
      det.tick(now);
    }
    assert.deepEqual(finished, [45], 'held from the usual end (~tick 40) until the loss stopped');
    assert.ok(det.detectionStats().ends_held > 0);
    assert.equal(det.detectionStats().attacks_active, 0);
  });

  it('a capture that loses datagrams all the time holds an attack end for at most a minute', () => {
    let now = T0;
    const det = createDetector(TEN_K_IN_10_1, { now: () => now });
    det.setLossProbe(() => true);
    const finished: number[] = [];
    let t = 0;
    det.on('attack_finished', () => finished.push(t));
    for (t = 0; t < 700; t++) {
      if (t < 20) overEach(det, ['10.1.0.9'], now);
      now += 100;
      det.tick(now);
    }
    assert.equal(finished.length, 1);
    // Due about a second after the traffic stopped (~tick 30-40), held 600 ticks more.
    assert.ok(finished[0]! >= 620 && finished[0]! <= 650, `ended at tick ${finished[0]}`);
  });

  it('past 1,024 attacks an attacked host is checked once a window: its end comes 1-2 s after its traffic stops', () => {
    const endAfter = (n: number): number => {
      let now = T0;
      const det = createDetector(TEN_K_IN_10_1, { now: () => now, startBudgetMs: 1e9 });
      const hosts = Array.from({ length: n }, (_, i) => `10.1.${i >> 8}.${i & 255}`);
      const finished = new Map<string, number>();
      let t = 0;
      det.on('attack_finished', (r: AttackRecord) => finished.set(r.ip, t));
      const quiet = hosts[7]!; // its traffic stops at tick 30
      for (t = 0; t < 80; t++) {
        overEach(det, t < 30 ? hosts : hosts.filter((h) => h !== quiet), now);
        now += 100;
        det.tick(now);
      }
      assert.equal(det.detectionStats().attacks_active, n - 1, 'the others stay attacked');
      assert.equal(finished.size, 1);
      return finished.get(quiet)! - 30;
    };
    const few = endAfter(100);
    const many = endAfter(1100);
    // Every tick: the window is below once the last traffic left it, then a window more.
    assert.ok(few >= 10 && few <= 21, `${few} ticks with 100 attacks`);
    assert.ok(many >= few && many <= few + 10, `${many} ticks with 1,100 attacks (${few} with 100)`);
  });

  it('65,536 hot hosts stay under detection.hot_sample_bytes; the refusals are counted and in /metrics', async () => {
    const cap = 4 * 2 ** 20;
    let now = T0;
    const det = createDetector(
      makeConfig({
        networks: ['10.1.0.0/16'],
        hostgroups: [{ name: 'default', ban: { incoming: { total: { pps: 10_000 } } } }],
        detection: { hot_sample_bytes: cap },
      }),
      { now: () => now },
    );
    const started: AttackRecord[] = [];
    det.on('attack_started', (r) => started.push(r));
    const N = 65_536;
    const hosts = Array.from({ length: N }, (_, i) => `10.1.${i >> 8}.${i & 255}`);
    const perBuffer = det.bytesPerHotHost();
    const most = Math.floor(cap / perBuffer);
    // A second at 70% of the threshold (every host hot), then over it: every host attacked.
    for (let t = 0; t < 12; t++) {
      const pk = t < 10 ? 700 : 5000;
      for (const dst of hosts)
        det.sink.onFlow(
          rec({
            src: '192.0.2.1',
            dst,
            protocol: 17,
            srcPort: 53,
            dstPort: 4000 + t,
            packets: pk,
            bytes: pk * 100,
            timeMs: now,
          }),
        );
      now += 100;
      det.tick(now);
    }
    // A tick starts attacks for 40 ms; the rest stay over and start in the next ticks.
    for (let t = 12; t < 200 && started.length < N; t++) {
      overEach(det, hosts, now);
      now += 100;
      det.tick(now);
    }
    const st = det.detectionStats();
    assert.equal(started.length, N, 'every host detected, with or without a buffer');
    assert.equal(new Set(started.map((r) => r.ip)).size, N, 'each host once');
    assert.equal(st.hot_hosts, N);
    assert.ok(most > 100 && most < 1024, `${most} buffers in 4 MiB`);
    assert.equal(st.hot_buffers, most);
    assert.ok(st.hot_buffer_bytes <= cap, `${st.hot_buffer_bytes} B of hot buffers, cap ${cap}`);
    assert.equal(st.hot_buffers_refused, N - most);
    // Without a buffer the attack samples come from the baseline ring's marked entries.
    assert.ok(started.every((a) => a.samples.length >= 1 && a.samples.every((s) => s.dst === a.ip)));
    const { createMetrics } = await import('../src/api/metrics.js');
    const text = await createMetrics({
      hotBuffers: () => det.detectionStats(),
      defaultMetrics: false,
    }).metrics();
    assert.match(text, new RegExp(`^breakwater_detection_hot_buffers_refused_total ${N - most}$`, 'm'));
    assert.match(text, new RegExp(`^breakwater_detection_hot_buffers ${most}$`, 'm'));
  });

  it('ticks_required counts quiet ticks too while the window stays over', () => {
    const { tick, feed, events } = setup({
      hostgroups: [{ name: 'default', ban: { incoming: { total: { pps: 10_000 } } }, ticks_required: 3 }],
    });
    feed({ ...SYN, packets: 30_000 });
    tick();
    tick();
    assert.equal(events.length, 0);
    tick();
    assert.equal(events.length, 1, 'over for three ticks in a row, without new records');
  });

  it('NetFlow-style records without headers: samples, no pcap', () => {
    const { tick, feed, events } = setup();
    feed({ ...SYN, packets: 30_000 });
    tick();
    const a = events[0]!.rec;
    assert.ok(a.samples.length >= 1);
    assert.equal(a.pcap, null);
  });
});

describe('IPv6 slots', () => {
  it('evicts idle hosts and counts it', () => {
    const { det, tick, feed } = setup({ detection: { ipv6_idle_ms: 2000 } });
    feed({ src: '3fff::1', dst: '2001:db8:1::10', packets: 5 });
    tick();
    assert.equal(det.hostRates('2001:db8:1::10')!.in_packets, 5);
    for (let i = 0; i < 40; i++) tick();
    assert.equal(det.hostRates('2001:db8:1::10'), null);
    assert.equal(det.detectionStats().ipv6_evictions, 1);
  });

  it('a full table evicts the least recently seen inactive hosts', () => {
    const { det, tick, feed } = setup({ detection: { ipv6_max_hosts: 16 } });
    for (let i = 0; i < 16; i++) {
      feed({ src: '3fff::1', dst: `2001:db8:1::${i.toString(16)}`, packets: 1 });
      if (i === 7) tick(); // hosts 0-7 are seen one tick before 8-15
    }
    tick();
    // Everything is still in the window (active): a new host cannot displace them.
    feed({ src: '3fff::1', dst: '2001:db8:2::1', packets: 1 });
    assert.equal(det.detectionStats().ipv6_overflow, 1);
    for (let i = 0; i < 12; i++) tick();
    feed({ src: '3fff::1', dst: '2001:db8:2::1', packets: 1 });
    tick();
    const st = det.detectionStats();
    assert.equal(st.ipv6_evictions, 2); // 16 >> 3
    assert.equal(st.hosts_v6, 15);
    const gone = (from: number) =>
      [0, 1, 2, 3, 4, 5, 6, 7].filter((i) => det.hostRates(`2001:db8:1::${(from + i).toString(16)}`) === null)
        .length;
    assert.equal(gone(0), 2, 'the least recently seen went first');
    assert.equal(gone(8), 0);
    assert.equal(det.hostRates('2001:db8:2::1')!.in_packets, 1);
  });
});

describe('top', () => {
  it('top N by unit and direction', () => {
    const { det, tick, feed } = setup();
    for (let i = 1; i <= 9; i++)
      feed({ src: '192.0.2.1', dst: `203.0.113.${i}`, packets: i * 10, bytes: (10 - i) * 1000 });
    feed({ src: '203.0.113.50', dst: '192.0.2.1', packets: 3 });
    tick();
    assert.deepEqual(
      det.top(3, 'packets', 'incoming').map((r) => r.ip),
      ['203.0.113.9', '203.0.113.8', '203.0.113.7'],
    );
    assert.deepEqual(
      det.top(2, 'bytes', 'incoming').map((r) => r.ip),
      ['203.0.113.1', '203.0.113.2'],
    );
    assert.deepEqual(
      det.top(5, 'packets', 'outgoing').map((r) => r.ip),
      ['203.0.113.50'],
    );
  });
});

export type { DetectorImpl };

describe('early start between ticks', () => {
  const flood = { src: '192.0.2.1', dst: '203.0.113.10', protocol: 6, tcpFlags: 0x02, dstPort: 80 } as const;

  it('starts as soon as the window so far is over, with the rates of that window', () => {
    const { det, tick, feed, events } = setup();
    // 60k pps: 6,000 packets per 100 ms interval against the 20k pps default.
    for (let i = 0; i < 3; i++) {
      feed({ ...flood, packets: 6000, bytes: 6000 * 60 });
      det.early();
      tick();
    }
    assert.equal(events.length, 0, 'window 18,000 pps after three intervals: not yet');
    feed({ ...flood, packets: 1000, bytes: 1000 * 60 });
    det.early();
    assert.equal(events.length, 0, '19,000 so far: below, no start');
    feed({ ...flood, packets: 2000, bytes: 2000 * 60 });
    det.early();
    assert.deepEqual(
      events.map((e) => e.ev),
      ['attack_started'],
      '21,000 so far, mid-interval: started before the tick',
    );
    const d = events[0]!.rec.details;
    assert.equal(d.attack_detection_threshold_value, 20000);
    assert.ok(
      d.total_incoming_pps > 20000 && d.total_incoming_pps <= 21000,
      `record rates ${d.total_incoming_pps}`,
    );
    assert.equal(det.detectionStats().starts_early, 1);
    tick();
    feed({ ...flood, packets: 6000, bytes: 6000 * 60 });
    det.early();
    tick();
    assert.deepEqual(
      events.map((e) => e.ev),
      ['attack_started'],
      'the tick carries on with the same attack: no second start',
    );
    assert.equal(det.activeAttacks().length, 1);
  });

  it('holds ticks_required: the open interval counts as one, earlier ones must be over', () => {
    const spec = {
      hostgroups: [{ name: 'default', ban: { incoming: { total: { pps: 20000 } } }, ticks_required: 2 }],
    };
    const { det, tick, feed, events } = setup(spec);
    for (let i = 0; i < 3; i++) {
      feed({ ...flood, packets: 6000 });
      tick();
    }
    feed({ ...flood, packets: 3000 });
    det.early();
    assert.equal(events.length, 0, 'over so far, but no closed tick over yet: two are required');
    tick(); // window 21,000: over once
    assert.equal(events.length, 0);
    feed({ ...flood, packets: 1 });
    det.early();
    assert.deepEqual(
      events.map((e) => e.ev),
      ['attack_started'],
      'over on the last tick and in the open interval',
    );
  });

  it('does not start early with smoothing (rates move on ticks)', () => {
    const { det, tick, feed, events } = setup({ detection: { smoothing_ms: 2000 } });
    for (let i = 0; i < 20; i++) {
      feed({ ...flood, packets: 9000 });
      det.early();
      assert.equal(det.detectionStats().starts_early, 0);
      tick();
    }
    assert.ok(
      events.some((e) => e.ev === 'attack_started'),
      'the tick starts it',
    );
  });
});
