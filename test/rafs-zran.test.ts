// ZRAN (nydus `--type targz-ref`): the real blob meta of nydus' tests parses as
// storage/src/meta/mod.rs `test_load_meta_ci_zran_add_more_chunks` reads it; images we build over
// the fixture .tar.gz layers read back what `tar -xzf` gives, every chunk inflated from its own
// checkpoint; a flipped byte in the gzip layer is caught by `check`, naming file and chunk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { BytesSource } from '../src/lib/io/source.ts';
import { FormatError, NotFoundError } from '../src/lib/errors.ts';
import { hex } from '../src/lib/bytes.ts';
import { sha256 } from '../src/lib/codec/sha256.ts';
import { resolvePath } from '../src/lib/fs/path.ts';
import { ciEntry, readBlobMeta } from '../src/lib/rafs/blob.ts';
import { checkRafs } from '../src/lib/rafs/analyze.ts';
import { openRafs } from '../src/lib/rafs/index.ts';
import { BF, CF, CI2_FLAGS } from '../src/lib/rafs/structs.ts';
import { crc32c } from '../src/lib/codec/crc32c.ts';
import { walk } from '../src/lib/fs/path.ts';
import { buildMem, diffTree, openBuilt, randomTree } from './rafs-build-helpers.ts';
import { buildZranRafs, type ZranBuildOptions } from '../src/lib/rafs/builder/zran.ts';
import { gunzipMembers } from '../src/lib/codec/inflate.ts';
import { inflateContext, zranChunk, zranContextChunks, zranDict, zranTable } from '../src/lib/rafs/zran.ts';
import type { RafsBlob } from '../src/lib/rafs/model.ts';
import { nydusBytes, RAFS } from './helpers/nydus.ts';
import { tempDir } from './helpers/paths.ts';
import { makeTestTree, usrBinBytes as binaries } from './helpers/mktree.ts';
import { compareSnapshots, snapshotDisk, snapshotFs } from './helpers/treecompare.ts';

const ZRAN_META = `${RAFS.ZRAN_DIR}/233c72f2b6b698c07021c4da367cfe2dff4f049efbaa885ca0ff760ea297865a.blob.meta`;

/** The BlobInfo of nydus' test: features ALIGNED | INLINED_FS_META | CHUNK_INFO_V2 | ZRAN, CI uncompressed at 0. */
function fixtureBlob(): RafsBlob {
  return {
    index: 0, blobId: '233c72f2b6b698c07021c4da367cfe2dff4f049efbaa885ca0ff760ea297865a', compressor: 'gzip', digester: 'sha256', chunkSize: 1 << 20,
    features: 0x1 | 0x2 | 0x4 | 0x8, chunkCount: 0xa3, uncompressedSize: 0x16c6000, compressedSize: 9839040,
    ciOffset: 0, ciCompressedSize: 0xa1290, ciUncompressedSize: 0xa1290, ciCompressor: 'none',
  };
}

test('the ZRAN blob meta of nydus\' tests: 0xa3 chunks, 0x15 contexts, the dictionary table, add_more_chunks groups', async () => {
  const bytes = nydusBytes(ZRAN_META);
  const meta = await readBlobMeta(new BytesSource(bytes, 'zran.blob.meta'), fixtureBlob(), 'cache');
  const t = zranTable(meta);
  // assert_eq!(meta.state.chunk_info_array.len(), 0xa3) and the next two
  assert.equal(meta.entryCount, 0xa3);
  assert.equal(t.contexts.length, 0x15);
  assert.equal(t.dicts.length, 0xa0348 - 0x15 * 40);
  // add_more_chunks([chunk], 1 MiB) on a ZRAN blob: every chunk of the chunk's context
  const count = (i: number) => {
    const [a, b] = zranContextChunks(meta, i);
    return b - a + 1;
  };
  assert.equal(count(0), 67);
  assert.equal(count(66), 67);
  assert.equal(count(116), 1);
  assert.equal(count(162), 12);
  // every chunk lies inside its context's output; contexts are in stream order, windows ≤ 32 KiB
  for (let i = 0; i < meta.entryCount; i++) zranChunk(meta, t, i);
  for (let i = 1; i < t.contexts.length; i++) {
    const [p, c] = [t.contexts[i - 1]!, t.contexts[i]!];
    // a context starts at the last block boundary before its first chunk: it may overlap the one before
    assert.ok(c.inOffset > p.inOffset && c.outOffset > p.outOffset && c.outOffset <= p.outOffset + p.outLen, `context ${i} after ${i - 1}`);
    assert.ok(c.inOffset + c.inLen <= 9839040);
  }
  assert.equal(t.contexts[0]!.dictSize, 0, 'the first context starts a stream: no window');
  assert.ok(t.contexts.slice(1).every((c) => c.dictSize === 32768), 'later contexts carry a full window');
});

