/**
 * The tick (every tick_ms): close the open interval, roll counters into windows, and check
 * the ban thresholds of the slots whose window may have changed: the candidates the hot path
 * listed (ingest.ts), every recent host after a reconfigure or in smoothing mode, and the hot
 * ones (hot.ts), those over a threshold or under attack on every tick, the others once a
 * window until they cool down. A host gets hot when its window rate or its last tick's rate
 * reaches `warmFraction` of a ban threshold; a threshold held `ticks_required` ticks in a
 * row starts an attack (attacks.ts), a window below all of them finishes it.
 *
 * attack_updated goes out for each attack once per `updateMs`, within a budget of
 * UPDATES_PER_SECOND for all of them: during a carpet bomb of 65,536 hosts an update per
 * attack per second (each one refreshes the record, its samples and what every listener
 * keeps: history, escalation evidence, the console) took more of the main thread than the
 * records themselves, so the socket overflowed and attacks flapped. Past the budget each
 * attack's interval stretches to active / UPDATES_PER_SECOND seconds (65,536: ~33 s) and at
 * most a tick's share goes out per tick. Ends are never deferred.
 *
 * Starts have a time budget: a tick spends at most START_BUDGET_MS starting attacks (an
 * attack start builds its record, samples and details and runs every listener: manager,
 * history, escalation evidence, ~60-100 us). When a carpet bomb makes 65,536 hosts cross in
 * the same tick, starting them all at once held the main thread for seconds: the socket
 * overflowed, the rates seen fell, and attacks ended and started again. A host past the
 * budget stays over its threshold and is started by the next tick (counted in
 * starts_deferred), so a wide attack is started at tens of thousands a second while
 * datagrams keep being read. For the same reason one timer callback runs at most
 * MAX_CATCHUP ticks: the rest are caught up by the next callbacks, after the socket was read.
 *
 * A host under attack is checked on every tick while there are at most
 * STAGGER_ATTACKS_ABOVE attacks. Past that, each attacked host is checked once a window, on
 * its own tick of the window (slot % B), like a cooling hot host: 65,536 attacked hosts
 * checked ten times a second were most of the main thread, for decisions (the attack's end,
 * its peak) that need no 100 ms resolution. Its end then needs one check below every
 * threshold plus `finishTicks` more ticks below: 1-2 s after its traffic fell instead of 1 s.
 * Starts are never staggered: a host not yet attacked is checked on every tick.
 *
 * An attack does not end while the capture is losing datagrams (`lossProbe`: the kernel
 * dropped some on a listener in the last seconds). Its rates are then too low by what was
 * lost, so "below every threshold" is not evidence that the attack stopped: under a
 * 65,536-host carpet bomb that lost 60 % of its datagrams, attacks ended and started again
 * six times each, and every restart cost what a start costs. The end waits (counted in
 * ends_held) and comes at the first tick without loss, or after END_HOLD_MS below every
 * threshold all the same: a collector that loses datagrams all the time must not keep every
 * attack (and the bans that wait for their end) open for ever.
 */
import type { Attacks } from './attacks.js';
import { RMAX, type HotHosts } from './hot.js';
import type { Ingest } from './ingest.js';
import { ctr, K_TOTAL_P, NC } from './layout.js';
import { F_ATTACK, F_OVER, type DetectorState } from './state.js';
import { ACC_POS, F_HOT, F_WHITELISTED, KIND_HOSTGROUP, KIND_V4, KIND_V6, STRIDE } from './store.js';

/** attack_updated events per second across all attacks (see the header). */
export const UPDATES_PER_SECOND = 2000;
/** Milliseconds of a tick spent starting attacks (see the header). */
const START_BUDGET_MS = 40;
/** Ticks run per timer callback (see the header). */
const MAX_CATCHUP = 2;
/** Longest an attack's end is held while the capture loses datagrams (see the header). */
const END_HOLD_MS = 60_000;
/** Past this many active attacks, each attacked host is checked once a window (see the header). */
const STAGGER_ATTACKS_ABOVE = 1024;
/** Between ticks, hot candidates are checked for an early start this often (see early()). */
const EARLY_MS = 10;
/** Most candidates one early check looks at, and most attacks it starts (a carpet bomb waits for the tick). */
const EARLY_MAX_CANDIDATES = 4096;
const EARLY_MAX_STARTS = 64;

