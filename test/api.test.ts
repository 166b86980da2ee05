import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { PeerStatus } from '../src/bgp/types.js';
import type { Config } from '../src/config/types.js';
import type { HostRates } from '../src/detection/types.js';
import { hashPassword, parseHash, verifyPassword } from '../src/api/auth.js';
import { createMetrics } from '../src/api/metrics.js';
import { ApiServer, isLoopback } from '../src/api/server.js';
import { MitigationManager } from '../src/mitigation/manager.js';
import { Notifier } from '../src/notify/index.js';
import {
  attack,
  FakeJournal,
  fakeFlowspec,
  hostgroup,
  testConfig,
  zeroRates,
} from './fixtures/mitigation/helpers.js';
import { causeText, parseCause } from '../src/mitigation/cause.js';

const rates: HostRates[] = [
  zeroRates('203.0.113.10', 'default', { in_packets: 900, in_bytes: 90_000, in_flows: 9 }),
  zeroRates('203.0.113.11', 'default', { in_packets: 500, in_bytes: 50_000, in_flows: 5 }),
  zeroRates('2001:db8::5', 'default', { in_packets: 100, in_bytes: 10_000, in_flows: 1, out_packets: 7 }),
];
const fakeDetector = {
  hostRates: (ip: string) => rates.find((r) => r.ip === ip) ?? null,
  top: (n: number, unit: 'packets' | 'bytes' | 'flows', dir: 'incoming' | 'outgoing') => {
    const k = `${dir === 'incoming' ? 'in' : 'out'}_${unit}` as const;
    return [...rates].sort((a, b) => b[k] - a[k]).slice(0, n);
  },
  totals: () => ({
    in_packets: 1500,
    out_packets: 7,
    in_bytes: 150_000,
    out_bytes: 700,
    in_flows: 15,
    out_flows: 1,
  }),
  hostgroupAttacks: () => [],
};
const peers: PeerStatus[] = [
  {
    name: 'gobgp',
    address: '127.0.0.2',
    remote_as: 65001,
    state: 'Established',
    uptime_s: 42,
    last_error: null,
    messages_in: 10,
    messages_out: 12,
    updates_in: 1,
    updates_out: 3,
    prefixes_in: 0,
    prefixes_out: 2,
    families: ['ipv4-unicast'],
  },
  {
    name: 'bird',
    address: '127.0.0.3',
    remote_as: 65002,
    state: 'Active',
    uptime_s: 0,
    last_error: 'connection refused',
    messages_in: 0,
    messages_out: 0,
    updates_in: 0,
    updates_out: 0,
    prefixes_in: 0,
    prefixes_out: 0,
    families: ['ipv4-unicast'],
  },
];

interface Ctx {
  base: string;
  server: ApiServer;
  mgr: MitigationManager;
  cfg: { current: Config };
  reloadError: { msg: string | null };
  escalations: unknown[];
}

async function start(users: Config['api']['users'] = {}): Promise<Ctx> {
  const cfg = {
    current: testConfig({
      api: { port: 0, users },
      mitigation: { max_blackholes: 3 },
      hostgroups: [hostgroup('default', []), hostgroup('web', ['203.0.113.0/28'])],
    }),
  };
  const mgr = new MitigationManager({ cfg: cfg.current, journal: new FakeJournal(), flowspec: fakeFlowspec });
  const reloadError = { msg: null as string | null };
  const escalations: unknown[] = [];
  const notifier = new Notifier({ concurrency: 1, webhookRetries: 0 });
  const metrics = createMetrics({
    detector: fakeDetector,
    mitigations: () => mgr.list(),
    refused: () => mgr.refused,
    bgpStatus: () => peers,
    notifyOutcomes: () => notifier.outcomes,
    captureStats: () => [
      {
        exporter: '127.0.0.5',
        protocol: 'sflow',
        datagrams: 10,
        records: 70,
        malformed: 1,
        sampling_rate: 1000,
        last_seen_ms: 1_700_000_000_000,
      },
    ],
    journalStats: () => ({ appends: 3, fsyncs: 3, compactions: 0, corrupt_lines: 0, torn_tail: false }),
  });
  const server = new ApiServer({
    config: () => cfg.current,
    manager: mgr,
    detector: fakeDetector,
    bgpStatus: () => peers,
    reload: async () => {
      if (reloadError.msg) throw new Error(reloadError.msg);
    },
    escalations: () => escalations,
    metrics,
  });
  const a = await server.listen();
  return { base: `http://127.0.0.1:${a.port}`, server, mgr, cfg, reloadError, escalations };
}