test('a damaged ZRAN blob meta gives a FormatError naming the structure', async () => {
  const bytes = nydusBytes(ZRAN_META);
  const hdr = bytes.length - 4096;
  const load = async (b: Uint8Array) => zranTable(await readBlobMeta(new BytesSource(b, 'zran.blob.meta'), fixtureBlob(), 'cache'));
  const put = (b: Uint8Array, at: number, v: number) => new DataView(b.buffer, b.byteOffset).setUint32(at, v, true);
  const cases: [string, (b: Uint8Array) => void, RegExp][] = [
    ['context table moved', (b) => put(b, hdr + 40, 0xa3 * 24 - 8), /context table/],
    ['more contexts than chunks', (b) => put(b, hdr + 56, 0xa4), /contexts/],
    ['window outside the table', (b) => put(b, 0xa3 * 24 + 5 * 40 + 16, 0xa0000), /dictionary table/],
    ['window over 32 KiB', (b) => put(b, 0xa3 * 24 + 5 * 40 + 32, 40000), /dictionary table/],
    ['huge output', (b) => put(b, 0xa3 * 24 + 5 * 40 + 28, 0x2000000), /16 MiB/],
    ['too many primed bits', (b) => { b[0xa3 * 24 + 5 * 40 + 37] = 9; }, /primed bits/],
  ];
  for (const [name, damage, re] of cases) {
    const b = bytes.slice();
    damage(b);
    await assert.rejects(load(b), (e: unknown) => e instanceof FormatError && re.test(e.detail), name);
  }
  // a chunk pointing at a context that does not exist
  const b = bytes.slice();
  put(b, 10 * 24 + 20, 0x15);
  const meta = await readBlobMeta(new BytesSource(b, 'x'), fixtureBlob(), 'cache');
  assert.throws(() => zranChunk(meta, zranTable(meta), 10), (e: unknown) => e instanceof FormatError && /context 21 of 21/.test(e.detail));
});

// ---------------------------------------------------------------------------------------------
// Built images (--type targz-ref) over the fixture layers and generated ones

const haveTar = spawnSync('tar', ['--version']).status === 0;

async function buildLayer(gz: Uint8Array, name: string, opts: ZranBuildOptions = {}) {
  const boot: Uint8Array[] = [];
  const meta: Uint8Array[] = [];
  const r = await buildZranRafs(new BytesSource(gz, name), opts, { bootstrap: { write: (c) => void boot.push(c.slice()) }, meta: { write: (c) => void meta.push(c.slice()) } });
  return { r, boot: new Uint8Array(Buffer.concat(boot)), meta: new Uint8Array(Buffer.concat(meta)) };
}

/**
 * `tar -xzf` of the layer into a fresh directory, with --ignore-zeros: nydus-image reads layers
 * with tar-rs' ignore_zeros, so a layer of concatenated tars (zran-two-streams.tar.gz is two tars,
 * one per gzip member) is one tree, where plain `tar -xzf` stops at the first end-of-archive.
 */
function extracted(gz: Uint8Array): string {
  const d = tempDir('zran-x-');
  writeFileSync(join(d, 'layer.tar.gz'), gz);
  mkdirSync(join(d, 'x'));
  const r = spawnSync('tar', ['-xzf', join(d, 'layer.tar.gz'), '--ignore-zeros', '-C', join(d, 'x'), '--no-same-owner']);
  assert.equal(r.status, 0, String(r.stderr));
  return join(d, 'x');
}

/** Open the image with the layer and the RAFS blob, compare with tar -xzf, read every chunk from its own checkpoint. */
async function checkBuilt(gz: Uint8Array, name: string, opts: ZranBuildOptions = {}) {
  const b = await buildLayer(gz, name, opts);
  assert.equal(b.r.blobId, hex(sha256(gz)), 'the data blob is the layer: its id is its sha256');
  const blobs = b.r.chunks > 0 ? [new BytesSource(gz, 'layer.tar.gz'), new BytesSource(b.meta, b.r.metaBlobId)] : [];
  const fs = await openRafs(new BytesSource(b.boot, 'image.boot'), { blobs });
  assert.deepEqual(compareSnapshots(snapshotDisk(extracted(gz)), await snapshotFs(fs), { owners: false, dirMtime: false }), [], name);
  const report = await checkRafs(fs);
  assert.equal(report.ok, true, JSON.stringify(report).slice(0, 2000));
  return { ...b, fs, report };
}

for (const f of ['zran-single-stream.tar.gz', 'zran-two-streams.tar.gz', 'zran-zero-file.tar.gz']) {
  test(`targz-ref over ${f}: reads back what tar -xzf gives, check is clean`, { skip: !haveTar && 'no tar' }, async () => {
    const gz = nydusBytes(`${RAFS.ZRAN_DIR}/${f}`);
    const { r, fs, report } = await checkBuilt(gz, f);
    if (r.chunks > 0) {
      const blob = fs.blobs[0]!;
      assert.equal(blob.compressor, 'gzip');
      assert.equal(blob.digester, 'sha256');
      assert.equal(blob.compressedSize, gz.length);
      assert.equal(blob.features, BF.ALIGNED | BF.CHUNK_INFO_V2 | BF.ZRAN | BF.SEPARATE | BF.CAP_TAR_TOC);
      assert.ok(report.counts.chunks_checked >= r.chunks, `${report.counts.chunks_checked} chunks checked`);
    }
  });
}

