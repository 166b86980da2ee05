/**
 * Flow filter rules (capture.filters, a policy's `filters`) and the integration sections of
 * breakwater.yaml (graphite, influxdb, redis, networks_from_bgp): their zod schemas and the
 * resolution into the typed shapes of types.ts. Values are parsed here (ranges, protocol
 * names, TCP flag names, prefixes) so errors carry the file:line:col of the offending value;
 * the hot-path predicate is compiled from the result by src/capture/filter.ts.
 */
import { z } from 'zod';
import { value } from './zvalue.js';
import { ValueError, parseHostPort, parseIp, parsePrefix } from './values.js';
import type { FlowFilterRule, NumRange } from './types.js';
import type { PathSeg, YamlSource } from './source.js';

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(v));

/**
 * A number range: 53, "53", "1024-2048", ">=1024", ">1023", "<=1023", "<1024", "=53",
 * within 0..max.
 */
export function parseRange(v: string | number, max: number, what: string): NumRange {
  const bad = () =>
    new ValueError(
      `invalid ${what} ${show(v)}: expected a number 0..${max} or a range such as "1024-2048", ">=1024" or "<1024"`,
    );
  const num = (t: string): number => {
    if (!/^\d{1,10}$/.test(t)) throw bad();
    const n = Number(t);
    if (n > max) throw new ValueError(`invalid ${what} ${show(v)}: ${n} is over ${max}`);
    return n;
  };
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) throw bad();
    return [num(String(v)), num(String(v))];
  }
  const s = v.replace(/\s+/g, '');
  let m = /^(\d+)-(\d+)$/.exec(s);
  if (m) {
    const lo = num(m[1]!);
    const hi = num(m[2]!);
    if (lo > hi) throw new ValueError(`invalid ${what} ${show(v)}: the range is empty (${lo} > ${hi})`);
    return [lo, hi];
  }
  m = /^(>=|<=|>|<|=)?(\d+)$/.exec(s);
  if (m) {
    const n = num(m[2]!);
    switch (m[1]) {
      case '>=':
        return [n, max];
      case '>':
        if (n >= max) throw new ValueError(`invalid ${what} ${show(v)}: nothing is over ${max}`);
        return [n + 1, max];
      case '<=':
        return [0, n];
      case '<':
        if (n === 0) throw new ValueError(`invalid ${what} ${show(v)}: nothing is under 0`);
        return [0, n - 1];
      default:
        return [n, n];
    }
  }
  throw bad();
}

const PROTOCOLS: Readonly<Record<string, number>> = {
  icmp: 1,
  igmp: 2,
  tcp: 6,
  udp: 17,
  gre: 47,
  esp: 50,
  ah: 51,
  icmpv6: 58,
  'ipv6-icmp': 58,
  ospf: 89,
  pim: 103,
  sctp: 132,
};

function parseProtocol(v: string | number): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 255) return v;
  if (typeof v === 'string') {
    const n = PROTOCOLS[v.toLowerCase()];
    if (n !== undefined) return n;
    if (/^\d{1,3}$/.test(v) && Number(v) <= 255) return Number(v);
  }
  throw new ValueError(
    `invalid protocol ${show(v)}: expected 0..255 or a name (${Object.keys(PROTOCOLS).join(', ')})`,
  );
}

const TCP_FLAGS: Readonly<Record<string, number>> = {
  fin: 1,
  syn: 2,
  rst: 4,
  psh: 8,
  ack: 16,
  urg: 32,
  ece: 64,
  cwr: 128,
};

/** "syn,!ack" or [syn, "!ack"]: flags that must be set, and ("!") flags that must be clear. */
export function parseTcpFlags(v: string | readonly string[]): { set: number; clear: number } {
  const items = typeof v === 'string' ? v.split(/[\s,]+/).filter(Boolean) : v;
  let set = 0;
  let clear = 0;
  for (const it of items) {
    const neg = typeof it === 'string' && it.startsWith('!');
    const name = typeof it === 'string' ? (neg ? it.slice(1) : it).toLowerCase() : '';
    const bit = TCP_FLAGS[name];
    if (bit === undefined) {
      throw new ValueError(
        `invalid TCP flag ${show(it)}: expected ${Object.keys(TCP_FLAGS).join(', ')}, with "!" for a flag that must be clear`,
      );
    }
    if ((neg ? set : clear) & bit) throw new ValueError(`TCP flag ${name} is required both set and clear`);
    if (neg) clear |= bit;
    else set |= bit;
  }
  return { set, clear };
}

