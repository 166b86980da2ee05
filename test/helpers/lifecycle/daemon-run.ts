/**
 * The lifecycle model (test/helpers/lifecycle/model.ts) against the real thing: `breakwater
 * run` as a process, a real GoBGP as its router, the journal on disk, attacks as real
 * sFlow bursts into the collector, operators' adds and deletes through the HTTP API,
 * reloads by rewriting the policy files and SIGHUP, restarts by SIGTERM and by kill -9,
 * and peer flaps by restarting GoBGP. After every step GoBGP's RIB and the notify scripts'
 * calls must converge to what the model says.
 *
 * Real time runs here, so bans last an hour (expiry is the in-process model test's part),
 * escalation is off (it needs emergency rates) and blackhole/notify-only policies are used
 * (generated FlowSpec rules depend on the samples). LIFECYCLE_DAEMON_STEPS sets the length.
 * Two test files run it on two seeds in parallel (lifecycle-daemon-2.test.ts), within the
 * suite's per-file time limit.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { makePacket, rng as trafficRng, sflowDatagram, type SflowAgent } from '../../../src/demo/traffic.js';
import { freePort, recordingScript, startDaemon, tempDir, type DaemonHandle } from '../daemon.js';
import type { LiveAttackAnswer, ListAnswer, MitigationAnswer } from '../answers.js';
import { LifecycleModel } from './model.js';
import {
  COMMUNITIES,
  describeStep,
  HOSTGROUPS,
  HOSTS,
  INITIAL_POLICY,
  MAX_BLACKHOLES,
  NETWORKS,
  NEXT_HOP,
  rng,
  WHITELIST,
  type Pol,
  type Step,
} from './world.js';
import { haveBinary, startGobgp, waitFor, type Router } from '../routers.js';

export const STEPS = Number(process.env.LIFECYCLE_DAEMON_STEPS ?? 100);
/** IPv4 hosts inside networks and off the whitelist: the synthetic sFlow can attack them. */
const ATTACKABLE = [0, 1, 2, 3];

const BASE: Pol = { ...INITIAL_POLICY, banTimeMs: 3_600_000, statusDelayMs: 0, esc: false };

function policyYaml(
  name: string,
  prefixes: readonly string[],
  p: Pol,
  scripts: readonly (string | null)[],
): string {
  const script = scripts[p.script];
  return [
    `name: ${name}`,
    ...(name === 'default' ? [] : ['parent: default']),
    `prefixes: [${prefixes.map((x) => JSON.stringify(x)).join(', ')}]`,
    'actions:',
    '  ban_time: 1h',
    '  unban_only_if_attack_finished: true',
    '  ban_status_delay: 1d',
    `  blackhole: { enabled: ${p.mode === 'blackhole' || p.mode === 'both'}, communities: ["${COMMUNITIES[p.community]}"], next_hop: { ipv4: ${NEXT_HOP.ipv4}, ipv6: "${NEXT_HOP.ipv6}" } }`,
    '  flowspec: { enabled: false }',
    ...(script
      ? [`  notify: { script: ${script}, format: ${p.script === 1 ? 'json' : 'text'}, timeout: 5s }`]
      : []),
    '',
  ].join('\n');
}

function randomPol(r: () => number, hostgroup: string): Pol {
  return {
    ...BASE,
    mode: r() < 0.75 ? 'blackhole' : 'none',
    // A child cannot unset a script it inherits: the default hostgroup keeps none.
    script: hostgroup === 'default' ? 0 : ([0, 1, 1, 2] as const)[Math.floor(r() * 4)]!,
    community: r() < 0.5 ? 0 : 1,
  };
}

function randomRealSteps(seed: number, n: number): Step[] {
  const r = rng(seed);
  const out: Step[] = [];
  for (let i = 0; i < n; i++) {
    const x = r();
    if (x < 0.32) out.push({ t: 'attack', host: ATTACKABLE[Math.floor(r() * ATTACKABLE.length)]! });
    else if (x < 0.5) out.push({ t: 'manual_add', host: Math.floor(r() * HOSTS.length) });
    else if (x < 0.66) out.push({ t: 'manual_del', pick: Math.floor(r() * 8) });
    else if (x < 0.82) {
      const hg = HOSTGROUPS[Math.floor(r() * HOSTGROUPS.length)]!.name;
      out.push({ t: 'reload', hostgroup: hg, pol: randomPol(r, hg) });
    } else if (x < 0.93) out.push({ t: 'restart', kill: r() < 0.6 });
    else out.push({ t: 'flap' });
  }
  return out;
}

