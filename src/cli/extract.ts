// Restores an image's tree on disk. Node has no mknod, setxattr or nanosecond lutimes, so those
// steps go to one python3 process fed a stream of operations while the extraction runs (one
// process for the whole tree, never one per file); without python3 they fall back to Node's calls
// and the report says what was lost.
//
// Two passes: the directories first (this thread, in tree order), then every other entry, a
// directory's worth at a time, by this thread and by worker threads that open the same image
// again. Creating and filling files is almost all system-call time, and the kernel runs two
// threads of it side by side nearly as fast as one alone; hardlinked entries wait for the end so
// each group is written once, by this thread.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { accessSync, closeSync, constants, futimesSync, linkSync, lchownSync, chmodSync, lutimesSync, mkdirSync, openSync, readdirSync, symlinkSync, writeSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { fromPlainError, toPlainError, type PlainError } from '../lib/errors.ts';
import { readdirAll } from '../lib/fs/path.ts';
import { major, minor, utf8, type Attr, type ReadOnlyFs } from '../lib/fs/types.ts';
import { closeAll, openImageFile, type ImageArgs } from './open.ts';

export interface ExtractOptions {
  /** inode to extract (default: the root) */
  startIno?: number;
  /** restore uid/gid (default: when running as root) */
  owners?: boolean;
  /** restore xattrs (default: true) */
  xattrs?: boolean;
  /**
   * Threads that restore entries (default 1: this one only). The others open the image again,
   * so they are used only when `image` says how.
   */
  threads?: number;
  image?: { path: string; args: ImageArgs };
  /**
   * This thread takes no job before every worker has taken one, so each thread restores
   * something (tests use it; by default a slow-starting worker may find nothing left).
   */
  everyThread?: boolean;
}

export interface ExtractReport {
  entries: number;
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  specials: number;
  bytes: number;
  /** threads that took part (restored at least one directory's entries) */
  threads: number;
  /** entries not restored, with the reason (unsafe names, unsupported types) */
  skipped: { path: string; reason: string }[];
  warnings: string[];
}

// small enough to stay in the CPU cache between the read that fills it and the write that empties it
const PIECE = 256 << 10;
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

/** Where helper operations go: the python3 process, or (in a worker) text sent back with the results. */
interface OpSink {
  send(op: Op, path: Uint8Array, ...args: (string | number)[]): void;
  /** a mknod or link went this way: directory times must follow it through the same stream */
  touchesDirs: boolean;
}

const opLine = (op: Op, path: Uint8Array, args: (string | number)[]): string =>
  args.length ? `${op}\t${hex(path)}\t${args.join('\t')}\n` : `${op}\t${hex(path)}\n`;

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

/** A worker's operations, sent to the main thread's helper when the worker is done. */
function collectOps(): OpSink & { lines: string } {
  const sink = {
    touchesDirs: false,
    lines: '',
    send(op: Op, path: Uint8Array, ...args: (string | number)[]) {
      if (op === 'n' || op === 'l') sink.touchesDirs = true;
      sink.lines += opLine(op, path, args);
    },
  };
  return sink;
}

/** What restoring an entry needs, one per thread. */
interface Ctx {
  fs: ReadOnlyFs;
  owners: boolean;
  xattrs: boolean;
  uid: number;
  gid: number;
  isRoot: boolean;
  /** null without python3 */
  ops: OpSink | null;
  report: ExtractReport;
  /** every file's bytes pass through this one buffer: no allocation (and page faults) per read */
  piece: Uint8Array;
}

/** A directory made in the first pass; its other entries are restored in the second. */
interface DirJob {
  path: Buffer;
  display: string;
  ino: number;
}

/** An entry of a hardlink group (nlink > 1), restored at the end by the main thread. */
interface Deferred {
  dir: number;
  index: number;
  path: Buffer;
  display: string;
  ino: number;
}

const newReport = (): ExtractReport => ({ entries: 0, files: 0, dirs: 0, symlinks: 0, hardlinks: 0, specials: 0, bytes: 0, threads: 1, skipped: [], warnings: [] });

// Node sets times to the microsecond only: whole seconds directly, nanoseconds through python
function setTime(ctx: Ctx, path: Buffer, attr: Attr): void {
  if (attr.mtimeNsec === 0 && !ctx.ops?.touchesDirs) lutimesSync(path, attr.mtime, attr.mtime);
  else if (ctx.ops) ctx.ops.send('t', path, attr.mtime, attr.mtimeNsec);
  else {
    const t = attr.mtime + attr.mtimeNsec / 1e9;
    lutimesSync(path, t, t);
  }
}

