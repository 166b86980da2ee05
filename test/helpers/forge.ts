/**
 * Forged exporter datagrams for the trust-boundary tests: NetFlow v5 (Cisco v5 format),
 * NetFlow v9 (RFC 3954 §5) and IPFIX (RFC 7011 §3) with chosen counters and per-record
 * sampling, built byte by byte so a test says exactly what it sends.
 */
import dgram from 'node:dgram';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
const v4 = (s: string) => s.split('.').reduce((a, x) => (a << 8) | Number(x), 0) >>> 0;

function put(b: DataView, o: number, len: number, v: bigint | number): void {
  let x = BigInt(v);
  for (let i = len - 1; i >= 0; i--) {
    b.setUint8(o + i, Number(x & 0xffn));
    x >>= 8n;
  }
}

/** One NetFlow v5 datagram, one record (Cisco v5: 24-byte header, 48-byte record). */
export function nf5(o: {
  dst: string;
  src?: string;
  packets: number;
  bytes: number;
  sampling?: number;
  seq?: number;
  durationMs?: number;
}): Uint8Array {
  const buf = new Uint8Array(24 + 48);
  const b = new DataView(buf.buffer);
  b.setUint16(0, 5);
  b.setUint16(2, 1);
  b.setUint32(4, 100_000);
  b.setUint32(8, Math.floor(Date.now() / 1000));
  b.setUint32(16, o.seq ?? 0);
  b.setUint16(22, o.sampling ?? 0);
  const r = 24;
  b.setUint32(r, v4(o.src ?? '198.51.100.7'));
  b.setUint32(r + 4, v4(o.dst));
  b.setUint32(r + 16, o.packets);
  b.setUint32(r + 20, o.bytes);
  b.setUint32(r + 24, 100_000 - (o.durationMs ?? 0));
  b.setUint32(r + 28, 100_000);
  b.setUint16(r + 32, 40000);
  b.setUint16(r + 34, 80);
  b.setUint8(r + 37, 0x02);
  b.setUint8(r + 38, 6);
  return buf;
}

/** Fields of the forged v9/IPFIX template: 8-byte counters, addresses, ports, protocol, a sampling IE. */
export interface ForgedRecord {
  src?: string;
  dst: string;
  packets: bigint | number;
  bytes: bigint | number;
  /** Per-record sampling interval (IE 34 for v9, IE 50 for IPFIX), 8 bytes. */
  sampling?: bigint | number;
}

const FIELDS = (samplingIe: number | null) => [
  [1, 8], // octetDeltaCount
  [2, 8], // packetDeltaCount
  [4, 1], // protocolIdentifier
  [7, 2], // sourceTransportPort
  [8, 4], // sourceIPv4Address
  [11, 2], // destinationTransportPort
  [12, 4], // destinationIPv4Address
  ...(samplingIe !== null ? [[samplingIe, 8]] : []),
];

function records(b: DataView, o: number, recs: readonly ForgedRecord[], sampling: boolean): number {
  for (const r of recs) {
    put(b, o, 8, r.bytes);
    put(b, o + 8, 8, r.packets);
    b.setUint8(o + 16, 6);
    b.setUint16(o + 17, 40000);
    b.setUint32(o + 19, v4(r.src ?? '198.51.100.7'));
    b.setUint16(o + 23, 80);
    b.setUint32(o + 25, v4(r.dst));
    o += 29;
    if (sampling) {
      put(b, o, 8, r.sampling ?? 1);
      o += 8;
    }
  }
  return o;
}

