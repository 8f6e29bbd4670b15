/**
 * The builder worker: turns a dropped folder, a tar, a composefs dump or an image into a source
 * tree (src/lib), and runs the page's builds (src/lib/app/build-job.ts) with output files backed by
 * File System Access handles (the save picker's file, a picked folder, OPFS) or by Blobs. Progress is
 * pushed to the page through a Comlink proxy; `cancel()` aborts the running build (every content read
 * and every output write checks the signal). No format logic lives here.
 */
import * as Comlink from 'comlink';
import { givenDigests } from '../src/lib/app/build.ts';
import { runBuild, type BuildLayer, type BuildProgress, type BuildReport } from '../src/lib/app/build-job.ts';
import type { LayerFiles, OutputFile, RafsLayerOutput } from '../src/lib/app/build-layers.ts';
import type { ObjectFiles } from '../src/lib/app/object-store.ts';
import { BlobFile } from '../src/lib/app/blob-file.ts';
import { openInput, sourceTreeOf, type InputKind } from '../src/lib/app/open.ts';
import { streamBlobContents } from '../src/lib/app/stream-source.ts';
import { fileBlobs, probeReads, splitBySize } from '../src/lib/app/read-probe.ts';
import { compressWorkerCount, PortZFilePool, type ZPort } from '../src/lib/app/build-zpool.ts';
import { useZFilePool } from '../src/lib/erofs/writer-compress.ts';
import { layerEffects, summarizeTree, type LayerEffects, type TreeSummary } from '../src/lib/app/tree-summary.ts';
import type { BuildChoice } from '../src/lib/app/build-choice.ts';
import { wired, toWire, type WireError } from '../src/lib/app/wire.ts';
import { BlobSource, type ByteSource } from '../src/lib/io/source.ts';
import type { SourceInode, SourceTree } from '../src/lib/fs/tree.ts';
import { treeFromBrowserItems, type BrowserItem } from '../src/lib/fs/sources/browser.ts';
import { blobSpill } from '../src/lib/fs/sources/tar.ts';

export type { BuildProgress, WireError };

export type SourceInput =
  | { kind: 'items'; items: BrowserItem[]; via: string; label: string }
  /** an image with its blobs / extra devices */
  | { kind: 'image'; file: File; blobs?: File[] }
  /** one file of unknown kind: told apart by its bytes (src/lib/app/open.ts) */
  | { kind: 'file'; file: File };

export interface SourceInfo {
  id: number;
  label: string;
  kind: 'items' | Exclude<InputKind, 'folder'>;
  summary: TreeSummary;
  notes: string[];
  effects: LayerEffects;
  /** the input carries real modes and owners (a tar, a dump, an image) */
  faithful: boolean;
  loadMs: number;
}

/** where an output goes: collected into a Blob (download), or streamed into a file handle */
export type OutputTarget =
  | { kind: 'blob' }
  | { kind: 'handle'; handle: FileSystemFileHandle }
  /** RAFS: the bootstrap(s) and the blob(s), named by blob id, into a folder */
  | { kind: 'dir'; handle: FileSystemDirectoryHandle };
export type ObjectsTarget = { kind: 'none' } | { kind: 'zip' } | { kind: 'dir'; handle: FileSystemDirectoryHandle };

export interface BuildRequest {
  /** source ids, lowest layer first; one for a plain build */
  layers: number[];
  choice: BuildChoice;
  image: OutputTarget;
  objects: ObjectsTarget;
  /** RAFS: the bootstrap's file name (blobs are named by their ids) */
  rafsName?: string;
}

/** one RAFS layer, with its files when they went to Blobs */
export interface RafsOutput extends RafsLayerOutput {
  bootstrap?: Blob;
  blob?: Blob;
}

export interface BuildResult extends Omit<BuildReport<never>, 'image' | 'rafs' | 'objects'> {
  /** when the image went to a Blob */
  blob?: Blob;
  rafs?: RafsOutput[];
  objects?: { count: number; bytes: number; zip?: Blob; written?: number };
}

const sources = new Map<number, BuildLayer>();
const originals = new WeakMap<SourceInode, ByteSource>();
let nextId = 1;
let running: AbortController | null = null;