/** owner and mode of an entry Node created; chown clears set-id bits, so chmod follows it */
function setOwnerMode(ctx: Ctx, path: Buffer, attr: Attr, created: number): void {
  const chown = ctx.owners && (attr.uid !== ctx.uid || attr.gid !== ctx.gid);
  if (chown) lchownSync(path, attr.uid, attr.gid);
  const mode = attr.mode & 0o7777;
  if (attr.type !== 'symlink' && (mode !== created || (chown && (mode & 0o6000)))) chmodSync(path, mode);
}

async function sendXattrs(ctx: Ctx, path: Buffer, attr: Attr): Promise<void> {
  if (!ctx.xattrs || !ctx.ops) return;
  for (const name of await ctx.fs.listxattr(attr.ino)) {
    const value = await ctx.fs.getxattr(attr.ino, name);
    if (value) ctx.ops.send('x', path, hex(name), hex(value));
  }
}

// Synchronous calls: a CLI on a local disk gains nothing from the thread pool, and loses a round
// trip per call (fsck.erofs-like speed needs plain open/write/close).
async function writeFile(ctx: Ctx, path: Buffer, attr: Attr): Promise<void> {
  const mode = attr.mode & 0o7777;
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    for (let off = 0; off < attr.size; ) {
      const bytes = await ctx.fs.read(attr.ino, off, Math.min(PIECE, attr.size - off), ctx.piece);
      if (bytes.length === 0) throw new Error(`${path.toString()}: image data ends at ${off} of ${attr.size} bytes`);
      for (let w = 0; w < bytes.length; ) w += writeSync(fd, bytes, w, bytes.length - w);
      off += bytes.length;
      ctx.report.bytes += bytes.length;
    }
    // by descriptor: no second path lookup (owners, modes and xattrs do not touch the mtime)
    if (attr.mtimeNsec === 0) futimesSync(fd, attr.mtime, attr.mtime);
  } finally {
    closeSync(fd);
  }
  setOwnerMode(ctx, path, attr, mode);
  await sendXattrs(ctx, path, attr);
  if (attr.mtimeNsec !== 0) setTime(ctx, path, attr);
}

/** Anything but a directory; `display` is only built for messages. */
async function restoreLeaf(ctx: Ctx, path: Buffer, attr: Attr, display: () => string): Promise<void> {
  const report = ctx.report;
  switch (attr.type) {
    case 'dir':
      throw new Error('restoreLeaf: a directory');
    case 'reg':
      report.files++;
      await writeFile(ctx, path, attr);
      return;
    case 'symlink':
      symlinkSync(Buffer.from(await ctx.fs.readlink(attr.ino)), path);
      report.symlinks++;
      setOwnerMode(ctx, path, attr, 0o777);
      await sendXattrs(ctx, path, attr);
      setTime(ctx, path, attr);
      return;
    default:
      if (!ctx.ops) {
        report.skipped.push({ path: display(), reason: `${attr.type} needs mknod (python3 missing)` });
        return;
      }
      if ((attr.type === 'chr' || attr.type === 'blk') && !ctx.isRoot) {
        report.skipped.push({ path: display(), reason: `${attr.type} ${major(attr.rdev)}:${minor(attr.rdev)} needs root` });
        return;
      }
      ctx.ops.send('n', path, attr.mode & 0o177777, attr.rdev);
      if (ctx.owners && (attr.uid !== ctx.uid || attr.gid !== ctx.gid)) {
        ctx.ops.send('o', path, attr.uid, attr.gid);
        ctx.ops.send('m', path, attr.mode & 0o7777);
      }
      await sendXattrs(ctx, path, attr);
      setTime(ctx, path, attr);
      report.specials++;
  }
}

const childPath = (dir: Buffer, name: Uint8Array): Buffer => Buffer.concat([dir, SLASH, name], dir.length + 1 + name.length);

/** Directories published for restoring, in index order; the shared counter hands them out. */
interface Queue {
  jobs: DirJob[];
  /** see WorkerInit.shared */
  shared: Int32Array;
}

/** The next job nobody has claimed, or -1 */
function claim(q: Queue): number {
  const k = Atomics.add(q.shared, 0, 1);
  return k < q.jobs.length ? k : -1;
}

/**
 * The main thread's work: make every directory, publishing each as a job, then restore jobs
 * alongside the workers. The walk comes first because it is quick and overlaps the workers'
 * start; they take jobs as soon as they are ready.
 */
