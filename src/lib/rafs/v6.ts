/**
 * RAFS v6 bootstrap reader (spec §4): an EROFS image whose regular files are chunk-based with chunk
 * indexes pointing into data blobs (EROFS extra devices). The EROFS structures come from
 * erofs/structs.ts; RAFS adds the ext superblock, the blob table, the chunk table and the prefetch table.
 */
import { check, fail, FormatError, isTypedError, NotFoundError, UnsupportedError } from '../errors.ts';
import { Lru } from '../lru.ts';
import { BytesSource, type ByteSource } from '../io/source.ts';
import { CachedSource } from '../io/cache.ts';
import { decodeStruct } from '../struct.ts';
import { nameText } from '../app/names.ts';
import { bytesEqual, compareBytes, type Attr, type DirEntry, type FileType, type ImageInfo, type StatFs } from '../fs/types.ts';
import {
  EROFS_CHUNK_FORMAT_BLKBITS_MASK, EROFS_DEVT_SLOT_SIZE, EROFS_INODE_CHUNK_BASED, EROFS_INODE_FLAT_INLINE, EROFS_INODE_FLAT_PLAIN,
  EROFS_MAGIC, EROFS_SLOTSIZE, EROFS_SUPER_OFFSET, erofs_deviceslot, erofs_dirent, erofs_inode_chunk_index, erofs_inode_compact,
  erofs_inode_extended, erofs_super_block, erofs_xattr_ibody_header, FILE_TYPE_NAMES, LAYOUT_NAMES,
} from '../erofs/structs.ts';
import { parseDeviceTable, parseSuperblock, type Superblock } from '../erofs/superblock.ts';
import { parseInode, type Inode } from '../erofs/inode.ts';
import { isDotOrDotDot, nameAt, parseDirBlock } from '../erofs/dir.ts';
import { parseIbodyHeader, parseInlineEntries } from '../erofs/xattr.ts';
import {
  BF, BLOB_FEATURES, CF, CHUNK_SIZE_MAX, CHUNK_SIZE_MIN, EROFS_FEATURE_COMPAT_RAFS_V6, RAFS_CHUNK_INFO, RAFS_V6_BLOB,
  RAFS_V6_DEVT_OFFSET, RAFS_V6_EXT_SB_OFFSET, RAFS_V6_EXT_SUPERBLOCK, SF, SUPER_FLAGS, SUPER_FLAGS_KNOWN, BLOB_FEATURES_INVALID,
  CIPHERS, flagNames, type Compressor, type Digester,
} from './structs.ts';
import {
  align, chunkJson, compressorName, digesterName, hex, idString, isPow2, pathString, throwIfAborted,
  type MetadataIssue, type RafsBlob, type RafsChunk, type RafsFs, type RafsOpenOptions,
} from './model.ts';
import { BlobStore, matchBlobs } from './blobstore.ts';
import { chunkFromCi, ciEntry } from './blob.ts';
import { readFileRange } from './filedata.ts';
import { ivFromEntry } from './crypt.ts';

const decodeSb = (b: Uint8Array, at: number) => decodeStruct(erofs_super_block, b, at);
const decodeExt = (b: Uint8Array, at: number) => decodeStruct(RAFS_V6_EXT_SUPERBLOCK, b, at);
export type RafsV6Superblock = ReturnType<typeof decodeSb>;
export type RafsV6ExtSuperblock = ReturnType<typeof decodeExt>;

const INCOMPAT_RAFS = 0x4 | 0x8; // CHUNKED_FILE | DEVICE_TABLE
const COMPRESSION_BITS = [SF.COMPRESSION_NONE, SF.COMPRESSION_LZ4, SF.COMPRESSION_GZIP, SF.COMPRESSION_ZSTD];
const HASH_BITS = [SF.HASH_BLAKE3, SF.HASH_SHA256];
const FT: Record<number, FileType> = { 1: 'reg', 2: 'dir', 3: 'chr', 4: 'blk', 5: 'fifo', 6: 'sock', 7: 'symlink' };

export interface V6Device {
  blobId: string;
  blocks: number;
  mappedBlkaddr: number;
}

export interface V6ChunkAddr {
  blobIndex: number;
  ciIndex: number;
  blkAddr: number;
  deviceId: number;
}

/** The EROFS inode plus what RAFS v6 makes of its chunk indexes. */
export interface V6Inode extends Inode {
  chunkFormat: number;
  chunkAddrs: V6ChunkAddr[];
}

export interface V6Dirent {
  nid: number;
  name: Uint8Array;
  fileType: number;
}

function onlyOne(flags: number, bits: readonly number[]): number | null {
  const set = bits.filter((b) => (flags & b) !== 0);
  return set.length === 1 ? set[0]! : null;
}

export function compressorOfV6Flags(flags: number): Compressor {
  if (flags & SF.COMPRESSION_NONE) return 'none';
  if (flags & SF.COMPRESSION_LZ4) return 'lz4_block';
  if (flags & SF.COMPRESSION_GZIP) return 'gzip';
  if (flags & SF.COMPRESSION_ZSTD) return 'zstd';
  return 'lz4_block';
}

/** Cheap probe on the first bytes: EROFS magic, the RAFS v6 compat bit and a sane ext superblock. */
export function isV6(head: Uint8Array): boolean {
  if (head.length < RAFS_V6_EXT_SB_OFFSET + RAFS_V6_EXT_SUPERBLOCK.size) return false;
  const sb = decodeSb(head, EROFS_SUPER_OFFSET);
  if (sb.magic !== EROFS_MAGIC || (sb.feature_compat & EROFS_FEATURE_COMPAT_RAFS_V6) === 0) return false;
  const ext = decodeExt(head, RAFS_V6_EXT_SB_OFFSET);
  return onlyOne(ext.s_flags, COMPRESSION_BITS) !== null && onlyOne(ext.s_flags, HASH_BITS) !== null && isPow2(ext.s_chunk_size);
}

