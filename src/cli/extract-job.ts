// A job (records of entries to restore, see extract-leaf.ts) as bytes: posting tens of thousands
// of record objects to a worker cost more in structured cloning than restoring them did. Jobs are
// written one after another into shared memory (SharedArrayBuffer arenas), which a worker reads
// where it lies: no job is copied, neither when it is taken nor when it is posted (copying them
// cost the main thread ~70 ms of a 0.8 s extraction). Sources and error structure names go in a
// string table.
import { pieceLength, type DataPiece, type DecodeAlgorithm } from '../lib/fs/plan.ts';
import type { Attr, FileType } from '../lib/fs/types.ts';
import type { ByteSource } from '../lib/io/source.ts';
import type { LeafRecord } from './extract-leaf.ts';

export interface EncodedJob {
  /** a view into a shared arena */
  bytes: Uint8Array;
  strings: string[];
}

/** bytes of shared memory allocated at a time; a job never spans two arenas */
const ARENA = 4 << 20;
/** an arena begins with the count of its jobs that were restored (Int32) */
const ARENA_HEADER = 8;

/**
 * Whoever restored a job says so once it no longer reads it: an arena whose jobs are all done is
 * written again (fresh shared memory costs a page fault per 4 KiB at first touch, ~60 ms of the
 * main thread's time when every job had new memory).
 */
export function finishJob(job: EncodedJob): void {
  Atomics.add(new Int32Array(job.bytes.buffer, 0, 1), 0, 1);
}

const TYPES: FileType[] = ['reg', 'dir', 'symlink', 'chr', 'blk', 'fifo', 'sock'];
const TYPE_CODE = new Map(TYPES.map((t, i) => [t, i]));
const NONE = 0xffffffff;
const enum Kind { Copy, Zero, Bytes, Lz4, Decode }

const ALGORITHMS: readonly DecodeAlgorithm[] = ['lzma', 'deflate', 'zstd'];

/**
 * Whether restoreLeaf can run the record's plan (true without a plan): every source it reads is a
 * local file (named by path), and it makes exactly the file's size (a part's length).
 */
export function runnable(rec: LeafRecord<ByteSource>): boolean {
  if (!rec.plan) return true;
  let total = 0;
  for (const p of rec.plan) {
    total += pieceLength(p);
    const src = p.kind === 'copy' || p.kind === 'lz4' || p.kind === 'decode' ? p.source : null;
    if (src && !src.path) return false;
  }
  return total === (rec.part ? rec.part.length : rec.attr.size);
}

/** Appends records to the job that begins at `start` of the current arena. */
export class JobWriter {
  // Set twice on purpose (here and in the constructor): V8 treats a field stored only once as a
  // constant, and the code built on that was thrown away and compiled again at the first arena
  // change, partway through every big extract.
  private buf: Uint8Array<SharedArrayBuffer> = new Uint8Array(new SharedArrayBuffer(0));
  private view: DataView<SharedArrayBuffer> = new DataView(this.buf.buffer);
  private start = ARENA_HEADER;
  private pos = ARENA_HEADER + 4;
  /** jobs taken from the current arena */
  private taken = 0;
  /** earlier arenas, with the jobs taken from each */
  private readonly retired: { buf: Uint8Array<SharedArrayBuffer>; taken: number }[] = [];
  private readonly strings: string[] = [];
  private readonly stringIndex = new Map<string, number>();
  private readonly lastStr: (string | null)[] = [null, null];
  private readonly lastStrIndex = [0, 0];
  count = 0;

  constructor() {
    this.buf = new Uint8Array(new SharedArrayBuffer(ARENA));
    this.view = new DataView(this.buf.buffer);
  }

