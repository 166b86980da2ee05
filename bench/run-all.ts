/**
 * `npm run bench`: every benchmark in bench/, one after the other (never in parallel: they
 * measure one core each), each one's own output shown as it runs, then one summary table.
 * A benchmark whose peers are not installed is a visible "skipped: needs X" row, not an
 * error. The shared reference harnesses (../shared/bench, FastNetMon and the BGP harness)
 * run only with --shared: they need root and their own packages.
 *
 *   node dist/bench/run-all.js [--only NAME[,NAME...]] [--list] [--shared]
 *
 * Never part of `npm test` (speed is measured here, not in timed tests). Build first.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = fileURLToPath(new URL('.', import.meta.url)); // dist/bench/
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SHARED = join(ROOT, '../shared/bench');

export interface Benchmark {
  readonly name: string;
  /** bench/<script>.ts, run as dist/bench/<script>.js; or an external command. */
  readonly script?: string;
  readonly command?: readonly string[];
  /** Node flags for a bench/ script. */
  readonly nodeArgs?: readonly string[];
  readonly args?: readonly string[];
  /** What must be installed: programs on PATH (any one of a `|` group) or files. */
  readonly needs?: readonly string[];
  /** Only with --shared. */
  readonly shared?: boolean;
  /** The figures for the summary table, from the benchmark's output. */
  summary(out: string): string;
}

const lines = (out: string, re: RegExp) => out.split('\n').filter((l) => re.test(l));
const lastLine = (out: string) => out.trimEnd().split('\n').pop() ?? '';
const compact = (s: string) => s.replace(/\s+/g, ' ').trim();

