/**
 * End to end with real GoBGP and BIRD: `breakwater run` peers with both (each router on its
 * own 127.0.0.x), and the SYN-flood NetFlow v9 capture is replayed into its collector.
 *
 *  1. The attack ramps up: first about 30 000 pps (above the ban threshold of 20 000, below
 *     the emergency threshold of 50 000), then about 75 000 pps (above the emergency one).
 *  2. The /32 blackhole arrives first at both routers; the escalation run that follows the
 *     ramp adds 203.0.113.0/24 with the escalation community and next-hop.
 *  3. The daemon is killed (SIGKILL) mid-escalation and restarted: the /24 comes back at
 *     both routers and GET /escalation lists it with the same uuid.
 *  4. The attack stops; once `hold` (3 s) and `clear_after` (2 runs, one a second) have
 *     passed, the /24 is withdrawn while the /32 stays until its own unban (ban_time 15 s).
 *
 * The capture carries about 3 000 packets to 203.0.113.10 per datagram (sampling 1:100
 * scaled), evenly spread, so `--rate N` datagrams/s gives about 3 000 × N pps.
 *
 * With BW_E2E_TIMELINE=<file> the test writes the daemon's log and each router's RIB
 * changes on one clock there (used for docs/escalation.md, "Timeline of a real escalation").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { haveBinary, startBird, startGobgp, type RibRoute, type Router } from './helpers/routers.js';
import { RibWatcher, routeText } from './helpers/rib-watcher.js';
import {
  BIN,
  FIXTURES,
  freePort,
  recordingScript,
  replay,
  startDaemon,
  tempDir,
  type DaemonHandle,
} from './helpers/daemon.js';
import type { ListAnswer, MitigationAnswer } from './helpers/answers.js';
import type { EscalationView } from '../src/escalation/view.js';

const BW = '127.0.0.71';
const GOBGP = '127.0.0.72';
const BIRD = '127.0.0.73';
const GOBGP_PORT = 11871;
const BIRD_PORT = 11872;
/** The collector's address: a free port on BW, chosen when the test starts (kept across the restart). */
let COLLECTOR = '';
const PCAP = join(FIXTURES, 'flows/syn_flood.nf9.pcap');

const HOST = '203.0.113.10/32';
const NET = '203.0.113.0/24';
const BAN_TIME_S = 25;
const HOLD_S = 3;

function config(dir: string): string {
  return `
networks: [203.0.113.0/24]
capture:
  listeners: [{ name: nf, type: netflow, address: ${BW}, port: ${COLLECTOR.split(':')[1]} }]
api: { listen: "127.0.0.1:0" }
bgp:
  local_as: 65010
  router_id: 192.0.2.254
  peers:
    - { name: gobgp, address: ${GOBGP}, port: ${GOBGP_PORT}, local_address: ${BW}, remote_as: 65001, hold_time: 9, families: [ipv4-unicast] }
    - { name: bird, address: ${BIRD}, port: ${BIRD_PORT}, local_address: ${BW}, remote_as: 65002, hold_time: 9, families: [ipv4-unicast] }
escalation:
  schedule: "* * * * * *"
state_dir: ${join(dir, 'state')}
policies: ./policies
`;
}

function policy(script: string): string {
  return `
name: default
thresholds:
  ban:
    incoming: { total: { pps: 20000, flows: null } }
  emergency:
    incoming: { total: { pps: 50000 } }
actions:
  ban_time: ${BAN_TIME_S}s
  unban_only_if_attack_finished: false
  blackhole: { enabled: true, communities: ["65535:666"], next_hop: { ipv4: 192.0.2.1 } }
  notify: { script: ${script}, format: json, timeout: 5s }
  escalation:
    enabled: true
    prefix_length: { ipv4: 24 }
    communities: ["65001:777"]
    next_hop: { ipv4: 192.0.2.66 }
    hold: ${HOLD_S}s
    clear_after: 2
`;
}

const has = (prefix: string) => (routes: RibRoute[]) => routes.some((r) => r.prefix === prefix);
const lacks = (prefix: string) => (routes: RibRoute[]) => !routes.some((r) => r.prefix === prefix);

/**
 * An attack the test stops when it wants: `breakwater replay` looping the capture at
 * `rate` datagrams/s until stop() (its own child, killed by its handle). Sends refused while
 * the daemon restarts are expected.
 */
