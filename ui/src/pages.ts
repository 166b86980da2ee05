// Attack, host, mitigations, hostgroups and history pages.
import type { Page } from './app.js';
import type { Attack, AttackFull, Hostgroup, HostRates, List, Mitigation, One, Traffic } from './answers.js';
import { IN_OUT, RateChart } from './charts.js';
import { ApiError, api, fmtRate, fmtTime, getSession, h, link, notice, table } from './dom.js';

const isAdmin = () => document.body.classList.contains('admin');

/** Withdraw a mitigation through the API (same endpoints and checks as ctl). */
async function withdraw(
  m: { uuid: string; kind: string; prefix?: string },
  after: () => void,
): Promise<void> {
  const path = m.kind === 'flowspec' ? `/flowspec/${m.uuid}` : `/blackhole/${m.uuid}`;
  try {
    await api('DELETE', path);
    notice(`withdrawn: ${m.kind} ${m.prefix ?? m.uuid}`);
    after();
  } catch (e) {
    notice(`withdraw refused: ${(e as Error).message}`, 'error');
  }
}

function withdrawButton(
  m: { uuid: string; kind: string; prefix?: string },
  after: () => void,
): HTMLElement | string {
  if (!isAdmin()) return '';
  return h(
    'button',
    { type: 'button', class: 'withdraw', 'data-uuid': m.uuid, onclick: () => void withdraw(m, after) },
    'Withdraw',
  );
}

function dl(pairs: [string, unknown][]): HTMLDListElement {
  return h(
    'dl',
    {},
    pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v instanceof Node ? v : String(v ?? '–'))]),
  );
}

// ---------------------------------------------------------------- attack

export function attackPage(uuid: string): Page {
  const el = h('div', { class: 'attack' }, h('h1', {}, 'Attack'), h('p', { class: 'muted' }, 'loading…'));
  const load = async () => {
    let a: AttackFull;
    try {
      a = (await api<One<AttackFull>>('GET', `/attacks/${encodeURIComponent(uuid)}`)).object;
    } catch (e) {
      el.replaceChildren(h('h1', {}, 'Attack'), h('p', { class: 'error' }, (e as Error).message));
      return;
    }
    const d = a.attack_details;
    el.replaceChildren(
      h('h1', {}, `${a.attack_type} on `, link(`#/host/${encodeURIComponent(a.ip)}`, a.ip)),
      dl([
        ['state', a.active ? 'under attack' : a.banned ? 'finished, still mitigated' : 'finished'],
        ['direction', a.attack_direction],
        ['protocol', a.attack_protocol],
        ['severity', a.attack_severity],
        ['hostgroup', a.hostgroup],
        [
          'threshold crossed',
          `${a.threshold.direction} ${a.threshold.class} ${a.threshold.unit} over ${a.threshold.value} (${a.threshold.name})`,
        ],
        ['initial', fmtRate(a.initial_attack_power, 'pps')],
        ['peak', fmtRate(a.peak_attack_power, 'pps')],
        [
          'now',
          `${fmtRate(a.current.in_pps, 'pps')} in, ${fmtRate(a.current.in_bps, 'bps')} in, ${fmtRate(a.current.out_pps, 'pps')} out`,
        ],
        ['started', fmtTime(a.started_at)],
        ['finished', a.finished_at ? fmtTime(a.finished_at) : 'running'],
        ['uuid', a.uuid],
        [
          'pcap',
          a.pcap
            ? h(
                'a',
                { href: `/attacks/${a.uuid}/pcap`, download: `${a.uuid}.pcap` },
                'download the sampled packets',
              )
            : 'none (flow records carry no headers)',
        ],
      ]),
      h('h2', {}, 'Timeline'),
      h(
        'ol',
        { class: 'timeline', id: 'timeline' },
        a.timeline.map((e) =>
          h(
            'li',
            { 'data-event': e.event },
            h('time', { datetime: e.at }, fmtTime(e.at)),
            ' ',
            h('strong', {}, e.event),
            ' ',
            e.detail,
          ),
        ),
      ),
      h('h2', {}, 'Mitigations'),
      table(
        ['kind', 'prefix / rule', 'started', 'ended', ''],
        a.mitigations.map((m) => [
          m.kind,
          m.rule ? JSON.stringify(m.rule) : m.prefix,
          fmtTime(m.started_at),
          m.ended_at ? `${fmtTime(m.ended_at)}: ${m.end_reason}` : 'active',
          m.ended_at ? '' : withdrawButton(m, () => void load()),
        ]),
        'none (notify only, or refused: see the daemon log)',
      ),
      h('h2', {}, 'FlowSpec rules'),
      a.flow_spec_rules.length
        ? h(
            'ul',
            { id: 'flowspec-rules' },
            a.flow_spec_rules.map((r) => h('li', {}, h('code', {}, JSON.stringify(r)))),
          )
        : h('p', { class: 'muted' }, 'none generated'),
      a.flowspec_explanation
        ? h('pre', { class: 'explain', id: 'flowspec-explanation' }, a.flowspec_explanation)
        : '',
      h('h2', {}, `Samples (${a.samples.count})`),
      dl([
        [
          'protocols',
          Object.entries(a.samples.protocols)
            .map(([k, v]) => `${k} ${fmtRate(v, 'pkts')}`)
            .join(', ') || '–',
        ],
        ['top sources', a.samples.top_sources.map((s) => s.ip).join(', ') || '–'],
        ['top source ports', a.samples.top_source_ports.map((s) => s.port).join(', ') || '–'],
        ['top destination ports', a.samples.top_destination_ports.map((s) => s.port).join(', ') || '–'],
      ]),
      h(
        'div',
        { id: 'samples' },
        table(
          [
            'source',
            'destination',
            'protocol',
            'src port',
            'dst port',
            'TCP flags',
            'length',
            'packets',
            'sampling',
            'exporter',
          ],
          d &&
            a.packet_dump_detailed.map((p) => [
              p.source_ip,
              p.destination_ip,
              p.protocol,
              p.source_port,
              p.destination_port,
              p.tcp_flags,
              p.length,
              p.packets,
              p.sample_ratio,
              p.agent_address,
            ]),
          'no samples kept',
        ),
      ),
    );
  };
  void load();
  return {
    el,
    onEvent(name, data) {
      if ((name === 'attack' && data.uuid === uuid) || name === 'mitigation') void load();
    },
  };
}

