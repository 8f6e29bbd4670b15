import { struct } from '../struct.ts';

/**
 * The 512-byte tar header block (POSIX ustar; GNU tar's "ustar  " variant shares the first 345
 * bytes). Every field is ASCII: numbers are octal, NUL- or space-terminated, or GNU base-256 when
 * the first byte has its high bit set. The `bytes` kind is used throughout because nothing here is
 * a little-endian integer.
 */
export const TAR_BLOCK = 512;

export const TAR_HEADER = struct('tar.header', TAR_BLOCK, [
  ['name', 0, 100, 'bytes', 'path, NUL-terminated unless exactly 100 bytes'],
  ['mode', 100, 8, 'bytes', 'octal permission bits'],
  ['uid', 108, 8, 'bytes', 'octal or base-256'],
  ['gid', 116, 8, 'bytes', 'octal or base-256'],
  ['size', 124, 12, 'bytes', 'octal or base-256; content bytes that follow the header'],
  ['mtime', 136, 12, 'bytes', 'octal or base-256 seconds since the epoch'],
  ['chksum', 148, 8, 'bytes', 'octal sum of the header bytes with this field read as spaces'],
  ['typeflag', 156, 1, 'bytes', "'0' file, '1' hardlink, '2' symlink, '3' chr, '4' blk, '5' dir, '6' fifo, 'x'/'g' PAX, 'L'/'K' GNU long name/link"],
  ['linkname', 157, 100, 'bytes', 'hardlink or symlink target'],
  ['magic', 257, 6, 'bytes', '"ustar\\0" (POSIX) or "ustar " (GNU, with version " \\0")'],
  ['version', 263, 2, 'bytes', '"00" (POSIX)'],
  ['uname', 265, 32, 'bytes', 'owner name (ignored: ids are kept numeric)'],
  ['gname', 297, 32, 'bytes', 'group name (ignored)'],
  ['devmajor', 329, 8, 'bytes', 'octal, chr/blk only'],
  ['devminor', 337, 8, 'bytes', 'octal, chr/blk only'],
  ['prefix', 345, 155, 'bytes', 'POSIX ustar only: directory part of a name longer than 100 bytes'],
  ['reserved', 500, 12, 'bytes', 'zeros to the end of the 512-byte block'],
]);

/** Field by name (offset, size) for the header parse/format hot paths. */
export const H = TAR_HEADER.f;

export const MAGIC_USTAR = 'ustar\0'; // POSIX, version "00"
export const MAGIC_GNU = 'ustar '; // GNU, version " \0"

/** The header's checksum as tar computes it: the unsigned sum of its bytes, the chksum field read as spaces. */
export function headerSum(block: Uint8Array): number {
  let sum = 0;
  const from = H.chksum.offset;
  const to = from + H.chksum.size;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= from && i < to ? 0x20 : block[i]!;
  return sum;
}
