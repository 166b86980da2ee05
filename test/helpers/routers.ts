/**
 * Test harness: real routers (GoBGP 3 `gobgpd`, BIRD 2 `bird`) on their own 127.0.0.x
 * address and a high port, with temporary configs, RIB queries and process control.
 *
 *   const r = await startBird({ address: '127.0.0.142', port: 11179, asn: 65000,
 *     peers: [{ address: '127.0.0.140', asn: 65100, port: 11179 }] });
 *   await r.waitEstablished('127.0.0.140');
 *   const routes = await r.getRoutes('ipv4-unicast');
 *   await r.stop();
 *
 * Every router accepts all four families and exports nothing. FlowSpec routes are in
 * BIRD's flowtab4/flowtab6 tables and GoBGP's ipv4-flowspec/ipv6-flowspec RIBs.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BgpFamily } from '../../src/config/types.js';
import { reapOnExit } from './quiet-logs.js';

const run = promisify(execFile);

export interface RouterPeer {
  /** The neighbour's (Breakwater's) address. */
  readonly address: string;
  readonly asn: number;
  /** Port the router connects to when it is not passive (default: the router's own port). */
  readonly port?: number;
  /** true: the router only listens; false (default): it also connects to the neighbour. */
  readonly passive?: boolean;
  readonly holdTime?: number;
  readonly families?: readonly BgpFamily[];
  readonly gracefulRestart?: boolean;
  /** TCP MD5 key (RFC 2385): BIRD `password`, GoBGP `auth-password`. */
  readonly password?: string;
  /** GTSM (RFC 5082): BIRD `ttl security on`, GoBGP `ttl-security`. */
  readonly ttlSecurity?: boolean;
}

export interface RouterOptions {
  readonly address: string;
  readonly port: number;
  readonly asn: number;
  readonly routerId?: string;
  readonly peers: readonly RouterPeer[];
}

export interface RibRoute {
  /** Prefix text, or for FlowSpec the router's own rendering of the rule. */
  readonly prefix: string;
  readonly nextHop?: string;
  readonly communities: string[];
  readonly largeCommunities: string[];
  /** Router-specific text of each extended community. */
  readonly extendedCommunities: string[];
  readonly asPath: number[];
  readonly localPref?: number;
  readonly med?: number;
  /** The router's own record (GoBGP JSON object, BIRD text block). */
  readonly raw: unknown;
}

