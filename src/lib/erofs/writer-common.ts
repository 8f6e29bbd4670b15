/**
 * Leaf emitters every EROFS writer shares (plain EROFS, composefs, RAFS v6, the tar index): xattr
 * entries and the name filter, directory blocks, inode cores. The xattr planning is in
 * writer-xattrs.ts, the inode model and record emission in writer-model.ts. Field offsets come from structs.ts; hot paths write through a
 * DataView with those offsets instead of building objects.
 */
import { xxh32 } from '../codec/xxh32.ts';
import type { Xattr } from '../fs/tree.ts';
import type { FileType } from '../fs/types.ts';
import type { Output } from './writer-output.ts';
import { startsWith } from '../bytes.ts';
import { PREFIX_BYTES } from './xattr.ts';
import {
  EROFS_FT_BLKDEV, EROFS_FT_CHRDEV, EROFS_FT_DIR, EROFS_FT_FIFO, EROFS_FT_REG_FILE, EROFS_FT_SOCK, EROFS_FT_SYMLINK,
  EROFS_I_DATALAYOUT_BIT, EROFS_XATTR_INDEX_POSIX_ACL_ACCESS, EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT,
  EROFS_XATTR_INDEX_SECURITY, EROFS_XATTR_INDEX_TRUSTED, EROFS_XATTR_INDEX_USER,
  erofs_dirent, erofs_inode_compact, erofs_inode_extended, erofs_xattr_entry, erofs_xattr_ibody_header,
} from './structs.ts';

export const BLOCK_SIZE = 4096;
export const BLOCK_BITS = 12;
export const DIRENT_SIZE = erofs_dirent.size;
/** seed of the xattr name bloom filter: bit = xxh32(suffix, seed + index) & 31 */
export const XATTR_FILTER_SEED = 0x25bbe08f;
/** a node's xattr ids: at most this many shared references (more become inline entries) */
export const MAX_SHARED_PER_INODE = 0x80;

/** scratch for one structure at a time (Output.bytes copies it out) */
const SCRATCH = new Uint8Array(1024);
const SV = new DataView(SCRATCH.buffer);
function scratch(n: number): Uint8Array {
  const b = n <= SCRATCH.length ? SCRATCH.subarray(0, n) : new Uint8Array(n);
  if (n <= SCRATCH.length) b.fill(0);
  return b;
}
/**
 * e_name_index values in the order libcomposefs tries them, each standing for its prefix in the
 * one table (EROFS_XATTR_PREFIXES); "lustre." and unknown prefixes store the full name (index 0)
 */
const PREFIX_ORDER = [EROFS_XATTR_INDEX_USER, EROFS_XATTR_INDEX_POSIX_ACL_ACCESS, EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT, EROFS_XATTR_INDEX_TRUSTED, EROFS_XATTR_INDEX_SECURITY];
const prefixTable = (indexes: readonly number[]): readonly (readonly [Uint8Array, number])[] => indexes.map((index) => [PREFIX_BYTES[index]!, index] as const);
const PREFIXES = prefixTable(PREFIX_ORDER);

/** e_name_index and the length of the prefix it stands for */
export function xattrIndex(name: Uint8Array): { index: number; prefixLen: number } {
  return indexIn(PREFIXES, name);
}

function indexIn(table: readonly (readonly [Uint8Array, number])[], name: Uint8Array): { index: number; prefixLen: number } {
  for (const [p, index] of table) if (startsWith(name, p)) return { index, prefixLen: p.length };
  return { index: 0, prefixLen: 0 };
}

/**
 * A writer's prefix table: which e_name_index a name is stored under. Every writer but
 * composefs-rs uses libcomposefs' (xattrIndex, the default of the functions below).
 */
export type XattrIndexer = (name: Uint8Array) => { index: number; prefixLen: number };

/** The table trying the prefixes of `indexes` (EROFS_XATTR_PREFIXES indexes) in that order; a name matching none keeps index 0. */
export function prefixIndexer(indexes: readonly number[]): XattrIndexer {
  const table = prefixTable(indexes);
  return (name) => indexIn(table, name);
}

export function xattrEntrySize(x: Xattr, ix: XattrIndexer = xattrIndex): number {
  const { prefixLen } = ix(x.name);
  return (erofs_xattr_entry.size + x.name.length - prefixLen + x.value.length + 3) & ~3;
}

/** one bit of h_name_filter (set = "may be present" before the final inversion) */
export function xattrFilterBit(x: Xattr, ix: XattrIndexer = xattrIndex): number {
  const { index, prefixLen } = ix(x.name);
  return 1 << (xxh32(x.name.subarray(prefixLen), XATTR_FILTER_SEED + index) & 31);
}

