// Reusable corruption sweep: deterministic truncations and byte flips of an image, each opened and
// fully exercised (walk, getattr, lookup, readdir, read, readlink, xattrs, info, inodeDetails).
// Every operation must succeed or throw a typed error (FormatError/IoError/NotFoundError/
// UnsupportedError); anything else is a failure.
//
// The variants run in a worker thread with a watchdog in the main thread: a per-variant
// Promise.race cannot catch a synchronous infinite loop (or an async one that only ever awaits
// resolved promises), but terminating a worker can. A hung variant is reported by name and the
// sweep continues with the next one in a fresh worker.
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { isTypedError } from '../../src/lib/errors.ts';
import type { Attr, ReadOnlyFs } from '../../src/lib/fs/types.ts';
import { BytesSource, type ByteSource } from '../../src/lib/io/source.ts';

export interface Region {
  name: string;
  start: number;
  end: number;
  /** relative likelihood of a mutation landing here (the whole image gets `uniformWeight`) */
  weight: number;
}

export interface SweepOptions {
  /** name for labels, e.g. "erofs/lz4" */
  label: string;
  image: Uint8Array;
  /** extra byte sources by content (EROFS devices / RAFS blobs), passed as `devices` and `blobs` */
  extras?: Uint8Array[];
  /** module exporting the opener: `fn(src: ByteSource, options) => Promise<ReadOnlyFs>` */
  openerModule: string;
  openerExport: string;
  /** modules to import first in the worker (e.g. src/lib/formats.ts to fill the format registry) */
  preload?: string[];
  /** module + export of a `fixup(bytes: Uint8Array): void` applied to every `fixupEvery`-th variant
   *  (e.g. recompute a superblock checksum so mutations get past it) */
  fixupModule?: string;
  fixupExport?: string;
  fixupEvery?: number;
  variants: number;
  seed?: number;
  regions?: Region[];
  /** weight of "anywhere in the image" against the regions (default 1) */
  uniformWeight?: number;
  /** fraction of variants that are truncations (default 0.15) */
  truncateFraction?: number;
  /** per-variant hang limit (default 5000 ms) */
  timeoutMs?: number;
  /** bytes read per file at most (default 4 MiB) */
  maxReadPerFile?: number;
  /** entries visited per variant at most (default 4000) */
  maxEntries?: number;
  /** allowed growth of process.memoryUsage().arrayBuffers over the worker's baseline (default 256 MiB) */
  memoryLimit?: number;
}

export interface SweepFailure {
  variant: string;
  error: string;
}

export interface SweepResult {
  variants: number;
  /** variants whose every operation succeeded */
  clean: number;
  /** variants where the open failed with a typed error */
  openRejected: number;
  /** variants where open worked and some operations threw typed errors */
  partial: number;
  /** typed error counts by class name */
  errorKinds: Record<string, number>;
  failures: SweepFailure[];
  hangs: string[];
  maxArrayBuffersGrowth: number;
}

/** mulberry32 */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Variant `k` of the sweep: deterministic from (seed, k). */
export function makeVariant(opts: Pick<SweepOptions, 'image' | 'seed' | 'regions' | 'uniformWeight' | 'truncateFraction' | 'label'>, k: number): { label: string; bytes: Uint8Array } {
  const img = opts.image;
  const rnd = prng(((opts.seed ?? 1) * 1_000_003 + k * 7919) >>> 0);
  const regions = (opts.regions ?? []).filter((r) => r.end > r.start && r.start < img.length);
  const uniform = opts.uniformWeight ?? 1;
  const total = regions.reduce((s, r) => s + r.weight, uniform);
  const pickOffset = (): { at: number; where: string } => {
    let x = rnd() * total;
    for (const r of regions) {
      if (x < r.weight) return { at: Math.min(img.length - 1, r.start + Math.floor(rnd() * (r.end - r.start))), where: r.name };
      x -= r.weight;
    }
    return { at: Math.floor(rnd() * img.length), where: 'any' };
  };
  if (rnd() < (opts.truncateFraction ?? 0.15)) {
    const { at, where } = pickOffset();
    return { label: `${opts.label}#${k} truncate@${at}(${where})`, bytes: img.slice(0, at) };
  }
  const bytes = img.slice();
  const n = 1 + Math.floor(rnd() * 4);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    const { at, where } = pickOffset();
    const kind = rnd();
    if (kind < 0.45) {
      bytes[at] = Math.floor(rnd() * 256);
      parts.push(`byte@${at}(${where})`);
    } else if (kind < 0.7) {
      bytes[at] = bytes[at]! ^ (1 << Math.floor(rnd() * 8));
      parts.push(`bit@${at}(${where})`);
    } else {
      const a = at & ~3;
      const v = [0xffffffff, 0, 0x7fffffff, 0x80000000, Math.floor(rnd() * 2 ** 32), 1, 0xffff][Math.floor(rnd() * 7)]!;
      for (let j = 0; j < 4 && a + j < bytes.length; j++) bytes[a + j] = (v >>> (8 * j)) & 0xff;
      parts.push(`u32@${a}=0x${v.toString(16)}(${where})`);
    }
  }
  return { label: `${opts.label}#${k} ${parts.join(',')}`, bytes };
}