export function validateV6Superblocks(sb: RafsV6Superblock, ext: RafsV6ExtSuperblock, fileSize: number): void {
  const S = erofs_super_block.name;
  const o = (k: keyof typeof erofs_super_block.f) => EROFS_SUPER_OFFSET + erofs_super_block.f[k].offset;
  if (!(sb.magic === EROFS_MAGIC)) fail(S, o('magic'), `bad magic 0x${sb.magic.toString(16)}`);
  if (!(sb.checksum === 0)) fail(S, o('checksum'), `checksum 0x${sb.checksum.toString(16)} must be 0 in RAFS v6`);
  if (!(sb.blkszbits === 12 || sb.blkszbits === 9)) fail(S, o('blkszbits'), `blkszbits ${sb.blkszbits} is neither 12 nor 9 (tarfs)`);
  const B = 2 ** sb.blkszbits;
  if (!(fileSize >= 4096 && fileSize % B === 0)) fail(S, 0, `bootstrap of ${fileSize} bytes is not a whole number of ${B}-byte blocks`);
  if (!(sb.sb_extslots === 0)) fail(S, o('sb_extslots'), `sb_extslots ${sb.sb_extslots} must be 0`);
  if (!(sb.inos !== 0 && Number.isSafeInteger(sb.inos))) fail(S, o('inos'), `inos ${sb.inos}`);
  if (!(sb.u1 === 0)) fail(S, o('u1'), `s_u ${sb.u1} must be 0`);
  if (!(sb.xattr_blkaddr === 0)) fail(S, o('xattr_blkaddr'), 'shared xattrs are not used by RAFS v6');
  if (!(sb.devt_slotoff * EROFS_DEVT_SLOT_SIZE === RAFS_V6_DEVT_OFFSET)) fail(S, o('devt_slotoff'), `devt_slotoff ${sb.devt_slotoff} is not 11`);
  if (!(sb.feature_incompat === INCOMPAT_RAFS)) fail(S, o('feature_incompat'), `feature_incompat 0x${sb.feature_incompat.toString(16)} is not 0xc`);
  if (!((sb.feature_compat & EROFS_FEATURE_COMPAT_RAFS_V6) !== 0)) fail(S, o('feature_compat'), 'RAFS v6 compat bit missing');
  if (!(sb.meta_blkaddr * B <= fileSize)) fail(S, o('meta_blkaddr'), `meta area at block ${sb.meta_blkaddr} is past the end`);
  const E = RAFS_V6_EXT_SUPERBLOCK.name;
  const eo = (k: keyof typeof RAFS_V6_EXT_SUPERBLOCK.f) => RAFS_V6_EXT_SB_OFFSET + RAFS_V6_EXT_SUPERBLOCK.f[k].offset;
  if (!(ext.s_flags <= 0xffff_ffff && (ext.s_flags & ~SUPER_FLAGS_KNOWN) === 0)) fail(E, eo('s_flags'), `unknown flag bits in 0x${ext.s_flags.toString(16)}`);
  if (!(onlyOne(ext.s_flags, COMPRESSION_BITS) !== null)) fail(E, eo('s_flags'), 'flags must name exactly one compressor');
  if (!(onlyOne(ext.s_flags, HASH_BITS) !== null)) fail(E, eo('s_flags'), 'flags must name exactly one digest');
  if (!(isPow2(ext.s_chunk_size) && ext.s_chunk_size >= CHUNK_SIZE_MIN && ext.s_chunk_size <= CHUNK_SIZE_MAX)) fail(E, eo('s_chunk_size'), `chunk size ${ext.s_chunk_size} is not a power of two in [4 KiB, 16 MiB]`);
  const devEnd = RAFS_V6_DEVT_OFFSET + sb.extra_devices * EROFS_DEVT_SLOT_SIZE;
  if (!(ext.s_blob_table_size % RAFS_V6_BLOB.size === 0)) fail(E, eo('s_blob_table_size'), `blob table size ${ext.s_blob_table_size} is not a multiple of 256`);
  if (!(ext.s_blob_table_size / RAFS_V6_BLOB.size === sb.extra_devices)) fail(E, eo('s_blob_table_size'), `${ext.s_blob_table_size / RAFS_V6_BLOB.size} blob entries for ${sb.extra_devices} device slots`);
  const ranges: [string, number, number, number][] = [];
  if (ext.s_blob_table_size > 0) {
    if (!(ext.s_blob_table_offset % 4096 === 0 && ext.s_blob_table_offset >= Math.max(4096, devEnd))) fail(E, eo('s_blob_table_offset'), `blob table offset ${ext.s_blob_table_offset} is not 4 KiB aligned after the device table`);
    ranges.push(['blob table', ext.s_blob_table_offset, ext.s_blob_table_size, eo('s_blob_table_offset')]);
  }
  if (ext.s_chunk_table_size > 0) {
    if (!(ext.s_chunk_table_offset % 4096 === 0 && ext.s_chunk_table_offset >= Math.max(4096, devEnd))) fail(E, eo('s_chunk_table_offset'), `chunk table offset ${ext.s_chunk_table_offset} is not 4 KiB aligned after the device table`);
    if (!(ext.s_chunk_table_size % RAFS_CHUNK_INFO.size === 0)) fail(E, eo('s_chunk_table_size'), `chunk table size ${ext.s_chunk_table_size} is not a multiple of 80`);
    ranges.push(['chunk table', ext.s_chunk_table_offset, ext.s_chunk_table_size, eo('s_chunk_table_offset')]);
  }
  if (ext.s_prefetch_table_offset !== 0 && ext.s_prefetch_table_size > 0) {
    if (!(ext.s_prefetch_table_size % 4 === 0)) fail(E, eo('s_prefetch_table_size'), `prefetch table size ${ext.s_prefetch_table_size} is not a multiple of 4`);
    if (!(ext.s_prefetch_table_offset >= devEnd)) fail(E, eo('s_prefetch_table_offset'), 'prefetch table overlaps the superblocks');
    ranges.push(['prefetch table', ext.s_prefetch_table_offset, ext.s_prefetch_table_size, eo('s_prefetch_table_offset')]);
  }
  for (const [name, off, len, at] of ranges) {
    if (!(Number.isSafeInteger(off) && Number.isSafeInteger(len) && off <= fileSize && len <= fileSize - off)) fail(E, at, `${name} [${off}, +${len}) is outside the ${fileSize}-byte bootstrap`);
  }
  for (let i = 0; i < ranges.length; i++) {
    for (let j = i + 1; j < ranges.length; j++) {
      const a = ranges[i]!;
      const b = ranges[j]!;
      if (!(a[1] + a[2] <= b[1] || b[1] + b[2] <= a[1])) fail(E, b[3], `${a[0]} [${a[1]}, +${a[2]}) overlaps ${b[0]} [${b[1]}, +${b[2]})`);
    }
  }
  if (!(devEnd <= fileSize)) fail(S, o('extra_devices'), `${sb.extra_devices} device slots run past the end`);
}

