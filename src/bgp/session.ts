/**
 * The session shell: one TCP connection to a peer driven by the pure FSM (fsm.ts). It
 * frames and decodes what arrives, feeds events to step(), and runs the effects it gets
 * back (connect, send, close, timers). UPDATEs leave through a queue that honours socket
 * back-pressure and the peer's update rate cap. Nothing a peer sends can throw out of here:
 * every decode error becomes the NOTIFICATION the FSM chooses.
 */
import net from 'node:net';
import type { BgpPeerConfig } from '../config/types.js';
import type { PeerStateName } from './types.js';
import {
  decodeMessage,
  encodeMessage,
  readHeader,
  type BgpMessage,
  type CodecContext,
  DEFAULT_CONTEXT,
} from './codec.js';
import { negotiate, type LocalCapabilities, type Negotiated } from './capabilities.js';
import {
  step,
  initialState,
  type Effect,
  type FsmConfig,
  type FsmEvent,
  type FsmState,
  type TimerName,
  type Transition,
} from './fsm.js';
import { BgpError, ERR_HEADER, ERR_UPDATE } from './notify.js';
import { securedSocket, wantsSecurity } from './sockopt.js';

/** What a connection reports to its peer. */
export interface ConnectionHost {
  readonly peer: BgpPeerConfig;
  readonly localCaps: LocalCapabilities;
  transition(conn: Connection, t: Transition): void;
  openReceived(conn: Connection): void;
  established(conn: Connection): void;
  down(conn: Connection, reason: string): void;
  message(conn: Connection, m: BgpMessage): void;
  sent(conn: Connection, bytes: Uint8Array, isUpdate: boolean): void;
  failed(conn: Connection, reason: string): void;
}

export class Connection {
  state: FsmState = initialState();
  socket: net.Socket | null = null;
  inbound = false;
  negotiated: Negotiated | null = null;
  establishedAt = 0;
  private ctx: CodecContext = DEFAULT_CONTEXT;
  private rx: Buffer = Buffer.alloc(0);
  private readonly timers = new Map<TimerName, NodeJS.Timeout>();
  private readonly events: FsmEvent[] = [];
  private dispatching = false;
  private disposed = false;
  private queue: Uint8Array[] = [];
  private waitingDrain = false;
  private rateTimer: NodeJS.Timeout | null = null;
  private windowStart = 0;
  private windowCount = 0;
  private flushWaiters: (() => void)[] = [];
  private closing: Promise<void> | null = null;

  constructor(
    private readonly host: ConnectionHost,
    readonly fsm: FsmConfig,
  ) {}

  get name(): PeerStateName {
    return this.state.name;
  }

