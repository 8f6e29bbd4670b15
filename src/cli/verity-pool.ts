// Node-only: fs-verity digests of local files on worker threads, registered with the core
// (codec/fsverity.ts useFileDigester) for a composefs build. mkcomposefs 1.0.8 hashes on every core
// (--threads, default the CPU count). Files are sent in batches (BATCH_BYTES / BATCH_FILES): with one
// thread message per file and files under 64 KiB hashed on the build's thread, a CPU profile of a
// 570 MB, 34k-file tree had the build's thread busy ~3.3 s, ~1 s of it reading and hashing small
// files and posting messages, while the hashing threads sat idle 2 of their 2.5 s.
import { availableParallelism } from 'node:os';
import { useFileDigester, type DigestTicket } from '../lib/codec/fsverity.ts';
import type { VerityBatch, VerityBatchDone } from './verity-worker.ts';
import { ThreadPool } from './thread-pool.ts';

/**
 * a batch is sent once it holds this many bytes or files (a larger file goes alone). Every batch
 * goes to a thread as soon as it is full: holding back all but 2, 8, 16 or 32 per thread (handed out
 * as threads answer, so both finish together) left the threads idle between batches while the build's
 * thread ran the layout without reading their answers: 0.9-1.2 s idle per thread with 2, 0.6-1.9 s
 * (sum of both) with 16-32, 0.7-1.0 s all at once (1.05 GB bench tree, load 4-5, gaps between one
 * batch's end and the next one's start); all at once, one thread ends 50-340 ms after the other.
 */
const BATCH_BYTES = 4 << 20;
const BATCH_FILES = 256;

interface Want extends DigestTicket { readonly path: string }

/** Files sent together, and the one promise their tickets share (resolved once each is filled in). */
class Batch {
  readonly wants: Want[] = [];
  bytes = 0;
  settle!: () => void;
  readonly done = new Promise<void>((ok) => (this.settle = ok));
}

export class VerityPool {
  private readonly pool: ThreadPool<Omit<VerityBatch, 'id'>, Omit<VerityBatchDone, 'id'>>;
  private batch: Batch | null = null;
  private flushing = false;

  constructor(readonly threads: number) {
    this.pool = new ThreadPool(threads, 'verity-worker', 'fs-verity thread');
  }

  /**
   * The digest of the file at `path` of `size` bytes, as a ticket filled in when its batch comes
   * back; queued, and sent with others at once. No promise or closure per file: the walk of a
   * 58k-entry tree announces 50k files, and a promise per file with its handlers was most of the
   * ~640 ms the announcing cost the build's thread (CPU profile).
   */
  ticket(path: string, size: number): DigestTicket {
    const b = (this.batch ??= new Batch());
    const w: Want = { path, size, done: b.done, digest: null, error: null };
    b.wants.push(w);
    b.bytes += size;
    if (b.bytes >= BATCH_BYTES || b.wants.length >= BATCH_FILES) this.send();
    else if (!this.flushing) {
      // what was asked for in this turn of the event loop goes together
      this.flushing = true;
      setImmediate(() => {
        this.flushing = false;
        this.send();
      });
    }
    return w;
  }

  /** The digest of the file at `path` of `size` bytes (a ticket, awaited). */
  async digest(path: string, size: number): Promise<Uint8Array> {
    const t = this.ticket(path, size);
    await t.done;
    if (t.error) throw t.error;
    return t.digest!;
  }

  private send(): void {
    const b = this.batch;
    if (!b) return;
    this.batch = null;
    const { wants } = b;
    const sizes = new Float64Array(wants.length);
    for (let i = 0; i < wants.length; i++) sizes[i] = wants[i]!.size;
    // one string for the batch's paths (a path has no NUL): one string to clone instead of 256;
    // weighed by bytes, so a thread queued a large file gets the next batches of small ones
    const job = { paths: wants.map((w) => w.path).join('\0'), sizes };
    this.pool.submit(job, { weight: Math.max(1, b.bytes) }).result.then((r) => {
      for (let i = 0; i < wants.length; i++) {
        const w = wants[i]!;
        const error = r.errors?.[i];
        if (error) w.error = new Error(`fs-verity thread: ${error}`);
        else w.digest = r.digests.subarray(i * 32, i * 32 + 32);
      }
      b.settle();
    }, (e: Error) => {
      for (const w of wants) w.error = e;
      b.settle();
    });
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/**
 * Threads for the build's fs-verity digests: LAYERSCOPE_VERITY_THREADS=N (0: none, all on the build's
 * thread), else the CPU count, at most 4.
 */
export function verityThreads(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.LAYERSCOPE_VERITY_THREADS;
  if (v !== undefined && v !== '') {
    const n = Number(v);
    if (Number.isInteger(n) && n >= 0) return n;
  }
  return Math.min(4, availableParallelism());
}

/** the pool registered by startVerityPool, until withVerityPool's build ends */
let started: VerityPool | null = null;

/**
 * Registers a pool before the source tree is listed, so files are hashed as the walk finds them
 * (codec/fsverity.ts announceFile; files of `minSize` bytes or more) and the build that follows
 * (withVerityPool) mostly collects digests. The walk and the hashing then overlap instead of
 * running one after the other.
 */
export function startVerityPool(minSize: number, threads = verityThreads()): void {
  if (threads === 0 || started) return;
  const pool = new VerityPool(threads);
  started = pool;
  useFileDigester((path, size) => pool.digest(path, size), { minSize, ticket: (path, size) => pool.ticket(path, size) });
}

/** Runs `fn` with local files digested on the pool (when it has threads; the started one if any), unregistered after. */
export async function withVerityPool<T>(fn: () => Promise<T>, threads = verityThreads()): Promise<T> {
  let pool = started;
  started = null;
  if (!pool) {
    if (threads === 0) return fn();
    const made = new VerityPool(threads);
    useFileDigester((path, size) => made.digest(path, size));
    pool = made;
  }
  try {
    return await fn();
  } finally {
    useFileDigester(null);
    await pool.close();
  }
}
