#!/usr/bin/env node
/**
 * breakwater CLI entry: `breakwater <command> [options]`. Every command answers --help.
 * To add a command, write src/cli/commands/<name>.ts exporting `command` and list it below.
 */
import type { Command } from './command.js';

const loaders: Record<string, () => Promise<{ command: Command }>> = {
  run: () => import('./commands/run.js'),
  check: () => import('./commands/check.js'),
  decode: () => import('./commands/decode.js'),
  replay: () => import('./commands/replay.js'),
  ctl: () => import('./commands/ctl.js'),
  'hash-password': () => import('./commands/hash-password.js'),
  demo: () => import('./commands/demo.js'),
  // ctl, hash-password (mitigation/API) are added here.
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const cmds = await Promise.all(Object.values(loaders).map((l) => l().then((m) => m.command)));
    const lines = cmds.map((c) => `  ${c.name.padEnd(14)} ${c.summary}`);
    process.stdout.write(
      `breakwater: DDoS detection and BGP mitigation controller\n\nUsage: breakwater <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun 'breakwater <command> --help' for a command's options.\n`,
    );
    return name ? 0 : 2;
  }
  const load = loaders[name];
  if (!load) {
    process.stderr.write(`breakwater: unknown command '${name}' (try 'breakwater --help')\n`);
    return 2;
  }
  const { command } = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.help.endsWith('\n') ? command.help : `${command.help}\n`);
    return 0;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // Errors meant for the operator are one line; a stack only when debugging.
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`breakwater: ${msg}\n`);
    if (process.env.BREAKWATER_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.exitCode = 1;
  },
);
