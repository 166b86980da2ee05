/**
 * NetFlow v9 (RFC 3954 §5.2-5.3) / IPFIX (RFC 7011 §3.4) templates, compiled once into a
 * plan the hot path walks: only the fields a FlowRecord needs, each with a small role
 * number, its offset in the record (fixed-length templates) and its length. Unknown and
 * enterprise fields cost nothing per record: they are skipped by the record length.
 */
import { LIMITS } from '../limits.js';
import type { FlowRecord, FlowSink } from '../flow.js';
import { u16, u32 } from './bytes.js';

/**
 * Per-record sampling for one observation domain (a record's sampler id or interval): the
 * exporter room answers it (exporter/rates.ts), bound to the domain of the set being decoded.
 */
export interface RecordRates {
  forRecord(samplerId: number, recordInterval: number): number;
}

/** A compiled fixed-length data template (codegen.ts): returns the records decoded. */
export type FastDecode = (
  b: Uint8Array,
  p: number,
  end: number,
  rec: FlowRecord,
  sink: FlowSink,
  rate: number,
  rates: RecordRates,
  maxN: number,
) => number;

/** Roles: what a field means to normalisation (0 = skipped). */
export enum Role {
  Skip = 0,
  Bytes,
  Packets,
  OutBytes,
  OutPackets,
  InitBytes,
  RespBytes,
  InitPackets,
  RespPackets,
  Flows,
  Proto,
  TcpFlags,
  SrcPort,
  DstPort,
  Src4,
  Dst4,
  Src6,
  Dst6,
  IfIn,
  IfOut,
  IcmpTypeCode,
  IcmpType,
  IcmpCode,
  FirstUptime,
  LastUptime,
  StartSec,
  EndSec,
  StartMs,
  EndMs,
  StartNtp,
  EndNtp,
  StartDeltaUs,
  EndDeltaUs,
  DurationMs,
  DurationUs,
  SamplerId,
  SamplingInterval,
  SamplerRandomInterval,
  PacketInterval,
  PacketSpace,
  SamplingSize,
  SamplingPopulation,
  ForwardingStatus,
  FragmentFlags,
  FragmentOffset,
  /** PSAMP packet sections (RFC 5477 §8.2): raw frame from the link layer (315; v9 104). */
  L2Section,
  /** ipHeaderPacketSection (313): raw packet from the IP header. */
  IpSection,
  /** dataLinkFrameSize (312). */
  FrameSize,
  /** ipTotalLength (224). */
  IpTotalLength,
  /** sectionExportedOctets (410; v9 103 layer2packetSectionSize): valid bytes of the section. */
  SectionOctets,
  /** layer2packetSectionOffset (v9 102): the section does not start at the frame start when > 0. */
  SectionOffset,
}

/** RFC 5103 reverse information elements use this enterprise number. */
const PEN_REVERSE = 29305;

/** Role of an IANA IE (NetFlow v9 field types 1-127 share these numbers). */
function roleOf(ie: number, pen: number, len: number): Role {
  if (pen === PEN_REVERSE) {
    if (ie === 1) return Role.RespBytes;
    if (ie === 2) return Role.RespPackets;
    return Role.Skip;
  }
  if (pen !== 0) return Role.Skip;
  switch (ie) {
    case 1:
      return Role.Bytes;
    case 2:
      return Role.Packets;
    case 3:
      return Role.Flows;
    case 4:
      return Role.Proto;
    case 6:
      return Role.TcpFlags;
    case 7:
    case 180:
    case 182:
      return Role.SrcPort;
    case 11:
    case 181:
    case 183:
      return Role.DstPort;
    case 8:
      return len === 4 ? Role.Src4 : Role.Skip;
    case 12:
      return len === 4 ? Role.Dst4 : Role.Skip;
    case 27:
      return len === 16 ? Role.Src6 : Role.Skip;
    case 28:
      return len === 16 ? Role.Dst6 : Role.Skip;
    case 10:
      return Role.IfIn;
    case 14:
      return Role.IfOut;
    case 23:
      return Role.OutBytes;
    case 24:
      return Role.OutPackets;
    case 85: // octetTotalCount / IN_PERMANENT_BYTES: only used when no delta is sent
      return Role.Skip;
    case 231:
      return Role.InitBytes;
    case 232:
      return Role.RespBytes;
    case 298:
      return Role.InitPackets;
    case 299:
      return Role.RespPackets;
    case 32:
    case 139:
      return Role.IcmpTypeCode;
    case 176:
    case 178:
      return Role.IcmpType;
    case 177:
    case 179:
      return Role.IcmpCode;
    case 22:
      return Role.FirstUptime;
    case 21:
      return Role.LastUptime;
    case 150:
      return Role.StartSec;
    case 151:
      return Role.EndSec;
    case 152:
      return Role.StartMs;
    case 153:
      return Role.EndMs;
    case 154:
    case 156:
      return len === 8 ? Role.StartNtp : Role.Skip;
    case 155:
    case 157:
      return len === 8 ? Role.EndNtp : Role.Skip;
    case 158:
      return Role.StartDeltaUs;
    case 159:
      return Role.EndDeltaUs;
    case 161:
      return Role.DurationMs;
    case 162:
      return Role.DurationUs;
    case 48:
    case 302:
      return Role.SamplerId;
    case 34:
      return Role.SamplingInterval;
    case 50:
      return Role.SamplerRandomInterval;
    case 305:
      return Role.PacketInterval;
    case 306:
      return Role.PacketSpace;
    case 309:
      return Role.SamplingSize;
    case 310:
      return Role.SamplingPopulation;
    case 89:
      return Role.ForwardingStatus;
    case 197:
      return Role.FragmentFlags;
    case 88:
      return Role.FragmentOffset;
    case 315:
    case 104:
      return Role.L2Section;
    case 313:
      return Role.IpSection;
    case 312:
      return Role.FrameSize;
    case 224:
      return Role.IpTotalLength;
    case 410:
    case 103:
      return Role.SectionOctets;
    case 102:
      return Role.SectionOffset;
    default:
      return Role.Skip;
  }
}

