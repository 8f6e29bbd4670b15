import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { tempDir } from './helpers/paths.ts';
import { nydusBytes, RAFS, resultMd5 } from './helpers/nydus.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { FormatError, UnsupportedError } from '../src/lib/errors.ts';
import { readAll, resolvePath } from '../src/lib/fs/path.ts';
import { blake3 } from '../src/lib/codec/blake3.ts';
import { sha256 } from '../src/lib/codec/sha256.ts';
import { gzipCompress } from '../src/lib/codec/gzip.ts';
import { lz4EncodeBlock } from '../src/lib/codec/lz4-compress.ts';
import { BlobStore, matchBlobs, MissingBlobError } from '../src/lib/rafs/blobstore.ts';
import { ciEntry, findInlineBootstrap, parseTarHeader, readBlobMeta, zranContext } from '../src/lib/rafs/blob.ts';
import { openRafs } from '../src/lib/rafs/index.ts';
import { BF, CF, CI2_FLAGS, type Compressor } from '../src/lib/rafs/structs.ts';
import type { RafsBlob, RafsChunk } from '../src/lib/rafs/model.ts';

const file = nydusBytes;
const haveZstd = spawnSync('zstd', ['--version']).status === 0;

function zstdCompress(data: Uint8Array): Uint8Array {
  const dir = tempDir('rafs-zstd-');
  writeFileSync(join(dir, 'in'), data);
  const r = spawnSync('zstd', ['-q', '-f', join(dir, 'in'), '-o', join(dir, 'out')]);
  assert.equal(r.status, 0);
  return new Uint8Array(readFileSync(join(dir, 'out')));
}

function blobEntry(over: Partial<RafsBlob>): RafsBlob {
  return { index: 0, blobId: 'b'.repeat(64), compressor: 'none', digester: 'sha256', chunkSize: 1 << 20, features: 0, ...over };
}

/** A blob of chunks compressed with `alg` (falling back to raw where that does not shrink) and their chunk records. */
function buildBlob(alg: Compressor, digester: 'sha256' | 'blake3', pieces: Uint8Array[]): { blob: Uint8Array; chunks: RafsChunk[] } {
  const parts: Uint8Array[] = [];
  const chunks: RafsChunk[] = [];
  let off = 0;
  let uoff = 0;
  for (const [i, p] of pieces.entries()) {
    let stored = p;
    if (alg === 'gzip') stored = gzipCompress(p);
    else if (alg === 'lz4_block') stored = lz4EncodeBlock(p);
    else if (alg === 'zstd') stored = zstdCompress(p);
    const compressed = alg !== 'none' && stored.length < p.length;
    if (!compressed) stored = p;
    parts.push(stored);
    chunks.push({
      digest: digester === 'sha256' ? sha256(p) : blake3(p), blobIndex: 0, flags: compressed ? CF.COMPRESSED : 0, compressed,
      compressedOffset: off, compressedSize: stored.length, uncompressedOffset: uoff, uncompressedSize: p.length, fileOffset: 0, index: i, crc32: 0,
    });
    off += stored.length;
    uoff += p.length;
  }
  const blob = new Uint8Array(off);
  let at = 0;
  for (const p of parts) {
    blob.set(p, at);
    at += p.length;
  }
  return { blob, chunks };
}

const text = (n: number, seed: number) => new TextEncoder().encode(Array.from({ length: n }, (_, i) => `line ${i * seed % 97} of ${seed}\n`).join(''));
const noise = (n: number) => {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 32) out.set(sha256(new Uint8Array([i & 0xff, i >> 8])).subarray(0, Math.min(32, n - i)), i);
  return out;
};

