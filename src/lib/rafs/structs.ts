/**
 * Every Nydus RAFS on-disk structure (spec: shared/docs/nydus-rafs-format.md). The EROFS structures a
 * RAFS v6 bootstrap shares with plain EROFS (superblock, device slots, inodes, chunk indexes, dirents,
 * xattrs) are declared once in erofs/structs.ts; the ones here are RAFS-only. All little-endian.
 * RAFS v6 meanings of shared EROFS fields: device slot `tag` = blob id; chunk index `advise` =
 * ci_index bits 0..15, `device_id` = (blob_index + 1) | ci_index bits 16..23 << 8.
 */
import { struct } from '../struct.ts';

// ---------------------------------------------------------------------------------------------
// Magic numbers, enums and flag tables (§1)

export const RAFS_V5_MAGIC = 0x52414653;
export const RAFS_V5_VERSION = 0x500;
export const RAFS_V5_SB_SIZE = 8192;
export const RAFS_V6_SB_OFFSET = 1024;
export const RAFS_V6_EXT_SB_OFFSET = 1152;
export const RAFS_V6_DEVT_OFFSET = 1408;
export const EROFS_FEATURE_COMPAT_RAFS_V6 = 0x4000_0000;
export const BLOB_META_MAGIC = 0xb10bb10b;
export const BLOB_META_HEADER_SIZE = 4096;

export const CHUNK_SIZE_MIN = 0x1000;
export const CHUNK_SIZE_MAX = 0x100_0000;

/** compress::Algorithm (v6 blob entry, blob-meta header) */
export const COMPRESSORS = ['none', 'lz4_block', 'gzip', 'zstd'] as const;
export type Compressor = (typeof COMPRESSORS)[number];
/** digest::Algorithm */
export const DIGESTERS = ['blake3', 'sha256'] as const;
export type Digester = (typeof DIGESTERS)[number];
export const CIPHERS = ['none', 'aes128xts', 'aes256xts', 'aes256gcm'] as const;

/** RafsSuperFlags (§1.2) */
export const SUPER_FLAGS: readonly (readonly [number, string])[] = [
  [0x1, 'COMPRESSION_NONE'],
  [0x2, 'COMPRESSION_LZ4'],
  [0x4, 'HASH_BLAKE3'],
  [0x8, 'HASH_SHA256'],
  [0x10, 'EXPLICIT_UID_GID'],
  [0x20, 'HAS_XATTR'],
  [0x40, 'COMPRESSION_GZIP'],
  [0x80, 'COMPRESSION_ZSTD'],
  [0x100, 'INLINED_CHUNK_DIGEST'],
  [0x200, 'TARTFS_MODE'],
  [0x0100_0000, 'ENCRYPTION_NONE'],
  [0x0200_0000, 'ENCRYPTION_ASE_128_XTS'],
  [0x0400_0000, 'PRESERVED_COMPAT_5'],
  [0x0800_0000, 'PRESERVED_COMPAT_4'],
  [0x1000_0000, 'PRESERVED_COMPAT_3'],
  [0x2000_0000, 'PRESERVED_COMPAT_2'],
  [0x4000_0000, 'PRESERVED_COMPAT_1'],
  [0x8000_0000, 'PRESERVED_COMPAT_0'],
];
export const SF = {
  COMPRESSION_NONE: 0x1,
  COMPRESSION_LZ4: 0x2,
  HASH_BLAKE3: 0x4,
  HASH_SHA256: 0x8,
  EXPLICIT_UID_GID: 0x10,
  HAS_XATTR: 0x20,
  COMPRESSION_GZIP: 0x40,
  COMPRESSION_ZSTD: 0x80,
  INLINED_CHUNK_DIGEST: 0x100,
  TARTFS_MODE: 0x200,
  ENCRYPTION_ASE_128_XTS: 0x0200_0000,
} as const;
export const SUPER_FLAGS_KNOWN = 0x3ff + 0xff00_0000;

/** BlobFeatures (§1.3) */
export const BLOB_FEATURES: readonly (readonly [number, string])[] = [
  [0x1, 'ALIGNED'],
  [0x2, 'INLINED_FS_META'],
  [0x4, 'CHUNK_INFO_V2'],
  [0x8, 'ZRAN'],
  [0x10, 'SEPARATE'],
  [0x20, 'INLINED_CHUNK_DIGEST'],
  [0x40, 'TARFS'],
  [0x80, 'BATCH'],
  [0x100, 'ENCRYPTED'],
  [0x200, 'IS_CHUNKDICT_GENERATED'],
  [0x400, 'IS_SEPARATED_WITH_PREFETCH_FILES'],
  [0x800, 'EXTERNAL'],
  [0x1000_0000, 'HAS_TAR_HEADER'],
  [0x2000_0000, 'HAS_TOC'],
  [0x4000_0000, 'CAP_TAR_TOC'],
];
export const BF = {
  ALIGNED: 0x1,
  INLINED_FS_META: 0x2,
  CHUNK_INFO_V2: 0x4,
  ZRAN: 0x8,
  SEPARATE: 0x10,
  INLINED_CHUNK_DIGEST: 0x20,
  TARFS: 0x40,
  BATCH: 0x80,
  ENCRYPTED: 0x100,
  EXTERNAL: 0x800,
  HAS_TAR_HEADER: 0x1000_0000,
  HAS_TOC: 0x2000_0000,
  CAP_TAR_TOC: 0x4000_0000,
  V5_NO_EXT_BLOB_TABLE: 0x8000_0000,
} as const;
/** bits BlobFeatures::try_from refuses */
export const BLOB_FEATURES_INVALID = 0x0000_f000 + 0x8000_0000;

