import { hashPassword } from '../../api/auth.js';
import type { Command } from '../command.js';

/**
 * Read one line from a terminal without echoing it (raw mode: we see each key, the terminal
 * shows nothing). Enter ends it, Backspace edits, Ctrl-C / Ctrl-D abort (null).
 */
function readHidden(prompt: string): Promise<string | null> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  return new Promise((resolve) => {
    let buf = '';
    const done = (v: string | null) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      resolve(v);
    };
    const onData = (d: Buffer) => {
      for (const ch of d.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done(buf);
        if (ch === '\u0003' || ch === '\u0004') return done(null);
        if (ch === '\u007f' || ch === '\b') buf = [...buf].slice(0, -1).join('');
        else if (ch >= ' ') buf += ch;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

async function readPipe(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

export const command: Command = {
  name: 'hash-password',
  summary: 'read a password (hidden on a terminal, or from stdin), print its scrypt hash for api.users',
  help: `Usage: breakwater hash-password            (asks twice on a terminal, input hidden)
       breakwater hash-password < password.txt

On a terminal, asks for the password twice without showing it. Otherwise reads it from
stdin (one trailing newline is ignored), for scripts. Prints a hash for the config:

  api:
    users:
      admin:
        password_hash: "scrypt$16384$8$1$<salt>$<hash>"
`,
  async run(argv: string[]) {
    if (argv.length) {
      process.stderr.write(
        `breakwater hash-password: takes no arguments; the password is read from the terminal or stdin\n`,
      );
      return 2;
    }
    let password: string;
    if (process.stdin.isTTY) {
      const first = await readHidden('Password (not shown): ');
      if (first === null) return 130;
      const again = await readHidden('Again: ');
      if (again === null) return 130;
      if (first !== again) {
        process.stderr.write('breakwater hash-password: the two passwords differ\n');
        return 1;
      }
      password = first;
    } else password = await readPipe();
    if (password === '') {
      process.stderr.write(
        `breakwater hash-password: empty password${process.stdin.isTTY ? '' : ' on stdin'}\n`,
      );
      return 1;
    }
    process.stdout.write(`${hashPassword(password)}\n`);
    return 0;
  },
};
