/**
 * EROFS on-disk structures (../shared/docs/erofs-composefs-format.md §2), named as in the kernel's
 * erofs_fs.h. This is the one place naming offsets and sizes: the reader, the composefs writer and
 * the RAFS v6 reader all import from here. Everything is little-endian.
 */
import { struct } from '../struct.ts';

export const EROFS_MAGIC = 0xe0f5e1e2;
/** byte offset of the superblock in the image (the first 1024 bytes are a free "boot sector") */
export const EROFS_SUPER_OFFSET = 1024;
export const EROFS_SUPER_SIZE = 128;
/** the size of one sb_extslots unit */
export const EROFS_SB_EXTSLOT_SIZE = 16;
/** inodes are addressed in 32-byte slots: inode offset = meta_blkaddr * blocksize + nid * 32 */
export const EROFS_ISLOTBITS = 5;
export const EROFS_SLOTSIZE = 32;
/** blkaddr value meaning "no block" (a hole) in block maps and chunk indexes */
export const EROFS_NULL_ADDR = 0xffffffff;
export const EROFS_NAME_LEN = 255;
/** device table slots are 128 bytes; devt_slotoff counts them from byte 0 */
export const EROFS_DEVT_SLOT_SIZE = 128;

// feature_compat
export const EROFS_FEATURE_COMPAT_SB_CHKSUM = 0x1;
export const EROFS_FEATURE_COMPAT_MTIME = 0x2;
export const EROFS_FEATURE_COMPAT_XATTR_FILTER = 0x4;
export const EROFS_FEATURE_COMPAT_SHARED_EA_IN_METABOX = 0x8;
export const EROFS_FEATURE_COMPAT_PLAIN_XATTR_PFX = 0x10;
export const EROFS_FEATURE_COMPAT_ISHARE_XATTRS = 0x20;

// feature_incompat
export const EROFS_FEATURE_INCOMPAT_ZERO_PADDING = 0x1; // a.k.a. LZ4_0PADDING
export const EROFS_FEATURE_INCOMPAT_COMPR_CFGS = 0x2;
export const EROFS_FEATURE_INCOMPAT_BIG_PCLUSTER = 0x2;
export const EROFS_FEATURE_INCOMPAT_CHUNKED_FILE = 0x4;
export const EROFS_FEATURE_INCOMPAT_DEVICE_TABLE = 0x8;
export const EROFS_FEATURE_INCOMPAT_COMPR_HEAD2 = 0x8;
export const EROFS_FEATURE_INCOMPAT_ZTAILPACKING = 0x10;
export const EROFS_FEATURE_INCOMPAT_FRAGMENTS = 0x20;
export const EROFS_FEATURE_INCOMPAT_DEDUPE = 0x20;
export const EROFS_FEATURE_INCOMPAT_XATTR_PREFIXES = 0x40;
export const EROFS_FEATURE_INCOMPAT_48BIT = 0x80;
export const EROFS_FEATURE_INCOMPAT_METABOX = 0x100;

export const COMPAT_FEATURE_NAMES: readonly (readonly [number, string])[] = [
  [EROFS_FEATURE_COMPAT_SB_CHKSUM, 'sb_csum'],
  [EROFS_FEATURE_COMPAT_MTIME, 'mtime'],
  [EROFS_FEATURE_COMPAT_XATTR_FILTER, 'xattr_filter'],
  [EROFS_FEATURE_COMPAT_SHARED_EA_IN_METABOX, 'shared_ea_in_metabox'],
  [EROFS_FEATURE_COMPAT_PLAIN_XATTR_PFX, 'plain_xattr_pfx'],
  [EROFS_FEATURE_COMPAT_ISHARE_XATTRS, 'ishare_xattrs'],
];
export const INCOMPAT_FEATURE_NAMES: readonly (readonly [number, string])[] = [
  [EROFS_FEATURE_INCOMPAT_ZERO_PADDING, '0padding'],
  [EROFS_FEATURE_INCOMPAT_COMPR_CFGS, 'big_pcluster'],
  [EROFS_FEATURE_INCOMPAT_CHUNKED_FILE, 'chunked_file'],
  [EROFS_FEATURE_INCOMPAT_DEVICE_TABLE, 'device_table'],
  [EROFS_FEATURE_INCOMPAT_ZTAILPACKING, 'ztailpacking'],
  [EROFS_FEATURE_INCOMPAT_FRAGMENTS, 'fragments/dedupe'],
  [EROFS_FEATURE_INCOMPAT_XATTR_PREFIXES, 'xattr_prefixes'],
  [EROFS_FEATURE_INCOMPAT_48BIT, '48bit'],
  [EROFS_FEATURE_INCOMPAT_METABOX, 'metabox'],
];

