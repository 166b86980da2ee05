import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import winston from 'winston';
import { Registry } from 'prom-client';
import {
  EscalationLoop,
  cronScheduler,
  type EscalationNotice,
  type Scheduler,
} from '../src/escalation/loop.js';
import { FakeDetector, FakeManager, hostgroup, rates, testConfig } from './helpers/escalation.js';
import type { Config } from '../src/config/types.js';
import { causeText, parseCause } from '../src/mitigation/cause.js';

const T0 = Date.UTC(2024, 0, 1, 12, 0, 0);

function captureLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  const log = winston.createLogger({
    level: 'debug',
    format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream })],
  });
  return { log, lines };
}

/** A scheduler the test fires by hand. */
function manualScheduler() {
  const fired: { expr: string; fn: () => Promise<void>; onOverlap: () => void; stopped: boolean }[] = [];
  const scheduler: Scheduler = (expr, fn, onOverlap) => {
    const job = { expr, fn, onOverlap, stopped: false };
    fired.push(job);
    return {
      stop: () => {
        job.stopped = true;
      },
    };
  };
  return { scheduler, jobs: fired };
}

function setup(
  o: { cfg?: Partial<Parameters<typeof testConfig>[0]>; esc?: Parameters<typeof hostgroup>[2] } = {},
) {
  let now = T0;
  const clock = () => now;
  const manager = new FakeManager(clock);
  const detector = new FakeDetector();
  const notices: EscalationNotice[] = [];
  const { log, lines } = captureLogger();
  const registry = new Registry();
  const ms = manualScheduler();
  const cfg: Config = testConfig({
    networks: ['203.0.113.0/24', '2001:db8::/32'],
    hostgroups: [
      hostgroup('default', []),
      hostgroup('web', ['203.0.113.0/24', '2001:db8::/32'], { hold_ms: 60_000, clear_after: 3, ...o.esc }),
    ],
    ...o.cfg,
  });
  const mk = () =>
    new EscalationLoop({
      config: cfg,
      manager,
      detector,
      notify: (n) => void notices.push(n),
      now: clock,
      log,
      registry: new Registry(),
      scheduler: ms.scheduler,
    });
  const loop = new EscalationLoop({
    config: cfg,
    manager,
    detector,
    notify: (n) => void notices.push(n),
    now: clock,
    log,
    registry,
    scheduler: ms.scheduler,
  });
  return {
    loop,
    mk,
    manager,
    detector,
    notices,
    lines,
    registry,
    ms,
    at: (t: number) => {
      now = t;
    },
  };
}

test('escalates through the manager, notifies with the counters, lists it; one run log line with duration', async () => {
  const s = setup();
  s.manager.ban('203.0.113.5', 'web', T0 - 5_000);
  s.detector.set(rates('203.0.113.5', 'web', { in_packets: 250_000, in_udp_packets: 250_000 }));
  s.at(T0);
  const rep = await s.loop.runOnce();
  assert.equal(rep.skipped, false);
  const esc = s.manager.list('escalation');
  assert.equal(esc.length, 1);
  const m = esc[0]!;
  assert.equal(m.prefix, '203.0.113.0/24');
  assert.equal(m.ip, '203.0.113.5');
  assert.equal(causeText(m.cause), 'escalation of 203.0.113.5');
  assert.equal(m.next_hop, '192.0.2.1');
  assert.deepEqual(m.communities, ['65535:666']);
  assert.equal(m.expires_at, null);
  assert.equal(s.notices.length, 1);
  const n = s.notices[0]!;
  assert.equal(n.action, 'escalate');
  assert.equal(n.ip, '203.0.113.5');
  assert.equal(n.prefix, '203.0.113.0/24');
  assert.equal(n.uuid, m.uuid);
  assert.equal(n.counters?.value, 250_000);
  assert.equal(n.counters?.threshold, 100_000);
  assert.equal(n.host_counters?.in_udp_packets, 250_000);
  const [v] = s.loop.list();
  assert.equal(v?.uuid, m.uuid);
  assert.equal(v?.state, 'above');
  assert.equal(v?.since, new Date(T0).toISOString());
  assert.deepEqual(v?.hosts, ['203.0.113.5']);
  const runLines = s.lines.filter((l) => l.message === 'escalation run');
  assert.equal(runLines.length, 1);
  assert.equal(typeof runLines[0]!.duration_ms, 'number');
  assert.equal(runLines[0]!.escalate, 1);
  assert.ok(s.lines.some((l) => String(l.message).startsWith('escalate 203.0.113.0/24 for 203.0.113.5')));
  // A second run keeps it: no second add.
  s.at(T0 + 10_000);
  await s.loop.runOnce();
  assert.equal(s.manager.calls.filter((c) => c.op === 'add').length, 1);
  const text = await s.registry.metrics();
  assert.match(text, /breakwater_escalations_active 1/);
  assert.match(text, /breakwater_escalation_runs_total 2/);
  assert.match(text, /breakwater_escalation_actions_total\{action="escalate"\} 1/);
  assert.match(text, /breakwater_escalation_run_duration_seconds_count 2/);
});

