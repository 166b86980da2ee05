/**
 * Bulk PUT/DELETE /blackhole: every item answered in order, refusals item by item (bad
 * address, outside networks, whitelisted, over the cap), the good ones added in one go
 * (one journal batch: the fake journal sees them before any answer), oversized bodies 413.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiServer } from '../src/api/server.js';
import { MitigationManager } from '../src/mitigation/manager.js';
import type { JournalEntry } from '../src/mitigation/journal.js';
import { fakeFlowspec, hostgroup, testConfig } from './fixtures/mitigation/helpers.js';
import type { ListAnswer } from './helpers/answers.js';

/** A journal that resolves appends on the next tick and records how many arrived together. */
class BatchingJournal {
  entries: JournalEntry[] = [];
  batches: number[] = [];
  private pending = 0;
  append(e: JournalEntry): Promise<void> {
    this.entries.push(e);
    if (this.pending++ === 0) {
      setImmediate(() => {
        this.batches.push(this.pending);
        this.pending = 0;
      });
    }
    return new Promise((r) => setImmediate(r));
  }
}

describe('API: bulk blackholes', () => {
  let base = '';
  let server: ApiServer;
  let mgr: MitigationManager;
  let journal: BatchingJournal;
  before(async () => {
    const cfg = testConfig({
      api: { port: 0 },
      mitigation: { max_blackholes: 5 },
      hostgroups: [hostgroup('default', [])],
    });
    journal = new BatchingJournal();
    mgr = new MitigationManager({ cfg, journal, flowspec: fakeFlowspec });
    server = new ApiServer({ config: () => cfg, manager: mgr });
    const a = await server.listen();
    base = `http://127.0.0.1:${a.port}`;
  });
  after(() => server.close());

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(base + path, {
      method,
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    return { status: res.status, json: (await res.json()) as ListAnswer };
  };

  it('PUT a list: answers each item in order; refusals do not sink the others; the adds share one journal batch', async () => {
    const r = await call('PUT', '/blackhole', [
      '203.0.113.1',
      'nonsense',
      '198.51.100.1',
      '203.0.113.200',
      { ip: '203.0.113.2' },
      42,
      '203.0.113.1',
      '2001:db8::7',
    ]);
    assert.equal(r.status, 200);
    const v = r.json.values;
    assert.equal(v.length, 8);
    assert.deepEqual(
      v.map((x) => x.success),
      [true, false, false, false, true, false, true, true],
    );
    assert.equal(v[0].ip, '203.0.113.1/32');
    assert.match(v[1].error_text, /nonsense/);
    assert.match(v[2].error_text, /outside the configured networks/);
    assert.match(v[3].error_text, /whitelisted/);
    assert.match(v[5].error_text, /item 5/);
    assert.equal(v[6].uuid, v[0].uuid, 'the same host twice is one blackhole');
    assert.equal(v[7].ip, '2001:db8::7/128');
    assert.equal(mgr.list('blackhole').length, 3);
    assert.deepEqual(journal.batches, [3], 'three journal lines, written together');
  });

  it('PUT over the cap: the ones that fit are added, the rest refused with the reason', async () => {
    const r = await call('PUT', '/blackhole', ['203.0.113.3', '203.0.113.4', '203.0.113.5']);
    assert.deepEqual(
      r.json.values.map((x) => x.success),
      [true, true, false],
    );
    assert.match(r.json.values[2].error_text, /max_blackholes \(5\) reached/);
  });

  it('DELETE a list of uuids: each answered; unknown ones refused', async () => {
    const uuids = mgr.list('blackhole').map((m) => m.uuid);
    const r = await call('DELETE', '/blackhole', [uuids[0], 'no-such', uuids[1], 7]);
    assert.deepEqual(
      r.json.values.map((x) => x.success),
      [true, false, true, false],
    );
    assert.equal(mgr.list('blackhole').length, uuids.length - 2);
  });

  it('the same uuid twice in one DELETE list is withdrawn once', async () => {
    const [m] = mgr.list('blackhole');
    const before = mgr.list('blackhole').length;
    const r = await call('DELETE', '/blackhole', [m!.uuid, m!.uuid]);
    assert.deepEqual(
      r.json.values.map((x) => x.success),
      [true, false],
    );
    assert.equal(mgr.list('blackhole').length, before - 1);
    // The per-kind count stayed right: the cap still lets exactly the free places in.
    const free = 5 - mgr.list('blackhole').length;
    const add = await call(
      'PUT',
      '/blackhole',
      Array.from({ length: free + 1 }, (_, i) => `203.0.113.${50 + i}`),
    );
    assert.equal(add.json.values.filter((x) => x.success).length, free);
  });

  it('refuses a body that is not a list, and one over 16 MiB with 413', async () => {
    assert.equal((await call('PUT', '/blackhole', { ip: '203.0.113.9' })).status, 400);
    const big = JSON.stringify(Array.from({ length: 1_200_000 }, () => '203.0.113.99'));
    assert.ok(big.length > 16 * 1024 * 1024);
    const res = await fetch(`${base}/blackhole`, { method: 'PUT', body: big }).catch((e: Error) => e);
    if (res instanceof Error) assert.match(res.message, /fetch failed|socket|EPIPE|reset/i);
    else assert.equal(res.status, 413);
  });
});
