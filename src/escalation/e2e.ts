/**
 * Test-only helpers for end-to-end runs against real routers (GoBGP and BIRD 2) on
 * loopback: start a router with a generated config, read its RIB in a uniform shape,
 * watch the RIB for route arrivals/withdrawals in order, stop it. The daemon never imports
 * this file. Parsers are pure and tested against captured outputs in
 * test/fixtures/escalation/.
 *
 * Each router gets its own 127.0.0.x address (the brief's rule); BIRD is run with
 * `strict bind` so it does not take the port on 0.0.0.0.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdirSync, accessSync, constants } from 'node:fs';
import { join, delimiter } from 'node:path';

/** A unicast route as a router holds it. */
export interface RibRoute {
  readonly prefix: string;
  readonly next_hop: string | null;
  /** "a:b" standard communities, in the order the router shows them. */
  readonly communities: readonly string[];
  /** "a:b:c" large communities. */
  readonly large_communities: readonly string[];
  /** The neighbor the route came from (null when local/unknown). */
  readonly from: string | null;
}

export type Family = 4 | 6;

// ------------------------------------------------------------------------- parsers

interface GobgpAttr {
  type: number;
  nexthop?: string;
  communities?: number[];
  value?: unknown;
}
interface GobgpPath {
  nlri?: { prefix?: string };
  best?: boolean;
  attrs?: GobgpAttr[];
  'neighbor-ip'?: string;
}

/**
 * `gobgp -j global rib -a ipv4|ipv6` output: { prefix: [path...] }. Best paths only.
 * Communities come as uint32 (high 16 bits : low 16 bits); large communities as
 * {ASN, LocalData1, LocalData2}; the next hop from NEXT_HOP (type 3) or MP_REACH (14).
 */
export function parseGobgpRib(json: string): RibRoute[] {
  const text = json.trim();
  if (text === '' || text === 'null') return [];
  const obj = JSON.parse(text) as Record<string, GobgpPath[]>;
  const out: RibRoute[] = [];
  for (const [key, paths] of Object.entries(obj)) {
    const p = paths.find((x) => x.best) ?? paths[0];
    if (!p) continue;
    let next_hop: string | null = null;
    const communities: string[] = [];
    const large: string[] = [];
    for (const a of p.attrs ?? []) {
      if ((a.type === 3 || a.type === 14) && typeof a.nexthop === 'string') next_hop = a.nexthop;
      if (a.type === 8) for (const c of a.communities ?? []) communities.push(`${Math.floor(c / 65536)}:${c % 65536}`);
      if (a.type === 32 && Array.isArray(a.value)) {
        for (const v of a.value as { ASN: number; LocalData1: number; LocalData2: number }[]) large.push(`${v.ASN}:${v.LocalData1}:${v.LocalData2}`);
      }
    }
    const from = p['neighbor-ip'];
    out.push({ prefix: p.nlri?.prefix ?? key, next_hop, communities, large_communities: large, from: from && from !== '<nil>' ? from : null });
  }
  return out.sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
}

/**
 * `birdc show route all [table X]` output. A route starts at a line beginning with a
 * prefix; attribute lines follow, indented by a tab. Only the first (best, starred) route
 * per prefix is kept; continuation routes (lines starting with whitespace and a
 * bracket) are skipped.
 */
export function parseBirdRoutes(text: string): RibRoute[] {
  const out: RibRoute[] = [];
  let cur: { prefix: string; next_hop: string | null; communities: string[]; large: string[]; from: string | null; skip: boolean } | null = null;
  const seen = new Set<string>();
  const flush = () => {
    if (cur && !cur.skip) out.push({ prefix: cur.prefix, next_hop: cur.next_hop, communities: cur.communities, large_communities: cur.large, from: cur.from });
    cur = null;
  };
  for (const line of text.split('\n')) {
    const head = /^([0-9a-fA-F:.]+\/\d+)\s+(.*)$/.exec(line);
    if (head) {
      flush();
      const from = /\bfrom ([0-9a-fA-F:.]+)\]/.exec(head[2]!);
      cur = { prefix: head[1]!, next_hop: null, communities: [], large: [], from: from ? from[1]! : null, skip: seen.has(head[1]!) };
      seen.add(head[1]!);
      continue;
    }
    // An alternative route for the same prefix: "                     unreachable [..." / "   via ...".
    if (/^ {2,}\S/.test(line) && cur) {
      flush();
      continue;
    }
    if (!cur || !line.startsWith('\t')) continue;
    const t = line.trim();
    let m: RegExpExecArray | null;
    if ((m = /^BGP\.next_hop: (\S+)/.exec(t))) cur.next_hop = m[1]!;
    else if ((m = /^BGP\.community: (.*)$/.exec(t))) {
      for (const c of m[1]!.matchAll(/\((\d+),\s*(\d+)\)/g)) cur.communities.push(`${c[1]}:${c[2]}`);
    } else if ((m = /^BGP\.large_community: (.*)$/.exec(t))) {
      for (const c of m[1]!.matchAll(/\((\d+),\s*(\d+),\s*(\d+)\)/g)) cur.large.push(`${c[1]}:${c[2]}:${c[3]}`);
    }
  }
  flush();
  return out.sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
}