/** The scripts' calls as the model writes them ("<action> <ip> /s1|/s2"), sorted. */
function notifications(
  s1: ReturnType<typeof recordingScript>,
  s2: ReturnType<typeof recordingScript>,
): string[] {
  const json = s1.calls().map((c) => `${c.stdin.action} ${c.stdin.ip} /s1`);
  const text = s2.calls().map((c) => `${c.args[3]} ${c.args[0]} /s2`);
  return [...json, ...text].sort();
}

/** The model's log in the scripts' terms: text scripts get ban/unban/attack_details. */
function expectedNotifications(m: LifecycleModel): string[] {
  const legacy: Record<string, string> = {
    partial_block: 'ban',
    partial_unblock: 'unban',
    attack_status: 'attack_details',
  };
  return m.log.map((l) => (l.endsWith(' /s2') ? l.replace(/^\S+/, (a) => legacy[a] ?? a) : l)).sort();
}

async function routerView(r: Router): Promise<string[]> {
  const out: string[] = [];
  for (const fam of ['ipv4-unicast', 'ipv6-unicast'] as const) {
    for (const x of await r.getRoutes(fam))
      out.push(`${fam} ${x.prefix} nh=${x.nextHop ?? ''} c=${x.communities.join(',')}`);
  }
  return out.sort();
}

