/**
 * Named limits that cap every count or length read from the wire, so a hostile or broken
 * exporter can never make a decoder loop long, allocate much, or keep unbounded state.
 * Exceeding one counts the input as malformed (or drops the excess) and decoding goes on.
 */
export const LIMITS = {
  /** NetFlow v5 header `count` (Cisco documents at most 30). */
  NF5_MAX_RECORDS: 30,
  /** Fields in one NetFlow v9 / IPFIX template (RFC 7011 allows 65535; real ones < 100). */
  MAX_TEMPLATE_FIELDS: 512,
  /** Templates (data + options) kept per exporter, over all source ids / domains. */
  MAX_TEMPLATES_PER_EXPORTER: 4096,
  /** Source ids / observation domains kept per exporter. */
  MAX_DOMAINS_PER_EXPORTER: 256,
  /**
   * Exporters tracked (stats, templates, sampling). When the table is full the least
   * recently seen exporters not listed in capture.exporters are evicted (at most one sweep
   * per EVICT_SWEEP_MS); until then a new exporter is refused (counted).
   */
  MAX_EXPORTERS: 65536,
  /** Templates kept over all exporters: 4,096 each x 65,536 exporters would be gigabytes. */
  MAX_TEMPLATES_TOTAL: 65536,
  /** An unlisted exporter silent this long is forgotten (templates, rates, statistics). */
  EXPORTER_IDLE_MS: 3_600_000,
  /** Least interval between two eviction sweeps (a sweep walks the exporter table). */
  EVICT_SWEEP_MS: 1000,
  /** Share of the table a sweep of a full table frees (the least recently seen). */
  EVICT_FRACTION: 1 / 16,
  /** Negative answers of the allowlist cached per source text before the cache is cleared. */
  UNKNOWN_CACHE: 65536,
  /** Sampler ids per domain whose learned rate is kept. */
  MAX_SAMPLERS_PER_DOMAIN: 1024,
  /** Records decoded from one set / flowset (a set longer than the datagram is already rejected). */
  MAX_RECORDS_PER_SET: 65535,
  /** Data sets held while their template is unknown (whole decoder) and their bytes. */
  PENDING_MAX_SETS: 256,
  PENDING_MAX_BYTES: 1 << 20,
  /** Held data older than this is dropped (and counted) instead of decoded. */
  PENDING_MAX_AGE_MS: 120_000,
  /** sFlow: samples per datagram and flow records per sample. */
  SFLOW_MAX_SAMPLES: 1024,
  SFLOW_MAX_RECORDS: 64,
  /** sFlow raw header record: sampled header bytes (sFlow agents send 128 by default). */
  SFLOW_MAX_HEADER: 1024,
  /** Packet parsing: VLAN tags, MPLS labels, IPv6 extension headers, tunnel nesting. */
  MAX_VLAN_TAGS: 3,
  MAX_MPLS_LABELS: 8,
  MAX_IPV6_EXT_HEADERS: 8,
  MAX_ENCAP_DEPTH: 4,
  /** pcap/pcapng: largest captured record accepted. */
  PCAP_MAX_RECORD: 262144,
  /** Largest sampling rate believed (a larger learned/sent value is treated as bad input). */
  MAX_SAMPLING_RATE: 1 << 24,
  /**
   * Default record bound (capture.max_link_bps): a record may not carry more than a link of
   * this speed could in its duration (at least MIN_RECORD_DURATION_MS). Packets are bounded
   * at the minimum Ethernet frame plus preamble and gap (84 bytes on the wire).
   */
  DEFAULT_MAX_LINK_BPS: 400e9,
  MIN_WIRE_FRAME_BITS: 84 * 8,
  MIN_RECORD_DURATION_MS: 1000,
  /** A sequence jump above this is an exporter restart, not lost data. */
  SEQ_MAX_GAP: 1_000_000,
} as const;
