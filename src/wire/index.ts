/**
 * The wire room: a bounded Reader (every read checked against the end; a short or bad
 * input throws WireError, which decoders count instead of crashing), a growing Writer, and
 * address and prefix helpers (text <-> bytes, RFC 5952 text, masks, unmapV4, addrBits) that
 * every codec and room shares. Nothing here knows a protocol.
 */
export { Reader, WireError } from './reader.js';
export { Writer } from './writer.js';
export * from './addr.js';
