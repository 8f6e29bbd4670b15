/**
 * Data blob structures (§5): the reverse-tar section headers, the ToC, the blob meta (CI array +
 * 4096-byte header), the chunk digest array and an inlined bootstrap. Every function takes the blob's
 * ByteSource and checks each offset and length against it before reading.
 */
import { headerSum } from '../tar/structs.ts';
import { fail, FormatError, UnsupportedError } from '../errors.ts';
import type { ByteSource } from '../io/source.ts';
import { decodeStruct } from '../struct.ts';
import { blake3 } from '../codec/blake3.ts';
import { sha256Async } from '../codec/sha256.ts';
import { lz4Decompress } from '../codec/lz4.ts';
import { gzipDecompress } from '../codec/gzip.ts';
import { zstdDecompress } from '../codec/zstd.ts';
import {
  BF, BLOB_BATCH_CTX, BLOB_CI_V1, BLOB_CI_V2, BLOB_META_HEADER, BLOB_META_HEADER_SIZE, BLOB_META_MAGIC, BLOB_ZRAN_CTX,
  CF, CI2_FLAGS, TAR_BLOCK, TAR_HEADER, TOC_ENTRY, TOC_FLAGS, type Compressor, type Digester,
} from './structs.ts';
import { bytesEqual } from '../fs/types.ts';
import { compressorName, hex, idString, type RafsBlob, type RafsChunk } from './model.ts';
import { cipherOf, decryptUnit } from './crypt.ts';

/** Largest bootstrap we inflate from a blob (a bootstrap is metadata only; real ones are < 100 MB). */
export const MAX_INLINE_BOOTSTRAP = 1024 * 1024 * 1024;
/** Largest ToC we read (128 bytes per entry; real ones have 4-5 entries). */
const MAX_TOC = 1024 * 1024;
/** CI arrays: up to 2^24 chunks × 24 bytes, plus context tables. */
const MAX_CI = 2 ** 24 * 24 + 256 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Codecs

export function decompress(alg: Compressor, src: Uint8Array, size: number, structure: string, offset: number): Uint8Array {
  switch (alg) {
    case 'none':
      if (src.length !== size) throw new FormatError(structure, offset, `uncompressed data is ${src.length} bytes, expected ${size}`);
      return src;
    case 'lz4_block': return lz4Decompress(src, size, structure, offset);
    case 'gzip': return gzipDecompress(src, size, structure, offset);
    case 'zstd': {
      // the decoder allocates what the frame header announces: refuse a wrong size before it does
      const fcs = zstdContentSize(src);
      if (fcs !== null && fcs !== size) throw new FormatError(structure, offset, `zstd frame announces ${fcs} bytes, expected ${size}`);
      return zstdDecompress(src, size, structure, offset);
    }
  }
}

/** Frame_Content_Size from a zstd frame header (RFC 8878 §3.1.1.1), null when absent or unreadable. */
export function zstdContentSize(b: Uint8Array): number | null {
  if (b.length < 5 || b[0] !== 0x28 || b[1] !== 0xb5 || b[2] !== 0x2f || b[3] !== 0xfd) return null;
  const fhd = b[4]!;
  const single = (fhd >> 5) & 1;
  const fcsFlag = fhd >> 6;
  const fcsLen = [single ? 1 : 0, 2, 4, 8][fcsFlag]!;
  if (fcsLen === 0) return null;
  const at = 5 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3]!;
  if (at + fcsLen > b.length) return null;
  let v = 0;
  for (let i = fcsLen - 1; i >= 0; i--) v = v * 256 + b[at + i]!;
  return fcsLen === 2 ? v + 256 : v;
}

export async function digestOf(alg: Digester, data: Uint8Array): Promise<Uint8Array> {
  return alg === 'blake3' ? blake3(data) : sha256Async(data);
}

// ---------------------------------------------------------------------------------------------
// Reverse tar headers (§5.8)

export interface TarHeader {
  name: string;
  size: number;
  typeflag: number;
  /** absolute offset of the 512-byte header */
  offset: number;
}

