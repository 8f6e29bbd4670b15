// zstdCompressDestSize (src/lib/codec/zstd-encode.ts): the longest prefix whose frame fits a capacity.
// Every frame, at levels 1-9, for capacities from too small for one byte to 1 MiB, over text,
// binaries, random and repetitive data, is at most the capacity, records the prefix length as its
// content size and decodes to that prefix byte-exact with the `zstd -d` CLI, fzstd and our decoder;
// the prefix is close to the longest one whole-frame compression fits (a search with zstdCompress).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { decompress as fzstdDecompress } from 'fzstd';
import { zstdCompress, zstdCompressDestSize, ZSTD_MAX_LEVEL, ZSTD_MIN_LEVEL } from '../src/lib/codec/zstd-encode.ts';
import { zstdFrameContentSize } from '../src/lib/codec/zstd-decode.ts';
import { zstdDecompress } from '../src/lib/codec/zstd.ts';

const ROOT = join(import.meta.dirname, '..');

/** files of `dir` whose names pass `keep`, in name order, joined up to `size` bytes */
function joined(dir: string, size: number, keep: (name: string) => boolean): Uint8Array {
  const parts: Buffer[] = [];
  let n = 0;
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (n >= size || !keep(name) || !lstatSync(path).isFile()) continue;
    const b = readFileSync(path);
    parts.push(b);
    n += b.length;
  }
  return new Uint8Array(Buffer.concat(parts)).subarray(0, size);
}

/** xorshift32 bytes */
function noise(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b[i] = x & 255;
  }
  return b;
}

/** our sources and tests (about 1.3 MB of the 2+ MB there) */
const text = new Uint8Array(Buffer.concat(['src/lib/erofs', 'src/lib/codec', 'src/lib/rafs', 'src/cli', 'test'].map((d) => joined(join(ROOT, d), 1 << 20, (n) => n.endsWith('.ts'))))).subarray(0, 1_300_000);
const binaries = joined('/usr/bin', 1_300_000, () => true);
const random = noise(1_200_000, 99);
/** one byte for longer than a block, a 3-byte period, a 5000-byte random period, then text */
const repetitive = (() => {
  const b = new Uint8Array(1_300_000);
  b.fill(0x41, 0, 300_000);
  for (let i = 300_000; i < 500_000; i++) b[i] = 'xyz'.charCodeAt(i % 3);
  const period = noise(5000, 7);
  for (let i = 500_000; i < 900_000; i++) b[i] = period[i % 5000]!;
  b.set(text.subarray(0, 400_000), 900_000);
  return b;
})();
const corpus: [string, Uint8Array][] = [['text', text], ['binaries', binaries], ['random', random], ['repetitive', repetitive]];

/** frames back to back decode (zstd -d) to their prefixes back to back; fzstd and ours frame by frame */
function assertDecodes(frames: Uint8Array[], prefixes: Uint8Array[], what: string): void {
  for (let i = 0; i < frames.length; i++) {
    const want = Buffer.from(prefixes[i]!);
    assert.equal(zstdFrameContentSize(frames[i]!), want.length, `${what} #${i}: frame content size`);
    assert.ok(Buffer.from(fzstdDecompress(frames[i]!)).equals(want), `${what} #${i}: fzstd`);
    assert.ok(Buffer.from(zstdDecompress(frames[i]!, want.length)).equals(want), `${what} #${i}: our decoder`);
  }
  const cli = execFileSync('zstd', ['-d', '-q', '-c'], { input: Buffer.concat(frames), maxBuffer: 1 << 30 });
  assert.ok(cli.equals(Buffer.concat(prefixes)), `${what}: zstd -d`);
}

const CAPS = [0, 9, 10, 11, 13, 14, 15, 17, 40, 100, 300, 1000, 4096, 12_345, 65_536, 200_000, 1 << 20];

