import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CLASSES,
  DIRECTIONS,
  UNITS,
  type Direction,
  type TrafficClass,
  type Unit,
  type ThresholdSet,
} from '../src/config/types.js';
import type { HostRates } from '../src/detection/types.js';
import { parseAddr } from '../src/wire/addr.js';
import {
  decide,
  hostgroupsInside,
  type BannedHost,
  type Decision,
  type DecideInput,
  type OwnEscalation,
} from '../src/escalation/decide.js';
import { crossing, rateFnOf, EvidenceStore } from '../src/escalation/rates.js';
import { hostgroup, pfx, rates } from './helpers/escalation.js';
import type { EscalationAction, Hostgroup } from '../src/config/types.js';

const T0 = Date.UTC(2024, 0, 1, 12, 0, 0);
const HOLD = 5 * 60_000;

function host(
  ip: string,
  r: Partial<HostRates> | null,
  o: { group?: string; banned_at?: number; peak?: Partial<HostRates> } = {},
): BannedHost {
  const addr = parseAddr(ip)!;
  const group = o.group ?? 'web';
  return {
    uuid: `bh-${ip}`,
    ip,
    addr,
    hostgroup: group,
    banned_at: o.banned_at ?? T0,
    current: r ? rateFnOf(rates(ip, group, r)) : null,
    banPeak: o.peak ? rateFnOf(rates(ip, group, o.peak)) : null,
  };
}

function input(o: Partial<DecideInput> & { groups?: Hostgroup[] }): DecideInput {
  return {
    now: T0 + 10_000,
    banned: [],
    own: [],
    hostgroups: o.groups ?? [hostgroup('default', []), hostgroup('web', ['203.0.113.0/24', '2001:db8::/32'])],
    networks: [pfx('203.0.113.0/24'), pfx('198.51.100.0/24'), pfx('2001:db8::/32'), pfx('192.0.2.0/24')],
    whitelist: [],
    occupied: new Set(),
    suppressed: new Set(),
    ...o,
  };
}

function only<A extends Decision['action']>(ds: Decision[], action: A): Extract<Decision, { action: A }>[] {
  return ds.filter((d): d is Extract<Decision, { action: A }> => d.action === action);
}

/** HostRates fields a given (direction, class, unit) reads, and the value for `v` in that unit. */
function fieldFor(direction: Direction, cls: TrafficClass, unit: Unit, v: number): Partial<HostRates> {
  const d = direction === 'incoming' ? 'in' : 'out';
  if (unit === 'flows') return { [`${d}_flows`]: v } as Partial<HostRates>;
  const what = unit === 'pps' ? 'packets' : 'bytes';
  const name = cls === 'total' ? `${d}_${what}` : `${d}_${cls}_${what}`;
  return { [name]: unit === 'mbps' ? (v * 1_000_000) / 8 : v } as Partial<HostRates>;
}

test('threshold crossing per direction, class and unit: strictly above only, nothing else crosses', () => {
  let checked = 0;
  for (const direction of DIRECTIONS) {
    for (const cls of CLASSES) {
      for (const unit of UNITS) {
        if (unit === 'flows' && cls !== 'total') continue; // HostRates has total flows only
        const limit = 400;
        const set: ThresholdSet = { [direction]: { [cls]: { [unit]: limit } } };
        const at = rateFnOf(rates('203.0.113.5', 'web', fieldFor(direction, cls, unit, limit)));
        const over = rateFnOf(rates('203.0.113.5', 'web', fieldFor(direction, cls, unit, limit + 1)));
        assert.equal(
          crossing(set, at, 'current'),
          null,
          `${direction}/${cls}/${unit} at the limit is not above`,
        );
        const c = crossing(set, over, 'current');
        assert.ok(c, `${direction}/${cls}/${unit} above the limit crosses`);
        assert.deepEqual(
          [c.direction, c.class, c.unit, c.threshold, c.source],
          [direction, cls, unit, limit, 'current'],
        );
        assert.ok(Math.abs(c.value - (limit + 1)) < 1e-9, `${direction}/${cls}/${unit} value ${c.value}`);
        // The same traffic in the other direction or another unit does not cross.
        const other: Direction = direction === 'incoming' ? 'outgoing' : 'incoming';
        assert.equal(crossing({ [other]: { [cls]: { [unit]: limit } } }, over, 'current'), null);
        checked++;
      }
    }
  }
  assert.equal(checked, 2 * (6 * 2 + 1));
});

