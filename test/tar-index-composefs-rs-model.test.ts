// The tar index writer (--tar=i) and the composefs-rs writer on the shared EROFS model
// (erofs/writer-model.ts, writer-xattrs.ts), and the hooks the model grew for them: an on-disk
// order other than the collection's (assignBlocks), a prefix table other than libcomposefs'
// ("lustre." = index 5 in composefs-rs), a shared-table comparator and no per-inode cap, shared
// ids counted from byte 0. Checked through this machine's kernel (the tar index mounted with the
// tar on a loop device against `tar -x` of the same tar) and our reader.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { openErofs } from '../src/lib/erofs/reader.ts';
import { EROFS_XATTR_INDEX_LUSTRE, EROFS_XATTR_INDEX_USER } from '../src/lib/erofs/structs.ts';
import { prefixIndexer, xattrEntrySize, xattrFilterBit } from '../src/lib/erofs/writer-common.ts';
import { assignBlocks } from '../src/lib/erofs/writer-model.ts';
import { MemorySink } from '../src/lib/erofs/writer-output.ts';
import { buildTarIndex } from '../src/lib/erofs/writer-tar-index.ts';
import { planXattrs, sharedIdsAt } from '../src/lib/erofs/writer-xattrs.ts';
import { treeFromTar } from '../src/lib/fs/sources/tar.ts';
import type { SourceInode, SourceTree, Xattr } from '../src/lib/fs/tree.ts';
import { NodeFileSource } from '../src/lib/io/node.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { composefsRsImage } from '../src/lib/oci/composefs-rs-erofs.ts';
import { compareSnapshots, snapshotDisk } from './helpers/treecompare.ts';
import { tempDir } from './helpers/paths.ts';
import { diffTree, dir, file, symlink } from './rafs-build-helpers.ts';

const enc = new TextEncoder();
const x = (name: string, value: string): Xattr => ({ name: enc.encode(name), value: enc.encode(value) });
const LUSTRE_FIRST = prefixIndexer([EROFS_XATTR_INDEX_LUSTRE, EROFS_XATTR_INDEX_USER]);

test('a prefix table other than libcomposefs\': "lustre.lov" is index 5 + "lov", not index 0 + the full name', () => {
  const lov = x('lustre.lov', 'abc');
  assert.deepEqual(LUSTRE_FIRST(lov.name), { index: EROFS_XATTR_INDEX_LUSTRE, prefixLen: 7 });
  assert.equal(xattrEntrySize(lov, LUSTRE_FIRST), (4 + 3 + 3 + 3) & ~3);
  assert.equal(xattrEntrySize(lov), (4 + 10 + 3 + 3) & ~3);
  // the name filter hashes the stored suffix with seed + index: another bit (for this name)
  assert.notEqual(xattrFilterBit(lov, LUSTRE_FIRST), xattrFilterBit(lov));
});

test('planXattrs with a comparator, a prefix table and no cap: every shared pair a reference, table in the comparator\'s order', () => {
  const many = Array.from({ length: 130 }, (_, i) => x(`user.s${String(i).padStart(3, '0')}`, 'same'));
  const lists = [[...many, x('lustre.b', '1')], [...many, x('lustre.b', '1')], [x('lustre.a', '2')]];
  const byValueDesc = (a: Xattr, b: Xattr) => Buffer.compare(b.value, a.value) || Buffer.compare(a.name, b.name);
  const p = planXattrs(lists, { order: byValueDesc, maxShared: Infinity, indexer: LUSTRE_FIRST });
  assert.equal(p.sharedOffsets[0]!.length, 131, 'beyond the default cap of 128');
  assert.deepEqual(p.inline[0], []);
  assert.equal(new TextDecoder().decode(p.shared[0]!.name), 'user.s000');
  assert.equal(new TextDecoder().decode(p.shared.at(-1)!.name), 'lustre.b', 'value "1" sorts last in descending value order');
  assert.equal(p.sharedSize, 130 * xattrEntrySize(many[0]!, LUSTRE_FIRST) + xattrEntrySize(x('lustre.b', '1'), LUSTRE_FIRST));
  assert.equal(p.xsize[2], 12 + xattrEntrySize(x('lustre.a', '2'), LUSTRE_FIRST));
  assert.equal(p.indexer, LUSTRE_FIRST);
  // composefs-rs: xattr_blkaddr 0, so ids count from byte 0, not from the table's block
  assert.deepEqual(sharedIdsAt([0, 8], 4096 + 64, 4096, 0), [1040, 1042]);
  assert.deepEqual(sharedIdsAt([0, 8], 4096 + 64, 4096), [16, 18]);
});

