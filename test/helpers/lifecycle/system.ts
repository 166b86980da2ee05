/**
 * The system side of the lifecycle model test: the real MitigationManager, the real
 * EscalationLoop and the real RIB-out path (selectForPeer -> AdjRibOut diff -> UPDATE
 * packing), on a fake clock, with a journal kept in memory in the real line format (and
 * replayed by the real replay code), and a "router" that decodes every UPDATE with the
 * BGP codec and keeps what it was told. Restart builds new components from the journal;
 * kill -9 also leaves a torn line at the journal's tail. Hostgroup-total attacks are
 * raised as detection raises them (one per hostgroup at a time, aggregate samples from
 * world.ts) and handed to the manager as the daemon hands them.
 */
import { decodeMessage } from '../../../src/bgp/codec.js';
import { DesiredSet } from '../../../src/bgp/desired.js';
import {
  AdjRibOut,
  packAnnouncements,
  packWithdrawals,
  ribKey,
  selectForPeer,
  type PackContext,
} from '../../../src/bgp/ribout.js';
import type { BgpFamily, Config } from '../../../src/config/types.js';
import type { HostRates, RateFn } from '../../../src/detection/types.js';
import { EscalationLoop } from '../../../src/escalation/loop.js';
import { escalationDocument } from '../../../src/notify/index.js';
import { decodeNlri } from '../../../src/flowspec/codec.js';
import { flowspecAdapter } from '../../../src/mitigation/flowspec-adapter.js';
import { applyText, encodeLine, type JournalEntry } from '../../../src/mitigation/journal.js';
import { MitigationManager } from '../../../src/mitigation/manager.js';
import type { NotifierApi } from '../../../src/notify/index.js';
import type { Mitigation } from '../../../src/mitigation/types.js';
import { addrToString, prefixToString } from '../../../src/wire/addr.js';
import { attack, hostgroup, sample, testConfig, zeroRates } from '../../fixtures/mitigation/helpers.js';
import {
  COMMUNITIES,
  ESC,
  ESC_COMMUNITY,
  HG_BLACKHOLE_LEN,
  HG_COVERAGE,
  HG_SAMPLES,
  HOSTGROUPS,
  HOSTS,
  MAX_BLACKHOLES,
  MAX_FLOWSPEC,
  NETWORKS,
  NEXT_HOP,
  SCRIPTS,
  WHITELIST,
  type Pol,
  type Step,
} from './world.js';
import type { AttackRecord } from '../../../src/detection/types.js';
import type { HostgroupAttack } from '../../../src/detection/index.js';
import type { FlowSample } from '../../../src/capture/flow.js';
import { LifecycleModel } from './model.js';

/** One attack record per host, copied with a new uuid for each attack (building one is not what is tested). */
const BASE_RECORDS = new Map<string, AttackRecord>();
const FAMILIES: ReadonlySet<BgpFamily> = new Set([
  'ipv4-unicast',
  'ipv6-unicast',
  'ipv4-flowspec',
  'ipv6-flowspec',
]);
/** A hostgroup-total attack's aggregate samples (world.ts HG_SAMPLES): one UDP reflection pattern, weight in packets. */
function hgSamples(name: string): FlowSample[] {
  return (HG_SAMPLES[name] ?? []).map(([dst, w]) =>
    sample(dst, {
      src: '192.0.2.53',
      protocol: 17,
      srcPort: 53,
      dstPort: 40000,
      tcpFlags: 0,
      packetLength: 1200,
      packets: w * 100,
      bytes: w * 120_000,
    }),
  );
}
const PACK: PackContext = {
  as4: true,
  maxMessage: 4096,
  ebgp: true,
  localAs: 65100,
  nextHopSelf: {},
  localAddress: '127.0.0.1',
};