async function walkAndRestore(ctx: Ctx, root: Attr, dest: Buffer, q: Queue, tell: (m: ToWorker) => void, beforeClaims: () => Promise<void>, deferred: Deferred[]): Promise<{ job: DirJob; attr: Attr }[]> {
  let unsent: DirJob[] = [];
  const flush = (): void => {
    if (unsent.length) tell({ jobs: unsent });
    unsent = [];
  };
  const dirs = await makeDirs(ctx, root, dest, (job) => {
    q.jobs.push(job);
    unsent.push(job);
    if (unsent.length >= PUBLISH_BATCH) flush();
  });
  flush();
  tell({ end: q.jobs.length });
  await beforeClaims();
  await restoreClaimed(ctx, q, deferred);
  return dirs;
}

/**
 * Every directory below (and including) the root, each made before the directories in it. A
 * directory inode met twice (a cycle in a corrupt image) is made but not entered again; one with
 * an unsafe name is skipped whole. The list has parents before children, so reversed it has
 * children first.
 */
async function makeDirs(ctx: Ctx, root: Attr, dest: Buffer, add: (job: DirJob) => void): Promise<{ job: DirJob; attr: Attr }[]> {
  const rootJob = { path: dest, display: '', ino: root.ino };
  const dirs = [{ job: rootJob, attr: root }];
  if (root.type !== 'dir') return dirs;
  add(rootJob);
  const seen = new Set<number>([root.ino]);
  const pending = [rootJob];
  while (pending.length) {
    const made = await makeSubdirs(ctx, pending.pop()!, dirs, add);
    for (let i = made.length - 1; i >= 0; i--) {
      if (seen.has(made[i]!.ino)) continue;
      seen.add(made[i]!.ino);
      pending.push(made[i]!);
    }
  }
  return dirs;
}

/** The directories in one directory, made (mode, not yet times) and published. */
async function makeSubdirs(ctx: Ctx, parent: DirJob, dirs: { job: DirJob; attr: Attr }[], add: (job: DirJob) => void): Promise<DirJob[]> {
  const made: DirJob[] = [];
  for (const e of await readdirAll(ctx.fs, parent.ino)) {
    if (e.type !== 'dir') continue;
    const display = `${parent.display}/${utf8(e.name)}`;
    const bad = unsafeNameReason(e.name);
    if (bad) {
      ctx.report.skipped.push({ path: display, reason: bad });
      continue;
    }
    const attr = await ctx.fs.getattr(e.ino);
    if (attr.type !== 'dir') {
      ctx.report.skipped.push({ path: display, reason: `directory entry of a ${attr.type} inode` });
      continue;
    }
    const path = childPath(parent.path, e.name);
    // root may create a read-only directory and still fill it; others chmod at the end
    mkdirSync(path, ctx.isRoot ? attr.mode & 0o7777 : 0o700);
    ctx.report.entries++;
    ctx.report.dirs++;
    const job = { path, display, ino: attr.ino };
    dirs.push({ job, attr });
    add(job);
    made.push(job);
  }
  return made;
}

/** Jobs from the shared counter until none is left (the main thread's share). */
async function restoreClaimed(ctx: Ctx, q: Queue, deferred: Deferred[]): Promise<void> {
  for (let k = claim(q); k >= 0; k = claim(q)) await restoreEntriesOf(ctx, q.jobs[k]!, k, deferred);
}

/** Directories sent to the workers at a time while the walk goes on */
const PUBLISH_BATCH = 64;

/** One job: everything in a directory but directories (the walk makes them) and hardlinked entries. */
async function restoreEntriesOf(ctx: Ctx, dir: DirJob, dirIndex: number, deferred: Deferred[]): Promise<void> {
  const entries = await readdirAll(ctx.fs, dir.ino);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.type === 'dir') continue;
    const display = () => `${dir.display}/${utf8(e.name)}`;
    const bad = unsafeNameReason(e.name);
    if (bad) {
      ctx.report.skipped.push({ path: display(), reason: bad });
      continue;
    }
    const attr = await ctx.fs.getattr(e.ino);
    if (attr.type === 'dir') {
      ctx.report.skipped.push({ path: display(), reason: `${e.type} entry of a directory inode` });
      continue;
    }
    const path = childPath(dir.path, e.name);
    if (attr.nlink > 1) {
      deferred.push({ dir: dirIndex, index: i, path, display: display(), ino: attr.ino });
      continue;
    }
    ctx.report.entries++;
    await restoreLeaf(ctx, path, attr, display);
  }
}

