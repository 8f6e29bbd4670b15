// Tarfs (nydus-image --type tar-tarfs): a RAFS v6 bootstrap with 512-byte blocks whose data blob is
// the layer tar itself. Built by `layerscope build --type tar-tarfs` from a tar GNU tar made of the
// test tree (every file type, PAX xattrs, hardlinks, big ids); checked field by field against what
// nydus-image 2.4.4 writes (builder/src/tarball.rs, core/node.rs, core/v6.rs), with the file data
// offsets taken from Python's tarfile (an independent tar reader); mounted by this machine's kernel
// with the tar as its device, and compared with `tar -x` of the same tar; our reader must agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestTree } from './helpers/mktree.ts';
import { REPO, tempDir } from './helpers/paths.ts';
import { compareSnapshots, snapshotDisk, snapshotFs } from './helpers/treecompare.ts';
import { NodeFileSource } from '../src/lib/io/node.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { RafsV6 } from '../src/lib/rafs/v6.ts';
import { BF, SF } from '../src/lib/rafs/structs.ts';
import { buildTarfs } from '../src/lib/rafs/builder/tarfs.ts';
import { MemorySink } from '../src/lib/erofs/writer-output.ts';
import { UnsupportedError } from '../src/lib/errors.ts';
import { runCorruptionSweep } from './helpers/corrupt.ts';

const isRoot = process.getuid?.() === 0;
const work = tempDir('ls-tarfs-');
const CLI = join(REPO, 'bin/layerscope.mjs');

/** The test tree with whole-second mtimes (nydus' tarfs keeps tar-rs' integer ustar mtime), as a PAX tar. */
function makeTar(): { src: string; tar: string } {
  const src = makeTestTree({ dir: join(work, 'src'), small: true });
  const py = String.raw`
import os, sys
for d, dirs, files in os.walk(sys.argv[1], topdown=False):
    for n in dirs + files + ['']:
        p = os.path.join(d, n) if n else d
        st = os.lstat(p)
        s = st.st_mtime_ns // 10**9 * 10**9
        os.utime(p, ns=(s, s), follow_symlinks=False)
`;
  execFileSync('python3', ['-c', py, src]);
  const tar = join(work, 'layer.tar');
  // GNU tar leaves sockets out (a tar cannot hold them) and says so on stderr
  spawnSync('tar', ['--format=pax', '--xattrs', '--xattrs-include=*', '--numeric-owner', '-cf', tar, '-C', src, '.'], { stdio: 'ignore' });
  assert.ok(statSync(tar).size > 0, 'tar wrote nothing');
  return { src, tar };
}

/** Python tarfile's view: member name → (data offset, size, type) for regular files and hardlinks. */
function tarOffsets(tar: string): Map<string, { offset: number; size: number }> {
  const py = String.raw`
import tarfile, sys, json, os
out = {}
with tarfile.open(sys.argv[1], 'r:') as t:
    for m in t.getmembers():
        if m.isreg():
            name = m.name[2:] if m.name.startswith('./') else m.name
            out[os.fsencode(name).hex()] = [m.offset_data, m.size]
json.dump(out, sys.stdout)
`;
  const o = JSON.parse(execFileSync('python3', ['-c', py, tar], { encoding: 'utf8' })) as Record<string, [number, number]>;
  return new Map(Object.entries(o).map(([k, [offset, size]]) => [k, { offset, size }]));
}

