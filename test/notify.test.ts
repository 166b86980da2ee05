import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { NotifyAction } from '../src/config/types.js';
import {
  hostgroupDocument,
  legacyArgs,
  Notifier,
  textReport,
  type NotifyDocument,
} from '../src/notify/index.js';
import { attack } from './fixtures/mitigation/helpers.js';

const script = (name: string) =>
  fileURLToPath(new URL(`../../test/fixtures/mitigation/${name}`, import.meta.url));

function doc(action: NotifyDocument['action'] = 'ban', dumpEntries = 1): NotifyDocument {
  const rec = attack('203.0.113.10');
  const dump = Array.from({ length: dumpEntries }, () => rec.packet_dump_detailed[0]!);
  return {
    action,
    alert_scope: 'host',
    ip: rec.ip,
    attack_details: rec.details,
    packet_dump_detailed: dump,
    flow_spec_rules: [{ destination_prefix: '203.0.113.10/32', protocols: ['tcp'] }],
  };
}

const act = (p: Partial<NotifyAction>): NotifyAction => ({ format: 'json', timeout_ms: 5000, ...p });

let outDir = '';
before(async () => {
  outDir = await fsp.mkdtemp(join(tmpdir(), 'bw-notify-'));
  process.env.BW_NOTIFY_OUT = outDir;
});

async function recorded(): Promise<{ args: string; stdin: string }[]> {
  const files = (await fsp.readdir(outDir)).filter((f) => f.endsWith('.args')).sort();
  const out = [];
  for (const f of files) {
    out.push({
      args: (await fsp.readFile(join(outDir, f), 'utf8')).trim(),
      stdin: await fsp.readFile(join(outDir, f.replace(/\.args$/, '.stdin')), 'utf8'),
    });
    await fsp.rm(join(outDir, f));
    await fsp.rm(join(outDir, f.replace(/\.args$/, '.stdin')));
  }
  return out;
}

describe('notify scripts', () => {
  it('JSON mode: the document on stdin with FastNetMon Advanced field names, no arguments', async () => {
    const n = new Notifier({ concurrency: 2, webhookRetries: 0 });
    n.notify(doc('ban'), act({ script: script('record.sh') }));
    await n.idle();
    const [r] = await recorded();
    assert.equal(r!.args, '');
    const j = JSON.parse(r!.stdin) as Record<string, unknown>;
    assert.equal(j.action, 'ban');
    assert.equal(j.alert_scope, 'host');
    assert.equal(j.ip, '203.0.113.10');
    const d = j.attack_details as Record<string, unknown>;
    assert.equal(d.attack_uuid, 'a-203.0.113.10');
    assert.equal(d.attack_type, 'syn_flood');
    assert.equal(d.total_incoming_pps, 1_500_000);
    assert.ok(Array.isArray(j.packet_dump_detailed));
    assert.equal((j.packet_dump_detailed as { destination_ip: string }[])[0]!.destination_ip, '203.0.113.10');
    assert.deepEqual(j.flow_spec_rules, [{ destination_prefix: '203.0.113.10/32', protocols: ['tcp'] }]);
    assert.equal(n.outcomes.ok, 1);
  });

  it('legacy text mode: <ip> <direction> <pps> ban|unban and the text report on stdin', async () => {
    const n = new Notifier({ concurrency: 2, webhookRetries: 0 });
    n.notify(doc('ban'), act({ script: script('record.sh'), format: 'text' }));
    await n.idle();
    n.notify(doc('unban'), act({ script: script('record.sh'), format: 'text' }));
    await n.idle();
    const rs = await recorded();
    assert.deepEqual(
      rs.map((r) => r.args),
      ['203.0.113.10 incoming 1500000 ban', '203.0.113.10 incoming 1500000 unban'],
    );
    assert.match(rs[0]!.stdin, /^IP: 203\.0\.113\.10$/m);
    assert.match(rs[0]!.stdin, /attack type: syn_flood/);
    assert.equal(rs[0]!.stdin, textReport(doc('ban')));
    assert.deepEqual(legacyArgs(doc('attack_status')).at(-1), 'attack_details');
  });

  it('hostgroup scope: alert_scope hostgroup with hostgroup_name, in both modes', async () => {
    const n = new Notifier({ concurrency: 2, webhookRetries: 0 });
    const d = hostgroupDocument('ban', 'customers', {
      total_incoming_pps: 2_000_000,
      attack_direction: 'incoming',
    });
    n.notify(d, act({ script: script('record.sh') }));
    await n.idle();
    n.notify(d, act({ script: script('record.sh'), format: 'text' }));
    await n.idle();
    const [j, t] = await recorded();
    const parsed = JSON.parse(j!.stdin) as Record<string, unknown>;
    assert.equal(parsed.alert_scope, 'hostgroup');
    assert.equal(parsed.hostgroup_name, 'customers');
    assert.equal(parsed.ip, undefined);
    assert.equal((parsed.attack_details as Record<string, unknown>).host_group, 'customers');
    assert.equal(t!.args, 'customers incoming 2000000 ban');
    assert.match(t!.stdin, /^Hostgroup: customers$/m);
  });

  it('a script that never reads stdin (EPIPE) does not crash anything', async () => {
    const n = new Notifier({ concurrency: 2, webhookRetries: 0 });
    // ~400 KB document: far more than a pipe buffer, so the write must fail with EPIPE
    n.notify(doc('ban', 2000), act({ script: script('never-reads.sh') }));
    await n.idle();
    assert.equal(n.outcomes.ok, 1, 'exit 0 counts as ok even though stdin was never read');
    assert.equal(n.outcomes.timeout, 0);
  });

  it('a script that hangs past its timeout is killed and counted; notify() never waits for it', async () => {
    const n = new Notifier({ concurrency: 2, webhookRetries: 0 });
    n.notify(doc('ban'), act({ script: script('hangs.sh'), timeout_ms: 300 }));
    n.notify(doc('ban', 2000), act({ script: script('never-reads-hangs.sh'), timeout_ms: 300 }));
    assert.equal(n.busy, 2, 'notify() returned while the scripts run');
    await n.idle();
    assert.equal(n.outcomes.timeout, 2);
  });

  it('a timeout kills the whole process group, including children holding the pipes', {
    timeout: 5000,
  }, async () => {
    const n = new Notifier({ concurrency: 1, webhookRetries: 0 });
    n.notify(doc('ban'), act({ script: script('spawns-child.sh'), timeout_ms: 300 }));
    await n.idle(); // returns only because the background child died with the group
    assert.equal(n.outcomes.timeout, 1);
    const pid = Number(await fsp.readFile(join(outDir, 'child.pid'), 'utf8'));
    await fsp.rm(join(outDir, 'child.pid'));
    // Gone, or a zombie waiting for its new parent (init) to reap it: either way, not running.
    const state = await fsp.readFile(`/proc/${pid}/stat`, 'utf8').then(
      (t) => t.slice(t.lastIndexOf(')') + 2, t.lastIndexOf(')') + 3),
      () => 'gone',
    );
    assert.ok(state === 'gone' || state === 'Z', `background child ${pid} still running (state ${state})`);
  });

  it('a missing script and a crashing one are logged and counted', async () => {
    const n = new Notifier({ concurrency: 2, webhookRetries: 0 });
    n.notify(doc('ban'), act({ script: '/nonexistent/breakwater-notify' }));
    n.notify(doc('ban'), act({ script: script('crashes.sh') }));
    await n.idle();
    assert.equal(n.outcomes.missing, 1);
    assert.equal(n.outcomes.failed, 1);
  });

  it('bounds concurrency; a full queue drops and counts', async () => {
    const n = new Notifier({ concurrency: 2, queueCap: 3, webhookRetries: 0 });
    for (let i = 0; i < 10; i++) n.notify(doc('attack_status'), act({ script: script('slow.sh') }));
    assert.equal(n.busy, 5);
    assert.equal(n.outcomes.dropped, 5);
    await n.idle();
    assert.equal(n.outcomes.ok, 5);
  });
});

