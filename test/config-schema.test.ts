import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, defaultConfig, loadConfig } from '../src/config/index.js';
import { prefixToString as prefixToStringForTest } from '../src/wire/addr.js';
import { displayPath } from '../src/config/source.js';

const FIX = fileURLToPath(new URL('../../test/fixtures/config/', import.meta.url));
const fx = (p: string) => path.join(FIX, p);
const shown = (p: string) => displayPath(fx(p));

function errorsOf(file: string): string[] {
  try {
    loadConfig(file);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    for (const line of e.errors) assert.ok(!line.includes('\n'), `multi-line error: ${line}`);
    return [...e.errors];
  }
  assert.fail(`${file} was accepted`);
}

test('defaults with no config: collectors, API, no peers, ./state, built-in default hostgroup', () => {
  const c = defaultConfig();
  assert.equal(c.file, '<defaults>');
  assert.deepEqual(
    c.capture.listeners.map((l) => `${l.type} ${l.address}:${l.port}`),
    ['sflow 127.0.0.1:6343', 'netflow 127.0.0.1:2055', 'ipfix 127.0.0.1:4739'],
  );
  assert.equal(c.api.host, '127.0.0.1');
  assert.equal(c.api.port, 10007);
  assert.deepEqual(c.bgp.peers, []);
  assert.equal(c.state_dir, path.resolve('state'));
  assert.equal(c.policies_dir, null);
  assert.equal(c.detection.tick_ms, 100);
  assert.equal(c.detection.window_ms, 1000);
  assert.equal(c.escalation.schedule, '*/10 * * * * *');
  assert.deepEqual(
    c.hostgroups.map((g) => g.name),
    ['default'],
  );
  const d = c.hostgroups[0]!;
  assert.equal(d.actions.ban_time_ms, 30 * 60_000);
  assert.equal(d.actions.escalation.hold_ms, 5 * 60_000);
  assert.equal(d.actions.escalation.clear_after, 3);
  assert.deepEqual(d.actions.escalation.prefix_length, { ipv4: 24, ipv6: 48 });
  assert.ok(
    Object.isFrozen(c) &&
      Object.isFrozen(c.capture.listeners[0]) &&
      Object.isFrozen(d.actions.blackhole.communities),
  );
  assert.deepEqual(loadConfig(), c);
});

test('a valid file resolves every key, with relative paths against the config folder', () => {
  const c = loadConfig(fx('valid/breakwater.yaml'));
  assert.equal(c.file, fx('valid/breakwater.yaml'));
  assert.deepEqual(c.networks.map(prefixToStringForTest), [
    '203.0.113.0/24',
    '198.51.100.0/24',
    '2001:db8::/32',
  ]);
  assert.deepEqual(c.whitelist.map(prefixToStringForTest), ['203.0.113.53/32']);
  assert.deepEqual(c.capture.listeners, [
    { name: 'sf', type: 'sflow', address: '127.0.0.1', port: 16343 },
    { name: 'nf', type: 'netflow', address: '::1', port: 12055 },
  ]);
  assert.deepEqual(c.capture.sampling_overrides, { '192.0.2.10': 1024, '2001:db8::1': 512 });
  assert.equal(c.capture.default_sampling_rate, 1);
  assert.equal(c.detection.tick_ms, 200);
  assert.equal(c.detection.window_ms, 2000);
  assert.equal(c.detection.ipv6_idle_ms, 300_000);
  assert.equal(c.detection.dry_run, true, 'top-level dry_run maps to detection.dry_run');
  assert.deepEqual({ host: c.api.host, port: c.api.port }, { host: '::1', port: 18080 });
  assert.deepEqual(c.api.users, { admin: { password_hash: 'scrypt$abc' } });
  assert.equal(c.bgp.local_as, 65010);
  assert.equal(c.bgp.router_id, '192.0.2.254');
  assert.deepEqual(c.bgp.listen, { address: '127.0.0.1', port: 1179 });
  const [e1, e2] = c.bgp.peers;
  assert.deepEqual(e1, {
    name: 'edge1',
    address: '127.0.0.2',
    port: 179,
    remote_as: 65001,
    local_as: 65010,
    hold_time: 30,
    families: ['ipv4-unicast', 'ipv6-unicast'],
    passive: false,
    next_hop_self: { ipv4: '127.0.0.1' },
    graceful_restart: 0,
    max_flowspec_rules: 1000,
    max_updates_per_second: 1000,
  });
  assert.equal(e2!.remote_as, 65546, 'asdot 1.10 = 1*65536+10');
  assert.equal(e2!.local_as, 4200000000);
  assert.equal(e2!.port, 1180);
  assert.equal(e2!.passive, true);
  assert.equal(e2!.graceful_restart, 120);
  assert.deepEqual(e2!.families, ['ipv6-unicast', 'ipv6-flowspec']);
  const [r1, r2] = c.bgp.static_routes;
  assert.equal(r1!.prefix_text, '198.51.100.66/32');
  assert.deepEqual(r1!.communities, ['65535:666', '65535:65281', '65001:100']);
  assert.deepEqual(r1!.large_communities, ['4200000000:1:2']);
  assert.deepEqual(r1!.extended_communities, ['rt:65000:100']);
  assert.equal(r2!.prefix_text, '2001:db8:ff::/48');
  assert.equal(r2!.next_hop, '100::1');
  assert.deepEqual(c.bgp.static_flowspec, [
    { destination_prefix: '203.0.113.10/32', protocols: ['udp'], source_ports: [53], action_type: 'discard' },
  ]);
  assert.equal(c.mitigation.max_blackholes, 10);
  assert.equal(c.mitigation.max_flowspec_rules, 1000);
  assert.equal(c.mitigation.notify_concurrency, 2);
  assert.equal(c.escalation.schedule, '*/5 * * * * *');
  assert.deepEqual(c.logging, { level: 'debug', format: 'json' });
  assert.equal(c.state_dir, fx('valid-state'));
  assert.equal(c.policies_dir, fx('valid/policies'));
  assert.deepEqual(
    c.hostgroups.map((g) => g.name),
    ['default', 'web-api', 'web'],
    'default first, then by file name',
  );
});

