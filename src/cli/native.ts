// Node-only speed-ups the core can use through registration (it never imports node: modules).
import * as crypto from 'node:crypto';
import { createHash, type Hash } from 'node:crypto';
import { useNativeSha256, type CloneableHasher } from '../lib/codec/sha256.ts';
import { useBlockHashLatin1 } from '../lib/codec/fsverity.ts';
import { registerCompressPool } from './compress-pool.ts';

function wrap(h: Hash): CloneableHasher {
  const api: CloneableHasher = {
    update(d) { h.update(d); return api; },
    digest() { return new Uint8Array(h.digest()); },
    clone() { return wrap(h.copy()); },
  };
  return api;
}

// crypto.hash (Node ≥ 20.12) skips the Hash object: fs-verity hashes every 4 KiB block on its own
const oneShot = typeof (crypto as { hash?: unknown }).hash === 'function'
  ? (d: Uint8Array) => (crypto as unknown as { hash(alg: string, d: Uint8Array, enc: 'buffer'): Buffer }).hash('sha256', d, 'buffer')
  : null;
const hashFn = (crypto as unknown as { hash?(alg: string, d: Uint8Array, enc: 'latin1'): string }).hash;
/** What importing this module does; exported so a benchmark can switch it back on after turning it off. */
export function registerNativeSha256(): void {
  useNativeSha256(() => wrap(createHash('sha256')), oneShot);
  // fs-verity data blocks: the digest as a latin1 string, no Buffer per block (codec/fsverity.ts)
  useBlockHashLatin1(hashFn ? (d) => hashFn('sha256', d, 'latin1') : null);
}
registerNativeSha256();
// RAFS chunk and EROFS -z compression on worker threads (compress-pool.ts; LAYERSCOPE_COMPRESS_THREADS)
registerCompressPool();
