/**
 * Flow-sample storage in typed arrays (no per-record objects on the hot path).
 *
 * A SampleArrays holds `perOwner` entries for each owner; an owner is a host slot (the
 * always-on baseline ring) or a hot-buffer id (the larger buffer a host gets while its rate
 * is near a threshold). Each entry stores the remote address and whether the host was the
 * destination, so src/dst are rebuilt from the host's own address when materialised.
 *
 * Per tick an owner takes at most `perTick` entries in arrival order; after that each new
 * record replaces one of this tick's entries with probability perTick/n (reservoir
 * sampling), so a tick's samples are uniform over its records rather than its first ones.
 */
import type { FlowRecord, FlowSample } from '../capture/flow.js';
import { v4ToString, v6WordsToString } from '../wire/addr.js';

const HEADER_MAX = 128;
const MARKED = 1 << 20;
const KEY_MARKED = 0xffffffff;

/**
 * A record's kind for the baseline ring: direction, protocol and service port (the lower of
 * the two ports, which is the well-known side for nearly all traffic; ICMP type for ICMP).
 */
function sampleKey(rec: FlowRecord, hostIsSource: boolean): number {
  const p = rec.protocol & 255;
  let svc = 0;
  if (p === 6 || p === 17 || p === 132) svc = Math.min(rec.srcPort, rec.dstPort);
  else if (p === 1 || p === 58) svc = rec.icmpType & 255;
  return ((hostIsSource ? 1 << 24 : 0) | (p << 16) | (svc & 0xffff)) >>> 0;
}

export class SampleArrays {
  readonly perOwner: number;
  perTick: number;
  readonly withHeaders: boolean;
  owners = 0;
  time!: Float64Array;
  packets!: Float64Array;
  bytes!: Float64Array;
  remote!: Uint32Array;
  /** srcPort << 16 | dstPort */
  ports!: Uint32Array;
  /** protocol | tcpFlags << 8 | fragment << 16 | hostIsSource << 17 | v6 << 18 | dropped << 19 | marked << 20 */
  misc!: Uint32Array;
  /** (icmpType + 1) << 16 | (icmpCode + 1) */
  icmp!: Uint32Array;
  plen!: Uint32Array;
  rate!: Uint32Array;
  exporter!: Uint16Array;
  tick!: Uint32Array;
  /** Per-entry kind (baseline rings only, see offerBaseline). */
  key: Uint32Array | null = null;
  /** Per-entry header length and frame length (only with headers). */
  hlen: Uint16Array | null = null;
  flen: Uint32Array | null = null;
  hlink: Uint8Array | null = null;
  headers: Uint8Array | null = null;
  /** Per owner: next write position, entries held, tick of the current count, records seen this tick. */
  head!: Uint16Array;
  count!: Uint16Array;
  curTick!: Uint32Array;
  seen!: Uint32Array;
  /** Monotonic write counter per owner (to find entries newer than a mark). */
  private rng = 0x9e3779b9;

  private readonly keyed: boolean;

  constructor(perOwner: number, perTick: number, withHeaders: boolean, owners: number, keyed = false) {
    this.perOwner = Math.max(1, perOwner);
    this.perTick = Math.max(1, Math.min(perTick, this.perOwner));
    this.withHeaders = withHeaders;
    this.keyed = keyed;
    this.resize(owners);
  }

  bytesPerOwner(): number {
    const per =
      8 * 3 + 16 + 4 * 5 + 2 + 4 + (this.keyed ? 4 : 0) + (this.withHeaders ? 2 + 4 + 1 + HEADER_MAX : 0);
    return per * this.perOwner + 2 + 2 + 4 + 4;
  }

  resize(owners: number): void {
    if (owners <= this.owners) return;
    const E = owners * this.perOwner;
    const g = <T extends Float64Array | Uint32Array | Uint16Array | Uint8Array>(
      old: T | undefined | null,
      n: T,
    ): T => {
      if (old) n.set(old);
      return n;
    };
    this.time = g(this.time, new Float64Array(E));
    this.packets = g(this.packets, new Float64Array(E));
    this.bytes = g(this.bytes, new Float64Array(E));
    this.remote = g(this.remote, new Uint32Array(E * 4));
    this.ports = g(this.ports, new Uint32Array(E));
    this.misc = g(this.misc, new Uint32Array(E));
    this.icmp = g(this.icmp, new Uint32Array(E));
    this.plen = g(this.plen, new Uint32Array(E));
    this.rate = g(this.rate, new Uint32Array(E));
    this.exporter = g(this.exporter, new Uint16Array(E));
    this.tick = g(this.tick, new Uint32Array(E));
    if (this.keyed) this.key = g(this.key, new Uint32Array(E));
    if (this.withHeaders) {
      this.hlen = g(this.hlen, new Uint16Array(E));
      this.flen = g(this.flen, new Uint32Array(E));
      this.hlink = g(this.hlink, new Uint8Array(E));
      this.headers = g(this.headers, new Uint8Array(E * HEADER_MAX));
    }
    this.head = g(this.head, new Uint16Array(owners));
    this.count = g(this.count, new Uint16Array(owners));
    this.curTick = g(this.curTick, new Uint32Array(owners));
    this.seen = g(this.seen, new Uint32Array(owners));
    this.owners = owners;
  }

