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

test('corruption sweep: ZRAN RAFS meta blob (CI rows, contexts, windows, header) under a built targz-ref image', { timeout: 600_000 }, async () => {
  const { buildZranRafs } = await import('../src/lib/rafs/builder/zran.ts');
  const { BytesSource } = await import('../src/lib/io/source.ts');
  const { gzipSync } = await import('node:zlib');
  const { spawnSync } = await import('node:child_process');
  const { mkdirSync, readFileSync, writeFileSync } = await import('node:fs');
  const { tempDir } = await import('./helpers/paths.ts');
  const { join } = await import('node:path');
  // a small layer of two gzip members; nydus' unit-test context limits give many checkpoints
  const d = tempDir('zran-sweep-');
  mkdirSync(join(d, 'src'));
  for (const [i, n] of ['ls', 'cp', 'mv', 'tar'].entries()) writeFileSync(join(d, 'src', `f${i}`), readFileSync(`/usr/bin/${n}`).subarray(0, 40_000));
  writeFileSync(join(d, 'src', 'text'), 'zran sweep\n'.repeat(3000));
  const tar = new Uint8Array(spawnSync('tar', ['-cf', '-', '-C', join(d, 'src'), '.'], { maxBuffer: 1 << 26 }).stdout);
  const cut = Math.floor(tar.length / 1024) * 512;
  // memLevel 1: small deflate blocks, so many block boundaries to start checkpoints at
  const gz = new Uint8Array(Buffer.concat([gzipSync(tar.subarray(0, cut), { memLevel: 1 }), gzipSync(tar.subarray(cut), { memLevel: 1 })]));
  const boot: Uint8Array[] = [];
  const meta: Uint8Array[] = [];
  const r = await buildZranRafs(new BytesSource(gz, 'layer.tar.gz'), {
    chunkSize: 0x4000, ciCompressor: 'none', contextLimits: { minCompressed: 1024, maxCompressed: 2048, maxUncompressed: 4096 },
  }, { bootstrap: { write: (c) => void boot.push(c.slice()) }, meta: { write: (c) => void meta.push(c.slice()) } });
  const metaBlob = new Uint8Array(Buffer.concat(meta));
  assert.ok(r.contexts >= 4, `${r.contexts} contexts`);
  const rows = r.chunks * 24;
  const ctxEnd = rows + r.contexts * 40;
  const res = await runCorruptionSweep({
    label: 'rafs/zran-meta',
    image: metaBlob,
    extras: [new Uint8Array(Buffer.concat(boot)), gz],
    openerModule: `${here}/helpers/zran-sweep.ts`,
    openerExport: 'openZranWithMeta',
    variants: PER_IMAGE,
    seed: 97,
    regions: [
      { name: 'CI rows', start: 0, end: rows, weight: 3 },
      { name: 'ZRAN contexts', start: rows, end: ctxEnd, weight: 6 },
      { name: 'windows', start: ctxEnd, end: metaBlob.length - 4096, weight: 2 },
      { name: 'header', start: metaBlob.length - 4096, end: metaBlob.length - 4096 + 64, weight: 2 },
    ],
    uniformWeight: 1,
    timeoutMs: 10_000,
  });
  console.log(`# zran-meta: ${res.variants} variants: ${res.clean} clean, ${res.partial} with typed errors, ${res.openRejected} rejected at open; errors ${JSON.stringify(res.errorKinds)}`);
  assert.deepEqual(res.hangs, [], 'no variant may hang');
  assert.deepEqual(res.failures, [], 'every failure must be a typed error');
  assert.equal(res.variants, PER_IMAGE);
  // the meta blob is read past open (on the first chunk read): damage must show up there
  assert.ok(res.partial > PER_IMAGE / 3, `${res.partial} variants failed past open`);
  assert.ok(res.clean > 0, 'some variants hit bytes nothing depends on');
});