/** BlobChunkFlags (§1.4), the `flags` field of the 80-byte chunk info */
export const CHUNK_FLAGS: readonly (readonly [number, string])[] = [
  [0x1, 'COMPRESSED'],
  [0x2, 'HOLECHUNK'],
  [0x4, 'ENCRYPTED'],
  [0x8, 'BATCH'],
  [0x10, 'HAS_CRC32'],
];
export const CF = { COMPRESSED: 0x1, ENCRYPTED: 0x4, BATCH: 0x8, HAS_CRC32: 0x10 } as const;

/** RafsInodeFlags (§1.5), v5 `i_flags` */
export const INODE_FLAGS: readonly (readonly [number, string])[] = [
  [0x1, 'SYMLINK'],
  [0x2, 'HARDLINK'],
  [0x4, 'XATTR'],
  [0x8, 'HAS_HOLE'],
];
export const IF = { SYMLINK: 0x1, HARDLINK: 0x2, XATTR: 0x4, HAS_HOLE: 0x8 } as const;

/** CI v2 flags byte (§5.5) */
export const CI2_FLAGS = { COMPRESSED: 0x1, ZRAN: 0x2, BATCH: 0x4, ENCRYPTED: 0x8, HAS_CRC32: 0x10 } as const;

/** ToC entry flags: a different numbering from COMPRESSORS (§5.9) */
export const TOC_FLAGS = { NONE: 0x1, ZSTD: 0x2, LZ4_BLOCK: 0x4 } as const;

export function flagNames(table: readonly (readonly [number, string])[], value: number): string[] {
  const out: string[] = [];
  for (const [bit, name] of table) if (value >= 0 && Math.floor(value / bit) % 2 === 1) out.push(name);
  return out;
}

// ---------------------------------------------------------------------------------------------
// RAFS v5 (§3)

export const RAFS_V5_SUPERBLOCK = struct('rafs.v5.superblock', 8192, [
  ['s_magic', 0, 4, 'u32', '0x52414653 ("RAFS")'],
  ['s_fs_version', 4, 4, 'u32', '0x500'],
  ['s_sb_size', 8, 4, 'u32', 'always 8192'],
  ['s_block_size', 12, 4, 'u32', 'chunk size, power of two in [4 KiB, 16 MiB]'],
  ['s_flags', 16, 8, 'u64', 'RafsSuperFlags'],
  ['s_inodes_count', 24, 8, 'u64', 'unique inodes (informational)'],
  ['s_inode_table_offset', 32, 8, 'u64'],
  ['s_prefetch_table_offset', 40, 8, 'u64'],
  ['s_blob_table_offset', 48, 8, 'u64'],
  ['s_inode_table_entries', 56, 4, 'u32', 'directory entries incl. root'],
  ['s_prefetch_table_entries', 60, 4, 'u32'],
  ['s_blob_table_size', 64, 4, 'u32', 'bytes, including the padding to 8'],
  ['s_extended_blob_table_entries', 68, 4, 'u32', '0 in images before mid-2021'],
  ['s_extended_blob_table_offset', 72, 8, 'u64'],
  ['s_reserved', 80, 8112, 'bytes'],
] as const);

/** Head of one variable-length v5 blob table entry; the blob id follows up to a NUL or the table end. */
export const RAFS_V5_BLOB_ENTRY_HEAD = struct('rafs.v5.blob_entry', 8, [
  ['readahead_offset', 0, 4, 'u32'],
  ['readahead_size', 4, 4, 'u32'],
] as const);

export const RAFS_V5_EXT_BLOB_ENTRY = struct('rafs.v5.ext_blob_entry', 64, [
  ['chunk_count', 0, 4, 'u32'],
  ['features', 4, 4, 'u32', 'BlobFeatures'],
  ['uncompressed_size', 8, 8, 'u64'],
  ['compressed_size', 16, 8, 'u64'],
  ['reserved', 24, 40, 'bytes'],
] as const);