function parseBlobEntry(b: Uint8Array, at: number, i: number, ext: RafsV6ExtSuperblock, tarfs: boolean): RafsBlob {
  const e = decodeStruct(RAFS_V6_BLOB, b, 0);
  const S = RAFS_V6_BLOB.name;
  const f = RAFS_V6_BLOB.f;
  const id = idString(e.blob_id);
  if (!(id.length > 0)) fail(S, at, 'empty blob id');
  if (!(e.blob_index === i)) fail(S, at + f.blob_index.offset, `blob_index ${e.blob_index} at position ${i}`);
  if (!(e.chunk_size === ext.s_chunk_size)) fail(S, at + f.chunk_size.offset, `chunk_size ${e.chunk_size} differs from the superblock's ${ext.s_chunk_size}`);
  if (!(e.chunk_count <= 2 ** 24)) fail(S, at + f.chunk_count.offset, `chunk_count ${e.chunk_count} exceeds 2^24`);
  const compressor = compressorName(e.compression_algo);
  if (!(compressor !== undefined)) fail(S, at + f.compression_algo.offset, `unknown compression_algo ${e.compression_algo}`);
  const digester = digesterName(e.digest_algo);
  if (!(digester !== undefined)) fail(S, at + f.digest_algo.offset, `unknown digest_algo ${e.digest_algo}`);
  const ciCompressor = compressorName(e.ci_compressor);
  if (!(ciCompressor !== undefined)) fail(S, at + f.ci_compressor.offset, `unknown ci_compressor ${e.ci_compressor}`);
  if (!(e.cipher_algo < CIPHERS.length)) fail(S, at + f.cipher_algo.offset, `unknown cipher_algo ${e.cipher_algo}`);
  if (!((e.features & BLOB_FEATURES_INVALID) === 0)) fail(S, at + f.features.offset, `invalid feature bits in 0x${e.features.toString(16)}`);
  if (tarfs) check((e.features & BF.ALIGNED) === 0, S, at + f.features.offset, 'ALIGNED set on a tarfs blob');
  else check((e.features & BF.ALIGNED) !== 0, S, at + f.features.offset, 'ALIGNED missing (required unless tarfs)');
  if (!(e.compressed_size <= 2 ** 40)) fail(S, at + f.compressed_size.offset, `compressed_size ${e.compressed_size} exceeds 2^40`);
  if (!(e.uncompressed_size <= 2 ** 44)) fail(S, at + f.uncompressed_size.offset, `uncompressed_size ${e.uncompressed_size} exceeds 2^44`);
  if (e.ci_uncompressed_size > 0 || e.chunk_count > 0) {
    const entry = e.features & BF.CHUNK_INFO_V2 ? 24 : 16;
    const exact = !(e.features & (BF.BATCH | BF.ZRAN | BF.ENCRYPTED));
    if (!tarfs && !(e.features & BF.EXTERNAL)) {
      if (!(exact ? e.ci_uncompressed_size === e.chunk_count * entry : e.ci_uncompressed_size >= e.chunk_count * entry)) fail(S, at + f.ci_uncompressed_size.offset, `ci_uncompressed_size ${e.ci_uncompressed_size} does not fit ${e.chunk_count} CI v${entry === 16 ? 1 : 2} entries`);
    }
  }
  // an encrypted blob's blob_meta_size holds half of its random IV, not a size
  const encrypted = e.cipher_algo !== 0;
  for (const k of ['ci_offset', 'ci_compressed_size', 'ci_uncompressed_size', ...(encrypted ? [] : ['blob_meta_size'] as const)] as const) {
    if (!(Number.isSafeInteger(e[k]))) fail(S, at + f[k].offset, `${k} is beyond 2^53`);
  }
  return {
    index: i, blobId: id, compressor, digester, chunkSize: e.chunk_size, features: e.features, chunkCount: e.chunk_count,
    compressedSize: e.compressed_size, uncompressedSize: e.uncompressed_size, blobTocSize: e.blob_toc_size,
    blobTocDigest: e.blob_toc_digest.slice(), ciCompressor, ciOffset: e.ci_offset, ciCompressedSize: e.ci_compressed_size,
    ciUncompressedSize: e.ci_uncompressed_size, blobMetaDigest: e.blob_meta_digest.slice(), blobMetaSize: e.blob_meta_size,
    cipherAlgo: e.cipher_algo, cipherIv: e.cipher_iv.slice(), ...(encrypted ? { cipherIvFull: ivFromEntry(b) } : {}),
  };
}

interface DirCacheEntry {
  /** entries other than "." and "..", sorted by name as on disk */
  entries: V6Dirent[];
  /** every dirent as stored, "." and ".." included */
  all: V6Dirent[];
  /** nid of "..", -1 if absent */
  parent: number;
}

export class RafsV6 implements RafsFs {
  readonly format = 'rafs-v6' as const;
  readonly version = 6 as const;
  readonly rootIno: number;
  readonly chunkSize: number;
  readonly digester: Digester;
  readonly compressor: Compressor;
  /** set when the bootstrap was read out of a data blob: where it came from */
  origin: Record<string, unknown> | null = null;
  readonly blockSize: number;
  readonly metaAddr: number;
  readonly tarfs: boolean;
  private readonly inodes = new Lru<number, V6Inode>(65536);
  private readonly dirs = new Lru<number, DirCacheEntry>(4096);
  private chunkTable: Promise<Map<string, RafsChunk[]>> | null = null;
  private pathIndex: Promise<Map<number, Uint8Array[][]>> | null = null;
  /** a dirent is 12 bytes and its name at least 1, in directory blocks of the bootstrap (never compressed) */
  get maxEntries(): number {
    return Math.ceil(this.source.size / 13) + 1024;
  }

  private constructor(
    readonly source: ByteSource,
    readonly sb: RafsV6Superblock,
    private readonly erofsSb: Superblock,
    readonly ext: RafsV6ExtSuperblock,
    readonly devices: V6Device[],
    readonly blobs: RafsBlob[],
    private readonly prefetch: number[],
    readonly store: BlobStore,
  ) {
    this.rootIno = sb.root_nid;
    this.chunkSize = ext.s_chunk_size;
    this.blockSize = 2 ** sb.blkszbits;
    this.metaAddr = sb.meta_blkaddr * this.blockSize;
    this.digester = ext.s_flags & SF.HASH_BLAKE3 ? 'blake3' : 'sha256';
    this.compressor = compressorOfV6Flags(ext.s_flags);
    this.tarfs = (ext.s_flags & SF.TARTFS_MODE) !== 0;
  }

