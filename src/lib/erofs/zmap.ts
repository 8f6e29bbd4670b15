/**
 * Compressed-file block mapping (spec §2.11), following erofs-utils 1.5 `lib/zmap.c` semantics:
 * an inode's whole lcluster index is loaded once (its size is bounded by the image) and every
 * lookup is then synchronous. Every walk is bounded: look-backs strictly decrease the lcluster
 * number, in-pack scans are bounded by the pack's entry count.
 */
import { fail, FormatError, UnsupportedError } from '../errors.ts';
import type { Inode } from './inode.ts';
import {
  EROFS_FEATURE_INCOMPAT_BIG_PCLUSTER,
  EROFS_FEATURE_INCOMPAT_ZTAILPACKING,
  EROFS_INODE_COMPRESSED_COMPACT,
  EROFS_INODE_COMPRESSED_FULL,
  Z_EROFS_ADVISE_BIG_PCLUSTER_1,
  Z_EROFS_ADVISE_BIG_PCLUSTER_2,
  Z_EROFS_ADVISE_COMPACTED_2B,
  Z_EROFS_ADVISE_FRAGMENT_PCLUSTER,
  Z_EROFS_ADVISE_INLINE_PCLUSTER,
  Z_EROFS_ADVISE_INTERLACED_PCLUSTER,
  Z_EROFS_COMPRESSION_MAX,
  Z_EROFS_FRAGMENT_INODE_BIT,
  Z_EROFS_LCLUSTER_TYPE_HEAD1,
  Z_EROFS_LCLUSTER_TYPE_HEAD2,
  Z_EROFS_LCLUSTER_TYPE_NONHEAD,
  Z_EROFS_LCLUSTER_TYPE_PLAIN,
  Z_EROFS_LEGACY_INDEX_OFFSET,
  Z_EROFS_LI_D0_CBLKCNT,
  Z_EROFS_LI_LCLUSTER_TYPE_MASK,
  z_erofs_map_header,
} from './structs.ts';
import type { Superblock } from './superblock.ts';

const IDX = 'erofs.lcluster_index';

/** Everything needed to map a compressed inode; `index` holds its index bytes (and the inline pcluster). */
export interface ZInfo {
  nid: number;
  layout: number;
  size: number;
  /** absolute offset of the map header, -1 when a legacy header is ignored (no big pcluster/ztailpacking in the sb) */
  headerOffset: number;
  advise: number;
  algorithms: [number, number];
  lclusterBits: number;
  /** 2 ** lclusterBits (a power with a variable exponent is a libm call in optimized code) */
  lclusterSize: number;
  idataSize: number;
  /** number of lclusters: ceil(size / lcluster size) */
  lclusters: number;
  /** absolute offset of index[0] */
  indexOffset: number;
  index: Uint8Array;
  /** compact layout only: entries in the initial 4-byte packs and in 2-byte packs */
  compacted4bInitial: number;
  compacted2b: number;
  blockSize: number;
  /** ztailpacking: absolute offset of the inline pcluster and the head lcluster of the tail extent */
  idataOffset: number;
  tailHeadLcn: number;
  maxPclusterBytes: number;
}

/** One decoded lcluster index entry (the kernel's z_erofs_maprecorder). */
interface LRecord {
  lcn: number;
  type: number;
  clusterofs: number;
  delta0: number;
  delta1: number;
  pblk: number;
  /** block count from a CBLKCNT NONHEAD entry, 0 if none */
  compressedBlks: number;
  nextPackOff: number;
  /** absolute offset of the entry (or of its pack), for error messages */
  at: number;
}

/** A mapped extent of decompressed data. */
export interface ZExtent {
  /** logical start of the extent */
  la: number;
  /** logical end of what this mapping covers (may stop at the lcluster end before the real extent end) */
  end: number;
  /** `end` is the true extent end (the next extent's start) */
  fullMapped: boolean;
  headLcn: number;
  headType: number;
  /** absolute byte offset of the pcluster */
  pa: number;
  plen: number;
  /** 'shifted' for an uncompressed (PLAIN) pcluster, else the algorithm id */
  algorithm: number | 'shifted';
  /** ztailpacking: the pcluster sits inline in the metadata */
  inline: boolean;
  /** absolute offset of the head's index entry */
  indexAt: number;
}

export interface ZHeaderInfo {
  headerOffset: number;
  advise: number;
  algorithms: [number, number];
  lclusterBits: number;
  idataSize: number;
}