test('zran-two-streams.tar.gz with nydus\' unit-test limits (1024 / 2048 / 4096, 4 KiB chunks): 3 contexts, as test_generate_chunk_info counts', async () => {
  const gz = nydusBytes(`${RAFS.ZRAN_DIR}/zran-two-streams.tar.gz`);
  const limits = { minCompressed: 1024, maxCompressed: 2048, maxUncompressed: 4096 };
  const b = await buildLayer(gz, 'zran-two-streams.tar.gz', { chunkSize: 4096, contextLimits: limits, ciCompressor: 'none' });
  assert.equal(b.r.contexts, 3);
  // both tars of the two members are in the image (tar-rs ignore_zeros): 5 files, 10 chunks of 4 KiB
  assert.equal(b.r.chunks, 10);
  const fs = await openRafs(new BytesSource(b.boot, 'image.boot'), { blobs: [new BytesSource(gz, 'l.tar.gz'), new BytesSource(b.meta, b.r.metaBlobId)] });
  assert.ok((await resolvePath(fs, '/h/LICENSE-APACHE')).size === 11358);
  assert.equal((await checkRafs(fs)).ok, true);
  // test_zran_context_generator_to_vec: the context records and their windows follow the CI rows
  const { meta } = await fs.store.blobDetails(0);
  assert.equal(meta!.ciCompressor, 'none');
  assert.equal(meta!.zranSize, 3 * 40 + zranTable(meta!).dicts.length);
});


/** A directory of binaries and text, tarred and gzipped by the system tools (one member, or one per half). */
function makeLayer(members: 1 | 2): Uint8Array {
  const d = tempDir('zran-src-');
  const src = join(d, 'src');
  mkdirSync(join(src, 'bin'), { recursive: true });
  mkdirSync(join(src, 'etc'));
  for (let i = 0; i < 6; i++) writeFileSync(join(src, 'bin', `b${i}`), binaries(300_000 + i * 77_777, i * 3));
  for (let i = 0; i < 40; i++) writeFileSync(join(src, 'etc', `t${i}`), `line ${i}\n`.repeat(i * 50));
  writeFileSync(join(src, 'etc', 'dup'), 'line 10\n'.repeat(500));
  writeFileSync(join(src, 'empty'), '');
  symlinkSync('bin/b0', join(src, 'link'));
  // the same bytes every run: fixed names order, times and owners, and zlib's gzip (no timestamp)
  const tar = new Uint8Array(spawnSync('tar', ['-cf', '-', '--sort=name', '--mtime=@1000000000', '--owner=0', '--group=0', '--numeric-owner', '-C', src, '.'], { maxBuffer: 1 << 28 }).stdout);
  if (members === 1) return new Uint8Array(gzipSync(tar, { level: 6 }));
  // two members: the first half of the tar, then the rest (nydus' zran-two-streams is made so)
  const cut = Math.floor(tar.length / 2 / 512) * 512 + 100;
  return new Uint8Array(Buffer.concat([gzipSync(tar.subarray(0, cut), { level: 6 }), gzipSync(tar.subarray(cut), { level: 9 })]));
}

for (const members of [1, 2] as const) {
  test(`targz-ref over a ${members}-member layer of binaries: several checkpoints, every chunk from its own`, { skip: !haveTar && 'no tar', timeout: 300_000 }, async () => {
    const gz = makeLayer(members);
    const { r, fs, meta } = await checkBuilt(gz, `layer${members}.tar.gz`, { chunkSize: 0x10000 });
    assert.ok(r.contexts >= 2, `${r.contexts} contexts`);
    assert.ok(r.deduplicated >= 1, 'the duplicated file reuses its chunk');
    const { meta: bm } = await fs.store.blobDetails(0);
    const t = zranTable(bm!);
    assert.equal(t.contexts.length, r.contexts);
    assert.ok(t.contexts.some((c) => c.ctxBits > 0), 'a checkpoint inside a byte (primed bits)');
    assert.ok(t.contexts.slice(1).every((c) => c.dictSize === 32768 || c.outOffset < 32768 || members === 2), 'windows of 32 KiB');
    // every chunk inflated from its own checkpoint alone equals the tar's bytes at that place
    const tar = new Uint8Array(gunzipSync(gz));
    let n = 0;
    for (let i = 0; i < bm!.entryCount; i++) {
      const z = zranChunk(bm!, t, i);
      const out = inflateContext(gz.subarray(z.context.inOffset, z.context.inOffset + z.context.inLen), z.context, zranDict(t, z.context));
      assert.deepEqual(out, tar.subarray(z.context.outOffset, z.context.outOffset + z.context.outLen), `context ${z.context.index}`);
      n++;
    }
    assert.equal(n, r.chunks);
    assert.ok(meta.length === bm!.headerOffset + 4096);
  });
}

