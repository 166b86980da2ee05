/**
 * The manager's view of src/flowspec, and the only one (the daemon, the tests and the
 * lifecycle harness all use this): validation, route building and rule generation, with rules
 * kept in FastNetMon's JSON shape (what the journal and the API carry), normalised by a
 * parse/print round trip. A generation that refuses (`ok: false`) yields no rules.
 */
import { generateRules, parseRule, ruleToDesiredRoute, ruleToJson } from '../flowspec/index.js';
import type { FlowspecAdapter, FlowspecRule } from './manager.js';

export const flowspecAdapter: FlowspecAdapter = {
  parse(json: unknown) {
    const r = parseRule(json);
    if (!r.ok) return { ok: false, error: r.error };
    return { ok: true, rule: ruleToJson(r.rule), destination: r.rule.destination_prefix?.prefix ?? null };
  },
  toRoute(rule: FlowspecRule, owner: string) {
    const r = parseRule(rule);
    if (!r.ok) throw new Error(`FlowSpec rule refused (no longer valid): ${r.error}`);
    return ruleToDesiredRoute(r.rule, owner);
  },
  generate(samples, baseline, coverage) {
    const g = generateRules(samples, baseline, { coverage });
    return g.ok ? g.rules.map((x) => x.json) : [];
  },
  generateScoped(samples, baseline, coverage, destinations, maxRules) {
    const g = generateRules(samples, baseline, { coverage, destinations, maxRules });
    return { rules: g.ok ? g.rules.map((x) => x.json) : [], ok: g.ok, explanation: g.explanation };
  },
};
