// The copy paths of our zstd decoder's sequence loop (src/lib/codec/zstd-decode.ts), each on frames
// the zstd CLI makes: matches with a period of 1-3 bytes (copied byte-wise, then in words from a
// multiple of the period), matches and literal runs around the 8/16-byte word-copy steps, long
// matches (the loop copies any length in words, no copyWithin), offsets near the window size, and
// matches that end at the very end of the output (byte copies there, as nothing may be written past
// out.length). Every frame is decoded into an output of exactly its content size.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { zstdDecompress } from '../src/lib/codec/zstd.ts';
import { ZSTD_WARM_UP_FRAMES, zstdDecodeInto, zstdDecodeWarmUp } from '../src/lib/codec/zstd-decode.ts';
import { FormatError } from '../src/lib/errors.ts';
import { concat } from '../src/lib/bytes.ts';

/** `zstd args` of data through stdin */
function cli(data: Uint8Array, args: string[]): Uint8Array {
  return new Uint8Array(execFileSync('zstd', [...args, '-q', '-c'], { input: data, maxBuffer: 1 << 28 }));
}

/** Deterministic noise (xorshift32), different for each seed. */
function noise(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = (seed * 2654435761) >>> 0 || 7;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    b[i] = x & 255;
  }
  return b;
}


/** `count` bytes repeating `pattern` */
function periodic(pattern: Uint8Array, count: number): Uint8Array {
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) out[i] = pattern[i % pattern.length]!;
  return out;
}

function roundTrip(data: Uint8Array, args: string[], what: string): void {
  const frame = cli(data, args);
  const got = zstdDecompress(frame, data.length, what);
  if (!Buffer.from(got).equals(Buffer.from(data))) {
    let i = 0;
    while (got[i] === data[i]) i++;
    assert.fail(`${what} (${args.join(' ')}): first difference at byte ${i} of ${data.length}`);
  }
}

const LEVELS = [['-1'], ['-19'], ['--fast=3']];

test('periods of 1-3 bytes, runs of every length class, in the middle and at the end of the output', () => {
  let seed = 1;
  for (const period of [1, 2, 3, 4, 5, 7]) {
    // every run length in one frame, between noise
    const middle: Uint8Array[] = [];
    for (const len of [4, 5, 6, 7, 8, 9, 15, 16, 17, 19, 31, 32, 33, 100, 257, 5000, 70000]) {
      middle.push(noise(40, seed++), periodic(noise(period, seed++), period + len));
    }
    for (const args of LEVELS) roundTrip(concat(...middle), args, `period ${period}, runs in the middle`);
    // a frame per run that ends the output
    for (const len of [4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 5000]) {
      roundTrip(concat(noise(40, seed++), periodic(noise(period, seed++), period + len)), ['-19'], `period ${period}, run ${len} at the end`);
    }
  }
});

test('long matches around the word-copy steps and far beyond them', () => {
  let seed = 100;
  for (const len of [12, 16, 17, 24, 31, 32, 33, 64, 255, 256, 257, 1000, 4096, 65536, 200000]) {
    const r = noise(len, seed++);
    // the repeat at distance len, then again after a literal run, then at the output's end
    const data = concat(r, r, noise(37, seed++), r.subarray(0, len - 1), noise(3, seed++), r);
    for (const args of LEVELS) roundTrip(data, args, `match of ${len}`);
  }
});

test('literal runs of 1-40 bytes between short matches', () => {
  const word = noise(24, 7);
  const parts: Uint8Array[] = [];
  for (let ll = 1; ll <= 40; ll++) parts.push(noise(ll, 1000 + ll), word.subarray(0, 4 + (ll % 20)));
  const data = concat(...parts);
  for (const args of LEVELS) roundTrip(data, args, 'literal runs');
});

test('offsets near the window size (1 MiB window)', () => {
  const first = noise((1 << 20) - 300, 5);
  const data = concat(first, first.subarray(0, 40000), noise(100, 6), first.subarray(200, 70000));
  for (const args of [['-3', '--zstd=wlog=20'], ['-19', '--zstd=wlog=20']]) roundTrip(data, args, 'window-sized offsets');
});

