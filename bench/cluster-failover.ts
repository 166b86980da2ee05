/**
 * Benchmark (issue 17): controller failover. Two `breakwater run` controllers on a 3-node
 * NATS JetStream cluster peer with one GoBGP; H manual bans go in through the leader's API
 * (plus 3 attack-driven bans from an sFlow stream to both collectors, which notify). Then,
 * N times: kill -9 the leader, poll GoBGP's RIB every 50 ms, time until the other
 * controller answers GET /cluster as leader, check its manager lists every ban, start the
 * killed one again and wait until GoBGP holds its routes too. Prints per trial and a
 * summary: routes lost at GoBGP (its lowest count below the total), takeover median/max,
 * and `ban` notifications beyond one per attacked host.
 *
 *   node dist/bench/cluster-failover.js [--trials 20] [--hosts 1000]
 *
 * Addresses: GoBGP 127.0.0.240, controllers .241/.242, NATS .243-.245 (test/helpers/cluster.ts).
 */
import { hosts, NAMES, startRig, type Rig } from '../test/helpers/cluster.js';
import { sflowStream, udpTo, type Stream } from '../test/helpers/traffic.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const TRIALS = Number(opt('trials', '20'));
const HOSTS = Number(opt('hosts', '1000'));
const ATTACKED = ['10.240.200.1', '10.240.200.2', '10.240.200.3'];
const TOTAL = HOSTS + ATTACKED.length;

async function until(what: string, fn: () => Promise<boolean>, ms: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await fn().catch(() => false)) return Date.now() - t0;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** GoBGP's destination count every 50 ms until stop(): its lowest value. */
function watchRib(rig: Rig): { stop(): Promise<number> } {
  let low = Infinity;
  let on = true;
  const loop = (async () => {
    while (on) {
      low = Math.min(low, await rig.gobgp.countRoutes('ipv4-unicast'));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    async stop() {
      on = false;
      await loop;
      return low;
    },
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const rig = await startRig();
  const streams: Stream[] = [];
  try {
    for (const port of rig.sflow)
      for (const ip of ATTACKED) streams.push(sflowStream(port, '127.0.0.1', 10, 300, () => udpTo(ip)));
    await until('attack bans notified', async () => rig.bans().size === ATTACKED.length, 30_000);
    let leader = await rig.leader();
    const t0 = Date.now();
    const put = await rig.ctl[leader]!.api('PUT', '/blackhole', hosts(HOSTS));
    if (put.status !== 200) throw new Error(`PUT /blackhole: ${put.status}`);
    const spread = await until(
      'GoBGP holds all from both',
      async () => (await rig.adjIn(0)) === TOTAL && (await rig.adjIn(1)) === TOTAL,
      60_000,
    );
    console.log(
      `${HOSTS} bans + ${ATTACKED.length} attack bans: at GoBGP from both controllers ${Date.now() - t0} ms after the PUT (${spread} ms after its answer)`,
    );
    const takeovers: number[] = [];
    const restores: number[] = [];
    let lost = 0;
    let listedShort = 0;
    for (let trial = 1; trial <= TRIALS; trial++) {
      leader = await rig.leader();
      const rib = watchRib(rig);
      const k0 = Date.now();
      await rig.ctl[leader]!.kill('SIGKILL');
      const next = await rig.leader(20_000);
      const took = Date.now() - k0;
      takeovers.push(took);
      const listed = (
        (await rig.ctl[next]!.api<{ values: unknown[] }>('GET', '/blackhole')).json.values ?? []
      ).length;
      if (listed !== TOTAL) listedShort++;
      // The new leader's own account: the bucket read and the manager restored, in ms.
      const restored = [...rig.ctl[next]!.output().matchAll(/in the bucket in (\d+) ms/g)].pop()?.[1];
      restores.push(Number(restored ?? Number.NaN));
      await rig.ctl[leader]!.restart();
      await until(
        'the restarted controller announces all',
        async () => (await rig.adjIn(leader)) === TOTAL,
        30_000,
      );
      const low = await rib.stop();
      lost += Math.max(0, TOTAL - low);
      console.log(
        `trial ${trial}: killed ${NAMES[leader]}, ${NAMES[next]} leads after ${took} ms (read and restore ${restores[restores.length - 1]} ms), lists ${listed}, GoBGP lowest ${low}/${TOTAL}`,
      );
    }
    const dup = [...rig.bans().values()].reduce((a, n) => a + (n - 1), 0);
    console.log(
      `summary: ${TRIALS} trials, ${TOTAL} routes: routes lost at GoBGP ${lost}; takeover median ${median(takeovers)} ms, max ${Math.max(...takeovers)} ms (read and restore median ${median(restores)} ms); new leader listing short ${listedShort}; duplicate ban notifications ${dup}`,
    );
  } finally {
    for (const s of streams) s.stop();
    await rig.stop();
  }
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(e.stack ?? e.message);
    process.exit(1);
  },
);
