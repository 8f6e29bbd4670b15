/**
 * composefs on-disk structures (erofs-composefs-format.md §3). A composefs image is an EROFS
 * image (structs in ../erofs/structs.ts) whose unused first 1024 bytes start with this header.
 */
import { struct } from '../struct.ts';

export const COMPOSEFS_MAGIC = 0xd078629a;
/** LCFS_EROFS_VERSION: the only header version the C reader accepts */
export const LCFS_EROFS_VERSION = 1;
export const COMPOSEFS_HEADER_SIZE = 32;
/** flags bit 0: some inode has a POSIX ACL (mount with "acl") */
export const COMPOSEFS_FLAGS_HAS_ACL = 0x1;

export const composefs_header = struct('composefs.header', COMPOSEFS_HEADER_SIZE, [
  ['magic', 0, 4, 'u32', '0xD078629A'],
  ['version', 4, 4, 'u32', 'LCFS_EROFS_VERSION = 1'],
  ['flags', 8, 4, 'u32', 'bit 0: HAS_ACL'],
  ['composefs_version', 12, 4, 'u32', 'format version: 0 or 1 (mkcomposefs), 2 (composefs-rs V2)'],
  ['unused', 16, 16, 'bytes'],
]);

/** trusted.overlay.metacopy value: {u8 version, u8 len, u8 flags, u8 digest_algo} + digest */
export const ovl_metacopy = struct('composefs.metacopy', 36, [
  ['version', 0, 1, 'u8'],
  ['len', 1, 1, 'u8', 'whole value length (36)'],
  ['flags', 2, 1, 'u8'],
  ['digest_algo', 3, 1, 'u8', '1 = SHA-256 (FS_VERITY_HASH_ALG_SHA256)'],
  ['digest', 4, 32, 'bytes', 'fs-verity digest of the backing file'],
]);
