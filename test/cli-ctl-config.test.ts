/**
 * `breakwater ctl --config FILE` takes the API address from the daemon's config (issue 12);
 * the user and password still come from flags or env (the config holds only hashes).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { hashPassword } from '../src/api/auth.js';
import { ApiServer } from '../src/api/server.js';
import { MitigationManager } from '../src/mitigation/manager.js';
import { resolveApiFromConfig } from '../src/cli/commands/ctl.js';
import { FakeJournal, fakeFlowspec, testConfig } from './fixtures/mitigation/helpers.js';
import { freePort } from './helpers/daemon.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const run = promisify(execFile);
const HASH = hashPassword('pa55', { N: 1024, r: 8, p: 1 });

let server: ApiServer;
let port = 0;
let dir = '';
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bw-ctlcfg-'));
  const cfg = testConfig({ api: { port: 0, users: { ops: { password_hash: HASH } } } });
  const mgr = new MitigationManager({ cfg, journal: new FakeJournal(), flowspec: fakeFlowspec });
  server = new ApiServer({
    config: () => cfg,
    manager: mgr,
    detector: null,
    bgpStatus: () => [],
    reload: async () => undefined,
  });
  port = (await server.listen()).port;
});
after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

async function ctl(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run(process.execPath, [MAIN, 'ctl', ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      timeout: 20_000,
    });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}

test('ctl --config reaches the API at the config address; credentials from env or flags', async () => {
  const file = join(dir, 'listen.yaml');
  writeFileSync(file, `api:\n  listen: 127.0.0.1:${port}\n  users: { ops: { password_hash: "${HASH}" } }\n`);
  const add = await ctl(['--config', file, 'blackhole', 'add', '203.0.113.10'], {
    BREAKWATER_API_USER: 'ops',
    BREAKWATER_API_PASSWORD: 'pa55',
  });
  assert.equal(add.code, 0, add.err);
  const viaEnv = await ctl(['--config', file, 'blackhole', 'list'], {
    BREAKWATER_API_USER: 'ops',
    BREAKWATER_API_PASSWORD: 'pa55',
  });
  assert.equal(viaEnv.code, 0, viaEnv.err);
  assert.match(viaEnv.out, /203\.0\.113\.10/);
  const viaFlags = await ctl([
    `--config=${file}`,
    '--user',
    'ops',
    '--password',
    'pa55',
    'blackhole',
    'list',
  ]);
  assert.equal(viaFlags.code, 0, viaFlags.err);
  assert.match(viaFlags.out, /203\.0\.113\.10/);
  const noAuth = await ctl(['--config', file, 'blackhole', 'list']);
  assert.notEqual(noAuth.code, 0);
  assert.match(noAuth.err, /authentication required/);

  // host/port form too; an explicit --api wins over the config.
  const hp = join(dir, 'hostport.yaml');
  const dead = await freePort('tcp');
  writeFileSync(hp, `api: { host: 127.0.0.1, port: ${port} }\n`);
  assert.equal(
    (await ctl(['--config', hp, '--user', 'ops', '--password', 'pa55', 'blackhole', 'list'])).code,
    0,
  );
  const over = await ctl([
    '--config',
    hp,
    '--api',
    `http://127.0.0.1:${dead}`,
    '--user',
    'ops',
    '--password',
    'pa55',
    'blackhole',
    'list',
  ]);
  assert.notEqual(over.code, 0);
  assert.match(over.err, new RegExp(`cannot reach the API at http://127\\.0\\.0\\.1:${dead}`));
});

test('ctl --config refuses an invalid config or a disabled API, saying which', async () => {
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'api: { lisen: 127.0.0.1:1 }\n');
  const r = await ctl(['--config', bad, 'blackhole', 'list']);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /bad\.yaml:1:8: api\.lisen: unknown key: did you mean listen\?/);
  const off = join(dir, 'off.yaml');
  writeFileSync(off, 'api: { enabled: false }\n');
  assert.deepEqual(await resolveApiFromConfig(['--config', off, 'bgp']), {
    error: `the API is disabled in ${off} (api.enabled: false)`,
  });
  const v6 = join(dir, 'v6.yaml');
  writeFileSync(v6, 'api: { listen: "[::1]:10123" }\n');
  assert.deepEqual(await resolveApiFromConfig(['bgp', '--config', v6]), {
    argv: ['--api', 'http://[::1]:10123', 'bgp'],
  });
  assert.deepEqual(await resolveApiFromConfig(['bgp']), { argv: ['bgp'] });
});
