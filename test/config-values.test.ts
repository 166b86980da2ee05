import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatDuration,
  formatExtendedCommunity,
  parseAsn,
  parseCommunity,
  parseDuration,
  parseExtendedCommunity,
  parseHostPort,
  parseLargeCommunity,
  parsePrefix,
  parseRouterId,
  ValueError,
} from '../src/config/index.js';
import { prefixToString } from '../src/wire/addr.js';

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');

test('durations: units, combinations, bare numbers are seconds', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('10s'), 10_000);
  assert.equal(parseDuration('30m'), 1_800_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('1d'), 86_400_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration(90), 90_000);
  assert.equal(parseDuration(0.25), 250);
  assert.equal(parseDuration('45'), 45_000);
  for (const bad of ['', '10x', 'm', '1h 30m', '-5s', '5 s']) {
    assert.throws(() => parseDuration(bad), ValueError, bad);
  }
  assert.throws(() => parseDuration(-1), /non-negative/);
  for (const ms of [500, 10_000, 1_800_000, 5_400_000, 1500])
    assert.equal(parseDuration(formatDuration(ms)), ms);
});

test('standard communities: a:b 16 bits each, well-known names, 32-bit numbers', () => {
  assert.equal(parseCommunity('65535:666'), 0xffff029a);
  assert.equal(parseCommunity('blackhole'), 0xffff029a);
  assert.equal(parseCommunity('no-export'), 0xffffff01);
  assert.equal(parseCommunity('NO_ADVERTISE'), 0xffffff02);
  assert.equal(parseCommunity('no-export-subconfed'), 0xffffff03);
  assert.equal(parseCommunity('graceful-shutdown'), 0xffff0000);
  assert.equal(parseCommunity('0:0'), 0);
  assert.equal(parseCommunity('65001:100'), 65001 * 65536 + 100);
  assert.equal(parseCommunity(4294967295), 0xffffffff);
  for (const bad of ['65536:1', '1:65536', '1:2:3', 'blackholes', '-1:5', '', '4294967296']) {
    assert.throws(() => parseCommunity(bad), ValueError, bad);
  }
});

test('large communities: a:b:c, 32 bits each', () => {
  assert.deepEqual(parseLargeCommunity('4294967295:0:1'), [4294967295, 0, 1]);
  for (const bad of ['1:2', '1:2:4294967296', 'a:b:c', '1:2:3:4'])
    assert.throws(() => parseLargeCommunity(bad), ValueError, bad);
});

test('extended communities: RFC 4360 / 5668 route targets, RFC 8955 actions, raw; canonical text round-trips', () => {
  const cases: [string, string, string][] = [
    ['rt:65000:100', '0002fde800000064', 'rt:65000:100'],
    ['target:65000:100', '0002fde800000064', 'rt:65000:100'],
    ['rt:4200000000:7', '0202fa56ea000007', 'rt:4200000000:7'],
    ['rt:192.0.2.1:5', '0102c000020100' + '05', 'rt:192.0.2.1:5'],
    ['soo:65000:1', '0003fde800000001', 'ro:65000:1'],
    ['redirect:65000:666', '8008fde80000029a', 'redirect:65000:666'],
    ['traffic-rate:0:0', '8006000000000000', 'traffic-rate:0:0'],
    ['traffic-rate:65000:125000', '8006fde847f42400', 'traffic-rate:65000:125000'],
    ['traffic-marking:46', '800900000000002e', 'traffic-marking:46'],
    ['0x0002FDE800000064', '0002fde800000064', 'rt:65000:100'],
    ['0x4300000000000001', '4300000000000001', '0x4300000000000001'],
  ];
  for (const [text, bytes, canon] of cases) {
    const b = parseExtendedCommunity(text);
    assert.equal(hex(b), bytes, text);
    assert.equal(formatExtendedCommunity(b), canon, text);
    assert.equal(hex(parseExtendedCommunity(canon)), bytes, canon);
  }
  for (const bad of [
    'rt:65000',
    'xx:1:2',
    'rt:4200000000:70000',
    'rt:192.0.2.1:70000',
    'traffic-marking:64',
    '0x12',
    'rt:65000:4294967296',
  ]) {
    assert.throws(() => parseExtendedCommunity(bad), ValueError, bad);
  }
});

test('prefixes: canonical form, bare addresses are host routes, host bits refused', () => {
  assert.equal(prefixToString(parsePrefix('2001:DB8:0:0::/32')), '2001:db8::/32');
  assert.equal(prefixToString(parsePrefix('192.0.2.7')), '192.0.2.7/32');
  assert.equal(prefixToString(parsePrefix('::1')), '::1/128');
  assert.equal(prefixToString(parsePrefix('0.0.0.0/0')), '0.0.0.0/0');
  assert.throws(
    () => parsePrefix('192.0.2.1/24'),
    /prefix 192\.0\.2\.1\/24 has host bits set \(did you mean 192\.0\.2\.0\/24\?\)/,
  );
  assert.throws(() => parsePrefix('2001:db8::1/64'), /did you mean 2001:db8::\/64\?/);
  for (const bad of ['192.0.2.0/33', '192.0.2.0/', '192.0.2.0/08', '2001:db8::/129', '300.0.0.0/8', 'x/8']) {
    assert.throws(() => parsePrefix(bad), ValueError, bad);
  }
});

test('AS numbers, router ids and host:port', () => {
  assert.equal(parseAsn(65000), 65000);
  assert.equal(parseAsn('4200000000'), 4200000000);
  assert.equal(parseAsn('1.10'), 65546);
  assert.throws(() => parseAsn(0), ValueError);
  assert.throws(() => parseAsn(23456), /AS_TRANS/);
  assert.throws(() => parseAsn(1.1), /quote asdot/);
  assert.throws(() => parseAsn(4294967296), ValueError);
  assert.equal(parseRouterId('192.0.2.1'), '192.0.2.1');
  assert.throws(() => parseRouterId('0.0.0.0'), /non-zero/);
  assert.throws(() => parseRouterId('::1'), ValueError);
  assert.deepEqual(parseHostPort('127.0.0.1:10007'), { host: '127.0.0.1', port: 10007 });
  assert.deepEqual(parseHostPort('[::1]:80'), { host: '::1', port: 80 });
  for (const bad of ['127.0.0.1', '::1:80', '127.0.0.1:65536', 'host:80'])
    assert.throws(() => parseHostPort(bad), ValueError, bad);
});
