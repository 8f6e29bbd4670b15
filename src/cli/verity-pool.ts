// Node-only: fs-verity digests of local files on worker threads, registered with the core
// (codec/fsverity.ts useFileDigester) for a composefs build. mkcomposefs 1.0.8 hashes on every core
// (--threads, default the CPU count); on one thread our build spent most of its time in read(2)
// and SHA-256 (profile in the commit that added this file).
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { useFileDigester } from '../lib/codec/fsverity.ts';
import type { VerityDone, VerityJob } from './verity-worker.ts';

/** verity-worker next to this module: the bundle's sibling (bin/layerscope.mjs builds it), or the TypeScript through tsx. */
function startWorker(): Worker {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new Worker(new URL('./verity-worker.mjs', self));
  const api = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./verity-worker.ts', self).href;
  return new Worker(`import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`, { eval: true });
}

export class VerityPool {
  private readonly workers: { w: Worker; busy: number }[] = [];
  private readonly waiting = new Map<number, { ok(d: Uint8Array): void; fail(e: Error): void }>();
  private nextId = 0;
  private failed: Error | null = null;

  constructor(readonly threads: number) {}

  private start(): void {
    for (let i = 0; i < this.threads; i++) {
      const w = startWorker();
      const slot = { w, busy: 0 };
      w.on('message', (m: VerityDone) => {
        const p = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (--slot.busy === 0) w.unref();
        if ('error' in m) p?.fail(new Error(m.error));
        else p?.ok(m.digest);
      });
      w.on('error', (e) => this.fail(e));
      w.on('exit', (code) => { if (code !== 0) this.fail(new Error(`fs-verity thread exited with ${code}`)); });
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

  digest(path: string, size: number): Promise<Uint8Array> {
    if (this.failed) return Promise.reject(this.failed);
    if (!this.workers.length) this.start();
    let slot = this.workers[0]!;
    for (const s of this.workers) if (s.busy < slot.busy) slot = s;
    const id = this.nextId++;
    if (slot.busy++ === 0) slot.w.ref();
    return new Promise((ok, fail) => {
      this.waiting.set(id, { ok, fail });
      slot.w.postMessage({ id, path, size } satisfies VerityJob);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.splice(0).map((s) => s.w.terminate()));
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
