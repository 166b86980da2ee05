/** FlowSpec rule parsing, validation (impossible-rule checks) and printing for FastNetMon Advanced's JSON shape; tables/types in model.ts. */
import { addrBits, parseAddr, maskBytes, prefixToString } from '../wire/addr.js';
import { parseCommunity } from '../bgp/attrs.js';
import {
  bitSatisfiable,
  canonBit,
  canonNum,
  evalNum,
  numTermSatisfiable,
  numTermText,
  parseBitTerm,
  parseNumTerm,
  numToJson,
  bitTermText,
  type BitAtom,
  type BitMatch,
  type NumAtom,
  type NumMatch,
} from './ops.js';
import {
  FIELDS,
  FRAG_FLAGS,
  TCP_FLAGS,
  TCP_FLAG_ALIASES,
  PROTOCOL_ALIASES,
  PORT_PROTOCOLS,
  ACTION_TYPES,
  protocolName,
  type ActionType,
  type FlowPrefix,
  type FlowspecRule,
  type MatchField,
  type ParseOptions,
  type ParseResult,
  type RuleAction,
  type RuleMatch,
} from './model.js';

// Everything that used to be defined here stays importable from rule.js.
export {
  FIELDS,
  FIELD_BY_TYPE,
  TCP_FLAGS,
  FRAG_FLAGS,
  protocolName,
  type BitField,
  type FlowPrefix,
  type RuleAction,
  type RuleMatch,
  type FlowspecRule,
  type ParseResult,
  type ParseOptions,
} from './model.js';

const KNOWN_KEYS = new Set<string>([
  'family',
  'source_prefix',
  'destination_prefix',
  ...FIELDS.map((f) => f.field),
  'action_type',
  'action',
  'communities',
  // FastNetMon fields we accept and ignore (informational) rather than refuse.
  'uuid',
  'comment',
  'announce',
]);
/** The fields a rule may have, and those of its `action` (for "did you mean" hints). */
export const RULE_FIELDS: readonly string[] = [...KNOWN_KEYS];
const ACTION_KEYS = new Set([
  'rate',
  'rate_packets',
  'redirect_target_as',
  'redirect_target_value',
  'redirect_target_ip',
  'redirect_ip_mode',
  'copy',
  'dscp',
  'sample',
  'terminal',
]);
export const ACTION_FIELDS: readonly string[] = [...ACTION_KEYS];

