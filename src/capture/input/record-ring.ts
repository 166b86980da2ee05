/**
 * Flow records across threads: one single-producer single-consumer ring per decode worker
 * in a SharedArrayBuffer. The worker's decoder writes each record it delivers (RingWriter is
 * its FlowSink) and publishes the write position once per datagram (commit); the main
 * thread reads whole batches (RingReader.drain) into one reusable FlowRecord and hands
 * them to detection's sink. Nothing is posted per record and nothing is copied twice.
 *
 * A full ring never blocks the worker (its socket would overflow instead, unseen): the
 * record is dropped and counted in the control block, which the main thread reads.
 *
 * Layout: a control block of Int32 slots (positions, counters, the wake-up word), then the
 * data area, a power of two. Positions are byte counters that wrap at 2^32 (used = w - r,
 * unsigned), offsets are position & mask. A record is a fixed 96-byte block (128 with IPv6
 * addresses), 8-aligned, followed by its raw header bytes padded to 8; a record that does not fit before the end
 * of the area leaves a WRAP word and starts again at offset 0. Exporter names travel in
 * the ring too (kind NAME, before the first record that uses the id), so a record never
 * arrives before the name it refers to.
 */
import type { FlowRecord, FlowSink } from '../flow.js';
import { ReusableFlowRecord } from '../flow.js';

/** Control block slots (Int32). */
const C_WRITE = 0;
const C_READ = 1;
/** Bumped on every commit; the reader waits on it (Atomics.waitAsync) when the ring is empty. */
const C_SEQ = 2;
/** 1 while the reader waits: the writer notifies only then. */
const C_WAITING = 3;
/** Records dropped because the ring was full (wraps at 2^32; read as unsigned). */
const C_DROPPED = 4;
/** Records written (wraps at 2^32). */
const C_WRITTEN = 5;
/** Highest bytes in use seen by the writer (queue depth high-water mark). */
const C_HIGH = 6;
/**
 * Bumped by a new reader of a ring that outlives its reader (a restarted detection shard):
 * the writer then sends its exporter names again, which the new reader never saw.
 */
const C_NAMES = 7;
const CONTROL_SLOTS = 8;
const CONTROL_BYTES = CONTROL_SLOTS * 4;

const KIND_RECORD = 1;
const KIND_NAME = 2;
const WRAP = 0xffff_ffff;

/** Fixed part of a record, bytes (8-aligned). */
const FIXED = 128;
/** An IPv4 record stops before the IPv6 addresses. */
const FIXED_V4 = 96;
/**
 * u32 slots from the record start. The length comes first: a WRAP word must fit in the
 * last 8 bytes of the area.
 */
const U_LEN = 0;
const U_MISC = 1;
const U_EXPORTER = 2;
const U_SRC4 = 3;
const U_DST4 = 4;
const U_SAMPLING = 5;
const U_IFIN = 6;
const U_IFOUT = 7;
const U_FRAME = 8;
const U_PKTLEN = 9;
const U_PORTS = 10;
const U_ICMP = 11;
const U_LINK = 12;
const U_HDRLEN = 13;
/** f64 slots from the record start (after the 14 u32 = 56 bytes = 7 f64). */
const F_TIME = 7;
const F_DURATION = 8;
const F_PACKETS = 9;
const F_BYTES = 10;
const F_FLOWS = 11;
/** Byte offsets of the IPv6 addresses (after the f64s, at 96). */
const B_SRC6 = 96;
const B_DST6 = 112;

/** Longest raw header carried (sFlow headers are bounded far below this). */
const MAX_HEADER = 4096;

/** Atomics.waitAsync (Node 16+), missing from the ES2022 lib this package compiles against. */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      a: Int32Array,
      i: number,
      v: number,
      t: number,
    ): { async: false; value: string } | { async: true; value: Promise<string> };
  }
).waitAsync;

