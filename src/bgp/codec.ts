/**
 * BGP message codec (RFC 4271 §4): header framing, OPEN (RFC 5492 capabilities in one or
 * several optional parameters, RFC 9072 extended parameters length), UPDATE (with RFC 7606
 * validation, see update.ts), KEEPALIVE, NOTIFICATION and ROUTE-REFRESH (RFC 2918, RFC
 * 7313 subtypes). Messages are plain data; encode/decode are pure.
 */
import { Reader, WireError } from '../wire/reader.js';
import { Writer } from '../wire/writer.js';
import { parseV4, v4ToString } from '../wire/addr.js';
import * as C from './constants.js';
import {
  BgpError,
  ERR_HEADER,
  ERR_OPEN,
  ERR_ROUTE_REFRESH,
  HDR_BAD_LENGTH,
  HDR_BAD_TYPE,
  HDR_NOT_SYNC,
  OPEN_BAD_BGP_ID,
  OPEN_BAD_HOLD_TIME,
  OPEN_BAD_VERSION,
  OPEN_UNSUPPORTED_PARAM,
} from './notify.js';
import { decodeUpdateBody, writeUpdateBody, type UpdateMessage } from './update.js';
import type { AttrContext } from './attrs.js';

export type { UpdateMessage } from './update.js';

export interface Capability {
  readonly code: number;
  readonly value: Uint8Array;
}

/** An optional parameter: capabilities (type 2, RFC 5492) or anything else kept raw. */
type OptionalParameter =
  | { readonly kind: 'capabilities'; readonly capabilities: readonly Capability[] }
  | { readonly kind: 'raw'; readonly type: number; readonly value: Uint8Array };

export interface OpenMessage {
  readonly type: 'open';
  readonly version: number;
  /** The 2-octet "My AS" field (AS_TRANS when the real AS needs 4 octets). */
  readonly myAs: number;
  readonly holdTime: number;
  readonly routerId: string;
  readonly params: readonly OptionalParameter[];
  /** RFC 9072 encoding was used (or must be, for > 255 bytes of parameters). */
  readonly extendedParams?: boolean;
}

interface KeepaliveMessage {
  readonly type: 'keepalive';
}

interface NotificationMessage {
  readonly type: 'notification';
  readonly code: number;
  readonly subcode: number;
  readonly data: Uint8Array;
}

/** RFC 2918; `subtype` is RFC 7313's (0 request, 1 BoRR, 2 EoRR). */
interface RouteRefreshMessage {
  readonly type: 'route-refresh';
  readonly afi: number;
  readonly safi: number;
  readonly subtype: number;
}

export type BgpMessage =
  | OpenMessage
  | UpdateMessage
  | KeepaliveMessage
  | NotificationMessage
  | RouteRefreshMessage;

export interface CodecContext extends AttrContext {
  /** Largest acceptable message: 4096, or 65535 after RFC 8654 negotiation. */
  readonly maxLength: number;
}

export const DEFAULT_CONTEXT: CodecContext = { as4: true, maxLength: C.MAX_MESSAGE };

const MIN_LENGTH: Record<number, number> = {
  [C.MSG_OPEN]: 29,
  [C.MSG_UPDATE]: 23,
  [C.MSG_NOTIFICATION]: 21,
  [C.MSG_KEEPALIVE]: 19,
  [C.MSG_ROUTE_REFRESH]: 23,
};

function u16Bytes(v: number): Uint8Array {
  return new Uint8Array([(v >> 8) & 0xff, v & 0xff]);
}

/**
 * Check the header at buf[off..] (RFC 4271 §6.1). Returns null while fewer than 19 bytes
 * are buffered, else the message length and type. Throws BgpError on header errors.
 */
