/**
 * The controller's face on the API listener and in /metrics: GET /cluster on any node,
 * and on a follower every change (PUT, POST, DELETE) answered 409 with the leader's name in
 * `x-breakwater-leader`, so a client retries there: only the leader's manager writes the
 * bucket. PUT /reload stays local (each node has its own config file).
 */
import type http from 'node:http';
import type { Registry } from 'prom-client';
import type { ApiDeps, ApiHook } from '../api/server.js';
import { scraped } from '../api/metrics.js';
import { send } from '../api/server.js';
import type { ClusterController } from './controller.js';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Changes that are this node's own, allowed on a follower. */
const LOCAL = new Set(['reload']);

export function clusterApiHook(c: ClusterController): ApiHook {
  return async (req: http.IncomingMessage, res: http.ServerResponse, { url }) => {
    const head = url.pathname.split('/').filter(Boolean)[0] ?? '';
    if (head === 'cluster' && url.pathname.replace(/\/+$/, '') === '/cluster') {
      if (!SAFE.has(req.method ?? 'GET')) {
        res.setHeader('allow', 'GET');
        send(res, 405, {
          success: false,
          error_text: `${req.method} is not allowed on /cluster (allowed: GET)`,
        });
      } else send(res, 200, { success: true, object: c.status() });
      return true;
    }
    if (SAFE.has(req.method ?? 'GET') || LOCAL.has(head) || c.isLeader()) return false;
    const leader = c.status().leader;
    res.setHeader('x-breakwater-leader', leader ?? '');
    send(res, 409, {
      success: false,
      error_text: `${c.cfg.node} is a follower in the cluster: send changes to the leader${leader ? ` (${leader})` : ' (none elected right now; retry)'}`,
      leader,
    });
    return true;
  };
}

/**
 * The manager as a controller's API sees it: a follower's own manager is idle, so its
 * lists come from the cluster's bucket (read-only: its changes got 409 before this).
 */
export function followerLists(m: ApiDeps['manager'], c: ClusterController): ApiDeps['manager'] {
  return {
    list: (kind) => (c.isLeader() ? m.list(kind) : c.mitigations(kind)),
    get: (uuid) => (c.isLeader() ? m.get(uuid) : c.mitigation(uuid)),
    add: (x) => m.add(x),
    remove: (uuid, reason) => m.remove(uuid, reason),
    removeMany: (uuids, reason) => m.removeMany(uuids, reason),
    addManualBlackhole: (ip) => m.addManualBlackhole(ip),
    addManualBlackholes: (ips) => m.addManualBlackholes(ips),
    addManualFlowspec: (rule) => m.addManualFlowspec(rule),
    desiredRoutes: () => m.desiredRoutes(),
    on: (event, l) => m.on(event, l),
    attacks: () => m.attacks(),
    hostgroupAttacks: (live) => m.hostgroupAttacks(live),
  };
}

export function registerClusterMetrics(reg: Registry, c: ClusterController): void {
  const r = [reg];
  scraped(
    r,
    'gauge',
    'breakwater_cluster_leader',
    '1 while this controller holds the leader lease and runs the manager.',
    [],
    () => [[{}, c.role === 'leader' ? 1 : 0]],
  );
  scraped(
    r,
    'gauge',
    'breakwater_cluster_desired_routes',
    'Mitigations in the cluster desired bucket as this controller last saw it (what it announces).',
    [],
    () => [[{}, c.desiredCount]],
  );
  scraped(r, 'gauge', 'breakwater_cluster_bus_connected', '1 while connected to a NATS server.', [], () => [
    [{}, c.busConnected ? 1 : 0],
  ]);
  scraped(
    r,
    'counter',
    'breakwater_cluster_bus_disconnects_total',
    'Times the NATS connection was lost (the last desired set stays announced meanwhile).',
    [],
    () => [[{}, c.busDisconnects]],
  );
  scraped(
    r,
    'counter',
    'breakwater_cluster_takeovers_total',
    'Times this controller became leader and restored the manager from the bucket.',
    [],
    () => [[{}, c.stats.takeovers]],
  );
}
