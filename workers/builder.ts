/**
 * The builder worker: turns a dropped folder, a tar, a composefs dump or an image into a source
 * tree (src/lib), and builds EROFS / composefs / RAFS images from it through the one build function
 * (src/lib/app/build.ts), streaming the output to a File System Access file handle or into a Blob. Progress is pushed to the page through a Comlink proxy;
 * `cancel()` aborts the running build (every content read and every output write checks the signal).
 */
import * as Comlink from 'comlink';
import { Zip, ZipPassThrough } from 'fflate';
import { applyLayers, buildImage, choiceOptions, forgetDigests, givenDigests, rafsParent } from '../src/lib/app/build.ts';
import { openInput, sourceTreeOf, type InputKind } from '../src/lib/app/open.ts';
import { meterTree, newMeter } from '../src/lib/app/meter.ts';
import { StreamingBlobSource, streamBlobContents } from '../src/lib/app/stream-source.ts';
import { layerEffects, summarizeTree, type LayerEffects, type TreeSummary } from '../src/lib/app/tree-summary.ts';
import type { BuildChoice } from '../src/lib/app/build-choice.ts';
import { compressionStatsOf, type CompressionStats } from '../src/lib/app/compression-stats.ts';
import { wired, toWire, type WireError } from '../src/lib/app/wire.ts';
import { BlobSource, type ByteSource } from '../src/lib/io/source.ts';
import { inodesOf, type SourceInode, type SourceTree } from '../src/lib/fs/tree.ts';
import { treeFromBrowserItems, type BrowserItem } from '../src/lib/fs/sources/browser.ts';
import { blobSpill } from '../src/lib/fs/sources/tar.ts';
import type { Sink } from '../src/lib/erofs/writer-output.ts';
import type { RafsFs } from '../src/lib/rafs/model.ts';
import { buildTarfs } from '../src/lib/rafs/builder/tarfs.ts';

export type { WireError };

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

export interface BuildProgress {
  phase: 'preparing' | 'hashing' | 'writing' | 'objects' | 'finishing';
  files: number;
  filesTotal: number;
  /** content bytes read (all passes) and the expected total */
  bytes: number;
  bytesTotal: number;
  /** output bytes written */
  out: number;
  elapsedMs: number;
}

export interface RafsOutput {
  layer: string;
  bootstrapName: string;
  bootstrapSize: number;
  bootstrap?: Blob;
  blobId: string | null;
  blobSize: number;
  blob?: Blob;
  /** the bootstrap's blob table (parent blobs first) */
  blobIds: string[];
  chunksStored: number;
  chunksReferenced: number;
  chunksFromOtherBlobs: number;
  notes: string[];
}

export interface BuildResult {
  format: BuildChoice['format'];
  size: number;
  /** when the image went to a Blob */
  blob?: Blob;
  /** RAFS: one bootstrap and (unless every chunk was already stored) one data blob per layer */
  rafs?: RafsOutput[];
  /** composefs: fs-verity digest of the image (hex) */
  digest?: string;
  inodes: number;
  /** EROFS chunk mode */
  chunks?: { stored: number; referenced: number };
  /** compressed EROFS: per-file compression, read back from the image just built */
  compression?: CompressionStats;
  /** compressed EROFS: why the read-back figures are missing */
  compressionError?: string;
  uuid?: string;
  objects?: { count: number; bytes: number; zip?: Blob; written?: number };
  contentBytes: number;
  elapsedMs: number;
  notes: string[];
}

interface Loaded {
  tree: SourceTree;
  info: SourceInfo;
  /** inodes whose fs-verity digest came with the input (a dump): never cleared */
  givenDigests: Set<SourceInode>;
  /** a tar source's file: a tarfs build uses it as its data blob */
  tar?: File;
}

const sources = new Map<number, Loaded>();
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

/** A sink into a Blob: parts are folded into the Blob every 32 MiB so the browser can page them out. */
class BlobSink implements Sink {
  private blob = new Blob([]);
  private parts: Uint8Array<ArrayBuffer>[] = [];
  private pending = 0;
  size = 0;
  constructor(private readonly signal: AbortSignal, private readonly type = 'application/octet-stream') {}
  write(chunk: Uint8Array): void {
    this.signal.throwIfAborted();
    this.parts.push(chunk as Uint8Array<ArrayBuffer>);
    this.pending += chunk.length;
    this.size += chunk.length;
    if (this.pending >= 32 << 20) this.fold();
  }
  private fold(): void {
    this.blob = new Blob([this.blob, ...this.parts], { type: this.type });
    this.parts = [];
    this.pending = 0;
  }
  finish(): Blob {
    this.fold();
    return this.blob;
  }
}

