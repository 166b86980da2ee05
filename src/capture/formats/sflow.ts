/**
 * sFlow version 5 (https://sflow.org/sflow_version_5.txt), XDR-encoded, all big-endian.
 *
 * Datagram: version (5), agent address (type 1 = IPv4 / 2 = IPv6, then 4 or 16 bytes),
 * sub-agent id, sequence (datagrams per agent/sub-agent), uptime, sample count, samples.
 * Sample: data_format (enterprise << 12 | format), length, body. Enterprise 0 formats:
 *   1 flow_sample, 3 flow_sample_expanded -> decoded; 2 counters_sample, 4 counters_sample_expanded
 *   -> counted. Others are skipped by length.
 * Flow records (enterprise 0): 1 sampled_header (header_protocol, frame_length, stripped,
 *   header bytes padded to 4), 3 sampled_ipv4, 4 sampled_ipv6, 1001 extended_switch,
 *   1002 extended_router, 1003 extended_gateway (length-checked and skipped: they carry VLANs,
 *   next hops and AS paths, which the FlowRecord does not hold).
 * Each flow sample becomes one FlowRecord: packets = sampling_rate, bytes = frame_length x
 * rate (frame_length includes the FCS the agent counted), addresses/ports from the innermost
 * IP header of the sampled packet (or the sampled_ipv4/ipv6 record when there is no header).
 */
import { WireError } from '../../wire/reader.js';
import { v4ToString, v6ToString } from '../../wire/addr.js';
import { checkSeq, type ExporterState } from '../exporter/exporter.js';
import type { DecodeContext } from './context.js';
import { LIMITS } from '../limits.js';
import { u32 } from './bytes.js';
import { clearL3, parseEthernet, parseIpv4, parseIpv6 } from './packet.js';
import type { FlowRecord } from '../flow.js';

export function decodeSflow(c: DecodeContext, ex: ExporterState, b: Uint8Array, timeMs: number): void {
  const end = b.length;
  if (end < 28) throw new WireError('sFlow header truncated');
  const atype = u32(b, 4);
  let p = 8;
  if (atype === 1) {
    const a = u32(b, 8);
    if (a !== ex.agent4) setAgent4(c, ex, a);
    p += 4;
  } else if (atype === 2) {
    if (end < 40) throw new WireError('sFlow header truncated');
    if (!sameAgent6(ex.agent6, b, 8)) setAgent6(c, ex, b.slice(8, 24));
    p += 16;
  } else throw new WireError(`sFlow agent address type ${atype}`);
  const subAgent = u32(b, p);
  const seq = u32(b, p + 4);
  const nSamples = u32(b, p + 12);
  p += 16;
  const st = ex.stats;
  checkSeq(st, ex.seq.get(subAgent) ?? -1, seq);
  ex.seq.set(subAgent, (seq + 1) >>> 0);
  if (nSamples > LIMITS.SFLOW_MAX_SAMPLES)
    throw new WireError(`sFlow ${nSamples} samples > ${LIMITS.SFLOW_MAX_SAMPLES}`);
  const rec = c.rec;
  rec.exporter = ex.agentText;
  rec.timeMs = timeMs;
  rec.durationMs = 0;
  rec.dropped = false;
  rec.reverse = false;
  rec.flows = 0;
  for (let i = 0; i < nSamples; i++) {
    if (p + 8 > end) throw new WireError('sFlow sample header truncated');
    const fmt = u32(b, p);
    const len = u32(b, p + 4);
    const body = p + 8;
    if (len > end - body) throw new WireError(`sFlow sample length ${len} exceeds datagram`);
    const sEnd = body + len;
    if (fmt === 1 || fmt === 3) flowSample(c, ex, b, body, sEnd, fmt === 3);
    else if (fmt === 2 || fmt === 4) st.counterSamples++;
    p = sEnd;
  }
}

function setAgent4(c: DecodeContext, ex: ExporterState, a: number): void {
  ex.agent4 = a;
  ex.agent6 = null;
  internAgent(c, ex, v4ToString(a));
}

function setAgent6(c: DecodeContext, ex: ExporterState, a: Uint8Array): void {
  ex.agent4 = -1;
  ex.agent6 = a;
  internAgent(c, ex, v6ToString(a));
}

function internAgent(c: DecodeContext, ex: ExporterState, text: string): void {
  ex.agentText = text;
  ex.sflowRate = 0;
  ex.seq.clear();
  ex.agentOverride = c.rates.overrideFor(text) || ex.override;
  if (ex.stats.agents.length < 16 && !ex.stats.agents.includes(text)) ex.stats.agents.push(text);
}

function sameAgent6(a: Uint8Array | null, b: Uint8Array, o: number): boolean {
  if (!a) return false;
  for (let i = 0; i < 16; i++) if (a[i] !== b[o + i]) return false;
  return true;
}