export const RAFS_V5_INODE = struct('rafs.v5.inode', 128, [
  ['i_digest', 0, 32, 'bytes', 'H(content) per inode type'],
  ['i_parent', 32, 8, 'u64', "parent's i_ino, 0 for the root"],
  ['i_ino', 40, 8, 'u64', 'hardlinks share it'],
  ['i_uid', 48, 4, 'u32'],
  ['i_gid', 52, 4, 'u32'],
  ['i_projid', 56, 4, 'u32'],
  ['i_mode', 60, 4, 'u32'],
  ['i_size', 64, 8, 'u64'],
  ['i_blocks', 72, 8, 'u64', '512-byte blocks'],
  ['i_flags', 80, 8, 'u64', 'RafsInodeFlags'],
  ['i_nlink', 88, 4, 'u32'],
  ['i_child_index', 92, 4, 'u32', 'dir: index of the first child'],
  ['i_child_count', 96, 4, 'u32', 'dir: children; regular file: chunks'],
  ['i_name_size', 100, 2, 'u16'],
  ['i_symlink_size', 102, 2, 'u16'],
  ['i_rdev', 104, 4, 'u32'],
  ['i_mtime_nsec', 108, 4, 'u32'],
  ['i_mtime', 112, 8, 'u64'],
  ['i_reserved', 120, 8, 'bytes'],
] as const);

/** RafsV5ChunkInfo: v5 per-file chunk list entry and v6 chunk table row. */
export const RAFS_CHUNK_INFO = struct('rafs.chunk_info', 80, [
  ['block_id', 0, 32, 'bytes', 'chunk digest H(uncompressed bytes)'],
  ['blob_index', 32, 4, 'u32'],
  ['flags', 36, 4, 'u32', 'BlobChunkFlags'],
  ['compressed_size', 40, 4, 'u32'],
  ['uncompressed_size', 44, 4, 'u32'],
  ['compressed_offset', 48, 8, 'u64', 'in the data blob file'],
  ['uncompressed_offset', 56, 8, 'u64', "in the blob's uncompressed address space"],
  ['file_offset', 64, 8, 'u64'],
  ['index', 72, 4, 'u32', 'chunk number within its blob'],
  ['crc32', 76, 4, 'u32', 'CRC-32C when HAS_CRC32'],
] as const);

/** v5 xattr table: a u64 total, then pairs (u32 pair_size | name NUL value). */
export const RAFS_V5_XATTR_TABLE_HEAD = struct('rafs.v5.xattr_table', 8, [['total', 0, 8, 'u64', 'Σ (4 + pair_size), unaligned']] as const);
export const RAFS_V5_XATTR_PAIR_HEAD = struct('rafs.v5.xattr_pair', 4, [['pair_size', 0, 4, 'u32', 'len(name) + 1 + len(value)']] as const);

// ---------------------------------------------------------------------------------------------
// RAFS v6 additions to EROFS (§4)

export const RAFS_V6_EXT_SUPERBLOCK = struct('rafs.v6.ext_superblock', 256, [
  ['s_flags', 0, 8, 'u64', 'RafsSuperFlags'],
  ['s_blob_table_offset', 8, 8, 'u64'],
  ['s_blob_table_size', 16, 4, 'u32', '256 × blobs'],
  ['s_chunk_size', 20, 4, 'u32'],
  ['s_chunk_table_offset', 24, 8, 'u64'],
  ['s_chunk_table_size', 32, 8, 'u64', 'multiple of 80'],
  ['s_prefetch_table_offset', 40, 8, 'u64'],
  ['s_prefetch_table_size', 48, 4, 'u32', 'bytes of u32 nids'],
  ['s_padding', 52, 4, 'u32'],
  ['s_reserved', 56, 200, 'bytes'],
] as const);

export const RAFS_V6_BLOB = struct('rafs.v6.blob', 256, [
  ['blob_id', 0, 64, 'bytes', 'ASCII, NUL-padded'],
  ['blob_index', 64, 4, 'u32'],
  ['chunk_size', 68, 4, 'u32'],
  ['chunk_count', 72, 4, 'u32'],
  ['compression_algo', 76, 4, 'u32', '0 none, 1 lz4_block, 2 gzip, 3 zstd'],
  ['digest_algo', 80, 4, 'u32', '0 blake3, 1 sha256'],
  ['features', 84, 4, 'u32', 'BlobFeatures'],
  ['compressed_size', 88, 8, 'u64'],
  ['uncompressed_size', 96, 8, 'u64'],
  ['blob_toc_size', 104, 4, 'u32'],
  ['ci_compressor', 108, 4, 'u32'],
  ['ci_offset', 112, 8, 'u64'],
  ['ci_compressed_size', 120, 8, 'u64'],
  ['ci_uncompressed_size', 128, 8, 'u64'],
  ['blob_toc_digest', 136, 32, 'bytes', 'SHA-256 of ToC entries + header'],
  ['blob_meta_digest', 168, 32, 'bytes', 'separate RAFS blob digest, or AES key'],
  ['blob_meta_size', 200, 8, 'u64'],
  ['cipher_iv', 208, 8, 'bytes'],
  ['cipher_algo', 216, 4, 'u32'],
  ['reserved', 220, 36, 'bytes'],
] as const);

