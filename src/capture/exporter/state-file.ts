/**
 * Persistence of NetFlow v9/IPFIX templates and learned sampling rates in the state dir, so
 * a restarted collector decodes data at once instead of dropping it until templates return.
 *
 * One JSON file, written atomically (temp file, fsync, rename) and debounced: changes are
 * batched so a flapping exporter cannot turn into a write per datagram. The write never
 * blocks the main thread for long: the state comes as lazily produced chunks (one exporter
 * each), written in batches with an await between them (a 318 MB state written in one
 * synchronous call once stalled the API for 9 s). One write at a time; changes during a
 * write ask for another one after it.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';

const STATE_FILE = 'capture-templates.json';

/** Bytes gathered before a write (each write is an await: the event loop runs in between). */
const BATCH_BYTES = 256 * 1024;

export type StateChunks = () => Iterable<string>;

export class StateFile {
  readonly path: string;
  private timer: NodeJS.Timeout | null = null;
  private getState: StateChunks | null = null;
  private writing: Promise<void> | null = null;
  writes = 0;
  lastError: string | null = null;
  /** Duration of the last write, ms (wall clock, including the yields). */
  lastWriteMs = 0;

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
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
        this.lastError = `${this.path}: ${(e as Error).message}`;
      return null;
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      this.lastError = `${this.path}: not valid JSON (${(e as Error).message}); starting without saved templates`;
      return null;
    }
  }

  /** Ask for a write soon; getState is called when the write starts. */
  schedule(getState: StateChunks): void {
    this.getState = getState;
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.debounceMs);
    this.timer.unref();
  }

  /** Write now if a write is pending, and resolve when everything asked for is on disk. Never rejects. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.writing) await this.writing;
    const get = this.getState;
    if (!get) return;
    this.getState = null;
    const t0 = Date.now();
    this.writing = writeAtomicChunks(this.path, get())
      .then(() => {
        this.writes++;
        this.lastError = null;
      })
      .catch((e: unknown) => {
        this.lastError = `${this.path}: ${(e as Error).message}`;
      })
      .finally(() => {
        this.lastWriteMs = Date.now() - t0;
        this.writing = null;
      });
    await this.writing;
    // Changes that came during the write wait for the debounce, unless a stop is flushing.
  }
}

/** Write chunks to path atomically (temp file, fsync, rename), yielding between batches. */
async function writeAtomicChunks(path: string, chunks: Iterable<string>): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    let batch: string[] = [];
    let size = 0;
    for (const c of chunks) {
      batch.push(c);
      size += c.length;
      if (size >= BATCH_BYTES) {
        await fh.write(batch.join(''));
        batch = [];
        size = 0;
      }
    }
    if (batch.length) await fh.write(batch.join(''));
    await fh.sync();
  } catch (e) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  await rename(tmp, path);
}
