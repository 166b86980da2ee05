/**
 * Aggregate samples of a hostgroup's traffic: one ring per hostgroup with a hostgroup-total
 * threshold, fed by the hot path with every record of its hosts (a per-tick reservoir, so
 * a tick's samples are uniform over all its records, whatever the number of hosts). A
 * carpet bomb spreads over thousands of hosts, each with a handful of samples of its own;
 * this ring sees the attack as one, which is what hostgroup-scope FlowSpec rules are
 * generated from. Entries before the attack are its baseline (the collateral check).
 *
 * The per-host rings store only the remote address (the host is the owner); here the
 * owner is the hostgroup, so each entry also keeps the host's address.
 */
import type { FlowRecord, FlowSample } from '../capture/flow.js';
import { v4ToString, v6WordsToString } from '../wire/addr.js';
import { SampleArrays } from './samples.js';

/** Entries per hostgroup, and per tick: 64 ticks of history at 100 ms ticks. */
const PER_OWNER = 4096;
const PER_TICK = 64;

export class HostgroupSamples {
  private ring: SampleArrays | null = null;
  /** Per entry: the host's address (4 words; IPv4 in the last). */
  private host = new Uint32Array(0);
  /** Per hostgroup index: 1 when sampled. */
  sampled = new Uint8Array(0);

  /** Which hostgroups are sampled (by index); a reconfigure starts every ring afresh. */
  configure(which: readonly boolean[]): void {
    this.sampled = Uint8Array.from(which, (b) => (b ? 1 : 0));
    if (!which.some(Boolean)) {
      this.ring = null;
      this.host = new Uint32Array(0);
      return;
    }
    this.ring = new SampleArrays(PER_OWNER, PER_TICK, false, which.length);
    this.host = new Uint32Array(which.length * PER_OWNER * 4);
  }

  /** Hot path: one record of a host of hostgroup `hg` (the caller checked `sampled[hg]`). */
  offer(hg: number, tick: number, rec: FlowRecord, hostIsSource: boolean, exporterId: number): void {
    const r = this.ring;
    if (!r) return;
    const e = r.offer(hg, tick, rec, hostIsSource, exporterId);
    if (e < 0) return;
    const o = e * 4;
    const h = this.host;
    if (rec.ipVersion === 6) {
      const b = hostIsSource ? rec.src6 : rec.dst6;
      for (let w = 0; w < 4; w++)
        h[o + w] = ((b[w * 4]! << 24) | (b[w * 4 + 1]! << 16) | (b[w * 4 + 2]! << 8) | b[w * 4 + 3]!) >>> 0;
    } else {
      h[o] = 0;
      h[o + 1] = 0;
      h[o + 2] = 0;
      h[o + 3] = hostIsSource ? rec.src4 : rec.dst4;
    }
  }

  /**
   * The hostgroup's samples in one direction (the host as destination for incoming):
   * `attack` from tick `from` on, `baseline` from before `baselineBefore`.
   */
  take(
    hg: number,
    outgoing: boolean,
    from: number,
    baselineBefore: number,
    exporters: readonly string[],
  ): { attack: FlowSample[]; baseline: FlowSample[] } {
    const attack: FlowSample[] = [];
    const baseline: FlowSample[] = [];
    const r = this.ring;
    if (!r || !this.sampled[hg]) return { attack, baseline };
    for (const e of r.entries(hg)) {
      if (r.hostIsSource(e) !== outgoing) continue;
      const t = r.tick[e]!;
      if (t < from && t >= baselineBefore) continue;
      const o = e * 4;
      const v6 = rec6(r, e);
      const text = v6 ? v6WordsToString(this.host, o) : v4ToString(this.host[o + 3]!);
      (t >= from ? attack : baseline).push(r.materialise(e, text, exporters));
    }
    return { attack, baseline };
  }
}

function rec6(r: SampleArrays, e: number): boolean {
  return (r.misc[e]! & (1 << 18)) !== 0;
}