// ---------------------------------------------------------------- host

const CLASSES = ['', 'tcp_', 'tcp_syn_', 'udp_', 'icmp_', 'fragmented_'] as const;
const CLASS_SERIES = [
  { label: 'tcp', color: '#4dabf7' },
  { label: 'tcp syn', color: '#ff6b6b' },
  { label: 'udp', color: '#ffd43b' },
  { label: 'icmp', color: '#51cf66' },
  { label: 'fragmented', color: '#cc5de8' },
];

export function hostPage(ip: string): Page {
  const info = h('section', {});
  const klass = h('section', {});
  const attacks = h('section', {});
  const pps = new RateChart({
    title: `${ip}: packets per second`,
    unit: 'pps',
    series: IN_OUT,
    windowS: 900,
    thresholds: [],
  });
  let bps = new RateChart({ title: `${ip}: bits per second`, unit: 'bps', series: IN_OUT, windowS: 900 });
  const perClass = (dir: 'in' | 'out') =>
    new RateChart({
      title: `${ip}: ${dir === 'in' ? 'incoming' : 'outgoing'} packets per second by class`,
      unit: 'pps',
      series: CLASS_SERIES,
      windowS: 900,
    });
  const classIn = perClass('in');
  const classOut = perClass('out');
  const charts = h('div', { class: 'grid2' }, pps.el, bps.el);
  let ppsChart = pps;
  const el = h(
    'div',
    { class: 'host' },
    h('h1', {}, `Host ${ip}`),
    info,
    charts,
    h('div', { class: 'grid2', id: 'class-charts' }, classIn.el, classOut.el),
    klass,
    attacks,
  );
  const loadSide = async () => {
    const [hg, list] = await Promise.all([
      api<List<Hostgroup>>('GET', '/hostgroup'),
      api<List<Attack>>('GET', `/attacks?ip=${encodeURIComponent(ip)}&limit=100`),
    ]);
    const hgName = (
      await api<One<{ hostgroup: string }>>('GET', `/single_host_counters/${encodeURIComponent(ip)}`).catch(
        () => ({
          object: { hostgroup: 'default' },
        }),
      )
    ).object.hostgroup;
    const g = hg.values.find((x) => x.name === hgName);
    const ban = g?.thresholds?.ban ?? {};
    const lines: { label: string; value: number }[] = [];
    if (ban.incoming?.total?.pps) lines.push({ label: 'ban incoming', value: ban.incoming.total.pps });
    if (ban.outgoing?.total?.pps) lines.push({ label: 'ban outgoing', value: ban.outgoing.total.pps });
    if (lines.length) {
      ppsChart.destroy();
      ppsChart = new RateChart({
        title: `${ip}: packets per second (dashed: ban thresholds)`,
        unit: 'pps',
        series: IN_OUT,
        windowS: 900,
        thresholds: lines,
      });
      charts.replaceChildren(ppsChart.el, bps.el);
    }
    info.replaceChildren(
      dl([
        ['hostgroup', g ? `${g.name}${g.parent ? ` (inherits ${g.parent})` : ''}` : hgName],
        ['ban thresholds', h('code', {}, JSON.stringify(ban))],
        [
          'actions',
          g
            ? `ban ${g.ban_time} s; blackhole ${g.blackhole ? 'on' : 'off'}, flowspec ${g.flowspec ? 'on' : 'off'}, escalation ${g.escalation ? 'on' : 'off'}`
            : '–',
        ],
      ]),
    );
    attacks.replaceChildren(
      h('h2', {}, 'Attacks on this host'),
      table(
        ['started', 'type', 'direction', 'peak', 'finished', 'mitigations'],
        list.values.map((a) => [
          link(`#/attack/${a.uuid}`, fmtTime(a.started_at)),
          a.attack_type,
          a.attack_direction,
          fmtRate(a.peak_attack_power, 'pps'),
          a.finished_at ? fmtTime(a.finished_at) : 'running',
          a.mitigations.map((m) => `${m.kind}${m.ended_at ? '' : ' (active)'}`).join(', '),
        ]),
        'no attack recorded',
      ),
    );
  };
  void loadSide().catch((e) => notice((e as Error).message, 'error'));
  const renderClasses = (r: HostRates | null | undefined) => {
    if (!r) return klass.replaceChildren(h('p', { class: 'muted' }, 'no traffic seen for this host'));
    klass.replaceChildren(
      h('h2', {}, 'Rates per class, now'),
      table(
        ['class', 'in pps', 'in bps', 'out pps', 'out bps'],
        CLASSES.map((c) => [
          c ? c.slice(0, -1) : 'total',
          fmtRate(r[`in_${c}packets`], 'pps'),
          fmtRate(r[`in_${c}bytes`] * 8, 'bps'),
          fmtRate(r[`out_${c}packets`], 'pps'),
          fmtRate(r[`out_${c}bytes`] * 8, 'bps'),
        ]),
      ),
    );
  };
  return {
    el,
    stream: `/events?host=${encodeURIComponent(ip)}`,
    onEvent(name, d) {
      if (name === 'snapshot') renderClasses(d.host);
      else if (name === 'host') {
        const r = d.rates;
        ppsChart.push(d.t, [r?.in_packets ?? 0, r?.out_packets ?? 0]);
        bps.push(d.t, [(r?.in_bytes ?? 0) * 8, (r?.out_bytes ?? 0) * 8]);
        classIn.push(
          d.t,
          CLASSES.slice(1).map((c) => r?.[`in_${c}packets`] ?? 0),
        );
        classOut.push(
          d.t,
          CLASSES.slice(1).map((c) => r?.[`out_${c}packets`] ?? 0),
        );
        renderClasses(r);
      } else if (name === 'attack' && d.ip === ip) void loadSide();
    },
    destroy() {
      ppsChart.destroy();
      bps.destroy();
      classIn.destroy();
      classOut.destroy();
      bps = null as never;
    },
  };
}

