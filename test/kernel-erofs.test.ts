// The Linux kernel as an oracle for our EROFS reader: every mkfs.erofs variant of the test tree is
// mounted by a real kernel (QEMU, TCG, one boot for all images) and walked; what the kernel shows
// must equal what our reader shows, entry by entry (ino, type, mode, owners, size, nlink, mtime
// with ns, rdev, dirent type, symlink target, content sha256, xattrs, readdir order, statfs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, openSync, readFileSync, writeSync, closeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openImageFile } from '../src/cli/open.ts';
import {
  compareManifests,
  hostManifest,
  kernelManifest,
  KernelOracleError,
  kernelResults,
  kernelUnavailableReason,
  parseLsx,
  parseRun,
  readerManifest,
  showPath,
  sourceCompare,
  type KernelJob,
  type KernelResult,
  type Manifest,
} from './helpers/kernel.ts';
import { resolvePath } from '../src/lib/fs/path.ts';
import { buildErofsImages, fixErofsSuperblockChecksum } from './helpers/mktree.ts';
import { tempDir } from './helpers/paths.ts';

const why = kernelUnavailableReason();
const work = tempDir('ls-kernel-erofs-');
const images = why ? [] : buildErofsImages(work);

// one boot for every image, plus one image the kernel must refuse and one with an inode whose
// blocks lie past the image end
let booted: Promise<KernelResult[]> | undefined;
const corrupt = join(work, 'bad-magic.erofs');
const farBlocks = join(work, 'far-blocks.erofs');
const FAR_FILE = '/r4097';
async function boot(): Promise<KernelResult[]> {
  if (!booted) {
    copyFileSync(images[0]!.image, corrupt);
    const fd = openSync(corrupt, 'r+');
    writeSync(fd, Buffer.from([0, 0, 0, 0]), 0, 4, 1024);
    closeSync(fd);
    // i_u (raw_blkaddr of a flat plain file, offset 16 in both inode forms) far past the end
    const fs = await openImageFile(images[0]!.image);
    const info = await fs.info();
    const nid = (await resolvePath(fs, FAR_FILE)).ino;
    await fs.close?.();
    const b = new Uint8Array(readFileSync(images[0]!.image));
    const at = (info.metaBlkaddr as number) * (info.blockSize as number) + nid * 32 + 16;
    new DataView(b.buffer).setUint32(at, 0xfffffff0, true);
    fixErofsSuperblockChecksum(b);
    writeFileSync(farBlocks, b);
    const jobs: KernelJob[] = images.map((img) => ({ image: img.image, devices: img.blob ? [img.blob] : [] }));
    jobs.push({ image: corrupt }, { image: farBlocks });
    booted = kernelResults(jobs);
  }
  return booted;
}

for (const [i, name] of buildErofsImagesNames().entries()) {
  test(`kernel and reader see the same tree: ${name}`, { timeout: 30 * 60_000 }, async (t) => {
    if (why) return t.skip(`kernel oracle unavailable: ${why}`);
    const img = images[i]!;
    const k = (await boot())[i]!;
    assert.ok(!('mountError' in k), `the kernel refused ${name}: ${'mountError' in k ? k.mountError : ''}`);
    const fs = await openImageFile(img.image, { device: img.blob ? [img.blob] : [] });
    try {
      const r = await readerManifest(fs);
      // the walk must have covered the tree, or equality would prove little
      assert.ok(k.entries.length > 390, `${name}: the kernel listed only ${k.entries.length} entries`);
      assert.ok(k.entries.filter((e) => e.sha256 && !e.sha256.startsWith('!')).length > 350, 'regular files hashed');
      // without the lsx helper (no static glibc) the busybox walk cannot list xattrs
      if (k.helper) assert.ok(k.entries.some((e) => e.xattrs && Object.keys(e.xattrs).length > 0), 'xattrs listed');
      const diffs = compareManifests(k, r);
      assert.deepEqual(diffs, [], `${name}: ${diffs.length} differences between the kernel and our reader`);
    } finally {
      await fs.close?.();
    }
  });
}

