/**
 * The inspector worker: opens images with src/lib and serves their tree to the page over Comlink.
 * Everything that crosses the boundary is plain data: names as display strings plus hex when the raw
 * bytes are not UTF-8, file content as a transferred buffer, errors as WireError objects.
 */
import * as Comlink from 'comlink';
import '../src/lib/formats.ts';
import { isTypedError, NotFoundError } from '../src/lib/errors.ts';
import { detectFormat, openImage, type OpenOptions } from '../src/lib/open.ts';
import { CachedSource } from '../src/lib/io/cache.ts';
import { HttpSource } from '../src/lib/io/http.ts';
import { BlobSource, BytesSource, type ByteSource } from '../src/lib/io/source.ts';
import { bytes, type Attr, type FileType, type FormatId, type ImageInfo, type ReadOnlyFs } from '../src/lib/fs/types.ts';
import { readdirAll, splitPath, walk } from '../src/lib/fs/path.ts';
import type { DescribedField } from '../src/lib/struct.ts';
import type { RafsFs } from '../src/lib/rafs/model.ts';
import { buildIndex, checkRafs, chunkLocationKey, rafsBlobs, type CheckReport } from '../src/lib/rafs/analyze.ts';
import { describeRafsHeader, describeRafsInode } from '../src/lib/rafs/describe.ts';
import { openIdbChunkCache, type PersistentChunkCache } from '../src/lib/rafs/chunkcache-idb.ts';
import { exportTar, type ExportTarResult } from '../src/lib/tar/writer.ts';
import { compileMatcher } from '../src/lib/inspect/match.ts';
import { SizeHistogram, dedupRatio, type Bucket } from '../src/lib/inspect/histogram.ts';
import { diffImages, type ImageDiff } from '../src/lib/inspect/diff.ts';
import { blobSpill, looksLikeTarball, treeFromTarball } from '../src/lib/fs/sources/tar.ts';
import { treeFromBrowserItems, type BrowserItem } from '../src/lib/fs/sources/browser.ts';
import { treeFs } from '../src/lib/fs/sources/treefs.ts';
import { packDirPage, type PackedDirPage } from './dirpage.ts';

/** An error as it crosses the worker boundary (Comlink would keep only name and message of an Error). */
export interface WireError {
  name: string;
  message: string;
  /** FormatError: the on-disk structure and the absolute byte offset of the bad value */
  structure?: string;
  offset?: number;
  detail?: string;
}

/** A name from the image: `text` for display (invalid bytes as \xNN), `hex` only when not valid UTF-8. */
export interface Name {
  text: string;
  hex?: string;
}

export interface Entry {
  name: Name;
  ino: number;
  type: FileType;
  /** null when getattr of this entry failed; the listing goes on and shows `error` */
  attr: Attr | null;
  /** symlinks: the target */
  target?: Name;
  error?: WireError;
}

export interface DirPage {
  entries: Entry[];
  /** cookie for the next page, or null when the directory is exhausted */
  next: number | null;
}

export interface ImageSummary {
  id: number;
  /** file name or URL of the image itself */
  name: string;
  size: number;
  format: FormatId;
  rootIno: number;
  root: Attr;
  /** the other inputs given with the image: blobs / extra devices, composefs objects */
  blobs: { name: string; size: number }[];
  objects: number;
  /** where the bytes come from */
  source: 'file' | 'url' | 'url-whole';
  info: Record<string, unknown>;
}

export interface ReadResult {
  offset: number;
  bytes: Uint8Array;
  /** file size from getattr, to know whether more is left */
  size: number;
}

export interface Xattr {
  name: Name;
  value: Name;
  size: number;
}

export interface OpenFlags {
  /** for same-origin samples: when the server ignores Range, download the whole (small) file instead */
  allowWholeDownload?: boolean;
}

interface Handle {
  fs: ReadOnlyFs;
  image: ByteSource;
  others: ByteSource[];
  /** directory sizes (apparent bytes of the subtree), computed on demand */
  du?: Map<number, Promise<DirUsage>>;
}

export interface DirUsage {
  bytes: number;
  files: number;
  dirs: number;
}

const images = new Map<number, Handle>();
let nextId = 1;
/** a single read is bounded so a corrupt size cannot make the worker allocate gigabytes */
const MAX_READ = 16 << 20;
const MAX_PAGE = 4096;

// ---------------------------------------------------------------------------------------------
// names and plain data

const fatal = new TextDecoder('utf-8', { fatal: true });

function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/** UTF-8 decode that keeps every valid sequence and writes each invalid byte as \xNN. */
function escapeInvalid(b: Uint8Array): string {
  let s = '';
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    const n = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
    if (n > 0 && i + n <= b.length) {
      try {
        s += fatal.decode(b.subarray(i, i + n));
        i += n;
        continue;
      } catch {
        // not a valid sequence: fall through and escape the lead byte
      }
    }
    s += '\\x' + c.toString(16).padStart(2, '0');
    i++;
  }
  return s;
}

function nameOf(b: Uint8Array): Name {
  try {
    return { text: fatal.decode(b) };
  } catch {
    return { text: escapeInvalid(b), hex: hex(b) };
  }
}

