/**
 * The attack lifecycle and its events: an attack starts when the tick finds a host over a
 * ban threshold for `ticks_required` ticks (tick.ts decides, startAttack builds the record
 * with its samples, baseline, classification and FastNetMon-style details), is refreshed on
 * attack_updated, and finishes after a window below every ban threshold. Hostgroup-total
 * thresholds have their own, simpler lifecycle (evaluateHostgroups) and listeners.
 *
 * The baseline of an attack record: the host's slow ring's entries from before the last
 * window before it got hot (an attack that ramps up for a few ticks below the warm level may
 * have put its own records in the ring by then).
 */
import { randomUUID } from 'node:crypto';
import type { FlowSample } from '../capture/flow.js';
import type { Direction, TrafficClass, Unit } from '../config/types.js';
import { logger } from '../log.js';
import { classifyAttack, type Classification } from './classify.js';
import type { HotHosts } from './hot.js';
import {
  ctr,
  K_FRAG_P,
  K_ICMP_P,
  K_SYN_P,
  K_TCP_P,
  K_TOTAL_P,
  K_UDP_P,
  thresholdText,
  type CompiledThreshold,
} from './layout.js';
import { buildDetails, packetDump } from './report.js';
import { buildPcap, type PcapEntry } from '../capture/index.js';
import { F_ATTACK, type DetectorState } from './state.js';
import { KIND_V6 } from './store.js';
import type { AttackEvent, AttackRecord } from './types.js';

const log = logger.child({ module: 'detection' });

