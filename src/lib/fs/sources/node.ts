// Node-only: never import this from code that runs in the page or a worker.
import { spawn } from 'node:child_process';
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import { lstat, mkdtemp, open, readdir, readlink, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isUtf8 } from 'node:buffer';
import { FormatError, IoError } from '../../errors.ts';
import { readFull, readFullSync } from '../../io/node.ts';
import { announceFile } from '../../codec/fsverity.ts';
import { checkRange, type ByteSource } from '../../io/source.ts';
import type { SourceInode, SourceTree, Xattr } from '../tree.ts';
import { compareBytes, fileTypeOfMode, makedev } from '../types.ts';
import { markHardlinks } from './names.ts';
import type { ContentSpill } from './tar.ts';

/**
 * A directory on disk as a SourceTree with everything lstat gives (mode, owners, ns mtime, rdev),
 * symlink targets as raw bytes, hardlinks (one SourceInode per dev+ino), and xattrs read by one
 * recursive `getfattr` run per tree (Node has no xattr API). Names are kept as raw bytes (Buffer
 * paths throughout), children are sorted by name bytes for a reproducible tree. File content is
 * read lazily through a small pool of open handles, so a 50k-file tree does not hold 50k fds.
 */

export interface DirectoryTreeOptions {
  /**
   * 0 (default): synchronous lstat/readdir/readlink in batches of 1000 with a yield to the event
   * loop between batches: on a local filesystem the metadata comes from the kernel's caches and
   * the thread-pool round trip of the async calls costs more than the call (50k entries: ~0.3 s
   * vs ~1.7 s here). n > 0: async calls with n in flight, for slow (network) filesystems.
   */
  concurrency?: number;
  /** read xattrs with getfattr (default true) */
  xattrs?: boolean;
  /** getfattr executable (default "getfattr" on PATH) */
  getfattr?: string;
  /** file handles kept open for content reads (default 32) */
  maxOpenFiles?: number;
  signal?: AbortSignal;
}

