/**
 * Compressed-file block mapping (erofs-composefs-format.md §2.11, erofs-modern-format.md §3):
 * lcluster indexes (full and compact, any lcluster size), encoded extents (48BIT images), inline
 * (ztailpacking) pclusters, tail and whole-file fragments in the packed inode, interlaced and
 * partially referenced pclusters. An inode's whole index (or extent table) is loaded once (its
 * size is bounded by the metadata it lies in) and every lookup is then synchronous. Every walk is
 * bounded: look-backs strictly decrease the lcluster number, in-pack scans are bounded by the
 * pack's entry count, extent searches by the record count.
 */
import { fail, FormatError, UnsupportedError } from '../errors.ts';
import type { Inode } from './inode.ts';
import {
  EROFS_FEATURE_INCOMPAT_48BIT,
  EROFS_FEATURE_INCOMPAT_BIG_PCLUSTER,
  EROFS_FEATURE_INCOMPAT_COMPR_CFGS,
  EROFS_FEATURE_INCOMPAT_FRAGMENTS,
  EROFS_FEATURE_INCOMPAT_ZTAILPACKING,
  EROFS_INODE_COMPRESSED_COMPACT,
  EROFS_INODE_COMPRESSED_FULL,
  Z_EROFS_ADVISE_BIG_PCLUSTER_1,
  Z_EROFS_ADVISE_BIG_PCLUSTER_2,
  Z_EROFS_ADVISE_COMPACTED_2B,
  Z_EROFS_ADVISE_EXTENTS,
  Z_EROFS_ADVISE_FRAGMENT_PCLUSTER,
  Z_EROFS_ADVISE_INLINE_PCLUSTER,
  Z_EROFS_ADVISE_INTERLACED_PCLUSTER,
  Z_EROFS_COMPRESSION_LZ4,
  Z_EROFS_COMPRESSION_MAX,
  Z_EROFS_EXTENT_PLEN_FMT_BIT,
  Z_EROFS_EXTENT_PLEN_MASK,
  Z_EROFS_EXTENT_PLEN_PARTIAL,
  Z_EROFS_FRAGMENT_INODE_BIT,
  Z_EROFS_LCLUSTER_TYPE_HEAD1,
  Z_EROFS_LCLUSTER_TYPE_HEAD2,
  Z_EROFS_LCLUSTER_TYPE_NONHEAD,
  Z_EROFS_LCLUSTER_TYPE_PLAIN,
  Z_EROFS_LEGACY_INDEX_OFFSET,
  Z_EROFS_LI_D0_CBLKCNT,
  Z_EROFS_LI_LCLUSTER_TYPE_MASK,
  Z_EROFS_LI_PARTIAL_REF,
  Z_EROFS_PCLUSTER_MAX_SIZE,
  z_erofs_extent,
  z_erofs_lcluster_index,
  z_erofs_map_header,
} from './structs.ts';
import type { Superblock } from './superblock.ts';

const IDX = 'erofs.lcluster_index';

/** How a compressed inode's extents are found. */
export type ZMode = 'index' | 'extents' | 'whole-fragment';

/** Everything needed to map a compressed inode; `index` holds its index bytes (and the inline pcluster). */
export interface ZInfo {
  nid: number;
  layout: number;
  size: number;
  mode: ZMode;
  /** absolute offset of the map header, -1 when a legacy header is ignored (no big pcluster/ztailpacking in the sb) */
  headerOffset: number;
  advise: number;
  algorithms: [number, number];
  lclusterBits: number;
  /** 2 ** lclusterBits (a power with a variable exponent is a libm call in optimized code) */
  lclusterSize: number;
  idataSize: number;
  /** number of index entries (lclusters) or extent records */
  lclusters: number;
  /** absolute offset of index[0] (or of the first extent record) */
  indexOffset: number;
  index: Uint8Array;
  /** compact layout only: entries in the initial 4-byte packs and in 2-byte packs */
  compacted4bInitial: number;
  compacted2b: number;
  blockSize: number;
  /** ztailpacking: absolute offset of the inline pcluster; with it or a tail fragment, the head lcluster of the tail extent */
  idataOffset: number;
  tailHeadLcn: number;
  /** the tail extent (or, for 'whole-fragment', the file) is in the packed inode at fragmentOff */
  fragment: boolean;
  fragmentOff: number;
  /** extents: bytes per record (4, 8, 16, 32) */
  recsz: number;
  /** extents of 4-byte records: each record's physical byte offset */
  extPa: Float64Array | null;
  /** algorithms the superblock makes available (bit per algorithm id) */
  availableAlgs: number;
  /** LZ4 pclusters: at most this many bytes (the LZ4 config record's max_pclusterblks) */
  maxLz4PclusterBytes: number;
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
  /** full indexes: the head's pcluster decodes to more than this extent (dedupe) */
  partialRef: boolean;
  nextPackOff: number;
  /** absolute offset of the entry (or of its pack), for error messages */
  at: number;
}

