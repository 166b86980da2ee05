/**
 * examples/grafana/breakwater.json against a real daemon's /metrics: the JSON is a dashboard
 * Grafana imports (panels with unique ids and grid positions, a datasource variable), every
 * query parses as PromQL (promtool check rules), every metric it queries exists in /metrics
 * of a daemon that has seen an attack, and every label it selects on is one that metric has.
 * Fails when promtool is missing (.ci/run installs prometheus).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FIXTURES, ROOT, freePort, replay, startDaemon, tempDir } from './helpers/daemon.js';
import { haveBinary, waitFor } from './helpers/routers.js';

const run = promisify(execFile);
const DASHBOARD = join(ROOT, 'examples/grafana/breakwater.json');
/** Labels Prometheus adds to every scraped series; the daemon does not export them. */
const TARGET_LABELS = new Set(['instance', 'job']);
const OURS = /\b((?:breakwater|process|nodejs)_[a-z0-9_]+)\b/g;

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { uid: string };
  targets?: { expr: string; refId: string }[];
}

function exprs(d: { panels: Panel[] }): { panel: string; expr: string }[] {
  return d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
}

/** Grafana's variables replaced by what they become at query time. */
function concrete(expr: string): string {
  return expr.replace(/\$__rate_interval|\$__range|\$__interval/g, '5m').replace(/\$(instance|job)/g, '.*');
}

test('the Grafana dashboard imports, parses and queries only series the daemon exports', {
  timeout: 60_000,
}, async () => {
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    uid: string;
    title: string;
    schemaVersion: number;
    panels: Panel[];
    templating: { list: { name: string; type: string }[] };
  };
  assert.equal(dash.uid, 'breakwater');
  assert.ok(dash.schemaVersion >= 30);
  assert.ok(dash.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource'));
  const ids = dash.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  for (const p of dash.panels) {
    assert.ok(
      p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24 && p.gridPos.h > 0,
      `${p.title}: grid position`,
    );
    if (p.type === 'row') continue;
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's own ${datasource} variable, literally
    assert.equal(p.datasource?.uid, '${datasource}', `${p.title}: uses the datasource variable`);
    assert.ok(p.targets && p.targets.length > 0, `${p.title}: has queries`);
  }
  // Panels must not overlap.
  const cells = new Set<string>();
  for (const p of dash.panels) {
    for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
      for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
        const k = `${x},${y}`;
        assert.ok(!cells.has(k), `${p.title} overlaps another panel at ${k}`);
        cells.add(k);
      }
    }
  }
  // The areas are all there.
  const titles = dash.panels.map((p) => p.title.toLowerCase()).join('\n');
  for (const area of ['packets per second', 'attacks', 'mitigations', 'bgp', 'exporter', 'dropped'])
    assert.ok(titles.includes(area), `a panel about ${area}`);

  // Every query is valid PromQL.
  assert.ok(await haveBinary('promtool'), 'promtool is missing: apt-get install prometheus (.ci/run does)');
  const dir = tempDir('grafana');
  const all = exprs(dash);
  const rules = [
    'groups:',
    '  - name: dashboard',
    '    rules:',
    ...all.map(
      (e, i) => `      - record: dashboard:q${i}\n        expr: ${JSON.stringify(concrete(e.expr))}`,
    ),
  ].join('\n');
  writeFileSync(join(dir, 'rules.yml'), `${rules}\n`);
  const check = await run('promtool', ['check', 'rules', join(dir, 'rules.yml')]).catch(
    (e: { stdout: string; stderr: string }) => e,
  );
  assert.match(
    `${check.stdout}${check.stderr}`,
    new RegExp(`SUCCESS: ${all.length} rules found`),
    `${check.stdout}${check.stderr}`,
  );

  // A daemon that has seen an attack, with a BGP peer configured (it need not be up).
  const nf = await freePort('udp');
  const d = await startDaemon(
    dir,
    `
networks: [203.0.113.0/24]
capture:
  listeners: [{ name: nf, type: netflow, address: 127.0.0.1, port: ${nf} }]
api: { listen: "127.0.0.1:0" }
bgp:
  peers: [{ name: r1, address: 127.0.0.191, port: ${await freePort('tcp', '127.0.0.191')}, local_address: 127.0.0.190, remote_as: 65001 }]
state_dir: ${join(dir, 'state')}
policies: ./policies
`,
    {
      'default.yaml':
        'name: default\nthresholds:\n  ban:\n    incoming: { total: { pps: 20000 } }\nactions:\n  blackhole: { enabled: true, next_hop: { ipv4: 192.0.2.1 } }\n',
    },
  );
  try {
    await replay(join(FIXTURES, 'flows/syn_flood.nf9.pcap'), `127.0.0.1:${nf}`);
    const text = await waitFor(
      'an attack in /metrics',
      async () => {
        const t = (await d.api('GET', '/metrics')).json as string;
        return /^breakwater_attacks_detected_total\{type="syn_flood",direction="incoming"\} 1$/m.test(t)
          ? t
          : undefined;
      },
      15_000,
    );
    const types = new Map<string, string>();
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
    const labels = new Map<string, Set<string>>();
    for (const m of text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? /gm)) {
      const set = labels.get(m[1]!) ?? new Set<string>();
      for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) set.add(l[1]!);
      labels.set(m[1]!, set);
    }
    const family = (name: string) => (types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, ''));
    let checked = 0;
    for (const { panel, expr } of all) {
      const names = [...expr.matchAll(OURS)].map((m) => m[1]!);
      assert.ok(names.length > 0, `${panel}: ${expr} queries none of the daemon's metrics`);
      for (const name of names) {
        assert.ok(types.has(family(name)), `${panel}: ${name} is not in /metrics`);
        checked++;
      }
      // Selectors: metric{label="x", ...}: each label is one the metric's series carry.
      for (const m of expr.matchAll(/\b((?:breakwater|process|nodejs)_[a-z0-9_]+)\{([^}]*)\}/g)) {
        const have = labels.get(m[1]!);
        for (const l of m[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)/g)) {
          if (TARGET_LABELS.has(l[1]!)) continue;
          assert.ok(
            have?.has(l[1]!),
            `${panel}: ${m[1]} has no label ${l[1]} (it has ${[...(have ?? [])].join(', ') || 'no series'})`,
          );
        }
      }
      // by (...) clauses name labels the metric has.
      for (const m of expr.matchAll(/by \(([^)]*)\)/g)) {
        for (const l of m[1]!.split(',').map((s) => s.trim())) {
          if (l === 'le' || TARGET_LABELS.has(l)) continue;
          assert.ok(
            names.some((n) => labels.get(n)?.has(l)),
            `${panel}: no queried metric has the label ${l}`,
          );
        }
      }
    }
    assert.ok(checked >= 30, `${checked} metric references checked`);
    // Cardinality: top-host series are the top N only, not one per host seen.
    const topHosts = [
      ...text.matchAll(/^breakwater_top_host_rate\{host="([^"]+)",unit="packets",direction="incoming"\}/gm),
    ].length;
    assert.ok(topHosts > 0 && topHosts <= 10, `${topHosts} top-host series for packets/incoming`);
  } finally {
    await d.kill('SIGKILL');
  }
});
