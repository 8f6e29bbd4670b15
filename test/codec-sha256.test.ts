import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { createSha256, sha256, sha256Async } from '../src/lib/codec/sha256.ts';
import { hex } from '../src/lib/bytes.ts';

const nodeSha = (d: Uint8Array) => createHash('sha256').update(d).digest('hex');

function randomBytes(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24);
}

const SIZES = [0, 1, 55, 56, 63, 64, 65, 4096, 100_000, (1 << 20) + 3];

test('sha256, sha256Async and createSha256 agree with node:crypto', async () => {
  assert.equal(hex(sha256(new TextEncoder().encode('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  for (const n of SIZES) {
    const d = randomBytes(n + 1, n).subarray(1);
    const expected = nodeSha(d);
    assert.equal(hex(sha256(d)), expected, `sync ${n}`);
    assert.equal(hex(await sha256Async(d)), expected, `async ${n}`);
    const h = createSha256();
    for (let o = 0; o < d.length; o += 777) h.update(d.subarray(o, o + 777));
    assert.equal(hex(h.digest()), expected, `streaming ${n}`);
  }
});

test('sha256Async takes views over a SharedArrayBuffer (copied for WebCrypto)', async () => {
  const d = randomBytes(5000, 1);
  const shared = new Uint8Array(new SharedArrayBuffer(5008));
  shared.set(d, 8);
  assert.equal(hex(await sha256Async(shared.subarray(8))), nodeSha(d));
});

test('sha256Async falls back to pure JS without crypto.subtle', async () => {
  const d = randomBytes(3000, 2);
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'crypto')!;
  Object.defineProperty(globalThis, 'crypto', { value: undefined, configurable: true });
  try {
    assert.equal(hex(await sha256Async(d)), nodeSha(d));
  } finally {
    Object.defineProperty(globalThis, 'crypto', saved);
  }
});

test('createSha256 (pure JS): a clone goes on alone, digest() leaves the hasher usable, every split across block edges agrees', () => {
  const d = randomBytes(300, 3);
  const h = createSha256();
  h.update(d.subarray(0, 100));
  const c = h.clone();
  assert.equal(hex(h.digest()), nodeSha(d.subarray(0, 100)), 'digest of the prefix');
  h.update(d.subarray(100));
  c.update(d.subarray(100, 200));
  assert.equal(hex(h.digest()), nodeSha(d), 'after a digest, the hasher went on');
  assert.equal(hex(c.digest()), nodeSha(d.subarray(0, 200)), 'the clone saw only its own updates');
  for (let cut = 0; cut <= 130; cut++) {
    const s = createSha256().update(d.subarray(0, cut)).update(d.subarray(cut, 150)).update(d.subarray(150));
    assert.equal(hex(s.digest()), nodeSha(d), `split at ${cut}`);
  }
});
