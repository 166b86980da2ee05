/**
 * The BGP finite state machine (RFC 4271 §8) as one pure function:
 *   step(cfg, state, event) -> { state, effects, transition? }
 * The session shell (session.ts) runs the effects (connect, send, close, timers) and feeds
 * socket and timer events back. One FSM instance drives one TCP connection attempt chain
 * of a peer; collision detection (§6.8) compares BGP identifiers with `collisionLoser`.
 *
 * Deviations, on purpose:
 *  - After any failure the FSM goes to Idle and restarts itself after an exponential
 *    back-off (IdleHoldTimer, capped), instead of Active with a fixed ConnectRetryTimer;
 *    this is RFC 4271 §8.1.1's optional DampPeerOscillations behaviour.
 *  - An incoming connection accepted in Idle (not administratively stopped) is taken up
 *    at once, so a router that restarts does not wait for our back-off.
 */
import type { PeerStateName } from './types.js';
import type { BgpMessage, OpenMessage } from './codec.js';
import { parseCapabilities } from './capabilities.js';
import * as C from './constants.js';
import {
  BgpError,
  ERR_CEASE,
  ERR_FSM,
  ERR_HOLD,
  ERR_OPEN,
  notificationText,
  OPEN_BAD_BGP_ID,
  OPEN_BAD_PEER_AS,
  OPEN_UNSUPPORTED_CAPABILITY,
  CEASE_COLLISION,
} from './notify.js';

export type TimerName = 'connectRetry' | 'hold' | 'keepalive' | 'idleHold';

export interface FsmConfig {
  readonly passive: boolean;
  /** Configured hold time in seconds (0 = no keepalives, RFC 4271 §4.2). */
  readonly holdTime: number;
  /** How long a TCP connect may take before it is retried. */
  readonly connectRetryMs: number;
  /** Back-off after a failure: base * 2^(failures-1), capped. */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** Our OPEN, sent as is. */
  readonly open: OpenMessage;
  readonly localAs: number;
  readonly remoteAs: number;
  readonly routerId: string;
  /** Families we offer ({afi, safi}); an OPEN with none in common is refused. */
  readonly families: readonly C.AfiSafi[];
}

export interface FsmState {
  readonly name: PeerStateName;
  /** Consecutive failures since the last Established (drives the back-off). */
  readonly failures: number;
  /** Negotiated hold time in seconds (valid from OpenConfirm). */
  readonly holdTime: number;
  readonly peerOpen: OpenMessage | null;
  /** ManualStop received: stay Idle. */
  readonly stopped: boolean;
}

export type FsmEvent =
  | { readonly type: 'start' }
  | {
      readonly type: 'stop';
      readonly reason: string;
      readonly subcode: number;
      readonly data?: Uint8Array;
      readonly silent?: boolean;
    }
  | { readonly type: 'timer'; readonly timer: TimerName }
  | { readonly type: 'tcp-connected'; readonly inbound: boolean }
  | { readonly type: 'tcp-failed'; readonly reason: string }
  | { readonly type: 'message'; readonly message: BgpMessage }
  | { readonly type: 'error'; readonly error: BgpError }
  | { readonly type: 'collision' };

export type Effect =
  | { readonly type: 'connect' }
  | { readonly type: 'close' }
  | { readonly type: 'send'; readonly message: BgpMessage }
  | { readonly type: 'set-timer'; readonly timer: TimerName; readonly ms: number }
  | { readonly type: 'clear-timer'; readonly timer: TimerName }
  | { readonly type: 'established'; readonly open: OpenMessage; readonly holdTime: number }
  | { readonly type: 'down'; readonly reason: string };

export interface Transition {
  readonly from: PeerStateName;
  readonly to: PeerStateName;
  readonly reason: string;
}

export interface StepResult {
  readonly state: FsmState;
  readonly effects: readonly Effect[];
  readonly transition?: Transition;
}

/** RFC 4271 §8 suggests a large hold timer (4 minutes) until OPENs are exchanged. */
export const LARGE_HOLD_MS = 240_000;

export function initialState(): FsmState {
  return { name: 'Idle', failures: 0, holdTime: 0, peerOpen: null, stopped: false };
}

export function backoffMs(cfg: FsmConfig, failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(cfg.backoffMaxMs, cfg.backoffBaseMs * 2 ** Math.min(failures - 1, 30));
}

const ALL_TIMERS: TimerName[] = ['connectRetry', 'hold', 'keepalive', 'idleHold'];

function clearAll(): Effect[] {
  return ALL_TIMERS.map((timer) => ({ type: 'clear-timer', timer }) as const);
}

