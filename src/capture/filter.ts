/**
 * Flow filters on the hot path: a list of rules (capture.filters, a policy's filters;
 * parsed in src/config/filters.ts) compiled once into one straight-line predicate over the
 * normalised FlowRecord. Numbers only: prefixes become masked uint32 / byte compares, port,
 * interface and length ranges become integer compares, TCP flags one mask test; the
 * exporter (a string) is resolved to a per-rule table once per exporter change, not per
 * record. No allocation per record. The first rule that matches decides (drop or keep) and
 * counts a hit; with no match the record is kept, unless every rule is `keep` (an
 * allow-list), then it is dropped and counted as the default.
 *
 * Safety: the generated source is built only from numbers computed from the validated
 * rules; no string from the config reaches it.
 */
import type { FlowFilterRule, NumRange } from '../config/types.js';
import type { Prefix } from '../wire/addr.js';
import type { FlowRecord } from './flow.js';

export interface CompiledFilter {
  /** true: count the record; false: drop it. */
  readonly keep: (r: FlowRecord) => boolean;
  readonly rules: readonly FlowFilterRule[];
  /** Hits per rule; the last entry counts records dropped by the allow-list default. */
  readonly hits: Float64Array;
  /** Unmatched records are dropped (every rule is keep). */
  readonly allowList: boolean;
}

function ranges(v: string, rs: readonly NumRange[]): string {
  return (
    '(' +
    rs.map(([lo, hi]) => (lo === hi ? `${v} === ${lo}` : `(${v} >= ${lo} && ${v} <= ${hi})`)).join(' || ') +
    ')'
  );
}

/** v4/v6 prefix tests on src ('s') or dst ('d'). */
function prefixes(side: 's' | 'd', ps: readonly Prefix[]): string {
  const parts: string[] = [];
  for (const p of ps) {
    if (p.family === 4) {
      const v = (p.bytes[0]! << 24) | (p.bytes[1]! << 16) | (p.bytes[2]! << 8) | p.bytes[3]! | 0;
      const mask = p.len === 0 ? 0 : (0xffffffff << (32 - p.len)) | 0;
      parts.push(
        p.len === 0 ? 'v4' : `(v4 && (r.${side === 's' ? 'src4' : 'dst4'} & ${mask}) === ${v & mask})`,
      );
    } else {
      const a = side === 's' ? 's6' : 'd6';
      const t = ['!v4'];
      const full = p.len >> 3;
      for (let i = 0; i < full; i++) t.push(`${a}[${i}] === ${p.bytes[i]}`);
      if (p.len & 7) {
        const m = (0xff << (8 - (p.len & 7))) & 0xff;
        t.push(`(${a}[${full}] & ${m}) === ${p.bytes[full]! & m}`);
      }
      parts.push(`(${t.join(' && ')})`);
    }
  }
  return `(${parts.join(' || ')})`;
}

/** Compile rules into a predicate; null when there are none (the hot path then skips it). */
export function compileFilter(rules: readonly FlowFilterRule[] | undefined): CompiledFilter | null {
  if (!rules || rules.length === 0) return null;
  const allowList = rules.every((r) => r.action === 'keep');
  const hits = new Float64Array(rules.length + 1);
  const uses = { s6: false, d6: false, len: false, ex: false };
  const body: string[] = [];
  rules.forEach((r, i) => {
    const c: string[] = [];
    if (r.source_prefixes.length) {
      c.push(prefixes('s', r.source_prefixes));
      uses.s6 ||= r.source_prefixes.some((p) => p.family === 6);
    }
    if (r.destination_prefixes.length) {
      c.push(prefixes('d', r.destination_prefixes));
      uses.d6 ||= r.destination_prefixes.some((p) => p.family === 6);
    }
    const flags = r.tcp_flags.set | r.tcp_flags.clear;
    // TCP flags imply TCP (a protocol list without tcp then matches nothing).
    const protos = flags ? (r.protocol.length ? r.protocol.filter((p) => p === 6) : [6]) : r.protocol;
    if (flags || protos.length)
      c.push(protos.length ? `(${protos.map((p) => `r.protocol === ${p}`).join(' || ')})` : 'false');
    if (flags) c.push(`(r.tcpFlags & ${flags}) === ${r.tcp_flags.set}`);
    if (r.source_ports.length) c.push(ranges('r.srcPort', r.source_ports));
    if (r.destination_ports.length) c.push(ranges('r.dstPort', r.destination_ports));
    if (r.input_interfaces.length) c.push(ranges('r.ifIn', r.input_interfaces));
    if (r.output_interfaces.length) c.push(ranges('r.ifOut', r.output_interfaces));
    if (r.packet_length.length) {
      c.push(ranges('len', r.packet_length));
      uses.len = true;
    }
    if (r.exporters.length) {
      c.push(`ex[${i}] === 1`);
      uses.ex = true;
    }
    const verdict = r.action === 'keep' ? 'true' : 'false';
    body.push(
      c.length
        ? `if (${c.join(' && ')}) { hits[${i}]++; return ${verdict}; }`
        : `hits[${i}]++; return ${verdict};`,
    );
  });
  const pre = ['const v4 = r.ipVersion === 4;'];
  if (uses.s6) pre.push('const s6 = r.src6;');
  if (uses.d6) pre.push('const d6 = r.dst6;');
  // Flow records carry no packet length: their average (bytes / packets) stands in.
  if (uses.len)
    pre.push(
      'const len = r.packetLength > 0 ? r.packetLength : r.packets > 0 ? Math.round(r.bytes / r.packets) : 0;',
    );
  if (uses.ex)
    pre.push(
      'let ex = cur; if (r.exporter !== lastEx) { lastEx = r.exporter; ex = cur = exporterTable(lastEx); }',
    );
  const tail = allowList ? `hits[${rules.length}]++; return false;` : 'return true;';
  const src = `let lastEx = null; let cur = null;\nreturn function keep(r) {\n${pre.join('\n')}\n${body.join('\n')}\n${tail}\n};`;
  // Per exporter text: which rules its exporter list matches (1) or not (0).
  const tables = new Map<string, Uint8Array>();
  const exporterTable = (e: string): Uint8Array => {
    let t = tables.get(e);
    if (!t) {
      t = new Uint8Array(rules.length);
      rules.forEach((r, i) => {
        if (r.exporters.includes(e)) t![i] = 1;
      });
      if (tables.size < 4096) tables.set(e, t);
    }
    return t;
  };
  let keep: (r: FlowRecord) => boolean;
  try {
    keep = codegen.enabled
      ? (new Function('hits', 'exporterTable', src)(hits, exporterTable) as (r: FlowRecord) => boolean)
      : interpreted(rules, hits, allowList);
  } catch {
    // node --disallow-code-generation-from-strings: the same rules, evaluated in a loop.
    keep = interpreted(rules, hits, allowList);
  }
  return { keep, rules, hits, allowList };
}