for (const alg of ['none', 'lz4_block', 'gzip', 'zstd'] as const) {
  for (const digester of ['sha256', 'blake3'] as const) {
    test(`blob store: ${alg} chunks with ${digester} digests decode and verify; raw chunks honour the per-chunk flag`, { skip: alg === 'zstd' && !haveZstd && 'zstd not installed' }, async () => {
      const pieces = [text(3000, 7), noise(700), text(50, 3), new Uint8Array(0)];
      const { blob, chunks } = buildBlob(alg, digester, pieces);
      if (alg !== 'none') {
        assert.equal(chunks[0]!.compressed, true);
        assert.equal(chunks[1]!.compressed, false); // noise does not shrink: stored raw
      }
      const info = blobEntry({ compressor: alg, digester, compressedSize: blob.length });
      const store = new BlobStore([info], matchBlobs([info], [new BytesSource(blob, 'anything')]));
      for (const [i, c] of chunks.entries()) assert.deepEqual(await store.readChunk(c), pieces[i]);
      // one flipped byte: a typed error naming the chunk, never garbage
      const bad = blob.slice();
      bad[chunks[0]!.compressedOffset + (chunks[0]!.compressedSize >> 1)]! ^= 0x10; // mid-payload (a gzip header's mtime would not matter)
      const s2 = new BlobStore([info], matchBlobs([info], [new BytesSource(bad, 'bad')]));
      await assert.rejects(s2.readChunk(chunks[0]!), (e: unknown) => e instanceof FormatError && e.structure === 'rafs.chunk');
      assert.match((await s2.checkChunk(chunks[0]!))!.error, /./);
      assert.equal(await s2.checkChunk(chunks[2]!), null);
      // verification off: the caller gets what the blob holds (for a raw chunk the flipped bytes)
      const raw = chunks[1]!;
      const bad2 = blob.slice();
      bad2[raw.compressedOffset]! ^= 1;
      const s3 = new BlobStore([info], matchBlobs([info], [new BytesSource(bad2, 'bad2')]), { verify: false });
      assert.equal((await s3.readChunk(raw))[0], pieces[1]![0]! ^ 1);
    });
  }
}

test('blob store: out-of-range chunks, missing blobs, encrypted and ZRAN blobs give typed errors', async () => {
  const info = blobEntry({});
  const store = new BlobStore([info], matchBlobs([info], [new BytesSource(new Uint8Array(100), 'x')]));
  const c: RafsChunk = { digest: new Uint8Array(32), blobIndex: 0, flags: 0, compressed: false, compressedOffset: 90, compressedSize: 20, uncompressedOffset: 0, uncompressedSize: 20, fileOffset: 0, index: 0, crc32: 0 };
  await assert.rejects(store.readChunk(c), (e: unknown) => e instanceof FormatError);
  await assert.rejects(store.readChunk({ ...c, blobIndex: 3 }), (e: unknown) => e instanceof FormatError);
  const none = new BlobStore([info], matchBlobs([info], []));
  await assert.rejects(none.readChunk(c), (e: unknown) => e instanceof MissingBlobError && e.blobIndex === 0);
  none.attach(0, new BytesSource(new Uint8Array(200), 'later'));
  assert.equal((await none.readChunk(c)).length, 20);
  // a ZRAN chunk needs its context from the blob meta: without one, a FormatError (rafs-zran.test.ts reads real ones)
  const iz = blobEntry({ features: BF.ZRAN });
  const sz = new BlobStore([iz], matchBlobs([iz], [new BytesSource(new Uint8Array(200), 'x')]));
  await assert.rejects(sz.readChunk({ ...c, compressedOffset: 0 }), (e: unknown) => e instanceof FormatError && /no blob meta/.test(e.detail));
  // encrypted blobs are read (rafs-encrypt.test.ts): an ENCRYPTED feature without a cipher is a
  // FormatError, a cipher RAFS does not use (aes256xts) an UnsupportedError
  for (const [extra, kind] of [[{}, FormatError], [{ cipherAlgo: 2, blobMetaDigest: new Uint8Array(32), cipherIvFull: new Uint8Array(16) }, UnsupportedError]] as const) {
    const i2 = blobEntry({ features: BF.ENCRYPTED, ...extra });
    const s = new BlobStore([i2], matchBlobs([i2], [new BytesSource(new Uint8Array(200), 'x')]));
    await assert.rejects(s.readChunk({ ...c, compressedOffset: 0 }), (e: unknown) => e instanceof kind);
  }
});

