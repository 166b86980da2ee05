import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILTIN_DEFAULT_HOSTGROUP, ConfigError, loadConfig, type Hostgroup } from '../src/config/index.js';
import { displayPath } from '../src/config/source.js';
import { prefixToString } from '../src/wire/addr.js';

const FIX = fileURLToPath(new URL('../../test/fixtures/config/', import.meta.url));
const fx = (p: string) => path.join(FIX, p);
const shown = (p: string) => displayPath(fx(p));

function errorsOf(file: string): string[] {
  try {
    loadConfig(file);
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return [...e.errors];
  }
  assert.fail(`${file} was accepted`);
}

function groups(): Record<string, Hostgroup> {
  const c = loadConfig(fx('valid/breakwater.yaml'));
  return Object.fromEntries(c.hostgroups.map((g) => [g.name, g]));
}

test('policies/default.yaml overrides the built-in default key by key', () => {
  const d = groups().default!;
  assert.equal(d.parent, null);
  assert.equal(d.file, fx('valid/policies/default.yaml'));
  assert.deepEqual(d.thresholds.ban, { incoming: { total: { pps: 10000, mbps: 1000 } } });
  assert.equal(d.actions.ban_time_ms, 10 * 60_000);
  assert.deepEqual(d.actions.blackhole, BUILTIN_DEFAULT_HOSTGROUP.actions.blackhole);
  assert.deepEqual(d.actions.escalation, BUILTIN_DEFAULT_HOSTGROUP.actions.escalation);
});

test('a child inherits what it does not set; thresholds merge per direction/class/unit', () => {
  const web = groups().web!;
  assert.equal(web.parent, 'default');
  assert.deepEqual(web.prefixes.map(prefixToString), ['203.0.113.0/26', '2001:db8:1::/64']);
  assert.deepEqual(web.thresholds.ban, {
    incoming: { total: { pps: 10000, mbps: 1000 }, tcp_syn: { pps: 5000 }, udp: { mbps: 500 } },
    outgoing: { total: { pps: 50000 } },
  });
  assert.deepEqual(web.thresholds.emergency, { incoming: { total: { pps: 200000, mbps: 10000 } } });
  assert.equal(web.ticks_required, 2);
  assert.equal(web.actions.ban_time_ms, 10 * 60_000, 'from the overridden default');
  assert.equal(web.actions.unban_only_if_attack_finished, true);
  assert.deepEqual(web.actions.blackhole.communities, ['65535:666', '65001:666']);
  assert.deepEqual(
    web.actions.blackhole.next_hop,
    { ipv4: '192.0.2.1', ipv6: '100::2' },
    'next_hop merges per family',
  );
  assert.deepEqual(web.actions.notify, {
    script: fx('valid/policies/scripts/notify.sh'),
    format: 'text',
    timeout_ms: 5000,
  });
  const esc = web.actions.escalation;
  assert.equal(esc.enabled, true);
  assert.deepEqual(esc.communities, ['65001:777']);
  assert.deepEqual(esc.prefix_length, { ipv4: 22, ipv6: 48 });
  assert.deepEqual(
    esc.thresholds,
    web.thresholds.emergency,
    'escalation thresholds default to the emergency tier',
  );
  assert.equal(esc.hold_ms, 5 * 60_000);
});

test('a grandchild inherits through its parent; null drops an inherited threshold', () => {
  const api = groups()['web-api']!;
  assert.equal(api.parent, 'web');
  assert.deepEqual(api.thresholds.ban, {
    incoming: { total: { pps: 10000, mbps: 1000 }, tcp_syn: { pps: 5000 }, udp: { mbps: 500, pps: 100 } },
    outgoing: { total: { pps: 50000 } },
  });
  assert.deepEqual(api.thresholds.emergency, { incoming: { total: { pps: 200000, mbps: 10000 } } });
  assert.equal(api.ticks_required, 2);
  assert.deepEqual(api.actions.blackhole.communities, ['65535:666', '65001:666']);
  assert.deepEqual(api.actions.flowspec, {
    enabled: true,
    action: 'rate-limit',
    action_params: { rate: 125000 },
    coverage: 0.95,
  });
  const esc = api.actions.escalation;
  assert.deepEqual(
    esc.thresholds,
    { incoming: { total: { mbps: 5000 } } },
    'explicit escalation thresholds replace the emergency default',
  );
  assert.equal(esc.hold_ms, 90 * 60_000);
  assert.equal(esc.enabled, true);
  assert.deepEqual(esc.communities, ['65001:777']);
  assert.deepEqual(esc.prefix_length, { ipv4: 22, ipv6: 48 });
  assert.equal(api.actions.notify.format, 'text');
});

test('unknown parent, parentless non-default, default with a parent', () => {
  const d = (f: string) => shown(`pol-parent/policies/${f}`);
  assert.deepEqual(errorsOf(fx('pol-parent/breakwater.yaml')), [
    `${d('a.yaml')}:2:9: parent: hostgroup "nope" does not exist (known: default, a, b)`,
    `${d('b.yaml')}:2:9: parent: only the default hostgroup may have no parent (leave "parent" out to inherit from default)`,
    `${d('default.yaml')}:2:9: parent: the default hostgroup is the root of inheritance and cannot have a parent`,
  ]);
});

