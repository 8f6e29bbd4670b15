/**
 * Compressed regular files for the EROFS writer (erofs-composefs-format.md §2.11,
 * erofs-modern-format.md §3), laid out as mkfs.erofs 1.9.3 does:
 *
 * - File data is cut into extents. Each compressed extent is the longest prefix of the remaining
 *   data whose encoded stream fits one pcluster (`pclusterSize` bytes, one block by default),
 *   stored right-aligned in its blocks (0padding, incompat ZERO_PADDING). An extent is kept
 *   compressed only if it covers more bytes than the blocks it occupies; otherwise one block of
 *   raw data is stored instead (a PLAIN pcluster: "shifted", or "interlaced" = rotated to the
 *   block offset it has in the file, which mkfs does with -Efragments unless deduplicating).
 * - The file's last extent (the tail): without -E options, its last ≤ 1 block is stored raw.
 *   With ztailpacking it is kept inline after the inode's indexes (compressed when that is
 *   smaller, else raw, if under a block); with fragments it goes to the packed inode — the tail
 *   that a single encoder call could finish, or the last pcluster size or less — and a file with nothing
 *   else becomes a whole-file fragment (map header bit 63). Identical fragments are stored once.
 * - dedupe (mkfs 1.9.3's rule): before encoding at a position, a stored pcluster (of this file or
 *   an earlier one) whose decoded bytes start at that position, or up to the previous extent's
 *   first block before it, is referenced instead: a rolling hash over one block finds candidates,
 *   SHA-256 of each block decides, and the previous extent is cut back to the match (it and a
 *   match shorter than its pcluster carry PARTIAL_REF: decode a prefix). Such files use full
 *   indexes (compact packs derive block addresses by counting and cannot mark partial heads).
 * - A file stays compressed only if its own pclusters take fewer blocks than the plain file would
 *   and something in it is encoded, shared or in the packed inode. With ztailpacking or fragments
 *   files of a block or less are compressed too (mkfs does: text-100 becomes 71 inline bytes).
 * - One index entry per lcluster (= block): the lcluster where an extent starts holds its head
 *   (start offset inside the lcluster, block address), the others NONHEAD with the distance back
 *   to the head (delta[0]) and forward to the next head (delta[1]). With big pclusters, the first
 *   NONHEAD after every compressed head carries the block count (CBLKCNT) instead. An EOF
 *   lcluster in which no extent starts gets a PLAIN entry whose offset is the file end.
 * - Indexes are compact (2-byte packs in the middle for lclusters ≤ 4 KiB, 4-byte packs around
 *   them; 4-byte packs only up to 16 KiB) by default, or full 8-byte entries (COMPRESSED_FULL) on
 *   request, for 32/64 KiB blocks, deduplicated files and whole-file fragments.
 * - LZ4 with one-block pclusters needs no configuration record; big pclusters and the other
 *   algorithms set COMPR_CFGS (= BIG_PCLUSTER) and write one record after the superblock.
 *
 * Encoders: LZ4 through lz4CompressDestSize ("fill this many bytes"); LZ4HC through
 * lz4hcCompressDestSizeShared (hash chains, lazy matching); zstd and DEFLATE, which have no
 * destination-size mode, by a short search over input lengths.
 */
import { deflateSync } from 'fflate';
import { crc32c } from '../codec/crc32c.ts';
import { lz4CompressDestSizeShared } from '../codec/lz4-compress.ts';
import { sha256 } from '../codec/sha256.ts';
import { zstdCompressDestSize, ZSTD_DEFAULT_LEVEL, ZSTD_MAX_LEVEL, ZSTD_MIN_LEVEL } from '../codec/zstd-encode.ts';
import { UnsupportedError } from '../errors.ts';
import { bytesEqual } from '../fs/types.ts';
import type { Output } from './writer-output.ts';
import { roundUp } from './writer-output.ts';
import {
  EROFS_INODE_COMPRESSED_COMPACT, EROFS_INODE_COMPRESSED_FULL, Z_EROFS_ADVISE_BIG_PCLUSTER_1, Z_EROFS_ADVISE_BIG_PCLUSTER_2,
  Z_EROFS_ADVISE_COMPACTED_2B, Z_EROFS_ADVISE_FRAGMENT_PCLUSTER, Z_EROFS_ADVISE_INLINE_PCLUSTER, Z_EROFS_ADVISE_INTERLACED_PCLUSTER,
  Z_EROFS_COMPRESSION_DEFLATE, Z_EROFS_COMPRESSION_LZ4, Z_EROFS_COMPRESSION_ZSTD, Z_EROFS_LCLUSTER_TYPE_HEAD1,
  Z_EROFS_LCLUSTER_TYPE_NONHEAD, Z_EROFS_LCLUSTER_TYPE_PLAIN, Z_EROFS_LEGACY_INDEX_OFFSET, Z_EROFS_LI_D0_CBLKCNT, Z_EROFS_LI_PARTIAL_REF, Z_EROFS_PCLUSTER_MAX_SIZE,
  erofs_compr_cfg_header, z_erofs_deflate_cfgs, z_erofs_lcluster_index, z_erofs_lz4_cfgs, z_erofs_map_header, z_erofs_zstd_cfgs,
} from './structs.ts';
import { encodeStruct } from '../struct.ts';
import { BLOCK_SIZE } from './writer-common.ts';
import { lz4hcCompressDestSizeShared, LZ4HC_DEFAULT_LEVEL, LZ4HC_MAX_LEVEL, LZ4HC_MIN_LEVEL } from '../codec/lz4hc.ts';

