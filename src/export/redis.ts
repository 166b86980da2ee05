/**
 * Redis export: on a ban, the attack's record and its samples are written per IP as
 * FastNetMon does (<key_prefix><ip>_information, <key_prefix><ip>_packets_dump, JSON,
 * with the configured TTL), and every ban/unban is published on `channel`
 * (docs/integrations.md). Writes go through the shared bounded queue (queue.ts): a Redis
 * that is down never holds up a ban.
 */
import type { RedisConfig } from '../config/types.js';
import type { NotifyDocument } from '../notify/index.js';
import { RejectedError, type Batch, type Transport } from './queue.js';
import { RedisClient, RedisError } from './resp.js';

type Cmd = readonly (string | number)[];

/** Batches for Redis carry their commands as JSON text (the queue only counts them). */
export function redisCommands(doc: NotifyDocument, cfg: RedisConfig, now = Date.now()): Cmd[] {
  const d = doc.attack_details as Readonly<Record<string, unknown>>;
  const event = {
    action: doc.action,
    alert_scope: doc.alert_scope,
    ...(doc.ip !== undefined ? { ip: doc.ip } : {}),
    ...(doc.hostgroup_name !== undefined ? { hostgroup_name: doc.hostgroup_name } : {}),
    attack_uuid: d.attack_uuid ?? null,
    hostgroup: d.host_group ?? doc.hostgroup_name ?? null,
    attack_type: d.attack_type ?? null,
    attack_direction: d.attack_direction ?? null,
    time: new Date(now).toISOString(),
  };
  const cmds: Cmd[] = [];
  if ((doc.action === 'ban' || doc.action === 'partial_block') && doc.ip !== undefined) {
    const k = `${cfg.key_prefix}${doc.ip}`;
    const info = { ...event, attack_details: doc.attack_details, flow_spec_rules: doc.flow_spec_rules };
    cmds.push(['SET', `${k}_information`, JSON.stringify(info), 'PX', cfg.ttl_ms]);
    cmds.push(['SET', `${k}_packets_dump`, JSON.stringify(doc.packet_dump_detailed), 'PX', cfg.ttl_ms]);
  }
  if (
    doc.action === 'ban' ||
    doc.action === 'partial_block' ||
    doc.action === 'unban' ||
    doc.action === 'partial_unblock'
  ) {
    cmds.push(['PUBLISH', cfg.channel, JSON.stringify(event)]);
  }
  return cmds;
}

export function redisBatch(cmds: readonly Cmd[]): Batch {
  return { text: JSON.stringify(cmds), points: cmds.length };
}

export class RedisTransport implements Transport {
  private readonly client: RedisClient;

  constructor(url: string) {
    this.client = new RedisClient(url);
  }

  async send(batches: readonly Batch[]): Promise<void> {
    const cmds = batches.flatMap((b) => JSON.parse(b.text) as Cmd[]);
    const replies = await this.client.pipeline(cmds);
    const err = replies.find((r) => r instanceof RedisError);
    if (err) throw new RejectedError((err as RedisError).message);
  }

  close(): void {
    this.client.close();
  }
}
