// Restoring one entry that is not a directory, from a record the main thread made while it walked
// the image: everything the entry needs (attributes, symlink target, xattrs, and a data plan that
// says which stored bytes make up a file) is in the record, so a worker thread restores it with
// system calls and an LZ4 decoder only: no reader, no caches, no format code (see extract.ts).
import { closeSync, constants, fchmodSync, fchownSync, futimesSync, lchownSync, chmodSync, lutimesSync, openSync, symlinkSync, unlinkSync, writeSync } from 'node:fs';
import { IoError, UnsupportedError } from '../lib/errors.ts';
import { runPlan, type DataPiece } from '../lib/fs/plan.ts';
import { major, minor, type Attr } from '../lib/fs/types.ts';
import { nameText } from '../lib/app/names.ts';
import { readFullSync } from '../lib/io/node.ts';
import { hex } from '../lib/bytes.ts';

export interface ExtractReport {
  entries: number;
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  specials: number;
  bytes: number;
  /** threads that took part (restored at least one entry) */
  threads: number;
  /** files written in parts by all threads (see FilePart) */
  split: number;
  /** entries not restored, with the reason (unsafe names, unsupported types) */
  skipped: { path: string; reason: string }[];
  warnings: string[];
}

export const newReport = (): ExtractReport => ({ entries: 0, files: 0, dirs: 0, symlinks: 0, hardlinks: 0, specials: 0, bytes: 0, threads: 1, split: 0, skipped: [], warnings: [] });

/**
 * Where a plan's stored bytes are: a file path once posted to a worker, else the reader's source
 * (restored on the thread that walked, it names a local file: see runnable in extract-job.ts).
 */
export type PlanSource = string | { readonly path?: string };

/** An entry to restore, as plain data (it is posted to worker threads, see extract-job.ts). */
export interface LeafRecord<S = string> {
  path: Uint8Array;
  attr: Attr;
  /** a symlink's target */
  link: Uint8Array | null;
  /** name, value, name, value, … (only when xattrs are restored) */
  xattrs: Uint8Array[] | null;
  /** a regular file's bytes (sources named by path once posted); null: only the reader can make them */
  plan: DataPiece<S>[] | null;
  /** set when `plan` makes only this part of the file (see FilePart) */
  part?: FilePart | null;
}

/**
 * One part of a large file that all threads write: the walk creates the file (mode PART_MODE) and
 * publishes its parts as separate jobs; each part is written at its offset through a descriptor of
 * its own (pwrite), since pclusters decode independently. A shared counter per file (LeafCtx.parts,
 * slot `slot`) holds the parts not yet written, plus one the walk holds while it publishes them:
 * whoever takes it to zero gives the file its times, owner, mode and xattrs.
 */
export interface FilePart {
  slot: number;
  offset: number;
  length: number;
}

/** the mode a split file is created with by the walk; its own is set once its last part is written */
export const PART_MODE = 0o600;
/** set in a part counter once a part failed: the others are not written, the last one removes the file */
export const PART_FAILED = 1 << 30;

// small enough to stay in the CPU cache between the read that fills it and the write that empties it
export const PIECE = 256 << 10;

export type Op = 't' | 'x' | 'n' | 'l';

export { hex };

export const opLine = (op: Op, path: Uint8Array, args: (string | number)[]): string =>
  args.length ? `${op}\t${hex(path)}\t${args.join('\t')}\n` : `${op}\t${hex(path)}\n`;

/** Where helper operations go: the python3 process, or (in a worker) text sent back with the results. */
export interface OpSink {
  send(op: Op, path: Uint8Array, ...args: (string | number)[]): void;
  /** a mknod or link went this way: directory times must follow it through the same stream */
  touchesDirs: boolean;
}

