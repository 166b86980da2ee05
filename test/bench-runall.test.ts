/**
 * `npm run bench` (bench/run-all) lists every benchmark in bench/: a new benchmark cannot be
 * left out of the summary. Only the list is checked here; no benchmark runs in `npm test`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BENCHMARKS, HELPERS } from '../bench/run-all.js';

const BENCH_SRC = fileURLToPath(new URL('../../bench/', import.meta.url));
const RUN_ALL = fileURLToPath(new URL('../bench/run-all.js', import.meta.url));

test('run-all covers every benchmark in bench/, and npm run bench points at it', () => {
  const files = readdirSync(BENCH_SRC)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -3))
    .filter((f) => !HELPERS.includes(f))
    .sort();
  const listed = BENCHMARKS.flatMap((b) => (b.script ? [b.script] : [])).sort();
  assert.deepEqual(listed, files);
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.bench, 'node dist/bench/run-all.js');
  assert.doesNotMatch(pkg.scripts.test!, /bench/, 'benchmarks never run in npm test');
});

test('run-all --list names each benchmark and what a skipped one needs, without running any', () => {
  const r = spawnSync(process.execPath, [RUN_ALL, '--list'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  const names = r.stdout.trimEnd().split('\n').map((l) => l.split('\t')[0]);
  assert.deepEqual(names, BENCHMARKS.map((b) => b.name));
  assert.match(r.stdout, /^latency vs FastNetMon \(shared\)\t\(with --shared/m);
  assert.equal(spawnSync(process.execPath, [RUN_ALL, '--bogus'], { encoding: 'utf8' }).status, 2);
});

test('run-all summary figures are read from each benchmark output format', () => {
  const by = (n: string) => BENCHMARKS.find((b) => b.name === n)!;
  assert.equal(
    by('prefix-table').summary('prefix-table IPv4: 10000 prefixes, build 12.0 ms, 186.0 M lookups/s (5.4 ns/lookup, 50% matched)\nprefix-table IPv6: 10000 prefixes, build 20.0 ms, 50.7 M lookups/s (19.7 ns/lookup, 40% matched)\n'),
    'IPv4: 186.0 M lookups/s (5.4 ns/lookup, 50% matched); IPv6: 50.7 M lookups/s (19.7 ns/lookup, 40% matched)',
  );
  assert.equal(
    by('bgp-announce').summary('| speaker | router | a | b |\n|---|---|---|---|\n| breakwater | bird | 0.010 | 0.300 | 125 | 0.2 | 1 |\n'),
    'breakwater -> bird: all held 0.300 s after Established',
  );
  assert.equal(
    by('detection-latency').summary('sflow trial 0: 0.3 s\nsflow: x.pcap, 9 attack packets at 60000 pps vs a 20000 pps threshold: median 0.388 s, min 0.3 s, max 0.4 s, 5/5 banned (goal: median < 0.5 s)\n'),
    'sflow: median 0.388 s, 5/5 banned',
  );
  assert.equal(
    by('flowspec-codec').summary('parseRule (JSON -> model)               57899 rules/s  (17.27 µs/rule)\nencodeRule (model -> NLRI + ECs)       214164 rules/s  (4.67 µs/rule)\n'),
    'parseRule 57899 rules/s; encodeRule 214164 rules/s',
  );
});
