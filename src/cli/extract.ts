// Restores an image's tree on disk. Node has no mknod, setxattr or nanosecond lutimes, so those
// steps go to one python3 process fed a stream of operations while the extraction runs (one
// process for the whole tree, never one per file); without python3 they fall back to Node's calls
// and the report says what was lost.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { accessSync, closeSync, constants, linkSync, lchownSync, chmodSync, mkdirSync, openSync, readdirSync, symlinkSync, writeSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { walk } from '../lib/fs/path.ts';
import { major, minor, utf8, type Attr, type ReadOnlyFs } from '../lib/fs/types.ts';

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

/** A name from an image is untrusted: it must be one plain path component. */
export function unsafeNameReason(name: Uint8Array): string | null {
  if (name.length === 0) return 'empty name';
  if (name.length === 1 && name[0] === 0x2e) return 'name "."';
  if (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e) return 'name ".."';
  if (name.includes(0x2f)) return 'name contains "/"';
  if (name.includes(0)) return 'name contains NUL';
  return null;
}

const PY = String.raw`
import os, sys, json
errs = 0
for line in sys.stdin:
    op = json.loads(line)
    try:
        k = op[0]
        p = os.fsdecode(bytes.fromhex(op[1]))
        if k == 'node':
            os.mknod(p, op[2], op[3])
        elif k == 'link':
            os.link(os.fsdecode(bytes.fromhex(op[2])), p, follow_symlinks=False)
        elif k == 'xattr':
            os.setxattr(p, bytes.fromhex(op[2]), bytes.fromhex(op[3]), follow_symlinks=False)
        elif k == 'own':
            os.chown(p, op[2], op[3], follow_symlinks=False)
        elif k == 'mode':
            os.chmod(p, op[2])
        elif k == 'time':
            ns = op[2] * 1000000000 + op[3]
            os.utime(p, ns=(ns, ns), follow_symlinks=False)
    except OSError as e:
        errs += 1
        if errs <= 50:
            sys.stderr.write('%s %s: %s\n' % (op[0], os.fsdecode(bytes.fromhex(op[1])), e.strerror))
sys.exit(1 if errs else 0)
`;

/** PATH lookup without spawning anything (a spawn costs more than a small extraction). */
function findPython(): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, 'python3');
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch { /* next */ }
  }
  return null;
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** The python3 helper, fed one JSON array per line; `done()` ends input and collects its complaints. */
interface Helper {
  send(op: unknown[]): void;
  done(): Promise<string>;
}

