import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { nydusBytes, nydusExpected, nydusFixture, nydusSource, RAFS, resultMd5 } from './helpers/nydus.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { NodeFileSource } from '../src/lib/io/node.ts';
import { isTypedError, FormatError } from '../src/lib/errors.ts';
import { readAll, resolvePath, walk } from '../src/lib/fs/path.ts';
import { bytes } from '../src/lib/fs/types.ts';
import { RafsV5 } from '../src/lib/rafs/v5.ts';
import { openRafs } from '../src/lib/rafs/index.ts';
import { imageStats } from '../src/lib/app/stats.ts';
import { MissingBlobError } from '../src/lib/rafs/blobstore.ts';
import { MemoryChunkCache } from '../src/lib/rafs/chunkcache.ts';
import { assertSubset } from './helpers/subset.ts';

const EXPECTED = nydusExpected();
const { BLOB_PLAIN, BLOB_LZ4 } = RAFS;

const V5: { boot: string; blob: string }[] = [
  { boot: RAFS.V5, blob: BLOB_PLAIN },
  { boot: RAFS.V5_BLAKE3, blob: BLOB_PLAIN },
  { boot: RAFS.V5_2020_LZ4, blob: BLOB_LZ4 },
  { boot: RAFS.V5_2020, blob: BLOB_PLAIN },
];

const src = nydusSource;

async function open(boot: string, blob: string): Promise<RafsV5> {
  return RafsV5.open(src(boot), { blobs: [src(blob)] });
}

for (const { boot, blob } of V5) {
  test(`v5 ${boot}: superblock, blob table, prefetch and counts match EXPECTED.json`, async () => {
    const exp = EXPECTED[boot]!;
    const fs = await open(boot, blob);
    const info = await fs.info();
    assert.equal(info.format, 'rafs-v5');
    assert.equal(info.version, exp.version);
    assert.equal(info.size, exp.size);
    assertSubset(info.superblock, exp.superblock, 'superblock');
    assertSubset(info.blobs, exp.blobs, 'blobs');
    assert.deepEqual(info.prefetch, exp.prefetch);
    const stats = await imageStats(fs, fs.source);
    assertSubset(stats.counts, exp.counts, 'counts');
    assert.equal(stats.entries, (exp.entries as unknown[]).length);
  });

  test(`v5 ${boot}: every entry matches EXPECTED.json through lookup/getattr/inodeDetails`, async () => {
    const exp = EXPECTED[boot]!;
    const fs = await open(boot, blob);
    const entries = exp.entries as Record<string, unknown>[];
    for (const e of entries) {
      const path = e.path as string;
      const attr = await resolvePath(fs, path);
      assert.equal(attr.ino, e.ino, `${path}: ino`);
      assert.equal(attr.type, e.type, `${path}: type`);
      assert.equal((attr.mode & 0o7777).toString(8).padStart(4, '0'), e.mode, `${path}: mode`);
      for (const k of ['size', 'nlink', 'uid', 'gid', 'mtime'] as const) assert.equal(attr[k], e[k], `${path}: ${k}`);
      assert.equal(attr.mtimeNsec, e.mtime_nsec, `${path}: mtime_nsec`);
      const d = await fs.inodeDetails(attr.ino);
      // what differs between the hardlinks of one inode lives in `links`, one per directory entry
      const links = d.links as Record<string, unknown>[];
      const link = links.find((l) => l.path === path);
      assert.ok(link, `${path}: not among the inode's links ${JSON.stringify(links.map((l) => l.path))}`);
      assertSubset(link, { index: e.index, parent: e.parent, inode_offset: e.inode_offset }, path);
      const { path: _p, index: _i, parent: _pa, inode_offset: _o, ...rest } = e;
      assertSubset(d, rest, path);
      if (e.type === 'symlink') assert.equal(new TextDecoder().decode(await fs.readlink(attr.ino)), e.symlink);
    }
    // hardlinks: one inode, every path
    const hl = entries.filter((e) => e.type === 'reg' && (e.nlink as number) > 1);
    for (const e of hl) {
      const paths = (await fs.pathsOf(e.ino as number)).map((p) => '/' + p.map((c) => new TextDecoder().decode(c)).join('/'));
      assert.deepEqual(paths.sort(), hl.filter((x) => x.ino === e.ino).map((x) => x.path as string).sort());
    }
  });

  test(`v5 ${boot}: the 23 files match the md5 sums of the .result file`, async () => {
    const fs = await open(boot, blob);
    // the 2020 images have no .result of their own: same source tree, same sums as the 2023 ones
    const own = nydusFixture(`${boot}.result`);
    const result = readFileSync(existsSync(own) ? own : nydusFixture(`tests/texture/repeatable/${boot.split('/').pop()}.result`), 'utf8');
    const sums = [...result.matchAll(/^([0-9a-f]{32}) {2}(\/.*)$/gm)].map((m) => ({ md5: m[1]!, path: m[2]! }));
    assert.equal(sums.length, 23);
    for (const { md5, path } of sums) {
      const a = await resolvePath(fs, path);
      const data = await readAll(fs, a.ino);
      assert.equal(data.length, a.size, path);
      assert.equal(createHash('md5').update(data).digest('hex'), md5, path);
    }
    // ranged reads across the chunk boundary of a 2-chunk file
    const big = await resolvePath(fs, '/normal-file-test/busybox/1f777dbdd68d1c4d554bc0d20e027bfef9ed2dfe2d8d5f029e958552a0e12475/layer.tar');
    const whole = await readAll(fs, big.ino);
    const part = await fs.read(big.ino, 1048576 - 100, 300);
    assert.deepEqual(part, whole.subarray(1048576 - 100, 1048576 + 200));
    assert.equal((await fs.read(big.ino, big.size - 5, 100)).length, 5);
    assert.equal((await fs.read(big.ino, big.size, 100)).length, 0);
  });

  test(`v5 ${boot}: metadata verification recomputes every inode digest without complaint`, async () => {
    const fs = await open(boot, blob);
    assert.deepEqual(await fs.verifyMetadata(), []);
  });
}

