import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { hashPassword, verifyPassword } from '../src/api/auth.js';
import { runCtl, table } from '../src/cli/ctl-client.js';
import { ApiServer } from '../src/api/server.js';
import { MitigationManager } from '../src/mitigation/manager.js';
import { attack, FakeJournal, fakeFlowspec, testConfig, zeroRates } from './fixtures/mitigation/helpers.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

describe('breakwater ctl', () => {
  let server: ApiServer;
  let mgr: MitigationManager;
  let api = '';
  const env = { BREAKWATER_API_USER: 'ops', BREAKWATER_API_PASSWORD: 'pa55' };
  before(async () => {
    const cfg = testConfig({
      api: { port: 0, users: { ops: { password_hash: hashPassword('pa55', { N: 1024, r: 8, p: 1 }) } } },
    });
    mgr = new MitigationManager({ cfg, journal: new FakeJournal(), flowspec: fakeFlowspec });
    const rates = [
      zeroRates('203.0.113.10', 'default', { in_packets: 1234, in_bytes: 1_000_000, in_flows: 3 }),
    ];
    server = new ApiServer({
      config: () => cfg,
      manager: mgr,
      detector: {
        hostRates: (ip) => rates.find((r) => r.ip === ip) ?? null,
        top: () => rates,
        totals: () => ({
          in_packets: 1,
          out_packets: 2,
          in_bytes: 3,
          out_bytes: 4,
          in_flows: 5,
          out_flows: 6,
        }),
        hostgroupAttacks: () => [],
      },
      bgpStatus: () => [],
      reload: async () => undefined,
    });
    const a = await server.listen();
    api = `http://127.0.0.1:${a.port}`;
  });
  after(() => server.close());

  async function ctl(
    args: string[],
    e: Record<string, string> = env,
    stdin = '',
  ): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await runCtl(['--api', api, ...args], {
      out: (s) => (out += s),
      err: (s) => (err += s),
      env: e,
      readStdin: async () => stdin,
    });
    return { code, out, err };
  }

  it('blackhole add, list (table and --json), del', async () => {
    const add = await ctl(['blackhole', 'add', '203.0.113.7']);
    assert.equal(add.code, 0, add.err);
    const uuid = /uuid ([0-9a-f-]{36})/.exec(add.out)![1]!;
    assert.match(add.out, /^blackhole 203\.0\.113\.7\/32 announced/);
    const list = await ctl(['blackhole', 'list']);
    const lines = list.out.trim().split('\n');
    assert.match(lines[0]!, /^UUID\s+IP\s+KIND\s+HOSTGROUP\s+CAUSE/);
    assert.ok(lines[1]!.startsWith(`${uuid}  203.0.113.7/32  blackhole  default    manual`), lines[1]);
    const j = await ctl(['--json', 'blackhole', 'list']);
    const parsed = JSON.parse(j.out) as { success: boolean; values: { uuid: string; ip: string }[] };
    assert.deepEqual(
      parsed.values.map((v) => [v.uuid, v.ip]),
      [[uuid, '203.0.113.7/32']],
    );
    assert.equal((await ctl(['blackhole', 'del', uuid])).code, 0);
    assert.equal((await ctl(['blackhole', 'list'])).out, '(none)\n');
  });

  it('flowspec add from an argument and from stdin, list, del', async () => {
    const a = await ctl(['flowspec', 'add', '{"destination_prefix":"203.0.113.9/32","protocols":["udp"]}']);
    assert.equal(a.code, 0, a.err);
    const b = await ctl(
      ['flowspec', 'add', '-'],
      env,
      '{"destination_prefix":"203.0.113.8/32","protocols":["tcp"]}',
    );
    assert.equal(b.code, 0, b.err);
    const list = await ctl(['flowspec', 'list']);
    assert.match(list.out, /\{"destination_prefix":"203\.0\.113\.9\/32","protocols":\["udp"\]\}/);
    const bad = await ctl(['flowspec', 'add', '{nope']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /not valid JSON/);
    for (const m of mgr.list()) assert.equal((await ctl(['flowspec', 'del', m.uuid])).code, 0);
  });

  it('host, top, total, bgp, attacks, escalation, reload', async () => {
    const host = await ctl(['host', '203.0.113.10']);
    assert.match(host.out, /^203\.0\.113\.10 \(hostgroup default\)$/m);
    assert.match(host.out, /^total\s+1234\s+8\.000\s+0\s+0\.000$/m);
    const top = await ctl(['top', 'packets', 'incoming', '--limit', '5']);
    assert.match(top.out, /^203\.0\.113\.10\s+default\s+1234\s+8\.000\s+3$/m);
    assert.match((await ctl(['total'])).out, /incoming traffic\s+1\s+pps/);
    assert.equal((await ctl(['bgp'])).out, '(none)\n');
    assert.equal((await ctl(['attacks'])).out, '(none)\n');
    assert.equal((await ctl(['escalation'])).out, '(none)\n');
    assert.equal((await ctl(['reload'])).out, 'config reloaded\n');
  });

  it('API errors and auth failures are one line with the reason', async () => {
    const out = await ctl(['blackhole', 'add', '198.51.100.1']);
    assert.equal(out.code, 1);
    assert.equal(out.err, 'breakwater ctl: 198.51.100.1/32 is outside the configured networks\n');
    const noauth = await ctl(['bgp'], {});
    assert.equal(noauth.code, 1);
    assert.match(noauth.err, /authentication required.*use --user\/--password/);
    const wrong = await ctl(['--user', 'ops', '--password', 'x', 'bgp'], {});
    assert.match(wrong.err, /wrong user name or password/);
    const usage = await ctl(['blackhole', 'add']);
    assert.equal(usage.code, 2);
    const down = await runCtl(['--api', 'http://127.0.0.1:9', 'bgp'], {
      out: () => undefined,
      err: (s) => assert.match(s, /cannot reach the API at http:\/\/127\.0\.0\.1:9/),
      env: {},
    });
    assert.equal(down, 1);
  });

  it('table() aligns columns', () => {
    assert.equal(
      table(
        [
          { a: 'x', b: 1 },
          { a: 'longer', b: null },
        ],
        ['a', 'b'],
      ),
      'A       B\nx       1\nlonger  -\n',
    );
  });
});

