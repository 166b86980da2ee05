/**
 * The one HTTP(S) request `ctl` makes, with the TLS trust an operator chooses:
 *   - default: the system's CAs and the certificate's name checked (as curl does);
 *   - `ca`: these PEM CAs instead (a private CA, or a self-signed certificate as its own CA);
 *   - `pin`: exactly the certificate whose SHA-256 fingerprint this is, whatever its name
 *     or issuer (what `ctl --config` uses with api.tls: it reads the daemon's own
 *     certificate, and reaches it over loopback where the name would not match);
 *   - `insecure`: no check at all (a test box).
 * With a pin the TLS connection is made and checked first, so credentials are never sent
 * to a server presenting another certificate.
 */
import { X509Certificate } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import tls from 'node:tls';

export interface TlsTrust {
  ca?: Buffer;
  /** SHA-256 fingerprint in Node's form (AA:BB:…). */
  pin?: string;
  insecure?: boolean;
}

/** The fingerprint `pin` wants, from a PEM certificate file's contents. */
export function fingerprintOf(pem: Buffer | string): string {
  return new X509Certificate(pem).fingerprint256;
}

class RequestError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

export async function httpRequest(
  url: string,
  o: { method: string; headers: Record<string, string>; body?: string; timeoutMs: number; trust?: TlsTrust },
): Promise<{ status: number; text: string }> {
  const u = new URL(url);
  const secure = u.protocol === 'https:';
  if (!secure && u.protocol !== 'http:')
    throw new RequestError(`unsupported scheme ${u.protocol} (http: or https:)`);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port || (secure ? 443 : 80));
  const t = o.trust ?? {};
  const headers = {
    ...o.headers,
    ...(o.body !== undefined ? { 'content-length': String(Buffer.byteLength(o.body)) } : {}),
  };
  const base: http.RequestOptions = {
    host,
    port,
    method: o.method,
    path: u.pathname + u.search,
    headers,
    timeout: o.timeoutMs,
  };
  let opts: https.RequestOptions = base;
  if (secure) {
    if (t.pin) {
      const socket = await pinnedSocket(host, port, t.pin, o.timeoutMs);
      opts = { ...base, createConnection: () => socket };
    } else {
      opts = {
        ...base,
        ...(t.ca ? { ca: t.ca } : {}),
        rejectUnauthorized: !t.insecure,
        ...(isIP(host) ? {} : { servername: host }),
      };
    }
  }
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).request(opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', (e) => reject(new RequestError(e.message)));
    });
    req.on('timeout', () => req.destroy(new RequestError(`no answer within ${o.timeoutMs} ms`, 'ETIMEDOUT')));
    req.on('error', (e: NodeJS.ErrnoException) =>
      reject(e instanceof RequestError ? e : new RequestError(tlsHint(e), e.code)),
    );
    req.end(o.body);
  });
}

function pinnedSocket(host: string, port: number, pin: string, timeoutMs: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host,
      port,
      rejectUnauthorized: false,
      ...(isIP(host) ? {} : { servername: host }),
    });
    const timer = setTimeout(
      () => s.destroy(new RequestError(`no TLS handshake within ${timeoutMs} ms`, 'ETIMEDOUT')),
      timeoutMs,
    );
    s.once('secureConnect', () => {
      clearTimeout(timer);
      const got = s.getPeerCertificate().fingerprint256;
      if (got !== pin) {
        s.destroy();
        reject(
          new RequestError(
            `the server's certificate (SHA-256 ${got}) is not the configured one (${pin}): not sending credentials`,
            'CERT_PIN_MISMATCH',
          ),
        );
        return;
      }
      resolve(s);
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(e instanceof RequestError ? e : new RequestError(tlsHint(e), e.code));
    });
  });
}

/** OpenSSL's codes made into a next step for the operator. */
function tlsHint(e: NodeJS.ErrnoException): string {
  const c = e.code ?? '';
  if (c === 'ECONNREFUSED') return 'connection refused (is breakwater running?)';
  if (c === 'ECONNRESET' || c === 'EPROTO')
    return `${e.message} (an https:// API spoken to as http://, or the other way round?)`;
  if (/SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|CERT_UNTRUSTED/.test(c))
    return `${e.message}: the certificate is not trusted; give its CA with --ca FILE (or --config FILE on the daemon's host)`;
  if (c === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return `${e.message}: use the name in the certificate in --api, or --config FILE on the daemon's host`;
  return e.message;
}
