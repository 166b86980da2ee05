/** `breakwater demo` runs on a fresh machine and shows an attack being mitigated. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { BIN } from './helpers/daemon.js';

test('demo detects both attacks, announces a blackhole and a FlowSpec rule, and withdraws on stop', {
  timeout: 60_000,
}, async () => {
  const p = spawn(process.execPath, [BIN, 'demo', '--seconds', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => p.on('exit', r));
  assert.equal(code, 0, out);
  assert.match(out, /detected: syn_flood on 203\.0\.113\.10 \(incoming/);
  assert.match(out, /console: http:\/\/127\.0\.0\.1:\d+\/ui\//, 'the demo prints the console URL');
  assert.match(
    out,
    /router: received ipv4-unicast 203\.0\.113\.10\/32 next-hop 192\.0\.2\.1 communities 65535:666/,
  );
  assert.match(out, /detected: dns_amplification on 203\.0\.113\.20/);
  assert.match(
    out,
    /router: received ipv4-flowspec destination 203\.0\.113\.20\/32, protocol udp, source-port 53, packet-length \d+-\d+ -> discard/,
  );
  // Background hosts are never mitigated.
  assert.doesNotMatch(out, /received ipv4-unicast 203\.0\.113\.(?!10\/)/);
  assert.match(out, /router holds 0 route\(s\) after the stop/);
  // The demo logs at warn: a clean stop (the BGP session closed by us) is not a warning.
  assert.doesNotMatch(out, /^\S+ warn /m);
});