test('v5: a damaged i_digest is reported by verifyMetadata, for the inode and its parent', async () => {
  const boot = nydusBytes(V5[0]!.boot);
  const entries = EXPECTED[V5[0]!.boot]!.entries as Record<string, unknown>[];
  const victim = entries.find((e) => e.path === '/symlink-test/root')!;
  boot[(victim.inode_offset as number) + 3]! ^= 1;
  const fs = await RafsV5.open(new BytesSource(boot, 'damaged'));
  const issues = await fs.verifyMetadata();
  // the victim no longer matches its target; its parent no longer matches its children's digests
  assert.deepEqual(issues.map((i) => i.path).sort(), ['/symlink-test', '/symlink-test/root'], JSON.stringify(issues));
  assert.ok(issues.every((i) => /i_digest/.test(i.detail)));
});

test('v5: hardlinked and empty directories, readdir cookies, lookups of absent names', async () => {
  const fs = await open(V5[0]!.boot, V5[0]!.blob);
  const root = await fs.readdir(fs.rootIno);
  assert.deepEqual(root.map((e) => new TextDecoder().decode(e.name)), ['hardlink-test', 'normal-file-test', 'symlink-test']);
  const first = await fs.readdir(fs.rootIno, 0, 1);
  const rest = await fs.readdir(fs.rootIno, first[0]!.next);
  assert.deepEqual([...first, ...rest].map((e) => e.ino), root.map((e) => e.ino));
  assert.equal(await fs.lookup(fs.rootIno, bytes('nope')), null);
  assert.equal(await fs.lookup(fs.rootIno, bytes('hardlink-tesu')), null);
  const hl = await fs.lookup((await resolvePath(fs, '/normal-file-test')).ino, bytes('test.sh'));
  assert.equal(hl?.ino, 5);
  assert.deepEqual(await fs.listxattr(5), []);
  assert.equal(await fs.getxattr(5, bytes('user.x')), null);
  const st = await fs.statfs();
  assert.equal(st.files, 51);
  let n = 0;
  for await (const _ of walk(fs)) n++;
  assert.equal(n, 54);
});

test('v5: a missing blob reads as MissingBlobError naming the blob id; metadata still works', async () => {
  const fs = await RafsV5.open(src(V5[0]!.boot));
  const info = await fs.info();
  assert.deepEqual(info.missing_blobs, [{ index: 0, blob_id: '7334a2594e133cf8ae364189c2276b090fc490c627bcc3fb1077f0419a538e00' }]);
  const a = await resolvePath(fs, '/hardlink-test/foo');
  await assert.rejects(fs.read(a.ino, 0, 10), (e: unknown) => e instanceof MissingBlobError && e.blobId.startsWith('7334a2'));
  assert.equal((await fs.inodeDetails(a.ino)).size, 944);
});

