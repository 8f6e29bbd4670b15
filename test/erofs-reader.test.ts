// Focused reader behaviours on real mkfs.erofs 1.5 images: random access cost, readdir cookies,
// lookup, superblock validation, extra devices, xattr prefix indexes, registry, structure views.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32cRaw } from '../src/lib/codec/crc32c.ts';
import { FormatError, IoError, UnsupportedError } from '../src/lib/errors.ts';
import { openErofs, type ErofsFs } from '../src/lib/erofs/reader.ts';
import { probeErofs } from '../src/lib/erofs/register.ts';
import { EROFS_MAGIC, erofs_inode_compact, erofs_inode_extended } from '../src/lib/erofs/structs.ts';
import '../src/lib/formats.ts';
import { readAll, readdirAll, resolvePath } from '../src/lib/fs/path.ts';
import { bytes, compareBytes, utf8 } from '../src/lib/fs/types.ts';
import { BytesSource, type ByteSource } from '../src/lib/io/source.ts';
import { openImage } from '../src/lib/open.ts';
import { buildErofsImages, fixErofsSuperblockChecksum, prng, randomBytes } from './helpers/mktree.ts';
import { tempDir } from './helpers/paths.ts';

const work = tempDir('ls-erofs-reader-');
const images = new Map(buildErofsImages(work, { only: ['default', 'extended', 'noinline', 'chunk4k', 'chunk64k', 'blob', 'lz4', 'lz4hc12-bigpcl', 'lz4hc-ztail', 'lz4-legacy'] }).map((i) => [i.name, i]));
const img = (name: string) => images.get(name)!;
const load = (name: string) => new Uint8Array(readFileSync(img(name).image));

/** counts what the reader pulls from the underlying source */
class CountingSource implements ByteSource {
  bytesRead = 0;
  reads = 0;
  readonly size: number;
  readonly name = 'counting';
  constructor(private readonly inner: ByteSource) {
    this.size = inner.size;
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    this.bytesRead += length;
    this.reads++;
    return this.inner.read(offset, length);
  }
}

async function openBytes(b: Uint8Array, devices: ByteSource[] = []): Promise<ErofsFs> {
  return openErofs(new BytesSource(b), { devices });
}

test('reading one small file of a large image reads only the blocks it needs', async () => {
  const dir = join(work, 'big');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  const rnd = prng(99);
  for (let i = 0; i < 12; i++) writeFileSync(join(dir, `blob${i}`), randomBytes(rnd, 4 << 20));
  for (let i = 0; i < 200; i++) writeFileSync(join(dir, 'sub', `f${i}`), `file ${i}\n`.repeat(i + 1));
  for (const [name, args] of [['big-plain', []], ['big-lz4', ['-zlz4']]] as const) {
    const image = join(work, `${name}.erofs`);
    execFileSync('mkfs.erofs', ['--quiet', ...args, image, dir], { stdio: 'ignore' });
    const buf = new Uint8Array(readFileSync(image));
    assert.ok(buf.length > 48 << 20);
    const counting = new CountingSource(new BytesSource(buf));
    const fs = await openErofs(counting);
    const a = await resolvePath(fs, '/sub/f150');
    const data = await readAll(fs, a.ino);
    assert.equal(utf8(data), 'file 150\n'.repeat(151));
    // superblock block + a few inode/dirent/data blocks, each a 64 KiB cache block at most
    console.log(`# ${name}: one small file cost ${counting.bytesRead} bytes in ${counting.reads} reads of a ${buf.length}-byte image`);
    assert.ok(counting.bytesRead <= 8 * 64 * 1024, `${name}: read ${counting.bytesRead} bytes of ${buf.length}`);
    // a 4 MiB file of the same image costs about its own size
    const before = counting.bytesRead;
    const big = await resolvePath(fs, '/blob7');
    assert.equal((await readAll(fs, big.ino)).length, 4 << 20);
    assert.ok(counting.bytesRead - before < (4 << 20) + 8 * 64 * 1024, `${name}: whole-file read cost ${counting.bytesRead - before}`);
  }
});

