/**
 * Turns detector and mitigation events into attack history records: detected -> banned ->
 * updated -> escalated -> finished -> unbanned, with the samples summarised. Every change is
 * announced to listeners at once (the console's live stream); updates are written to the
 * store at most every `persistEveryMs` per attack, every other change immediately.
 *
 * Mitigations are tied to attacks by their cause ("attack <uuid>"); an escalation
 * ("escalation of <host>") is put on the timeline of the host's newest active attack.
 */
import { generateRules } from '../flowspec/index.js';
import type { AttackRecord, AttackEvent } from '../detection/types.js';
import type { FlowSample } from '../capture/flow.js';
import { causeText } from '../mitigation/cause.js';
import type { Mitigation } from '../mitigation/types.js';
import type { AttackHistory } from './store.js';
import type { HistoryAttack, SampleSummary, TimelineEntry, TimelineEvent } from './types.js';

export interface RecorderSources {
  readonly detector: { on(event: AttackEvent, listener: (rec: AttackRecord) => void): void };
  readonly manager: {
    on(event: 'added' | 'removed', listener: (m: Mitigation, reason: string) => void): void;
  };
  /** The FlowSpec coverage target of a hostgroup (for the explanation); default 0.95. */
  readonly coverage?: (hostgroup: string) => number | undefined;
  readonly now?: () => number;
  readonly persistEveryMs?: number;
  /** Periodic snapshots written per second across all attacks (default 500). */
  readonly updateLinesPerS?: number;
}

const PACKET_DUMP_MAX = 50;
const TOP = 5;
const TIMELINE_MAX = 200;
/**
 * Periodic snapshots (attack_updated) written per second across all attacks. Detection sends
 * up to 2,000 updates a second when tens of thousands of hosts are attacked; sealing each
 * ~2 KB record took a third of the daemon's CPU in a 65,536-host carpet bomb. A skipped
 * snapshot is only deferred: the live record answers the API, and the next update or the
 * attack's end writes it. Starts, bans, unbans and ends are always written.
 */
const UPDATE_LINES_PER_S = 500;

export class AttackRecorder {
  private readonly live = new Map<string, HistoryAttack>();
  /** The detector's records of live attacks (their samples feed the FlowSpec explanation). */
  private readonly records = new Map<string, AttackRecord>();
  private readonly lastPersist = new Map<string, number>();
  private readonly detectedBy = new Map<string, number>();
  private readonly listeners: ((rec: HistoryAttack) => void)[] = [];
  private readonly now: () => number;
  private readonly persistEveryMs: number;
  private updateSecond = 0;
  private updateLines = 0;
  private readonly updateLinesPerS: number;
  /** Periodic snapshots deferred by the per-second budget (breakwater_history_deferred_updates_total). */
  deferredUpdates = 0;

  constructor(
    private readonly store: AttackHistory,
    private readonly src: RecorderSources,
  ) {
    this.now = src.now ?? Date.now;
    this.persistEveryMs = src.persistEveryMs ?? 10_000;
    this.updateLinesPerS = src.updateLinesPerS ?? UPDATE_LINES_PER_S;
    this.closeStale();
    src.detector.on('attack_started', (r) => this.started(r));
    src.detector.on('attack_updated', (r) => this.updated(r, false));
    src.detector.on('attack_finished', (r) => this.updated(r, true));
    src.manager.on('added', (m) => this.mitigationAdded(m));
    src.manager.on('removed', (m, reason) => this.mitigationRemoved(m, reason));
  }

  /**
   * Attacks active when the last run stopped are not known to this run's detector: they are
   * closed at their last update. Their bans, restored from the journal, still end here.
   */
  private closeStale(): void {
    const at = this.now();
    for (const r of this.store.query()) {
      if (!r.active) continue;
      const rec = structuredClone(r);
      rec.active = false;
      rec.finished_at = rec.updated_at;
      rec.timeline.push({
        at,
        event: 'finished',
        detail: 'the daemon stopped during the attack; closed at its last update',
      });
      rec.updated_at = at;
      this.store.put(rec);
    }
  }

  /** Attacks in progress and detected since start, by "type/direction" (metrics). */
  counts(): { active: Map<string, number>; detected: Map<string, number>; deferredUpdates: number } {
    const active = new Map<string, number>();
    for (const r of this.live.values()) {
      if (!r.active || !r.attack_details) continue;
      const k = `${r.attack_details.attack_type}/${r.attack_details.attack_direction}`;
      active.set(k, (active.get(k) ?? 0) + 1);
    }
    return { active, detected: new Map(this.detectedBy), deferredUpdates: this.deferredUpdates };
  }

  /** Called with the record after every change. */
  onChange(listener: (rec: HistoryAttack) => void): void {
    this.listeners.push(listener);
  }

  /** The freshest record: live ones from memory, the rest from the store. */
  get(uuid: string): HistoryAttack | undefined {
    return this.live.get(uuid) ?? this.store.get(uuid);
  }

