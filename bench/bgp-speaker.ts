/**
 * Breakwater's speaker for the shared BGP harness (../shared/bench/bgp/bench.py, "Speaker
 * contract" in its RESULTS.md):
 *
 *   ./bench.py --router bird --speaker 'node /work/main/dist/bench/bgp-speaker.js' --label breakwater
 *
 * `prepare` does nothing; `run` connects from SPEAKER_ADDR to ROUTER_ADDR:ROUTER_PORT and
 * announces N /32 from PREFIX_BASE with NEXT_HOP, COMMUNITY and LARGE_COMMUNITY. SIGUSR1
 * withdraws them all (session stays up), SIGTERM withdraws, sends Cease and exits.
 */
import { createSpeaker } from '../src/bgp/index.js';
import { logger } from '../src/log.js';
import { bgpTestConfig, peerConfig, blackholes } from '../test/helpers/bgp-config.js';

const env = (k: string, d?: string): string => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};

const cmd = process.argv[2];
if (cmd === 'prepare') process.exit(0);
if (cmd !== 'run') {
  process.stderr.write('usage: bgp-speaker.js prepare|run\n');
  process.exit(2);
}
logger.level = process.env.BREAKWATER_LOG_LEVEL ?? 'info';
const speakerAddr = env('SPEAKER_ADDR', '127.0.0.216');
const speakerAs = Number(env('SPEAKER_AS', '65100'));
const cfg = bgpTestConfig({
  local_as: speakerAs,
  router_id: speakerAddr,
  peers: [
    peerConfig({
      name: 'router',
      address: env('ROUTER_ADDR'),
      port: Number(env('ROUTER_PORT', '179')),
      remote_as: Number(env('ROUTER_AS')),
      local_as: speakerAs,
      local_address: speakerAddr,
      families: ['ipv4-unicast', 'ipv6-unicast', 'ipv4-flowspec', 'ipv6-flowspec'],
    }),
  ],
});
const routes = blackholes(
  Number(env('N', '100000')),
  env('PREFIX_BASE', '10.0.0.0'),
  env('NEXT_HOP', '192.0.2.1'),
  [env('COMMUNITY', '65535:666')],
  [env('LARGE_COMMUNITY', '64512:666:1')],
);
const sp = createSpeaker(cfg, { backoffBaseMs: 200 });
sp.sync(routes);
await sp.start();
process.on('SIGUSR1', () => sp.sync([]));
process.on('SIGTERM', () => {
  void sp.stop().then(() => process.exit(0));
});