export class Ticker {
  private readonly st: DetectorState;
  private readonly ingest: Ingest;
  private readonly hot: HotHosts;
  private readonly attacks: Attacks;
  private readonly now: () => number;
  private readonly updateMs: number;
  private readonly finishTicks: number;
  private lastTickAt: number;
  private timer: NodeJS.Timeout | null = null;
  private earlyTimer: NodeJS.Timeout | null = null;
  private scratchOver = new Uint8Array(64);
  /** attack_updated events left in this tick, and each attack's interval (ms) this tick. */
  private updatesLeft = 0;
  private updateEvery = 0;
  private readonly startBudgetMs: number;
  /** Milliseconds this tick has spent in attack starts. */
  private startsSpent = 0;
  /** Milliseconds early starts (early()) spent in the open interval. */
  private earlySpent = 0;
  /** This tick checks attacked hosts once a window, not every tick (see the header). */
  private staggerAttacks = false;
  /** True while the capture is losing datagrams (see the header); asked once per tick. */
  lossProbe: (() => boolean) | null = null;
  private lossy = false;
  private readonly maxHoldTicks: number;
  /** A detection shard's hook: its hostgroup totals of the interval closing now (detector.ts). */
  intervalClosed: (() => void) | null = null;
  /** Set by a reconfigure: the next tick checks every host with recent traffic. */
  reevalAll = false;

  constructor(
    st: DetectorState,
    ingest: Ingest,
    hot: HotHosts,
    attacks: Attacks,
    now: () => number,
    updateMs: number,
    finishTicks: number,
    startBudgetMs = START_BUDGET_MS,
  ) {
    this.startBudgetMs = startBudgetMs;
    this.maxHoldTicks = Math.ceil(END_HOLD_MS / st.tickMs);
    this.st = st;
    this.ingest = ingest;
    this.hot = hot;
    this.attacks = attacks;
    this.now = now;
    this.updateMs = updateMs;
    this.finishTicks = finishTicks;
    this.lastTickAt = now();
  }

  start(): void {
    if (this.timer) return;
    this.lastTickAt = this.now();
    this.timer = setInterval(() => this.advance(this.now(), MAX_CATCHUP), this.st.tickMs);
    this.timer.unref?.();
    if (this.st.tickMs > EARLY_MS) {
      this.earlyTimer = setInterval(() => this.early(this.now()), EARLY_MS);
      this.earlyTimer.unref?.();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.earlyTimer) clearInterval(this.earlyTimer);
    this.timer = null;
    this.earlyTimer = null;
  }

  /**
   * Between ticks: start the attack on a hot candidate whose window so far (the B - 1
   * closed intervals and the open one up to now) is already over one of its ban thresholds,
   * held for the ticks it requires (this one counting), instead of waiting up to a tick for
   * the interval to close. That window is the last second's traffic less part of its oldest
   * interval, so it never over-states a rate: an early start is an attack the tick would see
   * too, up to 100 ms sooner (half a tick on average; the detection-latency benchmark).
   * The attack's record reads the same window. Not with smoothing (rates move on ticks), nor
   * past STAGGER_ATTACKS_ABOVE attacks or EARLY_MAX_CANDIDATES candidates: a carpet bomb is
   * left to the tick and its start budget. Ends and updates stay on the tick.
   */
  early(now: number): void {
    const S = this.st;
    const ing = this.ingest;
    const n = ing.candLen;
    if (n === 0 || n > EARLY_MAX_CANDIDATES || S.alpha > 0) return;
    if (this.attacks.bySlot.size > STAGGER_ATTACKS_ABOVE) return;
    const T = S.curTick;
    // rate() (the attack record) reads the window ending with T: the one checked here.
    S.curTick = T + 1;
    try {
      let started = 0;
      for (let i = 0; i < n && started < EARLY_MAX_STARTS; i++) {
        // Early starts of one interval get half the tick's start budget (a /20 bombed at once
        // must not hold the main thread between ticks either): past it, the tick starts them.
        if (this.earlySpent > this.startBudgetMs / 2) break;
        const t0 = performance.now();
        if (!this.earlyStart(ing.cand[i]!, T, now)) continue;
        started++;
        this.earlySpent += this.startBudgetMs === 0 ? 1 : performance.now() - t0;
      }
    } finally {
      S.curTick = T;
    }
  }

