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
import { WireError } from '../wire/reader.js';
import type { DomainState, ExporterState, FlowDecoder } from './decoder.js';
import { checkSeq } from './decoder.js';
import { LIMITS } from './limits.js';
import { Role, readUint, VARLEN, type Template, type TemplateSpec } from './template.js';
import type { FlowRecord } from './flow.js';
import { compileFast } from './codegen.js';

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

export function decodeNetflow9(d: FlowDecoder, ex: ExporterState, b: Uint8Array, timeMs: number): void {
  if (b.length < 20) throw new WireError('NetFlow v9 header truncated');
  d.hdrUptime = u32(b, 4);
  d.hdrSecs = u32(b, 8);
  const seq = u32(b, 12);
  const sourceId = u32(b, 16);
  const dom = ex.domain(false, sourceId, true);
  if (!dom) throw new WireError('too many source ids');
  checkSeq(ex.stats, dom.nextSeq, seq);
  dom.nextSeq = (seq + 1) >>> 0;
  walkSets(d, ex, dom, false, b, 20, b.length, timeMs);
}

export function decodeIpfix(d: FlowDecoder, ex: ExporterState, b: Uint8Array, timeMs: number): void {
  if (b.length < 16) throw new WireError('IPFIX header truncated');
  const len = u16(b, 2);
  if (len < 16 || len > b.length) throw new WireError(`IPFIX length ${len} vs datagram ${b.length}`);
  d.hdrUptime = 0;
  d.hdrSecs = u32(b, 4);
  const seq = u32(b, 8);
  const domainId = u32(b, 12);
  const dom = ex.domain(true, domainId, true);
  if (!dom) throw new WireError('too many observation domains');
  const n = walkSets(d, ex, dom, true, b, 16, len, timeMs);
  if (n < 0) {
    // Some data waited for its template: this message's record count is unknown.
    dom.lastSeq = -1;
    dom.nextSeq = -1;
    return;
  }
  if (dom.lastSeq >= 0) {
    // RFC 7011 §3.1: sequence = data records sent before this message. Some exporters
    // (softflowd) count this message's records too; accept that convention once seen.
    const rfc = dom.nextSeq;
    const post = (dom.lastSeq + n) >>> 0;
    if (seq === post && seq !== rfc) dom.postSeq = true;
    else if (seq !== rfc) checkSeq(ex.stats, dom.postSeq ? post : rfc, seq);
  }
  dom.lastSeq = seq;
  dom.nextSeq = (seq + n) >>> 0;
}

/** Returns data records decoded, or -1 when some could not be counted (held data). */
function walkSets(d: FlowDecoder, ex: ExporterState, dom: DomainState, ipfix: boolean, b: Uint8Array, p: number, end: number, timeMs: number): number {
  let records = 0;
  let counted = true;
  const tplSet = ipfix ? 2 : 0;
  const optSet = ipfix ? 3 : 1;
  while (p + 4 <= end) {
    const id = u16(b, p);
    const len = u16(b, p + 2);
    if (len < 4 || p + len > end) throw new WireError(`set ${id} length ${len} at ${p} exceeds message end ${end}`);
    const body = p + 4;
    const setEnd = p + len;
    if (id === tplSet) templateSet(d, ex, dom, ipfix, b, body, setEnd);
    else if (id === optSet) {
      if (ipfix) ipfixOptionsTemplateSet(d, ex, dom, b, body, setEnd);
      else v9OptionsTemplateSet(d, ex, dom, b, body, setEnd);
    } else if (id >= 256) {
      const tpl = dom.templates.get(id);
      if (tpl) records += decodeDataSet(d, ex, dom, tpl, b, body, setEnd, timeMs);
      else {
        d.hold(ex, ipfix, dom.domain, id, b.subarray(body, setEnd), timeMs);
        counted = false;
      }
    }
    // ids 2..255 (v9) / 4..255 (IPFIX) are reserved: skipped by their length.
    p = setEnd;
  }
  return counted ? records : -1;
}

function templateSet(d: FlowDecoder, ex: ExporterState, dom: DomainState, ipfix: boolean, b: Uint8Array, p: number, end: number): void {
  while (p + 4 <= end) {
    const id = u16(b, p);
    const count = u16(b, p + 2);
    p += 4;
    if (count === 0) {
      if (!ipfix) {
        if (id === 0) return; // zero padding
        throw new WireError(`NetFlow v9 template ${id} with no fields`);
      }
      d.withdrawTemplate(ex, dom, id, false, id === 2);
      continue;
    }
    if (id < 256) throw new WireError(`template id ${id} < 256`);
    if (count > LIMITS.MAX_TEMPLATE_FIELDS) throw new WireError(`template ${id}: ${count} fields > ${LIMITS.MAX_TEMPLATE_FIELDS}`);
    const fields: number[] = [];
    p = readFieldSpecs(b, p, end, count, ipfix, fields);
    d.addTemplate(ex, ipfix, dom, { id, options: false, scopeCount: 0, fields });
  }
}