async function call(
  ctx: Ctx,
  method: string,
  path: string,
  body?: string,
  auth?: string,
): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (auth) headers.authorization = `Basic ${Buffer.from(auth).toString('base64')}`;
  const r = await fetch(ctx.base + path, { method, headers, body });
  const text = await r.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { raw: text };
  }
  return { status: r.status, json, headers: r.headers };
}

describe('API without users (loopback only)', () => {
  let ctx: Ctx;
  before(async () => {
    ctx = await start();
  });
  after(() => ctx.server.close());

  it('refuses to listen on a non-loopback address without users', async () => {
    const s = new ApiServer({
      config: () => testConfig({ api: { host: '0.0.0.0', port: 0 } }),
      manager: ctx.mgr,
    });
    await assert.rejects(
      s.listen(),
      /api\.host 0\.0\.0\.0: without api\.users the API is open, so it only listens on loopback/,
    );
    assert.equal(isLoopback('127.0.0.9'), true);
    assert.equal(isLoopback('::1'), true);
    assert.equal(isLoopback('::ffff:127.0.0.1'), true);
    assert.equal(isLoopback('10.0.0.1'), false);
    assert.equal(isLoopback('::'), false);
  });

  it('blackhole: PUT, GET (host bans only, escalations on /escalation), DELETE', async () => {
    assert.deepEqual((await call(ctx, 'GET', '/blackhole')).json, { success: true, values: [] });
    const put = await call(ctx, 'PUT', '/blackhole/203.0.113.5');
    assert.equal(put.status, 200);
    assert.equal(put.json.success, true);
    assert.equal(put.json.ip, '203.0.113.5/32');
    const uuid = put.json.uuid as string;
    assert.match(uuid, /^[0-9a-f-]{36}$/);
    const m = ctx.mgr.get(uuid)!;
    assert.equal(m.hostgroup, 'web');
    assert.equal(causeText(m.cause), 'manual');
    assert.deepEqual(m.communities, ['65535:666']);
    const esc = await ctx.mgr.add({
      kind: 'escalation',
      prefix: '203.0.113.0/25',
      ip: '203.0.113.5',
      cause: parseCause('escalation of 203.0.113.5'),
      hostgroup: 'web',
      expires_at: null,
      communities: ['65535:666'],
      large_communities: [],
    });
    assert.equal(esc.ok, true);
    const list = (await call(ctx, 'GET', '/blackhole')).json.values as Record<string, unknown>[];
    assert.deepEqual(
      list.map((v) => [v.ip, v.kind]),
      [['203.0.113.5/32', 'blackhole']],
    );
    assert.equal(list[0]!.uuid, uuid);
    // IPv6, and a /128 written out
    const v6 = await call(ctx, 'PUT', '/blackhole/2001:db8::7/128');
    assert.equal(v6.json.ip, '2001:db8::7/128');
    assert.deepEqual((await call(ctx, 'DELETE', `/blackhole/${uuid}`)).json, { success: true });
    const again = await call(ctx, 'DELETE', `/blackhole/${uuid}`);
    assert.equal(again.status, 404);
    assert.deepEqual(again.json, {
      success: false,
      error_text: `no blackhole or escalation with uuid ${uuid}`,
    });
    await call(ctx, 'DELETE', `/blackhole/${v6.json.uuid as string}`);
    await call(ctx, 'DELETE', `/blackhole/${esc.mitigation!.uuid}`);
    assert.equal(ctx.mgr.list().length, 0);
  });

  it("FastNetMon's escalation script: every /blackhole entry, /32 or /128 stripped, has single_host_counters", async () => {
    const ban = await call(ctx, 'PUT', '/blackhole/203.0.113.10');
    const ban6 = await call(ctx, 'PUT', '/blackhole/2001:db8::5');
    const esc = await ctx.mgr.add({
      kind: 'escalation',
      prefix: '203.0.113.0/25',
      ip: '203.0.113.10',
      cause: parseCause('escalation of 203.0.113.10'),
      hostgroup: 'default',
      expires_at: null,
      communities: ['65535:666'],
      large_communities: [],
    });
    assert.equal(esc.ok, true);
    const list = (await call(ctx, 'GET', '/blackhole')).json.values as Record<string, unknown>[];
    assert.deepEqual(list.map((v) => v.ip).sort(), ['2001:db8::5/128', '203.0.113.10/32']);
    for (const v of list) {
      // the script: ip.replace('/32', '') (and '/128'), then GET /single_host_counters/<ip>
      const host = (v.ip as string).replace(/\/(32|128)$/, '');
      const r = await call(ctx, 'GET', `/single_host_counters/${host}`);
      assert.equal(r.status, 200, `${host}: ${JSON.stringify(r.json)}`);
      assert.equal((r.json.object as Record<string, unknown>).ip, host);
    }
    // the prefix written out, as /blackhole lists it, works too (raw and percent-encoded)
    for (const path of ['203.0.113.10/32', '203.0.113.10%2F32', '2001:db8::5/128']) {
      const r = await call(ctx, 'GET', `/single_host_counters/${path}`);
      assert.equal(r.status, 200, path);
      const o = r.json.object as Record<string, unknown>;
      assert.equal(o.ip, path.startsWith('2001') ? '2001:db8::5' : '203.0.113.10');
      assert.ok((o.in_packets as number) > 0, path);
    }
    const wide = await call(ctx, 'GET', '/single_host_counters/203.0.113.0/24');
    assert.equal(wide.status, 400);
    assert.equal(
      wide.json.error_text,
      "'203.0.113.0/24' is not one host: write 203.0.113.0 or 203.0.113.0/32",
    );
    assert.equal((await call(ctx, 'GET', '/single_host_counters/2001:db8::5/32')).status, 400);
    // the escalation is where it belongs
    ctx.escalations.push({ prefix: '203.0.113.0/25' });
    assert.deepEqual(
      ((await call(ctx, 'GET', '/escalation')).json.values as Record<string, unknown>[]).map((v) => v.prefix),
      ['203.0.113.0/25'],
    );
    ctx.escalations.length = 0;
    for (const u of [ban.json.uuid, ban6.json.uuid, esc.mitigation!.uuid] as string[])
      await ctx.mgr.remove(u, 'test');
  });

  it('blackhole: bad input gets a clear reason', async () => {
    const bad = await call(ctx, 'PUT', '/blackhole/203.0.113.300');
    assert.equal(bad.status, 400);
    assert.equal(bad.json.success, false);
    assert.match(bad.json.error_text as string, /"203\.0\.113\.300" is not an IP address/);
    const out = await call(ctx, 'PUT', '/blackhole/198.51.100.1');
    assert.equal(out.status, 400);
    assert.equal(out.json.error_text, '198.51.100.1/32 is outside the configured networks');
    const wl = await call(ctx, 'PUT', '/blackhole/203.0.113.200');
    assert.match(wl.json.error_text as string, /whitelisted 203\.0\.113\.200\/32/);
    const wide = await call(ctx, 'PUT', '/blackhole/203.0.113.0/24');
    assert.match(wide.json.error_text as string, /one host/);
    // the cap answers 409
    for (let i = 1; i <= 3; i++)
      assert.equal((await call(ctx, 'PUT', `/blackhole/203.0.113.${i}`)).status, 200);
    const cap = await call(ctx, 'PUT', '/blackhole/203.0.113.4');
    assert.equal(cap.status, 409);
    assert.match(cap.json.error_text as string, /max_blackholes \(3\) reached/);
    for (const m of ctx.mgr.list()) await ctx.mgr.remove(m.uuid, 'test');
  });

  it('flowspec: PUT a JSON rule, GET, DELETE, and bad rules', async () => {
    const rule = {
      destination_prefix: '203.0.113.10/32',
      protocols: ['udp'],
      source_ports: [53],
      action_type: 'discard',
    };
    const put = await call(ctx, 'PUT', '/flowspec', JSON.stringify(rule));
    assert.equal(put.status, 200, JSON.stringify(put.json));
    const uuid = put.json.uuid as string;
    const list = (await call(ctx, 'GET', '/flowspec')).json.values as Record<string, unknown>[];
    assert.equal(list.length, 1);
    assert.equal(list[0]!.uuid, uuid);
    assert.deepEqual(list[0]!.announce, rule);
    assert.equal(
      Array.isArray((await call(ctx, 'GET', '/blackhole')).json.values) &&
        ((await call(ctx, 'GET', '/blackhole')).json.values as unknown[]).length,
      0,
    );
    const notJson = await call(ctx, 'PUT', '/flowspec', '{"destination_prefix": ');
    assert.equal(notJson.status, 400);
    assert.match(notJson.json.error_text as string, /not valid JSON/);
    const empty = await call(ctx, 'PUT', '/flowspec', '');
    assert.match(empty.json.error_text as string, /must be a JSON FlowSpec rule/);
    const unknown = await call(
      ctx,
      'PUT',
      '/flowspec',
      JSON.stringify({ destination_prefix: '203.0.113.10/32', colour: 'red' }),
    );
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json.error_text, "bad FlowSpec rule: unknown field 'colour'");
    const outside = await call(
      ctx,
      'PUT',
      '/flowspec',
      JSON.stringify({ destination_prefix: '192.0.2.0/24' }),
    );
    assert.equal(outside.json.error_text, '192.0.2.0/24 is outside the configured networks');
    const noDst = await call(ctx, 'PUT', '/flowspec', JSON.stringify({ protocols: ['udp'] }));
    assert.match(noDst.json.error_text as string, /needs a destination_prefix/);
    assert.equal((await call(ctx, 'DELETE', `/flowspec/${uuid}`)).status, 200);
    assert.equal((await call(ctx, 'DELETE', `/flowspec/${uuid}`)).status, 404);
  });

  it('single_host_counters: rates, zeros for a quiet host, errors', async () => {
    const r = await call(ctx, 'GET', '/single_host_counters/203.0.113.10');
    assert.equal(r.json.success, true);
    const o = r.json.object as Record<string, number>;
    assert.equal(o.in_packets, 900);
    assert.equal(o.in_bytes, 90_000);
    assert.equal(o.in_flows, 9);
    for (const k of ['out_bytes', 'out_packets', 'out_flows', 'in_tcp_syn_packets', 'in_udp_bytes'])
      assert.equal(o[k], 0, k);
    const quiet = await call(ctx, 'GET', '/single_host_counters/203.0.113.99');
    assert.equal((quiet.json.object as Record<string, unknown>).in_packets, 0);
    assert.equal((quiet.json.object as Record<string, unknown>).hostgroup, 'default');
    assert.equal((await call(ctx, 'GET', '/single_host_counters/2001:db8::5')).json.success, true);
    const bad = await call(ctx, 'GET', '/single_host_counters/not-an-ip');
    assert.equal(bad.status, 400);
    const out = await call(ctx, 'GET', '/single_host_counters/8.8.8.8');
    assert.equal(out.status, 404);
    assert.equal(out.json.error_text, '8.8.8.8 is not in the monitored networks');
  });

  it('host_counters, total_traffic_counters', async () => {
    const top = await call(ctx, 'GET', '/host_counters/packets/incoming?limit=2');
    assert.deepEqual(
      (top.json.values as Record<string, unknown>[]).map((v) => [v.host, v.value]),
      [
        ['203.0.113.10', 900],
        ['203.0.113.11', 500],
      ],
    );
    const out = await call(ctx, 'GET', '/host_counters/packets/outgoing');
    assert.equal((out.json.values as Record<string, unknown>[])[0]!.host, '2001:db8::5');
    assert.equal((await call(ctx, 'GET', '/host_counters/apples/incoming')).status, 400);
    assert.equal((await call(ctx, 'GET', '/host_counters/bytes/sideways')).status, 400);
    assert.match(
      (await call(ctx, 'GET', '/host_counters/bytes/incoming?limit=0')).json.error_text as string,
      /limit must be an integer/,
    );
    const t = await call(ctx, 'GET', '/total_traffic_counters');
    assert.deepEqual(t.json.values, [
      { counter_name: 'incoming traffic', value: 1500, unit: 'pps' },
      { counter_name: 'incoming traffic', value: 1.2, unit: 'mbps' },
      { counter_name: 'incoming traffic', value: 15, unit: 'flows' },
      { counter_name: 'outgoing traffic', value: 7, unit: 'pps' },
      { counter_name: 'outgoing traffic', value: 0.006, unit: 'mbps' },
      { counter_name: 'outgoing traffic', value: 1, unit: 'flows' },
    ]);
  });

  it('hostgroup, bgp, attacks, escalation', async () => {
    const hg = (await call(ctx, 'GET', '/hostgroup')).json.values as Record<string, unknown>[];
    assert.deepEqual(
      hg.map((h) => [h.name, h.networks]),
      [
        ['default', []],
        ['web', ['203.0.113.0/28']],
      ],
    );
    assert.equal(hg[0]!.ban_time, 1800);
    const bgp = (await call(ctx, 'GET', '/bgp')).json.values as Record<string, unknown>[];
    assert.deepEqual(
      bgp.map((p) => [p.name, p.state]),
      [
        ['gobgp', 'Established'],
        ['bird', 'Active'],
      ],
    );
    await ctx.mgr.onAttack(attack('203.0.113.10'));
    const at = (await call(ctx, 'GET', '/attacks')).json.values as Record<string, unknown>[];
    assert.equal(at.length, 1);
    assert.equal(at[0]!.ip, '203.0.113.10');
    assert.equal(at[0]!.scope, 'host');
    assert.equal(at[0]!.banned, true);
    assert.equal((at[0]!.attack_details as Record<string, unknown>).attack_type, 'syn_flood');
    assert.equal((at[0]!.mitigations as string[]).length, 1);
    assert.deepEqual((await call(ctx, 'GET', '/escalation')).json, { success: true, values: [] });
    ctx.escalations.push({ host: '203.0.113.10', prefix: '203.0.113.0/24', state: 'escalated' });
    assert.deepEqual(((await call(ctx, 'GET', '/escalation')).json.values as unknown[]).length, 1);
    for (const m of ctx.mgr.list()) await ctx.mgr.remove(m.uuid, 'test');
  });

  it('reload: success and a failure with its reason', async () => {
    assert.deepEqual((await call(ctx, 'PUT', '/reload')).json, { success: true });
    ctx.reloadError.msg = 'breakwater.yaml:3:5: unknown key "netwroks"';
    const r = await call(ctx, 'PUT', '/reload');
    assert.equal(r.status, 400);
    assert.equal(
      r.json.error_text,
      'reload failed, the running config is unchanged: breakwater.yaml:3:5: unknown key "netwroks"',
    );
    ctx.reloadError.msg = null;
    assert.equal((await call(ctx, 'GET', '/reload')).status, 405);
  });

  it('unknown endpoints 404, wrong methods 405', async () => {
    const nf = await call(ctx, 'GET', '/nope');
    assert.equal(nf.status, 404);
    assert.deepEqual(nf.json, { success: false, error_text: 'no such endpoint: /nope' });
    const enc = await call(ctx, 'GET', '/single_host_counters/%E0%A4%A');
    assert.equal(enc.status, 400);
    assert.match(enc.json.error_text as string, /bad percent-encoding/);
    const wm = await call(ctx, 'DELETE', '/bgp');
    assert.equal(wm.status, 405);
    assert.equal(wm.headers.get('allow'), 'GET');
  });

  it('GET /metrics passes promtool check metrics', async () => {
    const r = await fetch(`${ctx.base}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await r.text();
    assert.match(text, /^breakwater_bgp_peer_up\{peer="gobgp",address="127\.0\.0\.2"\} 1$/m);
    assert.match(text, /^breakwater_bgp_messages_sent_total\{peer="gobgp",address="127\.0\.0\.2"\} 12$/m);
    assert.match(text, /^breakwater_capture_malformed_total\{exporter="127\.0\.0\.5",protocol="sflow"\} 1$/m);
    assert.match(
      text,
      /^breakwater_top_host_rate\{host="203\.0\.113\.10",unit="packets",direction="incoming"\} 900$/m,
    );
    assert.match(text, /^breakwater_traffic_packets_per_second\{direction="incoming"\} 1500$/m);
    assert.match(text, /^breakwater_mitigations_active\{kind="blackhole",dry_run="false"\} 0$/m);
    assert.match(text, /^breakwater_notify_runs_total\{outcome="timeout"\} 0$/m);
    const which = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' });
    if (which.status !== 0) {
      // promtool comes from Debian's prometheus package; CI installs it, so there it must exist.
      assert.ok(!process.env.CI, 'promtool is required under CI (apt-get install prometheus)');
      console.log('# promtool not installed: Prometheus text only checked by the regexes above');
      return;
    }
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
  });
});

describe('API with users (Basic auth)', () => {
  let ctx: Ctx;
  before(async () => {
    ctx = await start({ admin: { password_hash: hashPassword('s3cret pass', { N: 1024, r: 8, p: 1 }) } });
  });
  after(() => ctx.server.close());

  it('hash format and verification', async () => {
    const h = hashPassword('pw', { N: 1024, r: 8, p: 1 });
    assert.match(h, /^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
    assert.equal(await verifyPassword('pw', h), true);
    assert.equal(await verifyPassword('pW', h), false);
    assert.equal(await verifyPassword('pw', 'md5$abc'), false);
    assert.match(parseHash('scrypt$1000$8$1$AAAA$BBBB') as string, /power of two/);
  });

  it('no credentials: 401 with a Basic challenge', async () => {
    const r = await call(ctx, 'GET', '/blackhole');
    assert.equal(r.status, 401);
    assert.match(r.headers.get('www-authenticate') ?? '', /^Basic realm="breakwater"/);
    assert.deepEqual(r.json, {
      success: false,
      error_text: 'authentication required (HTTP Basic, api.users)',
    });
    assert.equal((await fetch(`${ctx.base}/metrics`)).status, 401);
  });

  it('wrong password, unknown user, malformed header: 401', async () => {
    assert.equal((await call(ctx, 'GET', '/blackhole', undefined, 'admin:wrong')).status, 401);
    assert.equal((await call(ctx, 'GET', '/blackhole', undefined, 'root:s3cret pass')).status, 401);
    const r = await fetch(`${ctx.base}/blackhole`, { headers: { authorization: 'Bearer abc' } });
    assert.equal(r.status, 401);
    // nothing was changed by a refused PUT
    assert.equal((await call(ctx, 'PUT', '/blackhole/203.0.113.5', undefined, 'admin:nope')).status, 401);
    assert.equal(ctx.mgr.list().length, 0);
  });

  it('right credentials: 200, twice (second from the verification cache)', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await call(ctx, 'GET', '/blackhole', undefined, 'admin:s3cret pass');
      assert.equal(r.status, 200);
      assert.equal(r.json.success, true);
    }
  });
});