export interface RingCounts {
  /** Records written by the worker. */
  written: number;
  /** Records dropped because the ring was full. */
  dropped: number;
  /** Bytes waiting now. */
  queuedBytes: number;
  /** Most bytes ever waiting. */
  highWaterBytes: number;
  capacityBytes: number;
}

/** Several rings' counters as one (a worker writing to one ring per detection shard). */
export function sumCounts(cs: readonly RingCounts[]): RingCounts {
  if (cs.length === 1) return cs[0]!;
  const c = { written: 0, dropped: 0, queuedBytes: 0, highWaterBytes: 0, capacityBytes: 0 };
  for (const k of cs) {
    c.written += k.written;
    c.dropped += k.dropped;
    c.queuedBytes += k.queuedBytes;
    c.highWaterBytes = Math.max(c.highWaterBytes, k.highWaterBytes);
    c.capacityBytes += k.capacityBytes;
  }
  return c;
}

/** A ring's shared memory: created by the main thread, passed to the worker in workerData. */
export function createRing(capacityBytes: number): SharedArrayBuffer {
  let cap = 1 << 16;
  while (cap < capacityBytes && cap < 1 << 30) cap <<= 1;
  return new SharedArrayBuffer(CONTROL_BYTES + cap);
}

class RingView {
  protected readonly ctl: Int32Array;
  protected readonly u8: Uint8Array;
  protected readonly u32: Uint32Array;
  protected readonly f64: Float64Array;
  protected readonly mask: number;
  readonly capacity: number;

  constructor(readonly buffer: SharedArrayBuffer) {
    const sab = buffer;
    this.ctl = new Int32Array(sab, 0, CONTROL_SLOTS);
    this.capacity = sab.byteLength - CONTROL_BYTES;
    this.mask = this.capacity - 1;
    this.u8 = new Uint8Array(sab, CONTROL_BYTES, this.capacity);
    this.u32 = new Uint32Array(sab, CONTROL_BYTES, this.capacity >>> 2);
    this.f64 = new Float64Array(sab, CONTROL_BYTES, this.capacity >>> 3);
  }

  counts(): RingCounts {
    return ringCounts(this.buffer);
  }
}

/** A ring's counters from its control block alone (metrics read rings they do not drain). */
export function ringCounts(sab: SharedArrayBuffer): RingCounts {
  const ctl = new Int32Array(sab, 0, CONTROL_SLOTS);
  const w = Atomics.load(ctl, C_WRITE) >>> 0;
  const r = Atomics.load(ctl, C_READ) >>> 0;
  return {
    written: Atomics.load(ctl, C_WRITTEN) >>> 0,
    dropped: Atomics.load(ctl, C_DROPPED) >>> 0,
    queuedBytes: (w - r) >>> 0,
    highWaterBytes: Atomics.load(ctl, C_HIGH) >>> 0,
    capacityBytes: sab.byteLength - CONTROL_BYTES,
  };
}

/** The worker's side: a FlowSink that writes records; commit() publishes them. */
export class RingWriter extends RingView implements FlowSink {
  /** Local write position, published by commit(). */
  private w = 0;
  /** The write position last published, and the read position last seen. */
  private published = 0;
  private r = 0;
  private commits = 0;
  private dropped = 0;
  private written = 0;
  private high = 0;
  private readonly names = new Map<string, number>();
  private lastName = '';
  private lastId = -1;
  private readonly enc = new TextEncoder();
  private namesEpoch: number;

  constructor(sab: SharedArrayBuffer) {
    super(sab);
    const ctl = this.ctl;
    this.w = Atomics.load(ctl, C_WRITE) >>> 0;
    this.published = this.w;
    this.r = Atomics.load(ctl, C_READ) >>> 0;
    // A ring outliving its writer (a restarted decode worker writing to detection shards):
    // the counters go on from where the last one left them.
    this.written = Atomics.load(ctl, C_WRITTEN) >>> 0;
    this.dropped = Atomics.load(ctl, C_DROPPED) >>> 0;
    this.high = Atomics.load(ctl, C_HIGH) >>> 0;
    this.namesEpoch = Atomics.load(ctl, C_NAMES);
  }

