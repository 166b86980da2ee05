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
  const pkg = JSON.parse(
    readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8'),
  ) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.bench, 'node dist/bench/run-all.js');
  assert.doesNotMatch(pkg.scripts.test!, /bench/, 'benchmarks never run in npm test');
});

test('run-all --list names each benchmark and what a skipped one needs, without running any', () => {
  const r = spawnSync(process.execPath, [RUN_ALL, '--list'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  const names = r.stdout
    .trimEnd()
    .split('\n')
    .map((l) => l.split('\t')[0]);
  assert.deepEqual(
    names,
    BENCHMARKS.map((b) => b.name),
  );
  assert.match(r.stdout, /^latency vs FastNetMon \(shared\)\t\(with --shared/m);
  assert.equal(spawnSync(process.execPath, [RUN_ALL, '--bogus'], { encoding: 'utf8' }).status, 2);
});

test('run-all summary figures are read from each benchmark output format', () => {
  const cases: [name: string, output: string, summary: string][] = [
    [
      'prefix-table',
      'prefix-table IPv4: 10000 prefixes, build 12.0 ms, 186.0 M lookups/s (5.4 ns/lookup, 50% matched)\nprefix-table IPv6: 10000 prefixes, build 20.0 ms, 50.7 M lookups/s (19.7 ns/lookup, 40% matched)\n',
      'IPv4: 186.0 M lookups/s (5.4 ns/lookup, 50% matched); IPv6: 50.7 M lookups/s (19.7 ns/lookup, 40% matched)',
    ],
    [
      'bgp-announce',
      '| speaker | router | a | b |\n|---|---|---|---|\n| breakwater | bird | 0.010 | 0.300 | 125 | 0.2 | 1 |\n',
      'breakwater -> bird: all held 0.300 s after Established',
    ],
    [
      'detection-latency',
      'sflow trial 0: 0.3 s\nsflow: x.pcap, 9 attack packets at 60000 pps vs a 20000 pps threshold: median 0.388 s, min 0.3 s, max 0.4 s, 5/5 banned (goal: median < 0.5 s)\n',
      'sflow: median 0.388 s, 5/5 banned',
    ],
    [
      'flowspec-codec',
      'parseRule (JSON -> model)               57899 rules/s  (17.27 µs/rule)\nencodeRule (model -> NLRI + ECs)       214164 rules/s  (4.67 µs/rule)\n',
      'parseRule 57899 rules/s; encodeRule 214164 rules/s',
    ],
    [
      'capture-filter',
      'flow filters, 10 rules, one core, 1 s per case (goal < 5 ns per record)\n  no rule matches (all 10 evaluated): 3.10 ns/record (refill + filter 5.00 ns, refill alone 1.90 ns)\n  detector onFlow, 65,536 IPv4 hosts, no filters            : 20.1 M records/s (49.75 ns/record, median 0.1 s segment)\n',
      'no rule matches (all 10 evaluated): 3.10 ns/record; no filters : 20.1 M records/s',
    ],
    [
      'detection-memory',
      '  bytes per active host by layout: 2398 B (goal <= 600 B); hot sample buffer: 20112 B per hot host\nwhole daemon:\n  RSS slope over 65536 hosts: 2900 B per active host\n',
      'bytes per active host by layout: 2398 B (goal <= 600 B); RSS slope over 65536 hosts: 2900 B per active host',
    ],
    [
      'export-push',
      'export push, 65536 active hosts, top_hosts 20 (median of 50 pushes)\n  snapshot 1.00 ms + graphite text 0.50 ms + influx text 0.50 ms = 2.00 ms per push (900 lines)\n  at the default 1 s interval: 0.20 % of one core with both targets on\n',
      'snapshot 1.00 ms + graphite text 0.50 ms + influx text 0.50 ms = 2.00 ms per push (900 lines); at the default 1 s interval: 0.20 % of one core with both targets on',
    ],
  ];
  for (const [name, output, summary] of cases)
    assert.equal(BENCHMARKS.find((b) => b.name === name)!.summary(output), summary, name);
});
