/**
 * Live port-mirror source: `tcpdump -i IFACE -w - -U` read as a pcap byte stream.
 *
 * Why tcpdump and not a native addon: both npm libpcap bindings (`cap` 0.2.1, `pcap` 3.1.0)
 * do build here (with libpcap-dev and node-gyp), but they are unmaintained (last releases
 * years ago) and need headers and a compiler on every machine. Measured on this 2-core
 * machine (loopback, 18-byte UDP payloads blasted for 3 s by a Node sender, filter on the
 * port, the same MirrorDecoder behind both):
 *   - tcpdump -w - -U piped into Node: 690,950 of 691,600 frames decoded (99.9%, ~230k frames/s),
 *     tcpdump reported 0 kernel drops;
 *   - `cap` addon (per-packet callback in the Node thread): 240,750 of 471,600 (51%).
 * tcpdump runs in its own process and keeps reading the kernel ring while Node decodes, the
 * pipe batches frames into large chunks, its drop counter is reported, and it is a
 * maintained Debian package with no build step — so it is the path used.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { logger, type Logger } from '../../log.js';
import type { FlowSink } from '../flow.js';
import { MirrorDecoder, type MirrorStats } from './mirror.js';
import { PcapStream } from '../formats/pcap.js';

export interface MirrorCaptureOptions {
  /** tcpdump binary (default "tcpdump"). */
  tcpdump?: string;
  /** Bytes captured per frame (headers only; default 256). */
  snaplen?: number;
  /** tcpdump -B kernel buffer in KiB (default 32768). */
  bufferKiB?: number;
  /** Optional BPF filter expression. */
  filter?: string;
  /** Replace the capture arguments (tests: ['-r', 'file.pcap']); -w - -U -n are always added. */
  sourceArgs?: string[];
  samplingRate?: number;
  /** Called after each chunk of tcpdump's output is decoded (a worker commits its ring here). */
  afterChunk?: () => void;
  log?: Logger;
}

export interface MirrorCaptureStats extends MirrorStats {
  running: boolean;
  /** From tcpdump's exit summary ("N packets dropped by kernel"), -1 until known. */
  kernelDropped: number;
  streamErrors: number;
}

export class MirrorCapture {
  private child: ChildProcess | null = null;
  private readonly dec: MirrorDecoder;
  private readonly stream: PcapStream;
  private readonly log: Logger;
  private kernelDropped = -1;
  private exited: Promise<void> = Promise.resolve();
  private stderrTail = '';

  constructor(
    private readonly iface: string,
    sink: FlowSink,
    private readonly opts: MirrorCaptureOptions = {},
  ) {
    this.log = opts.log ?? logger.child({ module: 'capture' });
    this.dec = new MirrorDecoder(sink, `mirror:${iface}`, opts.samplingRate ?? 1);
    this.stream = new PcapStream((p) => this.dec.onFrame(p.data, p.origLen, p.linkType, Date.now()));
  }

  /** Spawn tcpdump; resolves once it runs, rejects (one line) when it cannot start. */
  start(): Promise<void> {
    const src = this.opts.sourceArgs ?? [
      '-i',
      this.iface,
      '-B',
      String(this.opts.bufferKiB ?? 32768),
      '-s',
      String(this.opts.snaplen ?? 256),
    ];
    const args = [...src, '-w', '-', '-U', '-n', ...(this.opts.filter ? [this.opts.filter] : [])];
    const child = spawn(this.opts.tcpdump ?? 'tcpdump', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout!.on('data', (chunk: Buffer) => {
      try {
        this.stream.push(chunk);
        this.opts.afterChunk?.();
      } catch (e) {
        // The byte stream is out of step: stop rather than decode garbage.
        this.log.error(`mirror ${this.iface}: ${(e as Error).message}; stopping tcpdump`);
        child.kill('SIGTERM');
      }
    });
    child.stderr!.on('data', (c: Buffer) => {
      this.stderrTail = (this.stderrTail + c.toString()).slice(-2000);
      const m = /(\d+) packets? dropped by kernel/.exec(this.stderrTail);
      if (m) this.kernelDropped = Number(m[1]);
    });
    this.exited = new Promise((res) => child.once('close', () => res()));
    return new Promise((resolve, reject) => {
      child.once('error', (e: NodeJS.ErrnoException) => {
        this.child = null;
        reject(
          new Error(
            `mirror interface '${this.iface}': cannot run ${this.opts.tcpdump ?? 'tcpdump'}: ${e.code ?? e.message}`,
          ),
        );
      });
      child.once('spawn', () => {
        child.once('close', (code) => {
          this.child = null;
          if (code && code !== 0)
            this.log.warn(
              `mirror ${this.iface}: tcpdump exited with ${code}: ${this.stderrTail.trim().split('\n').pop() ?? ''}`,
            );
        });
        resolve();
      });
    });
  }

  /** Resolves when tcpdump has exited (e.g. at the end of a -r file). */
  done(): Promise<void> {
    return this.exited;
  }

  async stop(): Promise<void> {
    this.child?.kill('SIGTERM');
    await this.exited;
  }

  stats(): MirrorCaptureStats {
    return {
      ...this.dec.stats(),
      running: this.child !== null,
      kernelDropped: this.kernelDropped,
      streamErrors: this.stream.errors,
    };
  }
}
