/**
 * Records by destination shard (detection.shards > 0): each host's counters live in exactly
 * one detection shard, chosen from its IPv4 /24 or IPv6 /64, so a record is written to the
 * shard of its destination (incoming side) and, when that differs, to the shard of its
 * source (outgoing side); each shard accounts only the side whose address it owns
 * (detection/ingest.ts). A /24 or /64 stays together so a hostgroup's neighbouring hosts and
 * a carpet-bombed prefix spread over shards by prefix, not by host.
 *
 * The key is a multiplicative hash (Knuth, 2^32 / golden ratio) of the prefix: sequential
 * /24s of one customer network land on different shards.
 */
import type { FlowRecord, FlowSink } from '../flow.js';
import type { RingWriter } from './record-ring.js';

const GOLDEN = 0x9e3779b1;

/** Shard of an IPv4 host (uint32) among `n`. */
export function shardOf4(addr: number, n: number): number {
  return (Math.imul(addr >>> 8, GOLDEN) >>> 0) % n;
}

/** Shard of an IPv6 host among `n`, from its /64 (the first 8 bytes). */
export function shardOf6(a: Uint8Array, n: number): number {
  const w0 = ((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0;
  const w1 = ((a[4]! << 24) | (a[5]! << 16) | (a[6]! << 8) | a[7]!) >>> 0;
  return (Math.imul(w0 ^ Math.imul(w1, GOLDEN), GOLDEN) >>> 0) % n;
}

/** The shard of a record's destination: it counts the incoming side and owns the record. */
export function dstShard(rec: FlowRecord, n: number): number {
  return rec.ipVersion === 4 ? shardOf4(rec.dst4, n) : shardOf6(rec.dst6, n);
}

/** The shard of a record's source: it counts the outgoing side. */
export function srcShard(rec: FlowRecord, n: number): number {
  return rec.ipVersion === 4 ? shardOf4(rec.src4, n) : shardOf6(rec.src6, n);
}

/** A FlowSink writing each record to its shards' rings; commit() publishes all of them. */
export class ShardRouter implements FlowSink {
  private readonly n: number;

  constructor(private readonly writers: readonly RingWriter[]) {
    this.n = writers.length;
  }

  onFlow(rec: FlowRecord): void {
    const n = this.n;
    if (n === 1) {
      this.writers[0]!.onFlow(rec);
      return;
    }
    const d = dstShard(rec, n);
    const s = srcShard(rec, n);
    this.writers[d]!.onFlow(rec);
    if (s !== d) this.writers[s]!.onFlow(rec);
  }

  commit(): void {
    for (const w of this.writers) w.commit();
  }

  flushCounts(): void {
    for (const w of this.writers) w.flushCounts();
  }
}
