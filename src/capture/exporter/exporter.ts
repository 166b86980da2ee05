/**
 * The exporter room (capture/exporter/): what the decoder knows about each exporter and
 * observation domain, kept between datagrams.
 *
 * - exporter.ts: ExporterState (statistics, per-format domains, sequence expectations, the
 *   sFlow agent it last announced) and DomainState (templates, learned sampling, IPFIX and v9
 *   sequence numbers), and the one sequence check.
 * - rates.ts: the sampling-rate resolver (operator override > record > sampler > domain >
 *   default) and the one sanity check every rate read from the wire goes through.
 * - templates.ts: the template store interface (in memory, or in memory and persisted to a
 *   file through state-file.ts and persist.ts), with the per-exporter and global caps.
 * - table.ts: the exporter table (admission through admit.ts, eviction when full or idle).
 * - admit.ts, stats.ts: who may send, what a record may claim; per-exporter counters.
 *
 * The formats room (capture/formats/) reads and updates these through the narrow context of
 * formats/context.ts; it never sees the FlowDecoder. The decoder (capture/decoder.ts) owns
 * one of each and is where the rooms meet.
 */
import type { Template } from '../formats/template.js';
import { LIMITS } from '../limits.js';
import type { ExporterPolicy } from './admit.js';
import { newExporterStats, type ExporterStats, type FlowFormat } from './stats.js';

export interface DomainState {
  readonly domain: number;
  /** Whether this is an IPFIX observation domain (else a NetFlow v9 source id). */
  readonly ipfix: boolean;
  readonly templates: Map<number, Template>;
  /** Learned rate per sampler id (IE 48 / 302). */
  readonly samplers: Map<number, number>;
  /** Rate learned without a sampler id (IE 34, 305/306, ...), 0 = none. */
  rate: number;
  /** Next expected sequence number, -1 = unknown. */
  nextSeq: number;
  /** IPFIX: last sequence seen (-1 = unknown), and whether the exporter counts the current message's records. */
  lastSeq: number;
  postSeq: boolean;
}

export class ExporterState {
  readonly stats: ExporterStats;
  readonly nf9 = new Map<number, DomainState>();
  readonly ipfix = new Map<number, DomainState>();
  /** Sequence expectations for v5 (engine) and sFlow (agent/sub-agent). */
  readonly seq = new Map<string | number, number>();
  templateCount = 0;
  /** Operator override (0 = none): beats any learned or sent rate. */
  override = 0;
  /** sFlow agent interning: last agent seen from this source. */
  agent4 = -1;
  agent6: Uint8Array | null = null;
  agentText = '';
  agentOverride = 0;
  /** sFlow: the rate last put in stats.sampling for the current agent (written on change only). */
  sflowRate = 0;
  /** records/s accounting of the record guard (admit.ts). */
  rpsSecond = -1;
  rpsCount = 0;
  /** Last datagram (or restore) time: what eviction looks at. */
  activeMs = 0;
  constructor(
    readonly address: string,
    public policy: ExporterPolicy,
  ) {
    this.stats = newExporterStats(address);
  }

  domain(ipfix: boolean, id: number, create: boolean): DomainState | undefined {
    const m = ipfix ? this.ipfix : this.nf9;
    let d = m.get(id);
    if (!d && create) {
      if (m.size >= LIMITS.MAX_DOMAINS_PER_EXPORTER) return undefined;
      d = {
        domain: id,
        ipfix,
        templates: new Map(),
        samplers: new Map(),
        rate: 0,
        nextSeq: -1,
        lastSeq: -1,
        postSeq: false,
      };
      m.set(id, d);
    }
    return d;
  }

  markFormat(f: FlowFormat): void {
    if (!this.stats.formats.includes(f)) this.stats.formats.push(f);
  }
}

/**
 * Sequence tracking shared by the formats: counts the units missing between the expected
 * and the received sequence number in st.sequenceGaps, or a jump too large (or backwards) to
 * be loss in st.sequenceResets. No expectation yet (expected < 0): nothing is counted.
 */
export function checkSeq(st: ExporterStats, expected: number, got: number): void {
  if (expected < 0) return;
  const gap = (got - expected) >>> 0;
  if (gap === 0) return;
  if (gap < LIMITS.SEQ_MAX_GAP) st.sequenceGaps += gap;
  else st.sequenceResets++;
}