// the same kernel manifests against the source directories (lsx run on this host): checks the oracle
// itself and mkfs.erofs, and shows the reader tests above compare complete trees
test('what the kernel shows of each image is the source tree', { timeout: 30 * 60_000 }, async (t) => {
  if (why) return t.skip(`kernel oracle unavailable: ${why}`);
  const res = await boot();
  const srcs = new Map<string, Manifest | null>();
  for (const [i, img] of images.entries()) {
    if (!srcs.has(img.src)) srcs.set(img.src, hostManifest(img.src));
    const src = srcs.get(img.src);
    if (!src) return t.skip('no lsx helper on this host (gcc, libc6-dev)');
    const k = res[i]!;
    assert.ok(!('mountError' in k));
    // compact inodes have no mtime of their own: every one is the build time
    const diffs = compareManifests(k, src, { ...sourceCompare, skipFields: img.compact ? ['mtime'] : [] });
    assert.deepEqual(diffs, [], `${img.name}: the kernel's view differs from the source tree`);
  }
});

test('the kernel refuses an image with a broken superblock magic, and so does our reader', { timeout: 30 * 60_000 }, async (t) => {
  if (why) return t.skip(`kernel oracle unavailable: ${why}`);
  const res = await boot();
  const k = res[images.length]!;
  assert.ok('mountError' in k, 'the kernel mounted an image without the EROFS magic');
  await assert.rejects(openImageFile(corrupt));
});

function buildErofsImagesNames(): string[] {
  return why ? ['default', 'lz4hc', 'chunk4k', 'lz4hc-ztail', 'blob'] : images.map((i) => i.name);
}

// Found with this oracle: the kernel stats an inode whose data blocks lie past the image end and
// fails only its reads (EIO); our reader refuses the inode already in getattr, so it cannot be listed.
test('an inode whose blocks lie past the image end: the kernel lists it and fails its reads', { timeout: 30 * 60_000 }, async (t) => {
  if (why) return t.skip(`kernel oracle unavailable: ${why}`);
  const k = (await boot())[images.length + 1]!;
  assert.ok(!('mountError' in k), 'the kernel mounts the image');
  const e = k.entries.find((x) => showPath(x.path) === FAR_FILE)!;
  assert.equal(e.error, undefined, 'lstat succeeds');
  assert.equal(e.type, 'reg');
  assert.equal(e.size, 4097);
  assert.equal(e.sha256, '!5', 'reading fails with EIO');
  // every other entry is intact
  assert.equal(k.entries.filter((x) => x.error || x.sha256?.startsWith('!')).length, 1);
});

test('an inode whose blocks lie past the image end: our reader agrees with the kernel', { timeout: 30 * 60_000 }, async (t) => {
  if (why) return t.skip(`kernel oracle unavailable: ${why}`);
  const k = (await boot())[images.length + 1]!;
  assert.ok(!('mountError' in k));
  const fs = await openImageFile(farBlocks);
  try {
    const notes: string[] = [];
    const diffs = compareManifests(k, await readerManifest(fs), { notes });
    assert.deepEqual(diffs, []);
  } finally {
    await fs.close?.();
  }
});

test('a VM that does not finish in time is killed and reported with its console', { timeout: 5 * 60_000 }, async (t) => {
  if (why) return t.skip(`kernel oracle unavailable: ${why}`);
  await assert.rejects(kernelManifest(images[0]!.image, [], { timeoutSec: 2 }), (e: unknown) => e instanceof KernelOracleError && /killed after 2 s/.test(e.message) && /--- console/.test(e.message));
});

// --- the parser and the comparer, without a kernel ---------------------------------------------