/**
 * Feature names as dump.erofs 1.9.3 prints them (compat first, then incompat; one bit may have two
 * names, printed in this order): `inspect --json` lists them as `featureNames193`.
 */
export const DUMP_FEATURE_NAMES: readonly (readonly [compat: boolean, bit: number, name: string])[] = [
  [true, EROFS_FEATURE_COMPAT_SB_CHKSUM, 'sb_csum'],
  [true, EROFS_FEATURE_COMPAT_MTIME, 'mtime'],
  [true, EROFS_FEATURE_COMPAT_XATTR_FILTER, 'xattr_filter'],
  [true, EROFS_FEATURE_COMPAT_SHARED_EA_IN_METABOX, 'shared_ea_in_metabox'],
  [true, EROFS_FEATURE_COMPAT_PLAIN_XATTR_PFX, 'plain_xattr_pfx'],
  [true, EROFS_FEATURE_COMPAT_ISHARE_XATTRS, 'ishare_xattrs'],
  [false, EROFS_FEATURE_INCOMPAT_ZERO_PADDING, 'lz4_0padding'],
  [false, EROFS_FEATURE_INCOMPAT_COMPR_CFGS, 'compr_cfgs'],
  [false, EROFS_FEATURE_INCOMPAT_BIG_PCLUSTER, 'big_pcluster'],
  [false, EROFS_FEATURE_INCOMPAT_CHUNKED_FILE, 'chunked_file'],
  [false, EROFS_FEATURE_INCOMPAT_DEVICE_TABLE, 'device_table'],
  [false, EROFS_FEATURE_INCOMPAT_ZTAILPACKING, 'ztailpacking'],
  [false, EROFS_FEATURE_INCOMPAT_FRAGMENTS, 'fragments'],
  [false, EROFS_FEATURE_INCOMPAT_DEDUPE, 'dedupe'],
  [false, EROFS_FEATURE_INCOMPAT_XATTR_PREFIXES, 'xattr_prefixes'],
  [false, EROFS_FEATURE_INCOMPAT_48BIT, '48bit'],
  [false, EROFS_FEATURE_INCOMPAT_METABOX, 'metabox'],
];
/** every compat bit erofs-utils 1.9.3 defines */
export const EROFS_ALL_FEATURE_COMPAT = 0x3f;

