/**
 * The per-record scratch of the generic NetFlow v9 / IPFIX record path (nf9-record.ts): one
 * instance per decoder (in its DecodeContext), reset before every record, never shared
 * between decoders.
 */
import type { FlowSink, ReusableFlowRecord } from '../flow.js';

/**
 * Per-record values gathered by applyField before normalisation (one instance per decoder,
 * reset before every record; -1 means "not in this record"). The reset values are listed once, in
 * reset(), which the constructor also runs so the object's shape is fixed from the start.
 */
export class RecordAcc {
  bytes!: number;
  pkts!: number;
  outBytes!: number;
  outPkts!: number;
  initB!: number;
  respB!: number;
  initP!: number;
  respP!: number;
  flows!: number;
  first!: number;
  last!: number;
  startMs!: number;
  endMs!: number;
  startDelta!: number;
  endDelta!: number;
  durMs!: number;
  sid!: number;
  interval!: number;
  rndInterval!: number;
  pktInterval!: number;
  pktSpace!: number;
  sampSize!: number;
  sampPop!: number;
  fwd!: number;
  fragFlags!: number;
  fragOff!: number;
  icmp!: number;
  addr!: number;
  secOff!: number;
  secLen!: number;
  secLink!: number;
  secOctets!: number;
  secShift!: number;
  frameSize!: number;
  ipTotal!: number;
  /** 4 or 6 when an address was seen (in `addr`). PSAMP packet section (RFC 5477 §8.2): where it
   * lies in the datagram (a reference and two numbers, nothing copied), its link type and sizes. */
  secBuf!: Uint8Array | null;

  constructor() {
    this.reset();
  }

  reset(): void {
    this.bytes = -1;
    this.pkts = -1;
    this.outBytes = -1;
    this.outPkts = -1;
    this.initB = -1;
    this.respB = -1;
    this.initP = -1;
    this.respP = -1;
    this.flows = 0;
    this.first = -1;
    this.last = -1;
    this.startMs = -1;
    this.endMs = -1;
    this.startDelta = -1;
    this.endDelta = -1;
    this.durMs = -1;
    this.sid = -1;
    this.interval = 0;
    this.rndInterval = 0;
    this.pktInterval = 0;
    this.pktSpace = -1;
    this.sampSize = 0;
    this.sampPop = 0;
    this.fwd = -1;
    this.fragFlags = 0;
    this.fragOff = 0;
    this.icmp = -1;
    this.addr = 0;
    this.secOff = 0;
    this.secLen = -1;
    this.secLink = 0;
    this.secOctets = -1;
    this.secShift = 0;
    this.frameSize = -1;
    this.ipTotal = -1;
    this.secBuf = null;
  }
}

/** What the record path writes to: the decoder's one record, its sink, and the scratch. */
export interface RecordOut {
  readonly rec: ReusableFlowRecord;
  readonly sink: FlowSink;
  readonly acc: RecordAcc;
}
