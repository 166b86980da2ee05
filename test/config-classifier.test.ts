/**
 * The one policy lookup (config/classifier.ts): kind and hostgroup of an address, hostgroup
 * of a prefix, hostgroup by name; one shared Classifier per config.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import {
  Classifier,
  classifierOf,
  loadConfig,
  parsePrefix,
  type Hostgroup,
  type PolicyInput,
} from '../src/config/index.js';
import { parseV4, parseV6, prefixContains, prefixToString, type Prefix } from '../src/wire/addr.js';
import { rng as mulberry32 } from '../src/demo/traffic.js';

const v6 = (s: string) => parseV6(s)!;
/** An IPv6 address as the four words detection passes. */
const words = (b: Uint8Array): [number, number, number, number] => {
  const dv = new DataView(b.buffer, b.byteOffset, 16);
  return [dv.getUint32(0), dv.getUint32(4), dv.getUint32(8), dv.getUint32(12)];
};
const FIXTURE = fileURLToPath(new URL('../../test/fixtures/config/valid/breakwater.yaml', import.meta.url));

test('Classifier: hostgroup by most specific prefix, default for the rest of networks, whitelist', () => {
  const c = loadConfig(FIXTURE);
  const hc = new Classifier(c);
  const idx = (n: string) => c.hostgroups.findIndex((g: Hostgroup) => g.name === n);
  const g4 = (a: string) => hc.group4(parseV4(a));
  const g6 = (a: string) => hc.group6(...words(v6(a)));
  assert.equal(g4('203.0.113.5'), idx('web-api'), '/28 inside web-api');
  assert.equal(g4('203.0.113.16'), idx('web-api'), '/32 of web-api');
  assert.equal(g4('203.0.113.17'), idx('web'), '/26 of web');
  assert.equal(g4('203.0.113.100'), idx('default'), 'in networks, no hostgroup');
  assert.equal(g4('198.51.100.1'), 0);
  assert.equal(g4('192.0.2.1'), -1, 'not monitored');
  assert.equal(g6('2001:db8:1::5'), idx('web'));
  assert.equal(g6('2001:db8:1:0:8000::5'), idx('web-api'));
  assert.equal(g6('2001:db8:2::1'), idx('default'));
  assert.equal(g6('2001:db9::1'), -1);
  assert.equal(hc.classify('203.0.113.53').kind, 'whitelisted');
  assert.equal(hc.whitelisted4(parseV4('203.0.113.53')), true);
  assert.equal(hc.whitelisted4(parseV4('203.0.113.54')), false);
  assert.equal(hc.classify('203.0.113.54').kind, 'monitored');
  assert.equal(hc.classify('8.8.8.8').kind, 'other');
  assert.equal(hc.classify(v6('2001:db8::1')).kind, 'monitored');
  assert.equal(hc.classify(v6('2001:db9::1')).kind, 'other');
});

test('Classifier: a network more specific than a hostgroup prefix keeps that hostgroup; hostgroups outside networks are monitored', () => {
  const g = (name: string, prefixes: string[]): Hostgroup => ({
    ...stub,
    name,
    prefixes: prefixes.map(parsePrefix),
  });
  const stub = loadConfig().hostgroups[0]!;
  const hc = new Classifier({
    networks: ['10.0.0.0/8', '10.1.2.0/24', '10.9.0.0/16', '2001:db8:1:2::/64'].map(parsePrefix),
    whitelist: [parsePrefix('2001:db8:1:2::1/128')],
    hostgroups: [
      stub,
      g('big', ['10.1.0.0/16', '2001:db8:1::/48']),
      g('outside', ['192.0.2.0/24']),
      g('exact', ['10.9.0.0/16']),
    ],
  });
  assert.equal(hc.group4(parseV4('10.1.2.3')), 1, 'network 10.1.2.0/24 lies inside hostgroup big');
  assert.equal(hc.group4(parseV4('10.1.3.3')), 1);
  assert.equal(hc.group4(parseV4('10.2.0.1')), 0);
  assert.equal(hc.group4(parseV4('10.9.1.1')), 3, 'same prefix as a network: the hostgroup wins');
  assert.equal(hc.group4(parseV4('192.0.2.77')), 2);
  assert.equal(hc.group6(...words(v6('2001:db8:1:2::5'))), 1);
  assert.equal(hc.classify(v6('2001:db8:1:2::1')).kind, 'whitelisted');
});