test('mbps is bytes*8/1e6; a zero limit means any traffic, as in detection', () => {
  const r = rateFnOf(rates('203.0.113.5', 'web', { in_udp_bytes: 12_500_000 }));
  assert.equal(r('incoming', 'udp', 'mbps'), 100);
  assert.equal(crossing({ incoming: { udp: { mbps: 100 } } }, r, 'current'), null);
  assert.ok(crossing({ incoming: { udp: { mbps: 99.9 } } }, r, 'current'));
  assert.equal(
    crossing({ incoming: { udp: { pps: 0 } } }, r, 'current'),
    null,
    'no udp packets: 0 > 0 is false',
  );
  assert.equal(crossing({ incoming: { udp: { pps: 0, mbps: 0 } } }, r, 'current')?.unit, 'mbps');
});

test('an IPv4 host above its emergency thresholds escalates its /24 with community and next-hop', () => {
  const ds = decide(input({ banned: [host('203.0.113.5', { in_packets: 150_000 })] }));
  assert.equal(ds.length, 1);
  const [e] = only(ds, 'escalate');
  assert.ok(e);
  assert.equal(e.prefix, '203.0.113.0/24');
  assert.equal(e.host, '203.0.113.5');
  assert.equal(e.hostgroup, 'web');
  assert.deepEqual(e.attrs, { next_hop: '192.0.2.1', communities: ['65535:666'], large_communities: [] });
  assert.deepEqual(
    [e.trigger.direction, e.trigger.class, e.trigger.unit, e.trigger.value, e.trigger.threshold],
    ['incoming', 'total', 'pps', 150_000, 100_000],
  );
});

test('below thresholds, disabled group or unknown group: nothing happens', () => {
  assert.deepEqual(decide(input({ banned: [host('203.0.113.5', { in_packets: 100_000 })] })), []);
  const groups = [hostgroup('default', []), hostgroup('web', ['203.0.113.0/24'], { enabled: false })];
  assert.deepEqual(decide(input({ groups, banned: [host('203.0.113.5', { in_packets: 1e9 })] })), []);
  assert.deepEqual(
    decide(input({ banned: [host('203.0.113.5', { in_packets: 1e9 }, { group: 'nope' })] })),
    [],
  );
});

test('IPv6 hosts escalate their /48 with the IPv6 next-hop; prefix_length per family is honoured', () => {
  const ds = decide(input({ banned: [host('2001:db8:1:2::77', { in_packets: 200_000 })] }));
  const [e] = only(ds, 'escalate');
  assert.ok(e);
  assert.equal(e.prefix, '2001:db8:1::/48');
  assert.equal(e.attrs.next_hop, '100::1');
  const groups = [hostgroup('web', ['2001:db8::/32'], { prefix_length: { ipv4: 22, ipv6: 56 } })];
  const [e2] = only(
    decide(
      input({
        groups,
        banned: [
          host('2001:db8:1:2ff::1', { in_packets: 200_000 }),
          host('203.0.113.200', { in_packets: 200_000 }),
        ],
      }),
    ),
    'escalate',
  );
  assert.ok(e2);
  const all = only(
    decide(
      input({
        groups,
        networks: [pfx('203.0.112.0/22'), pfx('2001:db8::/32')],
        banned: [
          host('2001:db8:1:2ff::1', { in_packets: 200_000 }),
          host('203.0.113.200', { in_packets: 200_000 }),
        ],
      }),
    ),
    'escalate',
  );
  assert.deepEqual(all.map((d) => d.prefix).sort(), ['2001:db8:1:200::/56', '203.0.112.0/22']);
});

