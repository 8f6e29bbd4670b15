// `layerscope convert IMAGE --to composefs OUT --digest-store DIR --composefs-rs`: the tree
// composefs-rs builds of an OCI image (lib/oci/composefs.ts) as a composefs image. The reference is
// umoci unpack's rootfs of the same image with composefs-rs' documented changes applied by hand here
// (root attributes from /usr, /run emptied with /usr's mtime, mtimes in whole seconds, entries of a
// layer applied in tar order so a whiteout also hides what its own layer wrote before it). Read
// back through our composefs reader and the object store, and mounted by this machine's kernel
// (EROFS, then overlayfs with the object store as a data-only lower layer). The printed id is
// checked against `fsverity digest` (fsverity-utils) of the written image.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import '../src/lib/formats.ts';
import { NodeFileSource } from '../src/lib/io/node.ts';
import { openImage } from '../src/lib/open.ts';
import { compareSnapshots, snapshotDisk, snapshotFs, type SnapEntry, type Snapshot } from './helpers/treecompare.ts';
import { appendLayer, makeTar, makeTestImage, missingTools, unpackRootfs } from './helpers/oci.ts';
import { REPO, tempDir } from './helpers/paths.ts';
import { composefsRsImage } from '../src/lib/oci/composefs-rs-erofs.ts';
import { fsverityDigest } from '../src/lib/codec/fsverity.ts';
import { newDir, type SourceInode } from '../src/lib/fs/tree.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { hex } from '../src/lib/bytes.ts';

const skip = missingTools();
const CLI = join(REPO, 'bin/layerscope.mjs');
const hexName = (s: string): string => Buffer.from(s).toString('hex');
const key = (...comps: string[]): string => hexName(comps.join('/'));