const XE_NAME_LEN = erofs_xattr_entry.f.e_name_len.offset;
const XE_INDEX = erofs_xattr_entry.f.e_name_index.offset;
const XE_VALUE_SIZE = erofs_xattr_entry.f.e_value_size.offset;

export function emitXattrEntry(out: Output, x: Xattr, ix: XattrIndexer = xattrIndex): void {
  const { index, prefixLen } = ix(x.name);
  const suffix = x.name.subarray(prefixLen);
  const h = scratch(erofs_xattr_entry.size);
  h[XE_NAME_LEN] = suffix.length;
  h[XE_INDEX] = index;
  h[XE_VALUE_SIZE] = x.value.length & 0xff;
  h[XE_VALUE_SIZE + 1] = x.value.length >>> 8;
  out.bytes(h);
  out.bytes(suffix);
  out.bytes(x.value);
  const n = erofs_xattr_entry.size + suffix.length + x.value.length;
  out.fill(((n + 3) & ~3) - n);
}

/** xattr area bytes for `nShared` references and inline entries of `inlineBytes` (0 when none) */
export function xattrAreaSize(nShared: number, inlineBytes: number): number {
  if (nShared === 0 && inlineBytes === 0) return 0;
  return (erofs_xattr_ibody_header.size + nShared * 4 + inlineBytes + 3) & ~3;
}
export function xattrIcount(areaSize: number): number {
  return areaSize === 0 ? 0 : (areaSize - erofs_xattr_ibody_header.size) / 4 + 1;
}

const XH_FILTER = erofs_xattr_ibody_header.f.h_name_filter.offset;
const XH_SHARED = erofs_xattr_ibody_header.f.h_shared_count.offset;

export function emitXattrHeader(out: Output, nameFilter: number, sharedIds: readonly number[]): void {
  const h = scratch(erofs_xattr_ibody_header.size + sharedIds.length * 4);
  const v = h.buffer === SCRATCH.buffer ? SV : new DataView(h.buffer);
  v.setUint32(XH_FILTER, nameFilter >>> 0, true);
  h[XH_SHARED] = sharedIds.length;
  for (let i = 0; i < sharedIds.length; i++) v.setUint32(erofs_xattr_ibody_header.size + i * 4, sharedIds[i]!, true);
  out.bytes(h);
}

export function direntFileType(type: FileType): number {
  switch (type) {
    case 'reg': return EROFS_FT_REG_FILE;
    case 'dir': return EROFS_FT_DIR;
    case 'chr': return EROFS_FT_CHRDEV;
    case 'blk': return EROFS_FT_BLKDEV;
    case 'fifo': return EROFS_FT_FIFO;
    case 'sock': return EROFS_FT_SOCK;
    case 'symlink': return EROFS_FT_SYMLINK;
  }
}

/**
 * Directory blocks: entries (sorted by name) go into a block until the next would overflow it.
 * Returns the index of the first entry of every block, plus the entry count at the end, and the
 * byte size of the last block.
 */
export function direntBlocks(names: readonly Uint8Array[], blockSize = BLOCK_SIZE): { starts: number[]; lastSize: number } {
  const starts = [0];
  let used = 0;
  for (let i = 0; i < names.length; i++) {
    const len = DIRENT_SIZE + names[i]!.length;
    if (used + len > blockSize) {
      starts.push(i);
      used = 0;
    }
    used += len;
  }
  starts.push(names.length);
  return { starts, lastSize: used };
}

/** bytes of the dirents [first, end) as one directory block holds them (no padding) */
export function direntBytes(names: readonly Uint8Array[], first: number, end: number): number {
  let n = (end - first) * DIRENT_SIZE;
  for (let i = first; i < end; i++) n += names[i]!.length;
  return n;
}

const D_NID = erofs_dirent.f.nid.offset;
const D_NAMEOFF = erofs_dirent.f.nameoff.offset;
const D_TYPE = erofs_dirent.f.file_type.offset;

let ENT_NIDS = new Float64Array(1024);
let ENT_TYPES = new Uint8Array(1024);

/**
 * The dirents [first, end) of a planned directory: entry k names node `targets[k]`, whose nid is
 * `nids[targets[k]]` and whose file type `typeOf(targets[k])` gives.
 */
export function emitDirentsOf(out: Output, names: readonly Uint8Array[], targets: ArrayLike<number>, nids: ArrayLike<number>, typeOf: (node: number) => FileType, first: number, end: number): void {
  // scratch indexed like the entries, grown and reused: fresh arrays of `end` entries for every
  // block cost O(entries²/block) on big directories in small blocks (tar index of a tar of
  // /usr/share/{doc,man}, 30k entries, 512-byte blocks: build CPU median 399 ms with them, 242 ms
  // with the scratch; load average 11 on 2 cores)
  if (ENT_NIDS.length < end) {
    ENT_NIDS = new Float64Array(Math.max(end, 2 * ENT_NIDS.length));
    ENT_TYPES = new Uint8Array(ENT_NIDS.length);
  }
  const entNids = ENT_NIDS;
  const types = ENT_TYPES;
  for (let k = first; k < end; k++) {
    const t = targets[k]!;
    entNids[k] = nids[t]!;
    types[k] = direntFileType(typeOf(t));
  }
  emitters.direntBlock(out, names, entNids, types, first, end);
}

