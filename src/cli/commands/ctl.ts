import { CTL_HELP, runCtl } from '../../api/client.js';
import type { Command } from '../command.js';

export const command: Command = {
  name: 'ctl',
  summary: 'control a running daemon through its API (blackholes, FlowSpec, counters, BGP)',
  help: CTL_HELP,
  run(argv: string[]) {
    return runCtl(argv, {
      out: (s) => process.stdout.write(s),
      err: (s) => process.stderr.write(s),
      env: process.env,
      readStdin: async () => {
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        return Buffer.concat(chunks).toString('utf8');
      },
    });
  },
};
