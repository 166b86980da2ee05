/**
 * Hostgroup-scope mitigation (carpet bombing): the covering-prefix and whitelist-split
 * logic (cover.ts), FlowSpec generation with prefix destinations, and the manager's
 * hostgroup ban lifecycle (flowspec, blackhole of covering /24s, safety, expiry, restore).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  coveringPrefixes,
  coveringPrefixOf,
  safeCover,
  subtractPrefixes,
  type WeightedHost,
} from '../src/mitigation/cover.js';
import { generateRules } from '../src/flowspec/index.js';
import { MitigationManager } from '../src/mitigation/manager.js';
import { flowspecAdapter } from '../src/mitigation/flowspec-adapter.js';
import type { HostgroupAttack } from '../src/detection/index.js';
import type { Mitigation } from '../src/mitigation/types.js';
import type { Hostgroup } from '../src/config/types.js';
import { parseAddr, prefixContains, prefixToString, type Prefix } from '../src/wire/addr.js';
import {
  attack,
  FakeJournal,
  FakeNotifier,
  hostgroup,
  pfx,
  sample,
  testConfig,
  type ConfigPatch,
} from './fixtures/mitigation/helpers.js';
import { causeText } from '../src/mitigation/cause.js';

const P = (ps: Prefix[]) => ps.map(prefixToString);
const host = (ip: string, weight = 1): WeightedHost => {
  const a = parseAddr(ip)!;
  return { family: a.family, bytes: a.bytes, weight };
};
const size = (p: Prefix) => 2 ** ((p.family === 4 ? 32 : 128) - p.len);

describe('covering prefixes', () => {
  it('subtracting a /32 from a /24 leaves the 8 prefixes of everything else, none holding it', () => {
    const pieces = subtractPrefixes(pfx('10.1.2.0/24'), [pfx('10.1.2.53/32')]);
    assert.equal(pieces.length, 8);
    assert.equal(
      pieces.reduce((s, p) => s + size(p), 0),
      255,
    );
    const wl = parseAddr('10.1.2.53')!.bytes;
    for (const p of pieces)
      assert.ok(!prefixContains(p, wl), `${prefixToString(p)} holds the whitelisted host`);
    assert.ok(pieces.some((p) => prefixContains(p, parseAddr('10.1.2.52')!.bytes)));
    assert.ok(pieces.some((p) => prefixContains(p, parseAddr('10.1.2.54')!.bytes)));
  });

  it('a hole covering the whole prefix leaves nothing; one outside it changes nothing', () => {
    assert.deepEqual(subtractPrefixes(pfx('10.1.2.0/24'), [pfx('10.1.0.0/16')]), []);
    assert.deepEqual(P(subtractPrefixes(pfx('10.1.2.0/24'), [pfx('10.9.0.0/16'), pfx('2001:db8::/32')])), [
      '10.1.2.0/24',
    ]);
  });

  it('the hosts of a /20 spread evenly are covered by that /20, not by the /16 around them', () => {
    const hosts: WeightedHost[] = [];
    for (let i = 0; i < 4096; i += 7) hosts.push(host(`10.1.${i >> 8}.${i & 255}`));
    hosts.push(host('10.1.15.255'));
    const c = coveringPrefixes(hosts, [pfx('10.1.0.0/16')], 4);
    assert.ok(c.prefixes.length <= 4);
    for (const h of hosts)
      assert.ok(
        c.prefixes.some((p) => prefixContains(p, h.bytes)),
        'every host covered',
      );
    assert.ok(c.prefixes.reduce((s, p) => s + size(p), 0) <= 4096, `${P(c.prefixes)} is wider than the /20`);
  });

  it('two clusters far apart become two tight prefixes, never a span over the gap', () => {
    const c = coveringPrefixes(
      [host('10.1.0.1'), host('10.1.0.200'), host('10.1.200.3'), host('10.1.200.9')],
      [pfx('10.1.0.0/16')],
      4,
    );
    // Greedy: the spans are split until max; each is the tightest prefix of its hosts.
    assert.ok(c.prefixes.length <= 4);
    for (const p of c.prefixes) assert.ok(p.len >= 24, `${prefixToString(p)} spans the gap`);
    assert.equal(
      coveringPrefixes([host('10.1.0.1'), host('10.1.200.3')], [pfx('10.1.0.0/16')], 1).prefixes.map(
        prefixToString,
      )[0],
      '10.1.0.0/16',
    );
  });

  it('never spans two prefixes of `within`; hosts in none are left out; beyond max the heaviest are kept', () => {
    const c = coveringPrefixes(
      [host('10.1.0.1', 5), host('10.2.0.1', 1), host('10.3.0.1', 9), host('192.0.2.1', 100)],
      [pfx('10.1.0.0/16'), pfx('10.2.0.0/16'), pfx('10.3.0.0/16')],
      2,
    );
    assert.deepEqual(P(c.prefixes), ['10.1.0.1/32', '10.3.0.1/32']);
    assert.equal(c.dropped, 1);
  });

  it('safeCover: outside networks refused, whitelisted split (only pieces with attacked hosts), all-whitelisted refused', () => {
    const safety = { networks: [pfx('10.1.0.0/16')], whitelist: [pfx('10.1.7.53/32'), pfx('10.1.9.0/24')] };
    const r = safeCover([pfx('10.0.0.0/8'), pfx('10.1.0.0/20'), pfx('10.1.9.0/25')], safety, {
      keepIfHolds: [host('10.1.7.1'), host('10.1.2.3')],
      maxPieces: 64,
    });
    assert.match(r.notes[0]!, /10\.0\.0\.0\/8 refused: not wholly inside/);
    assert.match(
      r.notes[1]!,
      /10\.1\.0\.0\/20 holds whitelisted 10\.1\.7\.53\/32, 10\.1\.9\.0\/24: split into 10\.1\.0\.0\/22, 10\.1\.7\.0\/27$/,
    );
    assert.match(r.notes[2]!, /10\.1\.9\.0\/25 refused: all of it is whitelisted/);
    const wl = parseAddr('10.1.7.53')!.bytes;
    assert.ok(r.prefixes.length >= 2);
    for (const p of r.prefixes) assert.ok(!prefixContains(p, wl));
    assert.ok(r.prefixes.some((p) => prefixContains(p, parseAddr('10.1.7.1')!.bytes)));
    assert.ok(r.prefixes.some((p) => prefixContains(p, parseAddr('10.1.2.3')!.bytes)));
    // Pieces holding no attacked host (10.1.8.0/21's side, say) are left out.
    assert.ok(!r.prefixes.some((p) => prefixContains(p, parseAddr('10.1.12.1')!.bytes)));
    const few = safeCover([pfx('10.1.0.0/16')], safety, { maxPieces: 4 });
    assert.deepEqual(few.prefixes, []);
    assert.match(few.notes[0]!, /refused: it holds whitelisted .* takes \d+ prefixes \(more than 4\)/);
  });

  it('the covering /24 of a host is never wider than its hostgroup prefix or network', () => {
    assert.equal(
      prefixToString(coveringPrefixOf(parseAddr('10.1.2.3')!, 24, [pfx('10.0.0.0/8')])),
      '10.1.2.0/24',
    );
    assert.equal(
      prefixToString(coveringPrefixOf(parseAddr('10.1.2.3')!, 24, [pfx('10.1.2.0/26'), pfx('10.0.0.0/8')])),
      '10.1.2.0/26',
    );
    assert.equal(prefixToString(coveringPrefixOf(parseAddr('2001:db8:1:2::5')!, 48, [])), '2001:db8:1::/48');
  });
});

/** A carpet bomb's aggregate samples: SYN floods to `n` hosts of 10.1.0.0/20. */
function carpetSamples(n: number, over: Parameters<typeof sample>[1] = {}) {
  const out = [];
  for (let i = 0; i < n; i++)
    out.push(sample(`10.1.${(i * 13) % 16}.${(i * 7) % 256}`, { srcPort: 1024 + i, ...over }));
  return out;
}