function octal(field: Uint8Array): number | null {
  if (field.length > 0 && (field[0]! & 0x80) !== 0) {
    // GNU base-256: big-endian in the remaining bytes
    let v = 0;
    for (let i = 1; i < field.length; i++) v = v * 256 + field[i]!;
    return Number.isSafeInteger(v) ? v : null;
  }
  let v = 0;
  let seen = false;
  for (const b of field) {
    if (b === 0 || b === 0x20) {
      if (seen) break;
      continue;
    }
    if (b < 0x30 || b > 0x37) return null;
    v = v * 8 + (b - 0x30);
    seen = true;
  }
  return seen ? v : null;
}

/** A 512-byte GNU/ustar header with a valid checksum, or null. */
export function parseTarHeader(b: Uint8Array, offset: number): TarHeader | null {
  if (b.length !== TAR_BLOCK) return null;
  const h = decodeStruct(TAR_HEADER, b);
  const magic = idString(h.magic);
  if (magic !== 'ustar ' && magic !== 'ustar') return null;
  const want = octal(h.chksum);
  if (want === null) return null;
  if (headerSum(b) !== want) return null;
  const size = octal(h.size);
  if (size === null) return null;
  return { name: idString(h.name), size, typeflag: (h.typeflag as Uint8Array)[0]!, offset };
}

/** The tar header that ends at `end`, with the data it describes lying just before it. */
export async function tarHeaderBefore(src: ByteSource, end: number): Promise<TarHeader | null> {
  if (end < TAR_BLOCK || end > src.size) return null;
  const h = parseTarHeader(await src.read(end - TAR_BLOCK, TAR_BLOCK), end - TAR_BLOCK);
  if (!h || h.size > end - TAR_BLOCK) return null;
  return h;
}

/** Walk the reverse-tar sections from EOF backwards: [{name, dataOffset, size, header}]. */
export async function tarSections(src: ByteSource, maxSections = 64): Promise<{ name: string; dataOffset: number; size: number; headerOffset: number }[]> {
  const out: { name: string; dataOffset: number; size: number; headerOffset: number }[] = [];
  let end = src.size;
  while (out.length < maxSections) {
    const h = await tarHeaderBefore(src, end);
    if (!h) break;
    const dataOffset = h.offset - h.size;
    out.push({ name: h.name, dataOffset, size: h.size, headerOffset: h.offset });
    end = dataOffset;
  }
  return out.reverse();
}

// ---------------------------------------------------------------------------------------------
// ToC (§5.9)

export interface TocEntry {
  name: string;
  flags: number;
  compressor: 'none' | 'zstd' | 'lz4_block';
  digest: Uint8Array;
  compressedOffset: number;
  compressedSize: number;
  uncompressedSize: number;
  /** absolute offset of this 128-byte entry */
  entryOffset: number;
}

export interface BlobToc {
  /** where the entries start; the ToC occupies [offset, offset+size) including its tar header */
  offset: number;
  size: number;
  entries: TocEntry[];
  /** SHA-256 of entries + header */
  digest: Uint8Array;
  /** compared with the blob entry's blob_toc_digest, when the bootstrap gave one */
  digestMatches?: boolean;
}

function tocCompressor(flags: number, at: number): TocEntry['compressor'] {
  if (flags === TOC_FLAGS.NONE || flags === 0) return 'none';
  if (flags === TOC_FLAGS.ZSTD) return 'zstd';
  if (flags === TOC_FLAGS.LZ4_BLOCK) return 'lz4_block';
  throw new FormatError('rafs.toc_entry', at, `unknown compression flags 0x${flags.toString(16)}`);
}

/**
 * The blob's ToC: at [size − blob_toc_size, size) when the bootstrap says so (digest checked), else
 * auto-detected from a trailing `rafs.blob.toc` tar header. null when the blob has none.
 */
