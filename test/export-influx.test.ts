/**
 * InfluxDB export against Debian's influxd (v1 API, auth on): the daemon writes the series
 * as gzip-compressed line protocol into the configured database and retention policy with
 * its credentials; the test queries them back and compares with the traffic it sent.
 * Wrong credentials are retried, counted and logged once, and detection goes on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import zlib from 'node:zlib';
import { join } from 'node:path';
import { freePort, startDaemon, tempDir } from './helpers/daemon.js';
import { assertDetectsWhileDown, exportMetric, startInflux } from './helpers/servers.js';
import { sflowStream, udpTo } from './helpers/traffic.js';
import { waitFor } from './helpers/routers.js';
import { InfluxTransport, influxLines } from '../src/export/influx.js';
import type { Snapshot } from '../src/export/series.js';

const near = (v: number, want: number, tol = 0.2) => Math.abs(v - want) <= want * tol;
const AUTH = { user: 'bw', password: 's3cret pass' };

function config(dir: string, sflow: number, port: number, password: string): string {
  return `networks: [10.20.0.0/24]
capture: { listeners: [{ name: sflow, type: sflow, address: 127.0.0.1, port: ${sflow} }] }
api: { listen: "127.0.0.1:0" }
state_dir: ${join(dir, 'state')}
policies: policies
detection: { tick: 100ms, window: 1s, dry_run: true }
influxdb: { url: "http://127.0.0.1:${port}", database: bwtest, retention_policy: short, username: ${AUTH.user}, password: "${password}", interval: 500ms, top_hosts: 5 }
`;
}

test('influx line protocol: measurements, tags, fields and ms timestamps', () => {
  const row = (direction: 'incoming' | 'outgoing', cls: 'total' | 'udp', pps: number) => ({
    direction,
    cls,
    pps,
    bps: pps * 4000,
    flows: cls === 'total' ? 3 : null,
  });
  const s: Snapshot = {
    timeMs: 1700000000123,
    total: [row('incoming', 'total', 10)],
    hostgroups: [{ name: 'web', rows: [row('incoming', 'udp', 5)] }],
    hosts: [{ ip: '2001:db8::1', hostgroup: 'web', attacked: true, rows: [row('outgoing', 'total', 2)] }],
    attacksActive: 1,
    attacksStarted: 4,
  };
  const b = influxLines(s);
  assert.equal(
    b.text,
    'breakwater_total,direction=incoming,class=total pps=10,bps=40000,flows=3 1700000000123\n' +
      'breakwater_hostgroup,hostgroup=web,direction=incoming,class=udp pps=5,bps=20000 1700000000123\n' +
      'breakwater_host,host=2001:db8::1,hostgroup=web,direction=outgoing,class=total pps=2,bps=8000,flows=3 1700000000123\n' +
      'breakwater_attacks active=1i,started=4i 1700000000123\n',
  );
  assert.equal(b.points, 4);
});

test('influx transport: POST /write with db, rp, precision, basic auth and a gzip body', async () => {
  let seen = null as { url: string; headers: http.IncomingHttpHeaders; body: string } | null;
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen = { url: req.url!, headers: req.headers, body: zlib.gunzipSync(Buffer.concat(chunks)).toString() };
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  const t = new InfluxTransport({
    url: `http://127.0.0.1:${port}`,
    database: 'db 1',
    retention_policy: 'rp',
    username: 'u',
    password: 'p',
    interval_ms: 1000,
    top_hosts: 1,
  });
  await t.send([
    { text: 'm v=1 1\n', points: 1 },
    { text: 'm v=2 2\n', points: 1 },
  ]);
  t.close();
  srv.close();
  assert.ok(seen);
  const u = new URL(seen!.url, 'http://x');
  assert.equal(u.pathname, '/write');
  assert.equal(u.searchParams.get('db'), 'db 1');
  assert.equal(u.searchParams.get('rp'), 'rp');
  assert.equal(u.searchParams.get('precision'), 'ms');
  assert.equal(seen!.headers['content-encoding'], 'gzip');
  assert.equal(seen!.headers.authorization, `Basic ${Buffer.from('u:p').toString('base64')}`);
  assert.equal(seen!.body, 'm v=1 1\nm v=2 2\n');
});

test('influxdb: series written into the database and retention policy, read back with InfluxQL', {
  timeout: 90_000,
}, async () => {
  const influx = await startInflux({ auth: AUTH });
  await influx.query('CREATE DATABASE bwtest');
  await influx.query('CREATE RETENTION POLICY short ON bwtest DURATION 1h REPLICATION 1');
  const dir = tempDir('influx');
  const sflow = await freePort('udp');
  const d = await startDaemon(dir, config(dir, sflow, influx.port, AUTH.password), {
    'web.yaml': 'prefixes: [10.20.0.0/25]\n',
  });
  const s1 = sflowStream(sflow, '127.0.0.1', 10, 100, () => udpTo('10.20.0.5'));
  const s2 = sflowStream(sflow, '127.0.0.1', 5, 100, () => udpTo('10.20.0.200'));
  try {
    const q = async (text: string): Promise<number | null> => {
      const j = await influx.query(text, 'bwtest');
      const v = j.results?.[0]?.series?.[0]?.values?.[0]?.[1];
      return typeof v === 'number' ? v : null;
    };
    const host = `SELECT last(pps) FROM "bwtest"."short"."breakwater_host" WHERE host = '10.20.0.5' AND direction = 'incoming' AND "class" = 'total'`;
    await waitFor('host series in influx', async () => (await q(host)) !== null, 20000);
    await new Promise((r) => setTimeout(r, 3000));
    const hp = (await q(host))!;
    assert.ok(near(hp, 10000), `host pps ${hp}`);
    const tot = (await q(
      `SELECT last(pps) FROM "short"."breakwater_total" WHERE direction = 'incoming' AND "class" = 'total'`,
    ))!;
    assert.ok(near(tot, 15000), `total ${tot}`);
    const udp = (await q(
      `SELECT last(pps) FROM "short"."breakwater_total" WHERE direction = 'incoming' AND "class" = 'udp'`,
    ))!;
    assert.ok(near(udp, 15000), `udp ${udp}`);
    const web = (await q(
      `SELECT last(pps) FROM "short"."breakwater_hostgroup" WHERE hostgroup = 'web' AND direction = 'incoming' AND "class" = 'total'`,
    ))!;
    assert.ok(near(web, 10000), `web ${web}`);
    const bps = (await q(
      `SELECT last(bps) FROM "short"."breakwater_host" WHERE host = '10.20.0.200' AND direction = 'incoming' AND "class" = 'total'`,
    ))!;
    assert.ok(bps > 5000 * 500 * 8 * 0.8 && bps < 5000 * 518 * 8 * 1.2, `bps ${bps}`);
    assert.equal(await q(`SELECT last(active) FROM "short"."breakwater_attacks"`), 0);
    // Nothing went to the default retention policy.
    assert.equal(await q(`SELECT count(pps) FROM "autogen"."breakwater_total"`), null);
    assert.equal(await exportMetric(d, 'up', 'influxdb'), 1);
    assert.equal(await exportMetric(d, 'errors_total', 'influxdb'), 0);
  } finally {
    s1.stop();
    s2.stop();
    await d.kill();
    await influx.stop();
  }
});

test('influxdb refusing the credentials: retried, counted, logged once; detection goes on', {
  timeout: 90_000,
}, async () => {
  const influx = await startInflux({ auth: AUTH });
  await influx.query('CREATE DATABASE bwtest');
  await influx.query('CREATE RETENTION POLICY short ON bwtest DURATION 1h REPLICATION 1');
  const dir = tempDir('influx-auth');
  const sflow = await freePort('udp');
  const d = await startDaemon(dir, config(dir, sflow, influx.port, 'wrong'), {});
  const s = sflowStream(sflow, '127.0.0.1', 30, 100, () => udpTo('10.20.0.9'));
  try {
    await d.waitLog(/influxdb http:\/\/127\.0\.0\.1:\d+: cannot write \(HTTP 401/, 20000);
    await new Promise((r) => setTimeout(r, 2000));
    await assertDetectsWhileDown(d, 'influxdb', '10.20.0.9', 2);
    assert.equal((d.output().match(/influxdb http:\/\/127\.0\.0\.1:\d+: cannot write/g) ?? []).length, 1);
    const j = await influx.query('SELECT count(pps) FROM "short"."breakwater_total"', 'bwtest');
    assert.equal(j.results[0].series, undefined, 'nothing written without valid credentials');
  } finally {
    s.stop();
    await d.kill();
    await influx.stop();
  }
});
