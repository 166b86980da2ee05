/**
 * Applying a reloaded config to a running detector without losing counters: new policy
 * (monitored networks, hostgroups, whitelist), recompiled thresholds and candidate budgets.
 * Hosts whose monitoring ends lose their slot (an attack in progress on them finishes);
 * whitelisted hosts end their attacks; the next tick checks every recent host again.
 */
import { classifierOf } from '../config/classifier.js';
import type { Config } from '../config/types.js';
import { logger } from '../log.js';
import { NOT_MONITORED } from './addrmap.js';
import type { Attacks } from './attacks.js';
import type { HotHosts } from './hot.js';
import type { DetectorState } from './state.js';
import { F_HOT, F_WHITELISTED, KIND_V4, KIND_V6 } from './store.js';
import type { Ticker } from './tick.js';

const log = logger.child({ module: 'detection' });

export interface Parts {
  readonly st: DetectorState;
  readonly hot: HotHosts;
  readonly attacks: Attacks;
  readonly ticker: Ticker;
}

export function reconfigure(p: Parts, cfg: Config): void {
  const S = p.st;
  const d = cfg.detection;
  if (d.tick_ms !== S.cfg.detection.tick_ms || d.window_ms !== S.cfg.detection.window_ms) {
    log.warn('detection.tick_ms / window_ms changes take effect after a restart; keeping the running values');
  }
  S.cfg = cfg;
  S.excludeWl = d.exclude_whitelisted_sources;
  S.idleTicks = Math.ceil(d.ipv6_idle_ms / S.tickMs);
  S.v6Max = d.ipv6_max_hosts;
  S.alpha = d.smoothing_ms > 0 ? 1 - Math.exp(-S.tickMs / d.smoothing_ms) : 0;
  S.store.setSmoothing(S.alpha > 0);
  p.hot.setCap(d.hot_sample_bytes);
  // The same lookup the other rooms get for this config (built by whoever asks first).
  const policy = classifierOf(cfg);
  S.policy = policy;
  const st = S.store;
  // Hosts whose monitoring ends lose their slot (and any attack in progress finishes).
  for (const e of S.v4.rebuild(policy)) {
    const s = S.v4.slot[e]!;
    dropSlot(p, s);
    S.v4.slot[e] = NOT_MONITORED;
  }
  for (let s = 0; s < st.used; s++) {
    const k = st.kind[s];
    if (k === KIND_V4) {
      const e = st.backref[s]!;
      st.setHg(s, S.v4.hg[e]!);
      st.flags[s] = (st.flags[s]! & ~F_WHITELISTED) | (S.v4.wl[e] ? F_WHITELISTED : 0);
    } else if (k === KIND_V6) {
      const o = s * 4;
      const a = st.addr;
      const g = policy.group6(a[o]!, a[o + 1]!, a[o + 2]!, a[o + 3]!);
      if (g < 0) {
        S.v6.remove(a, s);
        dropSlot(p, s);
        continue;
      }
      st.setHg(s, g);
      st.flags[s] =
        (st.flags[s]! & ~F_WHITELISTED) |
        (policy.whitelisted6(a[o]!, a[o + 1]!, a[o + 2]!, a[o + 3]!) ? F_WHITELISTED : 0);
    }
  }
  S.applyHostgroups(cfg);
  // New budgets, flags and hostgroups: new candidate limits.
  for (let s = 0; s < st.used; s++) if (st.kind[s] === KIND_V4 || st.kind[s] === KIND_V6) st.setLimits(s);
  p.ticker.reevalAll = true;
  // Threshold lists may have changed shape: restart the consecutive-tick counts.
  p.hot.runs.fill(0);
  for (const [s, a] of [...p.attacks.bySlot]) if (st.flags[s]! & F_WHITELISTED) p.attacks.end(s, a);
}

function dropSlot(p: Parts, s: number): void {
  const a = p.attacks.bySlot.get(s);
  if (a) p.attacks.end(s, a);
  if (p.st.store.flags[s]! & F_HOT || p.hot.pos[s]! >= 0) p.hot.release(s);
  p.st.store.release(s);
  p.st.base.clear(s);
}