test('a host-length prefix_length is refused, not announced as a duplicate of the blackhole', () => {
  const groups = [hostgroup('web', [], { prefix_length: { ipv4: 32, ipv6: 48 } })];
  const ds = decide(input({ groups, banned: [host('203.0.113.5', { in_packets: 1e6 })] }));
  assert.equal(only(ds, 'escalate').length, 0);
  assert.equal(only(ds, 'refuse')[0]?.reason, 'invalid_prefix_length');
});

test('two hosts in one /24 make one escalation naming both', () => {
  const ds = decide(
    input({ banned: [host('203.0.113.9', { in_packets: 2e5 }), host('203.0.113.5', { in_packets: 3e5 })] }),
  );
  assert.equal(ds.length, 1);
  const [e] = only(ds, 'escalate');
  assert.equal(e?.host, '203.0.113.5'); // address order, not input order
  assert.deepEqual(e?.hosts, ['203.0.113.5', '203.0.113.9']);
});

test('whitelist: refuses when the covering prefix contains or lies inside a whitelisted prefix', () => {
  for (const w of ['203.0.113.77/32', '203.0.0.0/16', '203.0.113.128/25']) {
    const ds = decide(input({ whitelist: [pfx(w)], banned: [host('203.0.113.5', { in_packets: 1e6 })] }));
    assert.equal(only(ds, 'escalate').length, 0, w);
    const [r] = only(ds, 'refuse');
    assert.equal(r?.reason, 'whitelist', w);
    assert.equal(r?.prefix, '203.0.113.0/24');
    assert.match(r!.detail, new RegExp(w.replace(/\./g, '\\.')));
  }
  // A whitelisted address next door (outside the /24) does not block.
  const ok = decide(
    input({
      whitelist: [pfx('203.0.114.1/32')],
      networks: [pfx('203.0.0.0/16')],
      banned: [host('203.0.113.5', { in_packets: 1e6 })],
    }),
  );
  assert.equal(only(ok, 'escalate').length, 1);
});

test('never covers addresses outside networks: the whole prefix must be inside one network', () => {
  const ds = decide(
    input({ networks: [pfx('203.0.113.0/25')], banned: [host('203.0.113.5', { in_packets: 1e6 })] }),
  );
  assert.equal(only(ds, 'refuse')[0]?.reason, 'outside_networks');
  assert.equal(only(ds, 'escalate').length, 0);
  // Two adjacent /25s do not make a covering /24 "inside networks": each must hold it whole.
  const ds2 = decide(
    input({
      networks: [pfx('203.0.113.0/25'), pfx('203.0.113.128/25')],
      banned: [host('203.0.113.5', { in_packets: 1e6 })],
    }),
  );
  assert.equal(only(ds2, 'refuse')[0]?.reason, 'outside_networks');
});

test('max_prefixes caps escalations per hostgroup, counting the ones already held', () => {
  const groups = [hostgroup('web', [], { max_prefixes: 2 }), hostgroup('db', [], { max_prefixes: 1 })];
  const banned = [
    host('203.0.113.5', { in_packets: 1e6 }),
    host('198.51.100.5', { in_packets: 1e6 }),
    host('192.0.2.5', { in_packets: 1e6 }),
    host('2001:db8:5::1', { in_packets: 1e6 }, { group: 'db' }),
  ];
  const ds = decide(input({ groups, banned }));
  assert.deepEqual(
    only(ds, 'escalate')
      .map((d) => d.prefix)
      .sort(),
    ['192.0.2.0/24', '198.51.100.0/24', '2001:db8:5::/48'],
  );
  const [r] = only(ds, 'refuse');
  assert.equal(r?.reason, 'max_prefixes');
  assert.equal(r?.prefix, '203.0.113.0/24');
  // One already held by web: only one more fits.
  const own: OwnEscalation[] = [ownEsc('203.0.113.0/24', { hosts: ['203.0.113.5'] })];
  const ds2 = decide(input({ groups, banned, own }));
  assert.equal(only(ds2, 'keep').length, 1);
  assert.deepEqual(
    only(ds2, 'escalate')
      .filter((d) => d.hostgroup === 'web')
      .map((d) => d.prefix),
    ['192.0.2.0/24'],
  );
  assert.deepEqual(
    only(ds2, 'refuse').map((d) => d.prefix),
    ['198.51.100.0/24'],
  );
});

