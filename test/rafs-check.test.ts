import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nydusBytes, nydusExpected, nydusFixture, RAFS } from './helpers/nydus.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { resolvePath } from '../src/lib/fs/path.ts';
import { openRafs } from '../src/lib/rafs/index.ts';
import { checkRafs, chunkUsers, rafsBlobs, rafsPrefetch, type Progress } from '../src/lib/rafs/analyze.ts';
import { inodePaths } from '../src/lib/app/records.ts';
import { imageStats } from '../src/lib/app/stats.ts';
import { MemoryChunkCache } from '../src/lib/rafs/chunkcache.ts';

const EXPECTED = nydusExpected();
const { V5: V5BOOT, V5_2020_LZ4: V5LZ4, BLOB_PLAIN, BLOB_LZ4, V6: V6BOOT, V6_BLOB: V6BLOB, TOC_BLOB: TOCBLOB } = RAFS;
const file = nydusBytes;
/** the fixture `rel`, or `bytes` (a damaged copy) under its name */
function src(rel: string, bytes = file(rel)): BytesSource {
  return new BytesSource(bytes, nydusFixture(rel));
}
function entry(boot: string, path: string): Record<string, unknown> {
  return (EXPECTED[boot]!.entries as Record<string, unknown>[]).find((e) => e.path === path)!;
}

for (const [boot, blob] of [[V5BOOT, BLOB_PLAIN], [V5LZ4, BLOB_LZ4], [V6BOOT, V6BLOB]] as const) {
  test(`check ${boot}: clean image, every chunk verified, progress reported`, async () => {
    const fs = await openRafs(src(boot), { blobs: [src(blob)] });
    const seen: Progress[] = [];
    const r = await checkRafs(fs, { onProgress: (p) => seen.push(p) });
    assert.equal(r.ok, true, JSON.stringify(r, null, 1));
    assert.deepEqual(r.bad_chunks, []);
    const expChunks = new Set<string>();
    for (const e of EXPECTED[boot]!.entries as Record<string, unknown>[]) {
      for (const c of (e.chunks as Record<string, unknown>[] | undefined) ?? []) expChunks.add(`${c.compressed_offset}`);
      for (const c of (e.chunkaddrs as Record<string, unknown>[] | undefined) ?? []) expChunks.add(`${c.ci_index}`);
    }
    assert.equal(r.counts.chunks_checked, expChunks.size);
    const last = seen.filter((p) => p.phase === 'data').pop();
    assert.equal(last?.done, last?.total);
    assert.ok((last?.bytes ?? 0) > 0);
  });
}

test('check: one flipped byte inside a blob chunk names that file and chunk (uncompressed v5)', async () => {
  const e = entry(V5BOOT, '/normal-file-test/busybox/manifest.json');
  const chunk = (e.chunks as Record<string, number>[])[0]!;
  const blob = file(BLOB_PLAIN);
  blob[chunk.compressed_offset + 17]! ^= 0x20;
  const fs = await openRafs(src(V5BOOT), { blobs: [src(BLOB_PLAIN, blob)] });
  const r = await checkRafs(fs);
  assert.equal(r.ok, false);
  assert.equal(r.bad_chunks.length, 1);
  assert.equal(r.bad_chunks[0]!.compressed_offset, chunk.compressed_offset);
  assert.equal(r.bad_chunks[0]!.index, chunk.index);
  assert.equal(r.bad_chunks[0]!.digest, chunk.block_id);
  assert.deepEqual(r.bad_files.map((f) => f.path), ['/normal-file-test/busybox/manifest.json']);
  assert.equal(r.bad_files[0]!.chunks[0]!.position, 0);
  assert.match(r.bad_files[0]!.chunks[0]!.error, /sha256/);
  assert.deepEqual(r.metadata_issues, []);
});

