/**
 * Hostgroup policies: one YAML file per hostgroup in the policies folder. Each inherits
 * whatever it does not set from its `parent` (default: `default`), up to the built-in
 * default hostgroup (defaults.ts), which a policy named `default` may override.
 * Thresholds merge per direction/class/unit (null drops an inherited limit); actions merge
 * per key; lists (communities, prefixes) replace. Prefixes are never inherited.
 */
import fs from 'node:fs';
import path from 'node:path';
import { prefixToString } from '../wire/addr.js';
import { BUILTIN_DEFAULT_HOSTGROUP } from './defaults.js';
import { policySchema, validate, type PolicyRaw, type ThresholdSetRaw } from './schema.js';
import { YamlSource } from './source.js';
import { resolveFilters } from './filters.js';
import type { Hostgroup, PolicyActions, ThresholdSet } from './types.js';
import { CLASSES, DIRECTIONS, UNITS } from './types.js';

export interface PolicyFile {
  readonly src: YamlSource;
  readonly raw: PolicyRaw;
  readonly name: string;
}

/** Read and schema-check every *.yaml / *.yml in dir (sorted by file name). */
export function readPolicyDir(dir: string): { files: PolicyFile[]; errors: string[] } {
  const files: PolicyFile[] = [];
  const errors: string[] = [];
  const names = fs
    .readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  for (const f of names) {
    const file = path.join(dir, f);
    let text: string;
    try {
      if (!fs.statSync(file).isFile()) continue;
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      errors.push(`${file}:1:1: cannot read: ${(e as Error).message}`);
      continue;
    }
    const r = parsePolicy(file, text);
    if (r.ok) files.push(r.policy);
    else errors.push(...r.errors);
  }
  return { files, errors };
}

/** Parse one policy file's text. */
function parsePolicy(
  file: string,
  text: string,
): { ok: true; policy: PolicyFile } | { ok: false; errors: string[] } {
  const y = YamlSource.parse(file, text);
  if (!y.ok) return y;
  const v = validate(policySchema, y.src);
  if (!v.ok) return v;
  const base = path.basename(file).replace(/\.ya?ml$/, '');
  const name = v.value.name ?? base;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
    return {
      ok: false,
      errors: [y.src.at([], `no "name" key and the file name "${base}" is not a valid hostgroup name`)],
    };
  }
  return { ok: true, policy: { src: y.src, raw: v.value, name } };
}

function mergeThresholds(base: ThresholdSet, over: ThresholdSetRaw | undefined): ThresholdSet {
  const out: Record<string, Record<string, Record<string, number>>> = {};
  for (const d of DIRECTIONS) {
    for (const c of CLASSES) {
      for (const u of UNITS) {
        const o = over?.[d]?.[c]?.[u];
        const v = o === undefined ? base[d]?.[c]?.[u] : o;
        if (v === null || v === undefined) continue;
        out[d] ??= {};
        out[d][c] ??= {};
        out[d][c][u] = v;
      }
    }
  }
  return out as ThresholdSet;
}

const def = <T>(v: T | undefined, base: T): T => (v === undefined ? base : v);

