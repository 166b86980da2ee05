/**
 * `breakwater check [--config FILE]`: validate breakwater.yaml and every policy file.
 * Exit 0 with a summary, or 1 with each error as `file:line:col: message` (no stack).
 */
import { parseFlags, type Command } from '../command.js';
import { ConfigError, configWarnings, loadConfig, type Config } from '../../config/index.js';
import { prefixToString } from '../../wire/addr.js';
import { displayPath } from '../../config/source.js';

const HELP = `Usage: breakwater check [--config FILE]

Validate the config file and every hostgroup policy file in its policies folder.
Prints a summary (and warnings, such as an empty networks list, on stderr) and exits 0
when everything is valid; otherwise prints each error as file:line:col: message and exits 1. Without --config, checks the built-in defaults.

Options:
  --config FILE   breakwater.yaml to check
  --quiet         print nothing when valid
  -h, --help      show this help
`;

export function summarize(c: Config): string {
  const lines: string[] = [];
  const plist = (ps: readonly { family: 4 | 6; bytes: Uint8Array; len: number }[]) =>
    ps.length ? ` (${ps.map(prefixToString).join(', ')})` : '';
  lines.push(`config ${displayPath(c.file)}: OK`);
  lines.push(`networks: ${c.networks.length}${plist(c.networks)}`);
  lines.push(`whitelist: ${c.whitelist.length}${plist(c.whitelist)}`);
  lines.push(
    `hostgroups: ${c.hostgroups.length}${c.policies_dir ? ` from ${displayPath(c.policies_dir)}` : ' (built-in default only)'}`,
  );
  for (const g of c.hostgroups) {
    lines.push(
      `  ${g.name}: ${g.prefixes.length} prefix${g.prefixes.length === 1 ? '' : 'es'}${g.parent ? `, parent ${g.parent}` : ''} (${displayPath(g.file)})`,
    );
  }
  lines.push(
    `capture: ${c.capture.listeners.map((l) => `${l.name} ${l.type} ${l.address}:${l.port}`).join(', ') || '(no listeners)'}`,
  );
  lines.push(
    `api: ${c.api.enabled ? `${c.api.host}:${c.api.port}, ${Object.keys(c.api.users).length} user(s)` : 'disabled'}`,
  );
  lines.push(
    `bgp: AS ${c.bgp.local_as}, router-id ${c.bgp.router_id}, ${c.bgp.peers.length} peer(s), ${c.bgp.static_routes.length} static route(s), ${c.bgp.static_flowspec.length} static flowspec rule(s)`,
  );
  for (const p of c.bgp.peers)
    lines.push(
      `  ${p.name}: ${p.address}:${p.port} AS ${p.remote_as} [${p.families.join(', ')}]${p.passive ? ' passive' : ''}${p.password !== undefined ? ' tcp-md5' : ''}${p.ttl_security ? ' gtsm' : ''}`,
    );
  lines.push(`state_dir: ${displayPath(c.state_dir)}`);
  lines.push(...integrationLines(c));
  if (c.cluster)
    lines.push(
      `cluster: node ${c.cluster.node}, roles [${c.cluster.roles.join(', ')}], lease ${c.cluster.lease_ms} ms, NATS ${c.cluster.nats.join(', ')}${c.cluster.credentials ? ` (${'token' in c.cluster.credentials ? 'token' : 'user and password'})` : ''}${c.cluster.tls ? ' tls' : ''}`,
    );
  if (c.detection.dry_run) lines.push('dry_run: on (no routes will be announced)');
  return `${lines.join('\n')}\n`;
}

export const command: Command = {
  name: 'check',
  summary: 'validate the config and every policy file',
  help: HELP,
  async run(argv) {
    const { flags, positionals, unknown } = parseFlags(argv, { string: ['config'], boolean: ['quiet'] });
    if (unknown.length || positionals.length) {
      process.stderr.write(
        `breakwater check: ${[...unknown, ...positionals.map((p) => `unexpected argument ${p}`)].join('; ')}\n`,
      );
      return 2;
    }
    const file = typeof flags.config === 'string' ? flags.config : undefined;
    let config: Config;
    try {
      config = loadConfig(file);
    } catch (e) {
      if (e instanceof ConfigError) {
        process.stderr.write(`${e.errors.join('\n')}\n`);
        process.stderr.write(`${e.errors.length} error${e.errors.length === 1 ? '' : 's'}\n`);
        return 1;
      }
      throw e;
    }
    if (!flags.quiet) {
      process.stdout.write(summarize(config));
      for (const w of configWarnings(config)) process.stderr.write(`warning: ${w}\n`);
    }
    return 0;
  },
};

/** graphite / influxdb / redis / networks_from_bgp / flow filters (docs/integrations.md). */
function integrationLines(c: Config): string[] {
  const out: string[] = [];
  if (c.graphite)
    out.push(
      `graphite: ${c.graphite.host}:${c.graphite.port}, prefix "${c.graphite.prefix}", every ${c.graphite.interval_ms} ms, top ${c.graphite.top_hosts} hosts`,
    );
  if (c.influxdb)
    out.push(
      `influxdb: ${c.influxdb.url}, database ${c.influxdb.database}${c.influxdb.retention_policy ? `, retention policy ${c.influxdb.retention_policy}` : ''}, every ${c.influxdb.interval_ms} ms`,
    );
  if (c.redis)
    out.push(
      `redis: ${c.redis.url.replace(/:[^:@/]*@/, ':***@')}, key prefix "${c.redis.key_prefix}", ttl ${c.redis.ttl_ms / 1000} s, channel ${c.redis.channel}`,
    );
  const n = c.networks_from_bgp;
  if (n) {
    out.push(
      `networks_from_bgp: routes from peer ${n.peer}${n.communities.length ? ` with community ${n.communities.join(' or ')}` : ''} -> hostgroup ${n.hostgroup}, only within ${n.within.map(prefixToString).join(', ')}`,
    );
  }
  if (c.filters?.length) out.push(`capture filters: ${c.filters.length} rule(s)`);
  for (const g of c.hostgroups)
    if (g.filters?.length) out.push(`  ${g.name} filters: ${g.filters.length} rule(s)`);
  return out;
}
