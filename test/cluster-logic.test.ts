/**
 * Issue 17, the controller's pure logic: the lease decision (cluster/lease.ts step) and
 * the desired bucket's keys, values, batches and view (cluster/desired.ts), in fixed
 * sequences and in random runs against small reference models: a simulated KV with a TTL
 * and delayed, lost answers for the lease (never two leaders, one again once the bus is
 * well), and a reference bucket for the views (duplicates, re-reads and outages converge
 * on the bucket's content).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FOLLOWER, step, type LeaseEvent, type LeaseState } from '../src/cluster/lease.js';
import {
  decodeValue,
  DesiredView,
  encodeValue,
  keyOf,
  opsFor,
  type BucketOp,
} from '../src/cluster/desired.js';
import type { JournalEntry } from '../src/mitigation/journal.js';
import type { Mitigation } from '../src/mitigation/types.js';
// A seeded PRNG (mulberry32): a failing run is replayed from its seed.
import { rng } from '../src/demo/traffic.js';

const LEASE = 3000;

function run(s: LeaseState, events: LeaseEvent[]): { state: LeaseState; actions: (string | null)[] } {
  const actions: (string | null)[] = [];
  for (const e of events) {
    const r = step(s, e, LEASE, 'a');
    s = r.state;
    actions.push(r.action);
  }
  return { state: s, actions };
}

test('lease: a follower takes the free key, renews every lease/3, and keeps it while renewals succeed', () => {
  // Refused, it asks again lease/6 later (an expired key sends no event).
  const wait = run(FOLLOWER, [
    { kind: 'tick', now: 0 },
    { kind: 'lost', op: 'create' },
    { kind: 'tick', now: 499 },
    { kind: 'tick', now: 500 },
  ]);
  assert.deepEqual(wait.actions, ['create', null, null, 'create']);
  const r = run(FOLLOWER, [
    { kind: 'tick', now: 0 },
    { kind: 'won', op: 'create', revision: 7, sentAt: 0 },
    { kind: 'tick', now: 500 },
    { kind: 'tick', now: 1000 },
    { kind: 'won', op: 'update', revision: 8, sentAt: 1000 },
    { kind: 'tick', now: 2000 },
    { kind: 'won', op: 'update', revision: 9, sentAt: 2000 },
  ]);
  assert.deepEqual(r.actions, ['create', null, null, 'update', null, 'update', null]);
  assert.deepEqual(r.state, { role: 'leader', revision: 9, renewedAt: 2000, pending: null });
});

test('lease: a leader that cannot renew steps down at 5/6 of the lease, even with a renewal in flight', () => {
  const lead: LeaseState = { role: 'leader', revision: 3, renewedAt: 0, pending: null };
  const r = run(lead, [
    { kind: 'tick', now: 1000 },
    { kind: 'failed', op: 'update' },
    { kind: 'tick', now: 1500 },
    { kind: 'tick', now: 2499 },
    { kind: 'tick', now: 2500 },
  ]);
  assert.deepEqual(r.actions, ['update', null, 'update', null, null]);
  // A follower now that knows its own last revision: it may take it over a lease later.
  assert.deepEqual(r.state, { ...FOLLOWER, leader: 'a', seenRev: 3, seenAt: 2500, triedAt: 2500 });
  // The late answer to the renewal sent as leader does not make it lead again.
  const late = step(r.state, { kind: 'won', op: 'update', revision: 4, sentAt: 1500 }, LEASE, 'a');
  assert.equal(late.state.role, 'follower');
});

test('lease: refused renewal or another name under the key means follower; a deleted key is tried at once', () => {
  const lead: LeaseState = { role: 'leader', revision: 3, renewedAt: 0, pending: 'update' };
  assert.equal(step(lead, { kind: 'lost', op: 'update' }, LEASE, 'a').state.role, 'follower');
  const seen = step(lead, { kind: 'seen', leader: 'b', revision: 4, now: 100 }, LEASE, 'a').state;
  assert.deepEqual(seen, { ...FOLLOWER, leader: 'b', seenRev: 4, seenAt: 100, triedAt: 100 });
  // Its own name seen: nothing changes.
  assert.equal(step(lead, { kind: 'seen', leader: 'a', revision: 3, now: 100 }, LEASE, 'a').state, lead);
  const f = step(seen, { kind: 'seen', leader: null, revision: 5, now: 200 }, LEASE, 'a');
  assert.equal(f.action, 'create');
  // One request at a time: no second create while the first is out.
  assert.equal(step(f.state, { kind: 'tick', now: 5000 }, LEASE, 'a').action, null);
  assert.equal(step(f.state, { kind: 'lost', op: 'create' }, LEASE, 'a').state.role, 'follower');
});

test('lease: a holder not renewed for a whole lease (as seen here) is taken over by compare-and-set', () => {
  let s: LeaseState = FOLLOWER;
  const ev = (e: LeaseEvent) => {
    const r = step(s, e, LEASE, 'a');
    s = r.state;
    return r.action;
  };
  assert.equal(ev({ kind: 'seen', leader: 'b', revision: 10, now: 0 }), null);
  // While b renews (new revisions), nothing is tried, not even a create.
  assert.equal(ev({ kind: 'tick', now: 2000 }), null);
  assert.equal(ev({ kind: 'seen', leader: 'b', revision: 11, now: 2500 }), null);
  assert.equal(ev({ kind: 'tick', now: 5499 }), null);
  assert.equal(ev({ kind: 'tick', now: 5500 }), 'takeover');
  assert.deepEqual(s, {
    role: 'follower',
    leader: 'b',
    seenRev: 11,
    seenAt: 2500,
    pending: 'takeover',
    triedAt: 5500,
  });
  // b renewed after all (a revision not seen yet): start over with a create.
  assert.equal(ev({ kind: 'lost', op: 'takeover' }), 'create');
  assert.equal(ev({ kind: 'lost', op: 'create' }), null);
  assert.equal(ev({ kind: 'seen', leader: 'b', revision: 12, now: 5600 }), null);
  assert.equal(ev({ kind: 'tick', now: 8600 }), 'takeover');
  assert.equal(ev({ kind: 'won', op: 'takeover', revision: 13, sentAt: 8600 }), null);
  assert.deepEqual(s, { role: 'leader', revision: 13, renewedAt: 8600, pending: null });
});

/**
 * Several nodes electing over a simulated KV: the key expires lease ms after it was last
 * written (no event, as JetStream 2.9 expires messages silently), requests arrive and
 * answer after random delays or get lost, and nodes are cut off for random spells.
 */
