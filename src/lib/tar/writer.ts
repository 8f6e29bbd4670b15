import { FormatError, IoError } from '../errors.ts';
import { walk } from '../fs/path.ts';
import { showPath, unsafeComponent } from '../fs/sources/names.ts';
import { major, minor, type Attr, type ReadOnlyFs } from '../fs/types.ts';
import { H, TAR_BLOCK } from './structs.ts';
import { concat } from '../bytes.ts';

/**
 * Streaming PAX tar export of any ReadOnlyFs, whole image or subtree. Entries come in walk order
 * (a directory before its children); the second and later paths of a non-directory inode with
 * nlink > 1 become hardlink entries naming the first. PAX records carry what ustar cannot: long
 * names and link targets, nanosecond mtimes, large or negative numbers, and xattrs
 * (SCHILY.xattr.NAME, as GNU tar --xattrs reads them). Names come from the image and are
 * untrusted: each component is checked (not empty, ".", "..", no "/" or NUL) before it is used.
 */

export interface TarSink {
  write(chunk: Uint8Array): Promise<void> | void;
}

export interface ExportTarProgress {
  entries: number;
  bytes: number;
  /** the entry just written */
  path: string;
}

export interface ExportTarOptions {
  signal?: AbortSignal;
  onProgress?: (p: ExportTarProgress) => void;
  /** 'error' (default): an unsafe name stops the export with a FormatError; 'skip': the entry and everything below it are left out and listed in the result */
  unsafeNames?: 'error' | 'skip';
  /** components put before every entry name; required when the start inode is not a directory */
  prefix?: Uint8Array[];
  /** content read size (default 1 MiB) */
  chunkSize?: number;
}

export interface ExportTarResult {
  entries: number;
  /** bytes written to the sink */
  bytes: number;
  /** entries left out, with the reason */
  skipped: string[];
}

const enc = new TextEncoder();
const MAX_OCTAL_11 = 0o77777777777;
const MAX_OCTAL_7 = 0o7777777;

export async function exportTar(fs: ReadOnlyFs, startIno: number, sink: TarSink, opts: ExportTarOptions = {}): Promise<ExportTarResult> {
  const chunkSize = opts.chunkSize ?? 1 << 20;
  const prefix = opts.prefix ?? [];
  for (const c of prefix) {
    const why = unsafeComponent(c);
    if (why) throw new RangeError(`exportTar prefix component ${JSON.stringify(new TextDecoder().decode(c))}: ${why}`);
  }
  const out = new Output(sink);
  const result: ExportTarResult = { entries: 0, bytes: 0, skipped: [] };
  const firstPath = new Map<number, Uint8Array>();
  let seq = 0;

  // the walk yields plain names only, each once per directory: a name the image lists twice (a
  // symlink, then a directory of the same name with entries below it) is never written twice, so
  // no tar reader can be led through an entry this export wrote
  const refused = (path: Uint8Array[], reason: string): void => {
    if (opts.unsafeNames !== 'skip' && !reason.startsWith('duplicate')) throw new FormatError('tar export', -1, `unsafe name in the image at ${showPath(path)}: ${reason}`);
    result.skipped.push(`${showPath(path)}: ${reason}`);
  };
  for await (const { path, attr } of walk(fs, startIno, prefix, { onRefused: refused })) {
    opts.signal?.throwIfAborted();
    if (attr.type === 'sock') {
      result.skipped.push(`${showPath(path)}: sockets cannot be archived`);
      continue;
    }
    let name = joinPath(path);
    if (path.length === 0) {
      if (attr.type !== 'dir') throw new RangeError('exportTar: the start inode is not a directory; give opts.prefix to name it');
      name = enc.encode('./');
    } else if (attr.type === 'dir') name = concat(name, enc.encode('/'));

    let linkTarget: Uint8Array | null = null;
    if (attr.type !== 'dir' && attr.nlink > 1) {
      const first = firstPath.get(attr.ino);
      if (first) linkTarget = first;
      else firstPath.set(attr.ino, name);
    }
    const xattrs: [Uint8Array, Uint8Array][] = [];
    if (!linkTarget) {
      for (const xn of await fs.listxattr(attr.ino)) {
        const v = await fs.getxattr(attr.ino, xn);
        if (v) xattrs.push([xn, v]);
      }
    }
    const symlink = attr.type === 'symlink' && !linkTarget ? await fs.readlink(attr.ino) : null;
    const typeflag = linkTarget ? '1' : TYPEFLAG[attr.type];
    const size = attr.type === 'reg' && !linkTarget ? attr.size : 0;
    await out.put(entryHeaders(seq++, name, typeflag, attr, size, linkTarget ?? symlink ?? new Uint8Array(0), xattrs));

    if (size > 0) {
      let off = 0;
      while (off < size) {
        opts.signal?.throwIfAborted();
        const want = Math.min(chunkSize, size - off);
        const b = await fs.read(attr.ino, off, want);
        if (b.length === 0) throw new IoError(showPath(path), `file ends at ${off} of its ${size} bytes`);
        const part = b.length > want ? b.subarray(0, want) : b;
        await out.put(part);
        off += part.length;
      }
      await out.put(new Uint8Array(padding(size)));
    }
    result.entries++;
    opts.onProgress?.({ entries: result.entries, bytes: out.written + out.buffered, path: showPath(path) });
  }
  await out.put(new Uint8Array(2 * TAR_BLOCK));
  await out.flush();
  result.bytes = out.written;
  return result;
}

