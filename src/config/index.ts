/**
 * Public surface of the config room. Modules read the frozen Config (types.ts); the daemon
 * loads it with loadConfig/defaultConfig and reloads through ConfigStore; the hot path
 * classifies addresses with HostClassifier / PrefixTable.
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
export { HostClassifier, HOST_MONITORED, HOST_OTHER, HOST_WHITELISTED, type HostKind } from './classifier.js';
export { ConfigStore, type ConfigListener, type ReloadResult } from './reload.js';
