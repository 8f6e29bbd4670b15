// Corruption sweep over the RAFS fixtures with the shared worker-based harness (hangs and memory
// growth are caught): seeded truncations and byte/bit/u32 flips biased toward the superblocks,
// tables, inode records, dirents, chunk indexes and the chunk table; for the ToC blob (a data blob
// carrying its bootstrap) toward its ToC, tar headers, blob meta and the zstd bootstrap. Every
// operation must succeed or throw a typed error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nydusBytes, RAFS } from './helpers/nydus.ts';
import { runCorruptionSweep, type Region, type SweepResult } from './helpers/corrupt.ts';

const here = import.meta.dirname;
const PER_IMAGE = 150;

interface Case {
  name: string;
  image: string;
  blobs: string[];
  regions: Region[];
}

const v5Regions = (firstInode: number, size: number): Region[] => [
  { name: 'superblock', start: 0, end: 80, weight: 2 },
  { name: 'tables', start: 8192, end: firstInode, weight: 2 },
  { name: 'inodes', start: firstInode, end: size, weight: 6 },
];

const CASES: Case[] = [
  {
    name: 'v5-sha256-none',
    image: RAFS.V5,
    blobs: [RAFS.BLOB_PLAIN],
    regions: v5Regions(8544, 18648),
  },
  {
    name: 'v5-2020-blake3-lz4',
    image: RAFS.V5_2020_LZ4,
    blobs: [RAFS.BLOB_LZ4],
    regions: v5Regions(8480, 18584),
  },
  {
    name: 'v6-2.2-zstd',
    image: RAFS.V6,
    blobs: [RAFS.V6_BLOB],
    regions: [
      { name: 'superblocks+devslot', start: 1024, end: 1536, weight: 3 },
      { name: 'blob table', start: 4096, end: 4352, weight: 2 },
      { name: 'inodes+dirents', start: 12288, end: 12640, weight: 5 },
      { name: 'chunk table', start: 16384, end: 16544, weight: 2 },
    ],
  },
  {
    name: 'v6-toc-blob-with-bootstrap',
    image: RAFS.TOC_BLOB,
    blobs: [],
    regions: [
      { name: 'chunks', start: 0, end: 2829, weight: 1 },
      { name: 'CI+header', start: 3341, end: 3389 + 64, weight: 2 },
      { name: 'tar headers', start: 2829, end: 2829 + 512, weight: 1 },
      { name: 'image.boot (zstd)', start: 7997, end: 8498, weight: 2 },
      { name: 'ToC', start: 9010, end: 10034, weight: 4 },
    ],
  },
];

const results: SweepResult[] = [];

for (const c of CASES) {
  test(`corruption sweep: ${c.name}`, async () => {
    const res = await runCorruptionSweep({
      label: `rafs/${c.name}`,
      image: nydusBytes(c.image),
      extras: c.blobs.map((b) => nydusBytes(b)),
      openerModule: `${here}/../src/lib/rafs/index.ts`,
      openerExport: 'openRafs',
      variants: PER_IMAGE,
      seed: CASES.indexOf(c) + 11,
      regions: c.regions,
      uniformWeight: 1,
      timeoutMs: 10_000,
    });
    results.push(res);
    console.log(`# ${c.name}: ${res.variants} variants: ${res.clean} clean, ${res.partial} with typed errors, ${res.openRejected} rejected at open; errors ${JSON.stringify(res.errorKinds)}; arrayBuffers growth ${(res.maxArrayBuffersGrowth / 1048576).toFixed(1)} MiB`);
    assert.deepEqual(res.hangs, [], 'no variant may hang');
    assert.deepEqual(res.failures, [], 'every failure must be a typed error');
    assert.equal(res.variants, PER_IMAGE);
    // each image's sweep must reach past open both ways: some variants read cleanly (the mutation
    // hit bytes nothing checks) and some fail in the inode/dirent/chunk parsers after open
    assert.ok(res.clean > 0, `${c.name}: no variant read cleanly`);
    assert.ok(res.partial > 0, `${c.name}: no variant failed past open`);
    assert.ok(res.openRejected < res.variants, `${c.name}: every variant was rejected at open`);
  });
}

test('the RAFS sweeps reached the parsers past open', () => {
  const variants = results.reduce((s, r) => s + r.variants, 0);
  assert.equal(variants, PER_IMAGE * CASES.length);
  const partial = results.reduce((s, r) => s + r.partial, 0);
  const rejected = results.reduce((s, r) => s + r.openRejected, 0);
  const clean = results.reduce((s, r) => s + r.clean, 0);
  // as the EROFS sweep: open must not reject most of them, and many must fail past open, where
  // the inode, dirent, chunk and blob parsers run
  assert.ok(partial >= variants * 0.2, `${partial} variants failed past open`);
  assert.ok(rejected < variants * 0.5, `${rejected} variants rejected at open`);
  assert.ok(clean > 0);
  const kinds = new Set(results.flatMap((r) => Object.keys(r.errorKinds)));
  assert.ok(kinds.has('FormatError'));
});