/** A worker's operations, sent to the main thread's helper when the worker is done. */
export function collectOps(): OpSink & { lines: string } {
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

/** Descriptors of the files plans read from, opened on first use. */
export interface Sources {
  readAt(path: string, pos: number, dest: Uint8Array): void;
  closeAll(): void;
}

// composefs-style plans name a file per object: keep a bounded number open
const MAX_OPEN_SOURCES = 64;

export function openSources(): Sources {
  const fds = new Map<string, number>();
  const fdOf = (path: string): number => {
    let fd = fds.get(path);
    if (fd === undefined) {
      if (fds.size >= MAX_OPEN_SOURCES) {
        const [oldest, ofd] = fds.entries().next().value!;
        fds.delete(oldest);
        closeSync(ofd);
      }
      fd = openSync(path, 'r');
      fds.set(path, fd);
    }
    return fd;
  };
  return {
    readAt(path, pos, dest) {
      // a plan was checked against the source's size when it was made: a short read means the file changed since
      readFullSync(fdOf(path), dest, pos, path, (at) => `ends at byte ${at}: it changed while it was being extracted`);
    },
    closeAll() {
      for (const fd of fds.values()) closeSync(fd);
      fds.clear();
    },
  };
}

/** What restoring entries needs, one per thread. */
export interface LeafCtx {
  owners: boolean;
  uid: number;
  gid: number;
  isRoot: boolean;
  /** null without python3 */
  ops: OpSink | null;
  report: ExtractReport;
  /** the destination's length: a path past it is what messages show */
  destLen: number;
  sources: Sources;
  /** every file's bytes pass through this one buffer: no allocation (and page faults) per read */
  piece: Uint8Array;
  /** LZ4 blocks that do not decode into `piece` whole */
  scratch: Uint8Array;
  /** the split files' part counters, shared by all threads (see FilePart); null: no file is split */
  parts: Int32Array | null;
}

/** the path as messages show it: below the destination */
/** a path below the destination as reports show it (names rendered by nameText) */
export const displayOf = (ctx: LeafCtx, path: Uint8Array): string => nameText(path.subarray(ctx.destLen));

export const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

// Node sets times to the microsecond only: whole seconds directly, nanoseconds through python
export function setTime(ctx: LeafCtx, path: Buffer, attr: Attr): void {
  if (attr.mtimeNsec === 0 && !ctx.ops?.touchesDirs) lutimesSync(path, attr.mtime, attr.mtime);
  else if (ctx.ops) ctx.ops.send('t', path, attr.mtime, attr.mtimeNsec);
  else {
    const t = attr.mtime + attr.mtimeNsec / 1e9;
    lutimesSync(path, t, t);
  }
}

/**
 * owner and mode of a directory or symlink this run created; chown clears set-id bits, so chmod
 * follows it. Only for paths made of directories this run created (see extract.ts): chmod
 * follows a symlink, so it is never called on one.
 */
export function setOwnerMode(ctx: LeafCtx, path: Buffer, attr: Attr, created: number): void {
  const chown = chownWanted(ctx, path, attr);
  if (chown) lchownSync(path, attr.uid, attr.gid);
  const mode = attr.mode & 0o7777;
  if (attr.type !== 'symlink' && (mode !== created || (chown && (mode & 0o6000)))) chmodSync(path, mode);
}

/** a regular file's owner and mode, through the descriptor that created it (no path is looked up again) */
function setOwnerModeFd(ctx: LeafCtx, path: Buffer, fd: number, attr: Attr, created: number): void {
  const chown = chownWanted(ctx, path, attr);
  if (chown) fchownSync(fd, attr.uid, attr.gid);
  const mode = attr.mode & 0o7777;
  if (mode !== created || (chown && (mode & 0o6000))) fchmodSync(fd, mode);
}

/** the largest id chown sets: (uid_t)-1 means "leave it unchanged" */
const MAX_ID = 0xfffffffe;
const settableId = (id: number): boolean => Number.isInteger(id) && id >= 0 && id <= MAX_ID;

/**
 * Whether the entry's owner is to be set. A tar may carry ids no Linux id can hold (base-256 and PAX
 * allow 2^40 or negatives): such an entry keeps the extracting user's owner, and a warning names it.
 */
function chownWanted(ctx: LeafCtx, path: Uint8Array, attr: Attr): boolean {
  if (!ctx.owners || (attr.uid === ctx.uid && attr.gid === ctx.gid)) return false;
  if (settableId(attr.uid) && settableId(attr.gid)) return true;
  ctx.report.warnings.push(`${displayOf(ctx, path)}: owner ${attr.uid}:${attr.gid} is outside the ids Linux can set (0-${MAX_ID}); left as the extracting user's`);
  return false;
}

/** An error of the system call restoring one entry (EEXIST, ENAMETOOLONG, ENOSPC, EPERM…), not of the image. */
export function isOsError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && typeof (e as NodeJS.ErrnoException).errno === 'number';
}

