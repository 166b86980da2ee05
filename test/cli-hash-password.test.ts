/**
 * `breakwater hash-password` on a terminal does not echo the password (issue 12). The
 * terminal is a real pty from util-linux `script` (Debian essential): whatever the pty
 * shows, echo included, comes back on script's stdout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { verifyPassword } from '../src/api/auth.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

function onTerminal(): {
  wait(re: RegExp): Promise<void>;
  type(s: string): void;
  exit: Promise<number | null>;
  shown(): string;
} {
  const cmd = `'${process.execPath}' '${MAIN}' hash-password`;
  const p = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => p.on('exit', (c) => resolve(c)));
  return {
    exit,
    shown: () => out,
    type: (s) => p.stdin.write(s),
    async wait(re) {
      const until = Date.now() + 15_000;
      while (!re.test(out)) {
        assert.ok(Date.now() < until, `timed out waiting for ${re}; terminal shows:\n${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

test('hash-password asks twice on a terminal without showing the password, and prints its hash', {
  timeout: 30_000,
}, async () => {
  const t = onTerminal();
  await t.wait(/Password \(not shown\): /);
  t.type('s3cret horse\u007fe\r'); // Backspace edits: the password is "s3cret horse"
  await t.wait(/Again: /);
  t.type('s3cret horse\r');
  assert.equal(await t.exit, 0, t.shown());
  const out = t.shown();
  assert.doesNotMatch(out, /s3cret/, 'the password is never echoed');
  const hash = /scrypt\$[^\s]+/.exec(out)?.[0];
  assert.ok(hash, out);
  assert.equal(await verifyPassword('s3cret horse', hash), true);
});

test('hash-password on a terminal refuses two different entries', { timeout: 30_000 }, async () => {
  const t = onTerminal();
  await t.wait(/Password \(not shown\): /);
  t.type('one\r');
  await t.wait(/Again: /);
  t.type('two\r');
  assert.equal(await t.exit, 1);
  assert.match(t.shown(), /the two passwords differ/);
  assert.doesNotMatch(t.shown(), /scrypt\$/);
});
