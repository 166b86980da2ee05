/**
 * Benchmark: N static routes (default 100,000 IPv4 /32 blackholes) written inline in the
 * config (`bgp.static_routes`), `breakwater run` started as a process: time from the spawn
 * until BIRD holds all N (config parse, validation, start, session, announce). ExaBGP with
 * the same N in its static config, in the same run, for comparison (issue 15 item 4).
 *
 *   node dist/bench/static-config.js [--n 100000] [--exabgp static|none]
 *
 * Addresses: BIRD 127.0.0.226 port 11279, Breakwater 127.0.0.227, ExaBGP 127.0.0.228.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBird, waitFor, haveBinary, type Router } from '../test/helpers/routers.js';
import { BIN } from '../test/helpers/daemon.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const N = Number(opt('n', '100000'));
const EXA = opt('exabgp', 'static');
const PORT = 11279;
const ADDR = { bird: '127.0.0.226', us: '127.0.0.227', exa: '127.0.0.228' };
const ROUTER_AS = 65000;
const SPEAKER_AS = 65100;
const NH = '192.0.2.1';
const COMM = '65535:666';

function hostOf(i: number): string {
  const a = (10 << 24) + i;
  return `${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

async function bird(peer: string): Promise<Router> {
  return startBird({
    address: ADDR.bird,
    port: PORT,
    asn: ROUTER_AS,
    peers: [{ address: peer, asn: SPEAKER_AS, passive: true }],
  });
}

function kill(child: ChildProcess, group = false): void {
  try {
    if (group) process.kill(-child.pid!, 'SIGKILL');
    else child.kill('SIGKILL');
  } catch {
    /* gone */
  }
}

const rows: { speaker: string; n: number; spawnToHeld: number; configBytes: number }[] = [];

async function breakwater(): Promise<void> {
  const r = await bird(ADDR.us);
  const dir = mkdtempSync(join(tmpdir(), 'bw-static-'));
  const lines = [
    'networks: [10.0.0.0/8]',
    'capture: { listeners: [] }',
    'api: { enabled: false }',
    `state_dir: ${join(dir, 'state')}`,
    `logging: { level: ${opt('log', 'warn')} }`,
    'bgp:',
    `  local_as: ${SPEAKER_AS}`,
    `  router_id: ${ADDR.us}`,
    `  peers: [{ name: bird, address: ${ADDR.bird}, port: ${PORT}, remote_as: ${ROUTER_AS}, local_address: ${ADDR.us}, families: [ipv4-unicast] }]`,
    '  static_routes:',
  ];
  for (let i = 0; i < N; i++)
    lines.push(`    - { prefix: ${hostOf(i)}/32, next_hop: ${NH}, communities: ['${COMM}'] }`);
  const text = `${lines.join('\n')}\n`;
  writeFileSync(join(dir, 'main.yaml'), text);
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    [
      ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
      BIN,
      'run',
      '--config',
      join(dir, 'main.yaml'),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  try {
    await waitFor(`bird holding ${N}`, async () => (await r.countRoutes('ipv4-unicast')) === N, 120_000, 20);
    rows.push({
      speaker: 'breakwater run (inline static_routes)',
      n: N,
      spawnToHeld: performance.now() - t0,
      configBytes: text.length,
    });
  } finally {
    // SIGTERM first: a profile asked for with BENCH_NODE_ARGS=--cpu-prof is written on a clean exit.
    child.kill('SIGTERM');
    await new Promise((res) => setTimeout(res, 1500));
    kill(child);
    await r.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function exabgp(): Promise<void> {
  const r = await bird(ADDR.exa);
  const dir = mkdtempSync(join(tmpdir(), 'bw-exabgp-'));
  const statics: string[] = [];
  for (let i = 0; i < N; i++) statics.push(`    route ${hostOf(i)}/32 next-hop ${NH} community [${COMM}];\n`);
  const conf =
    `neighbor ${ADDR.bird} {\n  router-id ${ADDR.exa};\n  local-address ${ADDR.exa};\n  local-as ${SPEAKER_AS};\n  peer-as ${ROUTER_AS};\n  connect ${PORT};\n  hold-time 90;\n  family { ipv4 unicast; }\n` +
    `  static {\n${statics.join('')}  }\n}\n`;
  writeFileSync(join(dir, 'exabgp.conf'), conf);
  const env = {
    ...process.env,
    'exabgp.daemon.drop': 'false',
    'exabgp.api.cli': 'false',
    'exabgp.log.destination': 'stdout',
  };
  const t0 = performance.now();
  const child = spawn('exabgp', [join(dir, 'exabgp.conf')], { env, stdio: 'ignore', detached: true });
  try {
    await waitFor(`bird holding ${N}`, async () => (await r.countRoutes('ipv4-unicast')) === N, 600_000, 20);
    rows.push({
      speaker: 'exabgp (static config)',
      n: N,
      spawnToHeld: performance.now() - t0,
      configBytes: conf.length,
    });
  } finally {
    kill(child, true);
    await r.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (!(await haveBinary('bird'))) throw new Error('bird is needed');
await breakwater();
if (EXA !== 'none' && (await haveBinary('exabgp'))) await exabgp();
console.log(`\nStatic config benchmark: ${N} IPv4 /32 static routes, process spawn -> BIRD holds all`);
console.log('| speaker | routes | config bytes | spawn -> all held s |');
console.log('|---|---|---|---|');
for (const r of rows)
  console.log(`| ${r.speaker} | ${r.n} | ${r.configBytes} | ${(r.spawnToHeld / 1000).toFixed(3)} |`);
process.exit(0);
