import { readFileSync } from 'node:fs';
import { parseFlags, type Command } from '../command.js';
import { capturePayloads, isLoopback, replay } from '../../capture/index.js';

const help = `Usage: breakwater replay FILE.pcap --to HOST:PORT [--rate DGRAMS_PER_S] [--loop N] [--duration S] [--from ADDR]

Send every UDP payload of a capture (exporter datagrams) to a collector, for tests,
benchmarks and the demo. Only loopback targets are accepted (127.0.0.0/8, [::1]).

  --to HOST:PORT     collector address, e.g. 127.0.0.1:2055 or [::1]:6343
  --rate N           datagrams per second (default 0 = as fast as possible)
  --loop N           passes over the file (default 1; with --duration: until the time is up)
  --duration S       stop after S seconds
  --from ADDR        loopback source address (the collector sees it as the exporter)
`;

function parseTarget(s: string): { host: string; port: number } | null {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  if (!m) return null;
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  return { host: m[1]!, port };
}

function num(v: string | boolean | undefined, name: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isFinite(n) || n < min)
    throw new Error(`--${name} must be a number >= ${min}, got '${String(v)}'`);
  return n;
}

export const command: Command = {
  name: 'replay',
  summary: 'send a capture of flow datagrams to a loopback collector',
  help,
  async run(argv) {
    const { flags, positionals, unknown } = parseFlags(argv, {
      string: ['to', 'rate', 'loop', 'duration', 'from'],
    });
    if (unknown.length || positionals.length !== 1 || typeof flags.to !== 'string') {
      process.stderr.write(
        `breakwater replay: ${unknown[0] ?? (positionals.length !== 1 ? 'expected exactly one FILE' : '--to HOST:PORT is required')}\n${help}`,
      );
      return 2;
    }
    const target = parseTarget(flags.to);
    if (!target) {
      process.stderr.write(`breakwater replay: --to '${flags.to}' is not HOST:PORT\n`);
      return 2;
    }
    if (!isLoopback(target.host)) {
      process.stderr.write(
        `breakwater replay: refusing to send to ${target.host}: only loopback targets (127.0.0.0/8, ::1) are allowed\n`,
      );
      return 2;
    }
    let rate: number, loop: number | undefined, duration: number | undefined;
    try {
      rate = num(flags.rate, 'rate', 0) ?? 0;
      loop = num(flags.loop, 'loop', 1);
      duration = num(flags.duration, 'duration', 0);
    } catch (e) {
      process.stderr.write(`breakwater replay: ${(e as Error).message}\n`);
      return 2;
    }
    const file = positionals[0]!;
    let payloads: Uint8Array[];
    try {
      payloads = capturePayloads(readFileSync(file));
    } catch (e) {
      process.stderr.write(`breakwater replay: ${file}: ${(e as Error).message}\n`);
      return 1;
    }
    const r = await replay(payloads, {
      ...target,
      rate,
      ...(loop !== undefined ? { loop } : {}),
      ...(duration !== undefined ? { durationS: duration } : {}),
      ...(typeof flags.from === 'string' ? { from: flags.from } : {}),
    });
    process.stdout.write(
      `sent ${r.sent} datagrams (${r.bytes} bytes, ${payloads.length} per pass, ${r.passes} passes) to ${flags.to} in ${r.seconds.toFixed(3)} s: ${Math.round(r.sent / (r.seconds || 1))}/s, ${r.errors} send errors\n`,
    );
    return r.errors ? 1 : 0;
  },
};