  private earlyStart(s: number, T: number, now: number): boolean {
    const S = this.st;
    const st = S.store;
    const k = st.kind[s]!;
    if (k !== KIND_V4 && k !== KIND_V6) return false;
    const fl = st.flags[s]!;
    if (fl & (F_WHITELISTED | F_ATTACK) || (fl & F_HOT) === 0 || st.t0(s) !== T) return false;
    const pos = this.hot.pos[s]!;
    const c = S.compiled[st.hg(s)];
    if (pos < 0 || !c) return false;
    const thr = c.ban;
    const m = Math.min(thr.length, RMAX);
    const runs = this.hot.runs;
    let best = -1;
    let bestRatio = 0;
    for (let j = 0; j < m; j++) {
      if (runs[pos * RMAX + j]! + 1 < c.ticksRequired) continue;
      const t = thr[j]!;
      const ratio = (st.windowAt(s, t.counter, T) * S.perSecond * t.factor) / t.limit;
      if (ratio > 1 && ratio > bestRatio) {
        bestRatio = ratio;
        best = j;
      }
    }
    if (best < 0) return false;
    this.attacks.start(s, thr[best]!, now, c.name);
    S.stats.starts_early++;
    return true;
  }

  /**
   * Run the ticks due by `now`, at most `max` of them (the timer's bound; tests and replays
   * run them all), catching up at most one window plus one tick.
   */
  advance(now: number, max = Infinity): void {
    const { tickMs, B } = this.st;
    let n = Math.floor((now - this.lastTickAt) / tickMs);
    if (n <= 0) return;
    if (n > B + 1) {
      this.lastTickAt = now - (B + 1) * tickMs;
      n = B + 1;
    }
    if (n > max) {
      this.st.stats.ticks_late += n - max;
      n = max;
    }
    for (let i = 0; i < n; i++) this.tick(this.lastTickAt + tickMs);
  }