test('classify: the kind and the hostgroup object, from text or bytes; a whitelisted host keeps its hostgroup only inside the monitored space', () => {
  const c = loadConfig(FIXTURE);
  const hc = classifierOf(c);
  const byName = (n: string) => c.hostgroups.find((g) => g.name === n)!;
  assert.deepEqual(hc.classify('203.0.113.5'), { kind: 'monitored', hostgroup: byName('web-api') });
  assert.deepEqual(hc.classify(new Uint8Array([203, 0, 113, 17])), {
    kind: 'monitored',
    hostgroup: byName('web'),
  });
  assert.deepEqual(hc.classify('2001:db8:1:0:8000::5'), { kind: 'monitored', hostgroup: byName('web-api') });
  assert.deepEqual(hc.classify('203.0.113.53'), { kind: 'whitelisted', hostgroup: byName('web') });
  assert.deepEqual(hc.classify('203.0.113.100'), { kind: 'monitored', hostgroup: byName('default') });
  assert.deepEqual(hc.classify('192.0.2.1'), { kind: 'other', hostgroup: null });
  assert.deepEqual(hc.classify('not an address'), { kind: 'other', hostgroup: null });
  const wlOutside = new Classifier({
    networks: [parsePrefix('10.0.0.0/8')],
    whitelist: [parsePrefix('192.0.2.0/24')],
    hostgroups: c.hostgroups,
  });
  assert.deepEqual(
    wlOutside.classify('192.0.2.9'),
    { kind: 'whitelisted', hostgroup: null },
    'whitelist wins even outside networks',
  );
});

test('hostgroupFor: the hostgroup whose prefix holds all of the prefix most specifically, default otherwise; by name', () => {
  const c = loadConfig(FIXTURE);
  const hc = classifierOf(c);
  const hg = (p: string) => hc.hostgroupFor(parsePrefix(p))?.name;
  assert.equal(hg('203.0.113.5/32'), 'web-api');
  assert.equal(hg('203.0.113.0/28'), 'web-api', 'the hostgroup prefix itself');
  assert.equal(hg('203.0.113.0/27'), 'web', 'wider than web-api /28, inside web /26');
  assert.equal(hg('203.0.113.16/31'), 'web', 'holds the web-api /32 and one web host');
  assert.equal(hg('203.0.113.0/24'), 'default', 'wider than every hostgroup prefix');
  assert.equal(hg('203.0.113.64/26'), 'default');
  assert.equal(hg('192.0.2.0/24'), 'default', 'outside networks');
  assert.equal(hg('2001:db8:1:0:8000::/80'), 'web-api');
  assert.equal(hg('2001:db8:1::/64'), 'web');
  assert.equal(hg('2001:db8:1::/63'), 'default');
  assert.equal(hc.hostgroupByName('web')?.name, 'web');
  assert.equal(hc.hostgroupByName('nope'), undefined);
  assert.equal(hc.defaultHostgroup?.name, 'default');
  const none = new Classifier({ networks: [], whitelist: [], hostgroups: [] });
  assert.equal(none.hostgroupFor(parsePrefix('10.0.0.1')), undefined, 'no hostgroups at all');
  assert.equal(none.group4(parseV4('10.0.0.1')), -1);
});

test('classifierOf: one shared Classifier per config; a reloaded config (new lists) gets a new one', () => {
  const c = loadConfig(FIXTURE);
  const a = classifierOf(c);
  assert.equal(classifierOf(c), a);
  assert.equal(
    classifierOf({ networks: c.networks, whitelist: c.whitelist, hostgroups: c.hostgroups }),
    a,
    'the same lists, another holder',
  );
  const reloaded = loadConfig(FIXTURE);
  const b = classifierOf(reloaded);
  assert.notEqual(b, a);
  assert.equal(classifierOf(reloaded), b);
  const otherNetworks = classifierOf({ ...c, networks: [parsePrefix('10.0.0.0/8')] });
  assert.notEqual(otherNetworks, a, 'same hostgroups, other networks: not the old lookup');
  assert.equal(otherNetworks.group4(parseV4('203.0.113.100')), -1);
});

function masked(family: 4 | 6, bytes: Uint8Array, len: number): Prefix {
  const out = new Uint8Array(bytes.length);
  for (let bit = 0; bit < len; bit++)
    if (bytes[bit >> 3]! & (0x80 >> (bit & 7))) out[bit >> 3]! |= 0x80 >> (bit & 7);
  return { family, bytes: out, len };
}

const covers = (o: Prefix, i: Prefix) =>
  o.family === i.family && o.len <= i.len && prefixContains(o, i.bytes);

/**
 * Reference: the rules as linear scans, as the detector and mitigation computed them
 * before (most specific containing prefix; the first hostgroup on a tie; `default` first).
 */
function reference(cfg: PolicyInput) {
  const hgOf = (p: Prefix): number => {
    let best = -1;
    let len = -1;
    for (const [i, g] of cfg.hostgroups.entries()) {
      for (const q of g.prefixes) {
        if (q.len > len && covers(q, p)) {
          best = i;
          len = q.len;
        }
      }
    }
    return Math.max(best, 0);
  };
  const monitored = (h: Prefix) =>
    cfg.networks.some((n) => covers(n, h)) ||
    cfg.hostgroups.some((g) => g.prefixes.some((q) => covers(q, h)));
  const network = (h: Prefix) => {
    let best: Prefix | null = null;
    for (const n of cfg.networks) if (covers(n, h) && (!best || n.len > best.len)) best = n;
    return best;
  };
  return { hgOf, monitored, network, whitelisted: (h: Prefix) => cfg.whitelist.some((w) => covers(w, h)) };
}

