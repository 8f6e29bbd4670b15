// Compressed EROFS whose pclusters wait in a ZDataStore between planning and writing
// (writer-compress.ts; the CLI's temporary file, src/cli/zstore.ts): the image is byte-identical to
// the in-memory build for every layout (lz4/lz4hc/deflate/zstd, -C, full indexes, ztailpacking with
// a tail dropped out of its inode, fragments, dedupe, a pool of threads), the store holds every
// pcluster byte, and the temporary file is gone (no name, no open descriptor) after a build and
// after a failing one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, loadSource } from '../src/cli/build.ts';
import { NodeCompressPool } from '../src/cli/compress-pool.ts';
import { TempFileZDataStore, zstoreDir } from '../src/cli/zstore.ts';
import { openErofs } from '../src/lib/erofs/reader.ts';
import { buildErofs, measureErofs, type ErofsOptions } from '../src/lib/erofs/writer.ts';
import { MemoryZDataStore, newZDataStore, type ZDataStore } from '../src/lib/erofs/writer-compress.ts';
import { MemorySink } from '../src/lib/erofs/writer-output.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { tempDir } from './helpers/paths.ts';
import { failReadsMidFile } from './helpers/failing-reads.ts';
import { openFds } from './helpers/fds.ts';
import { makeTestTree, prng, randomBytes, textBytes } from './helpers/mktree.ts';

const work = tempDir('ls-erofs-zstore-');
const src = makeTestTree({ dir: join(work, 'src'), small: true });
const rnd = prng(909);
{
  const d = join(src, 'zedge');
  mkdirSync(d);
  for (const n of [4097, 8193, 65537, 300_001]) writeFileSync(join(d, `t${n}`), textBytes(rnd, n));
  writeFileSync(join(d, 'dup300001'), readFileSync(join(d, 't300001')));
  writeFileSync(join(d, 'mixed'), Buffer.concat([textBytes(rnd, 50_000), randomBytes(rnd, 30_000), new Uint8Array(70_000), textBytes(rnd, 9_999)]));
  writeFileSync(join(d, 'big'), Buffer.concat([textBytes(rnd, 1_200_000), randomBytes(rnd, 200_000)]));
}
// ztailpacking: two raw blocks, then 6000 bytes of text that one encoder call packs into a ~2 KiB
// inline pcluster; beside a 2500-byte xattr it does not fit its inode's block, so dropInline moves it
// to a block after the file's stored pclusters
const dropped = join(src, 'zedge', 'dropped-tail');
writeFileSync(dropped, Buffer.concat([randomBytes(rnd, 8192), textBytes(rnd, 6000)]));
const xattrSet = spawnSync('setfattr', ['-n', 'user.pad', '-v', '0x' + Buffer.from(textBytes(rnd, 2500)).toString('hex'), dropped]).status === 0;

const tree = await loadSource(src);
const BASE: ErofsOptions = { uuid: '11111111-2222-3333-4444-555555555555', buildTime: 1700000000 };

const storeDir = join(work, 'store');
mkdirSync(storeDir);

/** the temporary-file store, watched: bytes put, reads, closes */
function watched(): { make: () => ZDataStore; puts: number; bytes: number; gets: number; closed: number } {
  const w = {
    puts: 0, bytes: 0, gets: 0, closed: 0,
    make: (): ZDataStore => {
      const s = new TempFileZDataStore(storeDir);
      return {
        put: (d) => {
          w.puts++;
          w.bytes += d.length;
          return s.put(d);
        },
        get: (h, n) => {
          w.gets++;
          return s.get(h, n);
        },
        close: () => {
          w.closed++;
          s.close();
        },
      };
    },
  };
  return w;
}

/** descriptors of this process open on a store file (deleted or not) */
const openStoreFds = (): string[] => openFds((l) => l.includes('.layerscope-zdata-'));

function assertNoStoreLeft(): void {
  assert.deepEqual(readdirSync(storeDir), [], 'no temporary file left in the store directory');
  if (process.platform === 'linux') assert.deepEqual(openStoreFds(), [], 'no descriptor left open on a store file');
}

async function pair(opts: ErofsOptions): Promise<{ mem: Uint8Array; file: Uint8Array; w: ReturnType<typeof watched>; blocks: number }> {
  const a = new MemorySink();
  const ra = await buildErofs(tree, { ...BASE, ...opts }, a);
  const w = watched();
  const b = new MemorySink();
  const rb = await buildErofs(tree, { ...BASE, ...opts, zstore: w.make }, b);
  assert.equal(rb.size, ra.size);
  // the measuring pass reads no pcluster (its store throws on get) and plans the same size
  assert.equal(await measureErofs(tree, { ...BASE, ...opts }), ra.size);
  const c = rb.compressed!;
  return { mem: a.bytes(), file: b.bytes(), w, blocks: c.blocks + c.packedBlocks };
}

const VARIANTS: { name: string; opts: ErofsOptions }[] = [
  { name: 'lz4', opts: { compression: { algorithm: 'lz4' } } },
  { name: 'lz4hc', opts: { compression: { algorithm: 'lz4hc' } } },
  { name: 'lz4hc-12-C64k-full', opts: { compression: { algorithm: 'lz4hc', level: 12, pclusterSize: 65536, indexes: 'full' } } },
  { name: 'deflate', opts: { compression: { algorithm: 'deflate' } } },
  { name: 'zstd-C64k', opts: { compression: { algorithm: 'zstd', pclusterSize: 65536 } } },
  { name: 'lz4hc-ztail', opts: { compression: { algorithm: 'lz4hc', ztailpacking: true } } },
  { name: 'b1024-lz4-ztail', opts: { blockSize: 1024, compression: { algorithm: 'lz4', ztailpacking: true } } },
  { name: 'lz4hc-fragments', opts: { compression: { algorithm: 'lz4hc', fragments: true } } },
  { name: 'zstd-C16k-fragments', opts: { compression: { algorithm: 'zstd', pclusterSize: 16384, fragments: true } } },
  { name: 'lz4hc-dedupe', opts: { compression: { algorithm: 'lz4hc', dedupe: true } } },
  { name: 'lz4hc-ztail-fragments-dedupe', opts: { compression: { algorithm: 'lz4hc', ztailpacking: true, fragments: true, dedupe: true } } },
];

