/**
 * The console's built files as the daemon serves them: all local (no CDN), no inline
 * script, a strict CSP on every file, gzip, and within the size budget (300 kB of JS+CSS).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Assets, CSP, UI_DIR } from '../src/api/ui/assets.js';

async function serve(a: Assets): Promise<{ url: string; close: () => void }> {
  const s = http.createServer((req, res) => {
    try {
      if (!a.handle(req, res, new URL(req.url!, 'http://x'))) res.writeHead(599).end();
    } catch (e) {
      res.writeHead((e as { status?: number }).status ?? 500).end((e as Error).message);
    }
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(s.address() as { port: number }).port}`, close: () => s.close() };
}

test('the built console: local files only, no inline script, CSP, gzip, under 300 kB', async () => {
  const a = new Assets();
  assert.ok(a.built, `npm run build puts the console in ${UI_DIR}`);
  const html = readFileSync(join(UI_DIR, 'index.html'), 'utf8');
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
  assert.doesNotMatch(html, /\b(src|href)="(https?:)?\/\//, 'nothing from another origin');
  assert.doesNotMatch(html, /\sstyle=|\son[a-z]+=/, 'no inline style or handler attributes');
  const { gzip, raw } = a.sizes();
  console.log(`console JS+CSS: ${raw} bytes, ${gzip} bytes gzipped`);
  assert.ok(gzip < 300 * 1024, `${gzip} bytes gzipped`);
  const s = await serve(a);
  try {
    const r = await fetch(`${s.url}/ui/`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-security-policy'), CSP);
    assert.match(CSP, /script-src 'self';/);
    assert.doesNotMatch(CSP, /unsafe-inline|unsafe-eval|\*/);
    assert.equal(r.headers.get('x-frame-options'), 'DENY');
    assert.match(await r.text(), /<script type="module" src="app.js">/);
    for (const f of ['app.js', 'vendor/uPlot.esm.js', 'style.css']) {
      const x = await fetch(`${s.url}/ui/${f}`);
      assert.equal(x.status, 200, f);
      assert.match(
        x.headers.get('content-type') ?? '',
        f.endsWith('.js') ? /^text\/javascript/ : /^text\/css/,
      );
    }
    assert.equal((await fetch(`${s.url}/ui/nope.js`)).status, 404);
    assert.equal(
      (await fetch(`${s.url}/ui/..%2f..%2fpackage.json`)).status,
      404,
      'only built files are served',
    );
    const root = await fetch(`${s.url}/`, { redirect: 'manual' });
    assert.equal(root.status, 302);
    assert.equal(root.headers.get('location'), '/ui/');
    assert.equal((await fetch(`${s.url}/ui/`, { method: 'POST' })).status, 405);
  } finally {
    s.close();
  }
});

test('an unbuilt console says how to build it', async () => {
  const s = await serve(new Assets('/nonexistent-ui'));
  try {
    const r = await fetch(`${s.url}/ui/`);
    assert.equal(r.status, 404);
    assert.match(await r.text(), /the console is not built .*run npm run build/);
  } finally {
    s.close();
  }
});
