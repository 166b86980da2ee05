/**
 * FlowSpec match expressions: numeric and bitmask operator lists (RFC 8955 §4.2.1.1 and
 * §4.2.1.2), their text syntax, canonical ordering and evaluation.
 *
 * A match is an OR of AND-terms, the reading of the wire form where an operator with the
 * `a` bit set is ANDed with the one before it (AND binds tighter than OR, RFC 8955 §4.2.1.1).
 *
 * Text syntax of one list element (the elements of a JSON list are OR-ed):
 * - numeric: `80`, `"=80"`, `">=1024"`, `"<10"`, `"!=1434"`, a range `"1000-2000"`
 *   (= `>=1000&<=2000`), or atoms joined with `&` (`">=1024&<=2048&!=1434"`);
 *   protocols also take names (`"udp"`, `"!=tcp"`).
 * - bitmask: names joined with `+` (ExaBGP) or `|` (FastNetMon), optionally prefixed by
 *   `!` (not) and `=` (match: all bits set, RFC 8955 `m` bit); atoms joined with `&`.
 *   Without `=`, `a+b` matches when any of the bits is set; FastNetMon's `a|b` describes
 *   one packet's flags, so it is read as "all of them" (match bit).
 */

/** Numeric operator bits (RFC 8955 §4.2.1.1). */
const OP_LT = 4;
const OP_GT = 2;
const OP_EQ = 1;

export interface NumAtom {
  /** lt|gt|eq bits: 1 '=', 2 '>', 3 '>=', 4 '<', 5 '<=', 6 '!=', 0 false, 7 true. */
  readonly op: number;
  readonly value: number;
}
/** OR of AND-terms. */
export type NumMatch = readonly (readonly NumAtom[])[];

export interface BitAtom {
  readonly not: boolean;
  readonly match: boolean;
  readonly value: number;
}
export type BitMatch = readonly (readonly BitAtom[])[];

const OP_TEXT = ['false', '=', '>', '>=', '<', '<=', '!=', 'true'];

function numOpText(op: number): string {
  return OP_TEXT[op & 7]!;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: string };

const NUM_ATOM = /^(>=|<=|!=|==|=|>|<)?\s*([A-Za-z0-9_-]+)$/;

function opFromText(t: string | undefined): number {
  switch (t) {
    case undefined:
    case '=':
    case '==':
      return OP_EQ;
    case '>':
      return OP_GT;
    case '>=':
      return OP_GT | OP_EQ;
    case '<':
      return OP_LT;
    case '<=':
      return OP_LT | OP_EQ;
    default:
      return OP_LT | OP_GT; // '!='
  }
}

/**
 * Parse one numeric list element. `names` resolves symbolic values (protocols); `max` is the
 * largest value the component can carry.
 */
export function parseNumTerm(
  el: unknown,
  max: number,
  names?: (name: string) => number | undefined,
): Result<NumAtom[]> {
  if (typeof el === 'number') {
    if (!Number.isInteger(el) || el < 0 || el > max)
      return { ok: false, error: `value ${el} is not an integer in 0..${max}` };
    return { ok: true, value: [{ op: OP_EQ, value: el }] };
  }
  if (typeof el !== 'string')
    return { ok: false, error: `expected a number or a string, got ${JSON.stringify(el)}` };
  const atoms: NumAtom[] = [];
  const text = el.trim();
  if (text === '') return { ok: false, error: 'empty value' };
  const toNum = (s: string): number | string => {
    if (/^[0-9]+$/.test(s)) {
      const n = Number(s);
      return n > max ? `value ${n} is out of range 0..${max}` : n;
    }
    if (/^0x[0-9a-fA-F]+$/.test(s)) {
      const n = parseInt(s, 16);
      return n > max ? `value ${s} is out of range 0..${max}` : n;
    }
    const n = names?.(s.toLowerCase());
    return n === undefined ? `unknown value "${s}"` : n;
  };
  for (const partRaw of text.split('&')) {
    const part = partRaw.trim();
    const named = names?.(part.toLowerCase());
    if (named !== undefined) {
      atoms.push({ op: OP_EQ, value: named }); // a bare name, even one with a dash ("ipv6-icmp")
      continue;
    }
    const range = /^([A-Za-z0-9_]+)\s*-\s*([A-Za-z0-9_]+)$/.exec(part);
    if (range && !/^[<>=!]/.test(part)) {
      const a = toNum(range[1]!);
      const b = toNum(range[2]!);
      if (typeof a === 'string') return { ok: false, error: a };
      if (typeof b === 'string') return { ok: false, error: b };
      if (a > b) return { ok: false, error: `range "${part}" is empty (${a} > ${b})` };
      if (a === b) atoms.push({ op: OP_EQ, value: a });
      else atoms.push({ op: OP_GT | OP_EQ, value: a }, { op: OP_LT | OP_EQ, value: b });
      continue;
    }
    const m = NUM_ATOM.exec(part);
    if (!m)
      return { ok: false, error: `cannot read "${part}" (expected N, =N, >N, >=N, <N, <=N, !=N or A-B)` };
    const v = toNum(m[2]!);
    if (typeof v === 'string') return { ok: false, error: v };
    atoms.push({ op: opFromText(m[1]), value: v });
  }
  return { ok: true, value: atoms };
}

