/**
 * Fuzzing: mutated real messages never throw anything but BgpError from the decoder, and a
 * live session answers each with the NOTIFICATION the decoder names (or none when RFC 7606
 * lets the session go on), then reconnects; the process never crashes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { decodeMessage, encodeOpen, encodeKeepalive, readHeader, type BgpMessage } from '../src/bgp/codec.js';
import { BgpError } from '../src/bgp/notify.js';
import { buildCapabilities } from '../src/bgp/capabilities.js';
import { createSpeaker } from '../src/bgp/index.js';
import { bgpTestConfig, peerConfig, route } from './helpers/bgp-config.js';
import { freeAddress, waitFor } from './helpers/routers.js';

const fixture = JSON.parse(
  readFileSync(new URL('../../test/fixtures/bgp/updates.json', import.meta.url), 'utf8'),
) as {
  streams: { messages: { hex: string; type: string }[] }[];
};
const corpus = fixture.streams.flatMap((s) =>
  s.messages.map((m) => new Uint8Array(Buffer.from(m.hex, 'hex'))),
);

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(src: Uint8Array, rnd: () => number): Uint8Array {
  let b = Uint8Array.from(src);
  const n = 1 + Math.floor(rnd() * 4);
  for (let i = 0; i < n; i++) {
    const kind = Math.floor(rnd() * 5);
    const at = 16 + Math.floor(rnd() * Math.max(1, b.length - 16));
    if (kind === 0) b[at] = Math.floor(rnd() * 256);
    else if (kind === 1) b[at] = b[at]! ^ (1 << Math.floor(rnd() * 8));
    else if (kind === 2 && b.length > 20) b = b.slice(0, 19 + Math.floor(rnd() * (b.length - 19)));
    else if (kind === 3)
      b = Uint8Array.from([...b.subarray(0, at), Math.floor(rnd() * 256), ...b.subarray(at)]);
    else b[at] = [0, 0xff, 0x80, 0x7f, 0xf0][Math.floor(rnd() * 5)]!;
  }
  // Keep the header length consistent with the bytes most of the time (deep body checks).
  if (rnd() < 0.8 && b.length >= 19) {
    b[16] = b.length >> 8;
    b[17] = b.length & 0xff;
  }
  return b;
}

/** What the speaker must answer to `msg` once Established: a NOTIFICATION code/subcode or nothing. */
function expected(msg: Uint8Array): string | null {
  try {
    const h = readHeader(msg, 0, 4096);
    if (!h || h.length > msg.length) return 'incomplete';
    const m = decodeMessage(msg.subarray(0, h.length));
    if (m.type === 'open') return '5/3';
    if (m.type === 'notification') return 'closed';
    return h.length < msg.length ? 'trailing' : null;
  } catch (e) {
    assert.ok(e instanceof BgpError, `non-BgpError from decoder: ${String(e)}`);
    return `${e.code}/${e.subcode}`;
  }
}

test('decoder: 30,000 mutated messages only ever throw BgpError', () => {
  const rnd = rng(42);
  const outcomes = new Map<string, number>();
  for (let i = 0; i < 30_000; i++) {
    const m = mutate(corpus[i % corpus.length]!, rnd);
    let k: string;
    try {
      const d = decodeMessage(m, { as4: true, maxLength: 65535 });
      k = d.type === 'update' && d.issues ? `7606 ${d.issues[0]!.action}` : 'ok';
    } catch (e) {
      assert.ok(e instanceof BgpError, `frame ${i}: ${String(e)}`);
      k = `${e.code}/${e.subcode}`;
    }
    outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
  }
  // The mutations reach deep: header, OPEN and UPDATE errors, and RFC 7606 non-fatal ones.
  for (const k of ['ok', '1/2', '3/1', '7606 treat-as-withdraw'])
    assert.ok((outcomes.get(k) ?? 0) > 0, `${k}: ${JSON.stringify([...outcomes])}`);
  assert.ok(
    [...outcomes.keys()].some((k) => k.startsWith('2/')),
    JSON.stringify([...outcomes]),
  );
});

