// extract with worker threads splits a large file into parts that all threads write side by side
// (src/cli/extract.ts splitFile, extract-leaf.ts restorePart): the parts must make the file exactly,
// with its mode, times and xattrs set once all are written. Checked on images of our writer
// (zstd, DEFLATE, uncompressed) against the source tree and this machine's kernel mount, and on
// mkfs.erofs 1.9.3's LZMA/DEFLATE/zstd fixtures split into 4 KiB parts against the kernel's
// manifest of each image (the fixtures' own compare.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cutPlan, extract, type ExtractOptions } from '../src/cli/extract.ts';
import { pieceLength, type DataPiece } from '../src/lib/fs/plan.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { openImageFile } from '../src/cli/open.ts';
import { loadSource } from '../src/cli/build.ts';
import { buildErofs, type ErofsOptions } from '../src/lib/erofs/writer.ts';
import { MemorySink } from '../src/lib/erofs/writer-output.ts';
import { prng, randomBytes, textBytes } from './helpers/mktree.ts';
import { FIXTURES, tempDir } from './helpers/paths.ts';
import { compareTrees } from './helpers/treecompare.ts';

const work = tempDir('ls-extract-split-');
const src = join(work, 'src');
{
  const rnd = prng(3);
  mkdirSync(join(src, 'sub'), { recursive: true });
  // 3 MiB + 17: three whole 1 MiB parts and a short fourth; text, random and zero runs so that
  // compressed pclusters differ in size and do not line up with the parts
  const big = Buffer.concat([textBytes(rnd, 1_300_000), randomBytes(rnd, 700_000), new Uint8Array(400_000), textBytes(rnd, (3 << 20) + 17 - 2_400_000)]);
  writeFileSync(join(src, 'big.bin'), big, { mode: 0o444 });
  writeFileSync(join(src, 'sub', 'big2.bin'), Buffer.concat([randomBytes(rnd, 1 << 20), textBytes(rnd, 1_500_000)]), { mode: 0o640 });
  writeFileSync(join(src, 'small.txt'), textBytes(rnd, 5000));
  // whole seconds and a time with nanoseconds (set through python, as extract restores it)
  utimesSync(join(src, 'sub', 'big2.bin'), 1_600_000_000, 1_600_000_000);
  spawnSync('python3', ['-c', 'import os,sys; os.utime(sys.argv[1], ns=(1700000000123456789, 1700000000123456789))', join(src, 'big.bin')]);
  // an xattr where the file system takes one (tmpfs before 6.6 and some others refuse user.*)
  spawnSync('python3', ['-c', 'import os,sys; os.setxattr(sys.argv[1], b"user.split", b"parts")', join(src, 'big.bin')]);
  // a second name for the 2.5 MiB file: its first entry is written (in parts) like any file, the
  // other linked to it at the end
  linkSync(join(src, 'sub', 'big2.bin'), join(src, 'big2-link.bin'));
  utimesSync(join(src, 'sub'), 1_600_000_100, 1_600_000_100);
}
const tree = await loadSource(src);

/** why the kernel cannot mount here, or null */
function mountUnavailable(img: string, mnt: string): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'mounting needs root';
  const r = spawnSync('mount', ['-t', 'erofs', '-o', 'ro', img, mnt], { encoding: 'utf8' });
  if (r.status !== 0) return `mount -t erofs refused: ${(r.stderr || r.error?.message || '').trim()}`;
  return null;
}

/** our writer's image of `tree` as the file `work/NAME.erofs` */
async function writeImage(name: string, opts: ErofsOptions = {}): Promise<string> {
  const sink = new MemorySink();
  await buildErofs(tree, { uuid: '11111111-2222-3333-4444-555555555555', buildTime: 1700000000, ...opts }, sink);
  const img = join(work, `${name}.erofs`);
  writeFileSync(img, sink.bytes());
  return img;
}

