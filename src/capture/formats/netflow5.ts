/**
 * NetFlow v5 (Cisco "NetFlow Export Datagram Format", version 5).
 * Header (24 bytes): version, count, sysUptime, unix_secs, unix_nsecs, flow_sequence,
 * engine_type, engine_id, sampling_interval (2 bits mode, 14 bits interval; 0 = unsampled).
 * Records (48 bytes): srcaddr, dstaddr, nexthop, input, output, dPkts, dOctets, first, last,
 * srcport, dstport, pad1, tcp_flags, prot, tos, src_as, dst_as, src_mask, dst_mask, pad2.
 * flow_sequence counts flows, so the next datagram should carry sequence + count.
 */
import { WireError } from '../../wire/reader.js';
import { checkSeq, type ExporterState } from '../exporter/exporter.js';
import type { DecodeContext } from './context.js';
import { LIMITS } from '../limits.js';
import { u32 } from './bytes.js';

const HDR = 24;
const REC = 48;

export function decodeNetflow5(c: DecodeContext, ex: ExporterState, b: Uint8Array, timeMs: number): void {
  if (b.length < HDR) throw new WireError('NetFlow v5 header truncated');
  const count = (b[2]! << 8) | b[3]!;
  if (count > LIMITS.NF5_MAX_RECORDS)
    throw new WireError(`NetFlow v5 count ${count} > ${LIMITS.NF5_MAX_RECORDS}`);
  if (HDR + count * REC > b.length) throw new WireError(`NetFlow v5 count ${count} exceeds datagram`);
  const seq = u32(b, 16);
  const engine = (b[20]! << 8) | b[21]!;
  const st = ex.stats;
  checkSeq(st, ex.seq.get(engine) ?? -1, seq);
  ex.seq.set(engine, (seq + count) >>> 0);
  const interval = ((b[22]! << 8) | b[23]!) & 0x3fff;
  const rate = ex.override || (interval > 0 ? c.rates.check(interval) : 0) || c.rates.defaultRate;
  if (interval > 0) st.sampling[`nf5/${engine}`] = interval;
  const rec = c.rec;
  const sink = c.sink;
  rec.exporter = ex.address;
  rec.timeMs = timeMs;
  rec.ipVersion = 4;
  rec.samplingRate = rate;
  rec.header = null;
  rec.headerLinkType = 0;
  rec.frameLength = 0;
  rec.packetLength = 0;
  rec.dropped = false;
  rec.reverse = false;
  rec.fragment = false;
  for (let i = 0, o = HDR; i < count; i++, o += REC) {
    rec.src4 = u32(b, o);
    rec.dst4 = u32(b, o + 4);
    rec.ifIn = (b[o + 12]! << 8) | b[o + 13]!;
    rec.ifOut = (b[o + 14]! << 8) | b[o + 15]!;
    rec.packets = u32(b, o + 16) * rate;
    rec.bytes = u32(b, o + 20) * rate;
    rec.flows = rate;
    const dur = (u32(b, o + 28) - u32(b, o + 24)) >>> 0;
    rec.durationMs = dur < 0x80000000 ? dur : 0;
    const sp = (b[o + 32]! << 8) | b[o + 33]!;
    const dp = (b[o + 34]! << 8) | b[o + 35]!;
    rec.tcpFlags = b[o + 37]!;
    const proto = b[o + 38]!;
    rec.protocol = proto;
    if (proto === 1) {
      // ICMP type/code travel in the destination port (type * 256 + code), as Cisco does.
      rec.srcPort = 0;
      rec.dstPort = 0;
      rec.icmpType = dp >> 8;
      rec.icmpCode = dp & 255;
    } else {
      rec.srcPort = sp;
      rec.dstPort = dp;
      rec.icmpType = -1;
      rec.icmpCode = -1;
    }
    st.records++;
    sink.onFlow(rec);
  }
}