// ---------------------------------------------------------------- mitigations

export function mitigationsPage(): Page {
  let all: Mitigation[] = [];
  const filter = h('input', {
    type: 'search',
    id: 'mit-filter',
    placeholder: 'filter: prefix, cause, hostgroup',
    'aria-label': 'filter mitigations',
  });
  const kind = h(
    'select',
    { id: 'mit-kind', 'aria-label': 'kind' },
    ['all', 'blackhole', 'flowspec', 'escalation'].map((k) => h('option', { value: k }, k)),
  );
  const list = h('section', { id: 'mitigations' });
  const render = () => {
    const f = filter.value.trim().toLowerCase();
    const rows = all
      .filter((m) => kind.value === 'all' || m.kind === kind.value)
      .filter(
        (m) =>
          !f ||
          `${m.prefix} ${m.cause} ${m.hostgroup} ${JSON.stringify(m.rule ?? '')}`.toLowerCase().includes(f),
      )
      .map((m) => [
        m.kind,
        m.rule ? h('code', {}, JSON.stringify(m.rule)) : m.prefix,
        m.cause.startsWith('attack ') ? link(`#/attack/${m.cause.slice(7)}`, m.cause) : m.cause,
        m.hostgroup,
        fmtTime(m.started_at),
        m.expires_at ? fmtTime(m.expires_at) : 'never',
        m.dry_run ? 'dry run' : 'announced',
        m.kind === 'escalation' ? '' : withdrawButton(m, () => undefined),
      ]);
    list.replaceChildren(
      table(
        ['kind', 'prefix / rule', 'cause', 'hostgroup', 'started', 'expires', 'state', ''],
        rows,
        'no active mitigation',
      ),
    );
  };
  filter.addEventListener('input', render);
  kind.addEventListener('change', render);
  const ipInput = h('input', {
    id: 'bh-ip',
    name: 'ip',
    required: true,
    placeholder: '203.0.113.5',
    'aria-label': 'host to blackhole',
  });
  const ruleInput = h('textarea', {
    id: 'fs-rule',
    rows: 3,
    placeholder:
      '{"destination_prefix":"203.0.113.5/32","protocols":["udp"],"source_ports":[53],"action_type":"discard"}',
    'aria-label': 'FlowSpec rule (JSON)',
  });
  const add = async (e: Event, what: 'blackhole' | 'flowspec') => {
    e.preventDefault();
    try {
      if (what === 'blackhole') {
        const r = await api<{ ip: string; dry_run: boolean }>(
          'PUT',
          `/blackhole/${encodeURIComponent(ipInput.value.trim())}`,
        );
        notice(`blackhole ${r.ip} added${r.dry_run ? ' (dry run: not announced)' : ''}`);
        ipInput.value = '';
      } else {
        let rule: unknown;
        try {
          rule = JSON.parse(ruleInput.value);
        } catch (err) {
          throw new ApiError(400, `the rule is not valid JSON: ${(err as Error).message}`);
        }
        await api('PUT', '/flowspec', rule);
        notice('FlowSpec rule added');
      }
    } catch (err) {
      notice(`refused: ${(err as Error).message}`, 'error');
    }
  };
  const forms = h(
    'section',
    { class: 'admin-only' },
    h('h2', {}, 'Add'),
    h(
      'form',
      { id: 'add-blackhole', onsubmit: (e: Event) => void add(e, 'blackhole') },
      h('label', { for: 'bh-ip' }, 'Blackhole host '),
      ipInput,
      ' ',
      h('button', { type: 'submit' }, 'Announce blackhole'),
    ),
    h(
      'form',
      { id: 'add-flowspec', onsubmit: (e: Event) => void add(e, 'flowspec') },
      h('label', { for: 'fs-rule' }, 'FlowSpec rule (FastNetMon JSON) '),
      ruleInput,
      ' ',
      h('button', { type: 'submit' }, 'Announce rule'),
    ),
  );
  const el = h(
    'div',
    {},
    h('h1', {}, 'Mitigations'),
    h('div', { class: 'filters' }, filter, ' ', kind),
    list,
    forms,
  );
  void getSession();
  return {
    el,
    onEvent(name, d) {
      if (name === 'snapshot') all = d.mitigations;
      else if (name === 'mitigation') {
        all = all.filter((m) => m.uuid !== d.mitigation.uuid);
        if (d.op === 'added') all.push(d.mitigation);
      } else return;
      render();
    },
  };
}

