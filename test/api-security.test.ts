/**
 * The API's trust boundary on a real daemon (issue 14): HTTPS only with api.tls (the plain
 * protocol gets no answer on the port, the certificate is re-read on reload), roles (a read
 * user gets 403 on PUT /blackhole and PUT /reload, an admin 200), audit lines, failed
 * logins limited per source (429 with Retry-After, in /metrics), ctl over https, and
 * `check` refusing what `run` refuses.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashPassword } from '../src/api/auth.js';
import { fingerprintOf, httpRequest } from '../src/api/http-client.js';
import type { ItemAnswer, ListAnswer } from './helpers/answers.js';
import { BIN, startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { haveOpenssl, selfSignedCert } from './helpers/tls.js';
import { readFileSync } from 'node:fs';

const CHEAP = { N: 1024, r: 8, p: 1 };
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

function config(dir: string, tls: { cert: string; key: string }): string {
  return `
networks: [203.0.113.0/24]
capture:
  listeners: [{ name: nf, type: netflow, address: 127.0.0.1, port: 0 }]
api:
  listen: "127.0.0.1:0"
  tls: { cert: ${tls.cert}, key: ${tls.key} }
  users:
    ops: { password_hash: "${hashPassword('ops-pw', CHEAP)}" }
    viewer: { password_hash: "${hashPassword('view-pw', CHEAP)}", role: read }
state_dir: ${join(dir, 'state')}
policies: ./policies
`;
}

const POLICY = `
name: default
thresholds: { ban: { incoming: { total: { pps: 20000 } } } }
actions:
  ban_time: 1m
  blackhole: { enabled: true, communities: ["65535:666"], next_hop: { ipv4: 192.0.2.1 } }
`;

function ctl(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, 'ctl', ...args], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('API security on a real daemon', { timeout: 120_000 }, () => {
  let d: DaemonHandle;
  let dir = '';
  let ca: Buffer;
  let tls: { cert: string; key: string };
  let base = '';
  const call = async (method: string, path: string, auth?: string, body?: string) => {
    const r = await httpRequest(base + path, {
      method,
      headers: auth ? { authorization: auth } : {},
      ...(body !== undefined ? { body } : {}),
      timeoutMs: 10_000,
      trust: { ca },
    });
    let json: unknown = r.text;
    try {
      json = JSON.parse(r.text);
    } catch {
      /* metrics */
    }
    return { status: r.status, json: json as ListAnswer & ItemAnswer, text: r.text };
  };

  before(async () => {
    // Debian's openssl is part of the test environment (.ci/run); without it this fails.
    assert.ok(haveOpenssl(), 'openssl is needed to make the test certificate');
    dir = tempDir('apisec');
    tls = selfSignedCert(dir);
    ca = readFileSync(tls.cert);
    d = await startDaemon(dir, config(dir, tls), { 'default.yaml': POLICY });
    base = `https://127.0.0.1:${d.apiPort}`;
  });
  after(() => d?.kill());

  it('speaks HTTPS with the configured certificate, and plain HTTP on the port gets no answer', async () => {
    assert.match(d.output(), /API listening on https:\/\/127\.0\.0\.1:\d+/);
    const r = await call('GET', '/bgp', basic('ops', 'ops-pw'));
    assert.equal(r.status, 200);
    assert.equal(r.json.success, true);
    const plain = await new Promise<string>((resolve) => {
      const req = http.get(
        {
          host: '127.0.0.1',
          port: d.apiPort,
          path: '/bgp',
          headers: { authorization: basic('ops', 'ops-pw') },
          timeout: 5000,
        },
        (res) => resolve(`HTTP ${res.statusCode}`),
      );
      req.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code}`));
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    });
    assert.match(plain, /^error /, `plain HTTP must not be served, got ${plain}`);
    // Without the CA the certificate is not trusted (ctl says how to fix it).
    const untrusted = ctl(['--api', base, '--user', 'ops', '--password', 'ops-pw', 'bgp']);
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.err, /not trusted; give its CA with --ca FILE/);
  });

  it('a read user may GET everything but gets 403 on PUT /blackhole and PUT /reload; an admin gets 200', async () => {
    const viewer = basic('viewer', 'view-pw');
    const ops = basic('ops', 'ops-pw');
    for (const p of ['/blackhole', '/flowspec', '/attacks', '/hostgroup', '/metrics', '/ui/session']) {
      assert.equal((await call('GET', p, viewer)).status, 200, p);
    }
    const put = await call('PUT', '/blackhole/203.0.113.5', viewer);
    assert.equal(put.status, 403);
    assert.equal(put.json.success, false);
    assert.match(
      put.json.error_text,
      /user 'viewer' has the read role: it may look but not change anything \(PUT needs role admin\)/,
    );
    const reload = await call('PUT', '/reload', viewer);
    assert.equal(reload.status, 403);
    assert.match(reload.json.error_text, /read role/);
    assert.equal(
      (await call('DELETE', '/blackhole/00000000-0000-0000-0000-000000000000', viewer)).status,
      403,
    );
    assert.equal(
      (await call('GET', '/blackhole', viewer)).json.values.length,
      0,
      'the read user changed nothing',
    );

    const add = await call('PUT', '/blackhole/203.0.113.5', ops);
    assert.equal(add.status, 200, JSON.stringify(add.json));
    assert.equal(add.json.ip, '203.0.113.5/32');
    assert.equal((await call('PUT', '/reload', ops)).status, 200);
    // Every state-changing call leaves an audit line: user, source, method and path, status.
    await d.waitLog(/audit: user=viewer source=127\.0\.0\.1 PUT \/blackhole\/203\.0\.113\.5 -> 403/);
    await d.waitLog(/audit: user=viewer source=127\.0\.0\.1 PUT \/reload -> 403/);
    await d.waitLog(/audit: user=ops source=127\.0\.0\.1 PUT \/blackhole\/203\.0\.113\.5 -> 200/);
    await d.waitLog(/audit: user=ops source=127\.0\.0\.1 PUT \/reload -> 200/);
    assert.doesNotMatch(d.output(), /audit: .* GET /, 'reads are not audited');
  });

  it('ctl reaches the HTTPS API with --ca, and with --config trusting exactly the daemon certificate', () => {
    const withCa = ctl([
      '--api',
      base,
      '--ca',
      tls.cert,
      '--user',
      'ops',
      '--password',
      'ops-pw',
      '--json',
      'blackhole',
      'list',
    ]);
    assert.equal(withCa.code, 0, withCa.err);
    assert.equal(JSON.parse(withCa.out).values[0].ip, '203.0.113.5/32');
    // The config's api.listen has port 0: give the bound port through a copy.
    const cfgFile = join(dir, 'ctl.yaml');
    writeFileSync(
      cfgFile,
      readFileSync(join(dir, 'breakwater.yaml'), 'utf8').replace('127.0.0.1:0', `127.0.0.1:${d.apiPort}`),
    );
    const viaConfig = ctl(['--config', cfgFile, 'blackhole', 'list'], {
      BREAKWATER_API_USER: 'viewer',
      BREAKWATER_API_PASSWORD: 'view-pw',
    });
    assert.equal(viaConfig.code, 0, viaConfig.err);
    assert.match(viaConfig.out, /203\.0\.113\.5\/32/);
    const denied = ctl(['--config', cfgFile, 'blackhole', 'add', '203.0.113.6'], {
      BREAKWATER_API_USER: 'viewer',
      BREAKWATER_API_PASSWORD: 'view-pw',
    });
    assert.equal(denied.code, 1);
    assert.match(denied.err, /read role/);
    // Another certificate at the pinned path: ctl refuses before sending credentials.
    const other = selfSignedCert(dir, 'other');
    const pinned = ctl(['--api', base, '--pin', other.cert, '--user', 'ops', '--password', 'ops-pw', 'bgp']);
    assert.equal(pinned.code, 1);
    assert.match(pinned.err, /is not the configured one .*: not sending credentials/);
  });

  it('a reload re-reads the certificate files', async () => {
    const before = fingerprintOf(readFileSync(tls.cert));
    const next = selfSignedCert(dir, 'next');
    copyFileSync(next.cert, tls.cert);
    copyFileSync(next.key, tls.key);
    ca = readFileSync(tls.cert);
    // The old certificate is still served until the reload (the new CA does not trust it).
    await assert.rejects(call('GET', '/bgp', basic('ops', 'ops-pw')));
    const r = await httpRequest(`${base}/reload`, {
      method: 'PUT',
      headers: { authorization: basic('ops', 'ops-pw') },
      timeoutMs: 10_000,
      trust: { pin: before },
    });
    assert.equal(r.status, 200, r.text);
    const after = await call('GET', '/bgp', basic('ops', 'ops-pw'));
    assert.equal(after.status, 200);
    assert.notEqual(fingerprintOf(ca), before);
  });

  it('failed logins from one source end in 429 with Retry-After, counted in /metrics; a cached good login still works', async () => {
    const good = basic('ops', 'ops-pw');
    assert.equal((await call('GET', '/bgp', good)).status, 200);
    const statuses: number[] = [];
    let retryAfter: string | undefined;
    for (let i = 0; i < 15; i++) {
      const r = await httpRequest(`${base}/bgp`, {
        method: 'GET',
        headers: { authorization: basic('ops', `wrong-${i}`) },
        timeoutMs: 10_000,
        trust: { ca },
      });
      statuses.push(r.status);
    }
    assert.deepEqual(statuses.slice(0, 10), Array(10).fill(401), statuses.join(' '));
    assert.deepEqual(statuses.slice(10), Array(5).fill(429), statuses.join(' '));
    await new Promise<void>((resolve, reject) => {
      const u = new URL(`${base}/bgp`);
      import('node:https').then(({ default: https }) => {
        https
          .get(
            {
              host: u.hostname,
              port: u.port,
              path: u.pathname,
              ca,
              headers: { authorization: basic('ops', 'nope') },
            },
            (res) => {
              retryAfter = res.headers['retry-after'] as string | undefined;
              res.resume();
              res.on('end', resolve);
            },
          )
          .on('error', reject);
      }, reject);
    });
    assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 60, `Retry-After ${retryAfter}`);
    // The legitimate client authenticated before the block keeps working (cached check).
    assert.equal((await call('GET', '/bgp', good)).status, 200);
    const m = (await call('GET', '/metrics', good)).text;
    assert.match(m, /^breakwater_api_auth_failures_total 10$/m);
    assert.match(m, /^breakwater_api_auth_refused_total\{reason="rate_limited"\} [1-9]\d*$/m);
    assert.match(m, /^breakwater_api_auth_sources_blocked_total 1$/m);
    await d.waitLog(/10 failed logins from 127\.0\.0\.1 within 60 s: refused \(429\) for 60 s/);
  });
});

describe('check refuses what run refuses', () => {
  it('an API without users on 0.0.0.0: check and run both refuse it with file:line:col', {
    timeout: 30_000,
  }, () => {
    const dir = tempDir('apisec-check');
    const file = join(dir, 'breakwater.yaml');
    writeFileSync(
      file,
      `networks: [203.0.113.0/24]\napi:\n  listen: "0.0.0.0:10007"\nstate_dir: ${join(dir, 'state')}\n`,
    );
    const want =
      /breakwater\.yaml:3:11: api\.listen: the API would listen on 0\.0\.0\.0 without api\.users: an open API only listens on loopback/;
    const c = spawnSync(process.execPath, [BIN, 'check', '--config', file], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(c.status, 1);
    assert.match(c.stderr, want);
    const r = spawnSync(process.execPath, [BIN, 'run', '--config', file], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr + r.stdout, want);
    // Unreadable TLS files are refused at their key.
    writeFileSync(
      file,
      `networks: [203.0.113.0/24]\napi:\n  tls: { cert: ./nope.crt, key: ./nope.key }\nstate_dir: ${join(dir, 'state')}\n`,
    );
    const t = spawnSync(process.execPath, [BIN, 'check', '--config', file], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(t.status, 1);
    assert.match(t.stderr, /breakwater\.yaml:3:16: api\.tls\.cert: cannot read .*nope\.crt: no such file/);
    assert.match(t.stderr, /breakwater\.yaml:3:33: api\.tls\.key: cannot read .*nope\.key: no such file/);
  });
});

describe('connections per source', () => {
  it('a source over api.max_connections_per_source is closed at accept and counted; another source is served', {
    timeout: 60_000,
  }, async () => {
    const dir = tempDir('apisec-conns');
    const cfg = `networks: [203.0.113.0/24]\napi:\n  listen: "127.0.0.1:0"\n  max_connections_per_source: 4\nstate_dir: ${join(dir, 'state')}\npolicies: ./policies\n`;
    const d = await startDaemon(dir, cfg, { 'default.yaml': POLICY });
    const held: net.Socket[] = [];
    try {
      const open = (localAddress: string) =>
        new Promise<{ s: net.Socket; closedMs: Promise<number> }>((resolve, reject) => {
          const s = net.connect({ host: '127.0.0.1', port: d.apiPort, localAddress });
          const t0 = Date.now();
          const closedMs = new Promise<number>((r) => s.once('close', () => r(Date.now() - t0)));
          s.once('connect', () => resolve({ s, closedMs }));
          s.once('error', () => {});
          setTimeout(() => reject(new Error('connect timed out')), 5000);
        });
      // Four idle connections from 127.0.0.1 are admitted (and held: none is closed within 1 s) ...
      for (let i = 0; i < 4; i++) held.push((await open('127.0.0.1')).s);
      // ... the next three are closed by the daemon at once, without a byte sent either way.
      const over = await Promise.all([0, 1, 2].map(() => open('127.0.0.1')));
      for (const o of over)
        assert.ok((await o.closedMs) < 1000, 'the fifth connection of a source is closed at accept');
      for (const s of held) assert.equal(s.destroyed, false, 'the admitted connections stay open');
      // Another source is served meanwhile.
      const status = await new Promise<number>((resolve, reject) => {
        http
          .get(
            { host: '127.0.0.1', port: d.apiPort, path: '/metrics', localAddress: '127.0.0.2', agent: false },
            (res) => {
              let body = '';
              res.on('data', (b: Buffer) => (body += b.toString()));
              res.on('end', () => {
                assert.match(body, /^breakwater_api_connections_refused_total\{reason="per_source"\} 3$/m);
                resolve(res.statusCode ?? 0);
              });
            },
          )
          .on('error', reject);
      });
      assert.equal(status, 200);
    } finally {
      for (const s of held) s.destroy();
      await d.kill();
    }
  });
});