export const erofs_super_block = struct('erofs.superblock', EROFS_SUPER_SIZE, [
  ['magic', 0, 4, 'u32', '0xE0F5E1E2'],
  ['checksum', 4, 4, 'u32', 'crc32c (no final xor) of bytes 1024..blocksize with this field zeroed, if compat SB_CHKSUM'],
  ['feature_compat', 8, 4, 'u32'],
  ['blkszbits', 12, 1, 'u8', 'block size = 1 << blkszbits'],
  ['sb_extslots', 13, 1, 'u8', 'superblock size = 128 + 16 * sb_extslots'],
  ['root_nid', 14, 2, 'u16', 'root nid (rootnid_2b); with 48BIT and rootnid_8b != 0: blocks_hi, bits 32-47 of the block count'],
  ['inos', 16, 8, 'u64', 'total inode count'],
  ['build_time', 24, 8, 'i64', 'epoch: compact inode mtime = epoch + i_mtime (1.5: build time, every compact inode\'s mtime)'],
  ['build_time_nsec', 32, 4, 'u32', 'fixed_nsec: nanoseconds of every compact inode mtime'],
  ['blocks', 36, 4, 'u32', 'blocks_lo: primary-device blocks'],
  ['meta_blkaddr', 40, 4, 'u32', 'start block of the inode area'],
  ['xattr_blkaddr', 44, 4, 'u32', 'start block of the shared xattr area'],
  ['uuid', 48, 16, 'bytes'],
  ['volume_name', 64, 16, 'bytes'],
  ['feature_incompat', 80, 4, 'u32'],
  ['u1', 84, 2, 'u16', 'available_compr_algs if COMPR_CFGS, else lz4_max_distance'],
  ['extra_devices', 86, 2, 'u16'],
  ['devt_slotoff', 88, 2, 'u16', 'device table at byte devt_slotoff * 128'],
  ['dirblkbits', 90, 1, 'u8'],
  ['xattr_prefix_count', 91, 1, 'u8'],
  ['xattr_prefix_start', 92, 4, 'u32'],
  ['packed_nid', 96, 8, 'u64'],
  ['xattr_filter_reserved', 104, 1, 'u8', 'must be 0 for the xattr name filter to be used'],
  ['ishare_xattr_prefix_id', 105, 1, 'u8', 'long prefix naming the inode-digest xattr (compat ISHARE_XATTRS)'],
  ['reserved', 106, 2, 'u16'],
  ['build_time_since_epoch', 108, 4, 'u32', 'mkfs time = epoch + this (1.9+; 0 before)'],
  ['rootnid_8b', 112, 8, 'u64', '48BIT: 64-bit root nid (bit 63: in the metabox); 0 = use the 16-bit field'],
  ['reserved2', 120, 8, 'bytes'],
]);
/** the first extension slot (sb_extslots >= 1), right after the 128-byte superblock */
export const erofs_super_block_ext = struct('erofs.superblock_ext', EROFS_SB_EXTSLOT_SIZE, [
  ['metabox_nid', 0, 8, 'u64', 'METABOX: nid of the metabox inode (bit 63 must be clear)'],
  ['reserved3', 8, 8, 'bytes'],
]);
/** nid bit 63: the inode lives in the metabox inode's data */
export const EROFS_DIRENT_NID_METABOX_BIT = 63;
/** every incompat bit erofs-utils 1.9.3 defines */
export const EROFS_ALL_FEATURE_INCOMPAT = 0x1ff;

/** follows the superblock when COMPR_CFGS is set: one {le16 size; payload} per available algorithm */
export const erofs_compr_cfg_header = struct('erofs.compr_cfg', 2, [['size', 0, 2, 'u16', 'payload bytes that follow']]);
export const z_erofs_lz4_cfgs = struct('erofs.lz4_cfgs', 14, [
  ['max_distance', 0, 2, 'u16'],
  ['max_pclusterblks', 2, 2, 'u16'],
  ['reserved', 4, 10, 'bytes'],
]);
export const z_erofs_lzma_cfgs = struct('erofs.lzma_cfgs', 14, [
  ['dict_size', 0, 4, 'u32', '4096 .. 8 MiB'],
  ['format', 4, 2, 'u16', 'must be 0'],
  ['reserved', 6, 8, 'bytes'],
]);
export const z_erofs_deflate_cfgs = struct('erofs.deflate_cfgs', 6, [
  ['windowbits', 0, 1, 'u8', '<= 15 (the window is 32 KiB whatever it says)'],
  ['reserved', 1, 5, 'bytes'],
]);
export const z_erofs_zstd_cfgs = struct('erofs.zstd_cfgs', 6, [
  ['format', 0, 1, 'u8', 'must be 0'],
  ['windowlog', 1, 1, 'u8', 'log2(window) - 10'],
  ['reserved', 2, 4, 'bytes'],
]);
/** largest pcluster (Z_EROFS_PCLUSTER_MAX_SIZE) and decoded extent (Z_EROFS_PCLUSTER_MAX_DSIZE) */
export const Z_EROFS_PCLUSTER_MAX_SIZE = 1 << 20;
export const Z_EROFS_PCLUSTER_MAX_DSIZE = 12 << 20;
export const Z_EROFS_COMPRESSION_LZ4 = 0;
export const Z_EROFS_COMPRESSION_LZMA = 1;
export const Z_EROFS_COMPRESSION_DEFLATE = 2;
export const Z_EROFS_COMPRESSION_ZSTD = 3;
export const Z_EROFS_COMPRESSION_MAX = 4;
export const COMPRESSION_NAMES = ['lz4', 'lzma', 'deflate', 'zstd'] as const;

