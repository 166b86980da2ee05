/** Public surface of the capture room (see each module's header for the wire formats). */
export { newFlowRecord, type FlowRecord, type FlowSink, type FlowSample } from './flow.js';
export { LIMITS } from './limits.js';
export { FlowDecoder, type DecoderOptions, type DecoderState } from './decoder.js';
export type { ExporterStats, FlowFormat } from './stats.js';
export { parseFrame, LINKTYPE } from './packet.js';
export { MirrorDecoder, type MirrorStats } from './mirror.js';
export { MirrorCapture, type MirrorCaptureOptions, type MirrorCaptureStats } from './mirror-live.js';
export {
  readPcap,
  forEachPacket,
  PcapStream,
  PcapFormatError,
  udpPayload,
  type PcapPacket,
  type PcapReadResult,
  type UdpDatagram,
} from './pcap.js';
export { Collector, type CollectorOptions, type CollectorStats, type ListenerStats } from './collector.js';
export { StateFile, STATE_FILE } from './state.js';
export {
  decodeFlowCapture,
  decodeMirrorCapture,
  PerDstSink,
  type DstTotals,
  type FlowFileResult,
  type MirrorFileResult,
} from './decode-file.js';
export { replay, capturePayloads, isLoopback, type ReplayOptions, type ReplayResult } from './replay.js';
