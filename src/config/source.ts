/**
 * A YAML file read with positions kept (yaml's parseDocument + LineCounter), so that every
 * config error can point at the key or value it is about as `file:line:col: message`.
 *
 * Large files (100k static routes is 7 MB) take a fast path: js-yaml builds the data in a
 * tenth of the time and memory of yaml's positioned Document (3.8 s and 900 MB for that
 * file), and the Document is built only when a position is asked for (an error or a
 * warning). The fast path is taken only where both parsers must agree: YAML 1.2 core
 * schema, no anchors, aliases or tags (so no alias bombs either), no syntax error (any
 * js-yaml error falls back to yaml, whose error is the one reported).
 */
import path from 'node:path';
import { load as fastLoad, CORE_SCHEMA } from 'js-yaml';
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node,
  type YAMLError,
} from 'yaml';

export type PathSeg = string | number;

/** Path shown to operators: relative to the working directory when inside it. */
export function displayPath(file: string): string {
  if (file.startsWith('<')) return file;
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/** "bgp.peers[0].remote_as" */
function pathText(p: readonly PathSeg[]): string {
  let out = '';
  for (const s of p) out += typeof s === 'number' ? `[${s}]` : out ? `.${s}` : s;
  return out;
}

/** Column (1-based) where a line's content starts, and where its key starts (after "- "). */
function indentOf(line: string): { content: number; key: number } {
  const content = line.length - line.trimStart().length;
  const m = /^(\s*(?:-\s+)*)/.exec(line)!;
  return { content: content + 1, key: m[1]!.length + 1 };
}

const meaningful = (l: string | undefined) =>
  l !== undefined && l.trim() !== '' && !l.trimStart().startsWith('#');
const hasKey = (l: string) => /^\s*(?:-\s+)*[^\s#'"-][^#]*?:(\s|$)/.test(l);

/**
 * For a line that starts at no column its enclosing maps use: the key columns open above it
 * (the nearest one on each side), e.g. "between the keys at column 3 (line 4) and column 7
 * (line 6)". Null when the line is aligned with one of them.
 */
function misalignment(lines: readonly string[], n: number): string | null {
  const here = lines[n - 1];
  if (!here || !meaningful(here)) return null;
  const col = indentOf(here).content;
  const open: { col: number; line: number }[] = [];
  let limit = Infinity;
  for (let i = n - 2; i >= 0 && limit > 1; i--) {
    const l = lines[i]!;
    if (!meaningful(l)) continue;
    const { content, key } = indentOf(l);
    if (content >= limit) continue;
    limit = content;
    if (hasKey(l)) open.push({ col: key, line: i + 1 });
  }
  if (open.some((o) => o.col === col)) return null;
  const below = open.filter((o) => o.col < col).sort((a, b) => b.col - a.col)[0];
  const above = open.filter((o) => o.col > col).sort((a, b) => a.col - b.col)[0];
  const at = (o: { col: number; line: number }) => `column ${o.col} (line ${o.line})`;
  const where =
    below && above
      ? `between the keys at ${at(below)} and ${at(above)}`
      : below
        ? `right of the key at ${at(below)}`
        : above
          ? `left of the key at ${at(above)}`
          : null;
  return `bad indentation: this line starts at column ${col}${where ? `, ${where}` : ''}; start it at the column of the keys of the map it belongs to (indent with spaces)`;
}

/**
 * A YAML syntax error as the operator should read it: where the mistake is and what to do.
 * The parser may report a misindented line as a problem with the line before it (its value
 * "became" a multi-line key), so that case points at the line that is actually wrong.
 */
function explainYamlError(text: string, e: YAMLError): { line: number; col: number; message: string } {
  const lines = text.split(/\r?\n/);
  const pos = e.linePos?.[0] ?? { line: 1, col: 1 };
  const raw = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  const col = (n: number) => indentOf(lines[n - 1] ?? '').content;
  switch (e.code) {
    case 'TAB_AS_INDENT':
      return { ...pos, message: 'a tab in the indentation: YAML indents with spaces only' };
    case 'DUPLICATE_KEY':
      return { ...pos, message: 'this key is already set above in the same map: keep one' };
    case 'BLOCK_AS_IMPLICIT_KEY':
    case 'MULTILINE_IMPLICIT_KEY': {
      const here = lines[pos.line - 1] ?? '';
      // "a: b: c" on one line.
      if (/:(\s|$)/.test(here.slice(pos.col - 1))) {
        return {
          ...pos,
          message:
            'a value cannot itself be "key: value" on the same line: quote it, or write the nested keys on their own lines',
        };
      }
      let next = pos.line;
      while (next < lines.length && !meaningful(lines[next])) next++;
      if (next >= lines.length) return { ...pos, message: raw };
      const k = indentOf(here).key;
      return {
        line: next + 1,
        col: col(next + 1),
        message: `bad indentation: this line starts at column ${col(next + 1)}, deeper than the key at column ${k} (line ${pos.line}) which already has a value; start it at column ${k}, or nest it under a key that ends with ":"`,
      };
    }
    default: {
      const unclosed = /^Flow (sequence|mapping|map) .* end with an? ([\]}])/.exec(raw);
      if (unclosed) {
        const kind = unclosed[1] === 'sequence' ? '[ list' : '{ map';
        return {
          ...pos,
          message: `a ${kind} opened above is not closed before this line: end it with ${unclosed[2]} (or indent its continuation lines)`,
        };
      }
      const hint = misalignment(lines, pos.line);
      if (hint) return { line: pos.line, col: col(pos.line), message: hint };
      return {
        ...pos,
        message:
          e.code === 'BAD_INDENT' ? `bad indentation: ${raw.charAt(0).toLowerCase()}${raw.slice(1)}` : raw,
      };
    }
  }
}

