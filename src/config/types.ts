/**
 * The resolved, frozen configuration every module reads. src/config/schema.ts parses YAML
 * into these shapes with explicit defaults (src/config/defaults.ts); nothing else parses
 * config. Durations are in milliseconds, rates in per-second units, prefixes as text in
 * canonical form plus their parsed Prefix.
 */
import type { Prefix } from '../wire/addr.js';

export type Direction = 'incoming' | 'outgoing';
export const DIRECTIONS: readonly Direction[] = ['incoming', 'outgoing'];
export type TrafficClass = 'total' | 'tcp' | 'tcp_syn' | 'udp' | 'icmp' | 'fragmented';
export const CLASSES: readonly TrafficClass[] = ['total', 'tcp', 'tcp_syn', 'udp', 'icmp', 'fragmented'];
export type Unit = 'pps' | 'mbps' | 'flows';
export const UNITS: readonly Unit[] = ['pps', 'mbps', 'flows'];

/** thresholds[direction][class][unit] = limit; absent means no threshold. */
export type ThresholdSet = {
  readonly [D in Direction]?: { readonly [C in TrafficClass]?: { readonly [U in Unit]?: number } };
};

export interface NextHops {
  readonly ipv4?: string;
  readonly ipv6?: string;
}

interface BlackholeAction {
  readonly enabled: boolean;
  readonly communities: readonly string[]; // "65535:666" or well-known names resolved to n:n
  readonly large_communities: readonly string[]; // "a:b:c"
  readonly extended_communities: readonly string[];
  readonly next_hop: NextHops;
}

interface FlowspecAction {
  readonly enabled: boolean;
  /** discard | rate-limit | redirect | mark | accept */
  readonly action: string;
  /** Extra action parameters in FastNetMon's JSON shape (rate, redirect_target_*, dscp). */
  readonly action_params: Readonly<Record<string, unknown>>;
  /** Fraction of attack samples the generated rules must cover (default 0.95). */
  readonly coverage: number;
}

export interface NotifyAction {
  readonly script?: string;
  readonly format: 'json' | 'text';
  readonly webhook?: string;
  readonly timeout_ms: number;
}

export interface EscalationAction {
  readonly enabled: boolean;
  /** Emergency thresholds; defaults to the hostgroup's `emergency` tier. */
  readonly thresholds: ThresholdSet;
  readonly prefix_length: { readonly ipv4: number; readonly ipv6: number };
  readonly communities: readonly string[];
  readonly large_communities: readonly string[];
  readonly next_hop: NextHops;
  readonly hold_ms: number;
  readonly clear_after: number;
  readonly max_prefixes: number;
  /**
   * allow: an escalated prefix may cover hosts of other hostgroups (it is logged and notified);
   * forbid: never, neither this hostgroup's escalations over others nor others' over this one.
   */
  readonly cross_hostgroups: 'allow' | 'forbid';
}

/**
 * Hostgroup-scope mitigation (carpet bombing): what a hostgroup-total attack (over
 * `thresholds.hostgroup`) announces. Attributes left unset follow the host-scope action
 * of the same policy (actions.flowspec / actions.blackhole).
 */
interface HostgroupScopeAction {
  readonly flowspec: {
    readonly enabled: boolean;
    /** hostgroup: the hostgroup's prefixes that hold attacked hosts; attacked: the smallest prefixes covering the attacked hosts. */
    readonly destination: 'hostgroup' | 'attacked';
    /** Destination prefixes at most (after a split around the whitelist); also the most rules. */
    readonly max_prefixes: number;
    readonly action?: string;
    readonly action_params?: Readonly<Record<string, unknown>>;
    readonly coverage?: number;
  };
  readonly blackhole: {
    readonly enabled: boolean;
    /** The covering prefix of each host over its own threshold (never wider than its hostgroup prefix). */
    readonly prefix_length: { readonly ipv4: number; readonly ipv6: number };
    readonly communities?: readonly string[];
    readonly large_communities?: readonly string[];
    readonly extended_communities?: readonly string[];
    readonly next_hop?: NextHops;
  };
}

export interface PolicyActions {
  readonly ban_time_ms: number;
  readonly unban_only_if_attack_finished: boolean;
  readonly ban_status_delay_ms: number;
  readonly blackhole: BlackholeAction;
  readonly flowspec: FlowspecAction;
  readonly notify: NotifyAction;
  readonly escalation: EscalationAction;
  readonly hostgroup: HostgroupScopeAction;
}

export interface Hostgroup {
  readonly name: string;
  readonly file: string; // where it was defined ("<built-in>" for default)
  readonly parent: string | null;
  readonly prefixes: readonly Prefix[];
  readonly thresholds: {
    readonly ban: ThresholdSet;
    readonly emergency: ThresholdSet;
    /**
     * Limits on the hostgroup's total traffic (all its hosts together). Crossing one is a
     * hostgroup-level alert, never a per-host ban. Absent when no policy sets any.
     */
    readonly hostgroup?: ThresholdSet;
  };
  /** Consecutive ticks a threshold must hold before it counts (1 = immediately). */
  readonly ticks_required: number;
  readonly actions: PolicyActions;
  /** Flow filters for records counted towards this hostgroup (inherited; a list replaces). */
  readonly filters?: readonly FlowFilterRule[];
}

