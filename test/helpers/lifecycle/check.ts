/**
 * Runs one sequence through the model and the system side by side and compares them after
 * every step; on a mismatch it shrinks the sequence (drop chunks, then single steps, while
 * it still fails) so the report is the shortest sequence that shows it.
 */
import assert from 'node:assert/strict';
import { logger } from '../../../src/log.js';
import { contains } from './addr.js';
import { LifecycleModel, modelStats } from './model.js';
import { LifecycleSystem } from './system.js';
import {
  describeStep,
  HOSTS,
  MAX_BLACKHOLES,
  MAX_FLOWSPEC,
  NETWORKS,
  randomSteps,
  WHITELIST,
  type Step,
} from './world.js';
import { causeText } from '../../../src/mitigation/cause.js';

export interface Failure {
  readonly step: number;
  readonly problem: string;
}

const T0 = 1_700_000_000_000;

function diffLines(what: string, got: readonly string[], want: readonly string[]): string | null {
  if (got.length === want.length && got.every((x, i) => x === want[i])) return null;
  const extra = got.filter((x) => !want.includes(x));
  const missing = want.filter((x) => !got.includes(x));
  return `${what} differ: extra ${JSON.stringify(extra)}, missing ${JSON.stringify(missing)}; got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`;
}

/** Independent safety check of what the router holds. */
function unsafeRoute(view: readonly string[]): string | null {
  for (const line of view) {
    const m = /^(ipv[46])-(unicast|flowspec) (?:dst=)?(\S+)/.exec(line);
    if (!m) return `unreadable route ${line}`;
    const [addr, len] = m[3]!.split('/');
    if (!NETWORKS.some((n) => contains(n, addr!) && Number(n.split('/')[1]) <= Number(len)))
      return `${line}: outside networks`;
    if (WHITELIST.some((w) => contains(m[3]!, w.split('/')[0]!) || contains(w, addr!)))
      return `${line}: covers a whitelisted address`;
  }
  return null;
}

/**
 * Every ban is followed by one unban before the next ban of that host (status only
 * between); "forget" (a restart forgot a ban that held no route) closes a ban too.
 */
export function pairingProblem(log: readonly string[]): string | null {
  const open = new Map<string, boolean>();
  for (const line of log) {
    const [action, ip] = line.split(' ') as [string, string];
    if (action === 'ban' || action === 'partial_block') {
      if (open.get(ip)) return `second ${action} of ${ip} without an unban`;
      open.set(ip, true);
    } else if (action === 'forget') open.set(ip, false);
    else if (action === 'unban' || action === 'partial_unblock') {
      if (!open.get(ip)) return `${action} of ${ip} without a ban`;
      open.set(ip, false);
    } else if (action === 'attack_status') {
      if (!open.get(ip)) return `attack_status of ${ip} outside a ban`;
    }
  }
  return null;
}

export async function runSequence(steps: readonly Step[]): Promise<Failure | null> {
  const model = new LifecycleModel(T0);
  const sys = new LifecycleSystem(T0, model.pol);
  await sys.start();
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i]!;
    try {
      model.apply(s);
      await sys.apply(s);
    } catch (e) {
      return { step: i, problem: `threw: ${(e as Error).stack ?? e}` };
    }
    const problem =
      diffLines('router routes', sys.router.view(), model.routerView()) ??
      unsafeRoute(sys.router.view()) ??
      diffLines('notifications', sys.log, model.log) ??
      diffLines('escalations', sys.escalations(), model.escalations()) ??
      diffLines('hostgroup-scope bans', sys.hostgroupBans(), model.hostgroupBans()) ??
      auditProblem(sys, model) ??
      ownerProblem(sys) ??
      sys.desiredProblem() ??
      attacksProblem(sys, model);
    if (problem) return { step: i, problem };
  }
  const unpaired = pairingProblem(model.fullLog);
  return unpaired ? { step: steps.length - 1, problem: unpaired } : null;
}

function auditProblem(sys: LifecycleSystem, model: LifecycleModel): string | null {
  const a = sys.mgr.audit();
  if (a.problems.length) return `manager maps inconsistent: ${a.problems.join('; ')}`;
  if (a.bans !== model.bans.size) return `manager holds ${a.bans} ban(s), the model ${model.bans.size}`;
  if (a.tracked !== model.attacks.size)
    return `manager tracks ${a.tracked} attack(s), the model ${model.attacks.size}`;
  if (a.owned !== model.ownedCount())
    return `manager owns ${a.owned} mitigation(s) for bans, the model ${model.ownedCount()}`;
  return null;
}

