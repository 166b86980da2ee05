/**
 * Graphite export over carbon's plaintext protocol (TCP, one `path value timestamp` line
 * per point; https://graphite.readthedocs.io/en/latest/feeding-carbon.html). Names follow
 * FastNetMon's layout (docs/integrations.md):
 *   <prefix>.total.<direction>.{pps,bps,flows}        <prefix>.total.<direction>.<class>.{pps,bps}
 *   <prefix>.hostgroups.<name>.<direction>[.<class>].{pps,bps[,flows]}
 *   <prefix>.hosts.<ip with . and : as _>.<direction>[.<class>].{pps,bps[,flows]}
 *   <prefix>.attacks.active   <prefix>.attacks.started
 */
import net from 'node:net';
import type { Batch, Transport } from './queue.js';
import type { RateRow, Snapshot } from './series.js';

const seg = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, '_');
const num = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(3));

export function graphiteLines(s: Snapshot, prefix: string): Batch {
  const ts = Math.floor(s.timeMs / 1000);
  const p = prefix ? `${prefix}.` : '';
  const lines: string[] = [];
  const rows = (base: string, rs: readonly RateRow[]) => {
    for (const r of rs) {
      const stem = `${p}${base}.${r.direction}${r.cls === 'total' ? '' : `.${r.cls}`}`;
      lines.push(`${stem}.pps ${num(r.pps)} ${ts}`, `${stem}.bps ${num(r.bps)} ${ts}`);
      if (r.flows !== null) lines.push(`${stem}.flows ${num(r.flows)} ${ts}`);
    }
  };
  rows('total', s.total);
  for (const g of s.hostgroups) rows(`hostgroups.${seg(g.name)}`, g.rows);
  for (const h of s.hosts) rows(`hosts.${seg(h.ip)}`, h.rows);
  lines.push(`${p}attacks.active ${s.attacksActive} ${ts}`, `${p}attacks.started ${s.attacksStarted} ${ts}`);
  return { text: `${lines.join('\n')}\n`, points: lines.length };
}

/** One persistent TCP connection to carbon; reconnected on the next send after a failure. */
export class GraphiteTransport implements Transport {
  private sock: net.Socket | null = null;
  private ready: Promise<net.Socket> | null = null;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly timeoutMs = 5000,
  ) {}

  private connect(): Promise<net.Socket> {
    this.ready ??= new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: this.host, port: this.port });
      s.setNoDelay(true);
      s.setTimeout(this.timeoutMs);
      const fail = (e: Error) => {
        s.destroy();
        if (this.sock === s) this.sock = null;
        this.ready = null;
        reject(e);
      };
      s.once('error', fail);
      s.once('timeout', () => fail(new Error(`connect to ${this.host}:${this.port} timed out`)));
      s.once('connect', () => {
        s.off('error', fail);
        s.setTimeout(0);
        // Carbon sends nothing; a close or error means the next send reconnects.
        s.on('error', () => undefined);
        s.on('close', () => {
          if (this.sock === s) {
            this.sock = null;
            this.ready = null;
          }
        });
        s.resume();
        this.sock = s;
        resolve(s);
      });
    });
    return this.ready;
  }

  async send(batches: readonly Batch[]): Promise<void> {
    const s = await this.connect();
    const text = batches.map((b) => b.text).join('');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error('write timed out'));
      }, this.timeoutMs);
      s.write(text, (e) => {
        clearTimeout(timer);
        if (e) {
          s.destroy();
          reject(e);
        } else resolve();
      });
    });
  }

  close(): void {
    this.sock?.end();
    this.sock = null;
    this.ready = null;
  }
}
