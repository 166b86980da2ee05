/** Per-exporter statistics kept by the decoder (see ExporterStats for each counter's meaning). */
export type FlowFormat = 'nf5' | 'nf9' | 'ipfix' | 'sflow';

export interface ExporterStats {
  /** UDP source address of the exporter (canonical text). */
  exporter: string;
  /** Formats seen from it. */
  formats: FlowFormat[];
  /** sFlow agent addresses announced in its datagrams. */
  agents: string[];
  datagrams: number;
  /** UDP payload bytes received. */
  bytes: number;
  /** Data records (NetFlow/IPFIX) or flow samples (sFlow) decoded. */
  records: number;
  /** Options data records (NetFlow v9/IPFIX). */
  optionsRecords: number;
  /** sFlow counter samples (counted, not decoded further). */
  counterSamples: number;
  /** Datagrams or parts of datagrams that could not be decoded (bad lengths, truncation, unknown version). */
  malformed: number;
  /**
   * Exceptions that were not wire errors (a decoder bug or a throwing sink): caught so the
   * collector goes on, counted apart so they are not mistaken for bad input.
   */
  internalErrors: number;
  /** Data sets that arrived before their template (held, then decoded or dropped). */
  unknownTemplate: number;
  /** Held data sets decoded once their template arrived. */
  pendingDecoded: number;
  /** Held data sets dropped (buffer full, too old, or never explained). */
  pendingDropped: number;
  /**
   * Missing units by each format's own sequence: NetFlow v5 flows, NetFlow v9 export packets
   * (per source id), IPFIX data records (per observation domain), sFlow datagrams (per agent/sub-agent).
   */
  sequenceGaps: number;
  /** Sequence jumps too large (or backwards) to be loss: exporter restarts or reordering. */
  sequenceResets: number;
  /** Records dropped by the record bound: more than its links could carry in its duration (admit.ts). */
  outOfBounds: number;
  /** Records dropped beyond the exporter's max_records_per_second. */
  rateLimited: number;
  /** Templates refused by the per-exporter or the global template cap. */
  templatesRefused: number;
  /** Templates (data + options) currently known. */
  templates: number;
  /** Sampling rates learned, keyed "<format>/<source id or domain>/<sampler id|*>". */
  sampling: Record<string, number>;
  /** Receive time of the last datagram, ms since epoch. */
  lastSeenMs: number;
}

export function newExporterStats(exporter: string): ExporterStats {
  return {
    exporter,
    formats: [],
    agents: [],
    datagrams: 0,
    bytes: 0,
    records: 0,
    optionsRecords: 0,
    counterSamples: 0,
    malformed: 0,
    internalErrors: 0,
    unknownTemplate: 0,
    pendingDecoded: 0,
    pendingDropped: 0,
    sequenceGaps: 0,
    sequenceResets: 0,
    outOfBounds: 0,
    rateLimited: 0,
    templatesRefused: 0,
    templates: 0,
    sampling: {},
    lastSeenMs: 0,
  };
}
