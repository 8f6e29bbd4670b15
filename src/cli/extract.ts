// Restores an image's tree on disk. Node has no mknod, setxattr or nanosecond lutimes, so those
// steps go to one python3 process fed a stream of operations while the extraction runs (one
// process for the whole tree, never one per file); without python3 they fall back to Node's calls
// and the report says what was lost.
//
// This thread walks the image: it makes every directory and turns every other entry into a record
// (extract-leaf.ts) that holds all its restoring needs, a file's bytes as a data plan (where they
// are stored, how they decode). Records are published a job at a time to worker threads, which
// restore them with system calls alone; this thread joins them once its walk is done (with no
// worker, it restores each record as soon as it is made, no job in between). Creating
// and filling files is almost all system-call time, which the kernel runs side by side on
// separate cores; parsing stays in one thread, so only one thread loads and compiles the reader.
// Entries without a plan (a format that cannot make one) are restored here with the reader; a
// hardlinked file is written once, as any file, and its other names are linked to it here at the end. A large file is cut into parts, each a job of
// its own, so that one file does not keep one thread busy while the others have nothing left
// (splitFile, FilePart in extract-leaf.ts).
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { accessSync, closeSync, constants, linkSync, mkdirSync, openSync, readdirSync, unlinkSync, writeSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { fromPlainError } from '../lib/errors.ts';
import { readdirAll } from '../lib/fs/path.ts';
import type { Attr, ReadOnlyFs } from '../lib/fs/types.ts';
import { childText } from '../lib/app/names.ts';
import type { ByteSource } from '../lib/io/source.ts';
import {
  asBuffer, displayOf, failParts, hex, partDone, newReport, openSources, opLine, PART_FAILED, PART_MODE, PIECE, restoreLeaf, sendXattrs, setOwnerMode, setTime, skipEntry, writeFile,
  type ExtractReport, type LeafCtx, type LeafRecord, type Op, type OpSink,
} from './extract-leaf.ts';
import { badSymlinkTarget, EntryBudget, PATH_MAX, plainEntries } from '../lib/fs/entries.ts';
import { pieceLength, type DataPiece } from '../lib/fs/plan.ts';
import { finishJob, JobWriter, readJob, runnable, type EncodedJob } from './extract-job.ts';
import type { FromWorker, ToWorker, WorkerInit, WorkerResult } from './extract-worker.ts';

export type { ExtractReport } from './extract-leaf.ts';

export interface ExtractOptions {
  /** inode to extract (default: the root) */
  startIno?: number;
  /** restore uid/gid (default: when running as root) */
  owners?: boolean;
  /** restore xattrs (default: true) */
  xattrs?: boolean;
  /**
   * Threads that restore entries (default 1: this one only). Workers restore files from data
   * plans, so they help only with a format that makes plans over local files.
   */
  threads?: number;
  /**
   * This thread takes no job before every worker has taken one, so each thread restores
   * something (tests use it; by default a slow-starting worker may find nothing left).
   */
  everyThread?: boolean;
  /**
   * Bytes in a part of a split file (default PART_BYTES); with workers, files of twice this or
   * more are split. Tests set it small to split the files of small images.
   */
  partBytes?: number;
}

/** a file whose plan would be this big is written by the reader instead (a plan is held whole) */
const PLAN_MAX_BYTES = 64 << 20;
/** entries in a job: a big directory is shared out among the threads */
const JOB_ENTRIES = 64;
/** a job is published once its files hold this many bytes, so that jobs weigh about the same */
const JOB_BYTES = 1 << 20;
/**
 * With workers, a file of this many parts or more is split: its parts are jobs of their own, which
 * all threads write side by side (see FilePart). Whole, a large file kept one thread busy while
 * the others had nothing left: 4 LZMA files of 26-28 MB took 6.6 CPU-s on one worker with 2 threads.
 */
const SPLIT_PARTS = 2;
/**
 * Output bytes in a split file's part (at least, but for the last: a compressed piece is not cut).
 * A split file is planned PLAN_MAX_BYTES at a time, so it has no size limit.
 */
const PART_BYTES = 1 << 20;
/** files split in one run (one shared counter each); later large files are written whole */
const PART_SLOTS = 4096;
/** jobs sent to the workers at a time while the walk goes on */
const PUBLISH_BATCH = 8;
/** jobs published and not yet claimed before this thread restores one itself: bounds the records held */
const MAX_BACKLOG = 512;

// One operation per line, tab-separated; byte strings (paths, xattr names and values) in hex.
// Every path names an entry this run creates in directories this run made (extract.ts refuses
// unsafe and duplicate names, so no path runs through a symlink from the image); still, no
// operation follows a symlink, owner and mode are set only on a node this mknod made (a chmod
// after a failed mknod once followed the image's symlink of the same name out of the
// destination), and a path whose mknod failed gets no further operation.
const PY = String.raw`
import os, stat, sys
errs = 0
failed = set()
for line in sys.stdin:
    op = line.rstrip('\n').split('\t')
    try:
        k = op[0]
        p = os.fsdecode(bytes.fromhex(op[1]))
        if p in failed:
            continue
        if k == 't':
            ns = int(op[2]) * 1000000000 + int(op[3])
            os.utime(p, ns=(ns, ns), follow_symlinks=False)
        elif k == 'x':
            os.setxattr(p, bytes.fromhex(op[2]), bytes.fromhex(op[3]), follow_symlinks=False)
        elif k == 'n':
            try:
                os.mknod(p, int(op[2]), int(op[3]))
            except BaseException:
                failed.add(p)
                raise
            if len(op) > 4:
                os.chown(p, int(op[4]), int(op[5]), follow_symlinks=False)
                if not stat.S_ISLNK(os.lstat(p).st_mode):
                    os.chmod(p, int(op[2]) & 0o7777)
        elif k == 'l':
            os.link(os.fsdecode(bytes.fromhex(op[2])), p, follow_symlinks=False)
    except (OSError, ValueError) as e:
        errs += 1
        if errs <= 50:
            sys.stderr.write('%s %s: %s\n' % (op[0], os.fsdecode(bytes.fromhex(op[1])), getattr(e, 'strerror', None) or e))
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

/** The python3 helper; `done()` ends its input and collects its complaints. */
interface Helper extends OpSink {
  /** lines a worker collected */
  sendLines(lines: string): void;
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
    // a helper that died (its complaints say why) must not take the extraction down with EPIPE
    c.stdin.on('error', (e: Error) => { err += `python3 helper: ${e.message}\n`; });
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
  const helper: Helper = {
    touchesDirs: false,
    send(op, path, ...args) {
      if (op === 'n' || op === 'l') helper.touchesDirs = true;
      buf += opLine(op, path, args);
      if (buf.length >= 1 << 16) flush();
    },
    sendLines(lines) {
      buf += lines;
      flush();
    },
    async done() {
      flush();
      if (!child) return '';
      child.stdin.end();
      await exited;
      return err;
    },
  };
  return helper;
}

/** The main thread's context: the executor's, and the reader for what has no plan. */
interface Ctx extends LeafCtx {
  fs: ReadOnlyFs;
  xattrs: boolean;
  /** see ExtractOptions.partBytes */
  partBytes: number;
}

/** A directory made by the walk; its attributes are restored at the end. */
interface MadeDir {
  path: Buffer;
  attr: Attr;
}

/** Published jobs, in index order; the shared counter hands them out (see WorkerInit.shared). */
interface Queue {
  jobs: (EncodedJob | null)[];
  shared: Int32Array;
  /** jobs below this index were claimed, and this thread no longer holds them */
  released: number;
}

/** The next job nobody has claimed, or -1 */
function claim(q: Queue): number {
  const k = Atomics.add(q.shared, 0, 1);
  return k < q.jobs.length ? k : -1;
}

function restoreJob(ctx: Ctx, q: Queue, k: number): void {
  const job = q.jobs[k]!;
  q.jobs[k] = null;
  for (const rec of readJob(job)) restoreLeaf(ctx, rec);
  finishJob(job);
}

const SLASH = Buffer.from('/');
const childPath = (dir: Buffer, name: Uint8Array): Buffer => Buffer.concat([dir, SLASH, name], dir.length + 1 + name.length);

/** An inode's xattrs when they are restored: name, value, name, value…, null for none. */
async function xattrsOf(ctx: Ctx, ino: number): Promise<Uint8Array[] | null> {
  if (!ctx.xattrs || !ctx.ops) return null;
  return nonEmpty(ctx.fs.now?.xattrs(ino) ?? await xattrsAwaited(ctx, ino));
}

const nonEmpty = (xattrs: Uint8Array[]): Uint8Array[] | null => (xattrs.length ? xattrs : null);

async function xattrsAwaited(ctx: Ctx, ino: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const name of await ctx.fs.listxattr(ino)) {
    const value = await ctx.fs.getxattr(ino, name);
    if (value) out.push(name, value);
  }
  return out;
}

/** What the walk found besides the jobs it published. */
interface Walked {
  dirs: MadeDir[];
  /**
   * hardlinked entries, in tree order: restored by this thread at the end (a special file or
   * symlink: its first entry made, the others linked to it; a file: linked to linkTargets')
   */
  linked: LeafRecord<ByteSource>[];
  /** a hardlinked file's first entry, written as any file (by any thread): inode → its path */
  linkTargets: Map<number, Buffer>;
  /** files without a plan: written by this thread with the reader */
  unplanned: LeafRecord<ByteSource>[];
}

/**
 * Every directory below (and including) the root is made, each before the directories in it;
 * every other entry becomes a record, published in jobs through `publish`.
 *
 * Nothing the image says can make a path leave the destination: every path is the destination
 * followed by names that are plain components (plainEntries: no "", ".", "..", "/" or NUL), each
 * name once per directory (a later duplicate is skipped: the first entry of a name is the one
 * restored), and every directory on the way was made by this walk with mkdir, which fails rather
 * than reuse an existing entry. So no path ever runs through a symlink, and no entry is created
 * over another. A directory inode met twice (a cycle, a directory hardlink) is made but not
 * entered again; a path longer than PATH_MAX is skipped with its subtree; the walk counts the
 * entries it lists against what the image can hold (EntryBudget).
 */
async function walk(ctx: Ctx, root: Attr, dest: Buffer, publish: ((job: EncodedJob) => void) | null): Promise<Walked> {
  const out: Walked = { dirs: [{ path: dest, attr: root }], linked: [], linkTargets: new Map(), unplanned: [] };
  if (root.type !== 'dir') return out;
  const seen = new Set<number>([root.ino]);
  const pending: MadeDir[] = [out.dirs[0]!];
  const job = new JobWriter();
  /** file bytes in the job so far */
  let jobBytes = 0;
  // no publish: no worker, so this thread restores each entry as it meets it
  const direct = !publish;
  const publishJob = (): void => {
    publish!(job.take());
    jobBytes = 0;
  };
  let nextSlot = 0;
  const budget = EntryBudget.of(ctx.fs);
  // a local image answers at once: the walk then awaits nothing (see FsNow)
  const fs = ctx.fs;
  const now = fs.now;
  const skip = (path: Uint8Array, reason: string): void => { ctx.report.skipped.push({ path: displayOf(ctx, path), reason }); };
  while (pending.length) {
    const dir = pending.pop()!;
    const subdirs: MadeDir[] = [];
    const listed = now?.readdir(dir.attr.ino) ?? await readdirAll(fs, dir.attr.ino);
    budget.take(listed.length, dir.attr.ino);
    const { kept, refused } = plainEntries(listed);
    // a refused name may hold "/": rendered as one component (componentText), never joined as bytes
    for (const r of refused) ctx.report.skipped.push({ path: childText(displayOf(ctx, dir.path), r.entry.name), reason: r.reason });
    for (const e of kept) {
      const attr = now?.getattr(e.ino) ?? await fs.getattr(e.ino);
      const path = childPath(dir.path, e.name);
      if ((e.type === 'dir') !== (attr.type === 'dir')) {
        skip(path, e.type === 'dir' ? `directory entry of a ${attr.type} inode` : `${e.type} entry of a directory inode`);
        continue;
      }
      if (path.length > PATH_MAX - 1) {
        skip(path.subarray(0, dest.length + 256), `path of ${path.length - dest.length} bytes below the destination: longer than PATH_MAX (${PATH_MAX}) allows${attr.type === 'dir' ? ' (with everything below it)' : ''}`);
        continue;
      }
      if (attr.type === 'dir') {
        try {
          // root may create a read-only directory and still fill it; others chmod at the end
          mkdirSync(path, ctx.isRoot ? attr.mode & 0o7777 : 0o700);
        } catch (err) {
          skipEntry(ctx, path, err);
          continue;
        }
        ctx.report.entries++;
        ctx.report.dirs++;
        const made = { path, attr };
        out.dirs.push(made);
        if (!seen.has(attr.ino)) {
          seen.add(attr.ino);
          subdirs.push(made);
        }
        continue;
      }
      const link = attr.type === 'symlink' ? now?.readlink(attr.ino) ?? await fs.readlink(attr.ino) : null;
      const badLink = link && badSymlinkTarget(link);
      if (badLink) {
        skip(path, badLink);
        continue;
      }
      const linkOnly = attr.type === 'reg' && out.linkTargets.has(attr.ino);
      // xattrsOf, without its await when the reader answers at once
      const xattrs = ctx.xattrs && ctx.ops && !linkOnly ? nonEmpty(now?.xattrs(attr.ino) ?? await xattrsAwaited(ctx, attr.ino)) : null;
      if (attr.nlink > 1 && (linkOnly || attr.type !== 'reg')) {
        out.linked.push({ path, attr, link, plan: null, xattrs });
        continue;
      }
      // a hardlinked file's first entry too: its other entries are linked to it once all threads are
      // done (written by the reader on this thread after the workers were done, it was a serial tail)
      const planned = attr.type === 'reg' && fs.dataPlan;
      // a part count must stay below PART_FAILED (2^30): files of 2^49 bytes and more are written whole
      if (planned && ctx.parts && attr.size >= SPLIT_PARTS * ctx.partBytes && attr.size / ctx.partBytes < PART_FAILED && nextSlot < ctx.parts.length) {
        if (await splitFile(ctx, { path, attr, link, plan: null, xattrs }, nextSlot, job, publishJob)) {
          nextSlot++;
          ctx.report.split++;
          if (attr.nlink > 1) out.linkTargets.set(attr.ino, path);
          continue;
        }
      }
      let plan: DataPiece[] | null = null;
      try {
        plan = planned && attr.size <= PLAN_MAX_BYTES ? now?.dataPlan(attr.ino, 0, attr.size) ?? await fs.dataPlan!(attr.ino, 0, attr.size) : null;
      } catch (err) {
        // a layout this build cannot read yet: that file is skipped, the rest extracted
        skipEntry(ctx, path, err);
        continue;
      }
      const rec: LeafRecord<ByteSource> = { path, attr, link, plan, xattrs };
      if (attr.nlink > 1) out.linkTargets.set(attr.ino, path);
      if (direct) {
        // restored here and now: no job to encode and read back (~45 ms of 1.7 CPU-s, /usr/share)
        if (attr.type === 'reg' && !(rec.plan && runnable(rec))) out.unplanned.push(rec);
        else restoreLeaf(ctx, rec);
        continue;
      }
      // a plan over sources a worker cannot open is left to the reader too
      if (attr.type === 'reg' && !(rec.plan && job.add(rec))) out.unplanned.push(rec);
      else if (attr.type !== 'reg') job.add(rec);
      else jobBytes += attr.size;
      if (job.count >= JOB_ENTRIES || jobBytes >= JOB_BYTES) publishJob();
    }
    for (let i = subdirs.length - 1; i >= 0; i--) pending.push(subdirs[i]!);
  }
  if (job.count) publishJob();
  return out;
}

/**
 * A large file as parts (see FilePart), each published in a job of its own (`publishJob`), the
 * file created here first. False when its plan reads a source a worker cannot open: nothing is
 * left of it, and it is written whole like any file.
 */
async function splitFile(ctx: Ctx, rec: LeafRecord<ByteSource>, slot: number, job: JobWriter, publishJob: () => void): Promise<boolean> {
  const { attr } = rec;
  const path = asBuffer(rec.path);
  const counters = ctx.parts!;
  try {
    // as writeFile: never an existing entry, never through a symlink
    closeSync(openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, PART_MODE));
  } catch (e) {
    skipEntry(ctx, path, e);
    return true;
  }
  // this thread's count, let go once every part is published: no part finishes the file before
  Atomics.store(counters, slot, 1);
  for (let at = 0; at < attr.size; at += PLAN_MAX_BYTES) {
    const size = Math.min(PLAN_MAX_BYTES, attr.size - at);
    let plan: DataPiece[];
    try {
      plan = ctx.fs.now?.dataPlan(attr.ino, at, size) ?? await ctx.fs.dataPlan!(attr.ino, at, size);
    } catch (e) {
      // as a whole file's plan: a layout this build cannot read skips the file, a damaged image stops
      failParts(ctx, counters, slot, path, e, 1);
      return true;
    }
    for (const part of cutPlan(plan, at, ctx.partBytes)) {
      Atomics.add(counters, slot, 1);
      if (!job.add({ ...rec, plan: part.plan, part: { slot, offset: part.offset, length: part.length } })) {
        if (part.offset > 0) throw new Error(`extract: a part of ${displayOf(ctx, path)} reads a source its first part did not`);
        unlinkSync(path);
        Atomics.store(counters, slot, 0);
        return false;
      }
      publishJob();
    }
  }
  partDone(ctx, rec, slot, path, -1);
  return true;
}

/**
 * `plan` (the bytes from `start` on) cut into parts of `partBytes` or a little more, each with the
 * offset it starts at. A compressed piece is never cut, so that no pcluster is decoded for two
 * parts (cutting file ranges instead, a 256 KiB pcluster across each 1 MiB boundary was decoded
 * twice: up to a quarter more work); stored bytes and zeros are cut anywhere.
 */
export function cutPlan(plan: DataPiece[], start: number, partBytes: number): { offset: number; length: number; plan: DataPiece[] }[] {
  const parts: { offset: number; length: number; plan: DataPiece[] }[] = [];
  let cur: DataPiece[] = [];
  let offset = start;
  let len = 0;
  const emit = (): void => {
    parts.push({ offset, length: len, plan: cur });
    offset += len;
    cur = [];
    len = 0;
  };
  for (let p of plan) {
    for (;;) {
      const n = pieceLength(p);
      const room = partBytes - len;
      if (n > room && (p.kind === 'copy' || p.kind === 'zero' || p.kind === 'bytes')) {
        const [head, tail] = cutPiece(p, room);
        cur.push(head);
        len += room;
        emit();
        p = tail;
        continue;
      }
      cur.push(p);
      len += n;
      if (len >= partBytes) emit();
      break;
    }
  }
  if (cur.length) emit();
  return parts;
}

/** a stored, zero or carried piece as its first `n` bytes and the rest */
function cutPiece(p: DataPiece & { kind: 'copy' | 'zero' | 'bytes' }, n: number): [DataPiece, DataPiece] {
  switch (p.kind) {
    case 'copy':
      return [{ ...p, len: n }, { ...p, pos: p.pos + n, len: p.len - n }];
    case 'zero':
      return [{ kind: 'zero', len: n }, { kind: 'zero', len: p.len - n }];
    case 'bytes':
      return [{ kind: 'bytes', bytes: p.bytes.subarray(0, n) }, { kind: 'bytes', bytes: p.bytes.subarray(n) }];
  }
}

/** A file the reader writes (this thread only); an OS error or an unreadable layout skips it (see skipEntry). */
async function writeWithReader(ctx: Ctx, rec: LeafRecord<ByteSource>): Promise<void> {
  try {
    await writeWithReaderOrThrow(ctx, rec);
  } catch (e) {
    skipEntry(ctx, rec.path, e);
  }
}

function writeWithReaderOrThrow(ctx: Ctx, rec: LeafRecord<ByteSource>): Promise<void> {
  ctx.report.entries++;
  const attr = rec.attr;
  return writeFile(ctx, rec, async (fd) => {
    let off = 0;
    while (off < attr.size) {
      const bytes = await ctx.fs.read(attr.ino, off, Math.min(PIECE, attr.size - off), ctx.piece);
      if (bytes.length === 0) break;
      for (let w = 0; w < bytes.length; ) w += writeSync(fd, bytes, w, bytes.length - w);
      off += bytes.length;
    }
    return off;
  });
}

/** Hardlink groups in tree order: the first entry met is written, the others link to it. */
async function restoreLinked(ctx: Ctx, linked: LeafRecord<ByteSource>[], targets: Map<number, Buffer>, helper: Helper | null): Promise<void> {
  const firstPathOf = new Map<number, Buffer>(targets);
  for (const rec of linked) {
    const path = asBuffer(rec.path);
    const first = firstPathOf.get(rec.attr.ino);
    if (first) {
      try {
        // a link to a special file must wait until python has made it
        if (rec.attr.type === 'reg' || rec.attr.type === 'symlink') linkSync(first, path);
        else if (helper) helper.send('l', path, hex(first));
        else continue;
        ctx.report.entries++;
        ctx.report.hardlinks++;
      } catch (e) {
        skipEntry(ctx, path, e);
      }
      continue;
    }
    firstPathOf.set(rec.attr.ino, path);
    if (rec.attr.type === 'reg') await writeWithReader(ctx, rec);
    else restoreLeaf(ctx, { ...rec, plan: null });
  }
}

/** Directories last, deepest first: adding entries changes a directory's mtime. */
async function restoreDirAttrs(ctx: Ctx, dirs: MadeDir[]): Promise<void> {
  for (let i = dirs.length - 1; i >= 0; i--) {
    const { path, attr } = dirs[i]!;
    // the root (dirs[0]) is DIR itself, made by mkdir -p under the umask or there already: its mode is
    // not what the walk's mkdir gave, so it is always set (-1 matches no mode)
    const created = i === 0 && attr.type === 'dir' ? -1 : ctx.isRoot ? attr.mode & 0o7777 : 0o700;
    try {
      setOwnerMode(ctx, path, attr, created);
      sendXattrs(ctx, path, await xattrsOf(ctx, attr.ino));
      setTime(ctx, path, attr);
    } catch (e) {
      skipEntry(ctx, path, e);
    }
  }
}

// ---- worker threads -------------------------------------------------------------------------

/**
 * extract-worker next to this module: the bundle's sibling (bin/layerscope.mjs builds both), or
 * from the TypeScript sources through tsx, registered in the worker first.
 */
function startWorker(init: WorkerInit): Worker {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new Worker(new URL('./extract-worker.mjs', self), { workerData: init });
  const api = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./extract-worker.ts', self).href;
  return new Worker(`import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`, { eval: true, workerData: init });
}

/** Waits for a worker's result; a worker that has not started claiming is called off and stopped. */
async function finishWorker(w: Worker, result: Promise<WorkerResult>, shared: Int32Array, index: number): Promise<WorkerResult> {
  if (Atomics.compareExchange(shared, 1 + index, 0, 2) === 0) {
    await w.terminate();
    return { calledOff: true };
  }
  return result;
}

/** A worker's result, and when it took its first job (or ended without one). */
function watch(w: Worker): { started: Promise<void>; result: Promise<WorkerResult> } {
  let started!: () => void;
  const startedP = new Promise<void>((resolve) => { started = resolve; });
  const result = new Promise<WorkerResult>((resolve, reject) => {
    w.on('message', (m: FromWorker) => {
      started();
      if (!('started' in m)) resolve(m);
    });
    w.once('error', (e) => { started(); reject(e); });
    w.once('exit', (code) => { started(); reject(new Error(`extract worker exited (${code}) without a result`)); });
  });
  // awaited later, unless this thread fails first and stops the worker
  result.catch(() => {});
  return { started: startedP, result };
}

// ---- the whole extraction -------------------------------------------------------------------

/**
 * How many threads the CLI uses by default: one per core, at most 4, for an image of 2000 files
 * or more, or of 64 MiB or more (large files are split among the threads), that makes data
 * plans. Run from the TypeScript sources (tsx, when bin/layerscope.mjs could not bundle), a worker
 * spends ~0.4 s compiling them, which measured no faster. With the bundle a worker costs ~0.06
 * CPU-s: an uncompressed image of 4 files, 105 MB, took 0.20 CPU-s with 1 thread and 0.26 with 2
 * (tmpfs, no faster), its LZMA image 5.8 CPU-s on one thread (load 11).
 */
export async function defaultThreads(fs: ReadOnlyFs): Promise<number> {
  if (!fs.dataPlan || import.meta.url.endsWith('.ts')) return 1;
  const { files, blocks, blockSize } = await fs.statfs();
  return files >= 2000 || blocks * blockSize >= 64 << 20 ? Math.min(4, availableParallelism()) : 1;
}

export async function extract(fs: ReadOnlyFs, destDir: string, opts: ExtractOptions = {}): Promise<ExtractReport> {
  const report = newReport();
  const uid = process.getuid?.() ?? -1;
  const gid = process.getgid?.() ?? -1;
  const python = findPython();
  if (!python) report.warnings.push('python3 not found: devices, fifos, sockets and xattrs are not restored, mtimes only to the microsecond');

  await fsp.mkdir(destDir, { recursive: true });
  if (readdirSync(destDir).length > 0) throw new Error(`${destDir} is not empty`);
  const dest = Buffer.from(destDir.replace(/\/+$/, ''));

  const helper = python ? startHelper(python) : null;
  const sources = openSources();
  const ctx: Ctx = {
    fs, owners: opts.owners ?? uid === 0, xattrs: opts.xattrs ?? true, uid, gid, isRoot: uid === 0,
    ops: helper, report, destLen: dest.length, sources, piece: new Uint8Array(PIECE), scratch: new Uint8Array(0), parts: null,
    partBytes: Math.max(1, Math.floor(opts.partBytes ?? PART_BYTES)),
  };
  const nWorkers = fs.dataPlan ? Math.max(0, Math.floor(opts.threads ?? 1) - 1) : 0;
  // one thread gains nothing from splitting files
  const parts = nWorkers > 0 ? new Int32Array(new SharedArrayBuffer(4 * PART_SLOTS)) : null;
  ctx.parts = parts;
  const shared = new Int32Array(new SharedArrayBuffer(4 * (2 + nWorkers)));
  const workers: ({ w: Worker } & ReturnType<typeof watch>)[] = [];
  // modes are given exactly at creation (workers share the process umask); restored at the end
  const oldUmask = process.umask(0);
  try {
    // started first: a worker starts up while this thread walks
    for (let i = 0; i < nWorkers; i++) {
      const w = startWorker({ owners: ctx.owners, python: !!python, destLen: dest.length, shared, parts: parts!, index: i, workers: nWorkers, everyThread: !!opts.everyThread });
      workers.push({ w, ...watch(w) });
    }
    let allStarted = !opts.everyThread || nWorkers === 0;
    if (!allStarted) void Promise.all(workers.map((w) => w.started)).then(() => { allStarted = true; });
    const root = await fs.getattr(opts.startIno ?? fs.rootIno);
    report.entries++;
    report.dirs++;
    const q: Queue = { jobs: [], shared, released: 0 };
    let unsent: EncodedJob[] = [];
    const flush = (): void => {
      if (unsent.length) for (const { w } of workers) w.postMessage({ jobs: unsent } satisfies ToWorker);
      unsent = [];
    };
    const walked = await walk(ctx, root, dest, nWorkers === 0 ? null : (job) => {
      q.jobs.push(job);
      unsent.push(job);
      if (unsent.length >= PUBLISH_BATCH) flush();
      // claimed jobs are the workers' now (they hold their own copies)
      const claimed = Math.min(Atomics.load(shared, 0), q.jobs.length);
      for (; q.released < claimed; q.released++) q.jobs[q.released] = null;
      if (allStarted && q.jobs.length - claimed > MAX_BACKLOG) {
        const k = claim(q);
        if (k >= 0) restoreJob(ctx, q, k);
      }
    });
    flush();
    for (const { w } of workers) w.postMessage({ end: q.jobs.length } satisfies ToWorker);
    if (opts.everyThread) await Promise.all(workers.map((w) => w.started));
    for (let k = claim(q); k >= 0; k = claim(q)) restoreJob(ctx, q, k);
    for (const rec of walked.unplanned) await writeWithReader(ctx, rec);
    for (const [i, { w, result }] of workers.entries()) {
      const r = await finishWorker(w, result, shared, i);
      if ('error' in r) throw fromPlainError(r.error);
      if ('calledOff' in r) continue;
      if (r.jobs > 0) report.threads++;
      for (const k of ['entries', 'files', 'symlinks', 'hardlinks', 'specials', 'bytes'] as const) report[k] += r.report[k];
      report.skipped.push(...r.report.skipped);
      report.warnings.push(...r.report.warnings);
      if (r.ops) helper!.sendLines(r.ops);
      if (r.touchesDirs) helper!.touchesDirs = true;
    }

    await restoreLinked(ctx, walked.linked, walked.linkTargets, helper);
    await restoreDirAttrs(ctx, walked.dirs);
    report.skipped.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  } finally {
    await Promise.all(workers.map(({ w }) => w.terminate()));
    sources.closeAll();
    process.umask(oldUmask);
    if (helper) {
      const errors = await helper.done();
      if (errors) report.warnings.push(...errors.trim().split('\n'));
    }
  }
  return report;
}