export interface ExerciseLimits {
  maxReadPerFile: number;
  maxEntries: number;
  /** stop after this many typed errors */
  maxErrors?: number;
}

/**
 * Walk and read everything reachable. Typed errors of single operations are collected and the walk
 * goes on; any other exception propagates.
 */
export async function exerciseFs(fs: ReadOnlyFs, limits: ExerciseLimits): Promise<{ entries: number; typedErrors: unknown[] }> {
  const errors: unknown[] = [];
  const maxErrors = limits.maxErrors ?? 100;
  const attempt = async <T>(f: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await f();
    } catch (e) {
      if (!isTypedError(e)) throw e;
      errors.push(e);
      if (errors.length >= maxErrors) throw new StopExercise();
      return undefined;
    }
  };
  let entries = 0;
  const visit = async (a: Attr) => {
    await attempt(() => fs.inodeDetails(a.ino));
    if (a.type === 'reg') {
      const piece = 1 << 20;
      const max = Math.min(a.size, limits.maxReadPerFile);
      for (let off = 0; off < max; off += piece) {
        const b = await attempt(() => fs.read(a.ino, off, piece));
        if (!b) break;
      }
    } else if (a.type === 'symlink') {
      await attempt(() => fs.readlink(a.ino));
    }
    const names = await attempt(() => fs.listxattr(a.ino));
    for (const n of (names ?? []).slice(0, 64)) await attempt(() => fs.getxattr(a.ino, n));
  };
  try {
    await attempt(() => fs.info());
    await attempt(() => fs.statfs());
    const root = await attempt(() => fs.getattr(fs.rootIno));
    if (!root) return { entries, typedErrors: errors };
    await visit(root);
    const queue: number[] = root.type === 'dir' ? [root.ino] : [];
    const seen = new Set<number>(queue);
    while (queue.length && entries < limits.maxEntries) {
      const dir = queue.shift()!;
      let cookie = 0;
      for (;;) {
        const batch = await attempt(() => fs.readdir(dir, cookie, 128));
        if (!batch || batch.length === 0) break;
        for (const e of batch) {
          if (++entries > limits.maxEntries) break;
          const a = await attempt(() => fs.getattr(e.ino));
          await attempt(() => fs.lookup(dir, e.name));
          if (!a) continue;
          await visit(a);
          if (a.type === 'dir' && !seen.has(a.ino)) {
            seen.add(a.ino);
            queue.push(a.ino);
          }
        }
        const next = batch[batch.length - 1]!.next;
        if (next <= cookie || entries > limits.maxEntries) break;
        cookie = next;
      }
    }
  } catch (e) {
    if (!(e instanceof StopExercise)) throw e;
  }
  return { entries, typedErrors: errors };
}

class StopExercise extends Error {}

// ---- worker side ------------------------------------------------------------------------------

type Msg =
  | { kind: 'start'; k: number; label: string }
  | { kind: 'done'; k: number; outcome: 'clean' | 'open-rejected' | 'partial'; errorKinds: string[]; arrayBuffers: number }
  | { kind: 'fail'; k: number; label: string; error: string; arrayBuffers: number }
  | { kind: 'end' };

interface WorkerInput {
  __corruptSweep: true;
  opts: Omit<SweepOptions, 'image' | 'extras'> & { image: Uint8Array; extras?: Uint8Array[] };
  from: number;
}

