/**
 * Sharded detection (detection.shards) against the single engine as the reference model:
 * the same random records and ticks go to both, and after every tick the attacks started
 * and finished, every host's rates, the totals, the hostgroup totals and their events must
 * be the same. Shards run on their own threads; the test ticks them by hand (manual mode),
 * so both sides see the same intervals.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createRing, RingReader, RingWriter } from '../src/capture/input/record-ring.js';
import { dstShard, ShardRouter, shardOf4, shardOf6, srcShard } from '../src/capture/input/shard-router.js';
import type { FlowRecord } from '../src/capture/flow.js';
import { rng } from '../src/demo/traffic.js';
import { createDetector, type AttackRecord, type HostgroupAttack } from '../src/detection/index.js';
import { resolveShards, ShardedDetector } from '../src/detection/shards/pool.js';
import { logger } from '../src/log.js';
import { makeConfig, rec, type ConfigSpec } from './fixtures/detection/helpers.js';

const T0 = 1_700_000_000_000;

const SPEC: ConfigSpec = {
  networks: ['10.0.0.0/16', '10.1.0.0/16', '2001:db8::/32'],
  hostgroups: [
    { name: 'default', ban: { incoming: { total: { pps: 4000 } }, outgoing: { udp: { pps: 3000 } } } },
    {
      name: 'web',
      prefixes: ['10.1.0.0/16'],
      ban: { incoming: { tcp_syn: { pps: 2000 } } },
      emergency: { incoming: { total: { pps: 9000 } } },
      hostgroupTotal: { incoming: { total: { pps: 30000 } } },
      ticks_required: 2,
    },
  ],
};

const pools: ShardedDetector[] = [];
after(async () => {
  for (const p of pools) await p.stop();
});

function sharded(shards: number, now: () => number) {
  const p = new ShardedDetector(makeConfig(SPEC), {
    shards,
    log: logger,
    manual: true,
    now,
    ringBytes: 8 << 20,
  });
  pools.push(p);
  p.start();
  return p;
}

describe('shard key and router', () => {
  it('keeps a /24 (IPv4) and a /64 (IPv6) on one shard and spreads prefixes', () => {
    const seen = new Set<number>();
    for (let net = 0; net < 256; net++) {
      const base = (10 << 24) | (1 << 16) | (net << 8);
      const s = shardOf4(base >>> 0, 4);
      for (const h of [1, 77, 255]) assert.equal(shardOf4((base | h) >>> 0, 4), s);
      seen.add(s);
    }
    assert.equal(seen.size, 4, 'every shard gets some /24s of one /16');
    const a = new Uint8Array(16);
    a.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 7]);
    const s6 = shardOf6(a, 3);
    a[15] = 0x42;
    a[9] = 0x99;
    assert.equal(shardOf6(a, 3), s6, 'the host part does not move a /64');
  });

  it('writes a record to its destination shard and, when different, to its source shard', () => {
    const rings = [createRing(1 << 16), createRing(1 << 16), createRing(1 << 16)];
    const router = new ShardRouter(rings.map((r) => new RingWriter(r)));
    const r = rng(7);
    const sent: [number, number][] = [];
    for (let i = 0; i < 500; i++) {
      const x = rec({ src: `10.0.${(r() * 256) | 0}.1`, dst: `10.1.${(r() * 256) | 0}.2`, packets: i + 1 });
      sent.push([dstShard(x, 3), srcShard(x, 3)]);
      router.onFlow(x);
    }
    router.commit();
    const got = rings.map((ring) => {
      const pk: number[] = [];
      new RingReader(ring).drainAll({ onFlow: (f: FlowRecord) => pk.push(f.packets) });
      return pk;
    });
    for (let s = 0; s < 3; s++) {
      const want = sent.flatMap(([d, src], i) => (d === s || src === s ? [i + 1] : []));
      assert.deepEqual(got[s], want, `shard ${s}`);
    }
  });

  it('resolves auto from the core count and the environment', () => {
    assert.equal(resolveShards(3), 3);
    assert.equal(resolveShards('auto', 2, {}), 0);
    assert.equal(resolveShards('auto', 8, {}), 2);
    assert.equal(resolveShards('auto', 16, {}), 5);
    assert.equal(resolveShards('auto', 2, { BREAKWATER_DETECTION_SHARDS: '2' }), 2);
  });
});

type Ev = string;

function summary(e: { ev: string; rec: AttackRecord }): Ev {
  const d = e.rec.details;
  return `${e.ev} ${e.rec.ip} ${d.attack_detection_threshold_direction}/${d.attack_detection_threshold_class}/${d.attack_detection_threshold_unit}`;
}

describe('sharded detection equals the single engine', () => {
  for (const shards of [1, 3]) {
    it(`${shards} shard(s): 5 random runs of 40 ticks and a reload, attacks, rates and totals after every tick`, () => {
      for (let run = 0; run < 5; run++) {
        const seed = 1000 * shards + run;
        const r = rng(seed);
        let now = T0;
        const ref = createDetector(makeConfig(SPEC), { now: () => now });
        const sh = sharded(shards, () => now);
        const refEv: Ev[] = [];
        const shEv: Ev[] = [];
        const refHg: string[] = [];
        const shHg: string[] = [];
        for (const ev of ['attack_started', 'attack_updated', 'attack_finished'] as const) {
          ref.on(ev, (x) => refEv.push(summary({ ev, rec: x })));
          sh.on(ev, (x) => shEv.push(summary({ ev, rec: x })));
          ref.onHostgroup(ev, (a: HostgroupAttack) => refHg.push(`${ev} ${a.hostgroup}`));
          sh.onHostgroup(ev, (a: HostgroupAttack) => shHg.push(`${ev} ${a.hostgroup}`));
        }
        // A few victims that get hot, many hosts with background traffic, outsiders.
        const victims = Array.from(
          { length: 6 },
          () => `10.${r() < 0.5 ? 0 : 1}.${(r() * 256) | 0}.${1 + ((r() * 250) | 0)}`,
        );
        const hosts = new Set<string>(victims);
        for (let t = 0; t < 40; t++) {
          if (t === 20) {
            // A reload halfway: lower limits, counters kept, on both sides.
            const next = makeConfig({
              ...SPEC,
              hostgroups: SPEC.hostgroups!.map((h) => ({
                ...h,
                ban:
                  h.name === 'web'
                    ? { incoming: { tcp_syn: { pps: 1500 } } }
                    : { incoming: { total: { pps: 3500 } } },
              })),
            });
            ref.reconfigure(next);
            sh.reconfigure(next);
          }
          const n = 200 + ((r() * 200) | 0);
          for (let i = 0; i < n; i++) {
            const v6 = r() < 0.1;
            const inside = v6
              ? `2001:db8:${((r() * 4) | 0).toString(16)}::${((r() * 100) | 0).toString(16)}`
              : r() < 0.3
                ? victims[(r() * victims.length) | 0]!
                : `10.${r() < 0.5 ? 0 : 1}.${(r() * 256) | 0}.${1 + ((r() * 250) | 0)}`;
            const outside = v6
              ? `2001:db9::${(r() * 1000) | 0}`
              : `198.51.${(r() * 256) | 0}.${(r() * 256) | 0}`;
            const incoming = r() < 0.8;
            hosts.add(inside);
            const x = rec({
              src: incoming ? outside : inside,
              dst: incoming ? inside : r() < 0.2 ? `10.0.${(r() * 256) | 0}.9` : outside,
              protocol: r() < 0.6 ? 6 : 17,
              tcpFlags: r() < 0.5 ? 0x02 : 0x18,
              packets: 1 + ((r() * 60) | 0),
              bytes: 64 + ((r() * 90000) | 0),
              timeMs: now,
            });
            ref.sink.onFlow(x);
            sh.sink.onFlow(x);
          }
          now += 100;
          ref.tick(now);
          sh.tick(now);
          const where = `seed ${seed} tick ${t}`;
          assert.deepEqual([...shEv].sort(), [...refEv].sort(), `${where}: host attack events`);
          assert.deepEqual(shHg, refHg, `${where}: hostgroup-total events`);
          assert.deepEqual(sh.totals(), ref.totals(), `${where}: totals`);
          for (const hg of ['default', 'web'])
            assert.deepEqual(sh.hostgroupRates(hg), ref.hostgroupRates(hg), `${where}: ${hg}`);
          for (const ip of victims) {
            assert.deepEqual(sh.hostRates(ip), ref.hostRates(ip), `${where}: rates of ${ip}`);
            assert.equal(sh.stillAttacking(ip), ref.stillAttacking(ip), `${where}: still attacking ${ip}`);
            assert.equal(sh.overEmergency(ip), ref.overEmergency(ip), `${where}: emergency ${ip}`);
          }
          const still = sh.stillAttackingMany(victims);
          for (const ip of victims)
            assert.equal(still.get(ip), ref.stillAttacking(ip), `${where}: still (many) ${ip}`);
          // Rates as the escalation loop reads them, one host at a time and many in one query.
          const many = sh.rateFns(victims);
          for (const ip of victims)
            for (const [d, c, u] of [
              ['incoming', 'total', 'pps'],
              ['incoming', 'tcp_syn', 'mbps'],
              ['outgoing', 'udp', 'pps'],
              ['incoming', 'total', 'flows'],
            ] as const) {
              const want = ref.rateFn(ip)?.(d, c, u) ?? null;
              assert.equal(sh.rateFn(ip)?.(d, c, u) ?? null, want, `${where}: rateFn ${ip} ${d} ${c} ${u}`);
              assert.equal(many.get(ip)?.(d, c, u) ?? null, want, `${where}: rateFns ${ip} ${d} ${c} ${u}`);
            }
          if (t % 10 === 9) {
            for (const ip of hosts)
              assert.deepEqual(sh.hostRates(ip), ref.hostRates(ip), `${where}: rates of ${ip}`);
            // The same rates in the same order; among hosts tied at the last place either may be listed.
            const st = sh.top(10, 'packets', 'incoming');
            const rt = ref.top(10, 'packets', 'incoming');
            assert.deepEqual(
              st.map((h) => h.in_packets),
              rt.map((h) => h.in_packets),
              `${where}: top rates`,
            );
            const last = rt.at(-1)?.in_packets ?? 0;
            const above = (l: typeof rt) =>
              l
                .filter((h) => h.in_packets > last)
                .map((h) => h.ip)
                .sort();
            assert.deepEqual(above(st), above(rt), `${where}: top hosts`);
            const a = sh.detectionStats();
            const b = ref.detectionStats();
            for (const k of [
              'records',
              'unmonitored',
              'filtered',
              'hosts_v4',
              'hosts_v6',
              'attacks_active',
            ] as const)
              assert.equal(a[k], b[k], `${where}: detection stats ${k}`);
            assert.deepEqual(
              sh
                .activeAttacks()
                .map((x) => x.ip)
                .sort(),
              ref
                .activeAttacks()
                .map((x) => x.ip)
                .sort(),
              `${where}: attacks in progress`,
            );
          }
        }
        assert.ok(
          refEv.some((e) => e.startsWith('attack_started')),
          `seed ${seed}: the run has attacks`,
        );
      }
    });
  }

  it('a shard that dies is started again on its rings and detects again', async () => {
    let now = T0;
    const sh = sharded(2, () => now);
    const started: string[] = [];
    sh.on('attack_started', (x) => started.push(x.ip));
    const flood = (ip: string) => {
      for (let i = 0; i < 50; i++)
        sh.sink.onFlow(rec({ src: '198.51.100.1', dst: ip, packets: 100, timeMs: now }));
    };
    const victim = '10.0.5.5';
    flood(victim);
    now += 100;
    sh.tick(now);
    assert.deepEqual(started, [victim]);
    const shard = shardOf4(((10 << 24) | (5 << 8) | 5) >>> 0, 2);
    await sh.crash(shard);
    // Started again: its state is gone, the next window detects the attack again.
    for (let i = 0; i < 100 && !sh.shardStats()[shard]!.up; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(sh.shardStats()[shard]!.restarts, 1);
    assert.equal(sh.activeAttacks().length, 0, 'its attacks are no longer listed');
    flood(victim);
    now += 100;
    sh.tick(now);
    assert.deepEqual(started, [victim, victim]);
    assert.ok(sh.hostRates(victim)!.in_packets > 0);
    assert.equal(sh.stillAttacking(victim), true);
    assert.equal(sh.stillAttacking('10.0.5.0/24'), false, 'a prefix is no host: never held as attacked');
    assert.equal(sh.stillAttackingMany(['10.0.5.0/24']).size, 0);
  });
});