test('blob matching: id names (with sha256: prefix or .blob.data), container, unique size, then order', () => {
  const id = (c: string) => c.repeat(64);
  const blobs = [blobEntry({ index: 0, blobId: id('a'), compressedSize: 10 }), blobEntry({ index: 1, blobId: id('b'), compressedSize: 20 }),
    blobEntry({ index: 2, blobId: id('c'), compressedSize: 30 }), blobEntry({ index: 3, blobId: id('d') })];
  const s = (name: string, size: number) => new BytesSource(new Uint8Array(size), name);
  const m = matchBlobs(blobs, [s('x/y/unrelated', 5), s('other', 999), s(`/cache/${id('b')}.blob.data`, 4096), s(`sha256:${id('a')}`, 10), s('by-size', 30)]);
  assert.deepEqual(m.bindings.map((b) => [b.matchedBy, b.kind, b.source?.name]), [
    ['name', 'blob', `sha256:${id('a')}`], ['name', 'cache', `/cache/${id('b')}.blob.data`], ['size', 'blob', 'by-size'], ['order', 'blob', 'x/y/unrelated'],
  ]);
  assert.deepEqual(m.unmatched.map((x) => x.name), ['other']);
  // a size that contradicts the table is not paired by order
  const m2 = matchBlobs([blobs[0]!], [s('wrong-size', 11)]);
  assert.equal(m2.bindings[0]!.source, null);
  assert.equal(m2.unmatched.length, 1);
  // the container goes to the entry with INLINED_FS_META
  const inl = [blobEntry({ index: 0, blobId: id('e') }), blobEntry({ index: 1, blobId: 'x'.repeat(64), features: BF.INLINED_FS_META, compressedSize: 5 })];
  const box = s('/tmp/0123abcd', 100);
  const m3 = matchBlobs(inl, [box], box);
  assert.equal(m3.bindings[1]!.matchedBy, 'container');
  assert.equal(m3.bindings[1]!.effectiveId, '0123abcd');
  assert.equal(m3.bindings[0]!.source, null);
});

test('ZRAN blob.meta cache file: CI v2 entries and ZRAN contexts decode (§6.2 figures)', async () => {
  const meta = file(`${RAFS.ZRAN_DIR}/233c72f2b6b698c07021c4da367cfe2dff4f049efbaa885ca0ff760ea297865a.blob.meta`);
  const info = blobEntry({ features: 0xf, chunkCount: 0xa3, compressor: 'gzip' });
  const m = await readBlobMeta(new BytesSource(meta, 'zran.blob.meta'), info, 'cache');
  assert.equal(m.version, 2);
  assert.equal(m.entryCount, 0xa3);
  assert.equal(m.ci.length, 0xa1290);
  assert.equal(m.zranCount, 0x15);
  assert.equal(m.zranOffset, 0xa3 * 24);
  assert.equal(m.zranSize - 0x15 * 40, 0xa0348 - 0x15 * 40);
  let prevEnd = 0;
  let maxCtx = -1;
  for (let i = 0; i < m.entryCount; i++) {
    const e = ciEntry(m, i);
    assert.equal(e.uncompressedOffset % 4096, 0);
    assert.ok(e.uncompressedOffset >= prevEnd, `entry ${i} overlaps the previous one`);
    prevEnd = e.uncompressedOffset + e.uncompressedSize;
    assert.ok(e.flags & CI2_FLAGS.ZRAN);
    assert.ok(e.compressedOffset + e.compressedSize <= 9839040);
    maxCtx = Math.max(maxCtx, e.dataHi);
  }
  assert.ok(prevEnd <= 0x16c6000);
  assert.equal(maxCtx, 0x15 - 1);
  const last = zranContext(m, 0x14);
  assert.ok(last.in_offset + last.in_len <= 9839040);
  assert.ok(last.dict_offset + last.dict_size <= m.zranSize - 0x15 * 40);
  assert.throws(() => ciEntry(m, 0xa3), FormatError);
});

test('blob meta: an lz4-compressed CI array is inflated and cross-checked with its header', async () => {
  const be7 = file(RAFS.V6_BLOB);
  const ci = be7.slice(8314, 8314 + 32);
  const header = be7.slice(8346, 8346 + 4096);
  const packed = lz4EncodeBlock(ci);
  const pre = 1000;
  const blob = new Uint8Array(pre + packed.length + 4096);
  blob.set(packed, pre);
  const h = header.slice();
  const v = new DataView(h.buffer);
  v.setUint32(8, 1, true); // s_ci_compressor = lz4_block
  v.setUint32(16, pre, true);
  v.setUint32(20, 0, true);
  v.setUint32(24, packed.length, true);
  blob.set(h, pre + packed.length);
  const info = blobEntry({ features: BF.ALIGNED, chunkCount: 2, ciOffset: pre, ciCompressedSize: packed.length, ciUncompressedSize: 32, ciCompressor: 'lz4_block' });
  const m = await readBlobMeta(new BytesSource(blob, 'x'), info);
  assert.deepEqual(m.ci, ci);
  assert.equal(ciEntry(m, 1).compressedOffset, 4828);
  // a header that disagrees with the blob table is refused
  await assert.rejects(readBlobMeta(new BytesSource(blob, 'x'), { ...info, ciOffset: pre + 1 }), FormatError);
  await assert.rejects(readBlobMeta(new BytesSource(blob, 'x'), { ...info, chunkCount: 3 }), FormatError);
});

