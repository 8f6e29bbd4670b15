/**
 * composefs dump text format, composefs-dump(5) (erofs-composefs-format.md §7).
 *
 * `parseDump` turns a dump into a SourceTree with the validation and the messages of
 * `mkcomposefs --from-file` (libcomposefs 1.0.x), in strict (CFS_PARSE_STRICT) or lenient mode,
 * including its quirks: values are C strings where C uses them as such (path, xattr name, payload
 * stop at a `\x00`), integers follow strtoull (sign, leading blanks, wrap to 64 bits), a bad GID or
 * RDEV is only reported when UID is 0, and hardlinks are resolved after the last line, last first.
 * Every error is a DumpError naming the line.
 *
 * `writeDump` prints any ReadOnlyFs as `composefs-info dump` does (see the composefs reader for
 * the payload / digest / inline content of composefs images).
 */
import { binKey, startsWith } from '../bytes.ts';
import { FormatError } from '../errors.ts';
import { BytesSource } from '../io/source.ts';
import { MAX_TREE_DEPTH, type SourceDirent, type SourceInode, type SourceTree, type Xattr } from '../fs/tree.ts';
import { S_IFMT, fileTypeOfMode, type Attr, type DirEntry, type ReadOnlyFs } from '../fs/types.ts';
import { XattrSet } from './xattrs.ts';

/** LCFS_INLINE_CONTENT_MAX */
export const INLINE_CONTENT_MAX = 5000;
/** PATH_MAX: payloads and symlink targets must be shorter */
const PATH_MAX = 4096;
const NAME_MAX = 255;
const N_FIXED = 11;
const F_PATH = 0, F_SIZE = 1, F_MODE = 2, F_NLINK = 3, F_UID = 4, F_GID = 5, F_RDEV = 6, F_MTIME = 7, F_PAYLOAD = 8, F_CONTENT = 9, F_DIGEST = 10;

export class DumpError extends FormatError {
  constructor(
    /** 1-based line number */
    readonly line: number,
    offset: number,
    /** the mkcomposefs message */
    readonly reason: string,
  ) {
    super('composefs.dump', offset, `line ${line}: ${reason}`);
  }
}

export interface ParseDumpOptions {
  /** CFS_PARSE_STRICT: require a final newline, RDEV 0 on non-devices, symlink SIZE = target length */
  strict?: boolean;
  /** for content sources' names (default "dump") */
  name?: string;
}

/**
 * Line and byte offset where each inode was defined, for writer errors on dump input (symbol keys:
 * invisible to JSON and keys). Two numbers set in the inode's literal rather than an object added
 * later: that cost ~70 bytes per inode, a sixth of a 300,000-file dump's tree.
 */
const DEFINED_LINE = Symbol('composefs.dump.line');
const DEFINED_AT = Symbol('composefs.dump.offset');
type WithLine = SourceInode & { [DEFINED_LINE]?: number; [DEFINED_AT]?: number };
export function dumpLineOf(inode: SourceInode): { line: number; offset: number } | undefined {
  const w = inode as WithLine;
  const line = w[DEFINED_LINE];
  return line === undefined || line < 1 ? undefined : { line, offset: w[DEFINED_AT]! };
}

/** The xattrs of every inode without any: one shared (frozen) array instead of one each. */
const NO_XATTRS = Object.freeze([]) as unknown as Xattr[];

/**
 * Names, payloads, digests and xattrs copied into shared 64 KiB blocks: each is then one view
 * (~100 bytes) instead of a view plus its own ArrayBuffer (~210 bytes). Longer ones get their own.
 */
