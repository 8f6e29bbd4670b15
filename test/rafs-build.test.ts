import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/paths.ts';
import { compareSnapshots, snapshotDisk, snapshotFs } from './helpers/treecompare.ts';
import { buildMem, diffTree, dir, file, openBuilt, randomTree, symlink, tree } from './rafs-build-helpers.ts';
import { UnsupportedError } from '../src/lib/errors.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { treeFromImage } from '../src/lib/fs/sources/image.ts';
import { treeFromTar } from '../src/lib/fs/sources/tar.ts';
import { treeFs } from '../src/lib/fs/sources/treefs.ts';
import { openImage } from '../src/lib/open.ts';
import '../src/lib/formats.ts';
import { openRafs } from '../src/lib/rafs/index.ts';
import { checkRafs, verifyBlobIds } from '../src/lib/rafs/analyze.ts';
import { readToc, tarSections } from '../src/lib/rafs/blob.ts';
import { RafsV5 } from '../src/lib/rafs/v5.ts';
import { RafsV6 } from '../src/lib/rafs/v6.ts';
import { sectionTarHeader } from '../src/lib/rafs/builder/blob.ts';
import type { RafsFs } from '../src/lib/rafs/model.ts';
import type { BuildProgress } from '../src/lib/rafs/builder/types.ts';
import { sha256 } from '../src/lib/codec/sha256.ts';
import { hex } from '../src/lib/bytes.ts';
import { nydusBytes, RAFS } from './helpers/nydus.ts';


async function checkClean(fs: RafsFs): Promise<void> {
  const r = await checkRafs(fs);
  assert.equal(r.ok, true, JSON.stringify(r).slice(0, 3000));
  assert.equal(r.bad_chunks.length, 0);
}

// ---------------------------------------------------------------------------------------------
// round trips: every format × compressor × digester

for (const version of [6, 5] as const) {
  for (const compressor of ['none', 'lz4_block', 'gzip'] as const) {
    for (const digester of ['blake3', 'sha256'] as const) {
      test(`round trip v${version} ${compressor} ${digester}: random trees (3 seeds, 64 KiB and 4 KiB chunks), every chunk verified, tree identical`, { timeout: 120_000 }, async () => {
        for (const [seed, chunkSize] of [[1, 0x10000], [2, 0x1000], [7, 0x10000]] as const) {
          const t = randomTree(seed, chunkSize);
          const b = await buildMem(t, { version, compressor, digester, chunkSize });
          assert.ok(b.result.blobId);
          assert.equal(b.result.stats.chunksDedupedInBuild > 0, true, 'the random tree repeats chunks');
          // opened through the format registry (openImage), with the blob named by its id
          const fs = (await openImage(new BytesSource(b.boot, 'image.boot'), { blobs: [new BytesSource(b.blob, b.result.blobId!)] })) as RafsFs;
          assert.equal(fs.format, `rafs-v${version}`);
          assert.ok(version === 5 ? fs instanceof RafsV5 : fs instanceof RafsV6);
          assert.equal(fs.compressor, compressor);
          assert.equal(fs.digester, digester);
          await checkClean(fs);
          assert.deepEqual(await fs.verifyMetadata(), []);
          const ids = await verifyBlobIds(fs);
          assert.equal(ids.length, 1);
          assert.equal(ids[0]!.matches, version === 6 ? 'file-without-digest-array' : 'file', JSON.stringify(ids));
          assert.deepEqual(await diffTree(t, fs), []);
          if (compressor !== 'none') assert.ok(b.result.stats.chunksRaw > 0 && b.result.stats.chunksRaw < b.result.stats.chunksStored, 'random chunks stay raw, text chunks shrink');
        }
      });
    }
  }
}

