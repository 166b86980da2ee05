/**
 * Public surface of the config room. Modules read the frozen Config (types.ts); the daemon
 * loads it with loadConfig/defaultConfig and reloads through ConfigStore; every room asks
 * classifierOf(config) which hostgroup an address or prefix belongs to and whether it is
 * monitored or whitelisted (one Classifier per config, over PrefixTable).
 */
export * from './types.js';
export { ConfigError, configWarnings, defaultConfig, loadConfig, parseConfig } from './load.js';
export {
  formatDuration,
  formatExtendedCommunity,
  parseAsn,
  parseCommunity,
  parseDuration,
  parseExtendedCommunity,
  parseHostPort,
  parseLargeCommunity,
  parsePrefix,
  parseRouterId,
  ValueError,
} from './values.js';
export { BUILTIN_DEFAULT_HOSTGROUP } from './defaults.js';
export { PrefixTable } from './prefix-table.js';
export {
  Classifier,
  classifierOf,
  type PolicyInput,
} from './classifier.js';
export { ConfigStore } from './reload.js';