function parsePrefix(
  text: unknown,
  field: string,
): { ok: true; value: FlowPrefix } | { ok: false; error: string } {
  if (typeof text !== 'string')
    return { ok: false, error: `${field}: expected a prefix string like "203.0.113.5/32"` };
  const parts = text.trim().split('/');
  if (parts.length < 2 || parts.length > 3)
    return { ok: false, error: `${field}: "${text}" is not a prefix (address/length)` };
  const addr = parseAddr(parts[0]!);
  if (!addr) return { ok: false, error: `${field}: "${parts[0]}" is not an IPv4 or IPv6 address` };
  const bits = addrBits(addr.family);
  if (!/^[0-9]+$/.test(parts[1]!) || Number(parts[1]) > bits) {
    return { ok: false, error: `${field}: prefix length "${parts[1]}" is not in 0..${bits}` };
  }
  const len = Number(parts[1]);
  let offset = 0;
  if (parts.length === 3) {
    if (addr.family === 4)
      return { ok: false, error: `${field}: prefix offsets exist only for IPv6 (RFC 8956 §3.1)` };
    if (!/^[0-9]+$/.test(parts[2]!) || Number(parts[2]) >= Math.max(len, 1)) {
      return { ok: false, error: `${field}: offset "${parts[2]}" must be below the prefix length ${len}` };
    }
    offset = Number(parts[2]);
  }
  const masked = maskBytes(addr.bytes, len);
  for (let i = 0; i < masked.length; i++) {
    if (masked[i] !== addr.bytes[i]) {
      const net = prefixToString({ family: addr.family, bytes: masked, len });
      return { ok: false, error: `${field}: "${text}" has host bits set (did you mean ${net}?)` };
    }
  }
  // Bits before the offset are not carried (RFC 8956 §3.1): zero them so equal rules are equal.
  for (let b = 0; b < offset; b++) masked[b >> 3]! &= ~(0x80 >> (b & 7));
  return { ok: true, value: { prefix: { family: addr.family, bytes: masked, len }, offset } };
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nonNegInt(v: unknown, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
}

function parseAction(
  json: Record<string, unknown>,
  family: 4 | 6,
): { ok: true; value: RuleAction } | { ok: false; error: string } {
  const type = json.action_type ?? 'discard';
  if (typeof type !== 'string' || !(ACTION_TYPES as readonly string[]).includes(type)) {
    return { ok: false, error: `action_type: "${String(type)}" is not one of ${ACTION_TYPES.join(', ')}` };
  }
  const a = json.action ?? {};
  if (!isObj(a)) return { ok: false, error: 'action: expected an object' };
  for (const k of Object.keys(a))
    if (!ACTION_KEYS.has(k)) return { ok: false, error: `action.${k}: unknown field` };
  const out: { -readonly [K in keyof RuleAction]: RuleAction[K] } = { type: type as ActionType };
  for (const b of ['sample', 'terminal', 'copy'] as const) {
    if (a[b] !== undefined) {
      if (typeof a[b] !== 'boolean') return { ok: false, error: `action.${b}: expected true or false` };
      if (a[b]) out[b] = true;
    }
  }
  if (a.dscp !== undefined) {
    if (!nonNegInt(a.dscp, 63))
      return { ok: false, error: `action.dscp: ${JSON.stringify(a.dscp)} is not a DSCP value 0..63` };
    out.dscp = a.dscp;
  }
  const has = (k: string) => a[k] !== undefined;
  const forbid = (keys: string[]): string | null => {
    for (const k of keys) if (has(k)) return `action.${k} does not apply to action_type ${type}`;
    return null;
  };
  const redirectKeys = [
    'redirect_target_as',
    'redirect_target_value',
    'redirect_target_ip',
    'redirect_ip_mode',
    'copy',
  ];
  let err: string | null = null;
  switch (type) {
    case 'discard':
    case 'accept':
      err = forbid(['rate', 'rate_packets', ...redirectKeys]);
      break;
    case 'mark':
      err = forbid(['rate', 'rate_packets', ...redirectKeys]);
      if (!err && out.dscp === undefined) err = 'action.dscp is required for action_type mark';
      break;
    case 'rate-limit': {
      err = forbid(redirectKeys);
      if (err) break;
      if (has('rate') === has('rate_packets')) {
        err = 'rate-limit needs exactly one of action.rate (bytes/s) or action.rate_packets (packets/s)';
        break;
      }
      const k = has('rate') ? 'rate' : 'rate_packets';
      const v = a[k];
      // RFC 8955 §7.1 carries an IEEE float32; 0 would mean discard (use action_type discard).
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > 3.4e38) {
        err = `action.${k}: ${JSON.stringify(v)} must be a positive number (use action_type discard for 0)`;
        break;
      }
      if (k === 'rate') out.rate = v;
      else out.ratePackets = v;
      break;
    }
    case 'redirect': {
      err = forbid(['rate', 'rate_packets']);
      if (err) break;
      if (has('redirect_target_as')) {
        if (has('redirect_target_ip')) {
          err = 'redirect takes redirect_target_as or redirect_target_ip, not both';
          break;
        }
        const as = a.redirect_target_as;
        const val = a.redirect_target_value;
        if (!nonNegInt(as, 0xffffffff)) {
          err = `action.redirect_target_as: ${JSON.stringify(as)} is not an AS number`;
          break;
        }
        // RFC 8955 §7.4 / RFC 7674: AS-2 carries a 4-byte value, AS-4 a 2-byte value.
        const maxVal = as > 0xffff ? 0xffff : 0xffffffff;
        if (!nonNegInt(val, maxVal)) {
          err = `action.redirect_target_value: ${JSON.stringify(val)} must be an integer 0..${maxVal}${as > 0xffff ? ' with a 4-byte AS' : ''}`;
          break;
        }
        if (has('redirect_ip_mode') || has('copy')) {
          err = 'action.redirect_ip_mode and action.copy apply to redirect_target_ip only';
          break;
        }
        out.redirectAs = as;
        out.redirectValue = val;
      } else if (has('redirect_target_ip')) {
        const ip = a.redirect_target_ip;
        const addr = typeof ip === 'string' ? parseAddr(ip) : null;
        if (!addr) {
          err = `action.redirect_target_ip: ${JSON.stringify(ip)} is not an IP address`;
          break;
        }
        out.redirectIp = typeof ip === 'string' ? ip : '';
        if (has('redirect_target_value')) {
          const val = a.redirect_target_value;
          if (!nonNegInt(val, 0xffff)) {
            err = `action.redirect_target_value: ${JSON.stringify(val)} must be an integer 0..65535 with an IP route target`;
            break;
          }
          if (has('redirect_ip_mode') || has('copy')) {
            err =
              'action.redirect_ip_mode and action.copy apply to next-hop redirects (no redirect_target_value)';
            break;
          }
          out.redirectValue = val;
        } else {
          // A next-hop redirect must be of the rule's family (the MP_REACH next hop).
          if (addr.family !== family) {
            err = `action.redirect_target_ip: ${ip} is IPv${addr.family} but the rule is IPv${family}`;
            break;
          }
          const mode = a.redirect_ip_mode ?? 'next-hop';
          if (mode !== 'next-hop' && mode !== 'ietf') {
            err = `action.redirect_ip_mode: ${JSON.stringify(mode)} is not "next-hop" or "ietf"`;
            break;
          }
          out.redirectIpMode = mode;
        }
      } else {
        err =
          'redirect needs action.redirect_target_as + redirect_target_value, or action.redirect_target_ip';
      }
      break;
    }
  }
  if (err) return { ok: false, error: err };
  return { ok: true, value: out };
}

