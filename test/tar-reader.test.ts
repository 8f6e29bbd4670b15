// Tar reader: the nydus fixtures and archives made by GNU tar (gnu, pax, ustar formats; long names,
// hardlinks, devices, fifos, xattrs, base-256 numbers, global PAX headers) are read and compared
// with Python's tarfile / GNU tar listings; .tar.gz through both gunzips and every content store;
// corrupt and truncated archives give FormatError and never hang.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'fflate';
import { FormatError, isTypedError, UnsupportedError } from '../src/lib/errors.ts';
import { BytesSource, type ByteSource } from '../src/lib/io/source.ts';
import { blobSpill, treeFromTar, treeFromTarball, treeFromTarGz, type TarGzOptions } from '../src/lib/fs/sources/tar.ts';
import { tempFileSpill } from '../src/lib/fs/sources/node.ts';
import type { SourceInode, SourceTree } from '../src/lib/fs/tree.ts';
import { major, minor } from '../src/lib/fs/types.ts';
import { GunzipReplay, gunzipChunks } from '../src/lib/tar/gunzip.ts';
import { parseNumber, parsePaxTime, readTar, sourceInput, type TarEntry } from '../src/lib/tar/reader.ts';
import { tempDir } from './helpers/paths.ts';
import { nydusFixture, RAFS } from './helpers/nydus.ts';
import { hexOf } from './helpers/hex.ts';

const TAR_FIXTURES = nydusFixture(RAFS.TAR_DIR);
const enc = new TextEncoder();

function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

// ---------------------------------------------------------------------------------------------
// oracle: Python's tarfile

interface OracleEntry {
  name: string; type: string; mode: number; uid: number; gid: number; size: number; sec: number; nsec: number;
  linkname: string; devmajor: number; devminor: number; xattrs: Record<string, string>; sha256: string | null;
}
const PY_LIST = String.raw`
import tarfile, sys, json, hashlib
from decimal import Decimal
t = tarfile.open(sys.argv[1], encoding='utf-8', errors='surrogateescape')
e = lambda s: s.encode('utf-8', 'surrogateescape').hex()
out = []
for m in t:
    mt = m.pax_headers.get('mtime')
    if mt is None: sec, nsec = int(m.mtime), 0
    else:
        d = Decimal(mt); sec = int(d.to_integral_value(rounding='ROUND_FLOOR')); nsec = int((d - sec) * 10**9)
    xs = {}
    for k, v in m.pax_headers.items():
        if k.startswith('SCHILY.xattr.'): xs[e(k[13:])] = e(v)
    sha = hashlib.sha256(t.extractfile(m).read()).hexdigest() if m.isreg() else None
    out.append(dict(name=e(m.name), type=m.type.decode('latin1'), mode=m.mode, uid=m.uid, gid=m.gid, size=m.size,
        sec=sec, nsec=nsec, linkname=e(m.linkname), devmajor=m.devmajor, devminor=m.devminor, xattrs=xs, sha256=sha))
print(json.dumps(out))
`;
function oracle(tarPath: string): OracleEntry[] {
  return JSON.parse(run('python3', ['-c', PY_LIST, tarPath])) as OracleEntry[];
}

async function entriesOf(src: ByteSource): Promise<{ entry: TarEntry; sha256: string | null }[]> {
  const out: { entry: TarEntry; sha256: string | null }[] = [];
  for await (const { entry } of readTar(sourceInput(src))) {
    const sha = entry.type === 'reg' ? createHash('sha256').update(await src.read(entry.dataOffset, entry.size)).digest('hex') : null;
    out.push({ entry, sha256: sha });
  }
  return out;
}

