/**
 * BLAKE3 in plain TypeScript, written from the BLAKE3 specification (no WebAssembly).
 *
 * Speed comes from three things: the compression function works on 32 local variables with the
 * seven rounds written out and the message schedule applied at write time (no state array, no
 * permutation at run time); message words are read straight from a Uint32Array over the caller's
 * bytes when they are 4-byte aligned (otherwise whole chunks are first copied into a scratch
 * buffer with one native `set`); and complete chunks are hashed without touching the block buffer.
 * The block buffer is used only for pieces shorter than a block, unaligned blocks of a partly
 * hashed chunk, and the input's last block, which must wait for digest() to learn whether it is
 * the root. So `update` calls of any size and alignment give the one-shot result.
 *
 * Word order is little-endian. On a big-endian host (none known to run this) the word arrays are
 * byte-swapped after loading, so results stay correct there, just slower; that path is untested.
 */

export interface Hasher {
  update(data: Uint8Array): Hasher;
  digest(): Uint8Array;
}

export interface Blake3Hasher extends Hasher {
  update(data: Uint8Array): Blake3Hasher;
  /** Output of `dkLen` bytes (default: the length given at creation, 32). Does not change the state. */
  digest(dkLen?: number): Uint8Array;
  /** Forget all input, keep the mode (plain, keyed or derive-key). */
  reset(): Blake3Hasher;
}

export interface Blake3Options {
  /** output length in bytes (extendable output); default 32 */
  dkLen?: number;
  /** 32-byte key: keyed_hash mode */
  key?: Uint8Array;
  /** derive_key mode with this context string (the input is then the key material) */
  context?: string | Uint8Array;
}

const CHUNK_START = 1;
const CHUNK_END = 2;
const PARENT = 4;
const ROOT = 8;
const KEYED_HASH = 16;
const DERIVE_KEY_CONTEXT = 32;
const DERIVE_KEY_MATERIAL = 64;

const CHUNK_LEN = 1024;
const BLOCK_LEN = 64;
const TWO32 = 4294967296;

const IV = new Uint32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

/** true on every host we know of; false would mean typed arrays are big-endian */
export const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([0x01020304]).buffer)[0] === 0x04;

function byteSwapWords(w: Uint32Array, off: number, n: number): void {
  for (let i = off; i < off + n; i++) {
    const x = w[i]!;
    w[i] = ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);
  }
}

/**
 * The BLAKE3 compression function. Reads the chaining value cv[cvOff..+8) and the message
 * m[mOff..+16), writes 8 words of output to out[outOff..) (16 when `full`, for root output bytes).
 * `out` may be `cv` or `m` (all inputs are loaded first), except that a full output must not
 * overlap `cv`.
 */