function startAttack(rate: number): { stop(): Promise<void> } {
  const p = spawn(
    process.execPath,
    [BIN, 'replay', PCAP, '--to', COLLECTOR, '--rate', String(rate), '--duration', '60'],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  return {
    async stop() {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
      await exited;
    },
  };
}

test('escalation with real GoBGP and BIRD: /32 first, then the /24; kept across kill -9; withdrawn after hold and clear_after while the /32 stays until its unban', {
  timeout: 90_000,
}, async (t) => {
  for (const bin of ['gobgpd', 'bird']) if (!(await haveBinary(bin))) return t.skip(`${bin} not installed`);
  const dir = tempDir('e2e-esc');
  COLLECTOR = `${BW}:${await freePort('udp', BW)}`;
  const rec = recordingScript(dir);
  const marks: [number, string][] = [];
  const mark = (what: string) => marks.push([Date.now(), what]);
  // With BW_E2E_TIMELINE: the routers' own CLI output at each step, for the docs.
  const snaps: string[] = [];
  const snap = async (step: string) => {
    if (!process.env.BW_E2E_TIMELINE) return;
    const rel = ((Date.now() - (marks[0]?.[0] ?? Date.now())) / 1000).toFixed(2);
    snaps.push(
      `==== +${rel}s ${step}\n$ gobgp global rib -a ipv4\n${await cli('gobgp', ['--target', `unix://${join(gobgp.dir, 'gobgp.sock')}`, 'global', 'rib', '-a', 'ipv4'])}`,
    );
    if (bird)
      snaps.push(
        `$ birdc show route all\n${await cli('birdc', ['-s', join(bird.dir, 'bird.ctl'), 'show', 'route', 'all', 'protocol', 'peer0'])}`,
      );
  };
  const gobgp = await startGobgp({
    address: GOBGP,
    port: GOBGP_PORT,
    asn: 65001,
    peers: [{ address: BW, asn: 65010, passive: true }],
  });
  let bird: Router | undefined;
  let d: DaemonHandle | undefined;
  const watchers: RibWatcher[] = [];
  let high: ReturnType<typeof startAttack> | undefined;
  const both = (pred: (r: RibRoute[]) => boolean, ms: number, what: string) =>
    Promise.all(watchers.map((w) => w.waitFor(pred, ms, what)));
  try {
    bird = await startBird({
      address: BIRD,
      port: BIRD_PORT,
      asn: 65002,
      peers: [{ address: BW, asn: 65010, passive: true }],
    });
    d = await startDaemon(dir, config(dir), { 'default.yaml': policy(rec.script) });
    await Promise.all([gobgp.waitEstablished(BW, 20000), bird.waitEstablished(BW, 20000)]);
    watchers.push(
      new RibWatcher(gobgp, ['ipv4-unicast'], 100).start(),
      new RibWatcher(bird, ['ipv4-unicast'], 100).start(),
    );
    await both((r) => r.length === 0, 5000, 'an empty RIB');

    // 1. Above the ban threshold, below the emergency one: the /32 only.
    mark('attack starts at about 30 000 pps');
    const t0 = Date.now();
    await replay(PCAP, COLLECTOR, ['--rate', '10', '--duration', '1.5']);
    await both(has(HOST), 5000, 'the /32');
    await snap('1. the /32');
    for (const w of watchers) {
      const r = w.route(HOST)!;
      assert.equal(r.nextHop, '192.0.2.1');
      assert.deepEqual(r.communities, ['65535:666']);
    }
    const banned = (await d.api<ListAnswer<MitigationAnswer>>('GET', '/blackhole')).json.values.find(
      (v) => v.ip === HOST,
    );
    assert.ok(banned, 'the ban is listed');
    assert.deepEqual(
      (await d.api<ListAnswer<EscalationView>>('GET', '/escalation')).json.values,
      [],
      'not escalated below the emergency thresholds',
    );

    // 2. Above the emergency thresholds: the next run escalates the /24.
    mark('attack rises to about 75 000 pps');
    const tRise = Date.now();
    high = startAttack(25);
    await both(has(NET), 10000, 'the /24');
    const tEscalated = Date.now();
    await snap('2. the /24 escalated');
    for (const w of watchers) {
      const r = w.route(NET)!;
      assert.equal(r.nextHop, '192.0.2.66', `${w.router.kind}: ${routeText(r)}`);
      assert.deepEqual(r.communities, ['65001:777'], `${w.router.kind}: ${routeText(r)}`);
      assert.ok(w.route(HOST), `${w.router.kind}: the /32 stays next to the /24`);
      // The /32 arrived first, and no state the router held had the /24 without the /32.
      const a32 = w.first('add', HOST)!.at;
      const a24 = w.first('add', NET)!.at;
      assert.ok(
        a32 < t0 + 2000 && a24 >= tRise,
        `${w.router.kind}: /32 at +${a32 - t0} ms, /24 at +${a24 - t0} ms\n${w.describe(t0)}`,
      );
      assert.ok(
        w.states.every((s) => !has(NET)([...s.routes]) || has(HOST)([...s.routes])),
        w.describe(t0),
      );
    }
    // BIRD's own receive times (ms) say the same, independent of polling.
    const at32 = birdTime(watchers[1]!.route(HOST)!);
    const at24 = birdTime(watchers[1]!.route(NET)!);
    assert.ok(
      (at24 - at32 + 86_400_000) % 86_400_000 > 0 && (at24 - at32 + 86_400_000) % 86_400_000 < 60_000,
      `BIRD received the /32 at ${at32}, the /24 at ${at24}`,
    );
    const esc = (await d.api<ListAnswer<EscalationView>>('GET', '/escalation')).json.values;
    assert.equal(esc.length, 1, JSON.stringify(esc));
    assert.equal(esc[0].prefix, NET);
    assert.deepEqual(esc[0].hosts, ['203.0.113.10']);
    assert.equal(esc[0].next_hop, '192.0.2.66');
    assert.equal(esc[0].trigger!.source, 'current');
    assert.ok(esc[0].trigger!.value > 50000, JSON.stringify(esc[0].trigger));
    const uuid: string = esc[0].uuid;
    // /blackhole lists host bans only (FastNetMon's scripts read each entry as one host)
    const bans = (await d.api<ListAnswer<MitigationAnswer>>('GET', '/blackhole')).json.values;
    assert.equal(
      bans.find((v) => v.uuid === uuid),
      undefined,
      JSON.stringify(bans),
    );
    assert.ok(
      bans.some((v) => v.ip === HOST),
      JSON.stringify(bans),
    );
    const escalate = rec.calls().find((c) => c.stdin?.action === 'escalate');
    assert.equal(escalate?.stdin.prefix, NET);
    assert.equal(escalate?.stdin.ip, '203.0.113.10');
    assert.equal(escalate?.stdin.attack_details.escalation.uuid, uuid);

    // 3. kill -9 mid-escalation: the routers drop the session's routes; after the restart
    // the journal brings the /24 back (same uuid) and the loop adopts it.
    mark('daemon killed (SIGKILL)');
    await d.kill('SIGKILL');
    await both((r) => r.length === 0, 15000, 'routes gone with the session');
    mark('daemon restarted');
    await d.restart();
    await both((r) => has(NET)(r) && has(HOST)(r), 20000, 'the /32 and /24 back after the restart');
    const tBack = Date.now();
    await snap('3. back after the restart');
    const after = (await d.api<ListAnswer<EscalationView>>('GET', '/escalation')).json.values;
    assert.equal(after.length, 1, JSON.stringify(after));
    assert.equal(after[0].uuid, uuid, 'the same escalation (uuid kept)');
    assert.equal(after[0].since, esc[0].since, 'hold counts from the first escalation, not the restart');
    assert.match(d.output(), /adopted escalation 203\.0\.113\.0\/24/);
    for (const w of watchers) assert.deepEqual(w.route(NET)!.communities, ['65001:777']);

    // The restarted loop keeps it on current rates (its ban-time evidence died with the
    // process): at least one run sees the host above again.
    await d.waitLog(/--- restart ---[\s\S]*keep 203\.0\.113\.0\/24: above the emergency thresholds/, 10000);
    assert.equal(
      (await d.api<ListAnswer<EscalationView>>('GET', '/escalation')).json.values[0]?.state,
      'above',
    );

    // 4. The attack stops: withdrawn only after clear_after runs below, hold having passed.
    await high.stop();
    const tEnd = Date.now();
    mark('attack stops');
    await both(lacks(NET), 15000, 'the /24 withdrawn');
    const tWithdrawn = Date.now();
    await snap('4. the /24 withdrawn');
    for (const w of watchers) {
      assert.ok(
        w.route(HOST),
        `${w.router.kind}: the /32 stays after the /24 is withdrawn\n${w.describe(t0)}`,
      );
      const gone =
        w.first('withdraw', NET) &&
        w.events.filter((e) => e.op === 'withdraw' && e.route.prefix === NET).pop()!.at;
      // Two runs below, one a second apart, after the window has drained: never at once.
      assert.ok(
        gone! - tEnd >= 1000,
        `${w.router.kind}: /24 withdrawn ${gone! - tEnd} ms after the attack stopped`,
      );
      assert.ok(
        gone! - tEscalated >= HOLD_S * 1000,
        `${w.router.kind}: /24 withdrawn ${gone! - tEscalated} ms after it arrived`,
      );
    }
    assert.match(d.output(), /keep 203\.0\.113\.0\/24: below the emergency thresholds.*runs_below=1/);
    assert.match(d.output(), /deescalate 203\.0\.113\.0\/24/);
    assert.deepEqual((await d.api<ListAnswer<EscalationView>>('GET', '/escalation')).json.values, []);
    const de = await waitForCall(rec, 'deescalate');
    assert.equal(de.stdin.prefix, NET);
    assert.equal(de.stdin.attack_details.escalation.uuid, uuid);

    // 5. The /32 goes at its own unban, ban_time after the ban.
    await both(lacks(HOST), (BAN_TIME_S + 5) * 1000, 'the /32 withdrawn at its unban');
    const tUnban = Date.now();
    mark('ban expired');
    await snap('5. after the unban');
    assert.ok(tUnban - tWithdrawn > 500, 'the /32 outlived the /24');
    assert.ok(
      tUnban - t0 >= (BAN_TIME_S - 1) * 1000,
      `the /32 went ${tUnban - t0} ms after the attack began`,
    );

    if (process.env.BW_E2E_TIMELINE)
      writeFileSync(
        process.env.BW_E2E_TIMELINE,
        `${timeline(t0, d.output(), marks, watchers, join(dir, 'calls'))}\n${snaps.join('\n')}`,
      );
    t.diagnostic(
      `escalated +${tEscalated - t0} ms, back after restart +${tBack - t0} ms, attack stopped +${tEnd - t0} ms, /24 withdrawn +${tWithdrawn - t0} ms, /32 withdrawn +${tUnban - t0} ms`,
    );
  } catch (e) {
    const t0 = marks[0]?.[0] ?? Date.now();
    throw new Error(
      `${(e as Error).message}\n--- RIB changes ---\n${watchers.map((w) => `${w.router.kind}:\n${w.describe(t0)}`).join('\n')}\n--- daemon ---\n${d?.output().slice(-6000) ?? ''}`,
    );
  } finally {
    await high?.stop();
    for (const w of watchers) await w.stop();
    await d?.kill();
    await bird?.stop();
    await gobgp.stop();
  }
});

/** ms into the day at which BIRD received a route: `[peer0 03:21:21.555 from …]`. */
function birdTime(r: RibRoute): number {
  const m = /\[\S+ (\d\d):(\d\d):(\d\d)\.(\d{3})/.exec(String(r.raw));
  if (!m) throw new Error(`no route time in ${String(r.raw)}`);
  return ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 + Number(m[4]);
}

function cli(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve) =>
    execFile(cmd, args, (err, stdout, stderr) =>
      resolve(err ? `(${cmd} failed: ${stderr || err.message})\n` : stdout),
    ),
  );
}

