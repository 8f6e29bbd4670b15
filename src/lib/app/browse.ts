/**
 * Browsing an open image as plain data the page can be sent: directory pages with attributes,
 * xattrs, a path's chain of directories, byte ranges, and free-form info made clone-safe.
 */
import { NotFoundError } from '../errors.ts';
import { readdirAll, splitPath } from '../fs/path.ts';
import { bytes, type Attr, type FileType, type ReadOnlyFs } from '../fs/types.ts';
import type { ByteSource } from '../io/source.ts';
import { hex } from './hex.ts';
import { nameOf, type Name } from './names.ts';
import { toWire, type WireError } from './wire.ts';

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

export const MAX_PAGE = 4096;
/** a single read is bounded so a corrupt size cannot make a worker allocate gigabytes */
export const MAX_READ = 16 << 20;

/** One page of a directory, each entry with its attributes (and symlink target). */
export async function dirPage(fs: ReadOnlyFs, ino: number, offset: number, limit: number): Promise<DirPage> {
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

export interface Xattr {
  name: Name;
  value: Name;
  size: number;
}

/** Every xattr of an inode; values shown up to 4 KiB. */
export async function xattrsOf(fs: ReadOnlyFs, ino: number): Promise<Xattr[]> {
  const out: Xattr[] = [];
  for (const n of await fs.listxattr(ino)) {
    const v = (await fs.getxattr(ino, n)) ?? new Uint8Array(0);
    out.push({ name: nameOf(n), value: nameOf(v.subarray(0, 4096)), size: v.length });
  }
  return out;
}

/** An absolute path (no symlink following) resolved to its attributes and the chain of directories. */
export async function resolveChain(fs: ReadOnlyFs, path: string): Promise<{ attr: Attr; chain: { name: Name; ino: number }[] }> {
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
}

export interface ReadResult {
  offset: number;
  bytes: Uint8Array;
  /** the file's (or image's) size, to know whether more is left */
  size: number;
}

/** Up to `length` bytes (at most MAX_READ) of a file, clamped to its size; a copy the caller may transfer. */
export async function readFileRange(fs: ReadOnlyFs, ino: number, offset: number, length: number): Promise<ReadResult> {
  const attr = await fs.getattr(ino);
  return readClamped(attr.size, offset, length, (o, n) => fs.read(ino, o, n));
}

/** The same over the image's own bytes (the structure view's hex pane). */
export function readImageRange(image: ByteSource, offset: number, length: number): Promise<ReadResult> {
  return readClamped(image.size, offset, length, (o, n) => image.read(o, n));
}

async function readClamped(size: number, offset: number, length: number, read: (o: number, n: number) => Promise<Uint8Array>): Promise<ReadResult> {
  const start = Math.max(0, Math.min(offset, size));
  const len = Math.max(0, Math.min(length, MAX_READ, size - start));
  // copied: a reader may hand out a view into its block cache, which must not be detached
  const copy = len === 0 ? new Uint8Array(0) : (await read(start, len)).slice();
  return { offset: start, bytes: copy, size };
}

/** info()/inodeDetails() are free-form: made structured-clone safe and readable. */
export function plain(v: unknown, depth = 0): unknown {
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

export interface DirUsage {
  bytes: number;
  files: number;
  dirs: number;
}

/**
 * Apparent size of a directory's subtree (file sizes; hardlinks counted per path), memoised in
 * `memo` per directory so the page can ask for every directory of a listing.
 */
export function dirUsage(fs: ReadOnlyFs, ino: number, memo: Map<number, Promise<DirUsage>>, depth = 0): Promise<DirUsage> {
  let p = memo.get(ino);
  if (p) return p;
  p = (async () => {
    const u: DirUsage = { bytes: 0, files: 0, dirs: 0 };
    if (depth > 512) return u; // a cycle in a damaged image must not recurse forever
    for (const d of await readdirAll(fs, ino)) {
      const a = await fs.getattr(d.ino);
      if (a.type === 'dir') {
        if (a.ino === ino) continue;
        const sub = await dirUsage(fs, a.ino, memo, depth + 1);
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
  memo.set(ino, p);
  p.catch(() => memo.delete(ino));
  return p;
}