function compress(
  cv: Uint32Array, cvOff: number, m: Uint32Array, mOff: number,
  counterLo: number, counterHi: number, blockLen: number, flags: number,
  out: Uint32Array, outOff: number, full: boolean,
): void {
  const m0 = m[mOff]! | 0, m1 = m[mOff + 1]! | 0, m2 = m[mOff + 2]! | 0, m3 = m[mOff + 3]! | 0;
  const m4 = m[mOff + 4]! | 0, m5 = m[mOff + 5]! | 0, m6 = m[mOff + 6]! | 0, m7 = m[mOff + 7]! | 0;
  const m8 = m[mOff + 8]! | 0, m9 = m[mOff + 9]! | 0, m10 = m[mOff + 10]! | 0, m11 = m[mOff + 11]! | 0;
  const m12 = m[mOff + 12]! | 0, m13 = m[mOff + 13]! | 0, m14 = m[mOff + 14]! | 0, m15 = m[mOff + 15]! | 0;
  let v0 = cv[cvOff]! | 0, v1 = cv[cvOff + 1]! | 0, v2 = cv[cvOff + 2]! | 0, v3 = cv[cvOff + 3]! | 0;
  let v4 = cv[cvOff + 4]! | 0, v5 = cv[cvOff + 5]! | 0, v6 = cv[cvOff + 6]! | 0, v7 = cv[cvOff + 7]! | 0;
  let v8 = 0x6a09e667 | 0, v9 = 0xbb67ae85 | 0, v10 = 0x3c6ef372 | 0, v11 = 0xa54ff53a | 0;
  let v12 = counterLo | 0, v13 = counterHi | 0, v14 = blockLen | 0, v15 = flags | 0;
  // round 1
  v0 = (v0 + v4 + m0) | 0; v12 ^= v0; v12 = (v12 >>> 16) | (v12 << 16);
  v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 12) | (v4 << 20);
  v0 = (v0 + v4 + m1) | 0; v12 ^= v0; v12 = (v12 >>> 8) | (v12 << 24);
  v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 7) | (v4 << 25);
  v1 = (v1 + v5 + m2) | 0; v13 ^= v1; v13 = (v13 >>> 16) | (v13 << 16);
  v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 12) | (v5 << 20);
  v1 = (v1 + v5 + m3) | 0; v13 ^= v1; v13 = (v13 >>> 8) | (v13 << 24);
  v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 7) | (v5 << 25);
  v2 = (v2 + v6 + m4) | 0; v14 ^= v2; v14 = (v14 >>> 16) | (v14 << 16);
  v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 12) | (v6 << 20);
  v2 = (v2 + v6 + m5) | 0; v14 ^= v2; v14 = (v14 >>> 8) | (v14 << 24);
  v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 7) | (v6 << 25);
  v3 = (v3 + v7 + m6) | 0; v15 ^= v3; v15 = (v15 >>> 16) | (v15 << 16);
  v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 12) | (v7 << 20);
  v3 = (v3 + v7 + m7) | 0; v15 ^= v3; v15 = (v15 >>> 8) | (v15 << 24);
  v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 7) | (v7 << 25);
  v0 = (v0 + v5 + m8) | 0; v15 ^= v0; v15 = (v15 >>> 16) | (v15 << 16);
  v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 12) | (v5 << 20);
  v0 = (v0 + v5 + m9) | 0; v15 ^= v0; v15 = (v15 >>> 8) | (v15 << 24);
  v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 7) | (v5 << 25);
  v1 = (v1 + v6 + m10) | 0; v12 ^= v1; v12 = (v12 >>> 16) | (v12 << 16);
  v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 12) | (v6 << 20);
  v1 = (v1 + v6 + m11) | 0; v12 ^= v1; v12 = (v12 >>> 8) | (v12 << 24);
  v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 7) | (v6 << 25);
  v2 = (v2 + v7 + m12) | 0; v13 ^= v2; v13 = (v13 >>> 16) | (v13 << 16);
  v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 12) | (v7 << 20);
  v2 = (v2 + v7 + m13) | 0; v13 ^= v2; v13 = (v13 >>> 8) | (v13 << 24);
  v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 7) | (v7 << 25);
  v3 = (v3 + v4 + m14) | 0; v14 ^= v3; v14 = (v14 >>> 16) | (v14 << 16);
  v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 12) | (v4 << 20);
  v3 = (v3 + v4 + m15) | 0; v14 ^= v3; v14 = (v14 >>> 8) | (v14 << 24);
  v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 7) | (v4 << 25);
  // round 2
  v0 = (v0 + v4 + m2) | 0; v12 ^= v0; v12 = (v12 >>> 16) | (v12 << 16);
  v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 12) | (v4 << 20);
  v0 = (v0 + v4 + m6) | 0; v12 ^= v0; v12 = (v12 >>> 8) | (v12 << 24);
  v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 7) | (v4 << 25);
  v1 = (v1 + v5 + m3) | 0; v13 ^= v1; v13 = (v13 >>> 16) | (v13 << 16);
  v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 12) | (v5 << 20);
  v1 = (v1 + v5 + m10) | 0; v13 ^= v1; v13 = (v13 >>> 8) | (v13 << 24);
  v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 7) | (v5 << 25);
  v2 = (v2 + v6 + m7) | 0; v14 ^= v2; v14 = (v14 >>> 16) | (v14 << 16);
  v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 12) | (v6 << 20);
  v2 = (v2 + v6 + m0) | 0; v14 ^= v2; v14 = (v14 >>> 8) | (v14 << 24);
  v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 7) | (v6 << 25);
  v3 = (v3 + v7 + m4) | 0; v15 ^= v3; v15 = (v15 >>> 16) | (v15 << 16);
  v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 12) | (v7 << 20);
  v3 = (v3 + v7 + m13) | 0; v15 ^= v3; v15 = (v15 >>> 8) | (v15 << 24);
  v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 7) | (v7 << 25);
  v0 = (v0 + v5 + m1) | 0; v15 ^= v0; v15 = (v15 >>> 16) | (v15 << 16);
  v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 12) | (v5 << 20);
  v0 = (v0 + v5 + m11) | 0; v15 ^= v0; v15 = (v15 >>> 8) | (v15 << 24);
  v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 7) | (v5 << 25);
  v1 = (v1 + v6 + m12) | 0; v12 ^= v1; v12 = (v12 >>> 16) | (v12 << 16);
  v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 12) | (v6 << 20);
  v1 = (v1 + v6 + m5) | 0; v12 ^= v1; v12 = (v12 >>> 8) | (v12 << 24);
  v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 7) | (v6 << 25);
  v2 = (v2 + v7 + m9) | 0; v13 ^= v2; v13 = (v13 >>> 16) | (v13 << 16);
  v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 12) | (v7 << 20);
  v2 = (v2 + v7 + m14) | 0; v13 ^= v2; v13 = (v13 >>> 8) | (v13 << 24);
  v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 7) | (v7 << 25);
  v3 = (v3 + v4 + m15) | 0; v14 ^= v3; v14 = (v14 >>> 16) | (v14 << 16);
  v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 12) | (v4 << 20);
  v3 = (v3 + v4 + m8) | 0; v14 ^= v3; v14 = (v14 >>> 8) | (v14 << 24);
  v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 7) | (v4 << 25);
  // round 3
  v0 = (v0 + v4 + m3) | 0; v12 ^= v0; v12 = (v12 >>> 16) | (v12 << 16);
  v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 12) | (v4 << 20);
  v0 = (v0 + v4 + m4) | 0; v12 ^= v0; v12 = (v12 >>> 8) | (v12 << 24);
  v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 7) | (v4 << 25);
  v1 = (v1 + v5 + m10) | 0; v13 ^= v1; v13 = (v13 >>> 16) | (v13 << 16);
  v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 12) | (v5 << 20);
  v1 = (v1 + v5 + m12) | 0; v13 ^= v1; v13 = (v13 >>> 8) | (v13 << 24);
  v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 7) | (v5 << 25);
  v2 = (v2 + v6 + m13) | 0; v14 ^= v2; v14 = (v14 >>> 16) | (v14 << 16);
  v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 12) | (v6 << 20);
  v2 = (v2 + v6 + m2) | 0; v14 ^= v2; v14 = (v14 >>> 8) | (v14 << 24);
  v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 7) | (v6 << 25);
  v3 = (v3 + v7 + m7) | 0; v15 ^= v3; v15 = (v15 >>> 16) | (v15 << 16);
  v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 12) | (v7 << 20);
  v3 = (v3 + v7 + m14) | 0; v15 ^= v3; v15 = (v15 >>> 8) | (v15 << 24);
  v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 7) | (v7 << 25);
  v0 = (v0 + v5 + m6) | 0; v15 ^= v0; v15 = (v15 >>> 16) | (v15 << 16);
  v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 12) | (v5 << 20);
  v0 = (v0 + v5 + m5) | 0; v15 ^= v0; v15 = (v15 >>> 8) | (v15 << 24);
  v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 7) | (v5 << 25);
  v1 = (v1 + v6 + m9) | 0; v12 ^= v1; v12 = (v12 >>> 16) | (v12 << 16);
  v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 12) | (v6 << 20);
  v1 = (v1 + v6 + m0) | 0; v12 ^= v1; v12 = (v12 >>> 8) | (v12 << 24);
  v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 7) | (v6 << 25);
  v2 = (v2 + v7 + m11) | 0; v13 ^= v2; v13 = (v13 >>> 16) | (v13 << 16);
  v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 12) | (v7 << 20);
  v2 = (v2 + v7 + m15) | 0; v13 ^= v2; v13 = (v13 >>> 8) | (v13 << 24);
  v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 7) | (v7 << 25);
  v3 = (v3 + v4 + m8) | 0; v14 ^= v3; v14 = (v14 >>> 16) | (v14 << 16);
  v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 12) | (v4 << 20);
  v3 = (v3 + v4 + m1) | 0; v14 ^= v3; v14 = (v14 >>> 8) | (v14 << 24);
  v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 7) | (v4 << 25);
  // round 4
  v0 = (v0 + v4 + m10) | 0; v12 ^= v0; v12 = (v12 >>> 16) | (v12 << 16);
  v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 12) | (v4 << 20);
  v0 = (v0 + v4 + m7) | 0; v12 ^= v0; v12 = (v12 >>> 8) | (v12 << 24);
  v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 7) | (v4 << 25);
  v1 = (v1 + v5 + m12) | 0; v13 ^= v1; v13 = (v13 >>> 16) | (v13 << 16);
  v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 12) | (v5 << 20);
  v1 = (v1 + v5 + m9) | 0; v13 ^= v1; v13 = (v13 >>> 8) | (v13 << 24);
  v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 7) | (v5 << 25);
  v2 = (v2 + v6 + m14) | 0; v14 ^= v2; v14 = (v14 >>> 16) | (v14 << 16);
  v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 12) | (v6 << 20);
  v2 = (v2 + v6 + m3) | 0; v14 ^= v2; v14 = (v14 >>> 8) | (v14 << 24);
  v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 7) | (v6 << 25);
  v3 = (v3 + v7 + m13) | 0; v15 ^= v3; v15 = (v15 >>> 16) | (v15 << 16);
  v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 12) | (v7 << 20);
  v3 = (v3 + v7 + m15) | 0; v15 ^= v3; v15 = (v15 >>> 8) | (v15 << 24);
  v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 7) | (v7 << 25);
  v0 = (v0 + v5 + m4) | 0; v15 ^= v0; v15 = (v15 >>> 16) | (v15 << 16);
  v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 12) | (v5 << 20);
  v0 = (v0 + v5 + m0) | 0; v15 ^= v0; v15 = (v15 >>> 8) | (v15 << 24);
  v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 7) | (v5 << 25);
  v1 = (v1 + v6 + m11) | 0; v12 ^= v1; v12 = (v12 >>> 16) | (v12 << 16);
  v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 12) | (v6 << 20);
  v1 = (v1 + v6 + m2) | 0; v12 ^= v1; v12 = (v12 >>> 8) | (v12 << 24);
  v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 7) | (v6 << 25);
  v2 = (v2 + v7 + m5) | 0; v13 ^= v2; v13 = (v13 >>> 16) | (v13 << 16);
  v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 12) | (v7 << 20);
  v2 = (v2 + v7 + m8) | 0; v13 ^= v2; v13 = (v13 >>> 8) | (v13 << 24);
  v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 7) | (v7 << 25);
  v3 = (v3 + v4 + m1) | 0; v14 ^= v3; v14 = (v14 >>> 16) | (v14 << 16);
  v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 12) | (v4 << 20);
  v3 = (v3 + v4 + m6) | 0; v14 ^= v3; v14 = (v14 >>> 8) | (v14 << 24);
  v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 7) | (v4 << 25);
  // round 5
  v0 = (v0 + v4 + m12) | 0; v12 ^= v0; v12 = (v12 >>> 16) | (v12 << 16);
  v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 12) | (v4 << 20);
  v0 = (v0 + v4 + m13) | 0; v12 ^= v0; v12 = (v12 >>> 8) | (v12 << 24);
  v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 7) | (v4 << 25);
  v1 = (v1 + v5 + m9) | 0; v13 ^= v1; v13 = (v13 >>> 16) | (v13 << 16);
  v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 12) | (v5 << 20);
  v1 = (v1 + v5 + m11) | 0; v13 ^= v1; v13 = (v13 >>> 8) | (v13 << 24);
  v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 7) | (v5 << 25);
  v2 = (v2 + v6 + m15) | 0; v14 ^= v2; v14 = (v14 >>> 16) | (v14 << 16);
  v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 12) | (v6 << 20);
  v2 = (v2 + v6 + m10) | 0; v14 ^= v2; v14 = (v14 >>> 8) | (v14 << 24);
  v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 7) | (v6 << 25);
  v3 = (v3 + v7 + m14) | 0; v15 ^= v3; v15 = (v15 >>> 16) | (v15 << 16);
  v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 12) | (v7 << 20);
  v3 = (v3 + v7 + m8) | 0; v15 ^= v3; v15 = (v15 >>> 8) | (v15 << 24);
  v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 7) | (v7 << 25);
  v0 = (v0 + v5 + m7) | 0; v15 ^= v0; v15 = (v15 >>> 16) | (v15 << 16);
  v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 12) | (v5 << 20);
  v0 = (v0 + v5 + m2) | 0; v15 ^= v0; v15 = (v15 >>> 8) | (v15 << 24);
  v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 7) | (v5 << 25);
  v1 = (v1 + v6 + m5) | 0; v12 ^= v1; v12 = (v12 >>> 16) | (v12 << 16);
  v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 12) | (v6 << 20);
  v1 = (v1 + v6 + m3) | 0; v12 ^= v1; v12 = (v12 >>> 8) | (v12 << 24);
  v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 7) | (v6 << 25);
  v2 = (v2 + v7 + m0) | 0; v13 ^= v2; v13 = (v13 >>> 16) | (v13 << 16);
  v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 12) | (v7 << 20);
  v2 = (v2 + v7 + m1) | 0; v13 ^= v2; v13 = (v13 >>> 8) | (v13 << 24);
  v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 7) | (v7 << 25);
  v3 = (v3 + v4 + m6) | 0; v14 ^= v3; v14 = (v14 >>> 16) | (v14 << 16);
  v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 12) | (v4 << 20);
  v3 = (v3 + v4 + m4) | 0; v14 ^= v3; v14 = (v14 >>> 8) | (v14 << 24);
  v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 7) | (v4 << 25);
  // round 6
  v0 = (v0 + v4 + m9) | 0; v12 ^= v0; v12 = (v12 >>> 16) | (v12 << 16);
  v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 12) | (v4 << 20);
  v0 = (v0 + v4 + m14) | 0; v12 ^= v0; v12 = (v12 >>> 8) | (v12 << 24);
  v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 7) | (v4 << 25);
  v1 = (v1 + v5 + m11) | 0; v13 ^= v1; v13 = (v13 >>> 16) | (v13 << 16);
  v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 12) | (v5 << 20);
  v1 = (v1 + v5 + m5) | 0; v13 ^= v1; v13 = (v13 >>> 8) | (v13 << 24);
  v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 7) | (v5 << 25);
  v2 = (v2 + v6 + m8) | 0; v14 ^= v2; v14 = (v14 >>> 16) | (v14 << 16);
  v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 12) | (v6 << 20);
  v2 = (v2 + v6 + m12) | 0; v14 ^= v2; v14 = (v14 >>> 8) | (v14 << 24);
  v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 7) | (v6 << 25);
  v3 = (v3 + v7 + m15) | 0; v15 ^= v3; v15 = (v15 >>> 16) | (v15 << 16);
  v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 12) | (v7 << 20);
  v3 = (v3 + v7 + m1) | 0; v15 ^= v3; v15 = (v15 >>> 8) | (v15 << 24);
  v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 7) | (v7 << 25);
  v0 = (v0 + v5 + m13) | 0; v15 ^= v0; v15 = (v15 >>> 16) | (v15 << 16);
  v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 12) | (v5 << 20);
  v0 = (v0 + v5 + m3) | 0; v15 ^= v0; v15 = (v15 >>> 8) | (v15 << 24);
  v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 7) | (v5 << 25);
  v1 = (v1 + v6 + m0) | 0; v12 ^= v1; v12 = (v12 >>> 16) | (v12 << 16);
  v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 12) | (v6 << 20);
  v1 = (v1 + v6 + m10) | 0; v12 ^= v1; v12 = (v12 >>> 8) | (v12 << 24);
  v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 7) | (v6 << 25);
  v2 = (v2 + v7 + m2) | 0; v13 ^= v2; v13 = (v13 >>> 16) | (v13 << 16);
  v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 12) | (v7 << 20);
  v2 = (v2 + v7 + m6) | 0; v13 ^= v2; v13 = (v13 >>> 8) | (v13 << 24);
  v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 7) | (v7 << 25);
  v3 = (v3 + v4 + m4) | 0; v14 ^= v3; v14 = (v14 >>> 16) | (v14 << 16);
  v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 12) | (v4 << 20);
  v3 = (v3 + v4 + m7) | 0; v14 ^= v3; v14 = (v14 >>> 8) | (v14 << 24);
  v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 7) | (v4 << 25);
  // round 7
  v0 = (v0 + v4 + m11) | 0; v12 ^= v0; v12 = (v12 >>> 16) | (v12 << 16);
  v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 12) | (v4 << 20);
  v0 = (v0 + v4 + m15) | 0; v12 ^= v0; v12 = (v12 >>> 8) | (v12 << 24);
  v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 7) | (v4 << 25);
  v1 = (v1 + v5 + m5) | 0; v13 ^= v1; v13 = (v13 >>> 16) | (v13 << 16);
  v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 12) | (v5 << 20);
  v1 = (v1 + v5 + m0) | 0; v13 ^= v1; v13 = (v13 >>> 8) | (v13 << 24);
  v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 7) | (v5 << 25);
  v2 = (v2 + v6 + m1) | 0; v14 ^= v2; v14 = (v14 >>> 16) | (v14 << 16);
  v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 12) | (v6 << 20);
  v2 = (v2 + v6 + m9) | 0; v14 ^= v2; v14 = (v14 >>> 8) | (v14 << 24);
  v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 7) | (v6 << 25);
  v3 = (v3 + v7 + m8) | 0; v15 ^= v3; v15 = (v15 >>> 16) | (v15 << 16);
  v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 12) | (v7 << 20);
  v3 = (v3 + v7 + m6) | 0; v15 ^= v3; v15 = (v15 >>> 8) | (v15 << 24);
  v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 7) | (v7 << 25);
  v0 = (v0 + v5 + m14) | 0; v15 ^= v0; v15 = (v15 >>> 16) | (v15 << 16);
  v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 12) | (v5 << 20);
  v0 = (v0 + v5 + m10) | 0; v15 ^= v0; v15 = (v15 >>> 8) | (v15 << 24);
  v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 7) | (v5 << 25);
  v1 = (v1 + v6 + m2) | 0; v12 ^= v1; v12 = (v12 >>> 16) | (v12 << 16);
  v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 12) | (v6 << 20);
  v1 = (v1 + v6 + m12) | 0; v12 ^= v1; v12 = (v12 >>> 8) | (v12 << 24);
  v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 7) | (v6 << 25);
  v2 = (v2 + v7 + m3) | 0; v13 ^= v2; v13 = (v13 >>> 16) | (v13 << 16);
  v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 12) | (v7 << 20);
  v2 = (v2 + v7 + m4) | 0; v13 ^= v2; v13 = (v13 >>> 8) | (v13 << 24);
  v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 7) | (v7 << 25);
  v3 = (v3 + v4 + m7) | 0; v14 ^= v3; v14 = (v14 >>> 16) | (v14 << 16);
  v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 12) | (v4 << 20);
  v3 = (v3 + v4 + m13) | 0; v14 ^= v3; v14 = (v14 >>> 8) | (v14 << 24);
  v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 7) | (v4 << 25);
  if (full) {
    out[outOff + 8] = v8 ^ cv[cvOff]!; out[outOff + 9] = v9 ^ cv[cvOff + 1]!;
    out[outOff + 10] = v10 ^ cv[cvOff + 2]!; out[outOff + 11] = v11 ^ cv[cvOff + 3]!;
    out[outOff + 12] = v12 ^ cv[cvOff + 4]!; out[outOff + 13] = v13 ^ cv[cvOff + 5]!;
    out[outOff + 14] = v14 ^ cv[cvOff + 6]!; out[outOff + 15] = v15 ^ cv[cvOff + 7]!;
  }
  out[outOff] = v0 ^ v8; out[outOff + 1] = v1 ^ v9; out[outOff + 2] = v2 ^ v10; out[outOff + 3] = v3 ^ v11;
  out[outOff + 4] = v4 ^ v12; out[outOff + 5] = v5 ^ v13; out[outOff + 6] = v6 ^ v14; out[outOff + 7] = v7 ^ v15;
}

