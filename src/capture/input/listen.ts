/**
 * One UDP listener socket, bound the same way wherever it runs: by the collector on the
 * main thread (capture.workers 0) or by a decode worker (capture-worker.ts). A large receive
 * buffer is requested; Linux caps it at net.core.rmem_max (and reports double the usable
 * size), so a smaller grant is logged as a warning with the fix.
 */
import dgram from 'node:dgram';
import type { CaptureListener } from '../../config/types.js';
import { unmapV4 } from '../../wire/addr.js';

export interface ListenerStats {
  name: string;
  address: string;
  port: number;
  datagrams: number;
  bytes: number;
  /** Receive buffer the OS granted (bytes as reported by getsockopt). */
  receiveBuffer: number;
  /** Datagrams the kernel dropped on this socket, its receive buffer full (null: not readable here). */
  kernelDrops: number | null;
  /** Bytes waiting in the socket's receive queue at the last read (null: not readable here). */
  rxQueueBytes: number | null;
}

export interface BoundListener {
  cfg: CaptureListener;
  /** null on the main thread when a decode worker owns the socket. */
  sock: dgram.Socket | null;
  st: ListenerStats;
}

/** What bindListener logs through (a winston child on the main thread, a message port in a worker). */
export interface ListenLog {
  info(msg: string): void;
  warn(msg: string): void;
}

export function newListenerStats(cfg: CaptureListener): ListenerStats {
  return {
    name: cfg.name,
    address: cfg.address,
    port: cfg.port,
    datagrams: 0,
    bytes: 0,
    receiveBuffer: 0,
    kernelDrops: null,
    rxQueueBytes: null,
  };
}

/** The one-line error of a listener that cannot be bound (dgram or batch-socket.ts). */
export function bindError(cfg: CaptureListener, reason: string): Error {
  const a = cfg.address.includes(':') ? `[${cfg.address}]` : cfg.address;
  return new Error(`capture listener '${cfg.name}': cannot bind ${a}:${cfg.port}: ${reason}`);
}

/** A bound listener's log lines: where it listens, and a receive buffer smaller than asked. */
export function logBound(cfg: CaptureListener, st: ListenerStats, wantBuffer: number, log: ListenLog): void {
  if (st.receiveBuffer < wantBuffer)
    log.warn(
      `listener '${cfg.name}' ${cfg.address}:${st.port}: asked for a ${wantBuffer}-byte receive buffer, the OS gave ${st.receiveBuffer}; bursts may be lost (raise net.core.rmem_max, e.g. sysctl -w net.core.rmem_max=${wantBuffer})`,
    );
  const a = cfg.address.includes(':') ? `[${cfg.address}]` : cfg.address;
  log.info(`listening for flows on ${a}:${st.port} (${cfg.name}, ${cfg.type})`);
}

/**
 * Bind `cfg` with a `wantBuffer`-byte receive buffer; every datagram goes to onMessage with
 * its source as canonical text. Rejects with one line when the bind fails.
 */
export function bindListener(
  cfg: CaptureListener,
  wantBuffer: number,
  log: ListenLog,
  onMessage: (msg: Buffer, source: string) => void,
): Promise<BoundListener> {
  const v6 = cfg.address.includes(':');
  const sock = dgram.createSocket({
    type: v6 ? 'udp6' : 'udp4',
    recvBufferSize: wantBuffer,
    reuseAddr: false,
  });
  const st = newListenerStats(cfg);
  sock.on('message', (msg, rinfo) => {
    st.datagrams++;
    st.bytes += msg.length;
    // Dual-stack sockets report IPv4 exporters as ::ffff:a.b.c.d; key them by the IPv4 text.
    onMessage(msg, unmapV4(rinfo.address));
  });
  return new Promise((resolve, reject) => {
    const onErr = (e: NodeJS.ErrnoException) => {
      sock.close();
      reject(bindError(cfg, e.code ?? e.message));
    };
    sock.once('error', onErr);
    sock.bind({ address: cfg.address, port: cfg.port, exclusive: true }, () => {
      sock.off('error', onErr);
      sock.on('error', (e) => log.warn(`listener '${cfg.name}': ${e.message}`));
      try {
        st.receiveBuffer = sock.getRecvBufferSize();
      } catch {
        st.receiveBuffer = 0;
      }
      st.port = sock.address().port;
      logBound(cfg, st, wantBuffer, log);
      resolve({ cfg, sock, st });
    });
  });
}
