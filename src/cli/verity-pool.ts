// Node-only: fs-verity digests of local files on worker threads, registered with the core
// (codec/fsverity.ts useFileDigester) for a composefs build. mkcomposefs 1.0.8 hashes on every core
// (--threads, default the CPU count); on one thread our build spent most of its time in read(2)
// and SHA-256 (profile in the commit that added this file).
import { availableParallelism } from 'node:os';
import { useFileDigester } from '../lib/codec/fsverity.ts';
import type { VerityJob } from './verity-worker.ts';
import { ThreadPool } from './thread-pool.ts';

export class VerityPool {
  private readonly pool: ThreadPool<Omit<VerityJob, 'id'>, { digest: Uint8Array }>;

  constructor(readonly threads: number) {
    this.pool = new ThreadPool(threads, 'verity-worker', 'fs-verity thread');
  }

  async digest(path: string, size: number): Promise<Uint8Array> {
    return (await this.pool.run({ path, size })).digest;
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

/** Runs `fn` with large local files digested on the pool (when it has threads), unregistered after. */
export async function withVerityPool<T>(fn: () => Promise<T>, threads = verityThreads()): Promise<T> {
  if (threads === 0) return fn();
  const pool = new VerityPool(threads);
  useFileDigester((path, size) => pool.digest(path, size));
  try {
    return await fn();
  } finally {
    useFileDigester(null);
    await pool.close();
  }
}
