/**
 * One NetFlow v9 / IPFIX record on the generic (not compiled) path: its fields applied by
 * role into the decoder's accumulator (record-acc.ts), then normalised into the decoder's
 * FlowRecord (time encodings, sampling, biflow directions). Set and template parsing live in netflow9.ts;
 * the compiled fixed-length fast path in codegen.ts follows the same precedences.
 */
import { Role, readUint, VARLEN, type RecordRates, type Template } from './template.js';
import type { FlowRecord } from '../flow.js';
import type { RecordAcc, RecordOut } from './record-acc.js';
import { u16, u32 } from './bytes.js';
import { clearL4, LINKTYPE, parseFrame } from './packet.js';

export function resetAcc(acc: RecordAcc, rec: FlowRecord): void {
  acc.reset();
  rec.src4 = 0;
  rec.dst4 = 0;
  rec.protocol = 0;
  clearL4(rec);
  rec.ifIn = 0;
  rec.ifOut = 0;
}

/** NTP-format timestamp (RFC 7011 §6.1.9/6.1.10) to ms; the epoch offset cancels in differences. */
function ntpMs(b: Uint8Array, o: number): number {
  return u32(b, o) * 1000 + u32(b, o + 4) / 4294967.296;
}

function applyField(
  acc: RecordAcc,
  rec: FlowRecord,
  role: number,
  b: Uint8Array,
  o: number,
  len: number,
): void {
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
    case Role.L2Section:
      acc.secBuf = b;
      acc.secOff = o;
      acc.secLen = len;
      acc.secLink = LINKTYPE.ETHERNET;
      return;
    case Role.IpSection:
      // A frame section (315) is preferred when both are sent: detection keeps it as a sample.
      if (acc.secLink === LINKTYPE.ETHERNET) return;
      acc.secBuf = b;
      acc.secOff = o;
      acc.secLen = len;
      acc.secLink = LINKTYPE.RAW;
      return;
    case Role.FrameSize:
      acc.frameSize = readUint(b, o, len);
      return;
    case Role.IpTotalLength:
      acc.ipTotal = readUint(b, o, len);
      return;
    case Role.SectionOctets:
      acc.secOctets = readUint(b, o, len);
      return;
    case Role.SectionOffset:
      acc.secShift = readUint(b, o, len);
      return;
    default:
      return;
  }
}

/** Apply a fixed-length record at `p` through the template's plan of [role, offset, length]. */
export function applyPlan(acc: RecordAcc, rec: FlowRecord, tpl: Template, b: Uint8Array, p: number): void {
  const plan = tpl.plan;
  const np = plan.length;
  for (let k = 0; k < np; k += 3) applyField(acc, rec, plan[k]!, b, p + plan[k + 1]!, plan[k + 2]!);
}

/**
 * Apply one record's fields in template order, reading the 1- or 3-byte length prefix of
 * variable-length fields (RFC 7011 §7). Returns the offset after the record, or -1 when a
 * field overruns `end`. Allocation-free: values land in `acc` and `rec`.
 */
export function walkRecord(
  acc: RecordAcc,
  rec: FlowRecord,
  tpl: Template,
  b: Uint8Array,
  p: number,
  end: number,
): number {
  const roles = tpl.roles;
  const lens = tpl.lens;
  const nf = roles.length;
  for (let i = 0; i < nf; i++) {
    let len = lens[i]!;
    if (len === VARLEN) {
      if (p + 1 > end) return -1;
      len = b[p++]!;
      if (len === 255) {
        if (p + 2 > end) return -1;
        len = u16(b, p);
        p += 2;
      }
    }
    if (p + len > end) return -1;
    const role = roles[i]!;
    if (role !== Role.Skip) applyField(acc, rec, role, b, p, len);
    p += len;
  }
  return p;
}

/**
 * Normalise the record gathered in `o.acc`/`o.rec` and hand it to the sink (twice for a
 * biflow record). `rates` answers per-record sampling for the set's domain.
 */
export function emitRecord(o: RecordOut, rates: RecordRates, tpl: Template, setRate: number): void {
  const rec = o.rec;
  const acc = o.acc;
  let rate = setRate;
  if (tpl.perRecordRate) rate = rates.forRecord(acc.sid, acc.interval > 0 ? acc.interval : acc.rndInterval);
  rec.samplingRate = rate;
  // Duration: whichever time encoding the template carries (RFC 3954 FIRST/LAST_SWITCHED are
  // sysUptime ms and may wrap, RFC 7011 absolute seconds/ms/NTP, deltas, or a duration).
  let dur = 0;
  if (acc.durMs >= 0) dur = acc.durMs;
  else if (acc.first >= 0 && acc.last >= 0) {
    const x = (acc.last - acc.first) >>> 0;
    dur = x < 0x80000000 ? x : 0;
  } else if (acc.startMs >= 0 && acc.endMs >= acc.startMs) dur = acc.endMs - acc.startMs;
  else if (acc.startDelta >= 0 && acc.endDelta >= 0 && acc.startDelta >= acc.endDelta)
    dur = (acc.startDelta - acc.endDelta) / 1000;
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
  if (bytes < 0) bytes = acc.outBytes >= 0 ? acc.outBytes : Math.max(acc.initB, 0);
  if (pkts < 0) pkts = acc.outPkts >= 0 ? acc.outPkts : Math.max(acc.initP, 0);
  if (tpl.section && acc.secLen > 0 && noAddress(acc, rec)) {
    emitSection(o, bytes, pkts, rate);
    return;
  }
  if (acc.addr === 0) return; // no IP addresses (e.g. a layer-2 template): counted, not emitted
  rec.packets = pkts * rate;
  rec.bytes = bytes * rate;
  o.sink.onFlow(rec);
  if (tpl.biflow && (acc.respB > 0 || acc.respP > 0)) {
    // Responder direction (Cisco ASA NSEL, RFC 5103): dst -> src with the responder counters.
    // It is the same flow seen from the responder, so its host counts that flow too (the
    // forward direction's flow count, sampling applied); `reverse` tells record counters
    // that no new record arrived.
    swapDirection(rec);
    rec.reverse = true;
    rec.packets = Math.max(acc.respP, 0) * rate;
    rec.bytes = Math.max(acc.respB, 0) * rate;
    o.sink.onFlow(rec);
    swapDirection(rec);
    rec.reverse = false;
  }
}