/** Scratch for inputs that are not 4-byte aligned: whole chunks are copied here, then hashed. */
const SCRATCH_CHUNKS = 16;
const scratchBytes = new Uint8Array(SCRATCH_CHUNKS * CHUNK_LEN);
const scratchWords = new Uint32Array(scratchBytes.buffer);
const chunkCv = new Uint32Array(8);

/**
 * Push the chaining value in stack slot `pos` as chunk number `total` (1-based) and merge the
 * completed subtrees below it. Only called when more input follows, so no merge is the root.
 * Returns the new stack length.
 */
function pushChunkCv(stack: Uint32Array, pos: number, total: number, key: Uint32Array, flags: number): number {
  while (total % 2 === 0) {
    pos--;
    compress(key, 0, stack, pos * 8, 0, 0, BLOCK_LEN, flags | PARENT, stack, pos * 8, false);
    total /= 2;
  }
  return pos + 1;
}

/**
 * Hash `count` whole chunks from w[wOff..) as chunks number chunkCounter, chunkCounter+1, …; each
 * chaining value goes onto the stack. Returns the new stack length.
 */
function hashChunks(
  w: Uint32Array, wOff: number, count: number, chunkCounter: number,
  key: Uint32Array, flags: number, stack: Uint32Array, stackLen: number,
): number {
  for (let c = 0; c < count; c++) {
    const counter = chunkCounter + c;
    const lo = counter % TWO32;
    const hi = (counter - lo) / TWO32;
    compress(key, 0, w, wOff, lo, hi, BLOCK_LEN, flags | CHUNK_START, chunkCv, 0, false);
    for (let b = 1; b < 15; b++) {
      compress(chunkCv, 0, w, wOff + b * 16, lo, hi, BLOCK_LEN, flags, chunkCv, 0, false);
    }
    compress(chunkCv, 0, w, wOff + 240, lo, hi, BLOCK_LEN, flags | CHUNK_END, stack, stackLen * 8, false);
    stackLen = pushChunkCv(stack, stackLen, counter + 1, key, flags);
    wOff += CHUNK_LEN / 4;
  }
  return stackLen;
}