function notification(code: number, subcode: number, data: Uint8Array = new Uint8Array(0)): Effect {
  return { type: 'send', message: { type: 'notification', code, subcode, data } };
}

/** Check a received OPEN against the peer's configuration (RFC 4271 §6.2, RFC 6793 §4). */
function validateOpen(cfg: FsmConfig, open: OpenMessage): BgpError | null {
  const caps = parseCapabilities(open);
  const peerAs = caps.as4 ?? open.myAs;
  if (peerAs !== cfg.remoteAs)
    return new BgpError(ERR_OPEN, OPEN_BAD_PEER_AS, `peer AS ${peerAs}, configured ${cfg.remoteAs}`);
  if (caps.as4 !== null && caps.as4 > 0xffff && open.myAs !== C.AS_TRANS) {
    return new BgpError(
      ERR_OPEN,
      OPEN_BAD_PEER_AS,
      `4-octet AS ${caps.as4} but My AS ${open.myAs} is not AS_TRANS`,
    );
  }
  if (cfg.remoteAs === cfg.localAs && open.routerId === cfg.routerId) {
    return new BgpError(ERR_OPEN, OPEN_BAD_BGP_ID, `iBGP peer uses our BGP identifier ${open.routerId}`);
  }
  const common = cfg.families.filter((f) => caps.families.some((x) => x.afi === f.afi && x.safi === f.safi));
  if (cfg.families.length && common.length === 0) {
    const data: number[] = [];
    for (const f of cfg.families) data.push(C.CAP_MULTIPROTOCOL, 4, f.afi >> 8, f.afi & 0xff, 0, f.safi);
    return new BgpError(
      ERR_OPEN,
      OPEN_UNSUPPORTED_CAPABILITY,
      'no address family in common',
      new Uint8Array(data),
    );
  }
  return null;
}

/**
 * Collision resolution (RFC 4271 §6.8): given our and the peer's BGP identifiers, which
 * connection must be closed? The one initiated by the side with the lower identifier.
 */
export function collisionLoser(localId: string, remoteId: string): 'inbound' | 'outbound' {
  const n = (s: string) => s.split('.').reduce((a, x) => a * 256 + Number(x), 0);
  return n(localId) > n(remoteId) ? 'inbound' : 'outbound';
}