test('batch chunks (CI v2 BATCH): the batch is inflated once and sliced', async () => {
  const a = text(900, 5);
  const b = text(400, 9);
  const batch = new Uint8Array(a.length + b.length);
  batch.set(a);
  batch.set(b, a.length);
  const packed = lz4EncodeBlock(batch);
  const ciOffset = packed.length;
  const ci = new Uint8Array(2 * 24 + 40);
  const cv = new DataView(ci.buffer);
  [[a, 0, 0], [b, a.length, 4096]].forEach(([data, inBatch, uoff], i) => {
    const d = data as Uint8Array;
    cv.setUint32(i * 24, (uoff as number) / 4096, true);
    cv.setUint32(i * 24 + 4, (d.length - 1) | ((CI2_FLAGS.BATCH | CI2_FLAGS.COMPRESSED) << 24), true);
    cv.setUint32(i * 24 + 8, 0, true); // compressed offset of the batch
    cv.setUint32(i * 24 + 12, 0, true); // compressed size 0 for batch members
    cv.setUint32(i * 24 + 16, inBatch as number, true);
    cv.setUint32(i * 24 + 20, 0, true); // batch 0
  });
  cv.setUint32(48, packed.length, true);
  cv.setUint32(52, batch.length, true);
  const header = new Uint8Array(4096);
  const hv = new DataView(header.buffer);
  hv.setUint32(0, 0xb10bb10b, true);
  hv.setUint32(4092, 0xb10bb10b, true);
  hv.setUint32(4, BF.ALIGNED | BF.CHUNK_INFO_V2 | BF.BATCH, true);
  hv.setUint32(12, 2, true);
  hv.setUint32(16, ciOffset, true);
  hv.setUint32(24, ci.length, true);
  hv.setUint32(32, ci.length, true);
  hv.setUint32(40, 48, true);
  hv.setUint32(48, 40, true);
  hv.setUint32(56, 1, true);
  const blob = new Uint8Array(ciOffset + ci.length + 4096);
  blob.set(packed);
  blob.set(ci, ciOffset);
  blob.set(header, ciOffset + ci.length);
  const info = blobEntry({ features: BF.ALIGNED | BF.CHUNK_INFO_V2 | BF.BATCH, chunkCount: 2, compressor: 'lz4_block', ciOffset, ciCompressedSize: ci.length, ciUncompressedSize: ci.length, ciCompressor: 'none' });
  const store = new BlobStore([info], matchBlobs([info], [new BytesSource(blob, 'batch')]));
  const chunk = (i: number, d: Uint8Array): RafsChunk => ({ digest: sha256(d), blobIndex: 0, flags: CF.BATCH | CF.COMPRESSED, compressed: true, compressedOffset: 0, compressedSize: 0,
    uncompressedOffset: i * 4096, uncompressedSize: d.length, fileOffset: 0, index: i, crc32: 0 });
  assert.deepEqual(await store.readChunk(chunk(0, a)), a);
  assert.deepEqual(await store.readChunk(chunk(1, b)), b);
});

/** A GNU tar header as nydus writes after each blob section (§5.8). */
function tarHeader(name: string, size: number): Uint8Array {
  const h = new Uint8Array(512);
  const enc = new TextEncoder();
  h.set(enc.encode(name), 0);
  h.set(enc.encode(size.toString(8).padStart(11, '0') + '\0'), 124);
  h.set(enc.encode('00000000000\0'), 136);
  h[156] = 0x30;
  h.set(enc.encode('ustar  \0'), 257);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of h) sum += x;
  h.set(enc.encode(sum.toString(8).padStart(7, '0') + '\0'), 148);
  return h;
}

