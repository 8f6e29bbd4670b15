// Compressed EROFS from our writer (issue 15 item 3): every algorithm's image is read back by our
// reader, fsck.erofs 1.5 checks and extracts the LZ4 ones, and this machine's kernel mounts them
// all and shows the source tree (skipped with the reason where mounting is not permitted).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, loadSource, parseCompression } from '../src/cli/build.ts';
import { openErofs } from '../src/lib/erofs/reader.ts';
import { buildErofs, type ErofsCompression } from '../src/lib/erofs/writer.ts';
import { MemorySink } from '../src/lib/erofs/writer-output.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { hostManifest } from './helpers/kernel.ts';
import { makeTestTree, prng, randomBytes, textBytes } from './helpers/mktree.ts';
import { fsckExtractDiffs, mountedDiffs } from './helpers/fsck.ts';
import { tempDir } from './helpers/paths.ts';
import { compareSnapshots, snapshotDisk, snapshotFs } from './helpers/treecompare.ts';

const work = tempDir('ls-erofs-compress-');
const src = makeTestTree({ dir: join(work, 'src') });
// sizes around block and pack edges, a duplicate, and a file that is compressible only in part
{
  const rnd = prng(15);
  const d = join(src, 'zedge');
  mkdirSync(d);
  for (const n of [4097, 8191, 8192, 8193, 12289, 65536, 65537, 300001]) writeFileSync(join(d, `t${n}`), textBytes(rnd, n));
  copyFileSync(join(d, 't300001'), join(d, 'dup300001'));
  writeFileSync(join(d, 'mixed'), Buffer.concat([textBytes(rnd, 50000), randomBytes(rnd, 30000), new Uint8Array(70000), textBytes(rnd, 9999)]));
}

const VARIANTS: { name: string; c: ErofsCompression; fsck: boolean }[] = [
  { name: 'lz4', c: { algorithm: 'lz4' }, fsck: true },
  { name: 'lz4hc', c: { algorithm: 'lz4hc' }, fsck: true },
  { name: 'lz4hc-12-C64k', c: { algorithm: 'lz4hc', level: 12, pclusterSize: 65536 }, fsck: true },
  { name: 'lz4-full', c: { algorithm: 'lz4', indexes: 'full' }, fsck: true },
  { name: 'lz4hc-C16k-full', c: { algorithm: 'lz4hc', pclusterSize: 16384, indexes: 'full' }, fsck: true },
  { name: 'deflate', c: { algorithm: 'deflate' }, fsck: false },
  { name: 'zstd', c: { algorithm: 'zstd' }, fsck: false },
  { name: 'zstd-9-C64k', c: { algorithm: 'zstd', level: 9, pclusterSize: 65536 }, fsck: false },
];

const tree = await loadSource(src);
const OPTS = { uuid: '11111111-2222-3333-4444-555555555555', buildTime: 1700000000 };
const plain = new MemorySink();
await buildErofs(tree, OPTS, plain);

const images = new Map<string, { path: string; bytes: Uint8Array; files: number }>();
async function image(v: (typeof VARIANTS)[number]) {
  const known = images.get(v.name);
  if (known) return known;
  const sink = new MemorySink();
  const r = await buildErofs(tree, { ...OPTS, compression: v.c }, sink);
  const bytes = sink.bytes();
  assert.equal(bytes.length, r.size);
  const path = join(work, `${v.name}.img`);
  writeFileSync(path, bytes);
  const img = { path, bytes, files: r.compressed?.files ?? 0 };
  images.set(v.name, img);
  return img;
}

const hasFsck = spawnSync('fsck.erofs', ['-V']).status !== null;

/** why the kernel cannot mount here, or null (tries a mount of the plain image) */
function mountUnavailable(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'mounting needs root';
  const probe = join(work, 'probe.img');
  writeFileSync(probe, plain.bytes());
  const mnt = join(work, 'probe-mnt');
  mkdirSync(mnt, { recursive: true });
  const r = spawnSync('mount', ['-t', 'erofs', '-o', 'ro', probe, mnt], { encoding: 'utf8' });
  if (r.status !== 0) return `mount -t erofs refused: ${(r.stderr || r.error?.message || '').trim()}`;
  spawnSync('umount', [mnt]);
  return null;
}
const noMount = mountUnavailable();
const srcManifest = noMount ? null : hostManifest(src);

