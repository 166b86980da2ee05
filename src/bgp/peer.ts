/**
 * One configured neighbour: its connection(s) (two at most, during a collision), its
 * Adj-RIB-Out and counters. Sends the full table plus End-of-RIB when a session comes up,
 * only differences afterwards, and the family's table again on ROUTE-REFRESH.
 */
import type net from 'node:net';
import type { BgpFamily, BgpPeerConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { PeerStateName, PeerStatus } from './types.js';
import type { DesiredSet } from './desired.js';
import type { BgpMessage, UpdateMessage } from './codec.js';
import { encodeNotification, encodeRouteRefresh } from './codec.js';
import { buildCapabilities, type LocalCapabilities } from './capabilities.js';
import { collisionLoser, type FsmConfig, type Transition } from './fsm.js';
import { Connection, type ConnectionHost } from './session.js';
import {
  AdjRibOut,
  endOfRibMessage,
  packAnnouncements,
  packWithdrawals,
  routeProblem,
  selectForPeer,
  ribKey,
  type PackContext,
} from './ribout.js';
import * as C from './constants.js';
import {
  ERR_CEASE,
  CEASE_COLLISION,
  CEASE_CONNECTION_REJECTED,
  UPD_MALFORMED_ATTR_LIST,
  notificationText,
} from './notify.js';
import { checkFlowspecNlri, type UpdateIssue } from './update.js';
import { prefixToString, unmapV4 } from '../wire/addr.js';
import { silentDropHint } from './sockopt.js';

function isFlowspecKey(k: string): boolean {
  return k.startsWith('ipv4-flowspec ') || k.startsWith('ipv6-flowspec ');
}

/** Most received route keys kept per session (they only feed prefixes_in). */
const MAX_RIB_IN_KEYS = 100_000;

export interface PeerOptions {
  readonly routerId: string;
  readonly connectRetryMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly extendedMessage: boolean;
  readonly log: Logger;
  readonly desired: () => DesiredSet;
  readonly emit: (event: 'established' | 'down', peer: string, reason: string) => void;
  /** Every UPDATE received on the established session (networks_from_bgp). */
  readonly onUpdate?: (peer: string, m: UpdateMessage) => void;
}

const RANK: Record<PeerStateName, number> = {
  Idle: 0,
  Connect: 1,
  Active: 1,
  OpenSent: 2,
  OpenConfirm: 3,
  Established: 4,
};

export class Peer implements ConnectionHost {
  readonly localCaps: LocalCapabilities;
  readonly log: Logger;
  private main: Connection;
  private other: Connection | null = null;
  private readonly rib = new AdjRibOut();
  /**
   * Keys of the routes the peer sent us, only to report prefixes_in: Breakwater uses no
   * received route. Capped, so a router that sends its full table costs bounded memory.
   */
  private readonly ribIn = new Set<string>();
  private ribInCapped = false;
  private lastError: string | null = null;
  private counters = { messagesIn: 0, messagesOut: 0, updatesIn: 0, updatesOut: 0, malformedIn: 0 };
  private flowspecCapped = 0;
  private rejectedRoutes = 0;
  private eorSent = false;
  /** Keys changed since the last sync; null: compare the whole table (session start, caps). */
  private dirty: Set<string> | null = null;

  constructor(
    readonly peer: BgpPeerConfig,
    private readonly opts: PeerOptions,
  ) {
    this.log = opts.log.child({ peer: peer.name });
    this.localCaps = {
      asn: peer.local_as,
      families: peer.families,
      gracefulRestart: peer.graceful_restart,
      extendedMessage: opts.extendedMessage,
    };
    this.main = this.newConnection();
  }

  private fsmConfig(): FsmConfig {
    const p = this.peer;
    return {
      passive: p.passive,
      holdTime: p.hold_time,
      connectRetryMs: this.opts.connectRetryMs,
      backoffBaseMs: this.opts.backoffBaseMs,
      backoffMaxMs: this.opts.backoffMaxMs,
      localAs: p.local_as,
      remoteAs: p.remote_as,
      routerId: this.opts.routerId,
      families: p.families.map(C.familyCode),
      open: {
        type: 'open',
        version: 4,
        myAs: p.local_as > 0xffff ? C.AS_TRANS : p.local_as,
        holdTime: p.hold_time,
        routerId: this.opts.routerId,
        params: [{ kind: 'capabilities', capabilities: buildCapabilities(this.localCaps) }],
      },
    };
  }

  private newConnection(): Connection {
    return new Connection(this, this.fsmConfig());
  }

  start(): void {
    this.main.dispatch({ type: 'start' });
  }

  get current(): Connection | null {
    if (this.main.name === 'Established') return this.main;
    if (this.other?.name === 'Established') return this.other;
    return null;
  }

  // ---- ConnectionHost ----
  transition(conn: Connection, t: Transition): void {
    const which = conn === this.main ? '' : ' (second connection)';
    // Our own doing (a clean stop, a peer removed or changed by a reload) is no problem.
    const deliberate = /^stop|shutting down|de-configured|reconfigured/.test(t.reason);
    const silent = silentDropHint(this.peer, t.reason);
    const level =
      (t.to === 'Idle' && t.from !== 'Connect' && t.from !== 'Active' && !deliberate) || silent
        ? 'warn'
        : 'info';
    this.log.log(level, `${t.from} -> ${t.to}${which}: ${t.reason}${silent}`);
    if (
      t.to === 'Idle' &&
      (t.from === 'OpenSent' ||
        t.from === 'OpenConfirm' ||
        t.from === 'Established' ||
        /failed/.test(t.reason))
    ) {
      if (!deliberate) this.lastError = `${t.reason}${silent}`;
    }
    if (conn === this.other && t.to === 'Idle') {
      conn.dispose();
      this.other = null;
    }
  }

  failed(_conn: Connection, reason: string): void {
    const silent = silentDropHint(this.peer, reason);
    if (silent && this.lastError !== `${reason}${silent}`) this.log.warn(`${reason}${silent}`); // once per run of timeouts
    this.lastError = `${reason}${silent}`;
  }

  openReceived(conn: Connection): void {
    const peerOpen = conn.state.peerOpen!;
    const rival = conn === this.main ? this.other : this.main;
    if (!rival || rival.name === 'Idle' || rival.name === 'Connect' || rival.name === 'Active') return;
    if (rival.name === 'Established') {
      conn.dispatch({ type: 'collision' });
      return;
    }
    // RFC 4271 §6.8: keep the connection opened by the side with the higher BGP identifier.
    const loserDir = collisionLoser(this.opts.routerId, peerOpen.routerId);
    const loser = (conn.inbound ? 'inbound' : 'outbound') === loserDir ? conn : rival;
    this.log.info(`connection collision with ${peerOpen.routerId}: closing the ${loserDir} connection`);
    loser.dispatch({ type: 'collision' });
    if (loser === this.main && this.other) {
      this.main.dispose();
      this.main = this.other;
      this.other = null;
    }
  }

  established(conn: Connection): void {
    if (this.other && conn === this.other) {
      this.main.dispose();
      this.main = conn;
      this.other = null;
    }
    const n = conn.negotiated!;
    this.log.info(
      `session established: families ${n.families.join(',') || 'none'}, hold ${conn.state.holdTime} s, max message ${n.maxMessage}`,
    );
    this.rib.clear();
    this.ribIn.clear();
    this.ribInCapped = false;
    this.eorSent = false;
    this.dirty = null;
    this.syncRib();
    this.opts.emit('established', this.peer.name, 'established');
  }

  down(_conn: Connection, reason: string): void {
    this.rib.clear();
    this.ribIn.clear();
    this.ribInCapped = false;
    this.opts.emit('down', this.peer.name, reason);
  }

  message(conn: Connection, m: BgpMessage): void {
    this.counters.messagesIn++;
    if (m.type === 'notification') {
      this.lastError = `received NOTIFICATION: ${notificationText(m.code, m.subcode, m.data)}`;
      this.log.warn(this.lastError);
    } else if (m.type === 'update' && conn.name === 'Established') {
      this.counters.updatesIn++;
      m = checkFlowspecNlri(withoutExternalLocalPref(this.peer, m));
      const treatAsWithdraw = m.issues?.some((i) => i.action === 'treat-as-withdraw') ?? false;
      if (m.issues?.length) {
        this.counters.malformedIn++;
        const i = m.issues[0]!;
        this.log.warn(`malformed UPDATE (${i.action}, ${i.code}/${i.subcode}): ${i.reason}`);
      }
      for (const p of m.withdrawn) this.ribIn.delete(`4 ${prefixToString(p)}`);
      for (const p of m.nlri) {
        if (treatAsWithdraw) this.ribIn.delete(`4 ${prefixToString(p)}`);
        else this.ribInAdd(`4 ${prefixToString(p)}`);
      }
      for (const a of m.attributes) {
        if (a.kind === 'mp_reach' || a.kind === 'mp_unreach') {
          const list = a.kind === 'mp_reach' ? a.nlri : a.withdrawn;
          const keys = [
            ...list.map((p) => prefixToString(p)),
            ...a.flowspec.map((f) => Buffer.from(f).toString('hex')),
          ];
          for (const k of keys) {
            const key = `${a.afi}/${a.safi} ${k}`;
            if (a.kind === 'mp_reach' && !treatAsWithdraw) this.ribInAdd(key);
            else this.ribIn.delete(key);
          }
        }
      }
      this.opts.onUpdate?.(this.peer.name, m);
    } else if (m.type === 'route-refresh' && conn.name === 'Established') {
      this.routeRefresh(conn, m.afi, m.safi, m.subtype);
    }
  }

  private ribInAdd(key: string): void {
    if (this.ribIn.size < MAX_RIB_IN_KEYS) {
      this.ribIn.add(key);
      return;
    }
    if (!this.ribInCapped) {
      this.ribInCapped = true;
      this.log.warn(
        `peer sent more than ${MAX_RIB_IN_KEYS} routes; Breakwater uses none of them and stops counting prefixes_in (consider an export filter towards Breakwater)`,
      );
    }
  }

  sent(_conn: Connection, _bytes: Uint8Array, isUpdate: boolean): void {
    this.counters.messagesOut++;
    if (isUpdate) this.counters.updatesOut++;
  }

  // ---- inbound connections ----
  accept(s: net.Socket): void {
    const st = this.main.name;
    if (this.main.state.stopped) {
      reject(s, CEASE_CONNECTION_REJECTED);
      return;
    }
    if (st === 'Idle' || st === 'Connect' || st === 'Active') {
      this.main.adoptInbound(s);
      return;
    }
    if (st === 'Established' || this.other) {
      // RFC 4271 §6.8: a connection colliding with an Established one is closed.
      this.log.info(`closing incoming connection from ${s.remoteAddress}: session already ${st}`);
      reject(s, CEASE_COLLISION);
      return;
    }
    this.other = this.newConnection();
    this.other.adoptInbound(s);
  }

  // ---- RIB-out ----
  private packContext(conn: Connection): PackContext {
    const n = conn.negotiated!;
    return {
      as4: n.as4,
      maxMessage: n.maxMessage,
      ebgp: this.peer.remote_as !== this.peer.local_as,
      localAs: this.peer.local_as,
      nextHopSelf: this.peer.next_hop_self,
      ...(conn.socket?.localAddress ? { localAddress: unmapV4(conn.socket.localAddress) } : {}),
    };
  }

  /** These desired keys changed: the next syncRib() looks at them (null: at everything). */
  markDirty(keys: Iterable<string> | null): void {
    if (keys === null) this.dirty = null;
    else if (this.dirty) for (const k of keys) this.dirty.add(k);
  }

  /** Send whatever makes the peer's Adj-RIB-Out equal the desired set. */
  syncRib(): void {
    const conn = this.current;
    const dirty = this.dirty;
    this.dirty = new Set();
    if (!conn) return;
    const n = conn.negotiated!;
    const families = new Set<BgpFamily>(n.families);
    // Which FlowSpec rules fit under a per-peer cap depends on all of them: a change to a
    // FlowSpec rule compares everything (there are at most a few thousand); unicast changes,
    // the carpet bomb's hundred thousand /32s, are looked at key by key.
    const capped = this.peer.max_flowspec_rules > 0 && dirty !== null && [...dirty].some(isFlowspecKey);
    const diff = dirty === null || capped ? this.fullDiff(families) : this.keysDiff(dirty, families);
    const ctx = this.packContext(conn);
    const msgs = packWithdrawals(diff.withdraw, ctx);
    const packed = packAnnouncements(diff.announce, ctx);
    for (const s of packed.skipped.slice(0, 5))
      this.log.warn(`route ${s.route.key} (${s.route.owner}) not announced: ${s.problem}`);
    if (packed.skipped.length) {
      const skip = new Set(packed.skipped.map((s) => ribKey(s.route)));
      diff.announce.splice(0, diff.announce.length, ...diff.announce.filter((r) => !skip.has(ribKey(r))));
    }
    this.rib.apply(diff);
    msgs.push(...packed.messages);
    if (!this.eorSent) {
      // RFC 4724 §2: End-of-RIB per family after the initial table.
      for (const f of n.families) msgs.push(endOfRibMessage(f));
      this.eorSent = true;
    }
    if (msgs.length) {
      this.log.debug(
        `sending ${diff.announce.length} announcements and ${diff.withdraw.length} withdrawals in ${msgs.length} UPDATEs`,
      );
      conn.enqueue(msgs);
    }
  }

  private fullDiff(families: ReadonlySet<BgpFamily>) {
    const sel = selectForPeer(this.opts.desired().values(), families, this.peer.max_flowspec_rules);
    if (sel.capped !== this.flowspecCapped) {
      if (sel.capped > 0)
        this.log.warn(
          `max_flowspec_rules ${this.peer.max_flowspec_rules} reached: ${sel.capped} FlowSpec rules not announced`,
        );
      this.flowspecCapped = sel.capped;
    }
    if (sel.rejected.length !== this.rejectedRoutes) {
      for (const r of sel.rejected.slice(0, 5))
        this.log.warn(`route ${r.route.key} (${r.route.owner}) not announced: ${r.problem}`);
      this.rejectedRoutes = sel.rejected.length;
    }
    return this.rib.diff(sel.routes);
  }

  /** Only the changed keys, with the same selection rules as selectForPeer (families, validity). */
  private keysDiff(keys: ReadonlySet<string>, families: ReadonlySet<BgpFamily>) {
    const desired = this.opts.desired();
    return this.rib.diffKeys(keys, (k) => {
      const r = desired.get(k);
      if (!r || !families.has(r.family)) return undefined;
      const problem = routeProblem(r);
      if (problem) {
        this.log.warn(`route ${r.key} (${r.owner}) not announced: ${problem}`);
        return undefined;
      }
      return r;
    });
  }

  /** RFC 2918 §4: resend the family's Adj-RIB-Out; RFC 7313: between BoRR and EoRR when offered. */
  private routeRefresh(conn: Connection, afi: number, safi: number, subtype: number): void {
    if (subtype !== 0) return; // BoRR/EoRR from the peer concern its own announcements
    const fam = C.familyOf(afi, safi);
    if (!fam || !conn.negotiated!.families.includes(fam)) {
      this.log.warn(`ROUTE-REFRESH for ${C.familyText(afi, safi)}, not negotiated: ignored`);
      return;
    }
    const routes = this.rib.routes(fam);
    this.log.info(`ROUTE-REFRESH for ${fam}: resending ${routes.length} routes`);
    const enhanced = conn.negotiated!.enhancedRouteRefresh;
    const msgs: Uint8Array[] = [];
    if (enhanced) msgs.push(encodeRouteRefresh(afi, safi, 1));
    msgs.push(...packAnnouncements(routes, this.packContext(conn)).messages);
    if (enhanced) msgs.push(encodeRouteRefresh(afi, safi, 2));
    else msgs.push(endOfRibMessage(fam));
    conn.enqueue(msgs);
  }

  /**
   * Clean stop: withdraw everything and send Cease, unless graceful restart is configured,
   * in which case the TCP session is closed without NOTIFICATION so the peer keeps the
   * routes for the restart time (RFC 4724 §4.2).
   */
  async stop(subcode: number, message: string): Promise<void> {
    const conn = this.current;
    if (conn && this.peer.graceful_restart === 0 && this.rib.size) {
      const ctx = this.packContext(conn);
      const all = this.rib.routes();
      conn.enqueue(packWithdrawals(all, ctx));
      this.rib.clear();
      await conn.flush(5000);
    }
    const data = new TextEncoder().encode(message).subarray(0, 255);
    const comm = new Uint8Array(data.length + 1);
    comm[0] = data.length;
    comm.set(data, 1);
    const silent = this.peer.graceful_restart > 0;
    for (const c of [this.main, this.other]) {
      if (!c) continue;
      c.dispatch({ type: 'stop', reason: message, subcode, data: comm, silent });
    }
    await Promise.all([this.main.closed(2000), this.other?.closed(2000)]);
    this.other?.dispose();
    this.other = null;
    this.main.dispose();
  }

  status(): PeerStatus {
    const best = this.other && RANK[this.other.name] > RANK[this.main.name] ? this.other : this.main;
    const est = this.current;
    return {
      name: this.peer.name,
      address: this.peer.address,
      remote_as: this.peer.remote_as,
      state: best.name,
      uptime_s: est ? Math.floor((Date.now() - est.establishedAt) / 1000) : 0,
      last_error: this.lastError,
      messages_in: this.counters.messagesIn,
      messages_out: this.counters.messagesOut,
      updates_in: this.counters.updatesIn,
      updates_out: this.counters.updatesOut,
      prefixes_in: this.ribIn.size,
      prefixes_out: est ? this.rib.size : 0,
      families: est ? est.negotiated!.families : this.peer.families,
      malformed_updates_in: this.counters.malformedIn,
      flowspec_capped: this.flowspecCapped,
      queued_updates: est ? est.queued : 0,
    };
  }
}

/**
 * RFC 4271 §5.1.5: LOCAL_PREF received from an external peer MUST be ignored; it is
 * dropped before anything (networks_from_bgp) sees the UPDATE. Malformed, it is still
 * only discarded (RFC 7606 §7.5: attribute-discard from an external peer, so its bad
 * length no longer makes the UPDATE treat-as-withdraw). Not an error: no NOTIFICATION.
 */
export function withoutExternalLocalPref(p: BgpPeerConfig, m: UpdateMessage): UpdateMessage {
  if (p.remote_as === p.local_as || !m.attributes.some((a) => a.code === C.ATTR_LOCAL_PREF)) return m;
  const attributes = m.attributes.filter((a) => a.code !== C.ATTR_LOCAL_PREF);
  // An attribute list that LOCAL_PREF overran stays treat-as-withdraw: that is the list's fault.
  const framing = (i: UpdateIssue) =>
    i.subcode === UPD_MALFORMED_ATTR_LIST && i.action === 'treat-as-withdraw';
  const issues = (m.issues ?? []).filter((i) => i.attr !== C.ATTR_LOCAL_PREF || framing(i));
  const { issues: _old, ...rest } = m;
  return issues.length ? { ...rest, attributes, issues } : { ...rest, attributes };
}

function reject(s: net.Socket, subcode: number): void {
  // Only after the peer's OPEN would a NOTIFICATION be strictly in order; routers accept it.
  s.end(encodeNotification(ERR_CEASE, subcode));
  setTimeout(() => s.destroy(), 1000).unref();
}
