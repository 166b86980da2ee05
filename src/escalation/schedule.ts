/** The escalation loop's schedule: node-cron behind a small interface tests replace. */
import cron from 'node-cron';
import type { Logger } from '../log.js';

/** A running schedule. */
export interface ScheduledJob {
  stop(): void | Promise<void>;
}

/** Starts `fn` on `expr`; calls `onOverlap` when a tick is skipped because a run is busy. */
export type Scheduler = (
  expr: string,
  fn: () => Promise<void>,
  onOverlap: () => void,
  log: Logger,
) => ScheduledJob;

/** node-cron v4 with its own overlap prevention (noOverlap) on top of the loop's guard. */
export const cronScheduler: Scheduler = (expr, fn, onOverlap, log) => {
  const v = cron.validateDetailed(expr);
  if (!v.valid) {
    const why = v.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
    throw new Error(`invalid escalation.schedule ${JSON.stringify(expr)}: ${why}`);
  }
  const task = cron.schedule(expr, fn, {
    name: 'escalation',
    noOverlap: true,
    logger: {
      info: (m) => log.debug(m),
      warn: (m) => log.warn(m),
      error: (m) => log.error(String(m)),
      debug: (m) => log.debug(String(m)),
    },
  });
  task.on('execution:overlap', () => onOverlap());
  return { stop: () => task.destroy() };
};
