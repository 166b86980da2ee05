import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reader, Writer, WireError, parseV6, v6ToString, parseV4, v4ToString } from '../src/wire/index.js';

test('reader refuses to read past its end and sub-cursors are bounded', () => {
  const r = new Reader(new Uint8Array([0, 3, 1, 2, 3, 9]));
  const len = r.u16();
  const sub = r.sub(len);
  assert.equal(sub.u8(), 1);
  assert.equal(sub.u16(), 0x0203);
  assert.throws(() => sub.u8(), WireError);
  assert.equal(r.u8(), 9);
  assert.throws(() => r.u32(), WireError);
});

test('writer fills placeholders and grows', () => {
  const w = new Writer(2);
  const at = w.placeholder(2);
  w.u32(0xdeadbeef).u8(7).uint(0x010203, 3);
  w.fillLength(at, 2);
  assert.deepEqual([...w.finish()], [0, 8, 0xde, 0xad, 0xbe, 0xef, 7, 1, 2, 3]);
  const big = new Writer(1);
  assert.throws(() => {
    const p = big.placeholder(1);
    big.zeros(300);
    big.fillLength(p, 1);
  }, RangeError);
});

test('u64 reads exact doubles', () => {
  const w = new Writer();
  w.u64(2n ** 40n + 5n);
  assert.equal(new Reader(w.finish()).u64(), 2 ** 40 + 5);
});

test('IPv6 text is RFC 5952 canonical', () => {
  const cases: [string, string][] = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::', '::'],
    ['::1', '::1'],
    ['100::1', '100::1'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
  ];
  for (const [input, want] of cases) assert.equal(v6ToString(parseV6(input)!), want, input);
  assert.equal(parseV6('1::2::3'), null);
  assert.equal(parseV6('12345::'), null);
  assert.equal(parseV4('1.2.3.256'), -1);
  assert.equal(parseV4('01.2.3.4'), -1);
  assert.equal(v4ToString(parseV4('203.0.113.10')), '203.0.113.10');
});
