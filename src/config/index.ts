/**
 * Public surface of the config room. Modules read the frozen Config (types.ts); the daemon
 * loads it with loadConfig/defaultConfig and reloads through ConfigStore; every room asks
 * classifierOf(config) which hostgroup an address or prefix belongs to and whether it is
 * monitored or whitelisted (one Classifier per config, over PrefixTable).
 */
export * from './types.js';
export { ConfigError, configWarnings, defaultConfig, deepFreeze, loadConfig, parseConfig } from './load.js';
export {
  formatCommunity,
  formatDuration,
  formatExtendedCommunity,
  parseAsn,
  parseCommunity,
  parseDuration,
  parseExtendedCommunity,
  parseHostPort,
  parseIp,
  parseLargeCommunity,
  parsePrefix,
  tryParsePrefix,
  parseRouterId,
  ValueError,
  WELL_KNOWN_COMMUNITIES,
} from './values.js';
export { BUILTIN_DEFAULT_HOSTGROUP } from './defaults.js';
export { PrefixTable } from './prefix-table.js';
export {
  Classifier,
  classifierOf,
  type HostClass,
  type HostKind,
  type PolicyInput,
  type PolicyLookup,
} from './classifier.js';
export { ConfigStore, type ConfigListener, type ReloadResult } from './reload.js';
