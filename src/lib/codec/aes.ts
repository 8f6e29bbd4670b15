/**
 * AES (FIPS-197) block cipher, encryption and decryption, 128/192/256-bit keys, in TypeScript.
 *
 * Why our own: Nydus encrypts blobs with AES-128-XTS (aes-xts.ts) and WebCrypto offers no XTS and
 * no raw block operation to build it from (AES-CTR/CBC/GCM only, and only asynchronously), while
 * chunk reads in workers are synchronous. This is the classic 32-bit table implementation: four
 * 256-entry round tables per direction, generated at load from the S-box (8 KiB, no literal tables).
 * Not constant-time (table lookups depend on key and data): fine for reading and building images,
 * not for protecting secrets against a co-resident attacker.
 */

const SBOX = new Uint8Array(256);
const INV_SBOX = new Uint8Array(256);
const TE0 = new Uint32Array(256);
const TE1 = new Uint32Array(256);
const TE2 = new Uint32Array(256);
const TE3 = new Uint32Array(256);
const TD0 = new Uint32Array(256);
const TD1 = new Uint32Array(256);
const TD2 = new Uint32Array(256);
const TD3 = new Uint32Array(256);

/** multiply by x in GF(2^8) mod x^8 + x^4 + x^3 + x + 1 */
const xtime = (a: number): number => ((a << 1) ^ (a & 0x80 ? 0x1b : 0)) & 0xff;

function mul(a: number, b: number): number {
  let r = 0;
  while (b) {
    if (b & 1) r ^= a;
    a = xtime(a);
    b >>= 1;
  }
  return r;
}

(function init(): void {
  // S-box: multiplicative inverse (via generator 3 powers and logs), then the affine map
  const exp = new Uint8Array(256);
  const log = new Uint8Array(256);
  for (let i = 0, x = 1; i < 255; i++) {
    exp[i] = x;
    log[x] = i;
    x = x ^ xtime(x);
  }
  for (let a = 0; a < 256; a++) {
    const inv = a === 0 ? 0 : exp[(255 - log[a]!) % 255]!;
    let s = inv;
    let r = inv;
    for (let k = 0; k < 4; k++) {
      r = ((r << 1) | (r >>> 7)) & 0xff;
      s ^= r;
    }
    s ^= 0x63;
    SBOX[a] = s;
    INV_SBOX[s] = a;
  }
  for (let a = 0; a < 256; a++) {
    const s = SBOX[a]!;
    const e = (mul(s, 2) << 24) | (s << 16) | (s << 8) | mul(s, 3);
    TE0[a] = e >>> 0;
    TE1[a] = ((e >>> 8) | (e << 24)) >>> 0;
    TE2[a] = ((e >>> 16) | (e << 16)) >>> 0;
    TE3[a] = ((e >>> 24) | (e << 8)) >>> 0;
    const i = INV_SBOX[a]!;
    const d = (mul(i, 14) << 24) | (mul(i, 9) << 16) | (mul(i, 13) << 8) | mul(i, 11);
    TD0[a] = d >>> 0;
    TD1[a] = ((d >>> 8) | (d << 24)) >>> 0;
    TD2[a] = ((d >>> 16) | (d << 16)) >>> 0;
    TD3[a] = ((d >>> 24) | (d << 8)) >>> 0;
  }
})();

const RCON = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1b, 0x36];

const subWord = (w: number): number =>
  ((SBOX[w >>> 24]! << 24) | (SBOX[(w >>> 16) & 0xff]! << 16) | (SBOX[(w >>> 8) & 0xff]! << 8) | SBOX[w & 0xff]!) >>> 0;

/** One expanded key: encryption and decryption round keys (big-endian words). */
export class Aes {
  readonly rounds: number;
  private readonly ek: Uint32Array;
  private readonly dk: Uint32Array;

