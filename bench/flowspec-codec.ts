/**
 * FlowSpec codec throughput: parse + encode + decode of the ExaBGP fixture rule set.
 * Run: node dist/bench/flowspec-codec.js
 */
import { readFileSync } from 'node:fs';
import { parseRule, encodeRule, decodeRule, type FlowspecRule } from '../src/flowspec/index.js';

const doc = JSON.parse(
  readFileSync(new URL('../../test/fixtures/flowspec/exabgp-rules.json', import.meta.url), 'utf8'),
) as {
  rules: Record<string, Record<string, unknown>>;
};
const jsons = Object.values(doc.rules).map(({ strict: _s, ...j }) => j);
const rules: FlowspecRule[] = jsons.map((j) => {
  const r = parseRule(j, { strict: false });
  if (!r.ok) throw new Error(r.error);
  return r.rule;
});
const encoded = rules.map((r) => encodeRule(r));

function bench(name: string, n: number, fn: () => void): void {
  for (let i = 0; i < Math.min(n, 2000); i++) fn(); // warm-up
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  const ns = Number(process.hrtime.bigint() - t);
  console.log(
    `${name.padEnd(34)} ${((n * jsons.length) / (ns / 1e9)).toFixed(0).padStart(10)} rules/s  (${(ns / n / jsons.length / 1000).toFixed(2)} µs/rule)`,
  );
}

const N = 4000;
bench('parseRule (JSON -> model)', N, () => {
  for (const j of jsons) parseRule(j, { strict: false });
});
bench('encodeRule (model -> NLRI + ECs)', N, () => {
  for (const r of rules) encodeRule(r);
});
bench('decodeRule (NLRI + ECs -> model)', N, () => {
  rules.forEach((r, i) => {
    const e = encoded[i]!;
    decodeRule(e.nlri, r.family, e.extendedCommunities, e.ipv6ExtendedCommunities, e.nextHop);
  });
});