test('router drops before export: escalates on ban-time evidence, withdraws after hold + clear_after, /32 untouched', async () => {
  const s = setup();
  const ip = '203.0.113.5';
  // Detection saw the attack before the ban; afterwards the flow data shows nothing.
  s.at(T0 - 2_000);
  s.detector.emit('attack_started', rates(ip, 'web', { in_packets: 400_000 }));
  const bh = s.manager.ban(ip, 'web', T0);
  s.detector.set(rates(ip, 'web', {}));
  const timeline: [number, number][] = [];
  for (let t = T0 + 10_000; t <= T0 + 200_000; t += 10_000) {
    s.at(t);
    await s.loop.runOnce();
    timeline.push([t - T0, s.manager.list('escalation').length]);
  }
  const first = timeline.find(([, n]) => n === 1)?.[0];
  const gone = timeline.find(([t, n]) => t > (first ?? 0) && n === 0)?.[0];
  assert.equal(first, 10_000);
  // Evidence above until ban+60 s; 3 runs below (60, 70, 80 s); hold from creation (10 s) passed at 70 s.
  assert.equal(gone, 80_000);
  assert.ok(
    timeline.filter(([t]) => t > 80_000).every(([, n]) => n === 0),
    'no re-escalation on stale evidence',
  );
  assert.ok(s.manager.get(bh.uuid), 'the blackhole stays until its own unban');
  assert.deepEqual(
    s.notices.map((n) => n.action),
    ['escalate', 'deescalate'],
  );
  assert.equal(s.notices[0]!.counters?.source, 'ban');
  assert.equal(s.notices[0]!.ban_counters?.in_packets, 400_000);
  assert.equal(s.notices[1]!.reason, 'below_thresholds');
  const removes = s.manager.calls.filter((c) => c.op === 'remove');
  assert.deepEqual(
    removes.map((c) => c.prefix),
    ['203.0.113.0/24'],
  );
  assert.match(removes[0]!.reason!, /^deescalate: /);
});

test('no overlap: a tick while a slow run is busy is skipped and counted', async () => {
  const s = setup();
  s.manager.ban('203.0.113.5', 'web', T0);
  s.detector.set(rates('203.0.113.5', 'web', { in_packets: 1e6 }));
  s.manager.delayMs = 40;
  s.loop.start();
  const job = s.ms.jobs[0]!;
  assert.equal(job.expr, '*/10 * * * * *');
  const first = job.fn();
  assert.equal(s.loop.busy, true);
  await job.fn(); // the schedule fires again while the first run waits on the manager
  assert.equal(s.loop.statsSnapshot().overlaps_skipped, 1);
  await first;
  assert.equal(s.loop.busy, false);
  assert.equal(s.manager.calls.filter((c) => c.op === 'add').length, 1, 'one escalation, not two');
  assert.equal(s.loop.statsSnapshot().runs, 1);
  assert.ok(s.lines.some((l) => l.level === 'warn' && /still busy/.test(String(l.message))));
  await job.fn();
  assert.equal(s.loop.statsSnapshot().runs, 2);
  assert.equal(s.manager.list('escalation').length, 1);
  await s.loop.stop();
  assert.equal(job.stopped, true);
});

