// Tar writer: archives made by GNU tar → SourceTree → treeFs → exportTar → GNU tar extracts the same
// tree (content, modes, owners, ns mtimes, symlinks, devices, fifos, xattrs, hardlinks), and a
// directory → treeFromDirectory → exportTar → GNU tar gives the directory back. Unsafe names from
// an image are refused or skipped. Runs as root (mknod, chown, trusted.* xattrs, tar -x owners).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FormatError } from '../src/lib/errors.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { treeFromDirectory } from '../src/lib/fs/sources/node.ts';
import { treeFromTar } from '../src/lib/fs/sources/tar.ts';
import { treeFs } from '../src/lib/fs/sources/treefs.ts';
import { newDir, type SourceInode, type SourceTree } from '../src/lib/fs/tree.ts';
import { resolvePath } from '../src/lib/fs/path.ts';
import type { ReadOnlyFs } from '../src/lib/fs/types.ts';
import { readTar, sourceInput, parsePaxTime } from '../src/lib/tar/reader.ts';
import { exportTar, paxTime, type TarSink } from '../src/lib/tar/writer.ts';
import { tempDir } from './helpers/paths.ts';
import { hexOf } from './helpers/hex.ts';

const enc = new TextEncoder();

function run(cmd: string, args: string[], input?: string): { stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

const PY_OPS = String.raw`
import os, sys, json, random, socket
for op in json.load(sys.stdin):
    k, p, a = op[0], bytes.fromhex(op[1]), op[2:]
    if k == 'fifo': os.mkfifo(p, 0o640)
    elif k == 'sock':
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(p); s.close()
    elif k == 'node': os.mknod(p, a[0], os.makedev(a[1], a[2]))
    elif k == 'xattr': os.setxattr(p, bytes.fromhex(a[0]), bytes.fromhex(a[1]), follow_symlinks=False)
    elif k == 'own': os.chown(p, a[0], a[1], follow_symlinks=False)
    elif k == 'mode': os.chmod(p, a[0])
    elif k == 'time': os.utime(p, ns=(int(a[0]), int(a[0])), follow_symlinks=False)
    elif k == 'times':
        rnd = random.Random(3)
        for d, ds, fs in os.walk(p, topdown=False):
            for n in fs + ds + ([b''] if d == p else []):
                t = rnd.randrange(10**18, 17 * 10**17)
                os.utime(os.path.join(d, n) if n else d, ns=(t, t), follow_symlinks=False)
`;

/** every file type tar carries, long names/targets, xattrs, big ids, ns and negative mtimes */
function makeSourceDir(opts: { socket?: boolean } = {}): string {
  const root = join(tempDir('ls-rtsrc-'), 'src');
  mkdirSync(root);
  const ops: unknown[][] = [];
  const p = (rel: string): string => join(root, rel);
  let seed = 1;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const data = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256));
  for (const n of [0, 1, 511, 512, 513, 70000, 1048579]) writeFileSync(p(`f${n}`), data(n));
  mkdirSync(p('empty'));
  mkdirSync(p('a/b/c'), { recursive: true });
  writeFileSync(p('a/b/c/deep'), 'deep\n');
  writeFileSync(p('.wh.gone'), '');
  writeFileSync(p('a/.wh..wh..opq'), '');
  writeFileSync(Buffer.concat([Buffer.from(p('a') + '/'), Buffer.from([0xe9, 0x74, 0xe9])]), 'latin1 name');
  symlinkSync('f1', p('sym'));
  symlinkSync('x'.repeat(150) + '/' + 'y'.repeat(150), p('symlong'));
  linkSync(p('f513'), p('hard1'));
  linkSync(p('f513'), p('a/b/hard2'));
  const d = 'n'.repeat(120);
  mkdirSync(p(d));
  writeFileSync(p(`${d}/${'m'.repeat(200)}`), 'long path\n');
  symlinkSync('t'.repeat(400), p(`${d}/longlink-${'k'.repeat(100)}`));
  linkSync(p(`${d}/${'m'.repeat(200)}`), p(`hard-to-long-${'h'.repeat(90)}`));
  ops.push(['fifo', hexOf(p('fifo'))]);
  if (opts.socket) ops.push(['sock', hexOf(p('sock'))]);
  ops.push(['node', hexOf(p('chr')), 0o20644, 1, 3]);
  ops.push(['node', hexOf(p('blk')), 0o60600, 7, 1]);
  ops.push(['node', hexOf(p('bigdev')), 0o20600, 300, 70000]);
  ops.push(['xattr', hexOf(p('f1')), hexOf('user.one'), hexOf('1')]);
  ops.push(['xattr', hexOf(p('f70000')), hexOf('user.bin'), hexOf(new Uint8Array([0, 255, 10, 61, 0]))]);
  ops.push(['xattr', hexOf(p('f70000')), hexOf('trusted.big'), hexOf(data(3000))]);
  ops.push(['xattr', hexOf(p('a')), hexOf('trusted.overlay.opaque'), hexOf('y')]);
  ops.push(['xattr', hexOf(p('sym')), hexOf('trusted.onlink'), hexOf('on a symlink')]);
  ops.push(['xattr', hexOf(p('empty')), hexOf('user.empty'), '']);
  ops.push(['xattr', hexOf(p('f513')), hexOf('user.onhardlink'), hexOf('shared')]);
  ops.push(['own', hexOf(p('f1')), 70000, 3000000]);
  ops.push(['own', hexOf(p('sym')), 123, 456]);
  ops.push(['own', hexOf(p('a/b')), 5, 6]);
  ops.push(['mode', hexOf(p('f511')), 0o4755]);
  ops.push(['mode', hexOf(p('f512')), 0o2600]);
  ops.push(['mode', hexOf(p('a/b/c')), 0o1777]);
  ops.push(['mode', hexOf(p('f0')), 0o000]);
  ops.push(['times', hexOf(root)]);
  ops.push(['time', hexOf(p('f0')), '-1500000000']);
  ops.push(['time', hexOf(p('f1')), '-2000000000000000001']);
  const r = spawnSync('python3', ['-c', PY_OPS], { input: JSON.stringify(ops), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return root;
}

/** Everything tar carries, per path (hex of the bytes relative to the root; '' is the root). */
const PY_SNAPSHOT = String.raw`
import os, sys, json, hashlib, stat
root = sys.argv[1].encode()
skip_sock = sys.argv[2] == '1'
out = {}; byino = {}
paths = [b'']
for d, ds, fs in os.walk(root):
    for n in ds + fs:
        paths.append(os.path.join(d, n)[len(root) + 1:])
for rel in paths:
    p = os.path.join(root, rel) if rel else root
    st = os.lstat(p)
    if skip_sock and stat.S_ISSOCK(st.st_mode): continue
    e = dict(mode=st.st_mode, uid=st.st_uid, gid=st.st_gid, mtime=str(st.st_mtime_ns))
    if stat.S_ISREG(st.st_mode):
        e['size'] = st.st_size
        with open(p, 'rb') as f: e['sha256'] = hashlib.sha256(f.read()).hexdigest()
    if stat.S_ISLNK(st.st_mode): e['target'] = os.readlink(p).hex()
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode): e['rdev'] = [os.major(st.st_rdev), os.minor(st.st_rdev)]
    e['xattrs'] = sorted([n.hex(), os.getxattr(p, n, follow_symlinks=False).hex()] for n in
        [x.encode('utf-8', 'surrogateescape') for x in os.listxattr(p, follow_symlinks=False)])
    if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
        byino.setdefault(st.st_ino, []).append(rel.hex())
        e['nlink'] = st.st_nlink
    out[rel.hex()] = e
for group in byino.values():
    for h in group: out[h]['links'] = sorted(group)
print(json.dumps(out))
`;
function snapshot(dir: string, skipSockets = false): Record<string, Record<string, unknown>> {
  return JSON.parse(run('python3', ['-c', PY_SNAPSHOT, dir, skipSockets ? '1' : '0']).stdout);
}

function extract(tarPath: string): { dir: string; stderr: string } {
  const dir = join(tempDir('ls-rtx-'), 'x');
  mkdirSync(dir);
  const r = run('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '--warning=no-timestamp', '-xpf', tarPath, '-C', dir]);
  return { dir, stderr: r.stderr };
}

async function exportToFile(fs: ReadOnlyFs, ino: number, path: string, opts: Parameters<typeof exportTar>[3] = {}) {
  const fh = await open(path, 'w');
  let chunks = 0;
  const sink: TarSink = {
    write: async (c) => {
      chunks++;
      await fh.write(c);
    },
  };
  try {
    const r = await exportTar(fs, ino, sink, opts);
    return { ...r, chunks };
  } finally {
    await fh.close();
  }
}

function assertSameSnapshot(got: Record<string, Record<string, unknown>>, want: Record<string, Record<string, unknown>>): void {
  const show = (k: string) => JSON.stringify(Buffer.from(k, 'hex').toString());
  assert.deepEqual(Object.keys(got).sort().map(show), Object.keys(want).sort().map(show), 'paths');
  for (const k of Object.keys(want)) assert.deepEqual(got[k], want[k], show(k));
}

describe('exportTar round trip through GNU tar', () => {
  const src = makeSourceDir();
  const work = tempDir('ls-rt-');
  const srcSnap = snapshot(src);

  for (const [format, extra] of [['pax', ['--xattrs', '--xattrs-include=*']], ['gnu', []], ['oldgnu', []]] as const) {
    it(`tar --format=${format} → tree → exportTar → tar -x gives what tar -x of the original gives`, async () => {
      const orig = join(work, `${format}.tar`);
      run('tar', [`--format=${format}`, ...extra, '-cf', orig, '-C', src, '.']);
      const tree = await treeFromTar(new BytesSource(new Uint8Array(readFileSync(orig)), orig));
      const ours = join(work, `${format}-ours.tar`);
      const res = await exportToFile(treeFs(tree), 1, ours);
      assert.deepEqual(res.skipped, []);
      assert.equal(res.bytes, readFileSync(ours).length);
      const a = extract(orig);
      const b = extract(ours);
      assert.equal(b.stderr, '', 'GNU tar has no complaint about our archive');
      assertSameSnapshot(snapshot(b.dir), snapshot(a.dir));
      if (format === 'pax') assertSameSnapshot(snapshot(b.dir), srcSnap);
      // and GNU tar lists it without a warning
      assert.equal(run('tar', ['-tvf', ours]).stderr, '');
    });
  }

  it('directory → treeFromDirectory → exportTar → tar -x is the directory (sockets left out)', async () => {
    const withSock = makeSourceDir({ socket: true });
    const tree = await treeFromDirectory(withSock);
    const ours = join(work, 'dir.tar');
    const res = await exportToFile(treeFs(tree), 1, ours);
    assert.equal(res.skipped.length, 1);
    assert.match(res.skipped[0]!, /sock.*socket/);
    const b = extract(ours);
    assert.equal(b.stderr, '');
    assertSameSnapshot(snapshot(b.dir), snapshot(withSock, true));
  });

  it('our archive read back by our reader gives the same tree', async () => {
    const tree = await treeFromDirectory(src);
    const parts: Uint8Array[] = [];
    await exportTar(treeFs(tree), 1, { write: (c) => void parts.push(c.slice()) });
    const back = await treeFromTar(new BytesSource(new Uint8Array(Buffer.concat(parts))));
    const flat = (t: SourceTree) => {
      const out: unknown[] = [];
      const ids = new Map<SourceInode, number>();
      const go = (n: SourceInode, p: string) => {
        if (!ids.has(n)) ids.set(n, ids.size);
        out.push([p, ids.get(n), n.type, n.perm, n.uid, n.gid, n.mtime, n.mtimeNsec, n.size, n.rdev, hexOf(n.target ?? ''), n.xattrs.map((x) => hexOf(x.name) + '=' + hexOf(x.value)).sort()]);
        for (const c of [...(n.children ?? [])].sort((x, y) => Buffer.compare(x.name, y.name))) go(c.inode, p + '/' + hexOf(c.name));
      };
      go(t.root, '');
      return out;
    };
    assert.deepEqual(flat(back), flat(tree));
  });

  it('a subtree with a prefix, and a single file', async () => {
    const tree = await treeFromDirectory(src);
    const fs = treeFs(tree);
    const sub = await resolvePath(fs, '/a/b');
    const ours = join(work, 'sub.tar');
    await exportToFile(fs, sub.ino, ours, { prefix: [enc.encode('top'), enc.encode('b')] });
    const names = run('tar', ['-tf', ours]).stdout.trim().split('\n');
    assert.ok(names.every((n) => n.startsWith('top/b/')), names.join(','));
    const b = extract(ours);
    const want = snapshot(join(src, 'a/b'));
    const got = snapshot(join(b.dir, 'top/b'));
    // hardlink groups reach outside the subtree in the source; inside it each name is one file
    for (const s of [want, got]) for (const e of Object.values(s)) delete e.links, delete e.nlink;
    assertSameSnapshot(got, want);

    const file = await resolvePath(fs, '/f70000');
    await assert.rejects(exportToFile(fs, file.ino, join(work, 'single.tar')), RangeError);
    await exportToFile(fs, file.ino, join(work, 'single.tar'), { prefix: [enc.encode('one')] });
    assert.equal(run('tar', ['-tf', join(work, 'single.tar')]).stdout, 'one\n');
  });

  it('streams in chunks, reports progress, stops on abort', async () => {
    const fs = treeFs(await treeFromDirectory(src));
    const seen: number[] = [];
    let chunks = 0;
    await exportTar(fs, 1, { write: () => void chunks++ }, { onProgress: (p) => seen.push(p.entries), chunkSize: 4096 });
    assert.ok(chunks > 10);
    assert.deepEqual(seen, seen.map((_, i) => i + 1));
    const ac = new AbortController();
    await assert.rejects(
      exportTar(fs, 1, { write: () => {} }, { signal: ac.signal, onProgress: (p) => p.entries === 5 && ac.abort() }),
      (e: unknown) => (e as Error).name === 'AbortError',
    );
  });
});

describe('exportTar: untrusted names and extreme values', () => {
  const work = tempDir('ls-rtn-');
  const file = (data: string, extra: Partial<SourceInode> = {}): SourceInode => {
    const b = enc.encode(data);
    return { type: 'reg', perm: 0o644, uid: 0, gid: 0, mtime: 1, mtimeNsec: 0, size: b.length, rdev: 0, xattrs: [], content: new BytesSource(b), ...extra };
  };
  const evilTree = (): SourceTree => {
    const root = newDir();
    const evilDir = newDir();
    evilDir.children!.push({ name: enc.encode('inside'), inode: file('x') });
    root.children!.push(
      { name: enc.encode('good'), inode: file('good') },
      { name: enc.encode('..'), inode: evilDir },
      { name: enc.encode('a/b'), inode: file('slash') },
      { name: Uint8Array.of(0x6e, 0, 0x78), inode: file('nul') },
      { name: enc.encode('.'), inode: file('dot') },
      { name: new Uint8Array(0), inode: file('empty') },
      { name: enc.encode('fine'), inode: file('fine') },
    );
    return { root, notes: [] };
  };

  it('refuses "..", "/", NUL, "." and empty names by default', async () => {
    await assert.rejects(exportTar(treeFs(evilTree()), 1, { write: () => {} }), (e: unknown) => e instanceof FormatError && /\.\./.test(e.message));
  });

  it('skips them (and what is below them) on request; GNU tar sees only the safe entries', async () => {
    const path = join(work, 'evil.tar');
    const r = await exportToFile(treeFs(evilTree()), 1, path, { unsafeNames: 'skip' });
    assert.equal(r.skipped.length, 5);
    assert.deepEqual(run('tar', ['-tf', path]).stdout.trim().split('\n').sort(), ['./', 'fine', 'good']);
  });

  it('extreme values survive GNU tar: negative ns mtime, 64-bit ids, long names, xattr names with "=", many xattrs', async () => {
    const root = newDir(0o700);
    root.mtime = -1;
    root.mtimeNsec = 999999999;
    const long = 'L'.repeat(255);
    const deep = newDir();
    deep.children!.push({ name: enc.encode(long), inode: file('long name', { uid: 2 ** 32 - 2, gid: 2 ** 31, mtime: 2 ** 33 + 5, mtimeNsec: 1 }) });
    root.children!.push({ name: enc.encode('D'.repeat(200)), inode: deep });
    root.children!.push({
      name: enc.encode('x'),
      inode: file('xattrs', { xattrs: Array.from({ length: 50 }, (_, i) => ({ name: enc.encode(`user.k${i}`), value: enc.encode('v'.repeat(i % 20)) })) }),
    });
    const eq = file('eq', { xattrs: [{ name: enc.encode('user.a=b'), value: Uint8Array.of(0, 1, 2) }] });
    const path = join(work, 'extreme.tar');
    await exportToFile(treeFs({ root, notes: [] }), 1, path);
    const b = extract(path);
    const snap = snapshot(b.dir);
    const deepKey = hexOf(`${'D'.repeat(200)}/${long}`);
    assert.deepEqual([snap[deepKey]!.uid, snap[deepKey]!.gid, snap[deepKey]!.mtime], [2 ** 32 - 2, 2 ** 31, String((2n ** 33n + 5n) * 1_000_000_000n + 1n)]);
    assert.equal(snap['']!.mtime, '-1');
    assert.equal((snap[hexOf('x')]!.xattrs as unknown[]).length, 50);
    // a name with '=' cannot be a SCHILY key: it goes out as LIBARCHIVE.xattr and reads back
    const eqRoot = newDir();
    eqRoot.children!.push({ name: enc.encode('eq'), inode: eq });
    const parts: Uint8Array[] = [];
    await exportTar(treeFs({ root: eqRoot, notes: [] }), 1, { write: (c) => void parts.push(c.slice()) });
    const entries = [];
    for await (const { entry } of readTar(sourceInput(new BytesSource(new Uint8Array(Buffer.concat(parts)))))) entries.push(entry);
    assert.deepEqual(entries[1]!.xattrs.map((x) => [Buffer.from(x.name).toString(), hexOf(x.value)]), [['user.a=b', '000102']]);
  });

  it('names, link targets and xattr names that are not UTF-8 (long ones via PAX) come out of GNU tar byte for byte', async () => {
    const root = newDir();
    const longName = new Uint8Array(150).fill(0xe9);
    const target = new Uint8Array(150).fill(0xfc);
    root.children!.push(
      { name: longName, inode: { type: 'symlink', perm: 0o777, uid: 0, gid: 0, mtime: 1, mtimeNsec: 0, size: target.length, rdev: 0, xattrs: [], target } },
      { name: Uint8Array.of(0xe8, 0x41), inode: file('x', { xattrs: [{ name: Uint8Array.of(0x75, 0x73, 0x65, 0x72, 0x2e, 0xe9), value: Uint8Array.of(0xff) }] }) },
    );
    const path = join(work, 'bytes.tar');
    await exportToFile(treeFs({ root, notes: [] }), 1, path);
    const snap = snapshot(extract(path).dir);
    assert.equal(snap[hexOf(longName)]!.target, hexOf(target));
    assert.deepEqual(snap[hexOf(Uint8Array.of(0xe8, 0x41))]!.xattrs, [['75736572' + '2ee9', 'ff']]);
  });

  it('paxTime and parsePaxTime agree', () => {
    let seed = 3;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 2000; i++) {
      const sec = Math.floor((rnd() - 0.5) * 2 ** 40);
      const nsec = i % 3 === 0 ? 0 : Math.floor(rnd() * 1e9);
      assert.deepEqual(parsePaxTime(enc.encode(paxTime(sec, nsec)), 0), [sec, nsec], paxTime(sec, nsec));
    }
    assert.equal(paxTime(-2, 500000000), '-1.5');
    assert.equal(paxTime(5, 120000000), '5.12');
  });
});