test('small frames: every output size from 1 to 48 bytes of a short-period pattern', () => {
  for (let n = 1; n <= 48; n++) {
    for (const pat of [[9], [1, 2, 3], [5, 6, 7, 8, 9]]) {
      const data = periodic(Uint8Array.from(pat), n);
      const frame = cli(data, ['-19']);
      assert.ok(Buffer.from(zstdDecompress(frame, n)).equals(Buffer.from(data)), `${n} bytes of period ${pat.length}`);
      // and twice in a row (frames concatenated) into a larger output
      const out = new Uint8Array(2 * n + 64);
      assert.equal(zstdDecodeInto(concat(frame, frame), out), 2 * n);
      assert.ok(Buffer.from(out.subarray(0, n)).equals(Buffer.from(data)) && Buffer.from(out.subarray(n, 2 * n)).equals(Buffer.from(data)), `${n} bytes of period ${pat.length}, twice`);
    }
  }
});

/** The warm-up sample of zstd-decode.ts: words mixed with binary runs, deterministic. */
function warmUpSample(n: number): Uint8Array {
  const words = ['zstd ', 'block ', 'literal ', 'sequence ', 'offset ', 'match ', 'the ', 'of ', 'EROFS ', 'RAFS ', '0123', '\n'];
  const s = new Uint8Array(n);
  let x = 12345, o = 0;
  while (o < n) {
    x = (Math.imul(x, 1103515245) + 12345) | 0;
    const r = (x >>> 24) & 7;
    if (r < 6) {
      const w = words[(x >>> 16) % words.length]!;
      for (let k = 0; k < w.length && o < n; k++) s[o++] = w.charCodeAt(k);
    } else if (r < 7 && x & 0x300) {
      for (let k = 0; k < 8 && o < n; k++) {
        x = (Math.imul(x, 1103515245) + 12345) | 0;
        s[o++] = (x >>> 16) & 255;
      }
    } else {
      const v = x >>> 12;
      for (let k = 0; k < 4 && o < n; k++) s[o++] = (v >>> (8 * k)) & 255;
    }
  }
  return s;
}

test('warm-up frames: the zstd CLI and our decoder both give the sample they were made from', () => {
  const want = [warmUpSample(3000), warmUpSample(3000), warmUpSample(200)];
  assert.equal(ZSTD_WARM_UP_FRAMES.length, want.length);
  ZSTD_WARM_UP_FRAMES.forEach((b64, i) => {
    const frame = new Uint8Array(Buffer.from(b64, 'base64'));
    assert.deepEqual(new Uint8Array(execFileSync('zstd', ['-d', '-q', '-c'], { input: frame })), want[i], `frame ${i}, zstd -d`);
    const out = new Uint8Array(want[i]!.length);
    assert.equal(zstdDecodeInto(frame, out), out.length);
    assert.deepEqual(out, want[i], `frame ${i}, ours`);
  });
  // and the warm-up itself runs (a throw here would surface in a caller's first large decode)
  zstdDecodeWarmUp();
  const big = periodic(new TextEncoder().encode('warm-up then a large frame '), 1 << 17);
  assert.deepEqual(zstdDecodeInto(cli(big, ['-3']), new Uint8Array(big.length)), big.length);
});

/** `n` bytes over an alphabet of `k` symbols, symbol i about twice as likely as i + 1 when `skew` */
function alphabet(n: number, k: number, skew: boolean, seed: number): Uint8Array {
  const r = noise(n, seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    if (skew) {
      // geometric: count the trailing one bits of a noise byte pair, capped at k - 1
      let v = r[i]! | (r[(i * 7 + 3) % n]! << 8) | 0x10000;
      while (v & 1 && s < k - 1) { s++; v >>= 1; }
    } else {
      s = r[i]! % k;
    }
    b[i] = 33 + s;
  }
  return b;
}