test('restart: escalations restored by the manager are adopted, kept, and withdrawn by the loop', async () => {
  const s = setup();
  s.manager.ban('203.0.113.5', 'web', T0 - 30_000);
  // As restored from the journal: created 20 s before the restart.
  const restored = s.manager.put({
    kind: 'escalation',
    prefix: '203.0.113.0/24',
    ip: '203.0.113.5',
    hostgroup: 'web',
    cause: parseCause('escalation of 203.0.113.5'),
    started_at: T0 - 20_000,
    next_hop: '192.0.2.1',
    communities: ['65535:666'],
  });
  s.detector.set(rates('203.0.113.5', 'web', { in_packets: 1e6 }));
  s.at(T0);
  s.loop.start();
  assert.deepEqual(
    s.loop.list().map((v) => [v.uuid, v.state, v.since]),
    [[restored.uuid, 'adopted', new Date(T0 - 20_000).toISOString()]],
  );
  await s.loop.runOnce();
  assert.equal(s.manager.calls.length, 0, 'no second escalation of the same prefix');
  assert.equal(s.loop.list()[0]?.state, 'above');
  // Attack stops: hold counts from the original creation, not from the restart.
  s.detector.set(rates('203.0.113.5', 'web', {}));
  for (const t of [10_000, 20_000, 30_000]) {
    s.at(T0 + t);
    await s.loop.runOnce();
  }
  assert.equal(s.loop.list()[0]?.runs_below, 3);
  assert.equal(s.loop.list()[0]?.state, 'holding', 'clear_after reached, hold (from T0-20 s) not yet');
  assert.equal(s.manager.calls.length, 0);
  assert.equal(s.loop.list(T0 + 40_000)[0]?.state, 'clearing');
  // At T0+40 s the original hold has passed (60 s after T0-20 s); from the restart it would not have.
  s.at(T0 + 40_000);
  await s.loop.runOnce();
  assert.deepEqual(
    s.manager.calls.map((c) => [c.op, c.uuid]),
    [['remove', restored.uuid]],
  );
  await s.loop.stop();
});

test('only own prefixes: foreign mitigations are never removed; an operator removal is not fought', async () => {
  const s = setup();
  s.at(T0);
  s.manager.ban('203.0.113.5', 'web', T0);
  // A manual /24 elsewhere, and an escalation-kind entry created after start (not the loop's).
  const manual = s.manager.put({
    kind: 'blackhole',
    prefix: '2001:db8:7::/48',
    ip: '2001:db8:7::',
    hostgroup: 'web',
  });
  s.loop.start();
  const foreign = s.manager.put({
    kind: 'escalation',
    prefix: '203.0.113.128/25',
    ip: '203.0.113.130',
    hostgroup: 'web',
  });
  s.detector.set(rates('203.0.113.5', 'web', { in_packets: 1e6 }));
  await s.loop.runOnce();
  const mine = s.manager.list('escalation').find((m) => m.prefix === '203.0.113.0/24')!;
  assert.ok(mine);
  // The operator deletes the loop's escalation; the host stays above.
  await s.manager.remove(mine.uuid, 'operator');
  s.manager.calls.length = 0;
  s.at(T0 + 10_000);
  await s.loop.runOnce();
  assert.equal(s.manager.calls.length, 0, 'not re-added while the host stays blackholed');
  assert.ok(s.lines.some((l) => /removed outside the loop/.test(String(l.message))));
  // Everything unbanned: no host left, nothing of ours to withdraw; foreign entries stay.
  s.manager.unban('203.0.113.5');
  for (const t of [20_000, 30_000, 400_000]) {
    s.at(T0 + t);
    await s.loop.runOnce();
  }
  assert.equal(s.manager.calls.length, 0);
  assert.ok(s.manager.get(manual.uuid) && s.manager.get(foreign.uuid));
  // Banned again later: the suppression has ended, so it escalates again.
  s.manager.ban('203.0.113.5', 'web', T0 + 500_000);
  s.at(T0 + 500_000);
  await s.loop.runOnce();
  assert.deepEqual(
    s.manager.calls.map((c) => [c.op, c.prefix]),
    [['add', '203.0.113.0/24']],
  );
});