/** Tests turn compilation off to compare both paths (as capture/formats/codegen.ts does). */
export const codegen = { enabled: true };

function inRanges(v: number, rs: readonly NumRange[]): boolean {
  for (const [lo, hi] of rs) if (v >= lo && v <= hi) return true;
  return false;
}

function inPrefixes(v4: boolean, a4: number, a6: Uint8Array, ps: readonly Prefix[]): boolean {
  for (const p of ps) {
    if (p.family === 4) {
      if (!v4) continue;
      if (p.len === 0) return true;
      const mask = (0xffffffff << (32 - p.len)) | 0;
      const net = (p.bytes[0]! << 24) | (p.bytes[1]! << 16) | (p.bytes[2]! << 8) | p.bytes[3]! | 0;
      if ((a4 & mask) === (net & mask)) return true;
    } else if (!v4) {
      const full = p.len >> 3;
      let ok = true;
      for (let i = 0; i < full && ok; i++) ok = a6[i] === p.bytes[i];
      if (ok && p.len & 7) {
        const m = (0xff << (8 - (p.len & 7))) & 0xff;
        ok = (a6[full]! & m) === (p.bytes[full]! & m);
      }
      if (ok) return true;
    }
  }
  return false;
}

/** The generated predicate's meaning, rule by rule (the fallback where code generation is off). */
function interpreted(
  rules: readonly FlowFilterRule[],
  hits: Float64Array,
  allowList: boolean,
): (r: FlowRecord) => boolean {
  return (r) => {
    const v4 = r.ipVersion === 4;
    const len = r.packetLength > 0 ? r.packetLength : r.packets > 0 ? Math.round(r.bytes / r.packets) : 0;
    for (let i = 0; i < rules.length; i++) {
      const x = rules[i]!;
      const flags = x.tcp_flags.set | x.tcp_flags.clear;
      const protos = flags ? (x.protocol.length ? x.protocol.filter((p) => p === 6) : [6]) : x.protocol;
      const match =
        (!x.source_prefixes.length || inPrefixes(v4, r.src4, r.src6, x.source_prefixes)) &&
        (!x.destination_prefixes.length || inPrefixes(v4, r.dst4, r.dst6, x.destination_prefixes)) &&
        (!(flags || protos.length) || protos.includes(r.protocol)) &&
        (!flags || (r.tcpFlags & flags) === x.tcp_flags.set) &&
        (!x.source_ports.length || inRanges(r.srcPort, x.source_ports)) &&
        (!x.destination_ports.length || inRanges(r.dstPort, x.destination_ports)) &&
        (!x.input_interfaces.length || inRanges(r.ifIn, x.input_interfaces)) &&
        (!x.output_interfaces.length || inRanges(r.ifOut, x.output_interfaces)) &&
        (!x.packet_length.length || inRanges(len, x.packet_length)) &&
        (!x.exporters.length || x.exporters.includes(r.exporter));
      if (match) {
        hits[i]!++;
        return x.action === 'keep';
      }
    }
    if (allowList) hits[rules.length]!++;
    return !allowList;
  };
}