test('readdir cookies resume exactly; lookup finds every name and nothing else', async () => {
  const fs = await openBytes(load('default'));
  const many = await resolvePath(fs, '/many');
  const all = await readdirAll(fs, many.ino);
  const onDisk = readdirSync(join(img('default').src, 'many')).sort((x, y) => compareBytes(bytes(x), bytes(y)));
  assert.deepEqual(all.map((e) => utf8(e.name)), onDisk);
  assert.ok((await fs.inodeDetails(many.ino) as { size: number }).size > 3 * 4096, 'many/ spans 4 blocks');
  // small batches, resumed from each batch's last cookie
  const pieces: string[] = [];
  let cookie = 0;
  for (let guard = 0; guard < 1000; guard++) {
    const batch = await fs.readdir(many.ino, cookie, 7);
    if (!batch.length) break;
    assert.ok(batch.length <= 7);
    for (const e of batch) pieces.push(utf8(e.name));
    assert.ok(batch[batch.length - 1]!.next > cookie);
    cookie = batch[batch.length - 1]!.next;
  }
  assert.deepEqual(pieces, onDisk);
  // resuming from any entry's cookie gives the rest
  for (const k of [0, 1, 100, 200, all.length - 2]) {
    const rest = await fs.readdir(many.ino, all[k]!.next);
    assert.deepEqual(rest.map((e) => utf8(e.name)), onDisk.slice(k + 1));
  }
  for (const e of all) {
    const a = await fs.lookup(many.ino, e.name);
    assert.equal(a?.ino, e.ino, utf8(e.name));
    assert.equal(a?.type, e.type);
  }
  for (const miss of ['', '!', '!f000', 'f0', 'f999', 'zzz', 'f100-entry-with-a-longer-nam', 'f100-entry-with-a-longer-namez']) {
    assert.equal(await fs.lookup(many.ino, bytes(miss)), null, miss);
  }
  assert.equal((await fs.lookup(many.ino, bytes('..')))?.ino, fs.rootIno);
  assert.equal((await fs.lookup(fs.rootIno, bytes('.')))?.ino, fs.rootIno);
  // "!"-names sort before "." and ".." but are still returned
  assert.ok(utf8(all[0]!.name).startsWith('!'));
});

test('superblock: checksum mismatch, bad magic and unknown incompat bits are refused', async () => {
  const good = load('default');
  await openBytes(good);
  const flipped = good.slice();
  flipped[1024 + 16] ^= 1; // inos, covered by the checksum
  await assert.rejects(openBytes(flipped), (e: unknown) => e instanceof FormatError && e.structure === 'erofs.superblock' && e.offset === 1028 && /checksum/.test(e.detail));
  fixErofsSuperblockChecksum(flipped);
  await openBytes(flipped);
  const magic = good.slice();
  magic[1024] = 0;
  await assert.rejects(openBytes(magic), (e: unknown) => e instanceof FormatError && e.offset === 1024);
  const incompat = good.slice();
  new DataView(incompat.buffer).setUint32(1024 + 80, 0x200, true); // newer than erofs-utils 1.9.3
  fixErofsSuperblockChecksum(incompat);
  await assert.rejects(openBytes(incompat), (e: unknown) => e instanceof UnsupportedError && /0x200/.test(e.message));
  await assert.rejects(openBytes(good.slice(0, 1100)), FormatError);
  // crc32c raw form over blocksize - 1024 bytes, checksum field zeroed (spec §2.3)
  const area = good.slice(1024, 4096);
  const stored = new DataView(area.buffer).getUint32(4, true);
  area.fill(0, 4, 8);
  assert.equal(crc32cRaw(0xffffffff, area), stored);
  const info = await (await openBytes(good)).info();
  assert.deepEqual(info.checksum, { present: true, value: stored, verified: true });
});

test('chunk indexes on an extra device: missing device is an IoError, supplied device reads', async () => {
  const b = load('blob');
  const blob = new Uint8Array(readFileSync(img('blob').blob!));
  const without = await openBytes(b);
  const info = await without.info();
  assert.deepEqual((info.devices as { id: number; supplied: boolean }[]).map((d) => [d.id, d.supplied]), [[1, false]]);
  const t = await resolvePath(without, '/t4097');
  await assert.rejects(without.read(t.ino, 0, 10), IoError);
  const withDev = await openBytes(b, [new BytesSource(blob)]);
  const data = await readAll(withDev, t.ino);
  assert.deepEqual(data, new Uint8Array(readFileSync(join(img('blob').src, 't4097'))));
  const d = (await withDev.inodeDetails(t.ino)) as { data: { kind: string; indexes: boolean; chunks: { device: number }[] } };
  assert.equal(d.data.kind, 'chunks');
  assert.equal(d.data.indexes, true);
  assert.ok(d.data.chunks.every((c) => c.device === 1));
  // a blob cut short: the chunk beyond its end is a FormatError naming the chunk index
  const short = await openBytes(b, [new BytesSource(blob.slice(0, 4096))]);
  await assert.rejects(readAll(short, (await resolvePath(short, '/r1048577')).ino), (e: unknown) => e instanceof FormatError && e.structure === 'erofs.chunk_index');
});

