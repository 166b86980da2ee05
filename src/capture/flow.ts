/**
 * The one normalised flow-sample shape every capture source produces (NetFlow v5/v9,
 * IPFIX, sFlow, port mirror), and the sink detection implements.
 *
 * Hot-path contract: a decoder owns ONE FlowRecord and refills it for every record, then
 * calls sink.onFlow(rec). The sink must copy what it keeps (numbers are copied by value;
 * `src6`/`dst6`/`header` are views that are only valid during the call).
 * Sampling is already applied: packets/bytes/flows are scaled by the sampling rate.
 */
export interface FlowRecord {
  /** Exporter (agent) address, as text, interned per exporter: not rebuilt per record. */
  exporter: string;
  /** Receive time, ms since epoch. */
  timeMs: number;
  /** Flow duration in ms (end - start) when the source gives it, else 0. */
  durationMs: number;
  ipVersion: 4 | 6;
  /** IPv4 source/destination as uint32 (valid when ipVersion === 4). */
  src4: number;
  dst4: number;
  /** IPv6 source/destination (valid when ipVersion === 6), 16-byte views. */
  src6: Uint8Array;
  dst6: Uint8Array;
  protocol: number;
  srcPort: number;
  dstPort: number;
  /** ICMP type/code when protocol is ICMP/ICMPv6 (-1 when unknown). */
  icmpType: number;
  icmpCode: number;
  tcpFlags: number;
  /** True for any IP fragment (first, middle or last). */
  fragment: boolean;
  /** Packet length in bytes for packet sources (mirror/sFlow), 0 for flow records. */
  packetLength: number;
  /** Scaled by sampling. */
  packets: number;
  bytes: number;
  flows: number;
  /** The rate applied (1 = unsampled). */
  samplingRate: number;
  ifIn: number;
  ifOut: number;
  /** Exporter reported this traffic as dropped (forwarding status). */
  dropped: boolean;
  /** Raw packet header starting at the link layer (mirror/sFlow), else null; a view. */
  header: Uint8Array | null;
  /** Link type of `header` (pcap LINKTYPE numbers): 1 = Ethernet, 101 = raw IP, 0 = none. */
  headerLinkType: number;
  /** Wire length of the sampled frame when a header is given. */
  frameLength: number;
  /**
   * True for the responder half of a bidirectional record (IE 231/232, RFC 5103 reverse
   * counters): the same flow seen the other way, so it is not a new flow record. It still
   * carries the record's `flows` (one flow for the responder host, sampling applied).
   */
  reverse: boolean;
}

export interface FlowSink {
  onFlow(rec: FlowRecord): void;
}

/**
 * The record decoders reuse. `header` is an accessor: decoders point it at the datagram
 * with setHeader(buf, offset, length) without allocating, and the view is only created when
 * a sink actually reads `header` (e.g. detection keeping a sample). Assigning `header`
 * works as for a plain field.
 */
export class ReusableFlowRecord implements FlowRecord {
  exporter = '';
  timeMs = 0;
  durationMs = 0;
  ipVersion: 4 | 6 = 4;
  src4 = 0;
  dst4 = 0;
  src6: Uint8Array = new Uint8Array(16);
  dst6: Uint8Array = new Uint8Array(16);
  protocol = 0;
  srcPort = 0;
  dstPort = 0;
  icmpType = -1;
  icmpCode = -1;
  tcpFlags = 0;
  fragment = false;
  packetLength = 0;
  packets = 0;
  bytes = 0;
  flows = 0;
  samplingRate = 1;
  ifIn = 0;
  ifOut = 0;
  dropped = false;
  headerLinkType = 0;
  frameLength = 0;
  reverse = false;
  /** Where the raw header lives (no copy): buffer, offset, length. */
  headerBuf: Uint8Array | null = null;
  headerOffset = 0;
  headerLength = 0;
  private view: Uint8Array | null = null;

  get header(): Uint8Array | null {
    const b = this.headerBuf;
    if (b === null) return null;
    let v = this.view;
    if (
      v === null ||
      v.buffer !== b.buffer ||
      v.byteOffset !== b.byteOffset + this.headerOffset ||
      v.length !== this.headerLength
    ) {
      v = this.view = b.subarray(this.headerOffset, this.headerOffset + this.headerLength);
    }
    return v;
  }

  set header(v: Uint8Array | null) {
    this.headerBuf = v;
    this.headerOffset = 0;
    this.headerLength = v ? v.length : 0;
    this.view = v;
  }

  /** Point `header` at buf[offset, offset+length) without allocating. */
  setHeader(buf: Uint8Array | null, offset: number, length: number): void {
    this.headerBuf = buf;
    this.headerOffset = offset;
    this.headerLength = length;
  }
}

export function newFlowRecord(): ReusableFlowRecord {
  return new ReusableFlowRecord();
}

/**
 * A kept copy of one flow record or packet sample (detection's per-host ring materialises
 * these when an attack is reported; FlowSpec rule generation consumes them).
 * Addresses are canonical text; `header` is a copy of the raw packet header when the
 * source had one (mirror, sFlow).
 */
export interface FlowSample {
  readonly timeMs: number;
  readonly ipVersion: 4 | 6;
  readonly src: string;
  readonly dst: string;
  readonly protocol: number;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly icmpType: number;
  readonly icmpCode: number;
  readonly tcpFlags: number;
  readonly fragment: boolean;
  /** Packet length (IP total length) for packet sources; for flow records bytes/packets. */
  readonly packetLength: number;
  readonly packets: number;
  readonly bytes: number;
  readonly samplingRate: number;
  readonly exporter: string;
  readonly header?: Uint8Array;
}