function checkDkLen(dkLen: number): void {
  if (!Number.isSafeInteger(dkLen) || dkLen < 0) throw new RangeError(`blake3: bad output length ${dkLen}`);
}

function wordsFromBytes(b: Uint8Array, what: string): Uint32Array {
  if (b.length !== 32) throw new RangeError(`blake3: ${what} must be 32 bytes, got ${b.length}`);
  const w = new Uint32Array(8);
  for (let i = 0; i < 8; i++) w[i] = b[i * 4]! | (b[i * 4 + 1]! << 8) | (b[i * 4 + 2]! << 16) | (b[i * 4 + 3]! << 24);
  return w;
}

class Blake3State implements Blake3Hasher {
  /** chaining value of the current chunk (the key before its first block) */
  private readonly cv = new Uint32Array(8);
  private readonly block = new Uint8Array(BLOCK_LEN);
  private readonly blockWords = new Uint32Array(this.block.buffer);
  /** bytes in `block` */
  private blockLen = 0;
  /** blocks of the current chunk already compressed into `cv` */
  private blocksDone = 0;
  /** index of the current chunk */
  private chunkCounter = 0;
  /** chaining values of completed subtrees, 8 words each; one spare slot for a new chunk's value */
  private readonly stack = new Uint32Array(55 * 8);
  private stackLen = 0;