for (const v of VARIANTS) {
  test(`${v.name}: the image through the temporary-file store is the in-memory one`, async () => {
    const { mem, file, w, blocks } = await pair(v.opts);
    assert.ok(Buffer.from(file).equals(Buffer.from(mem)), 'byte-identical');
    const bs = v.opts.blockSize ?? 4096;
    // every pcluster block went through the store but dropped inline tails (held beside it; a few here)
    assert.ok(w.puts > 0 && w.gets === w.puts, `puts ${w.puts}, gets ${w.gets}`);
    assert.ok(w.bytes % bs === 0 && w.bytes <= blocks * bs && w.bytes >= (blocks - 8) * bs, `${w.bytes} bytes stored of ${blocks} blocks`);
    assert.equal(w.closed, 1);
    assertNoStoreLeft();
  });
}

test('ztailpacking: a tail dropped out of its inode reads back after the stored pclusters', async (t) => {
  if (!xattrSet) return t.skip('setfattr user.* refused here: no inode too full for its tail');
  const opts: ErofsOptions = { compression: { algorithm: 'lz4hc', ztailpacking: true } };
  const { mem, file, w } = await pair(opts);
  assert.ok(Buffer.from(file).equals(Buffer.from(mem)));
  // the dropped tail is one block held beside the store: one block fewer stored than the image's
  const r = await buildErofs(tree, { ...BASE, ...opts }, new MemorySink());
  assert.ok(w.bytes < (r.compressed!.blocks + r.compressed!.packedBlocks) * 4096, 'a block not in the store (the dropped tail)');
  const fs = await openErofs(new BytesSource(file, 'ztail'));
  try {
    let ino = fs.rootIno;
    for (const name of ['zedge', 'dropped-tail']) ino = (await fs.readdir(ino)).find((e) => new TextDecoder().decode(e.name) === name)!.ino;
    const got = await fs.read(ino, 0, 8192 + 6000);
    assert.ok(Buffer.from(got).equals(readFileSync(dropped)), 'content');
  } finally {
    await fs.close();
  }
});

test('a pool of threads: results stored as they arrive, the same image', async () => {
  const pool = new NodeCompressPool(2);
  try {
    for (const c of [{ algorithm: 'lz4hc', ztailpacking: true }, { algorithm: 'zstd' }] as const) {
      const { mem, file, w } = await pair({ compression: c, compressPool: pool });
      assert.ok(Buffer.from(file).equals(Buffer.from(mem)), c.algorithm);
      const one = new MemorySink();
      await buildErofs(tree, { ...BASE, compression: c, compressPool: null }, one);
      assert.ok(Buffer.from(file).equals(Buffer.from(one.bytes())), `${c.algorithm}: as on one thread`);
      assert.ok(w.puts > 0);
    }
  } finally {
    await pool.close();
  }
  assertNoStoreLeft();
});

test('a build failing half-way closes and leaves no temporary file', async () => {
  const broken = await loadSource(src);
  assert.ok(failReadsMidFile(broken.root, { minSize: 1 << 20, failAt: 1 << 20 }) > 0, 'a file over 1 MiB to break');
  for (const compressPool of [null, undefined]) {
    const w = watched();
    await assert.rejects(buildErofs(broken, { ...BASE, compression: { algorithm: 'lz4' }, compressPool, readSize: 1 << 18, zstore: w.make }, new MemorySink()), /disk gone/);
    assert.ok(w.puts > 0, 'pclusters were stored before the failure');
    assert.equal(w.closed, 1);
    assertNoStoreLeft();
  }
});

test('the CLI build registers the temporary-file store next to OUT and unregisters it', async () => {
  const outDir = join(work, 'cli');
  mkdirSync(outDir);
  const out = join(outDir, 'z.img');
  assert.equal(zstoreDir(out), outDir);
  // counted through the class: the CLI makes its own instances
  const proto = TempFileZDataStore.prototype;
  const put = proto.put;
  let puts = 0;
  const dirs = new Set<string>();
  proto.put = function (this: TempFileZDataStore, d: Uint8Array) {
    puts++;
    dirs.add(this.path.slice(0, this.path.lastIndexOf('/')));
    return put.call(this, d);
  };
  try {
    await build(tree, { format: 'erofs', out, compression: 'lz4hc', uuid: BASE.uuid as string, buildTime: BASE.buildTime });
  } finally {
    proto.put = put;
  }
  assert.ok(puts > 0, 'the CLI stored pclusters in the temporary file');
  assert.deepEqual([...dirs], [outDir]);
  assert.deepEqual(readdirSync(outDir), ['z.img'], 'only the image is left next to it');
  if (process.platform === 'linux') assert.deepEqual(openStoreFds(), []);
  assert.ok(newZDataStore() instanceof MemoryZDataStore, 'unregistered after the build');
  const mem = new MemorySink();
  await buildErofs(tree, { ...BASE, compression: { algorithm: 'lz4hc' } }, mem);
  assert.ok(readFileSync(out).equals(Buffer.from(mem.bytes())), 'the same image as in memory');
});