/** Parse one bitmask list element against a name table (name -> bit value). */
export function parseBitTerm(
  el: unknown,
  names: Readonly<Record<string, number>>,
  max: number,
): Result<BitAtom[]> {
  if (typeof el !== 'string' && typeof el !== 'number') {
    return { ok: false, error: `expected a string, got ${JSON.stringify(el)}` };
  }
  if (typeof el === 'number') {
    if (!Number.isInteger(el) || el <= 0 || el > max)
      return { ok: false, error: `bitmask ${el} is not in 1..${max}` };
    return { ok: true, value: [{ not: false, match: false, value: el }] };
  }
  const atoms: BitAtom[] = [];
  for (const partRaw of el.split('&')) {
    let part = partRaw.trim();
    let not = false;
    let match = false;
    if (part.startsWith('!')) {
      not = true;
      part = part.slice(1).trim();
    }
    if (part.startsWith('=')) {
      match = true;
      part = part.slice(1).trim();
    }
    if (part === '') return { ok: false, error: `empty flag in "${el}"` };
    if (part.includes('|')) match = true; // FastNetMon "syn|ack": a packet with both flags
    let value = 0;
    for (const nameRaw of part.split(/[+|]/)) {
      const name = nameRaw.trim().toLowerCase();
      let bit: number | undefined = names[name];
      if (bit === undefined && /^(0x[0-9a-f]+|[0-9]+)$/.test(name)) bit = Number(name);
      if (bit === undefined || bit <= 0 || bit > max) {
        return {
          ok: false,
          error: `unknown flag "${nameRaw.trim()}" (known: ${Object.keys(names).join(', ')})`,
        };
      }
      value |= bit;
    }
    atoms.push({ not, match, value });
  }
  return { ok: true, value: atoms };
}

/** Sort key of a numeric atom inside an AND-term: lower bounds, upper bounds, !=, =. */
function numAtomRank(a: NumAtom): number {
  const op = a.op & 7;
  if (op === OP_GT || op === (OP_GT | OP_EQ)) return 0;
  if (op === OP_LT || op === (OP_LT | OP_EQ)) return 1;
  if (op === (OP_LT | OP_GT)) return 2;
  if (op === OP_EQ) return 3;
  return 4;
}

/** Smallest value a term admits within 0..max (or max+1 when none): orders OR-terms. */
function termMin(term: readonly NumAtom[], max: number): number {
  for (const c of candidates(term, max)) if (evalNumTerm(term, c)) return c;
  return max + 1;
}

function candidates(term: readonly NumAtom[], max: number): number[] {
  const set = new Set<number>([0, max]);
  for (const a of term)
    for (const d of [-1, 0, 1]) {
      const v = a.value + d;
      if (v >= 0 && v <= max) set.add(v);
    }
  return [...set].sort((x, y) => x - y);
}

/** True when some value in 0..max satisfies the term (exact: endpoints are candidates). */
export function numTermSatisfiable(term: readonly NumAtom[], max: number): boolean {
  return termMin(term, max) <= max;
}

/**
 * Canonical order so equal rules encode to identical bytes: atoms in an AND-term by kind
 * then value, OR-terms by the smallest value they admit, duplicates removed.
 */