function toWire(e: unknown): WireError {
  if (e && typeof e === 'object' && 'name' in e && 'message' in e && !(e instanceof Error)) return e as WireError;
  if (e instanceof Error) {
    const w: WireError = { name: e.name, message: e.message };
    if (isTypedError(e) || 'structure' in e) {
      const x = e as Error & { structure?: unknown; offset?: unknown; detail?: unknown };
      if (typeof x.structure === 'string') w.structure = x.structure;
      if (typeof x.offset === 'number') w.offset = x.offset;
      if (typeof x.detail === 'string') w.detail = x.detail;
    }
    return w;
  }
  return { name: 'Error', message: String(e) };
}

/** Runs `f` and rethrows any failure as a plain WireError, which Comlink clones as is. */
async function guard<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw toWire(e);
  }
}

/** info()/inodeDetails() are free-form: make them structured-clone safe and readable. */
function plain(v: unknown, depth = 0): unknown {
  if (depth > 8) return '…';
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return v.toString();
  if (v === undefined || typeof v === 'function' || typeof v === 'symbol') return undefined;
  if (v instanceof Uint8Array) return v.length <= 64 ? hex(v) : `${hex(v.subarray(0, 64))}… (${v.length} bytes)`;
  if (Array.isArray(v)) {
    const out = v.slice(0, 1000).map((x) => plain(x, depth + 1));
    if (v.length > 1000) out.push(`… ${v.length - 1000} more`);
    return out;
  }
  if (v instanceof Map) return plain(Object.fromEntries(v), depth);
  if (v instanceof Set) return plain([...v], depth);
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const p = plain(x, depth + 1);
      if (p !== undefined) out[k] = p;
    }
    return out;
  }
  return String(v);
}

function handle(id: number): Handle {
  const h = images.get(id);
  if (!h) throw { name: 'Error', message: `image ${id} is not open (closed or never opened)` } satisfies WireError;
  return h;
}

// ---------------------------------------------------------------------------------------------
// opening

function cached(src: ByteSource): ByteSource {
  return new CachedSource(src, 64 * 1024, 32 * 1024 * 1024);
}

/** A file with the path it had in a dropped folder (structured clone drops expando properties of File). */
export interface PathedFile {
  file: File;
  path: string;
}
/** `urls`: an image and its blobs / extra devices over HTTP (samples with blobs) */
export type OpenInput = File | (File | PathedFile)[] | string | { urls: string[] };

function pathed(f: File | PathedFile): PathedFile {
  return f instanceof File ? { file: f, path: f.webkitRelativePath || f.name } : f;
}

const OBJECT_PATH = /(?:^|\/)([0-9a-f]{2})\/([0-9a-f]{62})$/;

/**
 * Several files: the image is the one a format recognises (the smallest, when several are: a RAFS
 * bootstrap or composefs image is smaller than its blobs); files laid out like a composefs object
 * store ("xx/yyyy…") become the object store; every other file is a blob / extra device, in the
 * order given.
 */
async function openFiles(input: (File | PathedFile)[]): Promise<{ fs: ReadOnlyFs; image: ByteSource; others: ByteSource[]; objects: number }> {
  if (input.length === 0) throw { name: 'Error', message: 'no files given' } satisfies WireError;
  const objects = new Map<string, File>();
  const rest: File[] = [];
  for (const { file, path } of input.map(pathed)) {
    const m = OBJECT_PATH.exec(path);
    if (m) objects.set(`${m[1]}/${m[2]}`, file);
    else rest.push(file);
  }
  const sources = rest.map((f) => cached(new BlobSource(f, f.name)));
  let imageIdx = sources.length === 1 ? 0 : -1; // one file: openImage names what is wrong with it
  if (sources.length === 1 && !(await detectFormat(sources[0]!))) {
    const plain = await plainTree(input.map(pathed), sources);
    if (plain) return { ...plain, others: [], objects: 0 };
  }
  for (let i = 0; i < sources.length && sources.length > 1; i++) {
    const s = sources[i]!;
    if (s.size === 0 || !(await detectFormat(s))) continue;
    if (imageIdx < 0 || s.size < sources[imageIdx]!.size) imageIdx = i;
  }
  if (imageIdx < 0) {
    const plain = await plainTree(input.map(pathed), sources);
    if (plain) return { ...plain, others: [], objects: 0 };
    const names = rest.map((f) => f.name).join(', ') || '(only composefs objects)';
    throw {
      name: 'FormatError',
      message: `image at byte 0: no file has a known magic (not EROFS, composefs or Nydus RAFS): ${names}`,
      structure: 'image',
      offset: 0,
    } satisfies WireError;
  }
  const image = sources[imageIdx]!;
  const others = sources.filter((_, i) => i !== imageIdx);
  const opts: OpenOptions = { blobs: others, ...cacheOpt() };
  if (objects.size) {
    opts.objectStore = async (payload) => {
      const key = payload.replace(/^\/+/, '');
      const f = objects.get(key);
      return f ? cached(new BlobSource(f, key)) : null;
    };
  }
  return { fs: await openImage(image, opts), image, others, objects: objects.size };
}

/**
 * No image among the files: one tar or tar.gz layer (by its bytes: see looksLikeTarball) or a
 * dropped folder of plain files is shown as the tree it holds, through the same interface.
 */
