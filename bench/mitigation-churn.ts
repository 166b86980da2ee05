/**
 * Benchmark: the cost of one mitigation change as the number active grows, whole daemon.
 * `breakwater run` peers with BIRD; N manual blackholes go in through `PUT /blackhole/<ip>`
 * over C keep-alive connections, then all are withdrawn with `DELETE /blackhole/<uuid>`.
 * Prints the time of every 1/10th of the adds (flat = constant cost per change), the time
 * until BIRD holds all N, and the time from the first DELETE until BIRD holds none.
 *
 *   node dist/bench/mitigation-churn.js [--n 20000] [--connections 32] [--log info|warn] [--bulk]
 *
 * --bulk: one `PUT /blackhole` with the list of N addresses and one `DELETE /blackhole` with
 * the list of uuids instead.
 *
 * Addresses: BIRD 127.0.0.231, Breakwater 127.0.0.232, ports picked free.
 */
import http from 'node:http';
import { join } from 'node:path';
import { freePort, startDaemon, tempDir } from '../test/helpers/daemon.js';
import { startBird, waitFor } from '../test/helpers/routers.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const N = Number(opt('n', '20000'));
const C = Number(opt('connections', '32'));
const LOG = opt('log', 'info');
const BULK = args.includes('--bulk');
const BIRD = '127.0.0.231';
const US = '127.0.0.232';

function host(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

async function main(): Promise<void> {
  const dir = tempDir('churn');
  const bgpPort = await freePort('tcp', BIRD);
  const bird = await startBird({
    address: BIRD,
    port: bgpPort,
    asn: 65000,
    peers: [{ address: US, asn: 65100, passive: true }],
  });
  const config = `
networks: [10.0.0.0/8]
capture: { listeners: [] }
api: { listen: "127.0.0.1:0" }
mitigation: { max_blackholes: ${N + 10} }
logging: { level: ${LOG} }
bgp:
  local_as: 65100
  router_id: 192.0.2.254
  peers:
    - { name: bird, address: ${BIRD}, port: ${bgpPort}, local_address: ${US}, remote_as: 65000, families: [ipv4-unicast] }
state_dir: ${join(dir, 'state')}
`;
  const d = await startDaemon(dir, config, {});
  try {
    await bird.waitEstablished(US, 20_000);
    const agent = new http.Agent({ keepAlive: true, maxSockets: C });
    const call = (method: string, path: string, payload?: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const headers =
          payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
        const req = http.request(
          { host: '127.0.0.1', port: d.apiPort, method, path, agent, headers },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (body += c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
        req.end(payload);
      });
    if (BULK) {
      const t0 = performance.now();
      const r = await call('PUT', '/blackhole', JSON.stringify(Array.from({ length: N }, (_, i) => host(i))));
      const accepted = performance.now();
      const values = (JSON.parse(r.body) as { values: { success: boolean; uuid: string }[] }).values;
      if (values.some((v) => !v.success)) throw new Error('bulk PUT refused items');
      await waitFor(
        `BIRD holding ${N}`,
        async () => (await bird.countRoutes('ipv4-unicast')) === N,
        600_000,
        50,
      );
      const held = performance.now();
      const w0 = performance.now();
      await call('DELETE', '/blackhole', JSON.stringify(values.map((v) => v.uuid)));
      const deleted = performance.now();
      await waitFor(
        'BIRD holding 0',
        async () => (await bird.countRoutes('ipv4-unicast')) === 0,
        600_000,
        50,
      );
      const zero = performance.now();
      const s = (ms: number) => (ms / 1000).toFixed(2);
      process.stdout.write(
        `mitigation churn (bulk): one PUT /blackhole with ${N} addresses, breakwater run (log ${LOG}) -> BIRD\n` +
          `  answered: ${s(accepted - t0)} s; BIRD holds all ${N}: ${s(held - t0)} s\n` +
          `  one DELETE with ${N} uuids answered: ${s(deleted - w0)} s; BIRD holds 0: ${s(zero - w0)} s\n`,
      );
      agent.destroy();
      return;
    }
    const uuids: string[] = [];
    const marks: number[] = [];
    const t0 = performance.now();
    let next = 0;
    const tenth = Math.max(1, Math.floor(N / 10));
    const worker = async () => {
      for (;;) {
        const i = next++;
        if (i >= N) return;
        const r = await call('PUT', `/blackhole/${host(i)}`);
        if (r.status !== 200) throw new Error(`PUT ${host(i)}: ${r.status} ${r.body}`);
        uuids.push((JSON.parse(r.body) as { uuid: string }).uuid);
        if (uuids.length % tenth === 0) marks.push(performance.now());
      }
    };
    await Promise.all(Array.from({ length: C }, worker));
    const accepted = performance.now();
    await waitFor(
      `BIRD holding ${N}`,
      async () => (await bird.countRoutes('ipv4-unicast')) === N,
      600_000,
      50,
    );
    const held = performance.now();

    const w0 = performance.now();
    let k = 0;
    const delWorker = async () => {
      for (;;) {
        const i = k++;
        if (i >= uuids.length) return;
        const r = await call('DELETE', `/blackhole/${uuids[i]}`);
        if (r.status !== 200) throw new Error(`DELETE ${uuids[i]}: ${r.status} ${r.body}`);
      }
    };
    await Promise.all(Array.from({ length: C }, delWorker));
    const deleted = performance.now();
    await waitFor('BIRD holding 0', async () => (await bird.countRoutes('ipv4-unicast')) === 0, 600_000, 50);
    const zero = performance.now();
    agent.destroy();

    const s = (ms: number) => (ms / 1000).toFixed(2);
    const steps = marks.map((m, i) => s(m - (i === 0 ? t0 : marks[i - 1]!)));
    process.stdout.write(
      [
        `mitigation churn: ${N} PUT /blackhole over ${C} keep-alive connections, breakwater run (log ${LOG}) -> BIRD`,
        `  each tenth of the adds took (s): ${steps.join(' ')}`,
        `  all ${N} accepted by the API: ${s(accepted - t0)} s (${Math.round(N / ((accepted - t0) / 1000))} adds/s)`,
        `  BIRD holds all ${N}: ${s(held - t0)} s after the first PUT`,
        `  ${N} DELETE accepted: ${s(deleted - w0)} s; BIRD holds 0: ${s(zero - w0)} s after the first DELETE`,
        '',
      ].join('\n'),
    );
  } finally {
    await d.kill();
    await bird.stop();
  }
}

main().catch((e: Error) => {
  process.stderr.write(`mitigation-churn: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
