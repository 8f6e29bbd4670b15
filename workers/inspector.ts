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
import { splitPath } from '../src/lib/fs/path.ts';

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
export type OpenInput = File | (File | PathedFile)[] | string;

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
  for (let i = 0; i < sources.length && sources.length > 1; i++) {
    const s = sources[i]!;
    if (s.size === 0 || !(await detectFormat(s))) continue;
    if (imageIdx < 0 || s.size < sources[imageIdx]!.size) imageIdx = i;
  }
  if (imageIdx < 0) {
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
  const opts: OpenOptions = { blobs: others };
  if (objects.size) {
    opts.objectStore = async (payload) => {
      const key = payload.replace(/^\/+/, '');
      const f = objects.get(key);
      return f ? cached(new BlobSource(f, key)) : null;
    };
  }
  return { fs: await openImage(image, opts), image, others, objects: objects.size };
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
  return { fs: await openImage(src), image: src, whole };
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
// the API

const api = {
  /** Open an image: one File, several Files (image + blobs / object store), or a URL (HTTP Range). */
  open(input: OpenInput, flags: OpenFlags = {}): Promise<ImageSummary> {
    return guard(async () => {
      let h: Handle;
      let source: ImageSummary['source'];
      let objects = 0;
      if (typeof input === 'string') {
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
    return guard(async () => {
      const { fs } = handle(id);
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
};

export type InspectorApi = typeof api;
Comlink.expose(api);
