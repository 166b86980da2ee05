/**
 * Datagrams the kernel dropped before the daemon read them: a UDP socket whose receive
 * buffer is full drops what arrives (a main thread busy for longer than the buffer lasts,
 * during a carpet bomb say), and nothing in the datagrams that do arrive says so. Linux
 * counts them per socket in /proc/net/udp and /proc/net/udp6 (the last column, `drops`),
 * with the bytes waiting in the receive queue (`rx_queue`). Read by address and port of
 * the listener, in the daemon's network namespace; elsewhere (not Linux, /proc not
 * mounted) the reader answers null and the metric is absent, not zero.
 *
 * Line format (net/ipv4/udp.c udp4_format_sock, net/ipv6/datagram.c):
 *   sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ref pointer drops
 * The IPv4 address is the 32-bit network-order value printed as a host-order hex number
 * (127.0.0.1 is 0100007F on little-endian), the IPv6 one four such words; the port is
 * host-order hex.
 */
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { parseAddr } from '../../wire/addr.js';

export interface SocketCounters {
  /** Datagrams dropped by the kernel since the socket was created. */
  readonly drops: number;
  /** Bytes in the receive queue now. */
  readonly rxQueue: number;
}

/** One row's key: address bytes as lowercase hex (network order) and port. */
function key(addrHex: string, port: number): string {
  return `${addrHex}:${port}`;
}

/** The kernel's hex word (host order) to network-order hex. */
function wordToNet(word: string, little: boolean): string {
  return little ? (word.match(/../g) ?? []).reverse().join('') : word;
}

/** Parse /proc/net/udp or udp6 text: rows by address (network-order hex) and port. */
export function parseProcNetUdp(text: string, little = endianness() === 'LE'): Map<string, SocketCounters> {
  const out = new Map<string, SocketCounters>();
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i]!.trim().split(/\s+/);
    if (f.length < 13) continue;
    const [addr, portHex] = f[1]!.split(':') as [string, string | undefined];
    if (portHex === undefined || (addr.length !== 8 && addr.length !== 32)) continue;
    let net = '';
    for (let w = 0; w < addr.length; w += 8) net += wordToNet(addr.slice(w, w + 8), little);
    const queues = f[4]!.split(':');
    const drops = Number(f[f.length - 1]);
    const rxQueue = Number.parseInt(queues[1] ?? '', 16);
    if (!Number.isFinite(drops) || !Number.isFinite(rxQueue)) continue;
    // Decode workers sharing a port (SO_REUSEPORT) each have a row: a listener's counts are their sum.
    const k = key(net.toLowerCase(), Number.parseInt(portHex, 16));
    const had = out.get(k);
    out.set(k, had ? { drops: had.drops + drops, rxQueue: had.rxQueue + rxQueue } : { drops, rxQueue });
  }
  return out;
}

/** The key of a listener's address and port as parseProcNetUdp keys it (null: not an address). */
export function socketKey(address: string, port: number): string | null {
  const a = parseAddr(address);
  if (!a) return null;
  return key(Buffer.from(a.bytes).toString('hex'), port);
}

/** Both tables, or null where /proc/net/udp cannot be read. */
export function readProcNetUdp(): Map<string, SocketCounters> | null {
  let v4: string;
  try {
    v4 = readFileSync('/proc/net/udp', 'utf8');
  } catch {
    return null;
  }
  const rows = parseProcNetUdp(v4);
  try {
    for (const [k, v] of parseProcNetUdp(readFileSync('/proc/net/udp6', 'utf8'))) rows.set(k, v);
  } catch {
    // No IPv6 in this kernel or namespace: IPv4 listeners are still answered.
  }
  return rows;
}
