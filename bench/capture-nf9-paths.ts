/**
 * NetFlow v9 / IPFIX record paths side by side: the compiled decoder of a fixed-length
 * template (src/capture/formats/codegen.ts) and the generic path (nf9-record.ts, the one a
 * runtime without code generation uses), on the same fixtures, one core. Prints records/s
 * of each and their ratio.
 *   node dist/bench/capture-nf9-paths.js [seconds per case, default 2]
 */
import { readFileSync } from 'node:fs';
import { capturePayloads, FlowDecoder, type FlowRecord, type FlowSink } from '../src/capture/index.js';
import { codegen } from '../src/capture/formats/codegen.js';

const root = new URL('../../test/fixtures/flows/', import.meta.url);
const secs = Number(process.argv[2] ?? 2);

class HostCounters implements FlowSink {
  readonly pkts = new Float64Array(65536);
  readonly flows = new Float64Array(65536);
  onFlow(r: FlowRecord): void {
    const h = r.ipVersion === 4 ? r.dst4 & 0xffff : (r.dst6[14]! << 8) | r.dst6[15]!;
    this.pkts[h] += r.packets;
    this.flows[h] += r.flows;
  }
}

/** Records/s of one capture with templates compiled (or not: codegen.enabled is read at first use). */
function run(name: string, compiled: boolean): number {
  codegen.enabled = compiled;
  const dgrams = capturePayloads(readFileSync(new URL(`${name}.pcap`, root)));
  const d = new FlowDecoder(new HostCounters());
  for (let i = 0; i < 20; i++) for (const g of dgrams) d.decode(g, '127.0.0.1', 0);
  const before = d.stats()[0]!.records;
  const now = Date.now();
  const t0 = performance.now();
  while (performance.now() - t0 < secs * 1000) for (const g of dgrams) d.decode(g, '127.0.0.1', now);
  const el = (performance.now() - t0) / 1000;
  const st = d.stats()[0]!;
  if (st.internalErrors || st.malformed)
    throw new Error(`${name}: ${st.internalErrors} internal errors, ${st.malformed} malformed`);
  return (st.records - before) / el;
}

console.log(`NetFlow v9 / IPFIX record paths (one core, ${secs} s per case, node ${process.version})`);
for (const name of ['udp_dns_amp.nf9', 'syn_flood.nf9', 'udp_dns_amp.ipfix', 'background.ipfix']) {
  const gen = run(name, true);
  const generic = run(name, false);
  console.log(
    `${name.padEnd(20)} generated ${(gen / 1e6).toFixed(2).padStart(6)}M records/s  generic ${(generic / 1e6).toFixed(2).padStart(6)}M records/s  (${(gen / generic).toFixed(2)}x)`,
  );
}
codegen.enabled = true;
