/**
 * A YAML file read with positions kept (yaml's parseDocument + LineCounter), so that every
 * config error can point at the key or value it is about as `file:line:col: message`.
 */
import path from 'node:path';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';

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
      const shown = displayPath(file);
      return {
        ok: false,
        errors: doc.errors.map((e) => {
          const pos = e.linePos?.[0] ?? { line: 1, col: 1 };
          const msg = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
          return `${shown}:${pos.line}:${pos.col}: ${msg}`;
        }),
      };
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