async function workerMain(input: WorkerInput): Promise<void> {
  const { opts } = input;
  for (const m of opts.preload ?? []) await import(m);
  const opener = (await import(opts.openerModule))[opts.openerExport] as (src: ByteSource, o: object) => Promise<ReadOnlyFs>;
  const fixup = opts.fixupModule ? ((await import(opts.fixupModule))[opts.fixupExport!] as (b: Uint8Array) => void) : null;
  const limits = { maxReadPerFile: opts.maxReadPerFile ?? 4 << 20, maxEntries: opts.maxEntries ?? 4000 };
  const post = (m: Msg) => parentPort!.postMessage(m);
  for (let k = input.from; k < opts.variants; k++) {
    const v = makeVariant(opts, k);
    if (fixup && k % (opts.fixupEvery ?? 2) === 0) {
      fixup(v.bytes);
      v.label += ' +fixup';
    }
    post({ kind: 'start', k, label: v.label });
    const extras = (opts.extras ?? []).map((b, i) => new BytesSource(b, `extra${i}`));
    try {
      let fs: ReadOnlyFs;
      try {
        fs = await opener(new BytesSource(v.bytes, 'image'), { devices: extras, blobs: extras });
      } catch (e) {
        if (!isTypedError(e)) throw e;
        post({ kind: 'done', k, outcome: 'open-rejected', errorKinds: [(e as Error).name], arrayBuffers: process.memoryUsage().arrayBuffers });
        continue;
      }
      const r = await exerciseFs(fs, limits);
      post({ kind: 'done', k, outcome: r.typedErrors.length ? 'partial' : 'clean', errorKinds: r.typedErrors.map((e) => (e as Error).name), arrayBuffers: process.memoryUsage().arrayBuffers });
    } catch (e) {
      const err = e instanceof Error ? `${e.name}: ${e.message}\n${(e.stack ?? '').split('\n').slice(1, 6).join('\n')}` : String(e);
      post({ kind: 'fail', k, label: v.label, error: err, arrayBuffers: process.memoryUsage().arrayBuffers });
    }
  }
  post({ kind: 'end' });
}

if (!isMainThread && (workerData as WorkerInput | undefined)?.__corruptSweep) {
  void workerMain(workerData as WorkerInput);
}

// ---- main side --------------------------------------------------------------------------------

/** Run the sweep in a worker thread (restarted after a hang or a crash). */
export async function runCorruptionSweep(opts: SweepOptions): Promise<SweepResult> {
  const res: SweepResult = { variants: 0, clean: 0, openRejected: 0, partial: 0, errorKinds: {}, failures: [], hangs: [], maxArrayBuffersGrowth: 0 };
  const timeoutMs = opts.timeoutMs ?? 5000;
  const memoryLimit = opts.memoryLimit ?? 256 << 20;
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsxApi)}).then((api) => { api.register(); return import(${JSON.stringify(import.meta.url)}); })`;
  let from = 0;
  while (from < opts.variants) {
    from = await new Promise<number>((resolve) => {
      const input: WorkerInput = { __corruptSweep: true, opts, from };
      const w = new Worker(boot, { eval: true, workerData: input, resourceLimits: { maxOldGenerationSizeMb: 1024 } });
      let current = { k: from, label: `${opts.label}#${from}`, since: Date.now() };
      let baseline = -1;
      let finished = false;
      const finish = (next: number) => {
        if (finished) return;
        finished = true;
        clearInterval(timer);
        void w.terminate();
        resolve(next);
      };
      const timer = setInterval(() => {
        if (Date.now() - current.since > timeoutMs) {
          res.hangs.push(`${current.label} (no result after ${timeoutMs} ms)`);
          res.variants++;
          finish(current.k + 1);
        }
      }, 100);
      const memory = (label: string, ab: number) => {
        if (baseline < 0) baseline = ab;
        const growth = ab - baseline;
        res.maxArrayBuffersGrowth = Math.max(res.maxArrayBuffersGrowth, growth);
        if (growth > memoryLimit) res.failures.push({ variant: label, error: `arrayBuffers grew by ${growth} bytes` });
      };
      w.on('message', (m: Msg) => {
        if (m.kind === 'start') current = { k: m.k, label: m.label, since: Date.now() };
        else if (m.kind === 'done') {
          res.variants++;
          if (m.outcome === 'clean') res.clean++;
          else if (m.outcome === 'open-rejected') res.openRejected++;
          else res.partial++;
          for (const n of m.errorKinds) res.errorKinds[n] = (res.errorKinds[n] ?? 0) + 1;
          memory(current.label, m.arrayBuffers);
        } else if (m.kind === 'fail') {
          res.variants++;
          res.failures.push({ variant: m.label, error: m.error });
          memory(m.label, m.arrayBuffers);
        } else if (m.kind === 'end') finish(opts.variants);
      });
      w.on('error', (e) => {
        res.variants++;
        res.failures.push({ variant: current.label, error: `worker died: ${e.name}: ${e.message}` });
        finish(current.k + 1);
      });
      w.on('exit', () => {
        if (finished) return;
        res.variants++;
        res.failures.push({ variant: current.label, error: 'worker exited before finishing' });
        finish(current.k + 1);
      });
    });
  }
  return res;
}

/**
 * A deliberately broken opener for testing the harness itself: it hangs synchronously on images
 * whose size is divisible by 3, and throws a TypeError otherwise.
 */
export async function brokenOpenerForHarnessTest(src: ByteSource): Promise<ReadOnlyFs> {
  if (src.size % 3 === 0) for (;;);
  throw new TypeError('deliberate non-typed error');
}