test('check: a damaged shared chunk names every path using it (hardlinks) and every position (dedup)', async () => {
  const blob = file(BLOB_PLAIN);
  blob[5]! ^= 1; // inside the hardlinked test.sh chunk at offset 0
  const holeChunk = 1421049; // used twice by head-hole-1 and -3, once by head-hole-2
  blob[holeChunk + 4096]! ^= 1;
  const fs = await openRafs(src(V5BOOT), { blobs: [src(BLOB_PLAIN, blob)] });
  const r = await checkRafs(fs);
  assert.equal(r.bad_chunks.length, 2);
  assert.deepEqual(r.bad_chunks[0]!.files.sort(), ['/hardlink-test/foo', '/hardlink-test/test.sh', '/normal-file-test/test.sh']);
  const h1 = r.bad_files.find((f) => f.path === '/normal-file-test/holefiles/head-hole-1')!;
  assert.deepEqual(h1.chunks.map((c) => c.position).sort(), [0, 1]);
  const h2 = r.bad_files.find((f) => f.path === '/normal-file-test/holefiles/head-hole-2')!;
  assert.deepEqual(h2.chunks.map((c) => c.file_offset), [0]);
  assert.equal(r.bad_files.length, 6);
});

test('check: a flipped byte in an lz4 chunk and in a zstd chunk is caught', async () => {
  const lz = entry(V5LZ4, '/normal-file-test/busybox/1f777dbdd68d1c4d554bc0d20e027bfef9ed2dfe2d8d5f029e958552a0e12475/etc/group');
  const lzc = (lz.chunks as Record<string, number>[])[0]!;
  assert.equal(lzc.flags, 1);
  const b1 = file(BLOB_LZ4);
  b1[lzc.compressed_offset + 100]! ^= 0x55;
  const r1 = await checkRafs(await openRafs(src(V5LZ4), { blobs: [src(BLOB_LZ4, b1)] }));
  assert.deepEqual(r1.bad_files.map((f) => f.path), [lz.path]);

  const b2 = file(V6BLOB);
  b2[4828 + 1000]! ^= 0x55; // inside sync_io.rs's zstd chunk [4828, +2974)
  const r2 = await checkRafs(await openRafs(src(V6BOOT), { blobs: [src(V6BLOB, b2)] }));
  assert.deepEqual(r2.bad_files.map((f) => f.path), ['/sync_io.rs']);
  assert.equal(r2.bad_chunks[0]!.index, 1);
  assert.equal(r2.bad_chunks[0]!.compressed_offset, 4828);
});

test('check: data: false skips the chunk reads; missing blobs are listed; a damaged ToC is a blob issue', async () => {
  const fs = await openRafs(src(V6BOOT));
  const r = await checkRafs(fs, { data: false });
  assert.equal(r.counts.chunks_checked, 0);
  assert.deepEqual(r.missing_blobs, [{ blob_index: 0, blob_id: 'be7d77eeb719f70884758d1aa800ed0fb09d701aaec469964e9d54325f0d5fef', chunks: 2 }]);
  assert.equal(r.ok, false);
  const b = file(V6BLOB);
  b[b.length - 512 - 128 + 100]! ^= 1; // a reserved byte of the last ToC entry: only the ToC digest changes
  const r2 = await checkRafs(await openRafs(src(V6BOOT), { blobs: [src(V6BLOB, b)] }), { data: false });
  assert.equal(r2.blob_issues.length, 1);
  assert.match(r2.blob_issues[0]!.detail, /ToC SHA-256 .* differs from blob_toc_digest/);
  const c = file(V6BLOB);
  c[12954 + 40]! ^= 1; // the digest array itself: its ToC digest no longer matches
  const r3 = await checkRafs(await openRafs(src(V6BOOT), { blobs: [src(V6BLOB, c)] }), { data: false });
  assert.ok(r3.blob_issues.some((i) => /blob\.digest/.test(i.detail)), JSON.stringify(r3.blob_issues));
});

