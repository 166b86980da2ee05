/**
 * A UDP listener read in batches through the udpbatch addon (native/udpbatch.c): one
 * recvmmsg(2) for up to BATCH datagrams into one reused buffer, instead of Node's dgram,
 * which pays a syscall, a Buffer, an address string and a JavaScript call per datagram.
 * Used by a decode worker that owns exactly one listener (capture-worker.ts); the worker is
 * its own thread, so it may wait in poll(2) for a few milliseconds when nothing arrives.
 *
 * Where the addon did not build (no compiler), batchSocketSupport() says why and the
 * workers read through dgram as the main thread does: slower, never unavailable.
 */
import type { CaptureListener } from '../../config/types.js';
import { loadNative } from '../../native.js';
import { bindError } from './listen.js';
import { v4ToString, v6ToString } from '../../wire/addr.js';

interface UdpBatchAddon {
  open(
    family: 4 | 6,
    address: string,
    port: number,
    rcvbuf: number,
    reuseport: number,
  ): [number, number, number];
  recv(
    fd: number,
    data: Uint8Array,
    lens: Int32Array,
    addrs: Uint8Array,
    slot: number,
    max: number,
    timeoutMs: number,
  ): number;
  wait(fds: Int32Array, timeoutMs: number): boolean;
  close(fd: number): void;
}

const native = () => loadNative<UdpBatchAddon>('udpbatch');
const load = (): UdpBatchAddon | null => native().addon;

/** Whether batched receive is available, and why not. */
export function batchSocketSupport(): { available: boolean; error?: string } {
  const n = native();
  return n.addon ? { available: true } : { available: false, error: `${n.path}: ${n.error}` };
}

/**
 * Close a batch socket's descriptor from another thread: a worker that dies (terminate(),
 * an uncaught error) leaves its descriptors open, since they belong to the process.
 */
export function closeBatchFd(fd: number): void {
  load()?.close(fd);
}

/** Datagrams per recvmmsg call, and the room for each (the largest UDP payload fits). */
const BATCH = 64;
const SLOT = 65536;
const ADDR = 20;

export class BatchSocket {
  private readonly data = new Uint8Array(BATCH * SLOT);
  private readonly lens = new Int32Array(BATCH);
  private readonly addrs = new Uint8Array(BATCH * ADDR);
  /** Source text per IPv4 address (bounded), the last IPv6 one. */
  private readonly names = new Map<number, string>();
  private last6 = new Uint8Array(16);
  private last6Text = '';
  fd: number;

  private constructor(
    private readonly a: UdpBatchAddon,
    fd: number,
    readonly port: number,
    readonly receiveBuffer: number,
  ) {
    this.fd = fd;
  }

  /**
   * Bind `cfg`; throws one line (as the dgram path does) when it cannot. With `share`
   * (SO_REUSEPORT) the port is shared with the other workers' sockets for it: only this
   * process's user can join, and the kernel keeps each exporter on one socket.
   */
  static open(cfg: CaptureListener, rcvbuf: number, share = false): BatchSocket {
    const a = load();
    if (!a) throw new Error(`batched receive unavailable: ${native().error}`);
    try {
      const [fd, port, granted] = a.open(
        cfg.address.includes(':') ? 6 : 4,
        cfg.address,
        cfg.port,
        Math.min(rcvbuf, 0x7fffffff),
        share ? 1 : 0,
      );
      return new BatchSocket(a, fd, port, granted);
    } catch (e) {
      throw bindError(cfg, (e as Error).message.replace(/^bind: /, ''));
    }
  }

  private source(i: number): string {
    const a = this.addrs;
    const o = i * ADDR;
    if (a[o] === 4) {
      const v = ((a[o + 4]! << 24) | (a[o + 5]! << 16) | (a[o + 6]! << 8) | a[o + 7]!) >>> 0;
      let s = this.names.get(v);
      if (s === undefined) {
        if (this.names.size >= 4096) this.names.clear();
        s = v4ToString(v);
        this.names.set(v, s);
      }
      return s;
    }
    const l = this.last6;
    let same = this.last6Text !== '';
    for (let k = 0; k < 16 && same; k++) if (l[k] !== a[o + 4 + k]) same = false;
    if (!same) {
      l.set(a.subarray(o + 4, o + 20));
      this.last6Text = v6ToString(l);
    }
    return this.last6Text;
  }

  /**
   * Receive what is waiting (up to 64 datagrams), waiting up to `timeoutMs` when nothing is;
   * each datagram goes to onMessage, its bytes valid only during the call. Returns the count.
   */
  receive(timeoutMs: number, onMessage: (msg: Uint8Array, source: string) => void): number {
    if (this.fd < 0) return 0;
    const n = this.a.recv(this.fd, this.data, this.lens, this.addrs, SLOT, BATCH, timeoutMs);
    for (let i = 0; i < n; i++) {
      const len = Math.abs(this.lens[i]!);
      onMessage(this.data.subarray(i * SLOT, i * SLOT + Math.min(len, SLOT)), this.source(i));
    }
    return n;
  }

  close(): void {
    if (this.fd >= 0) this.a.close(this.fd);
    this.fd = -1;
  }

  /** Wait up to `timeoutMs` until one of `socks` has a datagram waiting; true when one has. */
  static waitAny(socks: readonly BatchSocket[], timeoutMs: number): boolean {
    const a = load();
    if (!a || socks.length === 0) return false;
    return a.wait(Int32Array.from(socks.filter((s) => s.fd >= 0).map((s) => s.fd)), timeoutMs);
  }
}
