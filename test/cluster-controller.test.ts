/**
 * Issue 17, the controller role with real processes: a 3-node NATS JetStream cluster, two
 * `breakwater run` controllers (127.0.0.241, .242) and one GoBGP (127.0.0.240) peering
 * with both. 1,000 bans through the leader's API (and 3 attack-driven ones, which notify)
 * reach GoBGP from both controllers; kill -9 of the leader, three times: GoBGP holds every
 * route throughout, a new leader within 5 s lists every ban, and no `ban` is notified
 * twice; an attack that starts while nobody leads is banned once by the new leader. Then
 * kill -9 of the NATS node leading the bucket, then of all three: nothing lost, nothing
 * withdrawn or re-announced at GoBGP, a leader again once the bus is back; and a SIGTERM of
 * the leader hands over at once. A second test: a controller with no reachable bus.
 */
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { haveBinary } from './helpers/routers.js';
import { freePort, startDaemon, tempDir } from './helpers/daemon.js';
import { hosts, NAMES, startRig, type ClusterStatusAnswer, type Rig } from './helpers/cluster.js';
import { sflowStream, udpTo, type Stream } from './helpers/traffic.js';
import type { ListAnswer, MitigationAnswer } from './helpers/answers.js';

const BANS = 1000;
const ATTACKED = ['10.240.200.1', '10.240.200.2', '10.240.200.3'];
const TOTAL = BANS + ATTACKED.length;
const LATE = '10.240.200.9';

