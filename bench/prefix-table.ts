/**
 * Longest-prefix-match throughput: 10k random prefixes per family, random addresses
 * (half drawn inside the table's prefixes so lookups exercise the deep levels, half
 * uniformly random). Prints build time and lookups/s for IPv4 and IPv6.
 * Run: node dist/bench/prefix-table.js
 */
import { PrefixTable } from '../src/config/prefix-table.js';
import type { Prefix } from '../src/wire/addr.js';

let seed = 12345;
function rnd(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const byte = () => Math.floor(rnd() * 256);

function masked(family: 4 | 6, bytes: Uint8Array, len: number): Prefix {
  const out = new Uint8Array(bytes.length);
  for (let bit = 0; bit < len; bit++)
    if (bytes[bit >> 3]! & (0x80 >> (bit & 7))) out[bit >> 3]! |= 0x80 >> (bit & 7);
  return { family, bytes: out, len };
}

const N = 10_000;
const PROBES = 1 << 16;
const ROUNDS = 60;

function bench(family: 4 | 6): void {
  const size = family === 4 ? 4 : 16;
  const prefixes: Prefix[] = [];
  for (let i = 0; i < N; i++) {
    const b = new Uint8Array(size).map(byte);
    // Realistic spread: IPv4 /8../32 weighted to /16-/24 and /32 hosts; IPv6 /20../64 and /128.
    const len =
      family === 4
        ? [8, 12, 16, 19, 20, 22, 23, 24, 24, 24, 26, 28, 32, 32][Math.floor(rnd() * 14)]!
        : [20, 29, 32, 32, 40, 44, 48, 48, 48, 56, 64, 64, 128][Math.floor(rnd() * 13)]!;
    prefixes.push(masked(family, b, len));
  }
  let t0 = process.hrtime.bigint();
  const table = new PrefixTable(prefixes.map((p, i) => [p, i] as const));
  const buildMs = Number(process.hrtime.bigint() - t0) / 1e6;

  const addrs4 = new Uint32Array(PROBES);
  const addrs6 = new Uint8Array(PROBES * 16);
  for (let i = 0; i < PROBES; i++) {
    const a = new Uint8Array(size).map(byte);
    if (i & 1) {
      const p = prefixes[Math.floor(rnd() * N)]!;
      for (let k = 0; k < p.len >> 3; k++) a[k] = p.bytes[k]!;
    }
    if (family === 4) addrs4[i] = ((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0;
    else addrs6.set(a, i * 16);
  }
  let hits = 0;
  const run = () => {
    if (family === 4) for (let i = 0; i < PROBES; i++) hits += table.index4(addrs4[i]!) >= 0 ? 1 : 0;
    else for (let i = 0; i < PROBES; i++) hits += table.index6(addrs6, i * 16) >= 0 ? 1 : 0;
  };
  for (let r = 0; r < 10; r++) run(); // warm-up
  hits = 0;
  t0 = process.hrtime.bigint();
  for (let r = 0; r < ROUNDS; r++) run();
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const rate = (PROBES * ROUNDS) / secs;
  console.log(
    `prefix-table IPv${family}: ${N} prefixes, build ${buildMs.toFixed(1)} ms, ` +
      `${(rate / 1e6).toFixed(1)} M lookups/s (${(1e9 / rate).toFixed(1)} ns/lookup, ${((100 * hits) / (PROBES * ROUNDS)).toFixed(0)}% matched)`,
  );
}

bench(4);
bench(6);
