import { fail } from '../errors.ts';
import type { FileType } from '../fs/types.ts';
import { EROFS_FT_MAX, EROFS_NAME_LEN, erofs_dirent } from './structs.ts';
import { isMetaboxNid, nidFromHalves } from './superblock.ts';

const S = erofs_dirent.name;
const DIRENT = erofs_dirent.size;
/** field offsets inside one dirent (nid is a u64, read as two u32 halves) */
const NID = erofs_dirent.f.nid.offset;
const NAMEOFF = erofs_dirent.f.nameoff.offset;
const FILE_TYPE = erofs_dirent.f.file_type.offset;

/**
 * One directory block, decoded: parallel arrays in on-disk (sorted) order. Names stay in the block's
 * bytes (`nameAt` cuts one out): a 500,000-entry directory kept as a view object per name held
 * ~35 MB more than its blocks.
 */
export interface DirBlock {
  count: number;
  nids: number[];
  types: Uint8Array;
  /** name k is bytes[nameStart[k] .. nameStart[k + 1]) */
  nameStart: Uint16Array;
  bytes: Uint8Array;
}

/** entry k's name: a view into the block */
export function nameAt(blk: DirBlock, k: number): Uint8Array {
  return blk.bytes.subarray(blk.nameStart[k]!, blk.nameStart[k + 1]!);
}

/** memcmp order of `name` against entry k's name, without cutting it out */
export function compareName(name: Uint8Array, blk: DirBlock, k: number): number {
  const b = blk.bytes;
  const start = blk.nameStart[k]!;
  const len = blk.nameStart[k + 1]! - start;
  const n = Math.min(name.length, len);
  for (let i = 0; i < n; i++) if (name[i] !== b[start + i]) return name[i]! - b[start + i]!;
  return name.length - len;
}

export const TYPE_OF_FT: readonly (FileType | undefined)[] = [undefined, 'reg', 'dir', 'chr', 'blk', 'fifo', 'sock', 'symlink'];

/**
 * Decode one directory block (`b` = the block's bytes: a full block, or the tail for the last one).
 * `at` is the block's absolute offset (-1 if unknown), for error messages. `maxNid` bounds nids to
 * inodes that can exist in the image. Names must be 1..255 bytes, without "/" or NUL, strictly ascending.
 */
export function parseDirBlock(b: Uint8Array, at: number, maxNid: number, maxMetaboxNid = -1): DirBlock {
  const off = (o: number) => (at < 0 ? -1 : at + o);
  const maxsize = b.length;
  if (!(maxsize >= DIRENT)) fail(S, off(0), `directory block of ${maxsize} bytes holds no dirent`);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const nameoff0 = view.getUint16(NAMEOFF, true);
  if (!(nameoff0 >= DIRENT && nameoff0 % DIRENT === 0 && nameoff0 < maxsize)) fail(S, off(NAMEOFF), `first nameoff ${nameoff0} is invalid for a ${maxsize}-byte block`);
  const n = nameoff0 / DIRENT;
  const nids: number[] = new Array(n);
  const nameStart = new Uint16Array(n + 1);
  const types = new Uint8Array(n);
  const blk: DirBlock = { count: n, nids, types, nameStart, bytes: b };
  let prevEnd = nameoff0;
  for (let i = 0; i < n; i++) {
    const e = i * DIRENT;
    const lo = view.getUint32(e + NID, true);
    const hi = view.getUint32(e + NID + 4, true);
    // bit 63: an inode in the metabox (in memory, METABOX_NID_BASE + slot)
    const nid = nidFromHalves(hi, lo);
    if (!(nid !== null && (isMetaboxNid(nid) ? nid <= maxMetaboxNid : nid <= maxNid))) fail(S, off(e), `nid ${hi ? `0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')}` : lo} is past the ${hi & 0x80000000 ? 'metabox' : 'image'} end`);
    const nameoff = view.getUint16(e + NAMEOFF, true);
    if (!(nameoff === prevEnd)) fail(S, off(e + NAMEOFF), `nameoff ${nameoff} does not follow the previous name end ${prevEnd}`);
    let end: number;
    if (i + 1 < n) {
      end = view.getUint16(e + DIRENT + NAMEOFF, true);
      if (!(end > nameoff && end <= maxsize)) fail(S, off(e + DIRENT + NAMEOFF), `nameoff ${end} is out of order or past the block`);
    } else {
      if (!(nameoff < maxsize)) fail(S, off(e + NAMEOFF), `last name starts past the block`);
      end = nameoff;
      while (end < maxsize && b[end] !== 0) end++;
    }
    const len = end - nameoff;
    if (!(len >= 1 && len <= EROFS_NAME_LEN)) fail(S, off(e + NAMEOFF), `name length ${len} is out of range`);
    for (let k = nameoff; k < end; k++) {
      const c = b[k]!;
      if (!(c !== 0 && c !== 0x2f)) fail(S, off(k), `name contains ${c ? '"/"' : 'NUL'}`);
    }
    nameStart[i] = nameoff;
    nameStart[i + 1] = end;
    if (i > 0 && !(compareName(nameAt(blk, i - 1), blk, i) < 0)) fail(S, off(e), 'names are not strictly ascending');
    const ft = b[e + FILE_TYPE]!;
    if (!(ft < EROFS_FT_MAX)) fail(S, off(e + FILE_TYPE), `unknown file_type ${ft}`);
    nids[i] = nid;
    types[i] = ft;
    prevEnd = end;
  }
  return blk;
}

/** index of `name` in the block, or -1 */
export function findInBlock(blk: DirBlock, name: Uint8Array): number {
  let lo = 0;
  let hi = blk.count - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = compareName(name, blk, mid);
    if (c === 0) return mid;
    if (c < 0) hi = mid - 1;
    else lo = mid + 1;
  }
  return -1;
}

export function isDotOrDotDot(name: Uint8Array): boolean {
  return name[0] === 0x2e && (name.length === 1 || (name.length === 2 && name[1] === 0x2e));
}