/** A NetFlow v9 export packet: the template (id tplId) and, when given, a data flowset of recs. */
export function nf9(o: {
  seq: number;
  sourceId?: number;
  tplId?: number;
  sampling?: boolean;
  recs?: readonly ForgedRecord[];
  template?: boolean;
}): Uint8Array {
  const fields = FIELDS(o.sampling ? 34 : null);
  const recLen = fields.reduce((a, f) => a + f[1]!, 0);
  const recs = o.recs ?? [];
  const tplLen = o.template === false ? 0 : 8 + fields.length * 4;
  const dataLen = recs.length ? 4 + recs.length * recLen : 0;
  const buf = new Uint8Array(20 + tplLen + dataLen);
  const b = new DataView(buf.buffer);
  b.setUint16(0, 9);
  b.setUint16(2, (tplLen ? 1 : 0) + recs.length);
  b.setUint32(4, 100_000);
  b.setUint32(8, Math.floor(Date.now() / 1000));
  b.setUint32(12, o.seq);
  b.setUint32(16, o.sourceId ?? 0);
  let p = 20;
  const id = o.tplId ?? 256;
  if (tplLen) {
    b.setUint16(p, 0);
    b.setUint16(p + 2, tplLen);
    b.setUint16(p + 4, id);
    b.setUint16(p + 6, fields.length);
    p += 8;
    for (const [ie, len] of fields) {
      b.setUint16(p, ie!);
      b.setUint16(p + 2, len!);
      p += 4;
    }
  }
  if (dataLen) {
    b.setUint16(p, id);
    b.setUint16(p + 2, dataLen);
    records(b, p + 4, recs, !!o.sampling);
  }
  return buf;
}

/** An IPFIX message: template set and a data set, per-record sampling as IE 50. */
export function ipfix(o: {
  seq: number;
  domain?: number;
  tplId?: number;
  sampling?: boolean;
  recs: readonly ForgedRecord[];
}): Uint8Array {
  const fields = FIELDS(o.sampling ? 50 : null);
  const recLen = fields.reduce((a, f) => a + f[1]!, 0);
  const tplLen = 8 + fields.length * 4;
  const dataLen = 4 + o.recs.length * recLen;
  const len = 16 + tplLen + dataLen;
  const buf = new Uint8Array(len);
  const b = new DataView(buf.buffer);
  b.setUint16(0, 10);
  b.setUint16(2, len);
  b.setUint32(4, Math.floor(Date.now() / 1000));
  b.setUint32(8, o.seq);
  b.setUint32(12, o.domain ?? 0);
  let p = 16;
  const id = o.tplId ?? 256;
  b.setUint16(p, 2);
  b.setUint16(p + 2, tplLen);
  b.setUint16(p + 4, id);
  b.setUint16(p + 6, fields.length);
  p += 8;
  for (const [ie, l] of fields) {
    b.setUint16(p, ie!);
    b.setUint16(p + 2, l!);
    p += 4;
  }
  b.setUint16(p, id);
  b.setUint16(p + 2, dataLen);
  records(b, p + 4, o.recs, !!o.sampling);
  return buf;
}

export const U64_MAX = (1n << 64n) - 1n;

/**
 * A saved template state (capture-templates.json) of `exporters` exporters (127.0.1.1 ..)
 * with `perExporter` NetFlow v9 templates of 40 fields each, written to stateDir: a large
 * state for the "save never stalls the API" checks (16 x 4,000: ~20 MB). Returns its path.
 */
export function writeTemplateState(stateDir: string, exporters: number, perExporter: number): string {
  mkdirSync(stateDir, { recursive: true });
  const fields: number[] = [];
  for (let i = 0; i < 40; i++) fields.push(1 + (i % 100), 4, 0);
  const byExporter: Record<string, unknown> = {};
  for (let e = 1; e <= exporters; e++) {
    const templates = Array.from({ length: perExporter }, (_, k) => ({
      id: 256 + k,
      options: false,
      scopeCount: 0,
      fields,
    }));
    byExporter[`127.0.1.${e}`] = { nf9: { '0': { templates, samplers: {}, rate: 0 } } };
  }
  const file = join(stateDir, 'capture-templates.json');
  writeFileSync(file, JSON.stringify({ version: 1, exporters: byExporter }));
  return file;
}

/** Send one datagram from `from` (a loopback address) to 127.0.0.1:port. */
export function sendFrom(from: string, port: number, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind({ address: from, port: 0 }, () =>
      s.send(data, port, '127.0.0.1', (e) => {
        s.close();
        if (e) reject(e);
        else resolve();
      }),
    );
  });
}