test('literal-heavy blocks: the two-symbols-per-lookup Huffman path (4-stream sections of 8 KiB and more)', () => {
  // uniform 64 symbols (6-bit codes: pairs fill the 12-bit index), uniform 200 (8-bit codes: one
  // symbol per lookup), skewed 20 (1-11-bit codes, pairs and singles mixed); sizes give every
  // remainder of the literal count mod 4 and sections around the 8 KiB threshold
  let cases = 0;
  for (const [k, skew] of [[64, false], [200, false], [20, true]] as const) {
    for (const n of [8190, 8195, 9001, 20002, 131072 + 5003, 300001]) {
      const data = alphabet(n, k, skew, n + k);
      for (const args of [['-1', '--no-check'], ['-3']]) {
        const frame = cli(data, args);
        const out = new Uint8Array(n);
        assert.equal(zstdDecodeInto(frame, out), n, `k ${k} n ${n} ${args}`);
        assert.ok(Buffer.from(out).equals(Buffer.from(data)), `k ${k} skew ${skew} n ${n} zstd ${args.join(' ')}`);
        cases++;
      }
    }
  }
  assert.equal(cases, 36);
});

test('literal-heavy blocks, damaged: flips in the Huffman streams decode or fail with a FormatError, never past the bound', () => {
  // 20 symbols, uniform: 4- and 5-bit codes, one 4-stream section of 39980 literals (zstd -3)
  const data = alphabet(40000, 20, false, 9);
  const frame = cli(data, ['-3', '--no-check']);
  const r = noise(4000, 77);
  let failed = 0;
  for (let iter = 0; iter < 1000; iter++) {
    const bad = frame.slice();
    // bits in the literal section (after the frame and block headers, before the sequences)
    const p = 20 + (((r[iter * 2]! << 8) | r[iter * 2 + 1]!) % (frame.length - 40));
    bad[p]! ^= 1 << (r[(iter * 3) % 4000]! & 7);
    const backing = new Uint8Array(data.length + 64).fill(0x5a);
    try {
      zstdDecodeInto(bad, backing.subarray(0, data.length));
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      failed++;
    }
    for (let k = data.length; k < backing.length; k++) assert.equal(backing[k], 0x5a, `flip at ${p}: wrote past the bound`);
  }
  // a flip that turns one code into another of the same length decodes to other literals; 87 of
  // 1000 fail here
  assert.ok(failed > 40, `some flips fail (${failed} of 1000)`);
});

test('literal-only blocks decode straight into the output: exact bytes, nothing written before or after, mixed with blocks of sequences', () => {
  // uniform 7-bit noise: Huffman-coded literal-only blocks (no match is worth it), then repeated
  // text (blocks of sequences, litBuf path), then noise again (a treeless or new-tree literal-only
  // block after sequences); decoded into a window of a larger buffer with guard bytes around it
  const noise7 = noise(300_000, 5).map((b) => b & 127);
  const text = periodic(new TextEncoder().encode('literal-only blocks then sequences '), 200_000);
  const data = concat(noise7, text, noise7.subarray(0, 150_000));
  let cases = 0;
  for (const args of [['-3'], ['-1', '--no-check'], ['-19']]) {
    const frame = cli(data, args);
    const backing = new Uint8Array(data.length + 64).fill(0xa5);
    const out = backing.subarray(32, 32 + data.length);
    assert.equal(zstdDecodeInto(frame, out), data.length, `zstd ${args.join(' ')}`);
    assert.ok(Buffer.from(out).equals(Buffer.from(data)), `zstd ${args.join(' ')}: bytes`);
    for (let k = 0; k < 32; k++) {
      assert.equal(backing[k], 0xa5, `zstd ${args.join(' ')}: wrote before the output`);
      assert.equal(backing[32 + data.length + k], 0xa5, `zstd ${args.join(' ')}: wrote after the output`);
    }
    cases++;
  }
  assert.equal(cases, 3);
});
