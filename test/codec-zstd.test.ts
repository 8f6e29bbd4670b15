// Our zstd decoder (src/lib/codec/zstd-decode.ts) against the zstd CLI and fzstd: frames the CLI
// makes at every level and with every option that changes the frame layout decode byte-exact; then
// the output bound (a "zstd bomb" fails fast), checksums, dictionaries, skippable and concatenated
// frames, and a sweep of damaged frames that must decode or fail with a typed error.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { decompress as fzstdDecompress } from 'fzstd';
import { useBigIntLanes, xxh64, xxh64Parts } from '../src/lib/codec/xxh64.ts';
import { zstdDecompress } from '../src/lib/codec/zstd.ts';
import { zstdDecodeInto, zstdFrameContentSize } from '../src/lib/codec/zstd-decode.ts';
import { FormatError, UnsupportedError } from '../src/lib/errors.ts';
import { tempDir } from './helpers/paths.ts';
import { usrBinBytes as binaries } from './helpers/mktree.ts';

const TMP = tempDir('ls-zstd-');

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
}

/** `zstd args` of data through stdin: the frame has no content size unless --content-size says so */
function zstdPipe(data: Uint8Array, args: string[]): Uint8Array {
  return new Uint8Array(execFileSync('zstd', [...args, '-q', '-c'], { input: data, maxBuffer: 1 << 30 }));
}

let fileNo = 0;
/** `zstd args file`: the frame records the content size (unless --no-content-size) */
function zstdFile(data: Uint8Array, args: string[]): Uint8Array {
  const f = join(TMP, `in${fileNo++}`);
  writeFileSync(f, data);
  return new Uint8Array(execFileSync('zstd', [...args, '-q', '-c', f], { maxBuffer: 1 << 30 }));
}

const WORDS = 'zstd frame block literals sequences huffman offset window checksum the of and a to in is'.split(' ');
function text(size: number, seed: number): Uint8Array {
  const r = rng(seed);
  const parts: string[] = [];
  let n = 0;
  while (n < size) {
    const w = WORDS[r() % WORDS.length]! + (r() % 11 === 0 ? '.\n' : ' ');
    parts.push(w);
    n += w.length;
  }
  return new TextEncoder().encode(parts.join('')).subarray(0, size);
}

function random(size: number, seed: number): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: size }, () => r() & 255);
}

/** Long runs of a few byte values, each run 1..200000 bytes. */
function runs(size: number, seed: number): Uint8Array {
  const r = rng(seed);
  const out = new Uint8Array(size);
  for (let o = 0; o < size; ) {
    const n = Math.min(size - o, 1 + (r() % 200000));
    out.fill(r() % 4 === 0 ? 0 : r() & 255, o, o + n);
    o += n;
  }
  return out;
}

/** A short random pattern repeated, with a rare changed byte. */
function repetitive(size: number, seed: number): Uint8Array {
  const r = rng(seed);
  const pat = random(1 + (r() % 40), seed + 1);
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = r() % 5000 === 0 ? r() & 255 : pat[i % pat.length]!;
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function skippable(payload: Uint8Array, nibble = 0): Uint8Array {
  const h = new Uint8Array(8);
  new DataView(h.buffer).setUint32(0, 0x184d2a50 + nibble, true);
  new DataView(h.buffer).setUint32(4, payload.length, true);
  return concat(h, payload);
}

/** Decodes with both entry points and fzstd; all three must give `want`. */
function check(frame: Uint8Array, want: Uint8Array, what: string): void {
  const out = zstdDecompress(frame, want.length, what);
  assert.ok(Buffer.from(out).equals(Buffer.from(want)), `${what}: ours differs from the original`);
  const into = new Uint8Array(want.length);
  assert.equal(zstdDecodeInto(frame, into), want.length, `${what}: zstdDecodeInto length`);
  assert.ok(Buffer.from(fzstdDecompress(frame)).equals(Buffer.from(out)), `${what}: ours differs from fzstd`);
}

function throwsFormat(fn: () => unknown, pattern: RegExp, what: string): FormatError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof FormatError, `${what}: threw ${String(e)}, not a FormatError`);
    assert.match(e.message, pattern, what);
    return e;
  }
  assert.fail(`${what}: did not throw`);
}

// ---- xxh64