export async function readToc(src: ByteSource, blob?: Pick<RafsBlob, 'blobTocSize' | 'blobTocDigest'>): Promise<BlobToc | null> {
  let start: number;
  let end: number;
  if (blob?.blobTocSize) {
    const tocSize = blob.blobTocSize;
    if (!(tocSize <= src.size && tocSize >= TAR_BLOCK && (tocSize - TAR_BLOCK) % 128 === 0)) fail('rafs.toc', src.size - tocSize, `blob_toc_size ${tocSize} does not fit a ${src.size}-byte blob as 128-byte entries plus a tar header`);
    start = src.size - tocSize;
    end = src.size - TAR_BLOCK;
    const h = await tarHeaderBefore(src, src.size);
    if (!(h !== null && h.name === 'rafs.blob.toc' && h.size === tocSize - TAR_BLOCK)) fail('rafs.toc', end, 'blob_toc_size given but the blob does not end with a matching rafs.blob.toc tar header');
  } else {
    const h = await tarHeaderBefore(src, src.size);
    if (!h || h.name !== 'rafs.blob.toc') return null;
    if (!(h.size % 128 === 0 && h.size <= MAX_TOC)) fail('rafs.toc', h.offset, `ToC of ${h.size} bytes is not a whole number of 128-byte entries`);
    start = h.offset - h.size;
    end = h.offset;
  }
  if (!(end - start <= MAX_TOC)) fail('rafs.toc', start, `ToC of ${end - start} bytes is implausibly large`);
  const bytes = await src.read(start, src.size - start);
  const digest = await sha256Async(bytes);
  const entries: TocEntry[] = [];
  for (let at = 0; at + 128 <= end - start; at += 128) {
    const e = decodeStruct(TOC_ENTRY, bytes, at);
    const abs = start + at;
    const entry: TocEntry = {
      name: idString(e.name),
      flags: e.flags,
      compressor: tocCompressor(e.flags, abs),
      digest: e.uncompressed_digest.slice(),
      compressedOffset: e.compressed_offset,
      compressedSize: e.compressed_size,
      uncompressedSize: e.uncompressed_size,
      entryOffset: abs,
    };
    // offsets are checked when a section is read: image.blob's offset is unreliable in real blobs (§5.9)
    entries.push(entry);
  }
  const toc: BlobToc = { offset: start, size: src.size - start, entries, digest };
  if (blob?.blobTocDigest && blob.blobTocDigest.some((x) => x !== 0)) toc.digestMatches = bytesEqual(digest, blob.blobTocDigest);
  return toc;
}

/** One ToC section, decompressed and checked against its SHA-256. */
export async function readTocSection(src: ByteSource, e: TocEntry, maxSize: number): Promise<Uint8Array> {
  if (!(e.uncompressedSize <= maxSize)) fail('rafs.toc_entry', e.entryOffset, `${e.name}: ${e.uncompressedSize} bytes exceed the ${maxSize}-byte limit`);
  if (!(e.compressedSize <= src.size && e.compressedOffset <= src.size - e.compressedSize)) fail('rafs.toc_entry', e.entryOffset, `${e.name}: [${e.compressedOffset}, +${e.compressedSize}) is outside the ${src.size}-byte blob`);
  const raw = await src.read(e.compressedOffset, e.compressedSize);
  const data = decompress(e.compressor, raw, e.uncompressedSize, `rafs.toc.${e.name}`, e.compressedOffset);
  const d = await sha256Async(data);
  if (!(bytesEqual(d, e.digest))) fail(`rafs.toc.${e.name}`, e.compressedOffset, `SHA-256 ${hex(d)} differs from the ToC's ${hex(e.digest)}`);
  return data;
}

// ---------------------------------------------------------------------------------------------
// Inlined bootstrap (§5.10)

export interface InlineBootstrap {
  bytes: Uint8Array;
  /** 'toc': ToC image.boot entry (maybe zstd); 'tar': raw bytes before a trailing [image.boot] header */
  via: 'toc' | 'tar';
  /** where the (possibly compressed) bootstrap lies in the blob */
  offset: number;
  storedSize: number;
  toc?: BlobToc;
}

/** The bootstrap inlined into a data blob, or null when this blob carries none. */
export async function findInlineBootstrap(src: ByteSource): Promise<InlineBootstrap | null> {
  const toc = await readToc(src);
  if (toc) {
    const e = toc.entries.find((x) => x.name === 'image.boot');
    if (!e) return null;
    const bytes = await readTocSection(src, e, MAX_INLINE_BOOTSTRAP);
    return { bytes, via: 'toc', offset: e.compressedOffset, storedSize: e.compressedSize, toc };
  }
  const h = await tarHeaderBefore(src, src.size);
  if (!h || h.name !== 'image.boot') return null;
  if (!(h.size <= MAX_INLINE_BOOTSTRAP)) fail('rafs.tar_header', h.offset, `inlined bootstrap of ${h.size} bytes is implausibly large`);
  const bytes = await src.read(h.offset - h.size, h.size);
  return { bytes, via: 'tar', offset: h.offset - h.size, storedSize: h.size };
}

