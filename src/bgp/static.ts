/**
 * Static routes from config (bgp.static_routes) as DesiredRoutes. The daemon merges them
 * into the desired set it hands the speaker; on reload it recomputes them.
 */
import type { Config, StaticRoute } from '../config/types.js';
import type { DesiredRoute } from './types.js';
import { parseExtendedCommunity } from '../config/values.js';
import { desiredRoute } from './route.js';

function staticRouteToDesired(r: StaticRoute): DesiredRoute {
  // Config validated these already (src/config/values.ts reads them back to the same bytes).
  const ext = r.extended_communities.map(parseExtendedCommunity);
  return desiredRoute({
    key: r.prefix_text,
    family: r.prefix.family === 4 ? 'ipv4-unicast' : 'ipv6-unicast',
    prefix: r.prefix,
    nextHop: r.next_hop,
    communities: [...r.communities],
    largeCommunities: [...r.large_communities],
    extendedCommunities: ext,
    owner: 'static',
  });
}

export function staticRoutesToDesired(cfg: Config): DesiredRoute[] {
  return cfg.bgp.static_routes.map(staticRouteToDesired);
}
