/**
 * Specialised record decoders for fixed-length NetFlow v9 / IPFIX data templates.
 *
 * The generic path (nf9-record.ts, driven by netflow9.ts's decodeDataSet) walks a template's
 * plan per record and dispatches on each field's role; that costs ~200 ns per record. A
 * template is fixed for thousands of records, so it is compiled once into straight-line
 * JavaScript: every field read at a constant offset, the counter/time/rate expressions chosen
 * at compile time, the FlowRecord filled in place and handed to the sink. That runs at
 * v5-like speed.
 *
 * Safety: the generated source is built only from numbers (offsets, lengths, role choices)
 * computed from the template; no byte of wire data reaches the source text.
 *
 * Where code generation is refused (node --disallow-code-generation-from-strings, a CSP-like
 * policy), compileFast answers null and every template takes the generic path: same
 * records, no internal errors counted.
 */
import { Role, readUint, type FastDecode, type Template } from './template.js';

/** Tests turn compilation off to compare the compiled and the generic path. */
export const codegen = { enabled: true };

/**
 * Whether the runtime compiles code from strings (asked once, at load): without it every
 * template takes the generic path. A property of the process, not of any decoder.
 */
const canGenerate = ((): boolean => {
  try {
    return new Function('return true')() as boolean;
  } catch (e) {
    if (e instanceof EvalError) return false;
    throw e;
  }
})();

interface Field {
  off: number;
  len: number;
}

function rd(f: Field): string {
  const x = (k: number) => `b[p + ${f.off + k}]`;
  switch (f.len) {
    case 1:
      return x(0);
    case 2:
      return `((${x(0)} << 8) | ${x(1)})`;
    case 4:
      return `(((${x(0)} << 24) | (${x(1)} << 16) | (${x(2)} << 8) | ${x(3)}) >>> 0)`;
    case 8:
      return `((((${x(0)} << 24) | (${x(1)} << 16) | (${x(2)} << 8) | ${x(3)}) >>> 0) * 4294967296 + (((${x(4)} << 24) | (${x(5)} << 16) | (${x(6)} << 8) | ${x(7)}) >>> 0))`;
    default:
      return `readUint(b, p + ${f.off}, ${f.len})`;
  }
}

