/**
 * The inspector worker: a Comlink adapter over the application layer (src/lib/app). It keeps the
 * open images by id and the cancellable tasks by token, turns the page's Files and URLs into byte
 * sources, and sends every failure as a WireError. No format logic lives here.
 *
 * Results are copied to the page, never transferred: the first ArrayBuffer detached in this worker
 * would invalidate V8's detaching protector, deoptimize the decoders that run here and leave them
 * slower for good. Measured in Node (same V8 mechanism, not measured in Chromium), 8 MiB of /usr/bin,
 * 10 decodes per round, 3 processes each: zstd -3 steady 169-192 ms without a detach, 192-232 ms
 * after one (+12-25%); inflate-fast 244-249 vs 263-295 ms (+7-15%). A copy of a 16 MiB read costs ~3 ms.
 */
import * as Comlink from 'comlink';
import { blobTable, fileChunkRows, type BlobRow, type ChunkRow } from '../src/lib/app/rafs.ts';
import { dirPage, dirUsage, plain, readFileRange, readImageRange, resolveChain, xattrsOf, type DirPage, type DirUsage, type Entry, type ReadResult, type Xattr } from '../src/lib/app/browse.ts';
import { checkImage, checkSummary, type CheckProblem, type CheckProgress, type CheckSummary } from '../src/lib/app/check.ts';
import { compressionOf, describeImage, isRafs, type CompressionSummary, type StructSection } from '../src/lib/app/capabilities.ts';
import { nameOf, type Name } from '../src/lib/app/names.ts';
import { openFiles, openInput, type InputOptions } from '../src/lib/app/open.ts';
import { layerRows, ociFileExport, ociOverview, type LayerRow, type OciOverview } from '../src/lib/app/oci-view.ts';
import type { LoadedOci } from '../src/lib/oci/index.ts';
import { findBytesIn, searchNames, type SearchHit, type SearchResult } from '../src/lib/app/search.ts';
import { imageStats, type ImageStats } from '../src/lib/app/stats.ts';
import { wired, wireError, type WireError } from '../src/lib/app/wire.ts';
import { treeFromBrowserItems } from '../src/lib/fs/sources/browser.ts';
import { blobSpill } from '../src/lib/fs/sources/tar.ts';
import type { Attr } from '../src/lib/fs/types.ts';
import { diffImages, type ImageDiff } from '../src/lib/inspect/diff.ts';
import { CachedSource } from '../src/lib/io/cache.ts';
import { BlobSource, type ByteSource } from '../src/lib/io/source.ts';
import { urlSource } from '../src/lib/app/url-source.ts';
import { openIdbChunkCache, type PersistentChunkCache } from '../src/lib/rafs/chunkcache-idb.ts';
import type { ExportTarResult } from '../src/lib/tar/writer.ts';
import { exportTarBatched } from '../src/lib/app/export.ts';
import { packDirPage, type PackedDirPage } from './dirpage.ts';
import { imageSummary, type ImageSummary, type OpenedImage } from '../src/lib/app/image-summary.ts';
import { Tasks, throttled } from '../src/lib/app/tasks.ts';

export type { ImageSummary, BlobRow, ChunkRow, CompressionSummary, DirPage, DirUsage, Entry, Name, ReadResult, SearchHit, StructSection, WireError, Xattr, ImageStats, LayerRow, OciOverview };
export type VerifyProgress = CheckProgress;
export type VerifyProblem = CheckProblem;
export type VerifyReport = CheckSummary;

export interface OpenFlags {
  /** for same-origin samples: when the server ignores Range, download the whole (small) file instead */
  allowWholeDownload?: boolean;
  /** an image index of several platforms: the one to open ("os/arch[/variant]") */
  platform?: string;
}

/** A file with the path it had in a dropped folder (structured clone drops expando properties of File). */
export interface PathedFile {
  file: File;
  path: string;
}
/** `urls`: an image and its blobs / extra devices over HTTP (samples with blobs) */
export type OpenInput = File | (File | PathedFile)[] | string | { urls: string[] };

