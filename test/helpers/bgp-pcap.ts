/**
 * Test-only: read a classic pcap, reassemble TCP streams (IPv4/IPv6 over Ethernet, Linux
 * cooked or null link types) and split each direction into BGP messages.
 */
import { readFileSync } from 'node:fs';
import { forEachPacket } from '../../src/capture/formats/pcap.js';
import { ETH_IPV4, ETH_IPV6, LINKTYPE } from '../../src/capture/formats/packet.js';

export interface TcpDirection {
  /** "src:sport>dst:dport" */
  readonly key: string;
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
  readonly data: Uint8Array;
}

interface Seg {
  seq: number;
  payload: Uint8Array;
}

export function readTcpStreams(path: string | URL): TcpDirection[] {
  const flows = new Map<string, { meta: Omit<TcpDirection, 'data'>; isn: number | null; segs: Seg[] }>();
  const buf = readFileSync(path);
  // The records come from the product's reader; link and IP/TCP headers are walked here
  // because reassembly needs the TCP sequence number and payload offset.
  forEachPacket(buf, ({ data, linkType: link }) => {
    const pkt = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    let p = 0;
    let etype = 0;
    if (link === LINKTYPE.ETHERNET) {
      etype = pkt.readUInt16BE(12);
      p = 14;
    } else if (link === LINKTYPE.LINUX_SLL) {
      etype = pkt.readUInt16BE(14);
      p = 16;
    } else if (link === LINKTYPE.LINUX_SLL2) {
      etype = pkt.readUInt16BE(0);
      p = 20;
    } else if (link === LINKTYPE.NULL) {
      const fam = pkt.readUInt32LE(0);
      etype = fam === 2 ? ETH_IPV4 : ETH_IPV6;
      p = 4;
    } else throw new Error(`link type ${link}`);
    let src: string;
    let dst: string;
    let proto: number;
    let l4: number;
    let end: number;
    if (etype === ETH_IPV4) {
      const ihl = (pkt[p]! & 15) * 4;
      proto = pkt[p + 9]!;
      src = [...pkt.subarray(p + 12, p + 16)].join('.');
      dst = [...pkt.subarray(p + 16, p + 20)].join('.');
      end = p + pkt.readUInt16BE(p + 2);
      l4 = p + ihl;
    } else if (etype === ETH_IPV6) {
      proto = pkt[p + 6]!;
      const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
      src = hex(pkt.subarray(p + 8, p + 24));
      dst = hex(pkt.subarray(p + 24, p + 40));
      end = p + 40 + pkt.readUInt16BE(p + 4);
      l4 = p + 40;
    } else return;
    if (proto !== 6) return;
    const sport = pkt.readUInt16BE(l4);
    const dport = pkt.readUInt16BE(l4 + 2);
    const seq = pkt.readUInt32BE(l4 + 4);
    const doff = (pkt[l4 + 12]! >> 4) * 4;
    const flags = pkt[l4 + 13]!;
    const key = `${src}:${sport}>${dst}:${dport}`;
    let f = flows.get(key);
    if (!f) {
      f = { meta: { key, src, dst, sport, dport }, isn: null, segs: [] };
      flows.set(key, f);
    }
    if (flags & 0x02) f.isn = (seq + 1) >>> 0;
    const payload = pkt.subarray(l4 + doff, Math.min(end, pkt.length));
    if (payload.length) f.segs.push({ seq, payload });
  });
  const out: TcpDirection[] = [];
  for (const f of flows.values()) {
    if (!f.segs.length) continue;
    const base = f.isn ?? f.segs[0]!.seq;
    const rel = f.segs
      .map((s) => ({ at: (s.seq - base) >>> 0, payload: s.payload }))
      .sort((a, b) => a.at - b.at);
    const parts: Uint8Array[] = [];
    let cur = 0;
    for (const s of rel) {
      const stop = s.at + s.payload.length;
      if (stop <= cur) continue; // retransmission
      if (s.at > cur) throw new Error(`gap in ${f.meta.key} at ${cur}`);
      parts.push(s.payload.subarray(cur - s.at));
      cur = stop;
    }
    out.push({ ...f.meta, data: Buffer.concat(parts) });
  }
  return out;
}

/** Split a reassembled direction into BGP messages by the header length field. */
export function splitBgp(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  while (off + 19 <= data.length) {
    const len = (data[off + 16]! << 8) | data[off + 17]!;
    if (len < 19 || off + len > data.length) break;
    out.push(data.subarray(off, off + len));
    off += len;
  }
  return out;
}
