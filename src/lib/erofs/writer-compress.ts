/**
 * Compressed regular files for the EROFS writer (erofs-composefs-format.md §2.11,
 * erofs-modern-format.md §3), the way mkfs.erofs lays them out without ztailpacking:
 *
 * - File data is cut into extents. Each compressed extent is the longest prefix of the remaining
 *   data whose encoded stream fits one pcluster (`pclusterSize` bytes, one block by default),
 *   stored right-aligned in its blocks (0padding, incompat ZERO_PADDING). An extent is kept
 *   compressed only if it covers more bytes than the blocks it occupies; otherwise one block of
 *   raw data is stored instead (a PLAIN, "shifted" pcluster). The last ≤ 1 block of a file is
 *   always stored raw (what mkfs does without ztailpacking).
 * - A file stays compressed only if its pclusters take fewer blocks than the plain file would.
 * - One index entry per 4 KiB lcluster: the lcluster where an extent starts holds its head
 *   (start offset inside the lcluster, block address), the others NONHEAD with the distance back
 *   to the head (delta[0]) and forward to the next head (delta[1]). With big pclusters, the first
 *   NONHEAD after every compressed head carries the block count (CBLKCNT) instead. An EOF
 *   lcluster in which no extent starts gets a PLAIN entry whose offset is the file end.
 * - Indexes are compact (2-byte packs in the middle, 4-byte packs around them) by default, or
 *   full 8-byte entries (COMPRESSED_FULL) on request.
 * - LZ4 with one-block pclusters needs no configuration record; big pclusters and the other
 *   algorithms set COMPR_CFGS (= BIG_PCLUSTER) and write one record after the superblock.
 *
 * Encoders: LZ4 through lz4CompressDestSize ("fill this many bytes"); LZ4HC through
 * lz4hcCompressDestSize below (hash chains, lazy matching); zstd and DEFLATE, which have no
 * destination-size mode, by a short search over input lengths.
 */
import { deflateSync } from 'fflate';
import { lz4CompressDestSize } from '../codec/lz4-compress.ts';
import { zstdCompress, ZSTD_DEFAULT_LEVEL, ZSTD_MAX_LEVEL, ZSTD_MIN_LEVEL } from '../codec/zstd-encode.ts';
import { UnsupportedError } from '../errors.ts';
import type { Output } from './writer-output.ts';
import { roundUp } from './writer-output.ts';
import {
  EROFS_INODE_COMPRESSED_COMPACT, EROFS_INODE_COMPRESSED_FULL, Z_EROFS_ADVISE_BIG_PCLUSTER_1, Z_EROFS_ADVISE_BIG_PCLUSTER_2,
  Z_EROFS_ADVISE_COMPACTED_2B, Z_EROFS_COMPRESSION_DEFLATE, Z_EROFS_COMPRESSION_LZ4, Z_EROFS_COMPRESSION_ZSTD, Z_EROFS_LCLUSTER_TYPE_HEAD1,
  Z_EROFS_LCLUSTER_TYPE_NONHEAD, Z_EROFS_LCLUSTER_TYPE_PLAIN, Z_EROFS_LEGACY_INDEX_OFFSET, Z_EROFS_LI_D0_CBLKCNT, Z_EROFS_PCLUSTER_MAX_SIZE,
  erofs_compr_cfg_header, z_erofs_deflate_cfgs, z_erofs_lcluster_index, z_erofs_lz4_cfgs, z_erofs_map_header, z_erofs_zstd_cfgs,
} from './structs.ts';
import { encodeStruct } from '../struct.ts';
import { BLOCK_SIZE } from './writer-common.ts';
import { lz4hcCompressDestSize, LZ4HC_DEFAULT_LEVEL, LZ4HC_MAX_LEVEL, LZ4HC_MIN_LEVEL } from '../codec/lz4hc.ts';

export type ErofsAlgorithm = 'lz4' | 'lz4hc' | 'deflate' | 'zstd';

