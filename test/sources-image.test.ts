// treeFs (a SourceTree as a ReadOnlyFs) and treeFromImage (any ReadOnlyFs as a SourceTree):
// the ReadOnlyFs operations over a tree; tree → treeFs → treeFromImage is the identity; an EROFS
// image made by mkfs.erofs from a directory with every file type → treeFromImage → exportTar →
// GNU tar gives the directory back. Runs as root (mknod, chown, trusted.* xattrs).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FormatError, IoError, NotFoundError } from '../src/lib/errors.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { openImage } from '../src/lib/open.ts';
import '../src/lib/erofs/register.ts';
import { treeFromDirectory } from '../src/lib/fs/sources/node.ts';
import { treeFromImage } from '../src/lib/fs/sources/image.ts';
import { treeFs } from '../src/lib/fs/sources/treefs.ts';
import { readAll, readdirAll, resolvePath } from '../src/lib/fs/path.ts';
import { newDir, type SourceInode, type SourceTree } from '../src/lib/fs/tree.ts';
import { bytes, makedev } from '../src/lib/fs/types.ts';
import { exportTar } from '../src/lib/tar/writer.ts';
import { tempDir } from './helpers/paths.ts';
import { hexOf } from './helpers/hex.ts';

const enc = new TextEncoder();

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function reg(data: string, extra: Partial<SourceInode> = {}): SourceInode {
  const b = enc.encode(data);
  return { type: 'reg', perm: 0o644, uid: 0, gid: 0, mtime: 10, mtimeNsec: 5, size: b.length, rdev: 0, xattrs: [], content: new BytesSource(b), ...extra };
}

/** a small tree with every type, a hardlink, xattrs and a directory of 40 entries */
function sampleTree(): SourceTree {
  const root = newDir(0o755);
  const sub = newDir(0o700);
  const many = newDir();
  const shared = reg('shared content', { xattrs: [{ name: enc.encode('user.h'), value: enc.encode('hv') }] });
  for (let i = 0; i < 40; i++) many.children!.push({ name: enc.encode(`m${String(i).padStart(2, '0')}`), inode: reg(`m${i}`) });
  sub.children!.push(
    { name: enc.encode('inner'), inode: reg('inner', { uid: 1000, gid: 100, perm: 0o4755 }) },
    { name: enc.encode('again'), inode: shared, link: true },
  );
  root.children!.push(
    { name: enc.encode('file'), inode: shared },
    { name: enc.encode('sub'), inode: sub },
    { name: enc.encode('many'), inode: many },
    { name: enc.encode('link'), inode: { type: 'symlink', perm: 0o777, uid: 0, gid: 0, mtime: 1, mtimeNsec: 0, size: 4, rdev: 0, xattrs: [], target: enc.encode('file') } },
    { name: enc.encode('chr'), inode: { type: 'chr', perm: 0o600, uid: 0, gid: 0, mtime: 1, mtimeNsec: 0, size: 0, rdev: makedev(300, 70000), xattrs: [] } },
    { name: enc.encode('fifo'), inode: { type: 'fifo', perm: 0o644, uid: 0, gid: 0, mtime: -5, mtimeNsec: 7, size: 0, rdev: 0, xattrs: [] } },
    { name: Uint8Array.of(0xff, 0xfe), inode: reg('not utf-8') },
  );
  root.xattrs.push({ name: enc.encode('trusted.root'), value: new Uint8Array(0) });
  return { root, notes: ['sample'] };
}

/** paths → fields, and hardlink identity as the first path of each inode */
function flatten(t: SourceTree): unknown[] {
  const out: unknown[] = [];
  const first = new Map<SourceInode, string>();
  const go = (n: SourceInode, p: string) => {
    if (!first.has(n)) first.set(n, p);
    out.push([p, first.get(n), n.type, n.perm, n.uid, n.gid, n.mtime, n.mtimeNsec, n.size, n.rdev, hexOf(n.target ?? ''), n.xattrs.map((x) => `${hexOf(x.name)}=${hexOf(x.value)}`).sort()]);
    for (const c of n.children ?? []) go(c.inode, `${p}/${hexOf(c.name)}`);
  };
  go(t.root, '');
  return out;
}