export interface Router {
  readonly kind: 'gobgp' | 'bird';
  readonly address: string;
  readonly port: number;
  readonly dir: string;
  pid(): number;
  getRoutes(family: BgpFamily): Promise<RibRoute[]>;
  countRoutes(family: BgpFamily): Promise<number>;
  /** 'Established', 'Active', 'Idle', ... as the router sees its session with `peer`. */
  peerState(peer: string): Promise<string>;
  waitEstablished(peer: string, timeoutMs?: number): Promise<void>;
  /** Prefixes the router has received withdrawals for from `peer` (kept across session resets). */
  withdrawnPrefixes(peer: string): Promise<number>;
  /** Make the router send ROUTE-REFRESH (ipv4 unicast) to `peer`; null when it cannot (GoBGP). */
  readonly routeRefresh: ((peer: string) => Promise<void>) | null;
  /** SIGSTOP / SIGCONT the router (hold-timer tests). */
  pause(): void;
  resume(): void;
  /** Stop and start again with the same config. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  log(): string;
}

const FAMILIES: readonly BgpFamily[] = ['ipv4-unicast', 'ipv6-unicast', 'ipv4-flowspec', 'ipv6-flowspec'];

/** Is the binary installed? Under env CI a missing router is an error, not a skip. */
export async function haveBinary(name: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${name}`]);
    return true;
  } catch {
    if (process.env.CI) throw new Error(`${name} is not installed (required under CI)`);
    return false;
  }
}

/**
 * First address of `pool` on which every port in `ports` can be bound right now: several
 * test runs (and engineers) share this machine's loopback.
 */
export async function freeAddress(pool: readonly string[], ports: readonly number[]): Promise<string> {
  const net = await import('node:net');
  const canBind = (host: string, port: number) =>
    new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(true)));
    });
  for (const a of pool) {
    let ok = true;
    for (const p of ports) if (!(await canBind(a, p))) ok = false;
    if (ok) return a;
  }
  throw new Error(`no free address in ${pool[0]}..${pool[pool.length - 1]} for ports ${ports.join(',')}`);
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false | null>,
  timeoutMs = 15000,
  everyMs = 100,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

abstract class Base implements Router {
  abstract readonly kind: 'gobgp' | 'bird';
  protected child: ChildProcess | null = null;
  protected output = '';
  readonly dir: string;
  constructor(readonly opts: RouterOptions) {
    this.dir = mkdtempSync(join(tmpdir(), `bw-${this.constructor.name.toLowerCase()}-`));
  }
  get address(): string {
    return this.opts.address;
  }
  get port(): number {
    return this.opts.port;
  }
  pid(): number {
    return this.child?.pid ?? -1;
  }
  log(): string {
    return this.output;
  }
  protected abstract command(): [string, string[]];
  protected abstract ready(): Promise<boolean>;
  abstract getRoutes(family: BgpFamily): Promise<RibRoute[]>;
  abstract countRoutes(family: BgpFamily): Promise<number>;
  abstract peerState(peer: string): Promise<string>;
  abstract withdrawnPrefixes(peer: string): Promise<number>;
  abstract readonly routeRefresh: ((peer: string) => Promise<void>) | null;

  async start(): Promise<void> {
    const [cmd, args] = this.command();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    reapOnExit(child);
    this.child = child;
    const keep = (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-20000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let exited = false;
    child.once('exit', () => (exited = true));
    await waitFor(`${this.kind} on ${this.address} to start`, async () => {
      if (exited) throw new Error(`${this.kind} exited: ${this.output.slice(-500)}`);
      return this.ready();
    });
  }

  async waitEstablished(peer: string, timeoutMs = 20000): Promise<void> {
    await waitFor(
      `${this.kind} session with ${peer}`,
      async () => (await this.peerState(peer)) === 'Established',
      timeoutMs,
      200,
    );
  }

  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  async halt(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGCONT');
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
    this.child = null;
  }

  async restart(): Promise<void> {
    await this.halt();
    await this.start();
  }

  async stop(): Promise<void> {
    await this.halt();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- GoBGP

class Gobgp extends Base {
  readonly kind = 'gobgp' as const;
  private readonly sock: string;
  constructor(opts: RouterOptions) {
    super(opts);
    this.sock = join(this.dir, 'gobgp.sock');
    const o = opts;
    let conf = `[global.config]\n  as = ${o.asn}\n  router-id = "${o.routerId ?? o.address}"\n  port = ${o.port}\n  local-address-list = ["${o.address}"]\n`;
    for (const p of o.peers) {
      conf += `[[neighbors]]\n  [neighbors.config]\n    neighbor-address = "${p.address}"\n    peer-as = ${p.asn}\n`;
      if (p.password !== undefined) conf += `    auth-password = ${JSON.stringify(p.password)}\n`;
      conf += `  [neighbors.transport.config]\n    passive-mode = ${p.passive ? 'true' : 'false'}\n    local-address = "${o.address}"\n    remote-port = ${p.port ?? o.port}\n`;
      conf += `  [neighbors.timers.config]\n    hold-time = ${p.holdTime ?? 90}\n    keepalive-interval = ${Math.max(1, Math.floor((p.holdTime ?? 90) / 3))}\n    connect-retry = 1\n`;
      if (p.gracefulRestart)
        conf += `  [neighbors.graceful-restart.config]\n    enabled = true\n    restart-time = 120\n`;
      // GTSM: TTL 255 out, IP_MINTTL 255 in (one hop).
      if (p.ttlSecurity) conf += `  [neighbors.ttl-security.config]\n    enabled = true\n    ttl-min = 255\n`;
      // GoBGP negotiates only the transport's unicast family unless every family is listed.
      for (const f of p.families ?? FAMILIES) {
        conf += `  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = "${f}"\n`;
        if (p.gracefulRestart)
          conf += `    [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = true\n`;
      }
    }
    writeFileSync(join(this.dir, 'gobgpd.toml'), conf);
  }
  protected command(): [string, string[]] {
    rmSync(this.sock, { force: true });
    return [
      'gobgpd',
      [
        '-f',
        join(this.dir, 'gobgpd.toml'),
        '--api-hosts',
        `unix://${this.sock}`,
        '--pprof-disable',
        '-p',
        '-l',
        'info',
      ],
    ];
  }
  private async cli(args: string[]): Promise<string> {
    const r = await run('gobgp', ['--target', `unix://${this.sock}`, ...args], {
      maxBuffer: 512 * 1024 * 1024,
    });
    return r.stdout;
  }
  protected async ready(): Promise<boolean> {
    if (!existsSync(this.sock)) return false;
    await this.cli(['global']);
    return true;
  }
  async peerState(peer: string): Promise<string> {
    const j = JSON.parse(await this.cli(['neighbor', peer, '-j'])) as { state: { session_state?: number } };
    return (
      ['Unknown', 'Idle', 'Connect', 'Active', 'OpenSent', 'OpenConfirm', 'Established'][
        j.state.session_state ?? 0
      ] ?? '?'
    );
  }
  async withdrawnPrefixes(peer: string): Promise<number> {
    const j = JSON.parse(await this.cli(['neighbor', peer, '-j'])) as {
      state: { messages?: { received?: { withdraw_prefix?: number } } };
    };
    return j.state.messages?.received?.withdraw_prefix ?? 0;
  }
  // `gobgp neighbor X softresetin` only re-applies import policy locally; no ROUTE-REFRESH is sent.
  readonly routeRefresh = null;
  private fam(f: BgpFamily): string {
    return {
      'ipv4-unicast': 'ipv4',
      'ipv6-unicast': 'ipv6',
      'ipv4-flowspec': 'ipv4-flowspec',
      'ipv6-flowspec': 'ipv6-flowspec',
    }[f];
  }
  async countRoutes(family: BgpFamily): Promise<number> {
    const out = await this.cli(['global', 'rib', 'summary', '-a', this.fam(family)]);
    const m = /Destination:\s*([\d,]+)/.exec(out);
    return m ? Number(m[1]!.replace(/,/g, '')) : 0;
  }
  async getRoutes(family: BgpFamily): Promise<RibRoute[]> {
    const out = (await this.cli(['global', 'rib', '-a', this.fam(family), '-j'])).trim();
    if (!out || out === 'null') return [];
    const j = JSON.parse(out) as Record<string, { attrs: Record<string, unknown>[] }[]>;
    const routes: RibRoute[] = [];
    for (const [prefix, paths] of Object.entries(j)) {
      const p = paths[0]!;
      let nextHop: string | undefined;
      const communities: string[] = [];
      const largeCommunities: string[] = [];
      const extendedCommunities: string[] = [];
      const asPath: number[] = [];
      let localPref: number | undefined;
      let med: number | undefined;
      for (const a of p.attrs) {
        switch (a.type) {
          case 2:
            for (const s of (a.as_paths as { asns: number[] }[] | undefined) ?? []) asPath.push(...s.asns);
            break;
          case 3:
            nextHop = a.nexthop as string;
            break;
          case 4:
            med = a.metric as number;
            break;
          case 5:
            localPref = a.value as number;
            break;
          case 8:
            for (const c of a.communities as number[]) communities.push(`${c >>> 16}:${c & 0xffff}`);
            break;
          case 14:
            if (a.nexthop && a.nexthop !== '0.0.0.0' && a.nexthop !== '::') nextHop = a.nexthop as string;
            break;
          case 16:
            for (const e of a.value as unknown[]) extendedCommunities.push(JSON.stringify(e));
            break;
          case 32:
            for (const l of a.value as { ASN: number; LocalData1: number; LocalData2: number }[])
              largeCommunities.push(`${l.ASN}:${l.LocalData1}:${l.LocalData2}`);
            break;
        }
      }
      routes.push({
        prefix,
        ...(nextHop !== undefined ? { nextHop } : {}),
        communities,
        largeCommunities,
        extendedCommunities,
        asPath,
        ...(localPref !== undefined ? { localPref } : {}),
        ...(med !== undefined ? { med } : {}),
        raw: p,
      });
    }
    return routes;
  }
}

