// npm run build, after tsc: put the console's static files and uPlot next to the compiled
// scripts in dist/ui, so the daemon serves everything itself (no CDN).
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'dist', 'ui');
const uplot = dirname(createRequire(import.meta.url).resolve('uplot/package.json'));
mkdirSync(join(out, 'vendor'), { recursive: true });
for (const f of ['index.html', 'style.css']) copyFileSync(join(here, f), join(out, f));
copyFileSync(join(uplot, 'dist', 'uPlot.esm.js'), join(out, 'vendor', 'uPlot.esm.js'));
copyFileSync(join(uplot, 'dist', 'uPlot.min.css'), join(out, 'vendor', 'uPlot.min.css'));
