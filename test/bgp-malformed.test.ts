/**
 * Malformed BGP from a fake peer over a live session (issue 14 regression cases that
 * bgp-codec/bgp-fuzz do not pin one by one): each gets the NOTIFICATION RFC 4271 §6 names,
 * or with RFC 7606 the session goes on with the UPDATE treat-as-withdraw or the attribute
 * discarded; FlowSpec NLRI validated per RFC 8955 §4.2 / RFC 8956 §3; LOCAL_PREF from an
 * eBGP peer ignored (RFC 4271 §5.1.5); 120k UPDATEs leave at most 100k routes counted.
 * Fake peers on 127.0.0.106-109, Breakwater on 127.0.0.110.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { decodeMessage, encodeKeepalive, encodeOpen, type BgpMessage } from '../src/bgp/codec.js';
import { buildCapabilities } from '../src/bgp/capabilities.js';
import { checkFlowspecNlri, type UpdateMessage } from '../src/bgp/update.js';
import { withoutExternalLocalPref } from '../src/bgp/peer.js';
import { createSpeaker, type EmbeddedSpeaker } from '../src/bgp/index.js';
import { bgpTestConfig, peerConfig } from './helpers/bgp-config.js';
import { freeAddress, waitFor } from './helpers/routers.js';
import { freePort } from './helpers/daemon.js';

const FAKE = ['127.0.0.106', '127.0.0.107', '127.0.0.108', '127.0.0.109'];
const US = '127.0.0.110';
const FAKE_AS = 65000;

/** A BGP message: marker, length (or `len` to lie about it), type, body (RFC 4271 §4.1). */
function msg(type: number, body: readonly number[], o: { len?: number; marker?: number } = {}): Buffer {
  const len = o.len ?? 19 + body.length;
  return Buffer.from([...new Array(16).fill(o.marker ?? 0xff), len >> 8, len & 0xff, type, ...body]);
}

// Path attributes (flags, code, length, value); AS numbers are 4 octets (both sides offer AS4).
const ORIGIN = [0x40, 1, 1, 0];
const AS_PATH = [0x40, 2, 6, 2, 1, 0, 0, FAKE_AS >> 8, FAKE_AS & 0xff];
const NEXT_HOP = [0x40, 3, 4, 192, 0, 2, 1];
const LOCAL_PREF = [0x40, 5, 4, 0, 0, 0, 200];
const v4 = (a: number, b: number, c: number, d: number) => [32, a, b, c, d];

/** UPDATE body: withdrawn, attributes, NLRI (lengths computed unless given). */
function update(
  attrs: readonly number[],
  nlri: readonly number[] = [],
  o: { wLen?: number; aLen?: number; withdrawn?: readonly number[] } = {},
): Buffer {
  const w = o.withdrawn ?? [];
  const wl = o.wLen ?? w.length;
  const al = o.aLen ?? attrs.length;
  return msg(2, [wl >> 8, wl & 0xff, ...w, al >> 8, al & 0xff, ...attrs, ...nlri]);
}

/** MP_REACH_NLRI for FlowSpec (AFI 1 or 2, SAFI 133, no next hop) carrying the given NLRI values. */
function flowReach(afi: 1 | 2, ...values: readonly number[][]): number[] {
  const nlri = values.flatMap((v) => [v.length, ...v]);
  const value = [0, afi, 133, 0, 0, ...nlri];
  return [0x90, 14, value.length >> 8, value.length & 0xff, ...value];
}

const DST = [1, 32, 203, 0, 113, 5]; // destination 203.0.113.5/32
const PROTO_UDP = [3, 0x81, 17]; // protocol == 17, end of list

interface Fake {
  sp: EmbeddedSpeaker;
  socket: net.Socket;
  received: BgpMessage[];
  closed: () => boolean;
  updates: UpdateMessage[];
  stop(): Promise<void>;
}

