import { CTL_HELP, runCtl } from '../ctl-client.js';
import type { Command } from '../command.js';

const CONFIG_HELP = `  --config FILE      take the API address from this breakwater.yaml (api.listen or
                     api.host/api.port, https with api.tls, trusting exactly the
                     certificate in api.tls.cert); --api still wins. The config holds only
                     password hashes, so the user and password still come from flags or env.
`;

/**
 * `--config FILE` -> the API URL of that config, handed to runCtl as `--api` (an explicit
 * --api wins). Returns the argv for runCtl, or an error line.
 */
export async function resolveApiFromConfig(
  argv: readonly string[],
): Promise<{ argv: string[] } | { error: string }> {
  const rest: string[] = [];
  let file: string | undefined;
  let hasApi = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === '--config') {
      file = argv[++i];
      if (file === undefined) return { error: '--config needs a value' };
    } else if (a.startsWith('--config=')) file = a.slice('--config='.length);
    else {
      if (a === '--api' || a.startsWith('--api=')) hasApi = true;
      rest.push(a);
    }
  }
  if (file === undefined || hasApi) return { argv: rest };
  const { ConfigError, loadConfig } = await import('../../config/index.js');
  let api: ReturnType<typeof loadConfig>['api'];
  try {
    api = loadConfig(file).api;
  } catch (e) {
    if (e instanceof ConfigError)
      return {
        error: `config ${file} is not valid (breakwater check --config ${file}):\n${e.errors.join('\n')}`,
      };
    throw e;
  }
  if (!api.enabled) return { error: `the API is disabled in ${file} (api.enabled: false)` };
  // A daemon listening on every address is reached over loopback.
  const host = api.host === '0.0.0.0' ? '127.0.0.1' : api.host === '::' ? '::1' : api.host;
  const where = `${host.includes(':') ? `[${host}]` : host}:${api.port}`;
  // With TLS: the daemon's own certificate is pinned (ctl runs on its host and reaches it
  // over loopback, where the certificate's name would not match); an explicit --ca or
  // --insecure wins.
  const ownTrust = rest.some((a) => /^--(ca|pin|insecure)(=|$)/.test(a));
  if (api.tls)
    return { argv: ['--api', `https://${where}`, ...(ownTrust ? [] : ['--pin', api.tls.cert]), ...rest] };
  return { argv: ['--api', `http://${where}`, ...rest] };
}

export const command: Command = {
  name: 'ctl',
  summary: 'control a running daemon through its API (blackholes, FlowSpec, counters, BGP)',
  help: CTL_HELP.includes('  --user NAME')
    ? CTL_HELP.replace('  --user NAME', `${CONFIG_HELP}  --user NAME`)
    : CTL_HELP + CONFIG_HELP,
  async run(argv: string[]) {
    const r = await resolveApiFromConfig(argv);
    if ('error' in r) {
      process.stderr.write(`breakwater ctl: ${r.error}\n`);
      return 2;
    }
    return runCtl(r.argv, {
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
