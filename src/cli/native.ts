// Node-only speed-ups the core can use through registration (it never imports node: modules).
import { createHash, type Hash } from 'node:crypto';
import { useNativeSha256, type CloneableHasher } from '../lib/codec/sha256.ts';

function wrap(h: Hash): CloneableHasher {
  const api: CloneableHasher = {
    update(d) { h.update(d); return api; },
    digest() { return new Uint8Array(h.digest()); },
    clone() { return wrap(h.copy()); },
  };
  return api;
}

useNativeSha256(() => wrap(createHash('sha256')));