export function configOf(pols: ReadonlyMap<string, Pol>): Config {
  const hgs = HOSTGROUPS.map((h) => {
    const p = pols.get(h.name)!;
    const sc = SCRIPTS[p.script];
    return hostgroup(h.name, h.prefixes, {
      ban_time_ms: p.banTimeMs,
      unban_only_if_attack_finished: p.unbanOnly,
      ban_status_delay_ms: p.statusDelayMs,
      blackhole: {
        enabled: p.mode === 'blackhole' || p.mode === 'both',
        communities: [COMMUNITIES[p.community]],
        next_hop: { ...NEXT_HOP },
      },
      notify: sc
        ? { script: sc.script, format: sc.format, timeout_ms: 1000 }
        : { format: 'json', timeout_ms: 1000 },
      hostgroup: {
        flowspec: {
          enabled: p.hg === 'flowspec' || p.hg === 'both',
          destination: p.hgDest,
          max_prefixes: p.hgMax,
        },
        blackhole: {
          enabled: p.hg === 'blackhole' || p.hg === 'both',
          prefix_length: { ...HG_BLACKHOLE_LEN },
        },
      },
      flowspec: { enabled: p.mode === 'flowspec' || p.mode === 'both', coverage: HG_COVERAGE },
      escalation: {
        enabled: p.esc,
        thresholds: { incoming: { total: { pps: ESC.ppsThreshold } } },
        prefix_length: { ipv4: ESC.prefixV4, ipv6: ESC.prefixV6 },
        communities: [ESC_COMMUNITY],
        next_hop: { ...NEXT_HOP },
        hold_ms: 0,
        clear_after: ESC.clearAfter,
        max_prefixes: ESC.maxPrefixes,
      },
    });
  });
  return testConfig({
    networks: NETWORKS,
    whitelist: WHITELIST,
    hostgroups: hgs,
    mitigation: { max_blackholes: MAX_BLACKHOLES, max_flowspec_rules: MAX_FLOWSPEC },
  });
}

function communityText(c: number): string {
  return `${c >>> 16}:${c & 0xffff}`;
}

/** The router: routes by family and NLRI, each with the view line the model also writes. */
class Router {
  readonly rib = new Map<string, string>();

  receive(msg: Uint8Array): void {
    const m = decodeMessage(msg);
    if (m.type !== 'update') throw new Error(`router got a ${m.type}`);
    let nh = '';
    const comms: string[] = [];
    for (const a of m.attributes) {
      if (a.kind === 'next_hop') nh = a.nextHop;
      if (a.kind === 'communities') comms.push(...a.communities.map(communityText));
    }
    for (const p of m.withdrawn) this.rib.delete(`ipv4-unicast ${prefixToString(p)}`);
    for (const a of m.attributes) {
      if (a.kind === 'mp_unreach') {
        const fam = a.afi === 1 ? 4 : 6;
        for (const p of a.withdrawn) this.rib.delete(`ipv${fam}-unicast ${prefixToString(p)}`);
        for (const f of a.flowspec) this.rib.delete(`ipv${fam}-flowspec ${Buffer.from(f).toString('hex')}`);
      }
    }
    const c = comms.join(',');
    for (const p of m.nlri)
      this.rib.set(`ipv4-unicast ${prefixToString(p)}`, `ipv4-unicast ${prefixToString(p)} nh=${nh} c=${c}`);
    for (const a of m.attributes) {
      if (a.kind !== 'mp_reach') continue;
      const fam = a.afi === 1 ? 4 : 6;
      const mpNh =
        a.nextHop.length >= 16 ? addrToString({ family: 6, bytes: a.nextHop.subarray(0, 16) }) : '';
      for (const p of a.nlri)
        this.rib.set(
          `ipv${fam}-unicast ${prefixToString(p)}`,
          `ipv${fam}-unicast ${prefixToString(p)} nh=${mpNh} c=${c}`,
        );
      for (const f of a.flowspec) {
        const d = decodeNlri(f, fam as 4 | 6);
        const dst = d.destination_prefix ? prefixToString(d.destination_prefix.prefix) : 'none';
        this.rib.set(`ipv${fam}-flowspec ${Buffer.from(f).toString('hex')}`, `ipv${fam}-flowspec dst=${dst}`);
      }
    }
  }

  view(): string[] {
    return [...this.rib.values()].sort();
  }
}

export class LifecycleSystem {
  now: number;
  cfg: Config;
  /** Lines on "disk": the journal file. */
  private disk = '';
  private pols: Map<string, Pol>;
  mgr!: MitigationManager;
  loop!: EscalationLoop;
  private rib = new AdjRibOut();
  /** The speaker's desired set, fed change by change as the daemon feeds it. */
  private readonly desired = new DesiredSet();
  /** Keys changed since the last sync; null: compare everything (start, restart, flap). */
  private dirty: Set<string> | null = null;
  readonly router = new Router();
  readonly log: string[] = [];
  private readonly active = new Map<string, AttackRecord[]>();
  /** Hostgroup-total attacks in progress at the "detector", by hostgroup. */
  private readonly hgActive = new Map<string, HostgroupAttack>();
  private readonly emergency = new Set<string>();
  private counter = 0;
  private hgCounter = 0;
  private readonly rates = new Map<string, HostRates>();
  restarts = 0;