export const erofs_deviceslot = struct('erofs.deviceslot', EROFS_DEVT_SLOT_SIZE, [
  ['tag', 0, 64, 'bytes', 'digest / uuid naming the device'],
  ['blocks', 64, 4, 'u32', 'blocks_lo'],
  ['mapped_blkaddr', 68, 4, 'u32', 'uniaddr_lo: start block in the unified address space (0 = none)'],
  ['blocks_hi', 72, 2, 'u16', '48BIT only'],
  ['uniaddr_hi', 74, 2, 'u16', '48BIT only'],
  ['reserved', 76, 52, 'bytes'],
]);

// i_format bits
export const EROFS_I_VERSION_MASK = 0x1;
export const EROFS_INODE_LAYOUT_COMPACT = 0;
export const EROFS_INODE_LAYOUT_EXTENDED = 1;
export const EROFS_I_DATALAYOUT_BIT = 1;
export const EROFS_I_DATALAYOUT_MASK = 0x7;
/** i_format bit 4: NLINK_1 (compact non-directories: nlink 1, i_nb holds high address bits) / DOT_OMITTED (directories) */
export const EROFS_I_NLINK_1_BIT = 0x10;
export const EROFS_I_DOT_OMITTED_BIT = 0x10;
/** every i_format bit erofs-utils 1.9.3 defines; anything above is refused */
export const EROFS_I_ALL = 0x1f;

// data layouts (i_format bits 1-3)
export const EROFS_INODE_FLAT_PLAIN = 0;
export const EROFS_INODE_COMPRESSED_FULL = 1;
export const EROFS_INODE_FLAT_INLINE = 2;
export const EROFS_INODE_COMPRESSED_COMPACT = 3;
export const EROFS_INODE_CHUNK_BASED = 4;
export const LAYOUT_NAMES = ['FLAT_PLAIN', 'COMPRESSED_FULL', 'FLAT_INLINE', 'COMPRESSED_COMPACT', 'CHUNK_BASED'] as const;

export const erofs_inode_compact = struct('erofs.inode_compact', 32, [
  ['i_format', 0, 2, 'u16', 'bit 0: version (0 compact), bits 1-3: data layout'],
  ['i_xattr_icount', 2, 2, 'u16', 'xattr area = 12 + (icount - 1) * 4 bytes, 0 if icount = 0'],
  ['i_mode', 4, 2, 'u16'],
  ['i_nlink', 6, 2, 'u16', 'i_nb: nlink, or with NLINK_1 startblk_hi / blocks_hi'],
  ['i_size', 8, 4, 'u32'],
  ['i_reserved', 12, 4, 'u32', 'i_mtime: seconds after the superblock epoch (0 in 1.5)'],
  ['i_u', 16, 4, 'u32', 'raw_blkaddr / compressed_blocks / rdev / chunk format'],
  ['i_ino', 20, 4, 'u32', 'inode number for 32-bit stat'],
  ['i_uid', 24, 2, 'u16'],
  ['i_gid', 26, 2, 'u16'],
  ['i_reserved2', 28, 4, 'u32'],
]);

export const erofs_inode_extended = struct('erofs.inode_extended', 64, [
  ['i_format', 0, 2, 'u16', 'bit 0: version (1 extended), bits 1-3: data layout'],
  ['i_xattr_icount', 2, 2, 'u16', 'xattr area = 12 + (icount - 1) * 4 bytes, 0 if icount = 0'],
  ['i_mode', 4, 2, 'u16'],
  ['i_reserved', 6, 2, 'u16', 'i_nb: startblk_hi (flat) / blocks_hi (compressed)'],
  ['i_size', 8, 8, 'u64'],
  ['i_u', 16, 4, 'u32', 'raw_blkaddr / compressed_blocks / rdev / chunk format'],
  ['i_ino', 20, 4, 'u32', 'inode number for 32-bit stat'],
  ['i_uid', 24, 4, 'u32'],
  ['i_gid', 28, 4, 'u32'],
  ['i_mtime', 32, 8, 'i64'],
  ['i_mtime_nsec', 40, 4, 'u32'],
  ['i_nlink', 44, 4, 'u32'],
  ['i_reserved2', 48, 16, 'bytes'],
]);

