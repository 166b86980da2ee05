/**
 * FlowSpec rules from attack samples.
 *
 * Goal: the narrowest rule set that covers at least `coverage` of the sampled attack packets
 * (weighted by scaled packets) while matching little of the victim's normal traffic.
 *
 * Method (deterministic, every tie broken by a fixed key):
 * 1. Every sample is seen as a router sees it (match.ts): later fragments have no ports.
 * 2. Attack samples are grouped into clusters by victim, IP protocol and whether the
 *    transport header is visible (first fragments and whole packets) or not (later fragments).
 * 3. Clusters are taken largest first; each becomes one rule until the union of rules covers
 *    the target. A rule holds: destination /32 or /128 (or, hostgroup scope, the
 *    destination prefix of `opts.destinations` holding the victims), the protocol, and every exact value the
 *    cluster is concentrated on (a port, TCP flags, an ICMP type, the fragment bit): such a
 *    component narrows the rule at no cost in coverage. "Concentrated" means one value (or up
 *    to three) carries at least `1 - (1 - coverage) / 2` of the cluster.
 * 4. A packet-length range (the central part of the cluster's lengths) and a source prefix
 *    (when the sources fit in a /16 or longer) are added only when they reduce the rule's
 *    match on the baseline: shorter rules win when the extra component spares nothing.
 */
import type { FlowSample } from '../capture/flow.js';
import {
  addrBits,
  prefixToString,
  maskBytes,
  addrToString,
  prefixContains,
  type Prefix,
} from '../wire/addr.js';
import { describe, describeMatch } from './codec.js';
import { matchesPacket, packetFromSample, type PacketView } from './match.js';
import { parseRule, TCP_FLAGS, protocolName, type FlowspecRule } from './rule.js';
import { bitNames } from './ops.js';

export interface GenerateOptions {
  /** Fraction of sampled attack packets the rules must cover (default 0.95). */
  readonly coverage?: number;
  /** Largest acceptable fraction of the victim's baseline packets matched (default 0.01). */
  readonly maxBaselineFraction?: number;
  /** Upper bound on the number of rules (default 4). */
  readonly maxRules?: number;
  /** Action in FastNetMon's shape; default discard. */
  readonly action_type?: string;
  readonly action?: Readonly<Record<string, unknown>>;
  /**
   * Hostgroup scope (carpet bombing): the rules' destinations are these prefixes, not the
   * victims' /32 or /128; a sample belongs to the most specific one holding its
   * destination (samples in none cannot be covered). The victim is then the prefix.
   */
  readonly destinations?: readonly Prefix[];
}

interface ComponentCoverage {
  /** JSON field name (destination_prefix, protocols, ...). */
  readonly field: string;
  /** Human text of the component. */
  readonly text: string;
  /** Fraction of the victim's sampled attack packets this component alone matches. */
  readonly coverage: number;
}

interface GeneratedRule {
  readonly rule: FlowspecRule;
  /** The rule in FastNetMon's JSON shape. */
  readonly json: Record<string, unknown>;
  /** Fraction of all sampled attack packets this rule matches. */
  readonly coverage: number;
  /** Fraction of the victim's baseline packets this rule matches (0 without a baseline). */
  readonly baselineFraction: number;
  readonly components: readonly ComponentCoverage[];
}

export interface GeneratedRules {
  readonly rules: readonly GeneratedRule[];
  /** Fraction of sampled attack packets matched by the union of the rules. */
  readonly coverage: number;
  /** Fraction of the victims' baseline packets matched by the union of the rules. */
  readonly baselineFraction: number;
  readonly attackPackets: number;
  readonly baselinePackets: number;
  /** coverage >= target and baselineFraction <= maxBaselineFraction. */
  readonly ok: boolean;
  readonly target: number;
  /** Human-readable explanation, one line per rule and per component. */
  readonly explanation: string;
}

