/**
 * FlowSpec public surface: rule model (FastNetMon JSON shape), RFC 8955/8956 codec, rule
 * generation from attack samples, and static rules from config. The mitigation manager's view
 * of all this (parse/normalise, route building, generation) is its one adapter,
 * src/mitigation/flowspec-adapter.ts.
 */
import type { DesiredRoute } from '../bgp/types.js';
import type { BgpConfig } from '../config/types.js';
import { parseRule } from './rule.js';
import { ruleToDesiredRoute } from './codec.js';

export {
  parseRule,
  validate,
  RULE_FIELDS,
  ACTION_FIELDS,
  ruleToJson,
  type FlowspecRule,
} from './rule.js';
export {
  encodeRule,
  decodeRule,
  encodeNlri,
  decodeNlri,
  ruleToDesiredRoute,
  describe,
  nlriLengthPrefix,
  readLengthPrefixedNlri,
} from './codec.js';
export { matchesPacket, packetFromSample, type PacketView } from './match.js';
export {
  generateRules,
  type GeneratedRules,
} from './generate.js';

export interface StaticFlowspecResult {
  readonly routes: DesiredRoute[];
  /** One line per refused rule: `bgp.static_flowspec[i]: reason`. */
  readonly errors: string[];
  /** The same, as the rule's index and the reason (`field: message` where a field is at fault). */
  readonly refused: { readonly index: number; readonly reason: string }[];
  readonly warnings: string[];
}

/**
 * Static FlowSpec rules from config (`bgp.static_flowspec[]`), announced like static routes.
 * Each valid rule becomes a DesiredRoute owned by "static"; duplicates (same NLRI) are
 * refused so one rule cannot silently shadow another's action.
 */
export function staticFlowspecToDesired(cfg: {
  readonly bgp: Pick<BgpConfig, 'static_flowspec'>;
}): StaticFlowspecResult {
  const routes: DesiredRoute[] = [];
  const errors: string[] = [];
  const refused: { index: number; reason: string }[] = [];
  const warnings: string[] = [];
  const seen = new Map<string, number>();
  cfg.bgp.static_flowspec.forEach((json, i) => {
    const where = `bgp.static_flowspec[${i}]`;
    const refuse = (reason: string) => {
      errors.push(`${where}: ${reason}`);
      refused.push({ index: i, reason });
    };
    const r = parseRule(json);
    if (!r.ok) {
      refuse(r.error);
      return;
    }
    for (const w of r.warnings) warnings.push(`${where}: ${w}`);
    let route: DesiredRoute;
    try {
      route = ruleToDesiredRoute(r.rule, 'static');
    } catch (e) {
      refuse((e as Error).message);
      return;
    }
    const prev = seen.get(`${route.family} ${route.key}`);
    if (prev !== undefined) {
      refuse(`same match as bgp.static_flowspec[${prev}]`);
      return;
    }
    seen.set(`${route.family} ${route.key}`, i);
    routes.push(route);
  });
  return { routes, errors, refused, warnings };
}