  static async open(input: ByteSource, opts: RafsOpenOptions = {}): Promise<RafsV6> {
    const src = input instanceof BytesSource || input instanceof CachedSource ? input : new CachedSource(input, 64 * 1024, 16 * 1024 * 1024);
    if (!(src.size >= 4096)) fail(erofs_super_block.name, EROFS_SUPER_OFFSET, `${src.size}-byte file is shorter than one 4096-byte block`);
    const head = await src.read(0, 4096);
    const sb = decodeSb(head, EROFS_SUPER_OFFSET);
    const ext = decodeExt(head, RAFS_V6_EXT_SB_OFFSET);
    validateV6Superblocks(sb, ext, src.size);
    const parsed = parseSuperblock(head, src.size);
    if (!(!('needBytes' in parsed))) fail(erofs_super_block.name, EROFS_SUPER_OFFSET, 'superblock needs more than the first 4096 bytes');
    const erofsSb = parsed;
    const tarfs = (ext.s_flags & SF.TARTFS_MODE) !== 0;
    const n = sb.extra_devices;
    const slots = parseDeviceTable(erofsSb, await src.read(RAFS_V6_DEVT_OFFSET, n * EROFS_DEVT_SLOT_SIZE));
    const devices: V6Device[] = [];
    const seen = new Set<string>();
    for (const d of slots) {
      const id = idString(d.tag);
      if (!(id.length > 0)) fail(erofs_deviceslot.name, d.offset, 'empty blob id');
      if (!(d.blocks !== 0)) fail(erofs_deviceslot.name, d.offset + erofs_deviceslot.f.blocks.offset, 'device of 0 blocks');
      if (!(!seen.has(id))) fail(erofs_deviceslot.name, d.offset, `duplicate blob id ${id}`);
      seen.add(id);
      devices.push({ blobId: id, blocks: d.blocks, mappedBlkaddr: d.mappedBlkaddr });
    }
    const bt = n > 0 ? await src.read(ext.s_blob_table_offset, ext.s_blob_table_size) : new Uint8Array(0);
    const blobs: RafsBlob[] = [];
    for (let i = 0; i < n; i++) {
      const at = i * RAFS_V6_BLOB.size;
      const b = parseBlobEntry(bt.subarray(at, at + RAFS_V6_BLOB.size), ext.s_blob_table_offset + at, i, ext, tarfs);
      b.deviceBlocks = devices[i]!.blocks;
      b.mappedBlkaddr = devices[i]!.mappedBlkaddr;
      blobs.push(b);
    }
    const prefetch: number[] = [];
    if (ext.s_prefetch_table_offset !== 0 && ext.s_prefetch_table_size > 0) {
      const pb = await src.read(ext.s_prefetch_table_offset, ext.s_prefetch_table_size);
      const pv = new DataView(pb.buffer, pb.byteOffset, pb.byteLength);
      for (let i = 0; i < pb.length / 4; i++) {
        const nid = pv.getUint32(i * 4, true);
        if (nid === 0) break;
        prefetch.push(nid);
      }
    }
    const store = new BlobStore(blobs, matchBlobs(blobs, opts.blobs ?? [], opts.container), { cache: opts.cache, verify: opts.verifyChunks ?? true });
    const fs = new RafsV6(src, sb, erofsSb, ext, devices, blobs, prefetch, store);
    const root = await fs.inodeAt(sb.root_nid);
    if (!(root.type === 'dir')) fail(erofs_super_block.name, EROFS_SUPER_OFFSET + erofs_super_block.f.root_nid.offset, `root nid ${sb.root_nid} is a ${root.type}`);
    return fs;
  }

  // ------------------------------------------------------------------------------------------
  // inodes

  async inodeAt(nid: number): Promise<V6Inode> {
    const hit = this.inodes.get(nid);
    if (hit) return hit;
    if (!Number.isSafeInteger(nid) || nid < 0) throw new NotFoundError(`nid ${nid}`);
    const offset = this.metaAddr + nid * EROFS_SLOTSIZE;
    const size = this.source.size;
    if (offset + erofs_inode_compact.size > size) throw new NotFoundError(`nid ${nid} (offset ${offset} is past the ${size}-byte bootstrap)`);
    const ino = parseInode(this.erofsSb, size, nid, offset, await this.source.read(offset, Math.min(erofs_inode_extended.size, size - offset)));
    if (ino.dataError) throw ino.dataError; // a bootstrap is metadata only: any bad range is fatal
    const S = ino.extended ? erofs_inode_extended.name : erofs_inode_compact.name;
    const { layout, type } = ino;
    if (!(layout === EROFS_INODE_FLAT_PLAIN || layout === EROFS_INODE_FLAT_INLINE || layout === EROFS_INODE_CHUNK_BASED)) fail(S, offset, `data layout ${layout} (${LAYOUT_NAMES[layout] ?? '?'}) is not used by RAFS v6`);
    let chunkFormat = 0;
    const chunkAddrs: V6ChunkAddr[] = [];
    if (type === 'reg') {
      if (layout === EROFS_INODE_CHUNK_BASED) {
        chunkFormat = ino.iu & 0xffff;
        if (!(ino.chunk?.indexes === true)) fail(S, offset + erofs_inode_compact.f.i_u.offset, `chunk format 0x${chunkFormat.toString(16)} is not 8-byte chunk indexes`);
        // RAFS writes one index per superblock-sized chunk even when the header advertises bigger kernel chunks
        const count = ino.size === 0 ? 0 : Math.ceil(ino.size / this.chunkSize);
        const at = ino.chunk.mapOffset;
        if (!(count * 8 <= size - at)) fail(S, offset, `${count} chunk indexes at ${at} run past the end`);
        const cb = count > 0 ? await this.source.read(at, count * 8) : new Uint8Array(0);
        for (let i = 0; i < count; i++) {
          const a = decodeStruct(erofs_inode_chunk_index, cb, i * 8);
          const dev = a.device_id & 0xff;
          if (!(dev >= 1 && dev <= this.blobs.length)) fail(erofs_inode_chunk_index.name, at + i * 8 + 2, `device id ${dev} names no blob (there are ${this.blobs.length})`);
          chunkAddrs.push({ blobIndex: dev - 1, ciIndex: ((a.device_id >> 8) << 16) | a.advise, blkAddr: a.blkaddr, deviceId: a.device_id });
        }
      } else {
        if (!(ino.size === 0)) fail(S, offset, `regular file of ${ino.size} bytes with data layout ${LAYOUT_NAMES[layout]}, not chunk-based`);
      }
    } else if (type === 'dir' || type === 'symlink') {
      if (!(layout !== EROFS_INODE_CHUNK_BASED)) fail(S, offset, `${type} with a chunk-based layout`);
      if (type === 'symlink' && !(ino.size > 0 && ino.size <= 4096)) fail(S, offset + erofs_inode_compact.f.i_size.offset, `symlink target of ${ino.size} bytes`);
    }
    const out: V6Inode = { ...ino, chunkFormat, chunkAddrs };
    this.inodes.set(nid, out);
    return out;
  }

