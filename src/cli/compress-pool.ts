// Node-only: RAFS chunk compression on worker threads, registered with the blob writer
// (useChunkCompressPool). The zstd encoder is ~70-90% of a zstd RAFS build's time (bench/rafs-build.ts),
// one thread at a time; the pool runs it on every core while the main thread reads and hashes.
import { Worker } from 'node:worker_threads';
import { useChunkCompressPool, type ChunkCompressPool } from '../lib/rafs/builder/blob.ts';
import type { Compressor } from '../lib/rafs/structs.ts';
import type { CompressDone, CompressJob } from './compress-worker.ts';

/** compress-worker next to this module: the bundle's sibling (bin/layerscope.mjs builds it), or the TypeScript through tsx. */
function startWorker(): Worker {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new Worker(new URL('./compress-worker.mjs', self));
  const api = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./compress-worker.ts', self).href;
  return new Worker(`import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`, { eval: true });
}

export class NodeCompressPool implements ChunkCompressPool {
  readonly width: number;
  private readonly workers: { w: Worker; busy: number }[] = [];
  private readonly waiting = new Map<number, { ok(z: Uint8Array | null): void; fail(e: Error): void }>();
  private nextId = 0;
  private failed: Error | null = null;

  constructor(readonly threads: number) {
    this.width = 2 * threads;
  }

  private start(): void {
    for (let i = 0; i < this.threads; i++) {
      const w = startWorker();
      const slot = { w, busy: 0 };
      w.on('message', (m: CompressDone) => {
        const p = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (--slot.busy === 0) w.unref();
        if ('error' in m) p?.fail(new Error(`compress thread: ${m.error}`));
        else p?.ok(m.z);
      });
      w.on('error', (e) => this.fail(e));
      w.on('exit', (code) => { if (code !== 0) this.fail(new Error(`compress thread exited with ${code}`)); });
      // an idle pool does not keep the process alive
      w.unref();
      this.workers.push(slot);
    }
  }

  private fail(e: Error): void {
    this.failed ??= e;
    for (const p of this.waiting.values()) p.fail(e);
    this.waiting.clear();
  }

  compress(alg: Compressor, data: Uint8Array, level: CompressJob['level']): Promise<Uint8Array | null> {
    if (this.failed) return Promise.reject(this.failed);
    if (!this.workers.length) this.start();
    let slot = this.workers[0]!;
    for (const s of this.workers) if (s.busy < slot.busy) slot = s;
    const id = this.nextId++;
    if (slot.busy++ === 0) slot.w.ref();
    return new Promise((ok, fail) => {
      this.waiting.set(id, { ok, fail });
      // copied, not transferred: the writer stores `data` itself when compression does not shrink it
      slot.w.postMessage({ id, alg, data, level } satisfies CompressJob);
    });
  }

  /** Stop the threads (tests; the CLI lets them go with the process). */
  async close(): Promise<void> {
    await Promise.all(this.workers.splice(0).map((s) => s.w.terminate()));
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
