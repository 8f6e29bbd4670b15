// Corruption sweep over every mkfs.erofs 1.5 variant (a smaller tree so the sweep stays fast):
// seeded truncations and byte/bit/u32 flips, biased toward metadata (superblock, inode cores and
// xattrs, dirent blocks, chunk maps, compressed indexes). Every operation must succeed or throw a
// typed error; hangs and memory growth are caught by the worker-based harness.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { walk } from '../src/lib/fs/path.ts';
import { openErofs } from '../src/lib/erofs/reader.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { runCorruptionSweep, type Region, type SweepResult } from './helpers/corrupt.ts';
import { buildErofsImages, type BuiltImage } from './helpers/mktree.ts';
import { tempDir } from './helpers/paths.ts';

const PER_IMAGE = 150;
const images = buildErofsImages(tempDir('ls-erofs-corrupt-'), { small: true });
const here = import.meta.dirname;

/** metadata regions of a pristine image, found with the reader itself */
async function metadataRegions(img: BuiltImage, bytes: Uint8Array): Promise<Region[]> {
  const devices = img.blob ? [new BytesSource(readFileSync(img.blob))] : [];
  const fs = await openErofs(new BytesSource(bytes), { devices });
  const regions: Region[] = [];
  const seen = new Set<number>();
  for await (const e of walk(fs)) {
    if (seen.has(e.attr.ino)) continue;
    seen.add(e.attr.ino);
    const d = (await fs.inodeDetails(e.attr.ino)) as {
      nid: number; offset: number; inodeSize: number; xattr: { size: number; shared: { offset: number }[] };
      data: { kind: string; blocks?: { offset?: number; length: number }[]; inline?: { offset: number; length: number } | null; mapOffset?: number; count?: number; indexes?: boolean; indexOffset?: number; lclusters?: number; headerOffset?: number };
    };
    regions.push({ name: `inode${d.nid}`, start: d.offset, end: d.offset + d.inodeSize + d.xattr.size, weight: 1 });
    for (const s of d.xattr.shared) regions.push({ name: 'shared-xattr', start: s.offset, end: s.offset + 8, weight: 0.3 });
    const data = d.data;
    if (data.kind === 'flat' && e.attr.type === 'dir') {
      for (const b of data.blocks ?? []) if (b.offset !== undefined) regions.push({ name: `dirblocks${d.nid}`, start: b.offset, end: b.offset + b.length, weight: 2 });
    }
    if (data.inline) regions.push({ name: `inline${d.nid}`, start: data.inline.offset, end: data.inline.offset + data.inline.length, weight: e.attr.type === 'dir' ? 2 : 0.5 });
    if (data.kind === 'chunks') regions.push({ name: `chunkmap${d.nid}`, start: data.mapOffset!, end: data.mapOffset! + data.count! * (data.indexes ? 8 : 4), weight: 1 });
    if (data.kind === 'compressed') {
      const start = data.headerOffset! >= 0 ? data.headerOffset! : data.indexOffset!;
      regions.push({ name: `zindex${d.nid}`, start, end: data.indexOffset! + Math.max(8, data.lclusters! * 2), weight: 2 });
    }
  }
  const total = regions.reduce((s, r) => s + r.weight, 0);
  regions.push({ name: 'superblock', start: 1024, end: 1024 + 160, weight: total * 0.15 });
  return regions;
}

const results: SweepResult[] = [];

for (const img of images) {
  test(`corruption sweep: ${img.name}`, async () => {
    const bytes = new Uint8Array(readFileSync(img.image));
    const regions = await metadataRegions(img, bytes);
    const total = regions.reduce((s, r) => s + r.weight, 0);
    const res = await runCorruptionSweep({
      label: `erofs/${img.name}`,
      image: bytes,
      extras: img.blob ? [new Uint8Array(readFileSync(img.blob))] : [],
      openerModule: `${here}/../src/lib/erofs/reader.ts`,
      openerExport: 'openErofs',
      fixupModule: `${here}/helpers/mktree.ts`,
      fixupExport: 'fixErofsSuperblockChecksum',
      fixupEvery: 2,
      variants: PER_IMAGE,
      seed: images.indexOf(img) + 1,
      regions,
      uniformWeight: total * 0.1,
    });
    results.push(res);
    const summary = `${res.variants} variants: ${res.clean} clean, ${res.partial} with typed errors, ${res.openRejected} rejected at open; errors ${JSON.stringify(res.errorKinds)}; arrayBuffers growth ${(res.maxArrayBuffersGrowth / 1048576).toFixed(1)} MiB`;
    console.log(`# ${img.name}: ${summary}`);
    assert.deepEqual(res.hangs, [], 'no variant may hang');
    assert.deepEqual(res.failures, [], 'every failure must be a typed error');
    assert.equal(res.variants, PER_IMAGE);
  });
}

test('the sweep ran 1000+ variants and they reached the parsers', () => {
  const variants = results.reduce((s, r) => s + r.variants, 0);
  assert.ok(variants >= 1000, `${variants} variants`);
  const partial = results.reduce((s, r) => s + r.partial, 0);
  const rejected = results.reduce((s, r) => s + r.openRejected, 0);
  const clean = results.reduce((s, r) => s + r.clean, 0);
  // open must not reject most of them (the checksum fixup lets superblock flips through), and
  // many must fail somewhere past open: that is where the inode/dir/xattr/index parsers run
  assert.ok(partial >= variants * 0.2, `${partial} variants failed past open`);
  assert.ok(rejected < variants * 0.5, `${rejected} variants rejected at open`);
  assert.ok(clean > 0);
  const kinds = new Set(results.flatMap((r) => Object.keys(r.errorKinds)));
  assert.ok(kinds.has('FormatError'));
});

test('the harness reports non-typed errors and hangs', async () => {
  const res = await runCorruptionSweep({
    label: 'broken',
    image: new Uint8Array(12),
    openerModule: `${here}/helpers/corrupt.ts`,
    openerExport: 'brokenOpenerForHarnessTest',
    variants: 6,
    truncateFraction: 1,
    regions: [{ name: 'all', start: 0, end: 12, weight: 1 }],
    timeoutMs: 1500,
  });
  assert.equal(res.variants, 6);
  assert.ok(res.failures.some((f) => f.error.includes('TypeError')), JSON.stringify(res));
  assert.ok(res.hangs.length > 0, JSON.stringify(res));
  assert.equal(res.failures.length + res.hangs.length, 6);
});