  /** Bytes [k·B, …) of a directory's or symlink's data: block k, or the inline tail. */
  private async dataBlock(r: V6Inode, k: number): Promise<{ bytes: Uint8Array; offset: number }> {
    const B = this.blockSize;
    const nblocks = Math.ceil(r.size / B);
    const len = Math.min(B, r.size - k * B);
    const S = r.extended ? erofs_inode_extended.name : erofs_inode_compact.name;
    let at: number;
    if (r.layout === EROFS_INODE_FLAT_INLINE && k === nblocks - 1 && r.size % B !== 0) at = r.dataOffset;
    else at = (r.iu + k) * B;
    if (!(at + len <= this.source.size)) fail(S, r.offset + erofs_inode_compact.f.i_u.offset, `data block ${k} at ${at} (+${len}) is outside the ${this.source.size}-byte bootstrap`);
    return { bytes: await this.source.read(at, len), offset: at };
  }

  private async dirents(r: V6Inode): Promise<DirCacheEntry> {
    const hit = this.dirs.get(r.nid);
    if (hit) return hit;
    if (!(r.size <= this.source.size)) fail(erofs_inode_extended.name, r.offset + erofs_inode_extended.f.i_size.offset, `directory of ${r.size} bytes is larger than the image`);
    const entries: V6Dirent[] = [];
    const all: V6Dirent[] = [];
    let parent = -1;
    const nblocks = Math.ceil(r.size / this.blockSize);
    const maxNid = Math.floor((this.source.size - this.metaAddr) / EROFS_SLOTSIZE);
    for (let k = 0; k < nblocks; k++) {
      const { bytes, offset } = await this.dataBlock(r, k);
      const blk = parseDirBlock(bytes, offset, maxNid);
      if (k > 0 && all.length > 0) {
        if (!(compareBytes(all[all.length - 1]!.name, nameAt(blk, 0)) < 0)) fail(erofs_dirent.name, offset, 'directory blocks are not in name order');
      }
      for (let j = 0; j < blk.count; j++) {
        const name = nameAt(blk, j);
        const de = { nid: blk.nids[j]!, name: name.slice(), fileType: blk.types[j]! };
        all.push(de);
        if (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e) parent = de.nid;
        else if (!isDotOrDotDot(name)) entries.push(de);
      }
    }
    const out = { entries, all, parent };
    this.dirs.set(r.nid, out);
    return out;
  }

  private async inode(nid: number): Promise<V6Inode> {
    return this.inodeAt(nid);
  }

  private attrOf(r: V6Inode): Attr {
    const isDev = r.type === 'chr' || r.type === 'blk';
    return { ino: r.nid, type: r.type, mode: r.mode, nlink: r.nlink, uid: r.uid, gid: r.gid, size: r.size, rdev: isDev ? r.iu : 0, mtime: r.mtime, mtimeNsec: r.mtimeNsec };
  }

  // ------------------------------------------------------------------------------------------
  // chunks

  private loadChunkTable(): Promise<Map<string, RafsChunk[]>> {
    this.chunkTable ??= (async () => {
      const m = new Map<string, RafsChunk[]>();
      const size = this.ext.s_chunk_table_size;
      if (size === 0) return m;
      const base = this.ext.s_chunk_table_offset;
      const b = await this.source.read(base, size);
      const S = RAFS_CHUNK_INFO.name;
      for (let i = 0; i < size / RAFS_CHUNK_INFO.size; i++) {
        const at = base + i * RAFS_CHUNK_INFO.size;
        const c = decodeStruct(RAFS_CHUNK_INFO, b, i * RAFS_CHUNK_INFO.size);
        if (!(c.blob_index < this.blobs.length)) fail(S, at + RAFS_CHUNK_INFO.f.blob_index.offset, `blob index ${c.blob_index} is outside the ${this.blobs.length}-entry blob table`);
        if (!(c.uncompressed_size <= this.chunkSize)) fail(S, at + RAFS_CHUNK_INFO.f.uncompressed_size.offset, `chunk of ${c.uncompressed_size} bytes exceeds the chunk size`);
        if (!(c.compressed_size <= CHUNK_SIZE_MAX * 2)) fail(S, at + RAFS_CHUNK_INFO.f.compressed_size.offset, `compressed size ${c.compressed_size} is implausible`);
        if (!(Number.isSafeInteger(c.compressed_offset) && Number.isSafeInteger(c.uncompressed_offset))) fail(S, at + RAFS_CHUNK_INFO.f.compressed_offset.offset, 'offset beyond 2^53');
        const chunk: RafsChunk = {
          digest: c.block_id.slice(), blobIndex: c.blob_index, flags: c.flags, compressed: (c.flags & CF.COMPRESSED) !== 0,
          compressedOffset: c.compressed_offset, compressedSize: c.compressed_size, uncompressedOffset: c.uncompressed_offset,
          uncompressedSize: c.uncompressed_size, fileOffset: c.file_offset, index: c.index, crc32: c.crc32,
        };
        const key = `${c.blob_index}:${c.index}`;
        const l = m.get(key);
        if (l) l.push(chunk);
        else m.set(key, [chunk]);
      }
      return m;
    })();
    this.chunkTable.catch(() => (this.chunkTable = null));
    return this.chunkTable;
  }

