// compressionStats (src/lib/app/compression-stats.ts), what the page's Build view shows after a
// compressed EROFS build: per-file stored bytes against dump.erofs 1.5's "On-disk size" of the same
// files in images mkfs.erofs made; the histogram and totals add up; plain images have no
// compressed files; our own lz4hc build reads back the same way.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { compressionStats } from '../src/lib/app/compression-stats.ts';
import { buildImage } from '../src/lib/app/build.ts';
import { treeFromDirectory } from '../src/lib/fs/sources/node.ts';
import { BlobSource } from '../src/lib/io/source.ts';
import { openImage } from '../src/lib/open.ts';
import { tempDir } from './helpers/paths.ts';

const dir = tempDir('ls-cstats-');
const src = join(dir, 'src');
mkdirSync(join(src, 'sub'), { recursive: true });
// text (compresses 2-4x), a binary, random bytes (stays plain), a tiny file, one just over a block
const licenses = Buffer.concat(['GPL-3', 'GPL-2', 'LGPL-2.1', 'Apache-2.0'].map((n) => readFileSync(`/usr/share/common-licenses/${n}`)));
writeFileSync(join(src, 'licenses.txt'), licenses);
writeFileSync(join(src, 'sub', 'ls'), readFileSync('/usr/bin/ls'));
let x = 12345;
writeFileSync(join(src, 'random.bin'), Uint8Array.from({ length: 60_000 }, () => ((x = (x * 1103515245 + 12345) >>> 0) >>> 24)));
writeFileSync(join(src, 'tiny.txt'), 'hello\n');
writeFileSync(join(src, 'sub', 'edge.txt'), licenses.subarray(0, 4097));
const FILES = ['/licenses.txt', '/sub/ls', '/random.bin', '/tiny.txt', '/sub/edge.txt'];