/** Returns a compiled decoder, or null when the template needs the generic path. */
export function compileFast(t: Template): FastDecode | null {
  // Packet-section templates (PSAMP) parse a raw frame per record: the generic path does it.
  if (!codegen.enabled || !canGenerate || t.options || t.fixedLen <= 0 || t.biflow || t.section) return null;
  const by = new Map<number, Field>();
  for (let k = 0; k < t.plan.length; k += 3) {
    // The last occurrence wins, as in the generic path.
    by.set(t.plan[k]!, { off: t.plan[k + 1]!, len: t.plan[k + 2]! });
  }
  const has4 = by.has(Role.Src4) || by.has(Role.Dst4);
  const has6 = by.has(Role.Src6) || by.has(Role.Dst6);
  if (has4 === has6) return null; // no address, or both families in one template
  const g = (r: Role) => by.get(r);
  const L: string[] = [];
  const pre: string[] = [];
  // Fields this template never sets get their defaults once per set.
  pre.push(`rec.ipVersion = ${has6 ? 6 : 4};`, 'rec.reverse = false;');
  const direct: [Role, string, (f: Field) => string][] = [
    [Role.Src4, 'src4', rd],
    [Role.Dst4, 'dst4', rd],
    [Role.Proto, 'protocol', (f) => `b[p + ${f.off + f.len - 1}]`],
    [Role.TcpFlags, 'tcpFlags', (f) => `(${rd(f)} & 0xfff)`],
    [Role.SrcPort, 'srcPort', (f) => `(${rd(f)} & 0xffff)`],
    [Role.DstPort, 'dstPort', (f) => `(${rd(f)} & 0xffff)`],
    [Role.IfIn, 'ifIn', rd],
    [Role.IfOut, 'ifOut', rd],
  ];
  const defaults: Record<string, string> = {
    src4: '0',
    dst4: '0',
    protocol: '0',
    tcpFlags: '0',
    srcPort: '0',
    dstPort: '0',
    ifIn: '0',
    ifOut: '0',
  };
  for (const [role, field, expr] of direct) {
    const f = g(role);
    if (f) L.push(`rec.${field} = ${expr(f)};`);
    else pre.push(`rec.${field} = ${defaults[field]};`);
  }
  for (const [role, field] of [
    [Role.Src6, 'src6'],
    [Role.Dst6, 'dst6'],
  ] as const) {
    const f = g(role);
    if (f) L.push(`{ const a = rec.${field}; for (let i = 0; i < 16; i++) a[i] = b[p + ${f.off} + i]; }`);
  }
  const num = (...roles: Role[]) => {
    for (const r of roles) {
      const f = g(r);
      if (f) return rd(f);
    }
    return '0';
  };
  L.push(`const bytes = ${num(Role.Bytes, Role.OutBytes, Role.InitBytes)};`);
  L.push(`const pkts = ${num(Role.Packets, Role.OutPackets, Role.InitPackets)};`);
  if (t.perRecordRate) {
    const sid = g(Role.SamplerId);
    const iv = g(Role.SamplingInterval);
    const rnd = g(Role.SamplerRandomInterval);
    const ivExpr = iv && rnd ? `(${rd(iv)} || ${rd(rnd)})` : iv ? rd(iv) : rnd ? rd(rnd) : '0';
    L.push(`const r = rates.forRecord(${sid ? rd(sid) : '-1'}, ${ivExpr});`);
  } else L.push('const r = rate;');
  L.push('rec.samplingRate = r;', 'rec.packets = pkts * r;', 'rec.bytes = bytes * r;');
  const fl = g(Role.Flows);
  L.push(fl ? `{ const f = ${rd(fl)}; rec.flows = (f > 0 ? f : 1) * r; }` : 'rec.flows = r;');
  // Duration: same precedence as the generic path.
  const dms = g(Role.DurationMs);
  const dus = g(Role.DurationUs);
  const first = g(Role.FirstUptime);
  const last = g(Role.LastUptime);
  const start = g(Role.StartSec) ?? g(Role.StartMs) ?? g(Role.StartNtp);
  const endF = g(Role.EndSec) ?? g(Role.EndMs) ?? g(Role.EndNtp);
  const sd = g(Role.StartDeltaUs);
  const ed = g(Role.EndDeltaUs);
  const absMs = (role: 'start' | 'end'): string => {
    const sec = g(role === 'start' ? Role.StartSec : Role.EndSec);
    const ms = g(role === 'start' ? Role.StartMs : Role.EndMs);
    const ntp = g(role === 'start' ? Role.StartNtp : Role.EndNtp);
    if (sec) return `(${rd(sec)} * 1000)`;
    if (ms) return rd(ms);
    const n = ntp!;
    return `(${rd({ off: n.off, len: 4 })} * 1000 + ${rd({ off: n.off + 4, len: 4 })} / 4294967.296)`;
  };
  if (dms || dus) L.push(`rec.durationMs = ${dms ? rd(dms) : `${rd(dus!)} / 1000`};`);
  else if (first && last)
    L.push(`{ const x = (${rd(last)} - ${rd(first)}) >>> 0; rec.durationMs = x < 0x80000000 ? x : 0; }`);
  else if (start && endF)
    L.push(
      `{ const s = ${absMs('start')}; const e = ${absMs('end')}; rec.durationMs = e >= s ? e - s : 0; }`,
    );
  else if (sd && ed)
    L.push(`{ const s = ${rd(sd)}; const e = ${rd(ed)}; rec.durationMs = s >= e ? (s - e) / 1000 : 0; }`);
  else pre.push('rec.durationMs = 0;');
  const fwd = g(Role.ForwardingStatus);
  if (fwd) L.push(`rec.dropped = (b[p + ${fwd.off}] >> 6) === 2;`);
  else pre.push('rec.dropped = false;');
  const ff = g(Role.FragmentFlags);
  const fo = g(Role.FragmentOffset);
  if (ff || fo)
    L.push(
      `rec.fragment = ${ff ? `(b[p + ${ff.off + ff.len - 1}] & 0x20) !== 0` : 'false'} || ${fo ? `${rd(fo)} > 0` : 'false'};`,
    );
  else pre.push('rec.fragment = false;');
  // ICMP type/code: dedicated IEs, else type*256+code from IE 32/139, else the dst port.
  const it = g(Role.IcmpType);
  const ic = g(Role.IcmpCode);
  const tc = g(Role.IcmpTypeCode);
  if (g(Role.Proto)) {
    L.push('if (rec.protocol === 1 || rec.protocol === 58) {');
    L.push(`  const tc = ${tc ? `(${rd(tc)} & 0xffff)` : 'rec.dstPort'};`);
    L.push(`  rec.icmpType = ${it ? `b[p + ${it.off + it.len - 1}]` : 'tc >> 8'};`);
    L.push(`  rec.icmpCode = ${ic ? `b[p + ${ic.off + ic.len - 1}]` : 'tc & 255'};`);
    L.push('} else { rec.icmpType = -1; rec.icmpCode = -1; }');
  } else pre.push('rec.icmpType = -1;', 'rec.icmpCode = -1;');
  const src = `"use strict";
return function decodeTemplate${t.id}(b, p, end, rec, sink, rate, rates, maxN) {
  ${pre.join('\n  ')}
  let n = 0;
  while (p + ${t.fixedLen} <= end && n < maxN) {
    ${L.join('\n    ')}
    n++;
    sink.onFlow(rec);
    p += ${t.fixedLen};
  }
  return n;
};`;
  return new Function('readUint', src)(readUint) as FastDecode;
}