async function plainTree(files: PathedFile[], sources: ByteSource[]): Promise<{ fs: ReadOnlyFs; image: ByteSource } | null> {
  if (files.length === 1 && sources.length === 1) {
    const src = sources[0]!;
    if (!(await looksLikeTarball(src))) return null;
    return { fs: treeFs(await treeFromTarball(new BlobSource(files[0]!.file, files[0]!.file.name), { spill: blobSpill() })), image: src };
  }
  if (!files.some((f) => f.path.includes('/'))) return null;
  const items: BrowserItem[] = files.map((f) => ({ kind: 'file', path: f.path, file: f.file, lastModified: f.file.lastModified }));
  const tree = treeFromBrowserItems(items, { via: 'drop' });
  const tops = new Set(files.map((f) => f.path.split('/')[0]));
  // no image bytes behind a folder: the "image" is its name and content size (reads refuse)
  const name = tops.size === 1 ? [...tops][0]! : `${tops.size} folders`;
  const size = files.reduce((a, f) => a + f.file.size, 0);
  const image: ByteSource = { name, size, read: async () => { throw new NotFoundError(`image bytes: ${name} is a folder, not an image`); } };
  return { fs: treeFs(tree), image };
}

async function openUrl(url: string, flags: OpenFlags): Promise<{ fs: ReadOnlyFs; image: ByteSource; whole: boolean }> {
  const abs = new URL(url, self.location.href).href;
  let src: ByteSource;
  let whole = false;
  try {
    // a bound wrapper: HttpSource calls this.fetchFn(…), and a bare `fetch` called that way is an Illegal invocation
    src = cached(await HttpSource.open(abs, (input, init) => fetch(input, init)));
  } catch (e) {
    if (!flags.allowWholeDownload) throw e;
    // a static host without Range support: samples are small, so fetch them whole
    const res = await fetch(abs);
    if (!res.ok) throw { name: 'IoError', message: `${abs}: HTTP ${res.status} ${res.statusText}` } satisfies WireError;
    src = new BytesSource(new Uint8Array(await res.arrayBuffer()), abs.split('/').pop() || abs);
    whole = true;
  }
  return { fs: await openImage(src, cacheOpt()), image: src, whole };
}

async function openUrls(urls: string[]): Promise<{ fs: ReadOnlyFs; image: ByteSource; others: ByteSource[] }> {
  const srcs: ByteSource[] = [];
  for (const u of urls) {
    const abs = new URL(u, self.location.href).href;
    srcs.push(cached(await HttpSource.open(abs, (input, init) => fetch(input, init))));
  }
  const [image, ...others] = srcs;
  if (!image) throw { name: 'Error', message: 'no URL given' } satisfies WireError;
  return { fs: await openImage(image, { blobs: others, ...cacheOpt() }), image, others };
}

let chunkCache: PersistentChunkCache | null = null;
/** RAFS chunks, decompressed and verified, kept in IndexedDB across page loads (when IndexedDB works) */
function cacheOpt(): Pick<OpenOptions, 'cache'> {
  try {
    if (typeof indexedDB === 'undefined') return {};
    chunkCache ??= openIdbChunkCache();
    return { cache: chunkCache };
  } catch {
    return {};
  }
}

async function summary(id: number, h: Handle, source: ImageSummary['source'], objects: number): Promise<ImageSummary> {
  const info: ImageInfo = await h.fs.info();
  return {
    id,
    name: h.image.name,
    size: h.image.size,
    format: h.fs.format,
    rootIno: h.fs.rootIno,
    root: await h.fs.getattr(h.fs.rootIno),
    blobs: h.others.map((s) => ({ name: s.name, size: s.size })),
    objects,
    source,
    info: plain(info) as Record<string, unknown>,
  };
}


// ---------------------------------------------------------------------------------------------
// long tasks, RAFS and EROFS access, types of the inspector views

const tasks = new Map<string, AbortController>();
function startTask(token: string): AbortSignal {
  tasks.get(token)?.abort();
  const c = new AbortController();
  tasks.set(token, c);
  return c.signal;
}
function endTask(token: string): void {
  tasks.delete(token);
}

function isRafs(fs: ReadOnlyFs): fs is RafsFs {
  return fs.format === 'rafs-v5' || fs.format === 'rafs-v6';
}

interface ErofsLike {
  describeSuperblock(): DescribedField[];
  describeInodeStructs(nid: number): Promise<{ struct: string; offset: number; fields: DescribedField[] }[]>;
}
/** the EROFS reader of an EROFS image, or the one under a composefs image */
function erofsOf(fs: ReadOnlyFs): ErofsLike | null {
  const x = fs as unknown as ErofsLike & { erofs?: ErofsLike };
  if (typeof x.describeSuperblock === 'function' && typeof x.describeInodeStructs === 'function') return x;
  if (x.erofs && typeof x.erofs.describeSuperblock === 'function') return x.erofs;
  return null;
}