/** Cheap test on a blob's last 512 bytes: does it end with a ToC or an [image.boot] section? */
export async function looksLikeBlobWithBootstrap(src: ByteSource): Promise<boolean> {
  const h = await tarHeaderBefore(src, src.size);
  return h !== null && (h.name === 'rafs.blob.toc' || h.name === 'image.boot');
}

// ---------------------------------------------------------------------------------------------
// Blob meta: CI array and header (§5.3-5.6), digest array (§5.7)

export interface CiEntry {
  compressedOffset: number;
  compressedSize: number;
  uncompressedOffset: number;
  uncompressedSize: number;
  compressed: boolean;
  /** CI v2 flags byte (v1: COMPRESSED synthesised) */
  flags: number;
  /** CI v2 `data` (crc32, or context index << 32 | offset) */
  dataLo: number;
  dataHi: number;
}

const decodeHeader = (b: Uint8Array) => decodeStruct(BLOB_META_HEADER, b);
export type BlobMetaHeader = ReturnType<typeof decodeHeader>;

export interface BlobMeta {
  header: BlobMetaHeader;
  headerBytes: Uint8Array;
  headerOffset: number;
  features: number;
  ciCompressor: Compressor;
  version: 1 | 2;
  entryCount: number;
  /** uncompressed CI data: entries then context tables */
  ci: Uint8Array;
  zranCount: number;
  zranOffset: number;
  zranSize: number;
}

export function ciEntry(meta: BlobMeta, i: number): CiEntry {
  const size = meta.version === 1 ? BLOB_CI_V1.size : BLOB_CI_V2.size;
  const at = i * size;
  const structure = meta.version === 1 ? BLOB_CI_V1.name : BLOB_CI_V2.name;
  if (!(i >= 0 && i < meta.entryCount)) fail(structure, at, `chunk index ${i} is outside the ${meta.entryCount}-entry CI array`);
  if (meta.version === 1) {
    const e = decodeStruct(BLOB_CI_V1, meta.ci, at);
    const uncompressedSize = ((((e.uncomp_info_lo >>> 8) & 0xf) << 20) | (e.uncomp_info_hi >>> 12)) + 1;
    const uoff = (e.uncomp_info_lo >>> 12) * 4096 + (e.uncomp_info_hi & 0xfff) * 2 ** 32;
    const compressedSize = ((((e.comp_info_hi >>> 8) & 0xf) << 20) | (e.comp_info_hi >>> 12)) + 1;
    const compressedOffset = e.comp_info_lo + (e.comp_info_hi & 0xff) * 2 ** 32;
    const compressed = compressedSize !== uncompressedSize;
    return { compressedOffset, compressedSize, uncompressedOffset: uoff, uncompressedSize, compressed, flags: compressed ? CF.COMPRESSED : 0, dataLo: 0, dataHi: 0 };
  }
  const e = decodeStruct(BLOB_CI_V2, meta.ci, at);
  const flags = e.uncomp_info_hi >>> 24;
  return {
    uncompressedOffset: e.uncompressed_blk * 4096,
    uncompressedSize: (e.uncomp_info_hi & 0xffffff) + 1,
    compressedOffset: e.comp_info_lo + (e.comp_info_hi & 0xff) * 2 ** 32,
    compressedSize: e.comp_info_hi >>> 8,
    compressed: (flags & CI2_FLAGS.COMPRESSED) !== 0,
    flags,
    dataLo: e.data_lo,
    dataHi: e.data_hi,
  };
}

/** Batch context `i` (v2 BATCH chunks): the batch's compressed size and uncompressed size. */
export function batchContext(meta: BlobMeta, i: number): { compressedSize: number; uncompressedBatchSize: number } {
  if (!(i < meta.zranCount)) fail(BLOB_BATCH_CTX.name, meta.zranOffset, `batch index ${i} is outside the ${meta.zranCount} contexts`);
  const c = decodeStruct(BLOB_BATCH_CTX, meta.ci, meta.zranOffset + i * BLOB_BATCH_CTX.size);
  return { compressedSize: c.compressed_size, uncompressedBatchSize: c.uncompressed_batch_size };
}

