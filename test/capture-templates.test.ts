/**
 * The template store interface (exporter/templates.ts): the decoder keeps templates through
 * it, in memory by default; the file back end persists templates and learned rates and a new
 * decoder restores them (validated entry by entry: a bad one is skipped, not fatal).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlowDecoder, type FlowRecord } from '../src/capture/index.js';
import { FileTemplateStore, MemoryTemplateStore } from '../src/capture/exporter/templates.js';
import { nf9 } from './helpers/forge.js';

const NOW = 1_700_000_000_000;

function collect() {
  const got: { dst4: number; packets: number }[] = [];
  return { got, onFlow: (r: FlowRecord) => void got.push({ dst4: r.dst4, packets: r.packets }) };
}

test('memory store: a template is added once, a repeat changes nothing, its data decodes', () => {
  const store = new MemoryTemplateStore();
  const s = collect();
  let changes = 0;
  const d = new FlowDecoder(s, { templates: store, onStateChange: () => changes++ });
  d.decode(nf9({ seq: 0 }), '127.0.0.1', NOW);
  d.decode(nf9({ seq: 1 }), '127.0.0.1', NOW);
  assert.equal(store.total, 1);
  assert.equal(d.templateTotal, 1);
  assert.equal(changes, 1, 'the unchanged repeat is not a change');
  d.decode(
    nf9({ seq: 2, template: false, recs: [{ dst: '203.0.113.5', packets: 3, bytes: 90 }] }),
    '127.0.0.1',
    NOW,
  );
  assert.deepEqual(s.got, [{ dst4: 0xcb007105, packets: 3 }]);
  assert.equal(store.load(), null, 'nothing persisted in memory');
});

test('file store: saved templates come back in a new decoder, which decodes data at once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-tpl-'));
  const a = new FileTemplateStore(dir, 10_000);
  const d1 = new FlowDecoder(collect(), { templates: a });
  a.source(() => d1.exportStateChunks());
  d1.decode(nf9({ seq: 0, tplId: 300 }), '127.0.0.2', NOW);
  await a.save();
  assert.equal(a.lastError, null);
  assert.equal(a.writes, 1);
  const b = new FileTemplateStore(dir);
  const s = collect();
  const d2 = new FlowDecoder(s, { templates: b });
  assert.equal(d2.restore(), 1);
  assert.equal(b.total, 1);
  d2.decode(
    nf9({ seq: 1, tplId: 300, template: false, recs: [{ dst: '203.0.113.6', packets: 4, bytes: 40 }] }),
    '127.0.0.2',
    NOW,
  );
  assert.deepEqual(s.got, [{ dst4: 0xcb007106, packets: 4 }]);
  assert.equal(d2.stats()[0]!.unknownTemplate, 0);
});

test('file store: a bad entry is skipped, the rest restored; a corrupt file restores nothing and says why', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-tpl-'));
  const good = { id: 256, options: false, scopeCount: 0, fields: [12, 4, 0, 2, 4, 0] };
  writeFileSync(
    join(dir, 'capture-templates.json'),
    JSON.stringify({
      version: 1,
      exporters: {
        '127.0.0.3': { nf9: { '0': { templates: [good, { id: 'x', fields: [1] }], samplers: {}, rate: 0 } } },
        '127.0.0.4': {
          nf9: { '0': { templates: [{ id: 257, fields: [1, 2] }], samplers: { 1: -5 }, rate: 1e12 } },
        },
        '127.0.0.5': [1, 2, 3],
      },
    }),
  );
  const d = new FlowDecoder(collect(), { templates: new FileTemplateStore(dir) });
  assert.equal(d.restore(), 1);
  assert.deepEqual(
    d.stats().map((e) => [e.exporter, e.templates, e.sampling]),
    [
      ['127.0.0.3', 1, {}],
      ['127.0.0.4', 0, {}],
    ],
  );
  const bad = mkdtempSync(join(tmpdir(), 'bw-tpl-'));
  writeFileSync(join(bad, 'capture-templates.json'), '{"version":1,');
  const store = new FileTemplateStore(bad);
  assert.equal(new FlowDecoder(collect(), { templates: store }).restore(), 0);
  assert.match(store.lastError ?? '', /not valid JSON/);
});