interface Writable {
  write(b: Uint8Array): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

/** A sink into a FileSystemWritableFileStream (the save picker's file, or an OPFS file). */
class HandleSink implements Sink {
  size = 0;
  private constructor(private readonly w: Writable, private readonly signal: AbortSignal) {}
  static async open(h: FileSystemFileHandle, signal: AbortSignal): Promise<HandleSink> {
    const w = (await (h as unknown as { createWritable(o?: { keepExistingData?: boolean }): Promise<Writable> }).createWritable({ keepExistingData: false }));
    return new HandleSink(w, signal);
  }
  async write(chunk: Uint8Array): Promise<void> {
    this.signal.throwIfAborted();
    await this.w.write(chunk);
    this.size += chunk.length;
  }
  close(): Promise<void> {
    return this.w.close();
  }
  abort(): Promise<void> {
    return this.w.abort().catch(() => {});
  }
}

/** counts output bytes on their way to the real sink */
function countedSink(inner: Sink, count: (n: number) => void): Sink {
  return {
    write(c: Uint8Array) {
      count(c.length);
      return inner.write(c);
    },
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
      sources.set(id, { tree, info, givenDigests: givenDigests(tree), ...(input.kind !== 'items' && kind === 'tar' ? { tar: input.file } : {}) });
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
    const t0 = performance.now();
    let handleSink: HandleSink | null = null;
    let outBytes = 0;
    const progress: BuildProgress = { phase: 'preparing', files: 0, filesTotal: 0, bytes: 0, bytesTotal: 0, out: 0, elapsedMs: 0 };
    const meter = newMeter(signal, () => report());
    let lastReport = 0;
    function report(force = false): void {
      const now = performance.now();
      if (!force && now - lastReport < 100) return;
      lastReport = now;
      progress.files = meter.files;
      progress.bytes = meter.bytes;
      progress.out = outBytes;
      progress.elapsedMs = now - t0;
      onProgress({ ...progress });
    }
    try {
      const layers = req.layers.map((id) => {
        const s = sources.get(id);
        if (!s) throw new Error(`source ${id} is gone; drop it again`);
        return s;
      });
      if (layers.length === 0) throw new Error('nothing to build: add a source first');
      // digests computed by an earlier build are dropped, so every build measures its own hashing
      for (const l of layers) forgetDigests(l.tree, l.givenDigests);
      const tree = applyLayers(layers.map((l) => l.tree));
      meterTree(tree, meter, originals);
      const sum = summarizeTree(tree);
      progress.filesTotal = sum.files;
      const notes: string[] = [];
      if (layers.length > 1) notes.push(`${layers.length} layers applied in order (whiteouts and opaque directories honoured)`);

      const c = req.choice;
      let image: Sink;
      let blobSink: BlobSink | null = null;
      if (req.image.kind === 'handle') image = handleSink = await HandleSink.open(req.image.handle, signal);
      else image = blobSink = new BlobSink(signal); // (RAFS makes its own sinks)
      image = countedSink(image, (n) => {
        outBytes += n;
      });

      let result: BuildResult;
      if (c.format === 'erofs') {
        const chunked = c.erofs.chunkSize !== null;
        progress.bytesTotal = sum.bytes * (chunked ? 2 : 1);
        progress.phase = chunked ? 'hashing' : 'writing';
        report(true);
        const b = await buildImage(tree, choiceOptions(c), { image });
        if (b.format !== 'erofs') throw new Error(`an erofs build gave a ${b.format} result`);
        const r = b.erofs;
        result = {
          format: 'erofs', size: r.size, inodes: r.inodes, uuid: b.uuid, contentBytes: sum.bytes, elapsedMs: 0, notes,
          ...(r.chunks ? { chunks: r.chunks } : {}),
        };
      } else if (c.format === 'composefs') {
        const wantObjects = req.objects.kind !== 'none';
        progress.phase = 'hashing';
        progress.bytesTotal = sum.bytes;
        report(true);
        const b = await buildImage(tree, choiceOptions(c, { objects: true }), { image }, {
          objectsHashed() {
            progress.phase = 'writing';
            report(true);
          },
        });
        if (b.format !== 'composefs') throw new Error(`a composefs build gave a ${b.format} result`);
        const r = b.composefs;
        const objects = b.objects ?? [];
        result = { format: 'composefs', size: r.size, digest: b.digest, inodes: r.inodes, contentBytes: sum.bytes, elapsedMs: 0, notes };
        if (wantObjects) {
          const objBytes = objects.reduce((a, o) => a + o.size, 0);
          progress.phase = 'objects';
          progress.bytesTotal = meter.bytes + objBytes;
          report(true);
          result.objects = { count: objects.length, bytes: objBytes };
          if (req.objects.kind === 'zip') result.objects.zip = await objectsZip(objects, signal);
          else if (req.objects.kind === 'dir') result.objects.written = await objectsToDir(objects, req.objects.handle, signal);
        } else if (objects.length) {
          result.objects = { count: objects.length, bytes: objects.reduce((a, o) => a + o.size, 0) };
        }
      } else {
        progress.phase = 'writing';
        progress.bytesTotal = layers.length > 1 ? layers.reduce((a, l) => a + summarizeTree(l.tree).bytes, 0) : sum.bytes;
        report(true);
        const outs = c.rafs.tarfs ? [await buildTarfsOut(req, layers, signal, (n) => {
          outBytes += n;
        })] : await buildRafsLayers(req, layers.length > 1 ? layers.map((l) => ({ tree: l.tree, label: l.info.label })) : [{ tree, label: layers[0]!.info.label }], signal, (n) => {
          outBytes += n;
        }, (t) => meterTree(t, meter, originals));
        const top = outs[outs.length - 1]!;
        result = { format: 'rafs', size: top.bootstrapSize, inodes: 0, contentBytes: sum.bytes, elapsedMs: 0, notes, rafs: outs };
        if (layers.length > 1) notes.splice(0, notes.length, `${layers.length} layers, each built onto the previous one's bootstrap as its parent`);
      }
      progress.phase = 'finishing';
      report(true);
      if (handleSink) {
        await handleSink.close();
        handleSink = null;
      }
      if (blobSink && c.format !== 'rafs') result.blob = blobSink.finish();
      if (c.format === 'erofs' && c.erofs.compression !== 'none') {
        // the figures come from the image itself, opened with the same reader the inspector uses
        try {
          const file = result.blob ?? (req.image.kind === 'handle' ? await req.image.handle.getFile() : null);
          const stats = file ? await compressionStatsOf(new BlobSource(file, 'built image'), signal) : null;
          if (stats) result.compression = stats;
        } catch (e) {
          result.compressionError = e instanceof Error ? e.message : String(e);
        }
      }
      result.elapsedMs = performance.now() - t0;
      return result;
    } catch (e) {
      if (handleSink) await handleSink.abort();
      if (signal.aborted) throw { name: 'AbortError', message: 'The build was cancelled' } satisfies WireError;
      throw toWire(e);
    } finally {
      running = null;
    }
  },
};

/**
 * RAFS: each layer becomes a bootstrap plus a data blob named by its id; a layer after the first is
 * built with the previous bootstrap as its parent (its files keep their chunks in the lower blobs).
 */
async function buildRafsLayers(
  req: BuildRequest, layers: { tree: SourceTree; label: string }[], signal: AbortSignal, count: (n: number) => void, meter: (t: SourceTree) => void,
): Promise<RafsOutput[]> {
  const outs: RafsOutput[] = [];
  const dir = req.image.kind === 'dir' ? req.image.handle : null;
  const base = rafsBaseName(req);
  let parent: RafsFs | undefined;
  for (let i = 0; i < layers.length; i++) {
    const { tree, label } = layers[i]!;
    meter(tree);
    const bootstrapName = layers.length > 1 ? `${base}.layer${i + 1}.boot` : `${base}.boot`;
    const tmpName = `.${bootstrapName}.blob-partial`;
    const bootSink = dir ? await HandleSink.open(await dir.getFileHandle(bootstrapName, { create: true }), signal) : new BlobSink(signal);
    const blobSink = dir ? await HandleSink.open(await dir.getFileHandle(tmpName, { create: true }), signal) : new BlobSink(signal);
    let res;
    try {
      const b = await buildImage(tree, choiceOptions(req.choice, { ...(parent ? { parent } : {}), signal }), { bootstrap: countedSink(bootSink, count), blob: countedSink(blobSink, count) });
      if (b.format !== 'rafs') throw new Error(`a RAFS build gave a ${b.format} result`);
      res = b.rafs;
    } catch (e) {
      if (bootSink instanceof HandleSink) await bootSink.abort();
      if (blobSink instanceof HandleSink) await blobSink.abort();
      if (dir) {
        await dir.removeEntry(tmpName).catch(() => {});
        await dir.removeEntry(bootstrapName).catch(() => {});
      }
      throw e;
    }
    const out: RafsOutput = {
      layer: label, bootstrapName, bootstrapSize: res.bootstrapSize, blobId: res.blobId, blobSize: res.blobSize, blobIds: res.blobIds,
      chunksStored: res.stats.chunksStored, chunksReferenced: res.stats.chunksReferenced, chunksFromOtherBlobs: res.stats.chunksFromOtherBlobs, notes: res.notes,
    };
    let bootBytes: Blob;
    if (bootSink instanceof HandleSink && blobSink instanceof HandleSink && dir) {
      await bootSink.close();
      await blobSink.close();
      const tmp = await dir.getFileHandle(tmpName);
      if (res.blobId) await renameInDir(dir, tmp, tmpName, res.blobId);
      else await dir.removeEntry(tmpName);
      bootBytes = await (await dir.getFileHandle(bootstrapName)).getFile();
    } else {
      bootBytes = out.bootstrap = (bootSink as BlobSink).finish();
      if (res.blobId) out.blob = (blobSink as BlobSink).finish();
    }
    outs.push(out);
    if (i + 1 < layers.length) {
      parent = await rafsParent(new BlobSource(bootBytes, bootstrapName));
    }
  }
  return outs;
}

/**
 * tarfs (nydus-image --type tar-tarfs): the one source, an uncompressed tar, is the data blob as it
 * is; only the bootstrap is written (src/lib/rafs/builder/tarfs.ts), and the tar is not copied.
 */
async function buildTarfsOut(req: BuildRequest, layers: Loaded[], signal: AbortSignal, count: (n: number) => void): Promise<RafsOutput> {
  const tar = layers.length === 1 ? layers[0]!.tar : undefined;
  if (!tar) throw new Error('tarfs builds one uncompressed tar source (its bytes become the data blob): drop a single .tar');
  const dir = req.image.kind === 'dir' ? req.image.handle : null;
  const bootstrapName = `${rafsBaseName(req)}.boot`;
  const sink = dir ? await HandleSink.open(await dir.getFileHandle(bootstrapName, { create: true }), signal) : new BlobSink(signal);
  let r;
  try {
    r = await buildTarfs(new BlobSource(tar), { chunkSize: req.choice.rafs.chunkSize, signal }, countedSink(sink, count));
  } catch (e) {
    if (sink instanceof HandleSink) await sink.abort();
    throw e;
  }
  const out: RafsOutput = {
    layer: tar.name, bootstrapName, bootstrapSize: r.bootstrapSize, blobId: r.blobId, blobSize: r.blobSize, blobIds: r.blobIds,
    chunksStored: 0, chunksReferenced: r.stats.chunksReferenced, chunksFromOtherBlobs: 0, notes: r.notes,
  };
  if (sink instanceof HandleSink) await sink.close();
  else out.bootstrap = sink.finish();
  return out;
}

function rafsBaseName(req: BuildRequest): string {
  return (req.rafsName ?? 'image').replace(/\.boot$/, '');
}

/** FileSystemFileHandle.move where the browser has it, else a copy and a delete. */
async function renameInDir(dir: FileSystemDirectoryHandle, h: FileSystemFileHandle, from: string, to: string): Promise<void> {
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

/** The object store as a zip (stored, not deflated: objects are usually compressed already). */
async function objectsZip(objects: { payload: string; content: ByteSource; size: number }[], signal: AbortSignal): Promise<Blob> {
  const parts: Uint8Array<ArrayBuffer>[] = [];
  let blob = new Blob([]);
  let pending = 0;
  let failed: unknown = null;
  let ended = false;
  const zip = new Zip((err, chunk, final) => {
    if (err) failed = err;
    parts.push(chunk as Uint8Array<ArrayBuffer>);
    pending += chunk.length;
    if (final) ended = true;
  });
  for (const o of objects) {
    const e = new ZipPassThrough(o.payload);
    e.mtime = new Date(Date.UTC(2000, 0, 1));
    zip.add(e);
    if (o.size === 0) e.push(new Uint8Array(0), true);
    for (let off = 0; off < o.size; off += PIECE) {
      signal.throwIfAborted();
      const n = Math.min(PIECE, o.size - off);
      e.push(await o.content.read(off, n), off + n >= o.size);
      if (pending >= 32 << 20) {
        blob = new Blob([blob, ...parts]);
        parts.length = 0;
        pending = 0;
      }
    }
    if (failed) throw failed;
  }
  zip.end();
  if (failed) throw failed;
  if (!ended) throw new Error('zip did not finish');
  return new Blob([blob, ...parts], { type: 'application/zip' });
}

/** The object store into a directory handle: `xx/yyyy…` files (existing ones of the right size are kept). */
async function objectsToDir(objects: { payload: string; content: ByteSource; size: number }[], root: FileSystemDirectoryHandle, signal: AbortSignal): Promise<number> {
  const subdirs = new Map<string, FileSystemDirectoryHandle>();
  let written = 0;
  for (const o of objects) {
    signal.throwIfAborted();
    const [xx, rest] = o.payload.split('/') as [string, string];
    let d = subdirs.get(xx);
    if (!d) {
      d = await root.getDirectoryHandle(xx, { create: true });
      subdirs.set(xx, d);
    }
    const fh = await d.getFileHandle(rest, { create: true });
    const existing = await fh.getFile();
    if (existing.size === o.size && o.size > 0) continue;
    const w = await (fh as unknown as { createWritable(): Promise<Writable> }).createWritable();
    try {
      for (let off = 0; off < o.size; off += PIECE) {
        signal.throwIfAborted();
        await w.write(await o.content.read(off, Math.min(PIECE, o.size - off)) as Uint8Array<ArrayBuffer>);
      }
      await w.close();
    } catch (e) {
      await w.abort().catch(() => {});
      throw e;
    }
    written++;
  }
  return written;
}

/**
 * Diagnostics for the benchmark: read every file of a source once, in `piece`-byte reads (no build),
 * and optionally SHA-256 each 4 KiB block with WebCrypto, to tell reading from hashing apart.
 */
async function probeRead(id: number, piece = 4 << 20, hash = false, concurrency = 1): Promise<{ bytes: number; ms: number }> {
  const s = sources.get(id);
  if (!s) throw new Error(`no source ${id}`);
  const files: ByteSource[] = [];
  for (const n of inodesOf(s.tree.root)) {
    const src = originals.get(n) ?? n.content;
    if (n.type === 'reg' && src) files.push(src);
  }
  const t0 = performance.now();
  let bytes = 0;
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const f = files[next++]!;
      if (piece === 0 && (f instanceof BlobSource || f instanceof StreamingBlobSource)) {
        // piece 0: the Blob's own stream, for comparison with sliced reads
        const r = f.blob.stream().getReader();
        for (;;) {
          const { done, value } = await r.read();
          if (done) break;
          bytes += value.length;
        }
        continue;
      }
      for (let o = 0; o < f.size; o += piece) {
        const b = await f.read(o, Math.min(piece, f.size - o));
        bytes += b.length;
        if (hash) {
          const ps: Promise<ArrayBuffer>[] = [];
          for (let k = 0; k < b.length; k += 4096) ps.push(crypto.subtle.digest('SHA-256', b.subarray(k, Math.min(b.length, k + 4096)) as Uint8Array<ArrayBuffer>));
          await Promise.all(ps);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { bytes, ms: performance.now() - t0 };
}

export type BuilderApi = typeof api;
// only in a worker: Node imports this module for its `api` (tests) and has no worker scope
if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined') {
  Comlink.expose(api);
  (globalThis as unknown as { layerscopeBuilderProbe?: typeof probeRead }).layerscopeBuilderProbe = probeRead;
}
