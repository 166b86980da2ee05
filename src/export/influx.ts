/**
 * InfluxDB export: the same series as line protocol, POSTed gzip-compressed to the v1 API
 * `/write?db=<database>&rp=<retention_policy>&precision=ms` with basic auth when
 * credentials are set (https://docs.influxdata.com/influxdb/v1/tools/api/#write-http-endpoint).
 * Measurements (docs/integrations.md): breakwater_total, breakwater_hostgroup,
 * breakwater_host (tags direction, class, hostgroup/host), breakwater_attacks.
 */
import http from 'node:http';
import https from 'node:https';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { InfluxdbConfig } from '../config/types.js';
import { RejectedError, type Batch, type Transport } from './queue.js';
import type { RateRow, Snapshot } from './series.js';

const gzip = promisify(zlib.gzip);
/** Tag values: comma, space and "=" are escaped (line protocol). */
const tag = (v: string) => v.replace(/[,= ]/g, (c) => `\\${c}`);
const num = (v: number) => (Number.isFinite(v) ? String(v) : '0');

export function influxLines(s: Snapshot): Batch {
  const ts = Math.floor(s.timeMs);
  const lines: string[] = [];
  const rows = (m: string, tags: string, rs: readonly RateRow[]) => {
    for (const r of rs) {
      const f = `pps=${num(r.pps)},bps=${num(r.bps)}${r.flows !== null ? `,flows=${num(r.flows)}` : ''}`;
      lines.push(`${m},${tags}direction=${r.direction},class=${r.cls} ${f} ${ts}`);
    }
  };
  rows('breakwater_total', '', s.total);
  for (const g of s.hostgroups) rows('breakwater_hostgroup', `hostgroup=${tag(g.name)},`, g.rows);
  for (const h of s.hosts)
    rows('breakwater_host', `host=${tag(h.ip)},hostgroup=${tag(h.hostgroup)},`, h.rows);
  lines.push(`breakwater_attacks active=${s.attacksActive}i,started=${s.attacksStarted}i ${ts}`);
  return { text: `${lines.join('\n')}\n`, points: lines.length };
}

export class InfluxTransport implements Transport {
  private readonly url: URL;
  private readonly agent: http.Agent;

  constructor(
    private readonly cfg: InfluxdbConfig,
    private readonly timeoutMs = 5000,
  ) {
    this.url = new URL(`${cfg.url}/write`);
    this.url.searchParams.set('db', cfg.database);
    if (cfg.retention_policy) this.url.searchParams.set('rp', cfg.retention_policy);
    this.url.searchParams.set('precision', 'ms');
    this.agent =
      this.url.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, maxSockets: 1 })
        : new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  async send(batches: readonly Batch[]): Promise<void> {
    const body = await gzip(batches.map((b) => b.text).join(''));
    const headers: Record<string, string> = {
      'content-type': 'text/plain; charset=utf-8',
      'content-encoding': 'gzip',
      'content-length': String(body.length),
    };
    if (this.cfg.username !== undefined)
      headers.authorization = `Basic ${Buffer.from(`${this.cfg.username}:${this.cfg.password ?? ''}`).toString('base64')}`;
    const mod = this.url.protocol === 'https:' ? https : http;
    await new Promise<void>((resolve, reject) => {
      const req = mod.request(
        this.url,
        { method: 'POST', headers, agent: this.agent, timeout: this.timeoutMs },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text = (text + d).slice(0, 500)));
          res.on('end', () => {
            const code = res.statusCode ?? 0;
            if (code >= 200 && code < 300) return resolve();
            const why = `HTTP ${code}${text ? `: ${text.trim()}` : ''}`;
            // 400: the points themselves are refused (bad line protocol, type conflict).
            reject(code === 400 ? new RejectedError(why) : new Error(why));
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('request timed out')));
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
