// The LZ4 block decoder against a plain byte-at-a-time reference, on random valid blocks whose
// sequences hit every copy path: short and long literals and matches, overlapping matches with
// offsets 1-8, sequences ending right at the input or output end, a prefix dictionary, and
// decoding stopped early at dstEnd. Then truncated and corrupted blocks fail with FormatError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lz4DecodeBlock, lz4DecodeRange } from '../src/lib/codec/lz4.ts';
import { FormatError } from '../src/lib/errors.ts';

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
}

/** The output a valid block decodes to, computed the slow way. */
function reference(src: Uint8Array, history: Uint8Array, dstEnd: number): Uint8Array {
  const out: number[] = [...history];
  let s = 0;
  while (s < src.length && out.length < dstEnd) {
    const token = src[s++]!;
    let lit = token >> 4;
    if (lit === 15) for (let b = 255; b === 255; ) { b = src[s++]!; lit += b; }
    for (let k = 0; k < lit && out.length < dstEnd; k++) out.push(src[s + k]!);
    s += lit;
    if (s >= src.length) break;
    const off = src[s]! | (src[s + 1]! << 8);
    s += 2;
    let mlen = (token & 15) + 4;
    if (mlen === 19) for (let b = 255; b === 255; ) { b = src[s++]!; mlen += b; }
    for (let k = 0; k < mlen && out.length < dstEnd; k++) out.push(out[out.length - off]!);
  }
  return Uint8Array.from(out.slice(history.length));
}

/** A random valid block: `history` bytes of prefix, then sequences whose matches stay inside. */
function randomBlock(r: () => number, historyLen: number): { block: Uint8Array; size: number } {
  const bytes: number[] = [];
  const len = (n: number) => { // token nibble extension
    if (n < 15) return;
    n -= 15;
    while (n >= 255) { bytes.push(255); n -= 255; }
    bytes.push(n);
  };
  let produced = historyLen;
  const sequences = 1 + (r() % 40);
  for (let q = 0; q < sequences; q++) {
    const pick = r() % 10;
    const lit = pick < 5 ? r() % 17 : pick < 8 ? r() % 70 : r() % 600;
    const last = q === sequences - 1;
    const maxOff = Math.min(65535, produced + lit);
    const off = maxOff === 0 ? 0 : r() % 3 === 0 ? 1 + (r() % Math.min(8, maxOff)) : 1 + (r() % maxOff);
    const mlen = 4 + (r() % 4 === 0 ? r() % 300 : r() % 30);
    const withMatch = !last && off > 0;
    bytes.push((Math.min(lit, 15) << 4) | (withMatch ? Math.min(mlen - 4, 15) : 0));
    len(lit);
    for (let k = 0; k < lit; k++) bytes.push(r() & 3 ? 97 + (r() % 4) : r() & 255);
    produced += lit;
    if (!withMatch) break;
    bytes.push(off & 255, off >> 8);
    if (mlen - 4 >= 15) len(mlen - 4);
    produced += mlen;
  }
  return { block: Uint8Array.from(bytes), size: produced - historyLen };
}

test('lz4DecodeBlock agrees with a byte-at-a-time decoder on 3000 random valid blocks', () => {
  const r = rng(7);
  for (let i = 0; i < 3000; i++) {
    const historyLen = i % 3 === 0 ? r() % 100 : 0;
    const history = Uint8Array.from({ length: historyLen }, () => r() & 255);
    const { block, size } = randomBlock(r, historyLen);
    // the output buffer ends exactly at the data, or has room after it, or is cut short
    const shape = i % 4;
    const dstEnd = historyLen + (shape === 3 ? Math.floor(size / 2) : size);
    const dst = new Uint8Array(shape === 1 ? dstEnd + 40 : dstEnd);
    dst.set(history);
    const n = lz4DecodeBlock(block, dst, historyLen, dstEnd);
    const want = reference(block, history, dstEnd);
    assert.equal(n, want.length, `block ${i}: length`);
    assert.deepEqual(dst.subarray(historyLen, historyLen + n), want, `block ${i}: bytes`);
    assert.deepEqual(dst.subarray(0, historyLen), history, `block ${i}: history untouched`);
  }
});

test('lz4DecodeRange decodes a block out of a larger buffer, and its matches stop at `history`', () => {
  const r = rng(11);
  for (let i = 0; i < 500; i++) {
    const { block, size } = randomBlock(r, 0);
    // the block sits at an offset inside a bigger input, the output at an offset inside a bigger buffer
    const src = new Uint8Array(block.length + 37);
    src.set(block, 17);
    const dst = new Uint8Array(size + 64).fill(0xee);
    const n = lz4DecodeRange(src, new DataView(src.buffer), 17, 17 + block.length, dst, new DataView(dst.buffer), 23, 23, 23 + size, 'test', 1000);
    assert.equal(n, size);
    assert.deepEqual(dst.subarray(23, 23 + size), reference(block, new Uint8Array(0), size), `block ${i}`);
    assert.ok(dst.subarray(0, 23).every((b) => b === 0xee) && dst.subarray(23 + size).every((b) => b === 0xee), `block ${i}: nothing outside written`);
  }
  // a match 4 back at the very start: a prefix dictionary when history allows it, an error when not
  const block = Uint8Array.from([0x04, 4, 0, 0x00]);
  const dst = Uint8Array.from([1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0]);
  const dv = new DataView(dst.buffer);
  assert.equal(lz4DecodeRange(block, new DataView(block.buffer), 0, 3, dst, dv, 0, 4, 12, 'test', 0), 8);
  assert.deepEqual([...dst], [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]);
  assert.throws(() => lz4DecodeRange(block, new DataView(block.buffer), 0, 3, dst, dv, 4, 4, 12, 'test', 500), (e: unknown) => e instanceof FormatError && /offset 4 reaches before/.test(e.message) && e.offset === 501);
});

test('truncated or corrupted blocks fail with FormatError or decode to other bytes, never anything else', () => {
  const r = rng(11);
  let typed = 0;
  for (let i = 0; i < 2000; i++) {
    const { block, size } = randomBlock(r, 0);
    const bad = block.slice(0, i % 2 ? block.length : r() % (block.length + 1));
    if (i % 2) for (let k = 0; k < 3; k++) bad[r() % bad.length] = r() & 255;
    const dst = new Uint8Array(size + 64);
    try {
      const n = lz4DecodeBlock(bad, dst, 0, size, 'test', 0);
      assert.ok(n >= 0 && n <= size);
    } catch (e) {
      assert.ok(e instanceof FormatError, `block ${i}: ${String(e)}`);
      typed++;
    }
  }
  assert.ok(typed > 100, `only ${typed} of the damaged blocks were refused`);
});
