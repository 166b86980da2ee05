/**
 * NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) datagrams: template, options template and data
 * sets, normalised into the decoder's one FlowRecord.
 *
 * v9 header (§5.1, 20 bytes): version, count, sysUptime, unix secs, sequence (export packets
 *   per source id), source id. FlowSet ids: 0 template (§5.2), 1 options template (§6.1),
 *   >= 256 data (§5.3).
 * IPFIX header (§3.1, 16 bytes): version, length, export time, sequence (data records sent
 *   before this message, per observation domain), observation domain id. Set ids: 2 template
 *   (§3.4.1), 3 options template (§3.4.2.2), >= 256 data (§3.3.2). Field specifiers with the
 *   enterprise bit carry a 4-byte enterprise number (§3.2); variable-length fields (length
 *   65535) carry a 1- or 3-byte length prefix (§7). A template record with field count 0 is
 *   a withdrawal; template id 2 (or 3) withdraws all templates (or options templates) (§8.1).
 * Sets end with padding shorter than the smallest record (§3.3.1).
 */
import { WireError } from '../../wire/reader.js';
import { checkSeq, type DomainState, type ExporterState } from '../exporter/exporter.js';
import { LIMITS } from '../limits.js';
import type { DecodeContext } from './context.js';
import type { Template } from './template.js';
import { u16, u32 } from './bytes.js';
import { applyPlan, emitRecord, optionsRate, resetAcc, walkRecord } from './nf9-record.js';
import { compileFast } from './codegen.js';

export function decodeNetflow9(c: DecodeContext, ex: ExporterState, b: Uint8Array, timeMs: number): void {
  if (b.length < 20) throw new WireError('NetFlow v9 header truncated');
  const uptime = u32(b, 4);
  const secs = u32(b, 8);
  const seq = u32(b, 12);
  const sourceId = u32(b, 16);
  const dom = ex.domain(false, sourceId, true);
  if (!dom) throw new WireError('too many source ids');
  checkSeq(ex.stats, dom.nextSeq, seq);
  dom.nextSeq = (seq + 1) >>> 0;
  walkSets(c, ex, dom, b, 20, b.length, timeMs, uptime, secs);
}

export function decodeIpfix(c: DecodeContext, ex: ExporterState, b: Uint8Array, timeMs: number): void {
  if (b.length < 16) throw new WireError('IPFIX header truncated');
  const len = u16(b, 2);
  if (len < 16 || len > b.length) throw new WireError(`IPFIX length ${len} vs datagram ${b.length}`);
  const exportSecs = u32(b, 4);
  const seq = u32(b, 8);
  const domainId = u32(b, 12);
  const dom = ex.domain(true, domainId, true);
  if (!dom) throw new WireError('too many observation domains');
  const n = walkSets(c, ex, dom, b, 16, len, timeMs, 0, exportSecs);
  if (n < 0) {
    // Some data waited for its template: this message's record count is unknown.
    dom.lastSeq = -1;
    dom.nextSeq = -1;
    return;
  }
  if (dom.lastSeq >= 0) {
    // RFC 7011 §3.1: sequence = Data Records sent before this message, and Data Records
    // include those of Options Templates (§2, "Data Set"); pmacct counts them so. Some
    // exporters (softflowd) count this message's flow records instead, options left out;
    // accept that convention once seen.
    const rfc = dom.nextSeq;
    const post = (dom.lastSeq + n) >>> 0;
    if (seq === post && seq !== rfc) dom.postSeq = true;
    else if (seq !== rfc) checkSeq(ex.stats, dom.postSeq ? post : rfc, seq);
  }
  dom.lastSeq = seq;
  dom.nextSeq = (seq + n + c.optionsRecords) >>> 0;
}

/**
 * Returns flow data records decoded (options data records go to c.optionsRecords), or -1
 * when some could not be counted (held data). `uptime`/`secs` are the message header's,
 * kept with data held for its template.
 */