/** `image` extracted into `out`, the image closed whatever happens */
async function extractImage(image: string, out: string, opts: ExtractOptions) {
  const fs = await openImageFile(image);
  try {
    return await extract(fs, out, opts);
  } finally {
    await fs.close?.();
  }
}

const VARIANTS: { name: string; opts: ErofsOptions }[] = [
  { name: 'zstd-C64k', opts: { compression: { algorithm: 'zstd', pclusterSize: 65536 } } },
  { name: 'deflate', opts: { compression: { algorithm: 'deflate' } } },
  { name: 'uncompressed', opts: {} },
];

for (const v of VARIANTS) {
  test(`${v.name}: a 3 MiB and a 2.5 MiB file written in parts by two threads equal the source and the kernel's view`, async (t) => {
    const img = await writeImage(v.name, v.opts);
    const out = join(work, `${v.name}-x`);
    const report = await extractImage(img, out, { threads: 2, everyThread: true });
    assert.deepEqual(report.skipped, []);
    assert.equal(report.split, 2, 'both large files were split');
    assert.equal(report.threads, 2, 'both threads restored something');
    assert.equal(report.files, 3);
    assert.equal(report.hardlinks, 1);
    assert.deepEqual(compareTrees(src, out), []);

    const mnt = join(work, `${v.name}-mnt`);
    mkdirSync(mnt, { recursive: true });
    const why = mountUnavailable(img, mnt);
    if (why) return t.skip(`kernel mount unavailable: ${why}`);
    try {
      assert.deepEqual(compareTrees(mnt, out), []);
    } finally {
      spawnSync('umount', [mnt]);
    }
  });
}

test('files too small to split are written whole; one thread never splits', async () => {
  const img = await writeImage('whole');
  for (const [threads, partBytes, split] of [[2, 2 << 20, 0], [1, 4096, 0], [2, 1_500_000, 1]] as const) {
    const out = join(work, `whole-x-${threads}-${partBytes}`);
    const report = await extractImage(img, out, { threads, everyThread: true, partBytes });
    // 3 MiB + 17 is two parts of 2 MiB or more; 2.5 MiB is not
    assert.equal(report.split, split, `threads ${threads}, parts of ${partBytes} bytes`);
    assert.deepEqual(compareTrees(src, out), []);
  }
});

test('a part that fails (ENOSPC on a small tmpfs) leaves no half-written file and is reported once', async (t) => {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return t.skip('mounting a tmpfs needs root on Linux');
  const img = await writeImage('enospc');
  const mnt = join(work, 'enospc-mnt');
  mkdirSync(mnt, { recursive: true });
  // room for one large file, not both
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mnt], { encoding: 'utf8' });
  if (m.status !== 0) return t.skip(`mount -t tmpfs refused: ${m.stderr.trim()}`);
  try {
    const out = join(mnt, 'x');
    const report = await extractImage(img, out, { threads: 2, everyThread: true });
    assert.ok(report.skipped.length >= 1, 'something did not fit');
    const paths = report.skipped.map((s) => s.path);
    assert.equal(new Set(paths).size, paths.length, `each file reported once: ${paths.join(', ')}`);
    for (const s of report.skipped) {
      // ENOENT: the second name of a file that did not fit (it is linked to the first at the end)
      assert.match(s.reason, /^(ENOSPC|ENOENT)/);
      assert.ok(!existsSync(join(out, s.path)), `${s.path} was removed`);
    }
    // what was written is whole
    const diffs = compareTrees(src, out, { mtime: false, hardlinks: false }).filter((d) => !paths.some((p) => d.startsWith(`/${p.replace(/^\//, '')}: missing`)));
    assert.deepEqual(diffs.filter((d) => !/^\/(sub)?: /.test(d)), []);
  } finally {
    spawnSync('umount', [mnt]);
  }
});