/** Where the map header sits; null means the header is ignored (legacy without big pcluster/ztailpacking). */
export function zHeaderOffset(sb: Superblock, inode: Inode): number | null {
  if (
    inode.layout === EROFS_INODE_COMPRESSED_FULL &&
    !(sb.featureIncompat & (EROFS_FEATURE_INCOMPAT_BIG_PCLUSTER | EROFS_FEATURE_INCOMPAT_ZTAILPACKING))
  ) return null;
  return Math.ceil(inode.dataOffset / 8) * 8;
}

/** Decode and validate the 8-byte map header (`h` = its bytes, or null when ignored). */
export function parseZHeader(sb: Superblock, inode: Inode, headerOffset: number | null, h: Uint8Array | null): ZHeaderInfo {
  if (headerOffset === null || h === null) {
    return { headerOffset: -1, advise: 0, algorithms: [0, 0], lclusterBits: sb.blkszbits, idataSize: 0 };
  }
  const S = z_erofs_map_header.name;
  const F = z_erofs_map_header.f;
  const view = new DataView(h.buffer, h.byteOffset, h.byteLength);
  const clusterbits = h[F.h_clusterbits.offset]!;
  if (clusterbits >> Z_EROFS_FRAGMENT_INODE_BIT) throw new UnsupportedError('erofs fragments', `nid ${inode.nid}: the file lives in a packed inode (erofs-utils 1.6+)`);
  const advise = view.getUint16(F.h_advise.offset, true);
  if (advise & (Z_EROFS_ADVISE_INTERLACED_PCLUSTER | Z_EROFS_ADVISE_FRAGMENT_PCLUSTER)) {
    throw new UnsupportedError('erofs compression', `nid ${inode.nid}: h_advise 0x${advise.toString(16)} uses interlaced/fragment pclusters (erofs-utils 1.6+)`);
  }
  const alg = h[F.h_algorithmtype.offset]!;
  const algorithms: [number, number] = [alg & 15, alg >> 4];
  if (!(algorithms[0] < Z_EROFS_COMPRESSION_MAX && algorithms[1] < Z_EROFS_COMPRESSION_MAX)) fail(S, headerOffset + F.h_algorithmtype.offset, `nid ${inode.nid}: unknown algorithm type 0x${alg.toString(16)}`);
  const lclusterBits = sb.blkszbits + (clusterbits & 7);
  const big = advise & (Z_EROFS_ADVISE_BIG_PCLUSTER_1 | Z_EROFS_ADVISE_BIG_PCLUSTER_2);
  if (!(!big || (sb.featureIncompat & EROFS_FEATURE_INCOMPAT_BIG_PCLUSTER) !== 0)) fail(S, headerOffset + F.h_advise.offset, `nid ${inode.nid}: big pcluster without the superblock feature`);
  if (inode.layout === EROFS_INODE_COMPRESSED_COMPACT) {
    if (!(!(advise & Z_EROFS_ADVISE_BIG_PCLUSTER_1) === !(advise & Z_EROFS_ADVISE_BIG_PCLUSTER_2))) fail(S, headerOffset + F.h_advise.offset, `nid ${inode.nid}: big pcluster head1/head2 flags of compact indexes disagree`);
    if (lclusterBits !== 12) throw new UnsupportedError('erofs compression', `nid ${inode.nid}: compact indexes with ${2 ** lclusterBits}-byte lclusters`);
  }
  const inline = (advise & Z_EROFS_ADVISE_INLINE_PCLUSTER) !== 0;
  if (!(!inline || (sb.featureIncompat & EROFS_FEATURE_INCOMPAT_ZTAILPACKING) !== 0)) fail(S, headerOffset + F.h_advise.offset, `nid ${inode.nid}: inline pcluster without the ztailpacking feature`);
  return { headerOffset, advise, algorithms, lclusterBits, idataSize: inline ? view.getUint16(F.h_idata_size.offset, true) : 0 };
}

