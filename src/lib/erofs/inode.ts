import { fail, FormatError, UnsupportedError } from '../errors.ts';
import { fileTypeOfMode, type FileType } from '../fs/types.ts';
import {
  EROFS_CHUNK_FORMAT_48BIT,
  EROFS_CHUNK_FORMAT_ALL,
  EROFS_CHUNK_FORMAT_BLKBITS_MASK,
  EROFS_CHUNK_FORMAT_INDEXES,
  EROFS_I_ALL,
  EROFS_I_NLINK_1_BIT,
  EROFS_I_DATALAYOUT_BIT,
  EROFS_I_DATALAYOUT_MASK,
  EROFS_INODE_CHUNK_BASED,
  EROFS_INODE_COMPRESSED_COMPACT,
  EROFS_INODE_COMPRESSED_FULL,
  EROFS_INODE_FLAT_INLINE,
  EROFS_INODE_FLAT_PLAIN,
  EROFS_NULL_ADDR,
  LAYOUT_NAMES,
  erofs_blockmap_entry,
  erofs_inode_chunk_index,
  erofs_inode_compact,
  erofs_inode_extended,
  xattrIbodySize,
} from './structs.ts';
import type { Superblock } from './superblock.ts';

export interface ChunkInfo {
  format: number;
  chunkBits: number;
  chunkSize: number;
  /** 8-byte chunk indexes (else the 4-byte block map) */
  indexes: boolean;
  /** CHUNK_FORMAT_48BIT: chunk indexes carry startblk_hi */
  wide: boolean;
  entrySize: number;
  count: number;
  /** absolute offset of the first map entry */
  mapOffset: number;
}

export interface Inode {
  nid: number;
  /** absolute byte offset of the inode core */
  offset: number;
  extended: boolean;
  /** 32 or 64 */
  isize: number;
  format: number;
  layout: number;
  xattrIcount: number;
  xattrSize: number;
  mode: number;
  type: FileType;
  nlink: number;
  size: number;
  /** raw i_u: raw_blkaddr / compressed_blocks / rdev / chunk format */
  iu: number;
  /** raw i_nb: nlink (compact without NLINK_1), else startblk_hi / blocks_hi */
  nb: number;
  /** flat layouts: the first data block (i_u, with i_nb as bits 32-47 where the format allows) */
  startBlk: number;
  /** FLAT_PLAIN whose start block is the null address: every byte reads as 0 */
  hole: boolean;
  /** directories: DOT_OMITTED ("." is not stored) */
  dotOmitted: boolean;
  /** i_ino (32-bit stat inode number) */
  ino: number;
  uid: number;
  gid: number;
  mtime: number;
  mtimeNsec: number;
  /** absolute offset right after the inode core and its xattrs: inline data, chunk maps, z map header */
  dataOffset: number;
  rdev: number;
  /** CHUNK_BASED only */
  chunk?: ChunkInfo;
  /**
   * set when the inode's data ranges are impossible (blocks past the image end, a tail crossing a
   * block): like the kernel, the inode still stats and lists, and only reading its data fails
   */
  dataError?: FormatError;
}

export function layoutName(layout: number): string {
  return LAYOUT_NAMES[layout] ?? `layout${layout}`;
}

export function isCompressedLayout(layout: number): boolean {
  return layout === EROFS_INODE_COMPRESSED_FULL || layout === EROFS_INODE_COMPRESSED_COMPACT;
}

/**
 * Decode an inode from `b`, which holds the bytes at `offset` (64 of them, or fewer at the image end;
 * the caller passes what exists). Every layout-dependent range is checked against the image size here,
 * so later reads can trust them.
 */
