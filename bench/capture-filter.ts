/**
 * Flow filter cost per record (goal < 5 ns for 10 rules): ten typical rules from a config
 * (prefixes, protocol, port ranges, TCP flags, exporter, interfaces, packet length), compiled
 * by src/capture/filter.ts, run on a reused FlowRecord refilled from arrays as a decoder
 * does. The refill loop alone runs in the same process as the peer and is subtracted. Cases:
 * records no rule matches (all ten evaluated: the worst case), and a mix where 10% match.
 * Then the whole hot path: the detector's onFlow over 65,536 hosts without and with the
 * ten rules (capture.filters), records/s.
 *   node dist/bench/capture-filter.js [seconds per case, default 1]
 */
import { compileFilter } from '../src/capture/filter.js';
import { newFlowRecord, type FlowRecord } from '../src/capture/flow.js';
import { parseConfig } from '../src/config/index.js';
import { createDetector } from '../src/detection/index.js';

const secs = Number(process.argv[2] ?? 1);

const RULES = `
    - { action: drop, match: { source_prefixes: [198.51.100.0/24, 2001:db8:cd::/48], protocol: udp, source_ports: 443 } }
    - { action: drop, match: { destination_prefixes: [10.1.0.0/16], protocol: tcp, destination_ports: ["8000-8100"], tcp_flags: "ack,!syn" } }
    - { action: drop, match: { exporters: [192.0.2.99], input_interfaces: [7, "100-120"] } }
    - { action: drop, match: { protocol: [gre, esp] } }
    - { action: drop, match: { source_prefixes: [203.0.113.0/25], destination_ports: ">=60000" } }
    - { action: drop, match: { packet_length: "<29", protocol: udp } }
    - { action: drop, match: { source_ports: [123], protocol: udp, packet_length: ">=400", destination_prefixes: [10.250.0.0/16] } }
    - { action: drop, match: { output_interfaces: ["9000-9999"] } }
    - { action: drop, match: { source_prefixes: [192.0.2.0/28, 192.0.2.64/26, 100.64.0.0/10] } }
    - { action: drop, match: { destination_prefixes: [10.99.0.0/16], protocol: icmp } }
`;
const cfgText = (filters: boolean) =>
  `networks: [10.0.0.0/8]\ncapture:\n  listeners: []\n${filters ? `  filters:${RULES}` : ''}detection: { ipv6_max_hosts: 1000 }\n`;

const N = 1 << 16;
const dst4 = new Uint32Array(N);
const src4 = new Uint32Array(N);
const proto = new Uint8Array(N);
const sport = new Uint16Array(N);
const dport = new Uint16Array(N);
const flags = new Uint8Array(N);
const plen = new Uint16Array(N);
const pk = new Float64Array(N);
let seed = 4242;
const rnd = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 4294967296;
};
function fill(matchShare: number): void {
  for (let i = 0; i < N; i++) {
    dst4[i] = (0x0a140000 + Math.floor(rnd() * 65536)) >>> 0; // 10.20.x.y: monitored, no rule's destination
    src4[i] = (0x08000000 + Math.floor(rnd() * (1 << 24))) >>> 0; // 8.x.y.z: no rule's source
    const r = rnd();
    proto[i] = r < 0.6 ? 6 : r < 0.9 ? 17 : 1;
    sport[i] = 1024 + Math.floor(rnd() * 50000);
    dport[i] = [80, 443, 53, 22][Math.floor(rnd() * 4)]!;
    flags[i] = 0x18;
    plen[i] = 40 + Math.floor(rnd() * 1400);
    pk[i] = 1 + Math.floor(rnd() * 10);
    if (rnd() < matchShare) {
      // Rule 1: UDP from 198.51.100.0/24 port 443.
      src4[i] = (0xc6336400 + Math.floor(rnd() * 256)) >>> 0;
      proto[i] = 17;
      sport[i] = 443;
    }
  }
}

const rec = newFlowRecord();
rec.exporter = '192.0.2.1';
rec.samplingRate = 1;
rec.flows = 1;
rec.ipVersion = 4;
rec.ifIn = 3;
rec.ifOut = 4;

/** `f` returning false drops the record (a filter); anything else keeps it. */
function loop(count: number, f: (r: FlowRecord) => unknown): number {
  let kept = 0;
  for (let k = 0; k < count; k++) {
    const i = k & (N - 1);
    rec.dst4 = dst4[i]!;
    rec.src4 = src4[i]!;
    rec.protocol = proto[i]!;
    rec.srcPort = sport[i]!;
    rec.dstPort = dport[i]!;
    rec.tcpFlags = flags[i]!;
    rec.packetLength = plen[i]!;
    rec.packets = pk[i]!;
    rec.bytes = pk[i]! * plen[i]!;
    if (f(rec) !== false) kept++;
  }
  return kept;
}

/** ns per record of `f` over `secs`, median of 0.1 s segments. */
function measure(f: (r: FlowRecord) => unknown): number {
  const per = 2_000_000;
  loop(per * 3, f);
  const seg: number[] = [];
  const t0 = performance.now();
  while (performance.now() - t0 < secs * 1000) {
    const a = performance.now();
    loop(per, f);
    seg.push(((performance.now() - a) * 1e6) / per);
  }
  seg.sort((a, b) => a - b);
  return seg[seg.length >> 1]!;
}

const cfg = parseConfig('/bench/breakwater.yaml', cfgText(true));
const filter = compileFilter(cfg.filters)!;
console.log(
  `flow filters, ${filter.rules.length} rules, one core, ${secs} s per case (goal < 5 ns per record)`,
);
for (const share of [0, 0.1]) {
  fill(share);
  let sink = 0;
  const base = measure((r) => {
    sink += r.srcPort;
  });
  const withFilter = measure((r) => filter.keep(r));
  console.log(
    `  ${share === 0 ? 'no rule matches (all 10 evaluated)' : '10% match rule 1, 90% none       '}: ${(withFilter - base).toFixed(2)} ns/record ` +
      `(refill + filter ${withFilter.toFixed(2)} ns, refill alone ${base.toFixed(2)} ns)${sink < 0 ? '' : ''}`,
  );
}

fill(0);
for (const filters of [false, true]) {
  const c = parseConfig('/bench/breakwater.yaml', cfgText(filters));
  let now = 1_700_000_000_000;
  const det = createDetector(c, { now: () => now, initialSlots: 1 << 17 });
  const sink = det.sink;
  const feed = (n: number) => loop(n, (r) => sink.onFlow(r));
  for (let w = 0; w < 10; w++) {
    feed(N * 4);
    now += 100;
    det.tick(now);
  }
  const seg: number[] = [];
  const t0 = performance.now();
  while (performance.now() - t0 < secs * 2000) {
    const a = performance.now();
    feed(2_000_000);
    seg.push(2_000_000 / ((performance.now() - a) / 1000));
    now += 100;
    det.tick(now);
  }
  seg.sort((a, b) => a - b);
  const m = seg[seg.length >> 1]!;
  console.log(
    `  detector onFlow, 65,536 IPv4 hosts, ${filters ? '10 capture filter rules' : 'no filters            '}: ${(m / 1e6).toFixed(1)} M records/s (${(1e9 / m).toFixed(2)} ns/record, median 0.1 s segment)`,
  );
}
