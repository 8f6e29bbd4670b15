// Compare trees entry by entry: an on-disk tree (read by one python3 process: lstat, xattrs,
// readlink, sha256) or a ReadOnlyFs (walk + getattr + read + readlink + xattrs). Hardlinks are
// compared as same-inode groups of paths.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { walk } from '../../src/lib/fs/path.ts';
import { major, minor, type ReadOnlyFs } from '../../src/lib/fs/types.ts';
import { hex } from '../../src/lib/bytes.ts';

export interface SnapEntry {
  type: string;
  /** st_mode including the type bits */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  /** regular files only (0 otherwise) */
  size: number;
  mtimeNs: bigint;
  /** "major:minor" for devices, "" otherwise */
  rdev: string;
  /** symlink target, hex */
  target?: string;
  /** regular file content */
  sha256?: string;
  /** hex name -> hex value */
  xattrs: Record<string, string>;
}

export interface Snapshot {
  /** key: path components joined with "/", hex-encoded ("" = the root) */
  entries: Map<string, SnapEntry>;
  /** groups (size > 1) of paths that are one inode, each sorted, groups sorted */
  links: string[][];
}

const PY = String.raw`
import os, sys, json, stat, hashlib
root = sys.argv[1].encode()
out = []
def visit(rel):
    p = os.path.join(root, rel) if rel else root
    st = os.lstat(p)
    e = {'path': rel.hex(), 'mode': st.st_mode, 'uid': st.st_uid, 'gid': st.st_gid, 'nlink': st.st_nlink,
         'size': st.st_size if stat.S_ISREG(st.st_mode) else 0, 'mtime': str(st.st_mtime_ns),
         'ino': '%d:%d' % (st.st_dev, st.st_ino), 'rdev': '', 'xattrs': {}}
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        e['rdev'] = '%d:%d' % (os.major(st.st_rdev), os.minor(st.st_rdev))
    if stat.S_ISLNK(st.st_mode):
        e['target'] = os.readlink(p).hex()
    if stat.S_ISREG(st.st_mode):
        h = hashlib.sha256()
        with open(p, 'rb') as f:
            while True:
                b = f.read(1 << 20)
                if not b: break
                h.update(b)
        e['sha256'] = h.hexdigest()
    for n in os.listxattr(p, follow_symlinks=False):
        e['xattrs'][n.encode().hex() if isinstance(n, str) else n.hex()] = os.getxattr(p, n, follow_symlinks=False).hex()
    out.append(e)
    if stat.S_ISDIR(st.st_mode):
        for name in sorted(os.listdir(p)):
            visit(os.path.join(rel, name) if rel else name)
visit(b'')
json.dump(out, sys.stdout)
`;

function group(byIno: Map<string, string[]>): string[][] {
  return [...byIno.values()].filter((g) => g.length > 1).map((g) => g.sort()).sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
}

export function snapshotDisk(dir: string): Snapshot {
  const r = spawnSync('python3', ['-c', PY, dir], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`snapshot of ${dir} failed: ${r.stderr}`);
  const raw = JSON.parse(r.stdout) as (Omit<SnapEntry, 'mtimeNs' | 'type'> & { path: string; mtime: string; ino: string })[];
  const entries = new Map<string, SnapEntry>();
  const byIno = new Map<string, string[]>();
  for (const e of raw) {
    const { path, mtime, ino, ...rest } = e;
    const type = typeOfMode(e.mode);
    entries.set(path, { ...rest, type, mtimeNs: BigInt(mtime) });
    if (type !== 'dir' && e.nlink > 1) byIno.set(ino, [...(byIno.get(ino) ?? []), path]);
  }
  return { entries, links: group(byIno) };
}

function typeOfMode(mode: number): string {
  return ({ 0o140000: 'sock', 0o120000: 'symlink', 0o100000: 'reg', 0o060000: 'blk', 0o040000: 'dir', 0o020000: 'chr', 0o010000: 'fifo' } as Record<number, string>)[mode & 0o170000] ?? `mode${mode}`;
}

