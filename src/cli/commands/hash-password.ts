import { hashPassword } from '../../api/auth.js';
import type { Command } from '../command.js';

export const command: Command = {
  name: 'hash-password',
  summary: 'read a password on stdin, print its scrypt hash for api.users',
  help: `Usage: breakwater hash-password < password.txt

Reads a password from stdin (one trailing newline is ignored) and prints a hash for the
config:

  api:
    users:
      admin:
        password_hash: "scrypt$16384$8$1$<salt>$<hash>"
`,
  async run(argv: string[]) {
    if (argv.length) {
      process.stderr.write(`breakwater hash-password: takes no arguments; the password is read from stdin\n`);
      return 2;
    }
    if (process.stdin.isTTY) process.stderr.write('Password (input is shown; end with Enter, then Ctrl-D): ');
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
    if (password === '') {
      process.stderr.write('breakwater hash-password: empty password on stdin\n');
      return 1;
    }
    process.stdout.write(`${hashPassword(password)}\n`);
    return 0;
  },
};
