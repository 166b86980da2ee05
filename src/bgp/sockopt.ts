/**
 * BGP session security through the native addon (native/bgpsock.c): TCP MD5 (RFC 2385) and
 * GTSM (RFC 5082). Node has no API for these socket options. The addon is built by
 * `npm ci` (native/build.mjs) and may be missing where no compiler was available: then
 * the daemon runs, says so once, and a peer that asks for `password` or `ttl_security` is
 * refused by the config check (never run unauthenticated).
 */
import net from 'node:net';
import { loadNative } from '../native.js';

interface Addon {
  setMd5(fd: number, peer: string, key: string): void;
  setGtsm(fd: number, minTtl: number): void;
  socket(peer: string, local: string, key: string, minTtl: number): number;
  close(fd: number): void;
  getMinTtl(fd: number): number;
}

/** RFC 5082 §3: one hop away, a segment arrives with TTL 255; accept 254 and up. */
const GTSM_MIN_TTL = 254;

const native = () => loadNative<Addon>('bgpsock');
const load = (): Addon | null => native().addon;

/** Whether the addon is loaded, and why not. */
export function sessionSecurity(): { available: boolean; path: string; error?: string } {
  const n = native();
  return n.addon ? { available: true, path: n.path } : { available: false, path: n.path, error: n.error };
}

/** Why a peer cannot be run as configured (null when it can). */
export function sessionSecurityMissing(p: {
  readonly password?: string | undefined;
  readonly ttl_security?: boolean | undefined;
}): string | null {
  const wants = [
    p.password !== undefined ? 'password (TCP MD5)' : '',
    p.ttl_security ? 'ttl_security (GTSM)' : '',
  ].filter(Boolean);
  if (wants.length === 0 || load()) return null;
  return `${wants.join(' and ')} needs the native addon, which is not available (${native().error}); build it with \`node native/build.mjs\` (needs g++, make, python3 and Node's headers)`;
}

function need(): Addon {
  const a = load();
  if (!a) throw new Error(`BGP session security unavailable: ${native().error}`);
  return a;
}

interface Secured {
  readonly address: string;
  readonly local_address?: string | undefined;
  readonly password?: string | undefined;
  readonly ttl_security?: boolean | undefined;
}

export const wantsSecurity = (p: Secured): boolean => p.password !== undefined || p.ttl_security === true;

/**
 * An unconnected socket for an outgoing session with the peer's MD5 key and GTSM set
 * before its SYN, bound to local_address; connect it with socket.connect(). Node connects
 * it on the event loop as any socket (manualStart: reading starts once connected).
 */
export function securedSocket(p: Secured): net.Socket {
  const a = need();
  const fd = a.socket(p.address, p.local_address ?? '', p.password ?? '', p.ttl_security ? GTSM_MIN_TTL : 0);
  try {
    return new net.Socket({ fd, manualStart: true } as net.SocketConstructorOpts);
  } catch (e) {
    a.close(fd);
    throw e;
  }
}

const fdOf = (h: unknown): number => {
  const fd = (h as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('socket has no file descriptor');
  return fd;
};

/**
 * Set (or with key null remove) a peer's MD5 key on a listening socket: the kernel then
 * drops that address's segments unless signed with the key (RFC 2385 §2), and accepted
 * sockets inherit the key.
 */
export function setListenerKey(server: net.Server, peer: string, key: string | null): void {
  need().setMd5(fdOf(server), peer, key ?? '');
}

/** GTSM on a socket (a listener: applies to the SYNs it accepts); off: accept any TTL again. */
export function setGtsm(s: net.Socket | net.Server, on = true): void {
  need().setGtsm(fdOf(s), on ? GTSM_MIN_TTL : 0);
}

/** The minimum TTL in force on a socket (tests). */
export function minTtl(s: net.Socket | net.Server): number {
  return need().getMinTtl(fdOf(s));
}

/**
 * What a log line about a connect or hold timeout should add for a secured peer: with a
 * wrong MD5 key, or a peer more than one hop away under GTSM, the kernel drops the
 * segments without telling anyone (RFC 2385 §3: no RST either), so a timeout is all the
 * daemon sees. '' when it does not apply.
 */
export function silentDropHint(p: Secured, reason: string): string {
  if (!wantsSecurity(p) || !/timed out|hold timer expired/i.test(reason)) return '';
  const what = [
    p.password !== undefined
      ? 'TCP MD5 is configured (a peer with another key or none is dropped silently by the kernel)'
      : '',
    p.ttl_security ? 'GTSM is on (segments arriving with TTL below 254 are dropped)' : '',
  ].filter(Boolean);
  return `; ${what.join('; ')}: check the key and ttl settings on both sides`;
}