function mergeActions(base: PolicyActions, o: PolicyRaw['actions'], dir: string): PolicyActions {
  if (!o) return base;
  const bh = o.blackhole ?? {};
  const fs_ = o.flowspec ?? {};
  const nt = o.notify ?? {};
  const es = o.escalation ?? {};
  const hf = o.hostgroup?.flowspec ?? {};
  const hb = o.hostgroup?.blackhole ?? {};
  const bf = base.hostgroup.flowspec;
  const bb = base.hostgroup.blackhole;
  // Unset stays unset (undefined = the host-scope action's value, read when announcing).
  const opt = <K extends string, T>(k: K, v: T | undefined, b: T | undefined): { [P in K]?: T } => {
    const x = v === undefined ? b : v;
    return (x === undefined ? {} : { [k]: x }) as { [P in K]?: T };
  };
  const notify = { ...base.notify };
  if (nt.script !== undefined) notify.script = path.resolve(dir, nt.script);
  if (nt.webhook !== undefined) notify.webhook = nt.webhook;
  return {
    ban_time_ms: def(o.ban_time, base.ban_time_ms),
    unban_only_if_attack_finished: def(o.unban_only_if_attack_finished, base.unban_only_if_attack_finished),
    ban_status_delay_ms: def(o.ban_status_delay, base.ban_status_delay_ms),
    blackhole: {
      enabled: def(bh.enabled, base.blackhole.enabled),
      communities: def(bh.communities, base.blackhole.communities),
      large_communities: def(bh.large_communities, base.blackhole.large_communities),
      extended_communities: def(bh.extended_communities, base.blackhole.extended_communities),
      next_hop: { ...base.blackhole.next_hop, ...bh.next_hop },
    },
    flowspec: {
      enabled: def(fs_.enabled, base.flowspec.enabled),
      action: def(fs_.action, base.flowspec.action),
      action_params: def(fs_.action_params, base.flowspec.action_params),
      coverage: def(fs_.coverage, base.flowspec.coverage),
    },
    notify: {
      ...notify,
      format: def(nt.format, base.notify.format),
      timeout_ms: def(nt.timeout, base.notify.timeout_ms),
    },
    escalation: {
      enabled: def(es.enabled, base.escalation.enabled),
      thresholds: es.thresholds
        ? mergeThresholds(base.escalation.thresholds, es.thresholds)
        : base.escalation.thresholds,
      prefix_length: { ...base.escalation.prefix_length, ...es.prefix_length },
      communities: def(es.communities, base.escalation.communities),
      large_communities: def(es.large_communities, base.escalation.large_communities),
      next_hop: { ...base.escalation.next_hop, ...es.next_hop },
      hold_ms: def(es.hold, base.escalation.hold_ms),
      clear_after: def(es.clear_after, base.escalation.clear_after),
      max_prefixes: def(es.max_prefixes, base.escalation.max_prefixes),
      cross_hostgroups: def(es.cross_hostgroups, base.escalation.cross_hostgroups),
    },
    hostgroup: {
      flowspec: {
        enabled: def(hf.enabled, bf.enabled),
        destination: def(hf.destination, bf.destination),
        max_prefixes: def(hf.max_prefixes, bf.max_prefixes),
        ...opt('action', hf.action, bf.action),
        ...opt('action_params', hf.action_params, bf.action_params),
        ...opt('coverage', hf.coverage, bf.coverage),
      },
      blackhole: {
        enabled: def(hb.enabled, bb.enabled),
        prefix_length: { ...bb.prefix_length, ...hb.prefix_length },
        ...opt('communities', hb.communities, bb.communities),
        ...opt('large_communities', hb.large_communities, bb.large_communities),
        ...opt('extended_communities', hb.extended_communities, bb.extended_communities),
        ...opt('next_hop', hb.next_hop ? { ...bb.next_hop, ...hb.next_hop } : undefined, bb.next_hop),
      },
    },
  };
}

/** Apply one policy file over its resolved parent. */
function applyPolicy(parent: Hostgroup, p: PolicyFile, parentName: string | null): Hostgroup {
  // Hostgroup-total limits inherit like the others; the key is left out while none is set.
  const hostgroup = mergeThresholds(parent.thresholds.hostgroup ?? {}, p.raw.thresholds?.hostgroup);
  return {
    name: p.name,
    file: p.src.file,
    parent: parentName,
    prefixes: p.raw.prefixes ?? [],
    thresholds: {
      ban: mergeThresholds(parent.thresholds.ban, p.raw.thresholds?.ban),
      emergency: mergeThresholds(parent.thresholds.emergency, p.raw.thresholds?.emergency),
      ...(Object.keys(hostgroup).length > 0 ? { hostgroup } : {}),
    },
    ticks_required: def(p.raw.ticks_required, parent.ticks_required),
    actions: mergeActions(parent.actions, p.raw.actions, path.dirname(p.src.file)),
    ...(p.raw.filters !== undefined
      ? { filters: resolveFilters(p.raw.filters, p.src, ['filters']) }
      : parent.filters
        ? { filters: parent.filters }
        : {}),
  };
}

/**
 * Resolve inheritance. Returns hostgroups with `default` first, then the files' order.
 * Errors: duplicate names, unknown parents, parent loops, a prefix in two hostgroups.
 */
