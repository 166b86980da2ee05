import type { Command } from '../command.js';
export const command: Command = {
  name: 'check',
  summary: 'validate the config and every policy file',
  help: 'Usage: breakwater check [--config FILE]\n',
  async run() {
    return 1;
  },
};
