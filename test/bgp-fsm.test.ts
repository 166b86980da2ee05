import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  step,
  initialState,
  backoffMs,
  collisionLoser,
  LARGE_HOLD_MS,
  type FsmConfig,
  type FsmState,
  type FsmEvent,
  type Effect,
} from '../src/bgp/fsm.js';
import { buildCapabilities } from '../src/bgp/capabilities.js';
import type { OpenMessage } from '../src/bgp/codec.js';
import { BgpError } from '../src/bgp/notify.js';

const ours: OpenMessage = {
  type: 'open',
  version: 4,
  myAs: 65100,
  holdTime: 9,
  routerId: '192.0.2.200',
  params: [],
};
const cfg: FsmConfig = {
  passive: false,
  holdTime: 9,
  connectRetryMs: 10_000,
  backoffBaseMs: 1000,
  backoffMaxMs: 8000,
  open: ours,
  localAs: 65100,
  remoteAs: 65000,
  routerId: '192.0.2.200',
  families: [{ afi: 1, safi: 1 }],
};
const peerOpen = (
  o: Partial<OpenMessage> = {},
  families: ('ipv4-unicast' | 'ipv6-unicast')[] = ['ipv4-unicast'],
): OpenMessage => ({
  type: 'open',
  version: 4,
  myAs: 65000,
  holdTime: 90,
  routerId: '10.0.0.1',
  ...o,
  params: [
    {
      kind: 'capabilities',
      capabilities: buildCapabilities({
        asn: o.myAs ?? 65000,
        families,
        gracefulRestart: 0,
        extendedMessage: false,
      }),
    },
  ],
});

function run(
  c: FsmConfig,
  events: FsmEvent[],
  s: FsmState = initialState(),
): { s: FsmState; effects: Effect[]; log: string[] } {
  const effects: Effect[] = [];
  const log: string[] = [];
  for (const e of events) {
    const r = step(c, s, e);
    s = r.state;
    effects.push(...r.effects);
    if (r.transition) log.push(`${r.transition.from}->${r.transition.to}`);
  }
  return { s, effects, log };
}

const sends = (effects: Effect[]) =>
  effects.flatMap((e) =>
    e.type === 'send'
      ? [
          e.message.type === 'notification'
            ? `notification ${e.message.code}/${e.message.subcode}`
            : e.message.type,
        ]
      : [],
  );
const timers = (effects: Effect[]) =>
  effects.flatMap((e) => (e.type === 'set-timer' ? [`${e.timer}=${e.ms}`] : []));

const toEstablished: FsmEvent[] = [
  { type: 'start' },
  { type: 'tcp-connected', inbound: false },
  { type: 'message', message: peerOpen() },
  { type: 'message', message: { type: 'keepalive' } },
];

test('active open to Established: OPEN, KEEPALIVE, negotiated timers, one transition per state', () => {
  const r = run(cfg, toEstablished);
  assert.equal(r.s.name, 'Established');
  assert.deepEqual(r.log, [
    'Idle->Connect',
    'Connect->OpenSent',
    'OpenSent->OpenConfirm',
    'OpenConfirm->Established',
  ]);
  assert.deepEqual(sends(r.effects), ['open', 'keepalive']);
  assert.deepEqual(timers(r.effects), [
    'connectRetry=10000',
    `hold=${LARGE_HOLD_MS}`,
    'keepalive=3000',
    'hold=9000',
    'hold=9000',
  ]);
  assert.equal(r.s.holdTime, 9);
  assert.ok(r.effects.some((e) => e.type === 'established'));
  assert.equal(r.effects[0]!.type, 'connect');
});

test('passive peer waits in Active and never connects', () => {
  const r = run({ ...cfg, passive: true }, [{ type: 'start' }, { type: 'timer', timer: 'connectRetry' }]);
  assert.equal(r.s.name, 'Active');
  assert.ok(!r.effects.some((e) => e.type === 'connect'));
  const r2 = run({ ...cfg, passive: true }, [{ type: 'tcp-connected', inbound: true }], r.s);
  assert.equal(r2.s.name, 'OpenSent');
});

test('hold timer expiry sends 4/0, goes down and schedules a reconnect', () => {
  const up = run(cfg, toEstablished).s;
  const r = run(cfg, [{ type: 'timer', timer: 'hold' }], up);
  assert.equal(r.s.name, 'Idle');
  assert.deepEqual(sends(r.effects), ['notification 4/0']);
  const down = r.effects.find((e) => e.type === 'down');
  assert.ok(down?.type === 'down' && /hold timer expired/.test(down.reason));
  assert.deepEqual(timers(r.effects), ['idleHold=1000']);
  // keepalives and updates restart the hold timer
  assert.deepEqual(timers(run(cfg, [{ type: 'message', message: { type: 'keepalive' } }], up).effects), [
    'hold=9000',
  ]);
  assert.deepEqual(sends(run(cfg, [{ type: 'timer', timer: 'keepalive' }], up).effects), ['keepalive']);
});