/** Which of 0..255 the protocols component admits (all when absent). */
function protocolSet(m: NumMatch | undefined): Set<number> {
  const s = new Set<number>();
  for (let p = 0; p <= 255; p++) if (!m || evalNum(m, p)) s.add(p);
  return s;
}

/** Parse and validate one rule in FastNetMon's JSON shape. */
export function parseRule(json: unknown, opts: ParseOptions = {}): ParseResult {
  const strict = opts.strict !== false;
  if (!isObj(json)) return { ok: false, error: 'a rule must be a JSON object' };
  for (const k of Object.keys(json))
    if (!KNOWN_KEYS.has(k)) return { ok: false, error: `${k}: unknown field` };
  const warnings: string[] = [];

  let family: 4 | 6 | undefined;
  const fam = json.family;
  if (fam !== undefined) {
    if (fam !== 'ipv4' && fam !== 'ipv6')
      return { ok: false, error: `family: ${JSON.stringify(fam)} is not "ipv4" or "ipv6"` };
    family = fam === 'ipv4' ? 4 : 6;
  }
  const prefixes: { destination_prefix?: FlowPrefix; source_prefix?: FlowPrefix } = {};
  for (const k of ['destination_prefix', 'source_prefix'] as const) {
    if (json[k] === undefined) continue;
    const r = parsePrefix(json[k], k);
    if (!r.ok) return r;
    const pf = r.value.prefix.family;
    if (family !== undefined && pf !== family) {
      return {
        ok: false,
        error: `${k}: ${json[k]} is IPv${pf} but the rule is IPv${family}${fam === undefined ? ' (from the other prefix)' : ''}`,
      };
    }
    family = pf;
    prefixes[k] = r.value;
  }
  if (json.flow_labels !== undefined && family === 4) {
    return { ok: false, error: 'flow_labels: the flow label component exists only for IPv6 (RFC 8956 §3.7)' };
  }
  if (family === undefined) family = json.flow_labels !== undefined ? 6 : 4;

  // In an IPv6 rule "icmp" means ICMPv6 (the next header of ICMP types, RFC 8956 §3.3).
  const fam6 = family === 6;
  const protoByName = (n: string): number | undefined => (fam6 && n === 'icmp' ? 58 : PROTOCOL_ALIASES[n]);
  const match: Record<string, NumMatch | BitMatch> = {};
  for (const def of FIELDS) {
    const raw = json[def.field];
    if (raw === undefined) continue;
    const list = Array.isArray(raw) ? raw : [raw];
    if (list.length === 0)
      return { ok: false, error: `${def.field}: empty list (omit the field to match anything)` };
    if (def.kind === 'num') {
      const terms: NumAtom[][] = [];
      for (const el of list) {
        const r = parseNumTerm(el, def.max, def.field === 'protocols' ? protoByName : undefined);
        if (!r.ok) return { ok: false, error: `${def.field}: ${r.error}` };
        if (!numTermSatisfiable(r.value, def.max)) {
          return {
            ok: false,
            error: `${def.field}: "${numTermText(r.value)}" can never match (impossible range)`,
          };
        }
        terms.push(r.value);
      }
      match[def.field] = canonNum(terms, def.max);
    } else {
      const names = def.field === 'tcp_flags' ? TCP_FLAG_ALIASES : FRAG_FLAGS;
      const terms: BitAtom[][] = [];
      for (const el of list) {
        if (def.field === 'fragmentation_flags' && typeof el === 'string' && el.trim() === 'not-a-fragment') {
          // Not a fragment at all: neither a later fragment nor a first one.
          terms.push([
            { not: true, match: false, value: FRAG_FLAGS['is-fragment']! | FRAG_FLAGS['first-fragment']! },
          ]);
          continue;
        }
        const r = parseBitTerm(el, names, def.max);
        if (!r.ok) return { ok: false, error: `${def.field}: ${r.error}` };
        if (!bitSatisfiable([r.value], def.max)) {
          return { ok: false, error: `${def.field}: "${bitTermText(r.value, names)}" can never match` };
        }
        terms.push(r.value);
      }
      if (def.field === 'fragmentation_flags' && family === 6) {
        // RFC 8956 §3.6: IPv6 has no DF bit; the bit must be 0 in IPv6 rules.
        if (terms.some((t) => t.some((a) => a.value & FRAG_FLAGS['dont-fragment']!))) {
          return {
            ok: false,
            error: 'fragmentation_flags: dont-fragment does not exist in IPv6 (RFC 8956 §3.6)',
          };
        }
      }
      match[def.field] = canonBit(terms);
    }
  }

  // Cross-component checks: components that only exist for some protocols.
  const protos = match.protocols as NumMatch | undefined;
  const allowed = protocolSet(protos);
  const icmp = family === 4 ? 1 : 58;
  const needs = (field: MatchField, wanted: number[], what: string) => {
    if (match[field] === undefined) return null;
    const hit = wanted.filter((p) => allowed.has(p));
    if (hit.length === 0) return `${field}: needs protocol ${what}, but protocols excludes it`;
    const extra = protos ? [...allowed].filter((p) => !wanted.includes(p)) : [];
    if (!protos || extra.length > 0) {
      const msg = `${field}: set protocols to ${what} (${!protos ? 'no protocols given' : `protocols also admits ${extra.length > 5 ? `${extra.length} others` : extra.join(', ')}`}); routers only see ${field} for ${what}`;
      if (strict) return msg;
      warnings.push(msg);
    }
    return null;
  };
  const portWhat = 'tcp, udp or sctp';
  const checks: [MatchField, number[], string][] = [
    ['ports', PORT_PROTOCOLS, portWhat],
    ['destination_ports', PORT_PROTOCOLS, portWhat],
    ['source_ports', PORT_PROTOCOLS, portWhat],
    ['tcp_flags', [6], 'tcp'],
    ['icmp_types', [icmp], family === 4 ? 'icmp' : 'icmpv6 (58)'],
    ['icmp_codes', [icmp], family === 4 ? 'icmp' : 'icmpv6 (58)'],
  ];
  for (const [f, w, what] of checks) {
    const e = needs(f, w, what);
    if (e) return { ok: false, error: e };
  }

  const hasMatch = prefixes.destination_prefix || prefixes.source_prefix || Object.keys(match).length > 0;
  if (!hasMatch) return { ok: false, error: 'the rule matches all traffic: give at least one match field' };

  // RFC 8955 §4.1: the whole NLRI must fit in 4095 bytes; count what the encoder will write.
  let size = 0;
  for (const p of [prefixes.destination_prefix, prefixes.source_prefix]) {
    if (p) size += 2 + (family === 6 ? 1 : 0) + ((p.prefix.len - p.offset + 7) >> 3);
  }
  for (const m of Object.values(match)) {
    size += 1;
    for (const t of m) for (const a of t) size += 1 + (a.value < 0x100 ? 1 : a.value < 0x10000 ? 2 : 4);
  }
  if (size > 4095)
    return { ok: false, error: `the rule needs ${size} bytes of NLRI, more than the 4095 FlowSpec allows` };

  const action = parseAction(json, family);
  if (!action.ok) return action;

  const comms = json.communities ?? [];
  if (!Array.isArray(comms) || comms.some((c) => typeof c !== 'string' || Number.isNaN(parseCommunity(c)))) {
    return { ok: false, error: 'communities: expected a list of "a:b" strings (16-bit each)' };
  }

  const rule: FlowspecRule = {
    family,
    ...prefixes,
    match: match as RuleMatch,
    action: action.value,
    communities: comms as string[],
  };
  return { ok: true, rule, warnings };
}