const SAMPLE = [
  'S 4096 10 18446744073709551615 18446744073709551612 255',
  'E - 36 dir 40755 0 0 60 3 1600000000.999999999 0:0 - - - -',
  'E 61 40 reg 100644 1000 1000 3 1 1.000000005 0:0 reg - ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad 757365722e78=79',
  'E 6c 41 symlink 120777 0 0 1 1 2.000000000 0:0 symlink 61 - -',
  'T 3',
];

test('parseLsx reads every field and checks the trailer', () => {
  const m = parseLsx(SAMPLE);
  assert.deepEqual(m.statfs, { bsize: 4096, blocks: 10, inodes: 3, nameMax: 255 });
  assert.equal(m.entries.length, 3);
  const [root, a, l] = m.entries;
  assert.equal(root!.path, '');
  assert.equal(root!.mode, 0o40755);
  assert.equal(a!.uid, 1000);
  assert.equal(a!.mtime, '1.000000005');
  assert.deepEqual(a!.xattrs, { '757365722e78': '79' });
  assert.equal(l!.target, '61');
  assert.throws(() => parseLsx(SAMPLE.slice(0, -2).concat(['T 3'])), /trailer says 3/);
  assert.throws(() => parseLsx(SAMPLE.slice(0, -1)), /no trailer/);
  assert.throws(() => parseLsx(['E 61 1 reg']), /malformed/);
});

test('parseRun skips console junk, reports refused mounts, and notices lost jobs', () => {
  const body = SAMPLE.map((l) => `@@LS-L ${l}`);
  const text = ['garbage', '@@LS-BOOT', '@@LS-BEGIN 0', ...body, 'noise\r', '@@LS-END 0 0', '@@LS-BEGIN 1', '@@LS-MOUNTFAIL 1 255 mount: invalid argument', '@@LS-DMESG erofs: cannot find valid erofs superblock', '@@LS-END 1 255', '@@LS-DONE'].join('\r\n');
  const r = parseRun(text, 2);
  assert.ok('jobs' in r);
  assert.equal((r.jobs[0] as Manifest).entries.length, 3);
  assert.match((r.jobs[1] as { mountError: string }).mountError, /superblock/);
  const cut = parseRun(text.slice(0, text.indexOf('@@LS-END 0')), 2);
  assert.ok('error' in cut && /0 of 2 jobs/.test(cut.error));
  assert.ok('error' in parseRun('', 1));
});

test('compareManifests names each kind of difference', () => {
  const k = parseLsx(SAMPLE);
  assert.deepEqual(compareManifests(k, parseLsx(SAMPLE)), []);
  const r = structuredClone(k);
  r.entries[1]!.sha256 = '00';
  r.entries[1]!.xattrs = { '757365722e78': '7a', '757365722e79': '' };
  r.entries[2]!.mode = 0o120755;
  r.entries[0]!.ino = 1;
  const d = compareManifests(k, r);
  assert.ok(d.some((x) => x.startsWith('/a: sha256')), d.join('\n'));
  assert.ok(d.some((x) => x.includes('xattr user.x kernel 79, reader 7a')), d.join('\n'));
  assert.ok(d.some((x) => x.includes('xattr user.y only the reader')), d.join('\n'));
  assert.ok(d.some((x) => x === '/l: mode kernel 0120777, reader 0120755'), d.join('\n'));
  assert.ok(d.some((x) => x === '/: ino kernel 36, reader 1'), d.join('\n'));
  assert.deepEqual(compareManifests(k, r, { ino: 'ignore', skipFields: ['sha256', 'xattrs', 'mode'] }), []);
  const swapped = structuredClone(k);
  swapped.entries.reverse();
  assert.match(compareManifests(k, swapped).join('\n'), /entry order/);
  const missing = structuredClone(k);
  missing.entries.pop();
  assert.deepEqual(compareManifests(k, missing), ['/l: only the kernel sees it (symlink)']);
  assert.equal(showPath('64312fe974e9'), '/d1/\\xe9t\\xe9');
});
