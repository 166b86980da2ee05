/**
 * A YAML file read with positions kept (yaml's parseDocument + LineCounter), so that every
 * config error can point at the key or value it is about as `file:line:col: message`.
 */
import path from 'node:path';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type YAMLError } from 'yaml';

export type PathSeg = string | number;

/** Path shown to operators: relative to the working directory when inside it. */
export function displayPath(file: string): string {
  if (file.startsWith('<')) return file;
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/** "bgp.peers[0].remote_as" */
export function pathText(p: readonly PathSeg[]): string {
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

const meaningful = (l: string | undefined) => l !== undefined && l.trim() !== '' && !l.trimStart().startsWith('#');
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
  const where = below && above ? `between the keys at ${at(below)} and ${at(above)}` : below ? `right of the key at ${at(below)}` : above ? `left of the key at ${at(above)}` : null;
  return `bad indentation: this line starts at column ${col}${where ? `, ${where}` : ''}; start it at the column of the keys of the map it belongs to (indent with spaces)`;
}

/**
 * A YAML syntax error as the operator should read it: where the mistake is and what to do.
 * The parser may report a misindented line as a problem with the line before it (its value
 * "became" a multi-line key), so that case points at the line that is actually wrong.
 */
export function explainYamlError(text: string, e: YAMLError): { line: number; col: number; message: string } {
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
        return { ...pos, message: 'a value cannot itself be "key: value" on the same line: quote it, or write the nested keys on their own lines' };
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
        return { ...pos, message: `a ${kind} opened above is not closed before this line: end it with ${unclosed[2]} (or indent its continuation lines)` };
      }
      const hint = misalignment(lines, pos.line);
      if (hint) return { line: pos.line, col: col(pos.line), message: hint };
      return { ...pos, message: e.code === 'BAD_INDENT' ? `bad indentation: ${raw.charAt(0).toLowerCase()}${raw.slice(1)}` : raw };
    }
  }
}

export class YamlSource {
  readonly shown: string;
  private constructor(
    readonly file: string,
    private readonly doc: Document.Parsed | null,
    private readonly lc: LineCounter,
    readonly data: unknown,
  ) {
    this.shown = displayPath(file);
  }

  /** Parse text; YAML syntax errors come back as located lines instead of a source. */
  static parse(file: string, text: string): { ok: true; src: YamlSource } | { ok: false; errors: string[] } {
    const lc = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length) {
      // One mistake (a line indented one space off) makes the parser report several errors
      // that all follow from it: report the first, in words that say what to fix.
      const first = [...doc.errors].sort((a, b) => (a.linePos?.[0]?.line ?? 1) - (b.linePos?.[0]?.line ?? 1) || (a.linePos?.[0]?.col ?? 1) - (b.linePos?.[0]?.col ?? 1))[0]!;
      const { line, col, message } = explainYamlError(text, first);
      return { ok: false, errors: [`${displayPath(file)}:${line}:${col}: ${message}`] };
    }
    let data: unknown;
    try {
      data = doc.toJS({ maxAliasCount: 1000 });
    } catch (e) {
      return { ok: false, errors: [`${displayPath(file)}:1:1: ${e instanceof Error ? e.message : String(e)}`] };
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
    if (!this.doc) return { line: 1, col: 1 };
    let node: unknown = this.doc.contents;
    let keyNode: unknown = null;
    for (const seg of p) {
      if (isAlias(node)) node = node.resolve(this.doc);
      keyNode = null;
      let next: unknown = undefined;
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
