import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js';
import { blake3, createBlake3, LITTLE_ENDIAN, type Blake3Options } from '../src/lib/codec/blake3.ts';
import { REPO } from './helpers/paths.ts';
import { hex } from '../src/lib/bytes.ts';

const enc = new TextEncoder();

/** Official vectors from the BLAKE3 repository (see test/fixtures/blake3/LICENSE). */
const vectors = JSON.parse(readFileSync(join(REPO, 'test/fixtures/blake3/test_vectors.json'), 'utf8')) as {
  key: string;
  context_string: string;
  cases: { input_len: number; hash: string; keyed_hash: string; derive_key: string }[];
};

const vectorInput = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 251);

/** Small seeded PRNG (mulberry32) so a failure can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(rand: () => number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => (rand() * 256) | 0);
}

/** Feed `data` in pieces cut by `cut(remaining)`. */
function streamed(data: Uint8Array, opts: Blake3Options, cut: (left: number) => number): Uint8Array {
  const h = createBlake3(opts);
  for (let o = 0; o < data.length;) {
    const n = Math.max(1, Math.min(cut(data.length - o), data.length - o));
    h.update(data.subarray(o, o + n));
    o += n;
  }
  return h.digest();
}

test('host is little-endian (the fast path reads words in place)', () => {
  assert.equal(LITTLE_ENDIAN, true);
});

test('official BLAKE3 test vectors: hash, keyed_hash, derive_key, 131-byte XOF and 32-byte default', () => {
  assert.equal(vectors.cases.length, 22);
  const key = enc.encode(vectors.key);
  const context = vectors.context_string;
  for (const c of vectors.cases) {
    const input = vectorInput(c.input_len);
    const modes: [string, Blake3Options, string][] = [['hash', {}, c.hash], ['keyed_hash', { key }, c.keyed_hash], ['derive_key', { context }, c.derive_key]];
    for (const [mode, opts, expected] of modes) {
      const len = expected.length / 2;
      assert.equal(hex(blake3(input, { ...opts, dkLen: len })), expected, `${mode} ${c.input_len} XOF`);
      assert.equal(hex(blake3(input, opts)), expected.slice(0, 64), `${mode} ${c.input_len} default length`);
      assert.equal(hex(createBlake3({ ...opts, dkLen: len }).update(input).digest()), expected, `${mode} ${c.input_len} one update`);
      assert.equal(hex(createBlake3(opts).update(input).digest(len)), expected, `${mode} ${c.input_len} digest(len)`);
    }
  }
});

test('official vectors through incremental updates of many sizes, aligned and not', () => {
  const big = vectors.cases.filter((c) => c.input_len > 0);
  for (const c of big) {
    const input = vectorInput(c.input_len);
    const expected = c.hash.slice(0, 64);
    for (const piece of [1, 3, 63, 64, 65, 1000, 1024, 1025, 4096]) {
      assert.equal(hex(streamed(input, {}, () => piece)), expected, `len ${c.input_len} pieces ${piece}`);
    }
    // the same bytes at an odd offset inside a bigger buffer (unaligned word reads)
    const shifted = new Uint8Array(c.input_len + 3);
    shifted.set(input, 3);
    assert.equal(hex(blake3(shifted.subarray(3))), expected, `len ${c.input_len} at offset 3`);
    assert.equal(hex(streamed(shifted.subarray(3), {}, () => 2048 + 7)), expected, `len ${c.input_len} at offset 3, streamed`);
  }
});

test('matches @noble/hashes on random inputs, offsets and update splits (seeded)', () => {
  const seed = 20261122;
  const rand = rng(seed);
  const key = randomBytes(rand, 32);
  for (let iter = 0; iter < 60; iter++) {
    // lengths around chunk and block edges as well as arbitrary ones, up to 70 KiB
    const len = iter < 20 ? [0, 1, 63, 64, 65, 1023, 1024, 1025, 2047, 2048, 2049, 3072, 4095, 4096, 4097, 16383, 16384, 16385, 65536, 65537][iter]! : (rand() * 70000) | 0;
    const pad = (rand() * 8) | 0;
    const buf = randomBytes(rand, len + pad);
    const data = buf.subarray(pad);
    const dkLen = [32, 32, 1, 64, 65, 200][iter % 6]!;
    const modes: [Blake3Options, Parameters<typeof nobleBlake3>[1]][] = [
      [{ dkLen }, { dkLen }],
      [{ dkLen, key }, { dkLen, key }],
      [{ dkLen, context: 'layerscope test' }, { dkLen, context: enc.encode('layerscope test') }],
    ];
    for (const [ours, theirs] of modes) {
      const expected = hex(nobleBlake3(data, theirs));
      assert.equal(hex(blake3(data, ours)), expected, `seed ${seed} iter ${iter} len ${len} pad ${pad} one-shot`);
      const maxPiece = [1, 17, 64, 700, 1024, 5000][iter % 6]!;
      assert.equal(hex(streamed(data, ours, () => 1 + ((rand() * maxPiece) | 0))), expected, `seed ${seed} iter ${iter} len ${len} streamed ≤${maxPiece}`);
    }
  }
});

