// The plain EROFS writer: images of the shared test tree (every file type, sizes 0..1 MiB+1, a
// 360-entry directory, long and short symlinks, hardlinks, devices, xattrs, mixed mtimes) must pass
// fsck.erofs 1.5, extract back to the source tree with fsck.erofs --extract, and read back through
// our EROFS reader with xattrs and hardlinks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createWriteStream, readFileSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { buildErofs, measureErofs, type ErofsOptions } from '../src/lib/erofs/writer.ts';
import { openErofs } from '../src/lib/erofs/reader.ts';
import { IoError } from '../src/lib/errors.ts';
import { NodeFileSource } from '../src/lib/io/node.ts';
import { BytesSource, checkRange, type ByteSource } from '../src/lib/io/source.ts';
import type { SourceInode, SourceTree } from '../src/lib/fs/tree.ts';
import { fileTypeOfMode, bytes } from '../src/lib/fs/types.ts';
import { makeTestTree } from './helpers/mktree.ts';
import { tempDir } from './helpers/paths.ts';
import { compareSnapshots, snapshotDisk, snapshotFs } from './helpers/treecompare.ts';
import type { Sink } from '../src/lib/erofs/writer-output.ts';
import { hex } from '../src/lib/bytes.ts';

/** Opens the file for each read: a tree of thousands of files holds no descriptors. */
class LazyFile implements ByteSource {
  readonly name: string;
  constructor(private readonly file: Buffer, readonly size: number) {
    this.name = file.toString('latin1');
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    const fh = await open(this.file, 'r');
    try {
      const buf = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
        if (bytesRead === 0) throw new IoError(this.name, 'short read');
        done += bytesRead;
      }
      return buf;
    } finally {
      await fh.close();
    }
  }
}

const PY = String.raw`
import os, sys, json
root = sys.argv[1].encode()
out = []
def visit(rel):
    p = os.path.join(root, rel) if rel else root
    st = os.lstat(p)
    e = {'path': rel.hex(), 'mode': st.st_mode, 'uid': st.st_uid, 'gid': st.st_gid, 'size': st.st_size,
         'mtime': str(st.st_mtime_ns), 'ino': st.st_ino, 'rdev': st.st_rdev, 'xattrs': []}
    if os.path.islink(p): e['target'] = os.readlink(p).hex()
    for n in os.listxattr(p, follow_symlinks=False):
        e['xattrs'].append([n.encode().hex(), os.getxattr(p, n, follow_symlinks=False).hex()])
    out.append(e)
    if os.path.isdir(p) and not os.path.islink(p):
        for name in os.listdir(p): visit(os.path.join(rel, name) if rel else name)
visit(b'')
json.dump(out, sys.stdout)
`;