function simulate(seed: number, nodes = 3, steps = 4000): { leaderTime: number; changes: number } {
  const r = rng(seed);
  const names = Array.from({ length: nodes }, (_, i) => `n${i}`);
  const states: LeaseState[] = names.map(() => FOLLOWER);
  let key: { value: string; rev: number; writtenAt: number } | null = null;
  let seq = 0;
  type Msg = { at: number; run: () => void };
  let queue: Msg[] = [];
  const cutUntil = names.map(() => 0);
  const watchAt = names.map(() => 0);
  let now = 0;
  let leaderTime = 0;
  let changes = 0;
  let calm = false;
  let noLeaderSince = 0;
  let longestGap = 0;
  const expire = () => {
    if (key && now >= key.writtenAt + LEASE) key = null;
  };
  const feed = (i: number, e: LeaseEvent) => {
    const before = states[i]!.role;
    const { state, action } = step(states[i]!, e, LEASE, names[i]!);
    states[i] = state;
    if (state.role !== before) changes++;
    if (!action) return;
    const sentAt = now;
    // The last fifth of the run is a well bus: no outage, no lost request.
    const lost = now < cutUntil[i]! || (!calm && r() < 0.05);
    const arrive = now + r() * 600;
    const answer = arrive + r() * 600;
    if (lost) {
      queue.push({ at: answer, run: () => feed(i, { kind: 'failed', op: action }) });
      return;
    }
    const st = states[i]!;
    const rev = st.role === 'leader' ? st.revision : st.seenRev;
    queue.push({
      at: arrive,
      run: () => {
        expire();
        let ok: number | null = null;
        if (action === 'create' && !key) ok = ++seq;
        if (action !== 'create' && key && key.rev === rev) ok = ++seq;
        if (ok !== null) {
          key = { value: names[i]!, rev: ok, writtenAt: now };
          // The watch tells every node, a little later, in order.
          const got = ok;
          for (let k = 0; k < nodes; k++) {
            watchAt[k] = Math.max(watchAt[k]!, now + r() * 300);
            queue.push({
              at: watchAt[k]!,
              run: () => feed(k, { kind: 'seen', leader: names[i]!, revision: got, now }),
            });
          }
        }
        const got = ok;
        queue.push({
          at: answer,
          run: () =>
            feed(
              i,
              got === null
                ? { kind: 'lost', op: action }
                : { kind: 'won', op: action, revision: got, sentAt },
            ),
        });
      },
    });
  };
  for (let s = 0; s < steps; s++) {
    // Ticks as LeaseRunner's (every lease/12), give or take a busy event loop.
    const next = now + 50 + r() * 250;
    // Messages due before the next tick, in time order.
    for (;;) {
      queue.sort((a, b) => a.at - b.at);
      const m = queue[0];
      if (!m || m.at > next) break;
      queue = queue.slice(1);
      now = m.at;
      m.run();
      check();
    }
    now = next;
    if (r() < 0.01) cutUntil[Math.floor(r() * nodes)] = now + r() * 3 * LEASE;
    calm = s > steps * 0.8;
    if (calm) cutUntil.fill(0);
    for (let i = 0; i < nodes; i++) feed(i, { kind: 'tick', now });
    check();
    if (states.some((x) => x.role === 'leader')) {
      leaderTime++;
      noLeaderSince = now;
    } else if (s > steps * 0.85) longestGap = Math.max(longestGap, now - noLeaderSince);
  }
  function check() {
    expire();
    const leading = names.filter((_, i) => states[i]!.role === 'leader');
    assert.ok(leading.length <= 1, `seed ${seed} at ${now}: two leaders ${leading}`);
    // A node that thinks it leads holds the key on the server, unexpired.
    if (leading.length === 1)
      assert.equal(key?.value, leading[0], `seed ${seed} at ${now}: ${leading[0]} leads without the key`);
  }
  // Once the bus is well, a leader within two leases, kept to the end.
  // On a well bus a leader can still step down (a renewal answered late), but a leaderless
  // spell lasts at most the rest of its lease, a retry and a round trip.
  assert.ok(
    longestGap < 2 * LEASE,
    `seed ${seed}: ${Math.round(longestGap)} ms without a leader on a well bus`,
  );
  return { leaderTime: leaderTime / steps, changes };
}