describe('FlowSpec generation with hostgroup destinations', () => {
  it('one rule for the destination prefix, covering the aggregate attack, with its explanation', () => {
    const g = generateRules(carpetSamples(400), [], { destinations: [pfx('10.1.0.0/16')] });
    assert.ok(g.ok);
    assert.equal(g.rules.length, 1);
    assert.equal(g.rules[0]!.json.destination_prefix, '10.1.0.0/16');
    assert.deepEqual(g.rules[0]!.json.protocols, ['tcp']);
    assert.equal(g.coverage, 1);
    assert.match(g.explanation, /1 rule\(s\) cover 100\.0% of/);
  });

  it('normal traffic of the hostgroup (web to port 443) is spared by the match', () => {
    const base = carpetSamples(50, {
      protocol: 6,
      dstPort: 443,
      tcpFlags: 0x18,
      srcPort: 50000,
      packetLength: 1400,
    });
    const g = generateRules(carpetSamples(400, { dstPort: 80 }), base, {
      destinations: [pfx('10.1.0.0/16')],
    });
    assert.ok(g.ok, g.explanation);
    assert.equal(g.baselineFraction, 0);
  });
});

// ---- manager lifecycle ------------------------------------------------------------

function carpetGroup(
  hs: Partial<Hostgroup['actions']['hostgroup']> = {},
  extra: Parameters<typeof hostgroup>[2] = {},
): Hostgroup {
  const base = hostgroup('carpet', ['10.1.0.0/16'], {
    blackhole: { enabled: false },
    ban_time_ms: 60_000,
    unban_only_if_attack_finished: true,
    notify: { script: '/bin/true', format: 'json', timeout_ms: 1000 },
    ...extra,
  });
  const h = base.actions.hostgroup;
  return {
    ...base,
    thresholds: { ...base.thresholds, hostgroup: { incoming: { total: { pps: 100000 } } } },
    actions: {
      ...base.actions,
      hostgroup: {
        flowspec: { ...h.flowspec, ...hs.flowspec },
        blackhole: { ...h.blackhole, ...hs.blackhole },
      },
    },
  };
}

