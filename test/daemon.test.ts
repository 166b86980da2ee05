/**
 * The README's first command: `breakwater run` on built-in defaults starts its collectors
 * and API on loopback, answers, and stops cleanly on SIGTERM; SIGHUP reloads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, tempDir } from './helpers/daemon.js';

test('run on built-in defaults: listens on the documented ports, stops on SIGTERM', { timeout: 30_000 }, async () => {
  const cwd = tempDir('defaults');
  const p = spawn(process.execPath, [BIN, 'run'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const until = Date.now() + 15000;
  while (!/\bready\b/.test(out)) {
    assert.equal(p.exitCode, null, out);
    assert.ok(Date.now() < until, `not ready:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const where of ['127.0.0.1:6343', '127.0.0.1:2055', '127.0.0.1:4739', '127.0.0.1:10007']) assert.match(out, new RegExp(where.replace(/\./g, '\\.')));
  assert.ok(existsSync(join(cwd, 'state')), 'state dir created in ./state');
  const res = await fetch('http://127.0.0.1:10007/blackhole');
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { success: true, values: [] });
  p.kill('SIGHUP');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(p.exitCode, null, 'SIGHUP reloads, it does not stop');
  const code = await new Promise<number | null>((resolve) => {
    p.once('exit', (c) => resolve(c));
    p.kill('SIGTERM');
  });
  assert.equal(code, 0, out);
  assert.match(out, /stopped/);
});

test('run with a bad config prints file:line:col and exits non-zero without a stack', async () => {
  const dir = tempDir('badcfg');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(dir, 'breakwater.yaml'), 'networks: [203.0.113.1/24]\nbogus: 1\n');
  const p = spawn(process.execPath, [BIN, 'run', '--config', join(dir, 'breakwater.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => p.on('exit', r));
  assert.notEqual(code, 0);
  assert.match(err, /breakwater\.yaml:1:\d+: .*host bits/);
  assert.match(err, /breakwater\.yaml:2:1: bogus: unknown key/);
  assert.doesNotMatch(err, /\n\s+at /);
});

test('one daemon per state dir: a second one refuses; a stale pid file (kill -9) is taken over', { timeout: 30_000 }, async () => {
  const { startDaemon } = await import('./helpers/daemon.js');
  const { writeFileSync, mkdirSync } = await import('node:fs');
  const dir = tempDir('lock');
  const cfg = (port: number) => `capture: { listeners: [] }\napi: { listen: "127.0.0.1:${port}" }\nstate_dir: ${join(dir, 'state')}\n`;
  const first = await startDaemon(dir, cfg(11981), {}, 11981);
  try {
    writeFileSync(join(dir, 'second.yaml'), cfg(11982));
    mkdirSync(join(dir, 'policies'), { recursive: true });
    const p = spawn(process.execPath, [BIN, 'run', '--config', join(dir, 'second.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => p.on('exit', r));
    assert.notEqual(code, 0);
    assert.match(out, /state dir .* is in use by another breakwater \(pid \d+\)/);
    await first.kill('SIGKILL');
    await first.restart();
    assert.match(first.output(), /taking over .*breakwater\.pid/);
  } finally {
    await first.kill();
  }
});
