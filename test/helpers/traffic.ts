/** A steady sFlow stream to a daemon's collector: known pps per destination. */
import dgram from 'node:dgram';
import { sflowDatagram, type SflowAgent, type SynthPacket } from '../../src/demo/traffic.js';

export interface Stream {
  stop(): void;
}

/**
 * Every 100 ms, `perTick` sampled packets (each standing for `rate` packets) from
 * `packet()`: perTick * rate * 10 packets per second.
 */
export function sflowStream(
  port: number,
  agentIp: string,
  perTick: number,
  rate: number,
  packet: (i: number) => SynthPacket,
): Stream {
  const sock = dgram.createSocket('udp4');
  const agent: SflowAgent = { agent: agentIp, sequence: 0, sampleSequence: 0, uptimeMs: 0 };
  let i = 0;
  const timer = setInterval(() => {
    const pk: SynthPacket[] = [];
    for (let k = 0; k < perTick; k++) pk.push(packet(i++));
    agent.uptimeMs += 100;
    sock.send(sflowDatagram(agent, pk, rate), port, '127.0.0.1');
  }, 100);
  let open = true;
  return {
    stop() {
      if (!open) return;
      open = false;
      clearInterval(timer);
      sock.close();
    },
  };
}

export const udpTo = (dst: string, srcPort = 40000, dstPort = 53, src = '198.51.100.7'): SynthPacket => ({
  src,
  dst,
  protocol: 17,
  srcPort,
  dstPort,
  tcpFlags: 0,
  ipLength: 500,
});
