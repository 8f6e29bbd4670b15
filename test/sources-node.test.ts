// treeFromDirectory: a directory with every file type (run as root: mknod, chown, trusted.*
// xattrs) matches Python's os.lstat / os.readlink / os.listxattr entry by entry; content is read
// lazily through a bounded pool of file handles; getfattr missing is a note, not a failure.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { linkSync, mkdirSync, readdirSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { IoError } from '../src/lib/errors.ts';
import { treeFromDirectory } from '../src/lib/fs/sources/node.ts';
import type { SourceInode, SourceTree } from '../src/lib/fs/tree.ts';
import { compareBytes, major, minor, modeOfType } from '../src/lib/fs/types.ts';
import { tempDir } from './helpers/paths.ts';
import { hexOf } from './helpers/hex.ts';


const PY_MAKE = String.raw`
import os, sys, json, socket
root = sys.argv[1].encode()
P = lambda *a: os.path.join(root, *a)
os.makedirs(P(b'd1', b'd2', b'd3'))
os.mkdir(P(b'empty'))
for n in [0, 1, 4095, 4096, 70001]:
    with open(P(b'f%d' % n), 'wb') as f: f.write(bytes((i * 31 + n) & 255 for i in range(n)))
with open(P(b'\xe9t\xe9'), 'wb') as f: f.write(b'latin1')
with open(P(b'd1', b'new\nline \\ name'), 'wb') as f: f.write(b'odd name')
os.symlink(b'f1', P(b'sym'))
os.symlink(b'\xff' * 3000, P(b'd1', b'symlong'))
os.symlink(b'd1', P(b'symdir'))
os.link(P(b'f4096'), P(b'hard1'))
os.link(P(b'f4096'), P(b'd1', b'd2', b'hard2'))
os.mkfifo(P(b'fifo'), 0o600)
s = socket.socket(socket.AF_UNIX); s.bind(P(b'sock')); s.close()
os.mknod(P(b'chr'), 0o20644, os.makedev(1, 3))
os.mknod(P(b'blk'), 0o60660, os.makedev(7, 0))
os.mknod(P(b'bigdev'), 0o20600, os.makedev(4000, 1000000))
os.mknod(P(b'whiteout'), 0o20000, os.makedev(0, 0))
for p, n, v in [(b'f1', b'user.a', b'1'), (b'f1', b'trusted.b', b'\x00\xff'), (b'd1', b'trusted.overlay.opaque', b'y'),
                (b'sym', b'trusted.onlink', b'link'), (b'empty', b'user.empty', b''), (b'chr', b'trusted.dev', b'x' * 2000),
                (b'f4096', b'security.selinux', b'system_u:object_r:etc_t:s0\x00'), (b'd1/new\nline \\ name', b'user.odd', b'v')]:
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
os.utime(P(b'f1'), ns=(-1_500_000_001, -1_500_000_001))
os.utime(root, ns=(t + 1, t + 1))
`;

const PY_LSTAT = String.raw`
import os, sys, json, stat, hashlib
root = sys.argv[1].encode()
out = {}
paths = [b'']
for d, ds, fs in os.walk(root):
    for n in ds + fs: paths.append(os.path.join(d, n)[len(root) + 1:])
for rel in paths:
    p = os.path.join(root, rel) if rel else root
    st = os.lstat(p)
    out[rel.hex()] = dict(mode=st.st_mode, uid=st.st_uid, gid=st.st_gid, mtime=str(st.st_mtime_ns), size=st.st_size,
        rdev=[os.major(st.st_rdev), os.minor(st.st_rdev)], ino=st.st_ino, nlink=st.st_nlink,
        target=os.readlink(p).hex() if stat.S_ISLNK(st.st_mode) else None,
        sha256=hashlib.sha256(open(p, 'rb').read()).hexdigest() if stat.S_ISREG(st.st_mode) else None,
        xattrs=sorted([n.encode('utf-8', 'surrogateescape').hex(), os.getxattr(p, n, follow_symlinks=False).hex()] for n in os.listxattr(p, follow_symlinks=False)))
print(json.dumps(out))
`;

interface Lst { mode: number; uid: number; gid: number; mtime: string; size: number; rdev: [number, number]; ino: number; nlink: number; target: string | null; sha256: string | null; xattrs: [string, string][] }

function pathsOf(t: SourceTree): Map<string, SourceInode> {
  const m = new Map<string, SourceInode>();
  const go = (n: SourceInode, rel: Buffer) => {
    m.set(hexOf(rel), n);
    for (const c of n.children ?? []) go(c.inode, rel.length ? Buffer.concat([rel, Buffer.from('/'), c.name]) : Buffer.from(c.name));
  };
  go(t.root, Buffer.alloc(0));
  return m;
}

async function sha(n: SourceInode): Promise<string> {
  const h = createHash('sha256');
  for (let o = 0; o < n.size; o += 8192) h.update(await n.content!.read(o, Math.min(8192, n.size - o)));
  return h.digest('hex');
}

