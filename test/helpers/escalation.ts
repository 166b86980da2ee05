/**
 * Test doubles for the escalation loop: an in-memory mitigation manager, a scripted
 * detector and small config builders, for test/escalation*.test.ts. The e2e helpers for
 * real routers are routers.ts and rib-watcher.ts beside this file.
 */
import type { DesiredRoute } from '../../src/bgp/types.js';
import type { Config, EscalationAction, Hostgroup, ThresholdSet } from '../../src/config/types.js';
import type { AttackEvent, AttackRecord, Detector, HostRates } from '../../src/detection/types.js';
import type {
  AddResult,
  Mitigation,
  MitigationKind,
  MitigationManagerApi,
} from '../../src/mitigation/types.js';
import { parsePrefix } from '../../src/config/values.js';
import { BUILTIN_DEFAULT_HOSTGROUP } from '../../src/config/defaults.js';
import type { Prefix } from '../../src/wire/addr.js';
import { rateFnOf } from '../../src/escalation/rates.js';
import { parseCause } from '../../src/mitigation/cause.js';

/** Parse "a.b.c.d/len" or "x::/len" (config's parsePrefix); throws on bad input. */
export function pfx(text: string): Prefix {
  return parsePrefix(text);
}

export const ZERO_RATES: Omit<HostRates, 'ip' | 'hostgroup'> = {
  in_packets: 0,
  out_packets: 0,
  in_bytes: 0,
  out_bytes: 0,
  in_flows: 0,
  out_flows: 0,
  in_tcp_packets: 0,
  out_tcp_packets: 0,
  in_tcp_bytes: 0,
  out_tcp_bytes: 0,
  in_tcp_syn_packets: 0,
  out_tcp_syn_packets: 0,
  in_tcp_syn_bytes: 0,
  out_tcp_syn_bytes: 0,
  in_udp_packets: 0,
  out_udp_packets: 0,
  in_udp_bytes: 0,
  out_udp_bytes: 0,
  in_icmp_packets: 0,
  out_icmp_packets: 0,
  in_icmp_bytes: 0,
  out_icmp_bytes: 0,
  in_fragmented_packets: 0,
  out_fragmented_packets: 0,
  in_fragmented_bytes: 0,
  out_fragmented_bytes: 0,
  in_dropped_packets: 0,
  out_dropped_packets: 0,
  in_dropped_bytes: 0,
  out_dropped_bytes: 0,
};

export function rates(
  ip: string,
  hostgroup: string,
  r: Partial<Omit<HostRates, 'ip' | 'hostgroup'>>,
): HostRates {
  return { ...ZERO_RATES, ...r, ip, hostgroup };
}

/** The built-in escalation defaults, enabled, with an emergency tier of 100k pps in. */
export const ESCALATION_DEFAULTS: EscalationAction = {
  ...BUILTIN_DEFAULT_HOSTGROUP.actions.escalation,
  enabled: true,
  thresholds: { incoming: { total: { pps: 100_000 } } },
};

export function hostgroup(
  name: string,
  prefixes: string[],
  esc: Partial<EscalationAction> = {},
  emergency: ThresholdSet = {},
): Hostgroup {
  return {
    name,
    file: '<test>',
    parent: name === 'default' ? null : 'default',
    prefixes: prefixes.map(pfx),
    thresholds: { ban: {}, emergency },
    ticks_required: 1,
    actions: {
      ban_time_ms: 3_600_000,
      unban_only_if_attack_finished: false,
      ban_status_delay_ms: 0,
      blackhole: {
        enabled: true,
        communities: ['65535:666'],
        large_communities: [],
        extended_communities: [],
        next_hop: {},
      },
      flowspec: { enabled: false, action: 'discard', action_params: {}, coverage: 0.95 },
      notify: { format: 'json', timeout_ms: 1000 },
      escalation: { ...ESCALATION_DEFAULTS, ...esc },
      hostgroup: BUILTIN_DEFAULT_HOSTGROUP.actions.hostgroup,
    },
  };
}

/**
 * A Config with only what the loop reads filled in meaningfully (networks, whitelist,
 * hostgroups, escalation.schedule, detection.dry_run); the rest are plausible stubs.
 */
export function testConfig(o: {
  networks: string[];
  whitelist?: string[];
  hostgroups: Hostgroup[];
  schedule?: string;
  dry_run?: boolean;
}): Config {
  const cfg = {
    file: '<test>',
    networks: o.networks.map(pfx),
    whitelist: (o.whitelist ?? []).map(pfx),
    capture: {
      listeners: [],
      exporters: [],
      max_link_bps: 400e9,
      receive_buffer_bytes: 0,
      workers: 0,
      default_sampling_rate: 1,
      sampling_overrides: {},
    },
    detection: {
      tick_ms: 100,
      window_ms: 1000,
      shards: 0,
      smoothing_ms: 0,
      ipv6_max_hosts: 1000,
      ipv6_idle_ms: 60_000,
      exclude_whitelisted_sources: false,
      samples_per_host: 10,
      hot_sample_bytes: 32 * 2 ** 20,
      dry_run: o.dry_run ?? false,
    },
    api: { enabled: false, host: '127.0.0.1', port: 0, users: {} },
    bgp: { local_as: 65000, router_id: '127.0.0.1', peers: [], static_routes: [], static_flowspec: [] },
    mitigation: { max_blackholes: 1000, max_flowspec_rules: 100, notify_concurrency: 1, webhook_retries: 0 },
    escalation: { schedule: o.schedule ?? '*/10 * * * * *' },
    logging: { level: 'info', format: 'text' },
    state_dir: '/nonexistent',
    policies_dir: null,
    hostgroups: o.hostgroups,
  } satisfies Config;
  return cfg;
}

