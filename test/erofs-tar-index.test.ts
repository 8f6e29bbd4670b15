// EROFS in tar index mode (`layerscope build --format erofs --tar=i LAYER.tar OUT`, as mkfs.erofs
// --tar=i): metadata only, file data read from the tar as device 1. Built from the erofs-modern
// fixture's tree.tar, whose tar-index.erofs (mkfs.erofs 1.9.3 --tar=i) comes with the 6.18 kernel's
// manifest of its mount: our image must give that same manifest when this machine's kernel mounts it
// with the tar on a loop device, and when our reader extracts it with the tar as --device. Also
// `convert IMAGE --to erofs --per-layer` over a umoci image: each layer's image mounts over its tar
// and shows what the layer's tar holds (tar -x).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openErofs } from '../src/lib/erofs/reader.ts';
import { NodeFileSource } from '../src/lib/io/node.ts';
import { decodeStruct } from '../src/lib/struct.ts';
import { erofs_deviceslot, erofs_super_block, EROFS_FEATURE_INCOMPAT_CHUNKED_FILE, EROFS_FEATURE_INCOMPAT_DEVICE_TABLE } from '../src/lib/erofs/structs.ts';
import { FIXTURES, REPO, tempDir } from './helpers/paths.ts';
import { compareSnapshots, snapshotDisk } from './helpers/treecompare.ts';
import { appendLayer, makeTar, missingTools, newImage, repack, sh, unpackRootfs } from './helpers/oci.ts';

const DIR = join(FIXTURES, 'erofs-modern');
const TAR = join(DIR, 'tree.tar');
const KERNEL_MANIFEST = join(DIR, 'tar-index.erofs.manifest.jsonl');
const CLI = join(REPO, 'bin/layerscope.mjs');
const skipFixture = !existsSync(TAR) || !existsSync(KERNEL_MANIFEST) ? `no fixture ${TAR}` : spawnSync('python3', ['-V']).status !== 0 ? 'no python3 (manifest.py, compare.py)' : false;
const work = tempDir('ls-tar-index-');
const image = join(work, 'tree.erofs');