describe('treeFromDirectory', () => {
  const root = join(tempDir('ls-nodesrc-'), 'src');
  mkdirSync(root);
  const r = spawnSync('python3', ['-c', PY_MAKE, root], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  const lst = JSON.parse(spawnSync('python3', ['-c', PY_LSTAT, root], { encoding: 'utf8' }).stdout) as Record<string, Lst>;

  it('every entry matches lstat, readlink and listxattr', async () => {
    const t = await treeFromDirectory(root);
    const m = pathsOf(t);
    assert.deepEqual([...m.keys()].sort(), Object.keys(lst).sort());
    for (const [k, want] of Object.entries(lst)) {
      const n = m.get(k)!;
      const what = JSON.stringify(Buffer.from(k, 'hex').toString());
      assert.equal(modeOfType(n.type) | n.perm, want.mode, `${what}: mode`);
      assert.deepEqual([n.uid, n.gid], [want.uid, want.gid], `${what}: owner`);
      assert.equal((BigInt(n.mtime) * 1_000_000_000n + BigInt(n.mtimeNsec)).toString(), want.mtime, `${what}: mtime`);
      assert.ok(n.mtimeNsec >= 0 && n.mtimeNsec < 1e9);
      if (n.type === 'reg' || n.type === 'symlink') assert.equal(n.size, want.size, `${what}: size`);
      else assert.equal(n.size, 0);
      if (n.type === 'chr' || n.type === 'blk') assert.deepEqual([major(n.rdev), minor(n.rdev)], want.rdev, `${what}: rdev`);
      else assert.equal(n.rdev, 0);
      assert.equal(n.target ? hexOf(n.target) : null, want.target, `${what}: target`);
      assert.deepEqual(n.xattrs.map((x) => [hexOf(x.name), hexOf(x.value)]).sort(), want.xattrs, `${what}: xattrs`);
      assert.equal(n.type === 'reg' ? await sha(n) : null, want.sha256, `${what}: content`);
    }
    // hardlinks: same inode number on disk ⇔ same SourceInode; exactly one dirent is the primary
    for (const [a, x] of Object.entries(lst)) for (const [b, y] of Object.entries(lst)) {
      const same = x.ino === y.ino;
      assert.equal(m.get(a) === m.get(b), same, `${a} vs ${b}`);
    }
    const dirents: { link?: boolean; inode: SourceInode }[] = [];
    for (const n of m.values()) for (const c of n.children ?? []) dirents.push(c);
    const f4096 = m.get(hexOf('f4096'))!;
    assert.deepEqual(dirents.filter((d) => d.inode === f4096).map((d) => !!d.link).sort(), [false, true, true]);
    // children sorted by name bytes
    for (const n of m.values()) if (n.children) assert.deepEqual(n.children.map((c) => hexOf(c.name)), [...n.children].sort((p, q) => compareBytes(p.name, q.name)).map((c) => hexOf(c.name)));
    assert.ok(t.notes.some((s) => /getfattr/.test(s)));
  });

  it('the async walk (concurrency > 0) gives the same tree as the batched synchronous one', async () => {
    const flat = (t: SourceTree) => {
      const ids = new Map<SourceInode, number>();
      return [...pathsOf(t)].map(([k, n]) => {
        if (!ids.has(n)) ids.set(n, ids.size);
        return [k, ids.get(n), n.type, n.perm, n.uid, n.gid, n.mtime, n.mtimeNsec, n.size, n.rdev, hexOf(n.target ?? ''), n.xattrs.map((x) => hexOf(x.name) + '=' + hexOf(x.value))];
      });
    };
    assert.deepEqual(flat(await treeFromDirectory(root, { concurrency: 7 })), flat(await treeFromDirectory(root)));
  });

  it('content of non-UTF-8 and odd names reads through Buffer paths', async () => {
    const m = pathsOf(await treeFromDirectory(root));
    const n = m.get(hexOf(Buffer.from([0xe9, 0x74, 0xe9])))!;
    assert.equal(Buffer.from(await n.content!.read(0, n.size)).toString(), 'latin1');
    const odd = m.get(hexOf('d1/new\nline \\ name'))!;
    assert.equal(Buffer.from(await odd.content!.read(0, odd.size)).toString(), 'odd name');
    assert.deepEqual(odd.xattrs.map((x) => Buffer.from(x.name).toString()), ['user.odd']);
  });

  it('without getfattr (or with xattrs off): no xattrs and a note saying so', async () => {
    const t = await treeFromDirectory(root, { getfattr: '/nonexistent/getfattr' });
    assert.ok(t.notes.some((s) => /not installed/.test(s)), t.notes.join('; '));
    assert.ok([...pathsOf(t).values()].every((n) => n.xattrs.length === 0));
    const u = await treeFromDirectory(root, { xattrs: false });
    assert.ok(u.notes.some((s) => /not read/.test(s)));
  });

  it('a path that is not a directory is refused', async () => {
    await assert.rejects(treeFromDirectory(join(root, 'f1')), IoError);
    await assert.rejects(treeFromDirectory(join(root, 'missing')), IoError);
  });

  it('many files: content read through a bounded handle pool; a file that shrank is an IoError', async () => {
    const big = join(tempDir('ls-many-'), 'm');
    for (let d = 0; d < 20; d++) {
      mkdirSync(join(big, `d${d}`), { recursive: true });
      for (let f = 0; f < 100; f++) writeFileSync(join(big, `d${d}`, `f${f}`), `${d}/${f}\n`.repeat(f + 1));
    }
    const t = await treeFromDirectory(big, { maxOpenFiles: 8, concurrency: 16 });
    const files = [...pathsOf(t).entries()].filter(([, n]) => n.type === 'reg');
    assert.equal(files.length, 2000);
    const fdsBefore = readdirSync('/proc/self/fd').length;
    let maxFds = 0;
    const texts = await Promise.all(
      files.map(async ([k, n]) => {
        const b = await n.content!.read(0, n.size);
        maxFds = Math.max(maxFds, readdirSync('/proc/self/fd').length);
        return [k, Buffer.from(b).toString()] as const;
      }),
    );
    for (const [k, text] of texts) {
      const [d, f] = Buffer.from(k, 'hex').toString().match(/\d+/g)!.map(Number);
      assert.equal(text, `${d}/${f}\n`.repeat(f! + 1));
    }
    assert.ok(maxFds - fdsBefore <= 8 + 4, `open fds grew by ${maxFds - fdsBefore}`);
    // idle handles are closed after a second of quiet
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(readdirSync('/proc/self/fd').length <= fdsBefore, 'handles closed when idle');
    const victim = files[0]![1];
    truncateSync(join(big, 'd0', 'f0'), 0);
    const n0 = pathsOf(t).get(hexOf('d0/f0'))!;
    await assert.rejects(n0.content!.read(0, n0.size), IoError);
    assert.ok(victim);
  });

  it('hardlinks across directories and symlinks to directories are not followed', async () => {
    const d = join(tempDir('ls-links-'), 'l');
    mkdirSync(join(d, 'x/y'), { recursive: true });
    writeFileSync(join(d, 'x/y/file'), 'data');
    linkSync(join(d, 'x/y/file'), join(d, 'link'));
    symlinkSync('x', join(d, 'tox'));
    const m = pathsOf(await treeFromDirectory(d));
    assert.equal(m.get(hexOf('link')), m.get(hexOf('x/y/file')));
    assert.equal(m.get(hexOf('tox'))!.type, 'symlink');
    assert.equal(m.has(hexOf('tox/y')), false);
  });

  it('names in byte order (not UTF-16 order), exact bytes, a content path only for valid UTF-8; the synchronous walk reads a hardlink through the path it meets first', async () => {
    const d = join(tempDir('ls-order-'), 'o');
    mkdirSync(d);
    // U+1F600 (f0 9f 98 80) sorts after U+FFFD (ef bf bd) by bytes but before it by UTF-16 code
    // units (d83d < fffd); ff and 80 are not UTF-8; c3 a9 is é
    const names = [[0xf0, 0x9f, 0x98, 0x80], [0xef, 0xbf, 0xbd], [0xff], [0x80, 0x41], [0xc3, 0xa9], [0x5a], [0x61], [0x61, 0x00 + 0x20]].map((b) => Buffer.from(b));
    for (const n of names) writeFileSync(Buffer.concat([Buffer.from(d + '/'), n]), n);
    mkdirSync(join(d, 'sub'));
    linkSync(Buffer.concat([Buffer.from(d + '/'), names[0]!]), join(d, 'sub', 'zlink'));
    const emoji = (kids: { name: Uint8Array; inode: SourceInode }[]) => kids.find((c) => hexOf(c.name) === 'f09f9880')!.inode;
    for (const concurrency of [0, 3]) {
      const t = await treeFromDirectory(d, { concurrency, xattrs: false });
      const kids = t.root.children!;
      const want = [...names, Buffer.from('sub')].sort(Buffer.compare);
      assert.deepEqual(kids.map((c) => hexOf(c.name)), want.map((b) => hexOf(b)), `concurrency ${concurrency}: order`);
      for (const c of kids) {
        assert.ok(!Buffer.isBuffer(c.name), 'names are plain Uint8Arrays');
        if (c.inode.type !== 'reg') continue;
        assert.deepEqual(Buffer.from(await c.inode.content!.read(0, c.inode.size)), Buffer.from(c.name));
        const utf8 = Buffer.from(Buffer.from(c.name).toString()).equals(c.name);
        assert.equal(c.inode.content!.path !== undefined, utf8, `${hexOf(c.name)}: path only for valid UTF-8`);
      }
      // the synchronous walk meets names last-first (the order of the job walk it replaced, so the
      // images stay byte-identical): the emoji name (f0..) before 'sub', so the shared inode's content
      // reads (and is announced) through the emoji path, not 'sub/zlink'
      if (concurrency === 0) assert.equal(emoji(kids).content!.name, Buffer.concat([Buffer.from(d + '/'), names[0]!]).toString(), 'first path of the hardlink');
    }
  });
});