test('schema errors: one line each, file:line:col: path: message, in document order', () => {
  const f = shown('invalid/schema.yaml');
  assert.deepEqual(errorsOf(fx('invalid/schema.yaml')), [
    `${f}:1:28: networks[1]: prefix 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)`,
    `${f}:1:40: networks[2]: invalid prefix "2001:db8::/129": length must be 0..128`,
    `${f}:1:56: networks[3]: invalid prefix "not-a-prefix": "not-a-prefix" is not an IP address`,
    `${f}:2:1: whitelst: unknown key: did you mean whitelist?`,
    `${f}:5:25: capture.listeners[0].type: expected one of sflow, netflow, ipfix, auto, got "sflowv5"`,
    `${f}:5:40: capture.listeners[0].port: must be <= 65535, got 70000`,
    `${f}:6:26: capture.default_sampling_rate: must be >= 1, got 0`,
    `${f}:7:20: detection.tick: invalid duration "10x" (use e.g. 500ms, 10s, 30m, 1h, or a number of seconds)`,
    `${f}:7:48: detection.dry_run: expected true or false, got "yes"`,
    `${f}:8:16: api.listen: expected an IP address, got "localhost"`,
    `${f}:10:13: bgp.local_as: invalid AS number 23456: it is AS_TRANS (RFC 6793), not a real AS`,
    `${f}:11:14: bgp.router_id: invalid router_id 0.0.0.0: must be non-zero`,
    `${f}:13:31: bgp.peers[0].address: expected an IP address, got "127.0.0.300"`,
    `${f}:13:55: bgp.peers[0].remote_as: invalid AS number 4294967296: must be an integer 1..4294967295`,
    `${f}:13:78: bgp.peers[0].hold_time: hold_time must be 0 or at least 3 seconds`,
    `${f}:13:106: bgp.peers[0].families[1]: expected one of ipv4-unicast, ipv6-unicast, ipv4-flowspec, ipv6-flowspec, got "l2vpn-evpn"`,
    `${f}:14:7: bgp.peers[1].address: missing required key`,
    `${f}:14:40: bgp.peers[1].colour: unknown key (expected one of: name, address, port, remote_as, local_as, local_address, hold_time, families, passive, next_hop_self, graceful_restart, max_flowspec_rules, max_updates_per_second, password, ttl_security)`,
    `${f}:18:21: bgp.static_routes[0].communities[0]: invalid community "65536:1": expected a:b with each part 0..65535, or a well-known name (blackhole, no-export, no-advertise, ...)`,
    `${f}:18:43: bgp.static_routes[0].communities[2]: invalid community "no-such-name": expected a:b with each part 0..65535, or a well-known name (blackhole, no-export, no-advertise, ...)`,
    `${f}:19:27: bgp.static_routes[0].large_communities[0]: invalid large community "1:2": expected a:b:c with each part 0..4294967295`,
    `${f}:20:46: bgp.static_routes[0].extended_communities[1]: invalid extended community "xx:1:2": unknown kind "xx" (use rt, ro, redirect, traffic-rate, traffic-marking or 0x + 16 hex digits)`,
    `${f}:20:56: bgp.static_routes[0].extended_communities[2]: invalid extended community "rt:4200000000:70000": local part with a 4-octet AS must be 0..65535`,
    `${f}:21:21: bgp.static_flowspec[0]: expected a map, got "discard-all"`,
    `${f}:22:25: escalation.schedule: invalid cron expression "every ten seconds" (e.g. "*/10 * * * * *" = every 10 seconds)`,
    `${f}:23:19: logging.level: expected one of error, warn, info, debug, got "verbose"`,
    `${f}:24:12: state_dir: expected a string, got 42`,
  ]);
});

