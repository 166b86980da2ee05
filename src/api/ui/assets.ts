/**
 * The console's static files from dist/ui (built by `npm run build` from ui/), read once
 * and kept gzipped in memory. Nothing is loaded from elsewhere: a strict
 * Content-Security-Policy allows only this origin's scripts, styles and connections, no
 * inline script, no framing.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type http from 'node:http';
import { extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { HttpError } from '../server.js';
import type { ConsoleRoute } from './index.js';

/** dist/ui, next to dist/src (this file is dist/src/api/ui/assets.js). */
export const UI_DIR = fileURLToPath(new URL('../../../ui/', import.meta.url));

export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
};

interface Asset {
  readonly type: string;
  readonly raw: Buffer;
  readonly gz: Buffer;
}

export class Assets implements ConsoleRoute {
  private readonly files = new Map<string, Asset>();

  constructor(readonly dir = UI_DIR) {
    const walk = (d: string) => {
      let names: string[];
      try {
        names = readdirSync(d);
      } catch {
        return;
      }
      for (const n of names) {
        const p = join(d, n);
        if (statSync(p).isDirectory()) walk(p);
        else if (TYPES[extname(n)] && !n.endsWith('.map')) {
          const raw = readFileSync(p);
          this.files.set(`/${relative(dir, p).split('\\').join('/')}`, {
            type: TYPES[extname(n)]!,
            raw,
            gz: gzipSync(raw, { level: 9 }),
          });
        }
      }
    };
    walk(dir);
  }

  get built(): boolean {
    return this.files.has('/index.html');
  }

  /** Bytes of JS and CSS: raw and gzipped (the size budget). */
  sizes(): { raw: number; gzip: number } {
    let raw = 0;
    let gzip = 0;
    for (const [name, a] of this.files) {
      if (!/\.(js|css)$/.test(name)) continue;
      raw += a.raw.length;
      gzip += a.gz.length;
    }
    return { raw, gzip };
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): boolean {
    const p = url.pathname;
    if (p !== '/ui' && !p.startsWith('/ui/') && p !== '/') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD')
      throw new HttpError(405, `${req.method} is not allowed on ${p} (allowed: GET)`);
    if (p === '/' || p === '/ui') {
      res.statusCode = 302;
      res.setHeader('location', '/ui/');
      res.end();
      return true;
    }
    const name = p === '/ui/' ? '/index.html' : p.slice(3);
    const a = this.files.get(name);
    if (!a) {
      if (!this.built)
        throw new HttpError(
          404,
          `the console is not built (no ${join(this.dir, 'index.html')}): run npm run build`,
        );
      throw new HttpError(404, `no such file in the console: ${p}`);
    }
    const gz = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gz ? a.gz : a.raw;
    res.statusCode = 200;
    res.setHeader('content-type', a.type);
    res.setHeader('content-length', body.length);
    if (gz) res.setHeader('content-encoding', 'gzip');
    res.setHeader('vary', 'accept-encoding');
    res.setHeader('cache-control', name === '/index.html' ? 'no-cache' : 'max-age=300');
    res.setHeader('content-security-policy', CSP);
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('x-frame-options', 'DENY');
    res.setHeader('referrer-policy', 'same-origin');
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  }
}
