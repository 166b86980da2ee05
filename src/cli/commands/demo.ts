/**
 * `breakwater demo`: a newcomer's first run. The daemon starts on a temporary state dir
 * with a BGP session to a receiving router inside this process, synthetic sFlow feeds it
 * background traffic, then a SYN flood (blackholed) and a DNS amplification (FlowSpec),
 * and the demo prints what is detected, announced and received, then stops cleanly.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFlags, type Command } from '../command.js';
import { causeText } from '../../mitigation/cause.js';
import { thresholdText } from '../../detection/layout.js';

const help = `Usage: breakwater demo [--keep] [--seconds N] [--stay]

Runs Breakwater against a built-in attack scenario, with no router needed:
  - the daemon starts on a temporary state dir, collecting sFlow on loopback;
  - a receiving BGP router runs inside this process (127.0.0.1, AS 65001);
  - synthetic sFlow (1:10 sampling) carries background traffic to 203.0.113.0/26, then a
    60k pps SYN flood on 203.0.113.10 (blackholed) and a 20k pps DNS amplification on
    203.0.113.20 (mitigated with a FlowSpec rule built from the attack's samples);
  - it prints what is detected, what is announced and what the router received, then
    stops the daemon cleanly (which withdraws every route) and removes the state dir.

  --keep        keep the temporary state dir (journal, attack pcaps) for a look afterwards
  --seconds N   length of each phase (default 3)
  --stay        after the tour, keep the daemon running (console at the printed URL, with the
                attacks in its history) until Ctrl-C
`;

function freePort(type: 'tcp' | 'udp'): Promise<number> {
  return new Promise((resolve, reject) => {
    if (type === 'tcp') {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    } else {
      const s = dgram.createSocket('udp4');
      s.once('error', reject);
      s.bind(0, '127.0.0.1', () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
    }
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const command: Command = {
  name: 'demo',
  summary: 'show an attack being detected and mitigated, no router needed',
  help,
  async run(argv) {
    const { flags, unknown, positionals } = parseFlags(argv, {
      boolean: ['keep', 'stay'],
      string: ['seconds'],
    });
    if (unknown.length || positionals.length) {
      process.stderr.write(`breakwater demo: ${unknown[0] ?? `unexpected argument ${positionals[0]}`}\n`);
      return 2;
    }
    const phaseMs = Math.max(1, Number(flags.seconds ?? 3)) * 1000;
    process.env.BREAKWATER_LOG_LEVEL ??= 'warn';
    const { Daemon } = await import('../../daemon.js');
    const { loadConfig } = await import('../../config/index.js');
    const { DemoReceiver } = await import('../../demo/receiver.js');
    const { makePacket, rng, sflowDatagram } = await import('../../demo/traffic.js');

    const dir = mkdtempSync(join(tmpdir(), 'breakwater-demo-'));
    const t0 = Date.now();
    const say = (msg: string) =>
      process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}\n`);

    const receiver = new DemoReceiver('127.0.0.1', 65001);
    const bgpPort = await receiver.listen(0);
    const sflowPort = await freePort('udp');
    const apiPort = await freePort('tcp');
    mkdirSync(join(dir, 'policies'));
    writeFileSync(
      join(dir, 'breakwater.yaml'),
      `networks: [203.0.113.0/24]
capture:
  listeners: [{ name: sflow, type: sflow, address: 127.0.0.1, port: ${sflowPort} }]
api: { listen: "127.0.0.1:${apiPort}" }
bgp:
  local_as: 65010
  router_id: 192.0.2.254
  peers:
    - { name: demo-router, address: 127.0.0.1, port: ${bgpPort}, remote_as: 65001, families: [ipv4-unicast, ipv6-unicast, ipv4-flowspec] }
state_dir: ./state
policies: ./policies
logging: { level: warn }
`,
    );
    writeFileSync(
      join(dir, 'policies', 'default.yaml'),
      `name: default
thresholds:
  ban:
    incoming: { total: { pps: 20000 }, udp: { mbps: 100 } }
actions:
  ban_time: 10m
  unban_only_if_attack_finished: false
  blackhole: { enabled: true, communities: ["65535:666"], next_hop: { ipv4: 192.0.2.1 } }
`,
    );
    writeFileSync(
      join(dir, 'policies', 'dns.yaml'),
      `name: dns
prefixes: [203.0.113.16/28]
actions:
  blackhole: { enabled: false }
  flowspec: { enabled: true, action: discard }
`,
    );

    const daemon = new Daemon({
      configFile: join(dir, 'breakwater.yaml'),
      config: loadConfig(join(dir, 'breakwater.yaml')),
    });
    receiver.on('up', () => say('router: BGP session established with Breakwater'));
    receiver.on('route', (r: { family: string; prefix: string; nextHop: string; communities: string[] }) =>
      say(
        `router: received ${r.family} ${r.prefix}${r.nextHop ? ` next-hop ${r.nextHop}` : ''}${r.communities.length ? ` communities ${r.communities.join(' ')}` : ''}`,
      ),
    );
    receiver.on('withdraw', (r: { family: string; prefix: string }) =>
      say(`router: withdrawn ${r.family} ${r.prefix}`),
    );

    say(
      `starting Breakwater (state in ${dir}, sFlow on 127.0.0.1:${sflowPort}, API on 127.0.0.1:${apiPort})`,
    );
    await daemon.start();
    say(
      `console: http://127.0.0.1:${apiPort}/ui/ (open it to watch the attacks live${flags.stay ? '' : '; --stay keeps it up after the tour'})`,
    );
    daemon.detector.on('attack_started', (a) =>
      say(
        `detected: ${a.details.attack_type} on ${a.ip} (${a.details.attack_direction}, ${Math.round(a.details.total_incoming_pps)} pps, threshold ${thresholdText(a.details.attack_detection_threshold_class, a.details.attack_detection_threshold_unit, a.details.attack_detection_threshold_value)})`,
      ),
    );
    daemon.manager.on('added', (m) =>
      say(
        `announce: ${m.kind} ${m.kind === 'flowspec' ? JSON.stringify(m.rule) : m.prefix} (cause: ${causeText(m.cause)})`,
      ),
    );
    daemon.manager.on('removed', (m, reason) => say(`withdraw: ${m.kind} ${m.prefix} (${reason})`));

    const sock = dgram.createSocket('udp4');
    const agent = { agent: '127.0.0.1', sequence: 0, sampleSequence: 0, uptimeMs: 0 };
    const r = rng(7);
    const RATE = 10; // 1:10 sampling
    const send = async (ms: number, pps: Record<string, number>) => {
      const end = Date.now() + ms;
      let carry: Record<string, number> = {};
      // Samples follow the wall clock, not the loop's count: on a loaded machine the 20 ms
      // sleep runs late, and a per-iteration quota would thin the traffic (the DNS victim's
      // baseline would then lack the normal DNS replies that justify the packet-length match).
      let last = Date.now();
      while (Date.now() < end) {
        const batch = [];
        const now = Date.now();
        const dt = Math.min(0.5, (now - last) / 1000);
        last = now;
        for (const [kind, rate] of Object.entries(pps)) {
          const want = (rate / RATE) * dt + (carry[kind] ?? 0);
          const n = Math.floor(want);
          carry[kind] = want - n;
          for (let i = 0; i < n; i++) batch.push(makePacket(kind as 'background', r));
        }
        for (let i = 0; i < batch.length; i += 8) {
          agent.uptimeMs = Date.now() - t0;
          sock.send(sflowDatagram(agent, batch.slice(i, i + 8), RATE), sflowPort, '127.0.0.1');
        }
        await sleep(20);
      }
      carry = {};
    };

    try {
      const until = Date.now() + 5000;
      while (!daemon.speaker.status().some((p) => p.state === 'Established') && Date.now() < until)
        await sleep(50);
      say(`phase 1: background traffic only (~3k pps to 203.0.113.0/26) for ${phaseMs / 1000}s`);
      await send(phaseMs, { background: 3000, resolver: 200 });
      say('phase 2: SYN flood, 60k pps to 203.0.113.10:80 from spoofed sources');
      await send(phaseMs, { background: 3000, resolver: 200, syn_flood: 60000 });
      say('phase 3: DNS amplification, 20k pps of 1.2-1.5 kB UDP from port 53 to 203.0.113.20');
      await send(phaseMs, { background: 3000, dns_amplification: 20000 });
      await sleep(1500);
      const res = await fetch(`http://127.0.0.1:${apiPort}/blackhole`).then((x) => x.json());
      say(`API GET /blackhole: ${JSON.stringify(res)}`);
      const fs = await fetch(`http://127.0.0.1:${apiPort}/flowspec`).then((x) => x.json());
      say(`API GET /flowspec: ${JSON.stringify(fs)}`);
      say(
        `router holds ${receiver.routes.size} route(s): ${[...receiver.routes.values()].map((x) => x.prefix).join(', ') || 'none'}`,
      );
      if (flags.stay) {
        say(`the daemon stays up: console at http://127.0.0.1:${apiPort}/ui/ — Ctrl-C to stop`);
        await new Promise<void>((r) => {
          process.once('SIGINT', r);
          process.once('SIGTERM', r);
        });
      }
    } finally {
      sock.close();
      say('stopping Breakwater: a clean stop withdraws everything it announced');
      await daemon.stop('demo finished');
      await sleep(300);
      say(`router holds ${receiver.routes.size} route(s) after the stop`);
      await receiver.close();
      if (!flags.keep) rmSync(dir, { recursive: true, force: true });
      else say(`state kept in ${dir}`);
    }
    return 0;
  },
};
