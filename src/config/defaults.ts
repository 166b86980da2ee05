/**
 * Every default of breakwater.yaml and of the hostgroup policies, in one place. The schema
 * (schema.ts, policy.ts) fills absent keys from here and nowhere else; docs/config.md and
 * policies/default.yaml repeat these values for operators (a test keeps the latter in step).
 * Durations are milliseconds, as in the resolved Config.
 */
import type {
  ApiConfig,
  BgpConfig,
  BgpFamily,
  CaptureConfig,
  DetectionConfig,
  EscalationConfig,
  HistoryConfig,
  Hostgroup,
  LoggingConfig,
  MitigationConfig,
} from './types.js';

export const DEFAULT_CAPTURE: CaptureConfig = {
  listeners: [
    { name: 'sflow', type: 'sflow', address: '127.0.0.1', port: 6343 },
    { name: 'netflow', type: 'netflow', address: '127.0.0.1', port: 2055 },
    { name: 'ipfix', type: 'ipfix', address: '127.0.0.1', port: 4739 },
  ],
  exporters: [],
  max_link_bps: 400e9,
  receive_buffer_bytes: 8 * 1024 * 1024,
  workers: 'auto',
  default_sampling_rate: 1,
  sampling_overrides: {},
};

export const DEFAULT_DETECTION: DetectionConfig = {
  tick_ms: 100,
  window_ms: 1000,
  smoothing_ms: 0,
  ipv6_max_hosts: 1_000_000,
  ipv6_idle_ms: 60_000,
  exclude_whitelisted_sources: false,
  samples_per_host: 100,
  hot_sample_bytes: 32 * 2 ** 20,
  shards: 'auto',
  dry_run: false,
};

export const DEFAULT_API: ApiConfig = { enabled: true, host: '127.0.0.1', port: 10007, users: {} };

/** Peer fields a peer entry may omit; local_as falls back to bgp.local_as. */
export const DEFAULT_PEER = {
  port: 179,
  hold_time: 90,
  families: ['ipv4-unicast', 'ipv6-unicast'] as readonly BgpFamily[],
  passive: false,
  next_hop_self: {},
  graceful_restart: 0,
  max_flowspec_rules: 1000,
  max_updates_per_second: 1000,
} as const;

export const DEFAULT_BGP: BgpConfig = {
  local_as: 65000,
  router_id: '127.0.0.1',
  peers: [],
  static_routes: [],
  static_flowspec: [],
};

export const DEFAULT_MITIGATION: MitigationConfig = {
  max_blackholes: 1000,
  max_flowspec_rules: 1000,
  notify_concurrency: 4,
  webhook_retries: 3,
};

/** node-cron expression with seconds: the escalation loop re-evaluates every 10 s. */
export const DEFAULT_ESCALATION: EscalationConfig = { schedule: '*/10 * * * * *' };

/** 64 MiB and 30 days of attack history. */
/** cluster (issue 17): the leader lease. */
export const DEFAULT_CLUSTER = { lease_ms: 3000 } as const;

export const DEFAULT_HISTORY: HistoryConfig = {
  max_bytes: 64 * 1024 * 1024,
  max_age_ms: 30 * 24 * 3600 * 1000,
};

export const DEFAULT_LOGGING: LoggingConfig = { level: 'info', format: 'text' };

/** Relative to the working directory without a config, to the config file's folder with one. */
export const DEFAULT_STATE_DIR = './state';

/** No policy folder unless the config names one: the built-in default hostgroup only. */
export const DEFAULT_POLICIES_DIR: string | null = null;

/**
 * The built-in `default` hostgroup: the root of every inheritance chain. A policy file
 * named `default` (policies/default.yaml) is merged over it.
 */
export const BUILTIN_DEFAULT_HOSTGROUP: Hostgroup = {
  name: 'default',
  file: '<built-in>',
  parent: null,
  prefixes: [],
  thresholds: {
    // No flows threshold by default: sampled exporters make records x rate over-count flows.
    ban: { incoming: { total: { pps: 20000, mbps: 1000 } } },
    emergency: {},
  },
  ticks_required: 1,
  actions: {
    ban_time_ms: 30 * 60_000,
    unban_only_if_attack_finished: true,
    ban_status_delay_ms: 20_000,
    blackhole: {
      enabled: true,
      communities: ['65535:666'],
      large_communities: [],
      extended_communities: [],
      next_hop: { ipv4: '192.0.2.1', ipv6: '100::1' },
    },
    flowspec: { enabled: false, action: 'discard', action_params: {}, coverage: 0.95 },
    notify: { format: 'json', timeout_ms: 10_000 },
    escalation: {
      enabled: false,
      thresholds: {},
      prefix_length: { ipv4: 24, ipv6: 48 },
      communities: ['65535:666'],
      large_communities: [],
      next_hop: { ipv4: '192.0.2.1', ipv6: '100::1' },
      hold_ms: 5 * 60_000,
      clear_after: 3,
      max_prefixes: 16,
      cross_hostgroups: 'allow',
    },
    hostgroup: {
      flowspec: { enabled: false, destination: 'hostgroup', max_prefixes: 4 },
      blackhole: { enabled: false, prefix_length: { ipv4: 24, ipv6: 48 } },
    },
  },
};

/** Integrations (issue 19): the defaults of the optional graphite/influxdb/redis sections. */
export const DEFAULT_GRAPHITE = { prefix: 'breakwater', interval_ms: 1000, top_hosts: 20 } as const;
export const DEFAULT_INFLUXDB = { database: 'breakwater', interval_ms: 1000, top_hosts: 20 } as const;
/** key_prefix "" gives FastNetMon's key names (<ip>_information, <ip>_packets_dump). */
export const DEFAULT_REDIS = {
  url: 'redis://127.0.0.1:6379',
  key_prefix: '',
  ttl_ms: 7 * 86_400_000,
  channel: 'breakwater_events',
} as const;
