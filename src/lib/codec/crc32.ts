/**
 * Plain CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, init and final XOR 0xFFFFFFFF): the
 * CRC of gzip, zip and PNG. Slicing-by-8 tables, 8 bytes per step.
 *
 * Not CRC-32C: EROFS superblock checksums and, per nydus-rafs-format.md §2.3, Nydus chunk CRCs use
 * the Castagnoli polynomial (crc32c.ts).
 */

import { crcUpdate, reflectedTables } from './crc-slicing.ts';

const TABLES = reflectedTables(0xedb88320);

/**
 * CRC-32 of `data`. To continue over several pieces pass the previous result as `crc`:
 * `crc32(b, crc32(a)) === crc32(a ‖ b)`.
 */
export function crc32(data: Uint8Array, crc = 0): number {
  return (crcUpdate(TABLES, ~crc, data) ^ 0xffffffff) >>> 0;
}
