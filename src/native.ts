/**
 * The native addons (native/*.c, built by `npm ci` through native/build.mjs): bgpsock (TCP
 * MD5 and GTSM, src/bgp/sockopt.ts) and udpbatch (batched UDP receive for decode workers,
 * src/capture/input/batch-socket.ts). Either may be missing where no compiler was
 * available: loadNative answers null with the reason, once per addon and thread, and each
 * user says what is then unavailable. BREAKWATER_DISABLE_NATIVE=1 acts as a machine without
 * them (tests of the fallbacks).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeAddon<T> {
  readonly addon: T | null;
  /** Why it is not loaded ('' when it is). */
  readonly error: string;
  readonly path: string;
}

// This runs as dist/src/native.js: the package root is two levels up.
const RELEASE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..', 'native/build/Release');

const loaded = new Map<string, NativeAddon<unknown>>();

export function loadNative<T>(name: string): NativeAddon<T> {
  const had = loaded.get(name);
  if (had) return had as NativeAddon<T>;
  const file = path.join(RELEASE, `${name}.node`);
  let r: NativeAddon<T>;
  if (process.env.BREAKWATER_DISABLE_NATIVE === '1')
    r = { addon: null, error: 'disabled by BREAKWATER_DISABLE_NATIVE=1', path: file };
  else {
    try {
      r = { addon: createRequire(import.meta.url)(file) as T, error: '', path: file };
    } catch (e) {
      r = { addon: null, error: (e as Error).message.split('\n')[0] ?? 'not loadable', path: file };
    }
  }
  loaded.set(name, r);
  return r;
}
