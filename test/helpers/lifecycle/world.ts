/**
 * The world both sides of the lifecycle model test share: the hosts, the hostgroups and
 * their policy knobs, the steps a sequence is made of, and a seeded generator for them.
 * Nothing here knows how Breakwater implements anything.
 */
import { rng } from '../../../src/demo/traffic.js';

export { rng };

/** Policy knobs a reload can turn, per hostgroup. */
export interface Pol {
  readonly mode: 'blackhole' | 'flowspec' | 'both' | 'none';
  /** 0: no script, 1: /s1 (json), 2: /s2 (text). */
  readonly script: 0 | 1 | 2;
  readonly unbanOnly: boolean;
  readonly banTimeMs: number;
  readonly statusDelayMs: number;
  /** 0: 65535:666, 1: 65000:1 (the blackhole community). */
  readonly community: 0 | 1;
  /** Escalation on (only hostgroups with an escalation rule use it). */
  readonly esc: boolean;
  /** actions.hostgroup: what a hostgroup-total attack gets (carpet bombing). */
  readonly hg: 'none' | 'flowspec' | 'blackhole' | 'both';
  /** actions.hostgroup.flowspec.destination. */
  readonly hgDest: 'hostgroup' | 'attacked';
  /** actions.hostgroup.flowspec.max_prefixes. */
  readonly hgMax: 1 | 2;
}

export interface HostDef {
  readonly ip: string;
  /** Hostgroup the host's prefixes put it in. */
  readonly hostgroup: string;
}

export const NETWORKS = ['203.0.113.0/24', '198.51.100.0/24', '2001:db8::/32'];
export const WHITELIST = ['198.51.100.250/32'];
export const HOSTGROUPS: readonly { name: string; prefixes: string[] }[] = [
  { name: 'default', prefixes: [] },
  { name: 'web', prefixes: ['203.0.113.0/25'] },
  { name: 'dns', prefixes: ['203.0.113.128/25'] },
  { name: 'v6', prefixes: ['2001:db8::/64'] },
];
export const HOSTS: readonly HostDef[] = [
  { ip: '203.0.113.10', hostgroup: 'web' },
  { ip: '203.0.113.11', hostgroup: 'web' },
  { ip: '203.0.113.130', hostgroup: 'dns' },
  { ip: '198.51.100.7', hostgroup: 'default' },
  { ip: '198.51.100.250', hostgroup: 'default' }, // whitelisted
  { ip: '2001:db8::10', hostgroup: 'v6' },
  { ip: '192.0.2.99', hostgroup: 'default' }, // outside networks
];
/** Mitigation caps, small so sequences reach them. */
export const MAX_BLACKHOLES = 4;
export const MAX_FLOWSPEC = 3;
/** Escalation rule of every hostgroup that has `esc` on. */
export const ESC = { clearAfter: 2, maxPrefixes: 1, ppsThreshold: 1000, prefixV4: 24, prefixV6: 48 } as const;
export const COMMUNITIES = ['65535:666', '65000:1'] as const;
export const ESC_COMMUNITY = '65000:999';
export const NEXT_HOP = { ipv4: '192.0.2.1', ipv6: '100::1' } as const;
export const SCRIPTS = [null, { script: '/s1', format: 'json' }, { script: '/s2', format: 'text' }] as const;

export const INITIAL_POLICY: Pol = {
  mode: 'blackhole',
  script: 1,
  unbanOnly: true,
  banTimeMs: 5000,
  statusDelayMs: 0,
  community: 0,
  esc: true,
  hg: 'none',
  hgDest: 'hostgroup',
  hgMax: 1,
};

/** Each hostgroup's policy at the start: escalation on web and v6, a different actions.hostgroup on each. */
export function initialPolicy(name: string): Pol {
  const hg: Record<string, Pick<Pol, 'hg' | 'hgDest' | 'hgMax'>> = {
    default: { hg: 'blackhole', hgDest: 'attacked', hgMax: 1 },
    web: { hg: 'flowspec', hgDest: 'hostgroup', hgMax: 1 },
    dns: { hg: 'both', hgDest: 'attacked', hgMax: 2 },
    v6: { hg: 'flowspec', hgDest: 'attacked', hgMax: 2 },
  };
  return { ...INITIAL_POLICY, esc: name === 'web' || name === 'v6', ...hg[name] };
}

/**
 * A hostgroup-total attack's aggregate samples: destination and weight (sampled packets,
 * all one UDP reflection pattern, so each destination prefix is one cluster, one rule).
 * The weights differ so that "largest first" never ties; the destinations are none of
 * HOSTS (a hostgroup rule's prefix never equals a host rule's /32) except through the
 * hosts attacked on their own, which join the cover with no weight.
 */
export const HG_SAMPLES: Readonly<Record<string, readonly (readonly [string, number])[]>> = {
  default: [
    ['198.51.100.20', 5],
    ['198.51.100.21', 4],
  ],
  web: [
    ['203.0.113.10', 5],
    ['203.0.113.11', 4],
    ['203.0.113.40', 3],
  ],
  dns: [
    ['203.0.113.131', 5],
    ['203.0.113.140', 4],
  ],
  v6: [
    ['2001:db8::100', 5],
    ['2001:db8::180', 4],
  ],
};
/** actions.hostgroup.blackhole.prefix_length, and the whitelist split's most pieces. */
export const HG_BLACKHOLE_LEN = { ipv4: 24, ipv6: 48 } as const;
export const HG_MAX_PIECES = 16;
/** actions.flowspec.coverage (the default): rules until this share of the samples is covered. */
export const HG_COVERAGE = 0.95;

