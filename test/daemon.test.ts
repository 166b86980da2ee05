/**
 * The README's first command: `breakwater run` on built-in defaults starts its collectors
 * and API on loopback, answers, and stops cleanly on SIGTERM; SIGHUP reloads.
 *
 * The defaults' ports (10007, 6343, 2055, 4739) may be held by a daemon the developer runs
 * while testing, so the run itself binds ephemeral ports: the built-in values are checked as
 * values, and the daemon runs on a config that changes nothing but the ports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultConfig } from '../src/config/index.js';
import { BIN, FIXTURES, replay, tempDir } from './helpers/daemon.js';
import { keepForFailure } from './helpers/quiet-logs.js';

test('built-in defaults: collectors and API on the documented loopback ports, state in ./state', () => {
  const cfg = defaultConfig();
  assert.deepEqual(
    cfg.capture.listeners.map((l) => `${l.type} ${l.address}:${l.port}`),
    ['sflow 127.0.0.1:6343', 'netflow 127.0.0.1:2055', 'ipfix 127.0.0.1:4739'],
  );
  assert.deepEqual([cfg.api.enabled, cfg.api.host, cfg.api.port], [true, '127.0.0.1', 10007]);
  assert.deepEqual(cfg.bgp.peers, []);
  assert.equal(cfg.bgp.listen, undefined, 'no BGP listener without passive peers');
});

test('run on the defaults (ports ephemeral): listens where it says, answers, reloads on SIGHUP, stops on SIGTERM', {
  timeout: 30_000,
}, async () => {
  const cwd = tempDir('defaults');
  // The defaults with every port 0; no state_dir, so it is the default ./state of the cwd.
  writeFileSync(
    join(cwd, 'breakwater.yaml'),
    `capture:\n  listeners:\n${defaultConfig()
      .capture.listeners.map(
        (l) => `    - { name: ${l.name}, type: ${l.type}, address: ${l.address}, port: 0 }\n`,
      )
      .join('')}api: { listen: "127.0.0.1:0" }\n`,
  );
  const p = spawn(process.execPath, [BIN, 'run', '--config', 'breakwater.yaml'], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  keepForFailure('breakwater run (defaults)', () => out);
  const until = Date.now() + 15000;
  while (!/\bready\b/.test(out)) {
    assert.equal(p.exitCode, null, out);
    assert.ok(Date.now() < until, `not ready:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const name of ['sflow', 'netflow', 'ipfix'])
    assert.match(out, new RegExp(`listening for flows on 127\\.0\\.0\\.1:[1-9]\\d* \\(${name}, ${name}\\)`));
  const api = /API listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
  assert.ok(api && Number(api[1]) > 0, out);
  assert.ok(existsSync(join(cwd, 'state')), 'state dir created in ./state');
  const res = await fetch(`http://127.0.0.1:${api[1]}/blackhole`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { success: true, values: [] });
  // An sFlow exporter at 1:100: the sampling-rate metric says 100 (learned from the samples).
  const sflow = /listening for flows on (127\.0\.0\.1:\d+) \(sflow, sflow\)/.exec(out)![1]!;
  await replay(join(FIXTURES, 'flows/syn_flood.sflow.pcap'), sflow, ['--rate', '2000']);
  const metric = /^breakwater_capture_sampling_rate\{exporter="127\.0\.0\.1",protocol="sflow"\} (\d+)$/m;
  let text = '';
  for (
    const until = Date.now() + 5000;
    !metric.test(text) && Date.now() < until;
    await new Promise((r) => setTimeout(r, 100))
  ) {
    text = await (await fetch(`http://127.0.0.1:${api[1]}/metrics`)).text();
  }
  assert.equal(
    metric.exec(text)?.[1],
    '100',
    text
      .split('\n')
      .filter((l) => l.includes('sampling'))
      .join('\n'),
  );
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
  writeFileSync(join(dir, 'breakwater.yaml'), 'networks: [203.0.113.1/24]\nbogus: 1\n');
  const p = spawn(process.execPath, [BIN, 'run', '--config', join(dir, 'breakwater.yaml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => p.on('exit', r));
  assert.notEqual(code, 0);
  assert.match(err, /breakwater\.yaml:1:\d+: .*host bits/);
  assert.match(err, /breakwater\.yaml:2:1: bogus: unknown key/);
  assert.doesNotMatch(err, /\n\s+at /);
});

test('one daemon per state dir: a second one refuses; a stale pid file (kill -9) is taken over', {
  timeout: 30_000,
}, async () => {
  const { startDaemon } = await import('./helpers/daemon.js');
  const { mkdirSync } = await import('node:fs');
  const dir = tempDir('lock');
  const cfg = `capture: { listeners: [] }\napi: { listen: "127.0.0.1:0" }\nstate_dir: ${join(dir, 'state')}\n`;
  const first = await startDaemon(dir, cfg, {});
  try {
    writeFileSync(join(dir, 'second.yaml'), cfg);
    mkdirSync(join(dir, 'policies'), { recursive: true });
    const p = spawn(process.execPath, [BIN, 'run', '--config', join(dir, 'second.yaml')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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