function cli(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** manifest.py of DIR compared with the kernel's manifest of mkfs.erofs 1.9.3's --tar=i image (compare.py) */
function compareWithMkfs(dir: string): string {
  const m = spawnSync('python3', [join(DIR, 'manifest.py'), dir], { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(m.status, 0, m.stderr);
  const mine = join(work, `m-${Math.random().toString(36).slice(2)}.jsonl`);
  writeFileSync(mine, m.stdout);
  const c = spawnSync('python3', [join(DIR, 'compare.py'), KERNEL_MANIFEST, mine], { encoding: 'utf8' });
  return `${c.stdout}${c.stderr}`;
}

/** losetup the tar, mount IMAGE with it as device 1, run `f` on the mount point; null = skipped (reason given) */
function withMount<T>(img: string, tar: string, f: (mnt: string) => T): T | string {
  if (process.getuid?.() !== 0) return 'mounting needs root';
  const loop = spawnSync('losetup', ['-f', '--show', '--read-only', tar], { encoding: 'utf8' });
  if (loop.status !== 0) return `losetup refused: ${loop.stderr.trim()}`;
  const dev = loop.stdout.trim();
  const mnt = join(work, `mnt-${Math.random().toString(36).slice(2)}`);
  mkdirSync(mnt);
  try {
    const m = spawnSync('mount', ['-t', 'erofs', '-o', `ro,device=${dev}`, img, mnt], { encoding: 'utf8' });
    if (m.status !== 0) return `mount -t erofs refused: ${m.stderr.trim()}`;
    try {
      return f(mnt);
    } finally {
      spawnSync('umount', [mnt]);
    }
  } finally {
    spawnSync('losetup', ['-d', dev]);
  }
}

test('build --tar=i: superblock and device slot as mkfs.erofs --tar=i writes them', { skip: skipFixture }, () => {
  const r = cli(['build', '--format', 'erofs', '--tar=i', TAR, image, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  const b = readFileSync(image);
  const sb = decodeStruct(erofs_super_block, b, 1024);
  assert.equal(sb.blkszbits, 9, '512-byte blocks');
  assert.equal(sb.extra_devices, 1);
  assert.ok(sb.feature_incompat & EROFS_FEATURE_INCOMPAT_DEVICE_TABLE, 'DEVICE_TABLE');
  assert.equal(sb.feature_incompat & EROFS_FEATURE_INCOMPAT_CHUNKED_FILE, 0, 'no CHUNKED_FILE, as mkfs.erofs --tar=i');
  assert.equal(sb.blocks * 512, b.length);
  const slot = decodeStruct(erofs_deviceslot, b, sb.devt_slotoff * 128);
  assert.equal(slot.blocks, readFileSync(TAR).length / 512, 'device blocks = the tar in 512-byte blocks');
  assert.equal(slot.mapped_blkaddr, sb.blocks, 'uniaddr right after the primary device');
  // metadata only: far smaller than the tar (the fixture's own tar-index.erofs is 55296 bytes)
  assert.ok(b.length < readFileSync(TAR).length / 10, `${b.length} bytes`);
  assert.equal(j.size, b.length);
});

test('our reader, with the tar as --device, extracts what the kernel shows of mkfs.erofs\'s --tar=i image', { skip: skipFixture }, async () => {
  if (!existsSync(image)) assert.equal(cli(['build', '--format', 'erofs', '--tar=i', TAR, image]).status, 0);
  const dest = join(work, 'x');
  const r = cli(['extract', image, dest, '--device', TAR]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(compareWithMkfs(join(dest, 'tree')), / 0 differ/);
  // without the device its files have no data to read: the image holds none
  const fs = await openErofs(await NodeFileSource.open(image));
  try {
    let ino = fs.rootIno;
    for (const c of ['tree', 'bin', 'tool']) {
      const a = await fs.lookup(ino, Buffer.from(c));
      assert.ok(a, c);
      ino = a.ino;
    }
    await assert.rejects(fs.read(ino, 0, 20), /extra device 1 of 1 was not supplied/);
  } finally {
    await fs.close();
  }
});

test('the kernel mounts our --tar=i image with the tar on a loop device and shows what it shows of mkfs.erofs\'s', { skip: skipFixture }, (t) => {
  if (!existsSync(image)) assert.equal(cli(['build', '--format', 'erofs', '--tar=i', TAR, image]).status, 0);
  const r = withMount(image, TAR, (mnt) => compareWithMkfs(join(mnt, 'tree')));
  if (!/ differ/.test(r)) return t.skip(r);
  assert.match(r, / 0 differ/);
});

test('build --tar=i refuses what it cannot index', { skip: skipFixture }, () => {
  const gz = join(work, 'l.tar.gz');
  execFileSync('sh', ['-c', `gzip -c < '${TAR}' > '${gz}'`]);
  const a = cli(['build', '--format', 'erofs', '--tar=i', gz, join(work, 'gz.erofs')]);
  assert.notEqual(a.status, 0);
  const b = cli(['build', '--format', 'erofs', '--tar=f', TAR, join(work, 'f.erofs')]);
  assert.notEqual(b.status, 0);
  assert.match(b.stderr, /--tar=i/);
  const c = cli(['build', '--format', 'erofs', '--tar=i', '-z', 'lz4', TAR, join(work, 'z.erofs')]);
  assert.notEqual(c.status, 0);
  assert.match(c.stderr, /conflicts with -z/);
});

const skipOci = missingTools();
let layout = '';
test('convert --to erofs --per-layer: each layer\'s image mounts over its tar and shows tar -x of it', { skip: skipOci ?? false }, (t) => {
  layout = join(work, 'img');
  newImage(layout, 't');
  repack(layout, 't', work, (r) => sh(`
    mkdir -p etc usr/bin; printf hello > etc/a; head -c 9000 /dev/urandom > usr/bin/big; ln etc/a etc/a2
    ln -s ../etc/a usr/bin/l; setfattr -n user.k -v v etc/a; mkfifo usr/fifo; chown 7:8 usr/bin/big
  `, r), 'one');
  repack(layout, 't', work, (r) => sh('printf again > etc/a; rm usr/bin/l; mkdir -p var; printf 1 > var/one', r), 'two');
  appendLayer(layout, 't', makeTar([{ name: 'opt/', type: 'dir' }, { name: 'opt/x', size: 5000 }, { name: 'etc/.wh.a2', text: '' },
    { name: 'usr/', type: 'dir', mtime: 1650000000 }, { name: 'usr/.wh..wh..opq', text: '' }, { name: 'usr/only', text: 'only' }]), 'gzip', 'three');
  const out = join(work, 'per-layer');
  const r = cli(['convert', layout, '--to', 'erofs', '--per-layer', out, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.layers.length, 3);
  for (const l of j.layers) {
    const x = join(work, `tarx-${l.index}`);
    mkdirSync(x);
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '--same-owner', '-p', '-xf', l.tar, '-C', x]);
    const want = snapshotDisk(x);
    const seen = withMount(l.erofs, l.tar, (mnt) => snapshotDisk(mnt));
    if (typeof seen === 'string') return t.skip(seen);
    // directories the tar has no entry for (umoci lists only what changed): tar -x gives them the
    // time of extraction, the tree builder mtime 0 (mkfs.erofs would copy the parent's); the root
    // likewise when the tar has no "./" entry
    const listed = new Set(execFileSync('tar', ['-tf', l.tar], { encoding: 'utf8' }).split('\n').map((n) => '/' + n.replace(/^\.?\/?/, '').replace(/\/$/, '')));
    const diffs = compareSnapshots(want, seen).filter((d) => {
      const m = /^(\/[^:]*): mtime /.exec(d);
      return !(d.startsWith('/:') || (m && !listed.has(m[1]!)));
    });
    assert.deepEqual(diffs, [], `layer ${l.index}`);
    assert.ok(want.entries.size > 2, `layer ${l.index}: ${want.entries.size} entries`);
  }
});

test('convert --per-layer --aufs: the layer images stacked by overlayfs show umoci unpack\'s rootfs', { skip: skipOci ?? false }, (t) => {
  if (!layout) return t.skip('the per-layer test made no image');
  if (process.getuid?.() !== 0) return t.skip('mounting needs root');
  const want = snapshotDisk(unpackRootfs(layout, 't', join(work, 'ref')));
  const out = join(work, 'per-layer-aufs');
  const r = cli(['convert', layout, '--to', 'erofs', '--per-layer', '--aufs', out, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const layers = JSON.parse(r.stdout).layers as { tar: string; erofs: string }[];
  const loops: string[] = [];
  const mnts: string[] = [];
  const top = join(work, 'stack');
  mkdirSync(top);
  try {
    for (const [i, l] of layers.entries()) {
      const loop = spawnSync('losetup', ['-f', '--show', '--read-only', l.tar], { encoding: 'utf8' });
      if (loop.status !== 0) return t.skip(`losetup refused: ${loop.stderr.trim()}`);
      loops.push(loop.stdout.trim());
      const mnt = join(work, `aufs-${i}`);
      mkdirSync(mnt);
      const m = spawnSync('mount', ['-t', 'erofs', '-o', `ro,device=${loops[i]}`, l.erofs, mnt], { encoding: 'utf8' });
      if (m.status !== 0) return t.skip(`mount -t erofs refused: ${m.stderr.trim()}`);
      mnts.push(mnt);
    }
    const o = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${[...mnts].reverse().join(':')}`, top], { encoding: 'utf8' });
    if (o.status !== 0) return t.skip(`overlayfs refused: ${o.stderr.trim()}`);
    try {
      const seen = snapshotDisk(top);
      assert.ok(!seen.entries.has(Buffer.from('usr/bin').toString('hex')), 'the opaque usr/ hides usr/bin');
      assert.ok(seen.entries.has(Buffer.from('usr/only').toString('hex')));
      // overlayfs takes a directory's attributes from the highest layer holding it, and a layer's
      // tar may only imply a directory (umoci lists changed paths): those attributes are the tar
      // reader's there, umoci keeps the lower layer's. And overlayfs reports a lower file's own
      // link count: etc/a is linked to etc/a2 in layer 2, whited out in layer 3, so it shows 2
      // where umoci's rootfs has 1. Everything else must agree exactly.
      const diffs = compareSnapshots(want, seen).filter((d) => {
        if (d === '/etc/a: nlink 1 != 2') return false;
        const m = /^(\/[^:]*): (mtime|mode|uid|gid) /.exec(d);
        return !(m && want.entries.get(Buffer.from(m[1]!.slice(1)).toString('hex'))?.type === 'dir');
      });
      assert.deepEqual(diffs, []);
    } finally {
      spawnSync('umount', [top]);
    }
  } finally {
    for (const m of mnts) spawnSync('umount', [m]);
    for (const l of loops) spawnSync('losetup', ['-d', l]);
  }
});