/** One directory block's bytes (dirents, then names; no padding). */
export function emitDirentBlock(out: Output, names: readonly Uint8Array[], nids: ArrayLike<number>, types: ArrayLike<number>, first: number, end: number): void {
  const n = end - first;
  let nameBytes = 0;
  for (let i = first; i < end; i++) nameBytes += names[i]!.length;
  const b = new Uint8Array(n * DIRENT_SIZE + nameBytes);
  const v = new DataView(b.buffer);
  let nameoff = n * DIRENT_SIZE;
  for (let i = first, k = 0; i < end; i++, k++) {
    const o = k * DIRENT_SIZE;
    const nid = nids[i]!;
    v.setUint32(o + D_NID, nid >>> 0, true);
    v.setUint32(o + D_NID + 4, Math.floor(nid / 0x1_0000_0000), true);
    v.setUint16(o + D_NAMEOFF, nameoff, true);
    b[o + D_TYPE] = types[i]!;
    b.set(names[i]!, nameoff);
    nameoff += names[i]!.length;
  }
  out.bytes(b);
}

export interface InodeCore {
  compact: boolean;
  layout: number;
  xattrIcount: number;
  /** st_mode (16 bits kept) */
  mode: number;
  nlink: number;
  size: number;
  /** raw 32-bit i_u */
  iu: number;
  ino: number;
  uid: number;
  gid: number;
  mtime: number;
  mtimeNsec: number;
}

const C = erofs_inode_compact.f;
const X = erofs_inode_extended.f;

export function inodeCoreSize(compact: boolean): number {
  return compact ? erofs_inode_compact.size : erofs_inode_extended.size;
}

export function emitInodeCore(out: Output, i: InodeCore): void {
  const format = (i.layout << EROFS_I_DATALAYOUT_BIT) | (i.compact ? 0 : 1);
  const v = SV;
  if (i.compact) {
    const b = scratch(erofs_inode_compact.size);
    v.setUint16(C.i_format.offset, format, true);
    v.setUint16(C.i_xattr_icount.offset, i.xattrIcount, true);
    v.setUint16(C.i_mode.offset, i.mode & 0xffff, true);
    v.setUint16(C.i_nlink.offset, i.nlink & 0xffff, true);
    v.setUint32(C.i_size.offset, i.size >>> 0, true);
    v.setUint32(C.i_u.offset, i.iu >>> 0, true);
    v.setUint32(C.i_ino.offset, i.ino >>> 0, true);
    v.setUint16(C.i_uid.offset, i.uid & 0xffff, true);
    v.setUint16(C.i_gid.offset, i.gid & 0xffff, true);
    out.bytes(b);
    return;
  }
  const b = scratch(erofs_inode_extended.size);
  v.setUint16(X.i_format.offset, format, true);
  v.setUint16(X.i_xattr_icount.offset, i.xattrIcount, true);
  v.setUint16(X.i_mode.offset, i.mode & 0xffff, true);
  v.setUint32(X.i_size.offset, i.size % 0x1_0000_0000, true);
  v.setUint32(X.i_size.offset + 4, Math.floor(i.size / 0x1_0000_0000), true);
  v.setUint32(X.i_u.offset, i.iu >>> 0, true);
  v.setUint32(X.i_ino.offset, i.ino >>> 0, true);
  v.setUint32(X.i_uid.offset, i.uid >>> 0, true);
  v.setUint32(X.i_gid.offset, i.gid >>> 0, true);
  // s64 seconds, two's complement (floor division keeps negative times right)
  v.setUint32(X.i_mtime.offset, i.mtime >>> 0, true);
  v.setUint32(X.i_mtime.offset + 4, Math.floor(i.mtime / 0x1_0000_0000) >>> 0, true);
  v.setUint32(X.i_mtime_nsec.offset, i.mtimeNsec >>> 0, true);
  v.setUint32(X.i_nlink.offset, i.nlink >>> 0, true);
  out.bytes(b);
}

/**
 * The structure emitters both EROFS writers call go through this object, so a test can break one on
 * purpose (drop an xattr entry, a directory block) and see the writer's layout check fail the
 * build. Production code never replaces them.
 */
export const emitters = {
  xattrEntry: emitXattrEntry,
  direntBlock: emitDirentBlock,
};

/** memcmp order, the one dirent and xattr sort every writer uses (defined once in fs/types.ts) */
export { compareBytes } from '../fs/types.ts';
