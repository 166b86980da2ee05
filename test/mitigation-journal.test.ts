import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeLine, encodeLine, Journal } from '../src/mitigation/journal.js';
import type { Mitigation } from '../src/mitigation/types.js';
import { causeText, parseCause } from '../src/mitigation/cause.js';
import { MitigationManager } from '../src/mitigation/manager.js';
import { hostgroup, testConfig } from './fixtures/mitigation/helpers.js';

const WRITER = fileURLToPath(new URL('../../test/fixtures/mitigation/journal-writer.mjs', import.meta.url));
const JOURNAL_MODULE = new URL('../src/mitigation/journal.js', import.meta.url).href;

async function tmp(): Promise<string> {
  return fsp.mkdtemp(join(tmpdir(), 'bw-journal-'));
}

function mk(i: number, expires_at: number | null = null): Mitigation {
  return {
    uuid: `m-${i}`,
    kind: 'blackhole',
    prefix: `203.0.113.${i}/32`,
    ip: `203.0.113.${i}`,
    cause: parseCause('test'),
    hostgroup: 'default',
    started_at: i,
    expires_at,
    communities: ['65535:666'],
    large_communities: [],
    dry_run: false,
  };
}

describe('journal', () => {
  it('line encoding round-trips and detects any changed byte', () => {
    const line = encodeLine({ op: 'add', m: mk(1) }).slice(0, -1);
    assert.deepEqual(decodeLine(line), { op: 'add', m: mk(1) });
    const flipped = line.replace('203.0.113.1/32', '203.0.113.7/32');
    assert.equal(decodeLine(flipped), null);
    assert.equal(decodeLine(line.slice(0, -3)), null);
  });

  it('replays adds, removes and expiry updates across reopen and compaction', async () => {
    const dir = await tmp();
    const { journal } = await Journal.open(dir, { compactMinLines: 5 });
    for (let i = 1; i <= 8; i++) await journal.append({ op: 'add', m: mk(i) });
    await journal.append({ op: 'remove', uuid: 'm-3', reason: 'x', at: 0 });
    await journal.append({ op: 'update', uuid: 'm-4', expires_at: 12345, at: 0 });
    // churn: the journal grows past 4x the active set and compacts itself
    for (let i = 100; i < 120; i++) {
      await journal.append({ op: 'add', m: mk(i) });
      await journal.append({ op: 'remove', uuid: `m-${i}`, reason: 'x', at: 0 });
    }
    assert.ok(journal.stats.compactions >= 1, 'compacted');
    await journal.close();
    const r = await Journal.replay(dir);
    assert.deepEqual(r.mitigations.map((m) => m.uuid).sort(), [
      'm-1',
      'm-2',
      'm-4',
      'm-5',
      'm-6',
      'm-7',
      'm-8',
    ]);
    assert.equal(r.mitigations.find((m) => m.uuid === 'm-4')!.expires_at, 12345);
    assert.equal(r.corrupt_lines, 0);
    const again = await Journal.open(dir);
    assert.equal(again.journal.active().length, 7);
    await again.journal.close();
  });

  it('a journal written before causes were typed (text causes) restores to typed causes, and reads back the same bytes', async () => {
    // Lines exactly as the earlier encodeLine wrote them (sealLine of the entry, cause as text).
    const old = await fsp.readFile(
      fileURLToPath(new URL('../../test/fixtures/mitigation/journal-v1.journal', import.meta.url)),
      'utf8',
    );
    const dir = await tmp();
    await fsp.writeFile(join(dir, 'mitigations.journal'), old);
    const { journal, replay } = await Journal.open(dir);
    assert.equal(replay.corrupt_lines, 0);
    const byUuid = new Map(replay.mitigations.map((m) => [m.uuid, m]));
    assert.deepEqual([...byUuid.keys()].sort(), ['m-attack', 'm-escalation', 'm-hostgroup', 'm-manual']);
    assert.deepEqual(byUuid.get('m-attack')!.cause, {
      kind: 'attack',
      uuid: '6f1c2b9e-0d4a-4e8f-9b1a-3c2d1e0f9a8b',
    });
    assert.equal(byUuid.get('m-attack')!.expires_at, 4102444800001);
    assert.deepEqual(byUuid.get('m-hostgroup')!.cause, { kind: 'hostgroup', name: 'carpet', uuid: 'hg-9' });
    assert.deepEqual(byUuid.get('m-manual')!.cause, { kind: 'manual' });
    assert.deepEqual(byUuid.get('m-escalation')!.cause, { kind: 'escalation', host: '203.0.113.5' });
    // The text the API shows is the text on disk.
    assert.equal(causeText(byUuid.get('m-hostgroup')!.cause), 'hostgroup carpet attack hg-9');
    await journal.close();
    // Open compacted it: the snapshot holds the untouched records byte for byte as the old code wrote them.
    const snapshot = (await fsp.readFile(join(dir, 'mitigations.snapshot'), 'utf8')).split('\n');
    for (const uuid of ['m-hostgroup', 'm-manual', 'm-escalation']) {
      const line = old.split('\n').find((l) => l.includes(`"uuid":"${uuid}"`))!;
      assert.ok(snapshot.includes(line), `${uuid} rewritten as it was`);
    }
    // The restored records become their bans again: the attack's host ban, the hostgroup's ban.
    const mgr = new MitigationManager({
      cfg: testConfig({ hostgroups: [hostgroup('default', []), hostgroup('carpet', ['203.0.113.0/24'])] }),
      now: () => 3000,
    });
    await mgr.restore(replay.mitigations);
    assert.equal(mgr.list().length, 4);
    assert.equal(mgr.audit().owned, 1, 'the attack blackhole is owned by its host ban');
    assert.deepEqual(
      mgr.hostgroupBans().map((b) => [b.hostgroup, b.attackUuid, [...b.uuids]]),
      [['carpet', 'hg-9', ['m-hostgroup']]],
    );
    assert.deepEqual(mgr.audit().problems, []);
  });

  it('a bulk add and a bulk withdrawal are one journal write each, and replay to the same set', async () => {
    const dir = await tmp();
    const { journal } = await Journal.open(dir, { compactMinLines: 100_000 });
    const cfg = testConfig({ hostgroups: [hostgroup('default', [])] });
    const mgr = new MitigationManager({ cfg, journal });
    const ips = Array.from({ length: 150 }, (_, i) => `203.0.113.${i + 1}`);
    const fsyncs = journal.stats.fsyncs;
    const added = await mgr.addManualBlackholes([...ips, 'not-an-address', ips[0]!]);
    assert.equal(journal.stats.fsyncs - fsyncs, 1, 'one fsync for the whole list');
    assert.deepEqual(
      added.map((r) => r.ok),
      [...ips.map(() => true), false, true],
    );
    assert.equal(
      added[151]!.mitigation!.uuid,
      added[0]!.mitigation!.uuid,
      'a repeated address is the same ban',
    );
    assert.equal((await Journal.replay(dir)).mitigations.length, 150);
    const uuids = added.slice(0, 150).map((r) => r.mitigation!.uuid);
    const removed = await mgr.removeMany([...uuids, 'no-such-uuid', uuids[3]!], 'test');
    assert.equal(journal.stats.fsyncs - fsyncs, 2, 'one more fsync for the withdrawal');
    assert.deepEqual(removed, [...uuids.map(() => true), false, false]);
    assert.equal((await Journal.replay(dir)).mitigations.length, 0);
    assert.equal(mgr.list().length, 0);
    await journal.close();
  });

  it('a bulk add whose journal write fails refuses every item and announces none', async () => {
    const failing = {
      append: () => Promise.reject(new Error('disk full')),
      appendMany: () => Promise.reject(new Error('disk full')),
    };
    const mgr = new MitigationManager({
      cfg: testConfig({ hostgroups: [hostgroup('default', [])] }),
      journal: failing,
    });
    const r = await mgr.addManualBlackholes(['203.0.113.1', '203.0.113.2']);
    assert.deepEqual(
      r.map((x) => [x.ok, /could not persist the mitigation: disk full/.test(x.error ?? '')]),
      [
        [false, true],
        [false, true],
      ],
    );
    assert.equal(mgr.list().length, 0);
    assert.deepEqual(mgr.desiredRoutes(), []);
  });

  it('an old journal next to a newer snapshot (crash between the renames) gives the same state', async () => {
    const dir = await tmp();
    const { journal } = await Journal.open(dir, { compactMinLines: 1000 });
    for (let i = 1; i <= 4; i++) await journal.append({ op: 'add', m: mk(i) });
    await journal.append({ op: 'remove', uuid: 'm-2', reason: 'x', at: 0 });
    const oldJournal = await fsp.readFile(join(dir, 'mitigations.journal'));
    await journal.compact();
    await journal.close();
    await fsp.writeFile(join(dir, 'mitigations.journal'), oldJournal);
    const r = await Journal.replay(dir);
    assert.deepEqual(r.mitigations.map((m) => m.uuid).sort(), ['m-1', 'm-3', 'm-4']);
  });

  it('a corrupt line and a torn tail are reported and skipped; intact entries survive', async () => {
    const dir = await tmp();
    const { journal } = await Journal.open(dir, { compactMinLines: 1000 });
    for (let i = 1; i <= 5; i++) await journal.append({ op: 'add', m: mk(i) });
    await journal.close();
    const path = join(dir, 'mitigations.journal');
    const lines = (await fsp.readFile(path, 'utf8')).split('\n');
    lines[2] = lines[2]!.replace('203.0.113.3', '203.0.113.9'); // bit rot in entry 3
    const torn = encodeLine({ op: 'add', m: mk(6) }).slice(0, 40);
    await fsp.writeFile(path, lines.join('\n') + torn);
    const r = await Journal.replay(dir);
    assert.deepEqual(
      r.mitigations.map((m) => m.uuid),
      ['m-1', 'm-2', 'm-4', 'm-5'],
    );
    assert.equal(r.corrupt_lines, 1);
    assert.equal(r.torn_tail, true);
    assert.match(r.problems.join('\n'), /mitigations\.journal:3: bad checksum/);
    // open() keeps a damaged copy, counts, and starts clean so later appends are readable
    const o = await Journal.open(dir);
    assert.equal(o.journal.stats.corrupt_lines, 1);
    assert.equal(o.journal.stats.torn_tail, true);
    await o.journal.append({ op: 'add', m: mk(7) });
    await o.journal.close();
    const files = await fsp.readdir(dir);
    assert.ok(
      files.some((f) => f.startsWith('mitigations.journal.damaged-')),
      files.join(','),
    );
    const r2 = await Journal.replay(dir);
    assert.deepEqual(
      r2.mitigations.map((m) => m.uuid),
      ['m-1', 'm-2', 'm-4', 'm-5', 'm-7'],
    );
    assert.equal(r2.corrupt_lines, 0);
  });

  for (const mode of ['adds', 'churn']) {
    it(`kill -9 mid-writes loses no acknowledged entry (${mode})`, async () => {
      const dir = await tmp();
      const child = spawn(process.execPath, [WRITER, JOURNAL_MODULE, dir, mode], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const acked = new Set<string>();
      const deleted = new Set<string>();
      let buf = '';
      let compactions = 0;
      await new Promise<void>((resolve, reject) => {
        child.on('error', reject);
        child.on('exit', (code, sig) =>
          sig === 'SIGKILL' ? resolve() : reject(new Error(`writer exited early: ${code ?? sig}`)),
        );
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            const m = /^ack (\d+)(?: del (\d+))? compactions (\d+)$/.exec(line);
            if (!m) continue;
            compactions = Number(m[3]);
            acked.add(`m-${m[1]}`);
            if (m[2]) deleted.add(`m-${m[2]}`);
            if (acked.size === 300) child.kill('SIGKILL');
          }
        });
      });
      const r = await Journal.replay(dir);
      const have = new Set(r.mitigations.map((m) => m.uuid));
      for (const u of acked) if (!deleted.has(u)) assert.ok(have.has(u), `acknowledged ${u} lost`);
      for (const u of deleted) assert.ok(!have.has(u), `acknowledged removal of ${u} lost`);
      // at most the in-flight entries beyond the acks may exist (written, not yet acked)
      assert.ok(have.size - (acked.size - deleted.size) <= 5, `unexpected extra entries: ${have.size}`);
      assert.equal(r.corrupt_lines, 0);
      if (mode === 'churn') assert.ok(compactions > 0, 'the writer compacted while being killed');
    });
  }
});
