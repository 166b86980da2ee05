/** A CLI sub-command. Each lives in src/cli/commands/<name>.ts and is listed in main.ts. */
export interface Command {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** Full --help text (usage line first). */
  readonly help: string;
  /** Returns the process exit code. argv excludes the command name. */
  run(argv: string[]): Promise<number>;
}

/** Minimal flag parser: --flag value, --flag=value, --bool; the rest are positionals. */
export function parseFlags(
  argv: string[],
  spec: { string?: string[]; boolean?: string[] },
): { flags: Record<string, string | boolean>; positionals: string[]; unknown: string[] } {
  const flags: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  const unknown: string[] = [];
  const strs = new Set(spec.string ?? []);
  const bools = new Set(spec.boolean ?? []);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      if (strs.has(name)) {
        const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
        if (v === undefined) unknown.push(`${a} needs a value`);
        else flags[name] = v;
      } else if (bools.has(name)) flags[name] = true;
      else unknown.push(`unknown option ${a}`);
    } else positionals.push(a);
  }
  return { flags, positionals, unknown };
}
