/** Big-endian reads shared by the flow codecs (bounds are checked by the callers). */
export { v4FromBytes as u32 } from '../../wire/addr.js';

export function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
