/** Test-only: hand-built configs for the BGP speaker (only cfg.bgp is read by it). */
import type { BgpConfig, BgpPeerConfig, Config } from '../../src/config/types.js';
import type { DesiredRoute } from '../../src/bgp/types.js';
import { desiredRoute } from '../../src/bgp/route.js';
import type { BgpFamily } from '../../src/config/types.js';
import { parseAddr, maskBytes } from '../../src/wire/addr.js';

export function peerConfig(
  p: Partial<BgpPeerConfig> & Pick<BgpPeerConfig, 'name' | 'address' | 'remote_as'>,
): BgpPeerConfig {
  return {
    port: 179,
    local_as: 65100,
    hold_time: 90,
    families: ['ipv4-unicast', 'ipv6-unicast', 'ipv4-flowspec', 'ipv6-flowspec'],
    passive: false,
    next_hop_self: {},
    graceful_restart: 0,
    max_flowspec_rules: 1000,
    max_updates_per_second: 0,
    ...p,
  };
}

export function bgpTestConfig(bgp: Partial<BgpConfig> & Pick<BgpConfig, 'peers'>): Config {
  const full: BgpConfig = {
    local_as: 65100,
    router_id: '192.0.2.200',
    static_routes: [],
    static_flowspec: [],
    ...bgp,
  };
  return { file: '<test>', bgp: full } as unknown as Config;
}

export function route(
  prefix: string,
  nextHop: string,
  communities: string[] = [],
  large: string[] = [],
  owner = 'test',
): DesiredRoute {
  const [a, l] = prefix.split('/');
  const addr = parseAddr(a!)!;
  const len = Number(l);
  const family: BgpFamily = addr.family === 4 ? 'ipv4-unicast' : 'ipv6-unicast';
  return desiredRoute({
    key: prefix,
    family,
    prefix: { family: addr.family, bytes: maskBytes(addr.bytes, len), len },
    nextHop,
    communities,
    largeCommunities: large,
    extendedCommunities: [],
    owner,
  });
}

/** n IPv4 /32 from base upward, all with the same attributes. */
export function blackholes(
  n: number,
  base: string,
  nextHop: string,
  communities: string[],
  large: string[],
): DesiredRoute[] {
  const b = parseAddr(base)!.bytes;
  let v = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  const out: DesiredRoute[] = [];
  for (let i = 0; i < n; i++, v++) {
    const bytes = new Uint8Array([v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
    out.push(
      desiredRoute({
        key: `${bytes.join('.')}/32`,
        family: 'ipv4-unicast',
        prefix: { family: 4, bytes, len: 32 },
        nextHop,
        communities,
        largeCommunities: large,
        extendedCommunities: [],
        owner: 'bench',
      }),
    );
  }
  return out;
}