test('every level, capacities from 0 to 1 MiB: within the capacity, decodes to the prefix it claims', () => {
  for (let level = ZSTD_MIN_LEVEL; level <= ZSTD_MAX_LEVEL; level++) {
    const frames: Uint8Array[] = [], prefixes: Uint8Array[] = [];
    for (const [name, data] of corpus) {
      for (const cap of CAPS) {
        // the bigger capacities at a few levels only (the machine is shared)
        if (cap > 65_536 && level % 4 !== 1) continue;
        const checksum = (cap + level) % 3 === 0;
        const r = zstdCompressDestSize(data, cap, { level, checksum });
        const what = `${name} level ${level} cap ${cap}${checksum ? ' +checksum' : ''}`;
        assert.ok(r.compressed.length <= cap, `${what}: ${r.compressed.length} bytes`);
        // the smallest frame holding a byte: 6-byte header, 3-byte block header, 1 byte, the checksum
        const least = 10 + (checksum ? 4 : 0);
        if (cap < least) {
          assert.equal(r.consumed, 0, what);
          assert.equal(r.compressed.length, 0, what);
          continue;
        }
        assert.ok(r.consumed > 0, `${what}: something fits`);
        frames.push(r.compressed);
        prefixes.push(data.subarray(0, r.consumed));
        // a raw block of the whole room always fits, so no less than that is taken
        const hdr = r.consumed < 256 ? 6 : r.consumed < 65_792 ? 7 : 9;
        assert.ok(r.consumed >= Math.min(data.length, cap - hdr - 3 * Math.ceil(r.consumed / (128 << 10)) - (checksum ? 4 : 0)) - 3, `${what}: consumed ${r.consumed}`);
      }
    }
    assertDecodes(frames, prefixes, `level ${level}`);
  }
});

test('the whole input when it fits; an empty input gives nothing', () => {
  const whole = zstdCompressDestSize(text.subarray(0, 5000), 1 << 20, { level: 3, checksum: true });
  assert.equal(whole.consumed, 5000);
  assert.ok(Buffer.from(zstdDecompress(whole.compressed, 5000)).equals(Buffer.from(text.subarray(0, 5000))));
  assert.deepEqual(zstdCompressDestSize(new Uint8Array(0), 100), { compressed: new Uint8Array(0), consumed: 0 });
  assert.throws(() => zstdCompressDestSize(text, -1), RangeError);
  assert.throws(() => zstdCompressDestSize(text, 100, { level: 10 }));
});

test('a run of one byte: an RLE block of the longest content the header size allows', () => {
  const zeros = new Uint8Array(300_000);
  // 10 bytes: a 1-byte content size, so 255 bytes; 11: a 2-byte one (up to 65791); 14: 4 bytes, a block at most
  assert.equal(zstdCompressDestSize(zeros, 10).consumed, 255);
  assert.equal(zstdCompressDestSize(zeros, 11).consumed, 65_791);
  assert.equal(zstdCompressDestSize(zeros, 13).consumed, 128 << 10);
  const r = zstdCompressDestSize(zeros, 17);
  assert.equal(r.consumed, 256 << 10);
  assert.ok(Buffer.from(fzstdDecompress(r.compressed)).equals(Buffer.from(zeros.subarray(0, 256 << 10))));
});

test('consumes about as much as the longest prefix whole-frame compression fits (EROFS pcluster sizes)', () => {
  for (const [name, data] of [['text', text], ['binaries', binaries]] as const) {
    for (const level of [1, 3, 6, 9]) {
      for (const cap of [4096, 16_384]) {
        // the longest n whose zstdCompress frame fits: a binary search (sizes are nearly monotone)
        let lo = 0, hi = Math.min(data.length, cap * 12);
        while (lo < hi) {
          const m = (lo + hi + 1) >> 1;
          if (zstdCompress(data.subarray(0, m), { level }).length <= cap) lo = m;
          else hi = m - 1;
        }
        const r = zstdCompressDestSize(data, cap, { level });
        assert.ok(r.consumed >= lo * 0.97, `${name} level ${level} cap ${cap}: ${r.consumed} against ${lo}`);
      }
    }
  }
});

test('one byte under the whole input\'s frame: a shorter prefix (or all of it in a smaller frame), within the capacity', () => {
  for (const [name, data] of corpus) {
    for (const level of [1, 3, 9]) {
      for (const size of [3000, 20_000, 150_000]) {
        assert.ok(data.length >= 500_000 + size, `${name}: ${data.length} bytes`);
        const d = data.subarray(500_000, 500_000 + size);
        const whole = zstdCompressDestSize(d, 1 << 20, { level });
        assert.equal(whole.consumed, size, `${name} ${size} level ${level}: all of it fits 1 MiB`);
        const cap = whole.compressed.length - 1;
        const r = zstdCompressDestSize(d, cap, { level });
        // a shorter prefix, or all of it in a smaller frame: the capacity cuts the first block
        // shorter, and two blocks (each with its own tables) can cost less than one (text 20000
        // level 1 with this repository's sources of the day: 20000 bytes in 3813 of 3924)
        assert.ok(r.compressed.length <= cap && r.consumed > 0 && (r.consumed < size || r.compressed.length < whole.compressed.length), `${name} ${size} level ${level}: ${r.consumed} in ${r.compressed.length} of ${cap}`);
        assertDecodes([r.compressed], [d.subarray(0, r.consumed)], `${name} ${size} level ${level} cap ${cap}`);
      }
    }
  }
});