export type Step =
  | { readonly t: 'attack'; readonly host: number }
  | { readonly t: 'update'; readonly host: number }
  | { readonly t: 'finish'; readonly host: number }
  | { readonly t: 'tick'; readonly ms: number }
  | { readonly t: 'esc' }
  | { readonly t: 'emergency'; readonly host: number; readonly on: boolean }
  | { readonly t: 'manual_add'; readonly host: number }
  | { readonly t: 'manual_del'; readonly pick: number }
  | { readonly t: 'reload'; readonly hostgroup: string; readonly pol: Pol }
  | { readonly t: 'restart'; readonly kill: boolean }
  | { readonly t: 'flap' }
  | { readonly t: 'hg_attack'; readonly hostgroup: string }
  | { readonly t: 'hg_finish'; readonly hostgroup: string };

/** A reloaded policy; the actions.hostgroup knobs are drawn only in sequences with hostgroup-total attacks. */
function randomPol(r: () => number, hostgroup: string, withHg: boolean): Pol {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const p = {
    mode: pick(['blackhole', 'blackhole', 'flowspec', 'both', 'none'] as const),
    script: pick([0, 1, 1, 2] as const),
    unbanOnly: r() < 0.6,
    banTimeMs: pick([3000, 5000, 20_000]),
    statusDelayMs: pick([0, 0, 4000]),
    community: pick([0, 1] as const),
    esc: r() < 0.7,
  };
  const init = initialPolicy(hostgroup);
  if (!withHg) return { ...p, hg: init.hg, hgDest: init.hgDest, hgMax: init.hgMax };
  return {
    ...p,
    hg: pick(['none', 'flowspec', 'blackhole', 'both', 'both'] as const),
    hgDest: pick(['hostgroup', 'attacked'] as const),
    hgMax: pick([1, 2] as const),
  };
}

/**
 * One sequence in HG_EVERY has hostgroup-total attacks (what they add costs about half
 * the time of the steps again: more routes held longer); the others are the host-scope
 * sequences the test ran before them, step for step.
 */
export const HG_EVERY = 5;

/**
 * A random sequence; the host weights favour the escalating /24 and re-detection.
 * In one sequence in HG_EVERY, hostgroup-total attacks start and end on a random
 * hostgroup (which of them mitigate them, and how, is each one's policy: initialPolicy,
 * then what the reloads make it).
 */
export function randomSteps(seed: number, n: number): Step[] {
  const r = rng(seed);
  const host = () => {
    const x = r();
    return x < 0.5 ? Math.floor(r() * 2) : Math.floor(r() * HOSTS.length);
  };
  const hg = () => HOSTGROUPS[Math.floor(r() * HOSTGROUPS.length)]!.name;
  const reload = (withHg: boolean): Step => {
    const name = hg();
    return { t: 'reload', hostgroup: name, pol: randomPol(r, name, withHg) };
  };
  const out: Step[] = [];
  if (seed % HG_EVERY !== 0) {
    for (let i = 0; i < n; i++) {
      const x = r();
      if (x < 0.16) out.push({ t: 'attack', host: host() });
      else if (x < 0.22) out.push({ t: 'update', host: host() });
      else if (x < 0.34) out.push({ t: 'finish', host: host() });
      else if (x < 0.56) out.push({ t: 'tick', ms: [1000, 1000, 2000, 5000][Math.floor(r() * 4)]! });
      else if (x < 0.65) out.push({ t: 'esc' });
      else if (x < 0.72) out.push({ t: 'emergency', host: host(), on: r() < 0.6 });
      else if (x < 0.77) out.push({ t: 'manual_add', host: host() });
      else if (x < 0.82) out.push({ t: 'manual_del', pick: Math.floor(r() * 8) });
      else if (x < 0.9) out.push(reload(false));
      else if (x < 0.95) out.push({ t: 'restart', kill: r() < 0.5 });
      else out.push({ t: 'flap' });
    }
    return out;
  }
  for (let i = 0; i < n; i++) {
    const x = r();
    if (x < 0.14) out.push({ t: 'attack', host: host() });
    else if (x < 0.19) out.push({ t: 'update', host: host() });
    else if (x < 0.3) out.push({ t: 'finish', host: host() });
    else if (x < 0.5) out.push({ t: 'tick', ms: [1000, 1000, 2000, 5000][Math.floor(r() * 4)]! });
    else if (x < 0.58) out.push({ t: 'esc' });
    else if (x < 0.64) out.push({ t: 'emergency', host: host(), on: r() < 0.6 });
    else if (x < 0.69) out.push({ t: 'manual_add', host: host() });
    else if (x < 0.74) out.push({ t: 'manual_del', pick: Math.floor(r() * 8) });
    else if (x < 0.82) out.push(reload(true));
    else if (x < 0.87) out.push({ t: 'restart', kill: r() < 0.5 });
    else if (x < 0.9) out.push({ t: 'flap' });
    else if (x < 0.96) out.push({ t: 'hg_attack', hostgroup: hg() });
    else out.push({ t: 'hg_finish', hostgroup: hg() });
  }
  return out;
}

export function describeStep(s: Step): string {
  switch (s.t) {
    case 'attack':
    case 'update':
    case 'finish':
    case 'manual_add':
      return `${s.t} ${HOSTS[s.host]!.ip}`;
    case 'emergency':
      return `emergency ${HOSTS[s.host]!.ip} ${s.on ? 'on' : 'off'}`;
    case 'tick':
      return `tick +${s.ms}ms`;
    case 'manual_del':
      return `manual_del #${s.pick}`;
    case 'reload':
      return `reload ${s.hostgroup} ${JSON.stringify(s.pol)}`;
    case 'restart':
      return s.kill ? 'kill -9 and start' : 'clean restart';
    case 'hg_attack':
    case 'hg_finish':
      return `${s.t} ${s.hostgroup}`;
    default:
      return s.t;
  }
}