// ---------------------------------------------------------------- zod pieces

/** One value or a list of them; a single value's errors point at it (path ends in [0]). */
const one = <T>(s: z.ZodType<T>) => z.preprocess((v) => (Array.isArray(v) ? v : [v]), z.array(s));
const range = (max: number, what: string) =>
  value((v: string | number) => parseRange(v, max, what), 'string|number');
const prefixOne = value((v: string) => parsePrefix(v));

const filterRuleSchema = z.strictObject({
  action: z.enum(['drop', 'keep']),
  match: z
    .strictObject({
      source_prefixes: one(prefixOne).optional(),
      destination_prefixes: one(prefixOne).optional(),
      protocol: one(value((v: string | number) => parseProtocol(v), 'string|number')).optional(),
      source_ports: one(range(65535, 'port')).optional(),
      destination_ports: one(range(65535, 'port')).optional(),
      tcp_flags: value((v: string | string[]) => parseTcpFlags(v), 'string|array').optional(),
      exporters: one(value((v: string) => parseIp(v).text)).optional(),
      input_interfaces: one(range(4294967295, 'interface index')).optional(),
      output_interfaces: one(range(4294967295, 'interface index')).optional(),
      packet_length: one(range(65535, 'packet length')).optional(),
    })
    .prefault({}),
});
export const filtersSchema = z.array(filterRuleSchema);
export type FilterRuleRaw = z.output<typeof filterRuleSchema>;

/** Raw rules -> FlowFilterRule, each with its location; `at` is the list's path in `src`. */
export function resolveFilters(
  raw: readonly FilterRuleRaw[] | undefined,
  src: YamlSource,
  at: readonly PathSeg[],
): FlowFilterRule[] {
  return (raw ?? []).map((r, i) => {
    const m = r.match;
    return {
      action: r.action,
      source_prefixes: m.source_prefixes ?? [],
      destination_prefixes: m.destination_prefixes ?? [],
      protocol: m.protocol ?? [],
      source_ports: m.source_ports ?? [],
      destination_ports: m.destination_ports ?? [],
      tcp_flags: m.tcp_flags ?? { set: 0, clear: 0 },
      exporters: m.exporters ?? [],
      input_interfaces: m.input_interfaces ?? [],
      output_interfaces: m.output_interfaces ?? [],
      packet_length: m.packet_length ?? [],
      where: src.loc([...at, i]),
    };
  });
}

// ---------------------------------------------------------------- export sections

export const graphiteAddress = value((v: string) => {
  try {
    return parseHostPort(v);
  } catch {
    throw new ValueError(`invalid graphite address ${show(v)}: use host:port, e.g. 127.0.0.1:2003`);
  }
});

function parseUrl(v: string, protocols: readonly string[], example: string): URL {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new ValueError(`invalid URL ${show(v)} (e.g. ${example})`);
  }
  if (!protocols.includes(u.protocol))
    throw new ValueError(
      `the URL must start with ${protocols.map((p) => `${p}//`).join(' or ')}, got ${show(v)}`,
    );
  return u;
}

export const httpUrl = value((v: string) => {
  parseUrl(v, ['http:', 'https:'], 'http://127.0.0.1:8086');
  return v.replace(/\/+$/, '');
});

export const redisUrl = value((v: string) => {
  const u = parseUrl(v, ['redis:'], 'redis://127.0.0.1:6379/0');
  if (u.pathname.length > 1 && !/^\/\d+$/.test(u.pathname))
    throw new ValueError(`the Redis URL's path must be a database number, got ${show(u.pathname)}`);
  return v;
});

/** A Graphite path prefix: dot-separated words (empty = none). */
export const metricPrefix = z
  .string()
  .regex(/^([A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*)?$/, 'use dot-separated words of letters, digits, "_" and "-"');