function ownEsc(prefix: string, o: Partial<OwnEscalation> = {}): OwnEscalation {
  return {
    uuid: `esc-${prefix}`,
    prefix,
    net: pfx(prefix),
    hostgroup: 'web',
    created_at: T0,
    last_above: T0,
    runs_below: 0,
    hosts: [],
    ...o,
  };
}

/** Run decide repeatedly, applying keep/escalate/deescalate to the owned set like the shell. */
function simulate(
  steps: { at: number; banned: BannedHost[] }[],
  groups?: Hostgroup[],
): { at: number; ds: Decision[]; own: OwnEscalation[] }[] {
  let own: OwnEscalation[] = [];
  const out = [];
  for (const s of steps) {
    const ds = decide(input({ now: s.at, banned: s.banned, own, ...(groups ? { groups } : {}) }));
    const next: OwnEscalation[] = [];
    for (const d of ds) {
      if (d.action === 'keep') next.push(d.state);
      if (d.action === 'escalate')
        next.push({
          uuid: `esc-${d.prefix}`,
          prefix: d.prefix,
          net: d.net,
          hostgroup: d.hostgroup,
          created_at: s.at,
          last_above: s.at,
          runs_below: 0,
          hosts: d.hosts,
        });
    }
    own = next;
    out.push({ at: s.at, ds, own });
  }
  return out;
}

test('hysteresis: withdrawn only after clear_after runs below AND hold; a crossing resets the count', () => {
  const hot = { in_packets: 2e5 };
  const cold = { in_packets: 10 };
  const groups = [hostgroup('web', [], { hold_ms: 60_000, clear_after: 3 })];
  const runs = [
    { at: T0, banned: [host('203.0.113.5', hot)] }, // escalate
    { at: T0 + 10_000, banned: [host('203.0.113.5', cold)] }, // below 1
    { at: T0 + 20_000, banned: [host('203.0.113.5', cold)] }, // below 2
    { at: T0 + 30_000, banned: [host('203.0.113.5', hot)] }, // above: reset
    { at: T0 + 40_000, banned: [host('203.0.113.5', cold)] }, // 1
    { at: T0 + 50_000, banned: [host('203.0.113.5', cold)] }, // 2
    { at: T0 + 59_999, banned: [host('203.0.113.5', cold)] }, // 3, hold not yet passed
    { at: T0 + 60_000, banned: [host('203.0.113.5', cold)] }, // 4, hold passed -> withdraw
  ];
  const r = simulate(runs, groups);
  assert.equal(only(r[0]!.ds, 'escalate').length, 1);
  assert.deepEqual(
    r.slice(1, 7).map((x) => x.own[0]?.runs_below),
    [1, 2, 0, 1, 2, 3],
  );
  assert.equal(r[3]!.own[0]?.last_above, T0 + 30_000);
  assert.equal(only(r[6]!.ds, 'deescalate').length, 0, 'hold keeps it even after clear_after runs');
  const [w] = only(r[7]!.ds, 'deescalate');
  assert.equal(w?.reason, 'below_thresholds');
  assert.equal(w?.prefix, '203.0.113.0/24');
  assert.equal(r[7]!.own.length, 0);
});

