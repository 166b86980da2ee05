/**
 * Port-mirror decoding: each captured frame (pcap link type, captured bytes, wire length)
 * becomes one FlowRecord with packets = 1 and bytes = the frame's wire length (encapsulation
 * included, as a SPAN port delivers it). Addresses, ports, flags and the fragment flag come
 * from the innermost IP header (see packet.ts). Never throws; frames without IP are counted.
 */
import { newFlowRecord, type FlowSink, type ReusableFlowRecord } from '../flow.js';
import { parseFrame } from '../formats/packet.js';

export interface MirrorStats {
  source: string;
  frames: number;
  /** Wire bytes of all frames. */
  bytes: number;
  ipFrames: number;
  nonIpFrames: number;
  /** Frames that made the parser fail unexpectedly (should stay 0). */
  malformed: number;
  lastSeenMs: number;
}

export class MirrorDecoder {
  readonly rec: ReusableFlowRecord = newFlowRecord();
  private readonly st: MirrorStats;

  /** source: a name for the FlowRecord's exporter field, e.g. "mirror:eth1" (interned once). */
  constructor(
    private readonly sink: FlowSink,
    source: string,
    samplingRate = 1,
  ) {
    this.st = { source, frames: 0, bytes: 0, ipFrames: 0, nonIpFrames: 0, malformed: 0, lastSeenMs: 0 };
    const r = this.rec;
    r.exporter = source;
    r.flows = 0;
    r.samplingRate = samplingRate;
    r.durationMs = 0;
    r.dropped = false;
    r.reverse = false;
  }

  /** One captured frame. data is only read during the call. */
  onFrame(data: Uint8Array, wireLen: number, linkType: number, timeMs: number): boolean {
    const st = this.st;
    st.frames++;
    st.bytes += wireLen;
    st.lastSeenMs = timeMs;
    const r = this.rec;
    let ok: boolean;
    try {
      ok = parseFrame(data, 0, data.length, linkType, r);
    } catch {
      st.malformed++;
      return false;
    }
    if (!ok) {
      st.nonIpFrames++;
      return false;
    }
    st.ipFrames++;
    const rate = r.samplingRate;
    r.timeMs = timeMs;
    r.packets = rate;
    r.bytes = wireLen * rate;
    r.frameLength = wireLen;
    r.header = data;
    r.headerLinkType = linkType;
    this.sink.onFlow(r);
    r.header = null;
    return true;
  }

  stats(): MirrorStats {
    return { ...this.st };
  }
}
