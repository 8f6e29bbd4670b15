// Reference implementation for now (@noble/hashes); to be replaced by an optimised pure-TS BLAKE3
// behind the same signatures.
import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js';

export function blake3(data: Uint8Array): Uint8Array {
  return nobleBlake3(data);
}

export interface Hasher {
  update(data: Uint8Array): Hasher;
  digest(): Uint8Array;
}

export function createBlake3(): Hasher {
  const h = nobleBlake3.create({});
  const api: Hasher = {
    update(d) { h.update(d); return api; },
    digest() { return h.digest(); },
  };
  return api;
}