/** Files at least this long try the fast path (small files: one parser, no surprises). */
const FAST_MIN_BYTES = 256 * 1024;
/** An anchor, alias or tag indicator where a node may start (also matches some quoted text: then the slow path). */
const NODE_PROPERTY = /(?:^|[\s[{,:-])[&*!][^\s]/;

/** The data by js-yaml, or null where the fast path does not apply. */
function fastParse(text: string): { data: unknown } | null {
  if (text.length < FAST_MIN_BYTES || NODE_PROPERTY.test(text)) return null;
  try {
    return { data: fastLoad(text, { schema: CORE_SCHEMA, json: false }) };
  } catch {
    return null;
  }
}

export class YamlSource {
  readonly shown: string;
  private constructor(
    readonly file: string,
    private docRef: Document.Parsed | null,
    private lc: LineCounter,
    readonly data: unknown,
    private readonly text: string | null = null,
  ) {
    this.shown = displayPath(file);
  }

  /** The positioned Document, built on first use for a fast-path source. */
  private get doc(): Document.Parsed | null {
    if (!this.docRef && this.text !== null) {
      this.lc = new LineCounter();
      this.docRef = parseDocument(this.text, { lineCounter: this.lc, prettyErrors: true, uniqueKeys: true });
    }
    return this.docRef;
  }

  /** Parse text; YAML syntax errors come back as located lines instead of a source. */
  static parse(file: string, text: string): { ok: true; src: YamlSource } | { ok: false; errors: string[] } {
    const fast = fastParse(text);
    if (fast) return { ok: true, src: new YamlSource(file, null, new LineCounter(), fast.data ?? {}, text) };
    const lc = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length) {
      // One mistake (a line indented one space off) makes the parser report several errors
      // that all follow from it: report the first, in words that say what to fix.
      const first = [...doc.errors].sort(
        (a, b) =>
          (a.linePos?.[0]?.line ?? 1) - (b.linePos?.[0]?.line ?? 1) ||
          (a.linePos?.[0]?.col ?? 1) - (b.linePos?.[0]?.col ?? 1),
      )[0]!;
      const { line, col, message } = explainYamlError(text, first);
      return { ok: false, errors: [`${displayPath(file)}:${line}:${col}: ${message}`] };
    }
    let data: unknown;
    try {
      data = doc.toJS({ maxAliasCount: 1000 });
    } catch (e) {
      return {
        ok: false,
        errors: [`${displayPath(file)}:1:1: ${e instanceof Error ? e.message : String(e)}`],
      };
    }
    return { ok: true, src: new YamlSource(file, doc, lc, data ?? {}) };
  }

  /** A source for built-in data (no file, positions 1:1). */
  static synthetic(file: string, data: unknown): YamlSource {
    return new YamlSource(file, null, new LineCounter(), data);
  }

  /**
   * Line and column of the node at `p`: the value, or with which='key' the key of the last
   * map entry. A path that does not exist (a missing key) resolves to its deepest existing
   * ancestor, which is where the key should have been written.
   */
  pos(p: readonly PathSeg[], which: 'key' | 'value' = 'value'): { line: number; col: number } {
    const doc = this.doc;
    if (!doc) return { line: 1, col: 1 };
    let node: unknown = doc.contents;
    let keyNode: unknown = null;
    for (const seg of p) {
      if (isAlias(node)) node = node.resolve(doc);
      keyNode = null;
      let next: unknown;
      if (isMap(node)) {
        for (const item of node.items) {
          if (!isPair(item)) continue;
          const k = isScalar(item.key) ? item.key.value : item.key;
          if (String(k) === String(seg)) {
            keyNode = item.key;
            next = item.value ?? item.key;
            break;
          }
        }
      } else if (isSeq(node) && typeof seg === 'number') next = node.items[seg];
      if (next === undefined || next === null) break;
      node = next;
    }
    const target = (which === 'key' && keyNode ? keyNode : node) as Node | null;
    const off = target?.range?.[0] ?? 0;
    return this.lc.linePos(off);
  }

  /** `file:line:col` of the node at p. */
  loc(p: readonly PathSeg[], which: 'key' | 'value' = 'value'): string {
    const { line, col } = this.pos(p, which);
    return `${this.shown}:${line}:${col}`;
  }

  /** `file:line:col: path: message` */
  at(p: readonly PathSeg[], message: string, which: 'key' | 'value' = 'value'): string {
    const where = pathText(p);
    return `${this.loc(p, which)}: ${where ? `${where}: ` : ''}${message}`;
  }
}
