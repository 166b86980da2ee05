/**
 * What every supervised worker thread of the daemon (decode workers, the live mirror's
 * thread, detection shards) does the same way when it stops: ask it to finish (so it closes
 * its sockets, drains and reports), and end it if it has not within a grace period.
 */
import type { Worker } from 'node:worker_threads';

/** Post `message` to `w`, wait for it to exit, terminate it after `graceMs`. */
export async function stopWorker(w: Worker, post: () => void, graceMs: number): Promise<void> {
  const gone = new Promise<void>((r) => w.once('exit', () => r()));
  post();
  const t = setTimeout(() => void w.terminate(), graceMs);
  t.unref();
  await gone;
  clearTimeout(t);
}