/** XXH64 the slow way with BigInt, straight from the xxHash specification. */
function xxh64Reference(data: Uint8Array, seed = 0n): bigint {
  const M = (1n << 64n) - 1n;
  const P1 = 0x9e3779b185ebca87n, P2 = 0xc2b2ae3d27d4eb4fn, P3 = 0x165667b19e3779f9n, P4 = 0x85ebca77c2b2ae63n, P5 = 0x27d4eb2f165667c5n;
  const rotl = (x: bigint, r: bigint) => ((x << r) | (x >> (64n - r))) & M;
  const u64 = (i: number) => { let v = 0n; for (let k = 7; k >= 0; k--) v = (v << 8n) | BigInt(data[i + k]!); return v; };
  const u32 = (i: number) => BigInt((data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)) >>> 0);
  const round = (acc: bigint, x: bigint) => (rotl((acc + x * P2) & M, 31n) * P1) & M;
  let p = 0;
  let h: bigint;
  if (data.length >= 32) {
    const v = [(seed + P1 + P2) & M, (seed + P2) & M, seed & M, (seed - P1) & M];
    for (; p + 32 <= data.length; p += 32) for (let k = 0; k < 4; k++) v[k] = round(v[k]!, u64(p + 8 * k));
    h = (rotl(v[0]!, 1n) + rotl(v[1]!, 7n) + rotl(v[2]!, 12n) + rotl(v[3]!, 18n)) & M;
    for (const x of v) h = (((h ^ round(0n, x)) * P1) + P4) & M;
  } else {
    h = (seed + P5) & M;
  }
  h = (h + BigInt(data.length)) & M;
  for (; p + 8 <= data.length; p += 8) h = ((rotl(h ^ round(0n, u64(p)), 27n) * P1) + P4) & M;
  if (p + 4 <= data.length) { h = ((rotl(h ^ ((u32(p) * P1) & M), 23n) * P2) + P3) & M; p += 4; }
  for (; p < data.length; p++) h = (rotl(h ^ ((BigInt(data[p]!) * P5) & M), 11n) * P1) & M;
  h ^= h >> 33n; h = (h * P2) & M; h ^= h >> 29n; h = (h * P3) & M; h ^= h >> 32n;
  return h;
}

// both stripe loops: int32 halves (the default, and Node's) and BigInt lanes (Chromium 156+)
for (const big of [false, true]) {
const lanes = big ? ' (BigInt lanes)' : '';
test(`xxh64${lanes}: published values and a BigInt reference over every length class, seed and alignment`, (t) => {
  useBigIntLanes(big);
  t.after(() => useBigIntLanes(false));
  const enc = new TextEncoder();
  // the xxHash reference values: XXH64("", 0) and XXH64("abc", 0)
  assert.equal(xxh64(enc.encode('')), 0xef46db3751d8e999n);
  assert.equal(xxh64(enc.encode('abc')), 0x44bc2cf5ad770999n);
  const r = rng(7);
  const buf = random(70000, 3);
  for (let i = 0; i < 300; i++) {
    const len = i < 100 ? i : r() % (i < 290 ? 2000 : 70000 - 4);
    // offsets 0-8: both loops read 8-byte-aligned data in place and copy the rest in chunks
    const off = r() % 9;
    const data = buf.subarray(off, off + len);
    const seed = i % 3 === 0 ? 0n : BigInt(r()) << BigInt(r() % 33);
    assert.equal(xxh64(data, seed), xxh64Reference(data, seed), `len ${len} offset ${off} seed ${seed}`);
  }
  assert.equal(xxh64(buf, -1n), xxh64(buf, (1n << 64n) - 1n), 'the seed is taken modulo 2^64');
});

test(`xxh64${lanes}: the low half matches the content checksum zstd writes, and our decoder checks it`, (t) => {
  useBigIntLanes(big);
  t.after(() => useBigIntLanes(false));
  for (const len of [0, 1, 7, 31, 32, 33, 1000, 65536 + 13, 600000]) {
    const data = random(len, len + 1);
    const frame = zstdPipe(data, ['-1', '--check']);
    const want = new DataView(frame.buffer, frame.byteOffset).getUint32(frame.length - 4, true);
    assert.equal(xxh64Parts(data)[1], want, `len ${len}`);
    assert.deepEqual(zstdDecompress(frame, len), data);
    if (len > 0) {
      const bad = frame.slice();
      bad[bad.length - 1]! ^= 1;
      assert.throws(() => zstdDecompress(bad, len), FormatError, `len ${len}: a wrong checksum is refused`);
    }
  }
});
}