// ------------------------------------------------------------------------- routers

export interface RouterNeighbor {
  /** The Breakwater side of the session. */
  readonly address: string;
  readonly port: number;
  readonly asn: number;
  /** The router waits for Breakwater to connect (default false: the router connects). */
  readonly passive?: boolean;
}

export interface RouterOptions {
  /** A scratch folder for the config, socket and log (created). */
  readonly dir: string;
  /** The router's own 127.0.0.x. */
  readonly address: string;
  /** The router's BGP port (non-root: above 1024). */
  readonly port: number;
  readonly asn: number;
  readonly neighbors: readonly RouterNeighbor[];
  /** Default both unicast families. */
  readonly families?: readonly ('ipv4-unicast' | 'ipv6-unicast')[];
}

export interface RouterHandle {
  readonly kind: 'gobgp' | 'bird';
  readonly address: string;
  readonly port: number;
  readonly asn: number;
  /** The router's best unicast routes of one family. */
  rib(family: Family): Promise<RibRoute[]>;
  /** Are all configured sessions Established? */
  established(): Promise<boolean>;
  /** The router's own output so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

/** Is `name` an executable on PATH (or in /usr/sbin, where Debian puts bird)? */
export function findBinary(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return null;
}

/**
 * Binaries an e2e test needs. Returns the missing ones, so a test may skip locally; under
 * CI (env CI set) a missing binary throws, so the test fails instead of skipping.
 */
export function requireBinaries(names: readonly string[]): string[] {
  const missing = names.filter((n) => !findBinary(n));
  if (missing.length && process.env.CI) throw new Error(`e2e needs ${missing.join(', ')} (not found on PATH) and CI is set`);
  return missing;
}

function run(cmd: string, args: readonly string[], timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}${stderr ? `: ${stderr.trim()}` : ''}`));
      else resolve(stdout);
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `check` every `everyMs` until it returns a value other than undefined, or time out. */
export async function waitUntil<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  let lastErr: unknown = null;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() >= until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${(lastErr as Error).message})` : ''}`);
    await sleep(everyMs);
  }
}

class Proc {
  private out = '';
  readonly child: ChildProcess;
  exited: number | null = null;
  private readonly done: Promise<void>;

  constructor(cmd: string, args: readonly string[]) {
    this.child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const take = (b: Buffer) => {
      this.out += b.toString();
      if (this.out.length > 1_000_000) this.out = this.out.slice(-500_000);
    };
    this.child.stdout?.on('data', take);
    this.child.stderr?.on('data', take);
    this.done = new Promise((resolve) => {
      this.child.on('exit', (code, sig) => {
        this.exited = code ?? (sig ? 128 : 0);
        resolve();
      });
      this.child.on('error', (e) => {
        this.out += `\nspawn error: ${e.message}`;
        this.exited = 127;
        resolve();
      });
    });
  }

  log(): string {
    return this.out;
  }

  /** SIGTERM the process we started; SIGKILL after 3 s. */
  async stop(): Promise<void> {
    if (this.exited !== null) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3_000);
    await this.done;
    clearTimeout(t);
  }
}

const AFI: Record<Family, 'ipv4-unicast' | 'ipv6-unicast'> = { 4: 'ipv4-unicast', 6: 'ipv6-unicast' };

/** gobgpd TOML for `o`; the API listens on address:apiPort. */
export function gobgpConfig(o: RouterOptions): string {
  const fams = o.families ?? ['ipv4-unicast', 'ipv6-unicast'];
  const lines = [
    '[global.config]',
    `  as = ${o.asn}`,
    `  router-id = "${o.address}"`,
    `  port = ${o.port}`,
    `  local-address-list = ["${o.address}"]`,
  ];
  for (const n of o.neighbors) {
    lines.push(
      '[[neighbors]]',
      '  [neighbors.config]',
      `    neighbor-address = "${n.address}"`,
      `    peer-as = ${n.asn}`,
      '  [neighbors.transport.config]',
      `    local-address = "${o.address}"`,
      `    remote-port = ${n.port}`,
      `    passive-mode = ${n.passive ? 'true' : 'false'}`,
      '  [neighbors.timers.config]',
      '    connect-retry = 1',
    );
    for (const f of fams) lines.push('  [[neighbors.afi-safis]]', '    [neighbors.afi-safis.config]', `      afi-safi-name = "${f}"`);
  }
  return lines.join('\n') + '\n';
}

export async function startGobgp(o: RouterOptions & { readonly apiPort: number }): Promise<RouterHandle> {
  const bin = findBinary('gobgpd');
  const cli = findBinary('gobgp');
  if (!bin || !cli) throw new Error('gobgpd/gobgp not found on PATH');
  mkdirSync(o.dir, { recursive: true });
  const conf = join(o.dir, 'gobgpd.toml');
  writeFileSync(conf, gobgpConfig(o));
  const p = new Proc(bin, ['-f', conf, '-t', 'toml', `--api-hosts=${o.address}:${o.apiPort}`, '--pprof-disable', '-p']);
  const api = ['-u', o.address, '-p', String(o.apiPort)];
  const handle: RouterHandle = {
    kind: 'gobgp',
    address: o.address,
    port: o.port,
    asn: o.asn,
    rib: async (family) => parseGobgpRib(await run(cli, [...api, '-j', 'global', 'rib', '-a', family === 4 ? 'ipv4' : 'ipv6'])),
    established: async () => {
      const text = await run(cli, [...api, 'neighbor']);
      const rows = text.split('\n').filter((l) => o.neighbors.some((n) => l.startsWith(n.address + ' ')));
      return rows.length === o.neighbors.length && rows.every((l) => /\bEstabl\b/.test(l));
    },
    log: () => p.log(),
    stop: () => p.stop(),
  };
  await waitUntil(
    async () => {
      if (p.exited !== null) throw new Error(`gobgpd exited (${p.exited}): ${p.log().slice(-2000)}`);
      await run(cli, [...api, 'global'], 2_000);
      return true;
    },
    10_000,
    'gobgpd API',
  ).catch(async (e: Error) => {
    await p.stop();
    throw e;
  });
  return handle;
}

/** BIRD 2 config for `o`: one BGP protocol per neighbor, import all, export none. */
export function birdConfig(o: RouterOptions): string {
  const fams = o.families ?? ['ipv4-unicast', 'ipv6-unicast'];
  const lines = [`router id ${o.address};`, 'log stderr all;', 'protocol device {}'];
  o.neighbors.forEach((n, i) => {
    lines.push(
      `protocol bgp bw${i} {`,
      `  local ${o.address} port ${o.port} as ${o.asn};`,
      `  neighbor ${n.address} port ${n.port} as ${n.asn};`,
      // Next hops like 192.0.2.1 are not on a connected network here: accept them as-is.
      '  multihop;',
      '  strict bind yes;',
      '  connect delay time 1;',
      '  connect retry time 1;',
      ...(n.passive ? ['  passive on;'] : []),
      ...(fams.includes('ipv4-unicast') ? ['  ipv4 { import all; export none; gateway recursive; igp table master4; };'] : []),
      ...(fams.includes('ipv6-unicast') ? ['  ipv6 { import all; export none; gateway recursive; igp table master6; };'] : []),
      '}',
    );
  });
  return lines.join('\n') + '\n';
}

export async function startBird(o: RouterOptions): Promise<RouterHandle> {
  const bin = findBinary('bird');
  const cli = findBinary('birdc');
  if (!bin || !cli) throw new Error('bird/birdc not found on PATH');
  mkdirSync(o.dir, { recursive: true });
  const conf = join(o.dir, 'bird.conf');
  const sock = join(o.dir, 'bird.ctl');
  writeFileSync(conf, birdConfig(o));
  const p = new Proc(bin, ['-f', '-c', conf, '-s', sock]);
  const birdc = (...args: string[]) => run(cli, ['-s', sock, ...args]);
  const handle: RouterHandle = {
    kind: 'bird',
    address: o.address,
    port: o.port,
    asn: o.asn,
    rib: async (family) => parseBirdRoutes(await birdc('show', 'route', 'all', 'table', family === 4 ? 'master4' : 'master6')),
    established: async () => {
      const text = await birdc('show', 'protocols');
      const rows = text.split('\n').filter((l) => /^bw\d+\s/.test(l));
      return rows.length === o.neighbors.length && rows.every((l) => /\bEstablished\b/.test(l));
    },
    log: () => p.log(),
    stop: () => p.stop(),
  };
  await waitUntil(
    async () => {
      if (p.exited !== null) throw new Error(`bird exited (${p.exited}): ${p.log().slice(-2000)}`);
      await birdc('show', 'status');
      return true;
    },
    10_000,
    'bird control socket',
  ).catch(async (e: Error) => {
    await p.stop();
    throw e;
  });
  return handle;
}

// ------------------------------------------------------------------------- watching

export interface RibEvent {
  /** ms since epoch when the poll saw the change. */
  readonly at: number;
  readonly op: 'add' | 'change' | 'withdraw';
  readonly family: Family;
  readonly route: RibRoute;
}

function same(a: RibRoute, b: RibRoute): boolean {
  return a.next_hop === b.next_hop && a.communities.join() === b.communities.join() && a.large_communities.join() === b.large_communities.join();
}

/**
 * Polls a router's RIB and records every change in order: the e2e can then assert "the /32
 * arrived first, then the /24 with the escalation community", and put the RIB states into
 * docs/escalation.md's timeline. Changes faster than `everyMs` collapse into one event.
 */
export class RibWatcher {
  readonly events: RibEvent[] = [];
  private readonly current = new Map<string, RibRoute>();
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  lastError: string | null = null;

  constructor(
    private readonly router: Pick<RouterHandle, 'rib'>,
    private readonly families: readonly Family[] = [4, 6],
    private readonly everyMs = 100,
  ) {}

  /** One poll (also used by start's timer). */
  async poll(now: number = Date.now()): Promise<void> {
    for (const family of this.families) {
      let routes: RibRoute[];
      try {
        routes = await this.router.rib(family);
      } catch (e) {
        this.lastError = (e as Error).message;
        return;
      }
      const seen = new Set<string>();
      for (const r of routes) {
        const key = `${family} ${r.prefix}`;
        seen.add(key);
        const old = this.current.get(key);
        if (!old) this.events.push({ at: now, op: 'add', family, route: r });
        else if (!same(old, r)) this.events.push({ at: now, op: 'change', family, route: r });
        this.current.set(key, r);
      }
      for (const [key, r] of this.current) {
        if (key.startsWith(`${family} `) && !seen.has(key)) {
          this.current.delete(key);
          this.events.push({ at: now, op: 'withdraw', family, route: r });
        }
      }
    }
  }

  start(): this {
    const tick = () => {
      this.polling = this.poll().finally(() => {
        this.polling = null;
        if (this.timer) this.timer = setTimeout(tick, this.everyMs);
      });
    };
    this.timer = setTimeout(tick, 0);
    return this;
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.polling) await this.polling;
  }

  /** Routes held now (after the last poll), by prefix. */
  routes(): RibRoute[] {
    return [...this.current.values()];
  }

  /** Wait until `pred` holds for the current routes. */
  waitFor(pred: (routes: RibRoute[]) => boolean, timeoutMs: number, what: string): Promise<RibRoute[]> {
    return waitUntil(
      async () => {
        if (!this.timer) await this.poll();
        const r = this.routes();
        return pred(r) ? r : undefined;
      },
      timeoutMs,
      what,
      this.everyMs,
    );
  }

  /** The events as text lines, for failure messages and the docs timeline. */
  describe(t0 = this.events[0]?.at ?? 0): string {
    return this.events
      .map((e) => {
        const r = e.route;
        const attrs = [`next-hop ${r.next_hop ?? '-'}`, ...r.communities.map((c) => `community ${c}`), ...r.large_communities.map((c) => `large-community ${c}`)];
        return `+${((e.at - t0) / 1000).toFixed(1)}s ${e.op} ${r.prefix} ${e.op === 'withdraw' ? '' : attrs.join(' ')}`.trimEnd();
      })
      .join('\n');
  }
}