export function parseInode(sb: Superblock, imageSize: number, nid: number, offset: number, b: Uint8Array, metaEnd = imageSize): Inode {
  const S = 'erofs.inode';
  if (!(b.length >= erofs_inode_compact.size)) fail(S, offset, `inode ${nid} runs past the end of its metadata`);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  // i_format, i_xattr_icount and i_mode lie at the same offsets in both inode versions
  const H = erofs_inode_compact.f;
  const format = view.getUint16(H.i_format.offset, true);
  const extended = (format & 1) === 1;
  if (format & ~EROFS_I_ALL) throw new UnsupportedError('erofs inode', `nid ${nid} at byte ${offset}: i_format 0x${format.toString(16)} uses bits newer than erofs-utils 1.9.3`);
  const layout = (format >> EROFS_I_DATALAYOUT_BIT) & EROFS_I_DATALAYOUT_MASK;
  if (!(layout <= EROFS_INODE_CHUNK_BASED)) fail(S, offset, `nid ${nid}: unknown data layout ${layout}`);
  const isize = extended ? erofs_inode_extended.size : erofs_inode_compact.size;
  if (!(b.length >= isize)) fail(S, offset, `extended inode ${nid} runs past the end of its metadata`);
  const xattrIcount = view.getUint16(H.i_xattr_icount.offset, true);
  const xattrSize = xattrIbodySize(xattrIcount);
  const mode = view.getUint16(H.i_mode.offset, true);
  const type = fileTypeOfMode(mode);
  if (!(type !== undefined)) fail(S, offset + H.i_mode.offset, `nid ${nid}: i_mode 0o${mode.toString(8)} names no file type`);
  let size: number, nlink: number, uid: number, gid: number, mtime: number, mtimeNsec: number;
  const iu = view.getUint32(H.i_u.offset, true);
  const ino = view.getUint32(H.i_ino.offset, true);
  const nb = view.getUint16(H.i_nlink.offset, true);
  const bit4 = (format & EROFS_I_NLINK_1_BIT) !== 0;
  // where i_nb may carry address bits 32-47 (erofs-utils 1.9.3 lib/namei.c)
  let wideAddr: boolean;
  if (extended) {
    const E = erofs_inode_extended.f;
    const hi = view.getUint32(E.i_size.offset + 4, true);
    if (!(hi < 0x200000)) fail(S, offset + E.i_size.offset, `nid ${nid}: i_size does not fit in 53 bits`);
    size = view.getUint32(E.i_size.offset, true) + hi * 0x1_0000_0000;
    uid = view.getUint32(E.i_uid.offset, true);
    gid = view.getUint32(E.i_gid.offset, true);
    mtime = Number(view.getBigInt64(E.i_mtime.offset, true));
    mtimeNsec = view.getUint32(E.i_mtime_nsec.offset, true);
    nlink = view.getUint32(E.i_nlink.offset, true);
    wideAddr = true;
  } else {
    const C = erofs_inode_compact.f;
    size = view.getUint32(C.i_size.offset, true);
    uid = view.getUint16(C.i_uid.offset, true);
    gid = view.getUint16(C.i_gid.offset, true);
    // seconds after the epoch (0 in 1.5 images, where every compact inode has the build time)
    mtime = sb.buildTime + view.getUint32(C.i_reserved.offset, true);
    mtimeNsec = sb.buildTimeNsec;
    wideAddr = bit4 && type !== 'dir';
    nlink = wideAddr ? 1 : nb;
  }
  const dataOffset = offset + isize + xattrSize;
  if (!(dataOffset <= metaEnd)) fail(S, offset + H.i_xattr_icount.offset, `nid ${nid}: ${xattrSize} bytes of xattrs run past the end of its metadata`);
  const startBlk = wideAddr ? iu + nb * 0x1_0000_0000 : iu;
  // a hole: all ones under the address mask (48 bits where i_nb counts, else 32)
  const hole = layout === EROFS_INODE_FLAT_PLAIN && iu === EROFS_NULL_ADDR && (!wideAddr || nb === 0xffff);
  const inode: Inode = {
    nid, offset, extended, isize, format, layout, xattrIcount, xattrSize, mode, type, nlink, size, iu, nb, startBlk, hole,
    dotOmitted: type === 'dir' && bit4, ino, uid, gid, mtime, mtimeNsec, dataOffset,
    rdev: type === 'chr' || type === 'blk' ? iu : 0,
  };

  if (type === 'chr' || type === 'blk' || type === 'fifo' || type === 'sock') return inode; // no data
  try {
    checkDataRanges(sb, imageSize, metaEnd, inode);
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    inode.dataError = e;
  }
  return inode;
}

/** The layout-dependent ranges of a data-carrying inode, checked against the image size once so later reads can trust them. */
function checkDataRanges(sb: Superblock, imageSize: number, metaEnd: number, inode: Inode): void {
  const S = 'erofs.inode';
  const { nid, offset, layout, size, iu, dataOffset, startBlk } = inode;
  const bs = sb.blockSize;
  const iuOff = offset + erofs_inode_compact.f.i_u.offset;
  if (layout === EROFS_INODE_FLAT_PLAIN) {
    if (size > 0 && !inode.hole) {
      if (!(startBlk * bs + size <= imageSize)) fail(S, iuOff, `nid ${nid}: ${size} bytes at block ${startBlk} run past the image end`);
    }
  } else if (layout === EROFS_INODE_FLAT_INLINE) {
    const nblocks = Math.ceil(size / bs);
    const plainBlocks = Math.max(0, nblocks - 1);
    const tail = size - plainBlocks * bs;
    if (plainBlocks > 0 && !(startBlk * bs + plainBlocks * bs <= imageSize)) fail(S, iuOff, `nid ${nid}: ${plainBlocks} blocks at ${startBlk} run past the image end`);
    if (!((dataOffset % bs) + tail <= bs)) fail(S, dataOffset, `nid ${nid}: inline tail of ${tail} bytes crosses a block boundary`);
    if (!(dataOffset + tail <= metaEnd)) fail(S, dataOffset, `nid ${nid}: inline tail runs past the end of its metadata`);
  } else if (layout === EROFS_INODE_CHUNK_BASED) {
    const cf = iu & 0xffff;
    if (cf & ~EROFS_CHUNK_FORMAT_ALL) throw new UnsupportedError('erofs inode', `nid ${nid}: chunk format 0x${cf.toString(16)} uses bits newer than erofs-utils 1.9.3`);
    const wide = (cf & EROFS_CHUNK_FORMAT_48BIT) !== 0;
    if (!(!wide || sb.is48bit)) fail('erofs.inode_chunk_info', iuOff, `nid ${nid}: 48-bit chunk indexes without the 48bit feature`);
    const chunkBits = sb.blkszbits + (cf & EROFS_CHUNK_FORMAT_BLKBITS_MASK);
    if (!(chunkBits - sb.blkszbits <= 31)) fail('erofs.inode_chunk_info', iuOff, `nid ${nid}: chunk of 2^${chunkBits} bytes`);
    const chunkSize = 2 ** chunkBits;
    const indexes = (cf & EROFS_CHUNK_FORMAT_INDEXES) !== 0;
    const entrySize = indexes ? erofs_inode_chunk_index.size : erofs_blockmap_entry.size;
    const count = Math.ceil(size / chunkSize);
    const mapOffset = Math.ceil(dataOffset / entrySize) * entrySize;
    if (!(mapOffset + count * entrySize <= metaEnd)) fail(S, mapOffset, `nid ${nid}: chunk map of ${count} entries runs past the end of its metadata`);
    inode.chunk = { format: cf, chunkBits, chunkSize, indexes, wide, entrySize, count, mapOffset };
  }
}