/** i_u of a CHUNK_BASED inode */
export const erofs_inode_chunk_info = struct('erofs.inode_chunk_info', 4, [
  ['format', 0, 2, 'u16', 'bits 0-4: chunkbits - blkszbits, 0x20: 8-byte chunk indexes'],
  ['reserved', 2, 2, 'u16'],
]);
export const EROFS_CHUNK_FORMAT_BLKBITS_MASK = 0x1f;
export const EROFS_CHUNK_FORMAT_INDEXES = 0x20;
export const EROFS_CHUNK_FORMAT_48BIT = 0x40;
export const EROFS_CHUNK_FORMAT_ALL = EROFS_CHUNK_FORMAT_BLKBITS_MASK | EROFS_CHUNK_FORMAT_INDEXES | EROFS_CHUNK_FORMAT_48BIT;

/** one entry of the 4-byte block map (CHUNK_BASED without INDEXES) */
export const erofs_blockmap_entry = struct('erofs.blockmap', 4, [['blkaddr', 0, 4, 'u32', '0xFFFFFFFF = hole']]);
export const erofs_inode_chunk_index = struct('erofs.chunk_index', 8, [
  ['advise', 0, 2, 'u16', 'startblk_hi with CHUNK_FORMAT_48BIT (was advise, 0)'],
  ['device_id', 2, 2, 'u16', '0 = primary device, k = device table slot k-1'],
  ['blkaddr', 4, 4, 'u32', '0xFFFFFFFF = hole'],
]);

export const erofs_dirent = struct('erofs.dirent', 12, [
  ['nid', 0, 8, 'u64'],
  ['nameoff', 8, 2, 'u16', 'name start within the directory block; dirent[0].nameoff / 12 = entry count'],
  ['file_type', 10, 1, 'u8'],
  ['reserved', 11, 1, 'u8'],
]);
export const EROFS_FT_UNKNOWN = 0;
export const EROFS_FT_REG_FILE = 1;
export const EROFS_FT_DIR = 2;
export const EROFS_FT_CHRDEV = 3;
export const EROFS_FT_BLKDEV = 4;
export const EROFS_FT_FIFO = 5;
export const EROFS_FT_SOCK = 6;
export const EROFS_FT_SYMLINK = 7;
export const EROFS_FT_MAX = 8;

export const erofs_xattr_ibody_header = struct('erofs.xattr_ibody_header', 12, [
  ['h_name_filter', 0, 4, 'u32', 'bloom filter (1.7+, compat XATTR_FILTER); 0 in 1.5'],
  ['h_shared_count', 4, 1, 'u8'],
  ['h_reserved2', 5, 7, 'bytes'],
]);
export const erofs_xattr_entry = struct('erofs.xattr_entry', 4, [
  ['e_name_len', 0, 1, 'u8'],
  ['e_name_index', 1, 1, 'u8', 'prefix index (EROFS_XATTR_PREFIXES)'],
  ['e_value_size', 2, 2, 'u16'],
]);
export const EROFS_XATTR_LONG_PREFIX = 0x80;
export const EROFS_XATTR_LONG_PREFIX_MASK = 0x7f;
export const EROFS_XATTR_INDEX_USER = 1;
export const EROFS_XATTR_INDEX_POSIX_ACL_ACCESS = 2;
export const EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT = 3;
export const EROFS_XATTR_INDEX_TRUSTED = 4;
export const EROFS_XATTR_INDEX_LUSTRE = 5;
export const EROFS_XATTR_INDEX_SECURITY = 6;
/** full-name prefix for each e_name_index (index 0: the whole name is stored) */
export const EROFS_XATTR_PREFIXES: readonly string[] = [
  '',
  'user.',
  'system.posix_acl_access',
  'system.posix_acl_default',
  'trusted.',
  'lustre.',
  'security.',
];
/** bytes of the xattr area for i_xattr_icount */
export function xattrIbodySize(icount: number): number {
  return icount === 0 ? 0 : erofs_xattr_ibody_header.size + (icount - 1) * 4;
}

