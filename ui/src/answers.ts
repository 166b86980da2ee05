// The daemon's JSON answers and live events as the console reads them (only the fields it
// shows; the daemon's own types live in src/, which this bundle does not import). Times are ISO 8601.

export interface List<T> {
  readonly values: T[];
}
export interface One<T> {
  readonly object: T;
}

interface MitigationRef {
  readonly uuid: string;
  readonly kind: string;
  readonly prefix: string;
  readonly started_at: string;
  readonly ended_at: string | null;
  readonly end_reason: string | null;
  readonly rule?: Readonly<Record<string, unknown>>;
}

/** GET /attacks (history) and the attack event. */
export interface Attack {
  readonly uuid: string;
  readonly ip: string;
  readonly hostgroup: string;
  readonly active: boolean;
  readonly banned: boolean;
  readonly attack_type: string;
  readonly attack_direction: string;
  readonly attack_protocol: string;
  readonly attack_severity: string;
  readonly threshold: { name: string; direction: string; class: string; unit: string; value: number };
  readonly peak_attack_power: number;
  readonly initial_attack_power: number;
  readonly current: { in_pps: number; out_pps: number; in_bps: number; out_bps: number };
  readonly started_at: string;
  readonly finished_at: string | null;
  readonly mitigations: MitigationRef[];
  readonly pcap: boolean;
}

/** GET /attacks/<uuid>: the record with samples and timeline. */
export interface AttackFull extends Attack {
  readonly attack_details: Readonly<Record<string, unknown>>;
  readonly samples: {
    readonly count: number;
    readonly protocols: Readonly<Record<string, number>>;
    readonly top_sources: readonly { ip: string }[];
    readonly top_source_ports: readonly { port: number }[];
    readonly top_destination_ports: readonly { port: number }[];
  };
  readonly packet_dump_detailed: readonly Readonly<Record<string, string | number>>[];
  readonly flow_spec_rules: readonly Readonly<Record<string, unknown>>[];
  readonly flowspec_explanation: string | null;
  readonly timeline: readonly { at: string; event: string; detail: string }[];
}

/** GET /blackhole, /flowspec and the mitigation event: an active mitigation. */
export interface Mitigation {
  readonly uuid: string;
  readonly kind: string;
  readonly prefix: string;
  readonly cause: string;
  readonly hostgroup: string;
  readonly started_at: string;
  readonly expires_at: string | null;
  readonly dry_run: boolean;
  readonly rule?: Readonly<Record<string, unknown>>;
}

export interface Peer {
  readonly name: string;
  readonly address: string;
  readonly remote_as: number;
  readonly state: string;
  readonly uptime_s: number;
  readonly prefixes_out: number;
  readonly last_error: string | null;
}

export interface Exporter {
  readonly exporter: string;
  readonly formats: string[];
  readonly records_per_second: number;
  readonly sampling: Readonly<Record<string, number>>;
  readonly templates: number;
  readonly sequence_gaps: number;
  readonly malformed: number;
  readonly dropped: number;
  readonly last_seen: string | null;
}

/** GET /traffic: seconds since epoch and the rates at each. */
export interface Traffic {
  readonly t: number[];
  readonly in_pps: number[];
  readonly out_pps: number[];
  readonly in_bps: number[];
  readonly out_bps: number[];
}

type Rate = { readonly pps?: number };
type Bans = { readonly incoming?: { total?: Rate }; readonly outgoing?: { total?: Rate } };

/** GET /hostgroup */
export interface Hostgroup {
  readonly name: string;
  readonly parent: string | null;
  readonly file: string | null;
  readonly networks: string[];
  readonly ban_time: number;
  readonly unban_only_if_attack_finished: boolean;
  readonly thresholds?: { readonly ban?: Bans };
  readonly blackhole: boolean;
  readonly flowspec: boolean;
  readonly escalation: boolean;
}

/** A host's rates: in_/out_ + class prefix + packets/bytes (per second). */
export type HostRates = Readonly<Record<`in_${string}` | `out_${string}`, number>>;

export interface Now {
  readonly in_pps?: number;
  readonly out_pps?: number;
  readonly in_bps?: number;
  readonly out_bps?: number;
}

interface Snapshot {
  readonly traffic: { '1s': Traffic; '1m': Traffic };
  readonly attacks: Attack[];
  readonly mitigations: Mitigation[];
  readonly counts: Record<string, number>;
  readonly peers: Peer[];
  readonly exporters: Exporter[];
  readonly host?: HostRates | null;
}

interface Tick {
  readonly t: number;
  readonly in_pps: number;
  readonly out_pps: number;
  readonly in_bps: number;
  readonly out_bps: number;
  readonly counts: Record<string, number>;
  readonly peers: Peer[];
  readonly exporters: Exporter[];
}

/** The SSE stream's events, each name with its data (a page narrows on the name). */
export type LiveEvent =
  | [name: 'snapshot', data: Snapshot]
  | [name: 'tick', data: Tick]
  | [name: 'attack', data: Attack]
  | [
      name: 'mitigation',
      data: { op: 'added' | 'removed'; mitigation: Mitigation; counts: Record<string, number> },
    ]
  | [name: 'host', data: { t: number; rates: HostRates | null }];