export type ErofsAlgorithm = 'lz4' | 'lz4hc' | 'deflate' | 'zstd';

export interface ErofsCompression {
  algorithm: ErofsAlgorithm;
  /** lz4hc 1-12 (default 9), deflate 1-9 (default 6), zstd 1-9 (default 3); lz4 has none */
  level?: number;
  /** largest pcluster in bytes (mkfs -C): a multiple of the block size, at most 1 MiB and 2047 blocks; default one block */
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
  /** block size = lcluster size, and its log2 */
  bs: number;
  bits: number;
  pclusterBlocks: number;
  /** BIG_PCLUSTER_1|2 in every map header and CBLKCNT entries */
  big: boolean;
  /** COMPR_CFGS: available_compr_algs in sb u1 and a config record after the superblock */
  cfgs: boolean;
  /** compact indexes where the file allows them */
  compact: boolean;
  /** most input one pcluster may cover */
  maxIn: number;
  ztail: boolean;
  fragments: boolean;
  dedupe: boolean;
  /** raw pclusters rotated to their in-file block offset (advise INTERLACED) */
  interlaced: boolean;
}

/** input per pcluster is capped so delta[0] stays below CBLKCNT (0x800 lclusters) and zstd's window small */
const MAX_IN = 1 << 20;
const ZSTD_MAX_IN = 256 << 10;
/** the largest delta[0] an index entry holds (the CBLKCNT bit is above it) */
const MAX_DELTA = Z_EROFS_LI_D0_CBLKCNT - 1;

