/**
 * The embedded BGP speaker: peers from cfg.bgp, an optional listener that accepts only
 * configured peers, and the desired route set pushed to every established peer.
 */
import net from 'node:net';
import { EventEmitter } from 'node:events';
import type { BgpPeerConfig, Config } from '../config/types.js';
import { logger as rootLogger, type Logger } from '../log.js';
import type { DesiredRoute, PeerStatus, Speaker } from './types.js';
import { Peer } from './peer.js';
import type { UpdateMessage } from './update.js';
import { DesiredSet } from './desired.js';
import { addrToString, parseAddr, unmapV4 } from '../wire/addr.js';
import { setGtsm, setListenerKey, sessionSecurity } from './sockopt.js';
import { CEASE_ADMIN_SHUTDOWN, CEASE_OTHER_CONFIG_CHANGE, CEASE_PEER_DECONFIGURED } from './notify.js';

export interface SpeakerOptions {
  /** First reconnect delay after a failure; doubles up to backoffMaxMs. */
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  /** How long an outgoing TCP connect may take. */
  readonly connectRetryMs?: number;
  /** Offer RFC 8654 extended messages (used only when the peer offers them too). */
  readonly extendedMessage?: boolean;
  readonly logger?: Logger;
}

export interface EmbeddedSpeaker extends Speaker {
  /** Apply a reloaded config: peers added, removed or changed; listener moved. */
  reconfigure(cfg: Config): Promise<void>;
  /** The addresses the listener is bound to (for tests and logs). */
  listening(): { address: string; port: number }[];
  /** UPDATEs received from peers (networks_from_bgp). */
  onUpdate(listener: (peer: string, m: UpdateMessage) => void): void;
}

function canon(a: string): string {
  const p = parseAddr(unmapV4(a));
  return p ? addrToString(p) : a;
}

/** Where to listen: bgp.listen, else (only if a peer is passive) each passive peer's local address on 179. */
function listenAddresses(cfg: Config): { address: string; port: number }[] {
  if (cfg.bgp.listen) return [{ address: cfg.bgp.listen.address, port: cfg.bgp.listen.port }];
  const out = new Map<string, { address: string; port: number }>();
  for (const p of cfg.bgp.peers) {
    if (!p.passive) continue;
    const address = p.local_address ?? (parseAddr(p.address)?.family === 6 ? '::' : '0.0.0.0');
    out.set(address, { address, port: 179 });
  }
  return [...out.values()];
}

