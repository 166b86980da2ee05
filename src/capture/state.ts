/**
 * Persistence of NetFlow v9/IPFIX templates and learned sampling rates in the state dir, so
 * a restarted collector decodes data at once instead of dropping it until templates return.
 *
 * One small JSON file, written atomically (temp file, fsync, rename) and debounced: changes
 * are batched so a flapping exporter cannot turn into a write per datagram.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const STATE_FILE = 'capture-templates.json';

export class StateFile {
  readonly path: string;
  private timer: NodeJS.Timeout | null = null;
  private getState: (() => unknown) | null = null;
  writes = 0;
  lastError: string | null = null;

  constructor(
    readonly dir: string,
    private readonly debounceMs = 1000,
    name = STATE_FILE,
  ) {
    this.path = join(dir, name);
  }

  /** The saved state, or null when there is none. A corrupt file is reported in lastError. */
  load(): unknown {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.lastError = `${this.path}: ${(e as Error).message}`;
      return null;
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      this.lastError = `${this.path}: not valid JSON (${(e as Error).message}); starting without saved templates`;
      return null;
    }
  }

  /** Ask for a write soon; getState is read when the write happens. */
  schedule(getState: () => unknown): void {
    this.getState = getState;
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.debounceMs);
    this.timer.unref();
  }

  /** Write now if a write is pending. Never throws (errors land in lastError). */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const get = this.getState;
    if (!get) return;
    this.getState = null;
    try {
      writeAtomic(this.path, JSON.stringify(get()));
      this.writes++;
      this.lastError = null;
    } catch (e) {
      this.lastError = `${this.path}: ${(e as Error).message}`;
    }
  }
}

export function writeAtomic(path: string, text: string): void {
  const dir = path.slice(0, Math.max(0, path.lastIndexOf('/'))) || '.';
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
