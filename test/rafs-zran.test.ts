// ZRAN (nydus `--type targz-ref`): the real blob meta of nydus' tests parses as
// storage/src/meta/mod.rs `test_load_meta_ci_zran_add_more_chunks` reads it; images we build over
// the fixture .tar.gz layers read back what `tar -xzf` gives, every chunk inflated from its own
// checkpoint; a flipped byte in the gzip layer is caught by `check`, naming file and chunk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BytesSource } from '../src/lib/io/source.ts';
import { FormatError } from '../src/lib/errors.ts';
import { readBlobMeta } from '../src/lib/rafs/blob.ts';
import { zranChunk, zranContextChunks, zranTable } from '../src/lib/rafs/zran.ts';
import type { RafsBlob } from '../src/lib/rafs/model.ts';
import { nydusBytes, RAFS } from './helpers/nydus.ts';

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
