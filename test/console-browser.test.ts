/**
 * The console in a real browser (Debian's chromium through puppeteer-core) against a real
 * daemon fed a replayed sFlow SYN flood, peering with a real GoBGP. What an operator does:
 * open the overview (no console errors, first render timed), watch the attack appear over
 * SSE (latency from detection to the row on screen measured), open the attack page
 * (samples, FlowSpec rule and its explanation, pcap link), withdraw its blackhole (gone at
 * GoBGP), add and withdraw a manual blackhole as admin with CSRF; a read user sees no
 * buttons and gets 403; a request without the token gets 403; restart the daemon and find
 * the attack in the history. Screenshots of each page go to dist/screenshots/.
 * Fails (never skips) when chromium or gobgpd is missing: .ci/run installs both.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { hashPassword } from '../src/api/auth.js';
import {
  FIXTURES,
  ROOT,
  freePort,
  replay,
  startDaemon,
  tempDir,
  type DaemonHandle,
} from './helpers/daemon.js';
import { haveBinary, startGobgp, waitFor, type Router } from './helpers/routers.js';
import type {
  HistoryAttackAnswer,
  ListAnswer,
  MitigationAnswer,
  ObjectAnswer,
  TrafficAnswer,
} from './helpers/answers.js';

// Page-side code runs in the browser; the test's own lib has no DOM types: the little it uses.
interface PageElement {
  readonly textContent: string | null;
  readonly parentElement: PageElement | null;
  getAttribute(name: string): string | null;
}
declare const document: { readonly body: PageElement; querySelector(selector: string): PageElement | null };
declare function getComputedStyle(e: PageElement): { readonly display: string };

const CHROMIUM = '/usr/bin/chromium';
const BW = '127.0.0.181';
const ROUTER = '127.0.0.182';
const VICTIM = '203.0.113.10';
const SHOTS = join(ROOT, 'dist', 'screenshots');
const FAST = { N: 1024, r: 8, p: 1 };

function config(dir: string, sflow: number, bgpPort: number): string {
  return `
networks: [203.0.113.0/24]
capture:
  listeners: [{ name: sf, type: sflow, address: 127.0.0.1, port: ${sflow} }]
api:
  listen: "127.0.0.1:0"
  users:
    admin: { password_hash: "${hashPassword('admin-pw', FAST)}" }
    viewer: { password_hash: "${hashPassword('viewer-pw', FAST)}", role: read }
bgp:
  local_as: 65010
  router_id: 192.0.2.254
  peers:
    - { name: gobgp, address: ${ROUTER}, port: ${bgpPort}, local_address: ${BW}, remote_as: 65001, hold_time: 9, families: [ipv4-unicast, ipv4-flowspec] }
state_dir: ${join(dir, 'state')}
policies: ./policies
`;
}

const POLICY = `
name: default
thresholds:
  ban:
    incoming: { total: { pps: 20000 } }
actions:
  ban_time: 10m
  blackhole: { enabled: true, communities: ["65535:666"], next_hop: { ipv4: 192.0.2.1 } }
  flowspec: { enabled: true }
`;

async function openPage(browser: Browser, user: string, password: string, errors: string[]): Promise<Page> {
  const ctx = await browser.createBrowserContext();
  const page = await ctx.newPage();
  await page.authenticate({ username: user, password });
  await page.setViewport({ width: 1440, height: 1000 });
  // Failed requests are checked by URL below (some refusals are the point of the test).
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource/.test(m.text()))
      errors.push(`${user}: console: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400)
      errors.push(`${user}: HTTP ${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
  });
  page.on('pageerror', (e) => errors.push(`${user}: page error: ${(e as Error).message}`));
  return page;
}

/**
 * Click what `selector` finds now: the live pages re-render rows and buttons on every update,
 * so a node found a moment ago may be replaced before the click lands; look it up again.
 */
