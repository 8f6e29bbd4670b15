// Chunk compression on other threads (blob.ts ChunkCompressPool, the CLI's src/cli/compress-pool.ts):
// jobs finish in any order, the writer stores them in the order they were added, so a blob and its
// bootstrap are byte-identical with and without a pool. A pool that answers out of order (random
// delays), one too slow to keep up (the writer then compresses chunks itself) and the real worker
// threads are all held to the single-thread build. Likewise the read-ahead
// of sources that only read asynchronously (the page's Files): BlobWriter.prefetch / addFile.
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
import type { SourceInode, SourceTree } from '../src/lib/fs/tree.ts';
import type { ByteSource } from '../src/lib/io/source.ts';

const work = tempDir('ls-cpool-');
const rnd = prng(16);
// ~14 MB: past the 8 MiB the writer compresses itself; text (compresses), random (stays raw), small files (batches)
for (let d = 0; d < 3; d++) {
  mkdirSync(join(work, `d${d}`));
  writeFileSync(join(work, `d${d}`, 'text.txt'), textBytes(rnd, 3_000_000 + d * 77_777));
  writeFileSync(join(work, `d${d}`, 'random.bin'), randomBytes(rnd, 1_500_000 + d * 4097));
  for (let i = 0; i < 40; i++) writeFileSync(join(work, `d${d}`, `small${i}`), textBytes(rnd, 100 + Math.floor(rnd() * 30_000)));
}

/** Every file's content as a source that only reads asynchronously, answering after a random delay, and counting reads. */
function asyncOnly(tree: SourceTree): { reads: number } {
  const r = prng(9);
  const stat = { reads: 0 };
  const walk = (d: SourceInode) => {
    for (const c of d.children ?? []) {
      if (c.inode.type === 'dir') walk(c.inode);
      else if (c.inode.content) {
        const inner = c.inode.content;
        const src: ByteSource = {
          size: inner.size, name: inner.name,
          read: (off, n) => {
            stat.reads++;
            return new Promise((ok, fail) => setTimeout(() => inner.read(off, n).then((b) => ok(b.slice()), fail), Math.floor(r() * 3)));
          },
        };
        c.inode.content = src;
      }
    }
  };
  walk(tree.root);
  return stat;
}

