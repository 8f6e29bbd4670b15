// Node-only: RAFS chunk and EROFS file compression on worker threads, registered with the blob
// writer (useChunkCompressPool) and the EROFS writer (useZFilePool). The zstd encoder is ~70-90% of a
// zstd RAFS build's time (bench/rafs-build.ts), the LZ4HC encoder most of a `-z lz4hc` build's, one
// thread at a time; the pool runs them on the other cores while the main thread reads, hashes and
// (RAFS: the chunks it takes back from the threads' queue, submit) compresses too.
import { availableParallelism } from 'node:os';
import { useZFilePool, type ZConfig, type ZFile, type ZFilePool, type ZPoolFile, type ZPoolJob } from '../lib/erofs/writer-compress.ts';
import { useChunkCompressPool, type ChunkCompressPool, type ChunkJob } from '../lib/rafs/builder/blob.ts';
import { COMPRESSORS, type Compressor } from '../lib/rafs/structs.ts';
import type { CompressJob, ZFilesJob, ZMore } from './compress-worker.ts';
import { ThreadPool } from './thread-pool.ts';

type Job = Omit<CompressJob, 'id'> | Omit<ZFilesJob, 'id'>;
type Done = { z: Uint8Array | null } | { files: (ZFile | null)[] };

/** claim cells of NodeCompressPool.submit's jobs */
const CLAIM_CELLS = 1 << 16;

export class NodeCompressPool implements ChunkCompressPool, ZFilePool {
  readonly width: number;
  private readonly pool: ThreadPool<Job, Done>;

  constructor(readonly threads: number) {
    this.width = 2 * threads;
    this.pool = new ThreadPool(threads, 'compress-worker', 'compress thread');
  }

  /** copied, not transferred: the writer stores `data` itself when compression does not shrink it */
  async compress(alg: Compressor, data: Uint8Array, level: CompressJob['level']): Promise<Uint8Array | null> {
    return ((await this.pool.run({ alg, data, level })) as { z: Uint8Array | null }).z;
  }

  /** one cell per job (CompressJob.claims), reused after CLAIM_CELLS jobs: far more than a writer keeps in flight */
  private readonly claims = new Int32Array(new SharedArrayBuffer(4 * CLAIM_CELLS));
  private nextCell = 0;

  /** released chunk buffers by size class (bytes of their SharedArrayBuffer) */
  private readonly spare = new Map<number, Uint8Array[]>();

  /**
   * A chunk buffer in shared memory (ChunkCompressPool.buffer): the job message then shares it
   * instead of copying it, and the thread reads it in place. Size classes are powers of 2 from 64 KiB.
   */
  buffer(n: number): Uint8Array {
    // small chunks: a plain copy (the message's copy of it is cheap; a 64 KiB shared buffer is not)
    if (n < 1 << 15) return new Uint8Array(n);
    const size = Math.max(1 << 16, 2 ** Math.ceil(Math.log2(Math.max(n, 1))));
    const b = this.spare.get(size)?.pop() ?? new Uint8Array(new SharedArrayBuffer(size));
    return b.subarray(0, n);
  }

  release(b: Uint8Array): void {
    if (!(b.buffer instanceof SharedArrayBuffer)) return;
    const size = b.buffer.byteLength;
    const list = this.spare.get(size) ?? [];
    // the writer keeps at most a few dozen chunks between reading and writing
    if (list.length < 64) list.push(new Uint8Array(b.buffer));
    this.spare.set(size, list);
  }

  /** compress() that the writer can take back until the thread starts it (ChunkCompressPool.submit) */
  submit(alg: Compressor, data: Uint8Array, level: CompressJob['level']): ChunkJob {
    const slot = this.nextCell;
    this.nextCell = (slot + 1) % CLAIM_CELLS;
    const claims = this.claims;
    Atomics.store(claims, slot, 0);
    // the cells go to each thread once: with its warm-up, else with the jobs until the pool is warm
    const result = this.pool.run(this.claimsSent() ? { alg, data, level, slot } : { alg, data, level, claims, slot }).then((r) => (r as { z: Uint8Array | null }).z);
    return {
      result,
      started: () => Atomics.load(claims, slot) === 1,
      takeBack: () => Atomics.compareExchange(claims, slot, 0, 2) === 0,
    };
  }