  constructor(private readonly key: Uint32Array, private readonly flags: number, private readonly dkLen: number) {
    this.cv.set(key);
  }

  reset(): this {
    this.cv.set(this.key);
    this.blockLen = 0;
    this.blocksDone = 0;
    this.chunkCounter = 0;
    this.stackLen = 0;
    return this;
  }

  /** The current chunk is complete (16 blocks, the last one buffered or at w[wOff..)) and more input follows. */
  private endChunk(w: Uint32Array, wOff: number): void {
    const lo = this.chunkCounter % TWO32;
    const hi = (this.chunkCounter - lo) / TWO32;
    compress(this.cv, 0, w, wOff, lo, hi, BLOCK_LEN, this.flags | CHUNK_END | (this.blocksDone === 0 ? CHUNK_START : 0),
      this.stack, this.stackLen * 8, false);
    this.chunkCounter++;
    this.stackLen = pushChunkCv(this.stack, this.stackLen, this.chunkCounter, this.key, this.flags);
    this.cv.set(this.key);
    this.blocksDone = 0;
    this.blockLen = 0;
  }

  /** A block that is not the chunk's last, at w[wOff..), more input follows. */
  private midBlock(w: Uint32Array, wOff: number): void {
    const lo = this.chunkCounter % TWO32;
    const hi = (this.chunkCounter - lo) / TWO32;
    compress(this.cv, 0, w, wOff, lo, hi, BLOCK_LEN, this.flags | (this.blocksDone === 0 ? CHUNK_START : 0), this.cv, 0, false);
    this.blocksDone++;
    this.blockLen = 0;
  }