interface FakeSession {
  received: BgpMessage[];
  socket: net.Socket;
  closed: boolean;
}

test('live session: every malformed message gets the right NOTIFICATION; the speaker reconnects', async () => {
  const peerAddr = await freeAddress(['127.0.0.131', '127.0.0.132', '127.0.0.133', '127.0.0.134'], [11190]);
  const ourAddr = await freeAddress(['127.0.0.135', '127.0.0.136', '127.0.0.137', '127.0.0.138'], [11191]);
  const sessions: FakeSession[] = [];
  const server = net.createServer((s) => {
    const f: FakeSession = { received: [], socket: s, closed: false };
    sessions.push(f);
    let buf = Buffer.alloc(0);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (buf.length < 19) break;
        const len = buf.readUInt16BE(16);
        if (buf.length < len) break;
        const m = decodeMessage(buf.subarray(0, len));
        buf = buf.subarray(len);
        f.received.push(m);
        if (m.type === 'open') {
          const caps = buildCapabilities({
            asn: 65000,
            families: ['ipv4-unicast', 'ipv6-unicast'],
            gracefulRestart: 0,
            extendedMessage: false,
          });
          s.write(
            encodeOpen({
              version: 4,
              myAs: 65000,
              holdTime: 90,
              routerId: '10.9.9.9',
              params: [{ kind: 'capabilities', capabilities: caps }],
            }),
          );
          s.write(encodeKeepalive());
        }
      }
    });
    s.on('close', () => (f.closed = true));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(11190, peerAddr, () => r()));
  const sp = createSpeaker(
    bgpTestConfig({
      peers: [
        peerConfig({
          name: 'fake',
          address: peerAddr,
          port: 11190,
          remote_as: 65000,
          local_address: ourAddr,
        }),
      ],
    }),
    {
      backoffBaseMs: 10,
      backoffMaxMs: 50,
    },
  );
  sp.sync([route('203.0.113.5/32', '192.0.2.1', ['65535:666'])]);
  await sp.start();
  const rnd = rng(7);
  let notifications = 0;
  let survived = 0;
  try {
    let used = -1;
    for (let i = 0; i < 40; i++) {
      const f = await waitFor(`session ${i}`, async () => {
        const s = sessions.length - 1 > used ? sessions[sessions.length - 1] : undefined;
        return s &&
          !s.closed &&
          sp.status()[0]!.state === 'Established' &&
          s.received.some((m) => m.type === 'update')
          ? s
          : null;
      });
      used = sessions.indexOf(f);
      let msg: Uint8Array;
      let want: string | null;
      do {
        msg = mutate(corpus[Math.floor(rnd() * corpus.length)]!, rnd);
        want = expected(msg);
      } while (want === 'incomplete' || want === 'closed' || want === 'trailing');
      f.socket.write(msg);
      if (want === null) {
        // Accepted (possibly treat-as-withdraw): the session goes on.
        f.socket.write(encodeKeepalive());
        await new Promise((r) => setTimeout(r, 30));
        assert.equal(f.closed, false, `message ${Buffer.from(msg).toString('hex')} closed the session`);
        assert.equal(sp.status()[0]!.state, 'Established');
        survived++;
        f.socket.destroy();
        continue;
      }
      await waitFor(
        `NOTIFICATION ${want}`,
        async () => f.received.some((m) => m.type === 'notification') || f.closed,
        3000,
        10,
      );
      const n = f.received.find((m) => m.type === 'notification');
      assert.ok(
        n?.type === 'notification',
        `no NOTIFICATION for ${Buffer.from(msg).toString('hex')} (want ${want})`,
      );
      assert.equal(`${n.code}/${n.subcode}`, want, Buffer.from(msg).toString('hex'));
      await waitFor('close', async () => f.closed, 3000, 10);
      notifications++;
    }
    assert.ok(notifications > 10, `${notifications} notifications`);
    assert.match(sp.status()[0]!.last_error ?? '', /sent NOTIFICATION/);
    void survived;
  } finally {
    await sp.stop();
    for (const s of sessions) s.socket.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
