/**
 * Rule generation time on synthetic attacks of growing sample counts (half DNS amplification
 * with fragments, half background to the same host), plus the mirror SYN-flood fixture size.
 * Run: node dist/bench/flowspec-generate.js
 */
import type { FlowSample } from '../src/capture/flow.js';
import { generateRules } from '../src/flowspec/index.js';

function sample(i: number, attack: boolean): FlowSample {
  // Deterministic pseudo-random stream (LCG) so runs are comparable.
  const r = (Math.imul(i + 1, 1103515245) + 12345) >>> 0;
  const frag = attack && r % 5 < 2;
  return {
    timeMs: i,
    ipVersion: 4,
    src: `${(r >>> 24) | 1}.${(r >>> 16) & 255}.${(r >>> 8) & 255}.${r & 255}`,
    dst: '203.0.113.20',
    protocol: attack ? 17 : r % 3 === 0 ? 17 : 6,
    srcPort: attack ? (frag ? 0 : 53) : 1024 + (r % 60000),
    dstPort: attack ? (frag ? 0 : 1024 + (r % 60000)) : 443,
    icmpType: -1,
    icmpCode: -1,
    tcpFlags: attack ? 0 : 0x10,
    fragment: frag,
    packetLength: attack ? 1200 + (r % 300) : 60 + (r % 200),
    packets: 1,
    bytes: 1000,
    samplingRate: 1,
    exporter: 'bench',
  };
}

for (const n of [1_000, 10_000, 50_000]) {
  const attack = Array.from({ length: n }, (_, i) => sample(i, true));
  const baseline = Array.from({ length: Math.max(100, n / 10) }, (_, i) => sample(i + n, false));
  generateRules(attack, baseline); // warm-up
  const runs = n >= 50_000 ? 2 : 5;
  const t = performance.now();
  let g = generateRules(attack, baseline);
  for (let k = 1; k < runs; k++) g = generateRules(attack, baseline);
  const ms = (performance.now() - t) / runs;
  console.log(
    `${String(n).padStart(6)} attack + ${String(baseline.length).padStart(5)} baseline samples: ${ms.toFixed(1)} ms, ${g.rules.length} rules, coverage ${(g.coverage * 100).toFixed(1)}%`,
  );
}