const TARS = ['all-entry-type.tar', 'all-entry-type-macos.tar'];
for (const name of TARS) {
  test(`round trip of tests/texture/tar/${name} via treeFromTar: v5 and v6, all compressors and digesters`, async () => {
    const src = new BytesSource(nydusBytes(`${RAFS.TAR_DIR}/${name}`), name);
    for (const version of [6, 5] as const) {
      for (const compressor of ['none', 'lz4_block', 'gzip'] as const) {
        for (const digester of ['blake3', 'sha256'] as const) {
          const t = await treeFromTar(src);
          t.root.mtime = 0;
          t.root.mtimeNsec = 0;
          const b = await buildMem(t, { version, compressor, digester, chunkSize: 0x1000 });
          const fs = await openBuilt(b, b.result.blobId ? [{ id: b.result.blobId, bytes: b.blob }] : []);
          await checkClean(fs);
          // xattr names outside user./security./trusted./POSIX ACLs (the macOS tar's) are dropped with a note
          const diffs = await diffTree(t, fs);
          const dropped = diffs.filter((l) => / xattr (?!user\.|security\.|trusted\.)\S+ only in the first tree$/.test(l));
          assert.deepEqual(diffs.filter((l) => !dropped.includes(l)), [], `${name} v${version} ${compressor} ${digester}`);
          assert.equal(b.result.notes.some((n) => n.includes('dropped')), dropped.length > 0);
          if (name.includes('macos')) assert.ok(dropped.length > 0);
        }
      }
    }
  });
}

test('empty.tar and a tree of empty files build to a bootstrap without a blob', async () => {
  const t = await treeFromTar(new BytesSource(nydusBytes(`${RAFS.TAR_DIR}/empty.tar`), 'empty.tar'));
  for (const version of [6, 5] as const) {
    for (const tr of [t, tree(dir([['a', file(new Uint8Array(0))], ['d', dir([])]]))]) {
      const b = await buildMem(tr, { version });
      assert.equal(b.result.blobId, null);
      assert.equal(b.blob.length, 0);
      assert.deepEqual(b.result.blobIds, []);
      const fs = await openBuilt(b, []);
      await checkClean(fs);
      assert.deepEqual(await diffTree(tr, fs), []);
    }
  }
});

test('chunk sizes: 16 MiB and 4 KiB limits accepted, others refused; defaults are nydus-image 2.4\'s (v6, zstd, blake3, 1 MiB)', async () => {
  const data = new Uint8Array(20 << 20);
  for (let i = 0; i < data.length; i += 4096) data[i] = i / 4096;
  const t = tree(dir([['big', file(data)], ['small', file(new TextEncoder().encode('x'))]]));
  for (const version of [6, 5] as const) {
    const b = await buildMem(t, { version, chunkSize: 16 << 20, compressor: 'lz4_block' });
    const fs = await openBuilt(b, [{ id: b.result.blobId!, bytes: b.blob }]);
    assert.equal(fs.chunkSize, 16 << 20);
    await checkClean(fs);
    assert.deepEqual(await diffTree(t, fs), []);
  }
  for (const chunkSize of [0x800, 0x3000, 32 << 20]) {
    await assert.rejects(buildMem(t, { chunkSize }), UnsupportedError);
  }
  const d = await buildMem(t, {});
  const fs = await openBuilt(d, [{ id: d.result.blobId!, bytes: d.blob }]);
  assert.deepEqual([fs.format, fs.compressor, fs.digester, fs.chunkSize], ['rafs-v6', 'zstd', 'blake3', 1 << 20]);
  await checkClean(fs);
  await assert.rejects(buildMem(t, { compressor: 'brotli' as 'zstd' }), UnsupportedError);
});

// ---------------------------------------------------------------------------------------------
// reproducing nydus-image output

const BLOB_ID = RAFS.BLOB_PLAIN.split('/').pop()!;
for (const [bootName, digester] of [[RAFS.V5, 'sha256'], [RAFS.V5_BLAKE3, 'blake3']] as const) {
  test(`rebuilding the tree of ${bootName.split('/').pop()} reproduces its data blob ${BLOB_ID.slice(0, 6)}… and its bootstrap byte for byte`, async () => {
    const boot = nydusBytes(bootName);
    const blob = nydusBytes(RAFS.BLOB_PLAIN);
    const fs = await openRafs(new BytesSource(boot, bootName), { blobs: [new BytesSource(blob, BLOB_ID)] });
    assert.equal(fs.compressor, 'none'); // despite the name (§6.1)
    const t = await treeFromImage(fs);
    // nydus-image --repeatable: no EXPLICIT_UID_GID, sha256/blake3, no compression, 1 MiB chunks
    const b = await buildMem(t, { version: 5, compressor: 'none', digester, chunkSize: 1 << 20, explicitUidGid: false });
    assert.equal(b.result.blobId, BLOB_ID);
    assert.equal(hex(sha256(b.blob)), BLOB_ID);
    assert.ok(Buffer.from(b.blob).equals(Buffer.from(blob)), 'data blob identical');
    // No byte differs: records in index order, dir sizes/nlink/blocks synthetic, root mtime 0,
    // s_inodes_count = entries that are not regular-file hardlinks (51 of 54 here).
    const diffs: number[] = [];
    for (let i = 0; i < Math.max(boot.length, b.boot.length); i++) if (boot[i] !== b.boot[i]) diffs.push(i);
    assert.equal(b.boot.length, boot.length);
    assert.deepEqual(diffs, []);
  });
}