  /** Room for `len` bytes at the write position (writing a WRAP first when needed); -1 when full. */
  private reserve(len: number): number {
    let off = this.w & this.mask;
    const tail = this.capacity - off;
    const need = tail < len ? tail + len : len;
    // The reader's position is read from shared memory only when the last one seen leaves
    // too little room: one atomic load per ring's worth, not one per record.
    let used = (this.w - this.r) >>> 0;
    if (used + need > this.capacity) {
      this.r = Atomics.load(this.ctl, C_READ) >>> 0;
      used = (this.w - this.r) >>> 0;
      if (used + need > this.capacity) return -1;
    }
    if (tail < len) {
      // The reader sees WRAP in the length slot and continues at offset 0.
      this.u32[(off >>> 2) + U_LEN] = WRAP;
      this.w = (this.w + tail) >>> 0;
      off = 0;
    }
    const inUse = used + need;
    if (inUse > this.high) this.high = inUse;
    return off;
  }

  private nameId(name: string): number {
    if (name === this.lastName) return this.lastId;
    let id = this.names.get(name);
    if (id === undefined) {
      const bytes = this.enc.encode(name);
      const len = FIXED + ((bytes.length + 7) & ~7);
      const off = this.reserve(len);
      if (off < 0) return -1;
      id = this.names.size;
      const b = off >>> 2;
      this.u32[b + U_LEN] = len;
      this.u32[b + U_MISC] = KIND_NAME;
      this.u32[b + U_EXPORTER] = id;
      this.u32[b + U_HDRLEN] = bytes.length;
      this.u8.set(bytes, off + FIXED);
      this.w = (this.w + len) >>> 0;
      this.names.set(name, id);
    }
    this.lastName = name;
    this.lastId = id;
    return id;
  }

  onFlow(rec: FlowRecord): void {
    const id = this.nameId(rec.exporter);
    const hdr = rec.header;
    const hlen = hdr && hdr.length <= MAX_HEADER ? hdr.length : 0;
    const v6 = rec.ipVersion === 6;
    const fixed = v6 ? FIXED : FIXED_V4;
    const len = fixed + ((hlen + 7) & ~7);
    const off = id < 0 ? -1 : this.reserve(len);
    if (off < 0) {
      this.dropped++;
      return;
    }
    const f = off >>> 3;
    const f64 = this.f64;
    f64[f + F_TIME] = rec.timeMs;
    f64[f + F_DURATION] = rec.durationMs;
    f64[f + F_PACKETS] = rec.packets;
    f64[f + F_BYTES] = rec.bytes;
    f64[f + F_FLOWS] = rec.flows;
    const b = off >>> 2;
    const u32 = this.u32;
    u32[b + U_LEN] = len;
    u32[b + U_EXPORTER] = id;
    u32[b + U_SAMPLING] = rec.samplingRate;
    u32[b + U_IFIN] = rec.ifIn;
    u32[b + U_IFOUT] = rec.ifOut;
    u32[b + U_FRAME] = rec.frameLength;
    u32[b + U_PKTLEN] = rec.packetLength;
    u32[b + U_MISC] =
      KIND_RECORD |
      (v6 ? 0x10 : 0) |
      (rec.fragment ? 0x20 : 0) |
      (rec.dropped ? 0x40 : 0) |
      (rec.reverse ? 0x80 : 0) |
      (hdr !== null ? 0x100 : 0) |
      ((rec.protocol & 0xff) << 16) |
      ((rec.tcpFlags & 0xff) << 24);
    u32[b + U_PORTS] = ((rec.srcPort & 0xffff) << 16) | (rec.dstPort & 0xffff);
    u32[b + U_ICMP] = (((rec.icmpType + 1) & 0xffff) << 16) | ((rec.icmpCode + 1) & 0xffff);
    u32[b + U_LINK] = rec.headerLinkType;
    u32[b + U_HDRLEN] = hlen;
    if (v6) {
      this.u8.set(rec.src6, off + B_SRC6);
      this.u8.set(rec.dst6, off + B_DST6);
    } else {
      u32[b + U_SRC4] = rec.src4;
      u32[b + U_DST4] = rec.dst4;
    }
    if (hlen) this.u8.set(hdr!, off + fixed);
    this.w = (this.w + len) >>> 0;
    this.written++;
  }

