/**
 * Why a mitigation exists, typed: who placed it decides who may end it (a host ban, a
 * hostgroup-scope ban, the escalation loop, an operator). Every kind the daemon creates:
 *  - attack:     a host ban placed by a detected attack (manager.ts);
 *  - hostgroup:  a hostgroup-scope ban (carpet bombing) of a hostgroup-total attack (hostgroup-scope.ts);
 *  - manual:     PUT /blackhole, PUT /flowspec, `ctl` (no expiry);
 *  - escalation: a covering prefix the escalation loop announced for a host (src/escalation);
 *  - other:      a cause this version does not know (a journal from a newer one), kept as its text.
 *
 * The text form ("attack <uuid>", "hostgroup <name> attack <uuid>", "manual",
 * "escalation of <host>") is what the API shows (FastNetMon-compatible) and what the
 * journal stores (the on-disk format of every earlier version, so old journals restore and
 * a downgrade still reads new ones). parseCause is its inverse; nothing else parses it.
 */

export type MitigationCause =
  | { readonly kind: 'attack'; readonly uuid: string }
  | { readonly kind: 'hostgroup'; readonly name: string; readonly uuid: string }
  | { readonly kind: 'manual' }
  | { readonly kind: 'escalation'; readonly host: string }
  | { readonly kind: 'other'; readonly text: string };

export type AttackCause = Extract<MitigationCause, { kind: 'attack' }>;
export type HostgroupCause = Extract<MitigationCause, { kind: 'hostgroup' }>;

export const MANUAL: MitigationCause = { kind: 'manual' };

export function attackCause(uuid: string): AttackCause {
  return { kind: 'attack', uuid };
}

export function hostgroupCause(name: string, uuid: string): HostgroupCause {
  return { kind: 'hostgroup', name, uuid };
}

export function escalationCause(host: string): MitigationCause {
  return { kind: 'escalation', host };
}

/** The cause as text (API, logs, journal). */
export function causeText(c: MitigationCause): string {
  switch (c.kind) {
    case 'attack':
      return `attack ${c.uuid}`;
    case 'hostgroup':
      return `hostgroup ${c.name} attack ${c.uuid}`;
    case 'manual':
      return 'manual';
    case 'escalation':
      return `escalation of ${c.host}`;
    case 'other':
      return c.text;
  }
}

/** causeText's inverse (journal lines, which hold the text). */
export function parseCause(text: string): MitigationCause {
  if (text === 'manual') return MANUAL;
  // Hostgroup names are \S+ (config schema), attack uuids too.
  const hg = /^hostgroup (\S+) attack (\S+)$/.exec(text);
  if (hg) return hostgroupCause(hg[1]!, hg[2]!);
  if (text.startsWith('attack ')) return attackCause(text.slice('attack '.length));
  if (text.startsWith('escalation of ')) return escalationCause(text.slice('escalation of '.length));
  return { kind: 'other', text };
}

/** The same cause (one ban's mitigations share it). */
export function sameCause(a: MitigationCause, b: MitigationCause): boolean {
  return causeText(a) === causeText(b);
}
