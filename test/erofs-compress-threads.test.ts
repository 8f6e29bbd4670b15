// Compressed EROFS with the files compressed on other threads (writer-compress.ts ZFilePool, the CLI's
// src/cli/compress-pool.ts): every file's pclusters depend on its own bytes and the config alone, so
// the image is byte-identical to the one-thread build for every algorithm, block and pcluster size,
// with and without ztailpacking. A pool that answers out of order (random delays) is held to that
// and to the bound on bytes handed over; the real worker threads and the CLI (its bundled worker)
// too. Builds with dedupe or fragments (state across files) stay on the one thread.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSource } from '../src/cli/build.ts';
import { NodeCompressPool } from '../src/cli/compress-pool.ts';
import { openErofs } from '../src/lib/erofs/reader.ts';
import { buildErofs, type ErofsCompression, type ErofsOptions } from '../src/lib/erofs/writer.ts';
import { compressRun, resolveCompression, ZImage, type ZConfig, type ZFile, type ZFilePool, type ZPoolFile } from '../src/lib/erofs/writer-compress.ts';
import { MemorySink } from '../src/lib/erofs/writer-output.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { REPO, tempDir } from './helpers/paths.ts';
import { failReadsMidFile } from './helpers/failing-reads.ts';
import { makeTestTree, prng, randomBytes, textBytes } from './helpers/mktree.ts';
import { compareSnapshots, snapshotDisk, snapshotFs } from './helpers/treecompare.ts';
import { mountedDiffs } from './helpers/fsck.ts';
import { hostManifest } from './helpers/kernel.ts';

const work = tempDir('ls-erofs-zthreads-');
const src = makeTestTree({ dir: join(work, 'src') });
{
  const rnd = prng(151);
  const d = join(src, 'zedge');
  mkdirSync(d);
  // around block (512, 4096, 16384) and pcluster (16 KiB, 64 KiB) edges
  for (const n of [511, 512, 513, 4095, 4096, 4097, 8193, 16383, 16384, 16385, 65535, 65536, 65537, 200_003]) writeFileSync(join(d, `t${n}`), textBytes(rnd, n));
  // over one message (1 MiB): sent in pieces to one thread; compressible in part
  writeFileSync(join(d, 'big-mixed'), Buffer.concat([textBytes(rnd, 700_000), randomBytes(rnd, 300_000), new Uint8Array(900_000), textBytes(rnd, 654_321)]));
  writeFileSync(join(d, 'big-random'), randomBytes(rnd, (1 << 20) + 4097));
  // many small files: batched several to a message
  for (let i = 0; i < 60; i++) writeFileSync(join(d, `s${i}`), i % 7 === 0 ? randomBytes(rnd, 3000 + i * 97) : textBytes(rnd, 1 + Math.floor(rnd() * 20_000)));
}
const tree = await loadSource(src);
const OPTS: ErofsOptions = { uuid: '11111111-2222-3333-4444-555555555555', buildTime: 1700000000 };

async function image(opts: ErofsOptions): Promise<Uint8Array> {
  const sink = new MemorySink();
  const r = await buildErofs(tree, { ...OPTS, ...opts }, sink);
  const b = sink.bytes();
  assert.equal(b.length, r.size);
  return b;
}

/** ZFilePool in this thread: compressRun after a random delay (answers out of order), with its bookkeeping */
function shuffledPool(threads: number, seed: number): ZFilePool & { jobs: number; files: number; inflight: number; maxInflight: number; pieces: number } {
  const r = prng(seed);
  const images = new Map<string, ZImage>();
  const pool = {
    threads, jobs: 0, files: 0, inflight: 0, maxInflight: 0, pieces: 0,
    begin(z: ZConfig, files: ZPoolFile[], bytes: Uint8Array, taken: (n: number) => void) {
      pool.jobs++;
      pool.files += files.length;
      const add = (n: number) => {
        pool.inflight += n;
        pool.maxInflight = Math.max(pool.maxInflight, pool.inflight);
      };
      add(bytes.length);
      // the caller hands the buffer over: keep a copy and scribble on its, as a transfer would detach it
      const own = bytes.slice();
      bytes.fill(0xa5);
      const queue: Uint8Array[] = [];
      let waiter: ((b: Uint8Array) => void) | null = null;
      const more = async (): Promise<Uint8Array> => {
        const b = queue.shift() ?? (await new Promise<Uint8Array>((ok) => (waiter = ok)));
        await new Promise((ok) => setTimeout(ok, Math.floor(r() * 3)));
        pool.inflight -= b.length;
        taken(b.length);
        return b;
      };
      const key = JSON.stringify(z);
      const result = new Promise<(ZFile | null)[]>((ok, fail) => setTimeout(() => {
        // a thread's own ZImage: one per job here, so no state can leak from one job to the next
        images.set(key, new ZImage(z));
        compressRun(images.get(key)!, files, own, more).then((zs) => {
          pool.inflight -= own.length;
          ok(zs);
        }, fail);
      }, Math.floor(r() * 6)));
      return {
        more(b: Uint8Array) {
          pool.pieces++;
          add(b.length);
          const c = b.slice();
          b.fill(0x5a);
          if (waiter) {
            const w = waiter;
            waiter = null;
            w(c);
          } else queue.push(c);
        },
        result,
      };
    },
  };
  return pool;
}