test('check names the file and the chunk when one byte of the gzip layer is flipped', { skip: !haveTar && 'no tar', timeout: 300_000 }, async () => {
  const gz = makeLayer(1);
  const b = await buildLayer(gz, 'layer.tar.gz', { chunkSize: 0x10000 });
  const fs0 = await openRafs(new BytesSource(b.boot, 'image.boot'), { blobs: [new BytesSource(gz, 'layer.tar.gz'), new BytesSource(b.meta, b.r.metaBlobId)] });
  // a byte in the middle of a chunk of /bin/b3
  const ino = (await resolvePath(fs0, '/bin/b3')).ino;
  const chunks = await fs0.fileChunks(ino);
  const c = chunks[2]!;
  const at = c.compressedOffset + (c.compressedSize >> 1);
  const bad = gz.slice();
  bad[at]! ^= 0x10;
  const fs = await openRafs(new BytesSource(b.boot, 'image.boot'), { blobs: [new BytesSource(bad, 'layer.tar.gz'), new BytesSource(b.meta, b.r.metaBlobId)] });
  const r = await checkRafs(fs);
  assert.equal(r.ok, false);
  const hit = r.bad_files.find((f) => f.path === '/bin/b3');
  assert.ok(hit, JSON.stringify(r.bad_files).slice(0, 1000));
  assert.ok(hit.chunks.some((x) => x.index === c.index), `chunk ${c.index} named: ${JSON.stringify(hit.chunks)}`);
  // the blob id no longer matches: the layer is not the one the image references
  assert.notEqual(hex(sha256(bad)), fs.blobs[0]!.blobId);
});

// ---------------------------------------------------------------------------------------------
// crc32 chunks (chunk flag HAS_CRC32, CRC-32C of the uncompressed chunk: v5/v6 chunk info offset 76,
// CI v2 `data` low 32 bits). nydus-image 2.4.4 has no option for it: BuildContext::new always sets
// crc32_algorithm = Crc32Iscsi, so every chunk it builds carries one (our builder: `crc32: true`;
// targz-ref builds default to it).

/** Offsets of the 80-byte chunk infos in a bootstrap, found by their digests. */
function chunkInfoOffsets(boot: Uint8Array, digests: Uint8Array[]): number[] {
  const out: number[] = [];
  const b = Buffer.from(boot);
  for (const d of digests) {
    for (let at = b.indexOf(d); at >= 0; at = b.indexOf(d, at + 1)) out.push(at);
  }
  return out;
}

for (const [label, opts] of [['v5', { version: 5 }], ['v6', { version: 6 }], ['v6 batch', { version: 6, batchSize: 0x4000 }]] as const) {
  test(`crc32 chunks, ${label}: every chunk carries its CRC-32C, read and verified; check names a file whose CRC disagrees`, async () => {
    const t = randomTree(21, 0x10000, { files: 30, maxSize: 200_000 });
    const b = await buildMem(t, { ...opts, chunkSize: 0x10000, crc32: true, compressor: 'zstd' });
    const fs = await openBuilt(b, [{ id: b.result.blobId!, bytes: b.blob }]);
    assert.deepEqual(await diffTree(t, fs), []);
    const r = await checkRafs(fs);
    assert.equal(r.ok, true, JSON.stringify(r).slice(0, 2000));
    // every chunk: HAS_CRC32 and the CRC-32C of its bytes (in the bootstrap; v2 CI rows too)
    const files: { path: string; chunks: Awaited<ReturnType<typeof fs.fileChunks>> }[] = [];
    for await (const e of walk(fs)) if (e.attr.type === 'reg') files.push({ path: '/' + e.path.map((p) => new TextDecoder().decode(p)).join('/'), chunks: await fs.fileChunks(e.attr.ino) });
    const { meta } = fs.version === 6 ? await fs.store.blobDetails(0) : { meta: null };
    let n = 0;
    for (const f of files) {
      for (const c of f.chunks) {
        assert.ok(c.flags & CF.HAS_CRC32, `${f.path}: chunk ${c.index} has no HAS_CRC32`);
        assert.equal(c.crc32, crc32c(await fs.store.readChunk(c, false)));
        if (meta && meta.version === 2 && !(ciEntry(meta, c.index).flags & CI2_FLAGS.BATCH)) {
          const e = ciEntry(meta, c.index);
          assert.ok(e.flags & CI2_FLAGS.HAS_CRC32);
          assert.equal(e.dataLo, c.crc32);
        }
        n++;
      }
    }
    assert.ok(n > 30, `${n} chunks`);
    // one chunk's CRC changed in the bootstrap (its digest still matches): check names its file and chunk
    const victim = files.find((f) => f.chunks.length > 1)!;
    const c = victim.chunks[1]!;
    const boot = b.boot.slice();
    const at = chunkInfoOffsets(boot, [c.digest]);
    assert.ok(at.length >= 1);
    for (const a of at) new DataView(boot.buffer).setUint32(a + 76, (c.crc32 ^ 0x100) >>> 0, true);
    const bad = await openRafs(new BytesSource(boot, 'image.boot'), { blobs: [new BytesSource(b.blob, b.result.blobId!)] });
    const r2 = await checkRafs(bad);
    assert.equal(r2.ok, false);
    const hit = r2.bad_files.find((f) => f.path === victim.path);
    assert.ok(hit && hit.chunks.some((x) => x.index === c.index && /CRC-32C/.test(x.error)), JSON.stringify(r2.bad_files).slice(0, 1500));
  });
}

