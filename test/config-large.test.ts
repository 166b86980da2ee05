/**
 * Large configs (100k static routes) take source.ts's fast path (js-yaml, the positioned
 * Document built only when a position is needed): the same data as the positioned parse, and
 * errors still located at file:line:col.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../src/config/index.js';
import { YamlSource } from '../src/config/source.js';

function big(n: number, bad?: { at: number; text: string }): string {
  const lines = [
    'networks: [10.0.0.0/8]',
    'bgp:',
    '  local_as: 65100',
    '  router_id: 192.0.2.9',
    '  static_routes:',
  ];
  for (let i = 0; i < n; i++) {
    const host = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    lines.push(
      bad && bad.at === i
        ? bad.text
        : `    - { prefix: ${host}/32, next_hop: 192.0.2.1, communities: ['65535:666', blackhole] }`,
    );
  }
  return `${lines.join('\n')}\n`;
}

test('a large config parses to the same data on the fast path as on the positioned path', () => {
  const text = `${big(5_000)}dry_run: true\ndetection: { tick: 100ms, samples_per_host: 0x10 }\n`;
  assert.ok(text.length > 256 * 1024, 'the file is large enough for the fast path');
  const fast = YamlSource.parse('<big>', text);
  // The same text behind a comment holding an anchor-like token takes the positioned parse.
  const slow = YamlSource.parse('<big>', `${text}# &anchor\n`);
  assert.ok(fast.ok && slow.ok);
  assert.deepEqual(fast.src.data, slow.src.data);
  const c = parseConfig('<big>', text);
  assert.equal(c.bgp.static_routes.length, 5_000);
  assert.equal(c.bgp.static_routes[4_999]!.prefix_text, '10.0.19.135/32');
});

test('an error in a large config is located at file:line:col', () => {
  const text = big(5_000, { at: 4_321, text: '    - { prefix: 10.0.16.225/32, next_hop: 192.0.2.300 }' });
  assert.throws(
    () => parseConfig('big.yaml', text),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.errors.length === 1 &&
      /^big\.yaml:4327:\d+: bgp\.static_routes\[4321\]\.next_hop: /.test(e.errors[0]!),
  );
  const dup = big(5_000, {
    at: 10,
    text: '    - { prefix: 10.0.0.10/32, prefix: 10.0.0.11/32, next_hop: 192.0.2.1 }',
  });
  assert.throws(
    () => parseConfig('big.yaml', dup),
    (e: unknown) => e instanceof ConfigError && /^big\.yaml:16:\d+: .*already set/.test(e.errors[0]!),
  );
});

test('anchors and aliases in a large config go through the positioned parse and its alias limit', () => {
  const text = `${big(5_000)}whitelist: &w [10.255.0.0/16]\n`;
  const c = parseConfig('<big>', text);
  assert.equal(c.whitelist.length, 1);
});
