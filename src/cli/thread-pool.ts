// Node-only: one pool of worker threads for the CLI's parallel jobs (RAFS chunk compression,
// fs-verity digests). A job goes to the least busy thread; an idle pool does not keep the process
// alive; a thread that fails or dies fails every job still waiting.
import { Worker } from 'node:worker_threads';

/** what a worker posts back: its job's id, and its result or the error's message */
export type ThreadReply<R> = ({ id: number } & R) | { id: number; error: string };

/** `name`-worker next to this module: the bundle's sibling (bin/layerscope.mjs builds it), or the TypeScript through tsx. */
function startWorker(name: string): Worker {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new Worker(new URL(`./${name}.mjs`, self));
  const api = import.meta.resolve('tsx/esm/api');
  const entry = new URL(`./${name}.ts`, self).href;
  return new Worker(`import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`, { eval: true });
}

export class ThreadPool<J extends object, R extends object> {
  private readonly workers: { w: Worker; busy: number }[] = [];
  private readonly waiting = new Map<number, { ok(r: R): void; fail(e: Error): void }>();
  private nextId = 0;
  private failed: Error | null = null;

  /** `worker`: the module's base name next to this one; `label` names the threads in errors */
  constructor(readonly threads: number, private readonly worker: string, private readonly label: string) {}

  private start(): void {
    for (let i = 0; i < this.threads; i++) {
      const w = startWorker(this.worker);
      const slot = { w, busy: 0 };
      w.on('message', (m: ThreadReply<R>) => {
        const p = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (--slot.busy === 0) w.unref();
        if ('error' in m) p?.fail(new Error(`${this.label}: ${m.error}`));
        else p?.ok(m as R);
      });
      w.on('error', (e) => this.fail(e));
      w.on('exit', (code) => { if (code !== 0) this.fail(new Error(`${this.label} exited with ${code}`)); });
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

  /** run one job on the least busy thread (its data is copied, not transferred) */
  run(job: J): Promise<R> {
    if (this.failed) return Promise.reject(this.failed);
    if (!this.workers.length) this.start();
    let slot = this.workers[0]!;
    for (const s of this.workers) if (s.busy < slot.busy) slot = s;
    const id = this.nextId++;
    if (slot.busy++ === 0) slot.w.ref();
    return new Promise((ok, fail) => {
      this.waiting.set(id, { ok, fail });
      slot.w.postMessage({ ...job, id });
    });
  }

  /** Stop the threads (tests; the CLI lets them go with the process). */
  async close(): Promise<void> {
    await Promise.all(this.workers.splice(0).map((s) => s.w.terminate()));
  }
}
