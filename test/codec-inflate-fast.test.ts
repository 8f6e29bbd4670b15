// The fast raw DEFLATE decoder (src/lib/codec/inflate-fast.ts) against zlib (node:zlib): streams of
// every level, strategy and window size decode byte-exact; stored, fixed and dynamic blocks in one
// stream; a prefix of the output stops there without touching the bytes after it; and thousands
// of damaged streams are accepted exactly when zlib accepts them (same bytes), otherwise end in a
// FormatError, with the output never past its end.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { inflateFast } from '../src/lib/codec/inflate-fast.ts';
import { FormatError } from '../src/lib/errors.ts';
import { usrBinBytes as binaries } from './helpers/mktree.ts';

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
}

function corpus(): [string, Uint8Array][] {
  const r = rng(5);
  const text = new TextEncoder().encode(readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8'));
  // runs at every distance 1..64: overlapping copies of each length
  const runs = new Uint8Array(120_000);
  for (let i = 0; i < runs.length; i++) runs[i] = (i % ((i >> 11) + 1)) & 0xff;
  return [
    ['empty', new Uint8Array(0)],
    ['one byte', Uint8Array.of(0xa5)],
    ['zeros', new Uint8Array(100_000)],
    ['random', new Uint8Array(60_000).map(() => r() & 0xff)],
    ['text', text],
    ['runs', runs],
    ['binaries', binaries(256 * 1024)],
  ];
}

/** inflateFast into exactly `size` bytes; throws unless it ended at the final block */
function inflate(z: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  const r = inflateFast(z, out);
  assert.ok(r.ended);
  return out.subarray(0, r.end);
}

test('zlib streams of every level 0-9 and strategy decode byte-exact and end where zlib ended', () => {
  const strategies = [constants.Z_DEFAULT_STRATEGY, constants.Z_FILTERED, constants.Z_HUFFMAN_ONLY, constants.Z_RLE, constants.Z_FIXED];
  for (const [name, data] of corpus()) {
    for (let level = 0; level <= 9; level++) {
      for (const strategy of level === 6 ? strategies : [constants.Z_DEFAULT_STRATEGY]) {
        const z = new Uint8Array(deflateRawSync(data, { level, strategy }));
        const out = new Uint8Array(data.length);
        const r = inflateFast(z, out);
        assert.ok(r.ended, `${name} level ${level} strategy ${strategy}: final block reached`);
        assert.equal(r.end, data.length, `${name} level ${level} strategy ${strategy}: length`);
        assert.ok(Buffer.from(out).equals(Buffer.from(data)), `${name} level ${level} strategy ${strategy}: bytes`);
        assert.equal(Math.ceil(r.endBit / 8), z.length, `${name} level ${level}: the stream ends where zlib's ends`);
      }
    }
  }
});

test('every zlib window size 9-15 and memLevel 1/9 decodes byte-exact', () => {
  for (const [name, data] of corpus().filter(([n]) => n === 'text' || n === 'binaries' || n === 'runs')) {
    for (let windowBits = 9; windowBits <= 15; windowBits++) {
      for (const memLevel of [1, 9]) {
        const z = new Uint8Array(deflateRawSync(data, { level: 9, windowBits, memLevel }));
        assert.ok(Buffer.from(inflate(z, data.length)).equals(Buffer.from(data)), `${name} windowBits ${windowBits} memLevel ${memLevel}`);
      }
    }
  }
});

/** a stream of stored, fixed and dynamic blocks: each piece sync-flushed, the last one finished */
function mixedStream(data: Uint8Array): Uint8Array {
  const opts = [{ level: 0 }, { level: 6, strategy: constants.Z_FIXED }, { level: 6 }, { level: 1, strategy: constants.Z_HUFFMAN_ONLY }];
  const parts: Buffer[] = [];
  const step = Math.ceil(data.length / 8);
  for (let i = 0, k = 0; i < data.length || k === 0; i += step, k++) {
    const last = i + step >= data.length;
    parts.push(deflateRawSync(data.subarray(i, i + step), { ...opts[k % opts.length]!, finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH }));
  }
  return new Uint8Array(Buffer.concat(parts));
}

test('one stream of stored, fixed and dynamic blocks (and empty stored ones) decodes as zlib decodes it', () => {
  for (const [name, data] of corpus()) {
    const z = mixedStream(data);
    assert.deepEqual(new Uint8Array(inflateRawSync(z)), data, `${name}: zlib reads the mixed stream`);
    assert.ok(Buffer.from(inflate(z, data.length)).equals(Buffer.from(data)), name);
  }
});

test('stopAtMax gives every prefix of the output and never writes past it', () => {
  const data = binaries(40_000);
  for (const z of [new Uint8Array(deflateRawSync(data, { level: 6 })), mixedStream(data)]) {
    for (let n = 0; n <= data.length; n += 997) {
      const guard = new Uint8Array(n + 300).fill(0xee);
      const r = inflateFast(z, guard.subarray(0, n), { stopAtMax: true });
      assert.equal(r.end, n);
      if (n < data.length) assert.equal(r.ended, false);
      assert.ok(Buffer.from(guard.subarray(0, n)).equals(Buffer.from(data.subarray(0, n))), `prefix of ${n}`);
      assert.ok(guard.subarray(n).every((x) => x === 0xee), `nothing written past ${n}`);
    }
    // without stopAtMax, more output than out holds is an error
    assert.throws(() => inflateFast(z, new Uint8Array(data.length - 1)), (e: unknown) => e instanceof FormatError && /more than/.test(e.detail));
  }
});

test('a window before the output (start) serves back-references; without it they are errors', () => {
  const data = binaries(100_000);
  const half = 50_000;
  // the second half compressed with the first as its dictionary: it refers back into it
  const z = new Uint8Array(deflateRawSync(data.subarray(half), { level: 9, dictionary: data.subarray(half - 32768, half) }));
  const out = new Uint8Array(32768 + data.length - half);
  out.set(data.subarray(half - 32768, half));
  const r = inflateFast(z, out, { start: 32768 });
  assert.equal(r.end, out.length);
  assert.ok(Buffer.from(out.subarray(32768)).equals(Buffer.from(data.subarray(half))));
  assert.throws(() => inflateFast(z, new Uint8Array(data.length - half)), (e: unknown) => e instanceof FormatError && /before the start/.test(e.detail));
});

/** zlib's verdict on a damaged stream: its bytes, or null when it refuses it */
function zlibVerdict(z: Uint8Array): Uint8Array | null {
  try {
    return new Uint8Array(inflateRawSync(z, { maxOutputLength: 1 << 22 }));
  } catch {
    return null;
  }
}

test('damaged streams: accepted exactly when zlib accepts them, else a FormatError; output never past its end', () => {
  const r = rng(9);
  const sources = [binaries(6000, 3), new TextEncoder().encode(readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8').slice(0, 5000))];
  const streams: Uint8Array[] = [];
  for (const s of sources) {
    for (const o of [{ level: 6 }, { level: 6, strategy: constants.Z_FIXED }, { level: 0 }, { level: 1, strategy: constants.Z_HUFFMAN_ONLY }]) streams.push(new Uint8Array(deflateRawSync(s, o)));
    streams.push(mixedStream(s));
  }
  let cases = 0;
  let refused = 0;
  let accepted = 0;
  const MAX = 8000;
  const guard = new Uint8Array(MAX + 64);
  for (const z of streams) {
    for (let i = 0; i < 400; i++) {
      const d = z.slice(0, r() % 8 === 0 ? r() % (z.length + 1) : z.length);
      const flips = 1 + (r() % 3);
      for (let k = 0; k < flips && d.length; k++) {
        const at = r() % Math.min(d.length, r() % 4 === 0 ? d.length : 64); // headers more often
        if (r() % 2) d[at]! ^= 1 << (r() % 8);
        else d[at] = r() & 0xff;
      }
      cases++;
      const want = zlibVerdict(d);
      guard.fill(0xee);
      const out = guard.subarray(0, MAX);
      try {
        const got = inflateFast(d, out);
        assert.ok(want !== null && want.length <= MAX, `stream ${streams.indexOf(z)} mutation ${i}: zlib refuses what we accept`);
        assert.ok(got.ended && got.end === want.length && Buffer.from(out.subarray(0, got.end)).equals(Buffer.from(want)), `stream ${streams.indexOf(z)} mutation ${i}: bytes differ from zlib's`);
        accepted++;
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
        assert.ok(want === null || want.length > MAX, `stream ${streams.indexOf(z)} mutation ${i}: we refuse (${e.detail}) what zlib accepts`);
        assert.ok(e.offset >= 0 && e.offset <= d.length, `error offset ${e.offset} inside the ${d.length}-byte stream`);
        refused++;
      }
      assert.ok(guard.subarray(MAX).every((x) => x === 0xee), 'nothing written past the output');
    }
  }
  assert.ok(cases >= 4000 && refused > 1000 && accepted > 100, `${cases} damaged streams: ${refused} refused, ${accepted} accepted`);
  // random bytes as a stream
  for (let i = 0; i < 500; i++) {
    const junk = new Uint8Array(1 + (r() % 3000)).map(() => r() & 0xff);
    const want = zlibVerdict(junk);
    try {
      const got = inflateFast(junk, guard.subarray(0, MAX));
      assert.ok(want && Buffer.from(guard.subarray(0, got.end)).equals(Buffer.from(want)), 'junk accepted unlike zlib');
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      assert.ok(want === null || want.length > MAX, `junk ${i}: we refuse (${e.detail}) what zlib accepts`);
    }
  }
});

test('codes zlib refuses are refused: incomplete and over-subscribed, with the structure and offset named', () => {
  // a dynamic block whose code length code has a single 1-bit code (incomplete): zlib refuses it
  const fields: [number, number][] = [[1, 1], [2, 2], [0, 5], [0, 5], [0, 4], [0, 3], [0, 3], [0, 3], [1, 3]]; // BFINAL, BTYPE 2, HLIT, HDIST, HCLEN 0 (4 lengths: 16, 17, 18, 0 = 0, 0, 0, 1)
  const bytes = new Uint8Array(8);
  let bit = 0;
  for (const [v, n] of fields) for (let i = 0; i < n; i++, bit++) bytes[bit >> 3]! |= ((v >> i) & 1) << (bit & 7);
  assert.equal(zlibVerdict(bytes), null);
  assert.throws(() => inflateFast(bytes, new Uint8Array(10), { structure: 'erofs.pcluster', base: 4096 }),
    (e: unknown) => e instanceof FormatError && e.structure === 'erofs.pcluster' && /incomplete code length code/.test(e.detail) && e.offset >= 4096 && e.offset < 4096 + 8);
  // block type 3
  assert.throws(() => inflateFast(Uint8Array.of(0x07, 0, 0), new Uint8Array(10)), (e: unknown) => e instanceof FormatError && /reserved/.test(e.detail));
  // stored block whose NLEN is not LEN's complement
  assert.throws(() => inflateFast(Uint8Array.of(0x01, 5, 0, 0, 0, 1, 2, 3, 4, 5), new Uint8Array(10)), (e: unknown) => e instanceof FormatError && /complement/.test(e.detail));
  // cut: no final block
  const z = new Uint8Array(deflateRawSync(binaries(5000)));
  assert.throws(() => inflateFast(z.subarray(0, z.length - 3), new Uint8Array(5000)), (e: unknown) => e instanceof FormatError && /ends in the middle/.test(e.detail));
});