export interface CaptureListener {
  readonly name: string;
  /** sflow | netflow | ipfix | auto: the format is detected by version on any port anyway. */
  readonly type: 'sflow' | 'netflow' | 'ipfix' | 'auto';
  readonly address: string;
  readonly port: number;
}

/** capture.exporters: a source allowed to send flows, and its own bounds. */
export interface CaptureExporter {
  /** An address or prefix the UDP source must be inside. */
  readonly address: Prefix;
  readonly name: string;
  /** Operator sampling rate (beats learned and sent rates; sampling_overrides beats it). */
  readonly sampling_rate?: number;
  /** Records per second beyond which records are dropped and counted. */
  readonly max_records_per_second?: number;
  /** Record bound: what its links can carry (default capture.max_link_bps). */
  readonly max_link_bps?: number;
  /** Templates (data + options) kept for it (default 4096). */
  readonly max_templates?: number;
}

export interface CaptureConfig {
  readonly listeners: readonly CaptureListener[];
  /** Allowed exporters; empty = every source (only on loopback listeners). */
  readonly exporters: readonly CaptureExporter[];
  /** Default record bound in bits per second (a record may not carry more in its duration). */
  readonly max_link_bps: number;
  readonly receive_buffer_bytes: number;
  /** Decode worker threads: a count (0 = decode on the main thread) or 'auto' (capture/input/workers.ts resolveWorkers). */
  readonly workers: number | 'auto';
  /** Sampling rate used for an exporter until one is learned. */
  readonly default_sampling_rate: number;
  /** Operator overrides per exporter address (text): always win over learned rates. */
  readonly sampling_overrides: Readonly<Record<string, number>>;
  /** Optional live port-mirror interface (read through tcpdump). */
  readonly mirror_interface?: string;
  /** BPF filter for the mirror's tcpdump (e.g. 'not port 22'); none = every frame. */
  readonly mirror_filter?: string;
}

export interface DetectionConfig {
  readonly tick_ms: number;
  readonly window_ms: number;
  /**
   * Detection shards: per-host accounting on this many worker threads, hosts split by IPv4
   * /24 or IPv6 /64 (0 = on the main thread), or 'auto' (detection/shards/pool.ts resolveShards).
   */
  readonly shards: number | 'auto';
  /** 0 disables; otherwise the EWMA time constant in ms (FastNetMon-like smoothing). */
  readonly smoothing_ms: number;
  readonly ipv6_max_hosts: number;
  readonly ipv6_idle_ms: number;
  readonly exclude_whitelisted_sources: boolean;
  readonly samples_per_host: number;
  /**
   * One cap on the memory of all hot-host sample buffers together (bytes): a host near a
   * threshold gets a buffer only while the cap allows, so any number of attacked hosts costs
   * at most this much in samples. Refusals are counted (detection stats, metrics).
   */
  readonly hot_sample_bytes: number;
  readonly dry_run: boolean;
}

export interface ApiUser {
  readonly password_hash: string;
  /** admin (default) may change mitigations and reload; read sees everything, changes nothing. */
  readonly role?: 'admin' | 'read';
}

export interface ApiConfig {
  readonly enabled: boolean;
  readonly host: string;
  readonly port: number;
  readonly users: Readonly<Record<string, ApiUser>>;
  /** HTTPS only (absolute paths of PEM files, re-read on reload); absent: plain HTTP. */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Open connections in total (default 2048, kept below the fd limit) and per source address (default 64). */
  readonly max_connections?: number;
  readonly max_connections_per_source?: number;
}

export type BgpFamily = 'ipv4-unicast' | 'ipv6-unicast' | 'ipv4-flowspec' | 'ipv6-flowspec';
export const BGP_FAMILIES: readonly BgpFamily[] = [
  'ipv4-unicast',
  'ipv6-unicast',
  'ipv4-flowspec',
  'ipv6-flowspec',
];

export interface BgpPeerConfig {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly remote_as: number;
  readonly local_as: number;
  readonly local_address?: string;
  readonly hold_time: number; // seconds
  readonly families: readonly BgpFamily[];
  readonly passive: boolean;
  readonly next_hop_self: NextHops;
  /** 0 = graceful restart off; otherwise the restart time in seconds. */
  readonly graceful_restart: number;
  readonly max_flowspec_rules: number;
  readonly max_updates_per_second: number;
  /** TCP MD5 key (RFC 2385); needs the native addon (src/bgp/sockopt.ts). */
  readonly password?: string;
  /** GTSM (RFC 5082); needs the native addon. */
  readonly ttl_security?: boolean;
}

export interface StaticRoute {
  readonly prefix: Prefix;
  readonly prefix_text: string;
  readonly next_hop: string;
  readonly communities: readonly string[];
  readonly large_communities: readonly string[];
  readonly extended_communities: readonly string[];
}

