/**
 * The notify room: what operators' scripts, webhooks and the Redis export are told.
 * documents.ts builds every document (host bans, hostgroup-scope bans, hostgroup-total
 * alerts, escalations), notifier.ts runs the scripts and posts the webhooks, and deliver()
 * is the one rule for where a document goes. Mitigation, escalation and the daemon meet it
 * here; it holds no mitigation state.
 */
import { classifierOf } from '../config/classifier.js';
import type { Config, NotifyAction } from '../config/types.js';
import type { Notify } from '../escalation/view.js';
import { escalationDocument, type NotifyDocument } from './documents.js';
import type { NotifierApi } from './notifier.js';

export {
  escalationDocument,
  freshDetails,
  hostBanDocument,
  hostgroupAlertDocument,
  hostgroupAttackDetails,
  hostgroupBanDocument,
  hostgroupDocument,
  type NotifyActionName,
  type NotifyDocument,
} from './documents.js';
export { legacyArgs, Notifier, textReport, type NotifierApi } from './notifier.js';

/** Where one document goes. */
export interface NotifyTargets {
  readonly notifier?: NotifierApi | null;
  /** The hostgroup's actions.notify (script and/or webhook). */
  readonly action?: NotifyAction;
  /** The export listener (Redis), for mitigation notices. */
  readonly listener?: ((doc: NotifyDocument) => void) | null;
  /** Does the listener listen right now (default: whenever it is set)? */
  readonly listening?: () => boolean;
}

/**
 * A mitigation notice to the hostgroup's script / webhook and to the listener. `doc` may
 * be a function: it is built only when someone receives it (65,536 bans' status documents
 * are not free), so the notifier is skipped when the settings name no script or webhook.
 */
export function deliver(t: NotifyTargets, doc: NotifyDocument | (() => NotifyDocument)): void {
  const na = t.action;
  const toNotifier = !!t.notifier && !!na && (!!na.script || !!na.webhook);
  const toListener = !!t.listener && (t.listening?.() ?? true);
  if (!toNotifier && !toListener) return;
  const d = typeof doc === 'function' ? doc() : doc;
  if (toListener) t.listener?.(d);
  if (toNotifier && na) t.notifier?.notify(d, na);
}

/**
 * The escalation loop's `Notify`: the notice's document to the notifier with its
 * hostgroup's (else default's) notify settings (the notifier runs what they name).
 */
export function notifyVia(notifier: NotifierApi, config: () => Config): Notify {
  return (n) => {
    const policy = classifierOf(config());
    const g = policy.hostgroupByName(n.hostgroup) ?? policy.hostgroupByName('default');
    if (!g) return;
    notifier.notify(escalationDocument(n), g.actions.notify);
  };
}
