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

const TABLES = (() => {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
})();

/** Register update with no pre/post inversion. Returns an unsigned 32-bit value. */
export function crc32cRaw(seed: number, data: Uint8Array): number {
  const t = TABLES;
  let c = seed | 0;
  let i = 0;
  const n = data.length;
  const end8 = n - (n & 7);
  while (i < end8) {
    const a = (c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) | 0;
    c =
      t[7 * 256 + (a & 0xff)]! ^
      t[6 * 256 + ((a >>> 8) & 0xff)]! ^
      t[5 * 256 + ((a >>> 16) & 0xff)]! ^
      t[4 * 256 + (a >>> 24)]! ^
      t[3 * 256 + data[i + 4]!]! ^
      t[2 * 256 + data[i + 5]!]! ^
      t[256 + data[i + 6]!]! ^
      t[data[i + 7]!]!;
    i += 8;
  }
  while (i < n) c = t[(c ^ data[i++]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/**
 * Standard CRC-32C of `data`. To continue over several pieces pass the previous result as `crc`:
 * `crc32c(b, crc32c(a)) === crc32c(a ‖ b)`.
 */
export function crc32c(data: Uint8Array, crc = 0): number {
  return (crc32cRaw(~crc, data) ^ 0xffffffff) >>> 0;
}