  /** Chunk table rows in on-disk order, as JSON (for info / inspection). */
  async chunkTableJson(limit = Infinity): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    const size = this.ext.s_chunk_table_size;
    const n = Math.min(size / 80, limit);
    if (n === 0) return out;
    const b = await this.source.read(this.ext.s_chunk_table_offset, n * 80);
    for (let i = 0; i < n; i++) {
      const c = decodeStruct(RAFS_CHUNK_INFO, b, i * 80);
      out.push({ block_id: hex(c.block_id), blob_index: c.blob_index, flags: c.flags, compressed_size: c.compressed_size, uncompressed_size: c.uncompressed_size,
        compressed_offset: c.compressed_offset, uncompressed_offset: c.uncompressed_offset, file_offset: c.file_offset, index: c.index, crc32: c.crc32 });
    }
    return out;
  }

  /** One chunk index resolved: chunk table row, else the blob's CI array + digest array. */
  async resolveChunk(a: V6ChunkAddr, fileOffset: number, fileSize: number): Promise<RafsChunk> {
    const S = erofs_inode_chunk_index.name;
    if (this.tarfs) {
      return { digest: new Uint8Array(32), blobIndex: a.blobIndex, flags: 0, compressed: false, compressedOffset: a.blkAddr * this.blockSize,
        compressedSize: Math.min(this.chunkSize, fileSize - fileOffset), uncompressedOffset: a.blkAddr * this.blockSize,
        uncompressedSize: Math.min(this.chunkSize, fileSize - fileOffset), fileOffset, index: a.ciIndex, crc32: 0 };
    }
    const table = await this.loadChunkTable();
    const rows = table.get(`${a.blobIndex}:${a.ciIndex}`);
    if (rows) {
      const row = rows.find((r) => Math.floor(r.uncompressedOffset / this.blockSize) === a.blkAddr);
      if (!(row !== undefined)) fail(S, -1, `chunk ${a.ciIndex} of blob ${a.blobIndex}: no chunk table row at block ${a.blkAddr}`);
      return { ...row, fileOffset };
    }
    if (!(table.size === 0)) fail(S, -1, `chunk ${a.ciIndex} of blob ${a.blobIndex} is not in the chunk table`);
    const { meta, digests } = await this.store.blobDetails(a.blobIndex);
    if (!(meta !== null)) fail(S, -1, `no chunk table and blob ${this.blobs[a.blobIndex]!.blobId} has no CI array`);
    const e = ciEntry(meta, a.ciIndex);
    if (!(Math.floor(e.uncompressedOffset / this.blockSize) === a.blkAddr)) fail(S, -1, `chunk ${a.ciIndex}: CI places it at ${e.uncompressedOffset}, the index at block ${a.blkAddr}`);
    const digest = digests ? digests.bytes.slice(a.ciIndex * 32, a.ciIndex * 32 + 32) : undefined;
    return chunkFromCi(e, a.blobIndex, a.ciIndex, digest, fileOffset);
  }

  async fileChunks(ino: number): Promise<RafsChunk[]> {
    const r = await this.inode(ino);
    const out: RafsChunk[] = [];
    for (let i = 0; i < r.chunkAddrs.length; i++) out.push(await this.resolveChunk(r.chunkAddrs[i]!, i * this.chunkSize, r.size));
    return out;
  }

  // ------------------------------------------------------------------------------------------
  // ReadOnlyFs

  async getattr(ino: number): Promise<Attr> {
    return this.attrOf(await this.inode(ino));
  }

  async lookup(parent: number, name: Uint8Array): Promise<Attr | null> {
    const dir = await this.inode(parent);
    if (dir.type !== 'dir') throw new NotFoundError(`nid ${parent} is not a directory`);
    const { entries } = await this.dirents(dir);
    let lo = 0;
    let hi = entries.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const cmp = compareBytes(entries[mid]!.name, name);
      if (cmp === 0) return this.getattr(entries[mid]!.nid);
      if (cmp < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return null;
  }

  async readdir(ino: number, offset = 0, limit = Infinity): Promise<DirEntry[]> {
    const dir = await this.inode(ino);
    if (dir.type !== 'dir') throw new NotFoundError(`nid ${ino} is not a directory`);
    const { entries } = await this.dirents(dir);
    const out: DirEntry[] = [];
    for (let i = Math.max(0, offset); i < entries.length && out.length < limit; i++) {
      const e = entries[i]!;
      const type = FT[e.fileType] ?? (await this.inode(e.nid)).type;
      out.push({ name: e.name, ino: e.nid, type, next: i + 1 });
    }
    return out;
  }

  async read(ino: number, offset: number, size: number): Promise<Uint8Array> {
    const r = await this.inode(ino);
    if (r.type !== 'reg') return new Uint8Array(0);
    if (offset >= r.size || size <= 0) return new Uint8Array(0);
    const first = Math.floor(offset / this.chunkSize);
    const last = Math.floor((Math.min(r.size, offset + size) - 1) / this.chunkSize);
    // resolve only the chunks the range needs; readFileRange indexes by chunk number
    const chunks: RafsChunk[] = new Array(r.chunkAddrs.length);
    for (let i = first; i <= last; i++) chunks[i] = await this.resolveChunk(r.chunkAddrs[i]!, i * this.chunkSize, r.size);
    return readFileRange(this.store, chunks, r.size, this.chunkSize, false, offset, size, erofs_inode_extended.name, r.offset);
  }

  async readlink(ino: number): Promise<Uint8Array> {
    const r = await this.inode(ino);
    if (r.type !== 'symlink') throw new NotFoundError(`nid ${ino} is not a symlink`);
    const parts: Uint8Array[] = [];
    for (let k = 0; k < Math.ceil(r.size / this.blockSize); k++) parts.push((await this.dataBlock(r, k)).bytes);
    if (parts.length === 1) return parts[0]!.slice();
    const out = new Uint8Array(r.size);
    let p = 0;
    for (const x of parts) {
      out.set(x, p);
      p += x.length;
    }
    return out;
  }

  async xattrs(ino: number): Promise<{ name: Uint8Array; value: Uint8Array; offset: number }[]> {
    const r = await this.inode(ino);
    if (r.xattrSize === 0) return [];
    const start = r.dataOffset - r.xattrSize;
    const area = await this.source.read(start, r.xattrSize);
    const body = parseIbodyHeader(area, start);
    if (!(body.sharedIds.length === 0)) fail(erofs_xattr_ibody_header.name, start + erofs_xattr_ibody_header.f.h_shared_count.offset, `${body.sharedIds.length} shared xattrs (RAFS v6 has none)`);
    return parseInlineEntries(area, body.inlineStart, start).map((x) => ({ name: x.name, value: x.value, offset: x.offset }));
  }

  async listxattr(ino: number): Promise<Uint8Array[]> {
    return (await this.xattrs(ino)).map((x) => x.name);
  }

  async getxattr(ino: number, name: Uint8Array): Promise<Uint8Array | null> {
    return (await this.xattrs(ino)).find((x) => bytesEqual(x.name, name))?.value ?? null;
  }

  /** f_blocks counts every blob device's blocks too, as the kernel's sbi->total_blocks does */
  async statfs(): Promise<StatFs> {
    const blocks = this.devices.reduce((n, d) => n + d.blocks, this.sb.blocks);
    return { blockSize: this.blockSize, blocks, files: this.sb.inos, nameMax: 255 };
  }

  prefetchInos(): number[] {
    return [...this.prefetch];
  }

  // ------------------------------------------------------------------------------------------
  // paths

  /** nid → every path, from one walk of the whole tree (v6 has no parent pointers for files). */
  private buildPathIndex(): Promise<Map<number, Uint8Array[][]>> {
    this.pathIndex ??= (async () => {
      const m = new Map<number, Uint8Array[][]>([[this.rootIno, [[]]]]);
      const seen = new Set<number>([this.rootIno]);
      const stack: { nid: number; path: Uint8Array[] }[] = [{ nid: this.rootIno, path: [] }];
      while (stack.length) {
        const { nid, path } = stack.pop()!;
        const dir = await this.inode(nid);
        for (const e of (await this.dirents(dir)).entries) {
          const p = [...path, e.name];
          const l = m.get(e.nid);
          if (l) l.push(p);
          else m.set(e.nid, [p]);
          if (e.fileType === 2 || (e.fileType === 0 && (await this.inode(e.nid)).type === 'dir')) {
            if (seen.has(e.nid)) continue;
            seen.add(e.nid);
            stack.push({ nid: e.nid, path: p });
          }
        }
      }
      for (const l of m.values()) l.sort((a, b) => compareBytes(new TextEncoder().encode(pathString(a)), new TextEncoder().encode(pathString(b))));
      return m;
    })();
    this.pathIndex.catch(() => (this.pathIndex = null));
    return this.pathIndex;
  }

  async pathsOf(ino: number): Promise<Uint8Array[][]> {
    const r = await this.inode(ino);
    if (r.type === 'dir') {
      // directories: follow ".." and find our name in the parent
      const comps: Uint8Array[] = [];
      let cur = r.nid;
      for (let steps = 0; cur !== this.rootIno; steps++) {
        if (!(steps <= Math.max(4096, this.sb.inos))) fail(erofs_dirent.name, -1, `".." chain from nid ${ino} does not reach the root`);
        const { parent } = await this.dirents(await this.inode(cur));
        if (!(parent >= 0 && parent !== cur)) fail(erofs_dirent.name, -1, `nid ${cur} has no usable ".." entry`);
        const pd = await this.dirents(await this.inode(parent));
        const me = pd.entries.find((e) => e.nid === cur);
        if (!(me !== undefined)) fail(erofs_dirent.name, -1, `nid ${cur} is not listed in its parent ${parent}`);
        comps.push(me.name);
        cur = parent;
      }
      return [comps.reverse()];
    }
    return (await this.buildPathIndex()).get(ino) ?? [];
  }

  // ------------------------------------------------------------------------------------------
  // inspection

  superblockJson(): Record<string, unknown> {
    const sb = this.sb;
    return {
      magic: sb.magic, checksum: sb.checksum, feature_compat: sb.feature_compat, blkszbits: sb.blkszbits, extslots: sb.sb_extslots,
      root_nid: sb.root_nid, inos: sb.inos, build_time: sb.build_time, build_time_nsec: sb.build_time_nsec, blocks: sb.blocks,
      meta_blkaddr: sb.meta_blkaddr, xattr_blkaddr: sb.xattr_blkaddr, uuid: hex(sb.uuid), volume_name: hex(sb.volume_name),
      feature_incompat: sb.feature_incompat, u: sb.u1, extra_devices: sb.extra_devices, devt_slotoff: sb.devt_slotoff,
    };
  }

  extSuperblockJson(): Record<string, unknown> {
    const e = this.ext;
    return {
      flags: e.s_flags, blob_table_offset: e.s_blob_table_offset, blob_table_size: e.s_blob_table_size, chunk_size: e.s_chunk_size,
      chunk_table_offset: e.s_chunk_table_offset, chunk_table_size: e.s_chunk_table_size, prefetch_table_offset: e.s_prefetch_table_offset,
      prefetch_table_size: e.s_prefetch_table_size, padding: e.s_padding, flag_names: flagNames(SUPER_FLAGS, e.s_flags),
    };
  }

  blobJson(b: RafsBlob): Record<string, unknown> {
    const bd = this.store.bindings[b.index]!;
    return {
      blob_id: b.blobId, blob_index: b.index, chunk_size: b.chunkSize, chunk_count: b.chunkCount, compression_algo: ['none', 'lz4_block', 'gzip', 'zstd'].indexOf(b.compressor),
      digest_algo: b.digester === 'blake3' ? 0 : 1, features: b.features, compressed_size: b.compressedSize, uncompressed_size: b.uncompressedSize,
      blob_toc_size: b.blobTocSize, ci_compressor: ['none', 'lz4_block', 'gzip', 'zstd'].indexOf(b.ciCompressor ?? 'none'), ci_offset: b.ciOffset,
      ci_compressed_size: b.ciCompressedSize, ci_uncompressed_size: b.ciUncompressedSize, blob_toc_digest: hex(b.blobTocDigest ?? new Uint8Array(32)),
      blob_meta_digest: hex(b.blobMetaDigest ?? new Uint8Array(32)), blob_meta_size: b.blobMetaSize, cipher_iv: hex(b.cipherIv ?? new Uint8Array(8)),
      // encrypted: blob_meta_size is IV bytes 0..8 (a u64 beyond 2^53 prints inexactly); the exact key and IV
      ...(b.cipherIvFull ? { cipher_key: hex(b.blobMetaDigest ?? new Uint8Array(32)), cipher_iv_full: hex(b.cipherIvFull) } : {}),
      cipher_algo: b.cipherAlgo, feature_names: flagNames(BLOB_FEATURES, b.features), compressor: b.compressor, digester: b.digester,
      ci_compressor_name: b.ciCompressor, cipher: CIPHERS[b.cipherAlgo ?? 0], device_blocks: b.deviceBlocks, mapped_blkaddr: b.mappedBlkaddr,
      file: bd.source?.name ?? null, matched_by: bd.matchedBy, effective_id: bd.effectiveId, kind: bd.kind,
    };
  }

  async info(): Promise<ImageInfo> {
    const rows = this.ext.s_chunk_table_size / 80;
    const limit = 10000;
    return {
      format: 'rafs-v6', version: 6, size: this.source.size, superblock: this.superblockJson(), ext_superblock: this.extSuperblockJson(),
      compressor: this.compressor, digester: this.digester, chunk_size: this.chunkSize, block_size: this.blockSize, meta_addr: this.metaAddr,
      root_nid: this.rootIno, tarfs: this.tarfs,
      devices: this.devices.map((d, i) => ({ blob_id: d.blobId, blocks: d.blocks, mapped_blkaddr: d.mappedBlkaddr, supplied: !!this.store.bindings[i]?.source })),
      blobs: this.blobs.map((b) => this.blobJson(b)),
      prefetch: this.prefetchInos(),
      chunk_table_entries: rows,
      chunk_table: await this.chunkTableJson(limit),
      chunk_table_truncated: rows > limit,
      unmatched_blob_files: this.store.unmatched.map((s) => s.name),
      missing_blobs: this.store.missing().map((b) => ({ index: b.index, blob_id: b.blobId })),
      ...(this.origin ? { inline_bootstrap: this.origin } : {}),
    };
  }

  async inodeDetails(ino: number): Promise<Record<string, unknown>> {
    const r = await this.inode(ino);
    const paths = (await this.pathsOf(ino)).map(pathString);
    const d: Record<string, unknown> = {
      format: 'rafs-v6', nid: r.nid, path: paths[0], paths, i_ino: r.ino, type: r.type, mode: (r.mode & 0o7777).toString(8).padStart(4, '0'), st_mode: r.mode,
      size: r.size, nlink: r.nlink, uid: r.uid, gid: r.gid, mtime: r.mtime, mtime_nsec: r.mtimeNsec, blocks: Math.ceil(r.size / 512),
      inode_format: r.extended ? 'extended' : 'compact', i_format: r.format, datalayout: r.layout, datalayout_name: LAYOUT_NAMES[r.layout], i_u: r.iu,
      xattr_icount: r.xattrIcount, xattr_size: r.xattrSize, inode_offset: r.offset,
    };
    if (r.type === 'chr' || r.type === 'blk') d.rdev = r.iu;
    if (r.type === 'dir') {
      const { all, parent } = await this.dirents(r);
      d.parent_nid = parent;
      d.dirents = all.slice(0, 4096).map((e) => ({ nid: e.nid, name: nameText(e.name), file_type: e.fileType, type: FILE_TYPE_NAMES[e.fileType] }));
      d.dirent_count = all.length;
    }
    if (r.type === 'symlink') d.symlink = nameText(await this.readlink(ino));
    if (r.xattrSize) d.xattrs = (await this.xattrs(ino)).map((x) => ({ name: nameText(x.name), value_hex: hex(x.value), size: x.value.length, offset: x.offset }));
    if (r.type === 'reg') {
      d.chunk_format = r.chunkFormat;
      d.chunk_bits = (r.chunkFormat & EROFS_CHUNK_FORMAT_BLKBITS_MASK) + this.sb.blkszbits;
      d.chunk_indexes_offset = align(r.dataOffset, 8);
      d.chunkaddrs = r.chunkAddrs.map((a) => ({ blob_index: a.blobIndex, ci_index: a.ciIndex, blk_addr: a.blkAddr }));
      try {
        d.chunks = (await this.fileChunks(ino)).map((c) => chunkJson(c, this.blobs, (i) => this.store.blobIdOf(i)));
      } catch (e) {
        if (!(e instanceof FormatError || e instanceof NotFoundError || e instanceof UnsupportedError)) throw e;
        d.chunks_error = e.message;
      }
    }
    return d;
  }

  /** Walk the whole tree: every inode, dirent block, chunk index and chunk table reference checked. */
  async verifyMetadata(signal?: AbortSignal, onEntry?: () => void): Promise<MetadataIssue[]> {
    const issues: MetadataIssue[] = [];
    const push = (e: unknown, path?: string, ino?: number) => {
      if (!isTypedError(e)) throw e;
      if (e instanceof FormatError) issues.push({ path, ino, structure: e.structure, offset: e.offset, detail: e.detail });
      else issues.push({ path, ino, structure: e.name, offset: -1, detail: e.message });
    };
    try {
      const rows = await this.loadChunkTable();
      for (const list of rows.values()) for (const c of list) {
        const b = this.blobs[c.blobIndex]!;
        const where = `chunk table row (blob ${c.blobIndex}, index ${c.index})`;
        if (b.chunkCount !== undefined && c.index >= b.chunkCount) issues.push({ structure: RAFS_CHUNK_INFO.name, offset: this.ext.s_chunk_table_offset, detail: `${where}: index beyond the blob's ${b.chunkCount} chunks` });
        if (b.features & BF.ALIGNED && c.uncompressedOffset % 4096 !== 0) issues.push({ structure: RAFS_CHUNK_INFO.name, offset: this.ext.s_chunk_table_offset, detail: `${where}: uncompressed offset ${c.uncompressedOffset} is not 4 KiB aligned` });
        if (b.uncompressedSize !== undefined && c.uncompressedOffset + c.uncompressedSize > b.uncompressedSize) issues.push({ structure: RAFS_CHUNK_INFO.name, offset: this.ext.s_chunk_table_offset, detail: `${where}: beyond the blob's ${b.uncompressedSize}-byte uncompressed size` });
      }
    } catch (e) {
      push(e);
    }
    const seen = new Set<number>([this.rootIno]);
    const stack: { nid: number; path: Uint8Array[] }[] = [{ nid: this.rootIno, path: [] }];
    while (stack.length) {
      throwIfAborted(signal);
      const { nid, path } = stack.pop()!;
      const ps = pathString(path);
      let entries: V6Dirent[];
      try {
        const dir = await this.inode(nid);
        const de = await this.dirents(dir);
        entries = de.entries;
        const parentWant = path.length === 0 ? this.rootIno : undefined;
        if (parentWant !== undefined && de.parent !== parentWant) issues.push({ path: ps, ino: nid, structure: erofs_dirent.name, offset: dir.offset, detail: `root ".." is nid ${de.parent}` });
      } catch (e) {
        push(e, ps, nid);
        continue;
      }
      for (const e of entries) {
        onEntry?.();
        const p = [...path, e.name];
        const cps = pathString(p);
        try {
          const r = await this.inode(e.nid);
          if (FT[e.fileType] && FT[e.fileType] !== r.type) issues.push({ path: cps, ino: e.nid, structure: erofs_dirent.name, offset: r.offset, detail: `dirent type ${FILE_TYPE_NAMES[e.fileType]} but the inode is a ${r.type}` });
          if (r.type === 'dir') {
            if (!seen.has(e.nid)) {
              seen.add(e.nid);
              stack.push({ nid: e.nid, path: p });
              const { parent } = await this.dirents(r);
              if (parent !== nid) issues.push({ path: cps, ino: e.nid, structure: erofs_dirent.name, offset: r.offset, detail: `".." is nid ${parent}, the parent is ${nid}` });
            } else {
              issues.push({ path: cps, ino: e.nid, structure: erofs_dirent.name, offset: r.offset, detail: 'directory reached twice (hardlinked directory or cycle)' });
            }
          } else if (r.type === 'reg') {
            for (let i = 0; i < r.chunkAddrs.length; i++) {
              const c = await this.resolveChunk(r.chunkAddrs[i]!, i * this.chunkSize, r.size);
              const expect = Math.min(this.chunkSize, r.size - i * this.chunkSize);
              if (c.uncompressedSize !== expect) issues.push({ path: cps, ino: e.nid, structure: erofs_inode_chunk_index.name, offset: align(r.dataOffset, 8) + i * 8, detail: `chunk ${i} holds ${c.uncompressedSize} bytes, the file needs ${expect}` });
            }
          } else if (r.type === 'symlink') {
            await this.readlink(e.nid);
          }
          if (r.xattrSize) await this.xattrs(e.nid);
        } catch (err) {
          push(err, cps, e.nid);
        }
      }
    }
    return issues;
  }
}
