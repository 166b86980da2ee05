/**
 * The speaker's desired routes, kept by RIB key so that one mitigation added or withdrawn
 * costs one map update here and one key to look at per peer (not a rebuild and diff of
 * every route, which made each change slower the more were active).
 *
 * Several owners may want the same route (a static /32 and a blackhole of that host): the
 * key stays desired, with the first owner's attributes, until the last owner lets go.
 * `replace()` takes a whole set (start, reload) and reports only the keys that changed.
 */
import type { DesiredRoute } from './types.js';
import { ribKey, routeSignature } from './ribout.js';

export class DesiredSet {
  private readonly byKey = new Map<string, DesiredRoute[]>();

  get size(): number {
    return this.byKey.size;
  }

  /** The route announced for `key` (first owner), or undefined when none wants it. */
  get(key: string): DesiredRoute | undefined {
    return this.byKey.get(key)?.[0];
  }

  /** One route per key, in insertion order. */
  *values(): IterableIterator<DesiredRoute> {
    for (const list of this.byKey.values()) yield list[0]!;
  }

  /** Add or replace (same owner) a route; the key when what is announced for it may have changed. */
  put(r: DesiredRoute): string | null {
    const k = ribKey(r);
    const list = this.byKey.get(k);
    if (!list) {
      this.byKey.set(k, [r]);
      return k;
    }
    const i = list.findIndex((x) => x.owner === r.owner);
    if (i >= 0) list[i] = r;
    else list.push(r);
    return i <= 0 ? k : null;
  }

  /** Drop `r`'s owner from its key; the key when what is announced for it may have changed. */
  remove(r: DesiredRoute): string | null {
    const k = ribKey(r);
    const list = this.byKey.get(k);
    if (!list) return null;
    const i = list.findIndex((x) => x.owner === r.owner);
    if (i < 0) return null;
    list.splice(i, 1);
    if (list.length === 0) this.byKey.delete(k);
    return i === 0 ? k : null;
  }

  /** The whole set at once; returns the keys whose announced route changed. */
  replace(routes: Iterable<DesiredRoute>): string[] {
    const before = new Map<string, string>();
    for (const [k, list] of this.byKey) before.set(k, routeSignature(list[0]!));
    this.byKey.clear();
    for (const r of routes) {
      const k = ribKey(r);
      const list = this.byKey.get(k);
      if (list) list.push(r);
      else this.byKey.set(k, [r]);
    }
    const changed: string[] = [];
    for (const [k, sig] of before) {
      const now = this.byKey.get(k);
      if (!now || routeSignature(now[0]!) !== sig) changed.push(k);
    }
    for (const k of this.byKey.keys()) if (!before.has(k)) changed.push(k);
    return changed;
  }
}