  /** Publish what was written since the last commit (once per datagram) and wake the reader. */
  commit(): void {
    const ctl = this.ctl;
    const epoch = Atomics.load(ctl, C_NAMES);
    if (epoch !== this.namesEpoch) {
      this.namesEpoch = epoch;
      this.names.clear();
      this.lastName = '';
      this.lastId = -1;
    }
    if (this.published !== this.w) {
      this.published = this.w;
      Atomics.store(ctl, C_WRITE, this.w | 0);
      // The reader sets WAITING before it checks for records and sleeps on SEQ (wait()):
      // with sequentially consistent atomics either it sees this write or we see its flag.
      if (Atomics.load(ctl, C_WAITING) !== 0) {
        Atomics.add(ctl, C_SEQ, 1);
        Atomics.notify(ctl, C_SEQ);
      }
    }
    // Counters are the worker's own and only read for metrics: published every 64 commits
    // (and by flushCounts()).
    if ((++this.commits & 63) === 0) this.flushCounts();
  }

  /** Publish the written, dropped and high-water counters now. */
  flushCounts(): void {
    const ctl = this.ctl;
    Atomics.store(ctl, C_WRITTEN, this.written | 0);
    Atomics.store(ctl, C_DROPPED, this.dropped | 0);
    Atomics.store(ctl, C_HIGH, this.high | 0);
  }
}

/** The main thread's side: drains records into one reusable FlowRecord for the sink. */
export class RingReader extends RingView {
  private readonly rec = new ReusableFlowRecord();
  private readonly names: string[] = [];
  private readonly dec = new TextDecoder();
  private closed = false;

  /**
   * Deliver up to `max` records to `sink` (the records' views are valid only during the
   * call, as for any FlowSink). Returns how many were delivered.
   */
  drain(sink: FlowSink, max: number): number {
    const ctl = this.ctl;
    const w = Atomics.load(ctl, C_WRITE) >>> 0;
    let r = Atomics.load(ctl, C_READ) >>> 0;
    const u32 = this.u32;
    const f64 = this.f64;
    const u8 = this.u8;
    const rec = this.rec;
    let n = 0;
    while (r !== w && n < max) {
      const off = r & this.mask;
      const b = off >>> 2;
      const len = u32[b + U_LEN]!;
      if (len === WRAP) {
        r = (r + (this.capacity - off)) >>> 0;
        continue;
      }
      const misc = u32[b + U_MISC]!;
      if ((misc & 0xf) === KIND_NAME) {
        const nl = u32[b + U_HDRLEN]!;
        this.names[u32[b + U_EXPORTER]!] = this.dec.decode(u8.slice(off + FIXED, off + FIXED + nl));
        r = (r + len) >>> 0;
        continue;
      }
      const f = off >>> 3;
      rec.exporter = this.names[u32[b + U_EXPORTER]!] ?? '';
      rec.timeMs = f64[f + F_TIME]!;
      rec.durationMs = f64[f + F_DURATION]!;
      rec.packets = f64[f + F_PACKETS]!;
      rec.bytes = f64[f + F_BYTES]!;
      rec.flows = f64[f + F_FLOWS]!;
      rec.samplingRate = u32[b + U_SAMPLING]!;
      rec.ifIn = u32[b + U_IFIN]!;
      rec.ifOut = u32[b + U_IFOUT]!;
      rec.frameLength = u32[b + U_FRAME]!;
      rec.packetLength = u32[b + U_PKTLEN]!;
      const v6 = (misc & 0x10) !== 0;
      rec.ipVersion = v6 ? 6 : 4;
      rec.fragment = (misc & 0x20) !== 0;
      rec.dropped = (misc & 0x40) !== 0;
      rec.reverse = (misc & 0x80) !== 0;
      rec.protocol = (misc >>> 16) & 0xff;
      rec.tcpFlags = misc >>> 24;
      const ports = u32[b + U_PORTS]!;
      rec.srcPort = ports >>> 16;
      rec.dstPort = ports & 0xffff;
      const icmp = u32[b + U_ICMP]!;
      rec.icmpType = (icmp >>> 16) - 1;
      rec.icmpCode = (icmp & 0xffff) - 1;
      rec.headerLinkType = u32[b + U_LINK]!;
      if (v6) {
        const s6 = rec.src6;
        const d6 = rec.dst6;
        for (let i = 0; i < 16; i++) {
          s6[i] = u8[off + B_SRC6 + i]!;
          d6[i] = u8[off + B_DST6 + i]!;
        }
        rec.src4 = 0;
        rec.dst4 = 0;
      } else {
        rec.src4 = u32[b + U_SRC4]!;
        rec.dst4 = u32[b + U_DST4]!;
      }
      if (misc & 0x100) rec.setHeader(u8, off + (v6 ? FIXED : FIXED_V4), u32[b + U_HDRLEN]!);
      else rec.setHeader(null, 0, 0);
      r = (r + len) >>> 0;
      n++;
      sink.onFlow(rec);
    }
    Atomics.store(ctl, C_READ, r | 0);
    return n;
  }