// ---------------------------------------------------------------- hostgroups, escalations

export function hostgroupsPage(): Page {
  const el = h('div', {}, h('h1', {}, 'Hostgroups'), h('p', { class: 'muted' }, 'loading…'));
  const charts: RateChart[] = [];
  const traffic = h('div', { class: 'grid2', id: 'hostgroup-traffic' });
  const loadTraffic = async (names: string[]) => {
    for (const name of names) {
      const s = (await api<One<Traffic>>('GET', `/traffic?hostgroup=${encodeURIComponent(name)}`)).object;
      const c = new RateChart({
        title: `${name}: packets per second, last 15 minutes`,
        unit: 'pps',
        series: IN_OUT,
        windowS: 900,
      });
      c.set(s.t, [s.in_pps, s.out_pps]);
      charts.push(c);
      traffic.append(c.el);
    }
  };
  void Promise.all([
    api<List<Hostgroup>>('GET', '/hostgroup'),
    api<List<unknown>>('GET', '/escalation'),
  ]).then(
    ([hg, esc]) => {
      void loadTraffic(hg.values.map((g) => g.name)).catch((e) => notice((e as Error).message, 'error'));
      el.replaceChildren(
        h('h1', {}, 'Hostgroups'),
        table(
          ['name', 'inherits', 'policy file', 'networks', 'ban thresholds', 'ban time', 'actions'],
          hg.values.map((g) => [
            g.name,
            g.parent ?? '–',
            g.file ?? 'built in',
            g.networks.join(', ') || 'everything else',
            h('code', {}, JSON.stringify(g.thresholds?.ban ?? {})),
            `${g.ban_time} s${g.unban_only_if_attack_finished ? ', until the attack ends' : ''}`,
            (['blackhole', 'flowspec', 'escalation'] as const).filter((k) => g[k]).join(', ') ||
              'notify only',
          ]),
        ),
        h('h2', {}, 'Escalations'),
        table(
          ['entry'],
          esc.values.map((e) => [h('code', {}, JSON.stringify(e))]),
          'no escalation',
        ),
        h('h2', {}, 'Traffic per hostgroup'),
        traffic,
      );
    },
    (e) => el.replaceChildren(h('h1', {}, 'Hostgroups'), h('p', { class: 'error' }, (e as Error).message)),
  );
  return {
    el,
    destroy() {
      for (const c of charts) c.destroy();
    },
  };
}