async function dirUsage(h: Handle, ino: number, depth: number): Promise<DirUsage> {
  h.du ??= new Map();
  let p = h.du.get(ino);
  if (!p) {
    p = (async () => {
      const u: DirUsage = { bytes: 0, files: 0, dirs: 0 };
      if (depth > 512) return u; // a cycle in a corrupt image must not recurse forever
      for (const d of await readdirAll(h.fs, ino)) {
        const a = await h.fs.getattr(d.ino);
        if (a.type === 'dir') {
          if (a.ino === ino) continue;
          const sub = await dirUsage(h, a.ino, depth + 1);
          u.bytes += sub.bytes;
          u.files += sub.files;
          u.dirs += sub.dirs + 1;
        } else {
          u.files++;
          if (a.type === 'reg') u.bytes += a.size;
        }
      }
      return u;
    })();
    h.du.set(ino, p);
    p.catch(() => h.du?.delete(ino));
  }
  return p;
}

async function dirPage(fs: ReadOnlyFs, ino: number, offset: number, limit: number): Promise<DirPage> {
  const lim = Math.max(1, Math.min(MAX_PAGE, Math.floor(limit)));
  const raw = await fs.readdir(ino, offset, lim);
  const entries = await Promise.all(
    raw.map(async (d): Promise<Entry> => {
      const e: Entry = { name: nameOf(d.name), ino: d.ino, type: d.type, attr: null };
      try {
        e.attr = await fs.getattr(d.ino);
        if (e.attr.type === 'symlink') e.target = nameOf(await fs.readlink(d.ino));
      } catch (err) {
        e.error = toWire(err);
      }
      return e;
    }),
  );
  const last = raw[raw.length - 1];
  // a cookie that does not move forward would make the page ask for the same entries forever
  const next = raw.length < lim || !last || last.next <= offset ? null : last.next;
  return { entries, next };
}

export interface SearchHit {
  path: string;
  ino: number;
  type: FileType;
  size: number;
  /** false when a component is not UTF-8 (the path cannot be put in a link) */
  utf8: boolean;
}

export interface StructSection {
  title: string;
  fields: DescribedField[];
  /** belongs to the selected inode (not the image header) */
  inode?: boolean;
}

export interface BlobRow {
  index: number;
  blobId: string;
  effectiveId: string;
  present: boolean;
  file: string | null;
  fileSize: number | null;
  matchedBy: string | null;
  kind: string;
  compressor: string;
  digester: string;
  chunkSize: number;
  chunkCount: number | null;
  compressedSize: number | null;
  uncompressedSize: number | null;
  features: string[];
  sizeMatches: boolean | null;
  error: string | null;
}

export interface ChunkRow {
  position: number;
  fileOffset: number;
  blobIndex: number;
  blobId: string;
  compressed: boolean;
  compressedOffset: number;
  compressedSize: number;
  uncompressedOffset: number;
  uncompressedSize: number;
  digest: string;
  index: number;
  sharedWith: { path: string; position: number }[];
  sharedCount: number;
}

export interface ImageStats {
  entries: number;
  counts: Record<string, number>;
  files: number;
  fileBytes: number;
  fileSizes: Bucket[];
  biggest: { path: string; size: number }[];
  imageSize: number;
  chunks?: {
    unique: number;
    references: number;
    sizes: Bucket[];
    referencedBytes: number;
    storedBytes: number;
    storedCompressedBytes: number;
    dedupRatio: number;
    blobs: { index: number; blobId: string; compressedSize: number | null; chunkCount: number | null; usedChunks: number; usedCompressed: number; usedUncompressed: number }[];
  };
}

export interface VerifyProgress {
  phase: string;
  done: number;
  total: number;
  bytes: number;
  path: string;
}
export interface VerifyProblem {
  path: string;
  message: string;
}
export interface VerifyReport {
  ok: boolean;
  entries: number;
  files: number;
  bytes: number;
  chunks: number;
  problems: VerifyProblem[];
}

// ---------------------------------------------------------------------------------------------
// the API