/** Every mitigation has an owner (a host ban, a hostgroup ban, the operator, the escalation loop) and the caps hold. */
function ownerProblem(sys: LifecycleSystem): string | null {
  const list = sys.mgr.list();
  const byCause = (p: string) => list.filter((m) => causeText(m.cause).startsWith(p)).length;
  const owned = sys.mgr.audit().owned;
  if (byCause('attack ') !== owned)
    return `${byCause('attack ')} mitigation(s) of an attack cause, ${owned} owned by a host ban`;
  const hgOwned = sys.mgr.hostgroupBans().reduce((s, b) => s + b.uuids.size, 0);
  if (byCause('hostgroup ') !== hgOwned)
    return `${byCause('hostgroup ')} mitigation(s) of a hostgroup cause, ${hgOwned} owned by a hostgroup ban`;
  const other = list.filter((m) => !/^(attack |hostgroup |manual$|escalation of )/.test(causeText(m.cause)));
  if (other.length)
    return `mitigations of no known owner: ${other.map((m) => `${m.prefix} (${causeText(m.cause)})`).join(', ')}`;
  const c = sys.mgr.counts();
  if (c.blackhole > MAX_BLACKHOLES || c.flowspec > MAX_FLOWSPEC)
    return `caps exceeded: ${c.blackhole} blackhole(s), ${c.flowspec} FlowSpec rule(s)`;
  return null;
}

function attacksProblem(sys: LifecycleSystem, model: LifecycleModel): string | null {
  const list = sys.attackList();
  const ids = list.map((x) => x.uuid);
  if (new Set(ids).size !== ids.length) return `an attack is listed twice: ${JSON.stringify(ids)}`;
  for (const [uuid, a] of model.attacks) {
    const s = list.find((x) => x.uuid === uuid);
    if (!s) return `attack ${uuid} on ${a.ip} is not listed`;
    if (s.banned !== (a.ban !== null))
      return `attack ${uuid} on ${a.ip}: banned ${s.banned}, the model ${a.ban !== null}`;
    if (s.active !== !a.finished)
      return `attack ${uuid} on ${a.ip}: active ${s.active}, the model ${!a.finished}`;
  }
  return null;
}

/** The shortest failing sequence found by removing chunks, then single steps. */
export async function shrink(steps: readonly Step[]): Promise<{ steps: Step[]; failure: Failure }> {
  let cur = [...steps];
  let fail = (await runSequence(cur))!;
  cur = cur.slice(0, fail.step + 1);
  for (let chunk = Math.max(1, cur.length >> 1); chunk >= 1; chunk >>= 1) {
    for (let i = 0; i + chunk <= cur.length; ) {
      const cand = [...cur.slice(0, i), ...cur.slice(i + chunk)];
      const f = cand.length ? await runSequence(cand) : null;
      if (f) {
        cur = cand.slice(0, f.step + 1);
        fail = f;
      } else i += chunk;
    }
  }
  return { steps: cur, failure: fail };
}

export function formatSequence(steps: readonly Step[]): string {
  return steps.map((s, i) => `  ${String(i).padStart(3)}: ${describeStep(s)}`).join('\n');
}

export { HOSTS };

// 4,000 in npm test: each half must finish within the suite's 300 s per file on a loaded CI machine (10,000
// took ~350 s a half once the hostgroup steps and the policy lookup per reload came in).
const SEQUENCES = Number(process.env.LIFECYCLE_SEQUENCES ?? 4_000);
/** The run's size: seeds SEED .. SEED+SEQUENCES-1, split in two halves (two test files). */
export const LIFECYCLE_RUN = {
  SEQUENCES,
  HALF: Math.ceil(SEQUENCES / 2),
  STEPS: Number(process.env.LIFECYCLE_STEPS ?? 200),
  SEED: Number(process.env.LIFECYCLE_SEED ?? 1),
};

export async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const was = logger.silent;
  logger.silent = true;
  try {
    return await fn();
  } finally {
    logger.silent = was;
  }
}

/** `count` seeded sequences from `seed`; the first mismatch fails with its seed and the shrunk sequence. */
export async function runRandomSequences(seed: number, count: number, steps: number): Promise<void> {
  const t0 = performance.now();
  const recovers0 = modelStats.recovers;
  let total = 0;
  let withHg = 0;
  for (let i = 0; i < count; i++) {
    const seq = randomSteps(seed + i, steps);
    const f = await runSequence(seq);
    if (f) {
      const small = await shrink(seq);
      assert.fail(
        `seed ${seed + i}: step ${f.step} (${describeStep(seq[f.step]!)}): ${f.problem}\nshrunk to ${small.steps.length} step(s): ${small.failure.problem}\n${formatSequence(small.steps)}`,
      );
    }
    total += seq.length;
    if (seq.some((s) => s.t === 'hg_attack')) withHg++;
  }
  process.stdout.write(
    `# lifecycle model: ${count} sequences from seed ${seed} (${withHg} with hostgroup-total attacks, ${modelStats.recovers - recovers0} FlowSpec re-covers), ${total} steps, no mismatch, ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );
  // The world must reach the re-cover case, or the check says nothing about it.
  if (count >= 500) assert.ok(modelStats.recovers > recovers0, `no FlowSpec re-cover in ${count} sequences`);
}