// ---- frames the CLI makes

const CORPUS: [string, Uint8Array][] = [
  ['empty', new Uint8Array(0)],
  ['1 byte', Uint8Array.of(42)],
  ['text 100 KiB', text(100 << 10, 1)],
  ['binaries 1 MiB', binaries(1 << 20)],
  ['random 300 KiB (raw blocks)', random(300 << 10, 2)],
  ['long runs 3 MiB (RLE blocks)', runs(3 << 20, 3)],
  ['repetitive 1 MiB', repetitive(1 << 20, 4)],
  ['mixed 700 KiB', concat(text(200 << 10, 5), random(100 << 10, 6), runs(200 << 10, 7), binaries(200 << 10))],
];

test('corpus: stdin frames (no content size) and file frames (content size, single segment) at levels 1, 3, 9, 19', () => {
  let blocks = { raw: 0, rle: 0, compressed: 0 };
  for (const [name, data] of CORPUS) {
    for (const level of [1, 3, 9, 19]) {
      const piped = zstdPipe(data, [`-${level}`]);
      // (zstd knows an empty stdin's size: 0)
      assert.equal(zstdFrameContentSize(piped), data.length ? -1 : 0, `${name} -${level}: a stdin frame has no content size`);
      check(piped, data, `${name} -${level} (stdin)`);
      const filed = zstdFile(data, [`-${level}`]);
      assert.equal(zstdFrameContentSize(filed), data.length, `${name} -${level}: a file frame records its size`);
      check(filed, data, `${name} -${level} (file)`);
      const b = blockTypes(filed);
      blocks = { raw: blocks.raw + b.raw, rle: blocks.rle + b.rle, compressed: blocks.compressed + b.compressed };
    }
  }
  assert.ok(blocks.raw > 0 && blocks.rle > 0 && blocks.compressed > 0, `every block type seen: ${JSON.stringify(blocks)}`);
});

/** Counts a frame's blocks by type (the walk the decoder does, the simple way). */
function blockTypes(frame: Uint8Array): { raw: number; rle: number; compressed: number } {
  const fhd = frame[4]!;
  const single = (fhd >> 5) & 1;
  let p = 5 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3]! + [single, 2, 4, 8][fhd >> 6]!;
  const n = { raw: 0, rle: 0, compressed: 0 };
  for (;;) {
    const bh = frame[p]! | (frame[p + 1]! << 8) | (frame[p + 2]! << 16);
    const type = (bh >> 1) & 3;
    const size = bh >>> 3;
    p += 3 + (type === 1 ? 1 : size);
    if (type === 0) n.raw++; else if (type === 1) n.rle++; else n.compressed++;
    if (bh & 1) return n;
  }
}

test('every level 1-19 and --ultra -22 on 3 MiB of binaries and text', () => {
  const data = concat(binaries(2 << 20), text(1 << 20, 9));
  for (let level = 1; level <= 19; level++) check(zstdPipe(data, [`-${level}`]), data, `level ${level}`);
  check(zstdPipe(data, ['--ultra', '-22']), data, '--ultra -22');
  check(zstdPipe(data, ['--fast=5']), data, '--fast=5');
});

test('frame options: --no-check, --content-size, --no-content-size, small blocks, -B jobs, long mode, --format=zstd', () => {
  const data = concat(binaries(1 << 20), text(300 << 10, 11), runs(400 << 10, 12));
  const variants: string[][] = [
    ['-3', '--no-check'],
    ['-3', '--check'],
    ['-5', '--content-size'],
    ['-19', '--no-check'],
    ['-7', '--target-compressed-block-size=1500'],
    ['-3', '-B200000', '-T2'],
    ['-3', '--long=24'],
    ['-19', '--long'],
    ['-3', '--format=zstd'],
  ];
  for (const v of variants) check(zstdPipe(data, v), data, v.join(' '));
  const noSize = zstdFile(data, ['-3', '--no-content-size']);
  assert.equal(zstdFrameContentSize(noSize), -1);
  check(noSize, data, '--no-content-size');
  // a small file gets a single-segment frame with a 1-, 2- or 4-byte content size field
  for (const len of [1, 200, 255, 256, 300, 65535 + 256, 65536 + 256]) {
    const d = text(len, len);
    const f = zstdFile(d, ['-3']);
    assert.equal((f[4]! >> 5) & 1, 1, `${len} bytes: single segment`);
    check(f, d, `single segment, ${len} bytes`);
  }
  // the checksum flag is really set on the default frames, and clear with --no-check
  assert.equal((zstdPipe(data, ['-3'])[4]! >> 2) & 1, 1);
  assert.equal((zstdPipe(data, ['-3', '--no-check'])[4]! >> 2) & 1, 0);
});

