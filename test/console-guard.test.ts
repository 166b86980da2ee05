/**
 * Roles and CSRF on the API listener (the console hook in front of server.ts): a read user
 * sees but cannot change; a browser-looking request that changes state needs the token;
 * scripts (no Origin/Referer/Cookie/Sec-Fetch) keep working as before.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hashPassword } from '../src/api/auth.js';
import { ApiServer } from '../src/api/server.js';
import { consoleHook } from '../src/api/ui/index.js';
import { MitigationManager } from '../src/mitigation/manager.js';
import { FakeJournal, fakeFlowspec, hostgroup, testConfig } from './fixtures/mitigation/helpers.js';

const FAST = { N: 16, r: 1, p: 1 };
const users = {
  alice: { password_hash: hashPassword('a-pw', FAST) },
  rob: { password_hash: hashPassword('r-pw', FAST), role: 'read' as const },
};
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

describe('console guard: roles and CSRF', () => {
  let base = '';
  let server: ApiServer;
  let mgr: MitigationManager;
  before(async () => {
    const cfg = testConfig({
      api: { port: 0, users, host: '127.0.0.1' },
      hostgroups: [hostgroup('default', [])],
    });
    mgr = new MitigationManager({ cfg, journal: new FakeJournal(), flowspec: fakeFlowspec });
    server = new ApiServer({
      config: () => cfg,
      manager: mgr,
      hook: consoleHook({ config: () => cfg }).hook,
    });
    base = `http://127.0.0.1:${(await server.listen()).port}`;
  });
  after(() => server.close());

  const req = async (method: string, path: string, headers: Record<string, string>) => {
    const r = await fetch(base + path, { method, headers });
    return { status: r.status, json: (await r.json()) as Record<string, string> };
  };

  it('a session tells the user, the role and a token bound to the user', async () => {
    const a = await req('GET', '/ui/session', { authorization: basic('alice', 'a-pw') });
    const r = await req('GET', '/ui/session', { authorization: basic('rob', 'r-pw') });
    assert.equal(a.json.user, 'alice');
    assert.equal(a.json.role, 'admin');
    assert.equal(r.json.role, 'read');
    assert.match(a.json.csrf_token, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a.json.csrf_token, r.json.csrf_token);
  });

  it('a browser request that changes state is refused without the token, or with another user’s', async () => {
    const alice = basic('alice', 'a-pw');
    const origin = { authorization: alice, origin: 'https://evil.example' };
    const none = await req('POST', '/blackhole/203.0.113.5', origin);
    assert.equal(none.status, 403);
    assert.match(none.json.error_text, /CSRF token missing/);
    const robs = (await req('GET', '/ui/session', { authorization: basic('rob', 'r-pw') })).json.csrf_token;
    const wrong = await req('PUT', '/blackhole/203.0.113.5', { ...origin, 'x-csrf-token': robs });
    assert.equal(wrong.status, 403);
    assert.match(wrong.json.error_text, /CSRF token does not match/);
    // Nothing was added by the refused requests.
    assert.equal(mgr.list().length, 0);
    const token = (await req('GET', '/ui/session', { authorization: alice })).json.csrf_token;
    const ok = await req('PUT', '/blackhole/203.0.113.5', {
      authorization: alice,
      'sec-fetch-site': 'same-origin',
      'x-csrf-token': token,
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    const del = await req('DELETE', `/blackhole/${ok.json.uuid}`, {
      authorization: alice,
      referer: `${base}/ui/`,
      'x-csrf-token': token,
    });
    assert.equal(del.status, 200);
    assert.equal(mgr.list().length, 0);
  });

  it('a script without browser headers needs no token', async () => {
    const ok = await req('PUT', '/blackhole/203.0.113.6', { authorization: basic('alice', 'a-pw') });
    assert.equal(ok.status, 200);
    assert.equal(
      (await req('DELETE', `/blackhole/${ok.json.uuid}`, { authorization: basic('alice', 'a-pw') })).status,
      200,
    );
  });

  it('a read user sees everything and may change nothing, token or not', async () => {
    const rob = basic('rob', 'r-pw');
    assert.equal((await req('GET', '/blackhole', { authorization: rob })).status, 200);
    const token = (await req('GET', '/ui/session', { authorization: rob })).json.csrf_token;
    for (const [m, p] of [
      ['PUT', '/blackhole/203.0.113.7'],
      ['DELETE', '/blackhole/x'],
      ['PUT', '/reload'],
      ['POST', '/flowspec'],
    ] as const) {
      const r = await req(m, p, { authorization: rob, 'x-csrf-token': token, origin: base });
      assert.equal(r.status, 403, `${m} ${p}`);
      assert.match(r.json.error_text, /user 'rob' has the read role/);
    }
    assert.equal(mgr.list().length, 0);
  });

  it('wrong credentials are still a 401 before any of this', async () => {
    assert.equal((await req('GET', '/ui/session', { authorization: basic('alice', 'nope') })).status, 401);
  });
});