  constructor(now: number, pols: ReadonlyMap<string, Pol>) {
    this.now = now;
    this.pols = new Map(pols);
    this.cfg = configOf(this.pols);
  }

  async start(): Promise<void> {
    // Journal.open: replay snapshot + journal, then rewrite the state as the new file.
    const state = new Map<string, Mitigation>();
    applyText(this.disk, state, 'journal');
    this.disk = [...state.values()].map((m) => encodeLine({ op: 'add', m })).join('');
    const notifier: NotifierApi = {
      notify: (doc, action) => {
        if (!action.script) return;
        const what =
          doc.action === 'escalate' || doc.action === 'deescalate' || doc.action === 'escalation_refused'
            ? doc.prefix
            : doc.alert_scope === 'hostgroup'
              ? `hg:${doc.hostgroup_name}`
              : doc.ip;
        if (doc.action === 'escalation_refused') return; // refusals are logs, not part of the lifecycle
        this.log.push(`${doc.action} ${what} ${action.script}`);
      },
    };
    this.mgr = new MitigationManager({
      cfg: this.cfg,
      journal: {
        append: async (e: JournalEntry) => {
          this.disk += encodeLine(e);
        },
      },
      notifier,
      flowspec: flowspecAdapter,
      stillAttacking: (ip) => (this.active.get(ip)?.length ?? 0) > 0,
      hostgroupAttacking: (name) => this.hgActive.has(name),
      hostgroupSamples: (name) => ({ attack: hgSamples(name), baseline: [] }),
      hostRates: (ip) => this.hostRates(ip),
      onRoutes: (put, remove) => {
        const keys = [remove ? this.desired.remove(remove) : null, put ? this.desired.put(put) : null];
        for (const k of keys) if (k !== null) this.dirty?.add(k);
      },
      onChange: () => this.sync(),
      now: () => this.now,
    });
    await this.mgr.restore([...state.values()]);
    const rateFn =
      (ip: string): RateFn =>
      (dir, cls, unit) =>
        this.emergency.has(ip) && dir === 'incoming' && cls === 'total' && unit === 'pps'
          ? ESC.ppsThreshold * 5
          : 0;
    this.loop = new EscalationLoop({
      config: this.cfg,
      manager: this.mgr,
      detector: { rateFn, hostRates: (ip: string) => this.hostRates(ip), on: () => undefined },
      notify: (n) => {
        const g = this.cfg.hostgroups.find((h) => h.name === n.hostgroup);
        if (g) notifier.notify(escalationDocument(n), g.actions.notify);
      },
      now: () => this.now,
      scheduler: () => ({ stop: () => undefined }),
      settleMs: 0,
    });
    this.loop.start();
    this.desired.replace(this.mgr.desiredRoutes());
    this.dirty = null;
    this.sync();
  }

  private hostRates(ip: string): HostRates {
    let r = this.rates.get(ip);
    if (!r) {
      r = zeroRates(ip);
      this.rates.set(ip, r);
    }
    return r;
  }

  /** The speaker's part: send the peer the difference between desired and what it holds. */
  sync(): void {
    const dirty = this.dirty;
    this.dirty = new Set();
    const diff =
      dirty === null
        ? this.rib.diff(selectForPeer(this.desired.values(), FAMILIES, 0).routes)
        : this.rib.diffKeys(dirty, (k) => this.desired.get(k));
    for (const msg of packWithdrawals(diff.withdraw, PACK)) this.router.receive(msg);
    const packed = packAnnouncements(diff.announce, PACK);
    if (packed.skipped.length)
      throw new Error(`routes not sent: ${packed.skipped.map((s) => s.problem).join('; ')}`);
    for (const msg of packed.messages) this.router.receive(msg);
    this.rib.apply(diff);
  }

