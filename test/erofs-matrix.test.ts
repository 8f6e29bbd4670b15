// Every mkfs.erofs 1.5 variant of the test tree, read through our reader and compared with the
// source tree entry by entry (content, type, mode, owners, mtime, rdev, symlinks, xattrs,
// hardlink groups); then extracted to disk with src/cli/extract.ts and compared again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openErofs } from '../src/lib/erofs/reader.ts';
import { NodeFileSource } from '../src/lib/io/node.ts';
import { buildErofsImages, MKFS_VARIANTS } from './helpers/mktree.ts';
import { tempDir } from './helpers/paths.ts';
import { compareSnapshots, snapshotDisk, snapshotFs, type Snapshot } from './helpers/treecompare.ts';

const work = tempDir('ls-erofs-matrix-');
const images = buildErofsImages(work);
const sources = new Map<string, Snapshot>();
const sourceSnap = (dir: string) => sources.get(dir) ?? (sources.set(dir, snapshotDisk(dir)), sources.get(dir)!);

async function open(img: (typeof images)[number]) {
  const devices = img.blob ? [await NodeFileSource.open(img.blob)] : [];
  return openErofs(await NodeFileSource.open(img.image), { devices });
}

test('the matrix covers every variant and fsck.erofs accepts each image', () => {
  assert.equal(images.length, MKFS_VARIANTS.length);
  for (const img of images) {
    const args = img.blob ? [`--device=${img.blob}`, img.image] : [img.image];
    execFileSync('fsck.erofs', args, { stdio: 'pipe' });
  }
});

test('the source tree has what the matrix is meant to exercise', () => {
  const s = sourceSnap(images[0]!.src);
  const types = new Set([...s.entries.values()].map((e) => e.type));
  for (const t of ['reg', 'dir', 'symlink', 'chr', 'blk', 'fifo', 'sock']) assert.ok(types.has(t), `tree has a ${t}`);
  assert.ok(s.links.length >= 2, 'two hardlink groups');
  const many = [...s.entries.keys()].filter((k) => Buffer.from(k, 'hex').toString().startsWith('many/'));
  assert.ok(many.length >= 350, 'a directory of 350+ entries');
  const xattrNames = new Set([...s.entries.values()].flatMap((e) => Object.keys(e.xattrs)).map((n) => Buffer.from(n, 'hex').toString()));
  for (const p of ['user.', 'trusted.', 'security.']) assert.ok([...xattrNames].some((n) => n.startsWith(p)), `xattrs under ${p}`);
});

for (const img of images) {
  test(`reader reproduces the source tree: ${img.name}`, async () => {
    const fs = await open(img);
    try {
      const got = await snapshotFs(fs);
      const diffs = compareSnapshots(sourceSnap(img.src), got, { mtime: !img.compact });
      assert.deepEqual(diffs, [], `${img.name}: ${diffs.length} differences`);
      // compact inodes carry the superblock build time
      if (img.compact) {
        const info = await fs.info();
        for (const e of got.entries.values()) assert.equal(e.mtimeNs, BigInt(info.buildTime as number) * 1_000_000_000n + BigInt(info.buildTimeNsec as number));
      }
    } finally {
      await fs.close();
    }
  });
}

const extractPath = join(import.meta.dirname, '../src/cli/extract.ts');
for (const img of images) {
  test(`extract restores the source tree: ${img.name}`, { skip: existsSync(extractPath) ? false : 'src/cli/extract.ts is not there yet' }, async () => {
    const { extract } = (await import(extractPath)) as typeof import('../src/cli/extract.ts');
    const fs = await open(img);
    const dest = join(tempDir('ls-erofs-extract-'), 'out');
    try {
      const report = await extract(fs, dest);
      assert.deepEqual(report.skipped, []);
      const diffs = compareSnapshots(sourceSnap(img.src), snapshotDisk(dest), { mtime: !img.compact });
      assert.deepEqual(diffs, [], `${img.name}: ${diffs.length} differences after extract`);
    } finally {
      await fs.close();
    }
  });
}

// The same with worker threads restoring entries from the main thread's data plans (tsx registers
// itself in each worker); everyThread makes each worker take a job before this thread takes any.
for (const img of images) {
  test(`extract with 3 threads restores the source tree: ${img.name}`, async () => {
    const { extract } = await import('../src/cli/extract.ts');
    const fs = await open(img);
    const dest = join(tempDir('ls-erofs-extract-mt-'), 'out');
    try {
      const report = await extract(fs, dest, { threads: 3, everyThread: true });
      assert.equal(report.threads, 3, 'every worker restored a job');
      assert.deepEqual(report.skipped, []);
      const diffs = compareSnapshots(sourceSnap(img.src), snapshotDisk(dest), { mtime: !img.compact });
      assert.deepEqual(diffs, [], `${img.name}: ${diffs.length} differences after a threaded extract`);
    } finally {
      await fs.close();
    }
  });
}

test('extract of an image whose data was cut off fails with the typed error', async () => {
  const { extract } = await import('../src/cli/extract.ts');
  const { FormatError, IoError } = await import('../src/lib/errors.ts');
  const img = images.find((i) => i.name === 'noinline')!;
  // keep the metadata, cut the data: mkfs.erofs 1.5 puts file data after the inodes it walks first
  const bytes = readFileSync(img.image);
  const cut = join(tempDir('ls-erofs-extract-cut-'), 'cut.erofs');
  writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.8)));
  const fs = await openErofs(await NodeFileSource.open(cut));
  try {
    await assert.rejects(
      extract(fs, join(tempDir('ls-erofs-extract-cut-out-'), 'out')),
      (e: unknown) => e instanceof FormatError || e instanceof IoError,
    );
    // with workers: whichever thread meets the damage, the typed error comes back to the caller
    await assert.rejects(
      extract(fs, join(tempDir('ls-erofs-extract-cut-out-'), 'out'), { threads: 4, everyThread: true }),
      (e: unknown) => e instanceof FormatError || e instanceof IoError,
    );
  } finally {
    await fs.close();
  }
});

test('treecompare notices content, xattr, mtime, mode and hardlink differences', () => {
  const src = images[0]!.src;
  const copy = join(tempDir('ls-erofs-mut-'), 'copy');
  execFileSync('cp', ['-a', src, copy]);
  assert.deepEqual(compareSnapshots(sourceSnap(src), snapshotDisk(copy)), []);
  execFileSync('sh', ['-c', [
    `printf x >> '${copy}/t4097'`,
    `setfattr -n user.shared -v other '${copy}/t1'`,
    `touch -d @1000000000.5 '${copy}/r1'`,
    `chmod 0600 '${copy}/t0'`,
    `cp '${copy}/hard-b' '${copy}/hard-b.tmp' && mv '${copy}/hard-b.tmp' '${copy}/hard-b'`,
  ].join(' && ')]);
  const diffs = compareSnapshots(sourceSnap(src), snapshotDisk(copy)).join('\n');
  for (const want of ['/t4097: size', '/t4097: content', '/t1: xattr user.shared', '/r1: mtime', '/t0: mode', '/hard-b: nlink', 'hardlink groups differ']) {
    assert.ok(diffs.includes(want), `expected a "${want}" difference in:\n${diffs}`);
  }
});