describe('ctl tables for people: durations, peaks, its own usage, ISO times', () => {
  let server: ApiServer;
  let mgr: MitigationManager;
  let api = '';
  const escalations: unknown[] = [];
  before(async () => {
    const cfg = testConfig({ api: { port: 0 } });
    mgr = new MitigationManager({ cfg, journal: new FakeJournal(), flowspec: fakeFlowspec });
    server = new ApiServer({
      config: () => cfg,
      manager: mgr,
      bgpStatus: () => [
        {
          name: 'edge1',
          address: '127.0.0.2',
          remote_as: 65001,
          state: 'Established',
          uptime_s: 3725,
          last_error: null,
          messages_in: 1,
          messages_out: 1,
          updates_in: 0,
          updates_out: 1,
          prefixes_in: 0,
          prefixes_out: 1,
          families: ['ipv4-unicast'],
        },
        {
          name: 'edge2',
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
      ],
      escalations: () => escalations,
    });
    api = `http://127.0.0.1:${(await server.listen()).port}`;
  });
  after(() => server.close());

  async function ctl(args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await runCtl(['--api', api, ...args], {
      out: (s) => (out += s),
      err: (s) => (err += s),
      env: {},
    });
    return { code, out, err };
  }

  it("top with a bad unit or direction prints ctl's usage, not the API's", async () => {
    for (const [args, why] of [
      [['top', 'bogus'], "unknown unit 'bogus'"],
      [['top', 'bytes', 'sideways'], "unknown direction 'sideways'"],
      [['top', 'bytes', 'incoming', 'extra'], "unexpected 'extra'"],
    ] as const) {
      const r = await ctl([...args]);
      assert.equal(r.code, 2, r.err);
      assert.equal(
        r.err,
        `breakwater ctl: usage: breakwater ctl top [packets|bytes|flows] [incoming|outgoing] [--limit N] (${why})\n`,
      );
      assert.doesNotMatch(r.err, /GET \/host_counters/);
    }
  });

  it('hostgroup BAN_TIME and bgp UPTIME are durations', async () => {
    const hg = (await ctl(['hostgroup'])).out.split('\n');
    assert.match(hg[0]!, /BAN_TIME\s+BAN_THRESHOLDS/);
    assert.match(hg[1]!, /^default\s.*\s30m\s+incoming total 20000 pps, incoming total 1000 Mbps\s/);
    const bgp = (await ctl(['bgp'])).out;
    assert.match(bgp, /^NAME\s+ADDRESS\s+REMOTE_AS\s+STATE\s+UPTIME\s/m);
    assert.match(bgp, /^edge1\s+127\.0\.0\.2\s+65001\s+Established\s+1h2m5s\s/m);
    assert.match(bgp, /^edge2\s+127\.0\.0\.3\s+65002\s+Active\s+-\s/m);
  });

  it('attacks: times in ISO 8601 in the API; ctl shows the peak, also once the attack is over', async () => {
    const rec = attack('203.0.113.10');
    await mgr.onAttack(rec);
    const live = await ctl(['--json', 'attacks']);
    const v = (JSON.parse(live.out) as { values: Record<string, unknown>[] }).values[0]!;
    const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
    assert.match(String(v.started_at), ISO);
    assert.equal(v.finished_at, null);
    assert.match(String(v.ban_expires_at), ISO, 'same format as /blackhole expires_at');
    const bans = (
      JSON.parse((await ctl(['--json', 'blackhole'])).out) as { values: Record<string, unknown>[] }
    ).values;
    assert.equal(bans[0]!.expires_at, v.ban_expires_at);
    const active = (await ctl(['attacks'])).out.split('\n');
    assert.match(active[0]!, /^UUID\s+IP\s+HOSTGROUP\s+TYPE\s+PPS\s+PEAK_PPS\s+STATE\s+STARTED_AT$/);
    assert.match(
      active[1]!,
      /203\.0\.113\.10\s+default\s+syn_flood\s+1500000\s+1500000\s+active\s+1970-01-01T00:00:00\.000Z$/,
    );
    // The attack ends: its last rates are 0, the peak stays.
    mgr.onAttackFinished({
      ...rec,
      details: { ...rec.details, total_incoming_pps: 0, peak_attack_power: 2_000_000 },
    });
    const over = (await ctl(['attacks'])).out.split('\n');
    assert.match(over[1]!, /203\.0\.113\.10\s+default\s+syn_flood\s+-\s+2000000\s+banned\s/);
    const j = JSON.parse((await ctl(['--json', 'attacks'])).out) as { values: Record<string, unknown>[] };
    assert.match(String(j.values[0]!.finished_at), ISO);
    for (const m of mgr.list()) await mgr.remove(m.uuid, 'test');
  });

  it('escalation: the hostgroups it covers and its crossing in units', async () => {
    escalations.push({
      uuid: 'e-1',
      prefix: '203.0.113.0/24',
      hostgroup: 'default',
      covers: ['default', 'web'],
      hosts: ['203.0.113.10'],
      since: '2026-01-01T00:00:00.000Z',
      last_above: '2026-01-01T00:00:10.000Z',
      runs_below: 0,
      state: 'above',
      dry_run: false,
      next_hop: '192.0.2.66',
      communities: ['65535:666'],
      large_communities: [],
      trigger: {
        host: '203.0.113.10',
        direction: 'incoming',
        class: 'udp',
        unit: 'mbps',
        value: 812.3,
        threshold: 100,
        source: 'current',
      },
    });
    const out = (await ctl(['escalation'])).out.split('\n');
    assert.match(
      out[0]!,
      /^PREFIX\s+STATE\s+HOSTGROUP\s+COVERS\s+HOSTS\s+TRIGGER\s+RUNS_BELOW\s+SINCE\s+DRY_RUN\s+UUID$/,
    );
    assert.ok(
      out[1]!.includes(
        '203.0.113.0/24  above  default    default web  203.0.113.10  203.0.113.10: incoming udp 812 Mbps > 100 Mbps (current)',
      ),
      out[1],
    );
    escalations.length = 0;
  });
});

describe('breakwater hash-password', () => {
  it('reads stdin, prints a hash the API accepts', async () => {
    const r = spawnSync(process.execPath, [MAIN, 'hash-password'], {
      input: 'correct horse\n',
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const hash = r.stdout.trim();
    assert.match(hash, /^scrypt\$16384\$8\$1\$/);
    assert.equal(await verifyPassword('correct horse', hash), true);
    assert.equal(await verifyPassword('correct horse\n', hash), false);
    const empty = spawnSync(process.execPath, [MAIN, 'hash-password'], { input: '', encoding: 'utf8' });
    assert.equal(empty.status, 1);
    assert.match(empty.stderr, /empty password/);
  });
});
