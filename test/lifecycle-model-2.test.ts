/** The second half of the lifecycle model test's seeds (lifecycle-model.test.ts), run in parallel with the first. */
import { it } from 'node:test';
import { LIFECYCLE_RUN, quietly, runRandomSequences } from './helpers/lifecycle/check.js';

const { SEED, HALF, SEQUENCES, STEPS } = LIFECYCLE_RUN;

it(
  `lifecycle model: sequences ${SEED + HALF}..${SEED + SEQUENCES - 1} (${STEPS} steps each) match the model`,
  { timeout: 900_000 },
  () => quietly(() => runRandomSequences(SEED + HALF, SEQUENCES - HALF, STEPS)),
);
