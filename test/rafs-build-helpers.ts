// Helpers shared by the RAFS builder tests: seeded in-memory source trees, building into memory,
// opening the result with our reader, comparing trees.
import { MemorySink } from '../src/lib/erofs/writer-output.ts';
import { newDir, type SourceInode, type SourceTree } from '../src/lib/fs/tree.ts';
import { makedev } from '../src/lib/fs/types.ts';
import { treeFs } from '../src/lib/fs/sources/treefs.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { openRafs } from '../src/lib/rafs/index.ts';
import type { RafsFs } from '../src/lib/rafs/model.ts';
import { buildRafs } from '../src/lib/rafs/builder/build.ts';
import type { RafsBuildOptions, RafsBuildResult } from '../src/lib/rafs/builder/types.ts';
import { prng, randomBytes, textBytes } from './helpers/mktree.ts';
import { compareSnapshots, snapshotFs } from './helpers/treecompare.ts';

const enc = new TextEncoder();

export function file(bytes: Uint8Array, perm = 0o644, extra: Partial<SourceInode> = {}): SourceInode {
  return { type: 'reg', perm, uid: 0, gid: 0, mtime: 1_700_000_000, mtimeNsec: 0, size: bytes.length, rdev: 0, xattrs: [], content: new BytesSource(bytes, 'mem'), ...extra };
}
export function dir(children: [string, SourceInode][], perm = 0o755, extra: Partial<SourceInode> = {}): SourceInode {
  const d = { ...newDir(perm), mtime: 1_690_000_000, ...extra };
  d.children = children.map(([n, inode]) => ({ name: enc.encode(n), inode }));
  return d;
}
export function symlink(target: string): SourceInode {
  const t = enc.encode(target);
  return { type: 'symlink', perm: 0o777, uid: 0, gid: 0, mtime: 1_600_000_000, mtimeNsec: 5, size: t.length, rdev: 0, xattrs: [], target: t };
}
export function special(type: 'chr' | 'blk' | 'fifo' | 'sock', rdev = 0): SourceInode {
  return { type, perm: 0o640, uid: 0, gid: 0, mtime: 1_650_000_000, mtimeNsec: 0, size: 0, rdev, xattrs: [] };
}
export function tree(root: SourceInode): SourceTree {
  root.mtime = 0; // nydus forces the root mtime to 0
  root.mtimeNsec = 0;
  return { root, notes: [] };
}

/**
 * A seeded random tree: nested directories, files of many sizes (empty, tiny, exactly one chunk,
 * multi-chunk, with repeated chunks for dedup; random and compressible), symlinks, hardlinks,
 * devices, fifos, sockets, xattrs, owners, modes, mtimes with nanoseconds.
 */
export function randomTree(seed: number, chunkSize: number, opts: { files?: number; maxSize?: number } = {}): SourceTree {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const root = newDir(0o755);
  const dirs: SourceInode[] = [root];
  const files: SourceInode[] = [];
  const shared = randomBytes(rnd, chunkSize);
  const nFiles = opts.files ?? 40;
  const maxSize = opts.maxSize ?? 3 * chunkSize + 100;
  let k = 0;
  const add = (parent: SourceInode, name: string, inode: SourceInode) => parent.children!.push({ name: enc.encode(name), inode });
  for (let i = 0; i < 8; i++) {
    const d = newDir([0o755, 0o700, 0o1777, 0o2755][int(4)]!);
    d.uid = int(3) * 1000;
    d.gid = int(3) * 100;
    d.mtime = 1_600_000_000 + int(1e8);
    d.mtimeNsec = int(1e9);
    if (i % 3 === 0) d.xattrs.push({ name: enc.encode('user.dir'), value: enc.encode(`d${i}`) });
    add(dirs[int(dirs.length)]!, `dir-${i}-${'x'.repeat(int(30))}`, d);
    dirs.push(d);
  }
  for (let i = 0; i < nFiles; i++) {
    const kind = int(6);
    let size = [0, 1 + int(100), chunkSize, int(maxSize), 2 * chunkSize, 5000 + int(20000)][kind]!;
    if (size > maxSize) size = maxSize;
    let data: Uint8Array;
    if (kind === 4) {
      data = new Uint8Array(size);
      data.set(shared, 0);
      data.set(shared, chunkSize);
    } else data = rnd() < 0.5 ? textBytes(rnd, size) : randomBytes(rnd, size);
    const f = file(data, [0o644, 0o755, 0o600, 0o4755][int(4)]!, { uid: int(2) * 1001, gid: int(2) * 1002, mtime: 1_500_000_000 + int(1e8), mtimeNsec: int(1e9) });
    if (i % 5 === 0) f.xattrs.push({ name: enc.encode('user.k' + i), value: randomBytes(rnd, int(40)) });
    if (i % 7 === 0) f.xattrs.push({ name: enc.encode('security.capability'), value: randomBytes(rnd, 20) });
    if (i % 11 === 0) f.xattrs.push({ name: enc.encode('trusted.t'), value: enc.encode('y') });
    add(dirs[int(dirs.length)]!, `f${k++}.${['txt', 'bin', 'so', ''][int(4)]}`, f);
    files.push(f);
  }
  // hardlinks (regular files only) and the other types
  for (let i = 0; i < 4; i++) add(dirs[int(dirs.length)]!, `hl${i}`, files[int(files.length)]!);
  for (let i = 0; i < 5; i++) add(dirs[int(dirs.length)]!, `ln${i}`, symlink(['../x', '/etc/passwd', 'a'.repeat(1 + int(300)), 'f0.txt', 'dangling/nowhere'][i]!));
  add(root, 'chr', special('chr', makedev(1, 3)));
  add(root, 'blk', special('blk', makedev(259, 70000)));
  add(dirs[1]!, 'fifo', special('fifo'));
  add(dirs[2]!, 'sock', special('sock'));
  // a directory big enough for several dirent blocks
  const big = newDir(0o755);
  for (let i = 0; i < 300; i++) add(big, `entry-${String(i).padStart(4, '0')}-${'n'.repeat(i % 40)}`, file(new Uint8Array(0)));
  add(root, 'big', big);
  add(root, '#sorted-before-dot', file(enc.encode('hash')));
  return tree(root);
}

export interface Built {
  boot: Uint8Array;
  blob: Uint8Array;
  result: RafsBuildResult;
}

export async function buildMem(t: SourceTree, opts: RafsBuildOptions): Promise<Built> {
  const bs = new MemorySink();
  const bl = new MemorySink();
  const result = await buildRafs(t, opts, { bootstrap: bs, blob: bl });
  return { boot: bs.bytes(), blob: bl.bytes(), result };
}

export async function openBuilt(b: { boot: Uint8Array }, blobs: { id: string; bytes: Uint8Array }[]): Promise<RafsFs> {
  return openRafs(new BytesSource(b.boot, 'image.boot'), { blobs: blobs.map((x) => new BytesSource(x.bytes, x.id)) });
}

/** Differences between a source tree and an image (empty = identical). */
export async function diffTree(src: SourceTree, fs: import('../src/lib/fs/types.ts').ReadOnlyFs, opts: Parameters<typeof compareSnapshots>[2] = {}): Promise<string[]> {
  return compareSnapshots(await snapshotFs(treeFs(src)), await snapshotFs(fs), opts);
}