  /** Close the current interval at time `now`: check thresholds, emit events. */
  tick(now: number): void {
    this.lastTickAt = now;
    const S = this.st;
    const T = S.curTick;
    const st = S.store;
    // From here on rate() reads the window that ended with interval T.
    S.curTick = T + 1;
    S.stats.ticks++;
    const perTick = Math.max(1, Math.round((UPDATES_PER_SECOND * S.tickMs) / 1000));
    this.updatesLeft = perTick;
    this.startsSpent = 0;
    this.earlySpent = 0;
    this.staggerAttacks = this.attacks.bySlot.size > STAGGER_ATTACKS_ABOVE;
    this.lossy = this.attacks.bySlot.size > 0 && this.lossProbe !== null && this.lossProbe();
    this.updateEvery = Math.max(this.updateMs, (this.attacks.bySlot.size / UPDATES_PER_SECOND) * 1000);
    if (S.alpha > 0) this.smoothAll(T);
    // Threshold checks: candidates (hosts whose traffic in T may have brought them near a
    // threshold, hot ones with traffic included: only windows with new traffic can rise).
    const ing = this.ingest;
    const d = ing.cand;
    const n = ing.candLen;
    ing.candLen = 0;
    for (let i = 0; i < n; i++) this.evaluate(d[i]!, T, now);
    const hot = this.hot;
    if (this.reevalAll || S.alpha > 0) {
      // Thresholds changed, or smoothed rates move without traffic: check every host with
      // recent traffic once.
      this.reevalAll = false;
      for (let s = 0; s < st.used; s++) {
        const k = st.kind[s];
        if (k !== KIND_V4 && k !== KIND_V6) continue;
        if (st.lastSeen(s) + S.B < T && !(S.alpha > 0 && st.smooth![s * NC] !== 0)) continue;
        if (hot.lastEval[s] !== T) this.evaluate(s, T, now);
      }
    }
    // Promoted mid-interval and not evaluated (no thresholds left, say): hot all the same,
    // so their buffer is accounted for and released after cooling.
    for (const s of hot.promoted) if (hot.pos[s]! < 0 && st.flags[s]! & F_HOT) hot.makeHot(s, T);
    hot.promoted.length = 0;
    // Hot hosts without traffic in T: their windows can only fall. Those over a threshold
    // or under attack are checked on every tick (consecutive-tick counts, attack end); the
    // others only need to cool down, so each is checked once in `stagger` ticks.
    const stagger = S.B;
    const phase = T % stagger;
    // The list is not reallocated here: evaluating a slot already on it never adds one.
    const L = hot.list;
    for (let i = 0; i < hot.len; i++) {
      const s = L[i]!;
      if (hot.lastEval[s] === T) continue;
      const f = st.flags[s]!;
      if (s % stagger !== phase && (f & (F_OVER | F_ATTACK)) === 0) continue;
      if (s % stagger !== phase && this.staggerAttacks && f & F_ATTACK) continue;
      const before = hot.len;
      this.evaluate(s, T, now);
      if (hot.len < before) i--; // released: the last hot slot moved into position i
    }
    this.attacks.evaluateHostgroups(now);
    this.attacks.logDetected();
    this.intervalClosed?.();
    // Hostgroup totals move to the next interval now: the hot path adds to them unrotated.
    for (let h = 0; h < S.hgSlot.length; h++) st.rotate(S.hgSlot[h]!, T + 1);
    if (T % Math.max(1, Math.round(1000 / S.tickMs)) === 0 && S.v6.size > 0)
      ing.evictV6(Infinity, S.idleTicks);
  }

  /** Smoothing mode: EWMA step for every slot with recent traffic or a non-zero average. */
  private smoothAll(T: number): void {
    const S = this.st;
    const st = S.store;
    const sm = st.smooth!;
    for (let s = 0; s < st.used; s++) {
      if (st.kind[s] === 0) continue;
      if (st.lastSeen(s) + S.B < T && st.kind[s] !== KIND_HOSTGROUP) {
        let any = false;
        for (let c = 0; c < NC; c++) if (sm[s * NC + c] !== 0) any = true;
        if (!any) continue;
      }
      st.rotate(s, T);
      st.smoothSlot(s, T, S.alpha, S.perSecond);
    }
  }

