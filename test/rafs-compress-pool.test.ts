// Chunk compression on other threads (blob.ts ChunkCompressPool, the CLI's src/cli/compress-pool.ts):
// jobs finish in any order, the writer stores them in the order they were added, so a blob and its
// bootstrap are byte-identical with and without a pool. A pool that answers out of order (random
// delays) and the real worker threads are both held to the single-thread build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/paths.ts';
import { prng, randomBytes, textBytes } from './helpers/mktree.ts';
import { treeFromDirectory } from '../src/lib/fs/sources/node.ts';
import { buildRafs } from '../src/lib/rafs/builder/build.ts';
import { compressChunk, useChunkCompressPool, type ChunkCompressPool } from '../src/lib/rafs/builder/blob.ts';
import { MemorySink } from '../src/lib/erofs/writer-output.ts';
import type { RafsBuildOptions } from '../src/lib/rafs/builder/types.ts';
import { NodeCompressPool } from '../src/cli/compress-pool.ts';

const work = tempDir('ls-cpool-');
const rnd = prng(16);
// ~14 MB: past the 8 MiB the writer compresses itself; text (compresses), random (stays raw), small files (batches)
for (let d = 0; d < 3; d++) {
  mkdirSync(join(work, `d${d}`));
  writeFileSync(join(work, `d${d}`, 'text.txt'), textBytes(rnd, 3_000_000 + d * 77_777));
  writeFileSync(join(work, `d${d}`, 'random.bin'), randomBytes(rnd, 1_500_000 + d * 4097));
  for (let i = 0; i < 40; i++) writeFileSync(join(work, `d${d}`, `small${i}`), textBytes(rnd, 100 + Math.floor(rnd() * 30_000)));
}

async function build(opts: RafsBuildOptions): Promise<{ boot: Uint8Array; blob: Uint8Array; id: string | null }> {
  const tree = await treeFromDirectory(work, { xattrs: false });
  const boot = new MemorySink();
  const blob = new MemorySink();
  const r = await buildRafs(tree, opts, { bootstrap: boot, blob });
  return { boot: boot.bytes(), blob: blob.bytes(), id: r.blobId };
}

/** compressChunk after a random delay: answers come back out of order */
function shuffledPool(): ChunkCompressPool & { calls: number } {
  const r = prng(3);
  const pool = {
    width: 5,
    calls: 0,
    compress(alg: Parameters<typeof compressChunk>[0], data: Uint8Array, level: Parameters<typeof compressChunk>[2]) {
      pool.calls++;
      return new Promise<Uint8Array | null>((ok) => setTimeout(() => ok(compressChunk(alg, data, level)), Math.floor(r() * 8)));
    },
  };
  return pool;
}

const CASES: RafsBuildOptions[] = [
  { compressor: 'zstd', chunkSize: 0x4_0000 },
  { compressor: 'lz4_block', chunkSize: 0x4_0000, crc32: true },
  { compressor: 'zstd', chunkSize: 0x4_0000, batchSize: 0x1_0000 },
  // (not gzip: fflate stamps each gzip member with the current time, so two gzip builds differ anyway)
  { compressor: 'lz4_block', version: 5, chunkSize: 0x10_0000, alignedChunk: true },
];

test('a pool answering out of order: blob and bootstrap byte-identical to the single-thread build', async () => {
  for (const c of CASES) {
    useChunkCompressPool(null);
    const plain = await build(c);
    const pool = shuffledPool();
    useChunkCompressPool(pool);
    try {
      const pooled = await build(c);
      assert.ok(pool.calls > 5, `${JSON.stringify(c)}: the pool compressed ${pool.calls} chunks`);
      assert.equal(pooled.id, plain.id, `${JSON.stringify(c)}: blob id`);
      assert.ok(Buffer.from(pooled.blob).equals(Buffer.from(plain.blob)), `${JSON.stringify(c)}: blob bytes`);
      assert.ok(Buffer.from(pooled.boot).equals(Buffer.from(plain.boot)), `${JSON.stringify(c)}: bootstrap bytes`);
    } finally {
      useChunkCompressPool(null);
    }
  }
});

test('a failing pool fails the build with its error', async () => {
  useChunkCompressPool({ width: 3, compress: () => Promise.reject(new Error('pool broke')) });
  try {
    await assert.rejects(build({ compressor: 'zstd' }), /pool broke/);
  } finally {
    useChunkCompressPool(null);
  }
});

test('the CLI\'s worker-thread pool: the same bytes as one thread', async () => {
  const c: RafsBuildOptions = { compressor: 'zstd', chunkSize: 0x8_0000, batchSize: 0x1_0000 };
  useChunkCompressPool(null);
  const plain = await build(c);
  const pool = new NodeCompressPool(2);
  useChunkCompressPool(pool);
  try {
    const pooled = await build(c);
    assert.equal(pooled.id, plain.id);
    assert.ok(Buffer.from(pooled.blob).equals(Buffer.from(plain.blob)), 'blob bytes');
    assert.ok(Buffer.from(pooled.boot).equals(Buffer.from(plain.boot)), 'bootstrap bytes');
  } finally {
    useChunkCompressPool(null);
    await pool.close();
  }
});

test.after(() => rmSync(work, { recursive: true, force: true }));