test('hysteresis: after hold, it still needs clear_after consecutive runs below', () => {
  const groups = [hostgroup('web', [], { hold_ms: 1_000, clear_after: 3 })];
  const cold = [host('203.0.113.5', { in_packets: 1 })];
  const r = simulate(
    [
      { at: T0, banned: [host('203.0.113.5', { in_packets: 2e5 })] },
      { at: T0 + 600_000, banned: cold },
      { at: T0 + 610_000, banned: cold },
      { at: T0 + 620_000, banned: cold },
    ],
    groups,
  );
  assert.equal(only(r[1]!.ds, 'deescalate').length, 0);
  assert.equal(only(r[2]!.ds, 'deescalate').length, 0);
  assert.equal(only(r[3]!.ds, 'deescalate').length, 1);
});

test('every host inside unbanned: withdrawn at once, even within hold', () => {
  const r = simulate([
    { at: T0, banned: [host('203.0.113.5', { in_packets: 2e5 }), host('203.0.113.6', { in_packets: 5 })] },
    { at: T0 + 10_000, banned: [host('203.0.113.6', { in_packets: 5 })] }, // the other host keeps it (below, within hold)
    { at: T0 + 20_000, banned: [] },
  ]);
  assert.equal(only(r[1]!.ds, 'keep').length, 1);
  const [w] = only(r[2]!.ds, 'deescalate');
  assert.equal(w?.reason, 'unbanned');
});

test('a second host above keeps an escalation alive and joins its host list', () => {
  const r = simulate([
    { at: T0, banned: [host('203.0.113.5', { in_packets: 2e5 })] },
    {
      at: T0 + 10_000,
      banned: [host('203.0.113.5', { in_packets: 1 }), host('203.0.113.99', { in_packets: 3e5 })],
    },
  ]);
  assert.equal(r[1]!.own[0]?.runs_below, 0);
  assert.deepEqual(r[1]!.own[0]?.hosts, ['203.0.113.5', '203.0.113.99']);
  assert.equal(only(r[1]!.ds, 'escalate').length, 0, 'no second escalation of the same /24');
});

test('ban-time evidence: used while within hold of the ban, then ignored (no re-escalation loop)', () => {
  const peak = { in_packets: 5e5 };
  const groups = [hostgroup('web', [], { hold_ms: HOLD, clear_after: 3 })];
  // Router drops before export: current traffic is zero after the ban.
  const h = (at: number) => ({
    at,
    banned: [host('203.0.113.5', { in_packets: 0 }, { banned_at: T0, peak })],
  });
  const times = [T0 + 10_000];
  for (let t = T0 + 20_000; t <= T0 + HOLD + 60_000; t += 10_000) times.push(t);
  const r = simulate(times.map(h), groups);
  const [e] = only(r[0]!.ds, 'escalate');
  assert.equal(e?.trigger.source, 'ban');
  const withdrawnAt = r.find((x) => only(x.ds, 'deescalate').length > 0)?.at;
  // Above until banned_at + hold (evidence expires), then 3 runs below, and hold from creation passed.
  assert.equal(withdrawnAt, T0 + HOLD + 20_000);
  const after = r.filter((x) => x.at > withdrawnAt!);
  assert.ok(after.length > 0);
  for (const x of after) assert.equal(x.ds.length, 0, 'evidence is stale: not re-escalated');
  // Current rates above the thresholds win over evidence and are reported as such.
  const [e2] = only(
    decide(input({ banned: [host('203.0.113.5', { in_packets: 2e5 }, { peak })] })),
    'escalate',
  );
  assert.equal(e2?.trigger.source, 'current');
});