interface Handle extends OpenedImage {
  /** directory sizes, computed on demand */
  du: Map<number, Promise<DirUsage>>;
}

const images = new Map<number, Handle>();
let nextId = 1;

function handle(id: number): Handle {
  const h = images.get(id);
  if (!h) throw wireError(`image ${id} is not open (closed or never opened)`);
  return h;
}

const ociOf = (id: number): LoadedOci => handle(id).oci ?? ((): never => { throw wireError(`image ${id} is no OCI image`); })();

/** cancellable tasks by token (a new task of the same token cancels the old one) */
const tasks = new Tasks();

// ---------------------------------------------------------------------------------------------
// byte sources of the page's inputs

function cached(src: ByteSource): ByteSource {
  return new CachedSource(src, 64 * 1024, 32 * 1024 * 1024);
}

let chunkCache: PersistentChunkCache | null = null;
/** RAFS chunks, decompressed and verified, kept in IndexedDB across page loads (when IndexedDB works) */
function cacheOpt(): InputOptions {
  try {
    if (typeof indexedDB === 'undefined') return {};
    chunkCache ??= openIdbChunkCache();
    return { cache: chunkCache };
  } catch {
    return {};
  }
}

function pathed(f: File | PathedFile): PathedFile {
  return f instanceof File ? { file: f, path: f.webkitRelativePath || f.name } : f;
}

/** a URL (relative to the page) as a byte source; `allowWhole`: see OpenFlags.allowWholeDownload */
function httpSource(url: string, allowWhole = false): ReturnType<typeof urlSource> {
  // a bound wrapper: HttpSource calls this.fetchFn(…), and a bare `fetch` called that way is an Illegal invocation
  return urlSource(new URL(url, self.location.href).href, (input, init) => fetch(input, init), { allowWhole, cache: cached });
}

async function openHandle(input: OpenInput, flags: OpenFlags): Promise<{ h: Omit<Handle, 'du'>; source: ImageSummary['source']; objects: number }> {
  const opts: InputOptions = { ...cacheOpt(), spill: blobSpill(), ...(flags.platform ? { oci: { platform: flags.platform } } : {}) };
  if (typeof input === 'string') {
    const { source, whole } = await httpSource(input, flags.allowWholeDownload);
    const o = await openInput(source, opts);
    return { h: { fs: o.fs, image: o.image, others: [], oci: o.oci ?? null }, source: whole ? 'url-whole' : 'url', objects: 0 };
  }
  if (!Array.isArray(input) && !(input instanceof File)) {
    const [image, ...others] = await Promise.all(input.urls.map(async (u) => (await httpSource(u)).source));
    if (!image) throw wireError('no URL given');
    const o = await openInput(image, { ...opts, blobs: others });
    return { h: { fs: o.fs, image: o.image, others, oci: o.oci ?? null }, source: 'url', objects: 0 };
  }
  const files = (Array.isArray(input) ? input : [input]).map(pathed);
  const o = await openFiles(files.map((f) => ({ path: f.path, source: cached(new BlobSource(f.file, f.file.name)) })), {
    ...opts,
    folder: () => treeFromBrowserItems(files.map((f) => ({ kind: 'file', path: f.path, file: f.file, lastModified: f.file.lastModified })), { via: 'drop' }),
  });
  return { h: { fs: o.fs, image: o.image, others: o.others, oci: o.oci ?? null }, source: 'file', objects: o.objects };
}

// ---------------------------------------------------------------------------------------------
// the API

