/** The attack history's and the attacks' counters in /metrics (read at scrape time). */
import type { Registry } from 'prom-client';
import { scraped } from '../api/metrics.js';
import type { HistoryStats } from './store.js';

const SERIES: readonly [keyof HistoryStats, string, string][] = [
  ['records', 'breakwater_history_attacks', 'Attacks kept in the attack history'],
  ['bytes', 'breakwater_history_bytes', 'Bytes of attack history segment files'],
  [
    'corrupt_lines',
    'breakwater_history_corrupt_lines',
    'History lines skipped at start: bad checksum or JSON',
  ],
  [
    'torn_tails',
    'breakwater_history_torn_tails',
    'History segments whose last line was cut off (skipped at start)',
  ],
  [
    'pruned_segments',
    'breakwater_history_pruned_segments',
    'History segments deleted to stay within history.max_bytes / max_age',
  ],
  ['write_errors', 'breakwater_history_write_errors', 'History records that could not be written'],
  [
    'pending',
    'breakwater_history_pending',
    'Attack records changed and not yet written (at most 2,000 lines a second are written)',
  ],
];

export interface AttackCounts {
  /** Attacks in progress by "type/direction". */
  readonly active: ReadonlyMap<string, number>;
  /** Attacks detected since start by "type/direction". */
  readonly detected: ReadonlyMap<string, number>;
  /** Periodic attack snapshots not written because of the per-second budget. */
  readonly deferredUpdates: number;
}

export function registerHistoryMetrics(
  reg: Registry,
  stats: () => HistoryStats,
  attacks?: () => AttackCounts,
): void {
  for (const [key, name, help] of SERIES) scraped([reg], 'gauge', name, help, [], () => [[{}, stats()[key]]]);
  if (!attacks) return;
  const rows = (m: ReadonlyMap<string, number>) =>
    [...m].map(([k, v]) => {
      const [type, direction] = k.split('/') as [string, string];
      return [{ type, direction }, v] as const;
    });
  scraped(
    [reg],
    'gauge',
    'breakwater_attacks_active',
    'Attacks in progress by type and direction',
    ['type', 'direction'],
    () => rows(attacks().active),
  );
  scraped(
    [reg],
    'counter',
    'breakwater_attacks_detected_total',
    'Attacks detected since start by type and direction',
    ['type', 'direction'],
    () => rows(attacks().detected),
  );
  scraped(
    [reg],
    'counter',
    'breakwater_history_deferred_updates_total',
    'Periodic attack snapshots not written to the history because more than 500 a second were due (written at the next change or the end)',
    [],
    () => [[{}, attacks().deferredUpdates]],
  );
}