export interface ErofsCompression {
  algorithm: ErofsAlgorithm;
  /** lz4hc 1-12 (default 9), deflate 1-9 (default 6), zstd 1-9 (default 3); lz4 has none */
  level?: number;
  /** largest pcluster in bytes (mkfs -C): a multiple of 4096 up to 1 MiB; default 4096 */
  pclusterSize?: number;
  /** index layout: 'compact' (default, as mkfs) or 'full' (COMPRESSED_FULL, as -Elegacy-compress) */
  indexes?: 'compact' | 'full';
  /** mkfs -Eztailpacking: a file's last pcluster inline after its inode (incompat ZTAILPACKING) */
  ztailpacking?: boolean;
  /** mkfs -Efragments: file tails (and whole small files) in the packed inode (incompat FRAGMENTS) */
  fragments?: boolean;
  /** mkfs -Ededupe: identical compressed pclusters stored once */
  dedupe?: boolean;
}

export interface ZConfig {
  algorithm: ErofsAlgorithm;
  algId: number;
  level: number;
  pclusterBlocks: number;
  /** BIG_PCLUSTER_1|2 in every map header and CBLKCNT entries */
  big: boolean;
  /** COMPR_CFGS: available_compr_algs in sb u1 and a config record after the superblock */
  cfgs: boolean;
  compact: boolean;
  /** most input one pcluster may cover */
  maxIn: number;
}

/** input per pcluster is capped so delta[0] stays below CBLKCNT (0x800 lclusters) and zstd's window small */
const MAX_IN = 1 << 20;
const ZSTD_MAX_IN = 256 << 10;

export function resolveCompression(c: ErofsCompression): ZConfig {
  const algorithm = c.algorithm;
  const ps = c.pclusterSize ?? BLOCK_SIZE;
  if (!Number.isInteger(ps) || ps < BLOCK_SIZE || ps % BLOCK_SIZE !== 0 || ps > Z_EROFS_PCLUSTER_MAX_SIZE) {
    throw new RangeError(`pclusterSize ${ps}: a multiple of ${BLOCK_SIZE} up to ${Z_EROFS_PCLUSTER_MAX_SIZE}`);
  }
  const levelIn = (lo: number, hi: number, dflt: number): number => {
    const l = c.level ?? dflt;
    if (!Number.isInteger(l) || l < lo || l > hi) throw new UnsupportedError('erofs', `${algorithm} level ${l}: an integer from ${lo} to ${hi}`);
    return l;
  };
  let algId: number;
  let level = 0;
  let maxIn = MAX_IN;
  switch (algorithm) {
    case 'lz4':
      if (c.level !== undefined) throw new UnsupportedError('erofs', 'lz4 takes no level (use lz4hc)');
      algId = Z_EROFS_COMPRESSION_LZ4;
      break;
    case 'lz4hc':
      algId = Z_EROFS_COMPRESSION_LZ4;
      level = levelIn(LZ4HC_MIN_LEVEL, LZ4HC_MAX_LEVEL, LZ4HC_DEFAULT_LEVEL);
      break;
    case 'deflate':
      algId = Z_EROFS_COMPRESSION_DEFLATE;
      level = levelIn(1, 9, 6);
      break;
    case 'zstd':
      algId = Z_EROFS_COMPRESSION_ZSTD;
      level = levelIn(ZSTD_MIN_LEVEL, ZSTD_MAX_LEVEL, ZSTD_DEFAULT_LEVEL);
      maxIn = ZSTD_MAX_IN;
      break;
    default:
      throw new UnsupportedError('erofs', `compression algorithm ${String(algorithm)} (lz4, lz4hc, deflate, zstd)`);
  }
  const pclusterBlocks = ps / BLOCK_SIZE;
  // mkfs marks big pclusters on every inode of a non-LZ4 image (COMPR_CFGS is the same bit)
  const cfgs = pclusterBlocks > 1 || algId !== Z_EROFS_COMPRESSION_LZ4;
  return { algorithm, algId, level, pclusterBlocks, big: cfgs, cfgs, compact: (c.indexes ?? 'compact') === 'compact', maxIn };
}

// ---------------------------------------------------------------------------------------------
// encoders: the longest prefix of `src` whose stream fits `cap` bytes

interface Fit {
  stream: Uint8Array;
  consumed: number;
}

/** an encoder state across the pclusters of an image: the last ratio seeds the next search */
export interface Encoder {
  fit(src: Uint8Array, cap: number): Fit | null;
}