test('only owned escalations are touched; prefixes held by others are refused, not duplicated', () => {
  const ds = decide(
    input({ occupied: new Set(['203.0.113.0/24']), banned: [host('203.0.113.5', { in_packets: 1e6 })] }),
  );
  assert.deepEqual(
    ds.map((d) => [d.action, d.prefix, d.action === 'refuse' ? d.reason : '']),
    [['refuse', '203.0.113.0/24', 'occupied']],
  );
  const sup = decide(
    input({ suppressed: new Set(['203.0.113.0/24']), banned: [host('203.0.113.5', { in_packets: 1e6 })] }),
  );
  assert.equal(only(sup, 'refuse')[0]?.reason, 'suppressed');
  // With no owned escalations, no decision can name a uuid.
  const none = decide(input({ banned: [] }));
  assert.deepEqual(none, []);
});

test('an owned escalation no longer allowed by config is withdrawn at once', () => {
  const banned = [host('203.0.113.5', { in_packets: 1e6 })];
  const own = [ownEsc('203.0.113.0/24', { hosts: ['203.0.113.5'] })];
  const wl = decide(input({ whitelist: [pfx('203.0.113.1/32')], banned, own }));
  assert.equal(only(wl, 'deescalate')[0]?.reason, 'whitelist');
  assert.equal(only(wl, 'escalate').length, 0);
  const groups = [hostgroup('web', [], { enabled: false })];
  assert.equal(only(decide(input({ groups, banned, own })), 'deescalate')[0]?.reason, 'disabled');
  assert.equal(
    only(decide(input({ networks: [pfx('198.51.100.0/24')], banned, own })), 'deescalate')[0]?.reason,
    'outside_networks',
  );
});

test('hosts of another hostgroup inside a prefix count with their own thresholds', () => {
  const esc: Partial<EscalationAction> = { thresholds: { incoming: { udp: { mbps: 10 } } } };
  const groups = [hostgroup('web', []), hostgroup('voip', [], esc)];
  const own = [ownEsc('203.0.113.0/24', { hosts: ['203.0.113.5'], runs_below: 2 })];
  const banned = [
    host('203.0.113.5', { in_packets: 5 }),
    host('203.0.113.200', { in_udp_bytes: 2_000_000 }, { group: 'voip' }),
  ];
  const [k] = only(decide(input({ groups, banned, own })), 'keep');
  assert.equal(k?.state.runs_below, 0);
  assert.equal(k?.trigger?.host, '203.0.113.200');
  assert.equal(k?.trigger?.crossing.unit, 'mbps');
});

test('evidence store: per-second max buckets, peak since a time, prune', () => {
  const ev = new EvidenceStore(4);
  ev.record('203.0.113.5', rates('203.0.113.5', 'web', { in_packets: 10, out_bytes: 7 }), 1_000);
  ev.record('203.0.113.5', rates('203.0.113.5', 'web', { in_packets: 30, out_bytes: 1 }), 1_500);
  ev.record('203.0.113.5', rates('203.0.113.5', 'web', { in_packets: 20 }), 2_100);
  assert.deepEqual([ev.peak('203.0.113.5', 0)?.in_packets, ev.peak('203.0.113.5', 0)?.out_bytes], [30, 7]);
  assert.equal(ev.peak('203.0.113.5', 2_000)?.in_packets, 20);
  assert.equal(ev.peak('203.0.113.5', 3_000), null);
  for (let i = 3; i < 10; i++)
    ev.record('203.0.113.5', rates('203.0.113.5', 'web', { in_packets: i }), i * 1000);
  assert.equal(ev.peak('203.0.113.5', 0)?.in_packets, 9, 'only the newest 4 buckets are kept');
  ev.prune(100_000);
  assert.equal(ev.size, 0);
});

