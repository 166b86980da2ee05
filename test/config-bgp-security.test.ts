/**
 * Peer `password` / `ttl_security` in the config: validated, and refused with file:line:col
 * by `check` and `run` where the native addon is missing (simulated with
 * BREAKWATER_DISABLE_NATIVE=1): a session is never run unauthenticated. Where no peer asks
 * for them, the daemon starts and says what is unavailable.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './helpers/daemon.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

function withConfig(
  text: string,
  fn: (file: string, dir: string) => Promise<void> | void,
): Promise<void> | void {
  const dir = mkdtempSync(path.join(tmpdir(), 'bw-bgpsec-'));
  const file = path.join(dir, 'bw.yaml');
  writeFileSync(file, text.replaceAll('STATE', path.join(dir, 'state')));
  const done = () => rmSync(dir, { recursive: true, force: true });
  try {
    const r = fn(file, dir);
    if (r instanceof Promise) return r.finally(done);
    done();
  } catch (e) {
    done();
    throw e;
  }
}

const check = (file: string, env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [MAIN, 'check', '--quiet', '--config', file], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, ...env },
  });

const PEERS = `bgp:
  peers:
    - name: edge1
      address: 127.0.0.116
      remote_as: 65001
      password: "s3cret"
    - name: edge2
      address: 127.0.0.117
      remote_as: 65001
      ttl_security: true
`;

test('check: password and ttl_security accepted with the addon, bad values refused with a position', () =>
  withConfig(PEERS, (file) => {
    const ok = check(file);
    if (ok.status !== 0 && /native addon/.test(ok.stderr) && !process.env.CI) return; // addon not built here
    assert.equal(ok.status, 0, ok.stderr);
    writeFileSync(
      file,
      PEERS.replace('"s3cret"', `"${'x'.repeat(81)}"`).replace('ttl_security: true', 'ttl_security: 1'),
    );
    const bad = check(file);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /bw\.yaml:6:17: .*password is longer than 80 bytes/);
    assert.match(bad.stderr, /bw\.yaml:10:21: .*ttl_security/);
  }));

test('without the addon: check and run refuse a peer with password or ttl_security, naming it and the fix', () =>
  withConfig(
    `${PEERS}api: { listen: "127.0.0.1:0" }\ncapture: { listeners: [] }\nstate_dir: STATE\n`,
    (file) => {
      const env = { BREAKWATER_DISABLE_NATIVE: '1' };
      const r = check(file, env);
      assert.equal(r.status, 1);
      const lines = r.stderr.trimEnd().split('\n');
      assert.match(
        lines[0]!,
        /bw\.yaml:6:17: bgp\.peers\[0\]\.password: password \(TCP MD5\) needs the native addon, which is not available \(disabled by BREAKWATER_DISABLE_NATIVE=1\); build it with `node native\/build\.mjs`/,
      );
      assert.match(lines[1]!, /bw\.yaml:10:21: .*ttl_security \(GTSM\) needs the native addon/);
      const run = spawnSync(process.execPath, [MAIN, 'run', '--config', file], {
        encoding: 'utf8',
        timeout: 20_000,
        env: { ...process.env, ...env },
      });
      assert.notEqual(run.status, 0);
      assert.match(run.stderr + run.stdout, /password \(TCP MD5\) needs the native addon/);
    },
  ));

test('without the addon and no secured peer: the daemon starts and says what is unavailable', {
  timeout: 30_000,
}, async () => {
  const port = await freePort('tcp', '127.0.0.118');
  await withConfig(
    `bgp:\n  listen: { address: 127.0.0.118, port: ${port} }\n  peers: [{ name: plain, address: 127.0.0.119, remote_as: 65001, passive: true }]\napi: { listen: "127.0.0.1:0" }\ncapture: { listeners: [] }\nstate_dir: STATE\n`,
    async (file) => {
      const p = spawn(process.execPath, [MAIN, 'run', '--config', file], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, BREAKWATER_DISABLE_NATIVE: '1' },
      });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (out += d.toString()));
      try {
        const until = Date.now() + 20_000;
        while (!/listening for BGP/.test(out)) {
          assert.equal(p.exitCode, null, out);
          assert.ok(Date.now() < until, out);
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.match(
          out,
          /native addon not loaded \(disabled by BREAKWATER_DISABLE_NATIVE=1\): BGP password \(TCP MD5\) and ttl_security \(GTSM\) are unavailable/,
        );
      } finally {
        await new Promise((r) => {
          p.once('exit', r);
          p.kill('SIGTERM');
        });
      }
    },
  );
});