function startHelper(python: string): Helper {
  const child: ChildProcessByStdio<Writable, null, Readable> = spawn(python, ['-c', PY], { stdio: ['pipe', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', () => resolve());
  });
  let buf: string[] = [];
  const flush = () => {
    if (buf.length) child.stdin.write(buf.join('\n') + '\n');
    buf = [];
  };
  return {
    send(op) {
      buf.push(JSON.stringify(op));
      if (buf.length >= 512) flush();
    },
    async done() {
      flush();
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
  const inflight = new Set<Promise<void>>();
  let failure: unknown = null;
  // modes are given exactly at creation; restored at the end
  const oldUmask = process.umask(0);

  const setTime = async (path: Buffer, attr: Attr): Promise<void> => {
    if (helper) helper.send(['time', hex(path), attr.mtime, attr.mtimeNsec]);
    else {
      const t = attr.mtime + attr.mtimeNsec / 1e9;
      await fsp.lutimes(path, t, t);
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
      if (value) helper.send(['xattr', hex(path), hex(name), hex(value)]);
    }
  };

  // Synchronous writes: a CLI on a local disk gains nothing from the thread pool, and loses a
  // round trip per call (fsck.erofs-like speed needs plain open/write/close).
  const writeFile = async (path: Buffer, attr: Attr): Promise<void> => {
    const mode = attr.mode & 0o7777;
    const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
    try {
      for (let off = 0; off < attr.size; ) {
        const piece = await fs.read(attr.ino, off, Math.min(PIECE, attr.size - off));
        if (piece.length === 0) throw new Error(`${path.toString()}: image data ends at ${off} of ${attr.size} bytes`);
        for (let w = 0; w < piece.length; ) w += writeSync(fd, piece, w, piece.length - w);
        off += piece.length;
        report.bytes += piece.length;
      }
    } finally {
      closeSync(fd);
    }
    setOwnerMode(path, attr, mode);
    await sendXattrs(path, attr);
    await setTime(path, attr);
  };

  try {
    for await (const { path: comps, attr } of walk(fs, opts.startIno ?? fs.rootIno)) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
      if (failure) throw failure;
      const bad = comps.map(unsafeNameReason).find((r) => r !== null);
      const display = '/' + comps.map(utf8).join('/');
      if (bad) {
        report.skipped.push({ path: display, reason: bad });
        continue;
      }
      const path = comps.length === 0 ? dest : Buffer.concat([dest, ...comps.flatMap((c) => [Buffer.from('/'), Buffer.from(c)])]);
      report.entries++;
      opts.onProgress?.({ entries: report.entries, bytes: report.bytes });
      if (comps.length === 0) {
        report.dirs++;
        dirs.push({ path, attr });
        continue;
      }
      const first = attr.type !== 'dir' ? firstPathOf.get(attr.ino) : undefined;
      if (first) {
        report.hardlinks++;
        // a link to a special file must wait until python has made it
        if (attr.type === 'reg' || attr.type === 'symlink') linkSync(first, path);
        else if (helper) helper.send(['link', hex(path), hex(first)]);
        continue;
      }
      if (attr.type !== 'dir' && attr.nlink > 1) firstPathOf.set(attr.ino, path);
      switch (attr.type) {
        case 'dir':
          // root may create a read-only directory and still fill it; others chmod at the end
          mkdirSync(path, isRoot ? attr.mode & 0o7777 : 0o700);
          report.dirs++;
          dirs.push({ path, attr });
          break;
        case 'reg': {
          report.files++;
          // a file with other links is written before the walk reaches them
          if (attr.nlink > 1) {
            await writeFile(path, attr);
            break;
          }
          const p = writeFile(path, attr).catch((e) => { failure ??= e; });
          inflight.add(p);
          void p.finally(() => inflight.delete(p));
          if (inflight.size >= 8) await Promise.race(inflight);
          break;
        }
        case 'symlink':
          symlinkSync(Buffer.from(await fs.readlink(attr.ino)), path);
          report.symlinks++;
          setOwnerMode(path, attr, 0o777);
          await sendXattrs(path, attr);
          await setTime(path, attr);
          break;
        default:
          if (!helper) {
            report.skipped.push({ path: display, reason: `${attr.type} needs mknod (python3 missing)` });
            continue;
          }
          if ((attr.type === 'chr' || attr.type === 'blk') && !isRoot) {
            report.skipped.push({ path: display, reason: `${attr.type} ${major(attr.rdev)}:${minor(attr.rdev)} needs root` });
            continue;
          }
          helper.send(['node', hex(path), attr.mode & 0o177777, attr.rdev]);
          if (owners && (attr.uid !== uid || attr.gid !== gid)) {
            helper.send(['own', hex(path), attr.uid, attr.gid]);
            helper.send(['mode', hex(path), attr.mode & 0o7777]);
          }
          await sendXattrs(path, attr);
          await setTime(path, attr);
          report.specials++;
      }
    }
    await Promise.all(inflight);
    if (failure) throw failure;
    // directories last, deepest first: adding entries changes a directory's mtime
    for (let i = dirs.length - 1; i >= 0; i--) {
      const { path, attr } = dirs[i]!;
      setOwnerMode(path, attr, isRoot ? attr.mode & 0o7777 : 0o700);
      await sendXattrs(path, attr);
      await setTime(path, attr);
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