test('exponential back-off with a cap; reset once Established', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((n) => backoffMs(cfg, n)),
    [1000, 2000, 4000, 8000, 8000, 8000],
  );
  let s = initialState();
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = run(
      cfg,
      [
        { type: i === 0 ? 'start' : 'timer', timer: 'idleHold' } as FsmEvent,
        { type: 'tcp-failed', reason: 'ECONNREFUSED' },
      ],
      s,
    );
    s = r.s;
    delays.push(
      ...r.effects.flatMap((e) => (e.type === 'set-timer' && e.timer === 'idleHold' ? [e.ms] : [])),
    );
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 8000]);
  assert.equal(s.failures, 5);
  const up = run(cfg, [{ type: 'timer', timer: 'idleHold' }, ...toEstablished.slice(1)], s);
  assert.equal(up.s.name, 'Established');
  assert.equal(up.s.failures, 0);
});

test('OPEN validation: wrong AS, same router id on iBGP, no common family, bad hold time', () => {
  const open = (m: OpenMessage, c = cfg) =>
    run(c, [{ type: 'start' }, { type: 'tcp-connected', inbound: false }, { type: 'message', message: m }]);
  assert.deepEqual(sends(open(peerOpen({ myAs: 65001 })).effects), ['open', 'notification 2/2']);
  const ibgp = { ...cfg, remoteAs: 65100 };
  assert.deepEqual(sends(open(peerOpen({ myAs: 65100, routerId: '192.0.2.200' }), ibgp).effects), [
    'open',
    'notification 2/3',
  ]);
  assert.deepEqual(sends(open(peerOpen({}, ['ipv6-unicast'])).effects), ['open', 'notification 2/7']);
  const r = open(peerOpen({ myAs: 65001 }));
  assert.equal(r.s.name, 'Idle');
});

test('unexpected messages are FSM errors; NOTIFICATION received and decode errors tear down', () => {
  const r = run(cfg, [
    { type: 'start' },
    { type: 'tcp-connected', inbound: false },
    { type: 'message', message: { type: 'keepalive' } },
  ]);
  assert.deepEqual(sends(r.effects), ['open', 'notification 5/1']);
  const up = run(cfg, toEstablished).s;
  assert.deepEqual(sends(run(cfg, [{ type: 'message', message: peerOpen() }], up).effects), [
    'notification 5/3',
  ]);
  const n = run(
    cfg,
    [{ type: 'message', message: { type: 'notification', code: 6, subcode: 2, data: new Uint8Array(0) } }],
    up,
  );
  assert.equal(n.s.name, 'Idle');
  assert.deepEqual(sends(n.effects), []);
  const e = run(cfg, [{ type: 'error', error: new BgpError(3, 1, 'bad') }], up);
  assert.deepEqual(sends(e.effects), ['notification 3/1']);
  assert.ok(e.effects.some((x) => x.type === 'close'));
});

test('manual stop: Cease with data, stays Idle; silent stop (graceful restart) sends nothing', () => {
  const up = run(cfg, toEstablished).s;
  const r = run(
    cfg,
    [
      { type: 'stop', reason: 'shutdown', subcode: 2, data: new Uint8Array([0]) },
      { type: 'timer', timer: 'idleHold' },
    ],
    up,
  );
  assert.deepEqual(sends(r.effects), ['notification 6/2']);
  assert.equal(r.s.name, 'Idle');
  assert.equal(r.s.stopped, true);
  assert.ok(!r.effects.some((e) => e.type === 'connect'));
  const g = run(cfg, [{ type: 'stop', reason: 'shutdown', subcode: 2, silent: true }], up);
  assert.deepEqual(sends(g.effects), []);
  assert.ok(g.effects.some((e) => e.type === 'close'));
});

test('collision resolution keeps the connection of the higher BGP identifier', () => {
  assert.equal(collisionLoser('192.0.2.200', '10.0.0.1'), 'inbound');
  assert.equal(collisionLoser('10.0.0.1', '192.0.2.200'), 'outbound');
  const opensent = run(cfg, toEstablished.slice(0, 2)).s;
  const r = run(cfg, [{ type: 'collision' }], opensent);
  assert.deepEqual(sends(r.effects), ['notification 6/7']);
  assert.equal(r.s.name, 'Idle');
});