describe('treeFs', () => {
  it('serves lookup, getattr (nlink), readdir cookies, read, readlink, xattrs, statfs', async () => {
    const fs = treeFs(sampleTree());
    const root = await fs.getattr(fs.rootIno);
    assert.equal(root.type, 'dir');
    assert.equal(root.nlink, 2 + 2);
    const file = (await fs.lookup(fs.rootIno, bytes('file')))!;
    const again = await resolvePath(fs, '/sub/again');
    assert.equal(again.ino, file.ino);
    assert.equal(file.nlink, 2);
    assert.equal(utf(await readAll(fs, file.ino)), 'shared content');
    assert.equal(utf(await fs.read(file.ino, 7, 100)), 'content');
    assert.equal((await fs.read(file.ino, 100, 10)).length, 0);
    assert.equal(await fs.lookup(fs.rootIno, bytes('nope')), null);
    const many = (await fs.lookup(fs.rootIno, bytes('many')))!;
    assert.equal((await fs.lookup(many.ino, bytes('m39')))!.type, 'reg');
    assert.equal(await fs.lookup(many.ino, bytes('m40')), null);
    // readdir in pages of 7 through the cookies gives every entry once
    const seen: string[] = [];
    for (let off = 0; ; ) {
      const page = await fs.readdir(many.ino, off, 7);
      if (!page.length) break;
      assert.ok(page.length <= 7);
      for (const e of page) seen.push(utf(e.name));
      off = page[page.length - 1]!.next;
    }
    assert.deepEqual(seen, (await readdirAll(fs, many.ino)).map((e) => utf(e.name)));
    assert.equal(seen.length, 40);
    const link = await resolvePath(fs, '/link');
    assert.equal(utf(await fs.readlink(link.ino)), 'file');
    assert.equal(link.size, 4);
    const chr = await resolvePath(fs, '/chr');
    assert.equal(chr.rdev, makedev(300, 70000));
    assert.equal(chr.mode, 0o020600);
    assert.deepEqual((await fs.listxattr(file.ino)).map(utf), ['user.h']);
    assert.equal(utf((await fs.getxattr(file.ino, bytes('user.h')))!), 'hv');
    assert.equal(await fs.getxattr(file.ino, bytes('user.x')), null);
    assert.deepEqual(await fs.getxattr(fs.rootIno, bytes('trusted.root')), new Uint8Array(0));
    const st = await fs.statfs();
    assert.equal(st.files, 49);
    await assert.rejects(fs.getattr(999), NotFoundError);
    await assert.rejects(fs.read(fs.rootIno, 0, 1), IoError);
    await assert.rejects(fs.readdir(file.ino), NotFoundError);
  });
});

