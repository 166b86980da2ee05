/**
 * A minimal receiving BGP router for `breakwater demo`: it listens on loopback, answers
 * the OPEN (RFC 4271 §4.2) with every family Breakwater may send, keeps the session alive
 * and reports each route it receives or loses. It announces nothing. Built on the speaker's
 * own codec, so it only stands in for a router when no BIRD or GoBGP is at hand.
 */
import net from 'node:net';
import { EventEmitter } from 'node:events';
import {
  buildCapabilities,
  communityText,
  decodeMessage,
  encodeKeepalive,
  encodeOpen,
  largeCommunityText,
  readHeader,
} from '../bgp/index.js';
import type { BgpMessage } from '../bgp/index.js';
import { prefixToString, v4FromBytes, v4ToString, v6ToString } from '../wire/addr.js';
import { describe, decodeRule } from '../flowspec/index.js';

export interface ReceivedRoute {
  readonly family: string;
  readonly prefix: string;
  readonly nextHop: string;
  readonly communities: string[];
  readonly largeCommunities: string[];
}

export class DemoReceiver extends EventEmitter {
  private server: net.Server | null = null;
  readonly routes = new Map<string, ReceivedRoute>();
  private socks = new Set<net.Socket>();

  constructor(
    readonly address: string,
    readonly asn: number,
  ) {
    super();
  }

  listen(port = 0): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server = net.createServer((s) => this.session(s));
      this.server.once('error', reject);
      this.server.listen(port, this.address, () => resolve((this.server!.address() as net.AddressInfo).port));
    });
  }

  close(): Promise<void> {
    for (const s of this.socks) s.destroy();
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private session(sock: net.Socket): void {
    this.socks.add(sock);
    let buf = Buffer.alloc(0);
    let keepalive: NodeJS.Timeout | null = null;
    sock.on('close', () => {
      this.socks.delete(sock);
      if (keepalive) clearInterval(keepalive);
      this.emit('down');
    });
    sock.on('error', () => undefined);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        let h: ReturnType<typeof readHeader>;
        try {
          h = readHeader(buf, 0, 65535);
        } catch {
          sock.destroy();
          return;
        }
        if (!h || buf.length < h.length) return;
        const msg = buf.subarray(0, h.length);
        buf = buf.subarray(h.length);
        let m: BgpMessage;
        try {
          m = decodeMessage(msg, { as4: true, maxLength: 65535 });
        } catch {
          continue;
        }
        if (m.type === 'open') {
          const caps = buildCapabilities({
            asn: this.asn,
            families: ['ipv4-unicast', 'ipv6-unicast', 'ipv4-flowspec', 'ipv6-flowspec'],
            gracefulRestart: 0,
            extendedMessage: false,
          });
          sock.write(
            encodeOpen({
              version: 4,
              myAs: this.asn > 65535 ? 23456 : this.asn,
              holdTime: 90,
              routerId: '192.0.2.200',
              params: [{ kind: 'capabilities', capabilities: caps }],
            }),
          );
          sock.write(encodeKeepalive());
          keepalive = setInterval(() => sock.write(encodeKeepalive()), 30_000);
          this.emit('up');
        } else if (m.type === 'update') this.update(m);
      }
    });
  }

  private update(m: Extract<BgpMessage, { type: 'update' }>): void {
    let nextHop = '';
    const communities: string[] = [];
    const large: string[] = [];
    const ext: Uint8Array[] = [];
    for (const a of m.attributes) {
      if (a.kind === 'ext_communities') ext.push(...a.communities);
      if (a.kind === 'next_hop') nextHop = a.nextHop;
      else if (a.kind === 'communities') communities.push(...a.communities.map(communityText));
      else if (a.kind === 'large_communities') large.push(...a.communities.map(largeCommunityText));
    }
    const key = (family: string, prefix: string) => `${family} ${prefix.replace(/ -> .*$/, '')}`;
    const add = (family: string, prefix: string, nh: string) => {
      const r = { family, prefix, nextHop: nh, communities, largeCommunities: large };
      this.routes.set(key(family, prefix), r);
      this.emit('route', r);
    };
    const del = (family: string, prefix: string) => {
      const r = this.routes.get(key(family, prefix));
      if (r && this.routes.delete(key(family, prefix))) this.emit('withdraw', r);
    };
    for (const p of m.withdrawn) del('ipv4-unicast', prefixToString(p));
    for (const p of m.nlri) add('ipv4-unicast', prefixToString(p), nextHop);
    for (const a of m.attributes) {
      if (a.kind === 'mp_reach') {
        const fam = `${a.afi === 2 ? 'ipv6' : 'ipv4'}-${a.safi === 133 ? 'flowspec' : 'unicast'}`;
        const nh =
          a.nextHop.length === 4
            ? v4ToString(v4FromBytes(a.nextHop))
            : a.nextHop.length >= 16
              ? v6ToString(a.nextHop)
              : '';
        for (const p of a.nlri) add(fam, prefixToString(p), nh);
        for (const f of a.flowspec) add(fam, flowText(f, a.afi === 2 ? 6 : 4, ext), nh);
      } else if (a.kind === 'mp_unreach') {
        const fam = `${a.afi === 2 ? 'ipv6' : 'ipv4'}-${a.safi === 133 ? 'flowspec' : 'unicast'}`;
        for (const p of a.withdrawn) del(fam, prefixToString(p));
        for (const f of a.flowspec) del(fam, flowText(f, a.afi === 2 ? 6 : 4, []).replace(/ -> .*$/, ''));
      }
    }
  }
}

function flowText(nlri: Uint8Array, family: 4 | 6, ext: readonly Uint8Array[]): string {
  try {
    return describe(decodeRule(nlri, family, ext));
  } catch {
    return Buffer.from(nlri).toString('hex');
  }
}
