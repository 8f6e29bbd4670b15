import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemorySink } from '../src/lib/erofs/writer-output.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { openRafs } from '../src/lib/rafs/index.ts';
import { checkRafs } from '../src/lib/rafs/analyze.ts';
import { treeFromImage } from '../src/lib/fs/sources/image.ts';
import { compactRafs, planCompaction, type BlobUsage } from '../src/lib/rafs/builder/compact.ts';
import { mergeRafs } from '../src/lib/rafs/builder/merge.ts';
import { buildMem, diffTree, dir, file, openBuilt, tree } from './rafs-build-helpers.ts';
import { prng, randomBytes } from './helpers/mktree.ts';
import { compareSnapshots, snapshotFs } from './helpers/treecompare.ts';

const MiB = 1 << 20;
const u = (index: number, size: number, usedSize: number, referencedChunks = usedSize > 0 ? 1 : 0, dict = false): BlobUsage => ({ index, size, usedSize, referencedChunks, dict });
const actions = (d: ReturnType<typeof planCompaction>) => d.map((x) => x.action);

test('plan: an unreferenced blob is deleted', () => {
  const d = planCompaction([u(0, 50 * MiB, 50 * MiB), u(1, 20 * MiB, 0)], { compactBlobSize: 1 * MiB });
  assert.deepEqual(actions(d), ['keep', 'delete']);
});

test('plan: a blob used below min_used_ratio is rebuilt; at or above it is kept', () => {
  const opts = { minUsedRatio: 50, compactBlobSize: 1 * MiB };
  assert.deepEqual(actions(planCompaction([u(0, 40 * MiB, 19 * MiB), u(1, 40 * MiB, 20 * MiB)], opts)), ['rebuild', 'keep']);
  assert.equal(planCompaction([u(0, 40 * MiB, 19 * MiB)], opts)[0]!.usedRatio, 47);
  // ratio 0 disables rebuilding
  assert.deepEqual(actions(planCompaction([u(0, 40 * MiB, 1)], { compactBlobSize: 1 * MiB })), ['keep']);
});

test('plan: small blobs merge greedily, smallest first, while the referenced total stays ≤ max_compact_size', () => {
  const d = planCompaction([u(0, 3 * MiB, 3 * MiB), u(1, 1 * MiB, 1 * MiB), u(2, 2 * MiB, 2 * MiB), u(3, 50 * MiB, 50 * MiB), u(4, 5 * MiB, 5 * MiB)],
    { compactBlobSize: 10 * MiB, maxCompactSize: 6 * MiB });
  // ascending: 1 (1), 2 (2), 0 (3) → 1+2+3 = 6 ≤ 6; then 4 (5) starts a new group alone → kept; 3 is too big
  assert.deepEqual(actions(d), ['merge', 'merge', 'merge', 'keep', 'keep']);
  assert.deepEqual(d.filter((x) => x.action === 'merge').map((x) => x.group), [1, 1, 1]);
  // a rebuild candidate is sized by what it still uses
  const r = planCompaction([u(0, 40 * MiB, 2 * MiB), u(1, 3 * MiB, 3 * MiB)], { minUsedRatio: 10, compactBlobSize: 10 * MiB });
  assert.deepEqual(actions(r), ['merge', 'merge']);
});

test('plan: fewer blobs than layers_to_compact: everything kept; dictionary blobs are never touched', () => {
  const blobs = [u(0, 1 * MiB, 0), u(1, 2 * MiB, 1), u(2, 3 * MiB, 3 * MiB)];
  assert.deepEqual(actions(planCompaction(blobs, { layersToCompact: 4, minUsedRatio: 50 })), ['keep', 'keep', 'keep']);
  assert.deepEqual(actions(planCompaction(blobs, { layersToCompact: 3, minUsedRatio: 50 })), ['delete', 'merge', 'merge']);
  assert.deepEqual(actions(planCompaction([u(0, 1 * MiB, 0, 0, true), u(1, 1 * MiB, 1 * MiB)], {})), ['keep', 'keep']);
  assert.throws(() => planCompaction(blobs, { minUsedRatio: 100 }));
});

const enc = new TextEncoder();