test('random policies agree with the linear-scan rules (IPv4 and IPv6, nested networks, hostgroups and whitelist)', () => {
  const rnd = mulberry32(7);
  const byte = () => Math.floor(rnd() * 256);
  const stub = loadConfig().hostgroups[0]!;
  const seen = { monitored: 0, inGroup: 0, whitelisted: 0, other: 0, probes: 0 };
  for (let round = 0; round < 8; round++) {
    // Odd rounds: a few prefixes per family, as most configs have (PrefixTable scans those).
    const few = round % 2 === 1;
    // Clustered leading bytes, so prefixes nest and neighbour each other.
    const lead = [10, 32, 1, 13];
    const rand = (fam: 4 | 6, lo: number, hi: number) => {
      const b = new Uint8Array(fam === 4 ? 4 : 16).map((_, i) =>
        i < 1 ? lead[Math.floor(rnd() * 4)]! : byte(),
      );
      return masked(fam, b, lo + Math.floor(rnd() * (hi - lo + 1)));
    };
    const fams = (): 4 | 6 => (rnd() < 0.5 ? 4 : 6);
    const networks = Array.from({ length: few ? 4 : 40 }, () => {
      const f = fams();
      return rand(f, 4, f === 4 ? 24 : 64);
    });
    const taken = new Set<string>();
    const hostgroups: Hostgroup[] = [{ ...stub, prefixes: [] }];
    for (let g = 0; g < (few ? 2 : 6); g++) {
      const prefixes: Prefix[] = [];
      for (let k = 0; k < (few ? 3 : 30); k++) {
        // Mostly inside a network, as the loader demands; a few outside.
        const base = networks[Math.floor(rnd() * networks.length)]!;
        const max = base.family === 4 ? 32 : 128;
        const p =
          rnd() < 0.9
            ? masked(
                base.family,
                base.bytes.map((x, i) => (i * 8 >= base.len ? byte() : x)),
                Math.min(max, base.len + Math.floor(rnd() * 12)),
              )
            : rand(fams(), 8, 28);
        const key = prefixToString(p);
        if (taken.has(key)) continue;
        taken.add(key);
        prefixes.push(p);
      }
      hostgroups.push({ ...stub, name: `g${g}`, prefixes });
    }
    const whitelist = Array.from({ length: few ? 3 : 20 }, () => {
      const f = fams();
      return rand(f, 8, f === 4 ? 32 : 128);
    });
    const cfg = { networks, whitelist, hostgroups };
    const hc = new Classifier(cfg);
    const ref = reference(cfg);
    const all = [...networks, ...hostgroups.flatMap((g) => g.prefixes), ...whitelist];
    for (let k = 0; k < 2000; k++) {
      const base = all[Math.floor(rnd() * all.length)]!;
      const max = base.family === 4 ? 32 : 128;
      const a = new Uint8Array(base.bytes);
      for (let i = Math.floor(base.len / 8); i < a.length; i++) if (rnd() < 0.7) a[i] = byte();
      const host: Prefix = { family: base.family, bytes: a, len: max };
      const at = `round ${round} ${prefixToString(host)}`;
      const mon = ref.monitored(host);
      const g =
        base.family === 4
          ? hc.group4(((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0)
          : hc.group6(...words(a));
      assert.equal(g, mon ? ref.hgOf(host) : -1, `group ${at}`);
      const wl = ref.whitelisted(host);
      assert.equal(hc.classify(a).kind, wl ? 'whitelisted' : mon ? 'monitored' : 'other', `kind ${at}`);
      seen.probes++;
      if (mon) seen.monitored++;
      if (g > 0) seen.inGroup++;
      if (wl) seen.whitelisted++;
      if (!mon && !wl) seen.other++;
      const n =
        base.family === 4
          ? hc.network4(((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0)
          : hc.network6(...words(a));
      const rn = ref.network(host);
      assert.equal(n && prefixToString(n), rn && prefixToString(rn), `network ${at}`);
      // A prefix of random length around the host: its hostgroup holds all of it.
      const p = masked(base.family, a, Math.floor(rnd() * (max + 1)));
      assert.equal(
        hc.hostgroupFor(p),
        hostgroups[ref.hgOf(p)],
        `hostgroupFor ${prefixToString(p)} round ${round}`,
      );
    }
  }
  // Not vacuous: every answer occurs often.
  for (const k of ['monitored', 'inGroup', 'whitelisted', 'other'] as const)
    assert.ok(seen[k] > seen.probes / 20, `${k}: ${JSON.stringify(seen)}`);
});
