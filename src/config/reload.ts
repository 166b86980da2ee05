/**
 * ConfigStore: the running Config and its reloads (SIGHUP, API). A reload re-reads the
 * config file and every policy file; if anything is wrong the new files are refused and
 * the running config stays in force. Subscribers hear about successful swaps only.
 */
import { logger } from '../log.js';
import { ConfigError, loadConfig } from './load.js';
import type { Config } from './types.js';

export type ReloadResult = { ok: true; config: Config } | { ok: false; errors: string[] };
export type ConfigListener = (next: Config, prev: Config) => void;

const log = logger.child({ module: 'config' });

export class ConfigStore {
  private cur: Config;
  private readonly listeners = new Set<ConfigListener>();

  /**
   * @param file the config file (undefined = built-in defaults; reload then re-validates
   *   the defaults and swaps nothing of substance)
   * @param load injectable for tests; defaults to loadConfig
   */
  constructor(
    readonly file: string | undefined,
    private readonly load: (file?: string) => Config = loadConfig,
    initial?: Config,
  ) {
    this.cur = initial ?? load(file);
  }

  get current(): Config {
    return this.cur;
  }

  /** Call fn after every successful reload; returns an unsubscribe function. */
  subscribe(fn: ConfigListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  reload(): ReloadResult {
    let next: Config;
    try {
      next = this.load(this.file);
    } catch (e) {
      const errors = e instanceof ConfigError ? [...e.errors] : [e instanceof Error ? e.message : String(e)];
      log.error('config reload refused; the running config stays in force', { errors: errors.length });
      for (const line of errors) log.error(line);
      return { ok: false, errors };
    }
    const prev = this.cur;
    this.cur = next;
    log.info('config reloaded', { file: next.file, hostgroups: next.hostgroups.length });
    for (const fn of this.listeners) {
      try {
        fn(next, prev);
      } catch (e) {
        // One module failing to apply the change must not stop the others hearing of it.
        log.error('config subscriber failed', { error: e instanceof Error ? e.message : String(e) });
      }
    }
    return { ok: true, config: next };
  }
}
