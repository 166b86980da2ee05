/**
 * Growable big-endian writer shared by every encoder. Length fields that are only known
 * after their content is written are reserved with a placeholder and filled in later.
 */
export class Writer {
  private buf: Uint8Array;
  private dv: DataView;
  pos = 0;

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
    this.dv = new DataView(this.buf.buffer);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }

  get length(): number {
    return this.pos;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    this.ensure(2);
    this.dv.setUint16(this.pos, v & 0xffff);
    this.pos += 2;
    return this;
  }

  u24(v: number): this {
    this.ensure(3);
    this.buf[this.pos] = (v >>> 16) & 0xff;
    this.buf[this.pos + 1] = (v >>> 8) & 0xff;
    this.buf[this.pos + 2] = v & 0xff;
    this.pos += 3;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.dv.setUint32(this.pos, v >>> 0);
    this.pos += 4;
    return this;
  }

  u64(v: number | bigint): this {
    this.ensure(8);
    this.dv.setBigUint64(this.pos, BigInt(v));
    this.pos += 8;
    return this;
  }

  /** Unsigned big-endian integer in n bytes. */
  uint(v: number, n: number): this {
    this.ensure(n);
    for (let i = n - 1; i >= 0; i--) {
      this.buf[this.pos + i] = v % 256;
      v = Math.floor(v / 256);
    }
    this.pos += n;
    return this;
  }

  bytes(b: Uint8Array | readonly number[]): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  zeros(n: number): this {
    this.ensure(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
    return this;
  }

  /** Reserve `size` bytes (1, 2 or 4) for a length written later with fillLength(). */
  placeholder(size: 1 | 2 | 4): number {
    const at = this.pos;
    this.zeros(size);
    return at;
  }

  /**
   * Fill a placeholder with the number of bytes written since it ended, plus `adjust`
   * (e.g. the BGP header length counts itself).
   */
  fillLength(at: number, size: 1 | 2 | 4, adjust = 0): number {
    const len = this.pos - (at + size) + adjust;
    this.setUint(at, len, size);
    return len;
  }

  setUint(at: number, v: number, size: 1 | 2 | 4): void {
    if (size === 1) {
      if (v > 0xff) throw new RangeError(`length ${v} does not fit in 1 byte`);
      this.buf[at] = v;
    } else if (size === 2) {
      if (v > 0xffff) throw new RangeError(`length ${v} does not fit in 2 bytes`);
      this.dv.setUint16(at, v);
    } else this.dv.setUint32(at, v >>> 0);
  }

  /** A copy of what has been written. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  /** A view of what has been written (valid until the next write). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  reset(): this {
    this.pos = 0;
    return this;
  }
}