async function waitForCall(rec: ReturnType<typeof recordingScript>, action: string) {
  const until = Date.now() + 10000;
  for (;;) {
    const c = rec.calls().find((x) => x.stdin?.action === action);
    if (c) return c;
    if (Date.now() > until) throw new Error(`no ${action} notification`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The daemon's log lines and the routers' RIB changes, on one clock relative to t0. */
function timeline(
  t0: number,
  log: string,
  marks: [number, string][],
  watchers: RibWatcher[],
  callsDir: string,
): string {
  const rows: [number, string][] = [...marks.map(([at, m]): [number, string] => [at, `== ${m}`])];
  // recordingScript names each call <ns since epoch>-<pid>.
  for (const f of readdirSync(callsDir).filter((x) => x.endsWith('.stdin'))) {
    const doc = JSON.parse(readFileSync(join(callsDir, f), 'utf8')) as {
      action?: string;
      ip?: string;
      prefix?: string;
    };
    rows.push([
      Number(BigInt(f.split('-')[0]!) / 1_000_000n),
      `notify ${doc.action} ${doc.ip ?? ''} ${doc.prefix ?? ''}`.trimEnd(),
    ]);
  }
  for (const line of log.split('\n')) {
    const ts = /^(\d{4}-\d\d-\d\dT[\d:.]+Z)\s/.exec(line);
    if (ts) rows.push([Date.parse(ts[1]!), `log    ${line}`]);
  }
  for (const w of watchers)
    for (const e of w.events)
      rows.push([
        e.at,
        `${(w.router.kind ?? '?').padEnd(6)} ${e.op} ${e.op === 'withdraw' ? e.route.prefix : routeText(e.route)}`,
      ]);
  rows.sort((a, b) => a[0] - b[0]);
  return `${rows.map(([at, s]) => `${((at - t0) / 1000).toFixed(2).padStart(6)}s ${s}`).join('\n')}\n`;
}