/** Validate only: null when fine, else the reason. */
export function validate(json: unknown, opts: ParseOptions = {}): string | null {
  const r = parseRule(json, opts);
  return r.ok ? null : r.error;
}

function prefixText(p: FlowPrefix): string {
  return `${prefixToString(p.prefix)}${p.offset ? `/${p.offset}` : ''}`;
}

/** Back to FastNetMon's JSON shape (what the API shows, and what parseRule reads back). */
export function ruleToJson(rule: FlowspecRule): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (rule.family === 6 && !rule.destination_prefix && !rule.source_prefix) out.family = 'ipv6';
  if (rule.source_prefix) out.source_prefix = prefixText(rule.source_prefix);
  if (rule.destination_prefix) out.destination_prefix = prefixText(rule.destination_prefix);
  for (const def of FIELDS) {
    const m = rule.match[def.field];
    if (!m) continue;
    if (def.kind === 'num') {
      const name = (v: number) => (rule.family === 6 && v === 1 ? undefined : protocolName(v));
      out[def.field] = numToJson(m as NumMatch, def.field === 'protocols' ? name : undefined);
    } else {
      const names = def.field === 'tcp_flags' ? TCP_FLAGS : FRAG_FLAGS;
      out[def.field] = (m as BitMatch).map((t) => bitTermText(t, names));
    }
  }
  const a = rule.action;
  out.action_type = a.type;
  const act: Record<string, unknown> = {};
  if (a.rate !== undefined) act.rate = a.rate;
  if (a.ratePackets !== undefined) act.rate_packets = a.ratePackets;
  if (a.redirectAs !== undefined) act.redirect_target_as = a.redirectAs;
  if (a.redirectIp !== undefined) act.redirect_target_ip = a.redirectIp;
  if (a.redirectValue !== undefined) act.redirect_target_value = a.redirectValue;
  if (a.redirectIpMode === 'ietf') act.redirect_ip_mode = 'ietf';
  if (a.copy) act.copy = true;
  if (a.dscp !== undefined) act.dscp = a.dscp;
  if (a.sample) act.sample = true;
  if (a.terminal) act.terminal = true;
  if (Object.keys(act).length) out.action = act;
  if (rule.communities.length) out.communities = [...rule.communities];
  return out;
}
