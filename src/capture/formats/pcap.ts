/**
 * pcap and pcapng readers (whole buffer), an incremental classic-pcap stream parser (for
 * `tcpdump -w -`), and the outer Ethernet/IP/UDP walk that finds exporter datagrams.
 *
 * Formats: classic pcap (https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcap/): magic
 * a1b2c3d4 (µs) / a1b23c4d (ns), either byte order; pcapng
 * (draft-ietf-opsawg-pcapng): SHB, IDB (link type, if_tsresol), EPB, SPB, obsolete PB,
 * several sections and interfaces. Every length is checked; a corrupt record ends the file
 * with an error count instead of an exception.
 */
import { LIMITS } from '../limits.js';
import { LINKTYPE } from './packet.js';
import { v4ToString, v6ToString, v4FromBytes } from '../../wire/addr.js';

export interface PcapPacket {
  /** Capture time, ms since epoch (fractional). */
  tsMs: number;
  linkType: number;
  /** Captured bytes (a view into the file buffer). */
  data: Uint8Array;
  /** Original (wire) length from the record header. */
  origLen: number;
}

export interface PcapReadResult {
  format: 'pcap' | 'pcapng';
  packets: PcapPacket[];
  /** Records that could not be read (truncated file, bad lengths). */
  errors: number;
}

export class PcapFormatError extends Error {}

/** Read a whole pcap or pcapng file. Throws PcapFormatError only when it is neither. */
export function readPcap(buf: Uint8Array): PcapReadResult {
  const out: PcapPacket[] = [];
  const errors = forEachPacket(buf, (p) => {
    out.push({ tsMs: p.tsMs, linkType: p.linkType, data: p.data, origLen: p.origLen });
  });
  return { format: isPcapng(buf) ? 'pcapng' : 'pcap', packets: out, errors };
}

function isPcapng(buf: Uint8Array): boolean {
  return buf.length >= 4 && buf[0] === 0x0a && buf[1] === 0x0d && buf[2] === 0x0d && buf[3] === 0x0a;
}

/**
 * Calls cb for every packet; the PcapPacket passed is reused between calls (copy what you
 * keep). Returns the number of unreadable records.
 */
export function forEachPacket(buf: Uint8Array, cb: (p: PcapPacket) => void): number {
  if (isPcapng(buf)) return forEachPcapng(buf, cb);
  return forEachClassic(buf, cb);
}

function classicHeader(buf: Uint8Array): { le: boolean; nano: boolean; linkType: number } {
  if (buf.length < 24) throw new PcapFormatError('not a pcap file (shorter than a pcap header)');
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const m = dv.getUint32(0, false);
  let le: boolean;
  let nano: boolean;
  if (m === 0xa1b2c3d4) [le, nano] = [false, false];
  else if (m === 0xd4c3b2a1) [le, nano] = [true, false];
  else if (m === 0xa1b23c4d) [le, nano] = [false, true];
  else if (m === 0x4d3cb2a1) [le, nano] = [true, true];
  else throw new PcapFormatError(`not a pcap or pcapng file (magic 0x${m.toString(16).padStart(8, '0')})`);
  // The link type's upper bits hold the FCS length (draft §4); keep the low 16.
  const linkType = dv.getUint32(20, le) & 0xffff;
  return { le, nano, linkType };
}

function forEachClassic(buf: Uint8Array, cb: (p: PcapPacket) => void): number {
  const { le, nano, linkType } = classicHeader(buf);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const pkt: PcapPacket = { tsMs: 0, linkType, data: buf.subarray(0, 0), origLen: 0 };
  let p = 24;
  while (p + 16 <= buf.length) {
    const sec = dv.getUint32(p, le);
    const frac = dv.getUint32(p + 4, le);
    const incl = dv.getUint32(p + 8, le);
    const orig = dv.getUint32(p + 12, le);
    if (incl > LIMITS.PCAP_MAX_RECORD || p + 16 + incl > buf.length) return 1;
    pkt.tsMs = sec * 1000 + (nano ? frac / 1e6 : frac / 1e3);
    pkt.data = buf.subarray(p + 16, p + 16 + incl);
    pkt.origLen = orig;
    cb(pkt);
    p += 16 + incl;
  }
  return p === buf.length ? 0 : 1;
}