export const BENCHMARKS: readonly Benchmark[] = [
  {
    name: 'prefix-table',
    script: 'prefix-table',
    summary: (o) =>
      lines(o, /M lookups\/s/)
        .map((l) => compact(l.replace(/^prefix-table /, '').replace(/: .*?, build [\d.]+ ms, /, ': ')))
        .join('; '),
  },
  {
    name: 'capture-decode',
    script: 'capture-decode',
    summary: (o) => lines(o, /^NetFlow v9: /)[0] ?? lastLine(o),
  },
  {
    name: 'capture-nf9-paths',
    script: 'capture-nf9-paths',
    summary: (o) =>
      lines(o, / generated /)
        .map((l) => compact(l.replace(/M records\/s/g, 'M')))
        .join('; ') || lastLine(o),
  },
  {
    name: 'capture-filter',
    script: 'capture-filter',
    summary: (o) =>
      [
        ...lines(o, /ns\/record \(refill/).map((l) => compact(l.replace(/\(refill.*$/, ''))),
        ...lines(o, /detector onFlow/).map((l) => compact(l.replace(/^.*?hosts, /, '').replace(/\(.*$/, ''))),
      ].join('; ') || lastLine(o),
  },
  {
    name: 'capture-ingest',
    script: 'capture-ingest',
    summary: (o) => lines(o, /^collector: highest rate|^collector \/ plain/).join('; ') || lastLine(o),
  },
  {
    name: 'daemon-ingest',
    script: 'daemon-ingest',
    needs: ['gcc'],
    summary: (o) =>
      lines(o, /^\| breakwater run/)
        .map((l) => compact(l.split('|').slice(1, 3).concat(l.split('|').slice(6, 7)).join(' ')))
        .join('; ') || lastLine(o),
  },
  {
    name: 'mirror-ingest',
    script: 'mirror-ingest',
    needs: ['gcc', 'tcpdump'],
    summary: (o) =>
      lines(o, /^\| breakwater run/)
        .map((l) => compact(l.split('|').slice(1, 3).concat(l.split('|').slice(6, 7)).join(' ')))
        .join('; ') || lastLine(o),
  },
  {
    name: 'detection-accounting',
    script: 'detection-accounting',
    summary: (o) =>
      lines(o, / M records\/s \(/)
        .map((l) => compact(l.replace(/\(accounting alone.*$/, '')))
        .join('; '),
  },
  {
    name: 'detection-tick',
    script: 'detection-tick',
    summary: (o) => {
      const cases = [
        ...o.matchAll(
          /^detection tick, ([^:\n]+):[^\n]*\n\s+busy tick[^\n]*?median ([\d.]+) ms, p95 ([\d.]+) ms/gm,
        ),
      ].map((m) => `${m[1]}: busy median ${m[2]} ms, p95 ${m[3]} ms`);
      const bytes = /storage per active host: (\d+) bytes/.exec(o)?.[1];
      return [...cases, ...(bytes ? [`${bytes} bytes/host`] : [])].join('; ') || lastLine(o);
    },
  },
  {
    name: 'detection-latency',
    script: 'detection-latency',
    summary: (o) =>
      lines(o, /: median [\d.]+ s/)
        .map((l) =>
          compact(
            `${l.split(':')[0]}: median ${/median ([\d.]+ s)/.exec(l)![1]}, ${/(\d+\/\d+) banned/.exec(l)?.[1] ?? '?'} banned`,
          ),
        )
        .join('; ') || lastLine(o),
  },
  {
    name: 'detection-memory',
    script: 'detection-memory',
    // The in-process figure is read after a collection, not with garbage in it.
    nodeArgs: ['--expose-gc'],
    summary: (o) =>
      lines(o, /bytes per active host by layout|RSS slope/)
        .map((l) => compact(l.replace(/;.*$/, '')))
        .join('; ') || lastLine(o),
  },
  {
    name: 'bgp-announce',
    script: 'bgp-announce',
    needs: ['bird|gobgpd'],
    summary: (o) =>
      lines(o, /^\| (?!speaker|---)/)
        .map((l) => {
          const c = l.split('|').map((x) => x.trim());
          return `${c[1]} -> ${c[2]}: all held ${c[4]} s after Established`;
        })
        .join('; ') || lastLine(o),
  },
  {
    name: 'flowspec-codec',
    script: 'flowspec-codec',
    summary: (o) =>
      [...o.matchAll(/^(\S+).*?(\d+) rules\/s/gm)].map((m) => `${m[1]} ${m[2]} rules/s`).join('; ') ||
      lastLine(o),
  },
  {
    name: 'mitigation-churn',
    script: 'mitigation-churn',
    needs: ['bird'],
    summary: (o) =>
      lines(o, /all \d+ accepted by the API|BIRD holds all|BIRD holds 0/)
        .map(compact)
        .join('; ') || lastLine(o),
  },
  {
    name: 'cluster-failover',
    script: 'cluster-failover',
    needs: ['gobgpd', 'nats-server'],
    summary: (o) => (lines(o, /^summary: /)[0] ?? lastLine(o)).replace(/^summary: /, ''),
  },
  {
    name: 'carpet-bomb',
    script: 'carpet-bomb',
    needs: ['gobgpd'],
    summary: (o) =>
      lines(o, /GoBGP holds|peak RSS/)
        .map(compact)
        .join('; ') || lastLine(o),
  },
  {
    name: 'static-config',
    script: 'static-config',
    needs: ['bird'],
    summary: (o) =>
      lines(o, /^\| (breakwater|exabgp)/)
        .map(compact)
        .join('; ') || lastLine(o),
  },
  {
    name: 'export-push',
    script: 'export-push',
    summary: (o) =>
      lines(o, /ms per push|of one core/)
        .map(compact)
        .join('; ') || lastLine(o),
  },
  { name: 'flowspec-generate', script: 'flowspec-generate', summary: (o) => compact(lastLine(o)) },
  {
    name: 'api-flood',
    script: 'api-flood',
    summary: (o) =>
      lines(o, /^(slowloris|save) worst/)
        .map(compact)
        .join('; ') || lastLine(o),
  },
  {
    name: 'latency vs FastNetMon (shared)',
    shared: true,
    command: ['python3', join(SHARED, 'fastnetmon/latency.py')],
    args: [
      '--name',
      'bw_sflow',
      '--format',
      'sflow',
      '--trials',
      '5',
      '--daemon-cmd',
      `${join(ROOT, 'bench/latency-daemon.sh')} {workdir} {notify} {port} {format}`,
      '--out',
      '/tmp/bw-bench-lat',
    ],
    needs: [join(SHARED, 'fastnetmon/latency.py'), 'fastnetmon', 'python3'],
    summary: (o) => compact(lastLine(o)),
  },
  {
    name: 'latency under bad-password flood (shared)',
    shared: true,
    script: 'latency-badpass',
    needs: [join(SHARED, 'fastnetmon/latency.py'), 'python3'],
    summary: (o) =>
      lines(o, /flood\/quiet/)
        .map(compact)
        .join('; ') || lastLine(o),
  },
  {
    name: 'BGP vs ExaBGP (shared)',
    shared: true,
    command: ['python3', join(SHARED, 'bgp/bench.py')],
    args: [
      '--router',
      'bird',
      '--speaker',
      `node ${join(HERE, 'bgp-speaker.js')}`,
      '--speaker-addr',
      '127.0.0.216',
      '--label',
      'breakwater',
    ],
    needs: [join(SHARED, 'bgp/bench.py'), 'bird', 'python3'],
    summary: (o) => compact(lastLine(o)),
  },
];

/** bench/*.ts that are helpers of a benchmark, not benchmarks. */
export const HELPERS: readonly string[] = ['bgp-exabgp-feed', 'bgp-speaker', 'daemon-load', 'run-all'];

function installed(need: string): boolean {
  if (need.startsWith('/')) return existsSync(need);
  return need
    .split('|')
    .some((n) => spawnSync('sh', ['-c', `command -v ${n}`], { stdio: 'ignore' }).status === 0);
}

function missing(b: Benchmark): string[] {
  return (b.needs ?? [])
    .filter((n) => !installed(n))
    .map((n) =>
      n.startsWith(SHARED) ? `../shared/bench/${n.slice(SHARED.length + 1)}` : n.replace(/\|/g, ' or '),
    );
}

function runOne(b: Benchmark): Promise<{ code: number | null; out: string; seconds: number }> {
  const cmd = b.command ?? [process.execPath, ...(b.nodeArgs ?? []), join(HERE, `${b.script}.js`)];
  const t0 = performance.now();
  return new Promise((resolve) => {
    const p = spawn(cmd[0]!, [...cmd.slice(1), ...(b.args ?? [])], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      process.stdout.write(d);
    });
    p.stderr.on('data', (d: Buffer) => process.stderr.write(d));
    p.on('error', (e) => {
      out += `\n${e.message}`;
    });
    p.on('close', (code) => resolve({ code, out, seconds: (performance.now() - t0) / 1000 }));
  });
}

function table(rows: readonly (readonly string[])[]): string {
  const head = ['benchmark', 'result', 's', 'figures'];
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const flag = (n: string) => argv.includes(`--${n}`);
  const oi = argv.findIndex((a) => a === '--only' || a.startsWith('--only='));
  const only =
    oi < 0
      ? null
      : (argv[oi]!.includes('=') ? argv[oi]!.split('=')[1]! : (argv[oi + 1] ?? ''))
          .split(',')
          .filter(Boolean);
  const known = new Set(['--list', '--shared', '--only']);
  const bad = argv.filter(
    (a, i) => a.startsWith('--') && !known.has(a.split('=')[0]!) && !(i === oi + 1 && oi >= 0),
  );
  if (bad.length) {
    process.stderr.write(
      `run-all: unknown option ${bad.join(', ')}\nusage: node dist/bench/run-all.js [--only NAME[,NAME...]] [--list] [--shared]\n`,
    );
    return 2;
  }
  const chosen = BENCHMARKS.filter((b) => !only || only.some((o) => b.name.includes(o)));
  if (flag('list')) {
    for (const b of chosen) {
      const m = missing(b);
      const notes = [
        ...(b.shared && !flag('shared') ? ['with --shared'] : []),
        ...(m.length ? [`needs ${m.join(', ')}`] : []),
      ];
      process.stdout.write(`${b.name}${notes.length ? `\t(${notes.join('; ')})` : ''}\n`);
    }
    return 0;
  }
  const rows: string[][] = [];
  let failed = 0;
  process.stdout.write(
    `breakwater benchmarks, node ${process.version}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}\n`,
  );
  for (const b of chosen) {
    if (b.shared && !flag('shared')) {
      rows.push([b.name, 'skipped: shared harness, pass --shared (needs root and its packages)', '-', '-']);
      continue;
    }
    const m = missing(b);
    if (m.length) {
      rows.push([b.name, `skipped: needs ${m.join(', ')}`, '-', '-']);
      process.stdout.write(`\n== ${b.name}: skipped (needs ${m.join(', ')})\n`);
      continue;
    }
    process.stdout.write(`\n== ${b.name}\n`);
    const r = await runOne(b);
    let figures = '';
    try {
      figures = b.summary(r.out);
    } catch {
      figures = compact(lastLine(r.out));
    }
    if (r.code !== 0) failed++;
    rows.push([
      b.name,
      r.code === 0 ? 'ok' : `FAILED (exit ${r.code})`,
      r.seconds.toFixed(0),
      figures || '-',
    ]);
  }
  process.stdout.write(
    `\n## Summary (load average after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')})\n\n${table(rows)}\n`,
  );
  return failed ? 1 : 0;
}

// Imported by its test for the list; run as a program otherwise.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then((c) => (process.exitCode = c));
}
