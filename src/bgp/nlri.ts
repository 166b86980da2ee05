/**
 * NLRI encodings: unicast prefixes (RFC 4271 §4.3, RFC 4760 §5) and FlowSpec NLRI
 * length framing (RFC 8955 §4: 1 octet below 240, else 0xfnnn in 2 octets, max 4095).
 * The FlowSpec NLRI value itself is opaque here (src/flowspec builds and reads it).
 */
import type { Reader } from '../wire/reader.js';
import type { Writer } from '../wire/writer.js';
import { addrBits, type Prefix } from '../wire/addr.js';
import { BgpError, ERR_UPDATE } from './notify.js';

/** Decode consecutive prefixes of one family from r until its end; errors carry `subcode`. */
export function decodePrefixes(r: Reader, family: 4 | 6, subcode: number, what: string): Prefix[] {
  const out: Prefix[] = [];
  const max = addrBits(family);
  const size = family === 4 ? 4 : 16;
  while (!r.atEnd()) {
    const len = r.u8();
    if (len > max) throw new BgpError(ERR_UPDATE, subcode, `${what}: prefix length ${len} > ${max}`);
    const n = (len + 7) >> 3;
    if (r.remaining < n)
      throw new BgpError(
        ERR_UPDATE,
        subcode,
        `${what}: prefix /${len} needs ${n} bytes, ${r.remaining} left`,
      );
    const bytes = new Uint8Array(size);
    bytes.set(r.bytes(n));
    // Host bits beyond the length are ignored (RFC 4271 §4.3 "trailing bits"); keep them zero.
    const rem = len & 7;
    if (rem) bytes[n - 1]! &= (0xff << (8 - rem)) & 0xff;
    out.push({ family, bytes, len });
  }
  return out;
}

export function prefixWireLength(p: Prefix): number {
  return 1 + ((p.len + 7) >> 3);
}

export function writePrefix(w: Writer, p: Prefix): void {
  w.u8(p.len);
  w.bytes(p.bytes.subarray(0, (p.len + 7) >> 3));
}

/** Length of a FlowSpec NLRI on the wire including its 1- or 2-octet length. */
export function flowspecWireLength(value: Uint8Array): number {
  return value.length + (value.length < 240 ? 1 : 2);
}

export function writeFlowspec(w: Writer, value: Uint8Array): void {
  if (value.length >= 4096) throw new RangeError(`FlowSpec NLRI of ${value.length} bytes exceeds 4095`);
  if (value.length < 240) w.u8(value.length);
  else w.u16(0xf000 | value.length);
  w.bytes(value);
}

/** Split a FlowSpec NLRI field into NLRI values (copies, length prefix removed). */
export function decodeFlowspecList(r: Reader, subcode: number, what: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  while (!r.atEnd()) {
    let len = r.u8();
    if (len >= 0xf0) {
      if (r.atEnd()) throw new BgpError(ERR_UPDATE, subcode, `${what}: truncated 2-octet FlowSpec length`);
      len = ((len & 0x0f) << 8) | r.u8();
    }
    if (len === 0) throw new BgpError(ERR_UPDATE, subcode, `${what}: empty FlowSpec NLRI`);
    if (r.remaining < len)
      throw new BgpError(ERR_UPDATE, subcode, `${what}: FlowSpec NLRI of ${len} bytes, ${r.remaining} left`);
    out.push(r.copy(len));
  }
  return out;
}