  clear(owner: number): void {
    this.head[owner] = 0;
    this.count[owner] = 0;
    this.seen[owner] = 0;
    this.curTick[owner] = 0;
  }

  /**
   * Offer one record to an owner's ring. Returns the entry index written, or -1 when the
   * reservoir kept the existing entries.
   */
  offer(owner: number, tick: number, rec: FlowRecord, hostIsSource: boolean, exporterId: number): number {
    let n: number;
    if (this.curTick[owner] !== tick) {
      this.curTick[owner] = tick;
      n = 1;
    } else n = this.seen[owner]! + 1;
    this.seen[owner] = n;
    return this.offerNth(owner, n, tick, rec, hostIsSource, exporterId);
  }

  /** offer() when the caller counts the owner's records in the interval (n = 1 for the first). */
  offerNth(
    owner: number,
    n: number,
    tick: number,
    rec: FlowRecord,
    hostIsSource: boolean,
    exporterId: number,
  ): number {
    const P = this.perOwner;
    let pos: number;
    const k = this.perTick;
    const h = this.head[owner]!;
    if (n <= k) {
      pos = h;
      this.head[owner] = h + 1 === P ? 0 : h + 1;
      if (this.count[owner]! < P) this.count[owner] = this.count[owner]! + 1;
    } else {
      // xorshift32
      let x = this.rng;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.rng = x >>> 0;
      const r = this.rng % n;
      if (r >= k) return -1;
      // this tick's entries are the k positions before head
      pos = h - 1 - r;
      if (pos < 0) pos += P;
    }
    const e = owner * P + pos;
    this.write(e, tick, rec, hostIsSource, exporterId);
    return e;
  }

  private write(e: number, tick: number, rec: FlowRecord, hostIsSource: boolean, exporterId: number): void {
    this.time[e] = rec.timeMs;
    this.packets[e] = rec.packets;
    this.bytes[e] = rec.bytes;
    const r4 = e * 4;
    const v6 = rec.ipVersion === 6;
    if (v6) {
      const b = hostIsSource ? rec.dst6 : rec.src6;
      for (let w = 0; w < 4; w++) {
        const o = w * 4;
        this.remote[r4 + w] = ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
      }
    } else {
      this.remote[r4] = 0;
      this.remote[r4 + 1] = 0;
      this.remote[r4 + 2] = 0;
      this.remote[r4 + 3] = hostIsSource ? rec.dst4 : rec.src4;
    }
    this.ports[e] = ((rec.srcPort & 0xffff) << 16) | (rec.dstPort & 0xffff);
    this.misc[e] =
      (rec.protocol & 255) |
      ((rec.tcpFlags & 255) << 8) |
      (rec.fragment ? 1 << 16 : 0) |
      (hostIsSource ? 1 << 17 : 0) |
      (v6 ? 1 << 18 : 0) |
      (rec.dropped ? 1 << 19 : 0);
    this.icmp[e] = (((rec.icmpType + 1) & 0x1ff) << 16) | ((rec.icmpCode + 1) & 0x1ff);
    this.plen[e] =
      rec.packetLength > 0 ? rec.packetLength : rec.packets > 0 ? Math.round(rec.bytes / rec.packets) : 0;
    this.rate[e] = rec.samplingRate;
    this.exporter[e] = exporterId;
    this.tick[e] = tick;
    if (this.headers) {
      const h = rec.header;
      if (h && h.length > 0) {
        const n = Math.min(h.length, HEADER_MAX);
        this.headers.set(n === h.length ? h : h.subarray(0, n), e * HEADER_MAX);
        this.hlen![e] = n;
        this.flen![e] = rec.frameLength;
        this.hlink![e] = rec.headerLinkType;
      } else this.hlen![e] = 0;
    }
  }

