/**
 * ExaBGP API helper for bench/bgp-announce.ts (FastNetMon style): waits for "neighbor … up",
 * writes the pre-generated announce lines to ExaBGP, and drains ExaBGP's acks forever
 * (with exabgp.api.ack=true an undrained pipe would block ExaBGP).
 */
import { readFileSync } from 'node:fs';

const file = process.argv[2]!;
let buf = '';
let up = false;
process.stdin.on('data', (d: Buffer) => {
  if (up) return;
  buf += d.toString();
  if (/ up\s*$/m.test(buf)) {
    up = true;
    process.stdout.write(readFileSync(file));
  }
});
process.stdin.on('end', () => process.exit(0));