function walkSets(
  c: DecodeContext,
  ex: ExporterState,
  dom: DomainState,
  b: Uint8Array,
  p: number,
  end: number,
  timeMs: number,
  uptime: number,
  secs: number,
): number {
  const ipfix = dom.ipfix;
  let records = 0;
  let counted = true;
  c.optionsRecords = 0;
  const tplSet = ipfix ? 2 : 0;
  const optSet = ipfix ? 3 : 1;
  while (p + 4 <= end) {
    const id = u16(b, p);
    const len = u16(b, p + 2);
    if (len < 4 || p + len > end)
      throw new WireError(`set ${id} length ${len} at ${p} exceeds message end ${end}`);
    const body = p + 4;
    const setEnd = p + len;
    if (id === tplSet) templateSet(c, ex, dom, b, body, setEnd);
    else if (id === optSet) {
      if (ipfix) ipfixOptionsTemplateSet(c, ex, dom, b, body, setEnd);
      else v9OptionsTemplateSet(c, ex, dom, b, body, setEnd);
    } else if (id >= 256) {
      const tpl = dom.templates.get(id);
      if (tpl) {
        const k = decodeDataSet(c, ex, dom, tpl, b, body, setEnd, timeMs);
        if (tpl.options) c.optionsRecords += k;
        else records += k;
      } else {
        c.templates.hold(ex, dom, id, b.subarray(body, setEnd), timeMs, uptime, secs);
        counted = false;
      }
    }
    // ids 2..255 (v9) / 4..255 (IPFIX) are reserved: skipped by their length.
    p = setEnd;
  }
  return counted ? records : -1;
}

function templateSet(
  c: DecodeContext,
  ex: ExporterState,
  dom: DomainState,
  b: Uint8Array,
  p: number,
  end: number,
): void {
  const ipfix = dom.ipfix;
  while (p + 4 <= end) {
    const id = u16(b, p);
    const count = u16(b, p + 2);
    p += 4;
    if (count === 0) {
      if (!ipfix) {
        if (id === 0) return; // zero padding
        throw new WireError(`NetFlow v9 template ${id} with no fields`);
      }
      c.templates.withdraw(ex, dom, id, false, id === 2);
      continue;
    }
    if (id < 256) throw new WireError(`template id ${id} < 256`);
    if (count > LIMITS.MAX_TEMPLATE_FIELDS)
      throw new WireError(`template ${id}: ${count} fields > ${LIMITS.MAX_TEMPLATE_FIELDS}`);
    const fields: number[] = [];
    p = readFieldSpecs(b, p, end, count, ipfix, fields);
    c.templates.add(ex, dom, { id, options: false, scopeCount: 0, fields });
  }
}

/** Field specifiers into flat [ie, len, pen] triples; returns the new offset. */
function readFieldSpecs(
  b: Uint8Array,
  p: number,
  end: number,
  count: number,
  ipfix: boolean,
  out: number[],
): number {
  for (let i = 0; i < count; i++) {
    if (p + 4 > end) throw new WireError('field specifier truncated');
    let ie = u16(b, p);
    const len = u16(b, p + 2);
    p += 4;
    let pen = 0;
    if (ipfix && ie & 0x8000) {
      if (p + 4 > end) throw new WireError('enterprise number truncated');
      ie &= 0x7fff;
      pen = u32(b, p);
      p += 4;
    }
    out.push(ie, len, pen);
  }
  return p;
}

/** RFC 3954 §6.1: template id, option scope length, option length (bytes), scope fields, option fields. */
function v9OptionsTemplateSet(
  c: DecodeContext,
  ex: ExporterState,
  dom: DomainState,
  b: Uint8Array,
  p: number,
  end: number,
): void {
  while (p + 6 <= end) {
    const id = u16(b, p);
    if (id === 0) return; // padding
    const scopeLen = u16(b, p + 2);
    const optLen = u16(b, p + 4);
    p += 6;
    if (id < 256) throw new WireError(`options template id ${id} < 256`);
    if (scopeLen % 4 || optLen % 4)
      throw new WireError(`options template ${id}: lengths ${scopeLen}/${optLen} not multiples of 4`);
    const count = (scopeLen + optLen) / 4;
    if (count > LIMITS.MAX_TEMPLATE_FIELDS) throw new WireError(`options template ${id}: ${count} fields`);
    const fields: number[] = [];
    p = readFieldSpecs(b, p, end, count, false, fields);
    c.templates.add(ex, dom, { id, options: true, scopeCount: scopeLen / 4, fields });
  }
}

