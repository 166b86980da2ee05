/**
 * Hot hosts: those near or above a ban threshold, or under attack. A hot host is on the
 * tick's hot list (checked without traffic until it cools down), keeps consecutive-tick
 * counts per ban threshold, and owns a hot sample buffer (with packet headers) while the
 * global cap (detection.hot_sample_bytes) allows one more, so an attack record has its
 * samples at once. Beyond the cap a hot host is still detected the same way; its samples
 * come from its baseline ring's marked entries instead (ingest.ts), and the refusal is
 * counted: a carpet bomb of any width costs at most the cap in sample buffers.
 *
 * All per-host state is in typed arrays: the list of hot slots, each slot's position in it
 * (-1: not hot), and per position the consecutive-tick counts of its thresholds (RMAX each).
 * Per slot: the interval it got hot, the last one it was warm or over, the last one it was
 * evaluated.
 */
import { SampleArrays } from './samples.js';
import { F_HOT } from './store.js';
import { F_OVER, type DetectorState } from './state.js';

/** Consecutive-tick counts kept per hot host: ban thresholds beyond this many are ignored. */
export const RMAX = 32;

export class HotHosts {
  private readonly st: DetectorState;
  /** The hot sample buffers (owner = buffer number, store.hotBuf[slot]). */
  readonly samples: SampleArrays;
  private readonly free: number[] = [];
  private owners = 0;
  /** Buffers the cap allows at once (hot_sample_bytes / bytes per buffer, or the test override). */
  private maxHot = 0;
  private readonly maxBuffers: number;
  /** Hosts that got hot while the cap was reached (no buffer for them), since start. */
  refused = 0;
  list = new Int32Array(1024);
  len = 0;
  pos = new Int32Array(0);
  runs = new Uint16Array(1024 * RMAX);
  /** Per slot: the interval it got hot, the last one it was warm or over, the last one it was evaluated. */
  hotTick = new Uint32Array(0);
  warmAt = new Uint32Array(0);
  lastEval = new Uint32Array(0);
  /** Slots promoted mid-interval by the hot path (the tick puts them on the list). */
  readonly promoted: number[] = [];

  /** capBytes: detection.hot_sample_bytes; maxBuffers: a further cap on their number (tests). */
  constructor(st: DetectorState, samplesPerHost: number, capBytes: number, maxBuffers = Infinity) {
    this.st = st;
    this.maxBuffers = maxBuffers;
    this.samples = new SampleArrays(samplesPerHost, samplesPerHost, true, 0);
    this.setCap(capBytes);
    st.onGrow((cap) => this.grow(cap));
  }

  /**
   * A new cap (start, reload). Buffers already allocated stay allocated (a lower cap is
   * reached as hosts cool down); buffers in use beyond it are not taken away mid-attack.
   */
  setCap(capBytes: number): void {
    this.maxHot = Math.min(this.maxBuffers, Math.floor(capBytes / this.samples.bytesPerOwner()));
  }

  /** Hot buffers in use, and the bytes allocated for hot buffers (never above the cap). */
  get buffersInUse(): number {
    return this.owners - this.free.length;
  }

  get bufferBytes(): number {
    return this.samples.owners * this.samples.bytesPerOwner();
  }

  private grow(cap: number): void {
    const g32 = (a: Uint32Array) => {
      const b = new Uint32Array(cap);
      b.set(a);
      return b;
    };
    const p = new Int32Array(cap).fill(-1);
    p.set(this.pos);
    this.pos = p;
    this.hotTick = g32(this.hotTick);
    this.warmAt = g32(this.warmAt);
    this.lastEval = g32(this.lastEval);
  }

  private takeBuffer(): number {
    let buf = -1;
    if (this.buffersInUse >= this.maxHot) {
      this.refused++;
      return -1;
    }
    if (this.free.length > 0) buf = this.free.pop()!;
    else {
      buf = this.owners++;
      if (buf >= this.samples.owners)
        this.samples.resize(Math.min(this.maxHot, Math.max(16, this.samples.owners * 2)));
    }
    this.samples.clear(buf);
    return buf;
  }

  /** Hot path: give a slot its hot buffer now; the tick puts it on the hot list. */
  promote(s: number): number {
    const st = this.st.store;
    st.hotBuf[s] = this.takeBuffer();
    st.flags[s] = st.flags[s]! | F_HOT;
    st.setLimits(s);
    this.promoted.push(s);
    return st.flags[s]!;
  }

  /** Put a slot on the hot list (with a hot buffer when one is free); returns its position. */
  makeHot(s: number, T: number): number {
    const st = this.st.store;
    // Promoted during this interval: the buffer is already filling.
    if ((st.flags[s]! & F_HOT) === 0) {
      st.hotBuf[s] = this.takeBuffer();
      st.flags[s] = st.flags[s]! | F_HOT;
    }
    st.setLimits(s);
    if (this.len === this.list.length) {
      const l = new Int32Array(this.list.length * 2);
      l.set(this.list);
      this.list = l;
      const r = new Uint16Array(l.length * RMAX);
      r.set(this.runs);
      this.runs = r;
    }
    const pos = this.len++;
    this.list[pos] = s;
    this.pos[s] = pos;
    this.runs.fill(0, pos * RMAX, pos * RMAX + RMAX);
    this.hotTick[s] = T;
    this.warmAt[s] = T;
    return pos;
  }

  release(s: number): void {
    const st = this.st.store;
    const buf = st.hotBuf[s]!;
    if (buf >= 0) this.free.push(buf);
    st.flags[s] = st.flags[s]! & ~(F_HOT | F_OVER);
    st.hotBuf[s] = -1;
    st.setLimits(s);
    const pos = this.pos[s]!;
    if (pos < 0) return;
    const last = --this.len;
    if (pos !== last) {
      const m = this.list[last]!;
      this.list[pos] = m;
      this.pos[m] = pos;
      this.runs.copyWithin(pos * RMAX, last * RMAX, last * RMAX + RMAX);
    }
    this.pos[s] = -1;
  }
}
