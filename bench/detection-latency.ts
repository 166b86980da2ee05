/**
 * End-to-end detection latency: `replay`-style sending of the SYN-flood captures
 * (test/fixtures/flows/syn_flood.{sflow,nf9}.pcap) into `breakwater run` at a steady
 * 60k pps of attack traffic against a 20k pps threshold, timing the first attack datagram
 * sent -> the ban notify script's first line (`date +%s.%N`). 5 trials per format by default.
 *
 *   node dist/bench/detection-latency.js [trials, default 5]
 *
 * Pacing: each datagram is decoded once beforehand to know how many (scaled) attack packets
 * to 203.0.113.10 it carries; datagrams go out when the cumulative attack packets divided by
 * 60,000 pps says so, with the datagrams before the first attack one sent first as background.
 * The daemon is a child process (bench/latency-daemon.sh writes its config), as in production.
 * For FastNetMon on the same attack, see ../shared/bench/fastnetmon/latency.py (bench/README.md).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { capturePayloads } from '../src/capture/input/replay.js';
import { FlowDecoder } from '../src/capture/decoder.js';
import type { FlowRecord } from '../src/capture/flow.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const VICTIM = 0xcb00710a; // 203.0.113.10
const ATTACK_PPS = 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Plan {
  payloads: Uint8Array[];
  attackPackets: number[];
  firstAttack: number;
}

function plan(file: string): Plan {
  const payloads = capturePayloads(readFileSync(join(ROOT, 'test/fixtures/flows', file)));
  let cur = 0;
  const sink = {
    onFlow: (r: FlowRecord) => {
      if (r.ipVersion === 4 && r.dst4 === VICTIM && r.protocol === 6 && (r.tcpFlags & 0x12) === 0x02)
        cur += r.packets;
    },
  };
  const dec = new FlowDecoder(sink, { defaultSamplingRate: 1, samplingOverrides: {} });
  const attackPackets = payloads.map((p) => {
    cur = 0;
    dec.decode(p, '127.0.0.1', Date.now());
    return cur;
  });
  return { payloads, attackPackets, firstAttack: attackPackets.findIndex((n) => n > 0) };
}

async function trial(format: 'sflow' | 'netflow9', p: Plan, port: number): Promise<number | null> {
  const wd = mkdtempSync(join(tmpdir(), 'bw-latency-'));
  const notify = join(wd, 'notify.sh');
  const log = join(wd, 'notify.log');
  writeFileSync(notify, `#!/bin/sh\necho "$(date +%s.%N) $*" >> '${log}'\ncat > /dev/null\n`);
  chmodSync(notify, 0o755);
  const d: ChildProcess = spawn(
    'sh',
    [join(ROOT, 'bench/latency-daemon.sh'), wd, notify, String(port), format],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  d.stdout!.on('data', (c: Buffer) => (out += c));
  d.stderr!.on('data', (c: Buffer) => (out += c));
  try {
    const until = Date.now() + 20_000;
    while (!/\bready\b/.test(out)) {
      if (Date.now() > until || d.exitCode !== null) throw new Error(`daemon not ready:\n${out}`);
      await sleep(20);
    }
    await sleep(1000 + Math.random() * 1000); // random phase against the daemon's tick
    const sock = dgram.createSocket('udp4');
    // Background first (what precedes the attack in the capture), then the attack paced.
    for (let i = 0; i < p.firstAttack; i++) sock.send(p.payloads[i]!, port, '127.0.0.1');
    await sleep(200);
    const t0 = Date.now();
    let sentPackets = 0;
    let banAt: number | null = null;
    for (let i = p.firstAttack; i < p.payloads.length && banAt === null; i++) {
      const due = t0 + (sentPackets / ATTACK_PPS) * 1000;
      const wait = due - Date.now();
      if (wait > 1) await sleep(wait);
      sock.send(p.payloads[i]!, port, '127.0.0.1');
      sentPackets += p.attackPackets[i]!;
      if (i % 16 === 0 && existsSync(log)) banAt = banTime(log);
    }
    const deadline = Date.now() + 5000;
    while (banAt === null && Date.now() < deadline) {
      await sleep(10);
      if (existsSync(log)) banAt = banTime(log);
    }
    sock.close();
    return banAt === null ? null : banAt - t0;
  } finally {
    d.kill('SIGTERM');
    await new Promise((r) => (d.exitCode !== null ? r(null) : d.once('exit', r)));
  }
}

function banTime(log: string): number | null {
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    const [t, ip, , , action] = line.split(' ');
    if (ip === '203.0.113.10' && action === 'ban') return Number(t) * 1000;
  }
  return null;
}

const trials = Number(process.argv[2] ?? 5);
for (const [format, file, port] of [
  ['sflow', 'syn_flood.sflow.pcap', 16343],
  ['netflow9', 'syn_flood.nf9.pcap', 12055],
] as const) {
  const p = plan(file);
  const total = p.attackPackets.reduce((a, b) => a + b, 0);
  const lat: number[] = [];
  for (let i = 0; i < trials; i++) {
    const ms = await trial(format, p, port);
    process.stdout.write(`${format} trial ${i}: ${ms === null ? 'no ban' : `${(ms / 1000).toFixed(3)} s`}\n`);
    if (ms !== null) lat.push(ms / 1000);
  }
  lat.sort((a, b) => a - b);
  const med = lat.length ? lat[Math.floor((lat.length - 1) / 2)]! : NaN;
  process.stdout.write(
    `${format}: ${file}, ${total} attack packets at ${ATTACK_PPS} pps vs a 20000 pps threshold: median ${med.toFixed(3)} s, min ${lat[0]?.toFixed(3)} s, max ${lat[lat.length - 1]?.toFixed(3)} s, ${lat.length}/${trials} banned (goal: median < 0.5 s)\n`,
  );
}
