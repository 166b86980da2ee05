/**
 * Traffic history for the console's charts: total pps and bits/s per direction at 1 s for
 * 15 minutes and at 1 min (averages) for 24 hours, in preallocated rings (fixed footprint:
 * (900 + 1440) × 5 doubles, about 94 kB, whatever the traffic).
 */

export interface TrafficTotals {
  readonly in_packets: number;
  readonly out_packets: number;
  readonly in_bytes: number;
  readonly out_bytes: number;
}

export interface TrafficSeries {
  /** Seconds since epoch (the charts' x axis). */
  readonly t: number[];
  readonly in_pps: number[];
  readonly out_pps: number[];
  readonly in_bps: number[];
  readonly out_bps: number[];
}

const FIELDS = 5; // t, in_pps, out_pps, in_bps, out_bps

class Ring {
  private readonly buf: Float64Array;
  private next = 0;
  private count = 0;
  constructor(private readonly size: number) {
    this.buf = new Float64Array(size * FIELDS);
  }
  push(t: number, a: number, b: number, c: number, d: number): void {
    const o = this.next * FIELDS;
    this.buf[o] = t;
    this.buf[o + 1] = a;
    this.buf[o + 2] = b;
    this.buf[o + 3] = c;
    this.buf[o + 4] = d;
    this.next = (this.next + 1) % this.size;
    if (this.count < this.size) this.count++;
  }
  series(sinceT: number): TrafficSeries {
    const s: TrafficSeries = { t: [], in_pps: [], out_pps: [], in_bps: [], out_bps: [] };
    for (let i = 0; i < this.count; i++) {
      const o = ((this.next - this.count + i + this.size) % this.size) * FIELDS;
      if (this.buf[o]! < sinceT) continue;
      s.t.push(this.buf[o]!);
      s.in_pps.push(this.buf[o + 1]!);
      s.out_pps.push(this.buf[o + 2]!);
      s.in_bps.push(this.buf[o + 3]!);
      s.out_bps.push(this.buf[o + 4]!);
    }
    return s;
  }
}

export class TrafficHistory {
  private readonly seconds = new Ring(900);
  private readonly minutes = new Ring(1440);
  private minute = -1;
  private readonly acc = [0, 0, 0, 0];
  private accN = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly listeners: ((t: number, v: readonly number[]) => void)[] = [];

  constructor(private readonly totals: () => TrafficTotals) {}

  start(): void {
    this.timer ??= setInterval(() => this.sample(Date.now()), 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Called after each 1 s point with (t in s, [in_pps, out_pps, in_bps, out_bps]). */
  onPoint(listener: (t: number, v: readonly number[]) => void): void {
    this.listeners.push(listener);
  }

  /** Take one per-second point now (public for tests). */
  sample(nowMs: number): void {
    const x = this.totals();
    const t = Math.floor(nowMs / 1000);
    const v = [x.in_packets, x.out_packets, x.in_bytes * 8, x.out_bytes * 8];
    this.seconds.push(t, v[0]!, v[1]!, v[2]!, v[3]!);
    const m = Math.floor(t / 60);
    if (m !== this.minute) {
      if (this.accN > 0)
        this.minutes.push(
          this.minute * 60,
          ...(this.acc.map((a) => a / this.accN) as [number, number, number, number]),
        );
      this.minute = m;
      this.acc.fill(0);
      this.accN = 0;
    }
    for (let i = 0; i < 4; i++) this.acc[i]! += v[i]!;
    this.accN++;
    for (const l of this.listeners) l(t, v);
  }

  /** resolution 1s: the last 15 minutes; 1m: the last 24 hours; both from `sinceS` on. */
  series(resolution: '1s' | '1m', sinceS = 0): TrafficSeries {
    return (resolution === '1s' ? this.seconds : this.minutes).series(sinceS);
  }
}

const ZERO: TrafficTotals = { in_packets: 0, out_packets: 0, in_bytes: 0, out_bytes: 0 };

/**
 * The same per hostgroup: one TrafficHistory per configured hostgroup, sampled on the
 * totals' clock. Hostgroups added by a reload start empty; removed ones are dropped.
 */
export class HostgroupTraffic {
  private readonly byName = new Map<string, TrafficHistory>();

  constructor(
    private readonly names: () => readonly string[],
    private readonly rates: (name: string) => TrafficTotals | null,
  ) {}

  /** Sample every hostgroup at t (seconds), e.g. from the totals' onPoint. */
  sample(tS: number): void {
    const names = new Set(this.names());
    for (const n of this.byName.keys()) if (!names.has(n)) this.byName.delete(n);
    for (const n of names) {
      let h = this.byName.get(n);
      if (!h) {
        h = new TrafficHistory(() => this.rates(n) ?? ZERO);
        this.byName.set(n, h);
      }
      h.sample(tS * 1000);
    }
  }

  /** null for a hostgroup that is not configured. */
  series(name: string, resolution: '1s' | '1m', sinceS = 0): TrafficSeries | null {
    return this.byName.get(name)?.series(resolution, sinceS) ?? null;
  }
}
