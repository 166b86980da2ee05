/**
 * A synthetic NetFlow v9 exporter (RFC 3954) for carpet-bomb tests and benchmarks: every
 * `intervalMs`, one record per attacked host carrying `pps * intervalMs / 1000` packets
 * (TCP SYN from random sources to port 80, 60-byte packets), 45 records per datagram, the
 * template (§5.2) in the first datagram and again every second.
 */
import dgram from 'node:dgram';

const TEMPLATE_ID = 256;
/** (type, length): IPV4_SRC_ADDR, IPV4_DST_ADDR, L4_SRC_PORT, L4_DST_PORT, PROTOCOL, TCP_FLAGS, IN_PKTS, IN_BYTES, FIRST_SWITCHED, LAST_SWITCHED (§8). */
const FIELDS: [number, number][] = [
  [8, 4],
  [12, 4],
  [7, 2],
  [11, 2],
  [4, 1],
  [6, 1],
  [2, 4],
  [1, 4],
  [22, 4],
  [21, 4],
];
const RECORD = FIELDS.reduce((s, f) => s + f[1], 0);
const PER_DATAGRAM = 45;

export function v4(ip: string): number {
  const p = ip.split('.').map(Number);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

export interface Nf9Flood {
  /** Wall-clock ms of the first datagram sent. */
  readonly firstAt: number;
  /** Datagrams sent so far. */
  readonly datagrams: number;
  stop(): void;
}

export interface Nf9Options {
  readonly port: number;
  readonly hosts: readonly number[];
  readonly ppsPerHost: number;
  readonly intervalMs?: number;
  readonly sourceId?: number;
  /**
   * Send each round in this many slices spread over the interval (default 1: one burst).
   * Real exporters spread their records; one burst of 1,456 datagrams (65,536 hosts)
   * overflows a 4 MB socket buffer whenever the daemon is busy for a few ms, and always
   * the same tail of the round.
   */
  readonly slices?: number;
}

/** Datagrams of one round: a record per host (the template first when `withTemplate`). */
export function nf9Round(
  hosts: readonly number[],
  packets: number,
  uptime: number,
  secs: number,
  seq: { n: number },
  sourceId: number,
  withTemplate: boolean,
): Buffer[] {
  const out: Buffer[] = [];
  let rnd = (uptime * 2654435761) >>> 0;
  for (let i = 0; i < hosts.length || (withTemplate && out.length === 0); i += PER_DATAGRAM) {
    const n = Math.min(PER_DATAGRAM, Math.max(0, hosts.length - i));
    const tpl = withTemplate && out.length === 0;
    const tplLen = tpl ? 4 + 4 + FIELDS.length * 4 : 0;
    const dataLen = n > 0 ? 4 + n * RECORD + ((4 - ((n * RECORD) % 4)) % 4) : 0;
    const b = Buffer.alloc(20 + tplLen + dataLen);
    b.writeUInt16BE(9, 0);
    b.writeUInt16BE(n + (tpl ? 1 : 0), 2);
    b.writeUInt32BE(uptime >>> 0, 4);
    b.writeUInt32BE(secs >>> 0, 8);
    b.writeUInt32BE(seq.n++ >>> 0, 12);
    b.writeUInt32BE(sourceId, 16);
    let o = 20;
    if (tpl) {
      b.writeUInt16BE(0, o);
      b.writeUInt16BE(tplLen, o + 2);
      b.writeUInt16BE(TEMPLATE_ID, o + 4);
      b.writeUInt16BE(FIELDS.length, o + 6);
      o += 8;
      for (const [t, l] of FIELDS) {
        b.writeUInt16BE(t, o);
        b.writeUInt16BE(l, o + 2);
        o += 4;
      }
    }
    if (n > 0) {
      b.writeUInt16BE(TEMPLATE_ID, o);
      b.writeUInt16BE(dataLen, o + 2);
      o += 4;
      for (let k = 0; k < n; k++) {
        rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0;
        b.writeUInt32BE((0xc6336400 | (rnd >>> 24)) >>> 0, o); // 198.51.100.x
        b.writeUInt32BE(hosts[i + k]!, o + 4);
        b.writeUInt16BE(1024 + ((rnd >>> 8) & 0x7fff), o + 8);
        b.writeUInt16BE(80, o + 10);
        b.writeUInt8(6, o + 12);
        b.writeUInt8(0x02, o + 13);
        b.writeUInt32BE(packets, o + 14);
        b.writeUInt32BE(packets * 60, o + 18);
        b.writeUInt32BE(uptime >>> 0, o + 22);
        b.writeUInt32BE(uptime >>> 0, o + 26);
        o += RECORD;
      }
    }
    out.push(b);
  }
  return out;
}

/** Start a steady flood of `ppsPerHost` to every host; the first round goes out at once. */
export function nf9Flood(o: Nf9Options): Nf9Flood {
  const sock = dgram.createSocket('udp4');
  const interval = o.intervalMs ?? 100;
  const packets = Math.max(1, Math.round((o.ppsPerHost * interval) / 1000));
  const seq = { n: 0 };
  const t0 = Date.now();
  let lastTemplate = -Infinity;
  let sent = 0;
  let open = true;
  let firstAt = 0;
  const round = () => {
    if (!open) return;
    const now = Date.now();
    const withTemplate = now - lastTemplate >= 1000;
    if (withTemplate) lastTemplate = now;
    const dgs = nf9Round(
      o.hosts,
      packets,
      now - t0 + 1000,
      Math.floor(now / 1000),
      seq,
      o.sourceId ?? 1,
      withTemplate,
    );
    if (!firstAt) firstAt = Date.now();
    const slices = Math.max(1, Math.min(o.slices ?? 1, dgs.length));
    const per = Math.ceil(dgs.length / slices);
    for (let k = 0; k < slices; k++) {
      const send = () => {
        if (!open) return;
        for (const d of dgs.slice(k * per, (k + 1) * per)) {
          sock.send(d, o.port, '127.0.0.1');
          sent++;
        }
      };
      if (k === 0) send();
      else setTimeout(send, (k * interval) / slices);
    }
  };
  round();
  const timer = setInterval(round, interval);
  return {
    get firstAt() {
      return firstAt;
    },
    get datagrams() {
      return sent;
    },
    stop() {
      if (!open) return;
      open = false;
      clearInterval(timer);
      sock.close();
    },
  };
}
