// The console: hash routes, one Server-Sent Events stream per view, the overview page.
import { IN_OUT, RateChart } from './charts.js';
import { ago, api, fmtRate, fmtTime, getSession, h, link, notice, table } from './dom.js';
import type { Attack, Exporter, LiveEvent, Now, One, Peer, Traffic } from './answers.js';
import { attackPage, historyPage, hostgroupsPage, hostPage, mitigationsPage } from './pages.js';

export interface Page {
  readonly el: HTMLElement;
  /** The SSE stream this view listens to (default /events). */
  readonly stream?: string;
  onEvent?(...[name, data]: LiveEvent): void;
  destroy?(): void;
}

const EVENTS = ['snapshot', 'tick', 'attack', 'mitigation', 'host'] as const;

let current: Page | null = null;
let source: EventSource | null = null;

function route(): void {
  const [, name = '', arg = ''] = location.hash.replace(/^#/, '').split('/');
  current?.destroy?.();
  source?.close();
  const page: Page =
    name === 'attack'
      ? attackPage(decodeURIComponent(arg))
      : name === 'host'
        ? hostPage(decodeURIComponent(arg))
        : name === 'mitigations'
          ? mitigationsPage()
          : name === 'hostgroups'
            ? hostgroupsPage()
            : name === 'history'
              ? historyPage()
              : overviewPage();
  current = page;
  const n = document.getElementById('notice')!;
  n.textContent = '';
  n.className = '';
  const main = document.getElementById('main')!;
  main.replaceChildren(page.el);
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a')) {
    if (a.getAttribute('href') === `#/${name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (page.onEvent) {
    const es = new EventSource(page.stream ?? '/events');
    source = es;
    const status = document.getElementById('live')!;
    es.onopen = () => {
      status.textContent = 'live';
      status.className = 'live';
    };
    es.onerror = () => {
      status.textContent = 'reconnecting…';
      status.className = 'stale';
    };
    for (const ev of EVENTS) {
      es.addEventListener(ev, (e) => {
        // The daemon names each event's data (answers.ts); the stream is its word for it.
        if (current === page) page.onEvent!(...([ev, JSON.parse((e as MessageEvent).data)] as LiveEvent));
      });
    }
  }
}

// ---------------------------------------------------------------- overview

function overviewPage(): Page {
  const charts = {
    pps: new RateChart({
      title: 'Packets per second, last 15 minutes',
      unit: 'pps',
      series: IN_OUT,
      windowS: 900,
    }),
    bps: new RateChart({
      title: 'Bits per second, last 15 minutes',
      unit: 'bps',
      series: IN_OUT,
      windowS: 900,
    }),
    pps24: new RateChart({
      title: 'Packets per second, last 24 hours (1 min averages)',
      unit: 'pps',
      series: IN_OUT,
    }),
    bps24: new RateChart({
      title: 'Bits per second, last 24 hours (1 min averages)',
      unit: 'bps',
      series: IN_OUT,
    }),
  };
  const now = h('div', { class: 'now', id: 'now' });
  const active = h('section', { id: 'active-attacks', 'aria-labelledby': 'h-active' });
  const kinds = h('section', { id: 'mitigation-counts', 'aria-labelledby': 'h-kinds' });
  const peers = h('section', { id: 'peers', 'aria-labelledby': 'h-peers' });
  const exporters = h('section', { id: 'exporters', 'aria-labelledby': 'h-exporters' });
  const recent = h('section', { id: 'recent-attacks', 'aria-labelledby': 'h-recent' });
  const attacks = new Map<string, Attack>();
  const renderedAt = new Map<string, number>();
  let pending = false;

  const renderAttacks = () => {
    const list = [...attacks.values()].sort((a, b) => Date.parse(b.started_at) - Date.parse(a.started_at));
    const live = list.filter((a) => a.active || a.banned);
    const rows = live.map((a) => [
      link(`#/host/${encodeURIComponent(a.ip)}`, a.ip),
      link(`#/attack/${a.uuid}`, a.attack_type),
      a.attack_direction,
      fmtRate(a.attack_direction === 'incoming' ? a.current?.in_pps : a.current?.out_pps, 'pps'),
      fmtRate(a.peak_attack_power, 'pps'),
      `${a.threshold.name} ${a.threshold.value}`,
      a.active ? 'under attack' : 'finished, still mitigated',
      a.mitigations
        .filter((m) => m.ended_at === null)
        .map((m) => m.kind)
        .join(', ') || 'none',
      ago(a.started_at),
    ]);
    const t = table(
      ['victim', 'type', 'direction', 'now', 'peak', 'threshold', 'state', 'mitigations', 'started'],
      rows,
      'no attack in progress',
    );
    // Each row carries its attack's uuid and when it was first put on the screen.
    t.querySelectorAll('tbody tr').forEach((tr, i) => {
      const a = live[i];
      if (!a) return;
      if (!renderedAt.has(a.uuid)) renderedAt.set(a.uuid, Date.now());
      tr.setAttribute('data-uuid', a.uuid);
      tr.setAttribute('data-rendered-at', String(renderedAt.get(a.uuid)));
    });
    active.replaceChildren(h('h2', { id: 'h-active' }, `Active attacks (${live.length})`), t);
    const past = list
      .slice(0, 15)
      .map((a) => [
        link(`#/attack/${a.uuid}`, fmtTime(a.started_at)),
        link(`#/host/${encodeURIComponent(a.ip)}`, a.ip),
        a.attack_type,
        a.hostgroup,
        fmtRate(a.peak_attack_power, 'pps'),
        a.finished_at ? fmtTime(a.finished_at) : 'running',
      ]);
    recent.replaceChildren(
      h('h2', { id: 'h-recent' }, 'Recent attacks'),
      table(['started', 'victim', 'type', 'hostgroup', 'peak', 'finished'], past, 'no attack recorded'),
      link('#/history', 'all attacks…'),
    );
  };
  const renderCounts = (c: Record<string, number>) =>
    kinds.replaceChildren(
      h('h2', { id: 'h-kinds' }, 'Active mitigations'),
      h(
        'ul',
        { class: 'counts' },
        ['blackhole', 'flowspec', 'escalation'].map((k) =>
          h('li', {}, h('strong', { 'data-kind': k }, c[k] ?? 0), ` ${k}`),
        ),
      ),
      link('#/mitigations', 'manage…'),
    );
  const renderPeers = (list: Peer[]) =>
    peers.replaceChildren(
      h('h2', { id: 'h-peers' }, 'BGP peers'),
      table(
        ['peer', 'address', 'AS', 'state', 'uptime', 'prefixes out', 'last error'],
        list.map((p) => [
          p.name,
          p.address,
          p.remote_as,
          h('span', { class: p.state === 'Established' ? 'ok' : 'bad' }, p.state),
          p.state === 'Established' ? `${Math.round(p.uptime_s)} s` : '–',
          p.prefixes_out,
          p.last_error ?? '',
        ]),
        'no peers configured',
      ),
    );
  const renderExporters = (list: Exporter[]) =>
    exporters.replaceChildren(
      h('h2', { id: 'h-exporters' }, 'Exporters'),
      table(
        [
          'exporter',
          'formats',
          'records/s',
          'sampling learned',
          'templates',
          'sequence gaps',
          'malformed',
          'dropped',
          'last seen',
        ],
        list.map((e) => [
          e.exporter,
          e.formats.join(', '),
          Math.round(e.records_per_second),
          Object.entries(e.sampling)
            .map(([k, v]) => `${k}: 1:${v}`)
            .join(', ') || '–',
          e.templates,
          e.sequence_gaps,
          e.malformed,
          e.dropped,
          ago(e.last_seen),
        ]),
        'no flow received yet',
      ),
    );
  const renderNow = (d: Now) => {
    now.replaceChildren(
      h(
        'div',
        {},
        h('span', { class: 'label' }, 'incoming '),
        h('strong', {}, fmtRate(d.in_pps, 'pps')),
        ' ',
        h('strong', {}, fmtRate(d.in_bps, 'bps')),
      ),
      h(
        'div',
        {},
        h('span', { class: 'label' }, 'outgoing '),
        h('strong', {}, fmtRate(d.out_pps, 'pps')),
        ' ',
        h('strong', {}, fmtRate(d.out_bps, 'bps')),
      ),
    );
  };
  const reload24 = async () => {
    const r = await api<One<Traffic>>('GET', '/traffic?resolution=1m');
    charts.pps24.set(r.object.t, [r.object.in_pps, r.object.out_pps]);
    charts.bps24.set(r.object.t, [r.object.in_bps, r.object.out_bps]);
  };
  const timer = setInterval(() => void reload24().catch(() => undefined), 60_000);

  const el = h(
    'div',
    { class: 'overview' },
    h('h1', {}, 'Overview'),
    now,
    h('div', { class: 'grid2' }, charts.pps.el, charts.bps.el),
    active,
    h('div', { class: 'grid2' }, kinds, peers),
    exporters,
    recent,
    h(
      'details',
      {},
      h('summary', {}, 'Last 24 hours'),
      h('div', { class: 'grid2' }, charts.pps24.el, charts.bps24.el),
    ),
  );
  return {
    el,
    onEvent(name, d) {
      if (name === 'snapshot') {
        const s = d.traffic['1s'];
        charts.pps.set(s.t, [s.in_pps, s.out_pps]);
        charts.bps.set(s.t, [s.in_bps, s.out_bps]);
        const m = d.traffic['1m'];
        charts.pps24.set(m.t, [m.in_pps, m.out_pps]);
        charts.bps24.set(m.t, [m.in_bps, m.out_bps]);
        attacks.clear();
        for (const a of d.attacks) attacks.set(a.uuid, a);
        renderAttacks();
        renderCounts(d.counts);
        renderPeers(d.peers);
        renderExporters(d.exporters);
        const last = s.t.length - 1;
        renderNow(
          last >= 0
            ? {
                in_pps: s.in_pps[last],
                out_pps: s.out_pps[last],
                in_bps: s.in_bps[last],
                out_bps: s.out_bps[last],
              }
            : {},
        );
        document.body.setAttribute('data-ready', String(Math.round(performance.now())));
      } else if (name === 'tick') {
        charts.pps.push(d.t, [d.in_pps, d.out_pps]);
        charts.bps.push(d.t, [d.in_bps, d.out_bps]);
        renderNow(d);
        renderCounts(d.counts);
        renderPeers(d.peers);
        renderExporters(d.exporters);
      } else if (name === 'attack') {
        attacks.set(d.uuid, d);
        // One render per frame however many attack events arrive (a carpet bomb sends many).
        if (!pending) {
          pending = true;
          requestAnimationFrame(() => {
            pending = false;
            renderAttacks();
          });
        }
      } else if (name === 'mitigation') {
        renderCounts(d.counts);
      }
    },
    destroy() {
      clearInterval(timer);
      for (const c of Object.values(charts)) c.destroy();
    },
  };
}

// ---------------------------------------------------------------- start

async function start(): Promise<void> {
  try {
    const s = await getSession();
    document.getElementById('who')!.textContent = s.user ? `${s.user} (${s.role})` : `local (${s.role})`;
    document.body.classList.toggle('admin', s.role === 'admin');
  } catch (e) {
    notice(`cannot read the session: ${(e as Error).message}`, 'error');
  }
  window.addEventListener('hashchange', route);
  route();
}

void start();