test('xattr prefix table: every short index names its prefix', async () => {
  const good = load('extended');
  const fs = await openBytes(good);
  const t0 = await resolvePath(fs, '/t0');
  assert.deepEqual(utf8((await fs.getxattr(t0.ino, bytes('user.comment')))!), 'empty file');
  const acl = await resolvePath(fs, '/t4096');
  assert.ok((await fs.listxattr(acl.ino)).some((n) => utf8(n) === 'system.posix_acl_access'));
  const dflt = await resolvePath(fs, '/d1/d2');
  assert.ok((await fs.listxattr(dflt.ino)).some((n) => utf8(n) === 'system.posix_acl_default'));
  const sec = await resolvePath(fs, '/t4095');
  assert.ok((await fs.listxattr(sec.ino)).some((n) => utf8(n) === 'security.selinux'));
  const shared = (await fs.inodeDetails((await resolvePath(fs, '/t1')).ino)) as { xattr: { shared: { name: string }[] } };
  assert.deepEqual(shared.xattr.shared.map((s) => s.name), ['user.shared']);
  // rewrite the index byte of t0's inline "user.comment" entry to every other index
  const d = (await fs.inodeDetails(t0.ino)) as { xattr: { inline: { offset: number; name: string }[] } };
  const at = d.xattr.inline.find((x) => x.name === 'user.comment')!.offset;
  const want = ['comment', 'user.comment', 'system.posix_acl_accesscomment', 'system.posix_acl_defaultcomment', 'trusted.comment', 'lustre.comment', 'security.comment'];
  for (let index = 0; index < want.length; index++) {
    const b = good.slice();
    b[at + 1] = index;
    const names = (await (await openBytes(b)).listxattr(t0.ino)).map(utf8);
    assert.deepEqual(names, [want[index]]);
  }
  const bad = good.slice();
  bad[at + 1] = 9;
  await assert.rejects((await openBytes(bad)).listxattr(t0.ino), (e: unknown) => e instanceof FormatError && e.offset === at + 1);
});

test('openImage detects EROFS by magic; describe helpers give absolute offsets', async () => {
  const b = load('lz4hc12-bigpcl');
  assert.equal(probeErofs(b.subarray(0, 8192)), true);
  assert.equal(probeErofs(new Uint8Array(8192)), false);
  const fs = (await openImage(new BytesSource(b))) as ErofsFs;
  assert.equal(fs.format, 'erofs');
  const sbf = fs.describeSuperblock();
  assert.deepEqual(sbf.find((f) => f.name === 'magic'), { name: 'magic', offset: 1024, size: 4, kind: 'u32', value: EROFS_MAGIC, note: '0xE0F5E1E2' });
  assert.equal(sbf.find((f) => f.name === 'root_nid')!.offset, 1038);
  assert.equal(sbf.find((f) => f.name === 'root_nid')!.value, fs.rootIno);
  const info = await fs.info();
  assert.deepEqual(info.features, ['sb_csum', 'mtime', '0padding', 'big_pcluster']);
  assert.deepEqual(info.compression, { algorithms: ['lz4'], lz4MaxDistance: 65535, lz4MaxPclusterBlks: 16 });
  const big = await resolvePath(fs, '/t1048577');
  const det = (await fs.inodeDetails(big.ino)) as { offset: number; version: string; layoutName: string; data: { extents: { compressedSize: number }[] } };
  assert.equal(det.layoutName, 'COMPRESSED_COMPACT');
  assert.ok(det.data.extents.some((e) => e.compressedSize > 4096), 'big pclusters');
  const fields = await fs.describeInode(big.ino);
  const def = det.version === 'extended' ? erofs_inode_extended : erofs_inode_compact;
  assert.equal(fields.length, def.fields.length);
  assert.equal(fields.find((f) => f.name === 'i_size')!.value, 1048577);
  assert.equal(fields.find((f) => f.name === 'i_format')!.offset, det.offset);
  const structs = await fs.describeInodeStructs(big.ino);
  assert.deepEqual(structs.map((s) => s.struct), [def.name, 'erofs.z_map_header']);
  assert.equal(structs[1]!.fields.find((f) => f.name === 'h_advise')!.value, 0x7);
});

test('reads at random offsets and lengths match the source (partial extents, tails, chunk runs)', async () => {
  const rnd = prng(4242);
  for (const name of ['default', 'noinline', 'chunk4k', 'chunk64k', 'blob', 'lz4', 'lz4hc12-bigpcl', 'lz4hc-ztail', 'lz4-legacy']) {
    const devices = img(name).blob ? [new BytesSource(new Uint8Array(readFileSync(img(name).blob!)))] : [];
    const fs = await openBytes(load(name), devices);
    for (const path of ['t1048577', 'r1048577', 'mixed', 't100000', 't4097', 'zeros', 'd1/d2/d3/deep.txt']) {
      const want = new Uint8Array(readFileSync(join(img(name).src, path)));
      const a = await resolvePath(fs, '/' + path);
      for (let k = 0; k < 40; k++) {
        const off = Math.floor(rnd() * (want.length + 10));
        const len = Math.floor(rnd() * (k % 4 === 0 ? 200000 : 9000));
        const got = await fs.read(a.ino, off, len);
        const exp = want.subarray(Math.min(off, want.length), Math.min(off + len, want.length));
        assert.ok(Buffer.from(got).equals(Buffer.from(exp)), `${name} ${path} read(${off}, ${len}): ${got.length} bytes`);
      }
    }
  }
});
