// The CLI's fs-verity pool (src/cli/verity-pool.ts) with many batches on 2 threads: every digest of
// a tree asked for at once comes back right (checked against the core's pure-JS digest) and in
// place, and an error stays with its file. fsverityDigestOfReadsInto (a one-block file skips the Merkle tree, the
// descriptor is reused) is checked with and without the native SHA-256 against `fsverity digest`.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { VerityPool } from '../src/cli/verity-pool.ts';
import { registerNativeSha256 } from '../src/cli/native.ts';
import { fsverityDigestOfReadsInto, fsverityDigestSync } from '../src/lib/codec/fsverity.ts';
import { useNativeSha256 } from '../src/lib/codec/sha256.ts';
import { hex } from '../src/lib/bytes.ts';

const tmp = mkdtempSync(join(tmpdir(), 'ls-verity-batches-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function content(k: number, size: number): Uint8Array {
  const b = new Uint8Array(size);
  let x = (k * 2654435761) | 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    b[i] = x;
  }
  return b;
}

test('1300 files asked at once on 2 threads (6 batches of up to 256 files): every digest right, a missing file fails alone', { timeout: 120_000 }, async () => {
  const dir = join(tmp, 'many');
  mkdirSync(dir);
  const sizes = Array.from({ length: 1300 }, (_, k) => [1, 100, 4095, 4096, 4097, 9000, 70_000][k % 7]!);
  const want: string[] = [];
  for (const [k, size] of sizes.entries()) {
    const b = content(k, size);
    writeFileSync(join(dir, `f${k}`), b);
    want.push(hex(fsverityDigestSync(b)));
  }
  const pool = new VerityPool(2);
  try {
    const asks = sizes.map((size, k) => pool.digest(join(dir, `f${k}`), size));
    const missing = pool.digest(join(dir, 'nope'), 10);
    await assert.rejects(missing, /ENOENT/);
    const got = await Promise.all(asks);
    for (const [k] of sizes.entries()) assert.equal(hex(got[k]!), want[k], `f${k} (${sizes[k]} bytes)`);
    // the pool still answers after its threads went idle
    assert.equal(hex(await pool.digest(join(dir, 'f5'), sizes[5]!)), want[5]);
  } finally {
    await pool.close();
  }
});

const noFsverity = spawnSync('fsverity', ['--version'], { stdio: 'ignore' }).status === 0 ? false : 'fsverity (fsverity-utils) not installed';

test('fsverityDigestOfReadsInto: empty, one-block and multi-block files, at an offset of a shared output, pure JS and native SHA-256 alike, as `fsverity digest`', { skip: noFsverity }, () => {
  const sizes = [0, 1, 63, 4095, 4096, 4097, 8192, 300_000];
  const dir = join(tmp, 'into');
  mkdirSync(dir);
  const want = sizes.map((size, k) => {
    const f = join(dir, `g${k}`);
    writeFileSync(f, content(100 + k, size));
    return /^sha256:([0-9a-f]{64}) /.exec(execFileSync('fsverity', ['digest', f], { encoding: 'utf8' }))![1]!;
  });
  for (const native of [false, true]) {
    if (native) registerNativeSha256();
    else useNativeSha256(null);
    try {
      const out = new Uint8Array(32 * (sizes.length + 1)).fill(0xee);
      for (const [k, size] of sizes.entries()) {
        const b = content(100 + k, size);
        fsverityDigestOfReadsInto(out, 32 * (k + 1), size, (o, n) => b.subarray(o, o + n), 8192);
      }
      assert.ok(out.subarray(0, 32).every((x) => x === 0xee), 'nothing written before the offset');
      for (const [k, size] of sizes.entries()) assert.equal(hex(out.subarray(32 * (k + 1), 32 * (k + 2))), want[k], `${size} bytes, native ${native}`);
    } finally {
      registerNativeSha256();
    }
  }
  // known answers: `fsverity digest` of an empty file and of one byte 0x61 ('a')
  const out = new Uint8Array(32);
  fsverityDigestOfReadsInto(out, 0, 0, () => new Uint8Array(0));
  assert.equal(hex(out), '3d248ca542a24fc62d1c43b916eae5016878e2533c88238480b26128a1f1af95');
  fsverityDigestOfReadsInto(out, 0, 1, () => Uint8Array.of(0x61));
  assert.equal(hex(out), 'bce75948b9e7510293f8f2720412af9697c1479281323f3f220623fb8e94b557');
});
