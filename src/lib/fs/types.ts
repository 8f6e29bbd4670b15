/**
 * The one read-only filesystem interface every image format implements. It follows the FUSE
 * low-level read-only operations so a reader can be checked against a kernel mount operation by
 * operation. Names, symlink targets and xattr names are raw bytes: images are not required to hold
 * UTF-8, and a dump or export must reproduce them exactly. Use `utf8()`/`bytes()` for display/input.
 */
import type { DataPiece } from './plan.ts';

export type FileType = 'reg' | 'dir' | 'symlink' | 'chr' | 'blk' | 'fifo' | 'sock';

export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

const TYPE_BY_IFMT: Record<number, FileType> = {
  [S_IFSOCK]: 'sock', [S_IFLNK]: 'symlink', [S_IFREG]: 'reg', [S_IFBLK]: 'blk',
  [S_IFDIR]: 'dir', [S_IFCHR]: 'chr', [S_IFIFO]: 'fifo',
};
const IFMT_BY_TYPE: Record<FileType, number> = {
  sock: S_IFSOCK, symlink: S_IFLNK, reg: S_IFREG, blk: S_IFBLK, dir: S_IFDIR, chr: S_IFCHR, fifo: S_IFIFO,
};

/** undefined for a mode whose type bits name no file type */
export function fileTypeOfMode(mode: number): FileType | undefined {
  return TYPE_BY_IFMT[mode & S_IFMT];
}
export function modeOfType(type: FileType): number {
  return IFMT_BY_TYPE[type];
}

/** Linux "new" dev_t encoding, as EROFS i_u.rdev and glibc makedev() for 32-bit values. */
export function makedev(major: number, minor: number): number {
  return ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0;
}
export function major(rdev: number): number {
  return (rdev >>> 8) & 0xfff;
}
export function minor(rdev: number): number {
  return ((rdev & 0xff) | ((rdev >>> 12) & 0xfff00)) >>> 0;
}

export interface Attr {
  /** the format's inode number: EROFS/RAFS v6 nid, RAFS v5 i_ino */
  ino: number;
  type: FileType;
  /** st_mode including the type bits */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  rdev: number;
  /** seconds since the epoch (may be negative) */
  mtime: number;
  mtimeNsec: number;
}

export interface DirEntry {
  name: Uint8Array;
  ino: number;
  type: FileType;
  /** readdir cookie: pass it as `offset` to continue after this entry */
  next: number;
}

export interface StatFs {
  blockSize: number;
  blocks: number;
  files: number;
  nameMax: number;
}

export type FormatId = 'erofs' | 'composefs' | 'rafs-v5' | 'rafs-v6' | 'tree';

/** Summary for `inspect`: free-form but JSON-serialisable. */
export interface ImageInfo {
  format: FormatId;
  [key: string]: unknown;
}

export interface ReadOnlyFs {
  readonly format: FormatId;
  readonly rootIno: number;
  /** null when `name` is absent from directory `parent` */
  lookup(parent: number, name: Uint8Array): Promise<Attr | null>;
  getattr(ino: number): Promise<Attr>;
  /** Entries after cookie `offset` (0 = from the start), at most `limit`; "." and ".." are not returned. */
  readdir(ino: number, offset?: number, limit?: number): Promise<DirEntry[]>;
  /**
   * Up to `size` bytes from `offset`; shorter only at end of file. The result may be a view into a
   * cache: never modify it, and copy it before transferring its buffer to another thread.
   * `into` is a hint for bulk copies: a format may fill it (when it has room) and return a view of
   * it instead of allocating; callers must use the returned array either way.
   */
  read(ino: number, offset: number, size: number, into?: Uint8Array): Promise<Uint8Array>;
  readlink(ino: number): Promise<Uint8Array>;
  listxattr(ino: number): Promise<Uint8Array[]>;
  /** null when the inode has no such xattr */
  getxattr(ino: number, name: Uint8Array): Promise<Uint8Array | null>;
  statfs(): Promise<StatFs>;
  /** superblock, features, counts: what `layerscope inspect` prints */
  info(): Promise<ImageInfo>;
  /** format-specific layout of one inode (nid, data layout, extents or chunks, xattr placement) */
  inodeDetails(ino: number): Promise<Record<string, unknown>>;
  /**
   * Where the bytes `read` would return for [offset, offset+size) are stored (see fs/plan.ts),
   * checked against the sources, for a caller that copies them itself (extract's threads).
   * Optional: a format without it is read through `read`.
   */
  dataPlan?(ino: number, offset: number, size: number): Promise<DataPiece[]>;
  /** Some operations without waiting, where the format can answer so (see FsNow). */
  readonly now?: FsNow;
  /**
   * The most directory entries (over all directories) the image's bytes can hold: a walk that
   * counts more is reading directories that share their entries, a damaged image (see
   * fs/entries.ts EntryBudget). Absent: the format cannot be amplified that way (a tree in memory).
   */
  readonly maxEntries?: number;
  close?(): Promise<void>;
}

/**
 * ReadOnlyFs operations answered at once, or null when they would have to wait (the caller then
 * uses the async one). A reader over a local file answers almost every one at once, so a walk
 * over a whole image (extract) runs without an await per call.
 */
export interface FsNow {
  getattr(ino: number): Attr | null;
  /** every entry of the directory */
  readdir(ino: number): DirEntry[] | null;
  readlink(ino: number): Uint8Array | null;
  /** every xattr: name, value, name, value… */
  xattrs(ino: number): Uint8Array[] | null;
  dataPlan(ino: number, offset: number, size: number): DataPiece[] | null;
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: false });
export function bytes(s: string): Uint8Array {
  return enc.encode(s);
}
export function utf8(b: Uint8Array): string {
  return dec.decode(b);
}
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
/** memcmp order, as EROFS sorts dirents */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}