describe('webhook', () => {
  let server: http.Server;
  let url = '';
  const seen: { path: string; body: string; type: string | undefined }[] = [];
  let plan: number[] = [];
  before(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        seen.push({ path: req.url ?? '', body, type: req.headers['content-type'] });
        res.statusCode = plan.shift() ?? 200;
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });
  after(() => server.close());

  it('POSTs the same JSON and retries 5xx with backoff until it succeeds', async () => {
    seen.length = 0;
    plan = [503, 500, 200];
    const n = new Notifier({ concurrency: 2, webhookRetries: 3, webhookBackoffMs: 10 });
    n.notify(doc('ban'), act({ webhook: url }));
    await n.idle();
    assert.equal(seen.length, 3);
    assert.equal(seen[0]!.path, '/hook');
    assert.equal(seen[0]!.type, 'application/json');
    const j = JSON.parse(seen[2]!.body) as Record<string, unknown>;
    assert.equal(j.action, 'ban');
    assert.equal(j.ip, '203.0.113.10');
    assert.equal(n.outcomes.webhook_ok, 1);
    assert.equal(n.outcomes.webhook_failed, 0);
  });

  it('gives up after the configured retries, and at once on a 4xx', async () => {
    seen.length = 0;
    plan = [500, 500, 500, 500, 400];
    const n = new Notifier({ concurrency: 1, webhookRetries: 2, webhookBackoffMs: 5 });
    n.notify(doc('unban'), act({ webhook: url }));
    await n.idle();
    assert.equal(seen.length, 3);
    plan = [400];
    n.notify(doc('unban'), act({ webhook: url }));
    await n.idle();
    assert.equal(seen.length, 4);
    assert.equal(n.outcomes.webhook_failed, 2);
  });

  it('a dead endpoint fails after retries without throwing', async () => {
    const dead = http.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const n = new Notifier({ concurrency: 1, webhookRetries: 1, webhookBackoffMs: 5 });
    n.notify(doc('ban'), act({ webhook: `http://127.0.0.1:${port}/x` }));
    await n.idle();
    assert.equal(n.outcomes.webhook_failed, 1);
  });
});