test('lease, random runs against a simulated KV: never two leaders, never one without the key, short leaderless spells on a well bus', () => {
  let sum = 0;
  for (let seed = 1; seed <= 100; seed++) sum += simulate(seed, 2 + (seed % 3)).leaderTime;
  // Outages are short and rare: a leader most of the time.
  assert.ok(sum / 100 > 0.7, `led ${((sum / 100) * 100).toFixed(0)}% of the time`);
});

// ---------------------------------------------------------------- desired bucket

let uuidN = 0;
function mit(over: Partial<Mitigation> = {}): Mitigation {
  const n = ++uuidN;
  return {
    uuid: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    kind: 'blackhole',
    prefix: `10.240.${n >> 8}.${n & 255}/32`,
    ip: `10.240.${n >> 8}.${n & 255}`,
    cause: { kind: 'manual' },
    hostgroup: 'default',
    started_at: 1000 + n,
    expires_at: null,
    communities: ['65535:666'],
    large_communities: [],
    dry_run: false,
    ...over,
  } as Mitigation;
}

test('desired: keys are uuids (others hashed, stably), values round-trip, foreign values are refused', () => {
  const m = mit();
  assert.equal(keyOf(m.uuid), m.uuid);
  assert.match(keyOf('a b/c'), /^h-[0-9a-f]{40}$/);
  assert.equal(keyOf('a b/c'), keyOf('a b/c'));
  assert.notEqual(keyOf('a b/c'), keyOf('a b/d'));
  assert.deepEqual(decodeValue(encodeValue(m)), m);
  const te = new TextEncoder();
  for (const bad of ['', 'null', '{"v":2,"m":{}}', '{"v":1,"m":{"uuid":1}}', '{"v":1}', 'x'])
    assert.equal(decodeValue(te.encode(bad)), null, bad);
});

test("desired: a batch is one operation per key, each key's last change winning", () => {
  const a = mit();
  const b = mit();
  const c = mit();
  const cur = new Map([[c.uuid, c]]);
  const ops = opsFor(
    [
      { op: 'add', m: a },
      { op: 'add', m: b },
      { op: 'remove', uuid: a.uuid, reason: 'x', at: 1 },
      { op: 'update', uuid: b.uuid, expires_at: 99, at: 1 },
      { op: 'update', uuid: c.uuid, expires_at: 77, at: 1 },
      { op: 'update', uuid: 'unknown', expires_at: 5, at: 1 },
    ],
    (u) => cur.get(u),
  );
  assert.deepEqual(ops, [
    { op: 'del', key: a.uuid },
    { op: 'put', key: b.uuid, m: { ...b, expires_at: 99 } },
    { op: 'put', key: c.uuid, m: { ...c, expires_at: 77 } },
  ]);
});