/** and the block sizes each is built with (512-byte blocks: more lclusters per file, slower) */
const VARIANTS: [ErofsCompression, number[]][] = [
  [{ algorithm: 'lz4' }, [4096, 512]],
  [{ algorithm: 'lz4hc' }, [4096]],
  [{ algorithm: 'lz4hc', level: 12, pclusterSize: 65536 }, [4096]],
  [{ algorithm: 'lz4', ztailpacking: true }, [4096, 512]],
  [{ algorithm: 'lz4hc', ztailpacking: true, pclusterSize: 16384, indexes: 'full' }, [4096]],
  [{ algorithm: 'deflate' }, [4096]],
  [{ algorithm: 'deflate', level: 9, ztailpacking: true }, [512]],
  [{ algorithm: 'zstd' }, [4096]],
  [{ algorithm: 'zstd', level: 9, pclusterSize: 65536, ztailpacking: true }, [4096]],
];

test('a pool answering out of order: the image is byte-identical to the one-thread build, every algorithm', async () => {
  let seed = 1;
  for (const [c, sizes] of VARIANTS) {
    for (const blockSize of sizes) {
      const what = `${JSON.stringify(c)} -b ${blockSize}`;
      const one = await image({ compression: c, blockSize, compressPool: null });
      const pool = shuffledPool(2, seed++);
      const many = await image({ compression: c, blockSize, compressPool: pool });
      assert.ok(pool.jobs > 5 && pool.pieces >= 2, `${what}: ${pool.jobs} jobs, ${pool.pieces} continued pieces`);
      assert.ok(pool.jobs < pool.files, `${what}: small files batched (${pool.files} files in ${pool.jobs} jobs)`);
      assert.ok(Buffer.from(many).equals(Buffer.from(one)), `${what}: image bytes differ`);
    }
  }
  // and the image reads back (the reader checks every compressed file against the source)
  const img = await image({ compression: { algorithm: 'lz4hc', ztailpacking: true }, compressPool: shuffledPool(3, 99) });
  const fs = await openErofs(new BytesSource(img, 'pooled'));
  try {
    assert.deepEqual(compareSnapshots(snapshotDisk(src), await snapshotFs(fs)), []);
  } finally {
    await fs.close();
  }
});

test('16 KiB blocks with big pclusters, on a pool: byte-identical', async () => {
  const c: ErofsCompression = { algorithm: 'lz4hc', pclusterSize: 65536, ztailpacking: true };
  const one = await image({ compression: c, blockSize: 16384, compressPool: null });
  const many = await image({ compression: c, blockSize: 16384, compressPool: shuffledPool(2, 7) });
  assert.ok(Buffer.from(many).equals(Buffer.from(one)));
});

test('the bytes handed to a pool are bounded (4 MiB a thread, plus one message)', async () => {
  // ~9 MB of files for one thread: without the bound all of it would be handed over at once
  const rnd = prng(5);
  const d = join(work, 'bound');
  mkdirSync(d);
  for (let i = 0; i < 6; i++) writeFileSync(join(d, `f${i}`), textBytes(rnd, 1_500_000 + i));
  const t = await loadSource(d);
  const pool = shuffledPool(1, 3);
  const sink = new MemorySink();
  await buildErofs(t, { ...OPTS, compression: { algorithm: 'lz4' }, compressPool: pool }, sink);
  assert.ok(pool.maxInflight > 2 << 20, `${pool.maxInflight} bytes in flight at most: the pool was fed ahead`);
  assert.ok(pool.maxInflight <= (4 << 20) + (1 << 20), `${pool.maxInflight} bytes in flight at most`);
  const one = new MemorySink();
  await buildErofs(t, { ...OPTS, compression: { algorithm: 'lz4' }, compressPool: null }, one);
  assert.ok(Buffer.from(sink.bytes()).equals(Buffer.from(one.bytes())));
});