const TYPEFLAG: Record<Attr['type'], string> = { reg: '0', dir: '5', symlink: '2', chr: '3', blk: '4', fifo: '6', sock: '' };

function padding(n: number): number {
  return (TAR_BLOCK - (n % TAR_BLOCK)) % TAR_BLOCK;
}


function joinPath(comps: Uint8Array[]): Uint8Array {
  const parts: Uint8Array[] = [];
  comps.forEach((c, i) => {
    if (i) parts.push(SLASH);
    parts.push(c);
  });
  return concat(...parts);
}
const SLASH = enc.encode('/');

/** Collects small writes (headers, padding) so the sink sees few, large chunks. */
class Output {
  written = 0;
  private parts: Uint8Array[] = [];
  buffered = 0;
  constructor(private readonly sink: TarSink) {}
  async put(b: Uint8Array): Promise<void> {
    if (b.length >= 64 * 1024) {
      await this.flush();
      await this.sink.write(b);
      this.written += b.length;
      return;
    }
    this.parts.push(b);
    this.buffered += b.length;
    if (this.buffered >= 64 * 1024) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.buffered === 0) return;
    const chunk = concat(...this.parts);
    this.parts = [];
    this.buffered = 0;
    await this.sink.write(chunk);
    this.written += chunk.length;
  }
}

// ---------------------------------------------------------------------------------------------
// headers

function octal(v: number, width: number): Uint8Array {
  // width-1 digits and a NUL, as GNU tar writes them
  return enc.encode(v.toString(8).padStart(width - 1, '0') + '\0');
}
/** GNU base-256: 0x80 (or 0xff when negative) then big-endian two's complement */
function base256(v: number, width: number): Uint8Array {
  const out = new Uint8Array(width);
  let x = BigInt(v);
  if (x < 0n) x += 1n << BigInt(8 * width);
  for (let i = width - 1; i >= 1; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  out[0] = v < 0 ? 0xff : 0x80;
  return out;
}
function numeric(v: number, width: number, maxOctal: number): Uint8Array {
  return v >= 0 && v <= maxOctal ? octal(v, width) : base256(v, width);
}

/** "sec.nsec" with trailing zeros trimmed; negative times as a signed decimal ("-1.5") */
export function paxTime(sec: number, nsec: number): string {
  let s: string;
  let frac: string;
  if (sec < 0 && nsec > 0) {
    s = '-' + String(-(sec + 1));
    frac = String(1e9 - nsec).padStart(9, '0');
  } else {
    s = String(sec);
    frac = String(nsec).padStart(9, '0');
  }
  frac = frac.replace(/0+$/, '');
  return frac ? `${s}.${frac}` : s;
}

function paxRecord(key: Uint8Array, value: Uint8Array): Uint8Array {
  const body = key.length + value.length + 3; // ' ', '=', '\n'
  let len = body + 1;
  while (String(len).length + body !== len) len = String(len).length + body;
  return concat(enc.encode(`${len} `), key, enc.encode('='), value, enc.encode('\n'));
}

function base64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return btoa(s);
}
function percentEncode(name: Uint8Array): string {
  let s = '';
  for (const c of name) s += c > 0x20 && c < 0x7f && c !== 0x25 && c !== 0x3d ? String.fromCharCode(c) : '%' + c.toString(16).toUpperCase().padStart(2, '0');
  return s;
}

