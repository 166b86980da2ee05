/** The lifecycle model against `breakwater run` and GoBGP (test/helpers/lifecycle/daemon-run.ts), seed 1. */
import { test } from 'node:test';
import { runAgainstDaemon, STEPS } from './helpers/lifecycle/daemon-run.js';

test(`lifecycle model against breakwater run and GoBGP: ${STEPS} steps (seed 1)`, { timeout: 900_000 }, (t) =>
  runAgainstDaemon(t, 1, '127.0.0.81', '127.0.0.82'),
);