test('check: cancellable with an AbortSignal', async () => {
  const fs = await openRafs(src(V5BOOT), { blobs: [src(BLOB_PLAIN)] });
  const ac = new AbortController();
  let calls = 0;
  await assert.rejects(
    checkRafs(fs, { signal: ac.signal, onProgress: (p) => { if (p.phase === 'data' && ++calls === 1) ac.abort(new Error('stop')); } }),
    /stop/,
  );
  const pre = new AbortController();
  pre.abort();
  await assert.rejects(checkRafs(fs, { signal: pre.signal }), (e: unknown) => (e as Error).name === 'AbortError');
});

test('stats: counts, histograms and dedup figures', async () => {
  const fs = await openRafs(src(V5BOOT), { blobs: [src(BLOB_PLAIN)] });
  const s = await imageStats(fs, fs.source);
  assert.equal(s.counts.reg, 23);
  assert.equal(s.inodes, 52);
  assert.equal(s.hardlinkEntries, 2);
  // 21 unique regular inodes; their sizes, from EXPECTED
  const regs = new Map<number, number>();
  for (const e of EXPECTED[V5BOOT]!.entries as Record<string, number>[]) if ((e as any).type === 'reg') regs.set(e.ino!, e.size!);
  assert.equal(s.files, 21);
  assert.equal(s.fileBytes, [...regs.values()].reduce((a, b) => a + b, 0));
  assert.equal(s.fileSizes.reduce((a, b) => a + b.count, 0), 21);
  assert.equal(s.fileSizes.reduce((a, b) => a + b.bytes, 0), s.fileBytes);
  assert.ok(s.fileSizes.find((b) => b.lo <= 944 && 944 < b.hi)!.count >= 1);
  // chunk figures recomputed from EXPECTED.json: one chunk list per unique inode, stored = distinct offsets
  const lists = new Map<number, Record<string, number>[]>();
  for (const e of EXPECTED[V5BOOT]!.entries as any[]) if (e.type === 'reg') lists.set(e.ino, e.chunks);
  const refs = [...lists.values()].flat();
  const stored = new Map(refs.map((c) => [c.compressed_offset, c.uncompressed_size]));
  const refBytes = refs.reduce((a, c) => a + c.uncompressed_size!, 0);
  const storedBytes = [...stored.values()].reduce((a, b) => a + b!, 0);
  const c = s.chunks!;
  assert.equal(c.references, refs.length);
  assert.equal(c.referencedBytes, refBytes);
  assert.equal(c.unique, stored.size);
  assert.equal(c.unique, 23); // = the blob's chunk_count
  assert.equal(c.storedBytes, storedBytes);
  assert.equal(c.storedCompressedBytes, 3508766);
  assert.ok(c.referencedBytes - c.storedBytes >= 4 * 1048576); // the all-zero MiB shared 5 times by the head-hole files
  assert.equal(c.dedupRatio, refBytes / storedBytes);
  assert.equal(c.blobs[0]!.usedChunks, 23);
  assert.equal(c.blobs[0]!.usedCompressed, c.blobs[0]!.compressedSize); // every stored byte is used
});

test('blobs, prefetch, chunk → files, inode → paths', async () => {
  const fs = await openRafs(src(V6BOOT), { blobs: [src(V6BLOB)] });
  const [b] = await rafsBlobs(fs) as Record<string, any>[];
  assert.equal(b!.status, 'present');
  assert.equal(b!.toc.digest_matches, true);
  assert.equal(b!.meta.ci_entries, 2);
  assert.deepEqual(b!.sections.map((s: { name: string }) => s.name), ['image.blob', 'blob.meta', 'blob.digest', 'rafs.blob.toc']);
  assert.equal(b!.digest_array.offset, 12954);
  assert.deepEqual(b!.feature_names, ['ALIGNED', 'INLINED_CHUNK_DIGEST', 'HAS_TAR_HEADER', 'HAS_TOC', 'CAP_TAR_TOC']);
  assert.deepEqual(await rafsPrefetch(fs), { format: 'rafs-v6', count: 0, prefetch_all: false, entries: [] });

  const v5 = await openRafs(src(V5BOOT), { blobs: [src(BLOB_PLAIN)] });
  const users = await chunkUsers(v5, { compressedOffset: 1421049 });
  assert.equal(users.length, 1);
  const files = (users[0]!.files as { path: string; position: number }[]).map((f) => `${f.path}#${f.position}`).sort();
  assert.deepEqual(files, ['/normal-file-test/holefiles/head-hole-1#0', '/normal-file-test/holefiles/head-hole-1#1',
    '/normal-file-test/holefiles/head-hole-2#0', '/normal-file-test/holefiles/head-hole-3#0', '/normal-file-test/holefiles/head-hole-3#1']);
  const byDigest = await chunkUsers(v5, { digest: 'FFF49CF6925F933AE4E834B5D88D25ED06D40F3D70FF9B1916070596BF5649EB' });
  assert.equal((byDigest[0]!.files as unknown[]).length, 3);
  const p = await inodePaths(v5, (await resolvePath(v5, '/normal-file-test/test.sh')).ino);
  assert.deepEqual(p.paths.sort(), ['/hardlink-test/foo', '/hardlink-test/test.sh', '/normal-file-test/test.sh']);
});