  /** Feed an event; effects of nested events run after the current ones (no re-entrance). */
  dispatch(ev: FsmEvent): void {
    if (this.disposed) return;
    this.events.push(ev);
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      while (this.events.length) {
        const e = this.events.shift()!;
        // A connect that times out stays in Connect (no transition): tell the peer, since
        // with TCP MD5 or GTSM a timeout is all the kernel lets us see of a mismatch.
        if (
          e.type === 'timer' &&
          e.timer === 'connectRetry' &&
          this.state.name === 'Connect' &&
          !this.fsm.passive
        )
          this.host.failed(this, 'connect timed out');
        const r = step(this.fsm, this.state, e);
        this.state = r.state;
        if (r.transition) this.host.transition(this, r.transition);
        for (const eff of r.effects) this.run(eff);
        if (r.transition?.to === 'OpenConfirm') this.host.openReceived(this);
      }
    } finally {
      this.dispatching = false;
    }
  }

  private run(e: Effect): void {
    switch (e.type) {
      case 'connect':
        this.connect();
        return;
      case 'close':
        this.closeSocket();
        return;
      case 'send':
        this.write(encodeMessage(e.message, this.ctx), false);
        return;
      case 'set-timer': {
        this.clearTimer(e.timer);
        const t = setTimeout(() => {
          this.timers.delete(e.timer);
          this.dispatch({ type: 'timer', timer: e.timer });
        }, e.ms);
        this.timers.set(e.timer, t);
        return;
      }
      case 'clear-timer':
        this.clearTimer(e.timer);
        return;
      case 'established':
        this.establishedAt = Date.now();
        this.host.established(this);
        return;
      case 'down':
        this.host.down(this, e.reason);
        return;
    }
  }

  private clearTimer(t: TimerName): void {
    const h = this.timers.get(t);
    if (h) clearTimeout(h);
    this.timers.delete(t);
  }

  private connect(): void {
    this.closeSocket();
    const p = this.host.peer;
    let s: net.Socket;
    if (wantsSecurity(p)) {
      // MD5 must sign the SYN already, so the socket is made with its options first.
      try {
        s = securedSocket(p);
      } catch (e) {
        const reason = `cannot open a secured socket: ${(e as Error).message}`;
        this.host.failed(this, reason);
        this.dispatch({ type: 'tcp-failed', reason });
        return;
      }
      s.connect({ host: p.address, port: p.port });
    } else {
      s = net.connect({
        host: p.address,
        port: p.port,
        ...(p.local_address ? { localAddress: p.local_address } : {}),
      });
    }
    this.inbound = false;
    this.attach(s);
    s.once('connect', () => {
      if (this.socket === s) this.dispatch({ type: 'tcp-connected', inbound: false });
    });
  }

  /** Take over an accepted socket (the FSM decides whether it is welcome). */
  adoptInbound(s: net.Socket): void {
    this.closeSocket();
    this.inbound = true;
    this.attach(s);
    this.dispatch({ type: 'tcp-connected', inbound: true });
  }

  private attach(s: net.Socket): void {
    this.socket = s;
    this.rx = Buffer.alloc(0);
    this.ctx = DEFAULT_CONTEXT;
    this.negotiated = null;
    s.setNoDelay(true);
    s.on('data', (d: Buffer) => {
      if (this.socket === s) this.receive(d);
    });
    s.on('error', (err) => {
      if (this.socket === s) this.host.failed(this, err.message);
    });
    s.on('close', () => {
      if (this.socket !== s) return;
      this.socket = null;
      this.dropQueue();
      this.dispatch({ type: 'tcp-failed', reason: 'connection closed' });
    });
    s.on('drain', () => {
      if (this.socket !== s) return;
      this.waitingDrain = false;
      this.pump();
    });
  }

  private closeSocket(): void {
    const s = this.socket;
    this.socket = null;
    this.dropQueue();
    if (s) {
      // end() lets a queued NOTIFICATION leave before FIN; destroy after a grace period.
      this.closing = new Promise((resolve) => {
        if (s.destroyed) return resolve();
        s.once('close', () => resolve());
      });
      s.end();
      setTimeout(() => s.destroy(), 1000).unref();
    }
  }

  private receive(d: Buffer): void {
    this.rx = this.rx.length ? Buffer.concat([this.rx, d]) : d;
    let off = 0;
    try {
      while (this.socket && !this.disposed) {
        const h = readHeader(this.rx, off, this.ctx.maxLength);
        if (!h || this.rx.length - off < h.length) break;
        const bytes = this.rx.subarray(off, off + h.length);
        off += h.length;
        let m: BgpMessage;
        try {
          m = decodeMessage(bytes, this.ctx);
        } catch (e) {
          if (e instanceof BgpError) throw e;
          // A decoder bug must not take the daemon down: answer as a malformed message.
          throw new BgpError(
            h.type === 2 ? ERR_UPDATE : ERR_HEADER,
            h.type === 2 ? 1 : 0,
            `cannot decode: ${(e as Error).message}`,
          );
        }
        if (m.type === 'open') {
          this.negotiated = negotiate(this.host.localCaps, this.host.peer.hold_time, m);
          this.ctx = { as4: this.negotiated.as4, maxLength: this.negotiated.maxMessage };
        }
        this.host.message(this, m);
        this.dispatch({ type: 'message', message: m });
      }
    } catch (e) {
      this.rx = Buffer.alloc(0);
      const err = e instanceof BgpError ? e : new BgpError(ERR_HEADER, 0, (e as Error).message);
      this.dispatch({ type: 'error', error: err });
      return;
    }
    this.rx = off >= this.rx.length ? Buffer.alloc(0) : this.rx.subarray(off);
  }

  private write(bytes: Uint8Array, isUpdate: boolean): boolean {
    const s = this.socket;
    if (!s || s.destroyed) return false;
    this.host.sent(this, bytes, isUpdate);
    return s.write(bytes);
  }

  /** Queue UPDATEs; they leave in order, respecting back-pressure and the rate cap. */
  enqueue(msgs: readonly Uint8Array[]): void {
    for (const m of msgs) this.queue.push(m);
    this.pump();
  }

  get queued(): number {
    return this.queue.length;
  }

  private pump(): void {
    const s = this.socket;
    if (!s || this.waitingDrain || this.rateTimer) return;
    const cap = this.host.peer.max_updates_per_second;
    s.cork();
    try {
      while (this.queue.length) {
        if (cap > 0) {
          const now = Date.now();
          if (now - this.windowStart >= 1000) {
            this.windowStart = now;
            this.windowCount = 0;
          }
          if (this.windowCount >= cap) {
            this.rateTimer = setTimeout(
              () => {
                this.rateTimer = null;
                this.pump();
              },
              1000 - (now - this.windowStart),
            );
            return;
          }
          this.windowCount++;
        }
        const m = this.queue.shift()!;
        if (!this.write(m, m[18] === 2)) {
          this.waitingDrain = true;
          return;
        }
      }
    } finally {
      s.uncork();
      if (!this.queue.length && !this.waitingDrain) this.resolveFlush();
    }
  }

  private dropQueue(): void {
    this.queue = [];
    this.waitingDrain = false;
    if (this.rateTimer) clearTimeout(this.rateTimer);
    this.rateTimer = null;
    this.resolveFlush();
  }

  private resolveFlush(): void {
    const w = this.flushWaiters;
    this.flushWaiters = [];
    for (const f of w) f();
  }

  /** Resolves once every queued UPDATE has been handed to the kernel (or the socket died). */
  flush(timeoutMs: number): Promise<void> {
    if (!this.queue.length && !this.waitingDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.flushWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** Resolves when the last closed socket has fully closed, at most after timeoutMs. */
  closed(timeoutMs: number): Promise<void> {
    const c = this.closing;
    if (!c) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      void c.then(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** Forget this connection: timers off, socket closed, later events ignored. */
  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.closeSocket();
    this.disposed = true;
  }
}
