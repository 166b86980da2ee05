/**
 * Escalation notices -> the notify script / webhook document (FastNetMon Advanced's JSON
 * shape, as src/mitigation/notify.ts sends it). The loop takes a plain `Notify` function;
 * the daemon wires it with `notifyVia(notifier, () => cfg)`.
 */
import { classifierOf } from '../config/classifier.js';
import type { Config } from '../config/types.js';
import { thresholdName } from '../detection/layout.js';
import { freshDetails, type NotifierApi, type NotifyDocument } from '../mitigation/notify.js';
import type { EscalationNotice, Notify } from './view.js';

/**
 * The document for one notice. attack_details carries the host's current counters under
 * FastNetMon's names, the threshold that triggered (attack_detection_threshold*), and an
 * `escalation` object with the prefix, uuid, hosts, reason, route attributes, the
 * counter value and its source ("current" or "ban") and the ban-time peak counters.
 */
export function escalationDocument(n: EscalationNotice): NotifyDocument {
  const c = n.counters;
  const details: Record<string, unknown> = {
    ...freshDetails({ host_group: n.hostgroup, host_network: n.prefix }, n.host_counters),
    ...(c
      ? {
          attack_detection_threshold: thresholdName(c.class, c.unit),
          attack_detection_threshold_direction: c.direction,
          attack_detection_threshold_class: c.class,
          attack_detection_threshold_unit: c.unit,
          attack_detection_threshold_value: c.threshold,
        }
      : {}),
    escalation: {
      uuid: n.uuid,
      prefix: n.prefix,
      hosts: n.hosts,
      hostgroups: n.hostgroups ?? [n.hostgroup],
      reason: n.reason ?? null,
      detail: n.detail ?? null,
      counter_value: c?.value ?? null,
      counter_source: c?.source ?? null,
      ban_counters: n.ban_counters,
      next_hop: n.next_hop ?? null,
      communities: n.communities ?? [],
      large_communities: n.large_communities ?? [],
      dry_run: n.dry_run,
    },
  };
  return {
    action: n.action,
    alert_scope: 'host',
    ip: n.ip,
    hostgroup_name: n.hostgroup,
    prefix: n.prefix,
    attack_details: details,
    packet_dump_detailed: [],
    flow_spec_rules: [],
  };
}

/** A `Notify` that sends through the notifier with the hostgroup's notify settings. */
export function notifyVia(notifier: NotifierApi, config: () => Config): Notify {
  return (n) => {
    const policy = classifierOf(config());
    const g = policy.hostgroupByName(n.hostgroup) ?? policy.hostgroupByName('default');
    if (!g) return;
    notifier.notify(escalationDocument(n), g.actions.notify);
  };
}
