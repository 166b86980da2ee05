/**
 * The API's password checks, on a thread of their own (auth.ts). scrypt through node:crypto's
 * async API runs on libuv's threadpool, the one the journal's fsyncs and file writes use: a
 * flood of bad passwords there delayed bans by seconds (issue 14). Here scryptSync blocks only
 * this thread, so at most one check runs at a time and the pool stays free.
 */
import { scryptSync, timingSafeEqual } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

export interface ScryptJob {
  id: number;
  password: string;
  salt: Uint8Array;
  hash: Uint8Array;
  N: number;
  r: number;
  p: number;
}

parentPort?.on('message', (j: ScryptJob) => {
  let ok = false;
  try {
    const key = scryptSync(j.password, j.salt, j.hash.length, {
      N: j.N,
      r: j.r,
      p: j.p,
      maxmem: 256 * j.N * j.r + 1024 * 1024,
    });
    ok = key.length === j.hash.length && timingSafeEqual(key, j.hash);
  } catch {
    ok = false;
  }
  parentPort!.postMessage({ id: j.id, ok });
});