async function layeredImage(version: 5 | 6) {
  const rnd = prng(42);
  const rand = (n: number) => file(randomBytes(rnd, n));
  const l1 = await buildMem(tree(dir([['gone1', rand(40000)], ['gone2', rand(30000)], ['keep', rand(5000)]])), { version, chunkSize: 0x1000, compressor: 'none' });
  const l2 = await buildMem(tree(dir([['.wh.gone1', file(new Uint8Array(0))], ['.wh.gone2', file(new Uint8Array(0))], ['two', rand(9000)]])), { version, chunkSize: 0x1000, compressor: 'none' });
  const l3 = await buildMem(tree(dir([['three', rand(7000)], ['sub', dir([['x', rand(100)]])]])), { version, chunkSize: 0x1000, compressor: 'none' });
  const l4 = await buildMem(tree(dir([['only-in-4', rand(8000)]])), { version, chunkSize: 0x1000, compressor: 'none' });
  const l5 = await buildMem(tree(dir([['.wh.only-in-4', file(new Uint8Array(0))], ['five', rand(100)]])), { version, chunkSize: 0x1000, compressor: 'none' });
  const all = [l1, l2, l3, l4, l5];
  const blobs = all.map((b) => ({ id: b.result.blobId!, bytes: b.blob }));
  const layers = await Promise.all(all.map((b, i) => openBuilt(b, [blobs[i]!])));
  const sink = new MemorySink();
  await mergeRafs(layers, {}, sink);
  const boot = sink.bytes();
  const fs = await openRafs(new BytesSource(boot, 'merged.boot'), { blobs: blobs.map((b) => new BytesSource(b.bytes, b.id)) });
  return { fs, blobs };
}

for (const version of [6, 5] as const) {
  test(`v${version} compaction end to end: delete, rebuild and merge decisions; new blobs hold the chunks verbatim; the image reads back identically`, async () => {
    const { fs, blobs } = await layeredImage(version);
    assert.equal(fs.blobs.length, 5);
    const before = await snapshotFs(fs);
    const bs = new MemorySink();
    const sinks: MemorySink[] = [];
    const r = await compactRafs(fs, { minUsedRatio: 30, compactBlobSize: 20000, maxCompactSize: 100000 }, { bootstrap: bs, blobSink: () => { const s = new MemorySink(); sinks.push(s); return s; } });
    assert.equal(r.changed, true);
    const byIndex = Object.fromEntries(r.decisions.map((d) => [d.index, d.action]));
    // l1: 5000 of ~75000 bytes used (ratio < 30) → rebuild, then small enough to merge; l4: unreferenced → delete
    assert.equal(byIndex[3], 'delete');
    assert.equal(byIndex[0], 'merge');
    assert.ok(r.decisions.filter((d) => d.action === 'merge').length >= 2);
    assert.equal(r.newBlobIds.length, sinks.length);
    const newBlobs = sinks.map((s, i) => ({ id: r.newBlobIds[i]!, bytes: s.bytes() }));
    const kept = blobs.filter((b) => r.blobIds.includes(b.id));
    const out = await openRafs(new BytesSource(bs.bytes(), 'compact.boot'), { blobs: [...kept, ...newBlobs].map((b) => new BytesSource(b.bytes, b.id)) });
    assert.equal(out.blobs.length, r.blobIds.length);
    assert.ok(out.blobs.length < 5);
    const check = await checkRafs(out);
    assert.equal(check.ok, true, JSON.stringify(check).slice(0, 2000));
    assert.deepEqual(compareSnapshots(before, await snapshotFs(out)), []);
    // the compacted blobs are smaller than what they replace, and hold no unreferenced data
    const oldTotal = blobs.reduce((s, b) => s + b.bytes.length, 0);
    const newTotal = [...kept, ...newBlobs].reduce((s, b) => s + b.bytes.length, 0);
    assert.ok(newTotal < oldTotal, `${newTotal} < ${oldTotal}`);
    // and a second compaction with the same settings has nothing left to delete
    const again = await compactRafs(out, { minUsedRatio: 30, compactBlobSize: 20000, maxCompactSize: 100000 }, { bootstrap: new MemorySink(), blobSink: () => new MemorySink() });
    assert.ok(!again.decisions.some((d) => d.action === 'delete'));
    // the tree equals the one made from the image directly
    assert.deepEqual(await diffTree(await treeFromImage(fs), out), []);
  });
}

test('compaction with nothing to do writes nothing', async () => {
  const b = await buildMem(tree(dir([['a', file(enc.encode('a'.repeat(10000)))]])), { chunkSize: 0x1000 });
  const fs = await openBuilt(b, [{ id: b.result.blobId!, bytes: b.blob }]);
  const bs = new MemorySink();
  const r = await compactRafs(fs, { compactBlobSize: 1 }, { bootstrap: bs, blobSink: () => { throw new Error('no blob expected'); } });
  assert.equal(r.changed, false);
  assert.equal(bs.size, 0);
  assert.deepEqual(r.decisions.map((d) => d.action), ['keep']);
});
