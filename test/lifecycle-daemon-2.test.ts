/** The lifecycle model against the daemon on a second seed (test/helpers/lifecycle/daemon-run.ts), in parallel with the first. */
import { test } from 'node:test';
import { runAgainstDaemon, STEPS } from './helpers/lifecycle/daemon-run.js';

test(`lifecycle model against breakwater run and GoBGP: ${STEPS} steps (seed 2)`, { timeout: 900_000 }, (t) =>
  runAgainstDaemon(t, 2, '127.0.0.83', '127.0.0.84'),
);