async function build(opts: RafsBuildOptions, async = false): Promise<{ boot: Uint8Array; blob: Uint8Array; id: string | null; reads: number }> {
  const tree = await treeFromDirectory(work, { xattrs: false });
  const stat = async ? asyncOnly(tree) : { reads: 0 };
  const boot = new MemorySink();
  const blob = new MemorySink();
  const r = await buildRafs(tree, opts, { bootstrap: boot, blob });
  return { boot: boot.bytes(), blob: blob.bytes(), id: r.blobId, reads: stat.reads };
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

test('sources that only read asynchronously (read-ahead of the next piece and the next file): the same image', async () => {
  useChunkCompressPool(null);
  for (const c of [{ compressor: 'zstd', chunkSize: 0x1_0000, readSize: 0x2_0000 }, { compressor: 'none', batchSize: 0x1_0000 }] as RafsBuildOptions[]) {
    const plain = await build(c);
    const ahead = await build(c, true);
    assert.ok(ahead.reads > 100, `${ahead.reads} async reads`);
    assert.equal(ahead.id, plain.id, `${JSON.stringify(c)}: blob id`);
    assert.ok(Buffer.from(ahead.blob).equals(Buffer.from(plain.blob)), `${JSON.stringify(c)}: blob bytes`);
    assert.ok(Buffer.from(ahead.boot).equals(Buffer.from(plain.boot)), `${JSON.stringify(c)}: bootstrap bytes`);
  }
});

test('a full pool: the writer compresses the next chunks itself instead of waiting, and the bytes stay the same', async () => {
  const c: RafsBuildOptions = { compressor: 'zstd', chunkSize: 0x4_0000 };
  useChunkCompressPool(null);
  const plain = await build(c);
  const counting = (width: number, delay: number) => {
    const pool = {
      width, calls: 0,
      compress(alg: Parameters<typeof compressChunk>[0], data: Uint8Array, level: Parameters<typeof compressChunk>[2]) {
        pool.calls++;
        return new Promise<Uint8Array | null>((ok) => setTimeout(() => ok(compressChunk(alg, data, level)), delay));
      },
    };
    return pool;
  };
  // never full: every chunk past the writer's first 8 MiB goes to the pool
  const wide = counting(1000, 0);
  useChunkCompressPool(wide);
  try {
    const all = await build(c);
    assert.ok(Buffer.from(all.blob).equals(Buffer.from(plain.blob)), 'blob bytes (wide pool)');
    // one slow job at a time: most chunks are compressed by the writer while the pool's job waits
    const slow = counting(1, 40);
    useChunkCompressPool(slow);
    const pooled = await build(c);
    assert.ok(wide.calls > 10, `${wide.calls} chunks past the first 8 MiB`);
    assert.ok(slow.calls > 0 && slow.calls < wide.calls / 2, `the slow pool got ${slow.calls} of ${wide.calls} chunks`);
    assert.equal(pooled.id, plain.id);
    assert.ok(Buffer.from(pooled.blob).equals(Buffer.from(plain.blob)), 'blob bytes');
    assert.ok(Buffer.from(pooled.boot).equals(Buffer.from(plain.boot)), 'bootstrap bytes');
  } finally {
    useChunkCompressPool(null);
  }
});

test('a pool with ready(): chunks go to it once it is ready, before the first 8 MiB; never ready, none do; the bytes stay the same', async () => {
  const c: RafsBuildOptions = { compressor: 'zstd', chunkSize: 0x4_0000 };
  useChunkCompressPool(null);
  const plain = await build(c);
  const readyAfter = (turns: number) => {
    const pool = {
      width: 1000, calls: 0, prepared: 0, isReady: false,
      compress(alg: Parameters<typeof compressChunk>[0], data: Uint8Array, level: Parameters<typeof compressChunk>[2]) {
        pool.calls++;
        return Promise.resolve(compressChunk(alg, data, level));
      },
      prepare() {
        pool.prepared++;
        // ready after a few macrotask turns (as a thread's warm-up reply): the writer has to yield to see it
        const tick = (n: number) => (n === 0 ? (pool.isReady = true) : setImmediate(() => tick(n - 1)));
        if (turns >= 0) tick(turns);
      },
      ready: () => pool.isReady,
    };
    return pool;
  };
  // without ready(): the chunks past the first 8 MiB
  const wide = { width: 1000, calls: 0, compress: (a: Parameters<typeof compressChunk>[0], d: Uint8Array, l: Parameters<typeof compressChunk>[2]) => (wide.calls++, Promise.resolve(compressChunk(a, d, l))) };
  try {
    useChunkCompressPool(wide);
    await build(c);
    const soon = readyAfter(3);
    useChunkCompressPool(soon);
    const pooled = await build(c);
    assert.equal(soon.prepared, 1);
    assert.ok(soon.calls > wide.calls + 8, `ready pool: ${soon.calls} chunks, ${wide.calls} past 8 MiB`);
    assert.equal(pooled.id, plain.id);
    assert.ok(Buffer.from(pooled.blob).equals(Buffer.from(plain.blob)), 'blob bytes (ready pool)');
    assert.ok(Buffer.from(pooled.boot).equals(Buffer.from(plain.boot)), 'bootstrap bytes (ready pool)');
    const never = readyAfter(-1);
    useChunkCompressPool(never);
    const alone = await build(c);
    assert.equal(never.calls, 0);
    assert.ok(Buffer.from(alone.blob).equals(Buffer.from(plain.blob)), 'blob bytes (never ready)');
  } finally {
    useChunkCompressPool(null);
  }
});

test('a pool whose jobs can be taken back (submit): the writer compresses what the thread has not started, the bytes stay the same', async () => {
  for (const c of [{ compressor: 'zstd', chunkSize: 0x4_0000 }, { compressor: 'zstd', chunkSize: 0x1_0000, batchSize: 0x8000 }] as RafsBuildOptions[]) {
    useChunkCompressPool(null);
    const plain = await build(c);
    // one "thread": starts the oldest job not taken back every 2 ms (FIFO)
    const queue: { cell: { state: number }; run(): void; skip(): void }[] = [];
    let timer: ReturnType<typeof setTimeout> | null = null;
    const kick = () => {
      timer ??= setTimeout(() => {
        timer = null;
        // the ones taken back are answered at once, as compress-worker.ts does
        while (queue.length && queue[0]!.cell.state !== 0) queue.shift()!.skip();
        const j = queue.shift();
        if (!j) return;
        j.cell.state = 1;
        pool.started++;
        j.run();
        if (queue.length) kick();
      }, 2);
    };
    const pool = {
      width: 2, started: 0, taken: 0,
      compress(): Promise<Uint8Array | null> {
        throw new Error('the writer uses submit when the pool has it');
      },
      prepare() {},
      ready: () => true,
      submit(alg: Parameters<typeof compressChunk>[0], data: Uint8Array, level: Parameters<typeof compressChunk>[2]) {
        const cell = { state: 0 };
        const result = new Promise<Uint8Array | null>((ok) => queue.push({ cell, run: () => ok(compressChunk(alg, data, level)), skip: () => ok(null) }));
        kick();
        return {
          result,
          started: () => cell.state === 1,
          takeBack: () => (cell.state === 0 ? ((cell.state = 2), pool.taken++, true) : false),
        };
      },
    };
    useChunkCompressPool(pool);
    try {
      const pooled = await build(c);
      assert.ok(pool.started > 3 && pool.taken > 3, `${JSON.stringify(c)}: the thread compressed ${pool.started}, the writer took back ${pool.taken}`);
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