class Slab {
  private block = new Uint8Array(0);
  private pos = 0;
  alloc(n: number): Uint8Array {
    if (n > 1024) return new Uint8Array(n);
    if (this.pos + n > this.block.length) {
      this.block = new Uint8Array(1 << 16);
      this.pos = 0;
    }
    const out = this.block.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  copy(src: Uint8Array): Uint8Array {
    const out = this.alloc(src.length);
    out.set(src);
    return out;
  }
}

/**
 * Xattr names and short values repeat on every line of a real dump (trusted.overlay.*, an SELinux
 * label): the first INTERN_MAX distinct ones are kept once and shared by every inode (a dump of
 * 300,000 files with three xattrs each: 1200 -> ~500 bytes per file). Bounded, so unique values
 * (digests) cost no more than without it.
 */
const INTERN_MAX = 4096;
const INTERN_LEN = 128;
class Interner {
  private readonly seen = new Map<string, Uint8Array>();
  constructor(private readonly slab: Slab) {}
  /** `b` (a view of the line, or a temporary) as a kept array */
  keep(b: Uint8Array): Uint8Array {
    if (b.length > INTERN_LEN) return this.slab.copy(b);
    const k = binKey(b);
    const got = this.seen.get(k);
    if (got) return got;
    const out = this.slab.copy(b);
    if (this.seen.size < INTERN_MAX) this.seen.set(k, out);
    return out;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
function show(b: Uint8Array): string {
  return utf8.decode(b);
}

/** index of `byte` in buf[s, e), or -1 (never scans past `e`) */
function find(buf: Uint8Array, byte: number, s: number, e: number): number {
  if (e - s < 32) {
    for (let i = s; i < e; i++) if (buf[i] === byte) return i;
    return -1;
  }
  const i = buf.subarray(s, e).indexOf(byte);
  return i < 0 ? -1 : s + i;
}

/** up to the first NUL, as C sees a string */
function cstr(b: Uint8Array): Uint8Array {
  const z = b.indexOf(0);
  return z < 0 ? b : b.subarray(0, z);
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

class LineError extends Error {}
function fail(msg: string): never {
  throw new LineError(msg);
}

/** composefs-dump(5) unescaping: \\ \n \r \t \xHH. Returns a fresh array (from `slab` when given). */
function unescape(buf: Uint8Array, s: number, e: number, slab?: Slab): Uint8Array {
  if (find(buf, 0x5c, s, e) < 0) return slab ? slab.copy(buf.subarray(s, e)) : buf.slice(s, e);
  const out = new Uint8Array(e - s);
  let o = 0;
  let i = s;
  while (i < e) {
    const c = buf[i++]!;
    if (c !== 0x5c) {
      out[o++] = c;
      continue;
    }
    if (i >= e) fail('No character after escape');
    const k = buf[i++]!;
    switch (k) {
      case 0x5c: out[o++] = 0x5c; break;
      case 0x6e: out[o++] = 0x0a; break;
      case 0x72: out[o++] = 0x0d; break;
      case 0x74: out[o++] = 0x09; break;
      case 0x78: {
        if (i >= e) fail('No hex characters after hex escape');
        const x1 = hexDigit(buf[i++]!);
        if (i >= e) fail('No hex characters after hex escape');
        const x2 = hexDigit(buf[i++]!);
        if (x1 < 0 || x2 < 0) fail('Invalid hex characters after hex escape');
        out[o++] = (x1 << 4) | x2;
        break;
      }
      default:
        fail(`Unsupported escape type ${String.fromCharCode(k)}`);
    }
  }
  return slab ? slab.copy(out.subarray(0, o)) : out.subarray(0, o);
}

/** unescape, but a view of the line when nothing is escaped: only for bytes copied at once */
function unescapeView(buf: Uint8Array, s: number, e: number): Uint8Array {
  return find(buf, 0x5c, s, e) < 0 ? buf.subarray(s, e) : unescape(buf, s, e);
}

/** null for the optional marker "-" */
function unescapeOptional(buf: Uint8Array, s: number, e: number, slab?: Slab): Uint8Array | null {
  if (e - s === 1 && buf[s] === 0x2d) return null;
  return unescape(buf, s, e, slab);
}

const U64 = (1n << 64n) - 1n;

/**
 * strtoull(s, &end, base) with "whole field must be consumed": a number when exact and small,
 * else a bigint (mod 2^64); null when invalid ("Invalid integer").
 */
function parseInt64(buf: Uint8Array, s: number, e: number, base: 8 | 10): number | bigint | null {
  if (s >= e) return null;
  // fast path: plain digits that fit a double exactly
  if (e - s <= (base === 10 ? 15 : 17)) {
    let v = 0;
    let i = s;
    for (; i < e; i++) {
      const d = buf[i]! - 0x30;
      if (d < 0 || d >= base) break;
      v = v * base + d;
    }
    if (i === e) return v;
  }
  let i = s;
  // isspace in the C locale
  while (i < e && (buf[i] === 0x20 || (buf[i]! >= 0x09 && buf[i]! <= 0x0d))) i++;
  let neg = false;
  if (i < e && (buf[i] === 0x2b || buf[i] === 0x2d)) neg = buf[i++] === 0x2d;
  const digitsStart = i;
  let v = 0n;
  let overflow = false;
  const b = BigInt(base);
  for (; i < e; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d >= base) break;
    v = v * b + BigInt(d);
    if (v > U64) overflow = true;
  }
  if (i === digitsStart || i !== e) return null;
  if (overflow) return U64;
  return neg ? (-v) & U64 : v;
}

function asU32(v: number | bigint): number {
  return typeof v === 'number' ? v % 0x1_0000_0000 : Number(BigInt.asUintN(32, v));
}
/** a u64 as a JS number; above 2^53 it stays above 2^53 (only "too big" matters there) */
function asSize(v: number | bigint): number {
  if (typeof v === 'number') return v;
  const n = Number(v);
  return v > 9007199254740992n ? Math.max(n, 9007199254740994) : n;
}
function asI64(v: number | bigint): number {
  return typeof v === 'number' ? v : Number(BigInt.asIntN(64, v));
}
/** %lld of a u64 */
function lld(v: number | bigint): string {
  return typeof v === 'number' ? String(v) : String(BigInt.asIntN(64, v));
}

interface Fixup {
  dirent: SourceDirent;
  /** the @ entry's own node until resolved */
  placeholder: SourceInode;
  targetPath: Uint8Array | null;
  linkTo: SourceInode | null;
  line: number;
  offset: number;
}

const ENC = new TextEncoder();

/**
 * Incremental parser: `push` chunks of dump text (any split), then `finish`. Lines are parsed as
 * soon as they are complete, so memory holds the tree, not the text.
 */
export class DumpParser {
  private root: SourceInode | null = null;
  /** children by name, for directories (and nothing else can have children) */
  private readonly dirs = new Map<SourceInode, Map<string, SourceDirent>>();
  private readonly fixups: Fixup[] = [];
  private lineNo = 0;
  /** byte offset of the start of the pending line */
  private offset = 0;
  private pending: Uint8Array[] = [];
  private readonly fs = new Int32Array(N_FIXED);
  private readonly fe = new Int32Array(N_FIXED);
  /** the directory of the previous line's path: dumps list siblings together */
  private lastDirPath: Uint8Array | null = null;
  private lastDir: SourceInode | null = null;
  /** components in lastDirPath */
  private lastDirDepth = 0;
  private readonly slab = new Slab();
  private readonly interned = new Interner(this.slab);
  private pendingLen = 0;
  private readonly strict: boolean;
  private readonly name: string;
  private done = false;

  constructor(opts: ParseDumpOptions = {}) {
    this.strict = opts.strict ?? false;
    this.name = opts.name ?? 'dump';
  }

  push(chunk: Uint8Array): void {
    if (this.done) throw new Error('DumpParser: push after finish');
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      if (this.pendingLen > 0) {
        const piece = chunk.subarray(start, nl);
        const line = new Uint8Array(this.pendingLen + piece.length);
        let o = 0;
        for (const p of this.pending) {
          line.set(p, o);
          o += p.length;
        }
        line.set(piece, o);
        this.pending = [];
        this.pendingLen = 0;
        this.parseLine(line, 0, line.length);
      } else {
        this.parseLine(chunk, start, nl);
      }
      start = nl + 1;
    }
    if (start < chunk.length) {
      // the chunk may be reused by the caller: keep a copy of the partial line
      this.pending.push(chunk.slice(start));
      this.pendingLen += chunk.length - start;
    }
  }

  finish(): SourceTree {
    if (this.done) throw new Error('DumpParser: finish called twice');
    this.done = true;
    if (this.pendingLen > 0) {
      const line = new Uint8Array(this.pendingLen);
      let o = 0;
      for (const p of this.pending) {
        line.set(p, o);
        o += p.length;
      }
      this.pending = [];
      if (this.strict) throw new DumpError(this.lineNo + 1, this.offset, 'Missing trailing newline');
      this.parseLine(line, 0, line.length, true);
    }
    if (!this.root) throw new DumpError(Math.max(this.lineNo, 1), this.offset, 'No files in dump file');
    this.resolveHardlinks();
    return { root: this.root, notes: [] };
  }

  private parseLine(buf: Uint8Array, s: number, e: number, last = false): void {
    this.lineNo++;
    const lineOffset = this.offset;
    this.offset += e - s + (last ? 0 : 1);
    try {
      this.parseFields(buf, s, e, this.lineNo, lineOffset);
    } catch (err) {
      if (err instanceof LineError) throw new DumpError(this.lineNo, lineOffset, err.message);
      throw err;
    }
  }

  private parseFields(buf: Uint8Array, s: number, e: number, line: number, lineOffset: number): void {
    const nul = find(buf, 0, s, e);
    if (nul >= 0) fail(`Invalid embedded NUL character at position ${nul - s}`);

    // fixed fields, split on single spaces; missing ones are empty
    const fs = this.fs;
    const fe = this.fe;
    let cur = s;
    for (let i = 0; i < N_FIXED; i++) {
      const sp = find(buf, 0x20, cur, e);
      fs[i] = cur;
      if (sp < 0) {
        fe[i] = e;
        cur = e;
      } else {
        fe[i] = sp;
        cur = sp + 1;
      }
    }

    // a view of the line when nothing is escaped: only the name (copied by addNode) is kept
    const ps = fs[F_PATH]!, pe = fe[F_PATH]!;
    const path = find(buf, 0x5c, ps, pe) < 0 ? buf.subarray(ps, pe) : cstr(unescape(buf, ps, pe));
    if (path.length === 0) fail('Invalid empty path');

    let ms = fs[F_MODE]!;
    const isHardlink = ms < fe[F_MODE]! && buf[ms] === 0x40;
    if (isHardlink) ms++;
    const modeV = parseInt64(buf, ms, fe[F_MODE]!, 8);
    if (modeV === null) fail(`Invalid integer ${show(buf.subarray(ms, fe[F_MODE]!))}`);
    const mode = asU32(modeV);
    const type = fileTypeOfMode(mode & S_IFMT);
    if (!type) fail(`Invalid mode ${mode.toString(8)}`);

    const inode: WithLine = {
      type, perm: mode & 0o7777, uid: 0, gid: 0, mtime: 0, mtimeNsec: 0, size: 0, rdev: 0, xattrs: NO_XATTRS, nlink: 1,
      // a hardlink's placeholder keeps its fixup's index where others keep their line's offset
      [DEFINED_LINE]: isHardlink ? 0 : line, [DEFINED_AT]: isHardlink ? this.fixups.length : lineOffset,
    };
    if (type === 'dir') inode.children = [];
    const dirent = this.addNode(path, inode);

    if (isHardlink) {
      if (type === 'dir') fail("Directories can't be hardlinked");
      const target = unescapeOptional(buf, fs[F_PAYLOAD]!, fe[F_PAYLOAD]!, this.slab);
      const fx: Fixup = { dirent: dirent!, placeholder: inode, targetPath: target === null ? null : cstr(target), linkTo: null, line, offset: lineOffset };
      this.fixups.push(fx);
      return;
    }

    const size = parseInt64(buf, fs[F_SIZE]!, fe[F_SIZE]!, 10);
    if (size === null) fail(`Invalid integer ${show(buf.subarray(fs[F_SIZE]!, fe[F_SIZE]!))}`);
    const nlink = parseInt64(buf, fs[F_NLINK]!, fe[F_NLINK]!, 10);
    if (nlink === null) fail(`Invalid integer ${show(buf.subarray(fs[F_NLINK]!, fe[F_NLINK]!))}`);
    const uid = parseInt64(buf, fs[F_UID]!, fe[F_UID]!, 10);
    if (uid === null) fail(`Invalid integer ${show(buf.subarray(fs[F_UID]!, fe[F_UID]!))}`);
    const uidZero = uid === 0 || uid === 0n;
    // mkcomposefs checks `uid == 0 && err` after GID and RDEV: their errors only count when UID is 0
    let gid = parseInt64(buf, fs[F_GID]!, fe[F_GID]!, 10);
    if (gid === null) {
      if (uidZero) fail(`Invalid integer ${show(buf.subarray(fs[F_GID]!, fe[F_GID]!))}`);
      gid = 0;
    }
    let rdev = parseInt64(buf, fs[F_RDEV]!, fe[F_RDEV]!, 10);
    if (rdev === null) {
      if (uidZero) fail(`Invalid integer ${show(buf.subarray(fs[F_RDEV]!, fe[F_RDEV]!))}`);
      rdev = 0;
    }
    // MTIME: SEC.NSEC
    const mts = fs[F_MTIME]!, mte = fe[F_MTIME]!;
    let dot = find(buf, 0x2e, mts, mte);
    if (dot < 0) dot = mte;
    const sec = parseInt64(buf, mts, dot, 10);
    if (sec === null) fail(`Invalid integer ${show(buf.subarray(mts, dot))}`);
    const nsecStart = Math.min(dot + 1, mte);
    const nsec = parseInt64(buf, nsecStart, mte, 10);
    if (nsec === null) fail(`Invalid integer ${show(buf.subarray(nsecStart, mte))}`);

    const payloadRaw = unescapeOptional(buf, fs[F_PAYLOAD]!, fe[F_PAYLOAD]!, this.slab);
    const content = unescapeOptional(buf, fs[F_CONTENT]!, fe[F_CONTENT]!);
    if (content !== null && BigInt(content.length) !== BigInt(size)) {
      fail(`Invalid content size ${content.length}, must match size ${lld(size)}`);
    }
    const digestRaw = unescapeOptional(buf, fs[F_DIGEST]!, fe[F_DIGEST]!);

    inode.nlink = asU32(nlink);
    inode.uid = asU32(uid);
    inode.gid = asU32(gid);
    const isDev = type === 'chr' || type === 'blk';
    if (isDev) inode.rdev = asSize(rdev);
    else if (this.strict && rdev !== 0 && rdev !== 0n) fail('Non-zero devnum on non-device');
    inode.mtime = asI64(sec);
    inode.mtimeNsec = asU32(nsec);

    const payload = payloadRaw === null ? null : cstr(payloadRaw);
    if (type === 'symlink') {
      if (payload === null || payload.length === 0 || payload.length >= PATH_MAX) fail('Invalid symlink');
      if (this.strict) {
        if (BigInt(payload.length) !== BigInt(size)) fail(`Invalid symlink size ${payload.length}, must match size ${lld(size)}`);
        if (content !== null && content.length > 0) fail('Symlink cannot have content');
      }
      inode.target = payload;
      inode.size = payload.length;
    } else {
      if (payload !== null && payload.length >= PATH_MAX) fail('Invalid payload');
      if (content !== null && content.length > INLINE_CONTENT_MAX) {
        fail(`Inline content size ${content.length} exceeds maximum ${INLINE_CONTENT_MAX}`);
      }
      // mkcomposefs keeps SIZE for every non-directory (a device's size only decides compact vs extended)
      inode.size = type === 'dir' ? 0 : asSize(size);
      if (type === 'reg') {
        if (content !== null && content.length > 0) {
          inode.content = new BytesSource(content, `${this.name}:${line}`);
          inode.inline = true;
        }
        if (payload !== null && payload.length > 0) inode.payload = payload;
      }
    }

    // an empty DIGEST decodes to nothing (mkcomposefs then keeps an uninitialised digest); an
    // invalid one is refused where the digest is used (regular files), ignored elsewhere as in C
    if (digestRaw !== null && cstr(digestRaw).length > 0 && type === 'reg') {
      const d = cstr(digestRaw);
      const raw = this.slab.alloc(32);
      let ok = d.length === 64;
      for (let i = 0; ok && i < 32; i++) {
        const h = hexDigit(d[2 * i]!), l = hexDigit(d[2 * i + 1]!);
        if (h < 0 || l < 0) ok = false;
        else raw[i] = (h << 4) | l;
      }
      // mkcomposefs ignores digest_to_raw's failure and keeps whatever was decoded; refuse instead
      if (!ok) fail(`Invalid digest ${show(d)}`);
      inode.fsverityDigest = raw;
    }

    if (e - cur > 0xffff) fail('Too many xattrs');
    if (cur < e) {
      const set = new XattrSet([]);
      inode.xattrs = set.list;
      while (cur < e) {
        let sp = find(buf, 0x20, cur, e);
        if (sp < 0) sp = e;
        const eq = find(buf, 0x3d, cur, sp);
        if (eq < 0) fail('Missing = in xattr');
        const key = this.interned.keep(cstr(unescapeView(buf, cur, eq)));
        const value = this.interned.keep(unescapeView(buf, eq + 1, sp));
        if (!set.set(key, value)) fail("Can't set xattr");
        cur = sp < e ? sp + 1 : e;
      }
    }
  }

  /** tree_add_node: returns the new dirent (null for the root) */
  private addNode(path: Uint8Array, inode: SourceInode): SourceDirent | null {
    if (path.length === 1 && path[0] === 0x2f) {
      if (inode.type !== 'dir') fail('Root must be a directory');
      if (this.root) fail("Can't have multiple roots");
      this.root = inode;
      this.dirs.set(inode, new Map());
      return null;
    }
    if (!this.root) fail('Root node not present');
    // lookup_parent_path: components split on '/', leading slashes skipped at every level
    let node: SourceInode = this.root;
    let i = 0;
    let depth = 0;
    let name: Uint8Array;
    const lastSlash = path.lastIndexOf(0x2f);
    const cached = this.lastDirPath;
    const hit = cached !== null && lastSlash === cached.length && lastSlash > 0 && path[lastSlash - 1] !== 0x2f && startsWith(path, cached);
    if (hit) {
      node = this.lastDir!;
      i = lastSlash;
      depth = this.lastDirDepth;
    }
    for (;;) {
      while (i < path.length && path[i] === 0x2f) i++;
      let j = i;
      while (j < path.length && path[j] !== 0x2f) j++;
      if (j === path.length) {
        name = path.subarray(i);
        break;
      }
      // each line spells out every ancestor: nesting beyond the limit would cost O(depth²)
      if (++depth >= MAX_TREE_DEPTH) fail(`Path ${show(path.subarray(0, 64))}... is deeper than the ${MAX_TREE_DEPTH}-component limit`);
      const child = this.dirs.get(node)?.get(binKey(path.subarray(i, j)));
      if (!child) fail(`Parent directory missing for ${show(path)}`);
      node = child.inode;
      i = j;
    }
    if (!hit && lastSlash > 0 && node.type === 'dir') {
      // a copy: `path` may be a view of the caller's chunk
      this.lastDirPath = path.slice(0, lastSlash);
      this.lastDir = node;
      this.lastDirDepth = depth;
    }
    const children = this.dirs.get(node);
    if (node.type !== 'dir' || !children) fail(`Parent must be a directory for ${show(path)}`);
    if ((name.length === 1 && name[0] === 0x2e) || (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e)) {
      fail(`Invalid . or .. in path: ${show(path)}`);
    }
    if (name.length === 0 || name.length > NAME_MAX) fail("Can't add child");
    const key = binKey(name);
    if (children.has(key)) fail(`Path ${show(path)} already exist`);
    const dirent: SourceDirent = { name: this.slab.copy(name), inode };
    children.set(key, dirent);
    node.children!.push(dirent);
    if (inode.type === 'dir') this.dirs.set(inode, new Map());
    return dirent;
  }

  /** lookup_path: the node a path names (a hardlink entry names its own, unresolved node) */
  private lookupPath(path: Uint8Array): SourceInode | null {
    let node = this.root!;
    let i = 0;
    for (;;) {
      while (i < path.length && path[i] === 0x2f) i++;
      if (i === path.length) return node;
      let j = i;
      while (j < path.length && path[j] !== 0x2f) j++;
      const child = this.dirs.get(node)?.get(binKey(path.subarray(i, j)));
      if (!child) return null;
      node = child.inode;
      i = j;
    }
  }

  /** the fixup whose placeholder `node` is (see DEFINED_AT) */
  private placeholderOf(node: SourceInode): Fixup | undefined {
    const w = node as WithLine;
    return w[DEFINED_LINE] === 0 ? this.fixups[w[DEFINED_AT]!] : undefined;
  }

  private resolveHardlinks(): void {
    const err = (fx: Fixup, msg: string) => new DumpError(fx.line, fx.offset, msg);
    // mkcomposefs keeps its fixups in a list it prepends to: the last hardlink is resolved first
    for (let k = this.fixups.length - 1; k >= 0; k--) {
      const fx = this.fixups[k]!;
      if (fx.targetPath === null) throw err(fx, 'No target path for the hardlink');
      const target = this.lookupPath(fx.targetPath);
      if (!target) throw err(fx, `No target at ${show(fx.targetPath)} for hardlink`);
      if (target === fx.placeholder) throw err(fx, `Self-referential hardlink ${show(fx.targetPath)}`);
      fx.linkTo = target;
    }
    // Follow each chain of hardlinks-to-hardlinks to its real inode once: every fixup met on the
    // way gets the result, so a chain of n "@" lines costs O(n), not O(n²) (n = 300,000: a hang).
    const final = new Map<Fixup, SourceInode>();
    const onPath = new Set<Fixup>();
    const chain: Fixup[] = [];
    for (const fx of this.fixups) {
      let node = fx.linkTo!;
      let at: Fixup | undefined = fx;
      chain.length = 0;
      onPath.clear();
      while (at) {
        const known = final.get(at);
        if (known) {
          node = known;
          break;
        }
        // meeting a fixup of this walk again is a cycle (mkcomposefs: ELOOP when writing)
        if (onPath.has(at)) throw err(fx, `Hardlink loop through ${show(fx.targetPath!)}`);
        onPath.add(at);
        chain.push(at);
        node = at.linkTo!;
        at = this.placeholderOf(node);
      }
      for (const c of chain) final.set(c, node);
      // mkcomposefs would write such a directory hardlink into an unusable image: refuse it here
      if (node.type === 'dir') throw err(fx, `Hardlink to the directory ${show(fx.targetPath!)}`);
      fx.dirent.inode = node;
      fx.dirent.link = true;
    }
  }
}

function isAsyncIterable(x: unknown): x is AsyncIterable<Uint8Array> {
  return typeof x === 'object' && x !== null && Symbol.asyncIterator in x;
}
function isIterable(x: unknown): x is Iterable<Uint8Array> {
  return typeof x === 'object' && x !== null && Symbol.iterator in x && !(x instanceof Uint8Array);
}

export type DumpInput = Uint8Array | string | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/** Parse a whole dump held in memory. */
export function parseDumpSync(input: Uint8Array | string, opts: ParseDumpOptions = {}): SourceTree {
  const p = new DumpParser(opts);
  p.push(typeof input === 'string' ? ENC.encode(input) : input);
  return p.finish();
}

/** Parse a dump from bytes, a string, or a stream of byte chunks (e.g. a gunzip stream). */
export async function parseDump(input: DumpInput, opts: ParseDumpOptions = {}): Promise<SourceTree> {
  if (typeof input === 'string' || input instanceof Uint8Array) return parseDumpSync(input, opts);
  const p = new DumpParser(opts);
  if (isAsyncIterable(input)) for await (const c of input) p.push(c);
  else if (isIterable(input)) for (const c of input) p.push(c);
  return p.finish();
}

// ---------------------------------------------------------------------------------------------
// Writing (composefs-info dump)

const HEX = '0123456789abcdef';
const ESC_STANDARD = 0, ESC_NOSPACE = 1, ESC_EQUAL = 2, ESC_LONE_DASH = 4;

/** Appends escaped bytes to a growing byte buffer. */
class TextOut {
  buf = new Uint8Array(1 << 16);
  len = 0;
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  ascii(s: string): void {
    this.room(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.len++] = s.charCodeAt(i);
  }
  escaped(v: Uint8Array, flags: number): void {
    if (flags & ESC_LONE_DASH && v.length === 1 && v[0] === 0x2d) {
      this.ascii('\\x2d');
      return;
    }
    this.room(v.length * 4);
    const b = this.buf;
    let o = this.len;
    for (let i = 0; i < v.length; i++) {
      const c = v[i]!;
      if (c === 0x5c) { b[o++] = 0x5c; b[o++] = 0x5c; continue; }
      if (c === 0x0a) { b[o++] = 0x5c; b[o++] = 0x6e; continue; }
      if (c === 0x0d) { b[o++] = 0x5c; b[o++] = 0x72; continue; }
      if (c === 0x09) { b[o++] = 0x5c; b[o++] = 0x74; continue; }
      const hexEsc = c === 0x3d ? (flags & ESC_EQUAL) !== 0 : flags & ESC_NOSPACE ? c < 0x20 || c > 0x7e : c < 0x21 || c > 0x7e;
      if (hexEsc) {
        b[o++] = 0x5c; b[o++] = 0x78; b[o++] = HEX.charCodeAt(c >> 4); b[o++] = HEX.charCodeAt(c & 15);
      } else b[o++] = c;
    }
    this.len = o;
  }
  optional(v: Uint8Array | null | undefined, flags: number): void {
    if (v === null || v === undefined) this.ascii('-');
    else this.escaped(v, flags);
  }
  take(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

/** One inode as a dump line needs it (composefs-info's view of a node). */
export interface DumpEntry {
  size: number;
  /** st_mode, type included */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  mtime: number;
  mtimeNsec: number;
  /** symlink target or backing path; null = "-" */
  payload: Uint8Array | null;
  /** inline content; null = "-" */
  content: Uint8Array | null;
  digest: Uint8Array | null;
  xattrs: Xattr[];
}

function writeDumpLine(out: TextOut, path: Uint8Array, e: DumpEntry, hardlinkTo: Uint8Array | null): void {
  out.escaped(path, ESC_STANDARD);
  out.ascii(` ${e.size} ${hardlinkTo ? '@' : ''}${e.mode.toString(8)} ${e.nlink} ${e.uid} ${e.gid} ${e.rdev} ${e.mtime}.${e.mtimeNsec} `);
  out.optional(hardlinkTo ?? e.payload, ESC_LONE_DASH);
  out.ascii(' ');
  out.optional(e.content, ESC_LONE_DASH);
  if (e.digest) {
    let s = ' ';
    for (const x of e.digest) s += HEX[x >> 4]! + HEX[x & 15]!;
    out.ascii(s);
  } else out.ascii(' -');
  for (const x of e.xattrs) {
    out.ascii(' ');
    out.escaped(x.name, ESC_EQUAL);
    out.ascii('=');
    out.escaped(x.value, ESC_EQUAL);
  }
  out.ascii('\n');
}

export interface WriteDumpOptions {
  /**
   * images that are not composefs: regular files up to this size get their content in the dump
   * (default 0: none; at most INLINE_CONTENT_MAX)
   */
  inlineMax?: number;
}

/** A ReadOnlyFs that knows composefs payloads and digests (the composefs reader). */
interface DumpAware {
  dumpEntry(ino: number): Promise<DumpEntry>;
}
function isDumpAware(fs: object): fs is DumpAware {
  return typeof (fs as Partial<DumpAware>).dumpEntry === 'function';
}

async function genericEntry(fs: ReadOnlyFs, attr: Attr, inlineMax: number): Promise<DumpEntry> {
  const xattrs: Xattr[] = [];
  for (const name of await fs.listxattr(attr.ino)) {
    const value = await fs.getxattr(attr.ino, name);
    if (value) xattrs.push({ name, value });
  }
  let payload: Uint8Array | null = null;
  let content: Uint8Array | null = null;
  if (attr.type === 'symlink') payload = await fs.readlink(attr.ino);
  else if (attr.type === 'reg' && attr.size > 0 && attr.size <= Math.min(inlineMax, INLINE_CONTENT_MAX)) content = await fs.read(attr.ino, 0, attr.size);
  return {
    size: attr.type === 'dir' || attr.type === 'reg' || attr.type === 'symlink' ? attr.size : 0, mode: attr.mode, nlink: attr.nlink,
    uid: attr.uid, gid: attr.gid, rdev: attr.type === 'chr' || attr.type === 'blk' ? attr.rdev : 0, mtime: attr.mtime, mtimeNsec: attr.mtimeNsec,
    payload, content, digest: null, xattrs,
  };
}

/**
 * The dump of a filesystem as `composefs-info dump` prints it: depth first in directory order, a
 * second name of an inode as an "@" line naming the first, directories with their i_size.
 * Yields pieces of about 64 KiB.
 */
export async function* dumpChunks(fs: ReadOnlyFs, opts: WriteDumpOptions = {}): AsyncGenerator<Uint8Array> {
  const inlineMax = opts.inlineMax ?? 0;
  const entry = (attr: Attr) => (isDumpAware(fs) ? fs.dumpEntry(attr.ino) : genericEntry(fs, attr, inlineMax));
  const out = new TextOut();
  const firstPath = new Map<number, Uint8Array>();
  const root = await fs.getattr(fs.rootIno);
  writeDumpLine(out, ROOT_PATH, await entry(root), null);
  const dirs = new Set<number>([root.ino]);
  // explicit stack of directory cursors: deep trees do not grow the JS stack
  const stack: { ino: number; path: Uint8Array; entries: DirEntry[]; i: number; next: number; done: boolean }[] = [
    { ino: root.ino, path: new Uint8Array(0), entries: [], i: 0, next: 0, done: false },
  ];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    if (top.i >= top.entries.length) {
      if (top.done) {
        stack.pop();
        continue;
      }
      const batch = await fs.readdir(top.ino, top.next, 1024);
      const next = batch.length ? batch[batch.length - 1]!.next : top.next;
      top.entries = batch;
      top.i = 0;
      top.done = batch.length === 0 || next <= top.next;
      top.next = next;
      continue;
    }
    const e = top.entries[top.i++]!;
    const path = new Uint8Array(top.path.length + 1 + e.name.length);
    path.set(top.path);
    path[top.path.length] = 0x2f;
    path.set(e.name, top.path.length + 1);
    const attr = await fs.getattr(e.ino);
    const seen = firstPath.get(attr.ino);
    writeDumpLine(out, path, await entry(attr), seen ?? null);
    if (out.len >= 1 << 16) {
      yield out.take().slice();
      out.len = 0;
    }
    if (seen) continue;
    firstPath.set(attr.ino, path);
    if (attr.type === 'dir' && !dirs.has(attr.ino)) {
      dirs.add(attr.ino);
      stack.push({ ino: attr.ino, path, entries: [], i: 0, next: 0, done: false });
    }
  }
  if (out.len > 0) yield out.take().slice();
}

/** The whole dump as bytes (see dumpChunks). */
export async function writeDump(fs: ReadOnlyFs, opts: WriteDumpOptions = {}): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of dumpChunks(fs, opts)) {
    parts.push(c);
    n += c.length;
  }
  const all = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return all;
}

const ROOT_PATH = new Uint8Array([0x2f]);

