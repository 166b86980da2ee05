/**
 * UDP ingest on loopback: a Collector (its own process, one core) fed by `replay` (another
 * process) with 30-record NetFlow v9 datagrams (udp_dns_amp.nf9, ~31 records each) at fixed
 * rates. Prints, per offered rate, datagrams sent/received and the loss, then the highest
 * rate with < 0.1% loss. For scale it runs the same sender against the cheapest possible
 * Node receiver (a dgram handler that only counts, as /work/shared/bench/udp-limit/recv.mjs)
 * in the same run, and reports the collector's rate as a ratio of that ceiling.
 *   node dist/bench/capture-ingest.js [seconds per rate, default 3] [rates...]
 */
import { fork, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { Collector } from '../src/capture/index.js';

const self = fileURLToPath(import.meta.url);
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const capture = fileURLToPath(new URL('../../test/fixtures/flows/udp_dns_amp.nf9.pcap', import.meta.url));
const RCVBUF = 32 * 1024 * 1024;

interface Counts {
  datagrams: number;
  records: number;
}

async function child(mode: string): Promise<void> {
  const counts: Counts = { datagrams: 0, records: 0 };
  let port = 0;
  if (mode === 'collector') {
    const sink = {
      onFlow() {
        counts.records++;
      },
    };
    const quiet = {
      info() {},
      warn(m: string) {
        process.stderr.write(`${m}\n`);
      },
      error() {},
      debug() {},
    } as unknown as import('../src/log.js').Logger;
    const c = new Collector([{ name: 'bench', type: 'netflow', address: '127.0.0.1', port: 0 }], sink, {
      receiveBufferBytes: RCVBUF,
      log: quiet,
    });
    await c.start();
    port = c.ports()[0]!;
    process.on('message', () => {
      const l = c.stats().listeners[0]!;
      process.send!({ datagrams: l.datagrams, records: counts.records, rcvbuf: l.receiveBuffer });
    });
  } else {
    const s = dgram.createSocket({ type: 'udp4', recvBufferSize: RCVBUF });
    s.on('message', () => counts.datagrams++);
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    port = s.address().port;
    process.on('message', () =>
      process.send!({ datagrams: counts.datagrams, records: 0, rcvbuf: s.getRecvBufferSize() }),
    );
  }
  process.send!({ port });
}

function ask(c: ReturnType<typeof fork>): Promise<Counts & { rcvbuf: number }> {
  return new Promise((r) => {
    c.once('message', (m) => r(m as Counts & { rcvbuf: number }));
    c.send('stats');
  });
}

function runReplay(port: number, rate: number, secs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      process.execPath,
      [
        cli,
        'replay',
        capture,
        '--to',
        `127.0.0.1:${port}`,
        '--rate',
        String(rate),
        '--duration',
        String(secs),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.on('close', () => {
      const m = /sent (\d+) datagrams/.exec(out);
      if (m) resolve(Number(m[1]));
      else reject(new Error(`replay: ${out}`));
    });
  });
}

async function measure(mode: 'collector' | 'plain', rates: number[], secs: number) {
  const c = fork(self, ['--child', mode], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { port } = await new Promise<{ port: number }>((r) =>
    c.once('message', (m) => r(m as { port: number })),
  );
  const rows: { rate: number; sent: number; got: number; loss: number; records: number }[] = [];
  let rcvbuf = 0;
  let bad = 0;
  for (const rate of rates) {
    const before = await ask(c);
    const sent = await runReplay(port, rate, secs);
    await new Promise((r) => setTimeout(r, 300));
    const after = await ask(c);
    rcvbuf = after.rcvbuf;
    const got = after.datagrams - before.datagrams;
    const loss = sent ? (100 * (sent - got)) / sent : 0;
    rows.push({ rate, sent, got, loss, records: after.records - before.records });
    console.log(
      `${mode.padEnd(9)} offered ${String(rate).padStart(7)}/s: sent ${sent} (${Math.round(sent / secs)}/s), received ${got}, lost ${loss.toFixed(3)}%${mode === 'collector' ? `, records ${Math.round((after.records - before.records) / secs)}/s` : ''}`,
    );
    if (loss >= 0.1 && ++bad >= 2) break;
  }
  c.kill();
  const ok = rows.filter((r) => r.loss < 0.1);
  const best = ok.length ? ok.reduce((a, b) => (b.sent > a.sent ? b : a)) : null;
  return { best, rcvbuf };
}

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--child') return child(args[1]!);
  const secs = Number(args[0] ?? 3);
  const rates =
    args.length > 1 ? args.slice(1).map(Number) : [50_000, 100_000, 150_000, 200_000, 250_000, 300_000];
  console.log(
    `capture ingest benchmark: 30-record NetFlow v9 datagrams (udp_dns_amp.nf9), ${secs} s per rate, replay sender in its own process`,
  );
  const col = await measure('collector', rates, secs);
  const plain = await measure('plain', rates, secs);
  const fmt = (b: typeof col.best) => (b ? `${Math.round(b.sent / secs)} datagrams/s` : 'none');
  console.log(`receive buffer granted: ${col.rcvbuf} bytes`);
  console.log(
    `collector: highest rate with < 0.1% loss: ${fmt(col.best)}${col.best ? ` (${(col.best.records / secs / 1e6).toFixed(2)}M records/s)` : ''} (goal 200,000 datagrams/s)`,
  );
  console.log(`plain Node dgram counter, same sender: ${fmt(plain.best)}`);
  if (col.best && plain.best)
    console.log(`collector / plain counter: ${(col.best.sent / plain.best.sent).toFixed(2)}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