const built = (() => {
  if (!isRoot) return null;
  const { src, tar } = makeTar();
  const boot = join(work, 'layer.boot');
  mkdirSync(join(work, 'blobs'));
  execFileSync(process.execPath, [CLI, 'build', '--format', 'rafs-v6', '--type', 'tar-tarfs', tar, boot, '--blob-dir', join(work, 'blobs')], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { src, tar, boot };
})();

test('tarfs bootstrap: the fields nydus-image 2.4.4 writes for --type tar-tarfs', async (t) => {
  if (!built) return t.skip('the test tree needs root (mknod, chown, trusted. xattrs)');
  const b = readFileSync(built.boot);
  const tarBytes = readFileSync(built.tar);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  assert.equal(b.length % 4096, 0, 'bootstrap padded to 4 KiB');
  assert.equal(b[1024 + 12], 9, 's_blkszbits 9: 512-byte blocks');
  const metaBlk = dv.getUint32(1024 + 40, true);
  assert.equal((metaBlk * 512) % 4096, 0, 'meta area on a 4 KiB boundary');
  assert.equal(dv.getUint16(1024 + 14, true), 128, 'root nid 128');
  const flags = Number(dv.getBigUint64(1152, true));
  assert.equal(flags, SF.COMPRESSION_NONE | SF.HASH_SHA256 | SF.EXPLICIT_UID_GID | SF.HAS_XATTR | 0x0100_0000 | SF.TARTFS_MODE, `ext flags 0x${flags.toString(16)}`);
  const tarSrc = await NodeFileSource.open(built.tar);
  const fs = await RafsV6.open(new BytesSource(new Uint8Array(b), 'layer.boot'), { blobs: [tarSrc] });
  try {
    assert.equal(fs.tarfs, true);
    assert.equal(fs.blockSize, 512);
    assert.equal(fs.blobs.length, 1);
    const blob = fs.blobs[0]!;
    assert.equal(blob.blobId, createHash('sha256').update(tarBytes).digest('hex'), 'blob id = sha256 of the tar');
    assert.equal(blob.features, BF.CAP_TAR_TOC | BF.TARFS);
    assert.equal(blob.compressor, 'none');
    assert.equal(blob.digester, 'sha256');
    assert.equal(blob.compressedSize, tarBytes.length);
    assert.equal(blob.uncompressedSize, tarBytes.length);
    assert.equal(blob.deviceBlocks, tarBytes.length / 512);
    assert.equal(blob.ciCompressedSize, 0);
    assert.equal(blob.ciUncompressedSize, 0);
    assert.equal(fs.store.bindings[0]!.matchedBy, 'size', 'the tar is bound to the blob entry');
    // every chunk points at the file's data in the tar, as Python's tarfile finds it
    const offsets = tarOffsets(built.tar);
    let n = 0;
    let chunks = 0;
    for (const [name, want] of offsets) {
      let attr = await fs.getattr(fs.rootIno);
      for (const c of Buffer.from(name, 'hex').toString('latin1').split('/')) attr = (await fs.lookup(attr.ino, Buffer.from(c, 'latin1')))!;
      assert.ok(attr, `${name} in the bootstrap`);
      const cs = await fs.fileChunks(attr.ino);
      assert.equal(cs.length, Math.ceil(want.size / fs.chunkSize), `${name}: chunk count`);
      cs.forEach((c, i) => {
        assert.equal(c.compressedOffset, want.offset + i * fs.chunkSize, `${name} chunk ${i}: offset in the tar`);
        assert.equal(c.uncompressedSize, Math.min(fs.chunkSize, want.size - i * fs.chunkSize), `${name} chunk ${i}: size`);
        assert.ok(c.digest.every((x) => x === 0), 'tarfs chunks carry no digest');
      });
      chunks += cs.length;
      n++;
    }
    assert.ok(n > 20, `${n} regular files checked`);
    assert.equal(blob.chunkCount, chunks, 'chunk_count = chunks allocated (hardlinks share theirs)');
    const table = await fs.chunkTableJson();
    assert.equal(table.length, 1, 'one chunk table row: every tarfs chunk has the zero digest, the table key');
  } finally {
    await tarSrc.close();
  }
});

test('tarfs: the kernel mounts the bootstrap with the tar as its device and shows the tar\'s tree; our reader and extract agree', async (t) => {
  if (!built) return t.skip('the test tree needs root (mknod, chown, trusted. xattrs)');
  const extracted = join(work, 'x');
  mkdirSync(extracted);
  execFileSync('tar', ['--warning=no-timestamp', '--xattrs', '--xattrs-include=*', '--numeric-owner', '--same-owner', '-p', '-xf', built.tar, '-C', extracted]);
  const want = snapshotDisk(extracted);
  const tarSrc = await NodeFileSource.open(built.tar);
  const bootSrc = await NodeFileSource.open(built.boot);
  const fs = await RafsV6.open(bootSrc, { blobs: [tarSrc] });
  try {
    assert.deepEqual(compareSnapshots(want, await snapshotFs(fs)), [], 'our reader differs from tar -x');
  } finally {
    await tarSrc.close();
    await bootSrc.close();
  }
  // extract (its threads copy file data straight out of the tar) gives tar -x's tree too
  const out = join(work, 'extracted');
  execFileSync(process.execPath, [CLI, 'extract', built.boot, out, '--blob', built.tar], { stdio: ['ignore', 'ignore', 'pipe'] });
  assert.deepEqual(compareSnapshots(want, snapshotDisk(out)), [], 'layerscope extract differs from tar -x');
  const loop = spawnSync('losetup', ['-f', '--show', '--read-only', built.tar], { encoding: 'utf8' });
  if (loop.status !== 0) return t.skip(`losetup not permitted here: ${loop.stderr.trim()}`);
  const dev = loop.stdout.trim();
  const mnt = join(work, 'mnt');
  mkdirSync(mnt, { recursive: true });
  try {
    const m = spawnSync('mount', ['-t', 'erofs', '-o', `ro,device=${dev}`, built.boot, mnt], { encoding: 'utf8' });
    if (m.status !== 0) return t.skip(`mount -t erofs refused: ${m.stderr.trim()}`);
    try {
      const seen = snapshotDisk(mnt);
      assert.ok(seen.entries.size > 100, `${seen.entries.size} entries mounted`);
      assert.deepEqual(compareSnapshots(want, seen), [], 'the kernel shows a different tree than tar -x');
    } finally {
      spawnSync('umount', [mnt]);
    }
  } finally {
    spawnSync('losetup', ['-d', dev]);
  }
});

test('tarfs build refuses a gzip tar and a tar whose size is not whole blocks', async () => {
  const gz = new BytesSource(Uint8Array.of(0x1f, 0x8b, 8, 0, ...new Uint8Array(508)), 'x.tar.gz');
  await assert.rejects(buildTarfs(gz, {}, new MemorySink()), UnsupportedError);
  await assert.rejects(buildTarfs(new BytesSource(new Uint8Array(1000), 'odd.tar'), {}, new MemorySink()), /512-byte/);
});

test('corruption sweep: damaged tarfs bootstraps (512-byte dirent blocks, tar offsets) over their tar give typed errors only', { timeout: 600_000 }, async () => {
  // no root needed: regular files, a 140-entry directory (several 512-byte dirent blocks), a
  // symlink longer than a block, a hardlink
  const d = join(work, 'sweep-src');
  mkdirSync(join(d, 'many'), { recursive: true });
  for (let i = 0; i < 140; i++) writeFileSync(join(d, 'many', `entry-${String(i).padStart(3, '0')}`), `${i}\n`.repeat(i));
  writeFileSync(join(d, 'big'), Buffer.alloc(70_000, 7));
  symlinkSync('t'.repeat(700), join(d, 'long-link'));
  linkSync(join(d, 'big'), join(d, 'big-link'));
  const tarPath = join(work, 'sweep.tar');
  execFileSync('tar', ['-cf', tarPath, '-C', d, '.']);
  const tar = new Uint8Array(readFileSync(tarPath));
  const sink = new MemorySink();
  await buildTarfs(new BytesSource(tar, 'sweep.tar'), { chunkSize: 0x4000 }, sink);
  const boot = sink.bytes();
  const dv = new DataView(boot.buffer, boot.byteOffset, boot.byteLength);
  const meta = dv.getUint32(1024 + 40, true) * 512;
  const chunkTable = Number(dv.getBigUint64(1152 + 24, true));
  const res = await runCorruptionSweep({
    label: 'rafs/tarfs',
    image: boot,
    extras: [tar],
    openerModule: `${import.meta.dirname}/../src/lib/rafs/index.ts`,
    openerExport: 'openRafs',
    variants: 150,
    seed: 512,
    regions: [
      { name: 'superblocks+devslot', start: 1024, end: 1536, weight: 3 },
      { name: 'blob table', start: 4096, end: 4352, weight: 2 },
      { name: 'inodes+dirents', start: meta + 4096, end: chunkTable, weight: 6 },
      { name: 'chunk table', start: chunkTable, end: chunkTable + 80, weight: 1 },
    ],
    uniformWeight: 1,
    timeoutMs: 10_000,
  });
  console.log(`# tarfs: ${res.variants} variants: ${res.clean} clean, ${res.partial} with typed errors, ${res.openRejected} rejected at open; errors ${JSON.stringify(res.errorKinds)}`);
  assert.deepEqual(res.hangs, [], 'no variant may hang');
  assert.deepEqual(res.failures, [], 'every failure must be a typed error');
  assert.ok(res.partial > 0 && res.clean > 0 && res.openRejected < res.variants, 'the sweep reached the parsers past open');
});

test.after(() => rmSync(work, { recursive: true, force: true }));