for (const v of VARIANTS) {
  test(`${v.name}: files are stored compressed and our reader reads back the source tree`, async () => {
    const img = await image(v);
    // the big text files, zeros and edge sizes must compress; a silent fallback to plain fails here
    assert.ok(img.files >= 15, `only ${img.files} files stored compressed`);
    assert.ok(img.bytes.length < plain.size * 0.8, `${img.bytes.length} bytes compressed vs ${plain.size} plain`);
    const fs = await openErofs(new BytesSource(img.bytes, v.name));
    try {
      assert.deepEqual(compareSnapshots(snapshotDisk(src), await snapshotFs(fs)), []);
    } finally {
      await fs.close();
    }
  });

  if (v.fsck) {
    test(`${v.name}: fsck.erofs 1.5 accepts and extracts the image`, async (t) => {
      if (!hasFsck) return t.skip('fsck.erofs not installed');
      const img = await image(v);
      execFileSync('fsck.erofs', [img.path], { stdio: 'pipe' });
      assert.deepEqual(fsckExtractDiffs(img.path, src, join(work, `${v.name}-extract`)), []);
    });
  }

  test(`${v.name}: the kernel mounts the image and shows the source tree`, async (t) => {
    if (noMount) return t.skip(`kernel mount unavailable: ${noMount}`);
    if (!srcManifest) return t.skip('no lsx helper on this host (gcc, libc6-dev)');
    const img = await image(v);
    const mnt = join(work, `${v.name}-mnt`);
    mkdirSync(mnt, { recursive: true });
    execFileSync('mount', ['-t', 'erofs', '-o', 'ro', img.path, mnt], { stdio: 'pipe' });
    assert.deepEqual(mountedDiffs(mnt, srcManifest, 390), []);
  });
}

test('a file is stored plain where compression saves no block; the superblock says how data is stored', async () => {
  const dir = join(work, 'mix');
  mkdirSync(dir);
  const rnd = prng(7);
  writeFileSync(join(dir, 'random'), randomBytes(rnd, 100000));
  writeFileSync(join(dir, 'text'), textBytes(rnd, 100000));
  writeFileSync(join(dir, 'small'), textBytes(rnd, 4096));
  const t2 = await loadSource(dir);
  for (const c of [{ algorithm: 'lz4' }, { algorithm: 'zstd' }] as ErofsCompression[]) {
    const sink = new MemorySink();
    const r = await buildErofs(t2, { ...OPTS, compression: c }, sink);
    assert.deepEqual(r.compressed && r.compressed.files, 1, `${c.algorithm}: only the text file compresses`);
    const b = sink.bytes();
    const incompat = new DataView(b.buffer, b.byteOffset).getUint32(1024 + 80, true);
    // ZERO_PADDING always; COMPR_CFGS (with a config record) for anything but one-block LZ4
    assert.equal(incompat, c.algorithm === 'lz4' ? 0x1 : 0x3);
    const fs = await openErofs(new BytesSource(b, c.algorithm));
    try {
      assert.deepEqual(compareSnapshots(snapshotDisk(dir), await snapshotFs(fs)), []);
    } finally {
      await fs.close();
    }
  }
});

test('build: -z and -C as mkfs.erofs spells them', async () => {
  assert.deepEqual(parseCompression('lz4hc,12', 65536), { algorithm: 'lz4hc', level: 12, pclusterSize: 65536 });
  assert.deepEqual(parseCompression('zstd,level=5'), { algorithm: 'zstd', level: 5 });
  assert.throws(() => parseCompression('lzo'), /algorithm/);
  assert.throws(() => parseCompression('lz4hc,x'), /level/);
  const out = join(work, 'cli.img');
  const r = await build(tree, { format: 'erofs', out, compression: 'lz4hc,9' });
  assert.ok((r.compressed as { files: number }).files >= 15);
  const fs = await openErofs(new BytesSource(readFileSync(out), 'cli'));
  try {
    assert.deepEqual(compareSnapshots(snapshotDisk(src), await snapshotFs(fs)), []);
  } finally {
    await fs.close();
  }
  await assert.rejects(build(tree, { format: 'erofs', out, compression: 'lz4', pclusterSize: 5000 }), /pclusterSize/);
});

test('layerscope build --format erofs -z lz4hc,9 -C 65536: the command line makes a compressed image that reads back', async () => {
  const out = join(work, 'argv.img');
  const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'bin/layerscope.mjs'), 'build', '--format', 'erofs', '-z', 'lz4hc,9', '-C', '65536', src, out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const bytes = readFileSync(out);
  // LZ4 with big pclusters: the compression config record is there (COMPR_CFGS 0x2 | ZERO_PADDING 0x1)
  assert.equal(bytes.readUInt32LE(1024 + 80) & 0x3, 0x3);
  assert.ok(bytes.length < (images.get('plain')?.bytes.length ?? plain.bytes().length) * 0.8, `${bytes.length} bytes`);
  const fs = await openErofs(new BytesSource(new Uint8Array(bytes), 'argv'));
  try {
    assert.deepEqual(compareSnapshots(snapshotDisk(src), await snapshotFs(fs)), []);
  } finally {
    await fs.close();
  }
  const bad = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'bin/layerscope.mjs'), 'build', '--format', 'erofs', '-z', 'lzo', src, join(work, 'bad.img')], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /algorithm/);
});