  private started(r: AttackRecord): void {
    const at = this.now();
    const d = r.details;
    const rec: HistoryAttack = {
      uuid: r.uuid,
      ip: r.ip,
      hostgroup: r.hostgroup,
      started_at: r.startedAt,
      finished_at: null,
      updated_at: at,
      active: true,
      banned: false,
      attack_details: d,
      current: current(r),
      samples: summarise(r.samples),
      packet_dump: r.packet_dump_detailed.slice(0, PACKET_DUMP_MAX),
      pcap: r.pcap !== null,
      mitigations: [],
      flow_spec_rules: [],
      flowspec_explanation: null,
      timeline: [],
    };
    // A mitigation may have been added before this listener ran (the manager listens first).
    const early = this.live.get(r.uuid);
    if (early) {
      rec.mitigations.push(...early.mitigations);
      rec.flow_spec_rules.push(...early.flow_spec_rules);
      rec.banned = early.banned;
      rec.timeline.push(...early.timeline);
    }
    rec.timeline.unshift({
      at: r.startedAt,
      event: 'detected',
      detail: `${d.attack_type} ${d.attack_direction}: ${d.attack_detection_threshold} ${Math.round(d.initial_attack_power)} over threshold ${d.attack_detection_threshold_value}`,
    });
    this.live.set(r.uuid, rec);
    this.records.set(r.uuid, r);
    const k = `${d.attack_type}/${d.attack_direction}`;
    this.detectedBy.set(k, (this.detectedBy.get(k) ?? 0) + 1);
    this.explain(rec);
    this.commit(rec, true);
  }

  private updated(r: AttackRecord, finished: boolean): void {
    const rec = this.live.get(r.uuid);
    if (!rec) return;
    const at = this.now();
    rec.attack_details = r.details;
    rec.current = current(r);
    if (r.samples.length) {
      rec.samples = summarise(r.samples);
      rec.packet_dump = r.packet_dump_detailed.slice(0, PACKET_DUMP_MAX);
    }
    rec.pcap = rec.pcap || r.pcap !== null;
    rec.updated_at = at;
    if (finished) {
      rec.active = false;
      rec.finished_at = at;
      this.event(rec, at, 'finished', `peak ${Math.round(r.details.peak_attack_power)} ${unitOf(r)}`);
      if (!rec.banned) this.forget(rec.uuid);
      this.commit(rec, true);
    } else {
      const last = rec.timeline.at(-1);
      const text = `${Math.round(r.details.attack_detection_threshold === 'packets_per_second' ? rec.current[r.details.attack_direction === 'incoming' ? 'in_pps' : 'out_pps'] : r.details.peak_attack_power)} ${unitOf(r)} now, peak ${Math.round(r.details.peak_attack_power)}`;
      // One "updated" line per persist interval keeps the timeline readable.
      if (last?.event === 'updated' && at - last.at < this.persistEveryMs)
        rec.timeline[rec.timeline.length - 1] = { at, event: 'updated', detail: text };
      else this.event(rec, at, 'updated', text);
      this.commit(rec, false);
    }
  }

  private mitigationAdded(m: Mitigation): void {
    const at = this.now();
    if (m.kind === 'escalation') {
      const rec = this.newestActive(m.ip);
      if (!rec) return;
      rec.mitigations.push(mitigationOf(m));
      rec.updated_at = at;
      this.event(
        rec,
        at,
        'escalated',
        `${m.prefix} announced (${causeText(m.cause)})${m.dry_run ? ', dry run' : ''}`,
      );
      this.commit(rec, true);
      return;
    }
    const uuid = attackOf(m);
    if (!uuid) return;
    let rec = this.live.get(uuid);
    if (!rec) {
      // The manager heard of the attack first; the record is completed by started().
      rec = {
        uuid,
        mitigations: [],
        flow_spec_rules: [],
        timeline: [],
        banned: false,
      } as unknown as HistoryAttack;
      this.live.set(uuid, rec);
    }
    rec.mitigations.push(mitigationOf(m));
    rec.banned = true;
    rec.updated_at = at;
    if (m.rule) {
      rec.flow_spec_rules.push(m.rule);
      this.explain(rec);
    }
    this.event(
      rec,
      at,
      'banned',
      `${m.kind} ${m.kind === 'flowspec' ? describeRule(m.rule) : m.prefix}${m.expires_at ? ` until ${new Date(m.expires_at).toISOString()}` : ''}${m.dry_run ? ' (dry run: not announced)' : ''}`,
    );
    if (rec.attack_details) this.commit(rec, true);
  }

  private mitigationRemoved(m: Mitigation, reason: string): void {
    const at = this.now();
    const rec =
      m.kind === 'escalation'
        ? this.findByMitigation(m.uuid)
        : (this.live.get(attackOf(m) ?? '') ?? this.store.get(attackOf(m) ?? ''));
    if (!rec) return;
    const hm = rec.mitigations.find((x) => x.uuid === m.uuid);
    if (hm) {
      hm.ended_at = at;
      hm.end_reason = reason;
    }
    rec.banned = rec.mitigations.some((x) => x.ended_at === null && x.kind !== 'escalation');
    rec.updated_at = at;
    this.event(
      rec,
      at,
      'unbanned',
      `${m.kind} ${m.kind === 'flowspec' ? describeRule(m.rule) : m.prefix} withdrawn: ${reason}`,
    );
    if (!rec.active && !rec.banned) this.forget(rec.uuid);
    this.commit(rec, true);
  }