async function clickLive(page: Page, selector: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await page.click(selector);
      return;
    } catch (e) {
      if (attempt >= 5 || !/detached|not clickable|No node found/i.test((e as Error).message)) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function unicast(r: Router): Promise<string[]> {
  return (await r.getRoutes('ipv4-unicast')).map((x) => x.prefix).sort();
}

function basic(user: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

test('the console: live attack over SSE, attack page, admin withdraw at GoBGP, read role, CSRF, history after restart', {
  timeout: 170_000,
}, async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
  assert.ok(await haveBinary('gobgpd'), 'gobgpd is missing: apt-get install gobgpd (.ci/run does)');
  mkdirSync(SHOTS, { recursive: true });
  const dir = tempDir('console');
  const bgpPort = await freePort('tcp', ROUTER);
  const sflow = await freePort('udp');
  const router = await startGobgp({
    address: ROUTER,
    port: bgpPort,
    asn: 65001,
    peers: [{ address: BW, asn: 65010, passive: true }],
  });
  let d: DaemonHandle | undefined;
  let browser: Browser | undefined;
  const errors: string[] = [];
  try {
    d = await startDaemon(dir, config(dir, sflow, bgpPort), { 'default.yaml': POLICY });
    const daemon = d;
    const api = async <T = unknown>(method: string, path: string) => {
      const r = await fetch(`http://127.0.0.1:${daemon.apiPort}${path}`, {
        method,
        headers: basic('admin', 'admin-pw'),
      });
      return { status: r.status, json: (await r.json()) as T };
    };
    await router.waitEstablished(BW, 20_000);
    const base = () => `http://127.0.0.1:${daemon.apiPort}`;
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${mkdtempSync(join(tmpdir(), 'bw-chromium-'))}`,
      ],
    });

    // 1. The overview opens and renders from the first SSE snapshot.
    const admin = await openPage(browser, 'admin', 'admin-pw', errors);
    const t0 = Date.now();
    await admin.goto(`${base()}/ui/`, { waitUntil: 'domcontentloaded' });
    await admin.waitForSelector('body[data-ready]', { timeout: 10_000 });
    const firstRender = Date.now() - t0;
    await admin.waitForSelector('#live.live', { timeout: 5_000 });
    assert.match(await admin.$eval('#peers', (e) => e.textContent ?? ''), /gobgp.*Established/s);
    assert.match(await admin.$eval('#active-attacks', (e) => e.textContent ?? ''), /no attack in progress/);
    assert.match(await admin.$eval('#who', (e) => e.textContent ?? ''), /admin \(admin\)/);
    await admin.screenshot({ path: join(SHOTS, 'overview-idle.png'), fullPage: true });

    // 2. A SYN flood: the attack appears on the overview through SSE, with type and victim.
    const replaying = replay(join(FIXTURES, 'flows/syn_flood.sflow.pcap'), `127.0.0.1:${sflow}`);
    // Read the row in one go inside the page: the overview re-renders it on every update, so a
    // handle held across calls can be detached from the document in between.
    const seen = await admin.waitForFunction(
      () => {
        const tr = document.querySelector('#active-attacks tr[data-uuid]');
        return tr
          ? {
              uuid: tr.getAttribute('data-uuid'),
              renderedAt: tr.getAttribute('data-rendered-at'),
              text: tr.textContent ?? '',
            }
          : null;
      },
      { timeout: 15_000 },
    );
    const first = (await seen.jsonValue())!;
    const uuid = first.uuid!;
    const renderedAt = Number(first.renderedAt);
    assert.match(first.text, /203\.0\.113\.10.*syn_flood.*incoming/);
    await replaying;
    const attack = (await api<ObjectAnswer<HistoryAttackAnswer>>('GET', `/attacks/${uuid}`)).json.object;
    const detectedAt = Date.parse(attack.started_at);
    const sseLatency = renderedAt - detectedAt;
    assert.ok(sseLatency >= 0 && sseLatency < 2000, `detection to screen took ${sseLatency} ms`);
    // The exporter and the ban show up on the next ticks.
    await admin.waitForFunction(
      () => /127\.0\.0\.1/.test(document.querySelector('#exporters')?.textContent ?? ''),
      { timeout: 5_000 },
    );
    await admin.waitForFunction(
      () => Number(document.querySelector('[data-kind="blackhole"]')?.textContent) >= 1,
      { timeout: 10_000 },
    );
    await waitFor('the ban at GoBGP', async () => (await unicast(router)).includes(`${VICTIM}/32`), 10_000);
    await admin.screenshot({ path: join(SHOTS, 'overview-attack.png'), fullPage: true });

    // 3. The attack page: timeline, samples, the FlowSpec rule and its explanation, the pcap.
    await clickLive(admin, `#active-attacks tr[data-uuid="${uuid}"] a[href^="#/attack/"]`);
    await admin.waitForSelector('#timeline li[data-event="banned"]', { timeout: 5_000 });
    assert.match(await admin.$eval('h1', (e) => e.textContent ?? ''), /syn_flood on 203\.0\.113\.10/);
    const samples = await admin.$$eval('#samples tbody tr', (trs) => trs.map((tr) => tr.textContent ?? ''));
    assert.ok(
      samples.length > 0 && samples.every((t) => t.includes(VICTIM)),
      `samples: ${samples.slice(0, 2)}`,
    );
    assert.match(
      await admin.$eval('#flowspec-rules', (e) => e.textContent ?? ''),
      /"destination_prefix":"203\.0\.113\.10\/32"/,
    );
    assert.match(
      await admin.$eval('#flowspec-explanation', (e) => e.textContent ?? ''),
      /rule\(s\) cover .* of \d+ sampled attack packets/,
    );
    const pcapHref = await admin.$eval('a[download]', (a) => a.getAttribute('href'));
    assert.equal(pcapHref, `/attacks/${uuid}/pcap`);
    const pcap = await fetch(`${base()}${pcapHref}`, { headers: basic('viewer', 'viewer-pw') });
    assert.equal(pcap.status, 200);
    assert.equal(Buffer.from(await pcap.arrayBuffer()).readUInt32LE(0), 0xa1b2c3d4, 'a pcap file');
    await admin.screenshot({ path: join(SHOTS, 'attack.png'), fullPage: true });

    // 4. The admin withdraws the attack's blackhole: the route leaves GoBGP.
    const bh = attack.mitigations.find((m) => m.kind === 'blackhole')!;
    await clickLive(admin, `button.withdraw[data-uuid="${bh.uuid}"]`);
    await waitFor(
      'the ban withdrawn at GoBGP',
      async () => !(await unicast(router)).includes(`${VICTIM}/32`),
      10_000,
    );
    await admin.waitForSelector('#timeline li[data-event="unbanned"]', { timeout: 5_000 });
    assert.match(await admin.$eval('#notice', (e) => e.textContent ?? ''), /withdrawn: blackhole/);

    // 5. A manual blackhole, added and withdrawn from the mitigations page.
    await admin.goto(`${base()}/ui/#/mitigations`, { waitUntil: 'domcontentloaded' });
    await admin.waitForSelector('#mitigations table');
    await admin.type('#bh-ip', '203.0.113.77');
    await admin.keyboard.press('Enter');
    await waitFor(
      'the manual blackhole at GoBGP',
      async () => (await unicast(router)).includes('203.0.113.77/32'),
      10_000,
    );
    const manual = await admin.waitForSelector(
      '#mitigations tr:has(button.withdraw) ::-p-text(203.0.113.77/32)',
      { timeout: 5_000 },
    );
    assert.ok(manual);
    // Refused like the API refuses it: outside the networks.
    await admin.type('#bh-ip', '198.51.100.1');
    await admin.keyboard.press('Enter');
    await admin.waitForFunction(
      () => /refused: .*198\.51\.100\.1/.test(document.querySelector('#notice')?.textContent ?? ''),
      { timeout: 5_000 },
    );
    await admin.screenshot({ path: join(SHOTS, 'mitigations.png'), fullPage: true });
    const manualUuid = (await api<ListAnswer<MitigationAnswer>>('GET', '/blackhole')).json.values.find(
      (v) => v.ip === '203.0.113.77/32',
    )!.uuid;
    await clickLive(admin, `button.withdraw[data-uuid="${manualUuid}"]`);
    await waitFor(
      'the manual blackhole withdrawn at GoBGP',
      async () => !(await unicast(router)).includes('203.0.113.77/32'),
      10_000,
    );
    // A manual FlowSpec rule, the same way.
    const flows = async () =>
      (await router.getRoutes('ipv4-flowspec'))
        .map((r) => r.prefix)
        .filter((p) => p.includes('203.0.113.80'));
    await admin.type(
      '#fs-rule',
      JSON.stringify({
        destination_prefix: '203.0.113.80/32',
        protocols: ['udp'],
        source_ports: [123],
        action_type: 'discard',
      }),
    );
    await clickLive(admin, '#add-flowspec button[type="submit"]');
    await waitFor('the manual FlowSpec rule at GoBGP', async () => (await flows()).length === 1, 10_000);
    const fsUuid = (await api<ListAnswer<MitigationAnswer>>('GET', '/flowspec')).json.values.find(
      (v) => v.announce!.destination_prefix === '203.0.113.80/32',
    )!.uuid;
    await admin.waitForSelector(`button.withdraw[data-uuid="${fsUuid}"]`, { timeout: 5_000 });
    await clickLive(admin, `button.withdraw[data-uuid="${fsUuid}"]`);
    await waitFor(
      'the manual FlowSpec rule withdrawn at GoBGP',
      async () => (await flows()).length === 0,
      10_000,
    );

    // 6. CSRF: the same browser, without the token, is refused.
    const noToken = await admin.evaluate(async () => {
      const r = await fetch('/blackhole/203.0.113.78', { method: 'PUT' });
      return { status: r.status, body: (await r.json()) as { error_text: string } };
    });
    assert.equal(noToken.status, 403);
    assert.match(noToken.body.error_text, /CSRF token missing/);
    assert.ok(!(await unicast(router)).includes('203.0.113.78/32'));

    // 7. A read user: everything visible, no buttons, 403 from the endpoint.
    const viewer = await openPage(browser, 'viewer', 'viewer-pw', errors);
    await api('PUT', '/blackhole/203.0.113.79');
    await viewer.goto(`${base()}/ui/#/mitigations`, { waitUntil: 'domcontentloaded' });
    await viewer.waitForSelector('#mitigations ::-p-text(203.0.113.79/32)', { timeout: 5_000 });
    assert.equal(await viewer.$$eval('button.withdraw', (b) => b.length), 0);
    assert.equal(
      await viewer.$eval(
        '#add-blackhole',
        (f) =>
          getComputedStyle(f).display === 'none' || getComputedStyle(f.parentElement!).display === 'none',
      ),
      true,
    );
    const asViewer = await viewer.evaluate(async () => {
      const s = (await (await fetch('/ui/session')).json()) as { role: string; csrf_token: string };
      const list = (await (await fetch('/blackhole')).json()) as { values: { ip: string; uuid: string }[] };
      const uuid = list.values.find((v) => v.ip === '203.0.113.79/32')!.uuid;
      const r = await fetch(`/blackhole/${uuid}`, {
        method: 'DELETE',
        headers: { 'x-csrf-token': s.csrf_token },
      });
      return { role: s.role, status: r.status, body: (await r.json()) as { error_text: string }, uuid };
    });
    const viewerTried = asViewer.uuid;
    assert.equal(asViewer.role, 'read');
    assert.equal(asViewer.status, 403);
    assert.match(asViewer.body.error_text, /read role/);
    assert.ok((await unicast(router)).includes('203.0.113.79/32'), 'the read user withdrew nothing');
    await viewer.screenshot({ path: join(SHOTS, 'mitigations-read-user.png'), fullPage: true });

    // 8. Host and hostgroup pages render.
    await admin.goto(`${base()}/ui/#/host/${VICTIM}`, { waitUntil: 'domcontentloaded' });
    await admin.waitForSelector(`a[href="#/attack/${uuid}"]`, { timeout: 5_000 });
    await admin.waitForFunction(() => /dashed: ban thresholds/.test(document.body.textContent ?? ''), {
      timeout: 5_000,
    });
    await admin.screenshot({ path: join(SHOTS, 'host.png'), fullPage: true });
    await admin.goto(`${base()}/ui/#/hostgroups`, { waitUntil: 'domcontentloaded' });
    await admin.waitForSelector('table ::-p-text(default)', { timeout: 5_000 });
    await admin.waitForSelector('#hostgroup-traffic figure', { timeout: 5_000 });
    const hgTraffic = (await api<ObjectAnswer<TrafficAnswer>>('GET', '/traffic?hostgroup=default')).json
      .object;
    assert.ok(
      hgTraffic.t.length > 0 && Math.max(...hgTraffic.in_pps) > 20_000,
      "the attack is in the default hostgroup's traffic",
    );
    assert.equal((await api('GET', '/traffic?hostgroup=nosuch')).status, 404);
    const total = (await api<ObjectAnswer<TrafficAnswer>>('GET', '/traffic?resolution=1s')).json.object;
    assert.ok(Math.max(...total.in_pps) > 20_000, 'and in the totals');
    await admin.screenshot({ path: join(SHOTS, 'hostgroups.png'), fullPage: true });

    // 9. Restart the daemon: the console reconnects and the attack is in the history.
    await daemon.kill('SIGTERM');
    await daemon.restart();
    await admin.goto(`${base()}/ui/#/history`, { waitUntil: 'domcontentloaded' });
    await admin.waitForSelector(`#history a[href="#/attack/${uuid}"]`, { timeout: 10_000 });
    await clickLive(admin, `#history a[href="#/attack/${uuid}"]`);
    await admin.waitForSelector('#timeline li[data-event="unbanned"]', { timeout: 5_000 });
    await admin.screenshot({ path: join(SHOTS, 'history-attack-after-restart.png'), fullPage: true });

    // Only the refusals this test asked for.
    assert.deepEqual(errors, [
      'admin: HTTP 400 PUT /blackhole/198.51.100.1',
      'admin: HTTP 403 PUT /blackhole/203.0.113.78',
      `viewer: HTTP 403 DELETE /blackhole/${viewerTried}`,
    ]);
    const sizes = await fetch(`${base()}/ui/app.js`, {
      headers: { ...basic('admin', 'admin-pw'), 'accept-encoding': 'gzip' },
    });
    assert.equal(sizes.headers.get('content-encoding'), 'gzip');
    assert.match(sizes.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    console.log(
      `console figures: first render ${firstRender} ms after navigation; SSE detection-to-screen ${sseLatency} ms; screenshots in ${SHOTS}`,
    );
  } finally {
    await browser?.close();
    await d?.kill('SIGKILL');
    await router.stop();
  }
});