/** What a mapped extent's bytes are made from. */
export type ZAlgorithm = number | 'shifted' | 'interlaced' | 'zero' | 'fragment';

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
  /** absolute byte offset of the pcluster; for a fragment, its offset in the packed inode's data */
  pa: number;
  plen: number;
  /** an algorithm id, or 'shifted'/'interlaced' (uncompressed), 'zero' (unmapped), 'fragment' (packed inode) */
  algorithm: ZAlgorithm;
  /** ztailpacking: the pcluster sits inline in the metadata */
  inline: boolean;
  /** the pcluster decodes to more than the extent uses (PARTIAL_REF / extent PARTIAL) */
  partial: boolean;
  /** absolute offset of the head's index entry */
  indexAt: number;
}

export interface ZHeaderInfo {
  headerOffset: number;
  mode: ZMode;
  advise: number;
  algorithms: [number, number];
  lclusterBits: number;
  idataSize: number;
  fragment: boolean;
  fragmentOff: number;
  recsz: number;
  /** extents with 16/32-byte records: the record count from the header */
  extentCount: number;
}

/** Where the map header sits; null means the header is ignored (legacy without big pcluster/ztailpacking). */
export function zHeaderOffset(sb: Superblock, inode: Inode): number | null {
  if (
    inode.layout === EROFS_INODE_COMPRESSED_FULL &&
    !(sb.featureIncompat & (EROFS_FEATURE_INCOMPAT_BIG_PCLUSTER | EROFS_FEATURE_INCOMPAT_ZTAILPACKING | EROFS_FEATURE_INCOMPAT_FRAGMENTS | EROFS_FEATURE_INCOMPAT_48BIT))
  ) return null;
  return Math.ceil(inode.dataOffset / 8) * 8;
}

