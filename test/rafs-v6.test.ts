import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { tempDir } from './helpers/paths.ts';
import { nydusBytes, nydusExpected, nydusFixture, nydusSource, RAFS } from './helpers/nydus.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { FormatError, isTypedError } from '../src/lib/errors.ts';
import { readAll, resolvePath, walk } from '../src/lib/fs/path.ts';
import { bytes } from '../src/lib/fs/types.ts';
import { RafsV6 } from '../src/lib/rafs/v6.ts';
import { openRafs, openRafsBlob } from '../src/lib/rafs/index.ts';
import { findInlineBootstrap, readToc, tarSections, ciEntry } from '../src/lib/rafs/blob.ts';
import { imageStats } from '../src/lib/app/stats.ts';
import type { RafsFs } from '../src/lib/rafs/model.ts';
import { assertSubset } from './helpers/subset.ts';
import { hex } from '../src/lib/bytes.ts';

const EXPECTED = nydusExpected();
const { V6: BOOT22, V6_BLOB: BLOB22, V6_DEV: DEV22, TOC_BLOB: TOCBLOB, TOC_BOOT: TOCBOOT, TOC_DEV: TOCDEV } = RAFS;
const file = nydusBytes;
const src = nydusSource;

async function checkAgainstExpected(fs: RafsFs, exp: Record<string, unknown>): Promise<void> {
  const info = await fs.info();
  assert.equal(info.format, 'rafs-v6');
  assert.equal(info.version, exp.version);
  assert.equal(info.size, exp.size);
  assertSubset(info.superblock, exp.superblock, 'superblock');
  assertSubset(info.ext_superblock, exp.ext_superblock, 'ext_superblock');
  assertSubset(info.devices, exp.devices, 'devices');
  assertSubset(info.blobs, exp.blobs, 'blobs');
  assert.deepEqual(info.chunk_table, exp.chunk_table);
  assert.deepEqual(info.prefetch, exp.prefetch);
  const stats = await imageStats(fs, fs.source);
  assertSubset(stats.counts, exp.counts, 'counts');
  const entries = exp.entries as Record<string, unknown>[];
  assert.equal(stats.entries, entries.length);
  for (const e of entries) {
    const path = e.path as string;
    const attr = await resolvePath(fs, path);
    assert.equal(attr.ino, e.nid, `${path}: nid`);
    assert.equal(attr.type, e.type);
    for (const k of ['size', 'nlink', 'uid', 'gid', 'mtime'] as const) assert.equal(attr[k], e[k], `${path}: ${k}`);
    assert.equal(attr.mtimeNsec, e.mtime_nsec);
    const d = await fs.inodeDetails(attr.ino);
    assertSubset(d, e, path);
    assert.deepEqual(d.paths, [path]);
  }
}

test('v6 rafs-v6-2.2.boot matches EXPECTED.json field for field', async () => {
  const fs = await RafsV6.open(src(BOOT22), { blobs: [src(BLOB22)] });
  await checkAgainstExpected(fs, EXPECTED[BOOT22]!);
  assert.deepEqual(await fs.verifyMetadata(), []);
});

test('v6 bootstrap extracted from the ToC blob matches EXPECTED.json field for field', async () => {
  const fs = await RafsV6.open(src(TOCBOOT), { blobs: [src(TOCDEV)] });
  await checkAgainstExpected(fs, EXPECTED[TOCBOOT]!);
  assert.deepEqual(await fs.verifyMetadata(), []);
});

/** The blob's uncompressed address space built from our own chunk reads (what nydusd caches as .blob.data). */
async function buildDevice(fs: RafsFs, blobIndex: number): Promise<Uint8Array> {
  const dev = new Uint8Array(fs.blobs[blobIndex]!.uncompressedSize!);
  for await (const e of walk(fs)) {
    if (e.attr.type !== 'reg') continue;
    for (const c of await fs.fileChunks(e.attr.ino)) if (c.blobIndex === blobIndex) dev.set(await fs.store.readChunk(c), c.uncompressedOffset);
  }
  return dev;
}

const haveFsck = spawnSync('fsck.erofs', ['-V']).status !== null;