export function step(cfg: FsmConfig, s: FsmState, ev: FsmEvent): StepResult {
  const to = (
    name: PeerStateName,
    reason: string,
    effects: Effect[],
    patch: Partial<FsmState> = {},
  ): StepResult => {
    const state = { ...s, ...patch, name };
    return name === s.name && !patch.failures
      ? { state, effects }
      : { state, effects, transition: { from: s.name, to: name, reason } };
  };
  const stay = (effects: Effect[] = []): StepResult => ({ state: s, effects });
  // Leave for Idle after a failure: close, clear timers, schedule the restart.
  const fail = (reason: string, pre: Effect[] = []): StepResult => {
    const failures = s.failures + 1;
    const effects: Effect[] = [...pre, { type: 'close' }, ...clearAll()];
    if (s.name === 'Established') effects.push({ type: 'down', reason });
    if (!s.stopped) effects.push({ type: 'set-timer', timer: 'idleHold', ms: backoffMs(cfg, failures) });
    return {
      state: { ...s, name: 'Idle', failures, peerOpen: null },
      effects,
      transition: { from: s.name, to: 'Idle', reason },
    };
  };
  const begin = (): StepResult => {
    if (cfg.passive)
      return to('Active', 'start (passive: waiting for the peer to connect)', [], { stopped: false });
    return to(
      'Connect',
      'start (connecting)',
      [{ type: 'connect' }, { type: 'set-timer', timer: 'connectRetry', ms: cfg.connectRetryMs }],
      { stopped: false },
    );
  };
  const connected = (inbound: boolean): StepResult =>
    to(
      'OpenSent',
      `TCP connection ${inbound ? 'accepted' : 'established'}, OPEN sent`,
      [
        { type: 'clear-timer', timer: 'connectRetry' },
        { type: 'clear-timer', timer: 'idleHold' },
        { type: 'send', message: cfg.open },
        { type: 'set-timer', timer: 'hold', ms: LARGE_HOLD_MS },
      ],
      { stopped: false },
    );

  if (ev.type === 'stop') {
    if (s.name === 'Idle') return { state: { ...s, stopped: true }, effects: clearAll() };
    const pre: Effect[] = [];
    const open = s.name === 'OpenSent' || s.name === 'OpenConfirm' || s.name === 'Established';
    if (open && !ev.silent) pre.push(notification(ERR_CEASE, ev.subcode, ev.data));
    const effects: Effect[] = [...pre, { type: 'close' }, ...clearAll()];
    if (s.name === 'Established') effects.push({ type: 'down', reason: ev.reason });
    return {
      state: { ...s, name: 'Idle', stopped: true, peerOpen: null },
      effects,
      transition: { from: s.name, to: 'Idle', reason: ev.reason },
    };
  }

  switch (s.name) {
    case 'Idle':
      if (ev.type === 'start') return begin();
      if (ev.type === 'timer' && ev.timer === 'idleHold' && !s.stopped) return begin();
      if (ev.type === 'tcp-connected' && ev.inbound && !s.stopped) return connected(true);
      if (ev.type === 'tcp-connected') return stay([{ type: 'close' }]);
      return stay();

    case 'Connect':
    case 'Active':
      if (ev.type === 'tcp-connected') return connected(ev.inbound);
      if (ev.type === 'timer' && ev.timer === 'connectRetry') {
        if (cfg.passive) return stay();
        return to('Connect', 'connect timed out, retrying', [
          { type: 'close' },
          { type: 'connect' },
          { type: 'set-timer', timer: 'connectRetry', ms: cfg.connectRetryMs },
        ]);
      }
      if (ev.type === 'tcp-failed') return fail(`connect failed: ${ev.reason}`);
      if (ev.type === 'message' || ev.type === 'error') return fail('message before the connection was up');
      return stay();

    case 'OpenSent':
    case 'OpenConfirm':
    case 'Established': {
      const inState = s.name;
      if (ev.type === 'tcp-failed') return fail(`connection lost: ${ev.reason}`);
      if (ev.type === 'error')
        return fail(`sent NOTIFICATION: ${ev.error.message}`, [
          notification(ev.error.code, ev.error.subcode, ev.error.data),
        ]);
      if (ev.type === 'collision')
        return fail('connection collision (RFC 4271 §6.8), closed this one', [
          notification(ERR_CEASE, CEASE_COLLISION),
        ]);
      if (ev.type === 'timer') {
        if (ev.timer === 'hold') return fail('hold timer expired', [notification(ERR_HOLD, 0)]);
        if (ev.timer === 'keepalive' && inState !== 'OpenSent' && s.holdTime > 0) {
          return stay([
            { type: 'send', message: { type: 'keepalive' } },
            { type: 'set-timer', timer: 'keepalive', ms: keepaliveMs(s.holdTime) },
          ]);
        }
        return stay();
      }
      if (ev.type === 'start' || ev.type === 'tcp-connected') return stay();
      const m = ev.message;
      if (m.type === 'notification')
        return fail(`received NOTIFICATION: ${notificationText(m.code, m.subcode, m.data)}`);
      const holdReset: Effect[] =
        s.holdTime > 0 ? [{ type: 'set-timer', timer: 'hold', ms: s.holdTime * 1000 }] : [];
      if (inState === 'OpenSent') {
        if (m.type !== 'open') return fail(`unexpected ${m.type} in OpenSent`, [notification(ERR_FSM, 1)]);
        const err = validateOpen(cfg, m);
        if (err)
          return fail(`sent NOTIFICATION: ${err.message}`, [notification(err.code, err.subcode, err.data)]);
        const holdTime = Math.min(cfg.holdTime, m.holdTime);
        const effects: Effect[] = [{ type: 'send', message: { type: 'keepalive' } }];
        if (holdTime > 0) {
          effects.push(
            { type: 'set-timer', timer: 'keepalive', ms: keepaliveMs(holdTime) },
            { type: 'set-timer', timer: 'hold', ms: holdTime * 1000 },
          );
        } else
          effects.push({ type: 'clear-timer', timer: 'hold' }, { type: 'clear-timer', timer: 'keepalive' });
        return to('OpenConfirm', `OPEN received from ${m.routerId} (hold ${holdTime} s)`, effects, {
          holdTime,
          peerOpen: m,
        });
      }
      if (inState === 'OpenConfirm') {
        if (m.type !== 'keepalive')
          return fail(`unexpected ${m.type} in OpenConfirm`, [notification(ERR_FSM, 2)]);
        return to(
          'Established',
          'KEEPALIVE received',
          [...holdReset, { type: 'established', open: s.peerOpen!, holdTime: s.holdTime }],
          { failures: 0 },
        );
      }
      if (m.type === 'open') return fail('unexpected OPEN in Established', [notification(ERR_FSM, 3)]);
      return stay(holdReset);
    }
  }
}

/** RFC 4271 §10: KeepaliveTime is one third of the hold time. */
function keepaliveMs(holdTime: number): number {
  return Math.max(1000, Math.floor((holdTime * 1000) / 3));
}
