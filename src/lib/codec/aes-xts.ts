/**
 * XTS-AES (IEEE 1619-2007, NIST SP 800-38E) over aes.ts, one data unit per call, with ciphertext
 * stealing for a unit that is not a multiple of 16 bytes: what OpenSSL's EVP aes-128-xts /
 * aes-256-xts compute for one update call, which is how Nydus encrypts each chunk, CI array and
 * blob meta header (utils/src/crypt.rs). The key is key1 (data) ‖ key2 (tweak), 32 or 64 bytes; the
 * 16-byte IV is the initial tweak as given (IEEE 1619's data unit number, little-endian, for callers
 * that use sequence numbers). Synchronous, so workers can decrypt chunk reads in line.
 */
import { Aes } from './aes.ts';

const BLOCK = 16;

/** An XTS key schedule, reusable for many data units. */
export class AesXts {
  private readonly data: Aes;
  private readonly tweak: Aes;

  constructor(key: Uint8Array) {
    if (!(key.length === 32 || key.length === 64)) throw new RangeError(`XTS-AES key of ${key.length} bytes (32 for AES-128, 64 for AES-256)`);
    const half = key.length / 2;
    this.data = new Aes(key.subarray(0, half));
    this.tweak = new Aes(key.subarray(half));
  }

  encrypt(iv: Uint8Array, input: Uint8Array): Uint8Array {
    return this.run(iv, input, true);
  }

  decrypt(iv: Uint8Array, input: Uint8Array): Uint8Array {
    return this.run(iv, input, false);
  }

  private run(iv: Uint8Array, input: Uint8Array, enc: boolean): Uint8Array {
    if (iv.length !== BLOCK) throw new RangeError(`XTS tweak of ${iv.length} bytes (16)`);
    const n = input.length;
    if (n < BLOCK) throw new RangeError(`XTS data unit of ${n} bytes (at least 16)`);
    const out = new Uint8Array(n);
    const t = new Uint8Array(BLOCK);
    this.tweak.encryptBlock(iv, 0, t, 0);
    const full = Math.floor(n / BLOCK);
    const rest = n % BLOCK;
    // with stealing, the last full block is handled together with the partial one
    const plain = rest ? full - 1 : full;
    const buf = new Uint8Array(BLOCK);
    for (let j = 0; j < plain; j++) {
      this.block(input, j * BLOCK, out, j * BLOCK, t, buf, enc);
      double(t);
    }
    if (rest) {
      const m = plain * BLOCK; // the last full block
      if (enc) {
        // CC = E(P[m-1]) under T[m-1]; C[m] = head of CC; C[m-1] = E(P[m] ‖ tail of CC) under T[m]
        const cc = new Uint8Array(BLOCK);
        this.block(input, m, cc, 0, t, buf, true);
        double(t);
        const pp = cc.slice();
        pp.set(input.subarray(m + BLOCK, n), 0);
        out.set(cc.subarray(0, rest), m + BLOCK);
        this.block(pp, 0, out, m, t, buf, true);
      } else {
        // decrypting, the tweaks swap: PP = D(C[m-1]) under T[m], then P[m-1] = D(C[m] ‖ tail of PP) under T[m-1]
        const t2 = t.slice();
        double(t2);
        const pp = new Uint8Array(BLOCK);
        this.block(input, m, pp, 0, t2, buf, false);
        const cc = pp.slice();
        cc.set(input.subarray(m + BLOCK, n), 0);
        out.set(pp.subarray(0, rest), m + BLOCK);
        this.block(cc, 0, out, m, t, buf, false);
      }
    }
    return out;
  }

  /** out = E/D(in ⊕ t) ⊕ t for one block */
  private block(src: Uint8Array, so: number, dst: Uint8Array, d: number, t: Uint8Array, buf: Uint8Array, enc: boolean): void {
    for (let i = 0; i < BLOCK; i++) buf[i] = src[so + i]! ^ t[i]!;
    if (enc) this.data.encryptBlock(buf, 0, buf, 0);
    else this.data.decryptBlock(buf, 0, buf, 0);
    for (let i = 0; i < BLOCK; i++) dst[d + i] = buf[i]! ^ t[i]!;
  }
}

/** t ← t·α in GF(2^128), little-endian byte order as IEEE 1619 defines it */
function double(t: Uint8Array): void {
  let carry = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = t[i]!;
    t[i] = ((b << 1) | carry) & 0xff;
    carry = b >>> 7;
  }
  if (carry) t[0] = t[0]! ^ 0x87;
}

/** One-shot XTS-AES encryption of one data unit. */
export function xtsEncrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  return new AesXts(key).encrypt(iv, data);
}

/** One-shot XTS-AES decryption of one data unit. */
export function xtsDecrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  return new AesXts(key).decrypt(iv, data);
}
