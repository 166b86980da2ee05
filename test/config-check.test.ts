import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const FIX = fileURLToPath(new URL('../../test/fixtures/config/', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../examples/breakwater.yaml', import.meta.url));

function check(...args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, 'check', ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('breakwater check accepts the example and prints a summary', () => {
  const r = check('--config', EXAMPLE);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /: OK\n/);
  assert.match(r.out, /^networks: 3 \(203\.0\.113\.0\/24, 198\.51\.100\.0\/24, 2001:db8::\/32\)$/m);
  assert.match(r.out, /^hostgroups: 2 from /m);
  assert.match(r.out, /^ {2}web: 2 prefixes, parent default /m);
  assert.match(r.out, /^bgp: AS 65010, router-id 192\.0\.2\.254, 1 peer\(s\), 1 static route\(s\)/m);
  assert.equal(r.err, '');
});

test('breakwater check without --config checks the built-in defaults', () => {
  const r = check();
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^config <defaults>: OK$/m);
  assert.match(r.out, /^hostgroups: 1 \(built-in default only\)$/m);
});

test('breakwater check prints each error as file:line:col: message and exits 1, without a stack', () => {
  const r = check('--config', FIX + 'pol-loop/breakwater.yaml');
  assert.equal(r.code, 1);
  const lines = r.err.trimEnd().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /pol-loop\/policies\/a\.yaml:2:9: parent: parent loop a -> b -> a$/);
  assert.match(lines[1]!, /pol-loop\/policies\/self\.yaml:2:9: parent: parent loop self -> self$/);
  assert.equal(lines[2], '2 errors');
  assert.doesNotMatch(r.err, /^\s+at /m);
  assert.equal(r.out, '');
  const bad = check('--config', FIX + 'missing.yaml');
  assert.equal(bad.code, 1);
  assert.match(bad.err, /missing\.yaml:1:1: cannot read config: no such file\n1 error\n$/);
  assert.equal(check('--bogus').code, 2);
});