  constructor(key: Uint8Array) {
    const nk = key.length / 4;
    if (!(key.length === 16 || key.length === 24 || key.length === 32)) throw new RangeError(`AES key of ${key.length} bytes (16, 24 or 32)`);
    const rounds = nk + 6;
    this.rounds = rounds;
    const n = 4 * (rounds + 1);
    const ek = new Uint32Array(n);
    for (let i = 0; i < nk; i++) ek[i] = ((key[4 * i]! << 24) | (key[4 * i + 1]! << 16) | (key[4 * i + 2]! << 8) | key[4 * i + 3]!) >>> 0;
    for (let i = nk; i < n; i++) {
      let t = ek[i - 1]!;
      if (i % nk === 0) t = (subWord(((t << 8) | (t >>> 24)) >>> 0) ^ (RCON[i / nk - 1]! << 24)) >>> 0;
      else if (nk > 6 && i % nk === 4) t = subWord(t);
      ek[i] = (ek[i - nk]! ^ t) >>> 0;
    }
    // equivalent inverse cipher: round keys reversed, InvMixColumns on all but the first and last
    const dk = new Uint32Array(n);
    for (let r = 0; r <= rounds; r++) {
      for (let c = 0; c < 4; c++) {
        const w = ek[4 * (rounds - r) + c]!;
        dk[4 * r + c] = r === 0 || r === rounds ? w
          : (TD0[SBOX[w >>> 24]!]! ^ TD1[SBOX[(w >>> 16) & 0xff]!]! ^ TD2[SBOX[(w >>> 8) & 0xff]!]! ^ TD3[SBOX[w & 0xff]!]!) >>> 0;
      }
    }
    this.ek = ek;
    this.dk = dk;
  }

  /** Encrypt the 16 bytes at src[so] into dst[do] (may be the same place). */
  encryptBlock(src: Uint8Array, so: number, dst: Uint8Array, d: number): void {
    const k = this.ek;
    let s0 = (((src[so]! << 24) | (src[so + 1]! << 16) | (src[so + 2]! << 8) | src[so + 3]!) ^ k[0]!) >>> 0;
    let s1 = (((src[so + 4]! << 24) | (src[so + 5]! << 16) | (src[so + 6]! << 8) | src[so + 7]!) ^ k[1]!) >>> 0;
    let s2 = (((src[so + 8]! << 24) | (src[so + 9]! << 16) | (src[so + 10]! << 8) | src[so + 11]!) ^ k[2]!) >>> 0;
    let s3 = (((src[so + 12]! << 24) | (src[so + 13]! << 16) | (src[so + 14]! << 8) | src[so + 15]!) ^ k[3]!) >>> 0;
    let ki = 4;
    for (let r = 1; r < this.rounds; r++) {
      const t0 = TE0[s0 >>> 24]! ^ TE1[(s1 >>> 16) & 0xff]! ^ TE2[(s2 >>> 8) & 0xff]! ^ TE3[s3 & 0xff]! ^ k[ki]!;
      const t1 = TE0[s1 >>> 24]! ^ TE1[(s2 >>> 16) & 0xff]! ^ TE2[(s3 >>> 8) & 0xff]! ^ TE3[s0 & 0xff]! ^ k[ki + 1]!;
      const t2 = TE0[s2 >>> 24]! ^ TE1[(s3 >>> 16) & 0xff]! ^ TE2[(s0 >>> 8) & 0xff]! ^ TE3[s1 & 0xff]! ^ k[ki + 2]!;
      const t3 = TE0[s3 >>> 24]! ^ TE1[(s0 >>> 16) & 0xff]! ^ TE2[(s1 >>> 8) & 0xff]! ^ TE3[s2 & 0xff]! ^ k[ki + 3]!;
      s0 = t0 >>> 0;
      s1 = t1 >>> 0;
      s2 = t2 >>> 0;
      s3 = t3 >>> 0;
      ki += 4;
    }
    const o0 = ((SBOX[s0 >>> 24]! << 24) | (SBOX[(s1 >>> 16) & 0xff]! << 16) | (SBOX[(s2 >>> 8) & 0xff]! << 8) | SBOX[s3 & 0xff]!) ^ k[ki]!;
    const o1 = ((SBOX[s1 >>> 24]! << 24) | (SBOX[(s2 >>> 16) & 0xff]! << 16) | (SBOX[(s3 >>> 8) & 0xff]! << 8) | SBOX[s0 & 0xff]!) ^ k[ki + 1]!;
    const o2 = ((SBOX[s2 >>> 24]! << 24) | (SBOX[(s3 >>> 16) & 0xff]! << 16) | (SBOX[(s0 >>> 8) & 0xff]! << 8) | SBOX[s1 & 0xff]!) ^ k[ki + 2]!;
    const o3 = ((SBOX[s3 >>> 24]! << 24) | (SBOX[(s0 >>> 16) & 0xff]! << 16) | (SBOX[(s1 >>> 8) & 0xff]! << 8) | SBOX[s2 & 0xff]!) ^ k[ki + 3]!;
    put(dst, d, o0, o1, o2, o3);
  }