function hgAttack(over: Partial<HostgroupAttack> = {}): HostgroupAttack {
  return {
    uuid: 'hg-1',
    hostgroup: 'carpet',
    direction: 'incoming',
    cls: 'total',
    unit: 'pps',
    threshold: 100000,
    value: 900000,
    peak: 900000,
    startedAt: 0,
    samples: carpetSamples(400),
    baseline: [],
    ...over,
  };
}

function setup(hg: Hostgroup, patch: ConfigPatch = {}, nowSamples = () => carpetSamples(100)) {
  let now = 1_000_000;
  const journal = new FakeJournal();
  const notifier = new FakeNotifier();
  const attacking = new Set<string>();
  const cfg = testConfig({
    networks: ['10.0.0.0/8'],
    whitelist: [],
    hostgroups: [hostgroup('default', []), hg],
    ...patch,
  });
  const mk = () =>
    new MitigationManager({
      cfg,
      journal,
      notifier,
      flowspec: flowspecAdapter,
      hostgroupAttacking: (name) => attacking.has(name),
      hostgroupSamples: () => ({ attack: nowSamples(), baseline: [] }),
      now: () => now,
    });
  return { mgr: mk(), mk, journal, notifier, attacking, advance: (ms: number) => (now += ms) };
}

const routesOf = (mgr: MitigationManager) =>
  mgr
    .desiredRoutes()
    .map((r) => (r.prefix ? prefixToString(r.prefix) : r.family))
    .sort();