/** Snapshot through the ReadOnlyFs interface. Files are read in `piece`-byte reads. */
export async function snapshotFs(fs: ReadOnlyFs, piece = 1 << 20): Promise<Snapshot> {
  const entries = new Map<string, SnapEntry>();
  const byIno = new Map<string, string[]>();
  const slash = new Uint8Array([0x2f]);
  for await (const w of walk(fs)) {
    const key = hex(Buffer.concat(w.path.flatMap((c, i) => (i ? [slash, c] : [c]))));
    const a = w.attr;
    const e: SnapEntry = {
      type: a.type, mode: a.mode, uid: a.uid, gid: a.gid, nlink: a.nlink, size: a.type === 'reg' ? a.size : 0,
      mtimeNs: BigInt(a.mtime) * 1_000_000_000n + BigInt(a.mtimeNsec),
      rdev: a.type === 'chr' || a.type === 'blk' ? `${major(a.rdev)}:${minor(a.rdev)}` : '',
      xattrs: {},
    };
    if (a.type === 'symlink') e.target = hex(await fs.readlink(a.ino));
    if (a.type === 'reg') {
      const h = createHash('sha256');
      for (let off = 0; off < a.size; off += piece) {
        const b = await fs.read(a.ino, off, piece);
        if (b.length !== Math.min(piece, a.size - off)) throw new Error(`short read of ${key} at ${off}: ${b.length}`);
        h.update(b);
      }
      e.sha256 = h.digest('hex');
    }
    for (const n of await fs.listxattr(a.ino)) {
      const v = await fs.getxattr(a.ino, n);
      if (v === null) throw new Error(`listed xattr ${hex(n)} of ${key} has no value`);
      e.xattrs[hex(n)] = hex(v);
    }
    entries.set(key, e);
    if (a.type !== 'dir' && a.nlink > 1) byIno.set(String(a.ino), [...(byIno.get(String(a.ino)) ?? []), key]);
  }
  return { entries, links: group(byIno) };
}

export interface CompareOptions {
  /** compare mtimes (default true); compact-inode images carry the build time instead */
  mtime?: boolean;
  /** compare directory mtimes (default: same as mtime) */
  dirMtime?: boolean;
  /** compare xattrs (default true) */
  xattrs?: boolean;
  /** compare hardlink groups and nlink (default true) */
  hardlinks?: boolean;
  /** compare uid/gid (default true) */
  owners?: boolean;
}

function show(key: string): string {
  return '/' + Buffer.from(key, 'hex').toString('latin1');
}

/** Differences between two snapshots, as readable lines (empty = identical). */
export function compareSnapshots(a: Snapshot, b: Snapshot, opts: CompareOptions = {}): string[] {
  const diffs: string[] = [];
  const mtime = opts.mtime ?? true;
  const dirMtime = opts.dirMtime ?? mtime;
  for (const [k, ea] of a.entries) {
    const eb = b.entries.get(k);
    if (!eb) {
      diffs.push(`${show(k)}: missing from the second tree`);
      continue;
    }
    const d = (what: string, x: unknown, y: unknown) => {
      if (x !== y) diffs.push(`${show(k)}: ${what} ${String(x)} != ${String(y)}`);
    };
    d('type', ea.type, eb.type);
    d('mode', ea.mode.toString(8), eb.mode.toString(8));
    if (opts.owners ?? true) {
      d('uid', ea.uid, eb.uid);
      d('gid', ea.gid, eb.gid);
    }
    if ((opts.hardlinks ?? true) && ea.type !== 'dir') d('nlink', ea.nlink, eb.nlink);
    d('size', ea.size, eb.size);
    if (ea.type === 'dir' ? dirMtime : mtime) d('mtime', ea.mtimeNs, eb.mtimeNs);
    d('rdev', ea.rdev, eb.rdev);
    d('symlink target', ea.target, eb.target);
    d('content sha256', ea.sha256, eb.sha256);
    if (opts.xattrs ?? true) {
      const names = new Set([...Object.keys(ea.xattrs), ...Object.keys(eb.xattrs)]);
      for (const n of names) {
        const label = `xattr ${Buffer.from(n, 'hex').toString('latin1')}`;
        if (!(n in ea.xattrs)) diffs.push(`${show(k)}: ${label} only in the second tree`);
        else if (!(n in eb.xattrs)) diffs.push(`${show(k)}: ${label} only in the first tree`);
        else d(label, ea.xattrs[n], eb.xattrs[n]);
      }
    }
  }
  for (const k of b.entries.keys()) if (!a.entries.has(k)) diffs.push(`${show(k)}: only in the second tree`);
  if (opts.hardlinks ?? true) {
    const ga = JSON.stringify(a.links);
    const gb = JSON.stringify(b.links);
    if (ga !== gb) diffs.push(`hardlink groups differ: ${a.links.map((g) => g.map(show).join('=')).join(', ')} vs ${b.links.map((g) => g.map(show).join('=')).join(', ')}`);
  }
  return diffs;
}

/** Compare two on-disk trees. */
export function compareTrees(dirA: string, dirB: string, opts: CompareOptions = {}): string[] {
  return compareSnapshots(snapshotDisk(dirA), snapshotDisk(dirB), opts);
}