test('parent loops are reported once each, at a member of the loop', () => {
  const d = (f: string) => shown(`pol-loop/policies/${f}`);
  assert.deepEqual(errorsOf(fx('pol-loop/breakwater.yaml')), [
    `${d('a.yaml')}:2:9: parent: parent loop a -> b -> a`,
    `${d('self.yaml')}:2:9: parent: parent loop self -> self`,
  ]);
});

test('the same prefix in two hostgroups (or twice in one) and duplicate names', () => {
  const d = (f: string) => shown(`pol-dup/policies/${f}`);
  assert.deepEqual(errorsOf(fx('pol-dup/breakwater.yaml')), [
    `${d('b.yaml')}:4:5: prefixes[1]: prefix 2001:db8::/48 is already in hostgroup "a" (${d('a.yaml')}:2:28)`,
    `${d('b.yaml')}:5:5: prefixes[2]: prefix 203.0.113.128/25 is listed twice (first at ${d('b.yaml')}:3:5)`,
    `${d('c.yaml')}:1:7: name: hostgroup "a" is already defined in ${d('a.yaml')}:1:7`,
  ]);
});

test('policy schema errors: host bits, unknown keys, wrong-family next hops, bad values', () => {
  const d = (f: string) => shown(`pol-schema/policies/${f}`);
  const b = d('bad.yaml');
  assert.deepEqual(errorsOf(fx('pol-schema/breakwater.yaml')), [
    `${b}:2:12: prefixes[0]: prefix 203.0.113.1/24 has host bits set (did you mean 203.0.113.0/24?)`,
    `${b}:5:17: thresholds.ban.incoming.tcpsyn: unknown key: did you mean tcp_syn?`,
    `${b}:5:53: thresholds.ban.incoming.total.pps: must be >= 0, got -1`,
    `${b}:5:63: thresholds.ban.incoming.total.mbps: expected a number, got "lots"`,
    `${b}:6:3: thresholds.emergncy: unknown key: did you mean emergency?`,
    `${b}:7:17: ticks_required: must be >= 1, got 0`,
    `${b}:9:13: actions.ban_time: invalid duration "forever" (use e.g. 500ms, 10s, 30m, 1h, or a number of seconds)`,
    `${b}:10:62: actions.blackhole.next_hop.ipv4: expected an IPv4 address, got IPv6 address 100::1`,
    `${b}:10:78: actions.blackhole.next_hop.ipv6: expected an IPv6 address, got IPv4 address 192.0.2.1`,
    `${b}:11:23: actions.flowspec.action: expected one of discard, rate-limit, redirect, mark, accept, got "drop"`,
    `${b}:11:39: actions.flowspec.coverage: must be <= 1, got 1.5`,
    `${b}:12:22: actions.notify.webhook: webhook URL must be http:// or https://, got "ftp://example.net/x"`,
    `${b}:12:53: actions.notify.format: expected one of json, text, got "xml"`,
    `${b}:13:40: actions.escalation.prefix_length.ipv4: must be <= 32, got 33`,
    `${b}:13:66: actions.escalation.large_communities[0]: invalid large community "1:2:4294967296": expected a:b:c with each part 0..4294967295`,
    `${d('zname.yaml')}:1:7: name: names use letters, digits, "_", "." and "-", got "bad name!"`,
    `${d('zz-list.yaml')}:1:13: thresholds: expected a map, got a list`,
  ]);
});

test("thresholds.hostgroup: limits on a hostgroup's total traffic, inherited, absent by default", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-config-hg-'));
  try {
    fs.cpSync(fx('valid'), dir, { recursive: true });
    const web = path.join(dir, 'policies/web.yaml');
    const text = fs.readFileSync(web, 'utf8');
    assert.ok(text.includes('  emergency:\n'));
    fs.writeFileSync(
      web,
      text.replace(
        '  emergency:\n',
        '  hostgroup:\n    incoming: { total: { mbps: 10000 } }\n  emergency:\n',
      ),
    );
    const api = path.join(dir, 'policies/web-api.yaml');
    fs.writeFileSync(
      api,
      fs
        .readFileSync(api, 'utf8')
        .replace('  ban:\n', '  hostgroup:\n    incoming: { total: { pps: 1000000 } }\n  ban:\n'),
    );
    const g = Object.fromEntries(
      loadConfig(path.join(dir, 'breakwater.yaml')).hostgroups.map((h) => [h.name, h]),
    );
    assert.equal(g.default!.thresholds.hostgroup, undefined, 'none unless a policy sets one');
    assert.deepEqual(g.web!.thresholds.hostgroup, { incoming: { total: { mbps: 10000 } } });
    assert.deepEqual(
      g['web-api']!.thresholds.hostgroup,
      { incoming: { total: { pps: 1000000, mbps: 10000 } } },
      'merged with the parent',
    );
    // Same validation as the other tiers: a bad unit is one error line with its position.
    fs.writeFileSync(
      web,
      text.replace('  emergency:\n', '  hostgroup:\n    incoming: { total: { kpps: 5 } }\n  emergency:\n'),
    );
    const errs = errorsOf(path.join(dir, 'breakwater.yaml'));
    assert.equal(errs.length, 1, errs.join('\n'));
    assert.match(errs[0]!, /web\.yaml:\d+:\d+: .*kpps/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
