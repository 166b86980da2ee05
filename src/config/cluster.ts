/**
 * The `cluster` section (issue 17): the NATS servers, this node's roles and name, the
 * leader lease and the bus credentials. Only the controller role is built; the schema
 * names the others so an operator who asks for one is told it is not there yet, at its
 * line, instead of getting a daemon that silently does less than the config says.
 */
import fs from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_CLUSTER } from './defaults.js';
import { displayPath, type PathSeg } from './source.js';
import type { ClusterConfig } from './types.js';
import { parseDuration, ValueError } from './values.js';
import { value } from './zvalue.js';

const BUILT_ROLES = ['controller'] as const;
const PLANNED_ROLES = ['collector', 'detector'];

const natsUrl = value((v: string) => {
  const m = /^nats:\/\/([^/:\s]+|\[[0-9a-fA-F:.]+\]):(\d{1,5})\/?$/.exec(v);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535)
    throw new ValueError(`expected a NATS server URL nats://host:port, got ${JSON.stringify(v)}`);
  return `nats://${m[1]}:${Number(m[2])}`;
});

const role = value((v: string) => {
  if ((BUILT_ROLES as readonly string[]).includes(v)) return v as (typeof BUILT_ROLES)[number];
  if (PLANNED_ROLES.includes(v))
    throw new ValueError(
      `the ${v} role is not built yet: a cluster node is a controller only for now (roles: [controller])`,
    );
  throw new ValueError(`unknown role ${JSON.stringify(v)} (the one built is: controller)`);
});

const leaseMs = value((v: string | number) => {
  const ms = typeof v === 'number' ? v : parseDuration(v);
  // Renewed every lease/3: below 300 ms a busy event loop could miss its own renewals.
  if (!Number.isInteger(ms) || ms < 300 || ms > 60_000)
    throw new ValueError(`lease_ms must be 300 to 60000 ms, got ${JSON.stringify(v)}`);
  return ms;
}, 'string|number');

const nodeName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'a node name uses letters, digits, "_" and "-"');

export const clusterSchema = z.strictObject({
  nats: z.array(natsUrl).min(1),
  roles: z
    .array(role)
    .min(1)
    .default([...BUILT_ROLES]),
  node: nodeName.optional(),
  lease_ms: leaseMs.default(DEFAULT_CLUSTER.lease_ms),
  // One object rather than a zod union: a union's error says "invalid input" without the key.
  credentials: z
    .strictObject({
      user: z.string().min(1).optional(),
      password: z.string().min(1).optional(),
      token: z.string().min(1).optional(),
    })
    .optional(),
  tls: z
    .strictObject({
      ca: z.string().min(1).optional(),
      cert: z.string().min(1).optional(),
      key: z.string().min(1).optional(),
    })
    .optional(),
});
type ClusterRaw = z.output<typeof clusterSchema>;

type Err = (p: PathSeg[], msg: string) => void;

/** The section resolved: a default node name, TLS paths against the config folder and readable. */
export function buildCluster(raw: ClusterRaw, baseDir: string, err: Err): ClusterConfig {
  // A host name can hold dots, which a KV value does not mind but the API header reader might.
  const node = raw.node ?? hostname().replace(/[^A-Za-z0-9_-]/g, '-');
  const out: { -readonly [K in keyof ClusterConfig]: ClusterConfig[K] } = {
    nats: raw.nats,
    roles: [...new Set(raw.roles)],
    node,
    lease_ms: raw.lease_ms,
  };
  const c = raw.credentials;
  if (c) {
    if (c.token !== undefined && (c.user !== undefined || c.password !== undefined))
      err(['cluster', 'credentials', 'token'], 'give either token, or user and password, not both');
    else if (c.token !== undefined) out.credentials = { token: c.token };
    else if (c.user === undefined || c.password === undefined)
      err(
        ['cluster', 'credentials', c.user === undefined ? 'password' : 'user'],
        'give user and password together (or a token)',
      );
    else out.credentials = { user: c.user, password: c.password };
  }
  const t = raw.tls;
  if (t) {
    if ((t.cert === undefined) !== (t.key === undefined))
      err(['cluster', 'tls', t.cert === undefined ? 'key' : 'cert'], 'give both cert and key, or neither');
    const tls: { ca?: string; cert?: string; key?: string } = {};
    for (const k of ['ca', 'cert', 'key'] as const) {
      const f = t[k];
      if (f === undefined) continue;
      tls[k] = path.resolve(baseDir, f);
      try {
        fs.accessSync(tls[k]!, fs.constants.R_OK);
      } catch {
        err(['cluster', 'tls', k], `cannot read ${displayPath(tls[k]!)}`);
      }
    }
    out.tls = tls;
  }
  return out;
}
