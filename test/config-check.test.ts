import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashPassword } from '../src/api/auth.js';
import { haveOpenssl, selfSignedCert } from './helpers/tls.js';

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
  const r = check('--config', `${FIX}pol-loop/breakwater.yaml`);
  assert.equal(r.code, 1);
  const lines = r.err.trimEnd().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /pol-loop\/policies\/a\.yaml:2:9: parent: parent loop a -> b -> a$/);
  assert.match(lines[1]!, /pol-loop\/policies\/self\.yaml:2:9: parent: parent loop self -> self$/);
  assert.equal(lines[2], '2 errors');
  assert.doesNotMatch(r.err, /^\s+at /m);
  assert.equal(r.out, '');
  const bad = check('--config', `${FIX}missing.yaml`);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /missing\.yaml:1:1: cannot read config: no such file\n1 error\n$/);
  assert.equal(check('--bogus').code, 2);
});

test('check and run warn that nothing is detected while networks is empty', { timeout: 30_000 }, async () => {
  const none =
    /networks is empty: no address is monitored, so nothing will be detected, banned or announced until .* lists your prefixes under networks/;
  const dflt = check();
  assert.equal(dflt.code, 0, 'a warning, not an error');
  assert.match(dflt.err, new RegExp(`^warning: ${none.source}\\n$`));
  assert.equal(check('--config', EXAMPLE).err, '', 'no warning when networks is set');
  assert.equal(check('--quiet').err, '');

  const { spawn } = await import('node:child_process');
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const dir = mkdtempSync(path.join(tmpdir(), 'bw-nonet-'));
  writeFileSync(
    path.join(dir, 'bw.yaml'),
    `api: { listen: "127.0.0.1:0" }\ncapture: { listeners: [] }\nstate_dir: ${path.join(dir, 'state')}\n`,
  );
  const p = spawn(process.execPath, [MAIN, 'run', '--config', path.join(dir, 'bw.yaml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  try {
    const until = Date.now() + 20_000;
    while (!none.test(out)) {
      assert.equal(p.exitCode, null, out);
      assert.ok(Date.now() < until, `no warning:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(
      out,
      /warn +\[daemon\] networks is empty: .* until \S*bw\.yaml lists/,
      'names the config to edit',
    );
  } finally {
    await new Promise((r) => {
      p.once('exit', r);
      p.kill('SIGTERM');
    });
    rmSync(dir, { recursive: true, force: true });
  }
});

test('examples/breakwater.service runs as its own user, and its StateDirectory is the example config state_dir', async () => {
  const { readFileSync } = await import('node:fs');
  const { loadConfig } = await import('../src/config/index.js');
  const unit = readFileSync(
    fileURLToPath(new URL('../../examples/breakwater.service', import.meta.url)),
    'utf8',
  );
  const keys = new Map<string, string>();
  for (const line of unit.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) keys.set(m[1]!, m[2]!);
  }
  assert.ok(
    keys.get('DynamicUser') === 'yes' || (keys.has('User') && keys.get('User') !== 'root'),
    'not root',
  );
  const stateDir = keys.get('StateDirectory');
  assert.ok(stateDir, 'StateDirectory= is set');
  assert.equal(loadConfig(EXAMPLE).state_dir, `/var/lib/${stateDir}`);
  assert.match(keys.get('ExecStart') ?? '', / run --config \/etc\/breakwater\/breakwater\.yaml$/);
  assert.equal(keys.get('ConfigurationDirectory'), 'breakwater');
});

/**
 * The production examples (docs/config.md "Production example", README "In production") are
 * what operators copy: each passes `check` as written, with only its placeholders filled in
 * (certificate paths, `breakwater hash-password` hashes, a policies dir).
 */
test('the production examples in docs/config.md and README pass check', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-prod-example-'));
  assert.ok(haveOpenssl(), 'openssl is needed to make the example certificate');
  const tls = selfSignedCert(dir);
  const hash = hashPassword('example', { N: 1024, r: 8, p: 1 });
  mkdirSync(join(dir, 'policies'));
  const block = (file: string, heading: string) => {
    const text = readFileSync(fileURLToPath(new URL(`../../${file}`, import.meta.url)), 'utf8');
    const at = text.indexOf(heading);
    assert.ok(at >= 0, `${file} has "${heading}"`);
    const m = /```yaml\n([\s\S]*?)```/.exec(text.slice(at));
    assert.ok(m, `${file}: a yaml block under "${heading}"`);
    return m[1]!;
  };
  for (const [file, heading] of [
    ['docs/config.md', '## Production example'],
    ['README.md', '### In production'],
  ] as const) {
    const yaml = block(file, heading)
      .replaceAll('/etc/breakwater/api.crt', tls.cert)
      .replaceAll('/etc/breakwater/api.key', tls.key)
      .replaceAll('scrypt$16384$8$1$…', hash)
      .replace(/^state_dir: .*$/m, `state_dir: ${join(dir, 'state')}`);
    assert.match(yaml, /exporters:/);
    assert.match(yaml, /password: "/);
    assert.match(yaml, /tls: \{ cert:/);
    const cfg = join(dir, `${file.replace(/\W/g, '_')}.yaml`);
    writeFileSync(cfg, yaml);
    const r = check('--config', cfg);
    assert.equal(r.code, 0, `${file} ${heading}: ${r.err}`);
    assert.match(r.out, /: OK\n/);
  }
});
