/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): EROFS superblock checksums and Nydus chunk
 * CRCs. Slicing-by-8 tables, 8 bytes per step.
 *
 * Two forms:
 * - `crc32c(data)` is the standard CRC (init 0xFFFFFFFF, final XOR 0xFFFFFFFF), e.g.
 *   crc32c("123456789") = 0xE3069283. Continue over pieces by passing the previous result.
 * - `crc32cRaw(seed, data)` is the bare register update (no inversion at either end), which is what
 *   the kernel's `crc32c(seed, p, len)` and the EROFS superblock checksum use:
 *   `crc32cRaw(0xFFFFFFFF, d) === (crc32c(d) ^ 0xFFFFFFFF) >>> 0`.
 */

import { crcUpdate, reflectedTables } from './crc-slicing.ts';

const TABLES = reflectedTables(0x82f63b78);

/** Register update with no pre/post inversion. Returns an unsigned 32-bit value. */
export function crc32cRaw(seed: number, data: Uint8Array): number {
  return crcUpdate(TABLES, seed, data);
}

/**
 * Standard CRC-32C of `data`. To continue over several pieces pass the previous result as `crc`:
 * `crc32c(b, crc32c(a)) === crc32c(a ‖ b)`.
 */
export function crc32c(data: Uint8Array, crc = 0): number {
  return (crc32cRaw(~crc, data) ^ 0xffffffff) >>> 0;
}