/** Byte range [start, end) of the index entries for `lclusters` entries, and the compact split. */
export function zIndexRange(inode: Inode, hdr: ZHeaderInfo, lclusters: number): { start: number; end: number; c4i: number; c2b: number } {
  const hOff = Math.ceil(inode.dataOffset / 8) * 8;
  if (inode.layout === EROFS_INODE_COMPRESSED_FULL) {
    const start = hOff + Z_EROFS_LEGACY_INDEX_OFFSET;
    return { start, end: start + lclusters * 8, c4i: 0, c2b: 0 };
  }
  const ebase = hOff + z_erofs_map_header.size;
  let c4i = ((32 - (ebase % 32)) / 4) | 0;
  if (c4i === 8) c4i = 0;
  const c2b = hdr.advise & Z_EROFS_ADVISE_COMPACTED_2B && c4i < lclusters ? Math.floor((lclusters - c4i) / 16) * 16 : 0;
  if (lclusters === 0) return { start: ebase, end: ebase, c4i, c2b };
  const { pos, shift } = compactPos(ebase, c4i, c2b, lclusters - 1);
  const packSize = (shift === 2 ? 2 : 16) << shift;
  return { start: ebase, end: pos - (pos % packSize) + packSize, c4i, c2b };
}

function compactPos(ebase: number, c4i: number, c2b: number, lcn: number): { pos: number; shift: number } {
  if (lcn < c4i) return { pos: ebase + lcn * 4, shift: 2 };
  let pos = ebase + c4i * 4;
  lcn -= c4i;
  if (lcn < c2b) return { pos: pos + lcn * 2, shift: 1 };
  pos += c2b * 2;
  lcn -= c2b;
  return { pos: pos + lcn * 4, shift: 2 };
}

function u16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}
function u32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

function loadLegacy(z: ZInfo, lcn: number): LRecord {
  const rel = lcn * 8;
  const at = z.indexOffset + rel;
  const b = z.index;
  const type = u16(b, rel) & Z_EROFS_LI_LCLUSTER_TYPE_MASK;
  const r: LRecord = { lcn, type, clusterofs: 0, delta0: 0, delta1: 0, pblk: 0, compressedBlks: 0, nextPackOff: at + 8, at };
  if (type === Z_EROFS_LCLUSTER_TYPE_NONHEAD) {
    r.clusterofs = z.lclusterSize;
    r.delta0 = u16(b, rel + 4);
    if (r.delta0 & Z_EROFS_LI_D0_CBLKCNT) {
      if (!((z.advise & Z_EROFS_ADVISE_BIG_PCLUSTER_1) !== 0)) fail(IDX, at, `nid ${z.nid}: CBLKCNT without big pcluster`);
      r.compressedBlks = r.delta0 & ~Z_EROFS_LI_D0_CBLKCNT;
      r.delta0 = 1;
    }
    r.delta1 = u16(b, rel + 6);
  } else {
    r.clusterofs = u16(b, rel + 2);
    r.pblk = u32(b, rel + 4);
  }
  return r;
}

function loadCompact(z: ZInfo, lcn: number): LRecord {
  const { pos, shift } = compactPos(z.indexOffset, z.compacted4bInitial, z.compacted2b, lcn);
  const vcnt = shift === 2 ? 2 : 16;
  const packSize = vcnt << shift;
  const base = pos - (pos % packSize);
  const rel = base - z.indexOffset;
  const b = z.index;
  const encodebits = ((packSize - 4) * 8) / vcnt;
  const lbits = z.lclusterBits;
  const lomask = z.lclusterSize - 1;
  let i = (pos - base) >> shift;
  let type = 0;
  const decode = (k: number): number => {
    const bit = encodebits * k;
    const v = u32(b, rel + (bit >> 3)) >>> (bit & 7);
    type = (v >>> lbits) & 3;
    return v & lomask;
  };
  const bigPcluster = (z.advise & Z_EROFS_ADVISE_BIG_PCLUSTER_1) !== 0;
  const r: LRecord = { lcn, type: 0, clusterofs: 0, delta0: 0, delta1: 0, pblk: 0, compressedBlks: 0, nextPackOff: base + packSize, at: base };
  let lo = decode(i);
  r.type = type;
  if (type === Z_EROFS_LCLUSTER_TYPE_NONHEAD) {
    r.clusterofs = z.lclusterSize;
    if (lo & Z_EROFS_LI_D0_CBLKCNT) {
      if (!(bigPcluster)) fail(IDX, base, `nid ${z.nid}: CBLKCNT without big pcluster`);
      r.compressedBlks = lo & ~Z_EROFS_LI_D0_CBLKCNT;
      r.delta0 = 1;
      return r;
    }
    if (i + 1 !== vcnt) {
      r.delta0 = lo;
      return r;
    }
    // the last entry of a pack stores delta[1]; delta[0] follows from the previous entry
    lo = decode(i - 1);
    if (type !== Z_EROFS_LCLUSTER_TYPE_NONHEAD) lo = 0;
    else if (lo & Z_EROFS_LI_D0_CBLKCNT) lo = 1;
    r.delta0 = lo + 1;
    return r;
  }
  r.clusterofs = lo;
  // a head's pblk = the pack's base_blkaddr + the blocks of the heads before it in this pack
  let nblk: number;
  if (!bigPcluster) {
    nblk = 1;
    while (i > 0) {
      --i;
      lo = decode(i);
      if (type === Z_EROFS_LCLUSTER_TYPE_NONHEAD) i -= lo;
      if (i >= 0) ++nblk;
    }
  } else {
    nblk = 0;
    while (i > 0) {
      --i;
      lo = decode(i);
      if (type === Z_EROFS_LCLUSTER_TYPE_NONHEAD) {
        if (lo & Z_EROFS_LI_D0_CBLKCNT) {
          --i;
          nblk += lo & ~Z_EROFS_LI_D0_CBLKCNT;
          continue;
        }
        // a plain delta of 0 or 1 cannot occur here and would walk forward forever
        if (!(lo > 1)) fail(IDX, base, `nid ${z.nid}: bad NONHEAD delta ${lo} inside a big-pcluster pack`);
        i -= lo - 2;
        continue;
      }
      ++nblk;
    }
  }
  r.pblk = (u32(b, rel + packSize - 4) + nblk) >>> 0;
  return r;
}