export async function treeFromDirectory(path: string, opts: DirectoryTreeOptions = {}): Promise<SourceTree> {
  const rootPath = Buffer.from(resolve(path));
  const concurrency = Math.max(0, opts.concurrency ?? 0);
  const sys = concurrency === 0 ? syncCalls : asyncCalls;
  const pool: ContentFiles = concurrency === 0 ? new SyncFiles() : new FdPool(Math.max(1, opts.maxOpenFiles ?? 32));
  const notes: string[] = [`directory ${resolve(path)}`];
  const xattrRun = opts.xattrs === false ? null : readXattrs(rootPath, opts.getfattr ?? 'getfattr');

  const rootStat = await sys.lstat(rootPath);
  if (!rootStat.isDirectory()) throw new IoError(resolve(path), 'not a directory');
  // (path, inode) of every entry, matched with getfattr's output once it is in
  const paths: Buffer[] = [];
  const inodes: SourceInode[] = [];
  const byDevIno = new Map<string, SourceInode>();
  const counts = { entries: 0, hardlinks: 0, sockets: 0 };

  function inodeFor(st: BigIntStats, p: Buffer): SourceInode {
    const mode = Number(st.mode);
    const type = fileTypeOfMode(mode);
    if (!type) throw new IoError(p.toString(), `unknown file type in mode 0${mode.toString(8)}`);
    const linked = type !== 'dir' && st.nlink > 1n;
    const key = linked ? `${st.dev}:${st.ino}` : '';
    if (linked) {
      const seen = byDevIno.get(key);
      if (seen) {
        counts.hardlinks++;
        return seen;
      }
    }
    const ns = st.mtimeNs;
    let sec = ns / 1_000_000_000n;
    let nsec = ns % 1_000_000_000n;
    if (nsec < 0n) {
      nsec += 1_000_000_000n;
      sec -= 1n;
    }
    const inode: SourceInode = {
      type, perm: mode & 0o7777, uid: Number(st.uid), gid: Number(st.gid), mtime: Number(sec), mtimeNsec: Number(nsec),
      size: type === 'reg' || type === 'symlink' ? Number(st.size) : 0,
      rdev: type === 'chr' || type === 'blk' ? linuxRdev(st.rdev) : 0, xattrs: [],
    };
    if (type === 'dir') inode.children = [];
    if (type === 'reg') {
      inode.content = pool.source(p, inode.size);
      // a composefs build in the CLI hashes files while the walk goes on (cli/verity-pool.ts)
      announceFile(inode.content);
    }
    if (type === 'sock') counts.sockets++;
    if (linked) byDevIno.set(key, inode);
    return inode;
  }

  const root = inodeFor(rootStat, rootPath);
  paths.push(rootPath);
  inodes.push(root);

  /** the inode of `name` in a listed directory: lstat, symlink target, its slot in the parent */
  const entry = (name: Uint8Array, parent: SourceInode, slot: number, st: BigIntStats, p: Buffer): SourceInode => {
    const inode = inodeFor(st, p);
    counts.entries++;
    parent.children![slot] = { name, inode };
    paths.push(p);
    inodes.push(inode);
    return inode;
  };

  if (concurrency === 0) {
    // Depth first with an explicit stack and no promise per entry: the job walk it replaced awaited
    // every lstat and made a job object, a Buffer name and a few closures per entry. Walk CPU time
    // (user+sys, xattrs off, medians of interleaved runs, load ~2.3): /tmp/q7-small (39.7k
    // entries) 435 -> 326 ms, /usr/share (57.6k) 573 -> 400 ms, with this walk, latin1 names and
    // the ListedFile classes; lstat alone is ~110 ms and readdir ~40 ms of that. Same visiting
    // order as the job walk (last name first, a directory listed as soon as it is met), so a
    // hardlink keeps the same first path and files are announced in the same order. A yield to
    // the event loop every 1000 entries, as before.
    // Names are listed as latin1 strings: one char per byte, so they round-trip to the exact bytes,
    // sort in byte order with the default string comparison (char codes 0-255), and V8 makes a
    // one-byte string where `encoding: 'buffer'` makes a Buffer with its own backing store per name
    // (readdir of /tmp/q7-small's 2067 directories: 36-50 ms vs 51-82 ms CPU).
    type Open = { path: Buffer; names: string[]; inode: SourceInode; next: number };
    const list = (path: Buffer, inode: SourceInode): Open => {
      const names = sync(path, 'cannot list directory', () => readdirSync(path, { encoding: 'latin1' }));
      names.sort();
      inode.children = new Array(names.length);
      return { path, names, inode, next: names.length - 1 };
    };
    const stack: Open[] = [list(rootPath, root)];
    let sinceYield = 0;
    while (stack.length) {
      const d = stack[stack.length - 1]!;
      if (d.next < 0) {
        stack.pop();
        continue;
      }
      if (++sinceYield === 1000) {
        sinceYield = 0;
        await new Promise((r) => setImmediate(r));
      }
      opts.signal?.throwIfAborted();
      const slot = d.next--;
      const name = d.names[slot]!;
      const at = d.path.length + 1;
      const p = Buffer.allocUnsafe(at + name.length);
      d.path.copy(p, 0);
      p[at - 1] = 0x2f;
      p.write(name, at, 'latin1');
      // the name is a plain view of the path's bytes, not a copy: a copy was an ArrayBuffer per entry
      const inode = entry(new Uint8Array(p.buffer, p.byteOffset + at, name.length), d.inode, slot, syncCalls.lstat(p) as BigIntStats, p);
      if (inode.type === 'symlink' && !inode.target) {
        inode.target = syncCalls.readlink(p) as Uint8Array;
        inode.size = inode.target.length;
      }
      if (inode.type === 'dir') stack.push(list(p, inode));
    }
  } else {
    // bounded-concurrency walk for slow filesystems: a job lists one directory or lstats one entry
    type Job = { kind: 'dir'; path: Buffer; inode: SourceInode } | { kind: 'entry'; path: Buffer; name: Buffer; parent: SourceInode; slot: number };
    const jobs: Job[] = [{ kind: 'dir', path: rootPath, inode: root }];
    const run = async (job: Job): Promise<void> => {
      opts.signal?.throwIfAborted();
      if (job.kind === 'dir') {
        const names = await sys.readdir(job.path);
        names.sort(compareBytes);
        job.inode.children = new Array(names.length);
        names.forEach((name, slot) => jobs.push({ kind: 'entry', path: Buffer.concat([job.path, SLASH, name]), name, parent: job.inode, slot }));
        return;
      }
      const inode = entry(new Uint8Array(job.name), job.parent, job.slot, await sys.lstat(job.path), job.path);
      if (inode.type === 'symlink' && !inode.target) {
        inode.target = await sys.readlink(job.path);
        inode.size = inode.target.length;
      }
      if (inode.type === 'dir') jobs.push({ kind: 'dir', path: job.path, inode });
    };
    await new Promise<void>((done, fail) => {
      let active = 0;
      let failed = false;
      const pump = (): void => {
        while (!failed && active < concurrency && jobs.length) {
          const job = jobs.pop()!;
          active++;
          run(job).then(
            () => {
              active--;
              if (!jobs.length && active === 0) done();
              else pump();
            },
            (e) => {
              failed = true;
              fail(e);
            },
          );
        }
      };
      pump();
    });
  }

  if (xattrRun) {
    const xr = await xattrRun;
    if (xr.note) notes.push(xr.note);
    let n = 0;
    const byPath = new Map<string, SourceInode>();
    if (xr.byPath.size) paths.forEach((p, i) => byPath.set(p.toString('latin1'), inodes[i]!));
    for (const [p, xs] of xr.byPath) {
      const inode = byPath.get(p);
      if (inode && inode.xattrs.length === 0) {
        inode.xattrs = xs;
        n++;
      }
    }
    if (!xr.note) notes.push(`xattrs read with getfattr: ${n} inodes carry xattrs`);
  } else notes.push('xattrs were not read (xattrs: false)');
  markHardlinks(root);
  notes.push(`${counts.entries} entries, ${counts.hardlinks} extra hardlinks`);
  if (counts.sockets) notes.push(`${counts.sockets} sockets (most image formats keep them; tar cannot)`);
  return { root, notes };
}