/**
 * A fake router Breakwater connects to. `open` replaces the fake's OPEN (OPEN error cases);
 * resolves once the session is Established (or, with `open`, once the first connection is in).
 */
async function fakePeer(o: { open?: Buffer; remoteAs?: number; localAs?: number } = {}): Promise<Fake> {
  const port = await freePort('tcp');
  const addr = await freeAddress(FAKE, [port]);
  let socket: net.Socket | null = null;
  let closed = false;
  const received: BgpMessage[] = [];
  const server = net.createServer((s) => {
    if (socket) return void s.destroy(); // the first connection is the one under test
    socket = s;
    let buf = Buffer.alloc(0);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 19 && buf.length >= buf.readUInt16BE(16)) {
        const len = buf.readUInt16BE(16);
        const m = decodeMessage(buf.subarray(0, len));
        buf = buf.subarray(len);
        received.push(m);
        if (m.type === 'open') {
          if (o.open) s.write(o.open);
          else {
            const caps = buildCapabilities({
              asn: o.remoteAs ?? FAKE_AS,
              families: ['ipv4-unicast', 'ipv6-unicast', 'ipv4-flowspec', 'ipv6-flowspec'],
              gracefulRestart: 0,
              extendedMessage: false,
            });
            s.write(
              encodeOpen({
                version: 4,
                myAs: o.remoteAs ?? FAKE_AS,
                holdTime: 90,
                routerId: '10.9.9.9',
                params: [{ kind: 'capabilities', capabilities: caps }],
              }),
            );
            s.write(encodeKeepalive());
          }
        }
      }
    });
    s.on('close', () => (closed = true));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(port, addr, () => r()));
  const sp = createSpeaker(
    bgpTestConfig({
      local_as: o.localAs ?? 65100,
      peers: [
        peerConfig({
          name: 'fake',
          address: addr,
          port,
          remote_as: o.remoteAs ?? FAKE_AS,
          local_as: o.localAs ?? 65100,
          local_address: US,
        }),
      ],
    }),
    { backoffBaseMs: 60_000, backoffMaxMs: 60_000 },
  );
  const updates: UpdateMessage[] = [];
  sp.onUpdate((_p, m) => updates.push(m));
  await sp.start();
  if (o.open)
    await waitFor('OPEN exchanged', async () => socket !== null && received.some((m) => m.type === 'open'));
  else
    await waitFor(
      'Established',
      async () => sp.status()[0]?.state === 'Established' && received.some((m) => m.type === 'keepalive'),
    );
  return {
    sp,
    socket: socket!,
    received,
    closed: () => closed,
    updates,
    async stop() {
      await sp.stop();
      socket?.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function notified(f: Fake, what: string): Promise<string> {
  await waitFor(
    `NOTIFICATION for ${what}`,
    async () => f.received.some((m) => m.type === 'notification'),
    5000,
    10,
  );
  const n = f.received.find((m) => m.type === 'notification');
  assert.ok(n?.type === 'notification');
  await waitFor('close', async () => f.closed(), 5000, 10);
  return `${n.code}/${n.subcode}`;
}

/** The session survives `m` (a KEEPALIVE after it is answered by nothing but staying up). */
async function survives(f: Fake, m: Buffer): Promise<void> {
  const before = f.sp.status()[0]!.updates_in;
  f.socket.write(m);
  await waitFor('UPDATE processed', async () => f.sp.status()[0]!.updates_in > before, 5000, 10);
  f.socket.write(encodeKeepalive());
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(f.closed(), false, `closed after ${m.toString('hex')}`);
  assert.equal(f.sp.status()[0]!.state, 'Established');
  assert.equal(
    f.received.some((x) => x.type === 'notification'),
    false,
  );
}

const RESETS: [string, Buffer, string][] = [
  ['bad marker', msg(4, [], { marker: 0xfe }), '1/1'],
  ['length 18', msg(4, [], { len: 18 }), '1/2'],
  ['length 4097', Buffer.concat([msg(2, new Array(4078).fill(0), { len: 4097 })]), '1/2'],
  ['KEEPALIVE of 20 bytes', msg(4, [0]), '1/2'],
  ['unknown type 6', msg(6, []), '1/3'],
  ['unknown type 255', msg(255, []), '1/3'],
  ['Withdrawn Routes Length overruns the UPDATE', update([], [], { wLen: 200 }), '3/1'],
  ['Total Path Attribute Length overruns the UPDATE', update([...ORIGIN], [], { aLen: 100 }), '3/1'],
  ['NLRI prefix length 33', update([...ORIGIN, ...AS_PATH, ...NEXT_HOP], [33, 1, 2, 3, 4, 5]), '3/10'],
  [
    'MP_REACH_NLRI twice',
    update([...ORIGIN, ...AS_PATH, ...flowReach(1, [...DST]), ...flowReach(1, [...DST])]),
    '3/1',
  ],
  [
    'unrecognized well-known attribute 99',
    update([...ORIGIN, ...AS_PATH, ...NEXT_HOP, 0x40, 99, 1, 0], v4(198, 51, 100, 1)),
    '3/2',
  ],
  [
    'MP_REACH_NLRI with an IPv4 next hop of 3 bytes',
    update([...ORIGIN, ...AS_PATH, 0x90, 14, 0, 9, 0, 1, 1, 3, 1, 2, 3, 0, 0]),
    '3/9',
  ],
];

for (const [name, bytesOut, want] of RESETS) {
  test(`session reset: ${name} -> NOTIFICATION ${want}`, async () => {
    const f = await fakePeer();
    try {
      f.socket.write(bytesOut);
      assert.equal(await notified(f, name), want);
      assert.match(f.sp.status()[0]!.last_error ?? '', /sent NOTIFICATION/);
    } finally {
      await f.stop();
    }
  });
}

const openMsg = (version: number, as: number, hold: number, id: readonly number[]) =>
  msg(1, [version, as >> 8, as & 0xff, hold >> 8, hold & 0xff, ...id, 0]);
const OPENS: [string, Buffer, string][] = [
  ['version 3', openMsg(3, FAKE_AS, 90, [10, 9, 9, 9]), '2/1'],
  ['wrong peer AS', openMsg(4, 65001, 90, [10, 9, 9, 9]), '2/2'],
  ['BGP identifier 0.0.0.0', openMsg(4, FAKE_AS, 90, [0, 0, 0, 0]), '2/3'],
  ['hold time 2', openMsg(4, FAKE_AS, 2, [10, 9, 9, 9]), '2/6'],
  [
    'optional parameter type 9',
    msg(1, [4, FAKE_AS >> 8, FAKE_AS & 0xff, 0, 90, 10, 9, 9, 9, 3, 9, 1, 0]),
    '2/4',
  ],
];
for (const [name, open, want] of OPENS) {
  test(`OPEN error: ${name} -> NOTIFICATION ${want}`, async () => {
    const f = await fakePeer({ open });
    try {
      assert.equal(await notified(f, name), want);
      assert.notEqual(f.sp.status()[0]!.state, 'Established');
    } finally {
      await f.stop();
    }
  });
}

test('RFC 7606 on a live session: treat-as-withdraw and attribute-discard keep it up, with the right effect on routes', async () => {
  const f = await fakePeer();
  try {
    const st = () => f.sp.status()[0]!;
    await survives(f, update([...ORIGIN, ...AS_PATH, ...NEXT_HOP], v4(198, 51, 100, 1)));
    assert.equal(st().prefixes_in, 1);
    // ORIGIN 3 (RFC 7606 §7.1): treat-as-withdraw, so 198.51.100.1 announced again this way is gone.
    await survives(f, update([0x40, 1, 1, 3, ...AS_PATH, ...NEXT_HOP], v4(198, 51, 100, 1)));
    assert.equal(st().prefixes_in, 0);
    assert.equal(st().malformed_updates_in, 1);
    // Missing AS_PATH (§3.d): treat-as-withdraw.
    await survives(f, update([...ORIGIN, ...NEXT_HOP], v4(198, 51, 100, 2)));
    assert.equal(st().prefixes_in, 0);
    // AS_PATH segment overrunning the attribute (§7.2): treat-as-withdraw.
    await survives(
      f,
      update([...ORIGIN, 0x40, 2, 6, 2, 5, 0, 0, 0xfd, 0xe8, ...NEXT_HOP], v4(198, 51, 100, 3)),
    );
    assert.equal(st().prefixes_in, 0);
    // Attribute flags conflicting (§3.c): ORIGIN marked optional.
    await survives(f, update([0xc0, 1, 1, 0, ...AS_PATH, ...NEXT_HOP], v4(198, 51, 100, 4)));
    assert.equal(st().prefixes_in, 0);
    // ATOMIC_AGGREGATE of length 1 (§7.6): attribute-discard, the route stands.
    await survives(f, update([...ORIGIN, ...AS_PATH, ...NEXT_HOP, 0x40, 6, 1, 0], v4(198, 51, 100, 5)));
    assert.equal(st().prefixes_in, 1);
    // AGGREGATOR of the wrong length (§7.7): attribute-discard.
    await survives(f, update([...ORIGIN, ...AS_PATH, ...NEXT_HOP, 0xc0, 7, 3, 1, 2, 3], v4(198, 51, 100, 6)));
    assert.equal(st().prefixes_in, 2);
    assert.equal(st().malformed_updates_in, 6);
  } finally {
    await f.stop();
  }
});

test('FlowSpec NLRI (RFC 8955 §4.2): unknown component 99, out of order, a /40 in IPv4, a bad operator length are treat-as-withdraw; a valid rule counts', async () => {
  const f = await fakePeer();
  try {
    const st = () => f.sp.status()[0]!;
    const announce = (...values: number[][]) => update([...ORIGIN, ...AS_PATH, ...flowReach(1, ...values)]);
    await survives(f, announce([...DST, ...PROTO_UDP]));
    assert.equal(st().prefixes_in, 1);
    assert.equal(st().malformed_updates_in, 0);
    const bad: [string, number[]][] = [
      ['unknown component 99', [...DST, 99, 0x81, 6]],
      ['components out of order', [...PROTO_UDP, ...DST]],
      ['a /40 in IPv4', [1, 40, 203, 0, 113, 5, 0]],
      ['a bad operator length (4-octet value, 1 octet left)', [...DST, 3, 0xa1, 17]],
      ['no end-of-list bit', [...DST, 3, 0x01, 17]],
      ['type 13 (IPv6 flow label) in IPv4', [...DST, 13, 0x81, 1]],
    ];
    let n = 0;
    for (const [what, value] of bad) {
      await survives(f, announce(value));
      n++;
      assert.equal(st().prefixes_in, 1, what);
      assert.equal(st().malformed_updates_in, n, what);
      const last = f.updates[f.updates.length - 1]!;
      assert.ok(
        last.issues?.some((i) => i.action === 'treat-as-withdraw' && i.attr === 14),
        what,
      );
      const mp = last.attributes.find((a) => a.kind === 'mp_reach');
      assert.ok(
        mp?.kind === 'mp_reach' && mp.flowspec.length === 0,
        `${what}: the malformed rule is dropped`,
      );
    }
    // A valid rule next to a malformed one: the whole UPDATE is treat-as-withdraw.
    await survives(f, announce([1, 32, 203, 0, 113, 6], [...DST, 99, 0x81, 6]));
    assert.equal(st().prefixes_in, 1);
    // IPv6 (RFC 8956 §3): a /129 is refused, flow label (13) is fine.
    const v6dst = [1, 128, 0, 0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1]; // 2001:db8::1/128, offset 0
    await survives(f, update([...ORIGIN, ...AS_PATH, ...flowReach(2, [...v6dst, 13, 0x91, 0, 5])]));
    assert.equal(st().prefixes_in, 2);
    await survives(
      f,
      update([...ORIGIN, ...AS_PATH, ...flowReach(2, [1, 129, 0, ...new Array(17).fill(0)])]),
    );
    assert.equal(st().prefixes_in, 2);
    assert.equal(st().malformed_updates_in, n + 2);
  } finally {
    await f.stop();
  }
});

test('LOCAL_PREF from an eBGP peer is ignored (RFC 4271 §5.1.5), also when malformed; from iBGP it is kept', async () => {
  const f = await fakePeer();
  try {
    await survives(f, update([...ORIGIN, ...AS_PATH, ...NEXT_HOP, ...LOCAL_PREF], v4(198, 51, 100, 9)));
    const m = f.updates[f.updates.length - 1]!;
    assert.equal(
      m.attributes.some((a) => a.code === 5),
      false,
    );
    assert.equal(m.nlri.length, 1);
    assert.equal(f.sp.status()[0]!.prefixes_in, 1);
    // LOCAL_PREF of 3 bytes would be treat-as-withdraw from iBGP; from eBGP only discarded (RFC 7606 §7.5).
    await survives(
      f,
      update([...ORIGIN, ...AS_PATH, ...NEXT_HOP, 0x40, 5, 3, 0, 0, 1], v4(198, 51, 100, 10)),
    );
    assert.equal(f.sp.status()[0]!.prefixes_in, 2);
    assert.equal(f.updates[f.updates.length - 1]!.issues, undefined);
  } finally {
    await f.stop();
  }
  const ibgp = peerConfig({ name: 'i', address: '192.0.2.9', remote_as: 65100, local_as: 65100 });
  const withLp = decodeMessage(
    update([...ORIGIN, ...AS_PATH, ...NEXT_HOP, ...LOCAL_PREF], v4(198, 51, 100, 9)),
  ) as UpdateMessage;
  assert.equal(withoutExternalLocalPref(ibgp, withLp), withLp);
  const lp = withLp.attributes.find((a) => a.kind === 'local_pref');
  assert.ok(lp?.kind === 'local_pref' && lp.value === 200);
  // Clean FlowSpec passes the check untouched (the same object).
  const clean = decodeMessage(
    update([...ORIGIN, ...AS_PATH, ...flowReach(1, [...DST, ...PROTO_UDP])]),
  ) as UpdateMessage;
  assert.equal(checkFlowspecNlri(clean), clean);
});

test('120,000 UPDATEs: the session stays up and at most 100,000 routes are counted in', {
  timeout: 120_000,
}, async () => {
  const f = await fakePeer();
  try {
    const N = 120_000;
    const chunks: Buffer[] = [];
    for (let i = 0; i < N; i++)
      chunks.push(
        update([...ORIGIN, ...AS_PATH, ...NEXT_HOP], [32, 10, (i >> 16) & 255, (i >> 8) & 255, i & 255]),
      );
    const all = Buffer.concat(chunks);
    const t0 = Date.now();
    f.socket.write(all);
    await waitFor('all UPDATEs processed', async () => f.sp.status()[0]!.updates_in >= N, 100_000, 100);
    const ms = Date.now() - t0;
    const st = f.sp.status()[0]!;
    assert.equal(st.state, 'Established');
    assert.equal(st.prefixes_in, 100_000);
    f.socket.write(encodeKeepalive());
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(f.closed(), false);
    console.log(
      `120k UPDATEs (${(all.length / 1e6).toFixed(1)} MB) processed in ${ms} ms; prefixes_in ${st.prefixes_in}`,
    );
  } finally {
    await f.stop();
  }
});