function mkfs(name: string, args: string[]): string {
  const img = join(dir, name);
  const r = spawnSync('mkfs.erofs', ['--quiet', '-T0', ...args, img, src], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return img;
}

async function statsOf(img: string) {
  const bytes = readFileSync(img);
  const fs = await openImage(new BlobSource(new Blob([bytes]), img));
  const s = await compressionStats(fs, bytes.length);
  assert.ok(s, 'an EROFS image has compression stats');
  return s;
}

/** dump.erofs --path: "Size: N  On-disk size: M", and the layout */
function dumpOf(img: string, path: string): { size: number; onDisk: number; layout: number } {
  const r = spawnSync('dump.erofs', [`--path=${path}`, img], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const m = /Size: (\d+)\s+On-disk size: (\d+)/.exec(r.stdout);
  const l = /Layout: (\d+)/.exec(r.stdout);
  assert.ok(m && l, `dump.erofs output: ${r.stdout}`);
  return { size: Number(m[1]), onDisk: Number(m[2]), layout: Number(l[1]) };
}

for (const z of ['lz4hc', 'lz4']) {
  test(`mkfs.erofs -z${z}: per-file stored bytes equal dump.erofs's on-disk size; totals and histogram add up`, async () => {
    const img = mkfs(`${z}.img`, [`-z${z}`]);
    const s = await statsOf(img);
    assert.equal(s.files, FILES.length);
    assert.equal(s.imageSize, statSync(img).size);
    let logical = 0, storedCompressed = 0, compressedFiles = 0;
    for (const f of FILES) {
      const d = dumpOf(img, f);
      logical += d.size;
      // layouts 1 and 3: compressed (full, compact); the others count their size
      if (d.layout === 1 || d.layout === 3) {
        compressedFiles++;
        storedCompressed += d.onDisk;
      }
    }
    assert.ok(compressedFiles >= 2, 'the text and the binary are stored compressed');
    assert.equal(s.compressedFiles, compressedFiles);
    assert.equal(s.logicalBytes, logical);
    const plainBytes = s.histogram[0]!.storedBytes;
    assert.equal(s.storedBytes - plainBytes, storedCompressed, 'compressed files: stored bytes = dump.erofs on-disk sizes');
    assert.equal(s.histogram.reduce((a, b) => a + b.files, 0), s.files);
    assert.equal(s.histogram.reduce((a, b) => a + b.logicalBytes, 0), s.logicalBytes);
    assert.equal(s.histogram.reduce((a, b) => a + b.storedBytes, 0), s.storedBytes);
    assert.ok(s.histogram[0]!.files >= 2, 'random.bin and tiny.txt stay plain');
    // licenses.txt compresses 2-4x: it is in a bucket whose range holds its ratio
    const d = dumpOf(img, '/licenses.txt');
    const ratio = d.size / d.onDisk;
    assert.ok(ratio > 1.5, `licenses.txt ratio ${ratio}`);
    const b = s.histogram.find((h, i) => i > 0 && ratio >= h.lo && ratio < h.hi)!;
    assert.ok(b.files >= 1, `bucket ${b.label} holds licenses.txt`);
    assert.equal(s.imageRatio, s.logicalBytes / s.imageSize);
    assert.equal(s.dataRatio, s.logicalBytes / s.storedBytes);
  });
}

test('a plain image: no compressed files, every file in the plain bucket, data ratio 1', async () => {
  const s = await statsOf(mkfs('plain.img', []));
  assert.equal(s.compressedFiles, 0);
  assert.equal(s.histogram[0]!.files, FILES.length);
  assert.equal(s.dataRatio, 1);
});

test('our own build -z lz4hc reads back: compressed files found, stored < logical', async () => {
  const tree = await treeFromDirectory(src);
  const parts: Uint8Array[] = [];
  await buildImage(tree, { format: 'erofs', buildTime: 0, compression: { algorithm: 'lz4hc' } }, { image: { write(b: Uint8Array) { parts.push(b.slice()); } } });
  const img = join(dir, 'ours.img');
  writeFileSync(img, Buffer.concat(parts));
  const s = await statsOf(img);
  const ref = await statsOf(join(dir, 'lz4hc.img'));
  assert.equal(s.files, FILES.length);
  assert.ok(s.compressedFiles >= 2, `${s.compressedFiles} compressed files`);
  assert.ok(s.storedBytes < s.logicalBytes);
  // same algorithm and level as mkfs: within 2% of its stored bytes
  assert.ok(Math.abs(s.storedBytes / ref.storedBytes - 1) < 0.02, `ours ${s.storedBytes}, mkfs ${ref.storedBytes}`);
});

test('fragments: a file whose tail sits in the packed inode is charged for the pclusters it lies in', async () => {
  // random bytes cannot compress: with their tail in the packed inode next to well-compressed text
  // tails, charging the packed inode's average ratio would make them look compressed
  const d = join(dir, 'frag');
  mkdirSync(d);
  writeFileSync(join(d, 'random.bin'), Buffer.concat(Array.from({ length: 6250 }, (_, i) => createHash('sha256').update(`r${i}`).digest())));
  writeFileSync(join(d, 'licenses.txt'), licenses);
  writeFileSync(join(d, 'small.txt'), 'small\n');
  const parts: Uint8Array[] = [];
  const r = await buildImage(await treeFromDirectory(d), { format: 'erofs', buildTime: 0, compression: { algorithm: 'zstd', pclusterSize: 16384, ztailpacking: true, fragments: true } }, { image: { write(b: Uint8Array) { parts.push(b.slice()); } } });
  assert.ok(r.format === 'erofs' && (r.erofs.compressed?.fragments ?? 0) >= 2, 'tails went to the packed inode');
  const img = join(dir, 'frag.img');
  writeFileSync(img, Buffer.concat(parts));
  const s = await statsOf(img);
  assert.equal(s.files, 3);
  const low = s.histogram.filter((h) => h.hi <= 1.25 && h.label !== 'plain');
  const random = low.reduce((a, h) => ({ logical: a.logical + h.logicalBytes, stored: a.stored + h.storedBytes }), { logical: 0, stored: 0 });
  assert.ok(random.logical >= 200_000, 'random.bin is in the < 1.25x bucket');
  assert.ok(random.stored >= random.logical * 0.99, `random bytes charged ${random.stored} for ${random.logical}`);
  assert.ok(s.storedBytes <= s.imageSize, `stored ${s.storedBytes} within the image's ${s.imageSize} bytes`);
});