  /** Deliver everything published so far (a worker ended or stops: nothing more comes). */
  drainAll(sink: FlowSink): void {
    while (this.drain(sink, DRAIN_BATCH) > 0);
  }

  /**
   * A new reader of a ring written before it existed (a restarted detection shard): the
   * writer sends its exporter names again from its next commit; records already in the ring
   * name none this reader knows (their exporter reads as '').
   */
  forgetNames(): void {
    Atomics.add(this.ctl, C_NAMES, 1);
  }

  /** Is anything published and not yet read? */
  pending(): boolean {
    return Atomics.load(this.ctl, C_WRITE) >>> 0 !== Atomics.load(this.ctl, C_READ) >>> 0;
  }

  /**
   * Resolves when the writer commits (or after `timeoutMs`, or at once when something is
   * already waiting). The main thread never blocks: this is Atomics.waitAsync.
   */
  async wait(timeoutMs: number): Promise<void> {
    const ctl = this.ctl;
    const seq = Atomics.load(ctl, C_SEQ);
    Atomics.store(ctl, C_WAITING, 1);
    if (!this.pending() && !this.closed) {
      const r = waitAsync(ctl, C_SEQ, seq, timeoutMs);
      if (r.async) await r.value;
    }
    Atomics.store(ctl, C_WAITING, 0);
  }

  /** Wake a pending wait() for good (the reader is stopping). */
  close(): void {
    this.closed = true;
    Atomics.add(this.ctl, C_SEQ, 1);
    Atomics.notify(this.ctl, C_SEQ);
  }
}

/** Records per drain before yielding to timers and I/O (detection's tick must run). */
const DRAIN_BATCH = 8192;
const WAIT_MS = 1000;
const POLL_MS = 1;

/** Drain `r` into `sink` while `live()`: the main thread's loop over one worker's ring. */
export async function pumpRing(r: RingReader, sink: FlowSink, live: () => boolean): Promise<void> {
  while (live()) {
    const n = r.drain(sink, DRAIN_BATCH);
    if (n === DRAIN_BATCH) await new Promise<void>((res) => setImmediate(res));
    // Traffic flowing: read again in a millisecond, a batch of datagrams at once, and the
    // worker never has to wake this thread (a futex call per datagram at 100k/s).
    else if (n > 0) await new Promise<void>((res) => setTimeout(res, POLL_MS));
    // Idle: sleep until the worker commits (one wake when traffic resumes).
    else await r.wait(WAIT_MS);
  }
}