/** Decode and validate the 8-byte map header (`h` = its bytes, or null when ignored). */
export function parseZHeader(sb: Superblock, inode: Inode, headerOffset: number | null, h: Uint8Array | null): ZHeaderInfo {
  const none = { fragment: false, fragmentOff: 0, recsz: 0, extentCount: 0 };
  if (headerOffset === null || h === null) {
    return { headerOffset: -1, mode: 'index', advise: 0, algorithms: [0, 0], lclusterBits: sb.blkszbits, idataSize: 0, ...none };
  }
  const S = z_erofs_map_header.name;
  const F = z_erofs_map_header.f;
  const view = new DataView(h.buffer, h.byteOffset, h.byteLength);
  const clusterbits = h[F.h_clusterbits.offset]!;
  if (clusterbits >> Z_EROFS_FRAGMENT_INODE_BIT) {
    // the whole file is in the packed inode: the 8 bytes less bit 63 are its offset there
    if (!(sb.featureIncompat & EROFS_FEATURE_INCOMPAT_FRAGMENTS)) fail(S, headerOffset + F.h_clusterbits.offset, `nid ${inode.nid}: whole-file fragment without the fragments feature`);
    const hi = view.getUint32(4, true) & 0x7fffffff;
    if (!(hi < 0x200000)) fail(S, headerOffset, `nid ${inode.nid}: fragment offset does not fit in 53 bits`);
    const fragmentOff = view.getUint32(0, true) + hi * 0x1_0000_0000;
    return { headerOffset, mode: 'whole-fragment', advise: Z_EROFS_ADVISE_FRAGMENT_PCLUSTER, algorithms: [0, 0], lclusterBits: sb.blkszbits, idataSize: 0, fragment: true, fragmentOff, recsz: 0, extentCount: 0 };
  }
  const advise = view.getUint16(F.h_advise.offset, true);
  const fragment = (advise & Z_EROFS_ADVISE_FRAGMENT_PCLUSTER) !== 0;
  if (!(!fragment || (sb.featureIncompat & EROFS_FEATURE_INCOMPAT_FRAGMENTS) !== 0)) fail(S, headerOffset + F.h_advise.offset, `nid ${inode.nid}: fragment pcluster without the fragments feature`);
  const inline = (advise & Z_EROFS_ADVISE_INLINE_PCLUSTER) !== 0;
  if (!(!inline || (sb.featureIncompat & EROFS_FEATURE_INCOMPAT_ZTAILPACKING) !== 0)) fail(S, headerOffset + F.h_advise.offset, `nid ${inode.nid}: inline pcluster without the ztailpacking feature`);
  // bytes 0-3 are the fragment offset with FRAGMENT_PCLUSTER, else h_idata_size sits at 2
  const fragmentOff = fragment ? view.getUint32(0, true) : 0;
  const idataSize = inline && !fragment ? view.getUint16(F.h_idata_size.offset, true) : 0;
  const lclusterBits = sb.blkszbits + (clusterbits & 15);

  if (inode.layout === EROFS_INODE_COMPRESSED_FULL && advise & Z_EROFS_ADVISE_EXTENTS) {
    const recsz = 4 << ((advise >> 1) & 3);
    if (inline) throw new UnsupportedError('erofs compression', `nid ${inode.nid}: encoded extents with an inline pcluster (erofs-utils 1.9.3 never combines them)`);
    if (!(recsz > 8 || lclusterBits <= 40)) fail(S, headerOffset + F.h_clusterbits.offset, `nid ${inode.nid}: extents of 2^${lclusterBits} bytes`);
    // 16/32-byte records: the record count overlays h_reserved1/h_idata_size and the algorithm/clusterbits bytes
    const extentCount = recsz > 8 ? view.getUint32(0, true) + view.getUint16(6, true) * 0x1_0000_0000 : 0;
    return { headerOffset, mode: 'extents', advise, algorithms: [0, 0], lclusterBits, idataSize: 0, fragment, fragmentOff: recsz > 8 ? 0 : fragmentOff, recsz, extentCount };
  }

  const alg = h[F.h_algorithmtype.offset]!;
  const algorithms: [number, number] = [alg & 15, alg >> 4];
  if (!(algorithms[0] < Z_EROFS_COMPRESSION_MAX && algorithms[1] < Z_EROFS_COMPRESSION_MAX)) fail(S, headerOffset + F.h_algorithmtype.offset, `nid ${inode.nid}: unknown algorithm type 0x${alg.toString(16)}`);
  const big = advise & (Z_EROFS_ADVISE_BIG_PCLUSTER_1 | Z_EROFS_ADVISE_BIG_PCLUSTER_2);
  if (!(!big || (sb.featureIncompat & EROFS_FEATURE_INCOMPAT_BIG_PCLUSTER) !== 0)) fail(S, headerOffset + F.h_advise.offset, `nid ${inode.nid}: big pcluster without the superblock feature`);
  if (inode.layout === EROFS_INODE_COMPRESSED_COMPACT) {
    if (!(!(advise & Z_EROFS_ADVISE_BIG_PCLUSTER_1) === !(advise & Z_EROFS_ADVISE_BIG_PCLUSTER_2))) fail(S, headerOffset + F.h_advise.offset, `nid ${inode.nid}: big pcluster head1/head2 flags of compact indexes disagree`);
    // lo fields are max(lb, 12) bits, and a pack's entries 16 (4B) or 14 (2B) bits with the type
    if (!(lclusterBits <= 14)) fail(S, headerOffset + F.h_clusterbits.offset, `nid ${inode.nid}: compact indexes cannot hold ${2 ** lclusterBits}-byte lclusters`);
    if (advise & Z_EROFS_ADVISE_COMPACTED_2B && lclusterBits > 12) throw new UnsupportedError('erofs compression', `nid ${inode.nid}: 2-byte compact indexes with ${2 ** lclusterBits}-byte lclusters`);
    if (lclusterBits !== sb.blkszbits) throw new UnsupportedError('erofs compression', `nid ${inode.nid}: compact indexes with ${2 ** lclusterBits}-byte lclusters in ${sb.blockSize}-byte blocks`);
  } else if (!(lclusterBits <= 30)) fail(S, headerOffset + F.h_clusterbits.offset, `nid ${inode.nid}: lclusters of 2^${lclusterBits} bytes`);
  return { headerOffset, mode: 'index', advise, algorithms, lclusterBits, idataSize, fragment, fragmentOff, recsz: 0, extentCount: 0 };
}

