/**
 * Notify scripts and webhooks: the runner that delivers a document (documents.ts builds them).
 *
 * JSON mode follows FastNetMon Advanced: the document goes on the script's stdin with the
 * fields action, alert_scope, ip, attack_details{…}, packet_dump_detailed[] and
 * flow_spec_rules[]. Legacy text mode (FastNetMon community) runs
 * `<script> <ip> <direction> <pps> ban|unban` with a text report on stdin. A webhook gets
 * the same JSON as an HTTP POST, retried with backoff.
 *
 * Nothing here may block or crash the daemon: every run has a timeout, runs are bounded by
 * a concurrency limit with a capped queue (overflow is dropped and counted), and a script
 * that is missing, crashes, hangs or never reads its stdin is logged with its exit status.
 */
import { execa } from 'execa';
import http from 'node:http';
import https from 'node:https';
import type { NotifyAction } from '../config/types.js';
import { logger } from '../log.js';
import type { NotifyDocument } from './documents.js';

const log = logger.child({ module: 'notify' });

/** The text report legacy scripts get on stdin (FastNetMon community's layout, roughly). */
export function textReport(doc: NotifyDocument): string {
  const d = doc.attack_details as Readonly<Record<string, unknown>>;
  const lines =
    doc.alert_scope === 'hostgroup'
      ? [`Hostgroup: ${doc.hostgroup_name ?? ''}`, `Action: ${doc.action}`]
      : [`IP: ${doc.ip ?? ''}`, `Action: ${doc.action}`];
  for (const [k, v] of Object.entries(d))
    lines.push(`${k.replace(/_/g, ' ')}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  if (doc.flow_spec_rules.length) {
    lines.push('', 'FlowSpec rules:');
    for (const r of doc.flow_spec_rules) lines.push(JSON.stringify(r));
  }
  if (doc.packet_dump_detailed.length) {
    lines.push('', 'Packet dump:');
    for (const p of doc.packet_dump_detailed) {
      lines.push(
        `${p.source_ip}:${p.source_port} > ${p.destination_ip}:${p.destination_port} protocol: ${p.protocol} flags: ${p.tcp_flags} frag: ${p.fragmentation ? 1 : 0} packets: ${p.packets} size: ${p.length} bytes ip size: ${p.ip_length} bytes ttl: 0 sample ratio: ${p.sample_ratio}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Legacy args: `<ip> <direction> <pps> ban|unban` (other actions map to attack_details). */
export function legacyArgs(doc: NotifyDocument): string[] {
  const d = doc.attack_details as Readonly<Record<string, unknown>>;
  const direction = String(d.attack_direction ?? 'incoming');
  const pps = Number(direction === 'outgoing' ? (d.total_outgoing_pps ?? 0) : (d.total_incoming_pps ?? 0));
  const action =
    doc.action === 'ban' || doc.action === 'escalate' || doc.action === 'partial_block'
      ? 'ban'
      : doc.action === 'attack_status' || doc.action === 'escalation_refused'
        ? 'attack_details'
        : 'unban';
  return [doc.ip ?? doc.prefix ?? doc.hostgroup_name ?? '', direction, String(Math.round(pps)), action];
}

export type NotifyOutcome =
  | 'ok'
  | 'failed'
  | 'timeout'
  | 'missing'
  | 'dropped'
  | 'webhook_ok'
  | 'webhook_failed';

export interface NotifierOptions {
  readonly concurrency: number;
  /** Queued runs beyond this are dropped (and counted). */
  readonly queueCap?: number;
  readonly webhookRetries: number;
  /** First retry delay; doubles each retry. */
  readonly webhookBackoffMs?: number;
}

export interface NotifierApi {
  notify(doc: NotifyDocument, action: NotifyAction): void;
}

type Job = () => Promise<void>;

export class Notifier implements NotifierApi {
  readonly outcomes: Record<NotifyOutcome, number> = {
    ok: 0,
    failed: 0,
    timeout: 0,
    missing: 0,
    dropped: 0,
    webhook_ok: 0,
    webhook_failed: 0,
  };
  private readonly opts: Required<NotifierOptions>;
  private running = 0;
  private readonly queue: Job[] = [];
  private idleWaiters: (() => void)[] = [];

  constructor(opts: NotifierOptions) {
    this.opts = {
      queueCap: 1000,
      webhookBackoffMs: 500,
      ...opts,
      concurrency: Math.max(1, opts.concurrency),
    };
  }

  /** Queue the script run and webhook post for this document; returns at once. */
  notify(doc: NotifyDocument, action: NotifyAction): void {
    if (action.script) {
      const script = action.script;
      this.enqueue(() => this.runScript(script, action.format, doc, action.timeout_ms));
    }
    if (action.webhook) {
      const url = action.webhook;
      this.enqueue(() => this.postWebhook(url, doc, action.timeout_ms));
    }
  }

  /** Runs queued or in progress. */
  get busy(): number {
    return this.running + this.queue.length;
  }

  /** Resolves when nothing is queued or running (tests, clean shutdown). */
  idle(): Promise<void> {
    if (this.busy === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private enqueue(job: Job): void {
    if (this.running < this.opts.concurrency) {
      this.start(job);
      return;
    }
    if (this.queue.length >= this.opts.queueCap) {
      this.outcomes.dropped++;
      log.warn(`notify queue full (${this.opts.queueCap}); a notification was dropped`);
      return;
    }
    this.queue.push(job);
  }

  private start(job: Job): void {
    this.running++;
    job()
      .catch((e: unknown) => log.error(`notify job failed: ${(e as Error).message}`))
      .finally(() => {
        this.running--;
        const next = this.queue.shift();
        if (next) this.start(next);
        else if (this.busy === 0) {
          const w = this.idleWaiters;
          this.idleWaiters = [];
          for (const f of w) f();
        }
      });
  }

  private async runScript(
    script: string,
    format: 'json' | 'text',
    doc: NotifyDocument,
    timeoutMs: number,
  ): Promise<void> {
    const args = format === 'json' ? [] : legacyArgs(doc);
    const input = format === 'json' ? JSON.stringify(doc) : textReport(doc);
    const what = `notify script ${script} (${doc.action} ${doc.ip ?? doc.prefix ?? doc.hostgroup_name ?? ''})`;
    // reject:false turns every failure (ENOENT, exit code, signal, EPIPE on a script that
    // exits without reading stdin) into a result instead of a throw. The script runs in its
    // own process group so a timeout kills what it started too: a background child that
    // keeps the output pipes open would otherwise hold the run (and its slot) forever.
    const sub = execa(script, args, {
      input,
      reject: false,
      stdout: 'ignore',
      stderr: 'pipe',
      maxBuffer: 64 * 1024,
      detached: true,
    });
    let timedOut = false;
    const killGroup = (sig: NodeJS.Signals) => {
      try {
        if (sub.pid !== undefined) process.kill(-sub.pid, sig);
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      setTimeout(() => killGroup('SIGKILL'), 1000).unref();
    }, timeoutMs);
    const r = await sub;
    clearTimeout(timer);
    const stderr = typeof r.stderr === 'string' ? r.stderr.trim().slice(0, 500) : '';
    if (timedOut) {
      this.outcomes.timeout++;
      log.warn(
        `${what} timed out after ${timeoutMs} ms and was killed with its process group (${r.signal ?? `exit status ${r.exitCode}`})`,
      );
    } else if (r.exitCode === 0 && !r.failed) {
      this.outcomes.ok++;
      log.debug(`${what} done`);
    } else if (
      (r as { code?: string }).code === 'ENOENT' ||
      (r.exitCode === undefined && /ENOENT/.test(String(r.message)))
    ) {
      this.outcomes.missing++;
      log.error(`${what}: script not found`);
    } else if (r.exitCode === 0) {
      // Exited 0 but stdin could not be written (EPIPE): it did not read the document.
      this.outcomes.ok++;
      log.debug(`${what} exited 0 without reading stdin`);
    } else {
      this.outcomes.failed++;
      const status =
        r.exitCode !== undefined
          ? `exit status ${r.exitCode}`
          : r.signal
            ? `signal ${r.signal}`
            : (r.shortMessage ?? 'failed');
      log.warn(`${what} failed: ${status}${stderr ? `: ${stderr}` : ''}`);
    }
  }

  private async postWebhook(url: string, doc: NotifyDocument, timeoutMs: number): Promise<void> {
    const body = JSON.stringify(doc);
    let lastErr = '';
    for (let attempt = 0; attempt <= this.opts.webhookRetries; attempt++) {
      if (attempt > 0) await sleep(this.opts.webhookBackoffMs * 2 ** (attempt - 1));
      try {
        const status = await post(url, body, timeoutMs);
        if (status >= 200 && status < 300) {
          this.outcomes.webhook_ok++;
          return;
        }
        lastErr = `HTTP ${status}`;
        // 4xx (other than 408/429) will not get better with a retry.
        if (status >= 400 && status < 500 && status !== 408 && status !== 429) break;
      } catch (e) {
        lastErr = (e as Error).message;
      }
    }
    this.outcomes.webhook_failed++;
    log.warn(`webhook ${url} (${doc.action} ${doc.ip ?? ''}) failed: ${lastErr}`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

function post(url: string, body: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      reject(new Error(`bad webhook URL '${url}'`));
      return;
    }
    const mod = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : null;
    if (!mod) {
      reject(new Error(`webhook URL '${url}' must be http or https`));
      return;
    }
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    };
    if (u.username)
      headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
    const req = mod.request(u, { method: 'POST', headers, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