/** compressed inodes: 8 bytes at round_up(inode end + xattrs, 8) */
export const z_erofs_map_header = struct('erofs.z_map_header', 8, [
  ['h_reserved1', 0, 2, 'u16', '(1.6+: low half of h_fragmentoff)'],
  ['h_idata_size', 2, 2, 'u16', 'ztailpacking: bytes of the inline tail pcluster'],
  ['h_advise', 4, 2, 'u16'],
  ['h_algorithmtype', 6, 1, 'u8', 'bits 0-3: HEAD1 algorithm, 4-7: HEAD2'],
  ['h_clusterbits', 7, 1, 'u8', 'bits 0-3: lclusterbits - blkszbits; bit 7 (1.6+): whole-file fragment (the 8 bytes less bit 63 are its offset)'],
]);
/** advise bit 0 of COMPRESSED_FULL: encoded extents instead of lcluster indexes (48BIT images) */
export const Z_EROFS_ADVISE_EXTENTS = 0x1;
/** one encoded extent; only the first 4 << ((advise >> 1) & 3) bytes are stored per record */
export const z_erofs_extent = struct('erofs.z_extent', 32, [
  ['plen', 0, 4, 'u32', 'bits 0-20: encoded bytes; bit 27: partial reference; bits 28-31: 0 = uncompressed, else algorithm + 1'],
  ['pstart_lo', 4, 4, 'u32', 'physical byte offset'],
  ['pstart_hi', 8, 4, 'u32'],
  ['lstart_lo', 12, 4, 'u32', 'logical byte offset'],
  ['lstart_hi', 16, 4, 'u32'],
  ['reserved', 20, 12, 'bytes'],
]);
export const Z_EROFS_EXTENT_PLEN_MASK = 0x1fffff;
export const Z_EROFS_EXTENT_PLEN_PARTIAL = 1 << 27;
export const Z_EROFS_EXTENT_PLEN_FMT_BIT = 28;
/** di_advise bit 15 (COMPRESSED_FULL): the head's pcluster decodes to more than this extent uses */
export const Z_EROFS_LI_PARTIAL_REF = 1 << 15;
export const Z_EROFS_ADVISE_COMPACTED_2B = 0x1;
export const Z_EROFS_ADVISE_BIG_PCLUSTER_1 = 0x2;
export const Z_EROFS_ADVISE_BIG_PCLUSTER_2 = 0x4;
export const Z_EROFS_ADVISE_INLINE_PCLUSTER = 0x8;
export const Z_EROFS_ADVISE_INTERLACED_PCLUSTER = 0x10;
export const Z_EROFS_ADVISE_FRAGMENT_PCLUSTER = 0x20;
export const Z_EROFS_FRAGMENT_INODE_BIT = 7;
/** legacy indexes start 8 bytes after the map header */
export const Z_EROFS_LEGACY_INDEX_OFFSET = 16;

/** COMPRESSED_FULL: one 8-byte entry per lcluster */
export const z_erofs_lcluster_index = struct('erofs.lcluster_index', 8, [
  ['di_advise', 0, 2, 'u16', 'bits 0-1: lcluster type'],
  ['di_clusterofs', 2, 2, 'u16', 'HEAD/PLAIN: where the extent starts inside this lcluster'],
  ['di_u', 4, 4, 'u32', 'HEAD/PLAIN: blkaddr; NONHEAD: le16 delta[2]'],
]);
export const Z_EROFS_LCLUSTER_TYPE_PLAIN = 0;
export const Z_EROFS_LCLUSTER_TYPE_HEAD1 = 1;
export const Z_EROFS_LCLUSTER_TYPE_NONHEAD = 2;
export const Z_EROFS_LCLUSTER_TYPE_HEAD2 = 3;
export const Z_EROFS_LI_LCLUSTER_TYPE_MASK = 0x3;
/** delta[0] flag: the low bits hold the pcluster block count (first NONHEAD after a big-pcluster head) */
export const Z_EROFS_LI_D0_CBLKCNT = 1 << 11;
export const LCLUSTER_TYPE_NAMES = ['PLAIN', 'HEAD1', 'NONHEAD', 'HEAD2'] as const;

/** file_type code in dirents for each st_mode type */
export const FILE_TYPE_NAMES = ['unknown', 'reg', 'dir', 'chr', 'blk', 'fifo', 'sock', 'symlink'] as const;