function cli(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** layer 5: /run with content, a directory whose opaque marker follows one of its own files, a file whited out by a later entry of the same tar */
const LAYER5 = [
  { name: 'run/', type: 'dir' as const },
  { name: 'run/cache/', type: 'dir' as const },
  { name: 'run/cache/x', text: 'cache' },
  { name: 'opq/', type: 'dir' as const, mode: 0o750, mtime: 1600000001 },
  { name: 'opq/early', text: 'written before the opaque marker' },
  { name: 'opq/.wh..wh..opq', text: '' },
  { name: 'opq/late', text: 'late' },
  { name: 'etc/gone-soon', text: 'g' },
  { name: 'etc/.wh.gone-soon', text: '' },
];

/** umoci unpack's rootfs of layers 1-4, with layer 5 and composefs-rs' rules applied by hand */
function expected(ref: Snapshot): Snapshot {
  const entries = new Map<string, SnapEntry>();
  for (const [k, e] of ref.entries) entries.set(k, { ...e, mtimeNs: (e.mtimeNs / 1_000_000_000n) * 1_000_000_000n });
  const usr = entries.get(key('usr'))!;
  const dir = (mode: number, mtime: number): SnapEntry => ({ type: 'dir', mode: 0o040000 | mode, uid: 0, gid: 0, nlink: 2, size: 0, mtimeNs: BigInt(mtime) * 1_000_000_000n, rdev: '', xattrs: {} });
  // /run: emptied, /usr's mtime
  entries.set(key('run'), dir(0o755, Number(usr.mtimeNs / 1_000_000_000n)));
  // /opq: the opaque marker removed `early`, which came before it in the same tar
  entries.set(key('opq'), dir(0o750, 1600000001));
  entries.set(key('opq', 'late'), {
    type: 'reg', mode: 0o100644, uid: 0, gid: 0, nlink: 1, size: 4, mtimeNs: 1700000000n * 1_000_000_000n, rdev: '', xattrs: {},
    sha256: createHash('sha256').update('late').digest('hex'),
  });
  const root = entries.get('')!;
  entries.set('', { ...root, mode: usr.mode, uid: usr.uid, gid: usr.gid, mtimeNs: usr.mtimeNs, xattrs: usr.xattrs, nlink: root.nlink + 2 });
  return { entries, links: ref.links };
}

test('composefs-rs layout: the two image digests composefs-rs pins (crates/composefs/tests/mkfs.rs test_erofs_digest_stability)', async () => {
  const te = (s: string) => Buffer.from(s);
  const leaf = (type: SourceInode['type'], extra: Partial<SourceInode> = {}): SourceInode => ({ type, perm: 0, uid: 0, gid: 0, mtime: 0, mtimeNsec: 0, size: 0, rdev: 0, xattrs: [], ...extra });
  const digestOf = async (root: SourceInode) => hex(await fsverityDigest(await composefsRsImage({ root, notes: [] })));
  assert.equal(await digestOf(newDir(0o755)), '086b702a519b57d6ef5aea6f8b3f2be24355cd1fb835cd80fb4e3d388b24d5a5');
  const root = newDir(0o755);
  root.children = [
    { name: te('fifo'), inode: leaf('fifo') },
    { name: te('regular-inline'), inode: leaf('reg', { size: 4, content: new BytesSource(te('hihi'), 'hihi') }) },
    { name: te('regular-external'), inode: leaf('reg', { size: 1234, fsverityDigest: new Uint8Array(32).fill(0x5a) }) },
    { name: te('chrdev'), inode: leaf('chr', { rdev: 123 }) },
    { name: te('blkdev'), inode: leaf('blk', { rdev: 123 }) },
    { name: te('socket'), inode: leaf('sock') },
    { name: te('symlink'), inode: leaf('symlink', { target: te('/target'), size: 7 }) },
  ];
  assert.equal(await digestOf(root), 'a8fcd41f8b313bede69f462f2af0a38d64b99a6333f5df884ea9ab4037fac722');
});

describe('convert --to composefs --composefs-rs', { skip: skip ?? false }, () => {
  const work = skip ? '' : tempDir('ls-oci-composefs-');
  let layout = '';
  let want: Snapshot;
  const out = () => join(work, 'cfs.img');
  const store = () => join(work, 'objects');
  let printed = '';
  before(() => {
    layout = makeTestImage(work);
    want = expected(snapshotDisk(unpackRootfs(layout, 't', join(work, 'ref'))));
    appendLayer(layout, 't', makeTar(LAYER5), 'none', 'layer five');
    const r = cli(['convert', layout, '--to', 'composefs', out(), '--digest-store', store(), '--composefs-rs']);
    assert.equal(r.status, 0, r.stderr);
    printed = r.stdout;
  });
  after(() => {
    rmSync(work, { recursive: true, force: true });
  });

  test('the printed image id is fsverity digest of the image written in composefs-rs\' layout', () => {
    const m = /^image id ([0-9a-f]{64}) \((.*)\)$/m.exec(printed);
    assert.ok(m, printed);
    assert.match(m[2]!, /composefs-rs' own EROFS layout/);
    // composefs header version 1, composefs_version 2 (mkcomposefs 1.0.8 writes 0 and 1 or 2 with a build time)
    const head = readFileSync(out()).subarray(0, 16);
    assert.deepEqual([...head], [0x9a, 0x62, 0x78, 0xd0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0]);
    const f = spawnSync('fsverity', ['digest', out()], { encoding: 'utf8' });
    if (f.status !== 0) return;
    assert.equal(f.stdout.trim().split(' ')[0], `sha256:${m[1]}`);
  });

  test('our composefs reader with the object store shows the composefs-rs tree', async () => {
    const opened: NodeFileSource[] = [];
    const open = async (p: string): Promise<NodeFileSource> => {
      const s = await NodeFileSource.open(p);
      opened.push(s);
      return s;
    };
    try {
      const fs = await openImage(await open(out()), { objectStore: async (p) => open(join(store(), p)).catch(() => null) });
      assert.equal(fs.format, 'composefs');
      assert.deepEqual(compareSnapshots(want, await snapshotFs(fs)), []);
    } finally {
      for (const s of opened) await s.close();
    }
  });

  test('the kernel mounts it (EROFS, overlayfs with the objects as data-only lower layer) and shows the same tree', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('mounting needs root');
    const meta = join(work, 'meta');
    const mnt = join(work, 'mnt');
    mkdirSync(meta);
    mkdirSync(mnt);
    const m = spawnSync('mount', ['-t', 'erofs', '-o', 'ro', out(), meta], { encoding: 'utf8' });
    if (m.status !== 0) return t.skip(`mount -t erofs refused: ${m.stderr.trim()}`);
    try {
      const o = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${meta}::${store()},metacopy=on,redirect_dir=on`, mnt], { encoding: 'utf8' });
      if (o.status !== 0) return t.skip(`overlayfs with a data-only lower layer refused: ${o.stderr.trim()}`);
      try {
        assert.deepEqual(compareSnapshots(want, snapshotDisk(mnt)), []);
      } finally {
        spawnSync('umount', [mnt]);
      }
    } finally {
      spawnSync('umount', [meta]);
    }
  });

  test('composefs-rs layout with dirent blocks, an inline tail and xattrs shared by 100 files of one content: the kernel and our reader agree', async (t) => {
    const lay = join(work, 'big');
    spawnSync('umoci', ['init', '--layout', lay]);
    spawnSync('umoci', ['new', '--image', `${lay}:t`]);
    const names = Array.from({ length: 300 }, (_, i) => `usr/share/a-rather-long-file-name-to-fill-dirent-blocks-${String(i).padStart(4, '0')}`);
    appendLayer(lay, 't', makeTar([
      { name: 'usr/', type: 'dir' }, { name: 'usr/share/', type: 'dir' },
      ...names.map((name, i) => ({ name, text: i % 3 ? `small ${i}` : 'big '.repeat(40) })),
    ]), 'none');
    const img = join(work, 'big.img');
    const objs = join(work, 'big-objects');
    const r = cli(['convert', lay, '--to', 'composefs', img, '--digest-store', objs, '--composefs-rs', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    const f = spawnSync('fsverity', ['digest', img], { encoding: 'utf8' });
    if (f.status === 0) assert.equal(f.stdout.split(' ')[0], `sha256:${j.imageId}`);
    // erofs-utils' fsck (composefs-rs' own test_fsck runs it on its images too)
    const fsck = spawnSync('fsck.erofs', [img], { encoding: 'utf8' });
    if (!fsck.error) assert.equal(fsck.status, 0, `fsck.erofs: ${fsck.stderr}`);
    const opened: NodeFileSource[] = [];
    const open = async (p: string): Promise<NodeFileSource> => {
      const s = await NodeFileSource.open(p);
      opened.push(s);
      return s;
    };
    let ours: Snapshot;
    try {
      ours = await snapshotFs(await openImage(await open(img), { objectStore: async (p) => open(join(objs, p)).catch(() => null) }));
    } finally {
      for (const s of opened) await s.close();
    }
    assert.equal(ours.entries.size, 303);
    if (process.getuid?.() !== 0) return t.skip('mounting needs root');
    const meta = join(work, 'big-meta');
    const mnt = join(work, 'big-mnt');
    mkdirSync(meta);
    mkdirSync(mnt);
    const m = spawnSync('mount', ['-t', 'erofs', '-o', 'ro', img, meta], { encoding: 'utf8' });
    if (m.status !== 0) return t.skip(`mount -t erofs refused: ${m.stderr.trim()}`);
    try {
      const o = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${meta}::${objs},metacopy=on,redirect_dir=on`, mnt], { encoding: 'utf8' });
      if (o.status !== 0) return t.skip(`overlayfs refused: ${o.stderr.trim()}`);
      try {
        assert.deepEqual(compareSnapshots(ours, snapshotDisk(mnt)), []);
      } finally {
        spawnSync('umount', [mnt]);
      }
    } finally {
      spawnSync('umount', [meta]);
    }
  });

  test('CFSCTL=path: cfsctl (composefs-rs) computes the same image id for a SHA-256 repository', (t) => {
    const cfsctl = process.env.CFSCTL;
    if (!cfsctl) return t.skip('set CFSCTL to a cfsctl binary built from containers/composefs-rs to compare with it');
    const m = /^image id ([0-9a-f]{64}) /m.exec(printed);
    assert.ok(m, printed);
    const repo = join(work, 'cfs-repo');
    const run = (args: string[]): string => {
      const r = spawnSync(cfsctl, args, { encoding: 'utf8' });
      assert.equal(r.status, 0, `cfsctl ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    run(['init', '--algorithm', 'fsverity-sha256-12', '--insecure', repo]);
    run(['--repo', repo, 'oci', 'pull', `oci:${layout}:t`, 't']);
    assert.equal(run(['--repo', repo, 'oci', 'compute-id', 't']).trim(), m[1]);
  });

  test('an image without /usr is refused (composefs-rs takes the root\'s attributes from it)', () => {
    const lay = join(work, 'nousr');
    spawnSync('umoci', ['init', '--layout', lay]);
    spawnSync('umoci', ['new', '--image', `${lay}:t`]);
    appendLayer(lay, 't', makeTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/x', text: 'x' }]), 'none');
    const r = cli(['convert', lay, '--to', 'composefs', join(work, 'nousr.img'), '--composefs-rs']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /no \/usr directory/);
    assert.equal(cli(['convert', lay, '--to', 'composefs', join(work, 'nousr2.img')]).status, 0, 'without --composefs-rs the merged tree builds');
  });

  test('a layer entry whose parent directory is in no layer is refused (composefs-rs makes no implicit directories)', () => {
    const lay = join(work, 'noparent');
    spawnSync('umoci', ['init', '--layout', lay]);
    spawnSync('umoci', ['new', '--image', `${lay}:t`]);
    appendLayer(lay, 't', makeTar([{ name: 'usr/', type: 'dir' }, { name: 'a/b/c', text: 'c' }]), 'none');
    const r = cli(['convert', lay, '--to', 'composefs', join(work, 'np.img'), '--composefs-rs']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /"\/a\/b\/c": its parent directory is not in the tree yet/);
  });
});