  /** per `alg/level`: threads whose warm-up has settled (prepare) */
  private readonly warmed = new Map<string, number>();

  /**
   * Start every thread with a warm-up job for `alg`: each loads its module and runs its encoder on a
   * sample (compress-worker.ts warmUp) until V8 has optimized it, while the writer compresses its
   * first chunks itself. Once per `alg` and level; the CLI calls it before the source is listed
   * (warmRafsCompressPool), the blob writer again at its first MiB (a no-op then).
   */
  prepare(alg: Compressor, level: CompressJob['level']): void {
    const key = `${alg}/${level ?? ''}`;
    if (this.warmed.has(key)) return;
    this.warmed.set(key, 0);
    const settled = () => this.warmed.set(key, this.warmed.get(key)! + 1);
    // each thread takes one (the least busy gets the next job); the claim cells go with it
    // (not keeping the process alive: a small build ends before the warm-up, and need not wait for it)
    for (let i = 0; i < this.threads; i++) {
      this.pool.run({ alg, data: new Uint8Array(0), level, warm: true, claims: this.claims }, { keepAlive: false }).then(() => { this.warmedThreads++; settled(); }, settled);
    }
  }

  /** threads that have run a warm-up job, so hold the claim cells */
  private warmedThreads = 0;
  private claimsSent(): boolean {
    return this.warmedThreads >= this.threads;
  }

  /** every thread has finished its warm-up for `alg` (the writer hands chunks over from then on) */
  ready(alg: Compressor, level: CompressJob['level']): boolean {
    return (this.warmed.get(`${alg}/${level ?? ''}`) ?? 0) >= this.threads;
  }

  /** EROFS files (ZFilePool): `bytes` and every `more` piece are copied (see zFilesServer), weighted by their length */
  begin(z: ZConfig, files: ZPoolFile[], bytes: Uint8Array, taken: (n: number) => void): ZPoolJob {
    const { id, result } = this.pool.submit({ kind: 'zfiles', z, files, bytes }, { weight: bytes.length, onNote: taken });
    return {
      more: (b) => this.pool.post(id, { kind: 'zmore', bytes: b } satisfies Omit<ZMore, 'id'>, b.length),
      result: result.then((r) => (r as { files: (ZFile | null)[] }).files),
    };
  }

  /** Stop the threads (tests; the CLI lets them go with the process). */
  close(): Promise<void> {
    return this.pool.close();
  }
}

/** LAYERSCOPE_COMPRESS_THREADS=N (0 = the build's own thread), or undefined when unset */
function threadsFromEnv(): number | undefined {
  const env = process.env.LAYERSCOPE_COMPRESS_THREADS;
  return env !== undefined && /^\d+$/.test(env) ? Math.min(16, Number(env)) : undefined;
}

/**
 * Threads for EROFS `-z` builds: LAYERSCOPE_COMPRESS_THREADS=N (0 = the build's own thread), else one
 * per core up to 4, none on one core (a thread there only adds its start and the messages).
 * Measured (`-z lz4hc`, /tmp/q7-small: 508 MB, 8,077 files compressed; 2 cores, load average
 * 9-13; five interleaved rounds, /usr/bin/time user+sys): 2 threads cost 14.1-15.6 s CPU (median
 * 14.9) against 12.4-13.8 s (13.1) on one thread, +14%; per thread (/proc/self/task): the build's
 * 2.1 s, the compress threads 4.9 + 5.2 s, V8's helpers 0.35 s more, so on an idle machine the
 * wall time is bounded by ~7.5 s against ~13 s. Under that load the wall times were noise (15-68 s
 * either way); at load 2.2-3.4 (one core mostly taken by others), three rounds: wall 8.8 / 11.9 /
 * 15.0 s against 12.3 / 10.5 / 12.3 s (mkfs.erofs 1.5: 11.4 s). /tmp/q7-tree (1.05 GB), load 2.0-2.6,
 * two rounds: wall 21.8 / 24.6 s against 25.6 / 24.4 s, CPU 30.9 / 31.4 s against 27.0 / 26.5 s
 * (mkfs.erofs 1.5: 21.4 / 20.6 s wall, 20.7 / 20.0 s CPU). `-z lz4`: 6.5 s against 5.9 s CPU (one
 * round). Same image either way (test/erofs-compress-threads.test.ts).
 */