function load(z: ZInfo, lcn: number): LRecord {
  if (lcn < 0 || lcn >= z.lclusters) throw new FormatError(IDX, z.indexOffset, `nid ${z.nid}: lcluster ${lcn} is outside the ${z.lclusters} indexed`);
  const r = z.layout === EROFS_INODE_COMPRESSED_FULL ? loadLegacy(z, lcn) : loadCompact(z, lcn);
  if (r.type !== Z_EROFS_LCLUSTER_TYPE_NONHEAD) {
    if (!(r.clusterofs < z.lclusterSize)) fail(IDX, r.at, `nid ${z.nid}: clusterofs ${r.clusterofs} of lcluster ${lcn} is past the lcluster`);
  }
  return r;
}

/**
 * A copy of `m` with another CBLKCNT, built field by field as load builds records: a spread copy
 * has another hidden class, and the mapping functions that met both were deoptimized and compiled
 * again on every big extract.
 */
function withBlks(m: LRecord, compressedBlks: number): LRecord {
  return { lcn: m.lcn, type: m.type, clusterofs: m.clusterofs, delta0: m.delta0, delta1: m.delta1, pblk: m.pblk, compressedBlks, nextPackOff: m.nextPackOff, at: m.at };
}

/** Walk back from `m` by `dist` lclusters until a head; bounded because lcn strictly decreases. */
function lookback(z: ZInfo, m: LRecord, dist: number): LRecord {
  let lcn = m.lcn;
  let compressedBlks = m.compressedBlks;
  for (;;) {
    if (!(dist >= 1 && lcn >= dist)) fail(IDX, m.at, `nid ${z.nid}: bogus look-back distance ${dist} at lcluster ${lcn}`);
    lcn -= dist;
    m = load(z, lcn);
    if (m.compressedBlks) compressedBlks = m.compressedBlks;
    if (m.type === Z_EROFS_LCLUSTER_TYPE_NONHEAD) {
      dist = m.delta0;
      continue;
    }
    // keep the CBLKCNT seen on the way (it belongs to the first NONHEAD after this head)
    return withBlks(m, dist === 1 ? compressedBlks : 0);
  }
}

interface Head {
  m: LRecord;
  la: number;
  end: number;
  fullMapped: boolean;
  initial: LRecord;
}

/** The head lcluster of the extent holding `ofs` (first half of z_erofs_do_map_blocks). */
function findHead(z: ZInfo, ofs: number): Head {
  const lsize = z.lclusterSize;
  const initialLcn = Math.floor(ofs / lsize);
  const endoff = ofs - initialLcn * lsize;
  const initial = load(z, initialLcn);
  let m = initial;
  let end = (initialLcn + 1) * lsize;
  let fullMapped = false;
  if (m.type !== Z_EROFS_LCLUSTER_TYPE_NONHEAD && endoff >= m.clusterofs) {
    return { m, la: initialLcn * lsize + m.clusterofs, end, fullMapped, initial };
  }
  let dist: number;
  if (m.type !== Z_EROFS_LCLUSTER_TYPE_NONHEAD) {
    // this head's extent starts after ofs: ofs belongs to the previous extent, which ends here
    if (!(initialLcn > 0)) fail(IDX, m.at, `nid ${z.nid}: lcluster 0 starts at ${m.clusterofs}, not 0`);
    end = initialLcn * lsize + m.clusterofs;
    fullMapped = true;
    dist = 1;
    m = withBlks(m, 0);
  } else {
    dist = m.delta0;
  }
  m = lookback(z, m, dist);
  return { m, la: m.lcn * lsize + m.clusterofs, end, fullMapped, initial };
}