export interface BgpConfig {
  readonly local_as: number;
  readonly router_id: string;
  readonly listen?: { readonly address: string; readonly port: number };
  readonly peers: readonly BgpPeerConfig[];
  readonly static_routes: readonly StaticRoute[];
  /** Rules in FastNetMon's JSON shape, validated by src/flowspec. */
  readonly static_flowspec: readonly Readonly<Record<string, unknown>>[];
}

export interface MitigationConfig {
  readonly max_blackholes: number;
  readonly max_flowspec_rules: number;
  readonly notify_concurrency: number;
  readonly webhook_retries: number;
}

/** The attack history in state_dir/history (bounded by size and age). */
export interface HistoryConfig {
  readonly max_bytes: number;
  readonly max_age_ms: number;
}

export interface EscalationConfig {
  readonly schedule: string;
}

export interface LoggingConfig {
  readonly level: 'error' | 'warn' | 'info' | 'debug';
  readonly format: 'text' | 'json';
}

export interface Config extends IntegrationsConfig {
  readonly file: string; // "<defaults>" when built in
  readonly networks: readonly Prefix[];
  readonly whitelist: readonly Prefix[];
  readonly capture: CaptureConfig;
  readonly detection: DetectionConfig;
  readonly api: ApiConfig;
  readonly bgp: BgpConfig;
  readonly mitigation: MitigationConfig;
  readonly escalation: EscalationConfig;
  /** Absent in hand-built configs (tests): DEFAULT_HISTORY applies. */
  readonly history?: HistoryConfig;
  readonly logging: LoggingConfig;
  readonly state_dir: string;
  readonly policies_dir: string | null;
  /** Resolved hostgroups (inheritance applied), `default` first. */
  readonly hostgroups: readonly Hostgroup[];
}

// ---------------------------------------------------------------- integrations (issue 19)

/** An inclusive numeric range; a single value is [v, v]. */
export type NumRange = readonly [number, number];

/**
 * One flow filter rule (capture.filters, a policy's filters). Every given field must match
 * (AND); a list matches when any of its items does (OR). Empty/absent = any.
 */
export interface FlowFilterRule {
  readonly action: 'drop' | 'keep';
  readonly source_prefixes: readonly Prefix[];
  readonly destination_prefixes: readonly Prefix[];
  readonly protocol: readonly number[];
  readonly source_ports: readonly NumRange[];
  readonly destination_ports: readonly NumRange[];
  /** TCP flags that must be set / must be clear (bit masks); both 0 = any. */
  readonly tcp_flags: { readonly set: number; readonly clear: number };
  readonly exporters: readonly string[];
  readonly input_interfaces: readonly NumRange[];
  readonly output_interfaces: readonly NumRange[];
  readonly packet_length: readonly NumRange[];
  /** Where the rule is written ("file:line:col"), for logs and metrics. */
  readonly where: string;
}

interface GraphiteConfig {
  readonly host: string;
  readonly port: number;
  readonly prefix: string;
  readonly interval_ms: number;
  readonly top_hosts: number;
}

export interface InfluxdbConfig {
  readonly url: string;
  readonly database: string;
  readonly retention_policy?: string;
  readonly username?: string;
  readonly password?: string;
  readonly interval_ms: number;
  readonly top_hosts: number;
}

export interface RedisConfig {
  readonly url: string;
  readonly key_prefix: string;
  readonly ttl_ms: number;
  readonly channel: string;
}

export interface NetworksFromBgpConfig {
  /** Name of a bgp.peers entry. */
  readonly peer: string;
  /** Routes must carry at least one of these (standard "a:b" or large "a:b:c"); empty = any. */
  readonly communities: readonly string[];
  readonly hostgroup: string;
  /** Learned prefixes must lie inside one of these; anything else is ignored (and logged). */
  readonly within: readonly Prefix[];
}

/** Optional integrations; absent = off. */
export interface IntegrationsConfig {
  readonly graphite?: GraphiteConfig;
  readonly influxdb?: InfluxdbConfig;
  readonly redis?: RedisConfig;
  readonly networks_from_bgp?: NetworksFromBgpConfig;
  /** capture.filters, applied to every record before it is counted. */
  readonly filters?: readonly FlowFilterRule[];
  /** Absent: today's single process; present: a cluster node on NATS (src/cluster/). */
  readonly cluster?: ClusterConfig;
}

/** The roles a cluster node can run; only the controller is built (issue 17). */
type ClusterRole = 'controller';

export interface ClusterConfig {
  /** nats://host:port of the bus's servers (any one reachable is enough). */
  readonly nats: readonly string[];
  readonly roles: readonly ClusterRole[];
  /** This node's name in the lease and the API (default: the host name). */
  readonly node: string;
  /** The leader's lease: renewed every lease_ms/3, another takes over once it lapses. */
  readonly lease_ms: number;
  readonly credentials?: { readonly user: string; readonly password: string } | { readonly token: string };
  /** Absolute paths. */
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string };
}
