import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import type { Hasher } from './blake3.ts';

/** Synchronous SHA-256 (pure JS). Prefer sha256Async for bulk data: WebCrypto is native. */
export function sha256(data: Uint8Array): Uint8Array {
  return nobleSha256(data);
}

export function createSha256(): Hasher {
  const h = nobleSha256.create();
  const api: Hasher = {
    update(d) { h.update(d); return api; },
    digest() { return h.digest(); },
  };
  return api;
}

export async function sha256Async(data: Uint8Array): Promise<Uint8Array> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return sha256(data);
  return new Uint8Array(await subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>));
}