describe('hostgroup-scope mitigation in the manager', () => {
  it('flowspec: a handful of rules for the hostgroup prefix, partial_block with alert_scope hostgroup, journalled', async () => {
    const { mgr, journal, notifier, attacking } = setup(
      carpetGroup({ flowspec: { enabled: true, destination: 'hostgroup', max_prefixes: 4 } }),
    );
    attacking.add('carpet');
    await mgr.onHostgroupAttack(hgAttack());
    const fs = mgr.list('flowspec');
    assert.ok(fs.length >= 1 && fs.length <= 4, `${fs.length} rules`);
    for (const m of fs) {
      assert.equal(m.rule!.destination_prefix, '10.1.0.0/16');
      assert.equal(causeText(m.cause), 'hostgroup carpet attack hg-1');
      assert.equal(m.hostgroup, 'carpet');
    }
    assert.equal(mgr.desiredRoutes().length, fs.length);
    assert.equal(journal.entries.filter((e) => e.op === 'add').length, fs.length);
    const doc = notifier.docs.at(-1)!.doc;
    assert.equal(doc.action, 'partial_block');
    assert.equal(doc.alert_scope, 'hostgroup');
    assert.equal(doc.hostgroup_name, 'carpet');
    assert.equal(doc.flow_spec_rules.length, fs.length);
    assert.ok(doc.packet_dump_detailed.length > 0);
    assert.deepEqual(mgr.audit().problems, []);
  });

  it('flowspec, attacked: the smallest prefixes covering the attacked hosts (10.1.0.0/20 here), at most max_prefixes', async () => {
    const { mgr } = setup(
      carpetGroup({ flowspec: { enabled: true, destination: 'attacked', max_prefixes: 4 } }),
    );
    await mgr.onHostgroupAttack(hgAttack());
    const dst = new Set(mgr.list('flowspec').map((m) => String(m.rule!.destination_prefix)));
    assert.ok(dst.size >= 1 && dst.size <= 4);
    for (const d of dst) assert.ok(prefixContains(pfx('10.1.0.0/20'), pfx(d).bytes) && pfx(d).len >= 20, d);
  });

  it('a whitelisted address inside the prefix: the rules never cover it, and still cover the attack', async () => {
    const { mgr } = setup(
      carpetGroup({ flowspec: { enabled: true, destination: 'hostgroup', max_prefixes: 4 } }),
      { networks: ['10.0.0.0/8'], whitelist: ['10.1.3.53/32'] },
    );
    const a = hgAttack();
    await mgr.onHostgroupAttack(a);
    const fs = mgr.list('flowspec');
    // The split needs more destinations than max_prefixes: coverage wins (logged), bounded.
    assert.ok(fs.length >= 1 && fs.length <= 32, `${fs.length} rules`);
    const covered = a.samples.filter((s) =>
      fs.some((m) => prefixContains(pfx(String(m.rule!.destination_prefix)), parseAddr(s.dst)!.bytes)),
    ).length;
    assert.ok(covered / a.samples.length >= 0.95, `${covered} of ${a.samples.length} samples covered`);
    const wl = parseAddr('10.1.3.53')!.bytes;
    for (const m of fs)
      assert.ok(
        !prefixContains(pfx(String(m.rule!.destination_prefix)), wl),
        `${m.rule!.destination_prefix} covers the whitelisted host`,
      );
  });

  it('blackhole: the covering /24 of each host over its own threshold, once per /24, split around the whitelist', async () => {
    const { mgr, notifier } = setup(
      carpetGroup({ blackhole: { enabled: true, prefix_length: { ipv4: 24, ipv6: 48 } } }),
      { networks: ['10.0.0.0/8'], whitelist: ['10.1.2.53/32'] },
    );
    await mgr.onAttack(attack('10.1.1.1', 'h1', 'carpet'));
    await mgr.onHostgroupAttack(hgAttack());
    assert.deepEqual(routesOf(mgr), ['10.1.1.0/24']);
    assert.equal(notifier.docs.filter((d) => d.doc.alert_scope === 'hostgroup').at(-1)!.doc.action, 'ban');
    await mgr.onAttack(attack('10.1.1.2', 'h2', 'carpet'));
    await mgr.onAttack(attack('10.1.2.7', 'h3', 'carpet'));
    const r = routesOf(mgr);
    assert.equal(r.length, 1 + 8, r.join(' '));
    const wl = parseAddr('10.1.2.53')!.bytes;
    for (const m of mgr.list('blackhole')) assert.ok(!prefixContains(pfx(m.prefix), wl), m.prefix);
    // No host /32: the per-host policy is notify only here.
    assert.ok(!r.some((x) => x.endsWith('/32') && x.startsWith('10.1.1.')));
    assert.deepEqual(mgr.audit().problems, []);
  });

  it('dry run: listed, nothing announced', async () => {
    const { mgr } = setup(
      carpetGroup({ flowspec: { enabled: true, destination: 'hostgroup', max_prefixes: 4 } }),
      { dry_run: true },
    );
    await mgr.onHostgroupAttack(hgAttack());
    assert.ok(mgr.list('flowspec').length >= 1);
    assert.ok(mgr.list('flowspec').every((m) => m.dry_run));
    assert.equal(mgr.desiredRoutes().length, 0);
  });

  it('the cap refuses what is over it', async () => {
    const { mgr } = setup(
      carpetGroup({ blackhole: { enabled: true, prefix_length: { ipv4: 24, ipv6: 48 } } }),
      { mitigation: { max_blackholes: 1 } },
    );
    await mgr.onHostgroupAttack(hgAttack());
    await mgr.onAttack(attack('10.1.1.1', 'h1', 'carpet'));
    await mgr.onAttack(attack('10.1.5.1', 'h2', 'carpet'));
    assert.equal(mgr.list('blackhole').length, 1);
    assert.ok(mgr.refused.cap >= 1);
  });

  it('expiry: kept while the hostgroup attack goes on (unban_only_if_attack_finished), then withdrawn with one partial_unblock', async () => {
    const { mgr, notifier, attacking, advance } = setup(
      carpetGroup({ flowspec: { enabled: true, destination: 'hostgroup', max_prefixes: 4 } }),
    );
    attacking.add('carpet');
    await mgr.onHostgroupAttack(hgAttack());
    const n = mgr.desiredRoutes().length;
    assert.ok(n >= 1);
    advance(61_000);
    await mgr.sweep();
    assert.equal(mgr.desiredRoutes().length, n, 'extended');
    attacking.delete('carpet');
    mgr.onHostgroupAttackFinished(hgAttack());
    advance(61_000);
    await mgr.sweep();
    assert.equal(mgr.desiredRoutes().length, 0);
    assert.deepEqual(
      notifier.docs
        .filter((d) => d.doc.alert_scope === 'hostgroup' && d.doc.action !== 'attack_status')
        .map((d) => d.doc.action),
      ['partial_block', 'partial_unblock'],
    );
    assert.deepEqual(mgr.hostgroupBans(), []);
  });

  it('restart: the journal brings the hostgroup ban back; the attack seen again joins it without a second ban notify', async () => {
    const s = setup(carpetGroup({ flowspec: { enabled: true, destination: 'hostgroup', max_prefixes: 4 } }));
    await s.mgr.onHostgroupAttack(hgAttack());
    const before = s.mgr
      .list('flowspec')
      .map((m) => m.uuid)
      .sort();
    const saved: Mitigation[] = s.mgr.list();
    const mgr2 = s.mk();
    await mgr2.restore(saved);
    assert.deepEqual(
      mgr2
        .list('flowspec')
        .map((m) => m.uuid)
        .sort(),
      before,
    );
    assert.equal(mgr2.hostgroupBans().length, 1);
    const docs = s.notifier.docs.length;
    await mgr2.onHostgroupAttack(hgAttack({ uuid: 'hg-2' }));
    assert.equal(s.notifier.docs.length, docs, 'no second notify');
    assert.deepEqual(
      mgr2
        .list('flowspec')
        .map((m) => m.uuid)
        .sort(),
      before,
    );
    assert.deepEqual(mgr2.audit().problems, []);
  });

  it('restart: a host attacked before the hostgroup attack is seen again gets no covering prefix; the attack seen again covers it', async () => {
    const s = setup(carpetGroup({ blackhole: { enabled: true, prefix_length: { ipv4: 24, ipv6: 48 } } }));
    await s.mgr.onHostgroupAttack(hgAttack());
    await s.mgr.onAttack(attack('10.1.1.1', 'h1', 'carpet'));
    assert.deepEqual(routesOf(s.mgr), ['10.1.1.0/24']);
    const mgr2 = s.mk();
    await mgr2.restore(s.mgr.list());
    // The lifecycle model test's sequence: the hostgroup attack may be over by now.
    await mgr2.onAttack(attack('10.1.2.1', 'h2', 'carpet'));
    assert.deepEqual(routesOf(mgr2), ['10.1.1.0/24']);
    await mgr2.onHostgroupAttack(hgAttack({ uuid: 'hg-2' }));
    assert.deepEqual(routesOf(mgr2), ['10.1.1.0/24', '10.1.2.0/24']);
    assert.deepEqual(mgr2.audit().problems, []);
  });

  it('a carpet bomb that widens: the rules are generated again from the samples of now, new ones announced before the old are withdrawn', async () => {
    const { mgr, attacking, advance, journal } = setup(
      carpetGroup({ flowspec: { enabled: true, destination: 'attacked', max_prefixes: 4 } }),
    );
    attacking.add('carpet');
    // The attack's first samples hit 10.1.0.0/24 only; by the next sweep it spans the /20.
    const early = carpetSamples(400).map((x, i) => ({ ...x, dst: `10.1.0.${i % 256}` }));
    await mgr.onHostgroupAttack(hgAttack({ samples: early }));
    const before = mgr.list('flowspec');
    assert.ok(before.length >= 1);
    const dstOf = (m: Mitigation) => pfx(String(m.rule!.destination_prefix));
    for (const m of before)
      assert.ok(dstOf(m).len >= 24, `${m.rule!.destination_prefix} is the early /24 or inside it`);
    const now = carpetSamples(100);
    const held = (ms: readonly Mitigation[]) =>
      now.filter((x) => ms.some((m) => prefixContains(dstOf(m), parseAddr(x.dst)!.bytes))).length;
    assert.ok(held(before) < now.length / 2, 'the early rules miss most of the attack of now');
    advance(1000);
    await mgr.sweep();
    const after = mgr.list('flowspec');
    assert.ok(after.length >= 1 && after.length <= 4, `${after.length} rules`);
    assert.equal(held(after), now.length, 'every host attacked now is inside a rule');
    for (const m of before)
      if (!after.some((x) => x.uuid === m.uuid))
        assert.ok(
          journal.entries.some((e) => e.op === 'remove' && e.uuid === m.uuid && e.reason === 'replaced'),
          `old rule ${m.uuid} withdrawn as replaced`,
        );
    // Make before break: every add of a new rule is journalled before a remove of an old one.
    const ops = journal.entries.map((e) => (e.op === 'add' ? `add ${e.m.uuid}` : `remove ${e.uuid}`));
    const lastAdd = Math.max(
      ...after.filter((m) => !before.some((b) => b.uuid === m.uuid)).map((m) => ops.indexOf(`add ${m.uuid}`)),
    );
    const firstRemove = ops.findIndex((o) => o.startsWith('remove '));
    assert.ok(firstRemove < 0 || lastAdd < firstRemove, ops.join(', '));
    assert.equal(mgr.hostgroupBans().length, 1);
    assert.deepEqual(mgr.audit().problems, []);
    // Covered now: the next sweeps change nothing.
    const uuids = after.map((m) => m.uuid).sort();
    advance(1000);
    await mgr.sweep();
    assert.deepEqual(
      mgr
        .list('flowspec')
        .map((m) => m.uuid)
        .sort(),
      uuids,
    );
  });

  it('a rule an operator deleted is not generated again by the re-cover check', async () => {
    // Two clusters far apart: two rules, one per cluster.
    const two = () => carpetSamples(200).map((x, i) => ({ ...x, dst: `10.1.${i % 2 ? 128 : 0}.${i % 200}` }));
    const { mgr, attacking, advance } = setup(
      carpetGroup({ flowspec: { enabled: true, destination: 'attacked', max_prefixes: 4 } }),
      {},
      two,
    );
    attacking.add('carpet');
    await mgr.onHostgroupAttack(hgAttack({ samples: two() }));
    const rules = mgr.list('flowspec');
    assert.equal(rules.length, 2, rules.map((m) => m.rule!.destination_prefix).join(', '));
    await mgr.remove(rules[0]!.uuid, 'api');
    advance(1000);
    await mgr.sweep();
    assert.deepEqual(
      mgr.list('flowspec').map((m) => m.uuid),
      [rules[1]!.uuid],
    );
    assert.deepEqual(mgr.audit().problems, []);
  });

  it("an operator's delete of the last route ends the hostgroup ban", async () => {
    const { mgr, notifier } = setup(
      carpetGroup({ blackhole: { enabled: true, prefix_length: { ipv4: 24, ipv6: 48 } } }),
    );
    await mgr.onHostgroupAttack(hgAttack());
    await mgr.onAttack(attack('10.1.1.1', 'h1', 'carpet'));
    const [m] = mgr.list('blackhole');
    await mgr.remove(m!.uuid, 'api');
    assert.deepEqual(mgr.hostgroupBans(), []);
    assert.equal(notifier.docs.filter((d) => d.doc.alert_scope === 'hostgroup').at(-1)!.doc.action, 'unban');
  });
});