describe('treeFromImage', () => {
  it('tree → treeFs → treeFromImage is the identity (hardlinks, xattrs, odd names, content)', async () => {
    const t = sampleTree();
    const back = await treeFromImage(treeFs(t));
    assert.deepEqual(flatten(back), flatten(t));
    const f = back.root.children!.find((c) => utf(c.name) === 'file')!.inode;
    assert.equal(utf(await f.content!.read(0, f.size)), 'shared content');
    // one dirent of the shared inode is primary
    const sub = back.root.children!.find((c) => utf(c.name) === 'sub')!.inode;
    assert.equal(sub.children!.find((c) => utf(c.name) === 'again')!.link, true);
    assert.equal(back.root.children!.find((c) => utf(c.name) === 'file')!.link, undefined);
  });

  it('a subtree; a non-directory start is refused', async () => {
    const fs = treeFs(sampleTree());
    const sub = await resolvePath(fs, '/sub');
    const t = await treeFromImage(fs, sub.ino);
    assert.deepEqual(t.root.children!.map((c) => utf(c.name)), ['inner', 'again']);
    assert.equal(t.root.perm, 0o700);
    await assert.rejects(treeFromImage(fs, (await resolvePath(fs, '/file')).ino), FormatError);
  });

  it('unsafe names from an image: refused, or skipped with a note', async () => {
    const t = sampleTree();
    const evil = newDir();
    evil.children!.push({ name: enc.encode('x'), inode: reg('x') });
    t.root.children!.push({ name: enc.encode('..'), inode: evil }, { name: enc.encode('a/b'), inode: reg('y') });
    await assert.rejects(treeFromImage(treeFs(t)), FormatError);
    const s = await treeFromImage(treeFs(t), undefined, { unsafeNames: 'skip' });
    assert.deepEqual(flatten(s), flatten(sampleTree()));
    assert.equal(s.notes.filter((n) => /skipped/.test(n)).length, 3);
  });

  it('an EROFS image made by mkfs.erofs → tree → exportTar → GNU tar gives the source directory back', async () => {
    const src = join(tempDir('ls-imgsrc-'), 'src');
    mkdirSync(src);
    const made = spawnSync('python3', ['-c', PY_MAKE, src], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const img = join(tempDir('ls-img-'), 'a.erofs');
    run('mkfs.erofs', ['--quiet', '-Eforce-inode-extended', '--preserve-mtime', img, src]);
    const fs = await openImage(new BytesSource(new Uint8Array(readFileSync(img)), img));
    const tree = await treeFromImage(fs);
    // the same tree as reading the directory itself
    const dirTree = await treeFromDirectory(src);
    dropSockets(dirTree);
    dropSockets(tree);
    assert.deepEqual(flatten(tree), flatten(dirTree));
    for (const [p, n] of files(tree)) {
      const m = files(dirTree).get(p)!;
      assert.deepEqual(await n.content!.read(0, n.size), await m.content!.read(0, m.size), p);
    }
    // and through tar
    const tarPath = join(tempDir('ls-imgtar-'), 'a.tar');
    const parts: Uint8Array[] = [];
    const r = await exportTar(treeFs(tree), 1, { write: (c) => void parts.push(c.slice()) });
    assert.deepEqual(r.skipped, []);
    spawnSync('sh', ['-c', `cat > ${tarPath}`], { input: Buffer.concat(parts) });
    const dst = join(tempDir('ls-imgx-'), 'x');
    mkdirSync(dst);
    run('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '--warning=no-timestamp', '-xpf', tarPath, '-C', dst]);
    const back = await treeFromDirectory(dst);
    dropSockets(back);
    assert.deepEqual(flatten(back), flatten(dirTree));
  });
});

const PY_MAKE = String.raw`
import os, sys, socket
root = sys.argv[1].encode()
P = lambda *a: os.path.join(root, *a)
os.makedirs(P(b'd1', b'd2'))
os.mkdir(P(b'empty'))
for n in [0, 1, 4095, 4096, 70001]:
    with open(P(b'f%d' % n), 'wb') as f: f.write(bytes((i * 31 + n) & 255 for i in range(n)))
with open(P(b'\xe9t\xe9'), 'wb') as f: f.write(b'latin1')
os.symlink(b'f1', P(b'sym'))
os.symlink(b'z' * 3000, P(b'd1', b'symlong'))
os.link(P(b'f4096'), P(b'hard1'))
os.link(P(b'f4096'), P(b'd1', b'd2', b'hard2'))
os.mkfifo(P(b'fifo'), 0o600)
s = socket.socket(socket.AF_UNIX); s.bind(P(b'sock')); s.close()
os.mknod(P(b'chr'), 0o20644, os.makedev(1, 3))
os.mknod(P(b'blk'), 0o60660, os.makedev(7, 0))
os.mknod(P(b'bigdev'), 0o20600, os.makedev(300, 70000))
for p, n, v in [(b'f1', b'user.a', b'1'), (b'f1', b'trusted.b', b'\x00\xff'), (b'd1', b'trusted.overlay.opaque', b'y'),
                (b'sym', b'trusted.onlink', b'link'), (b'empty', b'user.empty', b''), (b'chr', b'trusted.dev', b'x' * 300),
                (b'f4096', b'security.selinux', b'system_u:object_r:etc_t:s0\x00')]:
    os.setxattr(P(p), n, v, follow_symlinks=False)
os.chown(P(b'f1'), 70000, 3000000)
os.chown(P(b'sym'), 5, 6, follow_symlinks=False)
os.chmod(P(b'f0'), 0o4751)
os.chmod(P(b'd1', b'd2'), 0o1777)
t = 1_100_000_000_123_456_789
for d, ds, fs in os.walk(root, topdown=False):
    for n in fs + ds:
        t += 7_777_777_777
        os.utime(os.path.join(d, n), ns=(t, t), follow_symlinks=False)
os.utime(root, ns=(t + 1, t + 1))
`;

function utf(b: Uint8Array): string {
  return Buffer.from(b).toString();
}
function dropSockets(t: SourceTree): void {
  const go = (n: SourceInode) => {
    if (!n.children) return;
    n.children = n.children.filter((c) => c.inode.type !== 'sock');
    for (const c of n.children) go(c.inode);
  };
  go(t.root);
}
function files(t: SourceTree): Map<string, SourceInode> {
  const m = new Map<string, SourceInode>();
  const go = (n: SourceInode, p: string) => {
    if (n.type === 'reg') m.set(p, n);
    for (const c of n.children ?? []) go(c.inode, `${p}/${hexOf(c.name)}`);
  };
  go(t.root, '');
  return m;
}
