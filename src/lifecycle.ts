/**
 * The one lifecycle shape of the daemon's running parts (capture, detection, mitigation,
 * BGP, escalation, exports, API, ...) and the runner over an ordered list of them: started
 * in order, reconfigured in order, stopped in reverse. The daemon (daemon.ts) holds the
 * list, so the order is written down once.
 */
import type { Config } from './config/types.js';
import type { Logger } from './log.js';

export interface Component {
  /** For the log ("stopping <name> failed: ..."). */
  readonly name: string;
  start(): void | Promise<void>;
  /** Must do nothing harmful for a part that was never started (a failed start is stopped too). */
  stop(): void | Promise<void>;
  /** Apply a reloaded config (parts that read no config have none). */
  reconfigure?(cfg: Config): void;
}

/** Start each in order; a failure stops the start there (and is thrown). */
export async function startAll(parts: readonly Component[]): Promise<void> {
  for (const p of parts) await p.start();
}

/**
 * Stop each in reverse order. A failure is logged and the rest still stop: the last ones
 * (the BGP speaker's withdrawals, the journal's flush) matter most.
 */
export async function stopAll(parts: readonly Component[], log: Logger): Promise<void> {
  for (let i = parts.length - 1; i >= 0; i--) {
    const p = parts[i]!;
    try {
      await p.stop();
    } catch (e) {
      log.error(`stopping ${p.name} failed: ${(e as Error).message}`);
    }
  }
}

/** A reloaded config to each, in start order. */
export function reconfigureAll(parts: readonly Component[], cfg: Config): void {
  for (const p of parts) p.reconfigure?.(cfg);
}