const SLASH = Buffer.from('/');

interface FsCalls {
  lstat(p: Buffer): Promise<BigIntStats> | BigIntStats;
  readdir(p: Buffer): Promise<Buffer[]> | Buffer[];
  readlink(p: Buffer): Promise<Uint8Array> | Uint8Array;
}
function fsError(p: Buffer, what: string, e: unknown): IoError {
  return new IoError(p.toString(), `${what}: ${(e as Error).message}`);
}
const asyncCalls: FsCalls = {
  lstat: (p) => lstat(p, { bigint: true }).catch((e) => Promise.reject(fsError(p, 'lstat', e))),
  readdir: (p) => readdir(p, { encoding: 'buffer' }).catch((e) => Promise.reject(fsError(p, 'cannot list directory', e))),
  readlink: (p) => readlink(p, { encoding: 'buffer' }).then((b) => new Uint8Array(b), (e) => Promise.reject(fsError(p, 'cannot read symlink', e))),
};
function sync<T>(p: Buffer, what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw fsError(p, what, e);
  }
}
const syncCalls: FsCalls = {
  lstat: (p) => sync(p, 'lstat', () => lstatSync(p, { bigint: true })),
  readdir: (p) => sync(p, 'cannot list directory', () => readdirSync(p, { encoding: 'buffer' })),
  readlink: (p) => sync(p, 'cannot read symlink', () => new Uint8Array(readlinkSync(p, { encoding: 'buffer' }))),
};

/** glibc's 64-bit dev_t → (major, minor) → the Linux 32-bit "new" encoding SourceInode uses */
function linuxRdev(dev: bigint): number {
  const maj = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const min = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  return makedev(maj, min);
}

// ---------------------------------------------------------------------------------------------
// xattrs via getfattr