test('assignBlocks in an on-disk order other than the node order', () => {
  const blkaddr = new Float64Array(4);
  const end = assignBlocks([1, 2, 0, 3], 10, blkaddr, undefined, [2, 3, 0, 1]);
  assert.deepEqual([...blkaddr], [13, 14, 0, 10]);
  assert.equal(end, 16);
});

/** composefs-rs: everything up to 64 bytes inline, so our EROFS reader sees the whole tree */
function cfsRsTree(): SourceTree {
  const shared = Array.from({ length: 130 }, (_, i) => x(`user.s${String(i).padStart(3, '0')}`, 'same'));
  const linked = file(enc.encode('linked'), 0o600, { xattrs: [x('lustre.lov', 'abc'), x('user.one', 'v')] });
  const big: [string, SourceInode][] = Array.from({ length: 300 }, (_, i) => [`entry-${String((i * 37) % 300).padStart(3, '0')}-${'n'.repeat(i % 40)}`, file(enc.encode(String(i)))]);
  const root = dir([
    ['b', dir([['p', file(new Uint8Array(0), 0o644, { xattrs: shared })], ['hl', linked]])],
    ['a', dir([['q', file(enc.encode('q'), 0o644, { xattrs: [...shared, x('lustre.lov', 'abc')] })], ['linked', linked]])],
    ['big', dir(big)],
    // composefs-rs stores mtimes in whole seconds
    ['l', { ...symlink('x'.repeat(1000)), mtimeNsec: 0 }],
  ]);
  return { root, notes: [] };
}

test('composefs-rs image: lustre. entries stored as index 5, 130 shared references on one inode, read back whole', async () => {
  const image = await composefsRsImage(cfsRsTree());
  const fs = await openErofs(new BytesSource(image, 'cfs-rs.img'));
  try {
    assert.deepEqual(await diffTree(cfsRsTree(), fs), []);
  } finally {
    await fs.close();
  }
  const has = (b: Uint8Array) => Buffer.from(image).includes(Buffer.from(b));
  // shared (two inodes): header name_len 3, index 5, value_size 3, then "lov" "abc"
  assert.ok(has(new Uint8Array([3, EROFS_XATTR_INDEX_LUSTRE, 3, 0, ...enc.encode('lovabc')])));
  assert.ok(!has(enc.encode('lustre.')), 'no full-name entry');
  // one xattr header with h_shared_count 130 (the inode of /b/p holds nothing else)
  const attr = await (async () => {
    const f = await openErofs(new BytesSource(image, 'cfs-rs.img'));
    try {
      const b = await f.lookup(f.rootIno, enc.encode('b'));
      return await f.lookup(b!.ino, enc.encode('p'));
    } finally {
      await f.close();
    }
  })();
  const at = attr!.ino * 32 + 64;
  assert.equal(image[at + 4], 130);
});

/** A tar in an order unlike name order: hardlinks across directories, a directory of many 512-byte blocks, long symlinks, xattrs, devices. */
const PY = String.raw`
import tarfile, io, sys
t = tarfile.open(fileobj=sys.stdout.buffer, mode='w|', format=tarfile.PAX_FORMAT)
def add(name, typ=tarfile.REGTYPE, data=b'', mode=0o644, uid=0, gid=0, mtime=1700000000, xattrs=None, link='', dev=(0, 0)):
    ti = tarfile.TarInfo(name); ti.type = typ; ti.mode = mode; ti.uid = uid; ti.gid = gid; ti.mtime = mtime
    if xattrs: ti.pax_headers = {'SCHILY.xattr.' + k: v for k, v in xattrs.items()}
    if typ == tarfile.REGTYPE: ti.size = len(data)
    if typ in (tarfile.SYMTYPE, tarfile.LNKTYPE): ti.linkname = link
    if typ in (tarfile.CHRTYPE, tarfile.BLKTYPE): ti.devmajor, ti.devminor = dev
    t.addfile(ti, io.BytesIO(data) if typ == tarfile.REGTYPE else None)
D = tarfile.DIRTYPE
add('.', D, mode=0o755)
add('zdir', D, mode=0o750, uid=1000, gid=1000, xattrs={'user.shared': 'v1'})
add('zdir/b', data=b'b' * 70, xattrs={'user.shared': 'v1', 'security.x': 'y'})
add('zdir/a', data=b'a' * 5000, mtime=1600000000)
add('adir', D, mtime=1600000000)
for sz in (0, 1, 511, 512, 513, 4097):
    add('adir/f%d' % sz, data=bytes((i * 7 + sz) % 251 for i in range(sz)))
add('adir/hl', tarfile.LNKTYPE, link='zdir/a')
add('ydir', D)
add('ydir/hl2', tarfile.LNKTYPE, link='adir/f513')
add('big', D)
for i in range(120):
    add('big/n%03d_%s' % ((i * 37) % 120, 'x' * (i % 40)), data=b'%d' % i, uid=i, gid=2 * i)
add('links', D)
add('links/long', tarfile.SYMTYPE, mode=0o777, link='L' * 600)
add('links/short', tarfile.SYMTYPE, mode=0o777, link='../zdir/b')
add('dev', D)
add('dev/null', tarfile.CHRTYPE, mode=0o666, dev=(1, 3))
add('dev/sda', tarfile.BLKTYPE, mode=0o660, dev=(8, 0))
add('dev/fifo', tarfile.FIFOTYPE)
t.close()
`;