export function erofsCompressThreads(): number {
  const cores = availableParallelism();
  return threadsFromEnv() ?? (cores > 1 ? Math.min(4, cores) : 0);
}

/**
 * Threads for RAFS builds: LAYERSCOPE_COMPRESS_THREADS=N (0 = the build's own thread), else one
 * fewer than cores, at most 4: the build's thread compresses chunks itself whenever the pool is
 * full (blob.ts), so it is the last core's compressor. Measured through the bundled CLI, rafs-v6
 * zstd/blake3, output to disk, 0/1/2 threads interleaved on 2 cores (the runs in their own
 * autogroup at nice -20, so the wall times approximate an idle machine; load average 16-18 from
 * other work): all of /usr/bin (326 MB): wall 5.55-5.79 s with none, 4.21-4.37 s with 1, 4.21-5.01 s
 * with 2; CPU 5.1-5.3 / 6.1-6.3 / 6.6-7.0 s. 67 MB of /usr/bin: wall 1.30-1.35 / 1.27-1.31 /
 * 1.41 s, CPU 1.40 / 1.90-1.95 / 2.18-2.29 s: each thread JIT-compiles and warms the encoder
 * (~0.15 s), which a 67 MB build does not earn back. Same blob either way
 * (test/rafs-compress-pool.test.ts). Since the threads start and warm up while the CLI lists SRC
 * (warmRafsCompressPool) and the writer takes back the jobs they have not started (submit), 1 thread,
 * frozen bundles of before/after interleaved (own autogroup at nice -20, load 7.3-8.0): 67 MB
 * wall 1.18-1.35 -> 0.88-1.02 s, CPU 1.77-1.89 -> 1.47-1.59 s; all of /usr/bin wall 3.64-4.68 ->
 * 3.09-3.23 s, CPU 6.25-6.63 -> 5.65-5.90 s.
 */
export function rafsCompressThreads(): number {
  return threadsFromEnv() ?? Math.max(0, Math.min(4, availableParallelism() - 1));
}

/**
 * The CLI's pools, registered with both writers (threads start at the first job, or when a RAFS
 * blob writer announces its chunks: prepare). RAFS: rafsCompressThreads; EROFS: erofsCompressThreads.
 */
export function registerCompressPool(): NodeCompressPool | null {
  const rafs = rafsCompressThreads();
  const erofs = erofsCompressThreads();
  const pool = rafs > 0 ? new NodeCompressPool(rafs) : null;
  rafsPool = pool;
  useChunkCompressPool(pool);
  useZFilePool(erofs === rafs ? pool : erofs > 0 ? new NodeCompressPool(erofs) : null);
  return pool;
}

let rafsPool: NodeCompressPool | null = null;

/**
 * A RAFS build with `compressor` (the CLI's --compressor; zstd when absent) is about to list its
 * source: start and warm the pool's threads now, so they are ready by the first chunks instead of
 * starting at the writer's first MiB. Names that are not a chunk compressor are left to the build
 * to refuse.
 */
export function warmRafsCompressPool(compressor: string | undefined): void {
  const alg = (compressor ?? 'zstd') as Compressor;
  if (alg !== 'none' && COMPRESSORS.includes(alg)) rafsPool?.prepare(alg, undefined);
}