test('three-piece updates at every alignment and split point near block and chunk edges', () => {
  for (const pad of [0, 1, 2, 3]) {
    const buf = Uint8Array.from({ length: 2100 + pad }, (_, i) => (i * 7 + (i >> 8)) & 0xff);
    const data = buf.subarray(pad);
    const expected = hex(nobleBlake3(data));
    for (let a = 0; a <= 80; a++) {
      for (const b of [0, 1, 63, 64, 1030]) {
        const h = createBlake3().update(data.subarray(0, a)).update(data.subarray(a, a + b)).update(data.subarray(a + b));
        assert.equal(hex(h.digest()), expected, `pad ${pad} pieces ${a}+${b}+rest`);
      }
    }
  }
});

test('large inputs (deep tree, many chunks in one update) match @noble/hashes', () => {
  const rand = rng(7);
  const data = randomBytes(rand, (3 << 20) + 12345);
  const expected = hex(nobleBlake3(data));
  assert.equal(hex(blake3(data)), expected);
  assert.equal(hex(blake3(new Uint8Array(data))), expected);
  assert.equal(hex(streamed(data, {}, () => 65536 + 3)), expected);
  assert.equal(hex(streamed(data, {}, () => (rand() * 300000) | 0)), expected);
  const unaligned = new Uint8Array(data.length + 1);
  unaligned.set(data, 1);
  assert.equal(hex(blake3(unaligned.subarray(1))), expected);
});

test('input in a SharedArrayBuffer hashes the same', () => {
  const data = randomBytes(rng(3), 10000);
  const shared = new Uint8Array(new SharedArrayBuffer(data.length + 4));
  shared.set(data, 4);
  assert.equal(hex(blake3(shared.subarray(4))), hex(nobleBlake3(data)));
});

test('digest leaves the state alone: repeatable, and update continues after it', () => {
  const rand = rng(11);
  const a = randomBytes(rand, 3000);
  const b = randomBytes(rand, 5000);
  const h = createBlake3();
  h.update(a);
  const first = hex(h.digest());
  assert.equal(hex(h.digest()), first);
  assert.equal(first, hex(nobleBlake3(a)));
  h.update(b);
  const ab = new Uint8Array(8000);
  ab.set(a);
  ab.set(b, 3000);
  assert.equal(hex(h.digest()), hex(nobleBlake3(ab)));
  assert.equal(hex(h.digest(100)), hex(nobleBlake3(ab, { dkLen: 100 })));
});

test('reset forgets input but keeps the mode', () => {
  const key = randomBytes(rng(5), 32);
  const data = randomBytes(rng(6), 2500);
  const h = createBlake3({ key });
  h.update(randomBytes(rng(9), 7777));
  h.reset().update(data);
  assert.equal(hex(h.digest()), hex(nobleBlake3(data, { key })));
});

test('extendable output: prefixes agree and lengths 0..300 match @noble/hashes', () => {
  const data = randomBytes(rng(12), 1500);
  const long = blake3(data, { dkLen: 300 });
  for (const n of [0, 1, 31, 32, 33, 63, 64, 65, 127, 128, 129, 300]) {
    const out = blake3(data, { dkLen: n });
    assert.equal(out.length, n);
    assert.equal(hex(out), hex(long.subarray(0, n)));
    assert.equal(hex(out), hex(nobleBlake3(data, { dkLen: n })));
  }
});

test('bad options are refused', () => {
  assert.throws(() => blake3(new Uint8Array(1), { key: new Uint8Array(31) }), RangeError);
  assert.throws(() => blake3(new Uint8Array(1), { dkLen: -1 }), RangeError);
  assert.throws(() => blake3(new Uint8Array(1), { dkLen: 1.5 }), RangeError);
  assert.throws(() => createBlake3().digest(-4), RangeError);
  assert.throws(() => blake3(new Uint8Array(1), { key: new Uint8Array(32), context: 'x' }), TypeError);
});
