/**
 * pcap writing (the reading side is pcap.ts): classic pcap files of raw packet headers, as
 * detection saves an attack's samples (GET /attacks/{id}/pcap and the attack pcap files).
 */
/** Extra per-sample data needed for a pcap: link type and wire length of each header. */
export interface PcapEntry {
  timeMs: number;
  linkType: number;
  header: Uint8Array;
  frameLength: number;
}

/**
 * Classic pcap (draft-ietf-opsawg-pcap §4 file header, §5 packet records): µs timestamps, little-endian, snaplen 65535.
 * All entries must share one link type; others are skipped. Null when there is none.
 */
export function buildPcap(entries: readonly PcapEntry[]): Uint8Array | null {
  if (entries.length === 0) return null;
  const link = entries[0]!.linkType;
  const use = entries.filter((e) => e.linkType === link);
  let size = 24;
  for (const e of use) size += 16 + e.header.length;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0xa1b2c3d4, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setInt32(8, 0, true);
  dv.setUint32(12, 0, true);
  dv.setUint32(16, 65535, true);
  dv.setUint32(20, link, true);
  let off = 24;
  for (const e of use) {
    const sec = Math.floor(e.timeMs / 1000);
    const usec = Math.floor((e.timeMs - sec * 1000) * 1000);
    dv.setUint32(off, sec >>> 0, true);
    dv.setUint32(off + 4, Math.min(999999, Math.max(0, usec)), true);
    dv.setUint32(off + 8, e.header.length, true);
    dv.setUint32(off + 12, Math.max(e.frameLength, e.header.length), true);
    out.set(e.header, off + 16);
    off += 16 + e.header.length;
  }
  return out;
}