  async apply(s: Step): Promise<void> {
    switch (s.t) {
      case 'attack': {
        const h = HOSTS[s.host]!;
        const uuid = `atk-${++this.counter}`;
        let base = BASE_RECORDS.get(h.ip);
        if (!base) {
          base = attack(h.ip, 'base', h.hostgroup);
          BASE_RECORDS.set(h.ip, base);
        }
        const rec: AttackRecord = {
          ...base,
          uuid,
          details: { ...base.details, attack_uuid: uuid },
          startedAt: this.now,
        };
        const list = this.active.get(h.ip) ?? [];
        list.push(rec);
        this.active.set(h.ip, list);
        await this.mgr.onAttack(rec);
        return;
      }
      case 'update': {
        const rec = this.active.get(HOSTS[s.host]!.ip)?.at(-1);
        if (rec) this.mgr.onAttackUpdate({ ...rec });
        return;
      }
      case 'finish': {
        const list = this.active.get(HOSTS[s.host]!.ip);
        const rec = list?.shift();
        if (rec) this.mgr.onAttackFinished(rec);
        return;
      }
      case 'tick':
        this.now += s.ms;
        await this.mgr.sweep();
        return;
      case 'esc':
        await this.loop.runOnce(this.now);
        return;
      case 'emergency':
        if (s.on) this.emergency.add(HOSTS[s.host]!.ip);
        else this.emergency.delete(HOSTS[s.host]!.ip);
        return;
      case 'manual_add':
        await this.mgr.addManualBlackhole(HOSTS[s.host]!.ip);
        return;
      case 'manual_del': {
        const list = this.mgr.list();
        if (list.length === 0) return;
        const order = LifecycleModel.pickOrder(list);
        await this.mgr.remove(list[order[s.pick % order.length]!]!.uuid, 'removed through the API');
        return;
      }
      case 'reload':
        this.pols.set(s.hostgroup, s.pol);
        this.cfg = configOf(this.pols);
        this.mgr.reconfigure(this.cfg);
        this.loop.reconfigure(this.cfg);
        for (const k of this.desired.replace(this.mgr.desiredRoutes())) this.dirty?.add(k);
        this.sync();
        return;
      case 'restart':
        await this.loop.stop();
        this.mgr.stop();
        if (s.kill) this.disk += '0badc0de {"op":"add","m":{"uuid":"torn'; // cut off mid-write
        this.active.clear();
        this.hgActive.clear();
        this.rib = new AdjRibOut();
        this.router.rib.clear(); // the session drops: the router flushes what it learned
        this.restarts++;
        await this.start();
        return;
      case 'flap':
        this.router.rib.clear();
        this.rib.clear();
        this.dirty = null;
        this.sync();
        return;
      case 'hg_attack': {
        if (this.hgActive.has(s.hostgroup)) return; // one hostgroup-total attack at a time, as detection raises it
        const a: HostgroupAttack = {
          uuid: `hg-${++this.hgCounter}`,
          hostgroup: s.hostgroup,
          direction: 'incoming',
          cls: 'total',
          unit: 'pps',
          threshold: 100_000,
          value: 900_000,
          peak: 900_000,
          startedAt: this.now,
          samples: hgSamples(s.hostgroup),
          baseline: [],
        };
        this.hgActive.set(s.hostgroup, a);
        // What the daemon hands the manager (Daemon.hostgroupAlert); without actions.hostgroup it only notifies.
        if (this.forManager(s.hostgroup)) await this.mgr.onHostgroupAttack(a);
        return;
      }
      case 'hg_finish': {
        const a = this.hgActive.get(s.hostgroup);
        if (!a) return;
        this.hgActive.delete(s.hostgroup);
        if (this.forManager(s.hostgroup)) this.mgr.onHostgroupAttackFinished(a);
        return;
      }
    }
  }

  private forManager(name: string): boolean {
    return this.mgr.mitigatesHostgroup(name) || this.mgr.hostgroupBans().some((b) => b.hostgroup === name);
  }

  /** What the incremental desired set holds against the manager's full list (they must agree). */
  desiredProblem(): string | null {
    const full = new Map(this.mgr.desiredRoutes().map((r) => [ribKey(r), r.owner]));
    const inc = new Map([...this.desired.values()].map((r) => [ribKey(r), r.owner]));
    // Compared entry by entry (runs after every step); the sorted lists only for the message.
    if (full.size === inc.size && [...full].every(([k, o]) => inc.get(k) === o)) return null;
    const a = JSON.stringify([...full].sort());
    const b = JSON.stringify([...inc].sort());
    return a === b ? null : `incremental desired routes ${b} differ from the full set ${a}`;
  }

  /** Attacks the manager lists, as the model names them. */
  attackList() {
    return this.mgr.attacks();
  }

  escalations(): string[] {
    return this.loop
      .list()
      .map((e) => e.prefix)
      .sort();
  }

  /** Hostgroup-scope bans as LifecycleModel.hostgroupBans() writes them. */
  hostgroupBans(): string[] {
    return this.mgr
      .hostgroupBans()
      .map((b) => `${b.hostgroup} ${b.uuids.size} ${b.partial ? 'partial' : 'full'} ${b.expiresAt}`)
      .sort();
  }
}
