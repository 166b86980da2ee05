/**
 * Redis export against Debian's redis-server: on a ban the daemon writes the attack's
 * record and samples under <key_prefix><ip>_information / _packets_dump with the TTL, and
 * publishes ban and unban on the channel; redis-cli (a separate client) reads them back.
 * A Redis that is down does not hold up the ban; events wait in the queue and are
 * written when it comes back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { freePort, startDaemon, tempDir } from './helpers/daemon.js';
import { assertDetectsWhileDown, exportMetric, requireBinary, startRedis } from './helpers/servers.js';
import { sflowStream, udpTo } from './helpers/traffic.js';
import { waitFor } from './helpers/routers.js';
import { encodeCommand, RespParser, RedisError } from '../src/export/resp.js';

const run = promisify(execFile);

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--raw', ...args]);
  return stdout.replace(/\n$/, '');
}

function subscribe(port: number, channel: string): { messages(): string[]; stop(): void } {
  const p = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--raw', 'SUBSCRIBE', channel], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return {
    // --raw prints "message", channel, payload on three lines per message.
    messages: () => {
      const l = out.split('\n');
      const m: string[] = [];
      for (let i = 0; i + 2 < l.length; i++)
        if (l[i] === 'message' && l[i + 1] === channel) m.push(l[i + 2]!);
      return m;
    },
    stop: () => p.kill(),
  };
}

const POLICY = 'name: default\nactions: { ban_time: 3s, unban_only_if_attack_finished: false }\n';

function config(dir: string, sflow: number, redisPort: number): string {
  return `networks: [10.20.0.0/24]
capture: { listeners: [{ name: sflow, type: sflow, address: 127.0.0.1, port: ${sflow} }] }
api: { listen: "127.0.0.1:0" }
state_dir: ${join(dir, 'state')}
policies: policies
detection: { tick: 100ms, window: 1s, dry_run: true }
redis: { url: "redis://127.0.0.1:${redisPort}/0", key_prefix: "bw_", ttl: 1h, channel: bw_events }
`;
}

test('resp: commands encode as RESP arrays; replies parse across chunk boundaries', () => {
  assert.equal(encodeCommand(['SET', 'k', 'é']), '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\né\r\n');
  const p = new RespParser();
  const wire = Buffer.from('+OK\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*2\r\n$1\r\na\r\n:1\r\n-ERR bad\r\n');
  const got: unknown[] = [];
  for (let i = 0; i < wire.length; i += 3) got.push(...p.push(wire.subarray(i, i + 3)));
  assert.deepEqual(got.slice(0, 5), ['OK', 42, 'hello', null, ['a', 1]]);
  assert.ok(got[5] instanceof RedisError && got[5].message === 'ERR bad');
});

test('redis: ban writes the attack record and samples with the TTL, ban and unban are published', {
  timeout: 90_000,
}, async () => {
  await requireBinary('redis-cli', 'redis-tools');
  const redis = await startRedis();
  const sub = subscribe(redis.port, 'bw_events');
  const dir = tempDir('redis');
  const sflow = await freePort('udp');
  const d = await startDaemon(dir, config(dir, sflow, redis.port), { 'default.yaml': POLICY });
  // 30,000 pps of UDP to 10.20.0.9 from port 53: over the default ban threshold (20,000 pps).
  const s = sflowStream(sflow, '127.0.0.1', 30, 100, () => udpTo('10.20.0.9', 53, 40000));
  try {
    const info = await waitFor(
      'the _information key',
      async () => (await cli(redis.port, 'GET', 'bw_10.20.0.9_information')) || null,
      20000,
    );
    const rec = JSON.parse(info);
    assert.equal(rec.action, 'ban');
    assert.equal(rec.ip, '10.20.0.9');
    assert.match(rec.attack_uuid, /^[0-9a-f-]{36}$/);
    assert.equal(rec.attack_details.attack_uuid, rec.attack_uuid);
    assert.equal(rec.attack_details.attack_direction, 'incoming');
    assert.equal(rec.attack_details.attack_protocol, 'udp');
    assert.ok(rec.attack_details.total_incoming_pps > 20000, JSON.stringify(rec.attack_details));
    const dump = JSON.parse(await cli(redis.port, 'GET', 'bw_10.20.0.9_packets_dump'));
    assert.ok(Array.isArray(dump) && dump.length > 0, 'samples written');
    assert.equal(dump[0].destination_ip, '10.20.0.9');
    assert.equal(dump[0].source_port, 53);
    assert.equal(dump[0].protocol, 'udp');
    const ttl = Number(await cli(redis.port, 'PTTL', 'bw_10.20.0.9_information'));
    assert.ok(ttl > 3_500_000 && ttl <= 3_600_000, `ttl ${ttl}`);
    s.stop();
    // ban_time 3s, unban regardless of the attack: the unban event follows.
    const msgs = await waitFor(
      'ban and unban on the channel',
      async () => {
        const m = sub.messages().map((x) => JSON.parse(x));
        return m.some((x) => x.action === 'unban') ? m : null;
      },
      30000,
    );
    assert.deepEqual(
      msgs.map((m) => m.action),
      ['ban', 'unban'],
    );
    assert.equal(msgs[0].ip, '10.20.0.9');
    assert.equal(msgs[0].attack_uuid, rec.attack_uuid);
    assert.equal(msgs[1].attack_uuid, rec.attack_uuid);
    assert.equal(await exportMetric(d, 'points_total', 'redis'), 4);
    assert.equal(await exportMetric(d, 'up', 'redis'), 1);
  } finally {
    s.stop();
    sub.stop();
    await d.kill();
    await redis.stop();
  }
});

test('redis down: the ban goes ahead, the failure is counted, the record is written once Redis is up', {
  timeout: 90_000,
}, async () => {
  await requireBinary('redis-cli', 'redis-tools');
  const dir = tempDir('redis-down');
  const [sflow, port] = [await freePort('udp'), await freePort('tcp')];
  const d = await startDaemon(dir, config(dir, sflow, port), { 'default.yaml': POLICY.replace('3s', '10m') });
  const s = sflowStream(sflow, '127.0.0.1', 30, 100, () => udpTo('10.20.0.9'));
  let redis: Awaited<ReturnType<typeof startRedis>> | null = null;
  try {
    await d.waitLog(/redis redis:\/\/127\.0\.0\.1:\d+\/0: cannot write/, 20000);
    await assertDetectsWhileDown(d, 'redis', '10.20.0.9');
    // Same port: the exporter reconnects with backoff.
    const { mkdtempSync } = await import('node:fs');
    const rdir = mkdtempSync(join(dir, 'r'));
    const p = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', rdir, '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    redis = {
      host: '127.0.0.1',
      port,
      dir: rdir,
      output: () => '',
      stop: () =>
        new Promise<void>((r) => {
          if (p.exitCode !== null) return r();
          p.once('exit', () => r());
          p.kill();
        }),
    };
    const info = await waitFor(
      'the record once Redis is up',
      async () => (await cli(port, 'GET', 'bw_10.20.0.9_information').catch(() => '')) || null,
      45000,
    );
    assert.equal(JSON.parse(info).action, 'ban');
    await d.waitLog(/redis redis:\/\/127\.0\.0\.1:\d+\/0: writing again/, 10000);
  } finally {
    s.stop();
    await d.kill();
    await redis?.stop();
  }
});
