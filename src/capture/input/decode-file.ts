/**
 * Whole-file decoding for `breakwater decode` and tests: a pcap of exporter datagrams
 * (UDP payloads on any port, format detected by version) or a pcap of mirrored frames,
 * summed per destination address (canonical text).
 */
import { v4ToString, v6ToString } from '../../wire/addr.js';
import { FlowDecoder, type DecoderOptions } from '../decoder.js';
import type { FlowRecord, FlowSink } from '../flow.js';
import { MirrorDecoder, type MirrorStats } from './mirror.js';
import { forEachPacket, udpPayload } from '../formats/pcap.js';
import type { ExporterStats } from '../exporter/stats.js';

export interface DstTotals {
  /** Flow records (NetFlow/IPFIX) or flow samples (sFlow); absent for mirror captures. */
  flows?: number;
  packets: number;
  bytes: number;
  /** Mirror only: sum of the innermost IP packet lengths. */
  ip_bytes?: number;
}

export interface FlowFileResult {
  per_dst: Record<string, DstTotals>;
  totals: {
    frames: number;
    datagrams: number;
    /** Frames that were not UDP datagrams, or datagrams of no known format. */
    ignored_frames: number;
    pcap_errors: number;
    flows: number;
    packets: number;
    bytes: number;
    /** Records/samples without an IP destination (not in per_dst). */
    records_without_ip: number;
    malformed: number;
    unknown_template: number;
    pending_dropped: number;
  };
  exporters: ExporterStats[];
}

export interface MirrorFileResult {
  per_dst: Record<string, DstTotals>;
  totals: {
    frames: number;
    bytes: number;
    ip_frames: number;
    non_ip_frames: number;
    pcap_errors: number;
    packets: number;
  };
  exporters: MirrorStats[];
}

/** Sums FlowRecords per destination; keys are built once per destination, not per record. */
class PerDstSink implements FlowSink {
  private readonly v4 = new Map<number, DstTotals>();
  private readonly v6 = new Map<string, DstTotals>();
  records = 0;
  constructor(private readonly mirror: boolean) {}

  onFlow(r: FlowRecord): void {
    let t: DstTotals | undefined;
    if (r.ipVersion === 4) {
      t = this.v4.get(r.dst4);
      if (!t) {
        t = this.blank();
        this.v4.set(r.dst4, t);
      }
    } else {
      const k = v6ToString(r.dst6);
      t = this.v6.get(k);
      if (!t) {
        t = this.blank();
        this.v6.set(k, t);
      }
    }
    // Per destination a record counts one flow, its responder direction too (RFC 5103); the
    // records counter counts records as sent (what records_without_ip is derived from).
    if (!r.reverse) this.records++;
    if (t.flows !== undefined) t.flows++;
    t.packets += r.packets;
    t.bytes += r.bytes;
    if (t.ip_bytes !== undefined) t.ip_bytes += r.packetLength;
  }

  private blank(): DstTotals {
    return this.mirror ? { packets: 0, bytes: 0, ip_bytes: 0 } : { flows: 0, packets: 0, bytes: 0 };
  }

  result(): Record<string, DstTotals> {
    const out: Record<string, DstTotals> = {};
    for (const [k, v] of this.v4) out[v4ToString(k)] = v;
    for (const [k, v] of this.v6) out[k] = v;
    return out;
  }
}

/**
 * Sampling rates announced anywhere in the file (options data), learned in a first pass.
 * Offline, the whole capture is known: records exported before the exporter's next options
 * refresh are scaled by the rate it announces, as an analyst reading the file would (and as a
 * restarted collector does with its persisted rates). Templates are not carried over: data
 * before its template stays undecoded, exactly as it would be live.
 */
function learnRates(buf: Uint8Array, opts: DecoderOptions): unknown {
  const pre = new FlowDecoder({ onFlow() {} }, { ...opts, onStateChange: undefined });
  forEachPacket(buf, (p) => {
    const u = udpPayload(p.data, p.linkType);
    if (u) pre.decode(u.payload, u.src, 0);
  });
  const state = pre.exportState();
  for (const e of Object.values(state.exporters)) {
    for (const doms of [e.nf9, e.ipfix]) for (const d of Object.values(doms ?? {})) d.templates = [];
  }
  return state;
}

export function decodeFlowCapture(buf: Uint8Array, opts: DecoderOptions = {}): FlowFileResult {
  const sink = new PerDstSink(false);
  const dec = new FlowDecoder(sink, opts);
  dec.importState(learnRates(buf, opts));
  let frames = 0;
  let ignored = 0;
  let datagrams = 0;
  const pcapErrors = forEachPacket(buf, (p) => {
    frames++;
    const u = udpPayload(p.data, p.linkType);
    if (!u) {
      ignored++;
      return;
    }
    datagrams++;
    if (dec.decode(u.payload, u.src, Math.round(p.tsMs)) === null) ignored++;
  });
  dec.dropPending();
  const exporters = dec.stats();
  const per = sink.result();
  let packets = 0;
  let bytes = 0;
  for (const v of Object.values(per)) {
    packets += v.packets;
    bytes += v.bytes;
  }
  const sum = (f: (e: ExporterStats) => number) => exporters.reduce((a, e) => a + f(e), 0);
  const records = sum((e) => e.records);
  return {
    per_dst: per,
    totals: {
      frames,
      datagrams,
      ignored_frames: ignored,
      pcap_errors: pcapErrors,
      flows: records,
      packets,
      bytes,
      records_without_ip: records - sink.records,
      malformed: sum((e) => e.malformed),
      unknown_template: sum((e) => e.unknownTemplate),
      pending_dropped: sum((e) => e.pendingDropped),
    },
    exporters,
  };
}

export function decodeMirrorCapture(buf: Uint8Array, source = 'mirror'): MirrorFileResult {
  const sink = new PerDstSink(true);
  const dec = new MirrorDecoder(sink, source);
  const pcapErrors = forEachPacket(buf, (p) => {
    dec.onFrame(p.data, p.origLen, p.linkType, Math.round(p.tsMs));
  });
  const st = dec.stats();
  return {
    per_dst: sink.result(),
    totals: {
      frames: st.frames,
      bytes: st.bytes,
      ip_frames: st.ipFrames,
      non_ip_frames: st.nonIpFrames,
      pcap_errors: pcapErrors,
      packets: st.ipFrames,
    },
    exporters: [st],
  };
}