export const api = {
  /** Open an image, a layer, a dump or a folder: one File, several Files (image + blobs / object store, or a folder's files), or URLs (HTTP Range). */
  open(input: OpenInput, flags: OpenFlags = {}): Promise<ImageSummary> {
    return wired(async () => {
      const { h, source, objects } = await openHandle(input, flags);
      const id = nextId++;
      images.set(id, { ...h, du: new Map() });
      return imageSummary(id, h, source, objects);
    });
  },

  /** An OCI image's config, history, layers and efficiency; one layer's entries marked against the layers below; the merged file list as JSON or CSV (app/oci-view.ts). */
  ociOverview: (id: number): Promise<OciOverview> => wired(async () => ociOverview(ociOf(id))),
  ociLayer: (id: number, index: number): Promise<LayerRow[]> => wired(async () => layerRows(ociOf(id), index)),
  ociFiles: (id: number, format: 'json' | 'csv'): Promise<string> => wired(async () => ociFileExport(ociOf(id), format)),

  info(id: number): Promise<Record<string, unknown>> {
    return wired(async () => plain(await handle(id).fs.info()) as Record<string, unknown>);
  },

  getattr(id: number, ino: number): Promise<Attr> {
    return wired(() => handle(id).fs.getattr(ino));
  },

  /** One page of a directory, each entry with its attributes (and symlink target). */
  readdir(id: number, ino: number, offset = 0, limit = 500): Promise<DirPage> {
    return wired(() => dirPage(handle(id).fs, ino, offset, limit));
  },

  /** readdir as columns (workers/dirpage.ts): what the page's connection calls for readdir */
  readdirPacked(id: number, ino: number, offset = 0, limit = 500): Promise<PackedDirPage> {
    return wired(async () => packDirPage(await dirPage(handle(id).fs, ino, offset, limit)));
  },

  /** Up to `length` bytes of a regular file (at most 16 MiB per call). */
  read(id: number, ino: number, offset: number, length: number): Promise<ReadResult> {
    return wired(() => readFileRange(handle(id).fs, ino, offset, length));
  },

  readlink(id: number, ino: number): Promise<Name> {
    return wired(async () => nameOf(await handle(id).fs.readlink(ino)));
  },

  xattrs(id: number, ino: number): Promise<Xattr[]> {
    return wired(() => xattrsOf(handle(id).fs, ino));
  },

  /** Resolve an absolute path (no symlink following) to its attributes and the chain of directories. */
  resolve(id: number, path: string): Promise<{ attr: Attr; chain: { name: Name; ino: number }[] }> {
    return wired(() => resolveChain(handle(id).fs, path));
  },

  inodeDetails(id: number, ino: number): Promise<Record<string, unknown>> {
    return wired(async () => plain(await handle(id).fs.inodeDetails(ino)) as Record<string, unknown>);
  },

  /** A compressed file's algorithms, pcluster sizes and fragment location (null: not compressed). */
  compression(id: number, ino: number): Promise<CompressionSummary | null> {
    return wired(() => compressionOf(handle(id).fs, ino));
  },

  close(id: number): Promise<void> {
    return wired(async () => {
      const h = images.get(id);
      images.delete(id);
      if (!h) return;
      await h.fs.close?.();
      await Promise.all([h.image, ...h.others].map((s) => s.close?.()));
    });
  },

  /** Bytes of the image file itself (the structure view's hex pane). */
  readImage(id: number, offset: number, length: number): Promise<ReadResult> {
    return wired(() => readImageRange(handle(id).image, offset, length));
  },

  /** First offset ≥ `from` where `needle` occurs in a file (ino) or in the image (ino null); -1 when absent. */
  findBytes(id: number, ino: number | null, needle: Uint8Array, from: number, token: string): Promise<number> {
    return wired(() => {
      const h = handle(id);
      return tasks.run(token, (signal) => findBytesIn(h.fs, h.image, ino, needle, from, signal));
    });
  },

  /** Cancel a running search / verify / export / stats by its token. */
  cancel(token: string): void {
    tasks.cancel(token);
  },

  /** Every path whose name (or whole path, when the query has '/') matches, streamed in batches to `onBatch`. */
  search(id: number, query: string, token: string, onBatch: (hits: SearchHit[], scanned: number) => void, limit = 10_000): Promise<SearchResult> {
    return wired(() => {
      const { fs } = handle(id);
      return tasks.run(token, (signal) => searchNames(fs, query, onBatch, { limit, signal }));
    });
  },

  /** Apparent size of a directory's subtree (sum of file sizes; hardlinks counted per path). */
  dirUsage(id: number, ino: number): Promise<DirUsage> {
    return wired(() => {
      const h = handle(id);
      return dirUsage(h.fs, ino, h.du);
    });
  },

  structure(id: number, ino: number | null): Promise<StructSection[]> {
    return wired(() => describeImage(handle(id).fs, ino));
  },

  blobTable(id: number): Promise<BlobRow[]> {
    return wired(async () => {
      const { fs } = handle(id);
      return isRafs(fs) ? blobTable(fs) : [];
    });
  },

  /** Bind a file to a blob table entry the automatic matching left open (or matched wrongly). */
  attachBlob(id: number, index: number, file: File): Promise<void> {
    return wired(async () => {
      const h = handle(id);
      if (!isRafs(h.fs)) throw wireError('only RAFS images have a blob table');
      const src = cached(new BlobSource(file, file.name));
      h.fs.store.attach(index, src, /\.blob\.data$/.test(file.name) ? 'cache' : 'blob');
      h.others.push(src);
    });
  },

  /** Chunks of a RAFS file with where they live and which other paths use the same stored chunk. */
  fileChunks(id: number, ino: number): Promise<ChunkRow[]> {
    return wired(async () => {
      const { fs } = handle(id);
      return isRafs(fs) ? fileChunkRows(fs, ino) : [];
    });
  },

  cacheInfo(): Promise<{ bytes: number; limit: number; available: boolean }> {
    return wired(async () => {
      const c = cacheOpt().cache as PersistentChunkCache | undefined;
      if (!c) return { bytes: 0, limit: 0, available: false };
      await c.get('\u0000probe'); // loads the LRU list
      return { bytes: c.cachedBytes, limit: c.limit, available: true };
    });
  },

  clearCache(): Promise<void> {
    return wired(async () => {
      const c = cacheOpt().cache as PersistentChunkCache | undefined;
      await c?.clear();
    });
  },

  stats(id: number, token: string, onProgress: (scanned: number) => void): Promise<ImageStats> {
    return wired(() => {
      const h = handle(id);
      return tasks.run(token, (signal) => imageStats(h.fs, h.image, { signal, onProgress }));
    });
  },

  /** Paths added, removed and changed from image `idA` to image `idB` (both already open); cancellable by token. */
  diff(idA: number, idB: number, token?: string): Promise<ImageDiff> {
    return wired(() => {
      const a = handle(idA).fs;
      const b = handle(idB).fs;
      return token ? tasks.run(token, (signal) => diffImages(a, b, { signal })) : diffImages(a, b);
    });
  },

  /** RAFS: metadata, blobs and every chunk digest; other formats: every directory, inode and byte. */
  verify(id: number, token: string, onProgress: (p: VerifyProgress) => void): Promise<VerifyReport> {
    return wired(() => {
      const { fs } = handle(id);
      return tasks.run(token, async (signal) => checkSummary(await checkImage(fs, { signal, onProgress: throttled(onProgress) })));
    });
  },

  /**
   * Streamed PAX tar of a file, a subtree or the whole image: every piece goes to `write` (awaited,
   * so a slow writer applies back-pressure). `name` prefixes a non-directory start (its own name).
   */
  exportTar(id: number, ino: number, name: string | null, token: string, write: (chunk: Uint8Array) => Promise<void>, onProgress: (entries: number, bytes: number) => void): Promise<ExportTarResult> {
    return wired(() => {
      const { fs } = handle(id);
      return tasks.run(token, (signal) =>
        exportTarBatched(fs, ino, (chunk) => write(chunk), { signal, name, onProgress: throttled(onProgress) }));
    });
  },
};

export type InspectorApi = typeof api;
// only in a worker: Node imports this module for its `api` (tests) and has no worker scope
if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined') Comlink.expose(api);