export function resolveCompression(c: ErofsCompression, bs = BLOCK_SIZE): ZConfig {
  const algorithm = c.algorithm;
  const ps = c.pclusterSize ?? bs;
  if (!Number.isInteger(ps) || ps < bs || ps % bs !== 0 || ps > Z_EROFS_PCLUSTER_MAX_SIZE || ps / bs > MAX_DELTA) {
    throw new RangeError(`pclusterSize ${ps}: a multiple of the ${bs}-byte block up to ${Math.min(Z_EROFS_PCLUSTER_MAX_SIZE, MAX_DELTA * bs)}`);
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
  // an extent may start anywhere in its first lcluster: keep its last lcluster within delta[0]'s reach
  maxIn = Math.min(maxIn, (MAX_DELTA - 1) * bs);
  const pclusterBlocks = ps / bs;
  // mkfs marks big pclusters on every inode of a non-LZ4 image (COMPR_CFGS is the same bit)
  const cfgs = pclusterBlocks > 1 || algId !== Z_EROFS_COMPRESSION_LZ4;
  const fragments = c.fragments ?? false;
  const dedupe = c.dedupe ?? false;
  return {
    algorithm, algId, level, bs, bits: Math.log2(bs), pclusterBlocks, big: cfgs, cfgs, compact: (c.indexes ?? 'compact') === 'compact', maxIn,
    ztail: c.ztailpacking ?? false, fragments, dedupe, interlaced: fragments && !dedupe,
  };
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
  /** forget what earlier calls learnt, so identical files are cut identically (dedupe, fragments) */
  reset?(): void;
}

export function makeEncoder(z: ZConfig): Encoder {
  switch (z.algorithm) {
    case 'lz4':
      // a view of the encoder's buffer: compressFile copies each stream before the next fit
      return { fit: (src, cap) => nonEmpty(lz4CompressDestSizeShared(src, cap)) };
    case 'lz4hc':
      // a view too (lz4hcCompressDestSizeShared)
      return { fit: (src, cap) => nonEmpty(lz4hcCompressDestSizeShared(src, cap, z.level)) };
    case 'zstd':
      // one frame cut to the pcluster (zstdCompressDestSize): against searchEncoder's re-encodes of whole
      // guessed prefixes, 0.6-3.3% smaller images, level 9 -20-28% CPU, 64 KiB pclusters -5-16% CPU,
      // 4 KiB pclusters at levels 1-3 about equal (CLI on locale/bin of /usr, load 6-13, commit 2808e18)
      return { fit: (src, cap) => nonEmpty(zstdCompressDestSize(src, cap, { level: z.level })) };
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
    reset() {
      ratio = 3;
    },
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
  /** first block, relative to the owner's first pcluster block, and block count */
  pblk: number;
  blocks: number;
  /** -1: this file's own pcluster; else the node whose pcluster this deduplicated extent reuses */
  owner: number;
  /** dedupe: the pcluster was stored before (by this file or `owner`) */
  ref: boolean;
  /** the pcluster decodes to more than this extent (PARTIAL_REF: decode a prefix) */
  partial: boolean;
}

/** The last extent when it is not in a pcluster of its own: inline after the indexes, or a fragment. */
export interface ZTail {
  start: number;
  len: number;
  inline: boolean;
  /** inline: stored raw (PLAIN head) rather than encoded (HEAD1) */
  raw: boolean;
  /** inline: the bytes stored after the indexes */
  bytes: Uint8Array;
  /** fragment: offset in the packed inode's data */
  fragOff: number;
}

export interface ZFile {
  extents: ZExtent[];
  tail: ZTail | null;
  /**
   * this file's pclusters, back to back, as compressFile made them; null once handed to the
   * build's ZDataStore (`stored`, `dataLen`)
   */
  data: Uint8Array | null;
  /** the ZDataStore handle of the pclusters, -1 while `data` holds them (or there are none) */
  stored: number;
  /** bytes of pclusters in `data` or the store (a multiple of the block size) */
  dataLen: number;
  /** one more block after them: an inline tail dropInline moved out of the inode */
  extra: Uint8Array | null;
  /** blocks of pclusters, `extra` included */
  blocks: number;
  /** compact indexes (else COMPRESSED_FULL) */
  compact: boolean;
  /** raw pclusters are rotated (advise INTERLACED) */
  interlaced: boolean;
}

/** a pcluster stored once that later data may reference (dedupe) */
interface DupEntry {
  /** decoded bytes of the pcluster */
  len: number;
  raw: boolean;
  owner: number;
  pblk: number;
  blocks: number;
  /** SHA-256 of each block-sized piece of the decoded bytes (the last one may be shorter) */
  digests: Uint8Array[];
}

/** a match: the stored pcluster `entry` decodes to the `len` bytes at file offset `q` (a prefix when shorter) */
export interface DupMatch {
  q: number;
  len: number;
  entry: DupEntry;
}

/** candidates kept per rolling hash (the newest) */
const DUP_WAYS = 4;
/** positions verified (SHA-256 of a block) per match attempt */
const VERIFY_BUDGET = 16;
/** multiplier of the rolling hash (odd) over one block of bytes */
const ROLL_P = 0x01000193;
/** a bitmap of the rolling hashes' low bits screens positions before the Map lookup */
const FILTER_BITS = 24;

/**
 * Image-wide compression state: the encoder, the packed inode's data (fragments, deduplicated by
 * content) and the dedupe index of stored pclusters.
 */
export class ZImage {
  readonly enc: Encoder;
  private packed = new Uint8Array(1 << 16);
  packedSize = 0;
  private readonly frags = new Map<string, number[]>();
  private readonly dups = new Map<number, DupEntry[]>();
  /** compressFile's buffers, reused by one file after another: the read window and the pclusters being built */
  readonly scratch = { win: new Uint8Array(0), data: new Uint8Array(0) };
  constructor(readonly z: ZConfig) {
    this.enc = makeEncoder(z);
    let p = 1;
    for (let i = 1; i < z.bs; i++) p = Math.imul(p, ROLL_P) >>> 0;
    this.powTop = p;
  }

  /** offset of `b` in the packed inode's data (an identical earlier fragment is reused) */
  fragment(b: Uint8Array): number {
    const key = `${b.length}:${crc32c(b)}`;
    const known = this.frags.get(key);
    for (const off of known ?? []) if (bytesEqual(this.packed.subarray(off, off + b.length), b)) return off;
    if (this.packedSize + b.length > this.packed.length) {
      const nb = new Uint8Array(Math.max(this.packed.length * 2, this.packedSize + b.length));
      nb.set(this.packed.subarray(0, this.packedSize));
      this.packed = nb;
    }
    const off = this.packedSize;
    this.packed.set(b, off);
    this.packedSize += b.length;
    if (known) known.push(off);
    else this.frags.set(key, [off]);
    return off;
  }

  packedData(): Uint8Array {
    return this.packed.subarray(0, this.packedSize);
  }

  private readonly filter = new Uint8Array(1 << (FILTER_BITS - 3));
  /** P^(W-1) mod 2^32 for the rolling hash over W = bs bytes */
  private readonly powTop: number;
  private hashes = new Uint32Array(0);

  private rollInit(b: Uint8Array, at: number): number {
    let h = 0;
    for (let i = 0; i < this.z.bs; i++) h = (Math.imul(h, ROLL_P) + b[at + i]!) >>> 0;
    return h;
  }

  /**
   * mkfs 1.9.3's dedupe match (lib/dedupe.c): the last position q in [lo, pos] whose next block of
   * bytes starts a stored pcluster's decoded data (rolling hash, then SHA-256 of the block), with
   * the match extended block by block while the stored digests agree. It must reach past `pos`
   * (the previous extent is cut back to q) and pass `ok` (lcluster rules). `data` holds the file's
   * bytes from offset `base` on.
   */
  findDup(data: Uint8Array, base: number, lo: number, pos: number, ok: (m: DupMatch) => boolean): DupMatch | null {
    const W = this.z.bs;
    const hi = Math.min(pos, base + data.length - W);
    // a match must reach past pos, so bytes after pos must be there
    if (hi < lo || this.dups.size === 0 || base + data.length <= pos) return null;
    const n = hi - lo + 1;
    if (this.hashes.length < n) this.hashes = new Uint32Array(Math.max(n, this.hashes.length * 2));
    const hs = this.hashes;
    const top = this.powTop;
    const filter = this.filter;
    const mask = (1 << FILTER_BITS) - 1;
    let h = this.rollInit(data, lo - base);
    hs[0] = h;
    for (let i = lo - base + 1, end = hi - base, k = 1; i <= end; i++, k++) {
      h = (Math.imul((h - Math.imul(data[i - 1]!, top)) >>> 0, ROLL_P) + data[i + W - 1]!) >>> 0;
      hs[k] = h;
    }
    // repetitive data (zeros) matches the first block at every position: the budget bounds the
    // SHA-256 work of one call (the positions nearest pos are tried first)
    let budget = VERIFY_BUDGET;
    for (let q = hi; q >= lo && budget > 0; q--) {
      const hq = hs[q - lo]!;
      const fk = hq & mask;
      if ((filter[fk >>> 3]! & (1 << (fk & 7))) === 0) continue;
      const cands = this.dups.get(hq);
      if (!cands) continue;
      budget--;
      let first: Uint8Array | null = null;
      for (let c = cands.length - 1; c >= 0; c--) {
        const e = cands[c]!;
        first ??= sha256(data.subarray(q - base, q - base + W));
        if (!bytesEqual(first, e.digests[0]!)) continue;
        let len = Math.min(W, e.len);
        for (let k = 1; k < e.digests.length; k++) {
          const piece = Math.min(W, e.len - k * W);
          const at = q - base + k * W;
          if (at + piece > data.length || !bytesEqual(sha256(data.subarray(at, at + piece)), e.digests[k]!)) break;
          len += piece;
        }
        const m = { q, len, entry: e };
        if (q + len > pos && ok(m)) return m;
      }
    }
    return null;
  }

  /** pclusters of the file being compressed: usable at once, withdrawn if the file stays plain */
  private pending: [number, DupEntry][] = [];

  addDup(bytes: Uint8Array, e: Omit<DupEntry, 'len' | 'digests'>): void {
    const W = this.z.bs;
    if (bytes.length < W) return;
    const key = this.rollInit(bytes, 0);
    const digests: Uint8Array[] = [];
    for (let o = 0; o < bytes.length; o += W) digests.push(sha256(bytes.subarray(o, Math.min(bytes.length, o + W))));
    const entry: DupEntry = { ...e, len: bytes.length, digests };
    this.pending.push([key, entry]);
    const k = key & ((1 << FILTER_BITS) - 1);
    this.filter[k >>> 3] |= 1 << (k & 7);
    const list = this.dups.get(key);
    if (!list) this.dups.set(key, [entry]);
    else {
      list.push(entry);
      if (list.length > DUP_WAYS) list.shift();
    }
  }

  /** the current file keeps its pclusters (true) or is stored plain (false) */
  settleDups(keep: boolean): void {
    if (!keep) {
      for (const [key, entry] of this.pending) {
        const list = this.dups.get(key);
        const at = list ? list.indexOf(entry) : -1;
        if (at >= 0) list!.splice(at, 1);
      }
    }
    this.pending = [];
  }
}

/**
 * Compress one file (node `node`) whose content arrives in pieces (`next`, in order, covering
 * `size` bytes). Returns null when compression would not save a block (the file is then stored
 * plain).
 */
export async function compressFile(zi: ZImage, node: number, size: number, next: () => Promise<Uint8Array>): Promise<ZFile | null> {
  const z = zi.z;
  const bs = z.bs;
  const cap = z.pclusterBlocks * bs;
  const plainBlocks = Math.ceil(size / bs);
  // the read window and the pclusters are built in buffers reused across files (ZImage.scratch):
  // a fresh window per piece read and a copy of each stream were 1.1 s of 9.3 s (self time) plus
  // much of the 1.1 s of GC in a profile of `build -z lz4` on 530 MB of /usr/{bin,share/doc,lib/python3.11}
  let buf = zi.scratch.win;
  let bufStart = 0;
  let bufEnd = 0;
  let got = 0;
  const extents: ZExtent[] = [];
  let data = zi.scratch.data;
  /** store `s` in this file's pclusters at `at` (the pclusters are built in the reused buffer) */
  const put = (s: Uint8Array, at: number): void => {
    if (at + s.length > data.length) {
      const nd = new Uint8Array(Math.max(data.length * 2, roundUp(at + s.length, bs)));
      nd.set(data.subarray(0, blocks * bs));
      data = zi.scratch.data = nd;
    }
    data.set(s, at);
  };
  /** the pclusters before extent `x` is placed: zero from its first block on (0padding, short raw blocks) */
  const clear = (x: ZExtent): void => {
    const end = (x.pblk + x.blocks) * bs;
    if (end > data.length) put(new Uint8Array(0), end);
    data.fill(0, x.pblk * bs, end);
  };
  let tail: ZTail | null = null;
  let blocks = 0;
  let pos = 0;
  let hasRef = false;
  zi.enc.reset?.();
  const drain = async () => {
    while (got < size) got += (await next()).length;
  };
  while (pos < size) {
    const want = Math.min(size, pos + z.maxIn);
    const prev = extents.length ? extents[extents.length - 1]! : null;
    // keep the bytes from the previous extent's start on: a dedupe match may begin inside it
    const keepFrom = prev ? prev.start : pos;
    while (got < want) {
      const piece = await next();
      // move the kept bytes to the front, append the piece (the buffer grows only for a bigger piece)
      const keepLen = bufEnd - keepFrom;
      if (keepLen + piece.length > buf.length) {
        const nb = new Uint8Array(Math.max(buf.length * 2, keepLen + piece.length));
        nb.set(buf.subarray(keepFrom - bufStart, bufEnd - bufStart));
        buf = zi.scratch.win = nb;
      } else if (keepFrom !== bufStart) buf.copyWithin(0, keepFrom - bufStart, bufEnd - bufStart);
      buf.set(piece, keepLen);
      bufStart = keepFrom;
      bufEnd = keepFrom + keepLen + piece.length;
      got += piece.length;
    }
    const rem = size - pos;
    const window = buf.subarray(pos - bufStart, want - bufStart);
    if (z.dedupe) {
      // as mkfs: a match may start up to the previous extent's first block, which is then cut back
      const lo = prev && prev.len > bs ? pos - (prev.len - bs) : pos;
      const m = zi.findDup(buf.subarray(lo - bufStart, want - bufStart), lo, lo, pos, (m) => {
        // a big pcluster keeps its CBLKCNT entry: its extent spans two lclusters (mkfs' rule)
        if (m.q < pos && prev!.blocks > 1 && !prev!.raw && (prev!.start % bs) + (m.q - prev!.start) < 2 * bs) return false;
        return !(m.entry.blocks > 1 && !m.entry.raw && (m.q % bs) + m.len < 2 * bs);
      });
      if (m) {
        if (m.q < pos) {
          prev!.len = m.q - prev!.start;
          prev!.partial = true;
        }
        const e = m.entry;
        extents.push({ start: m.q, len: m.len, raw: e.raw, pblk: e.pblk, blocks: e.blocks, owner: e.owner === node ? -1 : e.owner, ref: true, partial: m.len < e.len });
        hasRef = true;
        pos = m.q + m.len;
        continue;
      }
    }
    // the rest of the file goes to the packed inode whole: at most a pcluster, and all in the window
    // (zstd reads 256 KiB at a time, less than a 1 MiB pcluster)
    const fragmentRest = z.fragments && rem <= cap && rem <= window.length;
    let f: Fit | null = null;
    if ((rem > bs && !fragmentRest) || (z.ztail && !z.fragments)) f = zi.enc.fit(window, cap);
    const all = f !== null && f.consumed === rem;
    if (f && f.stream[0] === 0) throw new Error(`EROFS writer bug: ${z.algorithm} stream starts with a zero byte (0padding would eat it)`);
    // mkfs: the final pcluster-size or less of input goes to the packed inode (its -C 65536 fixture:
    // random-96k.bin ends in a 36864-byte fragment), as does a tail one encoder call finished
    if (fragmentRest || (z.fragments && all)) {
      tail = { start: pos, len: rem, inline: false, raw: false, bytes: new Uint8Array(0), fragOff: zi.fragment(window.subarray(0, rem)) };
      break;
    }
    if (z.ztail && all && f!.stream.length < bs && f!.stream.length < rem) {
      tail = { start: pos, len: rem, inline: true, raw: false, bytes: f!.stream.slice(), fragOff: 0 };
      break;
    }
    if (z.ztail && rem < bs) {
      tail = { start: pos, len: rem, inline: true, raw: true, bytes: window.slice(0, rem), fragOff: 0 };
      break;
    }
    if (f && (rem <= bs || f.consumed <= roundUp(f.stream.length, bs))) f = null;
    if (f) {
      const nb = Math.ceil(f.stream.length / bs);
      if (z.dedupe) zi.addDup(window.subarray(0, f.consumed), { raw: false, owner: node, pblk: blocks, blocks: nb });
      const x: ZExtent = { start: pos, len: f.consumed, raw: false, pblk: blocks, blocks: nb, owner: -1, ref: false, partial: false };
      extents.push(x);
      clear(x);
      put(f.stream, (x.pblk + x.blocks) * bs - f.stream.length); // 0padding: the stream ends at the pcluster end
      blocks += nb;
      pos += f.consumed;
    } else {
      const len = Math.min(rem, bs);
      if (z.dedupe) zi.addDup(window.subarray(0, len), { raw: true, owner: node, pblk: blocks, blocks: 1 });
      const x: ZExtent = { start: pos, len, raw: true, pblk: blocks, blocks: 1, owner: -1, ref: false, partial: false };
      extents.push(x);
      clear(x);
      const s = window.subarray(0, len);
      if (!z.interlaced) put(s, x.pblk * bs); // shifted: at the block start
      else {
        // interlaced: byte j at block offset (start + j) mod bs
        const rot = x.start % bs;
        const first = Math.min(s.length, bs - rot);
        put(s.subarray(0, first), x.pblk * bs + rot);
        put(s.subarray(first), x.pblk * bs);
      }
      blocks += 1;
      pos += len;
    }
    // give up as soon as the file cannot end up smaller than plain
    if (blocks >= plainBlocks) {
      zi.settleDups(false);
      await drain();
      return null;
    }
  }
  await drain();
  // nothing encoded, shared or in the packed inode: the plain layout holds the same bytes with less metadata
  const encoded = extents.some((x) => !x.raw) || (tail !== null && !(tail.inline && tail.raw));
  if (!encoded && !hasRef) {
    zi.settleDups(false);
    return null;
  }
  if (tail && tail.fragOff >= 2 ** 32) throw new UnsupportedError('erofs', 'a packed inode over 4 GiB (64-bit fragment offsets)');
  // the file's own copy: the reused buffer is overwritten by the next file
  if (blocks * bs > data.length) put(new Uint8Array(0), blocks * bs);
  const own = data.slice(0, blocks * bs);
  zi.settleDups(true);
  const wholeFragment = tail !== null && !tail.inline && tail.start === 0;
  return { extents, tail, data: own, stored: -1, dataLen: own.length, extra: null, blocks, compact: z.compact && z.bits <= 14 && !hasRef && !wholeFragment, interlaced: z.interlaced };
}

/** a file handed to a pool thread: its node (dedupe owner; unused there) and its size */
export interface ZPoolFile {
  node: number;
  size: number;
}

/**
 * Compresses whole files off the calling thread (the CLI's worker threads, src/cli/compress-pool.ts).
 * Only for builds without dedupe or fragments: then a file's pclusters depend on its own bytes and
 * the config alone (compressFile resets the encoder per file; the LZ4/LZ4HC encoders put earlier
 * calls out of reach), so the image is byte-identical to the one-thread build's. mkfs.erofs 1.9
 * keeps those two on its main thread too.
 */
export interface ZFilePool {
  readonly threads: number;
  /**
   * Compress `files` on one thread with compressRun. `bytes` holds their content back to back and
   * is handed over (the caller keeps no reference; the pool may detach it); when shorter than the
   * sizes, the rest of the last file follows through `more`, and `taken` reports the length of each
   * such piece once the thread holds it (the caller bounds the bytes in flight).
   */
  begin(z: ZConfig, files: ZPoolFile[], bytes: Uint8Array, taken: (n: number) => void): ZPoolJob;
}

export interface ZPoolJob {
  /** the next piece of the last file (handed over too); an empty one ends the job with an error (the caller gave up) */
  more(bytes: Uint8Array): void;
  /** compressFile's result per file, in the order given */
  readonly result: Promise<(ZFile | null)[]>;
}

let registeredZPool: ZFilePool | null = null;

/** A runtime with threads registers its pool here (the CLI); the core never starts threads itself. */
export function useZFilePool(pool: ZFilePool | null): void {
  registeredZPool = pool;
}

export function zFilePool(): ZFilePool | null {
  return registeredZPool;
}

/**
 * A pool thread's side of ZFilePool.begin: compress `files` whose content is `bytes` back to back,
 * the last one continued by `more()` pieces when `bytes` ends early.
 */
export async function compressRun(zi: ZImage, files: readonly ZPoolFile[], bytes: Uint8Array, more: () => Promise<Uint8Array>): Promise<(ZFile | null)[]> {
  if (zi.z.dedupe || zi.z.fragments) throw new Error('EROFS writer bug: dedupe or fragments on a pool thread');
  const out: (ZFile | null)[] = [];
  let at = 0;
  for (const f of files) {
    let left = f.size;
    const next = async (): Promise<Uint8Array> => {
      let b: Uint8Array;
      if (at < bytes.length) {
        b = bytes.subarray(at, at + Math.min(left, bytes.length - at));
        at += b.length;
      } else b = await more();
      if (b.length === 0 || b.length > left) throw new Error(`EROFS writer bug: a ${b.length}-byte piece for ${left} bytes left of node ${f.node}`);
      left -= b.length;
      return b;
    };
    out.push(await compressFile(zi, f.node, f.size, next));
  }
  return out;
}

/**
 * An inline tail that does not fit next to its inode: stored in a one-block pcluster of its own
 * after the others (raw tails shifted, encoded ones right-aligned), as mkfs drops inline data.
 */
export function dropInline(z: ZConfig, f: ZFile): ZFile {
  const t = f.tail!;
  const bs = z.bs;
  // the new block goes after the others without touching them (they may be in a ZDataStore)
  if (f.extra) throw new Error('EROFS writer bug: a second inline tail dropped');
  const extra = new Uint8Array(bs);
  extra.set(t.bytes, t.raw ? 0 : bs - t.bytes.length);
  const x: ZExtent = { start: t.start, len: t.len, raw: t.raw, pblk: f.blocks, blocks: 1, owner: -1, ref: false, partial: false };
  if (t.raw && f.interlaced && t.start % bs !== 0) throw new Error('EROFS writer bug: an interlaced image with an inline tail');
  return { ...f, extents: [...f.extents, x], tail: null, extra, blocks: f.blocks + 1 };
}

/**
 * Where a build keeps the compressed pclusters between compressing a file (planning, where only
 * their length counts) and writing them (emit, in file order). The default keeps them in memory;
 * the CLI registers one backed by a temporary file (src/cli/zstore.ts), as the whole compressed
 * image would otherwise sit in memory until it is written.
 */
export interface ZDataStore {
  /** keep `data` (the store may copy it or keep the reference); returns its handle */
  put(data: Uint8Array): number;
  /** the `length` bytes put under `handle` (a buffer the caller may keep) */
  get(handle: number, length: number): Uint8Array | Promise<Uint8Array>;
  /** the build is over (written or failed): let go of everything */
  close(): void;
}

/** ZDataStore in memory: the references themselves */
export class MemoryZDataStore implements ZDataStore {
  private kept: (Uint8Array | null)[] = [];
  put(data: Uint8Array): number {
    this.kept.push(data);
    return this.kept.length - 1;
  }
  get(handle: number, length: number): Uint8Array {
    const d = this.kept[handle];
    if (!d || d.length !== length) throw new Error(`EROFS writer bug: stored pclusters ${handle} missing or not ${length} bytes`);
    return d;
  }
  close(): void {
    this.kept = [];
  }
}

let registeredZStore: (() => ZDataStore) | null = null;

/** A runtime with files registers a store maker here (the CLI); null = in memory. */
export function useZDataStore(make: (() => ZDataStore) | null): void {
  registeredZStore = make;
}

/** a new store for one build: the registered kind, else in memory */
export function newZDataStore(): ZDataStore {
  return registeredZStore ? registeredZStore() : new MemoryZDataStore();
}

/** hand `f`'s pclusters to `store` (from then on the file holds their handle and length only) */
export function storeZFile(store: ZDataStore, f: ZFile | null): ZFile | null {
  if (f?.data) {
    if (f.data.length > 0) f.stored = store.put(f.data);
    f.dataLen = f.data.length;
    f.data = null;
  }
  return f;
}

// ---------------------------------------------------------------------------------------------
// lcluster indexes

interface Entries {
  type: Uint8Array;
  /** heads: clusterofs; NONHEAD: delta[0] (with CBLKCNT: 0x800 | blocks) */
  lo: Uint16Array;
  /** NONHEAD: delta[1] */
  d1: Uint32Array;
  /** heads: absolute block address (a fragment or inline tail: one past the last own pcluster) */
  pblk: Float64Array;
  /** heads: PARTIAL_REF (full indexes only) */
  partial: Uint8Array;
}

/** the block address of an extent's pcluster: its owner's first block + pblk */
export type OwnerAddr = (owner: number) => number;

function lclusterEntries(z: ZConfig, size: number, f: ZFile, blkaddr: number, addrOf: OwnerAddr): Entries {
  const bs = z.bs;
  const N = Math.ceil(size / bs);
  const type = new Uint8Array(N).fill(0xff);
  const lo = new Uint16Array(N);
  const d1 = new Uint32Array(N);
  const pblk = new Float64Array(N);
  const partial = new Uint8Array(N);
  const put = (start: number, len: number, raw: boolean, addr: number, blocks: number, part = false) => {
    const lh = Math.floor(start / bs);
    if (type[lh] !== 0xff && type[lh] !== Z_EROFS_LCLUSTER_TYPE_NONHEAD) throw new Error(`EROFS writer bug: two extents start in lcluster ${lh}`);
    type[lh] = raw ? Z_EROFS_LCLUSTER_TYPE_PLAIN : Z_EROFS_LCLUSTER_TYPE_HEAD1;
    lo[lh] = start % bs;
    pblk[lh] = addr;
    partial[lh] = part ? 1 : 0;
    const last = Math.floor((start + len - 1) / bs);
    for (let l = lh + 1; l <= last; l++) {
      type[l] = Z_EROFS_LCLUSTER_TYPE_NONHEAD;
      const d0 = l - lh;
      if (d0 > MAX_DELTA) throw new Error(`EROFS writer bug: extent of ${len} bytes spans ${d0 + 1} lclusters`);
      lo[l] = z.big && !raw && l === lh + 1 ? Z_EROFS_LI_D0_CBLKCNT | blocks : d0;
    }
  };
  for (const x of f.extents) put(x.start, x.len, x.raw, (x.owner === -1 ? blkaddr : addrOf(x.owner)) + x.pblk, x.blocks, x.partial);
  // a tail outside the pclusters counts as one more block for the compact base arithmetic
  const t = f.tail;
  if (t) put(t.start, t.len, t.inline && t.raw, blkaddr + f.blocks, 1);
  // an EOF lcluster where no extent starts: PLAIN at the file end (never mapped)
  if (size % bs !== 0 && type[N - 1] === Z_EROFS_LCLUSTER_TYPE_NONHEAD) {
    type[N - 1] = Z_EROFS_LCLUSTER_TYPE_PLAIN;
    lo[N - 1] = size % bs;
    pblk[N - 1] = blkaddr + f.blocks + (t ? 1 : 0);
  }
  let nextHead = N;
  for (let l = N - 1; l >= 0; l--) {
    if (type[l] === 0xff) throw new Error(`EROFS writer bug: lcluster ${l} has no entry`);
    if (type[l] === Z_EROFS_LCLUSTER_TYPE_NONHEAD) d1[l] = nextHead - l;
    else nextHead = l;
  }
  if (type[0] === Z_EROFS_LCLUSTER_TYPE_NONHEAD) throw new Error('EROFS writer bug: lcluster 0 is not a head');
  return { type, lo, d1, pblk, partial };
}

/** offset of the map header from the inode start, for inode core + xattrs of `headBytes` */
export function mapHeaderOffset(headBytes: number): number {
  return roundUp(headBytes, 8);
}

/** bits of `lo` in a compact entry (12 at least: lo must hold the CBLKCNT bit) */
function loBits(z: ZConfig): number {
  return Math.max(z.bits, 12);
}

function compactGeometry(z: ZConfig, headBytes: number, N: number): { c4i: number; c2b: number; bytes: number } {
  // inodes start 32-byte aligned, so ebase mod 32 is known before placement
  const ebase = mapHeaderOffset(headBytes) + z_erofs_map_header.size;
  const initial = ((32 - (ebase % 32)) / 4) & 7;
  const c4i = Math.min(initial, N);
  // 2-byte packs hold 14 bits an entry: only for lo of 12 bits (lclusters up to 4 KiB)
  const c2b = loBits(z) === 12 && initial < N ? Math.floor((N - initial) / 16) * 16 : 0;
  const rest = N - c4i - c2b;
  return { c4i, c2b, bytes: roundUp(4 * c4i + 2 * c2b + 4 * rest, 8) };
}

/** bytes after the inode core and xattrs: padding to 8, the map header, the indexes (not an inline tail) */
export function zMetaBytes(z: ZConfig, f: ZFile, headBytes: number, size: number): number {
  const pad = mapHeaderOffset(headBytes) - headBytes;
  // a whole-file fragment: the header and the 8 reserved bytes of a full index area (as mkfs)
  if (isWholeFragment(f)) return pad + Z_EROFS_LEGACY_INDEX_OFFSET;
  const N = Math.ceil(size / z.bs);
  const idx = f.compact ? compactGeometry(z, headBytes, N).bytes : Z_EROFS_LEGACY_INDEX_OFFSET - z_erofs_map_header.size + N * z_erofs_lcluster_index.size;
  return pad + z_erofs_map_header.size + idx;
}

/**
 * Where a reader looks for the inline pcluster, relative to the inode start, derived as the kernel
 * does (z_erofs_map_blocks_fo: the end of the index pack that holds the last lcluster's entry),
 * independently of how the indexes were laid out: the writer checks the bytes land there.
 */
export function inlinePclusterOffset(z: ZConfig, f: ZFile, headBytes: number, size: number): number {
  const N = Math.ceil(size / z.bs);
  const h = mapHeaderOffset(headBytes);
  if (!f.compact) return h + Z_EROFS_LEGACY_INDEX_OFFSET + N * z_erofs_lcluster_index.size;
  const ebase = h + z_erofs_map_header.size;
  const { c4i, c2b } = compactGeometry(z, headBytes, N);
  const lcn = N - 1;
  let pos: number;
  let pack: number;
  if (lcn < c4i) [pos, pack] = [ebase + 4 * lcn, 8];
  else if (lcn - c4i < c2b) [pos, pack] = [ebase + 4 * c4i + 2 * (lcn - c4i), 32];
  else [pos, pack] = [ebase + 4 * c4i + 2 * c2b + 4 * (lcn - c4i - c2b), 8];
  // packs are aligned to their size in the meta space; inodes start 32-byte aligned
  return pos - (pos % pack) + pack;
}

function isWholeFragment(f: ZFile): boolean {
  return f.tail !== null && !f.tail.inline && f.tail.start === 0;
}

export function zLayout(f: ZFile): number {
  return f.compact ? EROFS_INODE_COMPRESSED_COMPACT : EROFS_INODE_COMPRESSED_FULL;
}

/**
 * The map header and indexes (from the map header on, without an inline tail) of a file whose
 * own pclusters start at `blkaddr`; `addrOf` gives the first block of other files' pclusters.
 */
export function encodeZMeta(z: ZConfig, f: ZFile, headBytes: number, size: number, blkaddr: number, addrOf: OwnerAddr): Uint8Array {
  const total = zMetaBytes(z, f, headBytes, size) - (mapHeaderOffset(headBytes) - headBytes);
  const b = new Uint8Array(total);
  const v = new DataView(b.buffer);
  const t = f.tail;
  if (isWholeFragment(f)) {
    // le64 fragment offset with bit 63 set (h_clusterbits bit 7)
    v.setUint32(0, t!.fragOff >>> 0, true);
    v.setUint32(4, (Math.floor(t!.fragOff / 2 ** 32) | 0x80000000) >>> 0, true);
    return b;
  }
  const e = lclusterEntries(z, size, f, blkaddr, addrOf);
  const N = e.type.length;
  let advise = z.big ? Z_EROFS_ADVISE_BIG_PCLUSTER_1 | Z_EROFS_ADVISE_BIG_PCLUSTER_2 : 0;
  const g = f.compact ? compactGeometry(z, headBytes, N) : null;
  if (f.compact && loBits(z) === 12) advise |= Z_EROFS_ADVISE_COMPACTED_2B;
  if (f.interlaced) advise |= Z_EROFS_ADVISE_INTERLACED_PCLUSTER;
  if (t?.inline) advise |= Z_EROFS_ADVISE_INLINE_PCLUSTER;
  if (t && !t.inline) advise |= Z_EROFS_ADVISE_FRAGMENT_PCLUSTER;
  encodeStruct(z_erofs_map_header, { h_reserved1: 0, h_idata_size: t?.inline ? t.bytes.length : 0, h_advise: advise, h_algorithmtype: z.algId, h_clusterbits: 0 }, b);
  // h_fragmentoff shares the first 4 bytes with h_reserved1 and h_idata_size
  if (t && !t.inline) v.setUint32(0, t.fragOff >>> 0, true);
  const tailHead = t ? Math.floor(t.start / z.bs) : -1;
  if (!g) {
    const F = z_erofs_lcluster_index.f;
    for (let l = 0; l < N; l++) {
      const o = Z_EROFS_LEGACY_INDEX_OFFSET + l * z_erofs_lcluster_index.size;
      v.setUint16(o + F.di_advise.offset, e.type[l]! | (e.partial[l] ? Z_EROFS_LI_PARTIAL_REF : 0), true);
      if (e.type[l] === Z_EROFS_LCLUSTER_TYPE_NONHEAD) {
        v.setUint16(o + F.di_u.offset, e.lo[l]!, true);
        v.setUint16(o + F.di_u.offset + 2, Math.min(e.d1[l]!, 0xffff), true);
      } else {
        v.setUint16(o + F.di_clusterofs.offset, e.lo[l]!, true);
        // a fragment tail's head holds the high 32 bits of the fragment offset
        v.setUint32(o + F.di_u.offset, l === tailHead && !t!.inline ? 0 : e.pblk[l]!, true);
      }
    }
    return b;
  }
  let at = z_erofs_map_header.size;
  let running = blkaddr;
  const packs = (first: number, count: number, vcnt: number) => {
    for (let p = first; p < first + count; p += vcnt) {
      running = encodePack(z, e, p, Math.min(vcnt, N - p), vcnt, b, v, at, running);
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
function encodePack(z: ZConfig, e: Entries, first: number, real: number, vcnt: number, b: Uint8Array, v: DataView, at: number, running: number): number {
  const bits = vcnt === 2 ? 16 : 14;
  const lobits = loBits(z);
  const los = new Uint16Array(vcnt);
  const types = new Uint8Array(vcnt);
  for (let i = 0; i < real; i++) {
    const l = first + i;
    types[i] = e.type[l]!;
    if (e.type[l] !== Z_EROFS_LCLUSTER_TYPE_NONHEAD) los[i] = e.lo[l]!;
    else if (e.lo[l]! & Z_EROFS_LI_D0_CBLKCNT) los[i] = e.lo[l]!;
    else if (i === vcnt - 1) los[i] = Math.min(e.d1[l]!, MAX_DELTA);
    else los[i] = e.lo[l]!;
  }
  // bit string: entry i at bits [i*bits, (i+1)*bits): lo in the low lobits, type above
  let acc = 0n;
  for (let i = vcnt - 1; i >= 0; i--) acc = (acc << BigInt(bits)) | BigInt((types[i]! << lobits) | los[i]!);
  const dataBytes = (vcnt * bits) / 8;
  for (let k = 0; k < dataBytes; k++) b[at + k] = Number((acc >> BigInt(8 * k)) & 0xffn);
  let base = -1;
  for (let i = 0; i < real; i++) {
    if (types[i] === Z_EROFS_LCLUSTER_TYPE_NONHEAD) continue;
    const want = e.pblk[first + i]!;
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
