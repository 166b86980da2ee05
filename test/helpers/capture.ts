/** What the capture suites share: a logger that drops everything, polling, fixture payloads. */
import { readFileSync } from 'node:fs';
import { capturePayloads } from '../../src/capture/index.js';
import type { Logger } from '../../src/log.js';

export const quietLog = {
  info() {},
  warn() {},
  error() {},
  debug() {},
} as unknown as Logger;

/** Poll `cond` every 20 ms for up to `ms`; resolves whether it became true. */
export async function until(cond: () => boolean, ms = 5000): Promise<boolean> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

export const fixtures = new URL('../../../test/fixtures/', import.meta.url);

/** The UDP payloads of test/fixtures/flows/<name>.pcap. */
export const flowPayloads = (name: string) =>
  capturePayloads(readFileSync(new URL(`flows/${name}.pcap`, fixtures)));
