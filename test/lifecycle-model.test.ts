/**
 * The mitigation lifecycle against a reference model (test/helpers/lifecycle/): long
 * random sequences of attacks (start, update, finish, re-detection, overlap), expiries,
 * manual adds and deletes, policy reloads, restarts (clean and kill -9), BGP peer flaps,
 * emergency crossings that escalate and clear, and hostgroup-total attacks (carpet
 * bombing) that start and end on hostgroups mitigating them by FlowSpec, covering
 * blackholes or both, driven through the real manager, escalation loop and RIB-out on a
 * fake clock. After every step the router's routes, the notifications, the escalations,
 * the hostgroup-scope bans, the attack list and the manager's internal maps must match
 * the model, every mitigation has an owner and the caps hold. A failure prints its seed
 * and the shrunk sequence.
 *
 * LIFECYCLE_SEQUENCES / LIFECYCLE_STEPS / LIFECYCLE_SEED change the run (default 4,000
 * sequences of 200 steps from seed 1, half here and half in lifecycle-model-2.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  LIFECYCLE_RUN,
  pairingProblem,
  quietly,
  runRandomSequences,
  runSequence,
} from './helpers/lifecycle/check.js';
import { LifecycleModel } from './helpers/lifecycle/model.js';
import type { Step } from './helpers/lifecycle/world.js';

// The other half of the seeds runs in lifecycle-model-2.test.ts, in parallel.
const { SEED, HALF, STEPS } = LIFECYCLE_RUN;

describe('mitigation lifecycle: model test', () => {
  it('the regression sequence of issue 12 (re-detection while banned, expiry, next attack)', async () => {
    const steps: Step[] = [
      { t: 'attack', host: 0 },
      { t: 'finish', host: 0 },
      { t: 'tick', ms: 2000 },
      { t: 'attack', host: 0 },
      { t: 'finish', host: 0 },
      ...Array.from({ length: 10 }, () => ({ t: 'tick', ms: 1000 }) as Step),
      { t: 'attack', host: 0 },
      { t: 'tick', ms: 1000 },
    ];
    assert.equal(await quietly(() => runSequence(steps)), null);
  });

  it('hostgroup scope: a ban restored from the journal covers no host before its hostgroup attack is seen again', async () => {
    const steps: Step[] = [
      { t: 'hg_attack', hostgroup: 'dns' },
      { t: 'restart', kill: false },
      { t: 'attack', host: 2 },
      { t: 'hg_attack', hostgroup: 'dns' },
      { t: 'tick', ms: 5000 },
      { t: 'hg_finish', hostgroup: 'dns' },
      { t: 'tick', ms: 5000 },
    ];
    assert.equal(await quietly(() => runSequence(steps)), null);
  });

  it('the pairing check itself catches a ban without its unban', () => {
    assert.match(pairingProblem(['ban 1 /s1', 'ban 1 /s1']) ?? '', /second ban/);
    assert.match(pairingProblem(['unban 1 /s1']) ?? '', /without a ban/);
    assert.equal(pairingProblem(['ban 1 /s1', 'attack_status 1 /s1', 'unban 1 /s1', 'ban 1 /s1']), null);
  });

  it('the model is not trivially agreeable: a wrong expectation is reported', async () => {
    // Sabotage the model's view of one route and make sure the comparison notices.
    const orig = LifecycleModel.prototype.routerView;
    LifecycleModel.prototype.routerView = function (this: LifecycleModel) {
      return orig.call(this).map((l) => l.replace('c=65535:666', 'c=65535:667'));
    };
    try {
      const f = await quietly(() => runSequence([{ t: 'attack', host: 0 }]));
      assert.match(f?.problem ?? '', /router routes differ/);
    } finally {
      LifecycleModel.prototype.routerView = orig;
    }
  });

  it(
    `sequences ${SEED}..${SEED + HALF - 1} (${STEPS} steps each) match the model`,
    { timeout: 900_000 },
    () => quietly(() => runRandomSequences(SEED, HALF, STEPS)),
  );
});