// ---------------------------------------------------------------------------------------------
// Data blobs (§5)

export const BLOB_META_HEADER = struct('rafs.blob_meta.header', 4096, [
  ['s_magic', 0, 4, 'u32', '0xB10BB10B'],
  ['s_features', 4, 4, 'u32', 'BlobFeatures'],
  ['s_ci_compressor', 8, 4, 'u32'],
  ['s_ci_entries', 12, 4, 'u32'],
  ['s_ci_offset', 16, 8, 'u64'],
  ['s_ci_compressed_size', 24, 8, 'u64'],
  ['s_ci_uncompressed_size', 32, 8, 'u64'],
  ['s_ci_zran_offset', 40, 8, 'u64', 'context table offset inside the uncompressed CI data'],
  ['s_ci_zran_size', 48, 8, 'u64'],
  ['s_ci_zran_count', 56, 4, 'u32'],
  ['s_reserved', 60, 4032, 'bytes'],
  ['s_magic2', 4092, 4, 'u32', '0xB10BB10B'],
] as const);

/** CI v1: two u64 bit fields, declared as u32 halves so no bit is lost to float rounding. */
export const BLOB_CI_V1 = struct('rafs.blob_meta.ci_v1', 16, [
  ['uncomp_info_lo', 0, 4, 'u32', 'bits 8..11 usize-1 bits 20..23, bits 12..31 uncompressed_offset bits 12..31'],
  ['uncomp_info_hi', 4, 4, 'u32', 'bits 0..11 uncompressed_offset bits 32..43, bits 12..31 usize-1 bits 0..19'],
  ['comp_info_lo', 8, 4, 'u32', 'compressed_offset bits 0..31'],
  ['comp_info_hi', 12, 4, 'u32', 'bits 0..7 compressed_offset bits 32..39, 8..11 csize-1 bits 20..23, 12..31 csize-1 bits 0..19'],
] as const);

export const BLOB_CI_V2 = struct('rafs.blob_meta.ci_v2', 24, [
  ['uncompressed_blk', 0, 4, 'u32', 'uncompressed_offset >> 12'],
  ['uncomp_info_hi', 4, 4, 'u32', 'bits 0..23 usize-1, bits 24..31 flags'],
  ['comp_info_lo', 8, 4, 'u32', 'compressed_offset bits 0..31'],
  ['comp_info_hi', 12, 4, 'u32', 'bits 0..7 compressed_offset bits 32..39, bits 8..31 compressed size'],
  ['data_lo', 16, 4, 'u32', 'crc32, or offset inside the ZRAN/batch context'],
  ['data_hi', 20, 4, 'u32', 'ZRAN/batch context index'],
] as const);

export const BLOB_ZRAN_CTX = struct('rafs.blob_meta.zran_ctx', 40, [
  ['in_offset', 0, 8, 'u64'],
  ['out_offset', 8, 8, 'u64'],
  ['dict_offset', 16, 8, 'u64'],
  ['in_len', 24, 4, 'u32'],
  ['out_len', 28, 4, 'u32'],
  ['dict_size', 32, 4, 'u32'],
  ['ctx_byte', 36, 1, 'u8'],
  ['ctx_bits', 37, 1, 'u8'],
  ['reserved', 38, 2, 'bytes'],
] as const);

export const BLOB_BATCH_CTX = struct('rafs.blob_meta.batch_ctx', 40, [
  ['compressed_size', 0, 4, 'u32'],
  ['uncompressed_batch_size', 4, 4, 'u32'],
  ['reserved', 8, 32, 'bytes'],
] as const);

export const TOC_ENTRY = struct('rafs.toc_entry', 128, [
  ['flags', 0, 4, 'u32', '0x1 none, 0x2 zstd, 0x4 lz4_block'],
  ['reserved1', 4, 4, 'u32'],
  ['name', 8, 16, 'bytes', 'NUL-padded'],
  ['uncompressed_digest', 24, 32, 'bytes', 'SHA-256 of the uncompressed section'],
  ['compressed_offset', 56, 8, 'u64'],
  ['compressed_size', 64, 8, 'u64'],
  ['uncompressed_size', 72, 8, 'u64'],
  ['reserved2', 80, 48, 'bytes'],
] as const);

/** The tar header written after each blob section ("reverse tar", §5.8) is tar's own header. */
export { TAR_BLOCK, TAR_HEADER } from '../tar/structs.ts';
