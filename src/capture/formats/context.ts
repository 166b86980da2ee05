/**
 * The formats room (capture/formats/): wire codecs only. NetFlow v5 (netflow5.ts), NetFlow
 * v9 and IPFIX (netflow9.ts sets and templates, template.ts compiled templates, nf9-record.ts
 * the generic record path, codegen.ts the compiled one), sFlow v5 (sflow.ts), the mirrored
 * frame parser shared by mirror, sFlow and PSAMP (packet.ts), and pcap/pcapng reading
 * (pcap.ts) and writing (pcap-write.ts).
 *
 * A format decoder gets this narrow context, not the FlowDecoder: the one reusable record
 * and the sink it fills, its scratch, the sampling-rate resolver and the template host
 * (exporter room, capture/exporter/). Per-exporter state (ExporterState, DomainState) is
 * passed in by the decoder; the datagram header (exporter, sequence, time) is passed as
 * arguments, never kept in fields.
 */
import type { FlowSink, ReusableFlowRecord } from '../flow.js';
import type { DomainState, ExporterState } from '../exporter/exporter.js';
import type { RecordAcc } from './record-acc.js';
import type { RecordRates, TemplateSpec } from './template.js';

/** Sampling rates as the exporter room resolves them (exporter/rates.ts). */
export interface RateResolver {
  /** Rate used until one is learned or sent. */
  readonly defaultRate: number;
  /** The one check for a rate read from the wire: the rate, or 0 when unusable (counted). */
  check(rate: number): number;
  /** Operator override for an address (an sFlow agent), 0 = none. */
  overrideFor(address: string): number;
  /** The rate for the records of a set of `dom` without per-record sampling fields. */
  forSet(ex: ExporterState, dom: DomainState): number;
  /** Per-record resolution for `dom` (a reused object: valid until the next call). */
  forDomain(ex: ExporterState, dom: DomainState): RecordRates;
  /** Options data taught a rate (sampler id -1 = none). */
  learn(ex: ExporterState, dom: DomainState, samplerId: number, rate: number): void;
}

/** Where template records and data without a template go (the decoder, over the template store). */
export interface TemplateHost {
  /** Add or replace a template (caps apply); data held for it is decoded. */
  add(ex: ExporterState, dom: DomainState, spec: TemplateSpec): void;
  /** IPFIX withdrawal (RFC 7011 §8.1); `all` withdraws every template of that kind. */
  withdraw(ex: ExporterState, dom: DomainState, id: number, options: boolean, all: boolean): void;
  /**
   * Hold a data set whose template is unknown (copied, bounded). `uptime`/`secs` are the
   * header of the datagram it came in (v9 sysUptime and unix secs, IPFIX 0 and export time).
   */
  hold(
    ex: ExporterState,
    dom: DomainState,
    templateId: number,
    set: Uint8Array,
    timeMs: number,
    uptime: number,
    secs: number,
  ): void;
}

/** Everything a format decoder may use; one per FlowDecoder, its objects reused for every datagram. */
export interface DecodeContext {
  readonly rec: ReusableFlowRecord;
  readonly sink: FlowSink;
  readonly acc: RecordAcc;
  readonly rates: RateResolver;
  readonly templates: TemplateHost;
  /** Options data records of the message last walked (IPFIX sequence numbers count them). */
  optionsRecords: number;
}
