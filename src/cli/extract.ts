// Restores an image's tree on disk. Node has no mknod, setxattr or nanosecond lutimes, so those
// steps go to one python3 process fed a stream of operations while the extraction runs (one
// process for the whole tree, never one per file); without python3 they fall back to Node's calls
// and the report says what was lost.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { accessSync, closeSync, constants, futimesSync, linkSync, lchownSync, chmodSync, lutimesSync, mkdirSync, openSync, readdirSync, symlinkSync, writeSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { readdirAll } from '../lib/fs/path.ts';
import { major, minor, utf8, type Attr, type DirEntry, type ReadOnlyFs } from '../lib/fs/types.ts';

export interface ExtractOptions {
  /** inode to extract (default: the root) */
  startIno?: number;
  /** restore uid/gid (default: when running as root) */
  owners?: boolean;
  /** restore xattrs (default: true) */
  xattrs?: boolean;
  onProgress?: (p: { entries: number; bytes: number }) => void;
  signal?: AbortSignal;
}

export interface ExtractReport {
  entries: number;
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  specials: number;
  bytes: number;
  /** entries not restored, with the reason (unsafe names, unsupported types) */
  skipped: { path: string; reason: string }[];
  warnings: string[];
}

const PIECE = 4 << 20;
const SLASH = Buffer.from('/');

/** A name from an image is untrusted: it must be one plain path component. */
export function unsafeNameReason(name: Uint8Array): string | null {
  if (name.length === 0) return 'empty name';
  if (name.length === 1 && name[0] === 0x2e) return 'name "."';
  if (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e) return 'name ".."';
  if (name.includes(0x2f)) return 'name contains "/"';
  if (name.includes(0)) return 'name contains NUL';
  return null;
}

// One operation per line, tab-separated; byte strings (paths, xattr names and values) in hex.
const PY = String.raw`
import os, sys
errs = 0
for line in sys.stdin:
    op = line.rstrip('\n').split('\t')
    try:
        k = op[0]
        p = os.fsdecode(bytes.fromhex(op[1]))
        if k == 't':
            ns = int(op[2]) * 1000000000 + int(op[3])
            os.utime(p, ns=(ns, ns), follow_symlinks=False)
        elif k == 'x':
            os.setxattr(p, bytes.fromhex(op[2]), bytes.fromhex(op[3]), follow_symlinks=False)
        elif k == 'n':
            os.mknod(p, int(op[2]), int(op[3]))
        elif k == 'l':
            os.link(os.fsdecode(bytes.fromhex(op[2])), p, follow_symlinks=False)
        elif k == 'o':
            os.chown(p, int(op[2]), int(op[3]), follow_symlinks=False)
        elif k == 'm':
            os.chmod(p, int(op[2]))
    except OSError as e:
        errs += 1
        if errs <= 50:
            sys.stderr.write('%s %s: %s\n' % (op[0], os.fsdecode(bytes.fromhex(op[1])), e.strerror))
sys.exit(1 if errs else 0)
`;

/**
 * The system's python3 first (a PATH entry may be a version-manager shim that runs a few dozen
 * processes before python starts), else a PATH lookup; nothing is spawned here.
 */
function findPython(): string | null {
  for (const p of ['/usr/bin/python3', ...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'python3'))]) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch { /* next */ }
  }
  return null;
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

type Op = 't' | 'x' | 'n' | 'l' | 'o' | 'm';

/** The python3 helper; `done()` ends its input and collects its complaints. */
interface Helper {
  send(op: Op, path: Uint8Array, ...args: (string | number)[]): void;
  done(): Promise<string>;
}

/** Started at the first operation: most images need none (whole-second mtimes, no xattrs or devices). */
function startHelper(python: string): Helper {
  let child: ChildProcessByStdio<Writable, null, Readable> | null = null;
  let exited: Promise<void> = Promise.resolve();
  let err = '';
  const start = (): ChildProcessByStdio<Writable, null, Readable> => {
    const c: ChildProcessByStdio<Writable, null, Readable> = spawn(python, ['-c', PY], { stdio: ['pipe', 'ignore', 'pipe'] });
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    exited = new Promise<void>((resolve, reject) => {
      c.on('error', reject);
      c.on('close', () => resolve());
    });
    return c;
  };
  let buf = '';
  const flush = () => {
    if (buf) (child ??= start()).stdin.write(buf);
    buf = '';
  };
  return {
    send(op, path, ...args) {
      buf += args.length ? `${op}\t${hex(path)}\t${args.join('\t')}\n` : `${op}\t${hex(path)}\n`;
      if (buf.length >= 1 << 16) flush();
    },
    async done() {
      flush();
      if (!child) return '';
      child.stdin.end();
      await exited;
      return err;
    },
  };
}