/** A source's tree, by the application layer's one way of opening inputs. */
async function treeOf(input: SourceInput): Promise<{ tree: SourceTree; label: string; faithful: boolean; kind: SourceInfo['kind'] }> {
  if (input.kind === 'items') {
    const tree = treeFromBrowserItems(input.items, { via: input.via });
    streamBlobContents(tree.root);
    return { tree, label: input.label, faithful: false, kind: 'items' };
  }
  const blobs = input.kind === 'image' ? (input.blobs ?? []).map((b) => new BlobSource(b)) : [];
  const o = await openInput(new BlobSource(input.file), { blobs, spill: blobSpill() });
  if (o.kind === 'folder') throw new Error('a file cannot be a folder');
  return { tree: await sourceTreeOf(o, 'skip'), label: input.file.name, faithful: true, kind: o.kind };
}

interface Writable {
  write(b: Uint8Array): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

/** An output file streamed into a FileSystemWritableFileStream (the save picker's file, a picked folder's, OPFS). */
class HandleFile implements OutputFile {
  private constructor(readonly h: FileSystemFileHandle, private readonly w: Writable, private readonly signal: AbortSignal) {}
  static async open(h: FileSystemFileHandle, signal: AbortSignal): Promise<HandleFile> {
    const w = await (h as unknown as { createWritable(o?: { keepExistingData?: boolean }): Promise<Writable> }).createWritable({ keepExistingData: false });
    return new HandleFile(h, w, signal);
  }
  async write(chunk: Uint8Array): Promise<void> {
    this.signal.throwIfAborted();
    await this.w.write(chunk);
  }
  close(): Promise<void> {
    return this.w.close();
  }
  abort(): Promise<void> {
    return this.w.abort().catch(() => {});
  }
}

/** RAFS files in Blobs (a download each); names matter only for messages */
function blobLayerFiles(signal: AbortSignal): LayerFiles<BlobFile> {
  return {
    bootstrap: (name) => new BlobFile(name, { signal }),
    blob: (name) => new BlobFile(name, { signal }),
    keep() {},
    remove() {},
    read: (f) => new BlobSource(f.finish(), f.name),
  };
}

/** RAFS files in a picked folder, blobs renamed to their ids once written */
function dirLayerFiles(dir: FileSystemDirectoryHandle, signal: AbortSignal): LayerFiles<HandleFile> {
  return {
    bootstrap: async (name) => HandleFile.open(await dir.getFileHandle(name, { create: true }), signal),
    blob: async (name) => HandleFile.open(await dir.getFileHandle(name, { create: true }), signal),
    keep: (f, id) => renameInDir(dir, f.h, id),
    remove: (f) => dir.removeEntry(f.h.name),
    read: async (f) => new BlobSource(await f.h.getFile(), f.h.name),
  };
}

/** the object store in a picked folder: `xx/yyyy…` files */
function dirObjectFiles(root: FileSystemDirectoryHandle, signal: AbortSignal): ObjectFiles<HandleFile> {
  const subdirs = new Map<string, Promise<FileSystemDirectoryHandle>>();
  const fileOf = (payload: string): Promise<FileSystemFileHandle> => {
    const [xx, rest] = payload.split('/') as [string, string];
    let d = subdirs.get(xx);
    if (!d) subdirs.set(xx, (d = root.getDirectoryHandle(xx, { create: true })));
    return d.then((h) => h.getFileHandle(rest, { create: true }));
  };
  return {
    storedSize: async (payload) => (await (await fileOf(payload)).getFile()).size,
    create: async (payload) => HandleFile.open(await fileOf(payload), signal),
  };
}

/** FileSystemFileHandle.move where the browser has it, else a copy and a delete. */
async function renameInDir(dir: FileSystemDirectoryHandle, h: FileSystemFileHandle, to: string): Promise<void> {
  const from = h.name;
  const move = (h as unknown as { move?: (name: string) => Promise<void> }).move;
  if (typeof move === 'function') {
    try {
      await dir.removeEntry(to).catch(() => {});
      await move.call(h, to);
      return;
    } catch {
      // fall through to copying
    }
  }
  const src = await h.getFile();
  const w = await (await dir.getFileHandle(to, { create: true }) as unknown as { createWritable(): Promise<Writable> }).createWritable();
  for (let off = 0; off < src.size; off += PIECE) await w.write(new Uint8Array(await src.slice(off, off + PIECE).arrayBuffer()));
  await w.close();
  await dir.removeEntry(from);
}

const PIECE = 4 << 20;

/** compression workers for EROFS -z builds (null: as many as compressWorkerCount gives); the bench sets it */
let zWorkers: number | null = null;
let zPool: PortZFilePool | null = null;

/**
 * The compression workers (nested workers, started at the first job and kept for later builds), or
 * null for this thread. Measured (bench/build-browser.ts, 342 MB tree, 2 cores, load 16-19, two
 * interleaved rounds, Chromium's CPU by thread from /proc): -z lz4hc on the builder alone 12.7-13.8
 * CPU-s, its thread 7.4-7.9; on 2 workers 14.5-14.8 CPU-s (+10%), busiest thread 2.9-3.3. The
 * busiest thread bounds an idle machine's wall time when cores are spare (342 MB / 7.6 s ≈ 45 MB/s
 * against / 3.1 s ≈ 110 MB/s); on 2 cores the total bounds both at ~45-47 MB/s. Same image either
 * way (e2e/build-zpool.spec.ts).
 */
function compressPool(): PortZFilePool | null {
  // Node (test/app-build-layers) has no navigator before Node 21: no workers there
  const n = zWorkers ?? compressWorkerCount(globalThis.navigator?.hardwareConcurrency);
  if (zPool && (zPool.threads !== n || zPool.broken)) {
    zPool.close();
    zPool = null;
  }
  if (n > 0) zPool ??= new PortZFilePool(n, compressWorker);
  return zPool;
}

function compressWorker(i: number): ZPort {
  const w = new Worker(new URL('./compress.ts', import.meta.url), { type: 'module', name: `compress-${i}` });
  return {
    post: (m) => w.postMessage(m),
    listen(onReply, onFail) {
      w.addEventListener('message', (e) => onReply(e.data));
      w.addEventListener('error', (e) => {
        e.preventDefault();
        onFail(e.message || 'it failed to start');
      });
      w.addEventListener('messageerror', () => onFail('a message could not be read'));
    },
    close: () => w.terminate(),
  };
}

export const api = {
  async load(input: SourceInput): Promise<SourceInfo> {
    const t0 = performance.now();
    return wired(async () => {
      const { tree, label, faithful, kind } = await treeOf(input);
      const id = nextId++;
      const info: SourceInfo = {
        id, label, kind, summary: summarizeTree(tree), notes: tree.notes, effects: layerEffects(tree), faithful,
        loadMs: performance.now() - t0,
      };
      sources.set(id, { tree, label, givenDigests: givenDigests(tree), ...(input.kind !== 'items' && kind === 'tar' ? { tar: new BlobSource(input.file) } : {}) });
      return info;
    });
  },

  drop(id: number): void {
    sources.delete(id);
  },

  cancel(): boolean {
    if (!running) return false;
    running.abort(new DOMException('The build was cancelled', 'AbortError'));
    return true;
  },

  async build(req: BuildRequest, onProgress: (p: BuildProgress) => void): Promise<BuildResult> {
    if (running) throw toWire(new Error('a build is already running'));
    const ctl = new AbortController();
    running = ctl;
    const signal = ctl.signal;
    try {
      const layers = req.layers.map((id) => sources.get(id) ?? ((): never => { throw new Error(`source ${id} is gone; drop it again`); })());
      const target = req.image;
      // EROFS -z: the writer uses the registered pool once the files to compress add up to 8 MiB, as the CLI's threads
      useZFilePool(compressPool());
      const zip = req.objects.kind === 'zip' ? new BlobFile('objects.zip', { signal, type: 'application/zip' }) : null;
      const r = await runBuild<BlobFile | HandleFile>({ layers, choice: req.choice, signal, onProgress, originals, ...(req.rafsName !== undefined ? { rafsName: req.rafsName } : {}) }, {
        image: () => (target.kind === 'handle' ? HandleFile.open(target.handle, signal) : new BlobFile('image', { signal })),
        readImage: async (f) => (f instanceof BlobFile ? new BlobSource(f.finish(), 'built image') : new BlobSource(await f.h.getFile(), 'built image')),
        layers: (target.kind === 'dir' ? dirLayerFiles(target.handle, signal) : blobLayerFiles(signal)) as LayerFiles<BlobFile | HandleFile>,
        objects: zip ? { kind: 'zip', sink: zip } : req.objects.kind === 'dir' ? { kind: 'store', files: dirObjectFiles(req.objects.handle, signal) } : { kind: 'none' },
      });
      const { image, rafs, objects, ...rest } = r;
      const result: BuildResult = rest;
      if (image instanceof BlobFile) result.blob = image.finish();
      if (objects) result.objects = { ...objects, ...(zip ? { zip: zip.finish() } : {}) };
      if (rafs) {
        result.rafs = rafs.map((l) => ({
          ...l.output,
          ...(l.bootstrap instanceof BlobFile ? { bootstrap: l.bootstrap.finish() } : {}),
          ...(l.blob instanceof BlobFile ? { blob: l.blob.finish() } : {}),
        }));
      }
      return result;
    } catch (e) {
      if (signal.aborted) throw { name: 'AbortError', message: 'The build was cancelled' } satisfies WireError;
      throw toWire(e);
    } finally {
      running = null;
    }
  },
};

/** Diagnostics for the benchmark (src/lib/app/read-probe.ts): read one source's files, no build. */
async function probeRead(id: number, piece = 4 << 20, hash: boolean | 'webcrypto' | 'js' = false, concurrency = 1): Promise<{ bytes: number; ms: number }> {
  const s = sources.get(id);
  if (!s) throw new Error(`no source ${id}`);
  return probeReads(s.tree, originals, piece, hash, concurrency);
}

/**
 * Diagnostics for the benchmark: one source's files dealt to `n` nested workers by size, each
 * reading its share through Blob.stream() at the same time (workers/read-probe.ts); timed from the
 * first post to the last result, the workers already started. They are stopped at the next call,
 * so the bench's per-thread CPU figures still see their threads.
 */
let readers: Worker[] = [];
async function probeReadWorkers(id: number, n: number): Promise<{ bytes: number; ms: number; each: { bytes: number; ms: number }[] }> {
  const s = sources.get(id);
  if (!s) throw new Error(`no source ${id}`);
  const groups = splitBySize(fileBlobs(s.tree, originals), n);
  for (const w of readers.splice(0)) w.terminate();
  const ws = await Promise.all(groups.map(() => new Promise<Worker>((ok, fail) => {
    const w = new Worker(new URL('./read-probe.ts', import.meta.url), { type: 'module', name: 'read-probe' });
    w.onmessage = () => ok(w);
    w.onerror = (e) => fail(new Error(e.message || 'the read probe worker failed to start'));
  })));
  readers = ws;
  const t0 = performance.now();
  const each = await Promise.all(ws.map((w, i) => new Promise<{ bytes: number; ms: number }>((ok) => {
    w.onmessage = (e: MessageEvent<{ bytes: number; ms: number }>) => ok(e.data);
    w.postMessage(groups[i]);
  })));
  return { bytes: each.reduce((a, r) => a + r.bytes, 0), ms: performance.now() - t0, each };
}

export type BuilderApi = typeof api;
// only in a worker: Node imports this module for its `api` (tests) and has no worker scope
if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined') {
  Comlink.expose(api);
  (globalThis as unknown as { layerscopeBuilderProbe?: typeof probeRead }).layerscopeBuilderProbe = probeRead;
  (globalThis as unknown as { layerscopeBuilderProbeWorkers?: typeof probeReadWorkers }).layerscopeBuilderProbeWorkers = probeReadWorkers;
  // the bench's 0-vs-N compression worker rows
  (globalThis as unknown as { layerscopeCompressWorkers?: (n: number | null) => void }).layerscopeCompressWorkers = (n) => void (zWorkers = n);
}