/** A hostgroup whose total traffic crossed a hostgroup-total threshold. */
export interface HostgroupAttack {
  readonly uuid: string;
  readonly hostgroup: string;
  readonly direction: Direction;
  readonly cls: TrafficClass;
  readonly unit: Unit;
  readonly threshold: number;
  value: number;
  peak: number;
  readonly startedAt: number;
  /** The hostgroup's aggregate samples of the last window (hgsamples.ts), in the attack direction. */
  readonly samples: readonly FlowSample[];
  /** Its aggregate samples from before the window before that: the normal traffic rules must spare. */
  readonly baseline: readonly FlowSample[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type MutableAttackRecord = Mutable<AttackRecord>;

export interface AttackState {
  rec: MutableAttackRecord;
  /** Ticks in a row below every ban threshold. */
  below: number;
  /** The tick of its last evaluation (ticks between evaluations count when staggered, tick.ts). */
  lastT: number;
  fired: CompiledThreshold;
  cls: Classification;
  network: string;
  initialPower: number;
  peakPower: number;
  lastUpdate: number;
}

/** "attack detected" lines per tick; beyond them one summary line (logDetected). */
const DETECTED_LINES_PER_TICK = 32;

export class Attacks {
  private readonly st: DetectorState;
  private readonly hot: HotHosts;
  /** Attacks started in this tick: logged one line each up to DETECTED_LINES_PER_TICK, the rest summarised. */
  private startedThisTick = 0;
  private unloggedFirst = '';
  private unloggedLast = '';
  /** Attacks in progress by slot (the slot also has F_ATTACK). */
  readonly bySlot = new Map<number, AttackState>();
  private hgAttacks = new Map<string, HostgroupAttack>();
  private hgRuns = new Map<string, number>();
  private listeners: Record<AttackEvent, ((r: AttackRecord) => void)[]> = {
    attack_started: [],
    attack_updated: [],
    attack_finished: [],
  };
  private hgListeners: Record<AttackEvent, ((a: HostgroupAttack) => void)[]> = {
    attack_started: [],
    attack_updated: [],
    attack_finished: [],
  };

  constructor(st: DetectorState, hot: HotHosts) {
    this.st = st;
    this.hot = hot;
  }

  on(event: AttackEvent, listener: (rec: AttackRecord) => void): void {
    this.listeners[event].push(listener);
  }

  onHostgroup(event: AttackEvent, listener: (a: HostgroupAttack) => void): void {
    this.hgListeners[event].push(listener);
  }

  emit(event: AttackEvent, rec: AttackRecord): void {
    for (const l of this.listeners[event]) {
      try {
        l(rec);
      } catch (err) {
        log.error(`${event} listener failed: ${(err as Error).message}`);
      }
    }
  }

  private emitHg(event: AttackEvent, a: HostgroupAttack): void {
    for (const l of this.hgListeners[event]) {
      try {
        l(a);
      } catch (err) {
        log.error(`hostgroup ${event} listener failed: ${(err as Error).message}`);
      }
    }
  }

  /**
   * The host's baseline: its slow ring's entries from before the last window before it got
   * hot (an attack ramping up below the warm level may be in that window), in one direction.
   * The ring keeps those entries while the host is hot (samples.ts).
   */
  private baselineOf(s: number, out: boolean): FlowSample[] {
    const st = this.st;
    const text = st.slotText(s);
    const T = this.hot.hotTick[s]!;
    const b = st.base;
    const res: FlowSample[] = [];
    for (const e of b.baselineEntries(s)) {
      if (b.tick[e]! + st.B <= T && !b.marked(e) && b.hostIsSource(e) === out)
        res.push(b.materialise(e, text, st.exporters));
    }
    return res;
  }

  /**
   * The attack samples in the attack direction (the host is the destination for incoming,
   * the source for outgoing): the hot buffer, else the baseline ring's entries since the
   * host got hot.
   */
  private attackSamples(s: number, out: boolean): { samples: FlowSample[]; pcap: Uint8Array | null } {
    const st = this.st;
    const text = st.slotText(s);
    const samples: FlowSample[] = [];
    const pcapEntries: PcapEntry[] = [];
    const buf = st.store.hotBuf[s]!;
    const h = this.hot.samples;
    if (buf >= 0 && h.count[buf]! > 0) {
      for (const e of h.entries(buf)) {
        if (h.hostIsSource(e) !== out) continue;
        const smp = h.materialise(e, text, st.exporters);
        samples.push(smp);
        if (smp.header && h.hlink![e]! !== 0) {
          pcapEntries.push({
            timeMs: smp.timeMs,
            linkType: h.hlink![e]!,
            header: smp.header,
            frameLength: h.flen![e]!,
          });
        }
      }
    }
    if (samples.length === 0) {
      const b = st.base;
      for (const e of b.baselineEntries(s))
        if (b.marked(e) && b.hostIsSource(e) === out) samples.push(b.materialise(e, text, st.exporters));
    }
    return { samples, pcap: buildPcap(pcapEntries) };
  }

  start(s: number, fired: CompiledThreshold, now: number, hgName: string): void {
    const st = this.st;
    const ip = st.slotText(s);
    const v6 = st.store.kind[s] === KIND_V6;
    const rates = st.hostRatesOf(s);
    const out = fired.direction === 'outgoing';
    const { samples, pcap } = this.attackSamples(s, out);
    const dirSamples = samples;
    const dir = out ? 1 : 0;
    const cls = classifyAttack(
      {
        pps: st.rate(s, ctr(dir, K_TOTAL_P)),
        tcp_pps: st.rate(s, ctr(dir, K_TCP_P)),
        syn_pps: st.rate(s, ctr(dir, K_SYN_P)),
        udp_pps: st.rate(s, ctr(dir, K_UDP_P)),
        icmp_pps: st.rate(s, ctr(dir, K_ICMP_P)),
        frag_pps: st.rate(s, ctr(dir, K_FRAG_P)),
      },
      fired.cls,
      dirSamples,
    );
    const power = st.rate(s, ctr(dir, K_TOTAL_P));
    const uuid = randomUUID();
    const network = st.networkText(s);
    const details = buildDetails({
      uuid,
      hostgroup: hgName,
      network,
      cls,
      fired,
      firedValue: st.rate(s, fired.counter) * fired.factor,
      initialPower: power,
      peakPower: power,
      startedAt: now,
      rates,
    });
    const rec: MutableAttackRecord = {
      uuid,
      ip,
      ipVersion: v6 ? 6 : 4,
      hostgroup: hgName,
      details,
      samples,
      baseline: this.baselineOf(s, out),
      packet_dump_detailed: packetDump(samples),
      pcap,
      startedAt: now,
      rates,
    };
    this.bySlot.set(s, {
      rec,
      below: 0,
      lastT: -1,
      fired,
      cls,
      network,
      initialPower: power,
      peakPower: power,
      lastUpdate: now,
    });
    st.store.flags[s] = st.store.flags[s]! | F_ATTACK;
    // A carpet bomb starts thousands of attacks in one tick: a line each for the first ones,
    // then one summary at the end of the tick (a line per attack cost seconds of the main
    // thread at 65,536 hosts). Every attack still has its event, notification and history.
    if (++this.startedThisTick <= DETECTED_LINES_PER_TICK) {
      log.info('attack detected', {
        ip,
        type: cls.type,
        direction: fired.direction,
        threshold: thresholdText(fired.cls, fired.unit, fired.limit),
        pps: Math.round(power),
      });
    } else {
      if (this.unloggedFirst === '') this.unloggedFirst = ip;
      this.unloggedLast = ip;
    }
    this.emit('attack_started', rec);
  }

  /** End of a tick: the summary of the attacks started in it beyond the per-attack lines. */
  logDetected(): void {
    const more = this.startedThisTick - DETECTED_LINES_PER_TICK;
    if (more > 0)
      log.info(
        `${more} more attack(s) detected in this tick (${this.unloggedFirst} .. ${this.unloggedLast}); each one is in the attack list and history`,
      );
    this.startedThisTick = 0;
    this.unloggedFirst = '';
    this.unloggedLast = '';
  }

  refresh(s: number, a: AttackState): void {
    const st = this.st;
    const rates = st.hostRatesOf(s);
    const { samples, pcap } = this.attackSamples(s, a.fired.direction === 'outgoing');
    a.rec.rates = rates;
    if (samples.length > 0) {
      a.rec.samples = samples;
      a.rec.packet_dump_detailed = packetDump(samples);
      if (pcap) a.rec.pcap = pcap;
    }
    a.rec.details = buildDetails({
      uuid: a.rec.uuid,
      hostgroup: a.rec.hostgroup,
      network: a.network,
      cls: a.cls,
      fired: a.fired,
      firedValue: st.rate(s, a.fired.counter) * a.fired.factor,
      initialPower: a.initialPower,
      peakPower: a.peakPower,
      startedAt: a.rec.startedAt,
      rates,
    });
  }

  end(s: number, a: AttackState): void {
    const flags = this.st.store.flags;
    this.bySlot.delete(s);
    flags[s] = flags[s]! & ~F_ATTACK;
    this.emit('attack_finished', a.rec);
  }

  /** Hostgroup-total attacks in progress (one per hostgroup, direction, class and unit over its limit). */
  hostgroupAttacks(): readonly HostgroupAttack[] {
    return [...this.hgAttacks.values()];
  }

  /** Is some hostgroup-total threshold of this hostgroup over its limit right now? */
  hostgroupAttacking(name: string): boolean {
    for (const a of this.hgAttacks.values()) if (a.hostgroup === name) return true;
    return false;
  }

  /** The hostgroup's aggregate samples now (last window, attack direction), for rules generated after the start. */
  hostgroupSamples(name: string, outgoing: boolean): { attack: FlowSample[]; baseline: FlowSample[] } {
    const st = this.st;
    const h = st.compiled.findIndex((c) => c.name === name);
    if (h < 0) return { attack: [], baseline: [] };
    return st.hgSamples.take(h, outgoing, st.curTick - st.B, st.curTick - 2 * st.B, st.exporters);
  }

  /** Hostgroup-total thresholds: checked on each hostgroup's total slot on every tick. */
  evaluateHostgroups(now: number): void {
    const st = this.st;
    // A detection shard has a part of each hostgroup's traffic: its totals are checked on
    // the main thread, summed over the shards (shards/pool.ts).
    if (st.shard.count > 0) return;
    for (let h = 0; h < st.compiled.length; h++) {
      const c = st.compiled[h]!;
      if (c.total.length === 0) continue;
      const s = st.hgSlot[h]!;
      for (const t of c.total) {
        const key = `${c.name}|${t.direction}|${t.cls}|${t.unit}`;
        const v = st.rate(s, t.counter) * t.factor;
        const cur = this.hgAttacks.get(key);
        if (v > t.limit) {
          const runs = (this.hgRuns.get(key) ?? 0) + 1;
          this.hgRuns.set(key, runs);
          if (cur) {
            cur.value = v;
            if (v > cur.peak) cur.peak = v;
          } else if (runs >= c.ticksRequired) {
            const T = st.curTick;
            const { attack, baseline } = st.hgSamples.take(
              h,
              t.direction === 'outgoing',
              T - st.B,
              T - 2 * st.B,
              st.exporters,
            );
            const a: HostgroupAttack = {
              uuid: randomUUID(),
              hostgroup: c.name,
              direction: t.direction,
              cls: t.cls,
              unit: t.unit,
              threshold: t.limit,
              value: v,
              peak: v,
              startedAt: now,
              samples: attack,
              baseline,
            };
            this.hgAttacks.set(key, a);
            this.emitHg('attack_started', a);
          }
        } else {
          this.hgRuns.set(key, 0);
          if (cur) {
            cur.value = v;
            this.hgAttacks.delete(key);
            this.emitHg('attack_finished', cur);
          }
        }
      }
    }
  }
}
