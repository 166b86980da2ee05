/**
 * Attack history end to end: a real daemon detects a replayed SYN flood (NetFlow v9 on
 * loopback), bans and unbans it; GET /attacks?… answers from the history with the
 * timeline; after a clean restart with a damaged history file, and after kill -9 during a
 * second attack, both attacks are still there and the damage is counted in /metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, freePort, replay, startDaemon, tempDir } from './helpers/daemon.js';
import { waitFor } from './helpers/routers.js';
import type { HistoryAttackAnswer, ListAnswer, LiveAttackAnswer, ObjectAnswer } from './helpers/answers.js';

const VICTIM = '203.0.113.10';

function config(dir: string, collector: number): string {
  return `
networks: [203.0.113.0/24]
capture:
  listeners: [{ name: nf, type: netflow, address: 127.0.0.1, port: ${collector} }]
api: { listen: "127.0.0.1:0" }
state_dir: ${join(dir, 'state')}
policies: ./policies
`;
}

const POLICY = `
name: default
thresholds:
  ban:
    incoming: { total: { pps: 20000 } }
actions:
  ban_time: 3s
  unban_only_if_attack_finished: false
  blackhole: { enabled: true, next_hop: { ipv4: 192.0.2.1 } }
`;

test('attacks are kept in the history across a restart, a damaged file and kill -9', {
  timeout: 120_000,
}, async () => {
  const dir = tempDir('hist-e2e');
  const collector = await freePort('udp');
  const d = await startDaemon(dir, config(dir, collector), { 'default.yaml': POLICY });
  try {
    await replay(join(FIXTURES, 'flows/syn_flood.nf9.pcap'), `127.0.0.1:${collector}`);
    const listed = await waitFor(
      'the attack in GET /attacks?ip=',
      async () => {
        const r = await d.api<ListAnswer<HistoryAttackAnswer>>('GET', `/attacks?ip=${VICTIM}`);
        return r.status === 200 && r.json.values.length === 1 && r.json.values[0].mitigations.length === 1
          ? r.json.values[0]
          : undefined;
      },
      15_000,
    );
    assert.equal(listed.attack_type, 'syn_flood');
    assert.equal(listed.attack_direction, 'incoming');
    assert.equal(listed.hostgroup, 'default');
    assert.equal(listed.mitigations[0].kind, 'blackhole');
    assert.equal(listed.mitigations[0].prefix, `${VICTIM}/32`);
    assert.match(listed.started_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const uuid: string = listed.uuid;

    // Ban time 3 s: the unban comes and lands on the timeline.
    const full = await waitFor(
      'unbanned on the timeline',
      async () => {
        const r = await d.api<ObjectAnswer<HistoryAttackAnswer>>('GET', `/attacks/${uuid}`);
        return r.json.object?.timeline.some((e: { event: string }) => e.event === 'unbanned')
          ? r.json.object
          : undefined;
      },
      15_000,
    );
    const events = full.timeline.map((e: { event: string }) => e.event);
    assert.equal(events[0], 'detected');
    assert.ok(
      events.indexOf('banned') > 0 && events.indexOf('unbanned') > events.indexOf('banned'),
      events.join(','),
    );
    assert.ok(full.packet_dump_detailed.length > 0, 'samples are kept');
    assert.ok(
      full.packet_dump_detailed.every((p: { destination_ip: string }) => p.destination_ip === VICTIM),
    );
    assert.equal(full.samples.protocols.tcp > 0, true);
    assert.equal(full.mitigations[0].end_reason !== null, true);

    // Filters.
    assert.deepEqual(
      (await d.api<ListAnswer<HistoryAttackAnswer>>('GET', '/attacks?hostgroup=nosuch')).json.values,
      [],
    );
    assert.deepEqual(
      (await d.api<ListAnswer<HistoryAttackAnswer>>('GET', '/attacks?ip=203.0.113.99')).json.values,
      [],
    );
    assert.equal(
      (await d.api<ListAnswer<HistoryAttackAnswer>>('GET', '/attacks?until=2000-01-01T00:00:00Z')).json.values
        .length,
      0,
    );
    assert.equal(
      (await d.api<ListAnswer<HistoryAttackAnswer>>('GET', '/attacks?since=10m&limit=1')).json.values[0].uuid,
      uuid,
    );
    const bad = await d.api<ListAnswer<HistoryAttackAnswer>>('GET', '/attacks?limit=0');
    assert.equal(bad.status, 400);
    assert.match(bad.json.error_text, /^limit must be an integer/);
    assert.equal((await d.api('GET', '/attacks/00000000-0000-4000-8000-000000000000')).status, 404);

    // Clean stop, a torn line appended, restart: the attack is still there; damage counted.
    await d.kill('SIGTERM');
    const hdir = join(dir, 'state', 'history');
    const seg = readdirSync(hdir).sort().at(-1)!;
    appendFileSync(join(hdir, seg), '0000beef {"uuid":"torn');
    await d.restart();
    const after = await d.api<ListAnswer<HistoryAttackAnswer>>('GET', `/attacks?ip=${VICTIM}`);
    assert.deepEqual(
      after.json.values.map((v: { uuid: string }) => v.uuid),
      [uuid],
    );
    // Plain GET /attacks (ctl attacks) lists it too, from the history, in the live shape.
    const plain = (await d.api<ListAnswer<LiveAttackAnswer>>('GET', '/attacks')).json.values as {
      uuid: string;
      active: boolean;
      started_at: string;
    }[];
    const fromHistory = plain.find((v) => v.uuid === uuid);
    assert.ok(fromHistory, `GET /attacks after the restart: ${JSON.stringify(plain)}`);
    assert.equal(fromHistory.active, false);
    assert.match(fromHistory.started_at, /^\d{4}-\d\d-\d\dT/);
    const again = (await d.api<ObjectAnswer<HistoryAttackAnswer>>('GET', `/attacks/${uuid}`)).json.object;
    assert.deepEqual(again.timeline, full.timeline);
    const metrics = (await d.api('GET', '/metrics')).json as string;
    assert.match(metrics, /^breakwater_history_torn_tails 1$/m);
    assert.match(metrics, /^breakwater_history_attacks 1$/m);
    assert.match(metrics, /^breakwater_history_pending 0$/m);
    // The daemon's own load, in the same scrape: the flow listener's kernel drops (none at
    // this rate), and detection's deferred starts and held ends.
    assert.match(metrics, /^breakwater_capture_socket_drops_total\{listener="[^"]+"\} 0$/m);
    assert.match(metrics, /^breakwater_capture_socket_receive_queue_bytes\{listener="[^"]+"\} \d+$/m);
    assert.match(metrics, /^breakwater_detection_starts_deferred_total 0$/m);
    assert.match(metrics, /^breakwater_detection_ends_held_total 0$/m);

    // A second attack, then kill -9: the record is on disk, closed at the next start.
    await replay(join(FIXTURES, 'flows/syn_flood.nf9.pcap'), `127.0.0.1:${collector}`);
    const second = await waitFor(
      'the second attack',
      async () => {
        const r = await d.api<ListAnswer<HistoryAttackAnswer>>('GET', `/attacks?ip=${VICTIM}`);
        return r.json.values.length === 2 ? r.json.values[0] : undefined;
      },
      15_000,
    );
    assert.notEqual(second.uuid, uuid);
    await new Promise((r) => setTimeout(r, 300));
    await d.kill('SIGKILL');
    await d.restart();
    const last = await d.api<ListAnswer<HistoryAttackAnswer>>('GET', `/attacks?ip=${VICTIM}`);
    assert.deepEqual(
      last.json.values.map((v: { uuid: string }) => v.uuid),
      [second.uuid, uuid],
    );
    const closed = (await d.api<ObjectAnswer<HistoryAttackAnswer>>('GET', `/attacks/${second.uuid}`)).json
      .object;
    assert.equal(closed.active, false);
    assert.match(closed.timeline.at(-1)!.detail, /daemon stopped during the attack/);
    // GET /attacks without parameters is still the live list (the manager's).
    assert.equal((await d.api('GET', '/attacks')).status, 200);
  } finally {
    await d.kill('SIGKILL');
  }
});