test('v6 blob tail has the nydus-image 2.2 section structure (compared with the be7d77… fixture)', async () => {
  const fixture = new BytesSource(nydusBytes(RAFS.V6_BLOB), 'be7d77');
  const want = await tarSections(fixture);
  // our tar headers are byte-identical to nydus-image's for the same name and size
  for (const s of want) assert.ok(Buffer.from(sectionTarHeader(s.name, s.size)).equals(Buffer.from(await fixture.read(s.headerOffset, 512))), s.name);
  const b = await buildMem(randomTree(5, 0x10000, { files: 10 }), { version: 6, compressor: 'lz4_block' });
  const ours = await tarSections(new BytesSource(b.blob, 'ours'));
  assert.deepEqual(ours.map((s) => s.name), want.map((s) => s.name));
  const fs = await openBuilt(b, [{ id: b.result.blobId!, bytes: b.blob }]);
  const blobEntry = fs.blobs[0]!;
  assert.equal(blobEntry.features, 0x7000_0021);
  const toc = await readToc(new BytesSource(b.blob, 'ours'), blobEntry);
  assert.equal(toc?.digestMatches, true);
  assert.deepEqual(toc!.entries.map((e) => e.name), ['image.blob', 'blob.meta', 'blob.meta.header', 'blob.digest']);
  // blob id = SHA-256 of everything but the digest array (§5.12), so ≠ SHA-256 of the file
  assert.notEqual(hex(sha256(b.blob)), b.result.blobId);
  const dg = toc!.entries.find((e) => e.name === 'blob.digest')!;
  const without = Buffer.concat([b.blob.subarray(0, dg.compressedOffset), b.blob.subarray(dg.compressedOffset + dg.compressedSize)]);
  assert.equal(hex(sha256(without)), b.result.blobId);
});

// ---------------------------------------------------------------------------------------------
// oracles: fsck.erofs, liblz4

test('v6, no compression, aligned chunks: fsck.erofs --device=BLOB --extract reproduces the tree', { timeout: 120_000 }, async () => {
  for (const seed of [3, 4]) {
    const t = randomTree(seed, 0x10000);
    // fsck.erofs 1.5 does not restore xattrs or hardlinks, and its chown after chmod clears set-uid
    const b = await buildMem(t, { version: 6, compressor: 'none', chunkSize: 0x10000, alignedChunk: true });
    const d = tempDir('ls-rafs-fsck-');
    writeFileSync(join(d, 'boot'), b.boot);
    writeFileSync(join(d, 'blob'), b.blob);
    execFileSync('fsck.erofs', [`--device=${join(d, 'blob')}`, `--extract=${join(d, 'out')}`, join(d, 'boot')]);
    const diffs = compareSnapshots(await snapshotFs(treeFs(t)), snapshotDisk(join(d, 'out')), { xattrs: false, hardlinks: false })
      .filter((l) => !/mode 10[46]7?[0-7]{2,3} != 100/.test(l));
    assert.deepEqual(diffs, []);
    // and the same image read by us
    await checkClean(await openBuilt(b, [{ id: b.result.blobId!, bytes: b.blob }]));
  }
});