test('cross-field errors: duplicates, next-hop and address families, conflicting keys, missing folder', () => {
  const f = shown('invalid/cross.yaml');
  assert.deepEqual(errorsOf(fx('invalid/cross.yaml')), [
    `${f}:4:15: capture.listeners[1].name: listener name "a" is already used by listeners[0]`,
    `${f}:4:24: capture.listeners[1].port: 127.0.0.1 port 6343 is already used by listeners[0]`,
    `${f}:5:25: capture.sampling_overrides.router1: exporter "router1" is not an IP address`,
    `${f}:6:16: api.listen: give either listen or host/port, not both`,
    `${f}:7:10: dry_run: dry_run is set differently here and under detection`,
    `${f}:8:36: detection.tick: tick must not be longer than window`,
    `${f}:12:15: bgp.peers[1].name: peer name "edge1" is already used by bgp.peers[0]`,
    `${f}:12:31: bgp.peers[1].address: peer 127.0.0.2 port 179 is already configured as bgp.peers[0]`,
    `${f}:12:75: bgp.peers[1].local_address: local_address ::1 is IPv6 but the peer address 127.0.0.2 is IPv4`,
    `${f}:14:44: bgp.static_routes[0].next_hop: next hop 192.0.2.1 is IPv4 but prefix 2001:db8::/48 is IPv6`,
    `${f}:15:17: bgp.static_routes[1].prefix: 198.51.100.0/24 covers whitelisted 198.51.100.53/32: Breakwater never announces it`,
    `${f}:15:44: bgp.static_routes[1].next_hop: next hop 100::1 is IPv6 but prefix 198.51.100.0/24 is IPv4`,
    `${f}:17:29: bgp.static_flowspec[0].destination_prefix: 192.0.2.7/32 is outside networks: Breakwater never announces it`,
    `${f}:18:11: policies: policies folder ${shown('invalid/no-such-folder')} does not exist`,
  ]);
});

test('YAML syntax errors, a non-map document and a missing file are located too', () => {
  const s = shown('invalid/syntax.yaml');
  // One line, for the first mistake: what follows from it is noise.
  assert.deepEqual(errorsOf(fx('invalid/syntax.yaml')), [
    `${s}:3:3: this key is already set above in the same map: keep one`,
  ]);
  assert.deepEqual(errorsOf(fx('invalid/list.yaml')), [
    `${shown('invalid/list.yaml')}:1:1: the config must be a map of keys (networks, capture, bgp, ...)`,
  ]);
  assert.deepEqual(errorsOf(fx('invalid/nope.yaml')), [
    `${shown('invalid/nope.yaml')}:1:1: cannot read config: no such file`,
  ]);
});

test('the shipped example and policies/default.yaml are accepted; default.yaml equals the built-in default', () => {
  const ex = loadConfig(fileURLToPath(new URL('../../examples/breakwater.yaml', import.meta.url)));
  assert.deepEqual(
    ex.hostgroups.map((g) => g.name),
    ['default', 'web'],
  );
  const web = ex.hostgroups[1]!;
  assert.equal(web.thresholds.ban.incoming?.tcp_syn?.pps, 5000);
  assert.deepEqual(web.actions.escalation.next_hop, { ipv4: '192.0.2.1', ipv6: '100::1' });
  const shipped = loadConfig(fx('shipped-default/breakwater.yaml'));
  const builtIn = defaultConfig().hostgroups[0]!;
  assert.deepEqual({ ...shipped.hostgroups[0]!, file: builtIn.file }, builtIn);
});
