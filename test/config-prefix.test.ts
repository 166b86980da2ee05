import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePrefix, PrefixTable } from '../src/config/index.js';
import { parseV4, parseV6, prefixContains, type Prefix } from '../src/wire/addr.js';
import { rng as mulberry32 } from '../src/demo/traffic.js';

const v6 = (s: string) => parseV6(s)!;

test('IPv4: the most specific prefix wins, /0 and /32 included', () => {
  const t = new PrefixTable<string>(
    [
      '0.0.0.0/0',
      '10.0.0.0/8',
      '10.1.0.0/16',
      '10.1.2.0/24',
      '10.1.2.128/25',
      '10.1.2.130/32',
      '10.1.3.0/31',
      '10.128.0.0/9',
    ].map((p) => [parsePrefix(p), p] as const),
  );
  const at = (a: string) => t.lookup4(parseV4(a));
  assert.equal(at('192.0.2.1'), '0.0.0.0/0');
  assert.equal(at('10.200.0.1'), '10.128.0.0/9');
  assert.equal(at('10.2.0.1'), '10.0.0.0/8');
  assert.equal(at('10.1.9.9'), '10.1.0.0/16');
  assert.equal(at('10.1.2.1'), '10.1.2.0/24');
  assert.equal(at('10.1.2.129'), '10.1.2.128/25');
  assert.equal(at('10.1.2.130'), '10.1.2.130/32');
  assert.equal(at('10.1.2.131'), '10.1.2.128/25');
  assert.equal(at('10.1.3.1'), '10.1.3.0/31');
  assert.equal(at('10.1.3.2'), '10.1.0.0/16');
  assert.equal(at('10.255.255.255'), '10.128.0.0/9');
  const none = new PrefixTable<number>([[parsePrefix('198.51.100.0/24'), 1]]);
  assert.equal(none.lookup4(parseV4('198.51.101.0')), undefined);
  assert.equal(none.lookup4(parseV4('198.51.99.255')), undefined);
  assert.equal(none.index4(parseV4('198.51.100.255')), 0);
});

test('IPv6: the most specific prefix wins, at a byte offset, /0 and /128 included', () => {
  const t = new PrefixTable<string>(
    [
      '2001:db8::/32',
      '2001:db8:1::/48',
      '2001:db8:1::/64',
      '2001:db8:1:0:8000::/65',
      '2001:db8:1::1/128',
      '2001:db9::/32',
      'ffff::/16',
    ].map((p) => [parsePrefix(p), p] as const),
  );
  const at = (a: string) => t.lookup6(v6(a));
  assert.equal(at('2001:db8::1'), '2001:db8::/32');
  assert.equal(at('2001:db8:1:1::1'), '2001:db8:1::/48');
  assert.equal(at('2001:db8:1::2'), '2001:db8:1::/64');
  assert.equal(at('2001:db8:1::1'), '2001:db8:1::1/128');
  assert.equal(at('2001:db8:1:0:8000::5'), '2001:db8:1:0:8000::/65');
  assert.equal(at('2001:db8:1:0:ffff:ffff:ffff:ffff'), '2001:db8:1:0:8000::/65');
  assert.equal(at('2001:db8:1:1::'), '2001:db8:1::/48');
  assert.equal(at('2001:db8:ffff:ffff:ffff:ffff:ffff:ffff'), '2001:db8::/32');
  assert.equal(at('2001:db9::'), '2001:db9::/32');
  assert.equal(at('2001:dba::'), undefined);
  assert.equal(at('2001:db7:ffff::'), undefined);
  assert.equal(at('::'), undefined);
  assert.equal(at('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), 'ffff::/16');
  // Offset into a larger buffer, as capture decoders pass it.
  const buf = new Uint8Array(40);
  buf.set(v6('2001:db8:1::1'), 20);
  assert.equal(t.lookup6(buf, 20), '2001:db8:1::1/128');
  const all = new PrefixTable<string>([
    [parsePrefix('::/0'), 'all'],
    [parsePrefix('::1/128'), 'lo'],
  ]);
  assert.equal(all.lookup6(v6('::1')), 'lo');
  assert.equal(all.lookup6(v6('::2')), 'all');
  assert.equal(all.lookup6(v6('::')), 'all');
});

test('the same prefix given twice: the later value wins', () => {
  const t = new PrefixTable<string>([
    [parsePrefix('10.0.0.0/8'), 'first'],
    [parsePrefix('2001:db8::/32'), 'first6'],
    [parsePrefix('10.0.0.0/8'), 'second'],
    [parsePrefix('2001:db8::/32'), 'second6'],
  ]);
  assert.equal(t.lookup4(parseV4('10.9.9.9')), 'second');
  assert.equal(t.lookup6(v6('2001:db8::9')), 'second6');
  assert.equal(t.size, 2);
});

/** Reference LPM: scan every prefix. */
function naive(ps: Prefix[], addr: Uint8Array): number {
  let best = -1;
  ps.forEach((p, i) => {
    if (
      p.family === (addr.length === 4 ? 4 : 6) &&
      prefixContains(p, addr) &&
      (best < 0 || p.len >= ps[best]!.len)
    )
      best = i;
  });
  return best;
}

test('random tables agree with a linear scan (IPv4 and IPv6, nested and clustered prefixes)', () => {
  const rnd = mulberry32(42);
  const byte = () => Math.floor(rnd() * 256);
  for (let round = 0; round < 4; round++) {
    const ps: Prefix[] = [];
    const seen = new Set<string>();
    while (ps.length < 600) {
      const fam: 4 | 6 = rnd() < 0.5 ? 4 : 6;
      // Clustered: few distinct leading bytes so prefixes nest and neighbour each other.
      const bytes = new Uint8Array(fam === 4 ? 4 : 16).map((_, i) =>
        i < 2 ? [10, 32, 1, 13][Math.floor(rnd() * 4)]! : byte(),
      );
      const len = Math.floor(rnd() * (fam === 4 ? 33 : 129));
      const p = parsePrefixFromBytes(fam, bytes, len);
      const key = `${p.family}|${p.len}|${p.bytes.join('.')}`;
      if (seen.has(key)) continue;
      seen.add(key);
      ps.push(p);
    }
    const t = new PrefixTable(ps.map((p, i) => [p, i] as const));
    for (let k = 0; k < 3000; k++) {
      // Probe inside a random prefix (so matches are frequent) or at random.
      const base = ps[Math.floor(rnd() * ps.length)]!;
      const a = new Uint8Array(base.bytes);
      for (let i = Math.floor(base.len / 8); i < a.length; i++) if (rnd() < 0.7) a[i] = byte();
      const want = naive(ps, a);
      const got =
        a.length === 4 ? t.index4(((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0) : t.index6(a);
      assert.equal(got, want, `round ${round} address ${[...a].join('.')}`);
    }
  }
});

function parsePrefixFromBytes(family: 4 | 6, bytes: Uint8Array, len: number): Prefix {
  const out = new Uint8Array(bytes.length);
  for (let bit = 0; bit < len; bit++)
    if (bytes[bit >> 3]! & (0x80 >> (bit & 7))) out[bit >> 3]! |= 0x80 >> (bit & 7);
  return { family, bytes: out, len };
}
