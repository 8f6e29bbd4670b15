// Regular files of a big extraction are written by worker threads, each with its own reader over
// the same image: the work is almost all open/read/write/close system calls, which run in parallel
// on separate cores while the main thread walks the tree, makes directories and feeds them.
import { closeSync, constants, lchownSync, chmodSync, lutimesSync, openSync, writeSync } from 'node:fs';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { FormatError, IoError, NotFoundError, UnsupportedError } from '../lib/errors.ts';
import type { ReadOnlyFs } from '../lib/fs/types.ts';
import { openImageFile, type ImageArgs } from './open.ts';

/** how the workers open the image: the same arguments the CLI was given */
export interface ImageSpec {
  path: string;
  args: ImageArgs;
}

/** One regular file to write; `path` is absolute (bytes: names need not be UTF-8). */
export interface FileJob {
  path: Uint8Array;
  ino: number;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  mtimeNsec: number;
}

/** What a writer needs besides the file: who we are and whether owners are restored. */
export interface WriteContext {
  owners: boolean;
  uid: number;
  gid: number;
}

const PIECE = 4 << 20;

/**
 * Creates and fills one regular file, sets owner, mode and (whole-second) mtime. Returns the bytes
 * written. A mode with set-id bits is chmod-ed after chown, which clears them.
 */
export async function writeRegular(fs: ReadOnlyFs, job: FileJob, piece: Uint8Array, ctx: WriteContext): Promise<number> {
  const mode = job.mode & 0o7777;
  // a Buffer sent to a worker arrives as a plain Uint8Array, which Node's path arguments refuse
  const path = Buffer.isBuffer(job.path) ? job.path : Buffer.from(job.path.buffer, job.path.byteOffset, job.path.byteLength);
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  let done = 0;
  try {
    while (done < job.size) {
      const bytes = await fs.read(job.ino, done, Math.min(piece.length, job.size - done), piece);
      if (bytes.length === 0) throw new IoError(path.toString(), `image data ends at ${done} of ${job.size} bytes`);
      for (let w = 0; w < bytes.length; ) w += writeSync(fd, bytes, w, bytes.length - w);
      done += bytes.length;
    }
  } finally {
    closeSync(fd);
  }
  const chown = ctx.owners && (job.uid !== ctx.uid || job.gid !== ctx.gid);
  if (chown) lchownSync(path, job.uid, job.gid);
  if (chown && (mode & 0o6000)) chmodSync(path, mode);
  // Node sets times to the microsecond only: nanoseconds are the caller's (python's) job
  if (job.mtimeNsec === 0) lutimesSync(path, job.mtime, job.mtime);
  return done;
}

// ---- the wire ---------------------------------------------------------------------------------

interface WireError {
  name: string;
  message: string;
  code?: string;
  fields?: Record<string, unknown>;
}

export function toWire(e: unknown): WireError {
  if (!(e instanceof Error)) return { name: 'Error', message: String(e) };
  const w: WireError = { name: e.name, message: e.message, fields: { ...e } };
  const code = (e as NodeJS.ErrnoException).code;
  if (typeof code === 'string') w.code = code;
  return w;
}

/** Typed errors come back typed, so the CLI maps them to the same exit codes as inline ones. */
export function fromWire(w: WireError): Error {
  const f = w.fields ?? {};
  switch (w.name) {
    case 'FormatError': return new FormatError(String(f.structure), Number(f.offset), String(f.detail));
    case 'IoError': return new IoError(String(f.source), String(f.detail));
    case 'NotFoundError': return new NotFoundError(String(f.what));
    case 'UnsupportedError': return new UnsupportedError(String(f.feature), String(f.detail));
  }
  const e = new Error(w.message) as NodeJS.ErrnoException;
  if (w.code) e.code = w.code;
  return e;
}

type ToWorker = { id: number; jobs: FileJob[] };
type FromWorker = { id: number; bytes: number } | { id: number; error: WireError };

const ROLE = 'layerscope-extract-writer';

// ---- worker side ------------------------------------------------------------------------------

/** True in a thread started by an ExtractPool (the CLI's entry point checks before running). */
export function isExtractWorker(): boolean {
  return !isMainThread && (workerData as { role?: string } | null)?.role === ROLE;
}

export async function runExtractWorker(): Promise<void> {
  const data = workerData as { role: string; image: ImageSpec; ctx: WriteContext };
  const port = parentPort!;
  const fs = await openImageFile(data.image.path, data.image.args);
  const piece = new Uint8Array(PIECE);
  // one batch at a time, in order: messages queue while a batch is written
  let chain = Promise.resolve();
  port.on('message', (msg: ToWorker | 'close') => {
    if (msg === 'close') {
      chain = chain.then(async () => {
        await fs.close?.();
        port.close();
      });
      return;
    }
    chain = chain.then(async () => {
      let bytes = 0;
      try {
        for (const job of msg.jobs) bytes += await writeRegular(fs, job, piece, data.ctx);
        port.postMessage({ id: msg.id, bytes } satisfies FromWorker);
      } catch (e) {
        port.postMessage({ id: msg.id, error: toWire(e) } satisfies FromWorker);
      }
    });
  });
}