test('desired: the view ignores duplicates and stale revisions; a re-read drops what was deleted meanwhile', () => {
  const v = new DesiredView();
  const a = mit();
  const b = mit();
  assert.deepEqual(v.apply('a', 1, a), { key: 'a', before: null, after: a });
  assert.equal(v.apply('a', 1, a), null);
  assert.ok(v.apply('b', 2, b));
  assert.deepEqual(v.apply('a', 3, null), { key: 'a', before: a, after: null });
  assert.equal(v.apply('a', 1, a), null, 'a late put does not bring a deleted key back');
  assert.equal(v.size, 1);
  // The leader's own delete (the server gives no revision) and the watch's DEL after it.
  assert.ok(v.apply('b', v.revision('b'), null, true));
  assert.equal(v.apply('b', 4, null), null);
  assert.equal(v.size, 0);
  const c = mit();
  v.apply('c', 5, c);
  const d = mit();
  v.apply('d', 9, d); // written after the re-read below started
  const changes = v.replace(new Map([['e', { rev: 6, m: b }]]), 7);
  assert.deepEqual(
    changes.map((x) => [x.key, x.before?.uuid ?? null, x.after?.uuid ?? null]),
    [
      ['e', null, b.uuid],
      ['c', c.uuid, null],
    ],
  );
  assert.deepEqual(
    v
      .mitigations()
      .map((m) => m.uuid)
      .sort(),
    [b.uuid, d.uuid].sort(),
  );
});

test('desired, random runs against a reference bucket: views converge through duplicates, re-reads and outages', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const r = rng(seed);
    const bucket = new Map<string, { rev: number; m: Mitigation }>();
    let seq = 0;
    const log: { key: string; rev: number; m: Mitigation | null }[] = [];
    const apply = (o: BucketOp): number => {
      seq++;
      if (o.op === 'put') bucket.set(o.key, { rev: seq, m: o.m });
      else bucket.delete(o.key);
      log.push({ key: o.key, rev: seq, m: o.op === 'put' ? o.m : null });
      return seq;
    };
    const leader = new DesiredView(); // applies its own writes, then the watch
    const follower = new DesiredView(); // the watch only, with outages and re-reads
    let delivered = { leader: 0, follower: 0 };
    let down = false;
    for (let step = 0; step < 300; step++) {
      // One manager batch: adds, removals and updates of what is there.
      const entries: JournalEntry[] = [];
      const live = [...bucket.values()].map((v) => v.m);
      for (let k = Math.floor(r() * 8); k > 0; k--) {
        const x = r();
        if (x < 0.5 || live.length === 0) entries.push({ op: 'add', m: mit() });
        else if (x < 0.8)
          entries.push({ op: 'remove', uuid: live[Math.floor(r() * live.length)]!.uuid, reason: 'r', at: 0 });
        else
          entries.push({
            op: 'update',
            uuid: live[Math.floor(r() * live.length)]!.uuid,
            expires_at: step,
            at: 0,
          });
      }
      for (const o of opsFor(entries, (u) => bucket.get(keyOf(u))?.m)) {
        const rev = apply(o);
        if (o.op === 'put') leader.apply(o.key, rev, o.m);
        else leader.apply(o.key, leader.revision(o.key), null, true);
      }
      // The watch: delivered in order, some entries twice, none while the bus is down.
      if (r() < 0.05) down = !down;
      const deliver = (v: DesiredView, from: number) => {
        let i = from;
        for (; i < log.length && r() < 0.9; i++) {
          const e = log[i]!;
          v.apply(e.key, e.rev, e.m);
          if (r() < 0.1) v.apply(e.key, e.rev, e.m);
        }
        return i;
      };
      delivered.leader = deliver(leader, delivered.leader);
      // While the bus is down the follower hears nothing and keeps what it had; the
      // resumed watch (an ordered consumer) goes on from where it stopped.
      if (!down) delivered.follower = deliver(follower, delivered.follower);
      // A watch started again: a full read up to now, then the log after it.
      if (!down && r() < 0.03) {
        follower.replace(new Map(bucket), seq);
        delivered.follower = log.length;
      }
    }
    for (const e of log.slice(delivered.follower)) follower.apply(e.key, e.rev, e.m);
    for (const e of log.slice(delivered.leader)) leader.apply(e.key, e.rev, e.m);
    const want = [...bucket.values()].map((v) => v.m.uuid + v.m.expires_at).sort();
    for (const [name, v] of [
      ['leader', leader],
      ['follower', follower],
    ] as const) {
      assert.deepEqual(
        v
          .mitigations()
          .map((m) => m.uuid + m.expires_at)
          .sort(),
        want,
        `seed ${seed}: ${name}`,
      );
      assert.equal(v.size, bucket.size, `seed ${seed}: ${name} size`);
    }
    delivered = { leader: 0, follower: 0 };
  }
});