  /** another arena when this one is full (one whose jobs are all done, else a new one), the job so far moved to its start */
  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const need = ARENA_HEADER + (this.pos - this.start) + n;
    this.retired.push({ buf: this.buf, taken: this.taken });
    const k = this.retired.findIndex((a) => a.buf.length >= need && Atomics.load(new Int32Array(a.buf.buffer, 0, 1), 0) === a.taken);
    const next = k >= 0 ? this.retired.splice(k, 1)[0]!.buf : new Uint8Array(new SharedArrayBuffer(Math.max(ARENA, 2 * need)));
    Atomics.store(new Int32Array(next.buffer, 0, 1), 0, 0);
    next.set(this.buf.subarray(this.start, this.pos), ARENA_HEADER);
    this.pos += ARENA_HEADER - this.start;
    this.start = ARENA_HEADER;
    this.taken = 0;
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  private u8(v: number): void {
    this.room(1);
    this.buf[this.pos++] = v;
  }
  private u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }
  private f64(v: number): void {
    this.room(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }
  private bytes(b: Uint8Array | null): void {
    if (!b) return this.u32(NONE);
    this.u32(b.length);
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  /** `slot`: where the string is written (0 a source, 1 a structure) */
  private str(s: string, slot: 0 | 1): void {
    // pieces in a row name the same source and structure: no map lookup for those
    if (s === this.lastStr[slot]) return this.u32(this.lastStrIndex[slot]!);
    let k = this.stringIndex.get(s);
    if (k === undefined) {
      k = this.strings.push(s) - 1;
      this.stringIndex.set(s, k);
    }
    this.lastStr[slot] = s;
    this.lastStrIndex[slot] = k;
    this.u32(k);
  }

  /**
   * False (and nothing added) when the record's plan reads a source that is not a local file, or
   * does not make exactly the file's size (a part's length): a worker could not run it.
   */
  add(rec: LeafRecord<ByteSource>): boolean {
    if (!runnable(rec)) return false;
    const a = rec.attr;
    this.u8(TYPE_CODE.get(a.type)!);
    this.f64(a.ino);
    this.u32(a.mode);
    this.u32(a.nlink);
    this.u32(a.uid);
    this.u32(a.gid);
    this.f64(a.size);
    this.u32(a.rdev);
    this.f64(a.mtime);
    this.u32(a.mtimeNsec);
    this.bytes(rec.path);
    this.bytes(rec.link);
    if (!rec.xattrs) this.u32(NONE);
    else {
      this.u32(rec.xattrs.length);
      for (const x of rec.xattrs) this.bytes(x);
    }
    if (!rec.plan) this.u32(NONE);
    else {
      this.u32(rec.plan.length);
      for (const p of rec.plan) this.piece(p);
    }
    if (!rec.part) this.u32(NONE);
    else {
      this.u32(rec.part.slot);
      this.f64(rec.part.offset);
      this.f64(rec.part.length);
    }
    this.count++;
    return true;
  }

  private piece(p: DataPiece<ByteSource>): void {
    switch (p.kind) {
      case 'copy':
        this.u8(Kind.Copy);
        this.str(p.source.path!, 0);
        this.f64(p.pos);
        this.f64(p.len);
        return;
      case 'zero':
        this.u8(Kind.Zero);
        this.f64(p.len);
        return;
      case 'bytes':
        this.u8(Kind.Bytes);
        this.bytes(p.bytes);
        return;
      case 'lz4':
        this.u8(Kind.Lz4);
        if (p.source === null) this.u32(NONE);
        else this.str(p.source.path!, 0);
        this.f64(p.pos);
        this.u32(p.plen);
        this.bytes(p.bytes);
        this.u32(p.length);
        this.u32(p.skip);
        this.u32(p.take);
        this.u8(p.zeroPadding ? 1 : 0);
        this.str(p.structure, 1);
        this.f64(p.at);
        return;
      case 'decode':
        this.u8(Kind.Decode);
        this.u8(ALGORITHMS.indexOf(p.algorithm));
        if (p.source === null) this.u32(NONE);
        else this.str(p.source.path!, 0);
        this.f64(p.pos);
        this.u32(p.plen);
        this.bytes(p.bytes);
        this.u32(p.skip);
        this.u32(p.take);
        this.u8(p.zeroPadding ? 1 : 0);
        this.u32(p.dictSize);
        this.str(p.structure, 1);
        this.f64(p.at);
        return;
      default:
        // a piece kind this encoding does not know would be written as nothing: a corrupt job
        throw new Error(`extract job: no encoding for a '${(p as { kind: string }).kind}' piece`);
    }
  }

  /** the records so far (the writer never writes over them); it starts the next job */
  take(): EncodedJob {
    this.view.setUint32(this.start, this.count, true);
    const job = { bytes: this.buf.subarray(this.start, this.pos), strings: this.strings.slice() };
    this.taken++;
    this.start = this.pos;
    this.room(4);
    this.pos += 4;
    this.count = 0;
    this.strings.length = 0;
    this.stringIndex.clear();
    this.lastStr.fill(null);
    return job;
  }
}

/** The records of a job, one after another; byte fields are views into the job's buffer. */
export function* readJob(job: EncodedJob): Generator<LeafRecord> {
  const b = job.bytes;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let pos = 0;
  const u8 = (): number => b[pos++]!;
  const u32 = (): number => {
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const f64 = (): number => {
    const v = view.getFloat64(pos, true);
    pos += 8;
    return v;
  };
  const bytes = (): Uint8Array | null => {
    const n = u32();
    if (n === NONE) return null;
    pos += n;
    return b.subarray(pos - n, pos);
  };
  const str = (): string => job.strings[u32()]!;
  const count = u32();
  for (let r = 0; r < count; r++) {
    const type = TYPES[u8()]!;
    const attr: Attr = { type, ino: f64(), mode: u32(), nlink: u32(), uid: u32(), gid: u32(), size: f64(), rdev: u32(), mtime: f64(), mtimeNsec: u32() };
    const path = bytes()!;
    const link = bytes();
    const nx = u32();
    let xattrs: Uint8Array[] | null = null;
    if (nx !== NONE) {
      xattrs = [];
      for (let k = 0; k < nx; k++) xattrs.push(bytes()!);
    }
    const np = u32();
    let plan: DataPiece<string>[] | null = null;
    if (np !== NONE) {
      plan = [];
      for (let k = 0; k < np; k++) {
        const kind = u8() as Kind;
        if (kind === Kind.Copy) plan.push({ kind: 'copy', source: str(), pos: f64(), len: f64() });
        else if (kind === Kind.Zero) plan.push({ kind: 'zero', len: f64() });
        else if (kind === Kind.Bytes) plan.push({ kind: 'bytes', bytes: bytes()! });
        else if (kind === Kind.Lz4) {
          const si = u32();
          plan.push({
            kind: 'lz4', source: si === NONE ? null : job.strings[si]!, pos: f64(), plen: u32(), bytes: bytes(),
            length: u32(), skip: u32(), take: u32(), zeroPadding: u8() === 1, structure: str(), at: f64(),
          });
        } else {
          const algorithm = ALGORITHMS[u8()]!;
          const si = u32();
          plan.push({
            kind: 'decode', algorithm, source: si === NONE ? null : job.strings[si]!, pos: f64(), plen: u32(), bytes: bytes(),
            skip: u32(), take: u32(), zeroPadding: u8() === 1, dictSize: u32(), structure: str(), at: f64(),
          });
        }
      }
    }
    const slot = u32();
    yield { path, attr, link, xattrs, plan, part: slot === NONE ? null : { slot, offset: f64(), length: f64() } };
  }
}