  /** Decrypt the 16 bytes at src[so] into dst[do] (may be the same place). */
  decryptBlock(src: Uint8Array, so: number, dst: Uint8Array, d: number): void {
    const k = this.dk;
    let s0 = (((src[so]! << 24) | (src[so + 1]! << 16) | (src[so + 2]! << 8) | src[so + 3]!) ^ k[0]!) >>> 0;
    let s1 = (((src[so + 4]! << 24) | (src[so + 5]! << 16) | (src[so + 6]! << 8) | src[so + 7]!) ^ k[1]!) >>> 0;
    let s2 = (((src[so + 8]! << 24) | (src[so + 9]! << 16) | (src[so + 10]! << 8) | src[so + 11]!) ^ k[2]!) >>> 0;
    let s3 = (((src[so + 12]! << 24) | (src[so + 13]! << 16) | (src[so + 14]! << 8) | src[so + 15]!) ^ k[3]!) >>> 0;
    let ki = 4;
    for (let r = 1; r < this.rounds; r++) {
      const t0 = TD0[s0 >>> 24]! ^ TD1[(s3 >>> 16) & 0xff]! ^ TD2[(s2 >>> 8) & 0xff]! ^ TD3[s1 & 0xff]! ^ k[ki]!;
      const t1 = TD0[s1 >>> 24]! ^ TD1[(s0 >>> 16) & 0xff]! ^ TD2[(s3 >>> 8) & 0xff]! ^ TD3[s2 & 0xff]! ^ k[ki + 1]!;
      const t2 = TD0[s2 >>> 24]! ^ TD1[(s1 >>> 16) & 0xff]! ^ TD2[(s0 >>> 8) & 0xff]! ^ TD3[s3 & 0xff]! ^ k[ki + 2]!;
      const t3 = TD0[s3 >>> 24]! ^ TD1[(s2 >>> 16) & 0xff]! ^ TD2[(s1 >>> 8) & 0xff]! ^ TD3[s0 & 0xff]! ^ k[ki + 3]!;
      s0 = t0 >>> 0;
      s1 = t1 >>> 0;
      s2 = t2 >>> 0;
      s3 = t3 >>> 0;
      ki += 4;
    }
    const o0 = ((INV_SBOX[s0 >>> 24]! << 24) | (INV_SBOX[(s3 >>> 16) & 0xff]! << 16) | (INV_SBOX[(s2 >>> 8) & 0xff]! << 8) | INV_SBOX[s1 & 0xff]!) ^ k[ki]!;
    const o1 = ((INV_SBOX[s1 >>> 24]! << 24) | (INV_SBOX[(s0 >>> 16) & 0xff]! << 16) | (INV_SBOX[(s3 >>> 8) & 0xff]! << 8) | INV_SBOX[s2 & 0xff]!) ^ k[ki + 1]!;
    const o2 = ((INV_SBOX[s2 >>> 24]! << 24) | (INV_SBOX[(s1 >>> 16) & 0xff]! << 16) | (INV_SBOX[(s0 >>> 8) & 0xff]! << 8) | INV_SBOX[s3 & 0xff]!) ^ k[ki + 2]!;
    const o3 = ((INV_SBOX[s3 >>> 24]! << 24) | (INV_SBOX[(s2 >>> 16) & 0xff]! << 16) | (INV_SBOX[(s1 >>> 8) & 0xff]! << 8) | INV_SBOX[s0 & 0xff]!) ^ k[ki + 3]!;
    put(dst, d, o0, o1, o2, o3);
  }
}

function put(dst: Uint8Array, d: number, a: number, b: number, c: number, e: number): void {
  dst[d] = a >>> 24; dst[d + 1] = a >>> 16; dst[d + 2] = a >>> 8; dst[d + 3] = a;
  dst[d + 4] = b >>> 24; dst[d + 5] = b >>> 16; dst[d + 6] = b >>> 8; dst[d + 7] = b;
  dst[d + 8] = c >>> 24; dst[d + 9] = c >>> 16; dst[d + 10] = c >>> 8; dst[d + 11] = c;
  dst[d + 12] = e >>> 24; dst[d + 13] = e >>> 16; dst[d + 14] = e >>> 8; dst[d + 15] = e;
}
