import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigStore, type Config } from '../src/config/index.js';
import { displayPath } from '../src/config/source.js';
import { logger } from '../src/log.js';

logger.silent = true;
const FIX = fileURLToPath(new URL('../../test/fixtures/config/valid/', import.meta.url));

/** A private copy of the valid fixture that the test may edit. */
function workdir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-config-'));
  fs.cpSync(FIX, dir, { recursive: true });
  return dir;
}

function edit(file: string, from: string, to: string): void {
  const text = fs.readFileSync(file, 'utf8');
  assert.ok(text.includes(from), `${file} contains ${from}`);
  fs.writeFileSync(file, text.replace(from, to));
}

test('a good reload swaps the config and tells subscribers', () => {
  const dir = workdir();
  try {
    const store = new ConfigStore(path.join(dir, 'breakwater.yaml'));
    const before = store.current;
    assert.equal(before.mitigation.max_blackholes, 10);
    const seen: [Config, Config][] = [];
    store.subscribe(() => {
      throw new Error('a failing subscriber does not stop the others');
    });
    const off = store.subscribe((next, prev) => seen.push([next, prev]));
    edit(path.join(dir, 'breakwater.yaml'), 'max_blackholes: 10', 'max_blackholes: 20');
    edit(path.join(dir, 'policies/web.yaml'), 'tcp_syn: { pps: 5000 }', 'tcp_syn: { pps: 4000 }');
    const r = store.reload();
    assert.ok(r.ok);
    assert.equal(store.current, r.config);
    assert.equal(store.current.mitigation.max_blackholes, 20);
    const web = store.current.hostgroups.find((g) => g.name === 'web')!;
    assert.equal(web.thresholds.ban.incoming?.tcp_syn?.pps, 4000);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]![0], r.config);
    assert.equal(seen[0]![1], before);
    off();
    assert.ok(store.reload().ok);
    assert.equal(seen.length, 1, 'unsubscribed');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a bad config or policy file is refused with file:line:col and the running config stays', () => {
  const dir = workdir();
  try {
    const file = path.join(dir, 'breakwater.yaml');
    const store = new ConfigStore(file);
    const before = store.current;
    let calls = 0;
    store.subscribe(() => calls++);

    edit(file, 'max_blackholes: 10', 'max_blackholes: -1');
    const r1 = store.reload();
    assert.deepEqual(r1, {
      ok: false,
      errors: [`${displayPath(file)}:25:31: mitigation.max_blackholes: must be >= 0, got -1`],
    });
    assert.equal(store.current, before);
    edit(file, 'max_blackholes: -1', 'max_blackholes: 10');

    edit(path.join(dir, 'policies/web-api.yaml'), 'parent: web', 'parent: webb');
    const r2 = store.reload();
    assert.equal(r2.ok, false);
    assert.deepEqual(!r2.ok && r2.errors, [
      `${displayPath(path.join(dir, 'policies/web-api.yaml'))}:3:9: parent: hostgroup "webb" does not exist (known: default, web-api, web)`,
    ]);
    assert.equal(store.current, before);

    fs.rmSync(file);
    const r3 = store.reload();
    assert.equal(r3.ok, false);
    assert.match(!r3.ok ? r3.errors[0]! : '', /breakwater\.yaml:1:1: cannot read config: no such file$/);
    assert.equal(store.current, before);
    assert.equal(calls, 0, 'subscribers hear only of successful swaps');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('without a file the store holds the built-in defaults', () => {
  const store = new ConfigStore(undefined);
  assert.equal(store.current.file, '<defaults>');
  const r = store.reload();
  assert.ok(r.ok);
  assert.deepEqual(r.config, store.current);
});