  update(data: Uint8Array): this {
    const n = data.length;
    let pos = 0;
    // every branch below consumes input only while more input remains after it, so the last block
    // (which needs CHUNK_END and maybe ROOT) always stays buffered for digest()
    const w = LITTLE_ENDIAN && (data.byteOffset & 3) === 0 ? new Uint32Array(data.buffer, data.byteOffset, n >>> 2) : undefined;
    while (pos < n) {
      if (this.blockLen === BLOCK_LEN) {
        if (!LITTLE_ENDIAN) byteSwapWords(this.blockWords, 0, 16);
        if (this.blocksDone === 15) this.endChunk(this.blockWords, 0);
        else this.midBlock(this.blockWords, 0);
      }
      const left = n - pos;
      // word reads in place need the current position 4-byte aligned too
      const inPlace = w !== undefined && (pos & 3) === 0;
      if (this.blockLen === 0 && this.blocksDone === 0 && left > CHUNK_LEN) {
        let count = Math.floor((left - 1) / CHUNK_LEN);
        if (inPlace) {
          this.stackLen = hashChunks(w!, pos >>> 2, count, this.chunkCounter, this.key, this.flags, this.stack, this.stackLen);
        } else {
          count = Math.min(count, SCRATCH_CHUNKS);
          scratchBytes.set(data.subarray(pos, pos + count * CHUNK_LEN));
          if (!LITTLE_ENDIAN) byteSwapWords(scratchWords, 0, count * 256);
          this.stackLen = hashChunks(scratchWords, 0, count, this.chunkCounter, this.key, this.flags, this.stack, this.stackLen);
        }
        this.chunkCounter += count;
        pos += count * CHUNK_LEN;
        continue;
      }
      if (this.blockLen === 0 && inPlace && left > BLOCK_LEN) {
        // whole blocks of a partly hashed chunk, read in place
        if (this.blocksDone === 15) this.endChunk(w!, pos >>> 2);
        else this.midBlock(w!, pos >>> 2);
        pos += BLOCK_LEN;
        continue;
      }
      const take = Math.min(BLOCK_LEN - this.blockLen, left);
      this.block.set(data.subarray(pos, pos + take), this.blockLen);
      this.blockLen += take;
      pos += take;
    }
    return this;
  }

