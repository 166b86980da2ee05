/**
 * Public surface of the capture room. Three rooms and the place they meet:
 *
 * - input/ (collector.ts UDP listeners, mirror-live.ts live port mirror, mirror.ts frames to
 *   records, decode-file.ts whole-file decoding, replay.ts): where bytes come from. Each
 *   hands datagrams to a FlowDecoder, or frames to a MirrorDecoder.
 * - formats/ (context.ts names the room's files): wire codecs, pure functions over bytes and
 *   a narrow DecodeContext; pcap/pcapng read and write.
 * - exporter/ (exporter.ts names the room's files): per-exporter and per-domain state,
 *   sampling rates, the template store and its persistence, admission and record bounds.
 * - decoder.ts (FlowDecoder) owns one exporter room and calls the formats; flow.ts is the one
 *   record shape every source produces and detection consumes; limits.ts caps what the wire
 *   may make us do; filter.ts compiles capture filters for detection.
 */
export type { FlowRecord, FlowSink } from './flow.js';
export { FlowDecoder } from './decoder.js';
export type { ExporterStats } from './exporter/stats.js';
export { MirrorDecoder } from './input/mirror.js';
export { MirrorCapture } from './input/mirror-live.js';
export { MirrorThread, type MirrorSource } from './input/mirror-thread.js';
export { readPcap, forEachPacket, PcapStream, PcapFormatError, udpPayload } from './formats/pcap.js';
export { Collector } from './input/collector.js';
export { resolveWorkers } from './input/workers.js';
export { batchSocketSupport } from './input/batch-socket.js';
export { buildPcap, type PcapEntry } from './formats/pcap-write.js';
export { decodeFlowCapture, decodeMirrorCapture, type DstTotals } from './input/decode-file.js';
export { replay, capturePayloads, isLoopback } from './input/replay.js';