// ---------------------------------------------------------------- history

export function historyPage(): Page {
  const f = (id: string, label: string, placeholder: string) =>
    h('label', {}, `${label} `, h('input', { id, name: id, placeholder }));
  const out = h('section', { id: 'history' });
  const form = h(
    'form',
    { class: 'filters' },
    f('since', 'since', '24h or 2026-01-31T12:00:00Z'),
    f('until', 'until', ''),
    f('ip', 'ip', '203.0.113.5'),
    f('hostgroup', 'hostgroup', 'default'),
    f('limit', 'limit', '100'),
    h('button', { type: 'submit' }, 'Search'),
  );
  const search = async () => {
    const q = new URLSearchParams();
    for (const k of ['since', 'until', 'ip', 'hostgroup', 'limit']) {
      const v = (form.querySelector(`#${k}`) as HTMLInputElement).value.trim();
      if (v) q.set(k, v);
    }
    if (![...q.keys()].length) q.set('limit', '100');
    try {
      const r = await api<List<Attack>>('GET', `/attacks?${q}`);
      out.replaceChildren(
        table(
          ['started', 'victim', 'type', 'direction', 'hostgroup', 'peak', 'finished', 'mitigations'],
          r.values.map((a) => [
            link(`#/attack/${a.uuid}`, fmtTime(a.started_at)),
            link(`#/host/${encodeURIComponent(a.ip)}`, a.ip),
            a.attack_type,
            a.attack_direction,
            a.hostgroup,
            fmtRate(a.peak_attack_power, 'pps'),
            a.finished_at ? fmtTime(a.finished_at) : 'running',
            a.mitigations.map((m) => m.kind).join(', '),
          ]),
          'no attack matches',
        ),
      );
    } catch (e) {
      out.replaceChildren(h('p', { class: 'error', role: 'alert' }, (e as Error).message));
    }
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void search();
  });
  void search();
  return { el: h('div', {}, h('h1', {}, 'Attack history'), form, out) };
}