function forEachPcapng(buf: Uint8Array, cb: (p: PcapPacket) => void): number {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let le = true;
  let errors = 0;
  // Per interface: link type, snaplen and timestamp units per second.
  let ifaces: { linkType: number; snap: number; tsPerSec: number }[] = [];
  const pkt: PcapPacket = { tsMs: 0, linkType: 0, data: buf.subarray(0, 0), origLen: 0 };
  let p = 0;
  while (p + 12 <= buf.length) {
    let type = dv.getUint32(p, le);
    if (type === 0x0a0d0d0a) {
      const bom = dv.getUint32(p + 8, false);
      if (bom === 0x1a2b3c4d) le = false;
      else if (bom === 0x4d3c2b1a) le = true;
      else return errors + 1;
      type = 0x0a0d0d0a;
      ifaces = [];
    }
    const len = dv.getUint32(p + 4, le);
    if (len < 12 || len % 4 !== 0 || p + len > buf.length) return errors + 1;
    const body = p + 8;
    const bodyEnd = p + len - 4;
    if (type === 1) {
      // IDB: link type (2), reserved (2), snaplen (4), options
      if (bodyEnd - body < 8) {
        errors++;
      } else {
        let tsPerSec = 1e6;
        let o = body + 8;
        while (o + 4 <= bodyEnd) {
          const code = dv.getUint16(o, le);
          const olen = dv.getUint16(o + 2, le);
          if (code === 0) break;
          if (code === 9 && olen >= 1 && o + 5 <= bodyEnd) {
            const r = buf[o + 4]!;
            tsPerSec = r & 0x80 ? 2 ** (r & 0x7f) : 10 ** (r & 0x7f);
          }
          o += 4 + ((olen + 3) & ~3);
        }
        ifaces.push({ linkType: dv.getUint16(body, le), snap: dv.getUint32(body + 4, le), tsPerSec });
      }
    } else if (type === 6 || type === 2) {
      // EPB: iface(4) tsHigh(4) tsLow(4) caplen(4) origlen(4) data; PB: iface(2) drops(2) ...
      if (bodyEnd - body < 20) errors++;
      else {
        const ifId = type === 6 ? dv.getUint32(body, le) : dv.getUint16(body, le);
        const iface = ifaces[ifId];
        const cap = dv.getUint32(body + 12, le);
        const orig = dv.getUint32(body + 16, le);
        if (!iface || cap > LIMITS.PCAP_MAX_RECORD || body + 20 + cap > bodyEnd) errors++;
        else {
          const ts = dv.getUint32(body + 4, le) * 4294967296 + dv.getUint32(body + 8, le);
          pkt.tsMs = (ts / iface.tsPerSec) * 1000;
          pkt.linkType = iface.linkType;
          pkt.data = buf.subarray(body + 20, body + 20 + cap);
          pkt.origLen = orig;
          cb(pkt);
        }
      }
    } else if (type === 3) {
      // SPB: original length, then data (captured = min(orig, snaplen, block room))
      const iface = ifaces[0];
      if (!iface || bodyEnd - body < 4) errors++;
      else {
        const orig = dv.getUint32(body, le);
        let cap = Math.min(orig, bodyEnd - body - 4);
        if (iface.snap > 0) cap = Math.min(cap, iface.snap);
        pkt.tsMs = 0;
        pkt.linkType = iface.linkType;
        pkt.data = buf.subarray(body + 4, body + 4 + cap);
        pkt.origLen = orig;
        cb(pkt);
      }
    }
    p += len;
  }
  return p === buf.length ? errors : errors + 1;
}

/**
 * Incremental classic-pcap parser for a byte stream (`tcpdump -w -`). push() chunks as they
 * come; onPacket gets each record (data is a view valid only during the call).
 */
export class PcapStream {
  private pending: Uint8Array = new Uint8Array(0);
  private header: { le: boolean; nano: boolean; linkType: number } | null = null;
  private readonly pkt: PcapPacket = { tsMs: 0, linkType: 0, data: new Uint8Array(0), origLen: 0 };
  errors = 0;
  constructor(private readonly onPacket: (p: PcapPacket) => void) {}