test('targz-ref bootstrap chunks carry CRC-32C as nydus-image 2.4.4 writes them; crc32: false leaves them out', async () => {
  const gz = nydusBytes(`${RAFS.ZRAN_DIR}/zran-two-streams.tar.gz`);
  for (const crc of [true, false]) {
    const b = await buildLayer(gz, 'l.tar.gz', { crc32: crc });
    const fs = await openRafs(new BytesSource(b.boot, 'image.boot'), { blobs: [new BytesSource(gz, 'l.tar.gz'), new BytesSource(b.meta, b.r.metaBlobId)] });
    const c = await fs.fileChunks((await resolvePath(fs, '/README.md')).ino);
    assert.equal((c[0]!.flags & CF.HAS_CRC32) !== 0, crc);
    assert.equal(c[0]!.crc32, crc ? crc32c(await fs.store.readChunk(c[0]!)) : 0);
  }
});

test('the blob meta may come from nydusd\'s <blob id>.blob.meta cache file instead of the RAFS meta blob', async () => {
  const gz = makeLayer(1);
  const b = await buildLayer(gz, 'layer.tar.gz', { chunkSize: 0x10000 });
  const fs0 = await openRafs(new BytesSource(b.boot, 'image.boot'), { blobs: [new BytesSource(gz, 'layer.tar.gz'), new BytesSource(b.meta, b.r.metaBlobId)] });
  const { meta } = await fs0.store.blobDetails(0);
  // the cache layout: uncompressed CI data padded to 4 KiB, then the header (as 233c72f2….blob.meta)
  const ci = meta!.ci;
  const cache = new Uint8Array(Math.ceil(ci.length / 4096) * 4096 + 4096);
  cache.set(ci);
  cache.set(meta!.headerBytes, cache.length - 4096);
  const fs = await openRafs(new BytesSource(b.boot, 'image.boot'), { blobs: [new BytesSource(gz, 'layer.tar.gz'), new BytesSource(cache, `/cache/${b.r.blobId}.blob.meta`)] });
  const r = await checkRafs(fs);
  assert.equal(r.ok, true, JSON.stringify(r).slice(0, 1500));
  assert.ok(r.counts.chunks_checked >= b.r.chunks);
  // neither supplied: a typed NotFoundError naming what is missing
  const none = await openRafs(new BytesSource(b.boot, 'image.boot'), { blobs: [new BytesSource(gz, 'layer.tar.gz')] });
  const c = (await none.fileChunks((await resolvePath(none, '/bin/b0')).ino))[0]!;
  await assert.rejects(none.store.readChunk(c), (e: unknown) => e instanceof NotFoundError && /RAFS meta blob/.test(e.message));
});

test('CLI: build --format rafs-v6 --type targz-ref LAYER.tar.gz OUT.boot --blob-dir DIR, then check and extract with --blob LAYER.tar.gz', { skip: !haveTar && 'no tar', timeout: 300_000 }, async () => {
  const { REPO } = await import('./helpers/paths.ts');
  const cli = (args: string[]) => spawnSync(process.execPath, [join(REPO, 'bin/layerscope.mjs'), ...args], { maxBuffer: 1 << 26, encoding: 'utf8' });
  const d = tempDir('zran-cli-');
  const layer = join(d, 'layer.tar.gz');
  writeFileSync(layer, makeLayer(2));
  mkdirSync(join(d, 'blobs'));
  const b = cli(['build', '--format', 'rafs-v6', '--type', 'targz-ref', layer, join(d, 'out.boot'), '--blob-dir', join(d, 'blobs'), '--chunk-size', '65536', '--json']);
  assert.equal(b.status, 0, b.stderr);
  const r = JSON.parse(b.stdout) as { blobId: string; blob: string; zran: { contexts: number } };
  assert.equal(r.blobId, hex(sha256(readFileSync(layer))));
  assert.ok(r.zran.contexts >= 2);
  // the RAFS meta blob is named by its sha256
  assert.equal(hex(sha256(readFileSync(r.blob))), r.blob.split('/').pop());
  const c = cli(['check', join(d, 'out.boot'), '--blob-dir', join(d, 'blobs'), '--blob', layer]);
  assert.equal(c.status, 0, c.stdout + c.stderr);
  const x = cli(['extract', join(d, 'out.boot'), join(d, 'x'), '--blob-dir', join(d, 'blobs'), '--blob', layer]);
  assert.equal(x.status, 0, x.stderr);
  assert.deepEqual(compareSnapshots(snapshotDisk(extracted(readFileSync(layer))), snapshotDisk(join(d, 'x')), { owners: false, dirMtime: false }), []);
  // options a targz-ref build cannot take
  const bad = cli(['build', '--format', 'rafs-v5', '--type', 'targz-ref', layer, join(d, 'o5.boot'), '--blob-dir', join(d, 'blobs')]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /RAFS v6 only/);
});

// ---------------------------------------------------------------------------------------------
// The checkpoints against zlib itself: a C program drives the system zlib the way nydus 2.4.4's
// ZranReader does (inflate with Z_BLOCK over 64 KiB input reads, a block boundary recorded with
// inflateGetDictionary whenever data_type has 0x80, total_in/total_out and the unused bits of the
// last byte as the position) and applies ZranGenerator's begin_read/end_read rules, reading the
// layer up to each chunk and then the chunk, as the tarball builder does. Every context (input and
// output offsets and lengths, primed byte and bits, window length and bytes) and every chunk read
// (context, offset, size, input position and length) must equal what our builder computes from
// codec/inflate.ts's block starts and input positions.