interface XattrRun {
  byPath: Map<string, Xattr[]>;
  note: string | null;
}

/** getfattr prints "\ooo" for non-printable bytes, '\' and (in names) '=' */
function unescapeOctal(s: Buffer): Buffer {
  if (!s.includes(0x5c)) return s;
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === 0x5c && i + 3 < s.length && /^[0-7]{3}$/.test(s.subarray(i + 1, i + 4).toString('latin1'))) {
      out.push(parseInt(s.subarray(i + 1, i + 4).toString('latin1'), 8));
      i += 3;
    } else out.push(s[i]!);
  }
  return Buffer.from(out);
}

export function parseGetfattr(out: Buffer): Map<string, Xattr[]> {
  const byPath = new Map<string, Xattr[]>();
  let cur: Xattr[] | null = null;
  let start = 0;
  const FILE = Buffer.from('# file: ');
  while (start < out.length) {
    let end = out.indexOf(0x0a, start);
    if (end < 0) end = out.length;
    const line = out.subarray(start, end);
    start = end + 1;
    if (line.length === 0) {
      cur = null;
      continue;
    }
    if (line.subarray(0, FILE.length).equals(FILE)) {
      cur = [];
      byPath.set(unescapeOctal(line.subarray(FILE.length)).toString('latin1'), cur);
      continue;
    }
    if (!cur) continue;
    const eq = line.indexOf(0x3d);
    const name = unescapeOctal(eq < 0 ? line : line.subarray(0, eq));
    const v = eq < 0 ? '' : line.subarray(eq + 1).toString('latin1');
    let value: Uint8Array;
    if (v === '' || v === '""') value = new Uint8Array(0);
    else if (/^0x([0-9a-fA-F]{2})*$/.test(v)) value = new Uint8Array(Buffer.from(v.slice(2), 'hex'));
    else throw new FormatError('getfattr output', -1, `unexpected value for ${name.toString()}: ${v.slice(0, 40)}`);
    cur.push({ name: new Uint8Array(name), value });
  }
  return byPath;
}