/** A directory on disk as a SourceTree (hardlinks become one shared SourceInode). */
function readDiskTree(dir: string): SourceTree {
  const r = spawnSync('python3', ['-c', PY, dir], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(r.stderr);
  const raw = JSON.parse(r.stdout) as { path: string; mode: number; uid: number; gid: number; size: number; mtime: string; ino: number; rdev: number; target?: string; xattrs: [string, string][] }[];
  const byPath = new Map<string, SourceInode>();
  const byIno = new Map<number, SourceInode>();
  let root: SourceInode | null = null;
  for (const e of raw) {
    const type = fileTypeOfMode(e.mode)!;
    let inode = type !== 'dir' ? byIno.get(e.ino) : undefined;
    if (!inode) {
      const ns = BigInt(e.mtime);
      inode = {
        type, perm: e.mode & 0o7777, uid: e.uid, gid: e.gid, mtime: Number(ns / 1_000_000_000n), mtimeNsec: Number(ns % 1_000_000_000n),
        size: type === 'reg' || type === 'symlink' ? e.size : 0, rdev: type === 'chr' || type === 'blk' ? e.rdev : 0,
        xattrs: e.xattrs.map(([n, v]) => ({ name: Buffer.from(n, 'hex'), value: Buffer.from(v, 'hex') })),
      };
      if (type === 'dir') inode.children = [];
      if (type === 'symlink') inode.target = Buffer.from(e.target!, 'hex');
      if (type === 'reg') inode.content = new LazyFile(Buffer.concat([Buffer.from(dir + '/'), Buffer.from(e.path, 'hex')]), e.size);
      byIno.set(e.ino, inode);
    }
    const path = Buffer.from(e.path, 'hex');
    if (path.length === 0) root = inode;
    else {
      const slash = path.lastIndexOf(0x2f);
      const parent = byPath.get(slash < 0 ? '' : hex(path.subarray(0, slash)))!;
      parent.children!.push({ name: new Uint8Array(path.subarray(slash + 1)), inode });
    }
    byPath.set(e.path, inode);
  }
  return { root: root!, notes: [] };
}

class FileSink implements Sink {
  private readonly ws;
  constructor(path: string) {
    this.ws = createWriteStream(path);
  }
  write(chunk: Uint8Array): Promise<void> {
    return new Promise((res, rej) => this.ws.write(chunk, (e) => (e ? rej(e) : res())));
  }
  close(): Promise<void> {
    return new Promise((res) => this.ws.end(res));
  }
}

const work = tempDir('ls-erofs-writer-');
const src = makeTestTree({ dir: join(work, 'src') });
const srcSnap = snapshotDisk(src);

async function build(name: string, opts: ErofsOptions): Promise<{ image: string; res: Awaited<ReturnType<typeof buildErofs>> }> {
  const tree = readDiskTree(src);
  const image = join(work, `${name}.erofs`);
  const sink = new FileSink(image);
  const res = await buildErofs(tree, opts, sink);
  await sink.close();
  return { image, res };
}

function fsck(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('fsck.erofs', args, { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

const VARIANTS: { name: string; opts: ErofsOptions }[] = [
  { name: 'default', opts: { uuid: '11111111-2222-3333-4444-555555555555', buildTime: 1_600_000_000, buildTimeNsec: 999_999_999 } },
  { name: 'noinline', opts: { inlineData: false } },
  { name: 'chunk4k', opts: { chunkSize: 4096 } },
  { name: 'chunk64k', opts: { chunkSize: 65536 } },
];

for (const v of VARIANTS) {
  test(`EROFS writer (${v.name}): fsck.erofs passes, --extract and our reader reproduce the tree`, { timeout: 300_000 }, async () => {
    const { image, res } = await build(v.name, v.opts);
    assert.equal(statSync(image).size, res.size);
    assert.equal(res.size % 4096, 0);
    const check = fsck([image]);
    assert.equal(check.status, 0, check.out);

    // fsck.erofs 1.5 --extract restores content, modes, owners, mtimes, symlinks, devices; not xattrs or hardlinks
    const out = join(work, `${v.name}-extract`);
    const ex = fsck([`--extract=${out}`, image]);
    assert.equal(ex.status, 0, ex.out);
    // (it also chowns after chmod, which clears set-uid/gid bits: the same happens with mkfs.erofs images)
    const diffs = compareSnapshots(srcSnap, snapshotDisk(out), { xattrs: false, hardlinks: false, dirMtime: false }).filter((d) => {
      const m = / mode ([0-7]+) != ([0-7]+)$/.exec(d);
      return !(m && (parseInt(m[1]!, 8) & ~0o6000) === parseInt(m[2]!, 8));
    });
    assert.deepEqual(diffs, [], diffs.slice(0, 20).join('\n'));

    // our reader gets everything back, xattrs and hardlinks included
    const fs = await openErofs(await NodeFileSource.open(image));
    try {
      const back = compareSnapshots(srcSnap, await snapshotFs(fs));
      assert.deepEqual(back, [], back.slice(0, 20).join('\n'));
      const info = await fs.info();
      assert.equal((info.checksum as { verified: boolean }).verified, true);
      if (v.opts.chunkSize) {
        assert.ok((info.features as string[]).includes('chunked_file'));
        assert.ok(res.chunks!.stored < res.chunks!.referenced, `dedup: ${JSON.stringify(res.chunks)}`);
      }
    } finally {
      await fs.close();
    }
  });
}

test('EROFS writer: superblock fields, compact vs extended inodes, layouts', async () => {
  const { image, res } = await build('fields', { uuid: '11111111-2222-3333-4444-555555555555', buildTime: 1_600_000_000, buildTimeNsec: 999_999_999, volumeName: 'layerscope' });
  const dump = execFileSync('dump.erofs', ['-s', image], { encoding: 'utf8' });
  assert.match(dump, /Filesystem UUID:\s+11111111-2222-3333-4444-555555555555/);
  assert.match(dump, /Filesystem root nid:\s+36/);
  assert.match(dump, new RegExp(`Filesystem inode count:\\s+${res.inodes}`));
  assert.match(dump, new RegExp(`Filesystem blocks:\\s+${res.blocks}`));
  assert.match(dump, /sb_csum/);
  const fs = await openErofs(new BytesSource(readFileSync(image)));
  // the root has the build time: a compact inode; a file with another mtime is extended
  const root = await fs.inode(fs.rootIno);
  assert.equal(root.extended, false);
  const t1 = await fs.lookup(fs.rootIno, bytes('t1'));
  assert.equal((await fs.inode(t1!.ino)).extended, true);
  // 1-byte file: inline tail; 4096: one plain block; 4097: a block and an inline byte
  const lay = async (n: string) => (await fs.inode((await fs.lookup(fs.rootIno, bytes(n)))!.ino)).layout;
  assert.equal(await lay('r1'), 2);
  assert.equal(await lay('r4096'), 0);
  assert.equal(await lay('r4097'), 2);
  assert.equal(await measureErofs(readDiskTree(src), { buildTime: 1_600_000_000, buildTimeNsec: 999_999_999 }), res.size);
});

test('EROFS writer: the same tree and options give the same bytes', async () => {
  const opts = { uuid: new Uint8Array(16).fill(7), buildTime: 1, buildTimeNsec: 0, chunkSize: 8192 };
  const a = await build('same-a', opts);
  const b = await build('same-b', opts);
  assert.deepEqual(readFileSync(a.image), readFileSync(b.image));
});

test('EROFS writer: refuses what it cannot store', async () => {
  const tree = readDiskTree(src);
  const f = tree.root.children!.find((c) => c.inode.type === 'reg')!;
  delete (f.inode as { content?: ByteSource }).content;
  await assert.rejects(buildErofs(tree, {}, { write() {} }), /no content/);
  await assert.rejects(buildErofs(readDiskTree(src), { chunkSize: 1000 }, { write() {} }), /power of two/);
});

test('EROFS writer: synthetic edge cases (unknown xattr prefixes, >128 shared xattrs, 4095-byte symlink, negative mtime, big ids)', async () => {
  const { MemorySink } = await import('../src/lib/erofs/writer-output.ts');
  const { writeFileSync } = await import('node:fs');
  const file = (data: Uint8Array, extra: Partial<SourceInode> = {}): SourceInode => ({
    type: 'reg', perm: 0o644, uid: 0, gid: 0, mtime: 5, mtimeNsec: 0, size: data.length, rdev: 0, xattrs: [], content: new BytesSource(data), ...extra,
  });
  const dir = (children: [string, SourceInode][], extra: Partial<SourceInode> = {}): SourceInode => ({
    type: 'dir', perm: 0o755, uid: 0, gid: 0, mtime: 5, mtimeNsec: 0, size: 0, rdev: 0, xattrs: [], children: children.map(([n, inode]) => ({ name: bytes(n), inode })), ...extra,
  });
  const many = Array.from({ length: 140 }, (_, k) => ({ name: bytes(`user.s${String(k).padStart(3, '0')}`), value: bytes(`v${k}`) }));
  const shared = file(bytes('x'), { xattrs: many });
  const shared2 = file(bytes('y'), { xattrs: many });
  const odd = file(bytes('z'), { xattrs: [{ name: bytes('lustre.lov'), value: bytes('1') }, { name: bytes('foo.bar'), value: bytes('2') }, { name: bytes('system.posix_acl_access'), value: new Uint8Array([2, 0, 0, 0]) }] });
  const link = { type: 'symlink' as const, perm: 0o777, uid: 70000, gid: 70001, mtime: -100, mtimeNsec: 5, size: 4095, rdev: 0, xattrs: [], target: bytes('t'.repeat(4095)) };
  const hard = file(bytes('hard'), { mtime: 2 ** 40 });
  const big = dir(Array.from({ length: 200 }, (_, k) => [`entry-${'n'.repeat(k % 50)}-${k}`, file(new Uint8Array(k))] as [string, SourceInode]));
  const root = dir([
    ['shared', shared], ['shared2', shared2], ['odd', odd], ['link', link], ['h1', hard], ['h2', hard], ['big', big], ['empty', dir([])],
    ['wh', { type: 'chr', perm: 0, uid: 0, gid: 0, mtime: 5, mtimeNsec: 0, size: 0, rdev: 0, xattrs: [] }],
    ['-before-dot', file(new Uint8Array(0))],
  ]);
  const sink = new MemorySink();
  const res = await buildErofs({ root, notes: [] }, { buildTime: 5, uuid: new Uint8Array(16) }, sink);
  const image = join(work, 'synthetic.erofs');
  writeFileSync(image, sink.bytes());
  const check = fsck([image]);
  assert.equal(check.status, 0, check.out);
  const fs = await openErofs(new BytesSource(sink.bytes()));
  const names = async (ino: number) => (await fs.listxattr(ino)).map((n) => Buffer.from(n).toString()).sort();
  const at = async (p: string) => (await fs.lookup(fs.rootIno, bytes(p)))!;
  assert.deepEqual(await names((await at('shared')).ino), many.map((x) => Buffer.from(x.name).toString()).sort());
  assert.deepEqual(await names((await at('odd')).ino), ['foo.bar', 'lustre.lov', 'system.posix_acl_access']);
  const l = await at('link');
  assert.deepEqual([l.uid, l.gid, l.mtime, l.mtimeNsec, l.size], [70000, 70001, -100, 5, 4095]);
  assert.equal(Buffer.from(await fs.readlink(l.ino)).toString(), 't'.repeat(4095));
  const h = await at('h1');
  assert.equal(h.ino, (await at('h2')).ino);
  assert.equal(h.nlink, 2);
  assert.equal(h.mtime, 2 ** 40);
  const b = await at('big');
  assert.equal((await fs.readdir(b.ino)).length, 200);
  assert.equal((await fs.getattr(fs.rootIno)).nlink, 4);
  assert.equal((await at('wh')).type, 'chr');
  // 140 xattrs used by two inodes: 128 shared references, the rest inline
  const d = await fs.inodeDetails((await at('shared')).ino);
  const x = d.xattr as { shared: unknown[]; inline: unknown[] };
  assert.equal(x.shared.length, 128);
  assert.equal(x.inline.length, 12);
  assert.equal(res.inodes, 1 + 3 + 1 + 1 + 1 + 200 + 1 + 1 + 1); // root, shared x2 + odd, link, one hardlinked file, big + 200, empty, wh, -before-dot
});