test('refusals: whitelist refusal is logged and notified once while it persists; manager refusals too', async () => {
  const s = setup({ cfg: { whitelist: ['203.0.113.250/32'] } });
  s.manager.ban('203.0.113.5', 'web', T0);
  s.detector.set(rates('203.0.113.5', 'web', { in_packets: 1e6 }));
  for (const t of [0, 10_000, 20_000]) {
    s.at(T0 + t);
    await s.loop.runOnce();
  }
  assert.equal(s.manager.list('escalation').length, 0);
  assert.equal(s.notices.length, 1);
  const n = s.notices[0]!;
  assert.equal(n.action, 'escalation_refused');
  assert.equal(n.reason, 'whitelist');
  assert.equal(n.prefix, '203.0.113.0/24');
  assert.equal(n.counters?.value, 1e6);
  assert.match(n.detail!, /203\.0\.113\.250\/32/);
  assert.equal(s.loop.statsSnapshot().refusals, 1);
  assert.equal(
    s.lines.filter((l) => l.level === 'warn' && /^refused to escalate/.test(String(l.message))).length,
    1,
  );

  const s2 = setup();
  s2.manager.refuse = 'max_blackholes reached';
  s2.manager.ban('2001:db8:1::5', 'web', T0);
  s2.detector.set(rates('2001:db8:1::5', 'web', { in_packets: 1e6 }));
  await s2.loop.runOnce();
  assert.equal(s2.notices[0]?.action, 'escalation_refused');
  assert.equal(s2.notices[0]?.prefix, '2001:db8:1::/48');
  assert.equal(s2.notices[0]?.reason, 'manager');
  assert.match(s2.notices[0]!.detail!, /max_blackholes reached/);
  assert.equal(s2.loop.list().length, 0);
});

test('dry-run: never calls the manager, logs what it would do, simulates hysteresis', async () => {
  const s = setup({ cfg: { dry_run: true }, esc: { hold_ms: 0, clear_after: 1 } });
  s.manager.ban('2001:db8:1:2::77', 'web', T0);
  s.detector.set(rates('2001:db8:1:2::77', 'web', { out_packets: 0, in_packets: 1e6 }));
  s.at(T0);
  await s.loop.runOnce();
  assert.equal(s.manager.calls.length, 0);
  assert.equal(s.manager.list('escalation').length, 0);
  const [v] = s.loop.list();
  assert.equal(v?.prefix, '2001:db8:1::/48');
  assert.equal(v?.dry_run, true);
  assert.equal(v?.next_hop, '100::1');
  assert.ok(s.lines.some((l) => /^dry-run: would escalate 2001:db8:1::\/48/.test(String(l.message))));
  s.detector.set(rates('2001:db8:1:2::77', 'web', {}));
  s.at(T0 + 10_000);
  await s.loop.runOnce();
  assert.equal(s.loop.list().length, 0);
  assert.ok(s.lines.some((l) => /^dry-run: would deescalate 2001:db8:1::\/48/.test(String(l.message))));
  assert.deepEqual(
    s.notices.map((n) => [n.action, n.dry_run, n.uuid]),
    [
      ['escalate', true, null],
      ['deescalate', true, null],
    ],
  );
  assert.equal(s.manager.calls.length, 0);
});