// ---- worker threads -------------------------------------------------------------------------

const WORKER_KIND = 'layerscope-extract';

interface WorkerInit {
  kind: typeof WORKER_KIND;
  image: { path: string; args: ImageArgs };
  owners: boolean;
  xattrs: boolean;
  python: boolean;
  /** [0]: next job; [1 + w]: worker w is 0 starting, 1 claiming, 2 called off; [1 + workers]: workers holding a first job */
  shared: Int32Array;
  index: number;
  workers: number;
  everyThread: boolean;
}

/** From the main thread: jobs as they are published, then how many there are in all. */
type ToWorker = { jobs: DirJob[] } | { end: number };

type WorkerResult =
  | { report: ExtractReport; deferred: Deferred[]; ops: string; touchesDirs: boolean; jobs: number }
  | { error: PlainError }
  | { calledOff: true };

/** A worker's messages: `started` once it holds its first job, then its result. */
type FromWorker = { started: true } | WorkerResult;

/** True in a thread started by `startWorker` (the CLI's entry point must not run there). */
export const isExtractWorker = !isMainThread && (workerData as { kind?: unknown } | null)?.kind === WORKER_KIND;

/**
 * This module again, in a worker. From the TypeScript sources (tsx) the worker registers tsx
 * first; from a bundle, import.meta.url is the bundle, whose entry point checks isExtractWorker.
 */