export function canonNum(m: NumMatch, max: number): NumAtom[][] {
  const terms = m.map((t) =>
    [...t].sort((a, b) => numAtomRank(a) - numAtomRank(b) || a.value - b.value || a.op - b.op),
  );
  const seen = new Set<string>();
  const out: NumAtom[][] = [];
  for (const t of terms) {
    const k = t.map((a) => `${a.op}:${a.value}`).join('&');
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(t);
  }
  const keyed = out.map((t) => ({
    t,
    min: termMin(t, max),
    k: t.map((a) => `${a.op}:${a.value}`).join('&'),
  }));
  keyed.sort((a, b) => a.min - b.min || (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  return keyed.map((x) => x.t);
}

function bitKey(a: BitAtom): number {
  return (a.not ? 1 << 18 : 0) | (a.match ? 1 << 17 : 0) | a.value;
}

/** Canonical order of bitmask terms: plain before negated, then match bit, then value. */
export function canonBit(m: BitMatch): BitAtom[][] {
  const terms = m.map((t) => [...t].sort((a, b) => bitKey(a) - bitKey(b)));
  const seen = new Set<string>();
  const out: BitAtom[][] = [];
  for (const t of terms) {
    const k = t.map(bitKey).join('&');
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(t);
  }
  out.sort((a, b) => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const d = bitKey(a[i]!) - bitKey(b[i]!);
      if (d) return d;
    }
    return a.length - b.length;
  });
  return out;
}

function evalNumAtom(a: NumAtom, v: number): boolean {
  return (
    ((a.op & OP_LT) !== 0 && v < a.value) ||
    ((a.op & OP_GT) !== 0 && v > a.value) ||
    ((a.op & OP_EQ) !== 0 && v === a.value)
  );
}

function evalNumTerm(t: readonly NumAtom[], v: number): boolean {
  for (const a of t) if (!evalNumAtom(a, v)) return false;
  return true;
}

export function evalNum(m: NumMatch, v: number): boolean {
  for (const t of m) if (evalNumTerm(t, v)) return true;
  return false;
}

function evalBitAtom(a: BitAtom, data: number): boolean {
  const r = a.match ? (data & a.value) === a.value : (data & a.value) !== 0;
  return a.not ? !r : r;
}

export function evalBit(m: BitMatch, data: number): boolean {
  for (const t of m) {
    let ok = true;
    for (const a of t)
      if (!evalBitAtom(a, data)) {
        ok = false;
        break;
      }
    if (ok) return true;
  }
  return false;
}

/** True when some value in 0..max satisfies the bitmask match (brute force: max <= 0xfff). */
export function bitSatisfiable(m: BitMatch, max: number): boolean {
  for (let v = 0; v <= max; v++) if (evalBit(m, v)) return true;
  return false;
}

/** Text of one numeric term: `80`, `1024-2048`, `>=1024&<=2048&!=1434`. */
export function numTermText(t: readonly NumAtom[], name?: (v: number) => string | undefined): string {
  const val = (v: number) => name?.(v) ?? String(v);
  if (t.length === 1 && t[0]!.op === OP_EQ) return val(t[0]!.value);
  if (t.length === 2 && t[0]!.op === (OP_GT | OP_EQ) && t[1]!.op === (OP_LT | OP_EQ))
    return `${t[0]!.value}-${t[1]!.value}`;
  return t.map((a) => `${numOpText(a.op)}${val(a.value)}`).join('&');
}

/** JSON form of a numeric match: bare numbers for single `=`, strings otherwise. */
export function numToJson(m: NumMatch, name?: (v: number) => string | undefined): (number | string)[] {
  return m.map((t) => {
    if (t.length === 1 && t[0]!.op === OP_EQ && !name?.(t[0]!.value)) return t[0]!.value;
    return numTermText(t, name);
  });
}

export function bitNames(value: number, names: Readonly<Record<string, number>>): string {
  const parts: string[] = [];
  let rest = value;
  for (const [n, b] of Object.entries(names)) {
    if ((rest & b) === b && b !== 0) {
      parts.push(n);
      rest &= ~b;
    }
  }
  if (rest) parts.push(`0x${rest.toString(16)}`);
  return parts.join('+');
}

export function bitTermText(t: readonly BitAtom[], names: Readonly<Record<string, number>>): string {
  return t.map((a) => `${a.not ? '!' : ''}${a.match ? '=' : ''}${bitNames(a.value, names)}`).join('&');
}