test('real node-cron schedule: bad expressions are refused, a per-second schedule runs and stops', async () => {
  const { log } = captureLogger();
  assert.throws(
    () =>
      cronScheduler(
        '*/10 * * * *  nope',
        async () => {},
        () => {},
        log,
      ),
    /invalid escalation\.schedule/,
  );
  const s = setup({ cfg: { schedule: '* * * * * *' } });
  const loop = new EscalationLoop({
    config: testConfig({ networks: [], hostgroups: [hostgroup('default', [])], schedule: '* * * * * *' }),
    manager: s.manager,
    detector: null,
    log,
    registry: new Registry(),
  });
  loop.start();
  const until = Date.now() + 3_000;
  while (loop.statsSnapshot().runs < 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  await loop.stop();
  const runs = loop.statsSnapshot().runs;
  assert.ok(runs >= 1, 'ran at least once');
  await new Promise((r) => setTimeout(r, 1_100));
  assert.equal(loop.statsSnapshot().runs, runs, 'no runs after stop');
});

test('dry-run keeps a real (adopted) escalation it would withdraw; leaving dry-run withdraws it; schedule reload restarts the job', async () => {
  const s = setup({ cfg: { dry_run: true }, esc: { hold_ms: 0, clear_after: 1 } });
  const real = s.manager.put({
    kind: 'escalation',
    prefix: '203.0.113.0/24',
    ip: '203.0.113.5',
    hostgroup: 'web',
    started_at: T0 - 60_000,
  });
  s.loop.start();
  for (const t of [0, 10_000, 20_000]) {
    s.at(T0 + t);
    await s.loop.runOnce(); // no blackholed host inside: would withdraw
  }
  assert.ok(s.manager.get(real.uuid), 'dry-run changed no route');
  assert.equal(
    s.lines.filter((l) => /^dry-run: would deescalate 203\.0\.113\.0\/24/.test(String(l.message))).length,
    1,
  );
  assert.deepEqual(
    s.notices.map((n) => [n.action, n.dry_run]),
    [['deescalate', true]],
  );
  const live = testConfig({
    networks: ['203.0.113.0/24'],
    hostgroups: [hostgroup('web', [], { hold_ms: 0, clear_after: 1 })],
    schedule: '*/5 * * * * *',
  });
  s.loop.reconfigure(live);
  assert.equal(s.ms.jobs.length, 2);
  assert.equal(s.ms.jobs[0]!.stopped, true);
  assert.equal(s.ms.jobs[1]!.expr, '*/5 * * * * *');
  await s.loop.runOnce();
  assert.equal(s.manager.get(real.uuid), undefined);
  assert.deepEqual(
    s.manager.calls.map((c) => [c.op, c.uuid]),
    [['remove', real.uuid]],
  );
  await s.loop.stop();
});

test('notify adapter: FastNetMon-shaped document with the crossing, counters and escalation fields', async () => {
  const { escalationDocument, notifyVia } = await import('../src/notify/index.js');
  const s = setup();
  s.manager.ban('203.0.113.5', 'web', T0);
  s.detector.set(
    rates('203.0.113.5', 'web', { in_udp_packets: 300_000, in_packets: 300_000, in_bytes: 50_000_000 }),
  );
  await s.loop.runOnce();
  const doc = escalationDocument(s.notices[0]!);
  assert.equal(doc.action, 'escalate');
  assert.equal(doc.ip, '203.0.113.5');
  assert.equal(doc.prefix, '203.0.113.0/24');
  const d = doc.attack_details as Record<string, unknown>;
  assert.equal(d.attack_detection_threshold, 'packets_per_second');
  assert.equal(d.attack_detection_threshold_value, 100_000);
  assert.equal(d.total_incoming_pps, 300_000);
  assert.equal(d.incoming_udp_pps, 300_000);
  assert.equal(d.total_incoming_traffic, 50_000_000);
  const e = d.escalation as Record<string, unknown>;
  assert.equal(e.uuid, s.manager.list('escalation')[0]!.uuid);
  assert.equal(e.counter_value, 300_000);
  assert.equal(e.next_hop, '192.0.2.1');
  const sent: unknown[] = [];
  const cfg = testConfig({ networks: [], hostgroups: [hostgroup('default', []), hostgroup('web', [])] });
  notifyVia(
    { notify: (doc, action) => void sent.push([doc.action, action.format]) },
    () => cfg,
  )(s.notices[0]!);
  assert.deepEqual(sent, [['escalate', 'json']]);
});

test('after a restart, runs before detection has filled one window do not count below; since is the mitigation start time', async () => {
  const s = setup({ esc: { hold_ms: 1_000, clear_after: 1 } });
  s.manager.ban('203.0.113.5', 'web', T0 - 60_000);
  const restored = s.manager.put({
    kind: 'escalation',
    prefix: '203.0.113.0/24',
    ip: '203.0.113.5',
    hostgroup: 'web',
    cause: parseCause('escalation of 203.0.113.5'),
    started_at: T0 - 50_000,
    next_hop: '192.0.2.1',
    communities: ['65535:666'],
  });
  // Detection just restarted: nothing in its window yet.
  s.detector.set(rates('203.0.113.5', 'web', {}));
  s.at(T0);
  s.loop.start();
  s.at(T0 + 400);
  await s.loop.runOnce();
  assert.equal(
    s.manager.calls.length,
    0,
    'hold long passed and clear_after 1, but the rates are not a window old',
  );
  assert.deepEqual(
    s.loop.list().map((v) => [v.uuid, v.runs_below, v.state]),
    [[restored.uuid, 0, 'adopted']],
    'a run that did not count is no verdict',
  );
  assert.ok(
    s.lines.some((l) => /keep 203\.0\.113\.0\/24: below, not counted/.test(String(l.message))),
    JSON.stringify(s.lines.map((l) => l.message)),
  );
  // One window (detection.window_ms = 1 s) after start: a below run counts.
  s.at(T0 + 1_000);
  await s.loop.runOnce();
  assert.deepEqual(
    s.manager.calls.map((c) => [c.op, c.uuid]),
    [['remove', restored.uuid]],
  );

  // A new escalation's since is the manager's started_at, which adoption reads back.
  const add = s.manager.add.bind(s.manager);
  s.manager.add = async (m) => {
    s.at(T0 + 2_007);
    return add(m);
  };
  s.detector.set(rates('203.0.113.5', 'web', { in_packets: 1e6 }));
  s.at(T0 + 2_000);
  await s.loop.runOnce();
  const [v] = s.loop.list();
  const m = s.manager.get(v!.uuid)!;
  assert.equal(v!.since, new Date(m.started_at).toISOString());
  assert.equal(v!.since, new Date(T0 + 2_007).toISOString());
  await s.loop.stop();
});

test('log levels: the run line is info only when something changed or counts down; escalate says the crossing with units and community names', async () => {
  const s = setup();
  const runLevels = () => s.lines.filter((l) => l.message === 'escalation run').map((l) => l.level);
  // Nothing banned: debug.
  s.at(T0);
  await s.loop.runOnce();
  // A ban below the emergency thresholds: nothing to do, debug too.
  s.manager.ban('203.0.113.5', 'web', T0);
  s.detector.set(rates('203.0.113.5', 'web', { in_packets: 50_000 }));
  s.at(T0 + 10_000);
  await s.loop.runOnce();
  assert.deepEqual(runLevels(), ['debug', 'debug']);
  // Above: escalated (info), then held while above (debug, nothing changed).
  s.detector.set(rates('203.0.113.5', 'web', { in_packets: 250_000 }));
  for (const t of [20_000, 30_000, 40_000]) {
    s.at(T0 + t);
    await s.loop.runOnce();
  }
  assert.deepEqual(runLevels().slice(2), ['info', 'debug', 'debug']);
  const esc = s.lines.find((l) => String(l.message).startsWith('escalate 203.0.113.0/24'))!;
  assert.equal(
    esc.message,
    'escalate 203.0.113.0/24 for 203.0.113.5: incoming total 250000 pps > 100000 pps (current)',
  );
  assert.deepEqual(esc.communities, ['blackhole'], '65535:666 is logged by its RFC 7999 name');
  assert.equal(esc.level, 'info', 'inside its own hostgroup: info');
  // Below: each run counts down to the withdrawal (info), then the withdrawal (info).
  s.detector.set(rates('203.0.113.5', 'web', { in_packets: 10 }));
  for (let t = 50_000; t <= 110_000; t += 10_000) {
    s.at(T0 + t);
    await s.loop.runOnce();
    if (s.manager.list('escalation').length === 0) break;
  }
  assert.equal(s.manager.list('escalation').length, 0);
  assert.ok(
    runLevels()
      .slice(5)
      .every((l) => l === 'info'),
    JSON.stringify(runLevels()),
  );
  // Quiet again afterwards.
  s.at(T0 + 200_000);
  await s.loop.runOnce();
  assert.equal(runLevels().at(-1), 'debug');
});

test('an escalation covering another hostgroup is logged (warn) and notified with the hostgroups it covers; forbid refuses it', async () => {
  for (const policy of ['allow', 'forbid'] as const) {
    // web is the /28 at the start of default's /24.
    const s = setup({
      cfg: {
        networks: ['203.0.113.0/24'],
        hostgroups: [
          hostgroup('default', [], { cross_hostgroups: 'allow' }),
          hostgroup('web', ['203.0.113.0/28'], { cross_hostgroups: policy }),
        ],
      },
    });
    s.manager.ban('203.0.113.200', 'default', T0);
    s.detector.set(rates('203.0.113.200', 'default', { in_packets: 250_000 }));
    s.at(T0);
    await s.loop.runOnce();
    if (policy === 'allow') {
      assert.equal(s.manager.list('escalation').length, 1);
      const line = s.lines.find((l) => String(l.message).startsWith('escalate '))!;
      assert.equal(line.level, 'warn');
      assert.match(String(line.message), /; it covers hosts of hostgroup web too$/);
      assert.deepEqual(line.hostgroups, ['default', 'web']);
      assert.deepEqual(s.notices[0]!.hostgroups, ['default', 'web']);
      const { escalationDocument } = await import('../src/notify/index.js');
      assert.deepEqual(
        (escalationDocument(s.notices[0]!).attack_details as { escalation: { hostgroups: string[] } })
          .escalation.hostgroups,
        ['default', 'web'],
      );
      assert.deepEqual(s.loop.list()[0]!.covers, ['default', 'web']);
    } else {
      assert.equal(s.manager.list('escalation').length, 0);
      assert.deepEqual(
        s.notices.map((n) => [n.action, n.reason]),
        [['escalation_refused', 'crosses_hostgroups']],
      );
      const line = s.lines.find((l) => String(l.message).startsWith('refused to escalate'))!;
      assert.equal(line.level, 'warn');
      assert.match(
        String(line.message),
        /covers hosts of hostgroup web besides default, and cross_hostgroups is forbid for web/,
      );
    }
  }
});

test('forget (a deposed cluster leader): nothing withdrawn; leading again, a prefix the other leader withdrew escalates anew', async () => {
  const s = setup();
  s.manager.ban('203.0.113.5', 'web', T0 - 5_000);
  s.detector.set(rates('203.0.113.5', 'web', { in_packets: 250_000, in_udp_packets: 250_000 }));
  s.at(T0);
  await s.loop.runOnce();
  const [m] = s.manager.list('escalation');
  assert.ok(m);
  s.loop.forget();
  assert.deepEqual(s.loop.list(), []);
  assert.equal(s.manager.list('escalation').length, 1, 'forget withdraws nothing');
  // The other leader's loop withdrew it; this node leads again and the attack goes on.
  await s.manager.remove(m.uuid, 'withdrawn by the other leader');
  await s.loop.runOnce();
  assert.equal(s.manager.list('escalation').length, 1, 'escalated again');
  assert.ok(!s.lines.some((l) => /removed outside the loop/.test(String(l.message))));
});