  digest(dkLen = this.dkLen): Uint8Array {
    checkDkLen(dkLen);
    // the output node: chaining value, message block, counter, block length, flags
    const ocv = new Uint32Array(8);
    const omsg = new Uint32Array(16);
    ocv.set(this.cv);
    for (let i = 0; i < this.blockLen; i++) omsg[i >>> 2]! |= this.block[i]! << ((i & 3) * 8);
    let counter = this.chunkCounter;
    let blockLen = this.blockLen;
    let flags = this.flags | CHUNK_END | (this.blocksDone === 0 ? CHUNK_START : 0);
    for (let i = this.stackLen - 1; i >= 0; i--) {
      const lo = counter % TWO32;
      compress(ocv, 0, omsg, 0, lo, (counter - lo) / TWO32, blockLen, flags, omsg, 8, false);
      omsg.set(this.stack.subarray(i * 8, i * 8 + 8), 0);
      ocv.set(this.key);
      counter = 0;
      blockLen = BLOCK_LEN;
      flags = this.flags | PARENT;
    }
    const out = new Uint8Array(dkLen);
    const words = new Uint32Array(16);
    for (let t = 0, o = 0; o < dkLen; t++) {
      compress(ocv, 0, omsg, 0, t % TWO32, Math.floor(t / TWO32), blockLen, flags | ROOT, words, 0, true);
      for (let i = 0; i < 16 && o < dkLen; i++) {
        const x = words[i]!;
        out[o++] = x;
        if (o < dkLen) out[o++] = x >>> 8;
        if (o < dkLen) out[o++] = x >>> 16;
        if (o < dkLen) out[o++] = x >>> 24;
      }
    }
    return out;
  }
}

function newState(opts: Blake3Options): Blake3State {
  const dkLen = opts.dkLen ?? 32;
  checkDkLen(dkLen);
  if (opts.key && opts.context !== undefined) throw new TypeError('blake3: give either key or context, not both');
  if (opts.key) return new Blake3State(wordsFromBytes(opts.key, 'key'), KEYED_HASH, dkLen);
  if (opts.context !== undefined) {
    const ctx = typeof opts.context === 'string' ? new TextEncoder().encode(opts.context) : opts.context;
    const contextKey = new Blake3State(IV, DERIVE_KEY_CONTEXT, 32).update(ctx).digest();
    return new Blake3State(wordsFromBytes(contextKey, 'context key'), DERIVE_KEY_MATERIAL, dkLen);
  }
  return new Blake3State(IV, 0, dkLen);
}

/** BLAKE3 of `data`: 32 bytes unless `opts.dkLen` says otherwise; keyed or derive-key with `opts`. */
export function blake3(data: Uint8Array, opts: Blake3Options = {}): Uint8Array {
  return newState(opts).update(data).digest();
}

/** Streaming BLAKE3; `update` accepts pieces of any size and alignment. */
export function createBlake3(opts: Blake3Options = {}): Blake3Hasher {
  return newState(opts);
}