describe('actions.hostgroup in a policy file', () => {
  const load = async (policy: string) => {
    const { mkdtempSync, writeFileSync, mkdirSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { loadConfig, ConfigError } = await import('../src/config/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'bw-hgcfg-'));
    mkdirSync(join(dir, 'policies'));
    writeFileSync(join(dir, 'breakwater.yaml'), 'networks: [10.0.0.0/8]\npolicies: ./policies\n');
    writeFileSync(join(dir, 'policies', 'carpet.yaml'), policy);
    try {
      return { cfg: loadConfig(join(dir, 'breakwater.yaml')), errors: [] as string[] };
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      return { cfg: null, errors: [...e.errors] };
    }
  };

  it('parses, inherits unset attributes from the host-scope actions', async () => {
    const { cfg, errors } = await load(`name: carpet
prefixes: [10.1.0.0/16]
thresholds: { hostgroup: { incoming: { total: { pps: 100000 } } } }
actions:
  hostgroup:
    flowspec: { enabled: true, destination: attacked, max_prefixes: 2 }
    blackhole: { enabled: true, prefix_length: { ipv4: 22 }, communities: ["65535:666"] }
`);
    assert.deepEqual(errors, []);
    const hs = cfg!.hostgroups.find((h) => h.name === 'carpet')!.actions.hostgroup;
    assert.deepEqual(hs.flowspec, { enabled: true, destination: 'attacked', max_prefixes: 2 });
    assert.deepEqual(hs.blackhole.prefix_length, { ipv4: 22, ipv6: 48 });
    assert.deepEqual(hs.blackhole.communities, ['65535:666']);
    assert.equal(hs.blackhole.next_hop, undefined);
  });

  it('errors are one line file:line:col', async () => {
    const bad = await load(`name: carpet
prefixes: [10.1.0.0/16]
thresholds: { hostgroup: { incoming: { total: { pps: 100000 } } } }
actions:
  hostgroup:
    flowspec: { enabled: true, destination: everywhere }
`);
    assert.equal(bad.errors.length, 1);
    assert.match(bad.errors[0]!, /carpet\.yaml:6:\d+: .*destination/);
    const noLimit = await load(`name: carpet
prefixes: [10.1.0.0/16]
actions:
  hostgroup:
    blackhole: { enabled: true }
`);
    assert.equal(noLimit.errors.length, 1);
    assert.match(
      noLimit.errors[0]!,
      /carpet\.yaml:5:\d+: actions\.hostgroup: needs a thresholds\.hostgroup limit/,
    );
  });
});
