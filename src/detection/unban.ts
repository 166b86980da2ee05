/**
 * Unban decision (pure). Detection only reports; the mitigation layer calls this with the
 * ban it holds and detection's `stillAttacking(ip)` answer.
 *
 * - Automatic ban: ends once `ban_time` has passed; with `unban_only_if_attack_finished`
 *   it is kept, and re-checked later, while the host's current rates are still above its
 *   ban thresholds (IPv4 and IPv6 alike).
 * - Manual ban: ends at its own expiry (none = until removed by hand), whatever the
 *   traffic does: the operator asked for it.
 */
export interface BanFacts {
  readonly manual: boolean;
  /** ms since epoch when the ban was placed. */
  readonly bannedAt: number;
  /** The hostgroup's ban_time (automatic bans); 0 = never expires by time. */
  readonly banTimeMs: number;
  readonly unbanOnlyIfAttackFinished: boolean;
  /** Manual bans: absolute expiry, or null for no expiry. */
  readonly expiresAt?: number | null;
}

export type UnbanDecision =
  | {
      readonly unban: false;
      readonly reason: 'ban_time_running' | 'still_attacking' | 'manual_no_expiry' | 'manual_running';
      readonly recheckAt: number | null;
    }
  | { readonly unban: true; readonly reason: 'ban_time_expired' | 'manual_expired' };

export function unbanDecision(
  now: number,
  ban: BanFacts,
  stillAttacking: () => boolean,
  recheckMs = 1000,
): UnbanDecision {
  if (ban.manual) {
    if (ban.expiresAt === null || ban.expiresAt === undefined)
      return { unban: false, reason: 'manual_no_expiry', recheckAt: null };
    return now >= ban.expiresAt
      ? { unban: true, reason: 'manual_expired' }
      : { unban: false, reason: 'manual_running', recheckAt: ban.expiresAt };
  }
  if (ban.banTimeMs <= 0) return { unban: false, reason: 'ban_time_running', recheckAt: null };
  const end = ban.bannedAt + ban.banTimeMs;
  if (now < end) return { unban: false, reason: 'ban_time_running', recheckAt: end };
  if (ban.unbanOnlyIfAttackFinished && stillAttacking()) {
    return { unban: false, reason: 'still_attacking', recheckAt: now + recheckMs };
  }
  return { unban: true, reason: 'ban_time_expired' };
}