/** Variable-length marker (RFC 7011 §7). */
export const VARLEN = 0xffff;

export interface TemplateSpec {
  id: number;
  /** Options template: the first scopeCount fields are scope fields. */
  options: boolean;
  scopeCount: number;
  /** Field specifiers as flat triples: [ie, length, enterprise] (enterprise 0 = IANA). */
  fields: number[];
}

export interface Template extends TemplateSpec {
  /** Total record length, or -1 when a field is variable-length. */
  fixedLen: number;
  /** Smallest possible record (variable fields count their 1-byte length prefix). */
  minLen: number;
  /** Fixed templates: the plan as triples [role, offset, length], Skip roles left out. */
  plan: Int32Array;
  /** Variable templates: role per field, and the fields' lengths (VARLEN = variable). */
  roles: Int32Array;
  lens: Int32Array;
  /** Record-level sampling fields or sampler id present: rate resolved per record. */
  perRecordRate: boolean;
  /** Has IE 231/232 or reverse counters: two directions per record. */
  biflow: boolean;
  /** IPFIX vs v9 (v9 scope types 1-5 are not IEs). */
  ipfix: boolean;
  /** Carries both IPv4 and IPv6 address fields: the family is chosen per record. */
  mixedAf: boolean;
  /** Carries a PSAMP packet section (313/315/104): records may take addresses from it. */
  section: boolean;
  /** Compiled straight-line decoder (codegen.ts), built on first use; null = generic path. */
  fast?: FastDecode | null;
}

export class TemplateError extends Error {}

/** Build the hot-path plan of a template; throws TemplateError on an impossible spec. */
export function compileTemplate(spec: TemplateSpec, ipfix: boolean): Template {
  const n = spec.fields.length / 3;
  if (n === 0 || n > LIMITS.MAX_TEMPLATE_FIELDS || !Number.isInteger(n))
    throw new TemplateError(`template ${spec.id}: ${n} fields`);
  const roles = new Int32Array(n);
  const lens = new Int32Array(n);
  const plan: number[] = [];
  let off = 0;
  let fixed = true;
  let minLen = 0;
  let perRecordRate = false;
  let biflow = false;
  let v4 = false;
  let v6 = false;
  let section = false;
  for (let i = 0; i < n; i++) {
    const ie = spec.fields[3 * i]!;
    const len = spec.fields[3 * i + 1]!;
    const pen = spec.fields[3 * i + 2]!;
    const isScope = spec.options && i < spec.scopeCount;
    let role: Role;
    if (isScope && !ipfix) {
      // v9 scope field types: 1 System, 2 Interface, 3 Line card, 4 Cache, 5 Template
      // (RFC 3954 §6.1); a sampler id scope (48) is seen from some exporters.
      role = ie === 48 ? Role.SamplerId : Role.Skip;
    } else role = roleOf(ie, pen, len);
    const isSection = role === Role.L2Section || role === Role.IpSection;
    if (len === VARLEN) {
      if (!ipfix) throw new TemplateError(`template ${spec.id}: variable-length field in NetFlow v9`);
      fixed = false;
      minLen += 1;
      // Variable-length values only matter for packet sections (RFC 5477 §8.2.1 sends them
      // as octetArray, usually variable-length); the rest we do not use.
      if (!isSection) role = Role.Skip;
    } else {
      minLen += len;
      // Numbers wider than 8 bytes are not counters; addresses are checked by roleOf.
      if (len > 8 && role !== Role.Src6 && role !== Role.Dst6 && !isSection) role = Role.Skip;
      if (len === 0) role = Role.Skip;
    }
    if (role === Role.L2Section || role === Role.IpSection) section = true;
    roles[i] = role;
    lens[i] = len;
    if (role === Role.Src4 || role === Role.Dst4) v4 = true;
    if (role === Role.Src6 || role === Role.Dst6) v6 = true;
    if (role === Role.SamplerId || role === Role.SamplingInterval || role === Role.SamplerRandomInterval)
      perRecordRate = true;
    if (
      role === Role.InitBytes ||
      role === Role.RespBytes ||
      role === Role.InitPackets ||
      role === Role.RespPackets
    )
      biflow = true;
    if (fixed && role !== Role.Skip) plan.push(role, off, len);
    if (fixed) off += len;
  }
  if (minLen === 0) throw new TemplateError(`template ${spec.id}: records of length 0`);
  return {
    ...spec,
    fixedLen: fixed ? off : -1,
    minLen,
    plan: Int32Array.from(plan),
    roles,
    lens,
    perRecordRate: !spec.options && perRecordRate,
    biflow,
    ipfix,
    mixedAf: v4 && v6,
    section: !spec.options && section,
  };
}

/** Big-endian unsigned of 1..8 bytes at off, as a double (exact below 2^53). */
export function readUint(b: Uint8Array, off: number, len: number): number {
  switch (len) {
    case 1:
      return b[off]!;
    case 2:
      return u16(b, off);
    case 4:
      return u32(b, off);
    case 8:
      return u32(b, off) * 4294967296 + u32(b, off + 4);
    default: {
      let v = 0;
      for (let i = 0; i < len; i++) v = v * 256 + b[off + i]!;
      return v;
    }
  }
}