export function readHeader(
  buf: Uint8Array,
  off: number,
  maxLength: number,
): { length: number; type: number } | null {
  if (buf.length - off < C.HEADER_LEN) return null;
  for (let i = 0; i < 16; i++) {
    if (buf[off + i] !== 0xff) throw new BgpError(ERR_HEADER, HDR_NOT_SYNC, 'marker is not all ones');
  }
  const length = (buf[off + 16]! << 8) | buf[off + 17]!;
  const type = buf[off + 18]!;
  if (length < C.HEADER_LEN || length > maxLength) {
    throw new BgpError(ERR_HEADER, HDR_BAD_LENGTH, `message length ${length}`, u16Bytes(length));
  }
  const min = MIN_LENGTH[type];
  if (min === undefined)
    throw new BgpError(ERR_HEADER, HDR_BAD_TYPE, `message type ${type}`, new Uint8Array([type]));
  // RFC 8654 §4: OPEN and KEEPALIVE never exceed 4096 even with extended messages.
  const fixed = type === C.MSG_KEEPALIVE ? 19 : undefined;
  if (
    length < min ||
    (fixed !== undefined && length !== fixed) ||
    (type === C.MSG_OPEN && length > C.MAX_MESSAGE)
  ) {
    throw new BgpError(
      ERR_HEADER,
      HDR_BAD_LENGTH,
      `${length} bytes is a bad length for message type ${type}`,
      u16Bytes(length),
    );
  }
  return { length, type };
}

/** Decode one whole message (header included). Throws BgpError with the NOTIFICATION to send. */
export function decodeMessage(msg: Uint8Array, ctx: CodecContext = DEFAULT_CONTEXT): BgpMessage {
  const h = readHeader(msg, 0, ctx.maxLength);
  if (!h || h.length !== msg.length) {
    throw new BgpError(
      ERR_HEADER,
      HDR_BAD_LENGTH,
      `message of ${msg.length} bytes, header says ${h?.length ?? '?'}`,
      u16Bytes(h?.length ?? 0),
    );
  }
  const r = new Reader(msg, C.HEADER_LEN, msg.length);
  try {
    switch (h.type) {
      case C.MSG_OPEN:
        return decodeOpen(r);
      case C.MSG_UPDATE:
        return decodeUpdateBody(r, ctx);
      case C.MSG_NOTIFICATION:
        return { type: 'notification', code: r.u8(), subcode: r.u8(), data: r.copy(r.remaining) };
      case C.MSG_KEEPALIVE:
        return { type: 'keepalive' };
      default: {
        // ROUTE-REFRESH: RFC 7313 §5, a wrong length is 7/1 with the whole message as data.
        if (msg.length !== 23)
          throw new BgpError(
            ERR_ROUTE_REFRESH,
            1,
            `ROUTE-REFRESH of ${msg.length} bytes`,
            Uint8Array.from(msg),
          );
        const afi = r.u16();
        const subtype = r.u8();
        const safi = r.u8();
        return { type: 'route-refresh', afi, safi, subtype };
      }
    }
  } catch (e) {
    if (e instanceof WireError) {
      // A bounded read ran out inside a body whose parts had no own length check.
      const code = h.type === C.MSG_OPEN ? ERR_OPEN : h.type === C.MSG_UPDATE ? 3 : ERR_HEADER;
      throw new BgpError(
        code,
        code === ERR_HEADER ? HDR_BAD_LENGTH : code === 3 ? 1 : 0,
        `truncated message: ${e.message}`,
      );
    }
    throw e;
  }
}

function decodeOpen(r: Reader): OpenMessage {
  const version = r.u8();
  if (version !== 4) throw new BgpError(ERR_OPEN, OPEN_BAD_VERSION, `BGP version ${version}`, u16Bytes(4));
  const myAs = r.u16();
  const holdTime = r.u16();
  if (holdTime === 1 || holdTime === 2)
    throw new BgpError(ERR_OPEN, OPEN_BAD_HOLD_TIME, `hold time ${holdTime}`);
  const id = r.u32();
  if (id === 0) throw new BgpError(ERR_OPEN, OPEN_BAD_BGP_ID, 'BGP identifier 0.0.0.0');
  let optLen = r.u8();
  let extended = false;
  // RFC 9072 §2: non-extended length 255 followed by parameter type 255 marks the extended form.
  if (optLen === 255 && r.remaining >= 3 && r.peekU8() === 255) {
    r.skip(1);
    optLen = r.u16();
    extended = true;
  }
  if (optLen !== r.remaining) {
    throw new BgpError(ERR_OPEN, 0, `optional parameters length ${optLen}, ${r.remaining} bytes present`);
  }
  const params: OptionalParameter[] = [];
  while (!r.atEnd()) {
    const type = r.u8();
    const len = extended ? r.u16() : r.u8();
    if (len > r.remaining)
      throw new BgpError(ERR_OPEN, 0, `optional parameter ${type} of ${len} bytes overruns the OPEN`);
    const pr = r.sub(len);
    if (type !== 2) throw new BgpError(ERR_OPEN, OPEN_UNSUPPORTED_PARAM, `optional parameter type ${type}`);
    const caps: Capability[] = [];
    while (!pr.atEnd()) {
      if (pr.remaining < 2) throw new BgpError(ERR_OPEN, 0, 'truncated capability header');
      const code = pr.u8();
      const clen = pr.u8();
      if (clen > pr.remaining)
        throw new BgpError(ERR_OPEN, 0, `capability ${code} of ${clen} bytes overruns its parameter`);
      caps.push({ code, value: pr.copy(clen) });
    }
    params.push({ kind: 'capabilities', capabilities: caps });
  }
  return {
    type: 'open',
    version,
    myAs,
    holdTime,
    routerId: v4ToString(id),
    params,
    ...(extended ? { extendedParams: true } : {}),
  };
}