async function until<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  ms: number,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** GoBGP's destination count, polled every 50 ms until stop(): its lowest value. */
function watchRib(rig: Rig): { stop(): Promise<number> } {
  let low = Infinity;
  let on = true;
  let failed: unknown = null;
  const loop = (async () => {
    while (on) {
      try {
        low = Math.min(low, await rig.gobgp.countRoutes('ipv4-unicast'));
      } catch (e) {
        // A failed test stops GoBGP under a poll still running: only an error while
        // watching counts.
        if (on) failed = e;
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  watching.add(() => (on = false));
  return {
    async stop() {
      on = false;
      await loop;
      if (failed) throw failed;
      return low;
    },
  };
}
/** Polls to end when a test fails before it stops them. */
const watching = new Set<() => void>();

test('two controllers: 1,000 bans survive kill -9 of the leader (3 trials) and of a NATS node', {
  timeout: 300_000,
}, async (t) => {
  if (!(await haveBinary('gobgpd')) || !(await haveBinary('nats-server')))
    return t.skip('gobgpd or nats-server not installed');
  const rig = await startRig();
  const streams: Stream[] = [];
  try {
    let leader = await rig.leader();
    const follower = 1 - leader;
    // A follower refuses changes and names the leader.
    const refused = await rig.ctl[follower]!.api('PUT', '/blackhole/10.240.9.9');
    assert.equal(refused.status, 409);
    const cs = await rig.ctl[follower]!.api<ClusterStatusAnswer>('GET', '/cluster');
    const { controllers: _c, ...own } = cs.json.object;
    assert.deepEqual(
      { ...own, desired: 0 },
      {
        node: NAMES[follower],
        leader: NAMES[leader],
        role: 'follower',
        nats: true,
        desired: 0,
        takeovers: 0,
      },
    );
    // Any node shows every controller's BGP sessions (from the bus).
    await until(
      'both controllers and their GoBGP sessions in GET /cluster',
      async () => {
        const all = (await rig.ctl[follower]!.api<ClusterStatusAnswer>('GET', '/cluster')).json.object
          .controllers;
        const seen = all.map((c) => `${c.node} ${c.role} ${c.bgp.map((p) => `${p.name}=${p.state}`).join()}`);
        return (
          JSON.stringify(seen) ===
          JSON.stringify([
            `${NAMES[follower]} follower gobgp=Established`,
            `${NAMES[leader]} leader gobgp=Established`,
          ])
        );
      },
      10_000,
    );

    // Attacks seen by both controllers' collectors (30,000 pps each, ban at 20,000): only
    // the leader bans, and its notify script says `ban` once per host.
    for (const port of rig.sflow)
      for (const ip of ATTACKED) streams.push(sflowStream(port, '127.0.0.1', 10, 300, () => udpTo(ip)));
    await until('3 attack bans notified', async () => rig.bans().size === ATTACKED.length, 20_000);

    const put = await rig.ctl[leader]!.api<ListAnswer<{ success: boolean }>>(
      'PUT',
      '/blackhole',
      hosts(BANS),
    );
    assert.equal(put.status, 200);
    assert.equal(put.json.values.filter((v) => v.success).length, BANS);
    await until(
      `GoBGP holds ${TOTAL} from each controller`,
      async () => (await rig.adjIn(0)) === TOTAL && (await rig.adjIn(1)) === TOTAL,
      20_000,
    );
    assert.equal(
      (await rig.ctl[follower]!.api<ClusterStatusAnswer>('GET', '/cluster')).json.object.desired,
      TOTAL,
    );
    // A follower lists the cluster's bans (from the bucket), read-only.
    const fl = await rig.ctl[follower]!.api<ListAnswer<MitigationAnswer>>('GET', '/blackhole');
    assert.equal(fl.json.values.length, TOTAL);

    for (let trial = 1; trial <= 3; trial++) {
      leader = await rig.leader();
      const rib = watchRib(rig);
      const t0 = Date.now();
      await rig.ctl[leader]!.kill('SIGKILL');
      const next = await rig.leader(10_000);
      const took = Date.now() - t0;
      assert.notEqual(next, leader);
      assert.ok(took < 5000, `trial ${trial}: new leader after ${took} ms`);
      const listed = await rig.ctl[next]!.api<ListAnswer<MitigationAnswer>>('GET', '/blackhole');
      assert.equal(listed.json.values.length, TOTAL, `trial ${trial}: the new leader's manager`);
      // The killed controller comes back as a follower and announces the bucket again.
      await rig.ctl[leader]!.restart();
      await until(
        `trial ${trial}: the restarted controller announces all`,
        async () => (await rig.adjIn(leader)) === TOTAL,
        20_000,
      );
      const low = await rib.stop();
      assert.equal(low, TOTAL, `trial ${trial}: GoBGP's RIB went down to ${low}`);
      t.diagnostic(
        `trial ${trial}: ${NAMES[leader]} killed, ${NAMES[next]} leads after ${took} ms; GoBGP lowest ${low}`,
      );
    }
    // Every attack ban notified once: the takeovers restored them without a word.
    assert.deepEqual(
      [...rig.bans()].sort(),
      ATTACKED.map((ip) => [ip, 1]),
    );

    // An attack that starts while no controller leads: the follower sees it but does not
    // act; once it leads it bans it (once), from the attacks it saw while following.
    leader = await rig.leader();
    await rig.ctl[leader]!.kill('SIGKILL');
    for (const port of rig.sflow) streams.push(sflowStream(port, '127.0.0.1', 10, 300, () => udpTo(LATE)));
    const late = await rig.leader(10_000);
    await until('the late attack banned', async () => rig.bans().get(LATE) === 1, 20_000);
    await rig.ctl[leader]!.restart();
    const total = TOTAL + 1;
    await until(
      'the late ban at GoBGP from both',
      async () => (await rig.adjIn(0)) === total && (await rig.adjIn(1)) === total,
      20_000,
    );
    t.diagnostic(`an attack started with no leader: banned by ${NAMES[late]} after its takeover`);

    // kill -9 of one NATS node: the controllers on it reconnect to another, JetStream
    // keeps the buckets (3 replicas), and the routers see no UPDATE at all.
    // The node leading the desired bucket's RAFT group: the bucket must elect another.
    const victim = await rig.nats.streamLeader('KV_bw_mitigations');
    assert.ok(victim >= 0, 'the bucket has a leader');
    const before = [await rig.received(0), await rig.received(1)];
    const rib = watchRib(rig);
    await rig.nats.kill(victim);
    await new Promise((r) => setTimeout(r, 8000)); // longer than the 3 s lease
    await until(
      'both controllers on the bus again',
      async () => {
        for (const c of rig.ctl) {
          const s = (await c.api<ClusterStatusAnswer>('GET', '/cluster')).json.object;
          if (!s.nats || s.desired !== total) return false;
        }
        return true;
      },
      15_000,
    );
    leader = await rig.leader();
    t.diagnostic(
      `NATS node ${rig.nats.nodes[victim]!.name} (the bucket's RAFT leader) killed; ${NAMES[leader]} leads`,
    );
    assert.equal(
      (await rig.ctl[leader]!.api<ListAnswer<MitigationAnswer>>('GET', '/blackhole')).json.values.length,
      total,
    );
    assert.equal(await rib.stop(), total);
    assert.deepEqual(
      [await rig.received(0), await rig.received(1)],
      before,
      'UPDATEs GoBGP received across the NATS kill',
    );
    // And the cluster still takes changes.
    const one = await rig.ctl[leader]!.api('PUT', '/blackhole/10.240.250.1');
    assert.equal(one.status, 200);
    await until(
      'the new ban at GoBGP from both',
      async () => (await rig.adjIn(0)) === total + 1 && (await rig.adjIn(1)) === total + 1,
      15_000,
    );
    const metrics = (await rig.ctl[1 - leader]!.api<string>('GET', '/metrics')).json;
    assert.match(metrics, /^breakwater_cluster_leader 0$/m);
    assert.match(metrics, new RegExp(`^breakwater_cluster_desired_routes ${total + 1}$`, 'm'));
    assert.match(metrics, /^breakwater_cluster_bus_connected 1$/m);
    assert.match(metrics, /^breakwater_cluster_bus_disconnects_total \d+$/m);
    assert.match(metrics, /^breakwater_cluster_takeovers_total \d+$/m);
    if (await haveBinary('promtool')) {
      const lint = spawnSync('promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
      assert.equal(lint.status, 0, `promtool check metrics:\n${lint.stdout}${lint.stderr}`);
    }

    // The whole bus down (all three NATS nodes killed): the leader steps down, nobody
    // leads, and both controllers keep announcing everything; the bus back on its stores,
    // a leader again with the whole set, and the routers saw nothing of it.
    await rig.nats.start(victim);
    const quiet = [await rig.received(0), await rig.received(1)];
    const rib3 = watchRib(rig);
    await Promise.all([0, 1, 2].map((i) => rig.nats.kill(i)));
    await until(
      'no leader, both off the bus, both still holding the set',
      async () => {
        for (const c of rig.ctl) {
          const s = (await c.api<ClusterStatusAnswer>('GET', '/cluster')).json.object;
          if (s.nats || s.role !== 'follower' || s.desired !== total + 1) return false;
        }
        return true;
      },
      15_000,
    );
    await new Promise((r) => setTimeout(r, 2000));
    await rig.nats.start(0, 1, 2);
    leader = await rig.leader(30_000);
    assert.equal(
      (await rig.ctl[leader]!.api<ListAnswer<MitigationAnswer>>('GET', '/blackhole')).json.values.length,
      total + 1,
    );
    assert.equal(await rib3.stop(), total + 1);
    assert.deepEqual([await rig.received(0), await rig.received(1)], quiet, 'UPDATEs across the bus outage');
    t.diagnostic(`all of NATS killed and started again: ${NAMES[leader]} leads, nothing withdrawn`);
    // The watches came back too: a change reaches both controllers' sessions. Until the
    // restarted servers have elected the bucket's RAFT leader a write cannot be persisted and
    // the leader refuses it (503, nothing announced): the operator's retry then succeeds.
    const answers: number[] = [];
    await until(
      'a ban after the outage accepted',
      async () => {
        answers.push((await rig.ctl[leader]!.api('PUT', '/blackhole/10.240.250.2')).status);
        return answers.at(-1) === 200;
      },
      20_000,
    );
    assert.ok(
      answers.every((a) => a === 200 || a === 503),
      `answers before the bucket took it: ${answers.join(' ')}`,
    );
    await until(
      'a ban after the outage at GoBGP from both',
      async () => (await rig.adjIn(0)) === total + 2 && (await rig.adjIn(1)) === total + 2,
      20_000,
    );

    // A clean stop of the leader hands over at once: it deletes its lease key.
    const rib2 = watchRib(rig);
    const s0 = Date.now();
    const stopping = rig.ctl[leader]!.kill('SIGTERM');
    // The stopping one answers as leader until its API closes: ask the other.
    const after = 1 - leader;
    await until(
      'the other controller leads',
      async () =>
        (await rig.ctl[after]!.api<ClusterStatusAnswer>('GET', '/cluster')).json.object.role === 'leader',
      10_000,
    );
    const handover = Date.now() - s0;
    assert.equal(await stopping, 0);
    assert.ok(handover < 2000, `handover after SIGTERM took ${handover} ms`);
    assert.equal(await rib2.stop(), total + 2);
    t.diagnostic(`SIGTERM of ${NAMES[leader]}: ${NAMES[after]} leads after ${handover} ms`);
    // Five takeovers later, still one `ban` per attacked host.
    assert.deepEqual(
      [...rig.bans()].sort(),
      [...ATTACKED, LATE].sort().map((ip) => [ip, 1]),
    );
  } finally {
    for (const s of streams) s.stop();
    for (const w of watching) w();
    await rig.stop();
  }
});

test('a controller whose NATS is unreachable starts, changes nothing, says so, and stops cleanly', {
  timeout: 60_000,
}, async () => {
  const dir = tempDir('cluster-nobus');
  const port = await freePort('tcp', '127.0.0.246');
  const t0 = Date.now();
  const d = await startDaemon(
    dir,
    `
networks: [10.240.0.0/16]
capture: { listeners: [] }
api: { listen: "127.0.0.1:0" }
cluster: { nats: ["nats://127.0.0.246:${port}"], node: lonely, lease_ms: 1000 }
state_dir: ${dir}/state
`,
    {},
  );
  try {
    // Ready after the wait for the bucket (5 s), not blocked on the bus.
    assert.ok(Date.now() - t0 < 15_000);
    await d.waitLog(/cannot reach NATS/);
    const s = await d.api<ClusterStatusAnswer>('GET', '/cluster');
    assert.deepEqual(s.json.object, {
      node: 'lonely',
      leader: null,
      role: 'follower',
      nats: false,
      desired: 0,
      takeovers: 0,
      controllers: [],
    });
    const put = await d.api('PUT', '/blackhole/10.240.1.1');
    assert.equal(put.status, 409);
    assert.match(
      await d.api<string>('GET', '/metrics').then((r) => r.json),
      /^breakwater_cluster_bus_connected 0$/m,
    );
  } finally {
    const s0 = Date.now();
    assert.equal(await d.kill('SIGTERM'), 0);
    assert.ok(Date.now() - s0 < 5000, `stop took ${Date.now() - s0} ms`);
  }
});