test('concatenated frames and skippable frames', () => {
  const a = text(50000, 21), b = binaries(300000), c = runs(200000, 22);
  const fa = zstdPipe(a, ['-3']), fb = zstdFile(b, ['-19', '--no-check']), fc = zstdPipe(c, ['-1']);
  const whole = concat(a, b, c);
  const joined = concat(skippable(Uint8Array.of(1, 2, 3)), fa, skippable(new Uint8Array(0), 15), fb, fc, skippable(random(1000, 5), 7));
  assert.ok(Buffer.from(zstdDecompress(joined, whole.length)).equals(Buffer.from(whole)));
  assert.ok(Buffer.from(fzstdDecompress(concat(fa, fb, fc))).equals(Buffer.from(whole)), 'fzstd agrees');
  // frames decode after each other in one output; the second may not reach into the first
  const out = new Uint8Array(whole.length);
  assert.equal(zstdDecodeInto(concat(fa, fa), out.subarray(0, 2 * a.length)), 2 * a.length);
  assert.ok(Buffer.from(out.subarray(a.length, 2 * a.length)).equals(Buffer.from(a)));
  // a --patch-from frame has no dictionary id but matches into its reference: after a frame that
  // decodes to that very reference its offsets still may not reach back into it
  const ref = text(60000, 23);
  const edited = concat(ref.subarray(0, 30000), text(500, 24), ref.subarray(30000));
  writeFileSync(join(TMP, 'ref'), ref);
  writeFileSync(join(TMP, 'edited'), edited);
  const patch = new Uint8Array(execFileSync('zstd', ['-q', '-c', '-19', `--patch-from=${join(TMP, 'ref')}`, join(TMP, 'edited')]));
  assert.equal(patch[4]! & 3, 0, 'no dictionary id');
  assert.ok(patch.length < 2000, `the patch is small (${patch.length} bytes): it matches into the reference`);
  throwsFormat(() => zstdDecodeInto(patch, new Uint8Array(edited.length)), /reaches before the frame/, 'patch alone');
  const refFrame = zstdPipe(ref, ['-1']);
  throwsFormat(() => zstdDecodeInto(concat(refFrame, patch), new Uint8Array(ref.length + edited.length)), /reaches before the frame's/, 'patch after its reference');
  // only skippable frames: nothing decoded
  assert.equal(zstdDecodeInto(skippable(Uint8Array.of(9)), new Uint8Array(0)), 0);
  throwsFormat(() => zstdDecodeInto(concat(fa, Uint8Array.of(1, 2)), new Uint8Array(a.length)), /bytes after the last frame/, 'trailing bytes');
  throwsFormat(() => zstdDecodeInto(concat(fa, Uint8Array.of(1, 2, 3, 4, 5)), new Uint8Array(a.length)), /bad magic/, 'trailing garbage');
  throwsFormat(() => zstdDecodeInto(skippable(random(10, 1)).subarray(0, 12), new Uint8Array(0)), /skippable frame/, 'cut skippable frame');
  throwsFormat(() => zstdDecodeInto(new Uint8Array(0), new Uint8Array(0)), /empty/, 'empty input');
});

// ---- bounds, sizes, checksums, dictionaries

test('a zstd bomb (1 GiB of zeros, no content size) fails at its first block against a 64 KiB bound', { timeout: 60_000 }, () => {
  const bomb = new Uint8Array(execFileSync('sh', ['-c', 'head -c 1073741824 /dev/zero | zstd -q -1 -c'], { maxBuffer: 1 << 26 }));
  assert.equal(zstdFrameContentSize(bomb), -1);
  assert.ok(bomb.length < 200_000, `the bomb is small: ${bomb.length} bytes`);
  const big = new Uint8Array((64 << 10) + 64).fill(0xa5);
  const e = throwsFormat(() => zstdDecodeInto(bomb, big.subarray(0, 64 << 10)), /exceed the 65536-byte output/, 'bomb');
  // it stopped within the first blocks of input (each 128 KiB block of zeros is a few bytes)
  assert.ok(e.offset < 100, `failed at byte ${e.offset}`);
  assert.ok(big.subarray(64 << 10).every((x) => x === 0xa5), 'nothing written past the bound');
  throwsFormat(() => zstdDecompress(bomb, 1 << 20, 'rafs.chunk', 4096), /exceed the 1048576-byte output/, 'bomb via zstdDecompress');
  // hand-made: a frame of 10000 RLE blocks of 128 KiB, 4 bytes each
  const rle = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58]; // no content size, window 2 MiB
  for (let i = 0; i < 10000; i++) {
    const h = ((128 << 10) << 3) | (1 << 1) | (i === 9999 ? 1 : 0);
    rle.push(h & 255, (h >> 8) & 255, h >> 16, 0x41);
  }
  throwsFormat(() => zstdDecodeInto(Uint8Array.from(rle), new Uint8Array(300 << 10)), /RLE block of 131072 bytes would exceed/, 'RLE bomb');
});