/** Map logical offset `ofs` (< size) to its extent (z_erofs_do_map_blocks). */
export function zMap(z: ZInfo, ofs: number): ZExtent {
  const { m, la, end, fullMapped } = findHead(z, ofs);
  const headType = m.type;
  let pa: number, plen: number, inline = false;
  if (z.tailHeadLcn >= 0 && m.lcn === z.tailHeadLcn) {
    pa = z.idataOffset;
    plen = z.idataSize;
    inline = true;
  } else {
    pa = m.pblk * z.blockSize;
    plen = compressedLength(z, m);
  }
  const algorithm = headType === Z_EROFS_LCLUSTER_TYPE_PLAIN ? 'shifted' : z.algorithms[headType === Z_EROFS_LCLUSTER_TYPE_HEAD2 ? 1 : 0];
  return { la, end, fullMapped, headLcn: m.lcn, headType, pa, plen, algorithm, inline, indexAt: m.at };
}

function compressedLength(z: ZInfo, head: LRecord): number {
  const lsize = z.lclusterSize;
  const bigFlag = head.type === Z_EROFS_LCLUSTER_TYPE_HEAD1 ? Z_EROFS_ADVISE_BIG_PCLUSTER_1 : head.type === Z_EROFS_LCLUSTER_TYPE_HEAD2 ? Z_EROFS_ADVISE_BIG_PCLUSTER_2 : 0;
  if (!(z.advise & bigFlag) || head.lcn + 1 >= z.lclusters) return lsize;
  let blks = head.compressedBlks;
  if (!blks) {
    const n = load(z, head.lcn + 1);
    if (n.type !== Z_EROFS_LCLUSTER_TYPE_NONHEAD) blks = lsize / z.blockSize;
    else {
      if (!(n.delta0 === 1 && n.compressedBlks > 0)) fail(IDX, n.at, `nid ${z.nid}: no CBLKCNT after the big-pcluster head at lcluster ${head.lcn}`);
      blks = n.compressedBlks;
    }
  }
  const plen = blks * z.blockSize;
  if (!(plen <= z.maxPclusterBytes)) fail(IDX, head.at, `nid ${z.nid}: pcluster of ${blks} blocks exceeds the ${z.maxPclusterBytes / z.blockSize}-block maximum`);
  return plen;
}

/**
 * ztailpacking (EROFS_GET_BLOCKS_FINDTAIL): the inline pcluster follows the pack holding the last
 * lcluster's entry, and belongs to the extent whose head the last byte maps to.
 */
export function zFindTail(z: ZInfo): void {
  const { m, initial } = findHead(z, z.size - 1);
  z.idataOffset = initial.nextPackOff;
  z.tailHeadLcn = m.lcn;
  const bs = z.blockSize;
  if (!(z.idataSize > 0 && (z.idataOffset % bs) + z.idataSize <= bs)) fail(z_erofs_map_header.name, z.idataOffset, `nid ${z.nid}: invalid tail-packing pcluster size ${z.idataSize}`);
}

/** Every extent head in order, for inodeDetails (at most `limit`). */
export function zExtents(z: ZInfo, limit: number): { extents: ZExtent[]; truncated: boolean } {
  const out: ZExtent[] = [];
  const lsize = z.lclusterSize;
  for (let lcn = 0; lcn < z.lclusters; lcn++) {
    const m = load(z, lcn);
    if (m.type === Z_EROFS_LCLUSTER_TYPE_NONHEAD) continue;
    const start = lcn * lsize + m.clusterofs;
    if (start >= z.size) break;
    if (out.length >= limit) return { extents: out, truncated: true };
    out.push(zMap(z, start));
  }
  for (let i = 0; i < out.length; i++) {
    const e = out[i]!;
    e.end = i + 1 < out.length ? out[i + 1]!.la : z.size;
    e.fullMapped = true;
  }
  return { extents: out, truncated: false };
}