function samePeer(a: BgpPeerConfig, b: BgpPeerConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function createSpeaker(initial: Config, opts: SpeakerOptions = {}): EmbeddedSpeaker {
  let cfg = initial;
  const log = (opts.logger ?? rootLogger).child({ module: 'bgp' });
  const events = new EventEmitter();
  const peers = new Map<string, Peer>();
  const desired = new DesiredSet();
  let servers: { server: net.Server; address: string; port: number }[] = [];
  let started = false;
  let syncScheduled = false;

  const makePeer = (p: BgpPeerConfig): Peer =>
    new Peer(p, {
      routerId: cfg.bgp.router_id,
      connectRetryMs: opts.connectRetryMs ?? 10_000,
      backoffBaseMs: opts.backoffBaseMs ?? 1_000,
      backoffMaxMs: opts.backoffMaxMs ?? 60_000,
      extendedMessage: opts.extendedMessage ?? true,
      log,
      desired: () => desired,
      emit: (ev, peer, reason) => events.emit(ev, peer, reason),
      onUpdate: (peer, m) => events.emit('update', peer, m),
    });

  const findPeer = (remote: string, local: string): Peer | undefined => {
    const r = canon(remote);
    const l = canon(local);
    for (const p of peers.values()) {
      if (canon(p.peer.address) !== r) continue;
      if (p.peer.local_address && canon(p.peer.local_address) !== l) continue;
      return p;
    }
    return undefined;
  };

  const onConnection = (s: net.Socket): void => {
    s.on('error', () => undefined);
    const peer = findPeer(s.remoteAddress ?? '', s.localAddress ?? '');
    if (!peer) {
      log.warn(
        `rejected BGP connection from ${s.remoteAddress}:${s.remotePort} to ${s.localAddress}:${s.localPort}: not a configured peer`,
      );
      s.destroy();
      return;
    }
    if (peer.peer.ttl_security) {
      // The listener may also serve peers without GTSM; this session's later segments are held to it.
      try {
        setGtsm(s);
      } catch (e) {
        log.error(
          `peer ${peer.peer.name}: cannot set GTSM on the accepted connection (${(e as Error).message}): closed`,
        );
        s.destroy();
        return;
      }
    }
    peer.accept(s);
  };

  /**
   * RFC 2385 keys of the configured peers on a listener (the kernel then drops a keyed
   * address's unsigned or wrongly signed SYNs, and accepted sockets inherit the key), and
   * GTSM on it when every peer it can accept asks for it. Keys of peers no longer
   * configured are removed. A failure is an error: a peer must not be accepted unkeyed.
   */
  const keyed = new Map<net.Server, Set<string>>();
  const gtsmOn = new Set<net.Server>();
  const secureListener = (server: net.Server, address: string): void => {
    const v4only = parseAddr(address)?.family === 4;
    const mine = cfg.bgp.peers.filter(
      (p) =>
        !(v4only && parseAddr(p.address)?.family === 6) &&
        (!p.local_address ||
          address === '0.0.0.0' ||
          address === '::' ||
          canon(p.local_address) === canon(address)),
    );
    const before = keyed.get(server) ?? new Set<string>();
    const now = new Set<string>();
    for (const p of mine) {
      if (p.password === undefined) continue;
      setListenerKey(server, p.address, p.password);
      now.add(p.address);
    }
    for (const a of before) if (!now.has(a)) setListenerKey(server, a, null);
    keyed.set(server, now);
    const gtsm = mine.length > 0 && mine.every((p) => p.ttl_security);
    if (gtsm !== gtsmOn.has(server)) {
      setGtsm(server, gtsm);
      if (gtsm) gtsmOn.add(server);
      else gtsmOn.delete(server);
    }
  };

  const listen = async (): Promise<void> => {
    for (const l of listenAddresses(cfg)) {
      const server = net.createServer(onConnection);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: l.address, port: l.port, exclusive: true }, () => {
          server.off('error', reject);
          resolve();
        });
      }).catch((e: Error) => {
        throw new Error(`bgp: cannot listen on ${l.address} port ${l.port}: ${e.message}`);
      });
      try {
        secureListener(server, l.address);
      } catch (e) {
        server.close();
        throw new Error(
          `bgp: cannot set session security on the listener ${l.address} port ${l.port}: ${(e as Error).message}`,
        );
      }
      server.on('error', (e) => log.error(`listener ${l.address}:${l.port}: ${e.message}`));
      const a = server.address() as net.AddressInfo;
      servers.push({ server, address: a.address, port: a.port });
      log.info(`listening for BGP on ${a.address} port ${a.port}`);
    }
  };

  /** Stop accepting; the promise resolves once the accepted sockets are gone too. */
  const unlisten = (): Promise<void> => {
    const s = servers;
    servers = [];
    for (const x of s) {
      keyed.delete(x.server);
      gtsmOn.delete(x.server);
    }
    return Promise.all(s.map((x) => new Promise<void>((r) => x.server.close(() => r())))).then(
      () => undefined,
    );
  };

  /** Mark the keys on every peer and coalesce bursts of changes into one sync per peer. */
  const changed = (keys: readonly string[]): void => {
    if (keys.length === 0) return;
    for (const p of peers.values()) p.markDirty(keys);
    if (syncScheduled) return;
    syncScheduled = true;
    setImmediate(() => {
      syncScheduled = false;
      for (const p of peers.values()) p.syncRib();
    });
  };

  const speaker: EmbeddedSpeaker = {
    async start() {
      if (started) return;
      started = true;
      const sec = sessionSecurity();
      // Info, not warn: nothing is refused unless a peer asks for MD5 or GTSM, and such a peer
      // is refused at config load with its own error.
      if (!sec.available)
        log.info(
          `native addon not loaded (${sec.error}): BGP password (TCP MD5) and ttl_security (GTSM) are unavailable; peers asking for them are refused`,
        );
      await listen();
      for (const p of cfg.bgp.peers) {
        const peer = makePeer(p);
        peers.set(p.name, peer);
        peer.start();
      }
    },

    sync(routes: Iterable<DesiredRoute>) {
      changed(desired.replace(routes));
    },

    update(put: Iterable<DesiredRoute>, remove: Iterable<DesiredRoute>) {
      const keys: string[] = [];
      for (const r of remove) {
        const k = desired.remove(r);
        if (k !== null) keys.push(k);
      }
      for (const r of put) {
        const k = desired.put(r);
        if (k !== null) keys.push(k);
      }
      changed(keys);
    },

    status(): PeerStatus[] {
      return [...peers.values()].map((p) => p.status());
    },

    async stop() {
      started = false;
      const closing = unlisten(); // server.close() waits for the peers' sockets, closed below
      await Promise.all(
        [...peers.values()].map((p) => p.stop(CEASE_ADMIN_SHUTDOWN, 'Breakwater shutting down')),
      );
      peers.clear();
      await closing;
    },

    on(event, listener) {
      events.on(event, listener);
    },

    async reconfigure(next: Config) {
      const prev = cfg;
      cfg = next;
      if (!started) return;
      if (JSON.stringify(listenAddresses(prev)) !== JSON.stringify(listenAddresses(next))) {
        void unlisten(); // stops accepting now; established sessions keep their sockets
        await listen();
      } else {
        for (const x of servers) {
          try {
            secureListener(x.server, x.address);
          } catch (e) {
            log.error(
              `listener ${x.address}:${x.port}: cannot update session security: ${(e as Error).message}`,
            );
          }
        }
      }
      const wanted = new Map(next.bgp.peers.map((p) => [p.name, p]));
      const jobs: Promise<void>[] = [];
      for (const [name, peer] of peers) {
        const w = wanted.get(name);
        if (!w) {
          log.info(`peer ${name} removed from config`);
          peers.delete(name);
          jobs.push(peer.stop(CEASE_PEER_DECONFIGURED, 'peer de-configured'));
        } else if (!samePeer(w, peer.peer) || prev.bgp.router_id !== next.bgp.router_id) {
          log.info(`peer ${name} changed in config: restarting its session`);
          jobs.push(
            peer.stop(CEASE_OTHER_CONFIG_CHANGE, 'peer reconfigured').then(() => {
              const np = makePeer(w);
              peers.set(name, np);
              np.start();
            }),
          );
        }
      }
      await Promise.all(jobs);
      for (const [name, p] of wanted) {
        if (!peers.has(name)) {
          log.info(`peer ${name} added`);
          const np = makePeer(p);
          peers.set(name, np);
          np.start();
        }
      }
    },

    onUpdate(listener) {
      events.on('update', listener);
    },

    listening() {
      return servers.map((s) => ({ address: s.address, port: s.port }));
    },
  };
  return speaker;
}
