/**
 * Test certificates made with openssl (Debian's openssl package): self-signed, EC P-256,
 * for localhost and 127.0.0.1, valid two days. The tests that use them fail under CI=1
 * when openssl is missing (as for gobgpd and bird).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export function haveOpenssl(): boolean {
  return spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
}

/** Writes `<name>.crt` and `<name>.key` in dir; returns their paths. */
export function selfSignedCert(dir: string, name = 'api'): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  return { cert, key };
}
