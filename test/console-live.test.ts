/**
 * The console's event stream: a snapshot on connect; detections, bans and ends pushed at
 * once; rate updates coalesced to the newest per attack and sent with the next tick, at
 * most 500 a tick, so a carpet bomb cannot flood the browsers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { LiveEvents } from '../src/api/ui/live.js';
import { TrafficHistory } from '../src/history/traffic.js';
import type { HistoryAttack } from '../src/history/types.js';

function rec(uuid: string, event: 'detected' | 'updated' | 'finished', pps: number): HistoryAttack {
  return {
    uuid,
    ip: '203.0.113.10',
    hostgroup: 'default',
    started_at: 1000,
    finished_at: event === 'finished' ? 2000 : null,
    updated_at: 1500,
    active: event !== 'finished',
    banned: false,
    attack_details: {
      attack_type: 'syn_flood',
      attack_direction: 'incoming',
      attack_detection_threshold: 'packets_per_second',
      peak_attack_power: pps,
    } as HistoryAttack['attack_details'],
    current: { in_pps: pps, out_pps: 0, in_bps: 0, out_bps: 0 },
    samples: { count: 0, protocols: {}, top_sources: [], top_source_ports: [], top_destination_ports: [] },
    packet_dump: [],
    pcap: false,
    mitigations: [],
    flow_spec_rules: [],
    flowspec_explanation: null,
    timeline: [{ at: 1000, event, detail: '' }],
  };
}

test('events: snapshot, immediate changes, coalesced updates on the tick', () => {
  const attackListeners: ((r: HistoryAttack) => void)[] = [];
  const traffic = new TrafficHistory(() => ({ in_packets: 5, out_packets: 1, in_bytes: 10, out_bytes: 1 }));
  const live = new LiveEvents({
    mitigations: () => [],
    onMitigation: () => undefined,
    onAttack: (l) => attackListeners.push(l),
    history: { query: () => [], get: () => undefined },
    traffic,
    bgpStatus: () => [],
    exporters: () => [],
    hostRates: () => null,
  });
  const written: string[] = [];
  const req = Object.assign(new EventEmitter(), { method: 'GET' }) as never;
  const res = {
    writeHead: () => undefined,
    write: (s: string) => written.push(s),
    end: () => undefined,
    socket: null,
  } as never;
  assert.equal(live.handle(req, res, new URL('http://x/events')), true);
  const events = () => written.filter((w) => w.startsWith('event: ')).map((w) => w.slice(7, w.indexOf('\n')));
  const attackData = () =>
    written.filter((w) => w.startsWith('event: attack')).map((w) => JSON.parse(w.split('\ndata: ')[1]!));
  assert.deepEqual(events(), ['snapshot']);
  const emit = (r: HistoryAttack) => {
    for (const l of attackListeners) l(r);
  };

  emit(rec('a1', 'detected', 100));
  assert.deepEqual(events(), ['snapshot', 'attack'], 'a detection is pushed at once');
  for (let i = 0; i < 50; i++) emit(rec('a1', 'updated', 1000 + i));
  assert.equal(attackData().length, 1, 'updates wait for the tick');
  traffic.sample(5_000);
  assert.deepEqual(
    attackData().map((a) => a.current.in_pps),
    [100, 1049],
    'one update, the newest',
  );
  assert.equal(events().at(-1), 'tick');
  emit(rec('a1', 'updated', 7));
  emit(rec('a1', 'finished', 7));
  traffic.sample(6_000);
  assert.deepEqual(
    attackData().map((a) => a.active),
    [true, true, false],
    'the end replaces a pending update',
  );
  for (let i = 0; i < 600; i++) emit(rec(`b${i}`, 'updated', i));
  traffic.sample(7_000);
  assert.equal(attackData().length, 3 + 500, 'at most 500 updates a tick');
  live.close();
});
