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
import { isLoopback } from '../wire/addr.js';

/** Why a flow listener on `address` with no capture.exporters is refused, or null. */
export function openListenerRefusal(address: string): string | null {
  if (isLoopback(address)) return null;
  return `flow listener on ${address} without capture.exporters would believe any source that can reach it; list the exporters (capture.exporters: [{ address, name }]) or listen on loopback`;
}