/** Byte range [start, end) of the index entries for `lclusters` entries, and the compact split. */
export function zIndexRange(inode: Inode, hdr: ZHeaderInfo, lclusters: number): { start: number; end: number; c4i: number; c2b: number } {
  const hOff = Math.ceil(inode.dataOffset / 8) * 8;
  if (inode.layout === EROFS_INODE_COMPRESSED_FULL) {
    const start = hOff + Z_EROFS_LEGACY_INDEX_OFFSET;
    return { start, end: start + lclusters * z_erofs_lcluster_index.size, c4i: 0, c2b: 0 };
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

/**
 * Read a compressed inode's map (header, then its index or extent table, and an inline pcluster)
 * through `read` (bytes of the inode's metadata space, or null when they must be fetched first:
 * the caller retries). Validates what a lookup will trust.
 */
export function loadZInfo(sb: Superblock, i: Inode, read: (off: number, len: number, structure: string) => Uint8Array | null): ZInfo | null {
  const hOff = zHeaderOffset(sb, i);
  const hLen = z_erofs_map_header.size;
  const h = hOff === null ? null : read(hOff, hLen, z_erofs_map_header.name);
  if (hOff !== null && !h) return null;
  const hdr = parseZHeader(sb, i, hOff, h);
  const bs = sb.blockSize;
  const availableAlgs = sb.featureIncompat & EROFS_FEATURE_INCOMPAT_COMPR_CFGS ? sb.availableComprAlgs : 1 << Z_EROFS_COMPRESSION_LZ4;
  const z: ZInfo = {
    nid: i.nid,
    layout: i.layout,
    size: i.size,
    mode: hdr.mode,
    headerOffset: hdr.headerOffset,
    advise: hdr.advise,
    algorithms: hdr.algorithms,
    lclusterBits: hdr.lclusterBits,
    lclusterSize: 2 ** hdr.lclusterBits,
    idataSize: hdr.idataSize,
    lclusters: 0,
    indexOffset: hOff ?? 0,
    index: new Uint8Array(0),
    compacted4bInitial: 0,
    compacted2b: 0,
    blockSize: bs,
    idataOffset: -1,
    tailHeadLcn: -1,
    fragment: hdr.fragment,
    fragmentOff: hdr.fragmentOff,
    recsz: hdr.recsz,
    extPa: null,
    availableAlgs,
    maxLz4PclusterBytes: sb.lz4MaxPclusterBlks * bs,
    maxPclusterBytes: Z_EROFS_PCLUSTER_MAX_SIZE,
  };
  if (hdr.mode === 'whole-fragment') {
    z.tailHeadLcn = 0;
    return z;
  }
  if (hdr.mode === 'extents') {
    const S = z_erofs_extent.name;
    const recsz = hdr.recsz;
    let pos = Math.ceil((hOff! + hLen) / recsz) * recsz;
    let start = 0;
    if (recsz === 4) {
      const b = read(pos, 8, S);
      if (!b) return null;
      const v = new DataView(b.buffer, b.byteOffset, 8);
      const hi = v.getUint32(4, true);
      if (!(hi < 0x200000)) fail(S, pos, `nid ${i.nid}: extent start does not fit in 53 bits`);
      start = v.getUint32(0, true) + hi * 0x1_0000_0000;
      pos += 8;
    }
    const count = recsz > 8 ? hdr.extentCount : Math.ceil(i.size / z.lclusterSize);
    if (!(i.size === 0 || count >= 1)) fail(z_erofs_map_header.name, hOff!, `nid ${i.nid}: ${i.size} bytes in no extents`);
    if (!(count <= i.size)) fail(z_erofs_map_header.name, hOff!, `nid ${i.nid}: ${count} extents for ${i.size} bytes`);
    const b = read(pos, count * recsz, S);
    if (!b) return null;
    z.index = b;
    z.indexOffset = pos;
    z.lclusters = count;
    if (recsz === 4) {
      // each record's data follows the previous record's
      const pa = new Float64Array(count);
      let at = start;
      for (let k = 0; k < count; k++) {
        pa[k] = at;
        at += u32(b, k * 4) & Z_EROFS_EXTENT_PLEN_MASK;
      }
      z.extPa = pa;
    }
    if (z.fragment && count > 0) {
      // the last record names the fragment: plen, and for records with pstart, its low word as bits 32-63
      const rel = (count - 1) * recsz;
      const hi = recsz > 4 ? u32(b, rel + 4) : 0;
      if (!(hi < 0x200000)) fail(S, pos + rel, `nid ${i.nid}: fragment offset does not fit in 53 bits`);
      z.fragmentOff = u32(b, rel) + hi * 0x1_0000_0000;
    }
    return z;
  }
  // index layouts: compact readers count lclusters in blocks (erofs-utils and the kernel alike)
  const lclusters = i.layout === EROFS_INODE_COMPRESSED_COMPACT ? Math.ceil(i.size / bs) : Math.ceil(i.size / z.lclusterSize);
  const range = zIndexRange(i, hdr, lclusters);
  const inlineLen = hdr.idataSize;
  const stored = read(range.start, range.end - range.start + inlineLen, 'erofs.lcluster_index');
  if (!stored) return null;
  z.lclusters = lclusters;
  z.indexOffset = range.start;
  z.index = stored;
  z.compacted4bInitial = range.c4i;
  z.compacted2b = range.c2b;
  z.idataOffset = range.end;
  if ((inlineLen || z.fragment) && i.size > 0) zFindTail(z);
  return z;
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

/** z_erofs_lcluster_index fields; a NONHEAD entry's di_u holds le16 delta[0], delta[1] */
const LI = z_erofs_lcluster_index.f;

function loadLegacy(z: ZInfo, lcn: number): LRecord {
  const rel = lcn * z_erofs_lcluster_index.size;
  const at = z.indexOffset + rel;
  const b = z.index;
  const advise = u16(b, rel + LI.di_advise.offset);
  const type = advise & Z_EROFS_LI_LCLUSTER_TYPE_MASK;
  const r: LRecord = { lcn, type, clusterofs: 0, delta0: 0, delta1: 0, pblk: 0, compressedBlks: 0, partialRef: (advise & Z_EROFS_LI_PARTIAL_REF) !== 0, nextPackOff: at + z_erofs_lcluster_index.size, at };
  if (type === Z_EROFS_LCLUSTER_TYPE_NONHEAD) {
    r.clusterofs = z.lclusterSize;
    r.delta0 = u16(b, rel + LI.di_u.offset);
    if (r.delta0 & Z_EROFS_LI_D0_CBLKCNT) {
      if (!((z.advise & Z_EROFS_ADVISE_BIG_PCLUSTER_1) !== 0)) fail(IDX, at, `nid ${z.nid}: CBLKCNT without big pcluster`);
      r.compressedBlks = r.delta0 & ~Z_EROFS_LI_D0_CBLKCNT;
      r.delta0 = 1;
    }
    r.delta1 = u16(b, rel + LI.di_u.offset + 2);
  } else {
    r.clusterofs = u16(b, rel + LI.di_clusterofs.offset);
    r.pblk = u32(b, rel + LI.di_u.offset);
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
  // lo holds a clusterofs or a CBLKCNT (bit 11), so it is never narrower than 12 bits
  const lbits = z.lclusterBits > 12 ? z.lclusterBits : 12;
  const lomask = (1 << lbits) - 1;
  let i = (pos - base) >> shift;
  let type = 0;
  const decode = (k: number): number => {
    const bit = encodebits * k;
    const v = u32(b, rel + (bit >> 3)) >>> (bit & 7);
    type = (v >>> lbits) & 3;
    return v & lomask;
  };
  const bigPcluster = (z.advise & Z_EROFS_ADVISE_BIG_PCLUSTER_1) !== 0;
  const r: LRecord = { lcn, type: 0, clusterofs: 0, delta0: 0, delta1: 0, pblk: 0, compressedBlks: 0, partialRef: false, nextPackOff: base + packSize, at: base };
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
  return { lcn: m.lcn, type: m.type, clusterofs: m.clusterofs, delta0: m.delta0, delta1: m.delta1, pblk: m.pblk, compressedBlks, partialRef: m.partialRef, nextPackOff: m.nextPackOff, at: m.at };
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

/** Map logical offset `ofs` (< size) to its extent (z_erofs_do_map_blocks / z_erofs_map_blocks_ext). */
export function zMap(z: ZInfo, ofs: number): ZExtent {
  if (z.mode === 'extents') return zMapExtent(z, ofs);
  if (z.fragment && z.tailHeadLcn === 0) {
    // the whole file is one fragment
    return { la: 0, end: z.size, fullMapped: true, headLcn: 0, headType: Z_EROFS_LCLUSTER_TYPE_PLAIN, pa: z.fragmentOff, plen: 0, algorithm: 'fragment', inline: false, partial: false, indexAt: z.headerOffset };
  }
  const { m, la, end, fullMapped } = findHead(z, ofs);
  const headType = m.type;
  let pa: number, plen: number, inline = false;
  if (z.tailHeadLcn >= 0 && m.lcn === z.tailHeadLcn && z.idataSize > 0) {
    pa = z.idataOffset;
    plen = z.idataSize;
    inline = true;
  } else if (z.fragment && m.lcn === z.tailHeadLcn) {
    return { la, end: z.size, fullMapped: true, headLcn: m.lcn, headType, pa: z.fragmentOff, plen: 0, algorithm: 'fragment', inline: false, partial: false, indexAt: m.at };
  } else {
    pa = m.pblk * z.blockSize;
    plen = compressedLength(z, m);
  }
  let algorithm: ZAlgorithm;
  if (headType === Z_EROFS_LCLUSTER_TYPE_PLAIN) algorithm = z.advise & Z_EROFS_ADVISE_INTERLACED_PCLUSTER ? 'interlaced' : 'shifted';
  else {
    algorithm = z.algorithms[headType === Z_EROFS_LCLUSTER_TYPE_HEAD2 ? 1 : 0];
    if (!(z.availableAlgs & (1 << algorithm))) fail(IDX, m.at, `nid ${z.nid}: algorithm ${algorithm} is not among the image's available algorithms (0x${z.availableAlgs.toString(16)})`);
    if (algorithm === Z_EROFS_COMPRESSION_LZ4 && !inline && !(plen <= z.maxLz4PclusterBytes)) fail(IDX, m.at, `nid ${z.nid}: LZ4 pcluster of ${plen / z.blockSize} blocks exceeds the ${z.maxLz4PclusterBytes / z.blockSize}-block maximum`);
  }
  return { la, end, fullMapped, headLcn: m.lcn, headType, pa, plen, algorithm, inline, partial: m.partialRef, indexAt: m.at };
}

/** z_erofs_extent fields: a record holds the first recsz bytes of one */
const EX = z_erofs_extent.f;

/** encoded extents: record k's logical start */
function extentStart(z: ZInfo, k: number): number {
  if (z.recsz <= 8) return k * z.lclusterSize;
  const rel = k * z.recsz;
  return u32(z.index, rel + EX.lstart_lo.offset) + (z.recsz === 32 ? u32(z.index, rel + EX.lstart_hi.offset) * 0x1_0000_0000 : 0);
}

function zMapExtent(z: ZInfo, ofs: number): ZExtent {
  const S = z_erofs_extent.name;
  const n = z.lclusters;
  let k: number;
  if (z.recsz <= 8) k = Math.floor(ofs / z.lclusterSize);
  else {
    // the last record starting at or before ofs
    let lo = 0;
    let hi = n - 1;
    k = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (extentStart(z, mid) <= ofs) {
        k = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
  }
  if (!(k >= 0 && k < n)) fail(S, z.indexOffset, `nid ${z.nid}: no extent holds byte ${ofs}`);
  const rel = k * z.recsz;
  const at = z.indexOffset + rel;
  const la = extentStart(z, k);
  const end = k + 1 < n ? Math.min(extentStart(z, k + 1), z.size) : z.size;
  if (!(la <= ofs && ofs < end)) fail(S, at, `nid ${z.nid}: extent ${k} [${la}, ${end}) does not hold byte ${ofs}`);
  const base = { la, end, fullMapped: true, headLcn: k, headType: Z_EROFS_LCLUSTER_TYPE_HEAD1, inline: false, indexAt: at };
  if (z.fragment && k === n - 1) return { ...base, pa: z.fragmentOff, plen: 0, algorithm: 'fragment', partial: false };
  const raw = u32(z.index, rel + EX.plen.offset);
  const plen = raw & Z_EROFS_EXTENT_PLEN_MASK;
  if (plen === 0) return { ...base, pa: 0, plen: 0, algorithm: 'zero', partial: false };
  let pa: number;
  if (z.recsz === 4) pa = z.extPa![k]!;
  else if (z.recsz === 8) pa = u32(z.index, rel + EX.pstart_lo.offset);
  else {
    const hi = u32(z.index, rel + EX.pstart_hi.offset);
    if (!(hi < 0x200000)) fail(S, at + EX.pstart_hi.offset, `nid ${z.nid}: pstart does not fit in 53 bits`);
    pa = u32(z.index, rel + EX.pstart_lo.offset) + hi * 0x1_0000_0000;
  }
  const fmt = raw >>> Z_EROFS_EXTENT_PLEN_FMT_BIT;
  let algorithm: ZAlgorithm;
  if (fmt === 0) {
    const bs = z.blockSize;
    algorithm = z.advise & Z_EROFS_ADVISE_INTERLACED_PCLUSTER && pa % bs === 0 && plen % bs === 0 ? 'interlaced' : 'shifted';
  } else {
    algorithm = fmt - 1;
    if (!(algorithm < Z_EROFS_COMPRESSION_MAX && z.availableAlgs & (1 << algorithm))) fail(S, at, `nid ${z.nid}: extent format ${fmt} names an algorithm the image does not make available (0x${z.availableAlgs.toString(16)})`);
  }
  return { ...base, pa, plen, algorithm, partial: (raw & Z_EROFS_EXTENT_PLEN_PARTIAL) !== 0 };
}

function compressedLength(z: ZInfo, head: LRecord): number {
  const lsize = z.lclusterSize;
  const bigFlag = head.type === Z_EROFS_LCLUSTER_TYPE_HEAD1 ? Z_EROFS_ADVISE_BIG_PCLUSTER_1 : Z_EROFS_ADVISE_BIG_PCLUSTER_2;
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
  if (!(plen <= z.maxPclusterBytes)) fail(IDX, head.at, `nid ${z.nid}: pcluster of ${blks} blocks exceeds the ${z.maxPclusterBytes} bytes a pcluster may hold`);
  return plen;
}

/**
 * EROFS_GET_BLOCKS_FINDTAIL: the extent the last byte maps to is the tail. Its pcluster is the
 * inline one (which follows the pack holding the last lcluster's entry), or the tail fragment
 * (full indexes keep the fragment offset's high word in the tail head's blkaddr).
 */
export function zFindTail(z: ZInfo): void {
  const { m, initial } = findHead(z, z.size - 1);
  z.tailHeadLcn = m.lcn;
  if (z.fragment) {
    if (z.layout === EROFS_INODE_COMPRESSED_FULL) {
      if (!(m.pblk < 0x200000)) fail(IDX, m.at, `nid ${z.nid}: fragment offset does not fit in 53 bits`);
      z.fragmentOff += m.pblk * 0x1_0000_0000;
    }
    return;
  }
  z.idataOffset = initial.nextPackOff;
  const bs = z.blockSize;
  if (!(z.idataSize > 0 && (z.idataOffset % bs) + z.idataSize <= bs)) fail(z_erofs_map_header.name, z.idataOffset, `nid ${z.nid}: invalid tail-packing pcluster size ${z.idataSize}`);
}

/** Every extent in order, for inodeDetails (at most `limit`). */
export function zExtents(z: ZInfo, limit: number): { extents: ZExtent[]; truncated: boolean } {
  const out: ZExtent[] = [];
  if (z.size === 0) return { extents: out, truncated: false };
  if (z.mode !== 'index' || (z.fragment && z.tailHeadLcn === 0)) {
    // extents (and a whole-file fragment) map from the end down, each mapping giving its start
    for (let end = z.size; end > 0; ) {
      if (out.length >= limit) return { extents: out.reverse(), truncated: true };
      const e = zMap(z, end - 1);
      out.push(e);
      end = e.la;
    }
    return { extents: out.reverse(), truncated: false };
  }
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
