/**
 * The `cluster` section (issue 17): defaults, strict keys, NATS URLs, credentials, TLS, and
 * the roles not built yet refused at their line with one sentence saying so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, parseConfig } from '../src/config/index.js';
import { haveBinary } from './helpers/routers.js';

const FILE = '/nonexistent/bw.yaml';

function errorsOf(text: string): string[] {
  try {
    parseConfig(FILE, text);
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const l of e.errors) assert.ok(!l.includes('\n'), `multi-line error: ${l}`);
      return [...e.errors];
    }
    throw e;
  }
  assert.fail('config was accepted');
}

test('without cluster the config has none (the single process); with it, the defaults', () => {
  assert.equal(parseConfig(FILE, 'networks: [203.0.113.0/24]\n').cluster, undefined);
  const c = parseConfig(FILE, 'cluster:\n  nats: [nats://127.0.0.1:4222, "nats://[::1]:4223"]\n').cluster!;
  assert.deepEqual(c.nats, ['nats://127.0.0.1:4222', 'nats://[::1]:4223']);
  assert.deepEqual(c.roles, ['controller']);
  assert.equal(c.node, hostname().replace(/[^A-Za-z0-9_-]/g, '-'));
  assert.equal(c.lease_ms, 3000);
  assert.equal(c.credentials, undefined);
  assert.equal(c.tls, undefined);
});

test('node, lease (ms or a duration), credentials (user and password, or a token) and TLS paths', () => {
  const c = parseConfig(
    FILE,
    'cluster:\n  nats: [nats://10.0.0.1:4222]\n  roles: [controller]\n  node: ctl-1\n  lease_ms: 2s\n  credentials: { user: bw, password: pw }\n',
  ).cluster!;
  assert.equal(c.node, 'ctl-1');
  assert.equal(c.lease_ms, 2000);
  assert.deepEqual(c.credentials, { user: 'bw', password: 'pw' });
  const t = parseConfig(
    FILE,
    'cluster:\n  nats: [nats://h:1]\n  lease_ms: 1500\n  credentials: { token: s3cret }\n',
  ).cluster!;
  assert.equal(t.lease_ms, 1500);
  assert.deepEqual(t.credentials, { token: 's3cret' });
  const tls = parseConfig(FILE, 'cluster:\n  nats: [nats://h:1]\n  tls: { ca: /etc/hostname }\n').cluster!;
  assert.deepEqual(tls.tls, { ca: '/etc/hostname' });
});

test('the collector and detector roles are refused at their line: they are not built yet', () => {
  for (const r of ['detector', 'collector']) {
    assert.deepEqual(errorsOf(`cluster:\n  nats: [nats://h:4222]\n  roles: [controller, ${r}]\n`), [
      `${FILE}:3:23: cluster.roles[1]: the ${r} role is not built yet: a cluster node is a controller only for now (roles: [controller])`,
    ]);
  }
  assert.deepEqual(errorsOf('cluster:\n  nats: [nats://h:4222]\n  roles: [router]\n'), [
    `${FILE}:3:11: cluster.roles[0]: unknown role "router" (the one built is: controller)`,
  ]);
});

test('each mistake is one located line', () => {
  const cases: [string, RegExp][] = [
    [
      'cluster:\n  roles: [controller]\n',
      /^\/nonexistent\/bw\.yaml:2:3: cluster\.nats: missing required key$/,
    ],
    ['cluster:\n  nats: []\n', /:2:9: cluster\.nats: must have at least 1 item$/],
    [
      'cluster:\n  nats: [http://h:4222]\n',
      /:2:10: cluster\.nats\[0\]: expected a NATS server URL nats:\/\/host:port, got "http:\/\/h:4222"$/,
    ],
    ['cluster:\n  nats: [nats://h]\n', /cluster\.nats\[0\]: expected a NATS server URL/],
    [
      'cluster:\n  nats: [nats://h:1]\n  lease_ms: 10\n',
      /:3:13: cluster\.lease_ms: lease_ms must be 300 to 60000 ms, got 10$/,
    ],
    ['cluster:\n  nats: [nats://h:1]\n  nod: x\n', /:3:3: cluster\.nod: unknown key: did you mean node\?$/],
    ['cluster:\n  nats: [nats://h:1]\n  node: "a b"\n', /:3:9: cluster\.node: a node name uses letters/],
    [
      'cluster:\n  nats: [nats://h:1]\n  credentials: { user: bw }\n',
      /cluster\.credentials\.user: give user and password together \(or a token\)$/,
    ],
    [
      'cluster:\n  nats: [nats://h:1]\n  credentials: { token: t, user: u, password: p }\n',
      /cluster\.credentials\.token: give either token, or user and password, not both$/,
    ],
    [
      'cluster:\n  nats: [nats://h:1]\n  tls: { ca: /nonexistent/ca.pem }\n',
      /:3:14: cluster\.tls\.ca: cannot read \/nonexistent\/ca\.pem$/,
    ],
    [
      'cluster:\n  nats: [nats://h:1]\n  tls: { cert: /etc/hostname }\n',
      /cluster\.tls\.cert: give both cert and key, or neither$/,
    ],
  ];
  for (const [text, re] of cases) {
    const errs = errorsOf(text);
    assert.equal(errs.length, 1, `${text}: ${errs.join(' | ')}`);
    assert.match(errs[0]!, re);
  }
});

const EXAMPLES = fileURLToPath(new URL('../../examples/cluster/', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

test('the README cluster example: both controller configs check, and the three nats-server configs are valid', async () => {
  for (const [i, port] of [
    [1, 10007],
    [2, 10008],
  ] as const) {
    const c = loadConfig(`${EXAMPLES}c${i}.yaml`);
    assert.deepEqual(c.cluster, {
      nats: ['nats://127.0.0.1:4222', 'nats://127.0.0.1:4223', 'nats://127.0.0.1:4224'],
      roles: ['controller'],
      node: `c${i}`,
      lease_ms: 3000,
    });
    assert.equal(c.api.port, port);
    const r = spawnSync(process.execPath, [MAIN, 'check', '--config', `${EXAMPLES}c${i}.yaml`], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `^cluster: node c${i}, roles \\[controller\\], lease 3000 ms, NATS nats://127\\.0\\.0\\.1:4222, `,
        'm',
      ),
    );
  }
  if (!(await haveBinary('nats-server'))) return;
  for (const i of [1, 2, 3]) {
    const r = spawnSync('nats-server', ['-t', '-c', `${EXAMPLES}nats-${i}.conf`], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  }
});
