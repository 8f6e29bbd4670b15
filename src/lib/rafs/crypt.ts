/**
 * Nydus blob encryption (`nydus-image create --encrypt`; utils/src/crypt.rs, builder/src/core/
 * {context,node,blob}.rs, rafs/src/metadata/layout/v6.rs): AES-128-XTS with one random 32-byte key
 * (key1 ‖ key2, halves never equal) and one random 16-byte IV per blob, the same key and IV for
 * every unit. Encrypted, each as one XTS data unit, after compression: every stored chunk (or
 * batch), the blob meta CI array, and the 4096-byte blob meta header. The ToC, the digest array and
 * the bootstrap stay plain. The key and IV live in the bootstrap's v6 blob entry: key in
 * `blob_meta_digest`, IV bytes 0..8 in `blob_meta_size` (little-endian u64) and 8..16 in
 * `cipher_iv`, `cipher_algo` 1; the ext superblock has ENCRYPTION_ASE_128_XTS instead of
 * ENCRYPTION_NONE, the blob features CHUNK_INFO_V2 | ENCRYPTED, each chunk the ENCRYPTED flag.
 *
 * XTS needs at least 16 bytes: a shorter input is padded to 16 with bytes of value (16 − length)
 * and suffixed with 0x78 0x90, so an 18-byte unit is encrypted; on decryption an 18-byte result
 * ending in 78 90 is cut back to 16 − its byte 15 (Cipher::encrypt/decrypt). A genuine 18-byte
 * plaintext ending in 78 90 is cut the same way by nydus: we mirror that, so both read alike.
 */
import { AesXts } from '../codec/aes-xts.ts';
import { fail, UnsupportedError } from '../errors.ts';
import type { RafsBlob } from './model.ts';
import { BF, RAFS_V6_BLOB } from './structs.ts';

/** crypt::Algorithm::Aes128Xts */
export const CIPHER_AES128XTS = 1;
const UNIT = 16;
const PADDED = 18;
const MAGIC_END = [0x78, 0x90] as const;

/** One blob's key schedule and IV. */
export interface BlobCipher {
  readonly key: Uint8Array;
  readonly iv: Uint8Array;
  readonly xts: AesXts;
}

export function makeCipher(key: Uint8Array, iv: Uint8Array): BlobCipher {
  if (!(key.length === 32 && iv.length === UNIT)) throw new RangeError(`AES-128-XTS needs a 32-byte key and a 16-byte IV, not ${key.length}/${iv.length}`);
  return { key, iv, xts: new AesXts(key) };
}

/** A fresh random key (halves different, as CipherContext::new demands) and IV, as nydus' new_blob_ctx makes. */
export function randomCipher(): BlobCipher {
  const key = new Uint8Array(32);
  const iv = new Uint8Array(UNIT);
  do crypto.getRandomValues(key);
  while (key.subarray(0, 16).every((b, i) => b === key[16 + i]));
  crypto.getRandomValues(iv);
  return makeCipher(key, iv);
}

/** The 16-byte IV as the blob entry stores it: blob_meta_size (8 bytes LE) ‖ cipher_iv (8). */
export function ivFromEntry(entry: Uint8Array): Uint8Array {
  const f = RAFS_V6_BLOB.f;
  const iv = new Uint8Array(UNIT);
  iv.set(entry.subarray(f.blob_meta_size.offset, f.blob_meta_size.offset + 8), 0);
  iv.set(entry.subarray(f.cipher_iv.offset, f.cipher_iv.offset + 8), 8);
  return iv;
}

const ciphers = new WeakMap<RafsBlob, BlobCipher>();

/** The blob's cipher, or null for a plain blob; UnsupportedError for ciphers RAFS does not use. */
export function cipherOf(blob: RafsBlob): BlobCipher | null {
  const algo = blob.cipherAlgo ?? 0;
  if (algo === 0) {
    // nydus sets ENCRYPTED exactly when it encrypts: the feature without a cipher cannot be read either way
    if (blob.features & BF.ENCRYPTED) fail(RAFS_V6_BLOB.name, -1, `blob ${blob.blobId}: ENCRYPTED feature, but cipher_algo 0 (none)`);
    return null;
  }
  if (algo !== CIPHER_AES128XTS) throw new UnsupportedError('rafs cipher', `blob ${blob.blobId}: cipher_algo ${algo} (RAFS uses only 1, AES-128-XTS)`);
  let c = ciphers.get(blob);
  if (!c) {
    const key = blob.blobMetaDigest;
    const iv = blob.cipherIvFull;
    if (!(key && key.length === 32 && iv && iv.length === UNIT)) fail(RAFS_V6_BLOB.name, -1, `blob ${blob.blobId}: encrypted, but its entry holds no key and IV`);
    c = makeCipher(key, iv);
    ciphers.set(blob, c);
  }
  return c;
}

/** Encrypt one unit as nydus does (padding inputs shorter than 16 bytes to 18). */
export function encryptUnit(c: BlobCipher, data: Uint8Array): Uint8Array {
  if (data.length >= UNIT) return c.xts.encrypt(c.iv, data);
  const buf = new Uint8Array(PADDED).fill(UNIT - data.length);
  buf.set(data, 0);
  buf.set(MAGIC_END, UNIT);
  return c.xts.encrypt(c.iv, buf);
}

/** Decrypt one unit; `structure`/`offset` name it in the FormatError a unit shorter than 16 bytes gets. */
export function decryptUnit(c: BlobCipher, data: Uint8Array, structure: string, offset: number): Uint8Array {
  if (!(data.length >= UNIT)) fail(structure, offset, `an encrypted unit of ${data.length} bytes (XTS needs at least 16)`);
  const out = c.xts.decrypt(c.iv, data);
  if (out.length === PADDED && out[16] === MAGIC_END[0] && out[17] === MAGIC_END[1]) {
    const pad = out[UNIT - 1]!;
    if (!(pad < UNIT)) fail(structure, offset, `bad padding value ${pad} in an 18-byte encrypted unit`);
    return out.subarray(0, UNIT - pad);
  }
  return out;
}
