// EROFS files compressed on other threads, whatever starts them: the CLI's worker_threads
// (src/cli/compress-worker.ts) and the page's compression workers (workers/compress.ts, started by
// the builder worker) both run zFilesServer, and the page's side of the pool is PortZFilePool.
// Only messages cross: the compressing itself is the writer's compressRun, so the image is the one
// a one-thread build writes (test/erofs-compress-threads.test.ts, e2e/build-zpool.spec.ts).
import { compressRun, ZImage, type ZConfig, type ZFile, type ZFilePool, type ZPoolFile, type ZPoolJob } from '../erofs/writer-compress.ts';

/** compress `files`, their content back to back in `bytes` (the last file's rest follows in ZMore messages) */
export interface ZFilesJob { id: number; kind: 'zfiles'; z: ZConfig; files: ZPoolFile[]; bytes: Uint8Array }
export interface ZMore { id: number; kind: 'zmore'; bytes: Uint8Array }
/** a ZMore piece taken (note = its length), then the result */
export type ZFilesDone = { id: number; note: number } | { id: number; files: (ZFile | null)[] } | { id: number; error: string };

/**
 * The compressing thread's side: returns the handler of its ZFilesJob / ZMore messages; replies go
 * out through `post`. Jobs run one after another in arrival order, with one ZImage (encoder and
 * reused buffers) per configuration.
 *
 * Messages both ways are copied, never transferred: the first ArrayBuffer detached in a thread
 * invalidates V8's array-buffer-detaching protector, which deoptimizes the optimized code that
 * relied on it (the encoders, on the compressing side; the writer, on the sending side) and leaves
 * typed-array accesses with detach checks from then on (b95fb13 found it on the RAFS threads).
 * Measured here, bundled CLI, 67 MB of /usr/bin, LAYERSCOPE_COMPRESS_THREADS=1, 3 interleaved runs,
 * load 2-4: -z zstd 3.89-4.18 CPU-s / 3.37-3.64 s wall with transfers both ways, 3.46-4.13 / 2.97-3.58
 * with replies copied, 3.38-3.54 / 2.91-3.03 with both copied; -z lz4hc 2.02-2.10 / 1.86-1.95 ->
 * 1.95-2.04 / 1.74-1.80. Images byte-identical. A copy of a 1 MiB piece costs ~0.1 ms.
 */
export function zFilesServer(post: (m: ZFilesDone) => void): (m: ZFilesJob | ZMore) => void {
  const images = new Map<string, ZImage>();
  /** pieces of streamed files not yet taken, and a job waiting for its next one */
  const streams = new Map<number, { queue: Uint8Array[]; waiter: ((b: Uint8Array) => void) | null }>();
  let chain: Promise<void> = Promise.resolve();

  const run = async (m: ZFilesJob): Promise<void> => {
    const s = streams.get(m.id)!;
    try {
      const key = JSON.stringify(m.z);
      let zi = images.get(key);
      if (!zi) images.set(key, (zi = new ZImage(m.z)));
      const more = async (): Promise<Uint8Array> => {
        const b = s.queue.shift() ?? (await new Promise<Uint8Array>((ok) => (s.waiter = ok)));
        post({ id: m.id, note: b.length });
        return b;
      };
      // each ZFile's data and inline tail are copies of their own (compressFile): the clone copies only them
      post({ id: m.id, files: await compressRun(zi, m.files, m.bytes, more) });
    } catch (e) {
      post({ id: m.id, error: e instanceof Error ? e.message : String(e) });
    } finally {
      streams.delete(m.id);
    }
  };

  return (m) => {
    if (m.kind === 'zfiles') {
      streams.set(m.id, { queue: [], waiter: null });
      chain = chain.then(() => run(m));
      return;
    }
    const s = streams.get(m.id);
    if (!s) return;
    if (s.waiter) {
      const w = s.waiter;
      s.waiter = null;
      w(m.bytes);
    } else s.queue.push(m.bytes);
  };
}

/** one compressing thread as the pool sees it: messages out, and its replies and failure in */
export interface ZPort {
  /** copies `m` across (see zFilesServer: nothing is transferred) */
  post(m: ZFilesJob | ZMore): void;
  /** called once, right after the port is made */
  listen(onReply: (m: ZFilesDone) => void, onFail: (message: string) => void): void;
  /** stop the thread */
  close(): void;
}

interface Waiting { ok(files: (ZFile | null)[]): void; fail(e: Error): void; port: number; weight: number; taken(n: number): void }

/**
 * ZFilePool over ports made by `open` (the page: nested dedicated workers), started at the first
 * job and kept for later builds. A job goes to the port with the fewest content bytes outstanding;
 * a failed port fails every job waiting and every later one (`broken`: the owner starts a new pool
 * for the next build). The bytes in flight are bounded by the writer
 * (compressOnPool), per thread, as on the CLI's pool.
 */
export class PortZFilePool implements ZFilePool {
  private ports: ZPort[] = [];
  private load: number[] = [];
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 0;
  private failed: Error | null = null;

  constructor(readonly threads: number, private readonly open: (index: number) => ZPort) {}

  private start(): void {
    for (let i = 0; i < this.threads; i++) {
      const port = this.open(i);
      this.ports.push(port);
      this.load.push(0);
      port.listen((m) => this.reply(m), (message) => this.fail(new Error(`compression worker: ${message}`)));
    }
  }

  private reply(m: ZFilesDone): void {
    const w = this.waiting.get(m.id);
    if (!w) return;
    if ('note' in m) {
      w.taken(m.note);
      return;
    }
    this.waiting.delete(m.id);
    this.load[w.port]! -= w.weight;
    if ('error' in m) w.fail(new Error(`compression worker: ${m.error}`));
    else w.ok(m.files);
  }

  private fail(e: Error): void {
    this.failed ??= e;
    for (const w of this.waiting.values()) w.fail(e);
    this.waiting.clear();
  }

  /** a port failed: this pool only fails jobs now */
  get broken(): boolean {
    return this.failed !== null;
  }

  /** stop the threads; jobs still waiting fail */
  close(): void {
    for (const p of this.ports.splice(0)) p.close();
    this.fail(new Error('compression workers stopped'));
  }

  begin(z: ZConfig, files: ZPoolFile[], bytes: Uint8Array, taken: (n: number) => void): ZPoolJob {
    const id = this.nextId++;
    if (this.failed) return { more() {}, result: Promise.reject(this.failed) };
    if (!this.ports.length) this.start();
    let port = 0;
    for (let i = 1; i < this.ports.length; i++) if (this.load[i]! < this.load[port]!) port = i;
    const result = new Promise<(ZFile | null)[]>((ok, fail) => {
      this.waiting.set(id, { ok, fail, port, weight: bytes.length, taken });
    });
    this.load[port]! += bytes.length;
    this.ports[port]!.post({ id, kind: 'zfiles', z, files, bytes });
    return {
      more: (b) => {
        const w = this.waiting.get(id);
        if (!w) return;
        w.weight += b.length;
        this.load[port]! += b.length;
        this.ports[port]!.post({ id, kind: 'zmore', bytes: b });
      },
      result,
    };
  }
}

/** compression workers for a runtime with `cores` (navigator.hardwareConcurrency): one per core up to 4, none on one core, as the CLI's threads */
export function compressWorkerCount(cores: number | undefined): number {
  const n = cores ?? 1;
  return n > 1 ? Math.min(4, n) : 0;
}