/** In-memory MitigationManagerApi: records calls, optional delay on add/remove. */
export class FakeManager implements MitigationManagerApi {
  readonly items = new Map<string, Mitigation>();
  readonly calls: { op: 'add' | 'remove'; prefix: string; uuid: string; reason?: string }[] = [];
  /** Delay (ms) before add/remove resolve, to simulate a slow fsync. */
  delayMs = 0;
  /** When set, add() refuses with this error. */
  refuse: string | null = null;
  private seq = 0;
  private readonly listeners: {
    added: ((m: Mitigation, r: string) => void)[];
    removed: ((m: Mitigation, r: string) => void)[];
  } = { added: [], removed: [] };

  constructor(private readonly clock: () => number = Date.now) {}

  /** Put a mitigation in directly (a blackhole from detection, a restored journal entry). */
  put(m: Partial<Mitigation> & Pick<Mitigation, 'kind' | 'prefix' | 'ip'>): Mitigation {
    const full: Mitigation = {
      uuid: m.uuid ?? `m-${++this.seq}`,
      cause: parseCause('manual'),
      hostgroup: 'default',
      started_at: this.clock(),
      expires_at: null,
      communities: [],
      large_communities: [],
      dry_run: false,
      ...m,
    };
    this.items.set(full.uuid, full);
    return full;
  }

  /** Blackhole a host (/32 or /128) in `hostgroup`, banned at `at`. */
  ban(ip: string, hostgroup = 'default', at = this.clock()): Mitigation {
    const len = ip.includes(':') ? 128 : 32;
    return this.put({
      kind: 'blackhole',
      prefix: `${ip}/${len}`,
      ip,
      hostgroup,
      started_at: at,
      cause: parseCause('attack test'),
    });
  }

  /** Unban every blackhole of `ip`. */
  unban(ip: string): void {
    for (const m of [...this.items.values()])
      if (m.kind === 'blackhole' && m.ip === ip) this.items.delete(m.uuid);
  }

  list(kind?: MitigationKind): Mitigation[] {
    return [...this.items.values()].filter((m) => !kind || m.kind === kind);
  }

  get(uuid: string): Mitigation | undefined {
    return this.items.get(uuid);
  }

  async add(m: Omit<Mitigation, 'uuid' | 'started_at' | 'dry_run'> & { uuid?: string }): Promise<AddResult> {
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.refuse) return { ok: false, error: this.refuse };
    const full: Mitigation = {
      ...m,
      uuid: m.uuid ?? `m-${++this.seq}`,
      started_at: this.clock(),
      dry_run: false,
    };
    this.items.set(full.uuid, full);
    this.calls.push({ op: 'add', prefix: full.prefix, uuid: full.uuid });
    for (const l of this.listeners.added) l(full, 'added');
    return { ok: true, mitigation: full };
  }

  async remove(uuid: string, reason: string): Promise<boolean> {
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    const m = this.items.get(uuid);
    this.calls.push({ op: 'remove', prefix: m?.prefix ?? '?', uuid, reason });
    if (!m) return false;
    this.items.delete(uuid);
    for (const l of this.listeners.removed) l(m, reason);
    return true;
  }

  desiredRoutes(): DesiredRoute[] {
    return [];
  }

  on(event: 'added' | 'removed', listener: (m: Mitigation, reason: string) => void): void {
    this.listeners[event].push(listener);
  }
}

/** Detector double: current rates per host set by the test; attack events emitted on demand. */
export class FakeDetector implements Pick<Detector, 'rateFn' | 'hostRates' | 'on'> {
  readonly current = new Map<string, HostRates>();
  private readonly listeners = new Map<AttackEvent, ((rec: AttackRecord) => void)[]>();

  set(r: HostRates): void {
    this.current.set(r.ip, r);
  }

  /** Traffic vanished from the flow data (router drops before export). */
  silence(ip: string): void {
    const r = this.current.get(ip);
    if (r) this.current.set(ip, { ...ZERO_RATES, ip, hostgroup: r.hostgroup });
  }

  hostRates(ip: string): HostRates | null {
    return this.current.get(ip) ?? null;
  }

  rateFn(ip: string) {
    const r = this.current.get(ip);
    return r ? rateFnOf(r) : null;
  }

  on(event: AttackEvent, listener: (rec: AttackRecord) => void): void {
    const l = this.listeners.get(event) ?? [];
    l.push(listener);
    this.listeners.set(event, l);
  }

  /** Emit an attack event carrying `r` as the record's rates (only fields the loop reads). */
  emit(event: AttackEvent, r: HostRates): void {
    const rec = {
      uuid: `a-${r.ip}`,
      ip: r.ip,
      ipVersion: r.ip.includes(':') ? 6 : 4,
      hostgroup: r.hostgroup,
      rates: r,
    } as unknown as AttackRecord;
    for (const l of this.listeners.get(event) ?? []) l(rec);
  }
}
