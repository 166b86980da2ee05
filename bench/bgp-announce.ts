/**
 * Benchmark: announce N IPv4 /32 blackholes (default 100,000) to BIRD and to GoBGP and time
 * how long until the router holds them all; then withdraw them all. For comparison the
 * same N are fed to Debian's ExaBGP through its text API, one `announce route` line per
 * prefix (how FastNetMon drives it), in the same run.
 *
 *   node dist/bench/bgp-announce.js [--n 100000] [--routers bird,gobgp] [--exabgp api|static|none]
 *
 * Addresses: routers 127.0.0.221 (BIRD) / .222 (GoBGP) port 11279, Breakwater .223, ExaBGP .224.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBird, startGobgp, waitFor, haveBinary, type Router } from '../test/helpers/routers.js';
import { bgpTestConfig, peerConfig, blackholes } from '../test/helpers/bgp-config.js';
import { createSpeaker } from '../src/bgp/index.js';
import { logger } from '../src/log.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const N = Number(opt('n', '100000'));
const ROUTERS = opt('routers', 'bird,gobgp').split(',') as ('bird' | 'gobgp')[];
const EXA = opt('exabgp', 'api');
const PORT = 11279;
const ADDR = { bird: '127.0.0.221', gobgp: '127.0.0.222', us: '127.0.0.223', exa: '127.0.0.224' };
const ROUTER_AS = 65000;
const SPEAKER_AS = 65100;
const NH = '192.0.2.1';
const COMM = '65535:666';
const LARGE = '64512:666:1';

logger.level = 'warn';

interface Row {
  speaker: string;
  router: string;
  n: number;
  startToEstablished: number;
  establishedToAllHeld: number;
  updates: number;
  withdrawToZero: number | null;
  withdrawUpdates: number | null;
}
const rows: Row[] = [];
const s = (ms: number) => (ms / 1000).toFixed(3);

async function router(kind: 'bird' | 'gobgp', peerAddr: string): Promise<Router> {
  const o = {
    address: ADDR[kind],
    port: PORT,
    asn: ROUTER_AS,
    peers: [{ address: peerAddr, asn: SPEAKER_AS, passive: true }],
  };
  return kind === 'bird' ? startBird(o) : startGobgp(o);
}

async function pollUntil(r: Router, want: number, timeoutMs: number): Promise<number> {
  const every = r.kind === 'bird' ? 20 : 50;
  await waitFor(
    `${r.kind} holding ${want}`,
    async () => (await r.countRoutes('ipv4-unicast')) === want,
    timeoutMs,
    every,
  );
  return performance.now();
}

async function breakwater(kind: 'bird' | 'gobgp'): Promise<void> {
  const r = await router(kind, ADDR.us);
  const routes = blackholes(N, '10.0.0.0', NH, [COMM], [LARGE]);
  const cfg = bgpTestConfig({
    local_as: SPEAKER_AS,
    router_id: ADDR.us,
    peers: [
      peerConfig({
        name: kind,
        address: ADDR[kind],
        port: PORT,
        remote_as: ROUTER_AS,
        local_as: SPEAKER_AS,
        local_address: ADDR.us,
        families: ['ipv4-unicast'],
      }),
    ],
  });
  try {
    const t0 = performance.now();
    const sp = createSpeaker(cfg, { backoffBaseMs: 200 });
    let tEst = 0;
    sp.on('established', () => (tEst = performance.now()));
    sp.sync(routes);
    await sp.start();
    const tFull = await pollUntil(r, N, 120_000);
    const upd = sp.status()[0]!.updates_out - 1; // minus End-of-RIB
    const tw0 = performance.now();
    sp.sync([]);
    const tw1 = await pollUntil(r, 0, 120_000);
    const wd = sp.status()[0]!.updates_out - 1 - upd;
    rows.push({
      speaker: 'breakwater',
      router: kind,
      n: N,
      startToEstablished: tEst - t0,
      establishedToAllHeld: tFull - tEst,
      updates: upd,
      withdrawToZero: tw1 - tw0,
      withdrawUpdates: wd,
    });
    await sp.stop();
  } finally {
    await r.stop();
  }
}

async function exabgp(kind: 'bird' | 'gobgp'): Promise<void> {
  const r = await router(kind, ADDR.exa);
  const dir = mkdtempSync(join(tmpdir(), 'bw-exabgp-'));
  const feed = fileURLToPath(new URL('./bgp-exabgp-feed.js', import.meta.url));
  const lines: string[] = [];
  const statics: string[] = [];
  for (const rt of blackholes(N, '10.0.0.0', NH, [COMM], [LARGE])) {
    lines.push(`announce route ${rt.key} next-hop ${NH} community [${COMM}] large-community [${LARGE}]\n`);
    statics.push(`    route ${rt.key} next-hop ${NH} community [${COMM}] large-community [${LARGE}];\n`);
  }
  writeFileSync(join(dir, 'announce.txt'), lines.join(''));
  let conf =
    EXA === 'api'
      ? `process feed {\n  run ${process.execPath} ${feed} ${join(dir, 'announce.txt')};\n  encoder text;\n}\n`
      : '';
  conf += `neighbor ${ADDR[kind]} {\n  router-id ${ADDR.exa};\n  local-address ${ADDR.exa};\n  local-as ${SPEAKER_AS};\n  peer-as ${ROUTER_AS};\n  connect ${PORT};\n  hold-time 90;\n  family { ipv4 unicast; }\n`;
  conf +=
    EXA === 'api'
      ? '  api { processes [ feed ]; neighbor-changes; }\n}\n'
      : `  static {\n${statics.join('')}  }\n}\n`;
  writeFileSync(join(dir, 'exabgp.conf'), conf);
  const env = {
    ...process.env,
    'exabgp.daemon.drop': 'false',
    'exabgp.api.cli': 'false',
    'exabgp.log.destination': 'stdout',
    'exabgp.api.ack': 'true',
  };
  const t0 = performance.now();
  const child = spawn('exabgp', [join(dir, 'exabgp.conf')], { env, stdio: 'ignore', detached: true });
  try {
    await waitFor('ExaBGP session', async () => (await r.peerState(ADDR.exa)) === 'Established', 120_000, 20);
    const tEst = performance.now();
    const tFull = await pollUntil(r, N, 600_000);
    rows.push({
      speaker: `exabgp-${EXA}`,
      router: kind,
      n: N,
      startToEstablished: tEst - t0,
      establishedToAllHeld: tFull - tEst,
      updates: NaN,
      withdrawToZero: null,
      withdrawUpdates: null,
    });
  } finally {
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      /* gone */
    }
    await new Promise((res) => setTimeout(res, 500));
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
    await r.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const kind of ROUTERS) {
  if (!(await haveBinary(kind === 'bird' ? 'bird' : 'gobgpd'))) continue;
  await breakwater(kind);
  if (EXA !== 'none' && (await haveBinary('exabgp'))) await exabgp(kind);
}
console.log(
  `\nBGP announce benchmark: ${N} IPv4 /32 (next hop ${NH}, community ${COMM}, large ${LARGE}), eBGP ${SPEAKER_AS} -> ${ROUTER_AS}, 4096-byte UPDATEs`,
);
console.log(
  '| speaker | router | start->Established s | Established->all held s | UPDATEs | withdraw->0 held s | withdraw UPDATEs |',
);
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.speaker} | ${r.router} | ${s(r.startToEstablished)} | ${s(r.establishedToAllHeld)} | ${Number.isNaN(r.updates) ? '-' : r.updates} | ${r.withdrawToZero === null ? '-' : s(r.withdrawToZero)} | ${r.withdrawUpdates ?? '-'} |`,
  );
}
process.exit(0);