// ---------------------------------------------------------------- BIRD

class Bird extends Base {
  readonly kind = 'bird' as const;
  private readonly ctl: string;
  constructor(opts: RouterOptions) {
    super(opts);
    this.ctl = join(this.dir, 'bird.ctl');
    const o = opts;
    let conf = `router id ${o.routerId ?? o.address};\nlog stderr all;\nprotocol device { scan time 600; }\n`;
    conf += 'flow4 table flowtab4;\nflow6 table flowtab6;\n';
    // Make any next hop resolvable: with multihop BIRD resolves next hops recursively.
    conf +=
      'protocol static nhres4 { ipv4; route 0.0.0.0/0 blackhole; }\nprotocol static nhres6 { ipv6; route ::/0 blackhole; }\n';
    o.peers.forEach((p, i) => {
      const fams = p.families ?? FAMILIES;
      conf += `protocol bgp peer${i} {\n  local ${o.address} port ${o.port} as ${o.asn};\n  neighbor ${p.address} port ${p.port ?? o.port} as ${p.asn};\n`;
      // multihop: 127.0.0.x is not directly connected for BIRD; strict bind: listen on our address only.
      // GTSM: BIRD sends TTL 255 and accepts 256 - hops and up, so one hop (it refuses the
      // loopback neighbour as direct).
      conf += p.ttlSecurity ? '  multihop 1;\n  ttl security on;\n' : '  multihop;\n';
      if (p.password !== undefined) conf += `  password ${JSON.stringify(p.password)};\n`;
      conf += `  strict bind on;\n  passive ${p.passive ? 'on' : 'off'};\n  hold time ${p.holdTime ?? 90};\n  connect delay time 1;\n  connect retry time 1;\n  error wait time 1, 5;\n`;
      if (p.gracefulRestart) conf += '  graceful restart on;\n';
      // Route debug lines are how withdrawnPrefixes() sees withdrawals (counters reset on session down).
      conf += '  debug { routes, events };\n';
      if (fams.includes('ipv4-unicast')) conf += '  ipv4 { import all; export none; };\n';
      if (fams.includes('ipv6-unicast')) conf += '  ipv6 { import all; export none; };\n';
      if (fams.includes('ipv4-flowspec')) conf += '  flow4 { table flowtab4; import all; export none; };\n';
      if (fams.includes('ipv6-flowspec')) conf += '  flow6 { table flowtab6; import all; export none; };\n';
      conf += '}\n';
    });
    writeFileSync(join(this.dir, 'bird.conf'), conf);
  }
  protected command(): [string, string[]] {
    rmSync(this.ctl, { force: true });
    return [
      'bird',
      ['-f', '-c', join(this.dir, 'bird.conf'), '-s', this.ctl, '-P', join(this.dir, 'bird.pid')],
    ];
  }
  async birdc(cmd: string): Promise<string> {
    const r = await run('birdc', ['-s', this.ctl, ...cmd.split(' ')], { maxBuffer: 512 * 1024 * 1024 });
    return r.stdout;
  }
  protected async ready(): Promise<boolean> {
    if (!existsSync(this.ctl)) return false;
    return /BIRD .* ready/.test(await this.birdc('show status'));
  }
  private protoOf(peer: string): string {
    const i = this.opts.peers.findIndex((p) => p.address === peer);
    if (i < 0) throw new Error(`${peer} is not a peer of this router`);
    return `peer${i}`;
  }
  async peerState(peer: string): Promise<string> {
    const out = await this.birdc(`show protocols all ${this.protoOf(peer)}`);
    return /BGP state:\s+(\S+)/.exec(out)?.[1] ?? '?';
  }
  async withdrawnPrefixes(peer: string): Promise<number> {
    // From the route debug log ("peerN.ipv4 > removed ..."): BIRD resets its counters when a session goes down.
    const proto = this.protoOf(peer);
    return this.output.split('\n').filter((l) => l.includes(`${proto}.`) && / > removed /.test(l)).length;
  }
  readonly routeRefresh = async (peer: string): Promise<void> => {
    await this.birdc(`reload in ${this.protoOf(peer)}`);
  };
  private table(f: BgpFamily): string {
    return {
      'ipv4-unicast': 'master4',
      'ipv6-unicast': 'master6',
      'ipv4-flowspec': 'flowtab4',
      'ipv6-flowspec': 'flowtab6',
    }[f];
  }
  async countRoutes(family: BgpFamily): Promise<number> {
    // Routes learnt over BGP only (the next-hop resolver statics are not counted).
    let n = 0;
    for (let i = 0; i < this.opts.peers.length; i++) {
      const out = await this.birdc(`show route table ${this.table(family)} protocol peer${i} count`);
      n += Number(/(\d+) of \d+ routes/.exec(out)?.[1] ?? 0);
    }
    return n;
  }
  async getRoutes(family: BgpFamily): Promise<RibRoute[]> {
    const routes: RibRoute[] = [];
    for (let i = 0; i < this.opts.peers.length; i++) {
      const out = await this.birdc(`show route table ${this.table(family)} protocol peer${i} all`);
      routes.push(...parseBirdRoutes(out));
    }
    return routes;
  }
}

