/**
 * Public surface of the detection room: createDetector() returns the engine (a Detector plus
 * manual tick/advance for tests and the daemon's extras), and the pure helpers.
 */
import type { Config } from '../config/types.js';
import { DetectorImpl, type DetectorOptions } from './detector.js';

export * from './types.js';
export {
  DetectorImpl,
  type DetectionEngine,
  type DetectorOptions,
  type HostgroupAttack,
} from './detector.js';
export { unbanDecision } from './unban.js';
export { buildHostRates } from './report.js';
export {
  classifyAttack,
  amplificationOf,
  severity,
  AMPLIFICATION_PORTS,
  type ClassRates,
} from './classify.js';
export { thresholdName, compileThresholds } from './layout.js';

export function createDetector(cfg: Config, opts?: DetectorOptions & { now?: () => number }): DetectorImpl {
  return new DetectorImpl(cfg, opts);
}
