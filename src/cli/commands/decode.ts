import { readFileSync } from 'node:fs';
import { parseFlags, type Command } from '../command.js';
import {
  decodeFlowCapture,
  decodeMirrorCapture,
  PcapFormatError,
  type DstTotals,
} from '../../capture/index.js';

const help = `Usage: breakwater decode FILE.pcap [--json] [--mirror]

Decode a capture and print per-destination totals and per-exporter statistics.
Without --mirror the file holds exporter datagrams (NetFlow v5/v9, IPFIX, sFlow v5 as UDP
payloads on any port; the format is detected by version). With --mirror it holds mirrored
frames (Ethernet, VLAN, MPLS, GRE, L2TP), counted one packet per frame at wire length.
pcap and pcapng are both read.

  --json     one JSON object: {"per_dst": {"<ip>": {"flows", "packets", "bytes"}}, "totals", "exporters"}
             (packets and bytes scaled by sampling; flows = flow records or sFlow samples)
  --mirror   the file is a port-mirror capture
`;

function fmtRow(ip: string, t: DstTotals, mirror: boolean): string {
  return mirror
    ? `${ip.padEnd(40)} ${String(t.packets).padStart(12)} ${String(t.bytes).padStart(16)}`
    : `${ip.padEnd(40)} ${String(t.flows).padStart(10)} ${String(t.packets).padStart(12)} ${String(t.bytes).padStart(16)}`;
}

export const command: Command = {
  name: 'decode',
  summary: 'decode a pcap of flow datagrams (or --mirror frames) into per-destination totals',
  help,
  async run(argv) {
    const { flags, positionals, unknown } = parseFlags(argv, { boolean: ['json', 'mirror'] });
    if (unknown.length || positionals.length !== 1) {
      process.stderr.write(`breakwater decode: ${unknown[0] ?? 'expected exactly one FILE'}\n${help}`);
      return 2;
    }
    const file = positionals[0]!;
    let buf: Uint8Array;
    try {
      buf = readFileSync(file);
    } catch (e) {
      process.stderr.write(
        `breakwater decode: ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}\n`,
      );
      return 1;
    }
    const mirror = flags.mirror === true;
    let result: ReturnType<typeof decodeFlowCapture> | ReturnType<typeof decodeMirrorCapture>;
    try {
      result = mirror ? decodeMirrorCapture(buf, `mirror:${file}`) : decodeFlowCapture(buf);
    } catch (e) {
      if (e instanceof PcapFormatError) {
        process.stderr.write(`breakwater decode: ${file}: ${e.message}\n`);
        return 1;
      }
      throw e;
    }
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return 0;
    }
    const rows = Object.entries(result.per_dst).sort(
      (a, b) => b[1].bytes - a[1].bytes || (a[0] < b[0] ? -1 : 1),
    );
    const out: string[] = [];
    out.push(
      mirror
        ? `${'destination'.padEnd(40)} ${'packets'.padStart(12)} ${'bytes'.padStart(16)}`
        : `${'destination'.padEnd(40)} ${'flows'.padStart(10)} ${'packets'.padStart(12)} ${'bytes'.padStart(16)}`,
    );
    for (const [ip, t] of rows) out.push(fmtRow(ip, t, mirror));
    out.push('');
    out.push(
      'totals: ' +
        Object.entries(result.totals)
          .map(([k, v]) => `${k}=${v}`)
          .join(' '),
    );
    for (const e of result.exporters) {
      out.push(
        'exporter ' +
          Object.entries(e)
            .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`)
            .join(' '),
      );
    }
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  },
};