export function zranContext(meta: BlobMeta, i: number) {
  if (!(i < meta.zranCount)) fail(BLOB_ZRAN_CTX.name, meta.zranOffset, `ZRAN index ${i} is outside the ${meta.zranCount} contexts`);
  return decodeStruct(BLOB_ZRAN_CTX, meta.ci, meta.zranOffset + i * BLOB_ZRAN_CTX.size);
}

/**
 * Parse a blob meta: from a data blob at the entry's ci_offset, or from a `<id>.blob.meta` cache file
 * (uncompressed CI padded to 4 KiB, then the header at EOF − 4096).
 */
export async function readBlobMeta(src: ByteSource, blob: RafsBlob, layout: 'blob' | 'cache' = 'blob', separate = false): Promise<BlobMeta> {
  // `separate`: src is the blob's RAFS meta blob (ZRAN / ref builds, rafs/zran.ts findSeparateMeta)
  if (!(!(blob.features & BF.SEPARATE) || layout === 'cache' || separate)) fail('rafs.v6.blob', -1, `blob ${blob.blobId}: its CI array lives in a separate RAFS meta blob (SEPARATE feature)`);
  // encrypted blobs (rafs/crypt.ts): the CI array and the header are XTS units in the blob; a cache file is plain
  const cipher = layout === 'blob' ? cipherOf(blob) : null;
  const ciOffset = blob.ciOffset ?? 0;
  const ciCsize = blob.ciCompressedSize ?? 0;
  const ciUsize = blob.ciUncompressedSize ?? 0;
  if (!(ciUsize <= MAX_CI && ciCsize <= MAX_CI)) fail('rafs.v6.blob', -1, `blob ${blob.blobId}: CI array of ${ciUsize} bytes is implausibly large`);
  const headerOffset = layout === 'cache' ? src.size - BLOB_META_HEADER_SIZE : ciOffset + ciCsize;
  if (!(headerOffset >= 0 && headerOffset + BLOB_META_HEADER_SIZE <= src.size)) fail(BLOB_META_HEADER.name, headerOffset, `blob meta header is outside the ${src.size}-byte ${src.name}`);
  const stored = await src.read(headerOffset, BLOB_META_HEADER_SIZE);
  const hb = cipher ? decryptUnit(cipher, stored, BLOB_META_HEADER.name, headerOffset) : stored;
  const header = decodeHeader(hb);
  if (!(header.s_magic === BLOB_META_MAGIC && header.s_magic2 === BLOB_META_MAGIC)) fail(BLOB_META_HEADER.name, headerOffset, `bad magic 0x${header.s_magic.toString(16)}/0x${header.s_magic2.toString(16)} (want 0xb10bb10b)`);
  const ciCompressor = compressorName(header.s_ci_compressor);
  if (!(ciCompressor !== undefined)) fail(BLOB_META_HEADER.name, headerOffset + BLOB_META_HEADER.f.s_ci_compressor.offset, `unknown CI compressor ${header.s_ci_compressor}`);
  const version = header.s_features & BF.CHUNK_INFO_V2 ? 2 : 1;
  const entrySize = version === 1 ? BLOB_CI_V1.size : BLOB_CI_V2.size;
  // the header describes itself; it must agree with the bootstrap's blob entry
  if (!(header.s_ci_uncompressed_size === ciUsize || layout === 'cache')) fail(BLOB_META_HEADER.name, headerOffset, `header says ${header.s_ci_uncompressed_size} uncompressed CI bytes, the blob table ${ciUsize}`);
  if (!(layout === 'cache' || (header.s_ci_offset === ciOffset && header.s_ci_compressed_size === ciCsize))) fail(BLOB_META_HEADER.name, headerOffset, `header places the CI at ${header.s_ci_offset} (+${header.s_ci_compressed_size}), the blob table at ${ciOffset} (+${ciCsize})`);
  const entryCount = header.s_ci_entries;
  if (blob.chunkCount !== undefined && !(entryCount === blob.chunkCount)) fail(BLOB_META_HEADER.name, headerOffset, `${entryCount} CI entries, the blob table says ${blob.chunkCount} chunks`);
  const usize = header.s_ci_uncompressed_size;
  if (!(usize <= MAX_CI && entryCount * entrySize <= usize)) fail(BLOB_META_HEADER.name, headerOffset, `${entryCount} CI v${version} entries do not fit ${usize} uncompressed bytes`);
  let ci: Uint8Array;
  if (layout === 'cache') {
    if (!(usize <= headerOffset)) fail(BLOB_META_HEADER.name, headerOffset, `CI of ${usize} bytes does not fit before the header`);
    ci = await src.read(0, usize);
  } else {
    if (!(ciOffset + ciCsize <= headerOffset)) fail('rafs.v6.blob', -1, 'CI array overlaps its header');
    const enc = await src.read(ciOffset, ciCsize);
    const raw = cipher ? decryptUnit(cipher, enc, 'rafs.blob_meta.ci', ciOffset) : enc;
    ci = header.s_ci_compressor === 0 ? raw : decompress(ciCompressor, raw, usize, 'rafs.blob_meta.ci', ciOffset);
    if (!(ci.length === usize)) fail('rafs.blob_meta.ci', ciOffset, `CI array is ${ci.length} bytes, header says ${usize}`);
  }
  const zranOffset = header.s_ci_zran_offset;
  const zranSize = header.s_ci_zran_size;
  const zranCount = header.s_ci_zran_count;
  if (zranCount > 0) {
    if (!(zranOffset >= entryCount * entrySize && zranOffset + zranCount * 40 <= usize && zranOffset + zranSize <= usize)) fail(BLOB_META_HEADER.name, headerOffset, `context table [${zranOffset}, +${zranSize}) with ${zranCount} contexts does not fit the ${usize}-byte CI data`);
  }
  return { header, headerBytes: hb, headerOffset, features: header.s_features, ciCompressor, version, entryCount, ci, zranCount, zranOffset, zranSize };
}