test('v5: blobs are matched by name, else by size, else by order; strangers are reported unmatched', async () => {
  const blobBytes = nydusBytes(BLOB_PLAIN);
  const stranger = new BytesSource(new Uint8Array(10), 'other.bin');
  // 2023 layout has the blob's size in the extended blob table
  const bySize = await RafsV5.open(src(V5[0]!.boot), { blobs: [stranger, new BytesSource(blobBytes, 'renamed.data')] });
  assert.equal(bySize.store.bindings[0]!.matchedBy, 'size');
  assert.deepEqual(bySize.store.unmatched.map((s) => s.name), ['other.bin']);
  // 2020 layout does not: order it is, and the data still verifies
  const byOrder = await RafsV5.open(src(V5[3]!.boot), { blobs: [new BytesSource(blobBytes, 'renamed.data')] });
  assert.equal(byOrder.store.bindings[0]!.matchedBy, 'order');
  const a = await resolvePath(byOrder, '/normal-file-test/holefiles/chsum');
  assert.equal((await readAll(byOrder, a.ino)).length, 441);
  // the wrong blob (right name, wrong content) fails the chunk digest, with a typed error
  const wrong = await RafsV5.open(src(V5[3]!.boot), { blobs: [new BytesSource(new Uint8Array(blobBytes.length), '7334a2594e133cf8ae364189c2276b090fc490c627bcc3fb1077f0419a538e00')] });
  await assert.rejects(readAll(wrong, a.ino), (e: unknown) => e instanceof FormatError && /sha256 .* expected/.test(e.detail));
});

test('v5: reads through a lazily read Node file (CachedSource wrapped around it)', async () => {
  const boot = await NodeFileSource.open(nydusFixture(V5[2]!.boot));
  const blob = await NodeFileSource.open(nydusFixture(BLOB_LZ4));
  try {
    const fs = await openRafs(boot, { blobs: [blob] });
    assert.equal(fs.format, 'rafs-v5');
    const a = await resolvePath(fs, '/normal-file-test/busybox/manifest.json');
    const d = await readAll(fs, a.ino);
    // the 2020 bootstrap holds the tree of today's tests/texture/repeatable/blake3-lz4_block-non_repeatable
    assert.equal(createHash('md5').update(d).digest('hex'), resultMd5(RAFS.V5_BLAKE3, '/normal-file-test/busybox/manifest.json'));
  } finally {
    await boot.close();
    await blob.close();
  }
});

test('v5: nydusd_daemon_test_bootstrap (garbage inode records) gives a typed error', async () => {
  const s = src(RAFS.V5_GARBAGE);
  await assert.rejects(openRafs(s), (e: unknown) => e instanceof FormatError && e.structure.startsWith('rafs.v5'));
});

/** Open, walk, and exercise every inode; anything but a typed error is a failure. */
// chunks already verified in an earlier variant come from here: the sweep is about the bootstrap parsers
const sweepCache = new MemoryChunkCache(64 << 20);

async function exercise(b: Uint8Array, blob: BytesSource): Promise<void> {
  try {
    const fs = await RafsV5.open(new BytesSource(b, 'fuzz'), { blobs: [blob], cache: sweepCache });
    await fs.info();
    for await (const e of walk(fs)) {
      await fs.inodeDetails(e.attr.ino);
      await fs.listxattr(e.attr.ino);
      if (e.attr.type === 'symlink') await fs.readlink(e.attr.ino);
      if (e.attr.type === 'reg') await fs.read(e.attr.ino, 0, 64);
    }
    await fs.verifyMetadata();
  } catch (e) {
    if (!isTypedError(e)) throw e;
  }
}

test('v5: flipped bytes and truncations in the bootstrap give typed errors or a readable image, never a crash or hang', { timeout: 300_000 }, async () => {
  const good = nydusBytes(V5[0]!.boot);
  const blob = src(BLOB_PLAIN);
  const offsets: number[] = [];
  for (let i = 0; i < 80; i++) offsets.push(i);
  for (let i = 8192; i < good.length; i += 11) offsets.push(i);
  for (const at of offsets) {
    for (const x of [0xff, 0x80]) {
      const b = good.slice();
      b[at]! ^= x;
      await exercise(b, blob);
    }
  }
  for (const len of [0, 100, 8192, 8193, 8300, 8544, 9000, 12000, good.length - 1]) await exercise(good.slice(0, len), blob);
});