/** Compare our entries with Python's, field by field. Python strips a trailing '/' from names. */
function compareWithOracle(ours: { entry: TarEntry; sha256: string | null }[], theirs: OracleEntry[], opts: { xattrs?: boolean } = {}): void {
  assert.equal(ours.length, theirs.length, 'entry count');
  ours.forEach(({ entry: e, sha256 }, i) => {
    const o = theirs[i]!;
    const what = `entry ${i} ${Buffer.from(o.name, 'hex').toString()}`;
    assert.equal(hexOf(e.path).replace(/2f$/, ''), o.name.replace(/2f$/, ''), `${what}: name`);
    assert.equal(e.typeflag, o.type, `${what}: type`);
    assert.equal(e.perm, o.mode, `${what}: mode`);
    assert.equal(e.uid, o.uid, `${what}: uid`);
    assert.equal(e.gid, o.gid, `${what}: gid`);
    assert.equal([e.mtime, e.mtimeNsec].join('.'), [o.sec, o.nsec].join('.'), `${what}: mtime`);
    assert.equal(hexOf(e.linkname), o.linkname, `${what}: linkname`);
    if (e.type === 'reg') assert.equal(e.size, o.size, `${what}: size`);
    if (e.type === 'chr' || e.type === 'blk') assert.deepEqual([e.devmajor, e.devminor], [o.devmajor, o.devminor], `${what}: dev`);
    assert.equal(sha256, o.sha256, `${what}: content`);
    if (opts.xattrs !== false) {
      const ox = Object.entries(o.xattrs).sort();
      const ex = e.xattrs.map((x) => [hexOf(x.name), hexOf(x.value)]).sort();
      assert.deepEqual(ex, ox, `${what}: xattrs`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// a source directory with every type tar carries (run as root)

const PY_OPS = String.raw`
import os, sys, json, random
for op in json.load(sys.stdin):
    k, p, a = op[0], bytes.fromhex(op[1]), op[2:]
    if k == 'fifo': os.mkfifo(p, 0o640)
    elif k == 'node': os.mknod(p, a[0], os.makedev(a[1], a[2]))
    elif k == 'xattr': os.setxattr(p, bytes.fromhex(a[0]), bytes.fromhex(a[1]), follow_symlinks=False)
    elif k == 'own': os.chown(p, a[0], a[1], follow_symlinks=False)
    elif k == 'time': os.utime(p, ns=(int(a[0]), int(a[0])), follow_symlinks=False)
    elif k == 'times':
        rnd = random.Random(11)
        for d, ds, fs in os.walk(p, topdown=False):
            for n in fs + ds + ([b''] if d == p else []):
                t = rnd.randrange(10**18, 17 * 10**17)
                os.utime(os.path.join(d, n) if n else d, ns=(t, t), follow_symlinks=False)
`;

/** returns the directory; `long` adds names over 100 and paths over 255 bytes */
function makeSourceDir(opts: { devices?: boolean; long?: boolean; xattrs?: boolean; bigIds?: boolean } = {}): string {
  const root = join(tempDir('ls-tarsrc-'), 'src');
  mkdirSync(root);
  const ops: unknown[][] = [];
  const p = (rel: string): string => join(root, rel);
  let seed = 7;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const data = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256));
  for (const n of [0, 1, 511, 512, 513, 10000, 1048579]) writeFileSync(p(`f${n}`), data(n));
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
  ops.push(['fifo', hexOf(p('fifo'))]);
  if (opts.devices !== false) {
    ops.push(['node', hexOf(p('chr')), 0o20644, 1, 3]);
    ops.push(['node', hexOf(p('blk')), 0o60600, 7, 1]);
    ops.push(['node', hexOf(p('bigdev')), 0o20600, 300, 70000]);
  }
  if (opts.long !== false) {
    const d = 'n'.repeat(120);
    mkdirSync(p(d));
    writeFileSync(p(`${d}/${'m'.repeat(200)}`), 'long path\n');
    symlinkSync('t'.repeat(400), p(`${d}/longlink-${'k'.repeat(100)}`));
    linkSync(p(`${d}/${'m'.repeat(200)}`), p(`hard-to-long-${'h'.repeat(90)}`));
  }
  if (opts.xattrs) {
    ops.push(['xattr', hexOf(p('f1')), hexOf('user.one'), hexOf('1')]);
    ops.push(['xattr', hexOf(p('f10000')), hexOf('user.bin'), hexOf(new Uint8Array([0, 255, 10, 61, 0]))]);
    ops.push(['xattr', hexOf(p('f10000')), hexOf('trusted.big'), hexOf(data(3000))]);
    ops.push(['xattr', hexOf(p('a')), hexOf('trusted.overlay.opaque'), hexOf('y')]);
    ops.push(['xattr', hexOf(p('sym')), hexOf('trusted.onlink'), hexOf('on a symlink')]);
    ops.push(['xattr', hexOf(p('empty')), hexOf('user.empty'), '']);
  }
  if (opts.bigIds) {
    ops.push(['own', hexOf(p('f1')), 70000, 3000000]);
    ops.push(['own', hexOf(p('sym')), 123, 456]);
  }
  // nanosecond mtimes everywhere (children before parents), then one before the epoch
  ops.push(['times', hexOf(root)]);
  ops.push(['time', hexOf(p('f0')), '-1500000000']);
  const r = spawnSync('python3', ['-c', PY_OPS], { input: JSON.stringify(ops), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return root;
}

function gnuTar(dir: string, format: string, out: string, extra: string[] = []): string {
  run('tar', [`--format=${format}`, ...extra, '-cf', out, '-C', dir, '.']);
  return out;
}

function walkTree(t: SourceTree): Map<string, SourceInode> {
  const m = new Map<string, SourceInode>();
  const go = (n: SourceInode, p: string): void => {
    m.set(p, n);
    for (const c of n.children ?? []) go(c.inode, p + '/' + Buffer.from(c.name).toString('latin1'));
  };
  go(t.root, '');
  return m;
}

async function sha(src: ByteSource | undefined): Promise<string> {
  assert.ok(src, 'content');
  const h = createHash('sha256');
  for (let o = 0; o < src.size; o += 1 << 16) h.update(await src.read(o, Math.min(1 << 16, src.size - o)));
  return h.digest('hex');
}

/** same paths, metadata, content and hardlink identity */
async function assertSameTree(a: SourceTree, b: SourceTree): Promise<void> {
  const ma = walkTree(a);
  const mb = walkTree(b);
  assert.deepEqual([...mb.keys()], [...ma.keys()]);
  const ida = new Map<SourceInode, string>();
  const idb = new Map<SourceInode, string>();
  for (const [p, x] of ma) {
    const y = mb.get(p)!;
    const strip = (n: SourceInode) => ({ ...n, children: undefined, content: undefined, xattrs: n.xattrs.map((q) => [hexOf(q.name), hexOf(q.value)]) });
    assert.deepEqual(strip(y), strip(x), p);
    if (x.type === 'reg') assert.equal(await sha(y.content), await sha(x.content), `${p}: content`);
    if (!ida.has(x)) ida.set(x, p);
    if (!idb.has(y)) idb.set(y, p);
    assert.equal(idb.get(y), ida.get(x), `${p}: hardlink identity`);
  }
}

// ---------------------------------------------------------------------------------------------

describe('tar reader: nydus fixtures', () => {
  for (const f of ['all-entry-type.tar', 'all-entry-type-macos.tar']) {
    it(`${f} matches Python's tarfile`, async () => {
      const path = join(TAR_FIXTURES, f);
      const src = new BytesSource(new Uint8Array(readFileSync(path)), f);
      // LIBARCHIVE.xattr.* duplicates SCHILY.xattr.* here: one xattr per name
      compareWithOracle(await entriesOf(src), oracle(path));
    });
  }

  it('all-entry-type.tar as a tree: hardlinks are one inode, symlink target, parents', async () => {
    const src = new BytesSource(new Uint8Array(readFileSync(join(TAR_FIXTURES, 'all-entry-type.tar'))));
    const t = await treeFromTar(src);
    const m = walkTree(t);
    const links = oracle(join(TAR_FIXTURES, 'all-entry-type.tar')).filter((o) => o.type === '1');
    assert.ok(links.length >= 3);
    for (const l of links) {
      const name = '/' + Buffer.from(l.name, 'hex').toString();
      const target = '/' + Buffer.from(l.linkname, 'hex').toString();
      assert.ok(m.get(name), name);
      assert.equal(m.get(name), m.get(target), `${name} is ${target}`);
    }
    const sym = m.get('/tar/dir2/symlink1.txt')!;
    assert.equal(sym.type, 'symlink');
    assert.equal(Buffer.from(sym.target!).toString(), '../dir1/dir3/file1.txt');
    assert.equal(sym.size, sym.target!.length);
    assert.equal(m.get('/tar/dir1/dir3/hardlink1.txt')!.size, 15);
    // the primary name is unmarked, the other names are links
    const dirents = [...m.entries()].filter(([, n]) => n === m.get('/tar/dir1/dir3/hardlink1.txt'));
    assert.equal(dirents.length, 4);
  });

  it('empty.tar (0 bytes) is an empty tree', async () => {
    const t = await treeFromTar(new BytesSource(new Uint8Array(readFileSync(join(TAR_FIXTURES, 'empty.tar')))));
    assert.equal(t.root.type, 'dir');
    assert.equal(t.root.children!.length, 0);
  });

  it('all-entry-type-macos.tar: PAX xattrs, ns mtimes, a 255-byte name, AppleDouble files pass through', async () => {
    const t = await treeFromTar(new BytesSource(new Uint8Array(readFileSync(join(TAR_FIXTURES, 'all-entry-type-macos.tar')))));
    const m = walkTree(t);
    const d3 = m.get('/tar/dir1/dir3')!;
    const o = oracle(join(TAR_FIXTURES, 'all-entry-type-macos.tar')).find((x) => Buffer.from(x.name, 'hex').toString() === 'tar/dir1/dir3')!;
    assert.equal(d3.mtimeNsec, o.nsec);
    assert.deepEqual(d3.xattrs.map((x) => [hexOf(x.name), hexOf(x.value)]), Object.entries(o.xattrs));
    assert.ok([...m.keys()].some((k) => k.endsWith('/._dir3')));
    assert.ok([...m.keys()].some((k) => k.length > 255));
  });
});

describe('tar reader: archives made by GNU tar', () => {
  const dir = makeSourceDir({ xattrs: true, bigIds: true });
  const work = tempDir('ls-tarfmt-');

  for (const [format, extra] of [['gnu', []], ['pax', ['--xattrs', '--xattrs-include=*']], ['posix', []], ['oldgnu', []]] as const) {
    it(`--format=${format} matches Python's tarfile entry by entry`, async () => {
      const path = gnuTar(dir, format, join(work, `${format}.tar`), [...extra]);
      const src = new BytesSource(new Uint8Array(readFileSync(path)), path);
      const ours = await entriesOf(src);
      compareWithOracle(ours, oracle(path));
      // what the formats exercise
      const names = ours.map(({ entry }) => entry.path.length);
      assert.ok(Math.max(...names) > 255, 'a path over 255 bytes');
      assert.ok(ours.some(({ entry }) => entry.type === 'symlink' && entry.linkname.length === 400));
      assert.ok(ours.some(({ entry }) => entry.type === 'chr' && entry.devmajor === 300 && entry.devminor === 70000));
      assert.ok(ours.some(({ entry }) => entry.type === 'fifo'));
      assert.ok(ours.some(({ entry }) => entry.uid === 70000 && entry.gid === 3000000));
      assert.ok(ours.some(({ entry }) => entry.mtime === -2 && entry.mtimeNsec === (format === 'gnu' || format === 'oldgnu' ? 0 : 5e8)));
      if (format === 'pax') assert.ok(ours.some(({ entry }) => entry.xattrs.some((x) => hexOf(x.name) === hexOf('trusted.big') && x.value.length === 3000)));
    });
  }

  it('ustar (short names only) matches Python, prefix field joined', async () => {
    // ustar has no room for negative times, long link targets or names over 255 bytes
    const small = join(tempDir('ls-ustar-'), 'src');
    mkdirSync(small);
    writeFileSync(join(small, 'file'), 'x'.repeat(1000));
    symlinkSync('file', join(small, 'sym'));
    linkSync(join(small, 'file'), join(small, 'hard'));
    mkdirSync(join(small, 'p'.repeat(90), 'q'.repeat(60)), { recursive: true });
    writeFileSync(join(small, 'p'.repeat(90), 'q'.repeat(60), 'r'.repeat(90)), 'prefix + name');
    const path = gnuTar(small, 'ustar', join(work, 'ustar.tar'));
    const src = new BytesSource(new Uint8Array(readFileSync(path)), path);
    const ours = await entriesOf(src);
    compareWithOracle(ours, oracle(path));
    assert.ok(ours.some(({ entry }) => entry.path.length > 200));
  });

  it('tree: devices, fifo, symlinks, hardlinks, xattrs, implicit parents, whiteouts as plain entries', async () => {
    const path = gnuTar(dir, 'pax', join(work, 'tree.tar'), ['--xattrs', '--xattrs-include=*']);
    const t = await treeFromTar(new BytesSource(new Uint8Array(readFileSync(path)), path));
    const m = walkTree(t);
    const lst = JSON.parse(run('python3', ['-c', `
import os, json, sys
r = sys.argv[1]; out = {}
for d, ds, fs in os.walk(r.encode()):
    for n in ds + fs:
        p = os.path.join(d, n); st = os.lstat(p)
        out[p[len(r):].decode('latin1')] = [st.st_mode, st.st_uid, st.st_gid, str(st.st_mtime_ns), os.major(st.st_rdev), os.minor(st.st_rdev), st.st_ino]
print(json.dumps(out))`, dir])) as Record<string, [number, number, number, string, number, number, number]>;
    assert.equal(m.size - 1, Object.keys(lst).length);
    for (const [p, [mode, uid, gid, ns, maj, min]] of Object.entries(lst)) {
      const n = m.get(p);
      assert.ok(n, p);
      assert.equal(n.perm, mode & 0o7777, `${p}: perm`);
      assert.deepEqual([n.uid, n.gid], [uid, gid], `${p}: owner`);
      assert.equal(BigInt(n.mtime) * 1_000_000_000n + BigInt(n.mtimeNsec), BigInt(ns), `${p}: mtime`);
      if (n.type === 'chr' || n.type === 'blk') assert.deepEqual([major(n.rdev), minor(n.rdev)], [maj, min], `${p}: rdev`);
    }
    // hardlink identity follows inode numbers on disk
    for (const [p, v] of Object.entries(lst)) for (const [q, w] of Object.entries(lst)) if (v[6] === w[6]) assert.equal(m.get(p), m.get(q), `${p} ~ ${q}`);
    assert.equal(m.get('/.wh.gone')!.type, 'reg');
    assert.equal(m.get('/a/.wh..wh..opq')!.type, 'reg');
    // the hardlink names other than the first carry link: true
    const dirents: { link?: boolean; inode: SourceInode }[] = [];
    for (const n of m.values()) for (const c of n.children ?? []) dirents.push(c);
    const f513 = m.get('/f513')!;
    assert.equal(dirents.filter((d) => d.inode === f513 && !d.link).length, 1);
    assert.equal(dirents.filter((d) => d.inode === f513 && d.link).length, 2);
  });

  it('content is sliced from the archive: only headers are read', async () => {
    const path = gnuTar(dir, 'pax', join(work, 'count.tar'));
    const bytes = new Uint8Array(readFileSync(path));
    let read = 0;
    const src: ByteSource = { size: bytes.length, name: 'count', read: async (o, n) => ((read += n), bytes.subarray(o, o + n)) };
    const t = await treeFromTar(src);
    assert.ok(read < bytes.length / 4, `read ${read} of ${bytes.length}`);
    assert.ok(walkTree(t).get('/f1048579')!.content);
  });

  it('global PAX headers (GNU tar --pax-option) apply to every later entry unless overridden', async () => {
    const small = join(tempDir(), 'g');
    mkdirSync(small);
    writeFileSync(join(small, 'a'), 'a');
    writeFileSync(join(small, 'b'), 'b');
    spawnSync('chown', ['5:3000001', join(small, 'b')]);
    const path = gnuTar(small, 'pax', join(work, 'global.tar'), ['--pax-option=gid=77,SCHILY.xattr.user.glob=gv']);
    const ours = await entriesOf(new BytesSource(new Uint8Array(readFileSync(path))));
    const listing = run('tar', ['-tvf', path, '--numeric-owner']).trim().split('\n');
    assert.equal(ours.length, listing.length);
    ours.forEach(({ entry }, i) => {
      const owner = listing[i]!.split(/\s+/)[1]!;
      assert.equal(`${entry.uid}/${entry.gid}`, owner, listing[i]);
      assert.deepEqual(entry.xattrs.map((x) => [Buffer.from(x.name).toString(), Buffer.from(x.value).toString()]), [['user.glob', 'gv']]);
    });
    assert.ok(ours.some(({ entry }) => entry.gid === 77) && ours.some(({ entry }) => entry.gid === 3000001));
  });

  it('Python-written global header, hardlink with PAX, base-256 negative mtime and big ids', async () => {
    const path = join(work, 'py.tar');
    run('python3', ['-c', `
import tarfile, io
t = tarfile.open('${path}', 'w', format=tarfile.PAX_FORMAT, pax_headers={'comment': 'g', 'SCHILY.xattr.user.g': 'global'})
i = tarfile.TarInfo('x/file'); i.size = 3; i.mtime = 5; t.addfile(i, io.BytesIO(b'abc'))
j = tarfile.TarInfo('x/link'); j.type = tarfile.LNKTYPE; j.linkname = 'x/file'; t.addfile(j)
t.close()
g = tarfile.open('${path}.gnu', 'w', format=tarfile.GNU_FORMAT)
k = tarfile.TarInfo('neg'); k.mtime = -123456; k.uid = 3000000000; k.gid = 2**40; g.addfile(k, io.BytesIO(b''))
g.close()`]);
    compareWithOracle(await entriesOf(new BytesSource(new Uint8Array(readFileSync(path)))), oracle(path), { xattrs: false });
    const gnu = await entriesOf(new BytesSource(new Uint8Array(readFileSync(`${path}.gnu`))));
    compareWithOracle(gnu, oracle(`${path}.gnu`));
    assert.deepEqual([gnu[0]!.entry.mtime, gnu[0]!.entry.uid, gnu[0]!.entry.gid], [-123456, 3000000000, 2 ** 40]);
    const t = await treeFromTar(new BytesSource(new Uint8Array(readFileSync(path))));
    const m = walkTree(t);
    assert.equal(m.get('/x/link'), m.get('/x/file'));
    assert.equal(hexOf(m.get('/x/file')!.xattrs[0]!.value), hexOf('global'));
  });
});

describe('tar reader: numbers and PAX values', () => {
  it('octal with spaces and NULs, base-256 positive and negative', () => {
    const f = (s: string | number[]) => parseNumber(typeof s === 'string' ? enc.encode(s) : Uint8Array.from(s), 't', 0, 'f');
    assert.equal(f('0000644\0'), 0o644);
    assert.equal(f('  644 \0'), 0o644);
    assert.equal(f('\0\0\0\0'), 0);
    assert.equal(f('77777777777\0'), 0o77777777777);
    assert.equal(f([0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00]), 256);
    assert.equal(f([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]), -2);
    assert.equal(f([0x80, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0]), 2 ** 45);
    assert.throws(() => f('12a4\0'), FormatError);
    assert.throws(() => f([0x81, 0, 0, 0]), FormatError);
    assert.throws(() => f([0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), FormatError);
  });

  it('PAX times with fractions, negative, and junk', () => {
    const t = (s: string) => parsePaxTime(enc.encode(s), 0);
    assert.deepEqual(t('1665584430.393557573'), [1665584430, 393557573]);
    assert.deepEqual(t('12.5'), [12, 500000000]);
    assert.deepEqual(t('7'), [7, 0]);
    assert.deepEqual(t('1.0000000019'), [1, 1]);
    assert.deepEqual(t('-1.5'), [-2, 500000000]);
    assert.deepEqual(t('-3'), [-3, 0]);
    for (const bad of ['', 'x', '1.2.3', '--1', '1e9']) assert.throws(() => t(bad), FormatError, bad);
  });
});

describe('tar reader: corrupt and truncated archives', () => {
  const dir = makeSourceDir({ long: true, devices: true });
  const work = tempDir('ls-tarbad-');
  const path = gnuTar(dir, 'pax', join(work, 'ok.tar'));
  const good = new Uint8Array(readFileSync(path));
  const tarOf = (b: Uint8Array) => treeFromTar(new BytesSource(b, 'bad'));

  it('a damaged header fails its checksum with the header offset', async () => {
    const headers: number[] = [];
    for await (const { entry } of readTar(sourceInput(new BytesSource(good)))) headers.push(entry.headerOffset);
    for (const at of headers.slice(0, 20)) {
      const b = good.slice();
      b[at + 5] ^= 0x41;
      await assert.rejects(tarOf(b), (e: unknown) => e instanceof FormatError && e.structure === 'tar.header' && e.offset === at && /checksum/.test(e.detail), `header at ${at}`);
    }
  });

  it('truncation at every block and inside blocks: FormatError, or a complete prefix on an entry boundary', async () => {
    const boundaries = new Set<number>();
    let last = 0;
    for await (const { entry } of readTar(sourceInput(new BytesSource(good)))) {
      boundaries.add(entry.offset);
      last = entry.dataOffset + Math.ceil(entry.size / 512) * 512;
    }
    boundaries.add(last);
    let ok = 0;
    let bad = 0;
    for (let cut = 0; cut < good.length; cut += cut < 8192 ? 97 : 1531) {
      try {
        await tarOf(good.subarray(0, cut));
        assert.ok(boundaries.has(cut) || cut >= last, `cut at ${cut} was accepted but is not an entry boundary`);
        ok++;
      } catch (e) {
        assert.ok(e instanceof FormatError, `cut at ${cut}: ${(e as Error).message}`);
        assert.ok(!boundaries.has(cut), `cut at entry boundary ${cut} rejected: ${(e as Error).message}`);
        bad++;
      }
    }
    assert.ok(ok > 0 && bad > 100);
  });

  it('random byte damage gives a typed error or a tree, never a hang or a crash', async () => {
    let seed = 99;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 400; i++) {
      const b = good.slice();
      const n = 1 + Math.floor(rnd() * 4);
      // aim at header blocks and the PAX data after them
      for (let k = 0; k < n; k++) b[Math.floor(rnd() * Math.min(b.length, 16384))] = Math.floor(rnd() * 256);
      try {
        await tarOf(b);
      } catch (e) {
        assert.ok(isTypedError(e), `iteration ${i}: ${(e as Error).stack}`);
      }
    }
  });

  it('refuses "..", hardlinks to unseen paths, sparse files, and extension headers with no entry', async () => {
    const mk = (script: string) => {
      const p = join(work, `gen-${Math.random()}.tar`);
      run('python3', ['-c', `import tarfile, io\nt = tarfile.open('${p}', 'w', format=tarfile.PAX_FORMAT)\n${script}\nt.close()`]);
      return new Uint8Array(readFileSync(p));
    };
    await assert.rejects(tarOf(mk(`i = tarfile.TarInfo('a/../../etc/passwd'); t.addfile(i, io.BytesIO(b''))`)), (e: unknown) => e instanceof FormatError && /\.\./.test(e.detail));
    await assert.rejects(
      tarOf(mk(`j = tarfile.TarInfo('dir/link'); j.type = tarfile.LNKTYPE; j.linkname = 'later'; t.addfile(j)\ni = tarfile.TarInfo('later'); t.addfile(i, io.BytesIO(b''))`)),
      (e: unknown) => e instanceof FormatError && /dir\/link/.test(e.detail) && /later/.test(e.detail),
    );
    await assert.rejects(
      tarOf(mk(`i = tarfile.TarInfo('d'); i.type = tarfile.DIRTYPE; t.addfile(i)\nj = tarfile.TarInfo('l'); j.type = tarfile.LNKTYPE; j.linkname = 'd'; t.addfile(j)`)),
      (e: unknown) => e instanceof FormatError && /directory/.test(e.detail),
    );
    await assert.rejects(tarOf(mk(`i = tarfile.TarInfo('f'); i.pax_headers = {'GNU.sparse.major': '1', 'GNU.sparse.minor': '0'}; t.addfile(i, io.BytesIO(b''))`)), UnsupportedError);
    // a PAX header followed by the end-of-archive blocks
    const withEntry = mk(`i = tarfile.TarInfo('x' * 150); t.addfile(i, io.BytesIO(b''))`);
    const cut = withEntry.slice(0, 1024 + 1024); // x header + its data block, then zeros
    cut.fill(0, 1024);
    await assert.rejects(tarOf(cut), (e: unknown) => e instanceof FormatError && /extension headers/.test(e.detail));
    // a file over a parent path
    await assert.rejects(tarOf(mk(`i = tarfile.TarInfo('f'); t.addfile(i, io.BytesIO(b''))\nj = tarfile.TarInfo('f/g'); t.addfile(j, io.BytesIO(b''))`)), FormatError);
  });

  it('not a tar at all: FormatError at byte 0; an aborted read stops', async () => {
    const text = enc.encode('this is a text file, not a tar archive\n'.repeat(40));
    await assert.rejects(tarOf(text), (e: unknown) => e instanceof FormatError && e.offset === 0 && /not a tar header|checksum/.test(e.detail));
    await assert.rejects(treeFromTarGz(new BytesSource(text)), FormatError);
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(treeFromTar(new BytesSource(good), { signal: ac.signal }), (e: unknown) => (e as Error).name === 'AbortError');
  });

  it('a huge PAX header size is refused before allocating', async () => {
    const b = good.slice(0, 4096);
    // first block is a PAX 'x' header (GNU tar pax format): give it a 1 TiB size and fix the checksum
    assert.equal(String.fromCharCode(b[156]!), 'x');
    b.set(enc.encode('17777777777\0'), 124);
    b.fill(0x20, 148, 156);
    let s = 0;
    for (let i = 0; i < 512; i++) s += b[i]!;
    b.set(enc.encode(s.toString(8).padStart(6, '0') + '\0 '), 148);
    await assert.rejects(tarOf(b), (e: unknown) => e instanceof FormatError && /limit/.test(e.detail));
  });
});

describe('tar.gz', () => {
  const dir = makeSourceDir({ xattrs: true });
  const work = tempDir('ls-targz-');
  const tarPath = gnuTar(dir, 'pax', join(work, 'a.tar'), ['--xattrs', '--xattrs-include=*']);
  run('sh', ['-c', `gzip -c ${tarPath} > ${tarPath}.gz`]);
  const tarBytes = new Uint8Array(readFileSync(tarPath));
  const gzBytes = new Uint8Array(readFileSync(`${tarPath}.gz`));

  const variants: [string, TarGzOptions][] = [
    ['native gunzip, all in memory', { impl: 'native' }],
    ['fflate gunzip, all in memory', { impl: 'fflate', readSize: 4096 }],
    ['memory budget 64 KiB, rest re-decompressed on demand', { memoryBudget: 64 * 1024, maxMemoryFile: 600 }],
    ['no memory, temp file spill', { memoryBudget: 0, spill: tempFileSpill(work) }],
    ['no memory, Blob spill', { memoryBudget: 0, spill: blobSpill() }],
  ];
  for (const [name, opts] of variants) {
    it(`same tree as the plain tar: ${name}`, { timeout: 120_000 }, async () => {
      const plain = await treeFromTar(new BytesSource(tarBytes));
      const gz = await treeFromTarGz(new BytesSource(gzBytes, 'a.tar.gz'), opts);
      await assertSameTree(plain, gz);
      if (opts.memoryBudget === 64 * 1024) assert.ok(gz.notes.some((n) => /decompressing the archive again/.test(n)), gz.notes.join('; '));
      if (opts.spill) assert.ok(gz.notes.some((n) => /spilled/.test(n)));
    });
  }

  it('treeFromTarball sniffs gzip', async () => {
    await assertSameTree(await treeFromTarball(new BytesSource(tarBytes)), await treeFromTarball(new BytesSource(gzBytes)));
  });

  it('concatenated gzip members and trailing zeros are accepted by both gunzips', async () => {
    const half = Math.floor(tarBytes.length / 1024) * 512;
    const multi = Buffer.concat([gzipSync(tarBytes.subarray(0, half)), gzipSync(tarBytes.subarray(half)), Buffer.alloc(1000)]);
    for (const impl of ['native', 'fflate'] as const) {
      await assertSameTree(await treeFromTar(new BytesSource(tarBytes)), await treeFromTarGz(new BytesSource(new Uint8Array(multi)), { impl }));
    }
  });

  it('truncated or garbage gzip gives FormatError (both gunzips)', async () => {
    for (const impl of ['native', 'fflate'] as const) {
      for (const cut of [10, 1000, Math.floor(gzBytes.length / 2), gzBytes.length - 100]) {
        await assert.rejects(treeFromTarGz(new BytesSource(gzBytes.subarray(0, cut)), { impl }), (e: unknown) => e instanceof FormatError, `${impl} cut ${cut}`);
      }
      const junk = gzBytes.slice();
      junk.fill(0x55, 200, 400);
      await assert.rejects(treeFromTarGz(new BytesSource(junk), { impl }), (e: unknown) => e instanceof FormatError, `${impl} junk`);
    }
  });

  it('GunzipReplay reads any range, restarting only to go backwards', async () => {
    const replay = new GunzipReplay(new BytesSource(gzBytes), { readSize: 8192 });
    let seed = 5;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const ranges = Array.from({ length: 60 }, () => {
      const o = Math.floor(rnd() * tarBytes.length);
      return [o, Math.min(tarBytes.length - o, Math.floor(rnd() * 200000))] as const;
    });
    const results = await Promise.all(ranges.map(([o, n]) => replay.read(o, n)));
    results.forEach((r, i) => assert.deepEqual(r, tarBytes.subarray(ranges[i]![0], ranges[i]![0] + ranges[i]![1])));
    assert.ok(replay.restarts > 0);
    const before = replay.restarts;
    // increasing, non-overlapping ranges: one restart to get back to the start, then none
    const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
    for (let i = 0; i < sorted.length; i++) {
      const [o, n0] = sorted[i]!;
      const n = Math.min(n0, (sorted[i + 1]?.[0] ?? tarBytes.length) - o);
      assert.deepEqual(await replay.read(o, n), tarBytes.subarray(o, o + n));
    }
    assert.equal(replay.restarts, before + 1);
    await replay.close();
  });

  it('gunzipChunks output equals gunzip(1)', async () => {
    const parts: Uint8Array[] = [];
    for await (const c of gunzipChunks(new BytesSource(gzBytes), { impl: 'fflate' })) parts.push(c);
    assert.deepEqual(new Uint8Array(Buffer.concat(parts)), tarBytes);
  });
});