function flowSample(
  c: DecodeContext,
  ex: ExporterState,
  b: Uint8Array,
  p: number,
  end: number,
  expanded: boolean,
): void {
  let rate: number;
  let nRec: number;
  const rec = c.rec;
  if (expanded) {
    if (p + 44 > end) throw new WireError('sFlow expanded flow sample truncated');
    rate = u32(b, p + 12);
    rec.ifIn = u32(b, p + 28);
    rec.ifOut = u32(b, p + 36);
    nRec = u32(b, p + 40);
    p += 44;
  } else {
    if (p + 32 > end) throw new WireError('sFlow flow sample truncated');
    rate = u32(b, p + 8);
    // input/output: 2-bit format, 30-bit value (format 0 = ifIndex).
    rec.ifIn = u32(b, p + 20) & 0x3fffffff;
    rec.ifOut = u32(b, p + 24) & 0x3fffffff;
    nRec = u32(b, p + 28);
    p += 32;
  }
  if (nRec > LIMITS.SFLOW_MAX_RECORDS)
    throw new WireError(`sFlow ${nRec} flow records > ${LIMITS.SFLOW_MAX_RECORDS}`);
  rate = ex.agentOverride || c.rates.check(rate) || c.rates.defaultRate;
  // sFlow carries its rate in every sample: the stats show the one in use (per agent),
  // written only when it changes so the per-sample path stays a compare.
  if (rate !== ex.sflowRate) {
    ex.sflowRate = rate;
    ex.stats.sampling[`sflow/${ex.agentText}/*`] = rate;
  }
  clearL3(rec);
  rec.setHeader(null, 0, 0);
  rec.headerLinkType = 0;
  rec.frameLength = 0;
  let haveIp = false;
  let fromHeader = false;
  for (let i = 0; i < nRec; i++) {
    if (p + 8 > end) throw new WireError('sFlow flow record header truncated');
    const fmt = u32(b, p);
    const len = u32(b, p + 4);
    const body = p + 8;
    if (len > end - body) throw new WireError(`sFlow flow record length ${len} exceeds sample`);
    const rEnd = body + len;
    switch (fmt) {
      case 1: {
        if (len < 16) throw new WireError('sFlow sampled_header truncated');
        const proto = u32(b, body);
        const frameLen = u32(b, body + 4);
        const hlen = u32(b, body + 12);
        if (hlen > LIMITS.SFLOW_MAX_HEADER || body + 16 + hlen > rEnd)
          throw new WireError(`sFlow header length ${hlen}`);
        const h = body + 16;
        rec.frameLength = frameLen;
        let ok = false;
        if (proto === 1) {
          ok = parseEthernet(b, h, h + hlen, rec, 0);
          rec.headerLinkType = 1;
        } else if (proto === 11) {
          ok = parseIpv4(b, h, h + hlen, rec, 0);
          rec.headerLinkType = 101;
        } else if (proto === 12) {
          ok = parseIpv6(b, h, h + hlen, rec, 0);
          rec.headerLinkType = 101;
        }
        rec.setHeader(rec.headerLinkType ? b : null, h, hlen);
        if (ok) {
          haveIp = true;
          fromHeader = true;
        } else if (!haveIp) clearL3(rec);
        break;
      }
      case 3:
        if (len < 32) throw new WireError('sFlow sampled_ipv4 truncated');
        if (!fromHeader) sampledIp(rec, b, body, 4);
        haveIp = true;
        break;
      case 4:
        if (len < 56) throw new WireError('sFlow sampled_ipv6 truncated');
        if (!fromHeader) sampledIp(rec, b, body, 6);
        haveIp = true;
        break;
      default:
        break;
    }
    p = rEnd;
  }
  ex.stats.records++;
  if (!haveIp) return; // counted sample without an IP destination (e.g. ARP)
  rec.samplingRate = rate;
  rec.packets = rate;
  rec.bytes = rec.frameLength * rate;
  c.sink.onFlow(rec);
}

/** sampled_ipv4 / sampled_ipv6: length, protocol, src, dst, src_port, dst_port, tcp_flags, tos/priority. */
function sampledIp(rec: FlowRecord, b: Uint8Array, o: number, v: 4 | 6): void {
  const ipLen = u32(b, o);
  rec.packetLength = ipLen;
  // Only the IP length is known: it stands in for the frame length.
  if (rec.frameLength === 0) rec.frameLength = ipLen;
  rec.protocol = u32(b, o + 4) & 255;
  let q = o + 8;
  if (v === 4) {
    rec.ipVersion = 4;
    rec.src4 = u32(b, q);
    rec.dst4 = u32(b, q + 4);
    q += 8;
  } else {
    rec.ipVersion = 6;
    for (let i = 0; i < 16; i++) {
      rec.src6[i] = b[q + i]!;
      rec.dst6[i] = b[q + 16 + i]!;
    }
    q += 32;
  }
  const sp = u32(b, q);
  const dp = u32(b, q + 4);
  rec.tcpFlags = u32(b, q + 8) & 0x1ff;
  if (rec.protocol === 1 || rec.protocol === 58) {
    // sFlow puts ICMP type/code in the port fields.
    rec.icmpType = sp & 255;
    rec.icmpCode = dp & 255;
    rec.srcPort = 0;
    rec.dstPort = 0;
  } else {
    rec.srcPort = sp & 0xffff;
    rec.dstPort = dp & 0xffff;
  }
  rec.fragment = false;
}