  push(chunk: Uint8Array): void {
    let buf: Uint8Array;
    if (this.pending.length) {
      buf = new Uint8Array(this.pending.length + chunk.length);
      buf.set(this.pending);
      buf.set(chunk, this.pending.length);
    } else buf = chunk;
    let p = 0;
    if (!this.header) {
      if (buf.length < 24) {
        this.pending = Uint8Array.from(buf);
        return;
      }
      this.header = classicHeader(buf);
      this.pkt.linkType = this.header.linkType;
      p = 24;
    }
    const { le, nano } = this.header;
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    while (p + 16 <= buf.length) {
      const incl = dv.getUint32(p + 8, le);
      if (incl > LIMITS.PCAP_MAX_RECORD) {
        // The stream is out of step; nothing after this can be trusted.
        this.errors++;
        throw new PcapFormatError(`pcap stream record of ${incl} bytes exceeds ${LIMITS.PCAP_MAX_RECORD}`);
      }
      if (p + 16 + incl > buf.length) break;
      const sec = dv.getUint32(p, le);
      const frac = dv.getUint32(p + 4, le);
      this.pkt.tsMs = sec * 1000 + (nano ? frac / 1e6 : frac / 1e3);
      this.pkt.origLen = dv.getUint32(p + 12, le);
      this.pkt.data = buf.subarray(p + 16, p + 16 + incl);
      this.onPacket(this.pkt);
      p += 16 + incl;
    }
    this.pending = p < buf.length ? Uint8Array.from(buf.subarray(p)) : new Uint8Array(0);
  }
}

/** An exporter datagram found in a captured frame. */
export interface UdpDatagram {
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  payload: Uint8Array;
}

/**
 * Outer Ethernet (+VLAN) / SLL / raw / null -> IPv4/IPv6 -> UDP, for captures of exporter
 * traffic. Returns null for anything else (and for non-first IPv4 fragments).
 */
export function udpPayload(data: Uint8Array, linkType: number): UdpDatagram | null {
  let p = 0;
  let type = -1;
  switch (linkType) {
    case LINKTYPE.ETHERNET: {
      if (data.length < 14) return null;
      type = (data[12]! << 8) | data[13]!;
      p = 14;
      for (
        let tags = 0;
        (type === 0x8100 || type === 0x88a8 || type === 0x9100) && tags < LIMITS.MAX_VLAN_TAGS;
        tags++
      ) {
        if (p + 4 > data.length) return null;
        type = (data[p + 2]! << 8) | data[p + 3]!;
        p += 4;
      }
      break;
    }
    case LINKTYPE.LINUX_SLL:
      if (data.length < 16) return null;
      type = (data[14]! << 8) | data[15]!;
      p = 16;
      break;
    case LINKTYPE.LINUX_SLL2:
      if (data.length < 20) return null;
      type = (data[0]! << 8) | data[1]!;
      p = 20;
      break;
    case LINKTYPE.NULL:
      if (data.length < 4) return null;
      type = (data[0]! | data[3]!) === 2 ? 0x0800 : 0x86dd;
      p = 4;
      break;
    case LINKTYPE.RAW:
    case LINKTYPE.RAW_ALT1:
    case LINKTYPE.RAW_ALT2:
    case LINKTYPE.IPV4:
    case LINKTYPE.IPV6:
      if (data.length < 1) return null;
      type = data[0]! >> 4 === 4 ? 0x0800 : 0x86dd;
      break;
    default:
      return null;
  }
  let src: string;
  let dst: string;
  let q: number;
  let ipEnd: number;
  if (type === 0x0800) {
    if (p + 20 > data.length || data[p]! >> 4 !== 4) return null;
    const ihl = (data[p]! & 15) * 4;
    const total = (data[p + 2]! << 8) | data[p + 3]!;
    if (data[p + 9] !== 17 || ((data[p + 6]! << 8) | data[p + 7]!) & 0x1fff) return null;
    src = v4ToString(v4FromBytes(data, p + 12));
    dst = v4ToString(v4FromBytes(data, p + 16));
    q = p + ihl;
    ipEnd = Math.min(data.length, p + (total || data.length));
  } else if (type === 0x86dd) {
    if (p + 40 > data.length || data[p]! >> 4 !== 6 || data[p + 6] !== 17) return null;
    src = v6ToString(data, p + 8);
    dst = v6ToString(data, p + 24);
    q = p + 40;
    ipEnd = Math.min(data.length, q + ((data[p + 4]! << 8) | data[p + 5]!));
  } else return null;
  if (q + 8 > ipEnd) return null;
  const ulen = (data[q + 4]! << 8) | data[q + 5]!;
  const end = ulen >= 8 ? Math.min(ipEnd, q + ulen) : ipEnd;
  return {
    src,
    srcPort: (data[q]! << 8) | data[q + 1]!,
    dst,
    dstPort: (data[q + 2]! << 8) | data[q + 3]!,
    payload: data.subarray(q + 8, end),
  };
}
