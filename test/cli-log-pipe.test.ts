/**
 * Issue 12, defect 2: a closed log pipe (`breakwater run | head -2`, `tee` stopped by
 * Ctrl-C) must not make the daemon spin on EPIPE: it keeps serving, counts what it could
 * not log, and stops on SIGTERM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { BIN, tempDir } from './helpers/daemon.js';
import { guardStream, logDropped, safeWrite } from '../src/log.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a log stream that fails with EPIPE is dropped and counted, never thrown', async () => {
  let writes = 0;
  const failing = new Writable({
    write(_chunk, _enc, done) {
      writes++;
      done(Object.assign(new Error('write EPIPE'), { code: 'EPIPE', syscall: 'write' }));
    },
  });
  guardStream(failing);
  const before = logDropped();
  let uncaught = 0;
  const onUncaught = () => uncaught++;
  process.on('uncaughtException', onUncaught);
  try {
    assert.equal(safeWrite(failing, 'first\n'), true);
    await sleep(20);
    for (let i = 0; i < 100; i++) assert.equal(safeWrite(failing, `line ${i}\n`), false);
    await sleep(20);
  } finally {
    process.off('uncaughtException', onUncaught);
  }
  assert.equal(writes, 1, 'nothing is written to a stream once it failed');
  assert.equal(logDropped() - before, 101);
  assert.equal(uncaught, 0);
});

test('breakwater run keeps serving and stops on SIGTERM after its stdout/stderr pipe is closed', async () => {
  const dir = tempDir('logpipe');
  writeFileSync(
    join(dir, 'breakwater.yaml'),
    [
      'networks: [203.0.113.0/24]',
      'capture:',
      '  listeners: [{ name: c, type: auto, address: 127.0.0.1, port: 0 }]',
      'api: { listen: "127.0.0.1:0" }',
      `state_dir: ${join(dir, 'state')}`,
      'logging: { level: debug }',
      '',
    ].join('\n'),
  );
  const p = spawn(process.execPath, [BIN, 'run', '--config', join(dir, 'breakwater.yaml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    let out = '';
    p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const until = Date.now() + 20_000;
    while (!/\bready\b/.test(out)) {
      assert.equal(p.exitCode, null, `daemon exited:\n${out}`);
      assert.ok(Date.now() < until, `daemon not ready:\n${out}`);
      await sleep(50);
    }
    const port = Number(/API listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
    assert.ok(port > 0, out);
    // `| head -2`: the reader goes away; every later write gets EPIPE.
    p.stdout!.destroy();
    p.stderr!.destroy();
    // Make it log: each SIGHUP reload writes lines to the closed pipe.
    for (let i = 0; i < 5; i++) {
      p.kill('SIGHUP');
      await sleep(100);
    }
    await sleep(500);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 200);
    const text = await res.text();
    const dropped = Number(/^breakwater_log_dropped_total (\d+)$/m.exec(text)?.[1]);
    assert.ok(dropped >= 5, `log lines written to the closed pipe are counted (got ${dropped})`);
    const rss = Number(/^process_resident_memory_bytes (\d+)$/m.exec(text)?.[1]);
    assert.ok(rss < 400e6, `memory stays bounded (rss ${rss})`);
    const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
    p.kill('SIGTERM');
    const code = await Promise.race([exited, sleep(5000).then(() => 'timeout' as const)]);
    assert.equal(code, 0, 'exits cleanly on SIGTERM within 5 s');
  } finally {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