/** Field specifiers into flat [ie, len, pen] triples; returns the new offset. */
function readFieldSpecs(b: Uint8Array, p: number, end: number, count: number, ipfix: boolean, out: number[]): number {
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
function v9OptionsTemplateSet(d: FlowDecoder, ex: ExporterState, dom: DomainState, b: Uint8Array, p: number, end: number): void {
  while (p + 6 <= end) {
    const id = u16(b, p);
    if (id === 0) return; // padding
    const scopeLen = u16(b, p + 2);
    const optLen = u16(b, p + 4);
    p += 6;
    if (id < 256) throw new WireError(`options template id ${id} < 256`);
    if (scopeLen % 4 || optLen % 4) throw new WireError(`options template ${id}: lengths ${scopeLen}/${optLen} not multiples of 4`);
    const count = (scopeLen + optLen) / 4;
    if (count > LIMITS.MAX_TEMPLATE_FIELDS) throw new WireError(`options template ${id}: ${count} fields`);
    const fields: number[] = [];
    p = readFieldSpecs(b, p, end, count, false, fields);
    d.addTemplate(ex, false, dom, { id, options: true, scopeCount: scopeLen / 4, fields });
  }
}

/** RFC 7011 §3.4.2.2: template id, field count, scope field count, field specifiers. */
function ipfixOptionsTemplateSet(d: FlowDecoder, ex: ExporterState, dom: DomainState, b: Uint8Array, p: number, end: number): void {
  while (p + 4 <= end) {
    const id = u16(b, p);
    const count = u16(b, p + 2);
    if (count === 0) {
      p += 4;
      d.withdrawTemplate(ex, dom, id, true, id === 3);
      continue;
    }
    if (p + 6 > end) return; // padding
    const scopeCount = u16(b, p + 4);
    p += 6;
    if (id < 256) throw new WireError(`options template id ${id} < 256`);
    if (count > LIMITS.MAX_TEMPLATE_FIELDS || scopeCount > count) throw new WireError(`options template ${id}: ${count} fields, ${scopeCount} scope`);
    const fields: number[] = [];
    p = readFieldSpecs(b, p, end, count, true, fields);
    d.addTemplate(ex, true, dom, { id, options: true, scopeCount, fields });
  }
}

/** Per-record values gathered by applyField before normalisation (one shared instance). */
const acc = {
  bytes: -1,
  pkts: -1,
  outBytes: -1,
  outPkts: -1,
  initB: -1,
  respB: -1,
  initP: -1,
  respP: -1,
  flows: 0,
  first: -1,
  last: -1,
  startMs: -1,
  endMs: -1,
  startDelta: -1,
  endDelta: -1,
  durMs: -1,
  sid: -1,
  interval: 0,
  rndInterval: 0,
  pktInterval: 0,
  pktSpace: 0,
  sampSize: 0,
  sampPop: 0,
  fwd: -1,
  fragFlags: 0,
  fragOff: 0,
  icmp: -1,
  addr: 0, // 4 or 6 when an address was seen
};

function resetAcc(rec: FlowRecord): void {
  acc.bytes = -1;
  acc.pkts = -1;
  acc.outBytes = -1;
  acc.outPkts = -1;
  acc.initB = -1;
  acc.respB = -1;
  acc.initP = -1;
  acc.respP = -1;
  acc.flows = 0;
  acc.first = -1;
  acc.last = -1;
  acc.startMs = -1;
  acc.endMs = -1;
  acc.startDelta = -1;
  acc.endDelta = -1;
  acc.durMs = -1;
  acc.sid = -1;
  acc.interval = 0;
  acc.rndInterval = 0;
  acc.fwd = -1;
  acc.fragFlags = 0;
  acc.fragOff = 0;
  acc.icmp = -1;
  acc.addr = 0;
  rec.src4 = 0;
  rec.dst4 = 0;
  rec.protocol = 0;
  rec.srcPort = 0;
  rec.dstPort = 0;
  rec.tcpFlags = 0;
  rec.icmpType = -1;
  rec.icmpCode = -1;
  rec.ifIn = 0;
  rec.ifOut = 0;
}

/** NTP-format timestamp (RFC 7011 §6.1.9/6.1.10) to ms; the epoch offset cancels in differences. */
function ntpMs(b: Uint8Array, o: number): number {
  return u32(b, o) * 1000 + u32(b, o + 4) / 4294967.296;
}

function applyField(rec: FlowRecord, role: number, b: Uint8Array, o: number, len: number): void {
  switch (role) {
    case Role.Bytes:
      acc.bytes = readUint(b, o, len);
      return;
    case Role.Packets:
      acc.pkts = readUint(b, o, len);
      return;
    case Role.Src4:
      rec.src4 = u32(b, o);
      acc.addr = 4;
      return;
    case Role.Dst4:
      rec.dst4 = u32(b, o);
      acc.addr = 4;
      return;
    case Role.Src6: {
      const a = rec.src6;
      for (let i = 0; i < 16; i++) a[i] = b[o + i]!;
      acc.addr = 6;
      return;
    }
    case Role.Dst6: {
      const a = rec.dst6;
      for (let i = 0; i < 16; i++) a[i] = b[o + i]!;
      acc.addr = 6;
      return;
    }
    case Role.Proto:
      rec.protocol = b[o + len - 1]!;
      return;
    case Role.TcpFlags:
      rec.tcpFlags = readUint(b, o, len) & 0xfff;
      return;
    case Role.SrcPort:
      rec.srcPort = readUint(b, o, len) & 0xffff;
      return;
    case Role.DstPort:
      rec.dstPort = readUint(b, o, len) & 0xffff;
      return;
    case Role.IfIn:
      rec.ifIn = readUint(b, o, len);
      return;
    case Role.IfOut:
      rec.ifOut = readUint(b, o, len);
      return;
    case Role.OutBytes:
      acc.outBytes = readUint(b, o, len);
      return;
    case Role.OutPackets:
      acc.outPkts = readUint(b, o, len);
      return;
    case Role.InitBytes:
      acc.initB = readUint(b, o, len);
      return;
    case Role.RespBytes:
      acc.respB = readUint(b, o, len);
      return;
    case Role.InitPackets:
      acc.initP = readUint(b, o, len);
      return;
    case Role.RespPackets:
      acc.respP = readUint(b, o, len);
      return;
    case Role.Flows:
      acc.flows = readUint(b, o, len);
      return;
    case Role.IcmpTypeCode:
      acc.icmp = readUint(b, o, len) & 0xffff;
      return;
    case Role.IcmpType:
      rec.icmpType = b[o + len - 1]!;
      return;
    case Role.IcmpCode:
      rec.icmpCode = b[o + len - 1]!;
      return;
    case Role.FirstUptime:
      acc.first = readUint(b, o, len);
      return;
    case Role.LastUptime:
      acc.last = readUint(b, o, len);
      return;
    case Role.StartSec:
      acc.startMs = readUint(b, o, len) * 1000;
      return;
    case Role.EndSec:
      acc.endMs = readUint(b, o, len) * 1000;
      return;
    case Role.StartMs:
      acc.startMs = readUint(b, o, len);
      return;
    case Role.EndMs:
      acc.endMs = readUint(b, o, len);
      return;
    case Role.StartNtp:
      acc.startMs = ntpMs(b, o);
      return;
    case Role.EndNtp:
      acc.endMs = ntpMs(b, o);
      return;
    case Role.StartDeltaUs:
      acc.startDelta = readUint(b, o, len);
      return;
    case Role.EndDeltaUs:
      acc.endDelta = readUint(b, o, len);
      return;
    case Role.DurationMs:
      acc.durMs = readUint(b, o, len);
      return;
    case Role.DurationUs:
      acc.durMs = readUint(b, o, len) / 1000;
      return;
    case Role.SamplerId:
      acc.sid = readUint(b, o, len);
      return;
    case Role.SamplingInterval:
      acc.interval = readUint(b, o, len);
      return;
    case Role.SamplerRandomInterval:
      acc.rndInterval = readUint(b, o, len);
      return;
    case Role.PacketInterval:
      acc.pktInterval = readUint(b, o, len);
      return;
    case Role.PacketSpace:
      acc.pktSpace = readUint(b, o, len);
      return;
    case Role.SamplingSize:
      acc.sampSize = readUint(b, o, len);
      return;
    case Role.SamplingPopulation:
      acc.sampPop = readUint(b, o, len);
      return;
    case Role.ForwardingStatus:
      // RFC 7270 §4.12: status in the two high bits of the first byte; 10 = dropped.
      acc.fwd = b[o]!;
      return;
    case Role.FragmentFlags:
      acc.fragFlags = b[o + len - 1]!;
      return;
    case Role.FragmentOffset:
      acc.fragOff = readUint(b, o, len);
      return;
    default:
      return;
  }
}

/**
 * Decode the records of one data set with its template; returns how many were decoded.
 * Options data teaches sampling rates; flow data goes to the sink.
 */
export function decodeDataSet(
  d: FlowDecoder,
  ex: ExporterState,
  dom: DomainState,
  tpl: Template,
  b: Uint8Array,
  p: number,
  end: number,
  timeMs: number,
): number {
  if (tpl.options) {
    optionsData(d, ex, dom, tpl, b, p, end);
    return 0;
  }
  const rec = d.rec;
  const st = ex.stats;
  rec.exporter = ex.address;
  rec.timeMs = timeMs;
  rec.header = null;
  rec.headerLinkType = 0;
  rec.frameLength = 0;
  rec.packetLength = 0;
  const setRate = tpl.perRecordRate ? 0 : d.rateFor(ex, dom, -1, 0);
  let n = 0;
  if (tpl.fast === undefined) tpl.fast = compileFast(tpl);
  if (tpl.fast) {
    n = tpl.fast(b, p, end, rec, d.sink, setRate, d, ex, dom, LIMITS.MAX_RECORDS_PER_SET);
    st.records += n;
    return n;
  }
  if (tpl.fixedLen > 0) {
    const rl = tpl.fixedLen;
    const plan = tpl.plan;
    const np = plan.length;
    while (p + rl <= end) {
      if (n >= LIMITS.MAX_RECORDS_PER_SET) break;
      resetAcc(rec);
      for (let k = 0; k < np; k += 3) applyField(rec, plan[k]!, b, p + plan[k + 1]!, plan[k + 2]!);
      n++;
      st.records++;
      emit(d, ex, dom, tpl, setRate);
      p += rl;
    }
    return n;
  }
  // Variable-length template: walk every field to find the next one.
  const roles = tpl.roles;
  const lens = tpl.lens;
  const nf = roles.length;
  while (end - p >= tpl.minLen) {
    if (n >= LIMITS.MAX_RECORDS_PER_SET) break;
    const start = p;
    resetAcc(rec);
    let ok = true;
    for (let i = 0; i < nf; i++) {
      let len = lens[i]!;
      if (len === VARLEN) {
        if (p + 1 > end) {
          ok = false;
          break;
        }
        len = b[p++]!;
        if (len === 255) {
          if (p + 2 > end) {
            ok = false;
            break;
          }
          len = u16(b, p);
          p += 2;
        }
      }
      if (p + len > end) {
        ok = false;
        break;
      }
      const role = roles[i]!;
      if (role !== Role.Skip) applyField(rec, role, b, p, len);
      p += len;
    }
    if (!ok) {
      // A short tail is padding (§3.3.1); anything longer is a broken record.
      if (end - start < 4) break;
      throw new WireError(`variable-length record of template ${tpl.id} overruns its set`);
    }
    n++;
    st.records++;
    emit(d, ex, dom, tpl, setRate);
  }
  return n;
}

function emit(d: FlowDecoder, ex: ExporterState, dom: DomainState, tpl: Template, setRate: number): void {
  const rec = d.rec;
  let rate = setRate;
  if (tpl.perRecordRate) rate = d.rateFor(ex, dom, acc.sid, acc.interval > 0 ? acc.interval : acc.rndInterval);
  rec.samplingRate = rate;
  // Duration: whichever time encoding the template carries (RFC 3954 FIRST/LAST_SWITCHED are
  // sysUptime ms and may wrap, RFC 7011 absolute seconds/ms/NTP, deltas, or a duration).
  let dur = 0;
  if (acc.durMs >= 0) dur = acc.durMs;
  else if (acc.first >= 0 && acc.last >= 0) {
    const x = (acc.last - acc.first) >>> 0;
    dur = x < 0x80000000 ? x : 0;
  } else if (acc.startMs >= 0 && acc.endMs >= acc.startMs) dur = acc.endMs - acc.startMs;
  else if (acc.startDelta >= 0 && acc.endDelta >= 0 && acc.startDelta >= acc.endDelta) dur = (acc.startDelta - acc.endDelta) / 1000;
  rec.durationMs = dur;
  rec.dropped = acc.fwd >= 0 && acc.fwd >> 6 === 2;
  // fragmentFlags (RFC 7012 IE 197): MF is bit 2 counted from the MSB (0x20).
  rec.fragment = (acc.fragFlags & 0x20) !== 0 || acc.fragOff > 0;
  if (rec.protocol === 1 || rec.protocol === 58) {
    // ICMP type/code as type*256+code: from IE 32/139, else from the destination port
    // where many exporters put it.
    const tc = acc.icmp >= 0 ? acc.icmp : rec.dstPort;
    if (rec.icmpType < 0) rec.icmpType = tc >> 8;
    if (rec.icmpCode < 0) rec.icmpCode = tc & 255;
  }
  // Templates with both families (some exporters zero-fill the unused one): IPv4 when set.
  rec.ipVersion = tpl.mixedAf ? ((rec.src4 | rec.dst4) !== 0 ? 4 : 6) : acc.addr === 6 ? 6 : 4;
  const flows = (acc.flows > 0 ? acc.flows : 1) * rate;
  rec.flows = flows;
  rec.reverse = false;
  let bytes = acc.bytes;
  let pkts = acc.pkts;
  if (bytes < 0) bytes = acc.outBytes >= 0 ? acc.outBytes : acc.initB >= 0 ? acc.initB : 0;
  if (pkts < 0) pkts = acc.outPkts >= 0 ? acc.outPkts : acc.initP >= 0 ? acc.initP : 0;
  if (acc.addr === 0) return; // no IP addresses (e.g. a layer-2 template): counted, not emitted
  rec.packets = pkts * rate;
  rec.bytes = bytes * rate;
  d.sink.onFlow(rec);
  if (tpl.biflow && (acc.respB > 0 || acc.respP > 0)) {
    // Responder direction (Cisco ASA NSEL, RFC 5103): dst -> src with the responder counters.
    swapDirection(rec);
    rec.reverse = true;
    rec.flows = 0;
    rec.packets = (acc.respP > 0 ? acc.respP : 0) * rate;
    rec.bytes = (acc.respB > 0 ? acc.respB : 0) * rate;
    d.sink.onFlow(rec);
    swapDirection(rec);
    rec.reverse = false;
  }
}

function swapDirection(rec: FlowRecord): void {
  const s4 = rec.src4;
  rec.src4 = rec.dst4;
  rec.dst4 = s4;
  const s6 = rec.src6;
  rec.src6 = rec.dst6;
  rec.dst6 = s6;
  const sp = rec.srcPort;
  rec.srcPort = rec.dstPort;
  rec.dstPort = sp;
  const i = rec.ifIn;
  rec.ifIn = rec.ifOut;
  rec.ifOut = i;
}

/** Options data records: learn sampling (IE 34, 50, 305/306, 309/310) per sampler id (48/302). */
function optionsData(d: FlowDecoder, ex: ExporterState, dom: DomainState, tpl: Template, b: Uint8Array, p: number, end: number): void {
  const roles = tpl.roles;
  const lens = tpl.lens;
  const nf = roles.length;
  const rec = d.rec;
  let n = 0;
  while (end - p >= tpl.minLen && n < LIMITS.MAX_RECORDS_PER_SET) {
    const start = p;
    resetAcc(rec);
    acc.pktInterval = 0;
    acc.pktSpace = -1;
    acc.sampSize = 0;
    acc.sampPop = 0;
    let ok = true;
    for (let i = 0; i < nf; i++) {
      let len = lens[i]!;
      if (len === VARLEN) {
        if (p + 1 > end) {
          ok = false;
          break;
        }
        len = b[p++]!;
        if (len === 255) {
          if (p + 2 > end) {
            ok = false;
            break;
          }
          len = u16(b, p);
          p += 2;
        }
      }
      if (p + len > end) {
        ok = false;
        break;
      }
      if (roles[i] !== Role.Skip) applyField(rec, roles[i]!, b, p, len);
      p += len;
    }
    if (!ok) {
      if (end - start < 4) break;
      throw new WireError(`options record of template ${tpl.id} overruns its set`);
    }
    n++;
    ex.stats.optionsRecords++;
    let rate = 0;
    if (acc.interval > 0) rate = acc.interval;
    else if (acc.rndInterval > 0) rate = acc.rndInterval;
    else if (acc.pktInterval > 0 && acc.pktSpace >= 0) rate = (acc.pktInterval + acc.pktSpace) / acc.pktInterval;
    else if (acc.sampSize > 0 && acc.sampPop >= acc.sampSize) rate = acc.sampPop / acc.sampSize;
    if (rate > 0) d.learnRate(ex, dom, acc.sid, rate);
  }
}

export type { TemplateSpec };
