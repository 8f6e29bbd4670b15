// RAFS v5/v6 built with zstd chunks as nydus-image 2.4 writes them (its default compressor): our
// reader reads every file back, `check` verifies every chunk, and every compressed chunk (and the
// v6 CI array) is a zstd frame the `zstd` CLI decodes to the chunk's bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, tempDir } from './helpers/paths.ts';
import { buildMem, diffTree, dir, file, openBuilt, randomTree, tree } from './rafs-build-helpers.ts';
import { walk } from '../src/lib/fs/path.ts';
import { checkRafs, verifyBlobIds } from '../src/lib/rafs/analyze.ts';
import { digestOf } from '../src/lib/rafs/blob.ts';
import { BLOB_META_HEADER, CF, TOC_FLAGS } from '../src/lib/rafs/structs.ts';
import { decodeStruct } from '../src/lib/struct.ts';
import type { RafsChunk, RafsFs } from '../src/lib/rafs/model.ts';
import { hex } from '../src/lib/bytes.ts';

const haveZstd = spawnSync('zstd', ['--version']).status === 0;
const CLI = join(REPO, 'bin/layerscope.mjs');

function zstdCli(frame: Uint8Array): Uint8Array {
  const r = spawnSync('zstd', ['-d', '-c', '-q'], { input: frame, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr.toString());
  return new Uint8Array(r.stdout);
}

/** Every distinct chunk the files use (key: blob index + chunk index). */
async function allChunks(fs: RafsFs): Promise<RafsChunk[]> {
  const m = new Map<string, RafsChunk>();
  for await (const e of walk(fs)) {
    if (e.attr.type !== 'reg') continue;
    for (const c of await fs.fileChunks(e.attr.ino)) m.set(`${c.blobIndex}:${c.index}`, c);
  }
  return [...m.values()];
}

/** RFC 8878 frame header: the frame content size field, and the checksum and single-segment flags. */
function frameHeader(f: Uint8Array): { contentSize: number | null; checksum: boolean; singleSegment: boolean } {
  assert.equal(new DataView(f.buffer, f.byteOffset).getUint32(0, true), 0xfd2fb528, 'zstd magic');
  const fhd = f[4]!;
  const fcsFlag = fhd >> 6;
  const single = (fhd & 0x20) !== 0;
  const dictFlag = fhd & 3;
  const at = 5 + (single ? 0 : 1) + [0, 1, 2, 4][dictFlag]!;
  const dv = new DataView(f.buffer, f.byteOffset);
  const size = fcsFlag === 0 ? (single ? f[at]! : null) : fcsFlag === 1 ? dv.getUint16(at, true) + 256 : fcsFlag === 2 ? dv.getUint32(at, true) : Number(dv.getBigUint64(at, true));
  return { contentSize: size, checksum: (fhd & 4) !== 0, singleSegment: single };
}

for (const version of [6, 5] as const) {
  test(`zstd v${version}: random trees read back, check clean, chunks raw where zstd does not shrink them, every zstd chunk decodes with zstd -d`, { skip: !haveZstd && 'zstd not installed', timeout: 300_000 }, async () => {
    for (const [seed, chunkSize] of [[3, 0x10000], [4, 0x1000]] as const) {
      const t = randomTree(seed, chunkSize);
      const b = await buildMem(t, { version, compressor: 'zstd', chunkSize });
      const fs = await openBuilt(b, [{ id: b.result.blobId!, bytes: b.blob }]);
      assert.equal(fs.compressor, 'zstd');
      const r = await checkRafs(fs);
      assert.equal(r.ok, true, JSON.stringify(r).slice(0, 2000));
      assert.equal(r.counts.chunks_checked, b.result.stats.chunksStored);
      assert.deepEqual(await fs.verifyMetadata(), []);
      assert.equal((await verifyBlobIds(fs))[0]!.matches, version === 6 ? 'file-without-digest-array' : 'file');
      assert.deepEqual(await diffTree(t, fs), []);
      const chunks = await allChunks(fs);
      assert.equal(chunks.length, b.result.stats.chunksStored);
      let zstdChunks = 0;
      let raw = 0;
      for (const c of chunks) {
        const stored = b.blob.subarray(c.compressedOffset, c.compressedOffset + c.compressedSize);
        if (!(c.flags & CF.COMPRESSED)) {
          // kept raw: zstd did not make it smaller (§2.2); the stored bytes are the chunk itself
          raw++;
          assert.equal(c.compressedSize, c.uncompressedSize);
          assert.deepEqual(await digestOf(fs.digester, stored), c.digest);
          continue;
        }
        zstdChunks++;
        assert.ok(c.compressedSize < c.uncompressedSize);
        const h = frameHeader(stored);
        // nydus-image: zstd::bulk::compress at level 3 writes the content size and no checksum
        assert.equal(h.contentSize, c.uncompressedSize);
        assert.equal(h.checksum, false);
        const plain = zstdCli(stored);
        assert.equal(plain.length, c.uncompressedSize);
        assert.equal(hex(await digestOf(fs.digester, plain)), hex(c.digest));
      }
      assert.ok(zstdChunks > 0 && raw > 0, `${zstdChunks} zstd and ${raw} raw chunks: random data stays raw, text shrinks`);
      assert.equal(raw, b.result.stats.chunksRaw);
      if (version === 6) {
        // the CI array is compressed with the data compressor when that shrinks it, and the ToC says zstd
        const blob = fs.blobs[0]!;
        const hdr = decodeStruct(BLOB_META_HEADER, b.blob, blob.ciOffset! + blob.ciCompressedSize!);
        const ci = b.blob.subarray(blob.ciOffset!, blob.ciOffset! + blob.ciCompressedSize!);
        if (hdr.s_ci_compressor === 3) {
          assert.equal(blob.ciCompressor, 'zstd');
          assert.equal(zstdCli(ci).length, blob.ciUncompressedSize);
        } else assert.equal(ci.length, blob.ciUncompressedSize);
        const { toc } = await fs.store.blobDetails(0);
        const meta = toc!.entries.find((e) => e.name === 'blob.meta')!;
        assert.equal(meta.flags, hdr.s_ci_compressor === 3 ? TOC_FLAGS.ZSTD : TOC_FLAGS.NONE);
      }
    }
  });
}

test('zstd v6: a CI array that zstd shrinks is stored as a zstd frame (header ci_compressor 3, ToC flag zstd)', { skip: !haveZstd && 'zstd not installed' }, async () => {
  // 300 small files of repeated text: 300 CI rows with regular offsets compress well
  const enc = new TextEncoder();
  const files: [string, ReturnType<typeof file>][] = [];
  for (let i = 0; i < 300; i++) files.push([`f${String(i).padStart(3, '0')}`, file(enc.encode(`file ${i} `.repeat(50 + (i % 7))))]);
  const t = tree(dir(files));
  const b = await buildMem(t, { compressor: 'zstd', chunkSize: 0x1000 });
  const fs = await openBuilt(b, [{ id: b.result.blobId!, bytes: b.blob }]);
  const blob = fs.blobs[0]!;
  assert.equal(blob.ciCompressor, 'zstd');
  assert.ok(blob.ciCompressedSize! < blob.ciUncompressedSize!);
  const ci = zstdCli(b.blob.subarray(blob.ciOffset!, blob.ciOffset! + blob.ciCompressedSize!));
  assert.equal(ci.length, 300 * 16);
  const { toc, meta } = await fs.store.blobDetails(0);
  assert.deepEqual(meta!.ci, ci);
  assert.equal(toc!.entries.find((e) => e.name === 'blob.meta')!.flags, TOC_FLAGS.ZSTD);
  assert.equal((await checkRafs(fs)).ok, true);
  assert.deepEqual(await diffTree(t, fs), []);
});

test('CLI: layerscope build defaults to zstd (v6, blake3, 1 MiB); check verifies every chunk and names the file of a flipped byte', { skip: !haveZstd && 'zstd not installed', timeout: 300_000 }, () => {
  const d = tempDir('ls-rafs-zstd-');
  const src = join(d, 'src');
  mkdirSync(join(src, 'etc'), { recursive: true });
  const text = Buffer.from(Array.from({ length: 20000 }, (_, i) => `line ${i} of a nydus zstd chunk\n`).join(''));
  writeFileSync(join(src, 'etc/text'), text);
  writeFileSync(join(src, 'small'), 'hello\n');
  for (const fmt of ['rafs-v6', 'rafs-v5']) {
    const boot = join(d, `${fmt}.boot`);
    const blobs = join(d, `blobs-${fmt}`);
    const b = spawnSync(process.execPath, [CLI, 'build', '--format', fmt, src, boot, '--blob-dir', blobs, '--json'], { encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);
    const ins = spawnSync(process.execPath, [CLI, 'inspect', boot, '--json'], { encoding: 'utf8' });
    assert.equal(ins.status, 0, ins.stderr);
    assert.match(ins.stdout, /zstd/);
    const c = spawnSync(process.execPath, [CLI, 'check', boot, '--blob-dir', blobs], { encoding: 'utf8' });
    assert.equal(c.status, 0, c.stdout + c.stderr);
    const cat = spawnSync(process.execPath, [CLI, 'cat', boot, '/etc/text', '--blob-dir', blobs], { maxBuffer: 64 << 20 });
    assert.equal(cat.status, 0);
    assert.ok(Buffer.from(cat.stdout).equals(text));
    // one flipped byte inside the zstd frame of /etc/text (dumped after /small, 6 raw bytes at 0)
    const [name] = readdirSync(blobs);
    const blobPath = join(blobs, name!);
    const bytes = readFileSync(blobPath);
    bytes[1000]! ^= 0x40;
    writeFileSync(blobPath, bytes);
    const bad = spawnSync(process.execPath, [CLI, 'check', boot, '--blob-dir', blobs, '--json'], { encoding: 'utf8' });
    assert.equal(bad.status, 4, bad.stdout + bad.stderr);
    const rep = JSON.parse(bad.stdout) as { bad_files: { path: string }[] };
    assert.deepEqual(rep.bad_files.map((f) => f.path), ['/etc/text']);
  }
});