function startWorker(init: WorkerInit): Worker {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new Worker(new URL(self), { workerData: init });
  const api = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(self)}); })`, { eval: true, workerData: init });
}

const asBuffer = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

async function workerMain(init: WorkerInit): Promise<void> {
  const port = parentPort!;
  const jobs: DirJob[] = [];
  let total = Infinity;
  let wake: (() => void) | null = null;
  // delivered only while this thread waits below: its work in between is microtasks only
  const onMessage = (m: ToWorker): void => {
    if ('jobs' in m) for (const j of m.jobs) jobs.push({ ...j, path: asBuffer(j.path) });
    else total = m.end;
    wake?.();
    wake = null;
  };
  port.on('message', onMessage);
  // counted once, on the first job or on failing before one: everyThread workers wait for the count
  let counted = false;
  const countIn = (): void => {
    if (counted) return;
    counted = true;
    Atomics.add(init.shared, 1 + init.workers, 1);
    Atomics.notify(init.shared, 1 + init.workers);
  };
  let result: WorkerResult;
  try {
    const fs = await openImageFile(init.image.path, init.image.args);
    if (Atomics.compareExchange(init.shared, 1 + init.index, 0, 1) !== 0) result = { calledOff: true };
    else {
      const ops = collectOps();
      const ctx: Ctx = {
        fs, owners: init.owners, xattrs: init.xattrs, uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1,
        isRoot: process.getuid?.() === 0, ops: init.python ? ops : null, report: newReport(), piece: new Uint8Array(PIECE),
      };
      const deferred: Deferred[] = [];
      let done = 0;
      for (;;) {
        if (done === 1 && init.everyThread) {
          // no second job before every worker holds a first one
          const slot = 1 + init.workers;
          for (let n = Atomics.load(init.shared, slot); n < init.workers; n = Atomics.load(init.shared, slot)) Atomics.wait(init.shared, slot, n, 100);
        }
        const k = Atomics.add(init.shared, 0, 1);
        if (!counted) {
          countIn();
          port.postMessage({ started: true } satisfies FromWorker);
        }
        while (k >= jobs.length && k < total) await new Promise<void>((resolve) => { wake = resolve; });
        if (k >= total) break;
        await restoreEntriesOf(ctx, jobs[k]!, k, deferred);
        done++;
      }
      result = { report: ctx.report, deferred, ops: ops.lines, touchesDirs: ops.touchesDirs, jobs: done };
    }
  } catch (e) {
    result = { error: toPlainError(e) };
    countIn();
  } finally {
    await closeAll();
  }
  port.off('message', onMessage);
  port.postMessage(result satisfies FromWorker);
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

/** Hardlink groups in tree order: the first entry met is written, the others link to it. */
async function restoreHardlinked(ctx: Ctx, deferred: Deferred[], helper: Helper | null): Promise<void> {
  deferred.sort((a, b) => a.dir - b.dir || a.index - b.index);
  const firstPathOf = new Map<number, Buffer>();
  for (const d of deferred) {
    ctx.report.entries++;
    const first = firstPathOf.get(d.ino);
    const attr = await ctx.fs.getattr(d.ino);
    if (first) {
      ctx.report.hardlinks++;
      // a link to a special file must wait until python has made it
      if (attr.type === 'reg' || attr.type === 'symlink') linkSync(first, d.path);
      else if (helper) helper.send('l', d.path, hex(first));
      continue;
    }
    firstPathOf.set(d.ino, d.path);
    await restoreLeaf(ctx, d.path, attr, () => d.display);
  }
}

/** Directories last, deepest first: adding entries changes a directory's mtime. */
async function restoreDirAttrs(ctx: Ctx, dirs: { job: DirJob; attr: Attr }[]): Promise<void> {
  for (let i = dirs.length - 1; i >= 0; i--) {
    const { job, attr } = dirs[i]!;
    setOwnerMode(ctx, job.path, attr, ctx.isRoot ? attr.mode & 0o7777 : 0o700);
    await sendXattrs(ctx, job.path, attr);
    setTime(ctx, job.path, attr);
  }
}

/**
 * How many threads the CLI uses by default: one per core, at most 4, and one for small images. Run
 * from the TypeScript sources (tsx, when bin/layerscope.mjs could not bundle), a worker spends
 * ~0.4 s compiling them again, which measured no faster than one thread.
 */
export async function defaultThreads(fs: ReadOnlyFs): Promise<number> {
  if (fs.format === 'tree' || import.meta.url.endsWith('.ts')) return 1;
  const { files } = await fs.statfs();
  return files >= 2000 ? Math.min(4, availableParallelism()) : 1;
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
  const ctx: Ctx = {
    fs, owners: opts.owners ?? uid === 0, xattrs: opts.xattrs ?? true, uid, gid, isRoot: uid === 0,
    ops: helper, report, piece: new Uint8Array(PIECE),
  };
  const nWorkers = opts.image ? Math.max(0, Math.floor(opts.threads ?? 1) - 1) : 0;
  const shared = new Int32Array(new SharedArrayBuffer(4 * (2 + nWorkers)));
  const workers: ({ w: Worker } & ReturnType<typeof watch>)[] = [];
  // modes are given exactly at creation (workers share the process umask); restored at the end
  const oldUmask = process.umask(0);
  try {
    // started first: a worker loads and opens the image while this thread makes the directories
    for (let i = 0; i < nWorkers; i++) {
      const w = startWorker({ kind: WORKER_KIND, image: opts.image!, owners: ctx.owners, xattrs: ctx.xattrs, python: !!python, shared, index: i, workers: nWorkers, everyThread: !!opts.everyThread });
      workers.push({ w, ...watch(w) });
    }
    const root = await fs.getattr(opts.startIno ?? fs.rootIno);
    report.entries++;
    report.dirs++;
    const q: Queue = { jobs: [], shared };
    const tell = (m: ToWorker): void => {
      for (const { w } of workers) w.postMessage(m);
    };
    const deferred: Deferred[] = [];
    const beforeClaims = async (): Promise<void> => {
      if (opts.everyThread) await Promise.all(workers.map((w) => w.started));
    };
    const dirs = await walkAndRestore(ctx, root, dest, q, tell, beforeClaims, deferred);
    for (const [i, { w, result }] of workers.entries()) {
      const r = await finishWorker(w, result, shared, i);
      if ('error' in r) throw fromPlainError(r.error);
      if ('calledOff' in r) continue;
      if (r.jobs > 0) report.threads++;
      for (const k of ['entries', 'files', 'symlinks', 'hardlinks', 'specials', 'bytes'] as const) report[k] += r.report[k];
      report.skipped.push(...r.report.skipped);
      report.warnings.push(...r.report.warnings);
      for (const d of r.deferred) deferred.push({ ...d, path: asBuffer(d.path) });
      if (r.ops) helper!.sendLines(r.ops);
      if (r.touchesDirs) helper!.touchesDirs = true;
    }

    await restoreHardlinked(ctx, deferred, helper);
    await restoreDirAttrs(ctx, dirs);
    report.skipped.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  } finally {
    await Promise.all(workers.map(({ w }) => w.terminate()));
    process.umask(oldUmask);
    if (helper) {
      const errors = await helper.done();
      if (errors) report.warnings.push(...errors.trim().split('\n'));
    }
  }
  return report;
}

if (isExtractWorker) void workerMain(workerData as WorkerInit);
