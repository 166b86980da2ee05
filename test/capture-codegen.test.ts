/**
 * Compiled templates (formats/codegen.ts) need code generation from strings. Where the
 * runtime refuses it (node --disallow-code-generation-from-strings), every template takes
 * the generic record path: `breakwater decode --json` prints the same bytes, and nothing is
 * counted as an internal error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const fixtures = new URL('../../test/fixtures/', import.meta.url);

/** NetFlow v9 / IPFIX captures (the formats with templates), shared fixtures and extra exporters. */
const files = [
  ...readdirSync(new URL('flows/', fixtures))
    .filter((f) => /\.(nf9|ipfix)\.pcap$/.test(f))
    .map((f) => `flows/${f}`),
  ...readdirSync(new URL('capture-extra/', fixtures))
    .filter((f) => /(nf9|ipfix|psamp).*\.pcap$/.test(f))
    .map((f) => `capture-extra/${f}`),
];

function decode(file: string, flags: string[]): string {
  return execFileSync(
    process.execPath,
    [...flags, cli, 'decode', fileURLToPath(new URL(file, fixtures)), '--json'],
    {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    },
  );
}

test('template captures are present', () => {
  assert.ok(files.length >= 10, `only ${files.length} captures`);
});

for (const f of files) {
  test(`${f}: decode without code generation prints the same, no internal errors`, () => {
    const plain = decode(f, []);
    const generic = decode(f, ['--disallow-code-generation-from-strings']);
    assert.equal(generic, plain);
    const out = JSON.parse(generic) as { totals: { flows: number }; exporters: { internalErrors: number }[] };
    assert.ok(out.totals.flows > 0, 'records decoded');
    for (const e of out.exporters) assert.equal(e.internalErrors, 0);
  });
}