  /** Check one slot's ban thresholds at the end of interval T. */
  private evaluate(s: number, T: number, now: number): void {
    const S = this.st;
    const st = S.store;
    const k = st.kind[s]!;
    if (k !== KIND_V4 && k !== KIND_V6) return;
    const fl = st.flags[s]!;
    if (fl & F_WHITELISTED) return; // never banned
    // Many attacks: an attacked host with traffic (a candidate) waits for its tick of the window.
    if (fl & F_ATTACK && this.staggerAttacks && s % S.B !== T % S.B) return;
    const c = S.compiled[st.hg(s)];
    if (!c) return;
    const hot = this.hot;
    let pos = hot.pos[s]!;
    const thr = c.ban;
    const n = Math.min(thr.length, RMAX);
    if (n === 0 && pos < 0 && (fl & F_HOT) === 0) return;
    hot.lastEval[s] = T;
    if (this.scratchOver.length < n) this.scratchOver = new Uint8Array(n * 2);
    const over = this.scratchOver;
    let anyOver = false;
    let warm = false;
    // Rates of the window that ended with T: the slot is at T (it got records in T) or is
    // moved there now.
    const alpha = S.alpha;
    if (alpha === 0) st.rotate(s, T);
    const hb = st.hb;
    const bo = s * STRIDE;
    const atT = st.t0(s) === T;
    const perSecond = S.perSecond;
    const perTickSecond = S.perTickSecond;
    const warmF = S.warm;
    for (let j = 0; j < n; j++) {
      const t = thr[j]!;
      const acc = atT ? hb[bo + ACC_POS[t.counter]!]! : 0;
      const v = (alpha > 0 ? S.rate(s, t.counter) : st.windowAt(s, t.counter, T) * perSecond) * t.factor;
      const o = v > t.limit;
      over[j] = o ? 1 : 0;
      if (o) anyOver = true;
      const w = warmF * t.limit;
      if (v >= w || acc * perTickSecond * t.factor >= w) warm = true;
    }
    if (pos < 0) {
      if (!warm && !anyOver && (fl & F_HOT) === 0) return;
      pos = hot.makeHot(s, T);
    }
    if (warm || anyOver) hot.warmAt[s] = T;
    st.flags[s] = anyOver ? st.flags[s]! | F_OVER : st.flags[s]! & ~F_OVER;
    const runs = hot.runs;
    const r0 = pos * RMAX;
    for (let j = 0; j < n; j++)
      runs[r0 + j] = over[j] ? (runs[r0 + j]! < 65535 ? runs[r0 + j]! + 1 : 65535) : 0;
    const a = st.flags[s]! & F_ATTACK ? this.attacks.bySlot.get(s) : undefined;
    if (!a) {
      let best = -1;
      let bestRatio = 0;
      for (let j = 0; j < n; j++) {
        if (runs[r0 + j]! < c.ticksRequired) continue;
        const t = thr[j]!;
        const ratio = (S.rate(s, t.counter) * t.factor) / t.limit;
        if (ratio > bestRatio) {
          bestRatio = ratio;
          best = j;
        }
      }
      if (best >= 0) {
        // Past the tick's start budget: still over (F_OVER keeps it evaluated every tick),
        // started by a later tick. The budget counts the time spent in starts only (not the
        // checks of other hosts between them); a tick always starts one, so a budget of 0
        // starts one per tick.
        if (this.startsSpent > this.startBudgetMs) {
          S.stats.starts_deferred++;
          return;
        }
        const t0 = performance.now();
        this.attacks.start(s, thr[best]!, now, c.name);
        this.startsSpent += performance.now() - t0;
        if (this.startBudgetMs === 0) this.startsSpent = 1;
        return;
      }
      // Cooled down: a window below the warm level since the slot was last warm or over.
      if (!warm && !anyOver && T - hot.warmAt[s]! >= S.B) hot.release(s);
      return;
    }
    const power = S.rate(s, ctr(a.fired.direction === 'incoming' ? 0 : 1, K_TOTAL_P));
    if (power > a.peakPower) a.peakPower = power;
    // Ticks since its last check count as below only when that check was below too.
    // (On every tick that is below++, as before.)
    if (anyOver) a.below = 0;
    else a.below += a.below > 0 && a.lastT >= 0 ? T - a.lastT : 1;
    a.lastT = T;
    if (a.below >= this.finishTicks && this.lossy && a.below < this.finishTicks + this.maxHoldTicks) {
      S.stats.ends_held++;
    } else if (a.below >= this.finishTicks) {
      this.attacks.refresh(s, a);
      this.attacks.end(s, a);
      return;
    }
    if (now - a.lastUpdate >= this.updateEvery && this.updatesLeft > 0) {
      this.updatesLeft--;
      a.lastUpdate = now;
      this.attacks.refresh(s, a);
      this.attacks.emit('attack_updated', a.rec);
    }
  }
}