interface Cluster {
  key: string;
  victim: string;
  family: 4 | 6;
  dst: Uint8Array;
  /** The destination prefix's length (32 / 128 for one victim host). */
  dstLen: number;
  protocol: number;
  l4: boolean;
  pkts: PacketView[];
  weight: number;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

function weight(ps: readonly PacketView[]): number {
  let w = 0;
  for (const p of ps) w += p.packets;
  return w;
}

/** Values sorted by weight, heaviest first (ties by value). */
function histogram(ps: readonly PacketView[], get: (p: PacketView) => number): [number, number][] {
  const h = new Map<number, number>();
  for (const p of ps) {
    const v = get(p);
    if (v < 0) continue;
    h.set(v, (h.get(v) ?? 0) + p.packets);
  }
  return [...h.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
}

/** Up to `k` values carrying >= share of the weight, or null. */
function dominant(
  ps: readonly PacketView[],
  get: (p: PacketView) => number,
  share: number,
  k: number,
): number[] | null {
  const total = weight(ps);
  if (total === 0) return null;
  const h = histogram(ps, get);
  let acc = 0;
  const out: number[] = [];
  for (const [v, w] of h.slice(0, k)) {
    out.push(v);
    acc += w;
    if (acc >= share * total) return out.sort((a, b) => a - b);
  }
  return null;
}

/** Central length range holding >= share of the weight (equal tails trimmed). */
function lengthRange(ps: readonly PacketView[], share: number): [number, number] {
  const h = histogram(ps, (p) => p.length).sort((a, b) => a[0] - b[0]);
  const total = weight(ps);
  const tail = ((1 - share) / 2) * total;
  let lo = h[0]![0];
  let hi = h[h.length - 1]![0];
  let acc = 0;
  for (const [v, w] of h) {
    acc += w;
    if (acc > tail) {
      lo = v;
      break;
    }
  }
  acc = 0;
  for (let i = h.length - 1; i >= 0; i--) {
    acc += h[i]![1];
    if (acc > tail) {
      hi = h[i]![0];
      break;
    }
  }
  return [lo, hi];
}

/** Longest source prefix (>= /16 IPv4, >= /32 IPv6, byte steps) holding >= share, or null. */
function sourcePrefix(ps: readonly PacketView[], family: 4 | 6, share: number): string | null {
  const total = weight(ps);
  const bits = addrBits(family);
  const min = family === 4 ? 16 : 32;
  for (let len = bits; len >= min; len -= 8) {
    const h = new Map<string, { w: number; b: Uint8Array }>();
    for (const p of ps) {
      const b = maskBytes(p.src, len);
      const k = Buffer.from(b).toString('hex');
      const e = h.get(k);
      if (e) e.w += p.packets;
      else h.set(k, { w: p.packets, b });
    }
    const best = [...h.entries()].sort((a, b) => b[1].w - a[1].w || (a[0] < b[0] ? -1 : 1))[0];
    if (best && best[1].w >= share * total) return prefixToString({ family, bytes: best[1].b, len });
  }
  return null;
}

function protoText(p: number): string | number {
  return protocolName(p) ?? p;
}

/** Build the narrowest rule JSON for a cluster (steps 3-4 of the method). */
function clusterRule(
  c: Cluster,
  baseline: readonly PacketView[],
  share: number,
  act: Record<string, unknown>,
): Record<string, unknown> {
  const json: Record<string, unknown> = {
    destination_prefix: `${addrToString({ family: c.family, bytes: c.dst })}/${c.dstLen}`,
    protocols: [protoText(c.protocol)],
  };
  const ported = c.protocol === 6 || c.protocol === 17 || c.protocol === 132;
  if (c.l4 && ported) {
    const sp = dominant(c.pkts, (p) => p.srcPort, share, 3);
    if (sp) json.source_ports = sp;
    const dp = dominant(c.pkts, (p) => p.dstPort, share, 3);
    if (dp) json.destination_ports = dp;
  }
  if (c.l4 && c.protocol === 6) {
    const f = dominant(c.pkts, (p) => p.tcpFlags, share, 1);
    if (f && f[0]! > 0) {
      const names = bitNames(f[0]!, TCP_FLAGS);
      json.tcp_flags = [names.includes('+') ? `=${names}` : names];
    }
  }
  if (c.l4 && (c.protocol === 1 || c.protocol === 58)) {
    const t = dominant(c.pkts, (p) => p.icmpType, share, 2);
    if (t) json.icmp_types = t;
  }
  if (!c.l4) json.fragmentation_flags = ['is-fragment'];

  // Optional components: kept only when they spare baseline traffic.
  const cost = (j: Record<string, unknown>): number => {
    const r = parseRule({ ...j, ...act });
    if (!r.ok) return Infinity;
    let w = 0;
    for (const p of baseline) if (matchesPacket(r.rule, p)) w += p.packets;
    return w;
  };
  let current = cost(json);
  const [lo, hi] = lengthRange(c.pkts, share);
  const withLen = { ...json, packet_lengths: [lo === hi ? lo : `${lo}-${hi}`] };
  const lenCost = current > 0 ? cost(withLen) : current;
  if (lenCost < current) {
    json.packet_lengths = withLen.packet_lengths;
    current = lenCost;
  }
  const src = current > 0 ? sourcePrefix(c.pkts, c.family, share) : null;
  if (src) {
    const withSrc = { ...json, source_prefix: src };
    if (cost(withSrc) < current) json.source_prefix = src;
  }
  return json;
}

function componentCoverage(
  rule: FlowspecRule,
  pkts: readonly PacketView[],
  total: number,
): ComponentCoverage[] {
  const out: ComponentCoverage[] = [];
  const one = (field: string, part: Partial<FlowspecRule>) => {
    const r = { family: rule.family, match: {}, ...part } as FlowspecRule;
    let w = 0;
    for (const p of pkts) if (matchesPacket(r, p)) w += p.packets;
    out.push({ field, text: describeMatch(r), coverage: total ? w / total : 0 });
  };
  if (rule.destination_prefix) one('destination_prefix', { destination_prefix: rule.destination_prefix });
  if (rule.source_prefix) one('source_prefix', { source_prefix: rule.source_prefix });
  for (const [field, m] of Object.entries(rule.match)) one(field, { match: { [field]: m } });
  return out;
}

/**
 * Build rules from attack samples and the victim's baseline (normal traffic) samples.
 * Deterministic for the same input, whatever the sample order.
 */
export function generateRules(
  attack: readonly FlowSample[],
  baseline: readonly FlowSample[],
  opts: GenerateOptions = {},
): GeneratedRules {
  const target = opts.coverage ?? 0.95;
  const maxBase = opts.maxBaselineFraction ?? 0.01;
  const maxRules = opts.maxRules ?? 4;
  const share = Math.max(0.5, 1 - (1 - target) / 2);
  const act: Record<string, unknown> = { action_type: opts.action_type ?? 'discard' };
  if (opts.action) act.action = opts.action;

  const A = attack.map(packetFromSample);
  const B = baseline.map(packetFromSample);
  const total = weight(A);

  // The victim of a packet: its destination host, or the destination prefix holding it.
  const dests = opts.destinations ? [...opts.destinations].sort((a, b) => b.len - a.len) : null;
  const victimOf = (p: PacketView): { key: string; bytes: Uint8Array; len: number } | null => {
    if (!dests)
      return {
        key: addrToString({ family: p.ipVersion, bytes: p.dst }),
        bytes: p.dst,
        len: addrBits(p.ipVersion),
      };
    const d = dests.find((x) => x.family === p.ipVersion && prefixContains(x, p.dst));
    return d ? { key: prefixToString(d), bytes: d.bytes, len: d.len } : null;
  };
  const ruleVictim = (r: FlowspecRule): string => {
    const d = r.destination_prefix!.prefix;
    return dests ? prefixToString(d) : addrToString({ family: r.family, bytes: d.bytes });
  };
  const victimOfA = A.map(victimOf);

  const clusters = new Map<string, Cluster>();
  A.forEach((p, i) => {
    const v = victimOfA[i];
    if (!v) return;
    const l4 = p.frag === 'none' || p.frag === 'first';
    const key = `${v.key} ${p.protocol} ${l4 ? 'l4' : 'frag'}`;
    let c = clusters.get(key);
    if (!c) {
      c = {
        key,
        victim: v.key,
        family: p.ipVersion,
        dst: v.bytes,
        dstLen: v.len,
        protocol: p.protocol,
        l4,
        pkts: [],
        weight: 0,
      };
      clusters.set(key, c);
    }
    c.pkts.push(p);
    c.weight += p.packets;
  });
  const ordered = [...clusters.values()].sort((a, b) => b.weight - a.weight || (a.key < b.key ? -1 : 1));
  const baseFor = new Map<string, PacketView[]>();
  for (const p of B) {
    const v = victimOf(p)?.key;
    if (v === undefined) continue;
    if (!baseFor.has(v)) baseFor.set(v, []);
    baseFor.get(v)!.push(p);
  }

  const rules: FlowspecRule[] = [];
  const jsons: Record<string, unknown>[] = [];
  const covered = new Uint8Array(A.length);
  let coveredW = 0;
  for (const c of ordered) {
    if (rules.length >= maxRules || (total > 0 && coveredW / total >= target)) break;
    const json = clusterRule(c, baseFor.get(c.victim) ?? [], share, act);
    const parsed = parseRule({ ...json, ...act });
    if (!parsed.ok) continue;
    let gain = 0;
    A.forEach((p, i) => {
      if (!covered[i] && matchesPacket(parsed.rule, p)) gain += p.packets;
    });
    if (gain === 0) continue;
    A.forEach((p, i) => {
      if (!covered[i] && matchesPacket(parsed.rule, p)) {
        covered[i] = 1;
        coveredW += p.packets;
      }
    });
    rules.push(parsed.rule);
    jsons.push({ ...json, ...act });
  }

  const victims = new Set(rules.map(ruleVictim));
  const victimBase = [...victims].flatMap((v) => baseFor.get(v) ?? []);
  const baseTotal = weight(victimBase);
  let baseHit = 0;
  for (const p of victimBase) if (rules.some((r) => matchesPacket(r, p))) baseHit += p.packets;

  const out: GeneratedRule[] = rules.map((rule, i) => {
    const v = ruleVictim(rule);
    const vb = baseFor.get(v) ?? [];
    const vbTotal = weight(vb);
    let hit = 0;
    for (const p of vb) if (matchesPacket(rule, p)) hit += p.packets;
    let w = 0;
    for (const p of A) if (matchesPacket(rule, p)) w += p.packets;
    const victimPkts = A.filter((_, k) => victimOfA[k]?.key === v);
    return {
      rule,
      json: jsons[i]!,
      coverage: total ? w / total : 0,
      baselineFraction: vbTotal ? hit / vbTotal : 0,
      components: componentCoverage(rule, victimPkts, weight(victimPkts)),
    };
  });
  const coverage = total ? coveredW / total : 0;
  const baselineFraction = baseTotal ? baseHit / baseTotal : 0;
  const result = {
    rules: out,
    coverage,
    baselineFraction,
    attackPackets: total,
    baselinePackets: baseTotal,
    ok: total > 0 && coverage >= target && baselineFraction <= maxBase,
    target,
    explanation: '',
  };
  return { ...result, explanation: explain(result) };
}

/** Human-readable explanation of generated rules. */
function explain(g: Omit<GeneratedRules, 'explanation'>): string {
  const lines: string[] = [];
  lines.push(
    `${g.rules.length} rule(s) cover ${pct(g.coverage)} of ${g.attackPackets} sampled attack packets (target ${pct(g.target)}); ` +
      `they match ${pct(g.baselineFraction)} of ${g.baselinePackets} baseline packets to the victim(s)` +
      (g.ok ? '.' : ' -- below target or too much collateral, review before announcing.'),
  );
  g.rules.forEach((r, i) => {
    lines.push(
      `rule ${i + 1}: ${describe(r.rule)}: matches ${pct(r.coverage)} of the attack, ${pct(r.baselineFraction)} of the victim's baseline`,
    );
    for (const c of r.components)
      lines.push(`  ${c.text}: ${pct(c.coverage)} of the victim's sampled attack packets`);
  });
  return lines.join('\n');
}
