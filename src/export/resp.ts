/**
 * A small Redis client: RESP2 (https://redis.io/docs/latest/develop/reference/protocol-spec/)
 * over one TCP connection, pipelined commands, AUTH and SELECT from the redis:// URL. Enough
 * for SET/PUBLISH/GET; replies are parsed incrementally, bulk strings as UTF-8 text.
 */
import net from 'node:net';

export type Reply = string | number | null | RedisError | Reply[];

export class RedisError extends Error {
  override name = 'RedisError';
}

/** One command as a RESP array of bulk strings. */
export function encodeCommand(args: readonly (string | number)[]): string {
  let out = `*${args.length}\r\n`;
  for (const a of args) {
    const s = String(a);
    out += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  }
  return out;
}

/** Incremental RESP2 reply parser. */
export class RespParser {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Reply[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Reply[] = [];
    for (;;) {
      const r = this.parse(0);
      if (!r) break;
      out.push(r.v);
      this.buf = this.buf.subarray(r.end);
    }
    return out;
  }

  private line(at: number): { text: string; next: number } | null {
    const e = this.buf.indexOf('\r\n', at);
    return e < 0 ? null : { text: this.buf.toString('utf8', at, e), next: e + 2 };
  }

  private parse(at: number): { v: Reply; end: number } | null {
    if (at >= this.buf.length) return null;
    const t = String.fromCharCode(this.buf[at]!);
    const l = this.line(at + 1);
    if (!l) return null;
    switch (t) {
      case '+':
        return { v: l.text, end: l.next };
      case '-':
        return { v: new RedisError(l.text), end: l.next };
      case ':':
        return { v: Number(l.text), end: l.next };
      case '$': {
        const n = Number(l.text);
        if (n < 0) return { v: null, end: l.next };
        if (l.next + n + 2 > this.buf.length) return null;
        return { v: this.buf.toString('utf8', l.next, l.next + n), end: l.next + n + 2 };
      }
      case '*': {
        const n = Number(l.text);
        if (n < 0) return { v: null, end: l.next };
        const items: Reply[] = [];
        let p = l.next;
        for (let i = 0; i < n; i++) {
          const r = this.parse(p);
          if (!r) return null;
          items.push(r.v);
          p = r.end;
        }
        return { v: items, end: p };
      }
      default:
        throw new RedisError(`protocol error: unexpected reply type ${JSON.stringify(t)}`);
    }
  }
}

export class RedisClient {
  private sock: net.Socket | null = null;
  private ready: Promise<void> | null = null;
  private pending: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  private readonly u: URL;

  constructor(
    url: string,
    private readonly timeoutMs = 5000,
  ) {
    this.u = new URL(url);
  }

  private connect(): Promise<void> {
    this.ready ??= new Promise<void>((resolve, reject) => {
      const s = net.connect({
        host: this.u.hostname.replace(/^\[|\]$/g, ''),
        port: Number(this.u.port || 6379),
      });
      s.setNoDelay(true);
      const parser = new RespParser();
      const fail = (e: Error) => {
        if (this.sock === s || this.sock === null) {
          this.sock = null;
          this.ready = null;
        }
        const p = this.pending;
        this.pending = [];
        for (const x of p) x.reject(e);
        s.destroy();
        reject(e);
      };
      s.setTimeout(this.timeoutMs, () =>
        fail(new Error(`no answer from ${this.u.host} in ${this.timeoutMs} ms`)),
      );
      s.on('error', fail);
      s.on('close', () => fail(new Error('connection closed')));
      s.on('data', (d: Buffer) => {
        let replies: Reply[];
        try {
          replies = parser.push(d);
        } catch (e) {
          fail(e as Error);
          return;
        }
        for (const r of replies) this.pending.shift()?.resolve(r);
        if (this.pending.length === 0) s.setTimeout(0);
      });
      s.once('connect', () => {
        this.sock = s;
        s.setTimeout(0);
        const hello: (string | number)[][] = [];
        const pass = decodeURIComponent(this.u.password);
        if (pass)
          hello.push(this.u.username ? ['AUTH', decodeURIComponent(this.u.username), pass] : ['AUTH', pass]);
        const db = this.u.pathname.slice(1);
        if (db && db !== '0') hello.push(['SELECT', db]);
        this.write(hello).then((rs) => {
          const err = rs.find((r) => r instanceof RedisError);
          if (err) fail(err as RedisError);
          else resolve();
        }, fail);
      });
    });
    return this.ready;
  }

  private write(cmds: readonly (readonly (string | number)[])[]): Promise<Reply[]> {
    const s = this.sock;
    if (!s) return Promise.reject(new Error('not connected'));
    if (cmds.length === 0) return Promise.resolve([]);
    // One pending reply per command, in order (RESP answers in the order it was asked).
    const out = cmds.map(
      () => new Promise<Reply>((resolve, reject) => this.pending.push({ resolve, reject })),
    );
    s.setTimeout(this.timeoutMs);
    s.write(cmds.map(encodeCommand).join(''));
    return Promise.all(out);
  }

  /** Send commands pipelined; resolves with one reply each (error replies as RedisError values). */
  async pipeline(cmds: readonly (readonly (string | number)[])[]): Promise<Reply[]> {
    await this.connect();
    return this.write(cmds);
  }

  async command(...args: (string | number)[]): Promise<Reply> {
    const [r] = await this.pipeline([args]);
    if (r instanceof RedisError) throw r;
    return r!;
  }

  close(): void {
    const s = this.sock;
    this.sock = null;
    this.ready = null;
    s?.end();
    s?.destroy();
  }
}