const api = {
  /** Open an image: one File, several Files (image + blobs / object store), or a URL (HTTP Range). */
  open(input: OpenInput, flags: OpenFlags = {}): Promise<ImageSummary> {
    return guard(async () => {
      let h: Handle;
      let source: ImageSummary['source'];
      let objects = 0;
      if (typeof input === 'object' && !Array.isArray(input) && !(input instanceof File)) {
        const r = await openUrls(input.urls);
        h = { fs: r.fs, image: r.image, others: r.others };
        source = 'url';
      } else if (typeof input === 'string') {
        const r = await openUrl(input, flags);
        h = { fs: r.fs, image: r.image, others: [] };
        source = r.whole ? 'url-whole' : 'url';
      } else {
        const r = await openFiles(Array.isArray(input) ? input : [input]);
        h = { fs: r.fs, image: r.image, others: r.others };
        objects = r.objects;
        source = 'file';
      }
      const id = nextId++;
      images.set(id, h);
      return summary(id, h, source, objects);
    });
  },

  info(id: number): Promise<Record<string, unknown>> {
    return guard(async () => plain(await handle(id).fs.info()) as Record<string, unknown>);
  },

  getattr(id: number, ino: number): Promise<Attr> {
    return guard(() => handle(id).fs.getattr(ino));
  },

  /** One page of a directory, each entry with its attributes (and symlink target). */
  readdir(id: number, ino: number, offset = 0, limit = 500): Promise<DirPage> {
    return guard(() => dirPage(handle(id).fs, ino, offset, limit));
  },

  /** readdir as columns (workers/dirpage.ts): what the page's connection calls for readdir */
  readdirPacked(id: number, ino: number, offset = 0, limit = 500): Promise<PackedDirPage> {
    return guard(async () => {
      const p = packDirPage(await dirPage(handle(id).fs, ino, offset, limit));
      return Comlink.transfer(p, [p.f64.buffer, p.u32.buffer, p.types.buffer]);
    });
  },

  /** Up to `length` bytes of a regular file (at most 16 MiB per call); the buffer is transferred. */
  read(id: number, ino: number, offset: number, length: number): Promise<ReadResult> {
    return guard(async () => {
      const { fs } = handle(id);
      const attr = await fs.getattr(ino);
      const start = Math.max(0, Math.min(offset, attr.size));
      const len = Math.max(0, Math.min(length, MAX_READ, attr.size - start));
      // copy: the reader may hand out a view into its block cache, which must not be detached
      const copy = len === 0 ? new Uint8Array(0) : (await fs.read(ino, start, len)).slice();
      return Comlink.transfer({ offset: start, bytes: copy, size: attr.size }, [copy.buffer]);
    });
  },

  readlink(id: number, ino: number): Promise<Name> {
    return guard(async () => nameOf(await handle(id).fs.readlink(ino)));
  },

  xattrs(id: number, ino: number): Promise<Xattr[]> {
    return guard(async () => {
      const { fs } = handle(id);
      const names = await fs.listxattr(ino);
      const out: Xattr[] = [];
      for (const n of names) {
        const v = (await fs.getxattr(ino, n)) ?? new Uint8Array(0);
        out.push({ name: nameOf(n), value: nameOf(v.subarray(0, 4096)), size: v.length });
      }
      return out;
    });
  },

  /** Resolve an absolute path (no symlink following) to its attributes and the chain of directories. */
  resolve(id: number, path: string): Promise<{ attr: Attr; chain: { name: Name; ino: number }[] }> {
    return guard(async () => {
      const { fs } = handle(id);
      let attr = await fs.getattr(fs.rootIno);
      const chain: { name: Name; ino: number }[] = [];
      for (const comp of splitPath(path)) {
        if (comp === '..') {
          chain.pop();
          attr = await fs.getattr(chain[chain.length - 1]?.ino ?? fs.rootIno);
          continue;
        }
        if (attr.type !== 'dir') throw new NotFoundError(`${path}: a component is not a directory`);
        const next = await fs.lookup(attr.ino, bytes(comp));
        if (!next) throw new NotFoundError(path);
        chain.push({ name: nameOf(bytes(comp)), ino: next.ino });
        attr = next;
      }
      return { attr, chain };
    });
  },

  inodeDetails(id: number, ino: number): Promise<Record<string, unknown>> {
    return guard(async () => plain(await handle(id).fs.inodeDetails(ino)) as Record<string, unknown>);
  },

  close(id: number): Promise<void> {
    return guard(async () => {
      const h = images.get(id);
      images.delete(id);
      if (!h) return;
      await h.fs.close?.();
      await Promise.all([h.image, ...h.others].map((s) => s.close?.()));
    });
  },

  // -------------------------------------------------------------------------------------------
  // raw bytes, search, sizes

  /** Bytes of the image file itself (the structure view's hex pane); transferred. */
  readImage(id: number, offset: number, length: number): Promise<{ offset: number; bytes: Uint8Array; size: number }> {
    return guard(async () => {
      const { image } = handle(id);
      const start = Math.max(0, Math.min(offset, image.size));
      const len = Math.max(0, Math.min(length, MAX_READ, image.size - start));
      const copy = len === 0 ? new Uint8Array(0) : (await image.read(start, len)).slice();
      return Comlink.transfer({ offset: start, bytes: copy, size: image.size }, [copy.buffer]);
    });
  },

  /**
   * First offset ≥ `from` where `needle` occurs in a file (ino) or in the image (ino null); -1 when
   * absent. Reads 1 MiB at a time with an overlap of needle-1 bytes; cancellable by token.
   */
  findBytes(id: number, ino: number | null, needle: Uint8Array, from: number, token: string): Promise<number> {
    return guard(async () => {
      const h = handle(id);
      if (needle.length === 0 || needle.length > 4096) throw { name: 'Error', message: 'search for 1 to 4096 bytes' } satisfies WireError;
      const signal = startTask(token);
      try {
        const size = ino === null ? h.image.size : (await h.fs.getattr(ino)).size;
        const read = (o: number, n: number) => (ino === null ? h.image.read(o, n) : h.fs.read(ino, o, n));
        const STEP = 1 << 20;
        for (let o = Math.max(0, from); o + needle.length <= size; o += STEP) {
          if (signal.aborted) throw new DOMException('search cancelled', 'AbortError');
          const b = await read(o, Math.min(STEP + needle.length - 1, size - o));
          const first = needle[0]!;
          for (let i = b.indexOf(first); i >= 0 && i + needle.length <= b.length; i = b.indexOf(first, i + 1)) {
            let k = 1;
            while (k < needle.length && b[i + k] === needle[k]) k++;
            if (k === needle.length) return o + i;
          }
        }
        return -1;
      } finally {
        endTask(token);
      }
    });
  },

  /** Cancel a running search / verify / export / du by its token. */
  cancel(token: string): void {
    tasks.get(token)?.abort(new DOMException('cancelled', 'AbortError'));
  },

  /**
   * Every path whose name (or whole path, when the query has '/') matches a substring or glob,
   * streamed in batches to `onBatch`; stops after `limit` hits or when cancelled.
   */
  search(id: number, query: string, token: string, onBatch: (hits: SearchHit[], scanned: number) => void, limit = 10_000): Promise<{ hits: number; scanned: number; truncated: boolean; cancelled: boolean }> {
    return guard(async () => {
      const { fs } = handle(id);
      const m = compileMatcher(query);
      const signal = startTask(token);
      let batch: SearchHit[] = [];
      let hits = 0;
      let scanned = 0;
      let last = Date.now();
      // a directory's decoded path, kept under its name bytes (the walk hands every child the same
      // component objects): each entry decodes only its own name
      const dirs = new WeakMap<Uint8Array, { path: string; utf8: boolean }>();
      const root = { path: '', utf8: true };
      try {
        for await (const e of walk(fs)) {
          if (signal.aborted) return { hits, scanned, truncated: false, cancelled: true };
          scanned++;
          if (e.path.length === 0) continue;
          const own = e.path[e.path.length - 1]!;
          const up = e.path.length === 1 ? root : dirs.get(e.path[e.path.length - 2]!) ?? {
            path: e.path.slice(0, -1).map((c) => '/' + nameOf(c).text).join(''),
            utf8: e.path.slice(0, -1).every((c) => nameOf(c).hex === undefined),
          };
          const name = nameOf(own);
          const path = `${up.path}/${name.text}`;
          const utf8 = up.utf8 && name.hex === undefined;
          if (e.attr.type === 'dir') dirs.set(own, { path, utf8 });
          if (m.test(path)) {
            hits++;
            batch.push({ path, ino: e.attr.ino, type: e.attr.type, size: e.attr.size, utf8 });
            if (hits >= limit) break;
          }
          if (batch.length >= 200 || Date.now() - last > 100) {
            onBatch(batch, scanned);
            batch = [];
            last = Date.now();
          }
        }
        // awaited: the callback travels on its own port, and the page must have the last hits before
        // the result (else a late batch re-marks a finished search as still running)
        await onBatch(batch, scanned);
        return { hits, scanned, truncated: hits >= limit, cancelled: false };
      } finally {
        endTask(token);
      }
    });
  },

  /** Apparent size of a directory's subtree (sum of file sizes; hardlinks counted per path). */
  dirUsage(id: number, ino: number): Promise<DirUsage> {
    return guard(() => dirUsage(handle(id), ino, 0));
  },

  // -------------------------------------------------------------------------------------------
  // structure view

  structure(id: number, ino: number | null): Promise<StructSection[]> {
    return guard(async () => {
      const { fs } = handle(id);
      const out: StructSection[] = [];
      const e = erofsOf(fs);
      if (isRafs(fs)) {
        const head = await describeRafsHeader(fs);
        for (const [k, v] of Object.entries(head)) {
          if (v.length === 0) continue;
          if (Array.isArray(v[0])) (v as DescribedField[][]).forEach((f, i) => out.push({ title: `${k}[${i}]`, fields: f }));
          else out.push({ title: k, fields: v as DescribedField[] });
        }
        if (ino !== null) {
          const d = await describeRafsInode(fs, ino);
          out.push({ title: `inode ${ino}`, fields: d.inode, inode: true });
          (d.chunks ?? []).slice(0, 256).forEach((c, i) => out.push({ title: `chunk info ${i}`, fields: c, inode: true }));
        }
      } else if (e) {
        out.push({ title: 'erofs_super_block', fields: e.describeSuperblock() });
        if (ino !== null) for (const s of await e.describeInodeStructs(ino)) out.push({ title: `${s.struct} (nid ${ino})`, fields: s.fields, inode: true });
      }
      return out;
    });
  },

  // -------------------------------------------------------------------------------------------
  // RAFS: blobs, chunks, cache

  blobTable(id: number): Promise<BlobRow[]> {
    return guard(async () => {
      const { fs } = handle(id);
      if (!isRafs(fs)) return [];
      const rows = await rafsBlobs(fs);
      return fs.blobs.map((b, i) => {
        const bd = fs.store.bindings[b.index]!;
        const r = rows[i] ?? {};
        return {
          index: b.index, blobId: b.blobId, effectiveId: bd.effectiveId, present: !!bd.source, file: bd.source?.name ?? null, fileSize: bd.source?.size ?? null,
          matchedBy: bd.matchedBy, kind: bd.kind, compressor: b.compressor, digester: b.digester, chunkSize: b.chunkSize, chunkCount: b.chunkCount ?? null,
          compressedSize: b.compressedSize ?? null, uncompressedSize: b.uncompressedSize ?? null,
          features: Array.isArray(r.feature_names) ? (r.feature_names as string[]) : [], sizeMatches: typeof r.size_matches === 'boolean' ? r.size_matches : null,
          error: typeof r.error === 'string' ? r.error : null,
        };
      });
    });
  },

  /** Bind a file to a blob table entry the automatic matching left open (or matched wrongly). */
  attachBlob(id: number, index: number, file: File): Promise<void> {
    return guard(async () => {
      const h = handle(id);
      if (!isRafs(h.fs)) throw { name: 'Error', message: 'only RAFS images have a blob table' } satisfies WireError;
      const src = cached(new BlobSource(file, file.name));
      h.fs.store.attach(index, src, /\.blob\.data$/.test(file.name) ? 'cache' : 'blob');
      h.others.push(src);
    });
  },

  /** Chunks of a RAFS file with where they live and which other paths use the same stored chunk. */
  fileChunks(id: number, ino: number): Promise<ChunkRow[]> {
    return guard(async () => {
      const { fs } = handle(id);
      if (!isRafs(fs)) return [];
      const chunks = await fs.fileChunks(ino);
      let idx: Awaited<ReturnType<typeof buildIndex>> | null = null;
      try {
        idx = await buildIndex(fs);
      } catch {
        idx = null;
      }
      return chunks.slice(0, 20_000).map((c, position) => {
        const users = idx?.refs.get(chunkLocationKey(c))?.refs ?? [];
        const others = users.filter((u) => idx!.entries[u.entry]!.ino !== ino || u.position !== position);
        return {
          position, fileOffset: c.fileOffset, blobIndex: c.blobIndex, blobId: fs.store.blobIdOf(c.blobIndex), compressed: c.compressed,
          compressedOffset: c.compressedOffset, compressedSize: c.compressedSize, uncompressedOffset: c.uncompressedOffset, uncompressedSize: c.uncompressedSize,
          digest: hex(c.digest), index: c.index,
          sharedWith: others.slice(0, 8).map((u) => ({ path: '/' + idx!.entries[u.entry]!.path.map((p) => nameOf(p).text).join('/'), position: u.position })),
          sharedCount: others.length,
        };
      });
    });
  },

  cacheInfo(): Promise<{ bytes: number; limit: number; available: boolean }> {
    return guard(async () => {
      const c = cacheOpt().cache as PersistentChunkCache | undefined;
      if (!c) return { bytes: 0, limit: 0, available: false };
      await c.get('\u0000probe'); // loads the LRU list
      return { bytes: c.cachedBytes, limit: c.limit, available: true };
    });
  },

  clearCache(): Promise<void> {
    return guard(async () => {
      const c = cacheOpt().cache as PersistentChunkCache | undefined;
      await c?.clear();
    });
  },

  // -------------------------------------------------------------------------------------------
  // stats, verify, export

  stats(id: number, token: string, onProgress: (scanned: number) => void): Promise<ImageStats> {
    return guard(async () => {
      const { fs } = handle(id);
      const signal = startTask(token);
      try {
        const counts: Record<string, number> = {};
        const files = new SizeHistogram();
        const seen = new Set<number>();
        let scanned = 0;
        let biggest: { path: string; size: number }[] = [];
        for await (const e of walk(fs)) {
          if (signal.aborted) throw new DOMException('cancelled', 'AbortError');
          scanned++;
          if (scanned % 500 === 0) onProgress(scanned);
          counts[e.attr.type] = (counts[e.attr.type] ?? 0) + 1;
          if (e.attr.type !== 'reg' || seen.has(e.attr.ino)) continue;
          seen.add(e.attr.ino);
          files.add(e.attr.size);
          if (biggest.length < 10 || e.attr.size > biggest[biggest.length - 1]!.size) {
            biggest.push({ path: '/' + e.path.map((c) => nameOf(c).text).join('/'), size: e.attr.size });
            biggest = biggest.sort((a, b) => b.size - a.size).slice(0, 10);
          }
        }
        const out: ImageStats = { entries: scanned, counts, fileSizes: files.buckets(), files: files.total, fileBytes: files.totalBytes, biggest, imageSize: handle(id).image.size };
        if (isRafs(fs)) {
          const idx = await buildIndex(fs, { signal });
          const chunkSizes = new SizeHistogram();
          let referenced = 0;
          let stored = 0;
          let storedCompressed = 0;
          const perBlob = new Map<number, { chunks: number; compressed: number; uncompressed: number }>();
          for (const { chunk: c, refs } of idx.refs.values()) {
            chunkSizes.add(c.uncompressedSize);
            referenced += c.uncompressedSize * refs.length;
            stored += c.uncompressedSize;
            storedCompressed += c.compressedSize;
            const pb = perBlob.get(c.blobIndex) ?? { chunks: 0, compressed: 0, uncompressed: 0 };
            pb.chunks++;
            pb.compressed += c.compressedSize;
            pb.uncompressed += c.uncompressedSize;
            perBlob.set(c.blobIndex, pb);
          }
          out.chunks = {
            unique: idx.refs.size, references: [...idx.refs.values()].reduce((s, r) => s + r.refs.length, 0), sizes: chunkSizes.buckets(),
            referencedBytes: referenced, storedBytes: stored, storedCompressedBytes: storedCompressed, dedupRatio: dedupRatio(referenced, stored),
            blobs: fs.blobs.map((b) => {
              const pb = perBlob.get(b.index) ?? { chunks: 0, compressed: 0, uncompressed: 0 };
              return { index: b.index, blobId: fs.store.blobIdOf(b.index), compressedSize: b.compressedSize ?? null, chunkCount: b.chunkCount ?? null, usedChunks: pb.chunks, usedCompressed: pb.compressed, usedUncompressed: pb.uncompressed };
            }),
          };
        }
        return out;
      } finally {
        endTask(token);
      }
    });
  },

  /** Paths added, removed and changed from image `idA` to image `idB` (both already open); cancellable by token. */
  diff(idA: number, idB: number, token?: string): Promise<ImageDiff> {
    return guard(async () => {
      const a = handle(idA).fs;
      const b = handle(idB).fs;
      const signal = token ? startTask(token) : undefined;
      try {
        return await diffImages(a, b, { signal });
      } finally {
        if (token) endTask(token);
      }
    });
  },

  /** RAFS: checkRafs (metadata, blobs, every chunk). Other formats: read every file, report errors. */
  verify(id: number, token: string, onProgress: (p: VerifyProgress) => void): Promise<VerifyReport> {
    return guard(async () => {
      const { fs } = handle(id);
      const signal = startTask(token);
      try {
        if (isRafs(fs)) {
          let lastAt = 0;
          const report: CheckReport = await checkRafs(fs, {
            signal,
            onProgress: (p) => {
              const now = Date.now();
              if (now - lastAt < 80) return;
              lastAt = now;
              onProgress({ phase: p.phase, done: p.done, total: p.total, bytes: p.bytes ?? 0, path: p.path ?? '' });
            },
          });
          const problems: VerifyProblem[] = [
            ...report.metadata_issues.map((m) => ({ path: m.path ?? '', message: `${m.structure} at byte ${m.offset}: ${m.detail}` })),
            ...report.blob_issues.map((b) => ({ path: `blob ${b.blob_id}`, message: b.detail })),
            ...report.missing_blobs.map((b) => ({ path: `blob ${b.blob_id}`, message: `missing (${b.chunks} chunks unreadable)` })),
            ...report.unresolved_files.map((u) => ({ path: u.path, message: u.error })),
            ...report.bad_chunks.map((c) => ({ path: c.files.join(', '), message: `chunk ${c.index} of blob ${c.blob_id} at ${c.compressed_offset}: ${c.error}` })),
          ];
          return { ok: report.ok, files: report.counts.files, entries: report.counts.entries, bytes: report.counts.uncompressed_bytes, chunks: report.counts.chunks_checked, problems };
        }
        const problems: VerifyProblem[] = [];
        let files = 0;
        let entries = 0;
        let bytes = 0;
        let lastAt = 0;
        for await (const e of walk(fs)) {
          if (signal.aborted) throw new DOMException('cancelled', 'AbortError');
          entries++;
          const path = '/' + e.path.map((c) => nameOf(c).text).join('/');
          try {
            if (e.attr.type === 'symlink') await fs.readlink(e.attr.ino);
            if (e.attr.type === 'reg') {
              files++;
              for (let o = 0; o < e.attr.size; o += 1 << 20) {
                if (signal.aborted) throw new DOMException('cancelled', 'AbortError');
                const b = await fs.read(e.attr.ino, o, Math.min(1 << 20, e.attr.size - o));
                if (b.length !== Math.min(1 << 20, e.attr.size - o)) throw new Error(`short read at ${o}`);
                bytes += b.length;
              }
            }
            await fs.listxattr(e.attr.ino);
          } catch (err) {
            if ((err as Error)?.name === 'AbortError') throw err;
            problems.push({ path, message: toWire(err).message });
          }
          const now = Date.now();
          if (now - lastAt > 80) {
            lastAt = now;
            onProgress({ phase: 'data', done: entries, total: 0, bytes, path });
          }
        }
        return { ok: problems.length === 0, files, entries, bytes, chunks: 0, problems };
      } finally {
        endTask(token);
      }
    });
  },

  /**
   * Streamed PAX tar of a file, a subtree or the whole image: every piece goes to `write` (awaited,
   * so a slow writer applies back-pressure). `name` prefixes a non-directory start (its own name).
   */
  exportTar(id: number, ino: number, name: string | null, token: string, write: (chunk: Uint8Array) => Promise<void>, onProgress: (entries: number, bytes: number) => void): Promise<ExportTarResult> {
    return guard(async () => {
      const { fs } = handle(id);
      const signal = startTask(token);
      try {
        const attr = await fs.getattr(ino);
        const prefix = attr.type === 'dir' ? [] : [bytes(name ?? 'file')];
        let pending: Uint8Array[] = [];
        let pendingBytes = 0;
        let lastAt = 0;
        const flush = async () => {
          if (pendingBytes === 0) return;
          const out = new Uint8Array(pendingBytes);
          let o = 0;
          for (const p of pending) {
            out.set(p, o);
            o += p.length;
          }
          pending = [];
          pendingBytes = 0;
          await write(Comlink.transfer(out, [out.buffer]));
        };
        const res = await exportTar(fs, ino, {
          write: async (chunk) => {
            pending.push(chunk.slice());
            pendingBytes += chunk.length;
            if (pendingBytes >= 4 << 20) await flush();
          },
        }, {
          signal, prefix, unsafeNames: 'skip',
          onProgress: (p) => {
            const now = Date.now();
            if (now - lastAt > 80) {
              lastAt = now;
              onProgress(p.entries, p.bytes);
            }
          },
        });
        await flush();
        return res;
      } finally {
        endTask(token);
      }
    });
  },
};

export type InspectorApi = typeof api;
Comlink.expose(api);