export function ustarHeader(name: Uint8Array, typeflag: string, perm: number, uid: number, gid: number, size: number, mtime: number, linkname: Uint8Array, devmajor: number, devminor: number): Uint8Array {
  const h = new Uint8Array(TAR_BLOCK);
  const set = (f: { offset: number; size: number }, v: Uint8Array): void => h.set(v.subarray(0, f.size), f.offset);
  set(H.name, name);
  set(H.mode, octal(perm & 0o7777, 8));
  set(H.uid, numeric(uid, 8, MAX_OCTAL_7));
  set(H.gid, numeric(gid, 8, MAX_OCTAL_7));
  set(H.size, numeric(size, 12, MAX_OCTAL_11));
  set(H.mtime, numeric(mtime, 12, MAX_OCTAL_11));
  h[H.typeflag.offset] = typeflag.charCodeAt(0);
  set(H.linkname, linkname);
  set(H.magic, enc.encode('ustar\0'));
  set(H.version, enc.encode('00'));
  set(H.devmajor, numeric(devmajor, 8, MAX_OCTAL_7));
  set(H.devminor, numeric(devminor, 8, MAX_OCTAL_7));
  h.fill(0x20, H.chksum.offset, H.chksum.offset + H.chksum.size);
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += h[i]!;
  set(H.chksum, enc.encode(sum.toString(8).padStart(6, '0') + '\0 '));
  return h;
}

function entryHeaders(seq: number, name: Uint8Array, typeflag: string, attr: Attr, size: number, linkname: Uint8Array, xattrs: [Uint8Array, Uint8Array][]): Uint8Array {
  const recs: Uint8Array[] = [];
  const rec = (k: string, v: Uint8Array | string): void => void recs.push(paxRecord(enc.encode(k), typeof v === 'string' ? enc.encode(v) : v));
  if (name.length > H.name.size) rec('path', name);
  if (linkname.length > H.linkname.size) rec('linkpath', linkname);
  if (size > MAX_OCTAL_11) rec('size', String(size));
  if (attr.uid > MAX_OCTAL_7) rec('uid', String(attr.uid));
  if (attr.gid > MAX_OCTAL_7) rec('gid', String(attr.gid));
  if (attr.mtimeNsec !== 0 || attr.mtime < 0 || attr.mtime > MAX_OCTAL_11) rec('mtime', paxTime(attr.mtime, attr.mtimeNsec));
  for (const [xn, xv] of xattrs) {
    // SCHILY keys end at '=' and cannot hold NUL; such names go libarchive's way (%-encoded, base64)
    if (xn.includes(0x3d) || xn.includes(0)) rec('LIBARCHIVE.xattr.' + percentEncode(xn), base64(xv));
    else recs.push(paxRecord(concat(enc.encode('SCHILY.xattr.'), xn), xv));
  }
  const dev = typeflag === '3' || typeflag === '4';
  const hdr = ustarHeader(name, typeflag, attr.mode, attr.uid, attr.gid, size, attr.mtime, linkname, dev ? major(attr.rdev) : 0, dev ? minor(attr.rdev) : 0);
  if (recs.length === 0) return hdr;
  const data = concat(...recs);
  const paxName = enc.encode(`PaxHeaders/${seq}`);
  const paxHdr = ustarHeader(paxName, 'x', 0o644, 0, 0, data.length, Math.max(0, Math.min(attr.mtime, MAX_OCTAL_11)), new Uint8Array(0), 0, 0);
  return concat(paxHdr, data, new Uint8Array(padding(data.length)), hdr);
}