function readXattrs(root: Buffer, exe: string): Promise<XattrRun> {
  return new Promise((done) => {
    const chunks: Buffer[] = [];
    const errs: Buffer[] = [];
    // spawn reports a missing executable through 'error', not by throwing
    const child = spawn(exe, ['-d', '-m', '-', '-e', 'hex', '-h', '-P', '-R', '--absolute-names', '--', root.toString()], {
      env: { ...process.env, LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let finished = false;
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => errs.push(c));
    child.on('error', (e: NodeJS.ErrnoException) => {
      finished = true;
      done({ byPath: new Map(), note: e.code === 'ENOENT' ? `xattrs not read: ${exe} is not installed (apt-get install attr)` : `xattrs not read: ${exe}: ${e.message}` });
    });
    child.on('close', (code) => {
      if (finished) return;
      let byPath: Map<string, Xattr[]>;
      try {
        byPath = parseGetfattr(Buffer.concat(chunks));
      } catch (e) {
        done({ byPath: new Map(), note: `xattrs not read: ${(e as Error).message}` });
        return;
      }
      const err = Buffer.concat(errs).toString().split('\n').find((l) => l.trim());
      done({ byPath, note: code === 0 ? null : `getfattr exited with ${code}${err ? `: ${err}` : ''}; xattrs of the files it could read are kept` });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// lazy file content

const shrank = (at: number): string => `short read at ${at}: the file shrank since it was listed`;

/**
 * A file of the listed tree as a ByteSource: range checks here, `readAt` gets 1 byte or more.
 * Classes with the methods on the prototype, not an object of closures per file: a walk makes one
 * per regular file, and the closures were garbage for the collector (see the walk's comment).
 */
abstract class ListedFile implements ByteSource {
  readonly name: string;
  declare readonly path?: string;
  constructor(readonly file: Buffer, readonly size: number) {
    this.name = file.toString();
    // a path that round-trips (valid UTF-8) lets a copier hand the file to the kernel (copy_file_range)
    if (isUtf8(file)) (this as { path?: string }).path = this.name;
  }
  protected abstract readAt(offset: number, length: number): Promise<Uint8Array>;
  read(offset: number, length: number): Promise<Uint8Array> {
    try {
      checkRange(this, offset, length);
    } catch (e) {
      return Promise.reject(e);
    }
    return length === 0 ? Promise.resolve(new Uint8Array(0)) : this.readAt(offset, length);
  }
}

interface ContentFiles {
  source(path: Buffer, size: number): ByteSource;
}

/**
 * Content reads with plain open/read/close on the calling thread, for local filesystems (the
 * default): a builder reads files one after another, and a thread-pool round trip plus a FileHandle
 * per file cost more than the reads (50k files: ~3.5 s of the build went to async open/close).
 * The last file stays open so a big file read in pieces is opened once.
 */
class SyncFiles implements ContentFiles {
  private last: { key: string; fd: number } | null = null;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;

  source(path: Buffer, size: number): ByteSource {
    return new SyncFile(path, size, this);
  }

  fd(path: Buffer, name: string): number {
    const key = path.toString('latin1');
    if (this.last?.key === key) return this.last.fd;
    this.closeLast();
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      throw new IoError(name, `cannot open: ${(err as Error).message}`);
    }
    this.last = { key, fd };
    // closed after a second of quiet (unref'd): a finished build leaves no descriptor behind
    if (this.idleTimer) this.idleTimer.refresh();
    else {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = null;
        this.closeLast();
      }, 1000);
      this.idleTimer.unref?.();
    }
    return fd;
  }

  private closeLast(): void {
    if (this.last) closeSync(this.last.fd);
    this.last = null;
  }
}

class SyncFile extends ListedFile {
  constructor(file: Buffer, size: number, private readonly files: SyncFiles) {
    super(file, size);
  }
  protected async readAt(offset: number, length: number): Promise<Uint8Array> {
    // every byte is overwritten below: no zero-fill; unpooled so the result owns its buffer
    const raw = Buffer.allocUnsafeSlow(length);
    const buf = new Uint8Array(raw.buffer, raw.byteOffset, length);
    readFullSync(this.files.fd(this.file, this.name), buf, offset, this.name, shrank);
    return buf;
  }
  /**
   * into the caller's buffer: a builder reusing one read buffer skips an allocation and its page
   * faults per read (128 MB of /usr/bin in 4 MiB reads: 62-66 ms fresh, 22-45 ms reused)
   */
  readIntoSync(offset: number, dest: Uint8Array): void {
    checkRange(this, offset, dest.length);
    if (dest.length) readFullSync(this.files.fd(this.file, this.name), dest, offset, this.name, shrank);
  }
  readInto(offset: number, dest: Uint8Array): Promise<void> {
    try {
      this.readIntoSync(offset, dest);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }
}

/**
 * Open file handles shared by every lazy source of a tree, least recently used closed first.
 * A handle in use by a read is never closed under it.
 */
class FdPool implements ContentFiles {
  private readonly open = new Map<string, { fh: Promise<FileHandle>; users: number }>();
  private readonly waiters: (() => void)[] = [];
  private idleTimer: ReturnType<typeof setTimeout> | null = null;
  constructor(private readonly max: number) {}

  source(path: Buffer, size: number): ByteSource {
    return new PooledFile(path, size, this);
  }

  async use<T>(path: Buffer, fn: (fh: FileHandle) => Promise<T>): Promise<T> {
    const key = path.toString('latin1');
    let e: { fh: Promise<FileHandle>; users: number };
    for (;;) {
      const hit = this.open.get(key);
      if (hit) {
        this.open.delete(key); // re-insert: most recently used last
        e = hit;
        break;
      }
      if (this.open.size < this.max || this.evictOne()) {
        e = { fh: open(path, 'r'), users: 0 };
        e.fh.catch(() => {});
        break;
      }
      // every handle is busy: wait for a read to finish
      await new Promise<void>((wake) => this.waiters.push(wake));
    }
    this.open.set(key, e);
    e.users++;
    try {
      let fh: FileHandle;
      try {
        fh = await e.fh;
      } catch (err) {
        // not remembered as failed: the next read tries to open the file again
        if (this.open.get(key) === e) this.open.delete(key);
        throw new IoError(path.toString(), `cannot open: ${(err as Error).message}`);
      }
      return await fn(fh);
    } finally {
      e.users--;
      this.waiters.shift()?.();
      this.closeWhenIdle();
    }
  }

  /**
   * Handles left open after the last read are closed after a second of quiet (an unref'd timer),
   * so a finished build leaves no descriptors for the garbage collector to close.
   */
  private closeWhenIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      while (this.evictOne());
    }, 1000);
    this.idleTimer.unref?.();
  }

  /** close the least recently used idle handle; false when every handle is in use */
  private evictOne(): boolean {
    for (const [k, e] of this.open) {
      if (e.users > 0) continue;
      this.open.delete(k);
      e.fh.then((fh) => fh.close()).catch(() => {});
      return true;
    }
    return false;
  }
}

class PooledFile extends ListedFile {
  constructor(file: Buffer, size: number, private readonly files: FdPool) {
    super(file, size);
  }
  protected readAt(offset: number, length: number): Promise<Uint8Array> {
    return this.files.use(this.file, async (fh) => {
      const buf = new Uint8Array(length);
      await readFull(fh, buf, offset, this.name, shrank);
      return buf;
    });
  }
}

// ---------------------------------------------------------------------------------------------
// a spill store for .tar.gz content

/**
 * Spill .tar.gz content to one temporary file. The file is unlinked as soon as it is open, so it
 * disappears when the process ends; its space is held only while the tree is in use. Its owner
 * calls close() when the tree built on it is no longer read (try/finally: success and error alike);
 * a store that fails (short content, a write error, an abort of the decompression) closes it at
 * once, since the build that called it fails with it. Either way the descriptor is closed here and
 * not left to the garbage collector (which warns, DEP0137) or the process exit.
 */
export function tempFileSpill(dir = tmpdir()): ContentSpill & { close(): Promise<void> } {
  let state: Promise<{ fh: FileHandle }> | null = null;
  let end = 0;
  let closed = false;
  const init = async (): Promise<{ fh: FileHandle }> => {
    const d = await mkdtemp(join(dir, 'layerscope-spill-'));
    let fh: FileHandle | undefined;
    try {
      fh = await open(join(d, 'content'), 'w+');
      await rm(d, { recursive: true, force: true });
      return { fh };
    } catch (e) {
      await fh?.close().catch(() => {});
      await rm(d, { recursive: true, force: true }).catch(() => {});
      throw e;
    }
  };
  const close = async (): Promise<void> => {
    closed = true;
    const s = state;
    state = null;
    // a failed init left nothing open; FileHandle.close waits for the handle's pending reads
    if (s) await s.then(({ fh }) => fh.close(), () => {});
  };
  const gone = (name: string): never => {
    throw new IoError(name, `the spill file in ${dir} was closed`);
  };
  return {
    description: `a temporary file in ${dir}`,
    close,
    async store(size, chunks, name) {
      if (closed) gone(name);
      state ??= init();
      const { fh } = await state;
      const start = end;
      let got = 0;
      try {
        for await (const c of chunks) {
          let w = 0;
          while (w < c.length) {
            const { bytesWritten } = await fh.write(c, w, c.length - w, start + got + w);
            w += bytesWritten;
          }
          got += c.length;
        }
        if (got !== size) throw new FormatError('tar.data', -1, `${name}: ${got} of ${size} content bytes`);
      } catch (e) {
        await close();
        throw e;
      }
      end += size;
      const src: ByteSource = {
        size,
        name,
        async read(offset: number, length: number): Promise<Uint8Array> {
          checkRange(src, offset, length);
          if (closed) gone(name);
          const buf = new Uint8Array(length);
          await readFull(fh, buf, start + offset, name, (at) => `short read of the spill file at ${at}`);
          return buf;
        },
      };
      return src;
    },
  };
}