test('tar index of a tar in non-name order: inodes depth first in the tar\'s order, read back whole, and the kernel shows tar -x of it', async (t) => {
  if (spawnSync('python3', ['-V']).status !== 0) return t.skip('no python3');
  const work = tempDir('ls-tar-index-model-');
  const tarPath = join(work, 'l.tar');
  writeFileSync(tarPath, execFileSync('python3', ['-c', PY], { maxBuffer: 1 << 26 }));
  const tar = await NodeFileSource.open(tarPath);
  try {
    await tarIndexChecks(t, work, tarPath, tar);
  } finally {
    await tar.close();
  }
});

async function tarIndexChecks(t: TestContext, work: string, tarPath: string, tar: NodeFileSource): Promise<void> {
  const fresh = () => treeFromTar(tar);
  const tree = await fresh();
  const sink = new MemorySink();
  const r = await buildTarIndex(tree, tar, sink);
  const image = sink.bytes();
  assert.equal(r.size, image.length);
  const imgPath = join(work, 'l.erofs');
  writeFileSync(imgPath, image);

  const fs = await openErofs(new BytesSource(image, 'l.erofs'), { devices: [tar] });
  try {
    assert.deepEqual(await diffTree(await fresh(), fs), []);
    // nids follow the first visit of each inode, depth first in the tar's (source) order
    const nids: number[] = [];
    const seen = new Set<SourceInode>();
    const walk = async (n: SourceInode, ino: number): Promise<void> => {
      if (seen.has(n)) return;
      seen.add(n);
      nids.push(ino);
      for (const c of n.children ?? []) {
        const a = await fs.lookup(ino, c.name);
        assert.ok(a);
        await walk(c.inode, a.ino);
      }
    };
    await walk(tree.root, fs.rootIno);
    assert.ok(nids.length > 130);
    for (let k = 1; k < nids.length; k++) assert.ok(nids[k]! > nids[k - 1]!, `inode ${k}: nid ${nids[k]} after ${nids[k - 1]}`);
    // and that order is not name order: zdir (first in the tar) before adir
    const zdir = await fs.lookup(fs.rootIno, enc.encode('zdir'));
    const adir = await fs.lookup(fs.rootIno, enc.encode('adir'));
    assert.ok(zdir!.ino < adir!.ino);
  } finally {
    await fs.close();
  }

  if (process.getuid?.() !== 0) return t.skip('mounting and tar -x of devices need root');
  const x = join(work, 'x');
  mkdirSync(x);
  execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '--same-owner', '-p', '-xf', tarPath, '-C', x]);
  const loop = spawnSync('losetup', ['-f', '--show', '--read-only', tarPath], { encoding: 'utf8' });
  if (loop.status !== 0) return t.skip(`losetup refused: ${loop.stderr.trim()}`);
  const dev = loop.stdout.trim();
  const mnt = join(work, 'mnt');
  mkdirSync(mnt);
  try {
    const m = spawnSync('mount', ['-t', 'erofs', '-o', `ro,device=${dev}`, imgPath, mnt], { encoding: 'utf8' });
    if (m.status !== 0) return t.skip(`mount -t erofs refused: ${m.stderr.trim()}`);
    try {
      // the root's mtime is tar -x's (it extracts into an existing directory)
      assert.deepEqual(compareSnapshots(snapshotDisk(x), snapshotDisk(mnt)).filter((d) => !d.startsWith('/: mtime')), []);
    } finally {
      spawnSync('umount', [mnt]);
    }
  } finally {
    spawnSync('losetup', ['-d', dev]);
  }
}
