/**
 * An attack's own packet headers (mirror, sFlow) kept as its fingerprint:
 * state_dir/attacks/<uuid>.pcap. The bytes are the record's `pcap`, written by the pcap
 * writer when the attack started; this is only the file. Never throws: a disk problem is
 * logged, the attack goes on.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { logger } from '../log.js';
import type { AttackRecord } from './types.js';

const log = logger.child({ module: 'detection' });

/** Write the attack's pcap under stateDir/attacks (nothing when it has no raw headers). */
export async function saveAttackPcap(stateDir: string, rec: AttackRecord): Promise<void> {
  const pcap = rec.pcap;
  if (!pcap) return;
  const dir = join(stateDir, 'attacks');
  const file = join(dir, `${rec.uuid}.pcap`);
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(file, pcap);
    log.info(`attack ${rec.uuid} on ${rec.ip}: ${rec.samples.length} sample(s) written to ${file}`);
  } catch (e) {
    log.warn(`attack ${rec.uuid}: cannot write its pcap: ${(e as Error).message}`);
  }
}
