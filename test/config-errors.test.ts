/**
 * Issue 12 rough edges: a config mistake is reported as one line `file:line:col: message`
 * that says what to fix (an indentation slip, a misspelt key), not as the parser's cascade.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, parseConfig } from '../src/config/index.js';
import { closestKey, editDistance } from '../src/config/schema.js';

function errorsOf(text: string): string[] {
  try {
    parseConfig('/nonexistent/bw.yaml', text);
  } catch (e) {
    if (e instanceof ConfigError) return [...e.errors];
    throw e;
  }
  assert.fail('config was accepted');
}

const PEER = (line: string) => `networks: [203.0.113.0/24]
bgp:
  local_as: 65010
  peers:
    - name: edge1
      address: 127.0.0.2
${line}
      families: [ipv4-unicast]
api:
  listen: 127.0.0.1:10007
`;

test('one wrong indentation is one error line at the misindented key, naming the columns to use', () => {
  for (const [indent, col] of [
    [5, 6],
    [4, 5],
    [3, 4],
  ] as const) {
    const errs = errorsOf(PEER(`${' '.repeat(indent)}remote_as: 65001`));
    assert.deepEqual(errs, [
      `/nonexistent/bw.yaml:7:${col}: bad indentation: this line starts at column ${col}, between the keys at column 3 (line 4) and column 7 (line 6); start it at the column of the keys of the map it belongs to (indent with spaces)`,
    ]);
  }
  // Indented deeper than its sibling: the parser blames the line above; we name line 4.
  assert.deepEqual(
    errorsOf('networks: [203.0.113.0/24]\nbgp:\n  local_as: 65010\n   router_id: 192.0.2.1\n'),
    [
      '/nonexistent/bw.yaml:4:4: bad indentation: this line starts at column 4, deeper than the key at column 3 (line 3) which already has a value; start it at column 3, or nest it under a key that ends with ":"',
    ],
  );
  assert.deepEqual(errorsOf('bgp:\n\tlocal_as: 65010\n'), [
    '/nonexistent/bw.yaml:2:1: a tab in the indentation: YAML indents with spaces only',
  ]);
  assert.deepEqual(errorsOf('networks: [203.0.113.0/24\nbgp: {}\n'), [
    '/nonexistent/bw.yaml:2:1: a [ list opened above is not closed before this line: end it with ] (or indent its continuation lines)',
  ]);
  assert.deepEqual(errorsOf('bgp: local_as: 65010\n'), [
    '/nonexistent/bw.yaml:1:6: a value cannot itself be "key: value" on the same line: quote it, or write the nested keys on their own lines',
  ]);
  // The correctly indented file is accepted.
  assert.equal(
    parseConfig('/nonexistent/bw.yaml', PEER('      remote_as: 65001')).bgp.peers[0]!.remote_as,
    65001,
  );
});

test('a misspelt key gets "did you mean", and the required key it stands for is not also reported missing', () => {
  assert.deepEqual(errorsOf(PEER('      remote-as: 65001')), [
    '/nonexistent/bw.yaml:7:7: bgp.peers[0].remote-as: unknown key: did you mean remote_as?',
  ]);
  assert.deepEqual(errorsOf('network: [203.0.113.0/24]\nbgp: { locl_as: 1, colour: red }\n'), [
    '/nonexistent/bw.yaml:1:1: network: unknown key: did you mean networks?',
    '/nonexistent/bw.yaml:2:8: bgp.locl_as: unknown key: did you mean local_as?',
    '/nonexistent/bw.yaml:2:20: bgp.colour: unknown key (expected one of: local_as, router_id, listen, peers, static_routes, static_flowspec)',
  ]);
  // A key far from every known one still lists them; a required key really missing is still reported.
  assert.deepEqual(errorsOf('bgp:\n  peers:\n    - { name: e, address: 127.0.0.2 }\n'), [
    '/nonexistent/bw.yaml:3:7: bgp.peers[0].remote_as: missing required key',
  ]);
});

test('editDistance and closestKey', () => {
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('remote_sa', 'remote_as'), 1, 'an adjacent swap is one edit');
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(closestKey('Remote-AS', ['name', 'remote_as']), 'remote_as');
  assert.equal(closestKey('colour', ['local_as', 'router_id']), null);
  assert.equal(closestKey('ab', ['xy']), null, 'short keys need a close match');
});

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 20_000 });

test('static FlowSpec rules are validated at load as run announces them: check and run refuse them with file:line:col', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-sfs-'));
  try {
    const file = join(dir, 'bw.yaml');
    writeFileSync(
      file,
      `networks: [203.0.113.0/24]
capture: { listeners: [] }
api: { listen: "127.0.0.1:0" }
state_dir: ${join(dir, 'state')}
bgp:
  static_flowspec:
    - { destination_prefix: 203.0.113.5/32, protocols: [udp], action_type: discard }
    - { destination_prefix: 203.0.113.6/32, protocols: [udp], action_type: rate-limit, action_params: { rate: 1000 } }
    - { destination_prefix: 203.0.113.7/32, protocls: [udp], action_type: discard }
    - { destination_prefix: 203.0.113.8/32, protocols: [udp], action_type: rate-limit, action: { rat: 5 } }
    - { destination_prefix: 203.0.113.5/32, protocols: [udp], action_type: discard }
    - { destination_prefix: 203.0.113.9/32, destination_ports: [99999], action_type: discard }
    - { destination_prefix: 192.0.2.9/32, protocols: [udp], action_type: discard }
`,
    );
    const expected = [
      `${file}:8:88: bgp.static_flowspec[1].action_params: unknown field: did you mean action?`,
      `${file}:9:45: bgp.static_flowspec[2].protocls: unknown field: did you mean protocols?`,
      `${file}:10:98: bgp.static_flowspec[3].action.rat: unknown field: did you mean rate?`,
      `${file}:11:7: bgp.static_flowspec[4]: same match as bgp.static_flowspec[0]`,
      `${file}:12:64: bgp.static_flowspec[5].destination_ports: value 99999 is not an integer in 0..65535`,
      `${file}:13:29: bgp.static_flowspec[6].destination_prefix: 192.0.2.9/32 is outside networks: Breakwater never announces it`,
    ];
    const c = cli('check', '--config', file);
    assert.equal(c.status, 1);
    assert.equal(c.stderr, `${expected.join('\n')}\n6 errors\n`);
    const r = cli('run', '--config', file);
    assert.equal(r.status, 1, 'run refuses what check refuses');
    assert.equal(r.stderr, `${expected.join('\n')}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a hostgroup prefix outside networks is a config error at the prefix', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-hgnet-'));
  try {
    mkdirSync(join(dir, 'policies'));
    const file = join(dir, 'bw.yaml');
    writeFileSync(file, 'networks: [203.0.113.0/24, "2001:db8::/32"]\npolicies: policies\n');
    writeFileSync(
      join(dir, 'policies', 'web.yaml'),
      'prefixes:\n  - 203.0.113.0/26\n  - 198.51.100.0/24\n  - 203.0.112.0/23\n  - "2001:db8:1::/48"\n',
    );
    const err = (p: string, line: number) =>
      `${join(dir, 'policies', 'web.yaml')}:${line}:5: prefixes[${line - 2}]: ${p} is outside networks, so it is neither monitored nor mitigated: add it (or a prefix covering it) to networks in ${file}`;
    const c = cli('check', '--config', file);
    assert.equal(c.status, 1);
    // 203.0.112.0/23 only overlaps 203.0.113.0/24: half of it would not be monitored.
    assert.equal(c.stderr, `${err('198.51.100.0/24', 3)}\n${err('203.0.112.0/23', 4)}\n2 errors\n`);
    writeFileSync(file, 'networks: [203.0.112.0/23, 198.51.100.0/24, "2001:db8::/32"]\npolicies: policies\n');
    const ok = cli('check', '--config', file);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^ {2}web: 4 prefixes, parent default/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