test('v5 blob with an inlined bootstrap ([image.blob] bootstrap [image.boot]) opens alone', async () => {
  const data = file(RAFS.BLOB_PLAIN);
  const boot = file(RAFS.V5);
  const parts = [data, tarHeader('image.blob', data.length), boot, tarHeader('image.boot', boot.length)];
  const blob = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    blob.set(p, at);
    at += p.length;
  }
  assert.equal(parseTarHeader(blob.subarray(blob.length - 512), 0)?.name, 'image.boot');
  const inline = await findInlineBootstrap(new BytesSource(blob, 'x'));
  assert.equal(inline?.via, 'tar');
  assert.deepEqual(inline?.bytes, boot);
  const fs = await openRafs(new BytesSource(blob, '/somewhere/layer.blob'));
  assert.equal(fs.format, 'rafs-v5');
  assert.equal(fs.store.bindings[0]!.matchedBy, 'container');
  const layerTar = '/normal-file-test/busybox/1f777dbdd68d1c4d554bc0d20e027bfef9ed2dfe2d8d5f029e958552a0e12475/layer.tar';
  const f = await resolvePath(fs, layerTar);
  assert.equal(createHash('md5').update(await readAll(fs, f.ino)).digest('hex'), resultMd5(RAFS.V5, layerTar));
  // a corrupted header checksum: the tail is not recognised, a typed error
  const bad = blob.slice();
  bad[bad.length - 512 + 3]! ^= 1;
  await assert.rejects(openRafs(new BytesSource(bad, 'bad')), FormatError);
});

test('zstd frame header content size is read before decoding (a lying header is refused without allocating)', { skip: !haveZstd && 'zstd not installed' }, async () => {
  const { zstdContentSize, decompress } = await import('../src/lib/rafs/blob.ts');
  for (const n of [0, 1, 255, 256, 300, 70000, 1 << 20]) {
    const data = text(Math.ceil(n / 12) + 1, 3).subarray(0, n);
    const z = zstdCompress(data);
    const fcs = zstdContentSize(z);
    assert.ok(fcs === null || fcs === n, `${n}: header says ${fcs}`);
    assert.deepEqual(decompress('zstd', z, n, 't', 0), data);
  }
  const z = zstdCompress(text(100, 1)).slice();
  // claim 2^40 bytes in an 8-byte content size field
  const fhd = z[4]!;
  assert.equal(fhd >> 6 >= 1, true);
  const hacked = new Uint8Array(z.length + 8);
  hacked.set(z.subarray(0, 4));
  hacked[4] = (fhd & 0x3f) | 0xc0 | 0x20; // 8-byte FCS, single segment (no window descriptor)
  const dictLen = [0, 1, 2, 4][fhd & 3]!;
  const oldAt = 5 + ((fhd >> 5) & 1 ? 0 : 1);
  hacked.set(z.subarray(oldAt, oldAt + dictLen), 5);
  new DataView(hacked.buffer).setBigUint64(5 + dictLen, 1n << 40n, true);
  assert.equal(zstdContentSize(hacked), 2 ** 40);
  assert.throws(() => decompress('zstd', hacked, 100, 't', 0), (e: unknown) => e instanceof FormatError && /announces/.test(e.detail));
});

test('chunks with HAS_CRC32 are checked against CRC-32C of the uncompressed bytes', async () => {
  const { crc32c } = await import('../src/lib/codec/crc32c.ts');
  const data = text(200, 4);
  const info = blobEntry({ compressedSize: data.length });
  const store = new BlobStore([info], matchBlobs([info], [new BytesSource(data, 'x')]));
  const c: RafsChunk = { digest: sha256(data), blobIndex: 0, flags: CF.HAS_CRC32, compressed: false, compressedOffset: 0, compressedSize: data.length,
    uncompressedOffset: 0, uncompressedSize: data.length, fileOffset: 0, index: 0, crc32: crc32c(data) };
  assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283); // the CRC-32C check value
  assert.deepEqual(await store.readChunk(c), data);
  const wrong = { ...c, crc32: c.crc32 ^ 1, index: 1, digest: new Uint8Array(32) }; // digest unknown: the CRC still counts
  assert.match((await store.checkChunk(wrong))!.error, /CRC-32C/);
  assert.equal(await store.checkChunk({ ...wrong, flags: 0 }), null);
});

test('gzip chunks are reproducible: the header MTIME is 0 (flate2 GzEncoder, as nydus-image writes), gunzip gives the input back', () => {
  const input = new TextEncoder().encode('layerscope '.repeat(500));
  const z = gzipCompress(input);
  assert.deepEqual([...z.subarray(0, 3)], [0x1f, 0x8b, 8]);
  assert.equal(new DataView(z.buffer, z.byteOffset).getUint32(4, true), 0);
  const r = spawnSync('gzip', ['-dc'], { input: z });
  assert.equal(r.status, 0);
  assert.deepEqual(new Uint8Array(r.stdout), input);
});