/** No address field, or only zero ones (exporters zero-fill the fields of a packet report). */
function noAddress(acc: RecordAcc, rec: FlowRecord): boolean {
  if (acc.addr === 0) return true;
  if ((rec.src4 | rec.dst4) !== 0) return false;
  const s = rec.src6;
  const t = rec.dst6;
  if (acc.addr === 6) for (let i = 0; i < 16; i++) if ((s[i]! | t[i]!) !== 0) return false;
  return true;
}

/**
 * A PSAMP packet report (RFC 5476 §6.4, RFC 5477 §8.2; Juniper inline monitoring, softflowd
 * `-v psamp`) or a NetFlow v9 record with layer2packetSectionData (104): the addresses,
 * protocol, ports, TCP flags, fragment flag and ICMP type/code come from the innermost IP
 * header of the section, parsed by the frame parser mirror and sFlow use (packet.ts), in place
 * in the datagram. 315 and 104 start at the link layer (Ethernet), 313 at the IP header.
 * The section's valid length is sectionExportedOctets (410) / v9 103 when given (softflowd pads
 * a fixed-size field with zeros). A v9 section with a non-zero offset (102) does not start at
 * the frame start and is not parsed.
 * Counters: packets = the record's packet count, else 1 (one report per sampled packet);
 * bytes = the record's octet count, else dataLinkFrameSize (312), else ipTotalLength (224),
 * else the total length in the innermost IP header of the section (IPv6: payload length + 40).
 * Both are scaled by the sampling rate as for any record. A section without an IP header
 * (ARP, ...) is counted as a record without IP, like a layer-2 template.
 */
function emitSection(o: RecordOut, bytes: number, pkts: number, rate: number): void {
  const rec = o.rec;
  const acc = o.acc;
  const b = acc.secBuf!;
  let len = acc.secLen;
  if (acc.secOctets >= 0 && acc.secOctets < len) len = acc.secOctets;
  if (acc.secShift > 0) return;
  // parseFrame clears the L3/L4 fields first (not ifIn/ifOut/dropped): what the template said
  // about them is replaced by the packet itself.
  if (!parseFrame(b, acc.secOff, acc.secOff + len, acc.secLink, rec)) return;
  if (acc.bytes < 0 && acc.outBytes < 0 && acc.initB < 0) {
    bytes = acc.frameSize > 0 ? acc.frameSize : acc.ipTotal > 0 ? acc.ipTotal : rec.packetLength;
  }
  if (acc.pkts < 0 && acc.outPkts < 0 && acc.initP < 0) pkts = 1;
  rec.packets = pkts * rate;
  rec.bytes = bytes * rate;
  const l2 = acc.secLink === LINKTYPE.ETHERNET;
  if (l2) {
    // The frame goes to detection's samples/pcap as it came (a view, no copy). Its wire
    // length: dataLinkFrameSize, else the IP length plus an untagged Ethernet header, or the
    // section when it is longer (tags, Ethernet padding of short frames).
    rec.setHeader(b, acc.secOff, len);
    rec.headerLinkType = LINKTYPE.ETHERNET;
    const est = rec.packetLength + 14;
    rec.frameLength = acc.frameSize > 0 ? acc.frameSize : Math.max(len, est);
  }
  o.sink.onFlow(rec);
  if (l2) {
    rec.setHeader(null, 0, 0);
    rec.headerLinkType = 0;
    rec.frameLength = 0;
  }
  rec.packetLength = 0;
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

/** Sampling rate an options record taught (RFC 7270 §4.1-4.6 / RFC 7012 §5.2), 0 for none. */
export function optionsRate(acc: RecordAcc): number {
  if (acc.interval > 0) return acc.interval;
  if (acc.rndInterval > 0) return acc.rndInterval;
  if (acc.pktInterval > 0 && acc.pktSpace >= 0) return (acc.pktInterval + acc.pktSpace) / acc.pktInterval;
  if (acc.sampSize > 0 && acc.sampPop >= acc.sampSize) return acc.sampPop / acc.sampSize;
  return 0;
}