/**
 * The entry at `path` is left out, and the report says why: the extraction goes on. OS errors
 * and features this build cannot read yet are an entry's problem; anything else (a damaged
 * image: FormatError; a bug) propagates.
 */
export function skipEntry(ctx: LeafCtx, path: Uint8Array, e: unknown): void {
  let reason: string;
  if (isOsError(e)) reason = e.message.split(',')[0]!; // "EEXIST: file already exists" without the paths
  else if (e instanceof UnsupportedError) reason = `unsupported: ${e.message}`;
  else throw e;
  ctx.report.skipped.push({ path: displayOf(ctx, path), reason });
}


export function sendXattrs(ctx: LeafCtx, path: Buffer, xattrs: Uint8Array[] | null): void {
  if (!xattrs || !ctx.ops) return;
  for (let k = 0; k + 1 < xattrs.length; k += 2) ctx.ops.send('x', path, hex(xattrs[k]!), hex(xattrs[k + 1]!));
}

/**
 * A regular file: created, filled by `fill` (given its descriptor; it returns the bytes written),
 * then given its times, owner, mode and xattrs. For the reader's path on the main thread, whose
 * `fill` is async; a plan goes through writePlanned.
 */
export async function writeFile(ctx: LeafCtx, rec: LeafRecord<unknown>, fill: (fd: number) => Promise<number>): Promise<void> {
  const path = asBuffer(rec.path);
  const fd = createFile(ctx, path, rec.attr);
  let written: number;
  try {
    written = await fill(fd);
  } catch (e) {
    return abandonFile(ctx, path, fd, e);
  }
  finishWritten(ctx, rec, path, fd, written);
}

/** A regular file from its plan, all at once (no closure per file: see fillFromPlan). */
function writePlanned(ctx: LeafCtx, rec: LeafRecord<PlanSource>, plan: DataPiece<PlanSource>[]): void {
  const path = asBuffer(rec.path);
  const fd = createFile(ctx, path, rec.attr);
  let written: number;
  try {
    written = fillFromPlan(ctx, plan, fd, 0);
  } catch (e) {
    return abandonFile(ctx, path, fd, e);
  }
  finishWritten(ctx, rec, path, fd, written);
}

/** the file's descriptor, made with its mode; O_EXCL and O_NOFOLLOW: never an existing entry, never through a symlink */
function createFile(ctx: LeafCtx, path: Buffer, attr: Attr): number {
  ctx.report.files++;
  return openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, attr.mode & 0o7777);
}

/** a file that cannot be filled is not left half-written under its name: `e` is rethrown */
function abandonFile(ctx: LeafCtx, path: Buffer, fd: number, e: unknown): never {
  closeSync(fd);
  unlinkQuiet(path);
  ctx.report.files--;
  throw e;
}

function finishWritten(ctx: LeafCtx, rec: LeafRecord<unknown>, path: Buffer, fd: number, written: number): void {
  if (written !== rec.attr.size) {
    closeSync(fd);
    throw new IoError(displayOf(ctx, path), `image data ends at ${written} of ${rec.attr.size} bytes`);
  }
  finishFile(ctx, rec, path, fd, rec.attr.mode & 0o7777);
}