test('hosts are matched to every owned escalation that contains them, whatever its length', () => {
  const groups = [
    hostgroup('web', [], { hold_ms: 0, clear_after: 1 }),
    hostgroup('wide', [], { hold_ms: 0, clear_after: 1, prefix_length: { ipv4: 22, ipv6: 40 } }),
  ];
  const own = [
    ownEsc('203.0.113.0/24', { hosts: ['203.0.113.5'] }),
    ownEsc('203.0.112.0/22', { hostgroup: 'wide', hosts: ['203.0.114.1'] }),
    ownEsc('2001:db8:1::/48', { hosts: ['2001:db8:1::5'] }),
    ownEsc('198.51.100.0/24', { hosts: ['198.51.100.1'] }),
  ];
  const banned = [host('203.0.113.5', { in_packets: 2e5 }), host('2001:db8:1:ffff::1', { in_packets: 1 })];
  const ds = decide(
    input({
      groups,
      own,
      networks: [pfx('203.0.112.0/22'), pfx('198.51.100.0/24'), pfx('2001:db8::/32')],
      banned,
    }),
  );
  const by = new Map(ds.map((d) => [d.prefix, d]));
  assert.equal(by.get('203.0.113.0/24')?.action, 'keep');
  assert.equal(by.get('203.0.112.0/22')?.action, 'keep', 'the /24 host is inside the /22 too');
  const v6 = by.get('2001:db8:1::/48');
  assert.equal(v6?.action, 'deescalate', 'inside but below, hold 0, clear_after 1');
  assert.equal(v6?.action === 'deescalate' && v6.reason, 'below_thresholds');
  const gone = by.get('198.51.100.0/24');
  assert.equal(gone?.action === 'deescalate' && gone.reason, 'unbanned');
});

test('rates not settled (detection younger than one window): a below run does not count, an above run still does', () => {
  const groups = [hostgroup('web', ['203.0.113.0/24'], { hold_ms: 1_000, clear_after: 1 })];
  const e = ownEsc('203.0.113.0/24', { created_at: T0 - 60_000, runs_below: 0, hosts: ['203.0.113.5'] });
  const cold = [host('203.0.113.5', { in_packets: 0 })];
  // Settled, clear_after 1 and hold long past: the one below run withdraws it.
  assert.equal(only(decide(input({ groups, own: [e], banned: cold })), 'deescalate').length, 1);
  // Not settled: kept, and the count does not move.
  const ds = decide(input({ groups, own: [e], banned: cold, ratesSettled: false }));
  assert.deepEqual(
    ds.map((d) => d.action),
    ['keep'],
  );
  const k = only(ds, 'keep')[0]!;
  assert.equal(k.state.runs_below, 0);
  assert.equal(k.trigger, null);
  assert.equal(
    only(
      decide(input({ groups, own: [{ ...e, runs_below: 4 }], banned: cold, ratesSettled: false })),
      'keep',
    )[0]!.state.runs_below,
    4,
  );
  // Above while not settled: kept with a reset count, and a new host above still escalates.
  const hot = decide(
    input({
      groups,
      own: [{ ...e, runs_below: 4 }],
      banned: [host('203.0.113.5', { in_packets: 2e5 })],
      ratesSettled: false,
    }),
  );
  assert.equal(only(hot, 'keep')[0]!.state.runs_below, 0);
  assert.equal(
    only(
      decide(input({ groups, banned: [host('203.0.113.9', { in_packets: 2e5 })], ratesSettled: false })),
      'escalate',
    ).length,
    1,
  );
  // Every host unbanned: withdrawn at once even while not settled.
  assert.equal(
    only(decide(input({ groups, own: [e], banned: [], ratesSettled: false })), 'deescalate')[0]!.reason,
    'unbanned',
  );
});

