/**
 * A detection shard (worker_threads entry; detection.shards > 0). It runs one detection
 * engine (DetectorImpl) that counts only the hosts of its shard (IPv4 /24 or IPv6 /64 →
 * shard, capture/input/shard-router.ts), fed by one record ring per producer (the decode
 * workers, the live mirror's thread, the main thread), and ticks on its own timer every
 * tick_ms, so every shard is evaluated on every tick as the single engine is.
 *
 * What the main thread needs travels as one message per tick (the attack events of that
 * tick, and the shard's hostgroup-total accumulators of the interval that closed, which the
 * main thread adds across shards before it checks hostgroup-total limits: pool.ts), and as
 * synchronous queries (one host's rates, top, statistics) over a MessagePort the main
 * thread reads with receiveMessageOnPort after Atomics.wait on the control block.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { pumpRing, RingReader } from '../../capture/input/record-ring.js';
import {
  CLASSES,
  DIRECTIONS,
  UNITS,
  type Config,
  type Direction,
  type TrafficClass,
  type Unit,
} from '../../config/types.js';
import { configureLogging } from '../../log.js';
import { DetectorImpl, type DetectorOptions } from '../detector.js';
import type { AttackEvent, AttackRecord, TopUnit } from '../types.js';

export interface ShardWorkerData {
  index: number;
  count: number;
  cfg: Config;
  opts: Omit<DetectorOptions, 'now' | 'shard'>;
  /** One ring per producer, this shard's column. */
  rings: SharedArrayBuffer[];
  /** Int32 control block (pool.ts C_*). */
  control: SharedArrayBuffer;
  rpc: MessagePort;
  /** Tests: no timer; the main thread ticks (query 'tick'). */
  manual: boolean;
  /** Started again after a crash: the rings were written before this reader existed. */
  restarted: boolean;
}

/** Control block: [C_REPLY] id of the last answered query, [C_LOSS] 1 while the capture loses datagrams. */
export const C_REPLY = 0;
export const C_LOSS = 1;
export const CONTROL_BYTES = 8;

export interface ShardEvent {
  event: AttackEvent;
  rec: AttackRecord;
}

/** Shard → main thread, once per tick (and the reply to a manual 'tick'). */
export interface ShardTick {
  type: 'tick';
  events: ShardEvent[];
  acc: Float64Array;
  mask: Uint32Array;
}

export type ShardQuery =
  | { id: number; op: 'hostRates' | 'emergency'; ip: string }
  | { id: number; op: 'ratesMany' | 'stillMany'; ips: string[] }
  | { id: number; op: 'top'; n: number; unit: TopUnit; direction: Direction }
  | { id: number; op: 'stats' }
  | { id: number; op: 'hgSamples'; name: string; outgoing: boolean }
  | { id: number; op: 'tick'; now: number }
  | { id: number; op: 'reconfigure'; cfg: Config }
  | { id: number; op: 'stop' };

function run(data: ShardWorkerData): void {
  configureLogging(data.cfg.logging);
  let clock = Date.now();
  const now = data.manual ? () => clock : Date.now;
  const det = new DetectorImpl(data.cfg, {
    ...data.opts,
    now,
    shard: { index: data.index, count: data.count },
  });
  const ctl = new Int32Array(data.control);
  det.setLossProbe(() => Atomics.load(ctl, C_LOSS) !== 0);
  let events: ShardEvent[] = [];
  // Events between ticks (an early start, tick.ts early()) go out at once too; those of a
  // tick leave with it (below), so the flush then finds none.
  let flushing = false;
  const flush = () => {
    flushing = false;
    if (events.length === 0 || data.manual) return;
    parentPort!.postMessage({ type: 'tick', events, acc: new Float64Array(0), mask: new Uint32Array(0) });
    events = [];
  };
  for (const ev of ['attack_started', 'attack_updated', 'attack_finished'] as const)
    det.on(ev, (rec) => {
      events.push({ event: ev, rec });
      if (!flushing) {
        flushing = true;
        setImmediate(flush);
      }
    });
  let tick: ShardTick | null = null;
  const takeTick = (): ShardTick | null => {
    const t = tick;
    tick = null;
    return t;
  };
  det.onHostgroupInterval((acc, mask) => {
    tick = { type: 'tick', events, acc, mask };
    events = [];
    // At once, at the end of each tick: an attack started now is banned without waiting
    // here, and no tick's events are held back by the next one.
    if (!data.manual) parentPort!.postMessage(takeTick());
  });
  let live = true;
  const readers = data.rings.map((r) => new RingReader(r));
  if (data.restarted) for (const r of readers) r.forgetNames();
  for (const r of readers) void pumpRing(r, det.sink, () => live);
  // The engine's own timer (tests tick by hand: the 'tick' query).
  if (!data.manual) det.start();
  const answer = (q: ShardQuery): unknown => {
    switch (q.op) {
      case 'hostRates':
        return det.hostRates(q.ip);
      case 'ratesMany':
        return q.ips.map((ip) => {
          const f = det.rateFn(ip);
          return f ? Float64Array.from(RATE_KEYS, ([d, c, u]) => f(d, c, u)) : null;
        });
      case 'stillMany':
        return q.ips.map((ip) => det.stillAttacking(ip));
      case 'emergency':
        return det.overEmergency(q.ip);
      case 'top':
        return det.top(q.n, q.unit, q.direction);
      case 'stats':
        return {
          detection: det.detectionStats(),
          filterHits: det.filterHits(),
          bytesPerHost: det.bytesPerHost(),
          bytesPerHotHost: det.bytesPerHotHost(),
          saturated: det.bucketsSaturated,
          totals: det.totals(),
        };
      case 'hgSamples':
        return det.hostgroupSamples(q.name, q.outgoing);
      case 'tick':
        // Everything published so far is counted first (a test's records are all in).
        for (const r of readers) r.drainAll(det.sink);
        clock = q.now;
        det.tick(q.now);
        return takeTick();
      case 'reconfigure':
        det.reconfigure(q.cfg);
        return true;
      case 'stop':
        live = false;
        det.stop();
        for (const r of readers) {
          r.drainAll(det.sink);
          r.close();
        }
        return true;
    }
  };
  data.rpc.on('message', (q: ShardQuery) => {
    let result: unknown;
    let error: string | null = null;
    try {
      result = answer(q);
    } catch (e) {
      error = (e as Error).message;
    }
    data.rpc.postMessage({ id: q.id, result, error });
    Atomics.store(ctl, C_REPLY, q.id);
    Atomics.notify(ctl, C_REPLY);
    if (q.op === 'stop') data.rpc.close();
  });
}

/** The (direction, class, unit) a RateFn answers for, in the order of a 'ratesMany' answer. */
const RATE_KEYS: readonly [Direction, TrafficClass, Unit][] = DIRECTIONS.flatMap((d) =>
  CLASSES.flatMap((c) => UNITS.map((u) => [d, c, u] as [Direction, TrafficClass, Unit])),
);

/** Position of (direction, class, unit) in a 'ratesMany' answer. */
export function rateKey(d: Direction, cls: TrafficClass, unit: Unit): number {
  return (DIRECTIONS.indexOf(d) * CLASSES.length + CLASSES.indexOf(cls)) * UNITS.length + UNITS.indexOf(unit);
}

if (parentPort && (workerData as { kind?: string } | null)?.kind === 'detection-shard')
  run((workerData as { data: ShardWorkerData }).data);