/**
 * The chunk digest array of a blob with INLINED_CHUNK_DIGEST: from the ToC `blob.digest` entry, or
 * right after the blob meta and its [blob.meta] tar header.
 */
export async function readDigestArray(src: ByteSource, blob: RafsBlob, meta: BlobMeta, toc: BlobToc | null): Promise<{ offset: number; bytes: Uint8Array } | null> {
  if (!(blob.features & BF.INLINED_CHUNK_DIGEST) && !(meta.features & BF.INLINED_CHUNK_DIGEST)) return null;
  const n = meta.entryCount;
  const e = toc?.entries.find((x) => x.name === 'blob.digest');
  if (e) {
    if (!(e.uncompressedSize === n * 32)) fail('rafs.toc_entry', e.entryOffset, `blob.digest holds ${e.uncompressedSize} bytes for ${n} chunks`);
    return { offset: e.compressedOffset, bytes: await readTocSection(src, e, n * 32) };
  }
  let at = meta.headerOffset + BLOB_META_HEADER_SIZE;
  if (blob.features & BF.HAS_TAR_HEADER) at += TAR_BLOCK;
  if (!(at + n * 32 <= src.size)) fail('rafs.blob.digest', at, `digest array of ${n} × 32 bytes is outside the ${src.size}-byte blob`);
  const bytes = await src.read(at, n * 32);
  if (blob.features & BF.HAS_TAR_HEADER) {
    const h = await tarHeaderBefore(src, at + n * 32 + TAR_BLOCK);
    if (!(h !== null && h.name === 'blob.digest' && h.size === n * 32)) fail('rafs.blob.digest', at + n * 32, 'no [blob.digest] tar header after the digest array');
  }
  return { offset: at, bytes };
}

/** Turn a CI row into a chunk (digest from the digest array, or unknown = zeros). */
export function chunkFromCi(e: CiEntry, blobIndex: number, ciIndex: number, digest: Uint8Array | undefined, fileOffset: number): RafsChunk {
  return {
    digest: digest ?? new Uint8Array(32),
    blobIndex,
    flags: (e.compressed ? CF.COMPRESSED : 0) | (e.flags & CI2_FLAGS.BATCH ? CF.BATCH : 0) | (e.flags & CI2_FLAGS.HAS_CRC32 ? CF.HAS_CRC32 : 0)
      | (e.flags & CI2_FLAGS.ENCRYPTED ? CF.ENCRYPTED : 0),
    compressed: e.compressed,
    compressedOffset: e.compressedOffset,
    compressedSize: e.compressedSize,
    uncompressedOffset: e.uncompressedOffset,
    uncompressedSize: e.uncompressedSize,
    fileOffset,
    index: ciIndex,
    crc32: e.flags & CI2_FLAGS.HAS_CRC32 ? e.dataLo : 0,
  };
}
