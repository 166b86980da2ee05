/** The attack history's counters in /metrics (read at scrape time). */
import { Gauge, type Registry } from 'prom-client';
import type { HistoryStats } from './store.js';

const SERIES: readonly [keyof HistoryStats, string, string][] = [
  ['records', 'breakwater_history_attacks', 'Attacks kept in the attack history'],
  ['bytes', 'breakwater_history_bytes', 'Bytes of attack history segment files'],
  ['corrupt_lines', 'breakwater_history_corrupt_lines', 'History lines skipped at start: bad checksum or JSON'],
  ['torn_tails', 'breakwater_history_torn_tails', 'History segments whose last line was cut off (skipped at start)'],
  ['pruned_segments', 'breakwater_history_pruned_segments', 'History segments deleted to stay within history.max_bytes / max_age'],
  ['write_errors', 'breakwater_history_write_errors', 'History records that could not be written'],
];

export function registerHistoryMetrics(reg: Registry, stats: () => HistoryStats): void {
  for (const [key, name, help] of SERIES) {
    new Gauge({
      name,
      help,
      registers: [reg],
      collect() {
        this.set(stats()[key]);
      },
    });
  }
}