const ZLIB_ORACLE = `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <zlib.h>
#define BUF (64 * 1024)
#define WIN 32768
static z_stream s; static FILE *f; static unsigned char input[BUF];
static uint64_t total_in, total_out; static unsigned char last_byte; static int switched;
typedef struct { uint64_t in_pos, out_pos; int flags; unsigned char prev; unsigned char bits; } info_t;
static info_t block_info; static unsigned char block_dict[WIN]; static unsigned block_dict_len;
static info_t cur_info(void) {
  info_t i; i.in_pos = total_in; i.out_pos = total_out; i.flags = s.data_type;
  i.prev = (s.data_type & 7) ? (s.next_in == input ? last_byte : s.next_in[-1]) : 0;
  i.bits = s.data_type & 7; switched = 0; return i;
}
static int zinflate(void) { total_in += s.avail_in; total_out += s.avail_out; int r = inflate(&s, Z_BLOCK); total_in -= s.avail_in; total_out -= s.avail_out; return r; }
static long zread(unsigned char *buf, unsigned len) {
  s.next_out = buf; s.avail_out = len;
  for (;;) {
    if (s.avail_in == 0) {
      if (s.next_in > input) last_byte = s.next_in[-1];
      size_t n = fread(input, 1, BUF, f);
      if (n == 0) return 0;
      s.next_in = input; s.avail_in = n;
    }
    int r = zinflate();
    if (r == Z_STREAM_END) { inflateReset(&s); switched = 1; continue; }
    if (r == Z_OK) {
      long count = s.next_out - buf;
      info_t i = cur_info();
      if (i.flags & 0x80) { uInt l = 0; inflateGetDictionary(&s, block_dict, &l); block_dict_len = l; block_info = i; }
      if (count == 0) continue;
      return count;
    }
    if (r == Z_BUF_ERROR && s.avail_in == 0) continue;
    fprintf(stderr, "inflate error %d\\n", r); exit(2);
  }
}
static void read_exact(uint64_t n) {
  static unsigned char tmp[1 << 20];
  while (n > 0) { unsigned k = n > sizeof tmp ? sizeof tmp : (unsigned)n; long got = 0;
    while (got < k) { long r = zread(tmp + got, k - got); if (r <= 0) { fprintf(stderr, "eof\\n"); exit(3); } got += r; } n -= k; }
}
typedef struct { uint64_t in_offset, out_offset; uint32_t in_len, out_len, dict_len; unsigned char byte, bits; uint32_t dict_sum; } ctx_t;
static ctx_t ctxs[1 << 16]; static int nctx = 0, cur = -1; static uint64_t cur_block_start, cur_ci_offset, cur_in_offset;
static uint64_t min_comp, max_comp, max_uncomp;
static int new_ctx(void) {
  ctx_t *c = &ctxs[nctx]; c->in_offset = block_info.in_pos; c->out_offset = block_info.out_pos; c->in_len = c->out_len = 0;
  c->byte = block_info.prev; c->bits = block_info.bits; c->dict_len = block_dict_len;
  uint32_t a = 1; for (unsigned i = 0; i < block_dict_len; i++) a = a * 31 + block_dict[i]; c->dict_sum = a;
  cur_block_start = block_info.in_pos; return nctx++;
}
int main(int argc, char **argv) {
  f = fopen(argv[1], "rb"); uint64_t chunk = strtoull(argv[2], 0, 0);
  min_comp = strtoull(argv[3], 0, 0); max_comp = strtoull(argv[4], 0, 0); max_uncomp = strtoull(argv[5], 0, 0);
  memset(&s, 0, sizeof s); inflateInit2(&s, 31); s.next_in = input; s.avail_in = 0;
  uint64_t pos = 0, S, E;
  while (scanf("%lu %lu", &S, &E) == 2) {
    read_exact(S - pos);
    info_t i = cur_info();
    int idx;
    if (cur >= 0) {
      ctx_t *c = &ctxs[cur]; uint64_t comp = i.in_pos - c->in_offset, unc = i.out_pos - c->out_offset;
      int first = block_info.in_pos == cur_block_start;
      int enough = !first && (comp >= max_comp / 2 || unc + chunk >= max_uncomp);
      if (enough) idx = new_ctx();
      else if (!first && comp > 2 * (uint64_t)c->in_len && c->in_len > min_comp) idx = new_ctx();
      else idx = cur;
    } else idx = new_ctx();
    cur = idx; cur_ci_offset = i.out_pos; cur_in_offset = i.in_pos;
    read_exact(E - S); pos = E;
    info_t e = cur_info(); ctx_t *c = &ctxs[cur];
    c->out_len = e.out_pos - c->out_offset; c->in_len = e.in_pos - c->in_offset;
    printf("chunk %d %lu %lu %lu %lu\\n", cur, cur_ci_offset - c->out_offset, E - S, cur_in_offset, e.in_pos - cur_in_offset);
  }
  for (int k = 0; k < nctx; k++) { ctx_t *c = &ctxs[k];
    printf("ctx %lu %lu %u %u %u %u %u %u\\n", c->in_offset, c->out_offset, c->in_len, c->out_len, c->dict_len, c->byte, c->bits, c->dict_sum); }
  return 0;
}
`;