/** Parse `birdc show route all` text into routes. */
export function parseBirdRoutes(text: string): RibRoute[] {
  const out: RibRoute[] = [];
  const blocks: string[][] = [];
  for (const line of text.split('\n')) {
    if (/^(BIRD |Table |\s*$)/.test(line)) continue;
    if (/^\S/.test(line)) blocks.push([line]);
    else if (/^\s+\S/.test(line) && !line.startsWith('\t') && blocks.length)
      blocks.push([blocks[blocks.length - 1]![0]!.split(/\s+/)[0]! + line]);
    else blocks[blocks.length - 1]?.push(line);
  }
  for (const b of blocks) {
    const head = b[0]!;
    const flow = /^(flow[46] \{.*?\})\s+\[/.exec(head);
    const prefix = flow ? flow[1]! : head.split(/\s+/)[0]!;
    const attr = (name: string) =>
      b
        .find((l) => l.trim().startsWith(`BGP.${name}:`))
        ?.trim()
        .slice(name.length + 5)
        .trim();
    const pairs = (s: string | undefined) =>
      s ? [...s.matchAll(/\(([^)]*)\)/g)].map((m) => m[1]!.replace(/\s+/g, '')) : [];
    const nh = attr('next_hop');
    const lp = attr('local_pref');
    const med = attr('med');
    out.push({
      prefix,
      ...(nh ? { nextHop: nh.split(/\s+/)[0]! } : {}),
      communities: pairs(attr('community')).map((c) => c.replace(',', ':')),
      largeCommunities: pairs(attr('large_community')).map((c) => c.replace(/,/g, ':')),
      extendedCommunities: pairs(attr('ext_community')),
      asPath: (attr('as_path') ?? '')
        .split(/\s+/)
        .filter((x) => /^\d+$/.test(x))
        .map(Number),
      ...(lp ? { localPref: Number(lp) } : {}),
      ...(med ? { med: Number(med) } : {}),
      raw: b.join('\n'),
    });
  }
  return out;
}

export async function startGobgp(opts: RouterOptions): Promise<Router> {
  const r = new Gobgp(opts);
  await r.start();
  return r;
}

export async function startBird(opts: RouterOptions): Promise<Router> {
  const r = new Bird(opts);
  await r.start();
  return r;
}