test('cutPlan: parts of at least partBytes (but the last) that follow each other; compressed pieces whole, stored runs cut anywhere', () => {
  const source = new BytesSource(new Uint8Array(1 << 16), 'img');
  const dec = (take: number): DataPiece => ({ kind: 'decode', algorithm: 'lzma', source, pos: 0, plen: 100, bytes: null, skip: 0, take, zeroPadding: true, dictSize: 4096, structure: 's', at: 0 });
  const plan: DataPiece[] = [
    { kind: 'copy', source, pos: 1000, len: 2500 },
    dec(700), dec(1500), dec(300),
    { kind: 'zero', len: 1200 },
    { kind: 'bytes', bytes: new Uint8Array(900).map((_, i) => i) },
  ];
  const parts = cutPlan(plan, 5000, 1000);
  let at = 5000;
  for (const [i, part] of parts.entries()) {
    assert.equal(part.offset, at, `part ${i} starts where the one before ended`);
    assert.equal(part.plan.reduce((n, p) => n + pieceLength(p), 0), part.length);
    if (i < parts.length - 1) assert.ok(part.length >= 1000, `part ${i}: ${part.length} bytes`);
    at += part.length;
  }
  assert.equal(at - 5000, 2500 + 700 + 1500 + 300 + 1200 + 900);
  const all = parts.flatMap((p) => p.plan);
  // every decode piece once and whole (no pcluster decoded for two parts)
  assert.deepEqual(all.filter((p) => p.kind === 'decode'), plan.slice(1, 4));
  // the stored run cut at 1000 and 2000, reading on where the part before stopped
  assert.deepEqual(all.filter((p) => p.kind === 'copy').map((p) => p.kind === 'copy' && [p.pos, p.len]), [[1000, 1000], [2000, 1000], [3000, 500]]);
  assert.deepEqual(Buffer.concat(all.flatMap((p) => (p.kind === 'bytes' ? [p.bytes] : []))), Buffer.from(new Uint8Array(900).map((_, i) => i)));
});

// mkfs.erofs 1.9.3's images with the kernel's manifest of each (see the fixtures' README)
const MODERN = join(FIXTURES, 'erofs-modern');
const FIXTURE_NAMES = ['lzma', 'lzma-C128k', 'lzma-C128k-ztail-allfrag-dedupe', 'metabox-lzma', 'deflate', 'zstd-19-C256k', 'zstd-ztail-fragments', 'lz4hc-all-fragments'];
const python = spawnSync('python3', ['--version']).status === 0;

for (const name of FIXTURE_NAMES) {
  const image = join(MODERN, `${name}.erofs`);
  const skip = !existsSync(image) ? `no fixture ${image}` : !python ? 'python3 (manifest.py, compare.py) is not installed' : false;
  test(`erofs-modern ${name} split into 4 KiB parts over two threads: extract matches the kernel's manifest`, { skip }, async () => {
    const out = join(work, `modern-${name}`);
    const report = await extractImage(image, out, { threads: 2, everyThread: true, partBytes: 4096 });
    assert.ok(report.split > 10, `${report.split} files split`);
    assert.equal(report.threads, 2);
    const m = spawnSync('python3', [join(MODERN, 'manifest.py'), out], { encoding: 'utf8', maxBuffer: 1 << 26 });
    assert.equal(m.status, 0, m.stderr);
    const manifest = join(work, `modern-${name}.jsonl`);
    writeFileSync(manifest, m.stdout);
    // metabox: the kernel reads no shared xattrs for some metabox inodes, the format has them (fixtures README)
    const alt = name.startsWith('metabox') ? ['--alt', join(MODERN, 'source.manifest.jsonl')] : [];
    const c = spawnSync('python3', [join(MODERN, 'compare.py'), join(MODERN, `${name}.erofs.manifest.jsonl`), manifest, ...alt], { encoding: 'utf8' });
    assert.equal(c.status, 0, `extract differs from the kernel's view:\n${c.stdout}${c.stderr}`);
    assert.match(c.stdout, / 0 differ/);
    rmSync(out, { recursive: true, force: true });
  });
}

test.after(() => {
  for (const e of readdirSync(work)) if (e.endsWith('-mnt')) spawnSync('umount', [join(work, e)]);
  rmSync(work, { recursive: true, force: true });
});