test('output size: a declared content size must fit the output and be met; zstdDecompress allocates exactly', () => {
  const data = text(200000, 31);
  const withSize = zstdFile(data, ['-3']);
  const noSize = zstdPipe(data, ['-3']);
  throwsFormat(() => zstdDecompress(withSize, data.length - 1, 'rafs.chunk', 1000), /declares 200000 bytes of content, more than the 199999 bytes left/, 'content size above expected');
  const e = throwsFormat(() => zstdDecompress(withSize, data.length + 1, 'rafs.chunk', 1000), /decodes to 200000 bytes, expected 200001/, 'content size below expected');
  assert.equal(e.structure, 'rafs.chunk');
  throwsFormat(() => zstdDecompress(noSize, data.length - 1), /exceed the 199999-byte output/, 'no content size, output too small');
  throwsFormat(() => zstdDecompress(noSize, data.length + 1), /decodes to 200000 bytes, expected 200001/, 'no content size, output too large');
  assert.equal(zstdDecompress(noSize, data.length).length, data.length);
  // a frame whose header declares less than its blocks hold
  const lie = withSize.slice();
  const fcsAt = 5 + ((lie[4]! >> 5) & 1 ? 0 : 1);
  assert.equal(lie[4]! >> 6, 2, '4-byte content size field');
  new DataView(lie.buffer).setUint32(fcsAt, data.length - 10, true);
  throwsFormat(() => zstdDecodeInto(lie, new Uint8Array(data.length)), /exceed the frame's declared 199990-byte content/, 'content size lie');
  // error offsets are absolute: the caller's offset plus the position in src
  const bad = noSize.slice();
  bad[0] = 0;
  assert.equal(throwsFormat(() => zstdDecompress(bad, data.length, 's', 5000), /bad magic/, 'magic').offset, 5000);
});

test('content checksum: verified; a damaged checksum or content fails', () => {
  const data = concat(text(100000, 41), random(20000, 42));
  const frame = zstdPipe(data, ['-3', '--check']);
  const sum = frame.slice();
  sum[sum.length - 1]! ^= 0x10;
  throwsFormat(() => zstdDecompress(sum, data.length), /content checksum/, 'flipped checksum');
  // change a byte inside a raw block (the random part compresses to raw literals): only the
  // checksum can notice
  const level1 = zstdPipe(random(50000, 43), ['-1', '--check']);
  const t = blockTypes(level1);
  assert.ok(t.raw > 0, 'random data makes raw blocks');
  const flipped = level1.slice();
  flipped[100]! ^= 1;
  throwsFormat(() => zstdDecompress(flipped, 50000), /content checksum/, 'flipped raw content');
  throwsFormat(() => zstdDecompress(frame.subarray(0, frame.length - 2), data.length), /checksum runs past/, 'cut checksum');
});

test('a frame that needs a dictionary is UnsupportedError; reserved bits and block types are FormatError', () => {
  const dir = tempDir('ls-zstd-dict-');
  const samples: string[] = [];
  for (let i = 0; i < 300; i++) {
    const f = join(dir, `s${i}`);
    writeFileSync(f, text(600 + (i % 50) * 10, 1000 + i));
    samples.push(f);
  }
  const dict = join(dir, 'dict');
  execFileSync('zstd', ['-q', '--train', ...samples, '-o', dict, '--maxdict=8192']);
  const data = text(2000, 77);
  const frame = new Uint8Array(execFileSync('zstd', ['-q', '-c', '-D', dict, '-3'], { input: data }));
  assert.notEqual(frame[4]! & 3, 0, 'the frame records its dictionary id');
  assert.throws(() => zstdDecompress(frame, data.length), (e: unknown) => e instanceof UnsupportedError && /dictionary/.test(e.message));

  const plain = zstdPipe(data, ['-3']);
  const reserved = plain.slice();
  reserved[4]! |= 8;
  throwsFormat(() => zstdDecompress(reserved, data.length), /reserved bit/, 'reserved frame header bit');
  const blockAt = 6;
  const reservedType = plain.slice();
  reservedType[blockAt]! |= 6;
  throwsFormat(() => zstdDecompress(reservedType, data.length), /reserved block type/, 'reserved block type');
});

// ---- damaged frames

test('damaged frames: thousands of seeded flips and cuts decode or fail with a typed error, never past the bound', { timeout: 600_000 }, () => {
  const bases: [string, Uint8Array, Uint8Array][] = [];
  const add = (name: string, data: Uint8Array, frame: Uint8Array) => bases.push([name, data, frame]);
  const t = text(20000, 51);
  add('text -3 checked', t, zstdPipe(t, ['-3', '--check']));
  add('text -19 file', t, zstdFile(t, ['-19', '--no-check']));
  const b = binaries(40000);
  add('binaries -1', b, zstdPipe(b, ['-1', '--no-check']));
  add('binaries -12 checked', b, zstdFile(b, ['-12']));
  const m = concat(runs(30000, 52), random(3000, 53), repetitive(20000, 54));
  add('mixed -5', m, zstdPipe(m, ['-5', '--no-check', '--target-compressed-block-size=2000']));
  const small = text(300, 55);
  add('small single segment', small, zstdFile(small, ['-3']));

  const r = rng(2024);
  const ITERATIONS = 20000;
  const guard = 64;
  let ok = 0, failed = 0, unsupported = 0, same = 0;
  const reasons = new Set<string>();
  for (let iter = 0; iter < ITERATIONS; iter++) {
    const [name, data, frame] = bases[iter % bases.length]!;
    const bad = frame.slice();
    let len = bad.length;
    const kind = r() % 10;
    let desc: string;
    if (kind < 6) {
      // 1-4 bit flips, half of them in the first 40 bytes (headers and tables)
      const flips = 1 + (r() % 4);
      const at: number[] = [];
      for (let k = 0; k < flips; k++) {
        const p = r() % 2 ? r() % Math.min(40, len) : r() % len;
        bad[p]! ^= 1 << (r() % 8);
        at.push(p);
      }
      desc = `flip ${at.join(',')}`;
    } else if (kind < 8) {
      bad[r() % len] = r() & 255;
      len = 1 + (r() % len);
      desc = `byte and cut at ${len}`;
    } else {
      len = r() % len;
      desc = `cut at ${len}`;
    }
    const src = bad.subarray(0, len);
    // a bound below the content size half of the time
    const bound = r() % 2 ? data.length : r() % (data.length + 1);
    const backing = new Uint8Array(bound + guard).fill(0x5a);
    const out = backing.subarray(0, bound);
    try {
      const n = zstdDecodeInto(src, out);
      assert.ok(n >= 0 && n <= bound, `${name} ${desc}: returned ${n}, bound ${bound}`);
      if (n === data.length && Buffer.from(out.subarray(0, n)).equals(Buffer.from(data))) same++;
      ok++;
    } catch (e) {
      if (e instanceof UnsupportedError) unsupported++;
      else if (e instanceof FormatError) { failed++; reasons.add(e.detail.replace(/[0-9a-f]*[0-9][0-9a-f]*/g, '#').slice(0, 40)); }
      else throw new Error(`${name} ${desc} (iteration ${iter}): ${String(e)}`, { cause: e });
    }
    for (let k = bound; k < backing.length; k++) if (backing[k] !== 0x5a) assert.fail(`${name} ${desc}: wrote past the ${bound}-byte bound`);
  }
  assert.ok(failed > ITERATIONS / 2, `most damaged frames fail (${failed} of ${ITERATIONS})`);
  assert.ok(reasons.size > 30, `the sweep reaches many checks: ${reasons.size} distinct errors`);
  assert.ok(ok + failed + unsupported === ITERATIONS && same <= ok);
});