  /** Entry indices of an owner, oldest first. */
  entries(owner: number): number[] {
    const P = this.perOwner;
    const n = this.count[owner]!;
    const h = this.head[owner]!;
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      let pos = h - n + i;
      if (pos < 0) pos += P;
      out.push(owner * P + pos);
    }
    return out;
  }

  /**
   * The baseline ring's policy (the always-on ring of a host's normal traffic): entries are
   * kept per traffic kind (direction, protocol, service port), at most one per kind.
   *  - A record of a kind already held replaces that entry only when it is older than
   *    `refreshTicks`; otherwise it is dropped. So a flood that shares a kind with normal
   *    traffic (DNS replies, say) cannot push the normal sample out within a ramp.
   *  - A record of a new kind fills a free entry, else an entry marked as taken while hot,
   *    else (when `mayEvict`) the oldest entry.
   *  - `marked` records (taken while the host is hot without a hot buffer) replace a marked
   *    entry, else fill a free one, else are dropped; they never count as baseline. So the
   *    unmarked entries stay as they were while the host is hot.
   * Returns 1 when an unmarked entry of another kind was evicted (the caller spaces those).
   */
  offerBaseline(
    owner: number,
    tick: number,
    rec: FlowRecord,
    hostIsSource: boolean,
    exporterId: number,
    marked: boolean,
    refreshTicks: number,
    mayEvict: boolean,
  ): number {
    const P = this.perOwner;
    const base = owner * P;
    const n = this.count[owner]!;
    const keys = this.key!;
    const key = marked ? KEY_MARKED : sampleKey(rec, hostIsSource);
    let same = -1;
    let markedE = -1;
    let oldest = -1;
    let oldestT = Infinity;
    for (let e = base, end = base + n; e < end; e++) {
      const k = keys[e]!;
      if (k === key) same = e;
      if (k === KEY_MARKED) {
        if (markedE < 0 || this.tick[e]! < this.tick[markedE]!) markedE = e;
      } else if (this.tick[e]! < oldestT) {
        oldestT = this.tick[e]!;
        oldest = e;
      }
    }
    let victim: number;
    let evicted = 0;
    if (marked) {
      // Never at the expense of an unmarked entry: the ring is the host's baseline.
      if (markedE >= 0) victim = markedE;
      else if (n < P) victim = base + n;
      else return 0;
    } else if (same >= 0) {
      if (tick - this.tick[same]! < refreshTicks) return 0;
      victim = same;
    } else if (markedE >= 0) victim = markedE;
    else if (n < P) victim = base + n;
    else if (mayEvict) {
      victim = oldest;
      evicted = 1;
    } else return 0;
    if (victim === base + n) this.count[owner] = n + 1;
    this.write(victim, tick, rec, hostIsSource, exporterId);
    keys[victim] = key;
    if (marked) this.misc[victim] = this.misc[victim]! | MARKED;
    return evicted;
  }

  /** Entry indices of a baseline owner (offerBaseline's entries; unordered). */
  baselineEntries(owner: number): number[] {
    const out: number[] = [];
    const base = owner * this.perOwner;
    for (let i = 0, n = this.count[owner]!; i < n; i++) out.push(base + i);
    return out;
  }

  /** Was the entry taken while the host was hot (not baseline)? */
  marked(e: number): boolean {
    return (this.misc[e]! & MARKED) !== 0;
  }

  /** Copy one entry into a FlowSample; hostText/hostBytes are the owning host's address. */
  materialise(e: number, hostText: string, exporters: readonly string[]): FlowSample {
    const misc = this.misc[e]!;
    const v6 = (misc & (1 << 18)) !== 0;
    const hostIsSource = (misc & (1 << 17)) !== 0;
    const r4 = e * 4;
    let remote: string;
    if (v6) remote = v6WordsToString(this.remote, r4);
    else remote = v4ToString(this.remote[r4 + 3]!);
    const ports = this.ports[e]!;
    const icmp = this.icmp[e]!;
    const sample: {
      -readonly [K in keyof FlowSample]: FlowSample[K];
    } = {
      timeMs: this.time[e]!,
      ipVersion: v6 ? 6 : 4,
      src: hostIsSource ? hostText : remote,
      dst: hostIsSource ? remote : hostText,
      protocol: misc & 255,
      srcPort: ports >>> 16,
      dstPort: ports & 0xffff,
      icmpType: ((icmp >>> 16) & 0x1ff) - 1,
      icmpCode: (icmp & 0x1ff) - 1,
      tcpFlags: (misc >>> 8) & 255,
      fragment: (misc & (1 << 16)) !== 0,
      packetLength: this.plen[e]!,
      packets: this.packets[e]!,
      bytes: this.bytes[e]!,
      samplingRate: this.rate[e]!,
      exporter: exporters[this.exporter[e]!] ?? '',
    };
    if (this.headers && this.hlen![e]! > 0) {
      sample.header = this.headers.slice(e * HEADER_MAX, e * HEADER_MAX + this.hlen![e]!);
    }
    return sample;
  }

  /** Is the host the source in this entry (an outgoing sample)? */
  hostIsSource(e: number): boolean {
    return (this.misc[e]! & (1 << 17)) !== 0;
  }
}