export function makeEncoder(z: ZConfig): Encoder {
  switch (z.algorithm) {
    case 'lz4':
      return { fit: (src, cap) => nonEmpty(lz4CompressDestSize(src, cap)) };
    case 'lz4hc':
      return { fit: (src, cap) => nonEmpty(lz4hcCompressDestSize(src, cap, z.level)) };
    case 'zstd':
      return searchEncoder((b) => zstdCompress(b, { level: z.level }));
    case 'deflate':
      return searchEncoder((b) => {
        const s = deflateSync(b, { level: z.level as 1 });
        // a first non-final stored block starts with 0x00, which 0padding would eat: set one of
        // the header's ignored padding bits (what mkfs's encoders do)
        if (s.length > 0 && s[0] === 0) s[0] = 0x08;
        return s;
      });
  }
}

function nonEmpty(f: { compressed: Uint8Array; consumed: number }): Fit | null {
  return f.consumed > 0 && f.compressed.length > 0 ? { stream: f.compressed, consumed: f.consumed } : null;
}

/**
 * For encoders without a destination-size mode: encode a guessed input length (from the last
 * ratio), then rescale by the observed ratio a few times, keeping the longest input that fit.
 * Gives up (null) when even the rescaled input could not exceed the capacity.
 */
function searchEncoder(enc: (b: Uint8Array) => Uint8Array): Encoder {
  let ratio = 3;
  return {
    fit(src, cap) {
      let n = Math.min(src.length, Math.max(cap + 1, Math.floor(cap * ratio)));
      let best: Fit | null = null;
      for (let iter = 0; iter < 8 && n > 0; iter++) {
        const s = enc(src.subarray(0, n));
        if (s.length <= cap) {
          if (!best || n > best.consumed) best = { stream: s, consumed: n };
          if (n === src.length) break;
          const next = Math.min(src.length, Math.floor((n * cap * 0.98) / s.length));
          if (next <= n + (n >> 5)) break;
          n = next;
        } else {
          const next = Math.floor((n * cap * 0.97) / s.length);
          if (next <= (best ? best.consumed : cap)) break;
          n = next;
        }
      }
      if (best) ratio = Math.max(1, best.consumed / cap);
      return best;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// one file

export interface ZExtent {
  /** file offset and length of the decoded bytes */
  start: number;
  len: number;
  raw: boolean;
  /** first block, relative to the file's first pcluster block, and block count */
  pblk: number;
  blocks: number;
}

export interface ZFile {
  extents: ZExtent[];
  /** every pcluster, back to back (blocks × 4096 bytes) */
  data: Uint8Array;
  blocks: number;
}

/**
 * Compress one file whose content arrives in pieces (`next`, in order, covering `size` bytes).
 * Returns null when compression would not save a block (the file is then stored plain).
 */
export async function compressFile(z: ZConfig, enc: Encoder, size: number, next: () => Promise<Uint8Array>): Promise<ZFile | null> {
  const cap = z.pclusterBlocks * BLOCK_SIZE;
  const plainBlocks = Math.ceil(size / BLOCK_SIZE);
  let buf = new Uint8Array(0);
  let bufStart = 0;
  let got = 0;
  const extents: ZExtent[] = [];
  const streams: Uint8Array[] = [];
  let blocks = 0;
  let pos = 0;
  while (pos < size) {
    const want = Math.min(size, pos + z.maxIn);
    while (got < want) {
      const piece = await next();
      const keep = buf.subarray(pos - bufStart);
      const nb = new Uint8Array(keep.length + piece.length);
      nb.set(keep);
      nb.set(piece, keep.length);
      buf = nb;
      bufStart = pos;
      got += piece.length;
    }
    const rem = size - pos;
    const window = buf.subarray(pos - bufStart, want - bufStart);
    let f: Fit | null = null;
    if (rem > BLOCK_SIZE) {
      f = enc.fit(window, cap);
      if (f && f.consumed <= roundUp(f.stream.length, BLOCK_SIZE)) f = null;
    }
    if (f) {
      if (f.stream[0] === 0) throw new Error(`EROFS writer bug: ${z.algorithm} stream starts with a zero byte (0padding would eat it)`);
      const nb = Math.ceil(f.stream.length / BLOCK_SIZE);
      extents.push({ start: pos, len: f.consumed, raw: false, pblk: blocks, blocks: nb });
      streams.push(f.stream.slice());
      blocks += nb;
      pos += f.consumed;
    } else {
      const len = Math.min(rem, BLOCK_SIZE);
      extents.push({ start: pos, len, raw: true, pblk: blocks, blocks: 1 });
      streams.push(window.slice(0, len));
      blocks += 1;
      pos += len;
    }
    // give up as soon as the file cannot end up smaller than plain
    if (blocks >= plainBlocks) {
      while (got < size) {
        const piece = await next();
        got += piece.length;
      }
      return null;
    }
  }
  const data = new Uint8Array(blocks * BLOCK_SIZE);
  for (let e = 0; e < extents.length; e++) {
    const x = extents[e]!;
    const s = streams[e]!;
    // raw data at the start of its block (shifted); encoded streams end at the pcluster end (0padding)
    data.set(s, x.raw ? x.pblk * BLOCK_SIZE : (x.pblk + x.blocks) * BLOCK_SIZE - s.length);
  }
  return { extents, data, blocks };
}

// ---------------------------------------------------------------------------------------------
// lcluster indexes

interface Entries {
  type: Uint8Array;
  /** heads: clusterofs; NONHEAD: delta[0] (with CBLKCNT: 0x800 | blocks) */
  lo: Uint16Array;
  /** NONHEAD: delta[1] */
  d1: Uint32Array;
  /** heads: block address relative to the file's first pcluster */
  pblk: Float64Array;
}

function lclusterEntries(z: ZConfig, size: number, f: ZFile): Entries {
  const N = Math.ceil(size / BLOCK_SIZE);
  const type = new Uint8Array(N).fill(0xff);
  const lo = new Uint16Array(N);
  const d1 = new Uint32Array(N);
  const pblk = new Float64Array(N);
  for (const x of f.extents) {
    const lh = Math.floor(x.start / BLOCK_SIZE);
    if (type[lh] !== 0xff && type[lh] !== Z_EROFS_LCLUSTER_TYPE_NONHEAD) throw new Error(`EROFS writer bug: two extents start in lcluster ${lh}`);
    type[lh] = x.raw ? Z_EROFS_LCLUSTER_TYPE_PLAIN : Z_EROFS_LCLUSTER_TYPE_HEAD1;
    lo[lh] = x.start % BLOCK_SIZE;
    pblk[lh] = x.pblk;
    const last = Math.floor((x.start + x.len - 1) / BLOCK_SIZE);
    for (let l = lh + 1; l <= last; l++) {
      type[l] = Z_EROFS_LCLUSTER_TYPE_NONHEAD;
      const d0 = l - lh;
      if (d0 >= Z_EROFS_LI_D0_CBLKCNT) throw new Error(`EROFS writer bug: extent of ${x.len} bytes spans ${d0 + 1} lclusters`);
      lo[l] = z.big && !x.raw && l === lh + 1 ? Z_EROFS_LI_D0_CBLKCNT | x.blocks : d0;
    }
  }
  // an EOF lcluster where no extent starts: PLAIN at the file end (never mapped)
  if (size % BLOCK_SIZE !== 0 && type[N - 1] === Z_EROFS_LCLUSTER_TYPE_NONHEAD) {
    type[N - 1] = Z_EROFS_LCLUSTER_TYPE_PLAIN;
    lo[N - 1] = size % BLOCK_SIZE;
    pblk[N - 1] = f.blocks;
  }
  let nextHead = N;
  for (let l = N - 1; l >= 0; l--) {
    if (type[l] === 0xff) throw new Error(`EROFS writer bug: lcluster ${l} has no entry`);
    if (type[l] === Z_EROFS_LCLUSTER_TYPE_NONHEAD) d1[l] = nextHead - l;
    else nextHead = l;
  }
  if (type[0] === Z_EROFS_LCLUSTER_TYPE_NONHEAD) throw new Error('EROFS writer bug: lcluster 0 is not a head');
  return { type, lo, d1, pblk };
}

/** offset of the map header from the inode start, for inode core + xattrs of `headBytes` */
export function mapHeaderOffset(headBytes: number): number {
  return roundUp(headBytes, 8);
}

function compactGeometry(z: ZConfig, headBytes: number, N: number): { c4i: number; c2b: number; bytes: number } {
  // inodes start 32-byte aligned, so ebase mod 32 is known before placement
  const ebase = mapHeaderOffset(headBytes) + z_erofs_map_header.size;
  const initial = ((32 - (ebase % 32)) / 4) & 7;
  const c4i = Math.min(initial, N);
  const c2b = initial < N ? Math.floor((N - initial) / 16) * 16 : 0;
  const rest = N - c4i - c2b;
  return { c4i, c2b, bytes: roundUp(4 * c4i + 2 * c2b + 4 * rest, 8) };
}

/** bytes after the inode core and xattrs: padding to 8, the map header, the indexes */
export function zMetaBytes(z: ZConfig, headBytes: number, size: number): number {
  const N = Math.ceil(size / BLOCK_SIZE);
  const idx = z.compact ? compactGeometry(z, headBytes, N).bytes : Z_EROFS_LEGACY_INDEX_OFFSET - z_erofs_map_header.size + N * z_erofs_lcluster_index.size;
  return mapHeaderOffset(headBytes) - headBytes + z_erofs_map_header.size + idx;
}

export function zLayout(z: ZConfig): number {
  return z.compact ? EROFS_INODE_COMPRESSED_COMPACT : EROFS_INODE_COMPRESSED_FULL;
}

/** the map header and indexes (from the map header on) of a file whose pclusters start at `blkaddr` */
export function encodeZMeta(z: ZConfig, headBytes: number, size: number, f: ZFile, blkaddr: number): Uint8Array {
  const e = lclusterEntries(z, size, f);
  const N = e.type.length;
  const total = zMetaBytes(z, headBytes, size) - (mapHeaderOffset(headBytes) - headBytes);
  const b = new Uint8Array(total);
  const v = new DataView(b.buffer);
  let advise = z.big ? Z_EROFS_ADVISE_BIG_PCLUSTER_1 | Z_EROFS_ADVISE_BIG_PCLUSTER_2 : 0;
  if (z.compact) advise |= Z_EROFS_ADVISE_COMPACTED_2B;
  encodeStruct(z_erofs_map_header, { h_reserved1: 0, h_idata_size: 0, h_advise: advise, h_algorithmtype: z.algId, h_clusterbits: 0 }, b);
  if (!z.compact) {
    const F = z_erofs_lcluster_index.f;
    for (let l = 0; l < N; l++) {
      const o = Z_EROFS_LEGACY_INDEX_OFFSET + l * z_erofs_lcluster_index.size;
      v.setUint16(o + F.di_advise.offset, e.type[l]!, true);
      if (e.type[l] === Z_EROFS_LCLUSTER_TYPE_NONHEAD) {
        v.setUint16(o + F.di_u.offset, e.lo[l]!, true);
        v.setUint16(o + F.di_u.offset + 2, Math.min(e.d1[l]!, 0xffff), true);
      } else {
        v.setUint16(o + F.di_clusterofs.offset, e.lo[l]!, true);
        v.setUint32(o + F.di_u.offset, blkaddr + e.pblk[l]!, true);
      }
    }
    return b;
  }
  const g = compactGeometry(z, headBytes, N);
  let at = z_erofs_map_header.size;
  let running = blkaddr;
  const packs = (first: number, count: number, vcnt: number) => {
    for (let p = first; p < first + count; p += vcnt) {
      running = encodePack(z, e, p, Math.min(vcnt, N - p), vcnt, b, v, at, blkaddr, running);
      at += vcnt === 2 ? 8 : 32;
    }
  };
  packs(0, g.c4i, 2);
  packs(g.c4i, g.c2b, 16);
  packs(g.c4i + g.c2b, N - g.c4i - g.c2b, 2);
  if (at !== b.length) throw new Error(`EROFS writer bug: compact indexes took ${at} bytes, planned ${b.length}`);
  return b;
}

/**
 * One pack of `vcnt` entries (real ones [first, first+real), the rest zero), then le32 base.
 * The base is chosen so the reader's count of blocks before each head in the pack gives that
 * head's block address; every head of the pack is checked against it.
 */
function encodePack(z: ZConfig, e: Entries, first: number, real: number, vcnt: number, b: Uint8Array, v: DataView, at: number, blkaddr: number, running: number): number {
  const bits = vcnt === 2 ? 16 : 14;
  const los = new Uint16Array(vcnt);
  const types = new Uint8Array(vcnt);
  for (let i = 0; i < real; i++) {
    const l = first + i;
    types[i] = e.type[l]!;
    if (e.type[l] !== Z_EROFS_LCLUSTER_TYPE_NONHEAD) los[i] = e.lo[l]!;
    else if (e.lo[l]! & Z_EROFS_LI_D0_CBLKCNT) los[i] = e.lo[l]!;
    else if (i === vcnt - 1) los[i] = Math.min(e.d1[l]!, Z_EROFS_LI_D0_CBLKCNT - 1);
    else los[i] = e.lo[l]!;
  }
  // bit string: entry i at bits [i*bits, (i+1)*bits): lo in the low 12 bits, type above
  let acc = 0n;
  for (let i = vcnt - 1; i >= 0; i--) acc = (acc << BigInt(bits)) | BigInt((types[i]! << 12) | los[i]!);
  const dataBytes = (vcnt * bits) / 8;
  for (let k = 0; k < dataBytes; k++) b[at + k] = Number((acc >> BigInt(8 * k)) & 0xffn);
  let base = -1;
  for (let i = 0; i < real; i++) {
    if (types[i] === Z_EROFS_LCLUSTER_TYPE_NONHEAD) continue;
    const want = blkaddr + e.pblk[first + i]!;
    const nblk = blocksBefore(z.big, los, types, i);
    if (base < 0) base = want - nblk;
    else if (base + nblk !== want) throw new Error(`EROFS writer bug: compact pack at lcluster ${first}: head ${first + i} at block ${want}, the pack says ${base + nblk}`);
  }
  if (base < 0) base = running;
  v.setUint32(at + dataBytes, base >>> 0, true);
  return base;
}

/** the reader's walk back from head `i` of a pack: blocks of the pclusters before it in the pack */
function blocksBefore(big: boolean, los: Uint16Array, types: Uint8Array, i: number): number {
  let nblk = big ? 0 : 1;
  let k = i;
  while (k > 0) {
    k--;
    const lo = los[k]!;
    if (types[k] === Z_EROFS_LCLUSTER_TYPE_NONHEAD) {
      if (big) {
        if (lo & Z_EROFS_LI_D0_CBLKCNT) {
          k--;
          nblk += lo & (Z_EROFS_LI_D0_CBLKCNT - 1);
          continue;
        }
        if (lo <= 1) throw new Error('EROFS writer bug: big-pcluster NONHEAD with delta 1 and no CBLKCNT');
        k -= lo - 2;
        continue;
      }
      k -= lo;
      if (k >= 0) nblk++;
      continue;
    }
    nblk++;
  }
  return nblk;
}

// ---------------------------------------------------------------------------------------------
// superblock pieces

/** sb u1 with COMPR_CFGS: available_compr_algs */
export function availableAlgs(z: ZConfig): number {
  return 1 << z.algId;
}

export function cfgRecordBytes(z: ZConfig): number {
  if (!z.cfgs) return 0;
  return erofs_compr_cfg_header.size + cfgPayload(z).size;
}

function cfgPayload(z: ZConfig) {
  return z.algId === Z_EROFS_COMPRESSION_LZ4 ? z_erofs_lz4_cfgs : z.algId === Z_EROFS_COMPRESSION_ZSTD ? z_erofs_zstd_cfgs : z_erofs_deflate_cfgs;
}

/** the configuration record that follows the superblock (COMPR_CFGS) */
export function emitCfgRecord(out: Output, z: ZConfig): void {
  if (!z.cfgs) return;
  const s = cfgPayload(z);
  const b = new Uint8Array(erofs_compr_cfg_header.size + s.size);
  encodeStruct(erofs_compr_cfg_header, { size: s.size }, b);
  const p = b.subarray(erofs_compr_cfg_header.size);
  if (s === z_erofs_lz4_cfgs) encodeStruct(z_erofs_lz4_cfgs, { max_distance: 65535, max_pclusterblks: z.pclusterBlocks, reserved: new Uint8Array(10) }, p);
  else if (s === z_erofs_zstd_cfgs) encodeStruct(z_erofs_zstd_cfgs, { format: 0, windowlog: Math.ceil(Math.log2(z.maxIn)) - 10, reserved: new Uint8Array(4) }, p);
  else encodeStruct(z_erofs_deflate_cfgs, { windowbits: 15, reserved: new Uint8Array(5) }, p);
  out.bytes(b);
}