export async function extract(fs: ReadOnlyFs, destDir: string, opts: ExtractOptions = {}): Promise<ExtractReport> {
  const report: ExtractReport = { entries: 0, files: 0, dirs: 0, symlinks: 0, hardlinks: 0, specials: 0, bytes: 0, skipped: [], warnings: [] };
  const uid = process.getuid?.() ?? -1;
  const gid = process.getgid?.() ?? -1;
  const isRoot = uid === 0;
  const owners = opts.owners ?? isRoot;
  const wantXattrs = opts.xattrs ?? true;
  const python = findPython();
  if (!python) report.warnings.push('python3 not found: devices, fifos, sockets and xattrs are not restored, mtimes only to the microsecond');

  await fsp.mkdir(destDir, { recursive: true });
  if (readdirSync(destDir).length > 0) throw new Error(`${destDir} is not empty`);
  const dest = Buffer.from(destDir.replace(/\/+$/, ''));

  const helper = python ? startHelper(python) : null;
  const dirs: { path: Buffer; attr: Attr }[] = [];
  const firstPathOf = new Map<number, Buffer>();
  // every file's bytes pass through this one buffer: no allocation (and page faults) per read
  const piece = new Uint8Array(PIECE);
  // modes are given exactly at creation; restored at the end
  const oldUmask = process.umask(0);

  // Node sets times to the microsecond only: whole seconds directly, nanoseconds through python
  const setTime = (path: Buffer, attr: Attr): void => {
    if (attr.mtimeNsec === 0) lutimesSync(path, attr.mtime, attr.mtime);
    else if (helper) helper.send('t', path, attr.mtime, attr.mtimeNsec);
    else {
      const t = attr.mtime + attr.mtimeNsec / 1e9;
      lutimesSync(path, t, t);
    }
  };
  /** owner and mode of an entry Node created; chown clears set-id bits, so chmod follows it */
  const setOwnerMode = (path: Buffer, attr: Attr, created: number): void => {
    const chown = owners && (attr.uid !== uid || attr.gid !== gid);
    if (chown) lchownSync(path, attr.uid, attr.gid);
    const mode = attr.mode & 0o7777;
    if (attr.type !== 'symlink' && (mode !== created || (chown && (mode & 0o6000)))) chmodSync(path, mode);
  };
  const sendXattrs = async (path: Buffer, attr: Attr): Promise<void> => {
    if (!wantXattrs || !helper) return;
    for (const name of await fs.listxattr(attr.ino)) {
      const value = await fs.getxattr(attr.ino, name);
      if (value) helper.send('x', path, hex(name), hex(value));
    }
  };

  // Synchronous writes: a CLI on a local disk gains nothing from the thread pool, and loses a
  // round trip per call (fsck.erofs-like speed needs plain open/write/close). Writer threads were
  // tried and measured slower here: creating files on one filesystem did not scale over 2 cores.
  const writeFile = async (path: Buffer, attr: Attr): Promise<void> => {
    const mode = attr.mode & 0o7777;
    const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
    try {
      for (let off = 0; off < attr.size; ) {
        const bytes = await fs.read(attr.ino, off, Math.min(PIECE, attr.size - off), piece);
        if (bytes.length === 0) throw new Error(`${path.toString()}: image data ends at ${off} of ${attr.size} bytes`);
        for (let w = 0; w < bytes.length; ) w += writeSync(fd, bytes, w, bytes.length - w);
        off += bytes.length;
        report.bytes += bytes.length;
      }
      // by descriptor: no second path lookup (owners, modes and xattrs do not touch the mtime)
      if (attr.mtimeNsec === 0) futimesSync(fd, attr.mtime, attr.mtime);
    } finally {
      closeSync(fd);
    }
    setOwnerMode(path, attr, mode);
    await sendXattrs(path, attr);
    if (attr.mtimeNsec !== 0) setTime(path, attr);
  };

  /** one entry below the root; `display` is only built for messages */
  const restore = async (path: Buffer, attr: Attr, display: () => string): Promise<boolean> => {
    const first = attr.type !== 'dir' ? firstPathOf.get(attr.ino) : undefined;
    if (first) {
      report.hardlinks++;
      // a link to a special file must wait until python has made it
      if (attr.type === 'reg' || attr.type === 'symlink') linkSync(first, path);
      else if (helper) helper.send('l', path, hex(first));
      return false;
    }
    if (attr.type !== 'dir' && attr.nlink > 1) firstPathOf.set(attr.ino, path);
    switch (attr.type) {
      case 'dir':
        // root may create a read-only directory and still fill it; others chmod at the end
        mkdirSync(path, isRoot ? attr.mode & 0o7777 : 0o700);
        report.dirs++;
        dirs.push({ path, attr });
        return true;
      case 'reg':
        report.files++;
        await writeFile(path, attr);
        return false;
      case 'symlink':
        symlinkSync(Buffer.from(await fs.readlink(attr.ino)), path);
        report.symlinks++;
        setOwnerMode(path, attr, 0o777);
        await sendXattrs(path, attr);
        setTime(path, attr);
        return false;
      default:
        if (!helper) {
          report.skipped.push({ path: display(), reason: `${attr.type} needs mknod (python3 missing)` });
          return false;
        }
        if ((attr.type === 'chr' || attr.type === 'blk') && !isRoot) {
          report.skipped.push({ path: display(), reason: `${attr.type} ${major(attr.rdev)}:${minor(attr.rdev)} needs root` });
          return false;
        }
        helper.send('n', path, attr.mode & 0o177777, attr.rdev);
        if (owners && (attr.uid !== uid || attr.gid !== gid)) {
          helper.send('o', path, attr.uid, attr.gid);
          helper.send('m', path, attr.mode & 0o7777);
        }
        await sendXattrs(path, attr);
        setTime(path, attr);
        report.specials++;
        return false;
    }
  };

  try {
    const root = await fs.getattr(opts.startIno ?? fs.rootIno);
    report.entries++;
    report.dirs++;
    dirs.push({ path: dest, attr: root });
    // Depth-first in directory order, one path buffer per directory and one concat per entry. A
    // directory inode met twice (a cycle in a corrupt image) is restored but not entered again;
    // a directory with an unsafe name is skipped whole.
    const seenDirs = new Set<number>([root.ino]);
    const stack: { path: Buffer; display: string; entries: DirEntry[]; i: number }[] =
      root.type === 'dir' ? [{ path: dest, display: '', entries: await readdirAll(fs, root.ino), i: 0 }] : [];
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      if (top.i >= top.entries.length) {
        stack.pop();
        continue;
      }
      if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
      const e = top.entries[top.i++]!;
      const display = () => `${top.display}/${utf8(e.name)}`;
      const bad = unsafeNameReason(e.name);
      if (bad) {
        report.skipped.push({ path: display(), reason: bad });
        continue;
      }
      const attr = await fs.getattr(e.ino);
      const path = Buffer.concat([top.path, SLASH, e.name], top.path.length + 1 + e.name.length);
      report.entries++;
      const isNewDir = await restore(path, attr, display);
      opts.onProgress?.({ entries: report.entries, bytes: report.bytes });
      if (isNewDir && !seenDirs.has(attr.ino)) {
        seenDirs.add(attr.ino);
        stack.push({ path, display: display(), entries: await readdirAll(fs, attr.ino), i: 0 });
      }
    }
    // directories last, deepest first: adding entries changes a directory's mtime
    for (let i = dirs.length - 1; i >= 0; i--) {
      const { path, attr } = dirs[i]!;
      setOwnerMode(path, attr, isRoot ? attr.mode & 0o7777 : 0o700);
      await sendXattrs(path, attr);
      setTime(path, attr);
    }
  } finally {
    process.umask(oldUmask);
    if (helper) {
      const errors = await helper.done();
      if (errors) report.warnings.push(...errors.trim().split('\n'));
    }
  }
  return report;
}
