/**
 * What may listen where without a trust boundary. One rule per listener kind, used by the
 * config check (so `breakwater check` and `breakwater run`, which both load the config
 * through it, refuse the same things with file:line:col) and again by the listener itself
 * at start, for configs built in code.
 *
 * A flow listener without capture.exporters believes every UDP source: on loopback only
 * local processes can reach it; anywhere else anyone who can send a datagram could make
 * Breakwater blackhole a customer.
 */
import { parseAddr } from '../wire/addr.js';

/** True for 127.0.0.0/8, ::1 and ::ffff:127.x.y.z (and the name localhost). */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const a = parseAddr(host);
  if (!a) return false;
  if (a.family === 4) return a.bytes[0] === 127;
  const b = a.bytes;
  const zero10 = b.subarray(0, 10).every((x) => x === 0);
  if (zero10 && b[10] === 0 && b[11] === 0 && b.subarray(12, 15).every((x) => x === 0) && b[15] === 1) return true;
  return zero10 && b[10] === 0xff && b[11] === 0xff && b[12] === 127;
}

/** Why a flow listener on `address` with no capture.exporters is refused, or null. */
export function openListenerRefusal(address: string): string | null {
  if (isLoopback(address)) return null;
  return `flow listener on ${address} without capture.exporters would believe any source that can reach it; list the exporters (capture.exporters: [{ address, name }]) or listen on loopback`;
}
