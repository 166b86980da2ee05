import type { Command } from '../command.js';
export const command: Command = {
  name: 'run',
  summary: 'start the daemon',
  help: 'Usage: breakwater run [--config FILE]\n',
  async run() {
    process.stderr.write('not yet wired\n');
    return 1;
  },
};