const LZ4_PY = String.raw`
import sys, ctypes, struct
lib = ctypes.CDLL('liblz4.so.1')
data = sys.stdin.buffer.read()
pos = 0; bad = 0; n = 0
while pos < len(data):
    a, b = struct.unpack_from('<II', data, pos); pos += 8
    src = data[pos:pos + a]; pos += a
    want = data[pos:pos + b]; pos += b
    dst = ctypes.create_string_buffer(max(b, 1))
    r = lib.LZ4_decompress_safe(src, dst, a, b)
    n += 1
    if r != b or dst.raw[:b] != want: bad += 1
print(n, bad)
`;

test('every lz4 block we write (chunks and the CI array) decodes with liblz4 at exact capacity', { timeout: 120_000 }, async () => {
  const t = randomTree(9, 0x4000, { files: 60 });
  const b = await buildMem(t, { version: 6, compressor: 'lz4_block', chunkSize: 0x4000 });
  const fs = await openBuilt(b, [{ id: b.result.blobId!, bytes: b.blob }]);
  const parts: Buffer[] = [];
  let blocks = 0;
  const seen = new Set<number>();
  for (const n of fs.blobs) assert.equal(n.ciCompressor, 'lz4_block');
  const walkAll = async (ino: number): Promise<void> => {
    for (const e of await fs.readdir(ino)) {
      if (e.type === 'dir') await walkAll(e.ino);
      if (e.type !== 'reg') continue;
      const a = await fs.getattr(e.ino);
      for (const [i, c] of (await fs.fileChunks(e.ino)).entries()) {
        if (!c.compressed || seen.has(c.compressedOffset)) continue;
        seen.add(c.compressedOffset);
        const head = Buffer.alloc(8);
        head.writeUInt32LE(c.compressedSize, 0);
        head.writeUInt32LE(c.uncompressedSize, 4);
        parts.push(head, Buffer.from(b.blob.subarray(c.compressedOffset, c.compressedOffset + c.compressedSize)), Buffer.from(await fs.read(e.ino, i * fs.chunkSize, c.uncompressedSize)));
        blocks++;
        assert.ok(a.size > 0);
      }
    }
  };
  await walkAll(fs.rootIno);
  const be = fs.blobs[0]!;
  const head = Buffer.alloc(8);
  head.writeUInt32LE(be.ciCompressedSize!, 0);
  head.writeUInt32LE(be.ciUncompressedSize!, 4);
  const { readBlobMeta } = await import('../src/lib/rafs/blob.ts');
  const meta = await readBlobMeta(new BytesSource(b.blob, 'x'), be);
  parts.push(head, Buffer.from(b.blob.subarray(be.ciOffset!, be.ciOffset! + be.ciCompressedSize!)), Buffer.from(meta.ci.subarray(0, be.ciUncompressedSize!)));
  blocks++;
  assert.ok(blocks > 20, `${blocks} blocks`);
  const out = execFileSync('python3', ['-c', LZ4_PY], { input: Buffer.concat(parts) }).toString().trim().split(' ').map(Number);
  assert.deepEqual(out, [blocks, 0]);
});

// ---------------------------------------------------------------------------------------------
// options

test('chunk dictionary: chunks found in the dictionary are referenced in its blob, which joins the blob table', async () => {
  for (const version of [6, 5] as const) {
    const enc = new TextEncoder();
    const common = enc.encode('shared content '.repeat(5000));
    const dictTree = tree(dir([['lib.so', file(common)]]));
    const d = await buildMem(dictTree, { version, chunkSize: 0x1000 });
    const dictFs = await openBuilt(d, [{ id: d.result.blobId!, bytes: d.blob }]);
    const t = tree(dir([['copy.so', file(common)], ['new.txt', file(enc.encode('only here '.repeat(900)))]]));
    const b = await buildMem(t, { version, chunkSize: 0x1000, chunkDict: dictFs });
    assert.ok(b.result.stats.chunksFromOtherBlobs > 0);
    assert.deepEqual(b.result.blobIds, [d.result.blobId, b.result.blobId]);
    const fs = await openBuilt(b, [{ id: d.result.blobId!, bytes: d.blob }, { id: b.result.blobId!, bytes: b.blob }]);
    await checkClean(fs);
    assert.deepEqual(await diffTree(t, fs), []);
    const copy = await fs.lookup(fs.rootIno, enc.encode('copy.so'));
    assert.ok((await fs.fileChunks(copy!.ino)).every((c) => c.blobIndex === 0));
    // a build without the dictionary stores those chunks itself
    const alone = await buildMem(t, { version, chunkSize: 0x1000 });
    assert.ok(alone.blob.length > b.blob.length);
  }
});

