import type { Command } from '../command.js';
import { parseFlags } from '../command.js';
import { ConfigError, configWarnings } from '../../config/index.js';
import { countDropped, isStreamWriteError, logger } from '../../log.js';

export const command: Command = {
  name: 'run',
  summary: 'start the daemon (built-in defaults without --config)',
  help: `Usage: breakwater run [--config FILE] [--dry-run]

Starts the daemon. Without --config it runs on built-in defaults: collectors on 127.0.0.1
(sFlow 6343, NetFlow 2055, IPFIX 4739), the HTTP API on 127.0.0.1:10007, no BGP peers,
state in ./state.

  --config FILE   main config (breakwater.yaml); policies are read from its 'policies' folder
  --dry-run       detect, notify and log "would announce ..." but announce nothing

Signals: SIGTERM/SIGINT stop cleanly (routes are withdrawn unless graceful restart is
configured); SIGHUP re-reads config and policies (a bad file is refused, the running config
stays).
`,
  async run(argv) {
    const { flags, positionals, unknown } = parseFlags(argv, { string: ['config'], boolean: ['dry-run'] });
    if (unknown.length || positionals.length) {
      process.stderr.write(
        `breakwater run: ${[...unknown, ...positionals.map((p) => `unexpected argument ${p}`)].join('; ')}\n`,
      );
      return 2;
    }
    const { Daemon } = await import('../../daemon.js');
    const { defaultConfig, loadConfig } = await import('../../config/index.js');
    let daemon: InstanceType<typeof Daemon>;
    try {
      const file = typeof flags.config === 'string' ? flags.config : undefined;
      let cfg = file ? loadConfig(file) : defaultConfig();
      if (flags['dry-run']) cfg = { ...cfg, detection: { ...cfg.detection, dry_run: true } };
      daemon = new Daemon({ ...(file ? { configFile: file } : {}), config: cfg });
    } catch (e) {
      if (e instanceof ConfigError) {
        for (const line of e.errors) process.stderr.write(`${line}\n`);
        return 1;
      }
      throw e;
    }
    const log = logger.child({ module: 'daemon' });
    let stopping = false;
    const stop = (sig: string) => {
      if (stopping) {
        log.warn(`${sig} again: exiting now`);
        process.exit(1);
      }
      stopping = true;
      daemon.stop(`received ${sig}`).then(
        () => process.exit(0),
        (e: Error) => {
          log.error(`stop failed: ${e.message}`);
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    // A bug in one handler must not take the BGP sessions (and every route) down with it:
    // log it loudly and keep serving. Wire input is handled in the decoders and never lands here.
    // An output stream that failed (a closed pipe: `run | head`, tee stopped by Ctrl-C) is
    // not a bug: logging it would write to the stream that just failed. src/log.ts guards
    // stdout/stderr and counts the lines it drops; such an error that still lands here is
    // counted the same way and not logged.
    let bugs = 0;
    const internalError = (e: unknown) => {
      if (isStreamWriteError(e)) {
        countDropped();
        return;
      }
      bugs++;
      log.error(
        `internal error #${bugs} (please report): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
      );
    };
    process.on('uncaughtException', internalError);
    process.on('unhandledRejection', internalError);
    process.on('SIGHUP', () => {
      log.info('SIGHUP: reloading configuration');
      daemon.reload();
    });
    try {
      await daemon.start();
    } catch (e) {
      log.error(`cannot start: ${(e as Error).message}`);
      await daemon.stop('start failed').catch(() => undefined);
      return 1;
    }
    for (const w of configWarnings(daemon.config)) log.warn(w);
    // Keep running until a signal handler exits the process.
    return new Promise<number>(() => undefined);
  },
};
