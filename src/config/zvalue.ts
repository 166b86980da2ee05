/**
 * The zod adapter for the pure value parsers (values.ts, filters.ts): a schema that checks
 * the YAML type, runs the parser and turns its ValueError into a located config error.
 */
import { z } from 'zod';
import { ValueError } from './values.js';

export type Accepts = 'string' | 'string|number' | 'string|array';

export function value<T>(parse: (v: never) => T, accepts: Accepts = 'string') {
  const kinds = accepts.split('|');
  return z.unknown().transform((v, ctx): T => {
    if (v === undefined) {
      ctx.issues.push({ code: 'invalid_type', expected: 'nonoptional', input: v });
      return z.NEVER;
    }
    if (!kinds.includes(Array.isArray(v) ? 'array' : typeof v)) {
      ctx.issues.push({ code: 'invalid_type', expected: kinds.join(' or '), input: v });
      return z.NEVER;
    }
    try {
      return parse(v as never);
    } catch (e) {
      ctx.issues.push({ code: 'custom', message: e instanceof ValueError ? e.message : String(e), input: v });
      return z.NEVER;
    }
  });
}
