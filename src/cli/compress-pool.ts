// Node-only: RAFS chunk compression on worker threads, registered with the blob writer
// (useChunkCompressPool). The zstd encoder is ~70-90% of a zstd RAFS build's time (bench/rafs-build.ts),
// one thread at a time; the pool runs it on every core while the main thread reads and hashes.
import { useChunkCompressPool, type ChunkCompressPool } from '../lib/rafs/builder/blob.ts';
import type { Compressor } from '../lib/rafs/structs.ts';
import type { CompressJob } from './compress-worker.ts';
import { ThreadPool } from './thread-pool.ts';

export class NodeCompressPool implements ChunkCompressPool {
  readonly width: number;
  private readonly pool: ThreadPool<Omit<CompressJob, 'id'>, { z: Uint8Array | null }>;

  constructor(readonly threads: number) {
    this.width = 2 * threads;
    this.pool = new ThreadPool(threads, 'compress-worker', 'compress thread');
  }

  /** copied, not transferred: the writer stores `data` itself when compression does not shrink it */
  async compress(alg: Compressor, data: Uint8Array, level: CompressJob['level']): Promise<Uint8Array | null> {
    return (await this.pool.run({ alg, data, level })).z;
  }

  /** Stop the threads (tests; the CLI lets them go with the process). */
  close(): Promise<void> {
    return this.pool.close();
  }
}

/**
 * The CLI's pool, opt-in for now: LAYERSCOPE_COMPRESS_THREADS=N compresses on N threads (unset or 0:
 * on the build's own thread). Not the default because no gain could be measured yet: on the shared
 * 2-core machine it was written on (load average 12-14), 55 MB of /usr/bin to zstd took 9.7 / 6.2 s
 * with 2 threads against 11.7 / 4.7 s without, and 2.5 s CPU against 1.6 s (each thread starts
 * cold: ~0.2 s to its first chunk). Same blob either way (test/rafs-compress-pool.test.ts).
 */
export function registerCompressPool(): NodeCompressPool | null {
  const env = process.env.LAYERSCOPE_COMPRESS_THREADS;
  const n = env !== undefined && /^\d+$/.test(env) ? Math.min(16, Number(env)) : 0;
  const pool = n > 0 ? new NodeCompressPool(n) : null;
  useChunkCompressPool(pool);
  return pool;
}