/** One run: `seed` picks the steps; BW and ROUTER are this run's own loopback addresses. */
export async function runAgainstDaemon(
  t: TestContext,
  SEED: number,
  BW: string,
  ROUTER: string,
): Promise<void> {
  if (!(await haveBinary('gobgpd'))) {
    t.skip('gobgpd not installed');
    return;
  }
  const dir = tempDir('lifecycle');
  const s1 = recordingScript(join(dir, 's1'));
  const s2 = recordingScript(join(dir, 's2'));
  const scripts = [null, s1.script, s2.script];
  const sflow = await freePort('udp');
  const bgpPort = await freePort('tcp', ROUTER);
  const config = `
networks: [${NETWORKS.map((n) => JSON.stringify(n)).join(', ')}]
whitelist: [${WHITELIST.map((n) => JSON.stringify(n)).join(', ')}]
capture:
  listeners: [{ name: sf, type: sflow, address: 127.0.0.1, port: ${sflow} }]
api: { listen: "127.0.0.1:0" }
mitigation: { max_blackholes: ${MAX_BLACKHOLES} }
bgp:
  local_as: 65010
  router_id: 192.0.2.254
  peers:
    - { name: gobgp, address: ${ROUTER}, port: ${bgpPort}, local_address: ${BW}, remote_as: 65001, hold_time: 9, families: [ipv4-unicast, ipv6-unicast] }
state_dir: ${join(dir, 'state')}
policies: ./policies
`;
  const model = new LifecycleModel(Date.now());
  for (const h of HOSTGROUPS) model.pol.set(h.name, { ...BASE, script: h.name === 'default' ? 0 : 1 });
  const policies = () =>
    Object.fromEntries(
      HOSTGROUPS.map((h) => [
        `${h.name}.yaml`,
        policyYaml(h.name, h.prefixes, model.pol.get(h.name)!, scripts),
      ]),
    );
  const router = await startGobgp({
    address: ROUTER,
    port: bgpPort,
    asn: 65001,
    peers: [{ address: BW, asn: 65010, passive: true }],
  });
  const sock = dgram.createSocket('udp4');
  const agent: SflowAgent = { agent: '127.0.0.1', sequence: 0, sampleSequence: 0, uptimeMs: 0 };
  const traffic = trafficRng(SEED);
  let d: DaemonHandle | undefined;
  const steps = randomRealSteps(SEED, STEPS);
  const done: string[] = [];
  const converge = async (what: string) => {
    const want = model.routerView();
    const wantN = expectedNotifications(model);
    try {
      await waitFor(
        what,
        async () => {
          const got = await routerView(router);
          return (
            JSON.stringify(got) === JSON.stringify(want) &&
            JSON.stringify(notifications(s1, s2)) === JSON.stringify(wantN)
          );
        },
        20_000,
        100,
      );
    } catch (e) {
      const got = await routerView(router).catch((x: Error) => [`(router: ${x.message})`]);
      assert.fail(
        `${(e as Error).message}\nsteps so far:\n${done.map((s, i) => `  ${i}: ${s}`).join('\n')}\nrouter: ${JSON.stringify(got)}\nmodel:  ${JSON.stringify(want)}\n` +
          `notifications: ${JSON.stringify(notifications(s1, s2))}\nmodel:         ${JSON.stringify(wantN)}`,
      );
    }
  };
  const activeAttacks = async (ip: string) =>
    (await d!.api<ListAnswer<LiveAttackAnswer>>('GET', '/attacks')).json.values.filter((a) => a.ip === ip);
  const burst = async (ip: string) => {
    // ~700k pps for 400 ms at 1:1000: far over the 20k pps ban threshold.
    for (let i = 0; i < 8; i++) {
      for (let j = 0; j < 10; j++) {
        const pkts = Array.from({ length: 8 }, () => ({ ...makePacket('syn_flood', traffic), dst: ip }));
        sock.send(sflowDatagram(agent, pkts, 1000), sflow, '127.0.0.1');
      }
      agent.uptimeMs += 50;
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    d = await startDaemon(dir, config, policies());
    await router.waitEstablished(BW, 20_000);
    await converge('start');
    for (const s of steps) {
      done.push(describeStep(s));
      switch (s.t) {
        case 'attack': {
          const ip = HOSTS[s.host]!.ip;
          // The detector reports one attack per host at a time: let the last one end first.
          await waitFor(
            `the previous attack on ${ip} to end`,
            async () => (await activeAttacks(ip)).every((a) => !a.active),
            20_000,
            200,
          );
          const before = (await activeAttacks(ip)).length;
          await burst(ip);
          await waitFor(
            `attack on ${ip} detected`,
            async () => (await activeAttacks(ip)).length > before,
            20_000,
            100,
          );
          model.apply(s);
          model.apply({ t: 'finish', host: s.host }); // the burst is over
          break;
        }
        case 'manual_add': {
          const res: { status: number; json: unknown } = await d.api(
            'PUT',
            `/blackhole/${HOSTS[s.host]!.ip}`,
          );
          assert.ok(
            res.status === 200 || res.status === 400 || res.status === 409,
            `PUT /blackhole: ${res.status} ${JSON.stringify(res.json)}`,
          );
          model.apply(s);
          break;
        }
        case 'manual_del': {
          const all = [
            ...(await d.api<ListAnswer<MitigationAnswer>>('GET', '/blackhole')).json.values,
            ...(await d.api<ListAnswer<MitigationAnswer>>('GET', '/flowspec')).json.values,
          ];
          if (all.length) {
            const list = all.map((m) => ({
              uuid: m.uuid,
              kind: m.kind ?? 'flowspec',
              prefix: m.ip ?? '',
            }));
            const order = LifecycleModel.pickOrder(list);
            const victim = list[order[s.pick % order.length]!]!;
            const res: { status: number; json: unknown } = await d.api('DELETE', `/blackhole/${victim.uuid}`);
            assert.equal(res.status, 200, JSON.stringify(res.json));
          }
          model.apply(s);
          break;
        }
        case 'reload':
          model.apply(s);
          for (const [name, text] of Object.entries(policies()))
            writeFileSync(join(dir, 'policies', name), text);
          {
            const seen = (d.output().match(/config reloaded/g) ?? []).length;
            d.proc.kill('SIGHUP');
            await waitFor(
              'config reloaded',
              async () => (d!.output().match(/config reloaded/g) ?? []).length > seen,
              10_000,
              50,
            );
          }
          break;
        case 'restart':
          await d.kill(s.kill ? 'SIGKILL' : 'SIGTERM');
          await d.restart();
          model.apply(s);
          await router.waitEstablished(BW, 20_000);
          break;
        case 'flap':
          await router.restart();
          await router.waitEstablished(BW, 30_000);
          break;
        default:
          throw new Error(`step ${s.t} is not run against the daemon`);
      }
      await converge(`after step ${done.length - 1} (${describeStep(s)})`);
    }
    // Nothing more arrives once everything settled.
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(notifications(s1, s2), expectedNotifications(model));
    const kinds: Record<string, number> = {};
    for (const s of steps) kinds[s.t] = (kinds[s.t] ?? 0) + 1;
    process.stdout.write(
      `# lifecycle against the daemon: ${steps.length} steps ${JSON.stringify(kinds)}, ${model.log.length} notification(s), all matched\n`,
    );
  } finally {
    sock.close();
    await d?.kill();
    await router.stop();
  }
}