test('hostgroupsInside: the groups with hosts inside a prefix (inner prefixes, and the outer one unless they fill it)', () => {
  const groups = [
    hostgroup('default', []),
    hostgroup('web', ['203.0.113.0/28']),
    hostgroup('dns', ['203.0.113.64/26', '2001:db8:1::/48']),
    hostgroup('big', ['198.51.100.0/24']),
  ];
  assert.deepEqual(hostgroupsInside(pfx('203.0.113.0/24'), groups), ['default', 'dns', 'web']);
  assert.deepEqual(hostgroupsInside(pfx('203.0.113.0/28'), groups), ['web'], 'the /28 is web alone');
  assert.deepEqual(hostgroupsInside(pfx('203.0.113.0/27'), groups), ['default', 'web']);
  assert.deepEqual(hostgroupsInside(pfx('198.51.100.0/25'), groups), ['big'], 'inside one group: only it');
  assert.deepEqual(hostgroupsInside(pfx('2001:db8::/32'), groups), ['default', 'dns']);
  // Inner prefixes that fill the prefix leave nothing for the outer group.
  const tiled = [
    hostgroup('default', []),
    hostgroup('a', ['192.0.2.0/25']),
    hostgroup('b', ['192.0.2.128/26', '192.0.2.192/26']),
  ];
  assert.deepEqual(hostgroupsInside(pfx('192.0.2.0/24'), tiled), ['a', 'b']);
});

test('cross_hostgroups: allow escalates and lists the groups covered; forbid (either side) refuses; an owned one is withdrawn once forbidden', () => {
  // web is a /28 inside the /24 the default group escalates to.
  const groups = (defEsc: Partial<EscalationAction> = {}, webEsc: Partial<EscalationAction> = {}) => [
    hostgroup('default', [], defEsc),
    hostgroup('web', ['203.0.113.0/28'], webEsc),
  ];
  const attacked = [host('203.0.113.200', { in_packets: 2e5 }, { group: 'default' })];
  const esc = only(decide(input({ groups: groups(), banned: attacked })), 'escalate');
  assert.equal(esc.length, 1);
  assert.equal(esc[0]!.prefix, '203.0.113.0/24');
  assert.deepEqual(esc[0]!.hostgroups, ['default', 'web']);
  // A /24 of one group only lists that group.
  const alone = only(
    decide(
      input({ groups: [hostgroup('default', []), hostgroup('web', ['198.51.100.0/28'])], banned: attacked }),
    ),
    'escalate',
  );
  assert.deepEqual(alone[0]!.hostgroups, ['default']);
  for (const [who, g] of [
    ['default', groups({ cross_hostgroups: 'forbid' })],
    ['web', groups({}, { cross_hostgroups: 'forbid' })],
  ] as const) {
    const ds = decide(input({ groups: g, banned: attacked }));
    assert.equal(only(ds, 'escalate').length, 0, `forbid in ${who}`);
    const r = only(ds, 'refuse');
    assert.equal(r.length, 1);
    assert.equal(r[0]!.reason, 'crosses_hostgroups');
    assert.equal(
      r[0]!.detail,
      `203.0.113.0/24 covers hosts of hostgroup web besides default, and cross_hostgroups is forbid for ${who}`,
    );
  }
  // forbid does not stop an escalation that stays inside its own group.
  const inside = [
    hostgroup('default', [], { prefix_length: { ipv4: 28, ipv6: 48 } }),
    hostgroup('web', ['203.0.113.0/28'], {
      cross_hostgroups: 'forbid',
      prefix_length: { ipv4: 28, ipv6: 48 },
    }),
  ];
  assert.deepEqual(
    only(
      decide(input({ groups: inside, banned: [host('203.0.113.5', { in_packets: 2e5 })] })),
      'escalate',
    ).map((d) => [d.prefix, d.hostgroups]),
    [['203.0.113.0/28', ['web']]],
  );
  // Held, then a reload forbids it: withdrawn at once, not re-escalated in the same run.
  const e = ownEsc('203.0.113.0/24', { hostgroup: 'default', hosts: ['203.0.113.200'] });
  assert.deepEqual(
    decide(input({ groups: groups(), own: [e], banned: attacked })).map((d) => d.action),
    ['keep'],
  );
  const after = decide(
    input({ groups: groups({}, { cross_hostgroups: 'forbid' }), own: [e], banned: attacked }),
  );
  assert.deepEqual(
    after.map((d) => d.action),
    ['deescalate'],
  );
  assert.equal(only(after, 'deescalate')[0]!.reason, 'crosses_hostgroups');
});
