/**
 * Decode + normalise + a trivial per-host counter update, from in-memory fixture bytes,
 * on one core. Prints NetFlow v9 records/s (goal 20M/s), IPFIX and v5 records/s, sFlow
 * samples/s (goal 10M/s) and mirror frames/s.
 * Each format's figures come from its own arm: --format nf9|ipfix|nf5|sflow|mirror runs only
 * that one (the generated and generic NetFlow v9/IPFIX paths: bench/capture-nf9-paths.ts).
 *   node dist/bench/capture-decode.js [seconds per case, default 2] [--format F]
 */
import { readFileSync } from 'node:fs';
import {
  capturePayloads,
  FlowDecoder,
  forEachPacket,
  MirrorDecoder,
  type FlowRecord,
  type FlowSink,
} from '../src/capture/index.js';

const root = new URL('../../test/fixtures/', import.meta.url);
const argv = process.argv.slice(2);
const fi = argv.indexOf('--format');
const only = fi >= 0 ? argv.splice(fi, 2)[1] : undefined;
const secs = Number(argv[0] ?? 2);
/** Whether a case of this format runs (all without --format). */
const arm = (name: string) => only === undefined || name.endsWith(`.${only}`) || name === only;

/** Per-host counters as a detection core would keep them: typed arrays indexed by host. */
class HostCounters implements FlowSink {
  readonly pkts = new Float64Array(65536);
  readonly bytes = new Float64Array(65536);
  readonly flows = new Float64Array(65536);
  onFlow(r: FlowRecord): void {
    const h = r.ipVersion === 4 ? r.dst4 & 0xffff : (r.dst6[14]! << 8) | r.dst6[15]!;
    this.pkts[h] += r.packets;
    this.bytes[h] += r.bytes;
    this.flows[h] += r.flows;
  }
}

function runFlows(name: string, unit: string): number {
  const dgrams = capturePayloads(readFileSync(new URL(`flows/${name}.pcap`, root)));
  const sink = new HostCounters();
  const d = new FlowDecoder(sink);
  // Warm up (templates learned, JIT settled).
  for (let i = 0; i < 20; i++) for (const g of dgrams) d.decode(g, '127.0.0.1', 0);
  const before = d.stats()[0]!.records;
  const t0 = performance.now();
  let passes = 0;
  const now = Date.now();
  while (performance.now() - t0 < secs * 1000) {
    for (let i = 0; i < dgrams.length; i++) d.decode(dgrams[i]!, '127.0.0.1', now);
    passes++;
  }
  const el = (performance.now() - t0) / 1000;
  const st = d.stats()[0]!;
  const n = st.records - before;
  const rate = n / el;
  const perDgram = n / passes / dgrams.length;
  console.log(
    `${name.padEnd(22)} ${(rate / 1e6).toFixed(2).padStart(6)}M ${unit}/s  (${n} in ${el.toFixed(2)} s, ${perDgram.toFixed(1)} per datagram, ${((dgrams.length * passes) / el / 1e3).toFixed(0)}k datagrams/s, malformed ${st.malformed})`,
  );
  return rate;
}

function runMirror(name: string): number {
  const frames: { data: Uint8Array; len: number }[] = [];
  forEachPacket(readFileSync(new URL(`mirror/${name}.pcap`, root)), (p) =>
    frames.push({ data: Uint8Array.from(p.data), len: p.origLen }),
  );
  const sink = new HostCounters();
  const m = new MirrorDecoder(sink, 'mirror:bench');
  for (let i = 0; i < 5; i++) for (const f of frames) m.onFrame(f.data, f.len, 1, 0);
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < secs * 1000) {
    for (let i = 0; i < frames.length; i++) m.onFrame(frames[i]!.data, frames[i]!.len, 1, 0);
    n += frames.length;
  }
  const rate = n / ((performance.now() - t0) / 1000);
  console.log(`mirror/${name.padEnd(15)} ${(rate / 1e6).toFixed(2).padStart(6)}M frames/s`);
  return rate;
}

console.log(
  `capture decode benchmark (one core, ${secs} s per case, node ${process.version})${only ? `, --format ${only}` : ''}`,
);
const rates: Record<string, number> = {};
for (const [name, unit] of [
  ['udp_dns_amp.nf9', 'records'],
  ['syn_flood.nf9', 'records'],
  ['udp_dns_amp.ipfix', 'records'],
  ['syn_flood.nf5', 'records'],
  ['syn_flood.sflow', 'samples'],
  ['udp6_flood.sflow', 'samples'],
] as const) {
  if (arm(name)) rates[name] = runFlows(name, unit);
}
if (arm('mirror')) runMirror('background');
const nf9 = rates['udp_dns_amp.nf9'];
const sf = rates['syn_flood.sflow'];
if (nf9 !== undefined && sf !== undefined)
  console.log(
    `NetFlow v9: ${(nf9 / 1e6).toFixed(2)}M records/s (goal 20M/s); sFlow: ${(sf / 1e6).toFixed(2)}M samples/s (goal 10M/s)`,
  );