/** RFC 7011 §3.4.2.2: template id, field count, scope field count, field specifiers. */
function ipfixOptionsTemplateSet(
  c: DecodeContext,
  ex: ExporterState,
  dom: DomainState,
  b: Uint8Array,
  p: number,
  end: number,
): void {
  while (p + 4 <= end) {
    const id = u16(b, p);
    const count = u16(b, p + 2);
    if (count === 0) {
      p += 4;
      c.templates.withdraw(ex, dom, id, true, id === 3);
      continue;
    }
    if (p + 6 > end) return; // padding
    const scopeCount = u16(b, p + 4);
    p += 6;
    if (id < 256) throw new WireError(`options template id ${id} < 256`);
    if (count > LIMITS.MAX_TEMPLATE_FIELDS || scopeCount > count)
      throw new WireError(`options template ${id}: ${count} fields, ${scopeCount} scope`);
    const fields: number[] = [];
    p = readFieldSpecs(b, p, end, count, true, fields);
    c.templates.add(ex, dom, { id, options: true, scopeCount, fields });
  }
}

/**
 * Decode the records of one data set with its template; returns how many were decoded
 * (flow or options records, as the template is). Options data teaches sampling rates; flow
 * data goes to the sink.
 */
export function decodeDataSet(
  c: DecodeContext,
  ex: ExporterState,
  dom: DomainState,
  tpl: Template,
  b: Uint8Array,
  p: number,
  end: number,
  timeMs: number,
): number {
  if (tpl.options) return optionsData(c, ex, dom, tpl, b, p, end);
  const rec = c.rec;
  const acc = c.acc;
  const st = ex.stats;
  rec.exporter = ex.address;
  rec.timeMs = timeMs;
  rec.header = null;
  rec.headerLinkType = 0;
  rec.frameLength = 0;
  rec.packetLength = 0;
  const setRate = tpl.perRecordRate ? 0 : c.rates.forSet(ex, dom);
  const rates = c.rates.forDomain(ex, dom);
  let n = 0;
  if (tpl.fast === undefined) tpl.fast = compileFast(tpl);
  if (tpl.fast) {
    n = tpl.fast(b, p, end, rec, c.sink, setRate, rates, LIMITS.MAX_RECORDS_PER_SET);
    st.records += n;
    return n;
  }
  if (tpl.fixedLen > 0) {
    const rl = tpl.fixedLen;
    while (p + rl <= end) {
      if (n >= LIMITS.MAX_RECORDS_PER_SET) break;
      resetAcc(acc, rec);
      applyPlan(acc, rec, tpl, b, p);
      n++;
      st.records++;
      emitRecord(c, rates, tpl, setRate);
      p += rl;
    }
    return n;
  }
  // Variable-length template: walk every field to find the next one.
  while (end - p >= tpl.minLen) {
    if (n >= LIMITS.MAX_RECORDS_PER_SET) break;
    resetAcc(acc, rec);
    const next = walkRecord(acc, rec, tpl, b, p, end);
    if (next < 0) {
      // A short tail is padding (§3.3.1); anything longer is a broken record.
      if (end - p < 4) break;
      throw new WireError(`variable-length record of template ${tpl.id} overruns its set`);
    }
    p = next;
    n++;
    st.records++;
    emitRecord(c, rates, tpl, setRate);
  }
  return n;
}

/** Options data records: learn sampling (IE 34, 50, 305/306, 309/310) per sampler id (48/302). */
function optionsData(
  c: DecodeContext,
  ex: ExporterState,
  dom: DomainState,
  tpl: Template,
  b: Uint8Array,
  p: number,
  end: number,
): number {
  const rec = c.rec;
  const acc = c.acc;
  let n = 0;
  while (end - p >= tpl.minLen && n < LIMITS.MAX_RECORDS_PER_SET) {
    resetAcc(acc, rec);
    const next = walkRecord(acc, rec, tpl, b, p, end);
    if (next < 0) {
      if (end - p < 4) break;
      throw new WireError(`options record of template ${tpl.id} overruns its set`);
    }
    p = next;
    n++;
    ex.stats.optionsRecords++;
    const rate = optionsRate(acc);
    if (rate > 0) c.rates.learn(ex, dom, acc.sid, rate);
  }
  return n;
}
