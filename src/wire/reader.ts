/**
 * Bounded read cursor shared by every codec (BGP, FlowSpec, NetFlow/IPFIX, sFlow, pcap).
 *
 * Every read is checked against the cursor's end; a read past it throws WireError, which
 * decoders turn into a "malformed" count. Sub-cursors bound length-prefixed items so a bad
 * inner length can never read into the next item.
 *
 * The cursor is mutable and can be re-pointed with reset() so hot paths reuse one instance
 * instead of allocating per datagram.
 */
export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

export class Reader {
  buf: Uint8Array;
  dv: DataView;
  pos: number;
  end: number;

  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    this.buf = buf;
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = start;
    this.end = end;
    if (start < 0 || end > buf.length || start > end)
      throw new WireError(`bad bounds ${start}..${end} of ${buf.length}`);
  }

  /** Re-point this cursor at another buffer (no allocation when the buffer is the same). */
  reset(buf: Uint8Array, start = 0, end = buf.length): this {
    if (buf !== this.buf) {
      this.buf = buf;
      this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    if (start < 0 || end > buf.length || start > end)
      throw new WireError(`bad bounds ${start}..${end} of ${buf.length}`);
    this.pos = start;
    this.end = end;
    return this;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  atEnd(): boolean {
    return this.pos >= this.end;
  }

  /** Throws unless n more bytes are available. */
  need(n: number): void {
    if (n < 0 || this.pos + n > this.end) {
      throw new WireError(`need ${n} bytes at offset ${this.pos}, only ${this.end - this.pos} left`);
    }
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    const v = this.dv.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  u24(): number {
    this.need(3);
    const b = this.buf;
    const p = this.pos;
    this.pos += 3;
    return (b[p]! << 16) | (b[p + 1]! << 8) | b[p + 2]!;
  }

  u32(): number {
    this.need(4);
    const v = this.dv.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  /** 64-bit unsigned as a double: exact up to 2^53, which covers any real counter. */
  u64(): number {
    this.need(8);
    const hi = this.dv.getUint32(this.pos);
    const lo = this.dv.getUint32(this.pos + 4);
    this.pos += 8;
    return hi * 4294967296 + lo;
  }

  u64n(): bigint {
    this.need(8);
    const v = this.dv.getBigUint64(this.pos);
    this.pos += 8;
    return v;
  }

  /** Unsigned big-endian integer of 1..8 bytes, as a double. */
  uint(n: number): number {
    this.need(n);
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + this.buf[this.pos + i]!;
    this.pos += n;
    return v;
  }

  /** A view (no copy) of the next n bytes. */
  bytes(n: number): Uint8Array {
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** A copy of the next n bytes, for values kept beyond the datagram's life. */
  copy(n: number): Uint8Array {
    return Uint8Array.from(this.bytes(n));
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  /** A bounded sub-cursor over the next n bytes; this cursor moves past them. */
  sub(n: number): Reader {
    this.need(n);
    const r = new Reader(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }

  peekU8(offset = 0): number {
    this.need(offset + 1);
    return this.buf[this.pos + offset]!;
  }

  peekU16(offset = 0): number {
    this.need(offset + 2);
    return this.dv.getUint16(this.pos + offset);
  }
}
