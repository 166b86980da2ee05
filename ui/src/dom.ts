// Small DOM and API helpers for the console: elements are built with h() (text content only,
// never innerHTML, so nothing the daemon reports can inject markup).

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | ((e: Event) => void) | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'object' ? c : String(c));
  }
  return el;
}

export function table(head: string[], rows: Child[][], empty = 'none'): HTMLTableElement {
  return h(
    'table',
    {},
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        head.map((x) => h('th', { scope: 'col' }, x)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.length
        ? rows.map((r) =>
            h(
              'tr',
              {},
              r.map((c) => h('td', {}, c)),
            ),
          )
        : h('tr', {}, h('td', { colspan: head.length, class: 'muted' }, empty)),
    ),
  );
}

export function fmtRate(v: number | undefined | null, unit: string): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  const [d, s] = a >= 1e9 ? [1e9, 'G'] : a >= 1e6 ? [1e6, 'M'] : a >= 1e3 ? [1e3, 'k'] : [1, ''];
  const digits = d === 1 ? (a < 10 && !Number.isInteger(v) ? 1 : 0) : 1;
  return `${(v / d).toFixed(digits)} ${s}${unit}`;
}

export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { hour12: false });
}

export function ago(iso: string | null | undefined): string {
  if (!iso) return '';
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

export function link(href: string, text: string): HTMLAnchorElement {
  return h('a', { href }, text);
}

export interface Session {
  user: string | null;
  role: 'admin' | 'read';
  csrf_token: string;
}

let session: Session | null = null;

export async function getSession(): Promise<Session> {
  if (!session) session = (await api<Session>('GET', '/ui/session')) as Session;
  return session;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Call the daemon's API; state-changing calls carry the CSRF token. Throws ApiError with error_text. */
export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') headers['x-csrf-token'] = (await getSession()).csrf_token;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const json = await r.json().catch(() => ({ success: false, error_text: `HTTP ${r.status}` }));
  if (!r.ok || json.success === false) throw new ApiError(r.status, json.error_text ?? `HTTP ${r.status}`);
  return json as T;
}

/** Show a message in the page's live region (screen readers announce it). */
export function notice(text: string, kind: 'ok' | 'error' = 'ok'): void {
  const el = document.getElementById('notice');
  if (!el) return;
  el.textContent = text;
  el.className = kind;
}