function fsckExtract(boot: string, device: string): Map<string, Uint8Array> {
  const out = join(tempDir('rafs-fsck-'), 'x');
  const r = spawnSync('fsck.erofs', [`--device=${device}`, `--extract=${out}`, boot], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const files = new Map<string, Uint8Array>();
  for (const n of readdirSync(out)) files.set(n, new Uint8Array(readFileSync(join(out, n))));
  return files;
}

test('v6 rafs-v6-2.2.boot with its zstd blob: files identical to fsck.erofs --extract over the derived device', { skip: !haveFsck && 'fsck.erofs not installed' }, async () => {
  const fs = await RafsV6.open(src(BOOT22), { blobs: [src(BLOB22)] });
  assert.equal(fs.store.bindings[0]!.matchedBy, 'name');
  const ref = fsckExtract(nydusFixture(BOOT22), nydusFixture(DEV22));
  assert.deepEqual([...ref.keys()].sort(), ['lib.rs', 'sync_io.rs']);
  for (const [name, want] of ref) {
    const a = await resolvePath(fs, `/${name}`);
    assert.deepEqual(await readAll(fs, a.ino), want, name);
  }
  // our decompression reproduces the derived device byte for byte, and fsck.erofs accepts ours too
  const dev = await buildDevice(fs, 0);
  assert.deepEqual(dev, file(DEV22));
  const dir = tempDir('rafs-dev-');
  writeFileSync(join(dir, 'dev'), dev);
  const again = fsckExtract(nydusFixture(BOOT22), join(dir, 'dev'));
  for (const [name, want] of ref) assert.deepEqual(again.get(name), want);
});

test('v6: an uncompressed .blob.data cache file is accepted as the blob (EROFS extra device)', async () => {
  const fs = await RafsV6.open(src(BOOT22), { blobs: [src(DEV22)] });
  assert.equal(fs.store.bindings[0]!.kind, 'cache');
  const a = await resolvePath(fs, '/sync_io.rs');
  const d = await readAll(fs, a.ino);
  assert.equal(d.length, 13400);
  assert.equal(createHash('md5').update(d).digest('hex'), '5442bc7dc9dc5f985c7594e23866ae6f');
});

test('v6 data blob be7d77: ToC, blob meta (CI v1), digest array and tar sections decode and agree with the chunk table', async () => {
  const blob = src(BLOB22);
  const fs = await RafsV6.open(src(BOOT22), { blobs: [blob] });
  const { meta, toc, digests } = await fs.store.blobDetails(0);
  assert.ok(toc && meta && digests);
  assert.equal(toc.digestMatches, true);
  assert.deepEqual(toc.entries.map((e) => e.name), ['image.blob', 'blob.meta', 'blob.meta.header', 'blob.digest']);
  assert.equal(meta.version, 1);
  assert.equal(meta.entryCount, 2);
  assert.equal(digests.offset, 12954);
  const sections = await tarSections(blob);
  assert.deepEqual(sections.map((s) => s.name), ['image.blob', 'blob.meta', 'blob.digest', 'rafs.blob.toc']);
  const table = (await fs.info()).chunk_table as Record<string, number | string>[];
  for (const row of table) {
    const e = ciEntry(meta, row.index as number);
    assert.equal(e.compressedOffset, row.compressed_offset);
    assert.equal(e.compressedSize, row.compressed_size);
    assert.equal(e.uncompressedOffset, row.uncompressed_offset);
    assert.equal(e.uncompressedSize, row.uncompressed_size);
    assert.equal(e.compressed, true);
    const i = row.index as number;
    assert.equal(hex(digests.bytes.subarray(i * 32, i * 32 + 32)), row.block_id);
  }
  // a wrong blob_toc_digest is noticed
  const bad = { ...fs.blobs[0]!, blobTocDigest: new Uint8Array(32).fill(1) };
  assert.equal((await readToc(blob, bad))?.digestMatches, false);
});

test('v6: the ToC blob opens alone and yields its 20480-byte bootstrap', async () => {
  const blob = src(TOCBLOB);
  const inline = await findInlineBootstrap(blob);
  assert.ok(inline);
  assert.equal(inline.via, 'toc');
  assert.equal(inline.bytes.length, 20480);
  assert.deepEqual(inline.bytes, file(TOCBOOT));
  assert.equal(inline.toc!.offset, 9010);
  assert.equal(inline.toc!.size, 1024);
  assert.equal(hex(inline.toc!.digest), '4fdfbb36ef74a3c63a28e2abafa54044c7594155beb6ddad9f36825cfe58286c');
  const fs = await openRafs(blob);
  assert.equal(fs.format, 'rafs-v6');
  const info = await fs.info();
  assert.equal((info.inline_bootstrap as Record<string, unknown>).size, 20480);
  assert.equal(fs.store.bindings[0]!.matchedBy, 'container');
  await checkAgainstExpected(fs, EXPECTED[TOCBOOT]!);
  // its files equal what fsck.erofs extracts from the derived bootstrap + device
  if (haveFsck) {
    const ref = fsckExtract(nydusFixture(TOCBOOT), nydusFixture(TOCDEV));
    assert.equal(ref.size, 3);
    for (const [name, want] of ref) assert.deepEqual(await readAll(fs, (await resolvePath(fs, `/${name}`)).ino), want, name);
  }
  // without a ToC-bearing tail it is refused with a typed error
  await assert.rejects(openRafsBlob(src(BLOB22)), (e: unknown) => e instanceof FormatError);
});

test('v6: no chunk table → chunks come from the blob CI array and digest array', async () => {
  const boot = file(BOOT22);
  // zero the ext superblock's chunk table size: the reader must fall back to the blob meta
  const v = new DataView(boot.buffer);
  v.setUint32(1152 + 32, 0, true);
  v.setUint32(1152 + 36, 0, true);
  const fs = await RafsV6.open(new BytesSource(boot, 'no-chunk-table'), { blobs: [src(BLOB22)] });
  for (const name of ['lib.rs', 'sync_io.rs']) {
    const a = await resolvePath(fs, `/${name}`);
    const [c] = await fs.fileChunks(a.ino);
    assert.notEqual(hex(c!.digest), '0'.repeat(64));
    assert.ok((await readAll(fs, a.ino)).length === a.size);
  }
  // and without the blob there is nothing to resolve chunks with: a typed error, metadata still browsable
  const bare = await RafsV6.open(new BytesSource(boot, 'no-chunk-table'));
  const a = await resolvePath(bare, '/lib.rs');
  await assert.rejects(bare.fileChunks(a.ino), (e: unknown) => isTypedError(e));
  assert.match(String((await bare.inodeDetails(a.ino)).chunks_error), /not supplied/);
});

test('v6: readdir, lookup, statfs, xattrs, readlink on the fixtures', async () => {
  const fs = await RafsV6.open(src(BOOT22), { blobs: [src(BLOB22)] });
  const list = await fs.readdir(fs.rootIno);
  assert.deepEqual(list.map((e) => [new TextDecoder().decode(e.name), e.ino, e.type]), [['lib.rs', 133, 'reg'], ['sync_io.rs', 136, 'reg']]);
  assert.deepEqual(await fs.readdir(fs.rootIno, list[0]!.next), [list[1]]);
  assert.equal(await fs.lookup(fs.rootIno, bytes('..')), null);
  assert.equal(await fs.lookup(fs.rootIno, bytes('lib.rt')), null);
  // f_blocks includes the blob device's 9 blocks, as the kernel reports it (checked by test/kernel-fixtures.test.ts)
  assert.deepEqual(await fs.statfs(), { blockSize: 4096, blocks: 18, files: 3, nameMax: 255 });
  assert.deepEqual(await fs.listxattr(133), []);
  await assert.rejects(fs.readlink(133), (e: unknown) => isTypedError(e));
});

/** Build a RAFS v6-looking image from scratch to reach what the fixtures lack: xattrs, symlinks, hardlinks, devices. */
test('v6: xattrs, symlinks, hardlinks (all paths) and device nodes in a hand-made bootstrap', async () => {
  const boot = file(BOOT22).slice();
  const v = new DataView(boot.buffer);
  const meta = 8192;
  // reuse the 2.2 layout: root nid 128 at 12288 with an inline dir; rewrite it
  const put = (nid: number, fmt: number, mode: number, size: number, iu: number, nlink: number, icount = 0) => {
    const at = meta + nid * 32;
    boot.fill(0, at, at + 64);
    v.setUint16(at, fmt, true);
    v.setUint16(at + 2, icount, true);
    v.setUint16(at + 4, mode, true);
    v.setBigUint64(at + 8, BigInt(size), true);
    v.setUint32(at + 16, iu, true);
    v.setUint32(at + 24, 7, true);
    v.setUint32(at + 28, 8, true);
    v.setUint32(at + 44, nlink, true);
    return at + 64;
  };
  const names = ['.', '..', 'a', 'b', 'dev', 'link'];
  const nids = [128, 128, 140, 140, 144, 146];
  const types = [2, 2, 1, 1, 3, 7];
  const dirSize = names.length * 12 + names.join('').length;
  const tail = put(128, 5, 0o40755, dirSize, 0, 2);
  let nameoff = names.length * 12;
  names.forEach((n, i) => {
    v.setBigUint64(tail + i * 12, BigInt(nids[i]!), true);
    v.setUint16(tail + i * 12 + 8, nameoff, true);
    boot[tail + i * 12 + 10] = types[i]!;
    boot.set(bytes(n), tail + nameoff);
    nameoff += n.length;
  });
  // nid 140: a regular file with xattrs {user.a: [1], trusted.b: [2]} and one chunk (sync_io.rs's)
  const x = put(140, 9, 0o100644, 13400, 0x28, 2, 5);
  boot.fill(0, x, x + 28);
  boot.set([1, 1, 1, 0, 0x61, 1], x + 12); // e_name_len 1, index 1 (user.), value 1 byte: "a" = [1]
  boot.set([1, 4, 1, 0, 0x62, 2], x + 20); // trusted.b = [2]
  const ci = Math.ceil((x + 28) / 8) * 8;
  boot.set([1, 0, 1, 0, 5, 0, 0, 0], ci);
  put(144, 1, 0o20644, 0, 0x0103, 1); // chr 1:3
  const l = put(146, 5, 0o120777, 6, 0, 1);
  boot.set(bytes('target'), l);
  const fs = await RafsV6.open(new BytesSource(boot, 'handmade'), { blobs: [src(BLOB22)] });
  assert.deepEqual((await fs.listxattr(140)).map((n) => new TextDecoder().decode(n)), ['user.a', 'trusted.b']);
  assert.deepEqual(await fs.getxattr(140, bytes('trusted.b')), new Uint8Array([2]));
  assert.equal(await fs.getxattr(140, bytes('user.b')), null);
  assert.equal(new TextDecoder().decode(await fs.readlink(146)), 'target');
  const dev = await fs.getattr(144);
  assert.equal(dev.type, 'chr');
  assert.equal(dev.rdev, 0x0103);
  assert.deepEqual((await fs.pathsOf(140)).map((p) => p.map((c) => new TextDecoder().decode(c)).join('/')), ['a', 'b']);
  const d = await fs.inodeDetails(140);
  assert.deepEqual(d.paths, ['/a', '/b']);
  assert.equal(createHash('md5').update(await readAll(fs, 140)).digest('hex'), '5442bc7dc9dc5f985c7594e23866ae6f');
});

test('v6: flipped bytes and truncations give typed errors or a readable image, never a crash or hang', { timeout: 300_000 }, async () => {
  const good = file(BOOT22);
  const blob = src(BLOB22);
  const live: number[] = [];
  for (let i = 1024; i < 1024 + 128 + 256 + 128; i++) live.push(i);
  for (let i = 4096; i < 4096 + 256; i += 3) live.push(i);
  for (let i = 12288; i < 12800; i++) live.push(i);
  for (let i = 16384; i < 16384 + 160; i += 2) live.push(i);
  const run = async (b: Uint8Array) => {
    try {
      const fs = await RafsV6.open(new BytesSource(b, 'fuzz'), { blobs: [blob] });
      await fs.info();
      for await (const e of walk(fs)) {
        await fs.inodeDetails(e.attr.ino);
        await fs.listxattr(e.attr.ino);
        if (e.attr.type === 'reg') await fs.read(e.attr.ino, 0, 64);
        if (e.attr.type === 'symlink') await fs.readlink(e.attr.ino);
      }
      await fs.verifyMetadata();
    } catch (e) {
      if (!isTypedError(e)) throw e;
    }
  };
  for (const at of live) {
    for (const x of [0xff, 0x01]) {
      const b = good.slice();
      b[at]! ^= x;
      await run(b);
    }
  }
  for (const len of [0, 1100, 4096, 8192, 12288, 16384]) await run(good.slice(0, len));
});

test('v6: a damaged ToC blob tail gives typed errors', async () => {
  const good = file(TOCBLOB);
  for (const at of [9010 + 60, 9010 + 100, good.length - 512 + 130, good.length - 512 + 150, 7997 + 10, 3389]) {
    const b = good.slice();
    b[at]! ^= 0xff;
    try {
      const fs = await openRafs(new BytesSource(b, TOCBLOB));
      for await (const e of walk(fs)) if (e.attr.type === 'reg') await readAll(fs, e.attr.ino);
    } catch (e) {
      assert.ok(isTypedError(e), String(e));
    }
  }
});
