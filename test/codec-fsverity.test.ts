import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createHash } from 'node:crypto';
import { IoError } from '../src/lib/errors.ts';
import { fsverityDescriptor, fsverityDigest, fsverityDigestSync } from '../src/lib/codec/fsverity.ts';
import { BytesSource, type ByteSource } from '../src/lib/io/source.ts';
import { NodeFileSource } from '../src/lib/io/node.ts';
import { tempDir } from './helpers/paths.ts';
import { hex } from '../src/lib/bytes.ts';

const EMPTY_DIGEST = '3d248ca542a24fc62d1c43b916eae5016878e2533c88238480b26128a1f1af95';

/** Fast deterministic filler (xorshift32), so big files do not look like runs of one byte. */
function fill(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  const words = new Uint32Array(out.buffer, 0, n >>> 2);
  let x = seed | 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    words[i] = x;
  }
  for (let i = words.length * 4; i < n; i++) out[i] = i;
  return out;
}

const hasFsverity = spawnSync('fsverity', ['--version'], { stdio: 'ignore' }).status === 0;
const noTool = hasFsverity ? false : 'fsverity (fsverity-utils) not installed';

/** `fsverity digest FILE` prints `sha256:<hex> FILE`. */
function referenceDigest(file: string): string {
  const out = execFileSync('fsverity', ['digest', file]).toString();
  const m = /^sha256:([0-9a-f]{64}) /.exec(out);
  assert.ok(m, `unexpected fsverity output: ${out}`);
  return m[1]!;
}

test('empty file digest is the known constant', async () => {
  assert.equal(hex(fsverityDigestSync(new Uint8Array(0))), EMPTY_DIGEST);
  assert.equal(hex(await fsverityDigest(new Uint8Array(0))), EMPTY_DIGEST);
  assert.equal(hex(await fsverityDigest(new BytesSource(new Uint8Array(0)))), EMPTY_DIGEST);
});

test('descriptor layout (§4.8): version, algorithm, log block size, le64 size, root hash', () => {
  const root = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
  const d = fsverityDescriptor(0x0102030405, root);
  assert.equal(d.length, 256);
  assert.deepEqual([...d.subarray(0, 8)], [1, 1, 12, 0, 0, 0, 0, 0]);
  assert.deepEqual([...d.subarray(8, 16)], [5, 4, 3, 2, 1, 0, 0, 0]);
  assert.deepEqual([...d.subarray(16, 48)], [...root]);
  assert.ok(d.subarray(48).every((b) => b === 0));
  assert.throws(() => fsverityDescriptor(-1, root), RangeError);
  assert.throws(() => fsverityDescriptor(1, new Uint8Array(31)), RangeError);
});

// 128 hashes fill one tree block: 128 and 129 data blocks give one and two level-1 blocks;
// 64 MiB + 4097 gives 16385 data blocks, so three tree levels.
const SIZES = [0, 1, 4095, 4096, 4097, 128 * 4096, 128 * 4096 + 1, 1 << 20, (64 << 20) + 4097];

test('digests equal `fsverity digest` for sizes 0 … 64 MiB + 4097 (async: bytes, BytesSource, file; sync up to 1 MiB)', { skip: noTool, timeout: 300_000 }, async () => {
  const dir = tempDir('ls-fsverity-');
  for (const size of SIZES) {
    const data = fill(size, size + 1);
    const file = join(dir, `f${size}`);
    writeFileSync(file, data);
    const expected = referenceDigest(file);
    assert.equal(hex(await fsverityDigest(data)), expected, `size ${size}, Uint8Array`);
    assert.equal(hex(await fsverityDigest(new BytesSource(data))), expected, `size ${size}, BytesSource`);
    const src = await NodeFileSource.open(file);
    try {
      assert.equal(hex(await fsverityDigest(src)), expected, `size ${size}, NodeFileSource`);
    } finally {
      await src.close();
    }
    if (size <= 1 << 20) assert.equal(hex(fsverityDigestSync(data)), expected, `size ${size}, sync`);
    if (size === 0) assert.equal(expected, EMPTY_DIGEST);
  }
});

test('without crypto.subtle the pure-JS fallback gives the same digest', { skip: noTool }, async () => {
  const dir = tempDir('ls-fsverity-');
  const data = fill((1 << 20) + 4097, 3);
  const file = join(dir, 'f');
  writeFileSync(file, data);
  const expected = referenceDigest(file);
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'crypto')!;
  Object.defineProperty(globalThis, 'crypto', { value: undefined, configurable: true });
  try {
    assert.equal((globalThis as { crypto?: Crypto }).crypto, undefined);
    assert.equal(hex(await fsverityDigest(new BytesSource(data))), expected);
  } finally {
    Object.defineProperty(globalThis, 'crypto', saved);
  }
  assert.ok(globalThis.crypto.subtle);
});

test('the tree hashes agree with a whole-file computation by node:crypto (no CLI needed)', async () => {
  const sha = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());
  // straightforward level-by-level tree over the whole file in memory
  const reference = (data: Uint8Array): string => {
    let level: Uint8Array[] = [];
    for (let o = 0; o < data.length; o += 4096) {
      const block = new Uint8Array(4096);
      block.set(data.subarray(o, o + 4096));
      level.push(sha(block));
    }
    let root: Uint8Array = new Uint8Array(32);
    if (level.length === 1) root = level[0]!;
    while (level.length > 1) {
      const next: Uint8Array[] = [];
      for (let i = 0; i < level.length; i += 128) {
        const block = new Uint8Array(4096);
        level.slice(i, i + 128).forEach((h, j) => block.set(h, j * 32));
        next.push(sha(block));
      }
      level = next;
      root = level[0]!;
    }
    return hex(sha(fsverityDescriptor(data.length, root)));
  };
  for (const size of [1, 4096, 8192, 128 * 4096 + 4096, 129 * 4096 * 128 + 5]) {
    const data = fill(size, size);
    assert.equal(hex(await fsverityDigest(data)), reference(data), `size ${size}`);
  }
});

test('a failing read rejects with the source error (no unhandled rejection of the read-ahead)', async () => {
  const data = fill(3 << 20, 9);
  let reads = 0;
  const src: ByteSource = {
    size: data.length,
    name: 'flaky',
    async read(offset, length) {
      if (++reads === 2) throw new IoError('flaky', `read failed at ${offset}`);
      return data.subarray(offset, offset + length);
    },
  };
  await assert.rejects(fsverityDigest(src), IoError);
});

test('FsVerityStream (size not known in advance, fed in odd pieces) gives fsverityDigestSync for sizes around every level edge', async () => {
  const { FsVerityStream } = await import('../src/lib/composefs/verity.ts');
  const sizes = [0, 1, 4095, 4096, 4097, 128 * 4096, 128 * 4096 + 1, 129 * 4096 - 7, 128 * 128 * 4096 + 3];
  for (const n of sizes) {
    const data = new Uint8Array(n);
    for (let i = 0; i < n; i++) data[i] = (i * 2654435761) >>> 24;
    const s = new FsVerityStream();
    for (let o = 0, k = 1; o < n; k = (k * 7) % 13 + 1) {
      const piece = Math.min(n - o, k * 1531);
      s.update(data.subarray(o, o + piece));
      o += piece;
    }
    assert.deepEqual(s.digest(), fsverityDigestSync(data), `${n} bytes`);
  }
});