  /** FlowSpec generation's explanation, the first time rules and samples are both known. */
  private explain(rec: HistoryAttack): void {
    const r = this.records.get(rec.uuid);
    if (!r || rec.flowspec_explanation !== null || !rec.flow_spec_rules.length) return;
    rec.flowspec_explanation = generateRules(r.samples, r.baseline, {
      coverage: this.src.coverage?.(rec.hostgroup) ?? 0.95,
    }).explanation;
  }

  private forget(uuid: string): void {
    this.live.delete(uuid);
    this.records.delete(uuid);
  }

  private newestActive(ip: string): HistoryAttack | undefined {
    let best: HistoryAttack | undefined;
    for (const r of this.live.values())
      if (r.ip === ip && r.active && (!best || r.started_at > best.started_at)) best = r;
    return best;
  }

  private findByMitigation(uuid: string): HistoryAttack | undefined {
    for (const r of this.live.values()) if (r.mitigations.some((m) => m.uuid === uuid)) return r;
    return undefined;
  }

  private event(rec: HistoryAttack, at: number, event: TimelineEvent, detail: string): void {
    const e: TimelineEntry = { at, event, detail };
    rec.timeline.push(e);
    // Keep the first entries (detection, ban) and the newest ones.
    if (rec.timeline.length > TIMELINE_MAX) rec.timeline.splice(10, rec.timeline.length - TIMELINE_MAX);
  }

  private commit(rec: HistoryAttack, now: boolean): void {
    const at = this.now();
    if (now || (at - (this.lastPersist.get(rec.uuid) ?? 0) >= this.persistEveryMs && this.updateLine(at))) {
      this.lastPersist.set(rec.uuid, at);
      // The store indexes this same object (no copy) and seals it when it writes (changes
      // in one turn coalesce into one line); the in-memory record only ever moves forward. A copy per change doubled every live
      // attack's memory (65,536 attacked hosts: hundreds of MB of cloned details).
      this.store.put(rec);
      if (!this.live.has(rec.uuid)) this.lastPersist.delete(rec.uuid);
    }
    for (const l of this.listeners) l(rec);
  }

  /** One periodic snapshot within this second's budget, or false (deferred, counted). */
  private updateLine(at: number): boolean {
    const sec = Math.floor(at / 1000);
    if (sec !== this.updateSecond) {
      this.updateSecond = sec;
      this.updateLines = 0;
    }
    if (this.updateLines >= this.updateLinesPerS) {
      this.deferredUpdates++;
      return false;
    }
    this.updateLines++;
    return true;
  }
}

function attackOf(m: Mitigation): string | null {
  return m.cause.kind === 'attack' ? m.cause.uuid : null;
}

function mitigationOf(m: Mitigation) {
  return {
    uuid: m.uuid,
    kind: m.kind,
    prefix: m.prefix,
    started_at: m.started_at,
    ended_at: null,
    end_reason: null,
    dry_run: m.dry_run,
    ...(m.rule ? { rule: m.rule } : {}),
  };
}

function unitOf(r: AttackRecord): string {
  const u = r.details.attack_detection_threshold_unit;
  return u === 'pps' ? 'pps' : u === 'mbps' ? 'bytes/s' : u;
}

function describeRule(rule: Readonly<Record<string, unknown>> | undefined): string {
  if (!rule) return 'rule';
  return Object.entries(rule)
    .filter(([k]) => k !== 'action' && k !== 'action_type')
    .map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(',') : String(v)}`)
    .join(', ');
}

function current(r: AttackRecord): HistoryAttack['current'] {
  const x = r.rates;
  return { in_pps: x.in_packets, out_pps: x.out_packets, in_bps: x.in_bytes * 8, out_bps: x.out_bytes * 8 };
}

const PROTO: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6' };

/** Protocols, top sources and ports of the samples, weighted by packets × sampling rate. */
function summarise(samples: readonly FlowSample[]): SampleSummary {
  const protocols: Record<string, number> = {};
  const src = new Map<string, number>();
  const sp = new Map<number, number>();
  const dp = new Map<number, number>();
  for (const s of samples) {
    const w = s.packets * s.samplingRate;
    const p = PROTO[s.protocol] ?? String(s.protocol);
    protocols[p] = (protocols[p] ?? 0) + w;
    src.set(s.src, (src.get(s.src) ?? 0) + w);
    if (s.protocol === 6 || s.protocol === 17) {
      sp.set(s.srcPort, (sp.get(s.srcPort) ?? 0) + w);
      dp.set(s.dstPort, (dp.get(s.dstPort) ?? 0) + w);
    }
  }
  const top = <K>(m: Map<K, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, TOP);
  return {
    count: samples.length,
    protocols,
    top_sources: top(src).map(([ip, packets]) => ({ ip, packets })),
    top_source_ports: top(sp).map(([port, packets]) => ({ port, packets })),
    top_destination_ports: top(dp).map(([port, packets]) => ({ port, packets })),
  };
}