function oracle(): string | null {
  const d = tempDir('zran-oracle-');
  writeFileSync(join(d, 'zref.c'), ZLIB_ORACLE);
  const r = spawnSync('cc', ['-O2', '-o', join(d, 'zref'), join(d, 'zref.c'), '-lz'], { encoding: 'utf8' });
  return r.status === 0 ? join(d, 'zref') : null;
}
const ORACLE = oracle();

function oracleLayers(): [string, Uint8Array][] {
  const d = tempDir('zran-olayer-');
  const src = join(d, 'src');
  mkdirSync(src);
  for (let i = 0; i < 12; i++) writeFileSync(join(src, `b${String(i).padStart(2, '0')}`), binaries(150_000 + i * 61_111, i * 5));
  for (let i = 0; i < 30; i++) writeFileSync(join(src, `t${i}`), `text ${i} `.repeat(i * 97));
  const tar = new Uint8Array(spawnSync('tar', ['-cf', '-', '--sort=name', '--mtime=@1000000000', '--owner=0', '--group=0', '--numeric-owner', '-C', src, '.'], { maxBuffer: 1 << 28 }).stdout);
  const cuts = [0, Math.floor(tar.length / 3) + 123, Math.floor(tar.length * 2 / 3) + 7, tar.length];
  // a member that ends exactly where a file's data starts (the header before it is the member's last bytes)
  let at = 0;
  let dataStart = 0;
  for (let n = 0; at + 512 <= tar.length && n < 6; n++) {
    const size = parseInt(new TextDecoder().decode(tar.subarray(at + 124, at + 136)).replace(/\0.*$/s, '').trim() || '0', 8);
    dataStart = at + 512;
    at = dataStart + Math.ceil(size / 512) * 512;
  }
  return [
    ['level 1', new Uint8Array(gzipSync(tar, { level: 1 }))],
    ['level 9', new Uint8Array(gzipSync(tar, { level: 9 }))],
    ['stored (level 0)', new Uint8Array(gzipSync(tar, { level: 0 }))],
    ['memLevel 1 (small blocks)', new Uint8Array(gzipSync(tar, { level: 6, memLevel: 1 }))],
    ['3 members cut inside files', new Uint8Array(Buffer.concat(cuts.slice(1).map((e, i) => gzipSync(tar.subarray(cuts[i]!, e), { level: 6 }))))],
    ['2 members, the first ending where a file\'s data starts', new Uint8Array(Buffer.concat([gzipSync(tar.subarray(0, dataStart)), gzipSync(tar.subarray(dataStart))]))],
  ];
}