test('dedupe and fragments stay on the one thread (state across files)', async () => {
  for (const c of [{ algorithm: 'lz4hc', dedupe: true }, { algorithm: 'lz4', fragments: true }, { algorithm: 'zstd', fragments: true, dedupe: true }] as ErofsCompression[]) {
    const pool = shuffledPool(2, 11);
    const many = await image({ compression: c, compressPool: pool });
    assert.equal(pool.jobs, 0, `${JSON.stringify(c)}: the pool was used`);
    assert.ok(Buffer.from(many).equals(Buffer.from(await image({ compression: c, compressPool: null }))));
  }
  // a thread refuses such a config outright
  await assert.rejects(compressRun(new ZImage(resolveCompression({ algorithm: 'lz4', dedupe: true })), [], new Uint8Array(0), async () => new Uint8Array(0)), /dedupe or fragments/);
});

test('a failing pool fails the build with its error', async () => {
  const broken: ZFilePool = { threads: 2, begin: () => ({ more() {}, result: Promise.reject(new Error('pool broke')) }) };
  await assert.rejects(image({ compression: { algorithm: 'lz4' }, compressPool: broken }), /pool broke/);
});

let threaded: Uint8Array | null = null;
test("the CLI's worker threads: the same bytes as one thread", async () => {
  const pool = new NodeCompressPool(2);
  try {
    for (const c of [{ algorithm: 'lz4hc', ztailpacking: true }, { algorithm: 'zstd', pclusterSize: 65536 }] as ErofsCompression[]) {
      const one = await image({ compression: c, compressPool: null });
      const many = await image({ compression: c, compressPool: pool });
      assert.ok(Buffer.from(many).equals(Buffer.from(one)), JSON.stringify(c));
      threaded ??= many;
    }
  } finally {
    await pool.close();
  }
});

test('a read failing in the middle of a big file fails the build and frees its thread', async () => {
  const pool = new NodeCompressPool(1);
  try {
    const broken = await loadSource(src);
    assert.ok(failReadsMidFile(broken.root, { minSize: 2 << 20, failAt: 1 << 20 }) > 0, 'a file over 2 MiB to break');
    await assert.rejects(buildErofs(broken, { ...OPTS, compression: { algorithm: 'lz4' } , compressPool: pool }, new MemorySink()), /disk gone/);
    // the one thread is free again: a job left waiting for pieces would hold it for good
    const one = await image({ compression: { algorithm: 'lz4' }, compressPool: null });
    const again = await image({ compression: { algorithm: 'lz4' }, compressPool: pool });
    assert.ok(Buffer.from(again).equals(Buffer.from(one)));
  } finally {
    await pool.close();
  }
});

test('the image compressed on worker threads: the kernel mounts it and shows the source tree', async (t) => {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return t.skip('mounting needs root on Linux');
  assert.ok(threaded, 'built by the test before');
  const img = join(work, 'threaded.img');
  writeFileSync(img, threaded);
  const mnt = join(work, 'threaded-mnt');
  mkdirSync(mnt, { recursive: true });
  const r = spawnSync('mount', ['-t', 'erofs', '-o', 'ro', img, mnt], { encoding: 'utf8' });
  if (r.status !== 0) return t.skip(`mount -t erofs refused: ${(r.stderr || r.error?.message || '').trim()}`);
  const want = hostManifest(src);
  if (!want) {
    spawnSync('umount', [mnt]);
    return t.skip('no lsx helper on this host (gcc, libc6-dev)');
  }
  assert.deepEqual(mountedDiffs(mnt, want, 100), []);
});

test('the bundled CLI with LAYERSCOPE_COMPRESS_THREADS=2 and =0: the same image', () => {
  // over the 8 MiB from which the CLI uses its pool
  const rnd = prng(77);
  const d = join(work, 'cli-src');
  mkdirSync(d);
  for (let i = 0; i < 5; i++) writeFileSync(join(d, `f${i}`), textBytes(rnd, 2_000_000 + 4097 * i));
  for (let i = 0; i < 30; i++) writeFileSync(join(d, `s${i}`), textBytes(rnd, 100 + i * 1000));
  const out = (n: string) => {
    const img = join(work, `cli-${n}.img`);
    const r = spawnSync(process.execPath, [join(REPO, 'bin/layerscope.mjs'), 'build', '--format', 'erofs', '-z', 'lz4hc', '-T', '0', '--uuid', '11111111-2222-3333-4444-555555555555', '--json', d, img], {
      encoding: 'utf8', env: { ...process.env, LAYERSCOPE_COMPRESS_THREADS: n },
    });
    assert.equal(r.status, 0, r.stderr);
    // the build's own account of where it compressed
    assert.equal(JSON.parse(r.stdout).compressed.threads, Number(n), r.stdout);
    return readFileSync(img);
  };
  assert.ok(out('2').equals(out('0')));
});

test.after(() => rmSync(work, { recursive: true, force: true }));
