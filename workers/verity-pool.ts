/**
 * A pool of hashing workers (workers/verity.ts) for the builder worker: fs-verity digests of
 * several Files at once, each worker reading its own File. In a CPU profile of the page's
 * composefs build the builder worker was busy ~5.3 s of 6.4 s, a third of it in WebCrypto calls
 * (one per 4 KiB block); spreading them over workers frees that thread, but on the 2-core bench
 * VM the build was no faster and took a little more CPU (figures in workers/builder.ts), so the
 * page leaves it off. Hashing in the workers with the pure-JS SHA-256 (and FileReaderSync reads)
 * was worse still: 54 against 83 MB per CPU-second.
 */
import type { VerityReply, VerityTask } from './verity.ts';

/** tasks queued per worker, so one starts as soon as the previous is done */
const DEPTH = 2;

interface Pending { ok(d: Uint8Array): void; fail(e: unknown): void; onRead?: ((bytes: number) => void) | undefined; worker: number }

export class VerityPool {
  private workers: (Worker | null)[];
  private readonly load: number[];
  private readonly pending = new Map<number, Pending>();
  private readonly queue: { task: VerityTask; p: Omit<Pending, 'worker'> }[] = [];
  private nextId = 1;

  constructor(readonly size: number) {
    this.workers = Array.from({ length: size }, () => null);
    this.load = Array.from({ length: size }, () => 0);
  }

  /**
   * The fs-verity digest of `blob`; `onRead` hears how many of its bytes were read so far (every
   * 1 MiB). A cancel rejects at once (the workers are ended and made again on the next use).
   */
  digest(blob: Blob, signal?: AbortSignal, onRead?: (bytes: number) => void): Promise<Uint8Array> {
    signal?.throwIfAborted();
    return new Promise<Uint8Array>((ok, fail) => {
      const id = this.nextId++;
      const onAbort = (): void => this.stop(signal!.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (): void => signal?.removeEventListener('abort', onAbort);
      this.queue.push({ task: { id, blob }, p: { ok: (d) => { done(); ok(d); }, fail: (e) => { done(); fail(e); }, onRead } });
      this.pump();
    });
  }

  /** Ends every worker; what was queued or running rejects with `reason`. */
  stop(reason: unknown = new Error('the hashing pool was stopped')): void {
    for (const w of this.workers) w?.terminate();
    this.workers = this.workers.map(() => null);
    this.load.fill(0);
    const all = [...this.pending.values(), ...this.queue.map((q) => q.p)];
    this.pending.clear();
    this.queue.length = 0;
    for (const p of all) p.fail(reason);
  }

  private pump(): void {
    while (this.queue.length) {
      let best = 0;
      for (let i = 1; i < this.size; i++) if (this.load[i]! < this.load[best]!) best = i;
      if (this.load[best]! >= DEPTH) return;
      const { task, p } = this.queue.shift()!;
      this.load[best]!++;
      this.pending.set(task.id, { ...p, worker: best });
      this.worker(best).postMessage(task);
    }
  }

  private worker(i: number): Worker {
    let w = this.workers[i];
    if (w) return w;
    w = new Worker(new URL('./verity.ts', import.meta.url), { type: 'module', name: `verity-${i}` });
    w.onmessage = (e: MessageEvent<VerityReply>) => {
      const p = this.pending.get(e.data.id);
      if (!p) return;
      if ('read' in e.data) {
        p.onRead?.(e.data.read);
        return;
      }
      this.pending.delete(e.data.id);
      this.load[p.worker]!--;
      if ('digest' in e.data) p.ok(e.data.digest);
      else p.fail(new Error(`fs-verity hashing worker: ${e.data.error}`));
      this.pump();
    };
    w.onerror = (e) => this.stop(new Error(`fs-verity hashing worker failed: ${e.message}`));
    this.workers[i] = w;
    return w;
  }
}