/** A written file's times, owner, mode and xattrs; `fd` (created with mode `created`) is closed. */
function finishFile(ctx: LeafCtx, rec: LeafRecord<unknown>, path: Buffer, fd: number, created: number): void {
  const attr = rec.attr;
  ctx.report.bytes += attr.size;
  try {
    // by descriptor: no second path lookup (owners, modes and xattrs do not touch the mtime)
    if (attr.mtimeNsec === 0) futimesSync(fd, attr.mtime, attr.mtime);
    setOwnerModeFd(ctx, path, fd, attr, created);
  } finally {
    closeSync(fd);
  }
  sendXattrs(ctx, path, rec.xattrs);
  if (attr.mtimeNsec !== 0) setTime(ctx, path, attr);
}

/** `n` bytes of `b` written at `at` of the file (pwrite: the parts of a split file are written side by side) */
function writeAt(fd: number, b: Uint8Array, n: number, at: number): void {
  for (let w = 0; w < n; ) w += writeSync(fd, b, w, n - w, at + w);
}

const sourcePath = (s: PlanSource): string => (typeof s === 'string' ? s : s.path!);

/**
 * bytes from a plan, written at `at` and on. A plan of stored bytes, carried bytes and zeros that
 * fits the piece buffer (almost every file of an uncompressed image: its blocks and its inline
 * tail) is gathered there and written at once, here; others go through runPlan, whose set-up per
 * call (closures, views) cost more than such a file's bytes.
 */
function fillFromPlan(ctx: LeafCtx, plan: DataPiece<PlanSource>[], fd: number, at: number): number {
  const buf = ctx.piece;
  let n = 0;
  for (const p of plan) {
    if (p.kind === 'copy' || p.kind === 'zero') n += p.len;
    else if (p.kind === 'bytes') n += p.bytes.length;
    else n = Infinity;
  }
  if (n <= buf.length) {
    // a file that is one carried piece (an inline file) is written from it
    if (plan.length === 1 && plan[0]!.kind === 'bytes') {
      writeAt(fd, plan[0]!.bytes, n, at);
      return n;
    }
    let fill = 0;
    for (const p of plan) {
      if (p.kind === 'copy') {
        ctx.sources.readAt(sourcePath(p.source), p.pos, buf.subarray(fill, fill + p.len));
        fill += p.len;
      } else if (p.kind === 'bytes') {
        buf.set(p.bytes, fill);
        fill += p.bytes.length;
      } else if (p.kind === 'zero') {
        buf.fill(0, fill, fill + p.len);
        fill += p.len;
      }
    }
    writeAt(fd, buf, fill, at);
    return fill;
  }
  let written = 0;
  const write = (b: Uint8Array): void => {
    writeAt(fd, b, b.length, at + written);
    written += b.length;
  };
  const readAt = (s: PlanSource, pos: number, dest: Uint8Array): void => ctx.sources.readAt(sourcePath(s), pos, dest);
  ctx.scratch = runPlan(plan, { readAt, write }, ctx.piece, ctx.scratch);
  return written;
}

/**
 * Any entry but a directory, from its record; a regular file must have a plan. An OS error
 * (see skipEntry) leaves the entry out and is reported with it.
 */
export function restoreLeaf(ctx: LeafCtx, rec: LeafRecord<PlanSource>): void {
  if (rec.part) return restorePart(ctx, rec, rec.part);
  try {
    restoreLeafOrThrow(ctx, rec);
  } catch (e) {
    skipEntry(ctx, rec.path, e);
  }
}

/**
 * A part of a split file (see FilePart). The file counts as one entry, by whoever finishes it; a
 * failed part is reported once (the first), and the file is removed, not left half-written.
 */