test('checkpoints and chunk ranges equal what zlib gives nydus\' ZranReader/ZranGenerator (C oracle over the system zlib)', { skip: (!ORACLE || !haveTar) && 'no C compiler with zlib, or no tar', timeout: 600_000 }, async () => {
  let contexts = 0;
  let chunks = 0;
  let primed = 0;
  let trailerCheckpoints = 0;
  for (const [name, gz] of oracleLayers()) {
    // zlib also stops after a member's final block, before its trailer: nydus may start a context
    // there, which no raw inflate can resume from (it would read the trailer as a block header). We
    // write such a context as starting at the next member's data (same output, no window): the only
    // allowed difference, and the image must read.
    const members = gunzipMembers(gz, { maxOutput: 1 << 28 }).members;
    const nextData = new Map(members.slice(0, -1).map((m, k) => [m.end - 8, members[k + 1]!.dataOffset]));
    for (const [chunkSize, limits] of [[0x10000, { minCompressed: 1024, maxCompressed: 2048, maxUncompressed: 4096 }], [0x1000, undefined], [0x100000, undefined]] as const) {
      const b = await buildLayer(gz, name, { chunkSize, ciCompressor: 'none', ...(limits ? { contextLimits: limits } : {}) });
      const l = limits ?? { minCompressed: 512 * 1024, maxCompressed: 1024 * 1024, maxUncompressed: 2 * 1024 * 1024 };
      const f = join(tempDir('zran-o-'), 'l.tar.gz');
      writeFileSync(f, gz);
      const input = b.r.reads.map((x) => `${x.tarOffset} ${x.tarOffset + x.size}`).join('\n') + '\n';
      const r = spawnSync(ORACLE!, [f, String(chunkSize), String(l.minCompressed), String(l.maxCompressed), String(l.maxUncompressed)], { input, maxBuffer: 1 << 28, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.trim().split('\n').map((x) => x.split(' '));
      const refReads = lines.filter((x) => x[0] === 'chunk').map((x) => x.slice(1).map(Number));
      const refCtx = lines.filter((x) => x[0] === 'ctx').map((x) => x.slice(1).map(Number));
      const label = `${name}, ${chunkSize}-byte chunks${limits ? ', unit-test limits' : ''}`;
      assert.deepEqual(b.r.reads.map((x) => [x.context, x.offset, x.size, x.inPos, x.inLen]), refReads, `${label}: chunk reads`);
      // the windows as written to the RAFS blob, hashed as the oracle hashes them
      const fs = await openRafs(new BytesSource(b.boot, 'image.boot'), { blobs: [new BytesSource(gz, 'l.tar.gz'), new BytesSource(b.meta, b.r.metaBlobId)] });
      const t = zranTable((await fs.store.blobDetails(0)).meta!);
      const hash = (d: Uint8Array) => d.reduce((a, x) => (Math.imul(a, 31) + x) >>> 0, 1);
      const ours = t.contexts.map((c) => [c.inOffset, c.outOffset, c.inLen, c.outLen, c.dictSize, c.ctxByte, c.ctxBits, hash(zranDict(t, c))]);
      const expected = refCtx.map((c) => {
        const next = nextData.get(c[0]!);
        if (next === undefined) return c;
        trailerCheckpoints++;
        return [next, c[1]!, c[2]! - (next - c[0]!), c[3]!, 0, 0, 0, 1];
      });
      assert.deepEqual(ours, expected, `${label}: contexts`);
      if (expected.some((c, i) => c !== refCtx[i])) assert.equal((await checkRafs(fs)).ok, true, `${label}: the moved checkpoints read`);
      contexts += t.contexts.length;
      chunks += refReads.length;
      primed += t.contexts.filter((c) => c.ctxBits > 0).length;
    }
  }
  assert.ok(contexts > 100 && primed > 50 && chunks > 1000, `${contexts} contexts (${primed} primed), ${chunks} chunk reads compared`);
  assert.ok(trailerCheckpoints >= 1, 'the layer made for it shows the final-block checkpoint case');
});

// ---------------------------------------------------------------------------------------------
// Every file type: the test tree (devices, fifos, hardlinks, symlinks, PAX xattrs, big ids) as a
// gzip layer, referenced by a targz-ref image; our reader and `layerscope extract` give what
// `tar -x` gives. Times are whole seconds first, as in the tarfs test: a layer's ustar mtime is.

test('targz-ref over a layer of every file type: the reader and extract give tar -x\'s tree', { skip: (process.getuid?.() !== 0 || !haveTar) && 'the test tree needs root (mknod, chown, trusted. xattrs) and tar', timeout: 300_000 }, async () => {
  const d = tempDir('zran-all-');
  const src = makeTestTree({ dir: join(d, 'src'), small: true });
  const py = String.raw`
import os, sys
for d, dirs, files in os.walk(sys.argv[1], topdown=False):
    for n in dirs + files + ['']:
        p = os.path.join(d, n) if n else d
        s = os.lstat(p).st_mtime_ns // 10**9 * 10**9
        os.utime(p, ns=(s, s), follow_symlinks=False)
`;
  assert.equal(spawnSync('python3', ['-c', py, src]).status, 0);
  const tar = join(d, 'layer.tar');
  spawnSync('tar', ['--format=pax', '--xattrs', '--xattrs-include=*', '--numeric-owner', '-cf', tar, '-C', src, '.'], { stdio: 'ignore' });
  const gz = new Uint8Array(gzipSync(readFileSync(tar), { level: 6 }));
  writeFileSync(join(d, 'layer.tar.gz'), gz);
  const want = join(d, 'want');
  mkdirSync(want);
  assert.equal(spawnSync('tar', ['--warning=no-timestamp', '--xattrs', '--xattrs-include=*', '--numeric-owner', '--same-owner', '-p', '-xf', tar, '-C', want]).status, 0);
  const b = await buildLayer(gz, 'layer.tar.gz', { chunkSize: 0x10000 });
  const fs = await openRafs(new BytesSource(b.boot, 'image.boot'), { blobs: [new BytesSource(gz, 'layer.tar.gz'), new BytesSource(b.meta, b.r.metaBlobId)] });
  // the one difference: the root's mtime, which RAFS builds force to 0 (rafs/builder/common.ts mtimeOf; tarfs alone keeps the tar's)
  const rootMtime = /^\/: mtime \d+ != 0$/;
  assert.deepEqual(compareSnapshots(snapshotDisk(want), await snapshotFs(fs)).filter((l) => !rootMtime.test(l)), [], 'our reader differs from tar -x');
  assert.equal((await checkRafs(fs)).ok, true);
  // the CLI: build, then extract with the layer as the blob
  const blobs = join(d, 'blobs');
  const r = spawnSync(process.execPath, [join((await import('./helpers/paths.ts')).REPO, 'bin/layerscope.mjs'), 'build', '--format', 'rafs-v6', '--type', 'targz-ref', join(d, 'layer.tar.gz'), join(d, 'out.boot'), '--blob-dir', blobs], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const x = spawnSync(process.execPath, [join((await import('./helpers/paths.ts')).REPO, 'bin/layerscope.mjs'), 'extract', join(d, 'out.boot'), join(d, 'x'), '--blob-dir', blobs, '--blob', join(d, 'layer.tar.gz')], { encoding: 'utf8' });
  assert.equal(x.status, 0, x.stderr);
  assert.deepEqual(compareSnapshots(snapshotDisk(want), snapshotDisk(join(d, 'x'))).filter((l) => !rootMtime.test(l)), [], 'layerscope extract differs from tar -x');
});