test('prefetch list: table holds the listed inodes, their files lead the blob', async () => {
  const enc = new TextEncoder();
  const t = tree(dir([
    ['a', file(enc.encode('A'.repeat(5000)))],
    ['etc', dir([['conf', file(enc.encode('C'.repeat(3000)))], ['sub', dir([['deep', file(enc.encode('D'.repeat(100)))]])]])],
    ['z', file(enc.encode('Z'.repeat(70)))],
    ['ln', symlink('z')],
  ]));
  for (const version of [6, 5] as const) {
    const b = await buildMem(t, { version, compressor: 'none', prefetch: ['/z', '/etc', '/etc/conf', '/missing'] });
    assert.ok(b.result.notes.some((n) => n.includes('/missing')));
    const fs = await openBuilt(b, [{ id: b.result.blobId!, bytes: b.blob }]);
    const z = (await fs.lookup(fs.rootIno, enc.encode('z')))!;
    const etc = (await fs.lookup(fs.rootIno, enc.encode('etc')))!;
    assert.deepEqual(fs.prefetchInos(), [z.ino, etc.ino]);
    // dump order: /z, then /etc's files (index order: conf, then sub/deep), then the rest (/a)
    const off = async (ino: number) => (await fs.fileChunks(ino))[0]!.compressedOffset;
    const conf = (await fs.lookup(etc.ino, enc.encode('conf')))!;
    const a = (await fs.lookup(fs.rootIno, enc.encode('a')))!;
    assert.equal(await off(z.ino), 0);
    assert.ok((await off(conf.ino)) < (await off(a.ino)));
    await checkClean(fs);
  }
});

test('progress reports files/bytes/total and an aborted build rejects with the reason', async () => {
  const t = randomTree(11, 0x10000);
  const seen: BuildProgress[] = [];
  const b = await buildMem(t, { onProgress: (p) => seen.push(p) });
  const last = seen[seen.length - 1]!;
  assert.equal(last.bytes, last.total);
  assert.equal(last.files, b.result.stats.files);
  assert.ok(seen.length > 2);
  const ac = new AbortController();
  const reason = new Error('stop');
  let calls = 0;
  await assert.rejects(buildMem(t, { onProgress: () => { if (++calls === 2) ac.abort(reason); }, signal: ac.signal }), (e) => e === reason);
});

test('the v6 bootstrap is a plain EROFS image to dump.erofs (superblock and root listing)', () => {
  // covered further by fsck.erofs above; here only that dump.erofs accepts the device table
  const d = tempDir('ls-rafs-dump-');
  mkdirSync(d, { recursive: true });
  return (async () => {
    const t = tree(dir([['hello', file(new TextEncoder().encode('hi'))]]));
    const b = await buildMem(t, { version: 6, compressor: 'none', alignedChunk: true });
    writeFileSync(join(d, 'boot'), b.boot);
    writeFileSync(join(d, 'blob'), b.blob);
    const r = spawnSync('dump.erofs', [`--device=${join(d, 'blob')}`, '--ls', '--path=/', join(d, 'boot')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /hello/);
  })();
});

test('node glue: buildRafsToFiles writes the bootstrap and names the blob by its id in the blob dir', async () => {
  const { buildRafsToFiles } = await import('../src/lib/rafs/builder/node.ts');
  const { readdirSync } = await import('node:fs');
  const d = tempDir('ls-rafs-files-');
  const t = randomTree(21, 0x10000, { files: 8 });
  const r = await buildRafsToFiles(t, { chunkSize: 0x10000 }, join(d, 'image.boot'), d);
  assert.deepEqual(readdirSync(d).sort(), [r.blobId!, 'image.boot'].sort());
  const fs = await openRafs(new BytesSource(new Uint8Array(readFileSync(join(d, 'image.boot'))), 'image.boot'), { blobs: [new BytesSource(new Uint8Array(readFileSync(r.blobPath!)), r.blobPath!)] });
  await checkClean(fs);
  assert.deepEqual(await diffTree(t, fs), []);
});