// ---- main side --------------------------------------------------------------------------------

const BATCH_FILES = 64;
const BATCH_BYTES = 8 << 20;
/** queued but unwritten work before the walk waits: bounds memory, keeps every worker busy */
const MAX_OUTSTANDING_BYTES = 96 << 20;
const MAX_OUTSTANDING_FILES = 4096;

function workerEntry(): { url: URL | string; eval: boolean; extra: Record<string, unknown> } {
  const self = import.meta.url;
  // shipped as one bundle: the bundle is its own worker (its entry point checks isExtractWorker)
  if (!self.endsWith('.ts')) return { url: new URL(self), eval: false, extra: {} };
  // from TypeScript sources (tests, npx layerscope): the worker registers tsx, then loads this module
  const code = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((t) => { t.register(); return import(${JSON.stringify(self)}); }).then((m) => m.runExtractWorker());`;
  return { url: code, eval: true, extra: {} };
}

interface Pending {
  id: number;
  worker: number;
  files: number;
  bytes: number;
  /** run on the main thread once the batch's files exist (xattrs, nanosecond mtimes) */
  after: (() => void)[];
}

export class ExtractPool {
  private readonly workers: Worker[] = [];
  private readonly load: number[] = [];
  private readonly pending = new Map<number, Pending>();
  private batch: FileJob[] = [];
  private batchBytes = 0;
  private batchAfter: (() => void)[] = [];
  private nextId = 1;
  private outstandingBytes = 0;
  private outstandingFiles = 0;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  bytesWritten = 0;

  constructor(n: number, image: ImageSpec, ctx: WriteContext) {
    const entry = workerEntry();
    for (let i = 0; i < n; i++) {
      const w = new Worker(entry.url, { eval: entry.eval, workerData: { role: ROLE, image, ctx, ...entry.extra } });
      w.on('message', (m: FromWorker) => this.onMessage(m));
      w.on('error', (e) => this.fail(e));
      w.on('exit', (code) => { if (code !== 0 && !this.failure && this.pending.size) this.fail(new Error(`extract worker exited with code ${code}`)); });
      this.workers.push(w);
      this.load.push(0);
    }
  }

  private fail(e: Error): void {
    this.failure ??= e;
    this.wake?.();
  }

  private onMessage(m: FromWorker): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    this.load[p.worker]! -= p.bytes + p.files * 4096;
    this.outstandingBytes -= p.bytes;
    this.outstandingFiles -= p.files;
    if ('error' in m) this.fail(fromWire(m.error));
    else {
      this.bytesWritten += m.bytes;
      for (const f of p.after) f();
    }
    this.wake?.();
  }

  /** Queues a file; waits when enough work is queued. `after` runs once the file exists. */
  async submit(job: FileJob, after?: () => void): Promise<void> {
    if (this.failure) throw this.failure;
    this.batch.push(job);
    this.batchBytes += job.size;
    if (after) this.batchAfter.push(after);
    if (this.batch.length >= BATCH_FILES || this.batchBytes >= BATCH_BYTES) this.flush();
    while (!this.failure && (this.outstandingBytes > MAX_OUTSTANDING_BYTES || this.outstandingFiles > MAX_OUTSTANDING_FILES)) await this.nextReply();
    if (this.failure) throw this.failure;
  }

  private flush(): void {
    if (!this.batch.length) return;
    // the least loaded worker (a file costs its bytes plus a fixed amount for open/close)
    let w = 0;
    for (let i = 1; i < this.load.length; i++) if (this.load[i]! < this.load[w]!) w = i;
    const p: Pending = { id: this.nextId++, worker: w, files: this.batch.length, bytes: this.batchBytes, after: this.batchAfter };
    this.pending.set(p.id, p);
    this.load[w]! += p.bytes + p.files * 4096;
    this.outstandingBytes += p.bytes;
    this.outstandingFiles += p.files;
    this.workers[w]!.postMessage({ id: p.id, jobs: this.batch } satisfies ToWorker);
    this.batch = [];
    this.batchBytes = 0;
    this.batchAfter = [];
  }

  private nextReply(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => {
        this.wake = null;
        resolve();
      };
    });
  }

  /** Waits until every queued file is written; throws the first failure. */
  async drain(): Promise<void> {
    this.flush();
    while (!this.failure && this.pending.size) await this.nextReply();
    if (this.failure) throw this.failure;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => new Promise<void>((resolve) => {
      if (this.failure) {
        void w.terminate().then(() => resolve());
        return;
      }
      w.once('exit', () => resolve());
      w.postMessage('close');
    })));
  }
}