test('blobs: a blob with an inlined bootstrap, and a missing one', async () => {
  const fs = await openRafs(src(TOCBLOB));
  const [b] = await rafsBlobs(fs) as Record<string, any>[];
  assert.equal(b!.matched_by, 'container');
  assert.deepEqual(b!.toc.entries.map((e: { name: string }) => e.name), ['image.blob', 'blob.meta', 'blob.meta.header', 'image.boot']);
  assert.equal(b!.meta.ci_entries, 3);
  const r = await checkRafs(fs);
  assert.equal(r.ok, true, JSON.stringify(r));
  const bare = await openRafs(src(V5BOOT));
  assert.equal(((await rafsBlobs(bare))[0] as Record<string, unknown>).status, 'missing');
});

test('chunk cache: a second read is served from the cache and a corrupt blob is never cached', async () => {
  const cache = new MemoryChunkCache(8 * 1024 * 1024);
  const fs = await openRafs(src(V5BOOT), { blobs: [src(BLOB_PLAIN)], cache });
  const a = await resolvePath(fs, '/normal-file-test/busybox/repositories');
  await fs.read(a.ino, 0, 90);
  assert.equal(cache.size, 1);
  const before = cache.hits;
  await fs.read(a.ino, 0, 90);
  assert.equal(cache.hits, before + 1);
  const bad = file(BLOB_PLAIN);
  bad[2644]! ^= 1;
  const c2 = new MemoryChunkCache();
  const fs2 = await openRafs(src(V5BOOT), { blobs: [src(BLOB_PLAIN, bad)], cache: c2 });
  await assert.rejects(fs2.read(a.ino, 0, 90));
  assert.equal(c2.size, 0);
});

test('blob ids: SHA-256 of the file (v5, ToC blob by its file name), or of the file without its digest array (v6 blob-toc)', async () => {
  const { verifyBlobIds } = await import('../src/lib/rafs/analyze.ts');
  const v5 = await verifyBlobIds(await openRafs(src(V5BOOT), { blobs: [src(BLOB_PLAIN)] }));
  assert.equal(v5[0]!.matches, 'file');
  assert.equal(v5[0]!.sha256_without_digest_array, null);
  const v6 = await verifyBlobIds(await openRafs(src(V6BOOT), { blobs: [src(V6BLOB)] }));
  assert.equal(v6[0]!.matches, 'file-without-digest-array');
  assert.equal(v6[0]!.file_sha256.slice(0, 8), '4b16fb83');
  const toc = await checkRafs(await openRafs(src(TOCBLOB)), { blobIds: true });
  assert.equal(toc.blob_ids![0]!.matches, 'file');
  assert.equal(toc.blob_ids![0]!.blob_id.slice(0, 6), 'd788a0');
  const renamed = file(BLOB_PLAIN);
  renamed[0]! ^= 1;
  const bad = await verifyBlobIds(await openRafs(src(V5BOOT), { blobs: [src(BLOB_PLAIN, renamed)] }));
  assert.equal(bad[0]!.matches, 'none');
});