/** All capabilities of an OPEN, in order, whatever parameter they came in. */
export function openCapabilities(open: OpenMessage): Capability[] {
  const out: Capability[] = [];
  for (const p of open.params) if (p.kind === 'capabilities') out.push(...p.capabilities);
  return out;
}

function beginMessage(w: Writer, type: number): void {
  for (let i = 0; i < 16; i++) w.u8(0xff);
  w.u16(0).u8(type);
}

function endMessage(w: Writer, maxLength: number): Uint8Array {
  if (w.length > maxLength) throw new RangeError(`message of ${w.length} bytes exceeds ${maxLength}`);
  w.setUint(16, w.length, 2);
  return w.finish();
}

export function encodeOpen(m: Omit<OpenMessage, 'type'> & { type?: 'open' }): Uint8Array {
  const w = new Writer(128);
  beginMessage(w, C.MSG_OPEN);
  w.u8(m.version).u16(m.myAs).u16(m.holdTime).u32(parseV4(m.routerId));
  const pw = new Writer(128);
  const ext = m.extendedParams === true;
  for (const p of m.params) {
    if (p.kind === 'capabilities') {
      pw.u8(2);
      const at = pw.placeholder(ext ? 2 : 1);
      for (const c of p.capabilities) pw.u8(c.code).u8(c.value.length).bytes(c.value);
      pw.fillLength(at, ext ? 2 : 1);
    } else {
      pw.u8(p.type);
      if (ext) pw.u16(p.value.length);
      else pw.u8(p.value.length);
      pw.bytes(p.value);
    }
  }
  if (ext) w.u8(255).u8(255).u16(pw.length);
  else w.u8(pw.length);
  w.bytes(pw.view());
  return endMessage(w, C.MAX_MESSAGE);
}

export function encodeKeepalive(): Uint8Array {
  const w = new Writer(19);
  beginMessage(w, C.MSG_KEEPALIVE);
  return endMessage(w, C.MAX_MESSAGE);
}

export function encodeNotification(
  code: number,
  subcode: number,
  data: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const w = new Writer(32 + data.length);
  beginMessage(w, C.MSG_NOTIFICATION);
  w.u8(code)
    .u8(subcode)
    .bytes(data.subarray(0, C.MAX_MESSAGE - 21));
  return endMessage(w, C.MAX_MESSAGE);
}

export function encodeRouteRefresh(afi: number, safi: number, subtype = 0): Uint8Array {
  const w = new Writer(23);
  beginMessage(w, C.MSG_ROUTE_REFRESH);
  w.u16(afi).u8(subtype).u8(safi);
  return endMessage(w, C.MAX_MESSAGE);
}

export function encodeUpdate(m: UpdateMessage, ctx: CodecContext = DEFAULT_CONTEXT): Uint8Array {
  const w = new Writer(256);
  beginMessage(w, C.MSG_UPDATE);
  writeUpdateBody(w, m, ctx);
  return endMessage(w, ctx.maxLength);
}

export function encodeMessage(m: BgpMessage, ctx: CodecContext = DEFAULT_CONTEXT): Uint8Array {
  switch (m.type) {
    case 'open':
      return encodeOpen(m);
    case 'update':
      return encodeUpdate(m, ctx);
    case 'keepalive':
      return encodeKeepalive();
    case 'notification':
      return encodeNotification(m.code, m.subcode, m.data);
    case 'route-refresh':
      return encodeRouteRefresh(m.afi, m.safi, m.subtype);
  }
}
