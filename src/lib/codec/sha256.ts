import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import type { Hasher } from './blake3.ts';

/** A streaming hash whose state can be copied (a running digest of a prefix, as the blob ToC needs). */
export interface CloneableHasher extends Hasher {
  clone(): CloneableHasher;
}

let nativeFactory: (() => CloneableHasher) | null = null;
let nativeOneShot: ((data: Uint8Array) => Uint8Array) | null = null;

/**
 * A runtime with a native streaming SHA-256 (Node's crypto, 5-10x the pure-JS speed) registers it
 * here from its entry point (src/cli/native.ts); the core never imports node: modules itself.
 */
export function useNativeSha256(factory: (() => CloneableHasher) | null, oneShot: ((data: Uint8Array) => Uint8Array) | null = null): void {
  nativeFactory = factory;
  nativeOneShot = factory ? oneShot : null;
}

/** True when a native SHA-256 was registered (Node): then sync hashing beats WebCrypto's per-call cost. */
export function hasNativeSha256(): boolean {
  return nativeFactory !== null;
}

/** Synchronous SHA-256 (pure JS unless a native one is registered). Prefer sha256Async for bulk data in the page. */
export function sha256(data: Uint8Array): Uint8Array {
  if (nativeOneShot) return nativeOneShot(data);
  return nativeFactory ? nativeFactory().update(data).digest() : nobleSha256(data);
}

/**
 * Streaming SHA-256, pure JS (@noble/hashes). WebCrypto has no streaming digest, so this stays
 * in JS; for whole buffers use sha256Async.
 */
export function createSha256(): CloneableHasher {
  if (nativeFactory) return nativeFactory();
  return wrapNoble(nobleSha256.create());
}

function wrapNoble(h: ReturnType<typeof nobleSha256.create>): CloneableHasher {
  const api: CloneableHasher = {
    update(d) { h.update(d); return api; },
    digest() { return h.digest(); },
    clone() { return wrapNoble(h.clone()); },
  };
  return api;
}

/** The WebCrypto digest object when this runtime has one (browsers on secure origins, workers, Node ≥ 19). */
export function webCryptoSubtle(): SubtleCrypto | undefined {
  return globalThis.crypto?.subtle;
}

/** WebCrypto takes only views over a plain ArrayBuffer; copy anything else (SharedArrayBuffer). */
export function plainBufferView(data: Uint8Array): Uint8Array<ArrayBuffer> {
  return data.buffer instanceof ArrayBuffer ? (data as Uint8Array<ArrayBuffer>) : new Uint8Array(data);
}

/**
 * SHA-256 by WebCrypto (native: 400–900 MB/s on 64 KiB–1 MiB inputs, against 20–100 MB/s in JS),
 * falling back to the pure-JS hash where crypto.subtle is missing (plain-HTTP pages).
 */
export async function sha256Async(data: Uint8Array): Promise<Uint8Array> {
  const subtle = webCryptoSubtle();
  if (!subtle) return sha256(data);
  return new Uint8Array(await subtle.digest('SHA-256', plainBufferView(data)));
}
