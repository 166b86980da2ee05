/**
 * Replays captured exporter datagrams to a collector over UDP, paced at a fixed datagram
 * rate. Loopback only: this is a test/benchmark/demo tool and must never spray a capture
 * at a real network.
 */
import dgram from 'node:dgram';
import { isLoopback } from '../../wire/addr.js';
import { forEachPacket, udpPayload } from '../formats/pcap.js';

export interface ReplayOptions {
  host: string;
  port: number;
  /** Datagrams per second; 0 = as fast as the socket takes them. */
  rate: number;
  /** Passes over the capture (default 1; with durationS and no loop: until the time is up). */
  loop?: number;
  durationS?: number;
  /** Loopback source address to send from (the collector sees it as the exporter). */
  from?: string;
}

export interface ReplayResult {
  sent: number;
  bytes: number;
  errors: number;
  seconds: number;
  passes: number;
}

/** Loopback test (one implementation, in wire/addr.ts). */
export { isLoopback };

/** Every UDP payload of a capture, in order. */
export function capturePayloads(buf: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  forEachPacket(buf, (p) => {
    const u = udpPayload(p.data, p.linkType);
    if (u?.payload.length) out.push(Uint8Array.from(u.payload));
  });
  return out;
}

export async function replay(payloads: readonly Uint8Array[], o: ReplayOptions): Promise<ReplayResult> {
  if (!isLoopback(o.host))
    throw new Error(`refusing to send to ${o.host}: replay only targets loopback (127.0.0.0/8, ::1)`);
  if (o.from && !isLoopback(o.from))
    throw new Error(`refusing to send from ${o.from}: not a loopback address`);
  if (!payloads.length) return { sent: 0, bytes: 0, errors: 0, seconds: 0, passes: 0 };
  const v6 = o.host.includes(':');
  const sock = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', sendBufferSize: 16 * 1024 * 1024 });
  await new Promise<void>((res, rej) => {
    sock.once('error', rej);
    sock.bind({ address: o.from ?? (v6 ? '::1' : '127.0.0.1'), port: 0 }, () => {
      sock.off('error', rej);
      res();
    });
  });
  // A connected socket reports ICMP port-unreachable as asynchronous errors: count them.
  let refused = 0;
  sock.on('error', () => refused++);
  await new Promise<void>((res, rej) =>
    sock.connect(o.port, o.host === 'localhost' ? '127.0.0.1' : o.host, (e?: Error) => (e ? rej(e) : res())),
  );
  const maxPasses = o.loop ?? (o.durationS ? Infinity : 1);
  const deadline = o.durationS ? o.durationS * 1000 : Infinity;
  let sent = 0;
  let bytes = 0;
  let errors = 0;
  let inflight = 0;
  let idx = 0;
  let passes = 0;
  const t0 = performance.now();
  const onSent = (e: Error | null) => {
    inflight--;
    if (e) errors++;
  };
  await new Promise<void>((resolve) => {
    const step = () => {
      const el = performance.now() - t0;
      if (el >= deadline || passes >= maxPasses) return resolve();
      const due = o.rate > 0 ? Math.floor((el / 1000) * o.rate) - sent : 256;
      // Bound the datagrams queued in libuv so a fast rate cannot balloon memory.
      let n = Math.min(due, 4096 - inflight);
      while (n-- > 0) {
        const p = payloads[idx]!;
        inflight++;
        sock.send(p, onSent);
        sent++;
        bytes += p.length;
        if (++idx === payloads.length) {
          idx = 0;
          if (++passes >= maxPasses) break;
        }
      }
      if (o.rate > 0 && due <= 0) setTimeout(step, 1);
      else setImmediate(step);
    };
    step();
  });
  while (inflight > 0) await new Promise((r) => setImmediate(r));
  const seconds = (performance.now() - t0) / 1000;
  sock.close();
  return { sent, bytes, errors: errors + refused, seconds, passes };
}