export function resolveHostgroups(
  files: readonly PolicyFile[],
): { ok: true; hostgroups: Hostgroup[] } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const byName = new Map<string, PolicyFile>();
  for (const f of files) {
    const prev = byName.get(f.name);
    if (prev) {
      errors.push(
        f.src.at(['name'], `hostgroup "${f.name}" is already defined in ${prev.src.loc(['name'])}`),
      );
      continue;
    }
    byName.set(f.name, f);
  }
  const parentOf = (f: PolicyFile): string | null =>
    f.name === 'default' ? null : f.raw.parent === undefined ? 'default' : f.raw.parent;
  const dflt = byName.get('default');
  if (dflt && dflt.raw.parent !== undefined && dflt.raw.parent !== null) {
    errors.push(
      dflt.src.at(['parent'], 'the default hostgroup is the root of inheritance and cannot have a parent'),
    );
  }
  for (const f of byName.values()) {
    if (f.name === 'default') continue;
    const par = parentOf(f);
    if (par === null) {
      errors.push(
        f.src.at(
          ['parent'],
          `only the default hostgroup may have no parent (leave "parent" out to inherit from default)`,
        ),
      );
    } else if (par !== 'default' && !byName.has(par)) {
      const known = ['default', ...[...byName.keys()].filter((n) => n !== 'default')].join(', ');
      errors.push(f.src.at(['parent'], `hostgroup "${par}" does not exist (known: ${known})`));
    }
  }
  // Parent loops: follow each chain; report each loop once, at its first member in file order.
  const reported = new Set<string>();
  for (const f of byName.values()) {
    const chain: string[] = [];
    let cur: string | null = f.name;
    while (cur !== null && cur !== 'default' && byName.has(cur) && !chain.includes(cur)) {
      chain.push(cur);
      cur = parentOf(byName.get(cur)!);
    }
    if (cur !== null && chain.includes(cur)) {
      const loop = chain.slice(chain.indexOf(cur));
      if (loop.some((n) => reported.has(n))) continue;
      for (const n of loop) reported.add(n);
      errors.push(byName.get(cur)!.src.at(['parent'], `parent loop ${[...loop, cur].join(' -> ')}`));
    }
  }
  // One prefix, one hostgroup: most-specific match needs every prefix to name a single group.
  const seen = new Map<string, { group: string; where: string }>();
  for (const f of files) {
    (f.raw.prefixes ?? []).forEach((p, i) => {
      const key = prefixToString(p);
      const where = f.src.loc(['prefixes', i]);
      const prev = seen.get(key);
      if (prev) {
        const msg =
          prev.group === f.name
            ? `prefix ${key} is listed twice (first at ${prev.where})`
            : `prefix ${key} is already in hostgroup "${prev.group}" (${prev.where})`;
        errors.push(f.src.at(['prefixes', i], msg));
      } else seen.set(key, { group: f.name, where });
    });
  }
  if (errors.length) return { ok: false, errors };

  const resolved = new Map<string, Hostgroup>();
  // Escalation thresholds default to the group's own emergency tier unless some policy in
  // the chain sets them.
  const escExplicit = new Map<string, boolean>();
  const root = dflt ? applyPolicy(BUILTIN_DEFAULT_HOSTGROUP, dflt, null) : BUILTIN_DEFAULT_HOSTGROUP;
  resolved.set('default', root);
  escExplicit.set('default', dflt?.raw.actions?.escalation?.thresholds !== undefined);
  const resolve = (n: string): Hostgroup => {
    const done = resolved.get(n);
    if (done) return done;
    const f = byName.get(n)!;
    const par = parentOf(f)!;
    const parent = resolve(par);
    let g = applyPolicy(parent, f, par);
    const explicit = escExplicit.get(par)! || f.raw.actions?.escalation?.thresholds !== undefined;
    if (!escExplicit.get(par) && f.raw.actions?.escalation?.thresholds !== undefined) {
      // The parent's escalation thresholds were its emergency tier by default: start from none.
      g = {
        ...g,
        actions: {
          ...g.actions,
          escalation: {
            ...g.actions.escalation,
            thresholds: mergeThresholds({}, f.raw.actions.escalation.thresholds),
          },
        },
      };
    }
    escExplicit.set(n, explicit);
    resolved.set(n, g);
    return g;
  };
  const out: Hostgroup[] = [root];
  for (const n of byName.keys()) if (n !== 'default') out.push(resolve(n));
  for (let i = 0; i < out.length; i++) {
    const g = out[i]!;
    if (!escExplicit.get(g.name)) {
      out[i] = {
        ...g,
        actions: {
          ...g.actions,
          escalation: { ...g.actions.escalation, thresholds: g.thresholds.emergency },
        },
      };
    }
  }

  for (const g of out) {
    const f = byName.get(g.name);
    if (
      g.actions.flowspec.action === 'rate-limit' &&
      typeof g.actions.flowspec.action_params.rate !== 'number' &&
      g.actions.flowspec.enabled
    ) {
      const msg = `action rate-limit needs action_params.rate (bytes per second)`;
      errors.push(f ? f.src.at(['actions', 'flowspec'], msg) : msg);
    }
    const hf = g.actions.hostgroup.flowspec;
    if (
      hf.enabled &&
      (hf.action ?? g.actions.flowspec.action) === 'rate-limit' &&
      typeof (hf.action_params ?? g.actions.flowspec.action_params).rate !== 'number'
    ) {
      const msg = `action rate-limit needs action_params.rate (bytes per second)`;
      errors.push(f ? f.src.at(['actions', 'hostgroup', 'flowspec'], msg) : msg);
    }
    const hs = g.actions.hostgroup;
    if ((hs.flowspec.enabled || hs.blackhole.enabled) && !g.thresholds.hostgroup) {
      const msg = `needs a thresholds.hostgroup limit (a hostgroup-total attack is what it mitigates)`;
      errors.push(f ? f.src.at(['actions', 'hostgroup'], msg) : msg);
    }
  }
  return errors.length ? { ok: false, errors } : { ok: true, hostgroups: out };
}