function restorePart(ctx: LeafCtx, rec: LeafRecord<PlanSource>, part: FilePart): void {
  const parts = ctx.parts!;
  const path = asBuffer(rec.path);
  let fd = -1;
  try {
    if (!(Atomics.load(parts, part.slot) & PART_FAILED)) {
      // no O_CREAT: the walk made it; O_NOFOLLOW as everywhere
      fd = openSync(path, constants.O_WRONLY | constants.O_NOFOLLOW);
      const n = fillFromPlan(ctx, rec.plan!, fd, part.offset);
      if (n !== part.length) throw new IoError(displayOf(ctx, path), `image data ends at ${part.offset + n} of ${rec.attr.size} bytes`);
    }
  } catch (e) {
    if (fd >= 0) closeSync(fd);
    return failParts(ctx, parts, part.slot, path, e, 1);
  }
  partDone(ctx, rec, part.slot, path, fd);
}

/**
 * One count of a split file's counter is let go (a part written, or the walk done publishing
 * parts; `fd` a descriptor of the file or -1): whoever lets go of the last one finishes the file,
 * or removes it if a part failed.
 */
export function partDone(ctx: LeafCtx, rec: LeafRecord<unknown>, slot: number, path: Buffer, fd: number): void {
  const left = Atomics.sub(ctx.parts!, slot, 1) - 1;
  if (left === 0) {
    ctx.report.entries++;
    ctx.report.files++;
    // the walk, when every part was written before it let go: the file is opened once more
    finishFile(ctx, rec, path, fd >= 0 ? fd : openSync(path, constants.O_WRONLY | constants.O_NOFOLLOW), PART_MODE);
    return;
  }
  if (fd >= 0) closeSync(fd);
  if (left === PART_FAILED) unlinkQuiet(path);
}

/**
 * `undone` parts of a split file will not be written (`e` says why): the file is marked failed and
 * reported (the first failure only; skipEntry rethrows what is not an entry's problem), and removed
 * by whoever gives up its last part.
 */
export function failParts(ctx: LeafCtx, parts: Int32Array, slot: number, path: Buffer, e: unknown, undone: number): void {
  try {
    if (!(Atomics.or(parts, slot, PART_FAILED) & PART_FAILED)) skipEntry(ctx, path, e);
  } finally {
    if (Atomics.sub(parts, slot, undone) - undone === PART_FAILED) unlinkQuiet(path);
  }
}

function unlinkQuiet(path: Buffer): void {
  try {
    unlinkSync(path);
  } catch { /* the report names the first error */ }
}

function restoreLeafOrThrow(ctx: LeafCtx, rec: LeafRecord<PlanSource>): void {
  const report = ctx.report;
  const attr = rec.attr;
  const path = asBuffer(rec.path);
  report.entries++;
  switch (attr.type) {
    case 'dir':
      throw new Error('restoreLeaf: a directory');
    case 'reg': {
      const plan = rec.plan;
      if (!plan) throw new Error('restoreLeaf: a file without a plan (the reader must write it)');
      writePlanned(ctx, rec, plan);
      return;
    }
    case 'symlink': {
      // the walk refused targets symlink(2) cannot take (badSymlinkTarget)
      symlinkSync(asBuffer(rec.link!), path);
      report.symlinks++;
      setOwnerMode(ctx, path, attr, 0o777);
      sendXattrs(ctx, path, rec.xattrs);
      setTime(ctx, path, attr);
      return;
    }
    default:
      if (!ctx.ops) {
        report.skipped.push({ path: displayOf(ctx, path), reason: `${attr.type} needs mknod (python3 missing)` });
        return;
      }
      if ((attr.type === 'chr' || attr.type === 'blk') && !ctx.isRoot) {
        report.skipped.push({ path: displayOf(ctx, path), reason: `${attr.type} ${major(attr.rdev)}:${minor(attr.rdev)} needs root` });
        return;
      }
      // mknod, then owner and mode only on what this mknod made (see the helper in extract.ts)
      if (chownWanted(ctx, path, attr)) ctx.ops.send('n', path, attr.mode & 0o177777, attr.rdev, attr.uid, attr.gid);
      else ctx.ops.send('n', path, attr.mode & 0o177777, attr.rdev);
      sendXattrs(ctx, path, rec.xattrs);
      setTime(ctx, path, attr);
      report.specials++;
  }
}
