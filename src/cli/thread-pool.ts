// Node-only: one pool of worker threads for the CLI's parallel jobs (RAFS chunk compression,
// fs-verity digests). A job goes to the least busy thread; an idle pool does not keep the process
// alive; a thread that fails or dies fails every job still waiting.
import { Worker } from 'node:worker_threads';

/** what a worker posts back: its job's id, and its result or the error's message */
export type ThreadReply<R> = ({ id: number } & R) | { id: number; error: string };
/** a message a worker posts about a job still running (it does not settle the job) */
export interface ThreadNote { id: number; note: number }

// Job data and replies are copied, never transferred: the first ArrayBuffer detached in a thread
// invalidates V8's array-buffer-detaching protector and deoptimizes the code that relied on it (see
// src/lib/app/build-zpool.ts zFilesServer for the measurement; b95fb13 for the RAFS threads).
export interface SubmitOptions {
  /** the job's share of a thread's work (default 1): a job goes to the thread with the least outstanding */
  weight?: number;
  /** called with each ThreadNote the job's thread posts */
  onNote?: (n: number) => void;
  /** false: the job does not keep the process alive (a warm-up the process may exit without) */
  keepAlive?: boolean;
}

/** `name`-worker next to this module: the bundle's sibling (bin/layerscope.mjs builds it), or the TypeScript through tsx. */
function startWorker(name: string): Worker {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new Worker(new URL(`./${name}.mjs`, self));
  const api = import.meta.resolve('tsx/esm/api');
  const entry = new URL(`./${name}.ts`, self).href;
  return new Worker(`import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`, { eval: true });
}

interface Slot {
  w: Worker;
  /** jobs outstanding (the thread keeps the process alive while any is) */
  busy: number;
  /** their weight */
  load: number;
}

export class ThreadPool<J extends object, R extends object> {
  private readonly workers: Slot[] = [];
  private readonly waiting = new Map<number, { ok(r: R): void; fail(e: Error): void; slot: Slot; weight: number; onNote?: (n: number) => void; hold: boolean }>();
  private nextId = 0;
  private failed: Error | null = null;

  /** `worker`: the module's base name next to this one; `label` names the threads in errors */
  constructor(readonly threads: number, private readonly worker: string, private readonly label: string) {}

  private start(): void {
    for (let i = 0; i < this.threads; i++) {
      const w = startWorker(this.worker);
      const slot: Slot = { w, busy: 0, load: 0 };
      w.on('message', (m: ThreadReply<R> | ThreadNote) => {
        const p = this.waiting.get(m.id);
        if ('note' in m) {
          p?.onNote?.(m.note);
          return;
        }
        this.waiting.delete(m.id);
        if (p) slot.load -= p.weight;
        if (p?.hold !== false && --slot.busy === 0) w.unref();
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

  /** run one job on the least busy thread */
  run(job: J, o: SubmitOptions = {}): Promise<R> {
    return this.submit(job, o).result;
  }

  /** run one job on the thread with the least outstanding weight; `id` addresses follow-up messages (post) */
  submit(job: J, o: SubmitOptions = {}): { id: number; result: Promise<R> } {
    const id = this.nextId++;
    if (this.failed) return { id, result: Promise.reject(this.failed) };
    if (!this.workers.length) this.start();
    const weight = o.weight ?? 1;
    let slot = this.workers[0]!;
    for (const s of this.workers) if (s.load < slot.load) slot = s;
    const hold = o.keepAlive !== false;
    if (hold && slot.busy++ === 0) slot.w.ref();
    slot.load += weight;
    const result = new Promise<R>((ok, fail) => {
      this.waiting.set(id, { ok, fail, slot, weight, onNote: o.onNote, hold });
      slot.w.postMessage({ ...job, id });
    });
    return { id, result };
  }

  /** one more message to the thread running job `id` (ignored once the job has settled) */
  post(id: number, msg: object, weight = 0): void {
    const p = this.waiting.get(id);
    if (!p) return;
    p.weight += weight;
    p.slot.load += weight;
    p.slot.w.postMessage({ ...msg, id });
  }

  /** Stop the threads (tests; the CLI lets them go with the process). */
  async close(): Promise<void> {
    await Promise.all(this.workers.splice(0).map((s) => s.w.terminate()));
  }
}
