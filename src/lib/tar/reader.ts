import { FormatError, UnsupportedError } from '../errors.ts';
import type { ByteSource } from '../io/source.ts';
import type { Xattr } from '../fs/tree.ts';
import { byteString } from '../fs/sources/names.ts';
import { H, MAGIC_GNU, MAGIC_USTAR, TAR_BLOCK } from './structs.ts';

/**
 * Streaming tar reader: ustar, GNU (long names/links 'L'/'K', base-256 numbers) and PAX (per-entry
 * 'x' and global 'g' headers, SCHILY/LIBARCHIVE xattrs). It reads headers and extension data only;
 * content is either skipped (the caller slices it out of a random-access source) or handed to the
 * caller chunk by chunk while the stream is positioned on it. Nothing is ever held for the whole
 * archive. Offsets in errors are byte offsets in the (decompressed) tar stream.
 */

export type TarEntryType = 'reg' | 'dir' | 'symlink' | 'hardlink' | 'chr' | 'blk' | 'fifo';

export interface TarEntry {
  /** offset of the entry's first block (its PAX/GNU extension headers included) */
  offset: number;
  /** offset of the ustar header block that carries the type */
  headerOffset: number;
  /** offset of the content, the block after the header */
  dataOffset: number;
  /** raw typeflag character ('0', '5', …; '\0' for old regular files) */
  typeflag: string;
  type: TarEntryType;
  /** raw path bytes as archived (PAX path, else GNU long name, else prefix + name) */
  path: Uint8Array;
  /** hardlink/symlink target, raw bytes */
  linkname: Uint8Array;
  /** permission bits incl. suid/sgid/sticky (mode & 0o7777) */
  perm: number;
  uid: number;
  gid: number;
  /** content bytes that follow the header (0 for symlinks, devices, fifos, directories) */
  size: number;
  mtime: number;
  mtimeNsec: number;
  devmajor: number;
  devminor: number;
  /** from SCHILY.xattr.* and LIBARCHIVE.xattr.* PAX records, in record order, one per name */
  xattrs: Xattr[];
}

export interface TarRecord {
  entry: TarEntry;
  /**
   * The entry's content, in chunks of at most `chunkSize` bytes, read from the stream. Only valid
   * before the generator is resumed; whatever is not consumed is skipped.
   */
  content(chunkSize?: number): AsyncGenerator<Uint8Array>;
}

/** A sequential byte stream the reader consumes. */
export interface TarInput {
  readonly name: string;
  /** total length when known (a random-access source), else -1 */
  readonly size: number;
  /** the next `n` bytes; fewer only at the end of the input */
  read(n: number): Promise<Uint8Array>;
  /** advance by `n` bytes; returns how many were skipped (fewer only at the end) */
  skip(n: number): Promise<number>;
  /** stop early (e.g. cancel a decompressor) */
  close?(): Promise<void>;
}

export interface TarReadOptions {
  /** largest PAX or GNU long-name payload accepted (default 16 MiB) */
  maxMetaSize?: number;
  /**
   * read on past all-zero blocks to the end of the input (GNU tar -i, tar-rs set_ignore_zeros, as
   * nydus-image reads layers: concatenated tars are one tree)
   */
  ignoreZeros?: boolean;
  /**
   * The input ended exactly where the last member's content does: no padding to 512 bytes, no
   * end-of-archive blocks (umoci 0.4.7 `insert` writes its layers so; see unpaddedEnd). The archive
   * is read as complete; `at` is its length.
   */
  onUnpaddedEnd?(at: number): void;
  signal?: AbortSignal;
}

const DEFAULT_MAX_META = 16 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// inputs

/**
 * A random-access source read sequentially. Header reads go through a read-ahead window so small
 * files (header and data in the same window) cost one source read per window, not per header;
 * skipped content is never read.
 */
export function sourceInput(src: ByteSource, windowSize = 64 * 1024): TarInput {
  let pos = 0;
  let win: Uint8Array = new Uint8Array(0);
  let winAt = 0;
  return {
    name: src.name,
    size: src.size,
    async read(n: number): Promise<Uint8Array> {
      const len = Math.max(0, Math.min(n, src.size - pos));
      if (len === 0) return new Uint8Array(0);
      if (pos >= winAt && pos + len <= winAt + win.length) {
        const out = win.subarray(pos - winAt, pos - winAt + len);
        pos += len;
        return out;
      }
      if (len >= windowSize) {
        const out = await src.read(pos, len);
        pos += len;
        return out;
      }
      winAt = pos;
      win = await src.read(pos, Math.min(windowSize, src.size - pos));
      pos += len;
      return win.subarray(0, len);
    },
    async skip(n: number): Promise<number> {
      const len = Math.max(0, Math.min(n, src.size - pos));
      pos += len;
      return len;
    },
  };
}

/**
 * A stream of chunks (e.g. a decompressor's output) read sequentially. Reads inside one chunk are
 * views (no copy); reads spanning chunks are assembled.
 */
export function chunkInput(chunks: AsyncIterable<Uint8Array>, name: string): TarInput {
  const it = chunks[Symbol.asyncIterator]();
  let cur: Uint8Array = new Uint8Array(0);
  let curPos = 0;
  let ended = false;
  async function fill(): Promise<boolean> {
    while (curPos >= cur.length) {
      if (ended) return false;
      const r = await it.next();
      if (r.done) {
        ended = true;
        return false;
      }
      cur = r.value;
      curPos = 0;
    }
    return true;
  }
  return {
    name,
    size: -1,
    async read(n: number): Promise<Uint8Array> {
      if (!(await fill())) return new Uint8Array(0);
      if (cur.length - curPos >= n) {
        const out = cur.subarray(curPos, curPos + n);
        curPos += n;
        return out;
      }
      const parts: Uint8Array[] = [];
      let got = 0;
      while (got < n && (await fill())) {
        const take = Math.min(n - got, cur.length - curPos);
        parts.push(cur.subarray(curPos, curPos + take));
        curPos += take;
        got += take;
      }
      const out = new Uint8Array(got);
      let o = 0;
      for (const p of parts) {
        out.set(p, o);
        o += p.length;
      }
      return out;
    },
    async skip(n: number): Promise<number> {
      let done = 0;
      while (done < n && (await fill())) {
        const take = Math.min(n - done, cur.length - curPos);
        curPos += take;
        done += take;
      }
      return done;
    },
    async close(): Promise<void> {
      ended = true;
      await it.return?.();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// header fields

const latin1 = new TextDecoder('latin1');
function ascii(b: Uint8Array): string {
  return latin1.decode(b);
}
function stringBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function field(block: Uint8Array, f: { offset: number; size: number }): Uint8Array {
  return block.subarray(f.offset, f.offset + f.size);
}
/** bytes up to the first NUL */
function cstring(b: Uint8Array): Uint8Array {
  const z = b.indexOf(0);
  return z < 0 ? b : b.subarray(0, z);
}

/**
 * An octal field (leading spaces allowed, ended by NUL or space) or, with the high bit of the first
 * byte set, GNU base-256 (0x80: positive, 0xff: negative two's complement).
 */
export function parseNumber(b: Uint8Array, structure: string, offset: number, what: string): number {
  if (b.length > 0 && (b[0]! & 0x80) !== 0) {
    const neg = b[0] === 0xff;
    if (!neg && b[0] !== 0x80) throw new FormatError(structure, offset, `${what}: base-256 lead byte 0x${b[0]!.toString(16)} is neither 0x80 nor 0xff`);
    let v = 0n;
    for (let i = 1; i < b.length; i++) v = (v << 8n) | BigInt(b[i]!);
    if (neg) v -= 1n << BigInt(8 * (b.length - 1));
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new FormatError(structure, offset, `${what}: base-256 value ${v} is out of range`);
    return Number(v);
  }
  let i = 0;
  while (i < b.length && b[i] === 0x20) i++;
  let v = 0;
  let digits = 0;
  for (; i < b.length; i++) {
    const c = b[i]!;
    if (c >= 0x30 && c <= 0x37) {
      v = v * 8 + (c - 0x30);
      digits++;
      continue;
    }
    break;
  }
  for (; i < b.length; i++) {
    const c = b[i]!;
    if (c !== 0 && c !== 0x20) throw new FormatError(structure, offset, `${what}: not an octal number: ${JSON.stringify(ascii(b))}`);
  }
  if (digits > 17) throw new FormatError(structure, offset, `${what}: octal value too large`);
  return v;
}

function checksums(block: Uint8Array): { unsigned: number; signed: number } {
  let u = 0;
  let s = 0;
  for (let i = 0; i < TAR_BLOCK; i++) {
    const c = i >= H.chksum.offset && i < H.chksum.offset + H.chksum.size ? 0x20 : block[i]!;
    u += c;
    s += c >= 128 ? c - 256 : c;
  }
  return { unsigned: u, signed: s };
}

function isZeroBlock(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// PAX

type PaxRecords = Map<string, Uint8Array>;

/** "%d %s=%s\n" records; the length counts the whole record including itself and the newline. */
export function parsePax(data: Uint8Array, at: number): [string, Uint8Array][] {
  const out: [string, Uint8Array][] = [];
  let p = 0;
  while (p < data.length) {
    // trailing NUL padding written by some archivers
    if (data[p] === 0) {
      for (let i = p; i < data.length; i++) if (data[i] !== 0) throw new FormatError('tar.pax', at + i, 'data after NUL padding in a PAX header');
      break;
    }
    let len = 0;
    let q = p;
    while (q < data.length && data[q]! >= 0x30 && data[q]! <= 0x39 && q - p < 12) len = len * 10 + (data[q++]! - 0x30);
    if (q === p || data[q] !== 0x20) throw new FormatError('tar.pax', at + p, 'PAX record does not start with "<length> "');
    if (len < q - p + 3 || p + len > data.length) throw new FormatError('tar.pax', at + p, `PAX record length ${len} is outside the ${data.length - p} bytes left`);
    const end = p + len;
    if (data[end - 1] !== 0x0a) throw new FormatError('tar.pax', at + p, 'PAX record does not end with a newline');
    const rec = data.subarray(q + 1, end - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw new FormatError('tar.pax', at + p, 'PAX record has no "key="');
    out.push([byteString(rec.subarray(0, eq)), rec.subarray(eq + 1)]);
    p = end;
  }
  return out;
}

const B64 = (() => {
  const t = new Int16Array(256).fill(-1);
  const a = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < 64; i++) t[a.charCodeAt(i)] = i;
  return t;
})();
/** base64 with or without '=' padding (libarchive writes it unpadded) */
function base64Decode(s: Uint8Array, at: number): Uint8Array {
  let n = s.length;
  while (n > 0 && s[n - 1] === 0x3d) n--;
  const out = new Uint8Array(Math.floor((n * 6) / 8));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < n; i++) {
    const v = B64[s[i]!]!;
    if (v < 0) throw new FormatError('tar.pax', at, 'bad base64 in a LIBARCHIVE.xattr value');
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, o);
}
/** libarchive %-encodes xattr names in the key */
function percentDecode(s: string, at: number): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const h = s.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(h)) throw new FormatError('tar.pax', at, `bad %-escape in xattr name ${JSON.stringify(s)}`);
      out.push(parseInt(h, 16));
      i += 2;
    } else out.push(c);
  }
  return Uint8Array.from(out);
}

function paxDecimal(v: Uint8Array, key: string, at: number): number {
  const s = ascii(v);
  if (!/^\d{1,16}$/.test(s)) throw new FormatError('tar.pax', at, `PAX ${key}=${JSON.stringify(s)} is not a decimal number`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new FormatError('tar.pax', at, `PAX ${key}=${s} is out of range`);
  return n;
}

/** "sec[.frac]" with an optional '-': the value is the signed decimal, so "-1.5" is 1.5 s before the epoch. */
export function parsePaxTime(v: Uint8Array, at: number): [sec: number, nsec: number] {
  const s = ascii(v);
  const m = /^(-?)(\d{1,16})(?:\.(\d*))?$/.exec(s);
  if (!m) throw new FormatError('tar.pax', at, `PAX time ${JSON.stringify(s)} is not "seconds[.fraction]"`);
  let sec = Number(m[2]);
  let nsec = Number((m[3] ?? '').slice(0, 9).padEnd(9, '0'));
  if (m[1] === '-') {
    if (nsec > 0) {
      sec = -sec - 1;
      nsec = 1e9 - nsec;
    } else sec = -sec;
  }
  if (!Number.isSafeInteger(sec)) throw new FormatError('tar.pax', at, `PAX time ${s} is out of range`);
  return [sec, nsec];
}

function isXattrKey(k: string): boolean {
  return k.startsWith('SCHILY.xattr.') || k.startsWith('LIBARCHIVE.xattr.');
}

// ---------------------------------------------------------------------------------------------
// the reader

const TYPES: Record<string, TarEntryType> = {
  '0': 'reg', '\0': 'reg', '7': 'reg', '1': 'hardlink', '2': 'symlink', '3': 'chr', '4': 'blk', '5': 'dir', '6': 'fifo', D: 'dir',
};
const UNSUPPORTED: Record<string, string> = {
  S: 'GNU sparse file', M: 'GNU multi-volume continuation', N: 'old GNU long name (type N)', A: 'Solaris ACL', E: 'Solaris extended attribute', X: 'POSIX.1-2001 xattr (type X)',
};

/**
 * Read every entry. Extension headers are folded into the entry they precede; a 'V' volume label
 * is skipped. The archive ends at the first all-zero block (GNU tar writes two), at the end of
 * the input on a block boundary, or right after a member's content with no padding (unpaddedEnd);
 * a partial block, content or padding cut short or extension headers with no entry after them are
 * FormatErrors.
 */
export async function* readTar(input: TarInput, opts: TarReadOptions = {}): AsyncGenerator<TarRecord> {
  const maxMeta = opts.maxMetaSize ?? DEFAULT_MAX_META;
  let pos = 0;
  let global: PaxRecords = new Map();
  let local: [string, Uint8Array][] | null = null;
  let longName: Uint8Array | null = null;
  let longLink: Uint8Array | null = null;
  let entryStart = -1;

  async function readExact(n: number, what: string, at: number): Promise<Uint8Array> {
    const b = await input.read(n);
    if (b.length !== n) throw new FormatError(what, at, `archive truncated: ${b.length} of ${n} bytes present`);
    pos += n;
    return b;
  }
  async function skipExact(n: number, what: string, at: number): Promise<void> {
    if (n === 0) return;
    const got = await input.skip(n);
    pos += got;
    if (got !== n) throw new FormatError(what, at, `archive truncated: ${got} of ${n} bytes present`);
  }
  const pad = (n: number): number => (TAR_BLOCK - (n % TAR_BLOCK)) % TAR_BLOCK;

  try {
    for (;;) {
      opts.signal?.throwIfAborted();
      const at = pos;
      const block = await input.read(TAR_BLOCK);
      if (block.length === 0) {
        if (entryStart >= 0) throw new FormatError('tar.header', entryStart, 'archive ends after extension headers, before their entry');
        return;
      }
      if (block.length < TAR_BLOCK) throw new FormatError('tar.header', at, `archive truncated: ${block.length} bytes of a 512-byte header`);
      pos += TAR_BLOCK;
      if (isZeroBlock(block)) {
        if (entryStart >= 0) throw new FormatError('tar.header', entryStart, 'end-of-archive block after extension headers, before their entry');
        if (opts.ignoreZeros) continue;
        return;
      }
      let sum: number;
      try {
        sum = parseNumber(field(block, H.chksum), 'tar.header', at + H.chksum.offset, 'chksum');
      } catch {
        throw new FormatError('tar.header', at, 'not a tar header: the checksum field is not an octal number');
      }
      const { unsigned, signed } = checksums(block);
      if (sum !== unsigned && sum !== signed) throw new FormatError('tar.header', at, `checksum mismatch: header says ${sum}, bytes sum to ${unsigned} (not a tar archive, or a damaged header)`);
      if (entryStart < 0) entryStart = at;

      const typeflag = String.fromCharCode(block[H.typeflag.offset]!);
      const hdrSize = parseNumber(field(block, H.size), 'tar.header', at + H.size.offset, 'size');
      if (hdrSize < 0) throw new FormatError('tar.header', at + H.size.offset, `negative size ${hdrSize}`);

      if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
        if (hdrSize > maxMeta) throw new FormatError('tar.header', at + H.size.offset, `${typeflag} extension header of ${hdrSize} bytes exceeds the ${maxMeta}-byte limit`);
        const dataAt = pos;
        const data = await readExact(hdrSize, 'tar.header', at);
        await skipExact(pad(hdrSize), 'tar.header', at);
        if (typeflag === 'L' || typeflag === 'K') {
          const v = cstring(data).slice();
          if (typeflag === 'L') longName = v;
          else longLink = v;
        } else {
          const recs = parsePax(data, dataAt);
          if (typeflag === 'g') {
            global = new Map(global);
            for (const [k, v] of recs) {
              if (v.length === 0 && !isXattrKey(k)) global.delete(k);
              else global.set(k, v.slice());
            }
            // a global header is not part of the next entry
            if (local === null && longName === null && longLink === null) entryStart = -1;
          } else {
            local = local ?? [];
            for (const [k, v] of recs) local.push([k, v.slice()]);
          }
        }
        continue;
      }
      if (typeflag === 'V') {
        await skipExact(hdrSize + pad(hdrSize), 'tar.header', at);
        entryStart = -1;
        continue;
      }
      const unsupported = UNSUPPORTED[typeflag];
      if (unsupported) throw new UnsupportedError('tar', `${unsupported} at byte ${at} is not supported`);
      let type = TYPES[typeflag];
      if (!type) throw new UnsupportedError('tar', `unknown entry type ${JSON.stringify(typeflag)} at byte ${at}`);

      // effective PAX records: global, then this entry's (an empty value restores the default,
      // except for xattrs, where it is an xattr with an empty value, as GNU tar writes and reads it)
      const pax: PaxRecords = new Map(global);
      for (const [k, v] of local ?? []) {
        if (v.length === 0 && !isXattrKey(k)) pax.delete(k);
        else pax.set(k, v);
      }
      for (const k of pax.keys()) {
        if (k.startsWith('GNU.sparse.')) throw new UnsupportedError('tar', `GNU sparse file (PAX ${k}) at byte ${entryStart} is not supported`);
      }

      const magic = ascii(field(block, H.magic));
      const posix = magic === MAGIC_USTAR;
      let path: Uint8Array;
      const pPath = pax.get('path');
      if (pPath) path = pPath;
      else if (longName) path = longName;
      else {
        const name = cstring(field(block, H.name));
        const prefix = posix ? cstring(field(block, H.prefix)) : new Uint8Array(0);
        if (prefix.length) {
          path = new Uint8Array(prefix.length + 1 + name.length);
          path.set(prefix);
          path[prefix.length] = 0x2f;
          path.set(name, prefix.length + 1);
        } else path = name.slice();
      }
      const linkname = pax.get('linkpath') ?? longLink ?? cstring(field(block, H.linkname)).slice();
      if (path.length === 0) throw new FormatError('tar.header', at, 'entry with an empty name');
      // v7 archives mark directories with a trailing slash on a regular entry
      if (type === 'reg' && typeflag !== '7' && path[path.length - 1] === 0x2f) type = 'dir';

      const perm = parseNumber(field(block, H.mode), 'tar.header', at + H.mode.offset, 'mode') & 0o7777;
      let uid = parseNumber(field(block, H.uid), 'tar.header', at + H.uid.offset, 'uid');
      let gid = parseNumber(field(block, H.gid), 'tar.header', at + H.gid.offset, 'gid');
      let mtime = parseNumber(field(block, H.mtime), 'tar.header', at + H.mtime.offset, 'mtime');
      let mtimeNsec = 0;
      let size = hdrSize;
      const xattrByName = new Map<string, Xattr>();
      for (const [k, v] of pax) {
        switch (k) {
          case 'size': size = paxDecimal(v, k, entryStart); break;
          case 'uid': uid = paxDecimal(v, k, entryStart); break;
          case 'gid': gid = paxDecimal(v, k, entryStart); break;
          case 'mtime': [mtime, mtimeNsec] = parsePaxTime(v, entryStart); break;
          default:
            if (k.startsWith('SCHILY.xattr.')) {
              const name = k.slice(13);
              if (name) xattrByName.set(name, { name: stringBytes(name), value: v });
            } else if (k.startsWith('LIBARCHIVE.xattr.')) {
              const name = percentDecode(k.slice(17), entryStart);
              if (name.length) xattrByName.set(byteString(name), { name, value: base64Decode(v, entryStart) });
            }
        }
      }
      let devmajor = 0;
      let devminor = 0;
      if (type === 'chr' || type === 'blk') {
        devmajor = parseNumber(field(block, H.devmajor), 'tar.header', at + H.devmajor.offset, 'devmajor');
        devminor = parseNumber(field(block, H.devminor), 'tar.header', at + H.devminor.offset, 'devminor');
        const pm = pax.get('SCHILY.devmajor');
        const pn = pax.get('SCHILY.devminor');
        if (pm) devmajor = paxDecimal(pm, 'SCHILY.devmajor', entryStart);
        if (pn) devminor = paxDecimal(pn, 'SCHILY.devminor', entryStart);
      }
      // Only regular files, dumpdirs and POSIX hardlinks (pax allows data on them; old GNU/v7
      // writers put the target's size there with no data) carry data blocks; like GNU tar and
      // libarchive, the size field of every other type is ignored.
      const dataSize = type === 'reg' || typeflag === 'D' || (type === 'hardlink' && posix) ? size : 0;
      const dataOffset = pos;
      if (input.size >= 0 && dataOffset + dataSize > input.size) {
        throw new FormatError('tar.header', at, `archive truncated: content of ${utf8Name(path)} (${dataSize} bytes at ${dataOffset}) runs past the end of the ${input.size}-byte archive`);
      }
      const entry: TarEntry = {
        offset: entryStart, headerOffset: at, dataOffset, typeflag, type, path, linkname, perm, uid, gid,
        size: type === 'reg' ? size : 0, mtime, mtimeNsec, devmajor, devminor, xattrs: [...xattrByName.values()],
      };
      local = null;
      longName = null;
      longLink = null;
      entryStart = -1;

      let consumed = 0;
      let valid = true;
      const content = async function* (chunkSize = 1 << 20): AsyncGenerator<Uint8Array> {
        if (!valid) throw new Error('tar entry content read after the reader moved on');
        while (consumed < dataSize) {
          const n = Math.min(chunkSize, dataSize - consumed);
          const b = await input.read(n);
          consumed += b.length;
          pos += b.length;
          if (b.length !== n) throw new FormatError('tar.data', dataOffset + consumed, `archive truncated inside the content of ${utf8Name(path)}`);
          yield b;
        }
      };
      yield { entry, content };
      valid = false;
      await skipExact(dataSize - consumed, 'tar.data', dataOffset + consumed);
      const padding = pad(dataSize);
      const present = padding ? await input.skip(padding) : 0;
      pos += present;
      if (unpaddedEnd(padding, present)) {
        opts.onUnpaddedEnd?.(pos);
        return;
      }
      if (present !== padding) throw new FormatError('tar.data', dataOffset + dataSize, `archive truncated: ${present} of ${padding} bytes present`);
    }
  } finally {
    await input.close?.();
  }
}

/**
 * The one rule for an archive without its tail: after a member's content, an input that ends
 * before any byte of the padding is a complete archive (umoci 0.4.7 `insert` ends its layer tars
 * right after the last file's data, and `umoci unpack` takes them; GNU tar says "Unexpected EOF").
 * Anything else cut short stays an error: content missing bytes, padding partly there, a partial
 * header. A tar cut exactly at a member's end cannot be told from one written so: callers say so
 * (TarReadOptions.onUnpaddedEnd).
 * `present`: bytes of the padding the input still had.
 */
export function unpaddedEnd(padding: number, present: number): boolean {
  return padding > 0 && present === 0;
}

const utf8dec = new TextDecoder('utf-8', { fatal: false });
function utf8Name(b: Uint8Array): string {
  return JSON.stringify(utf8dec.decode(b));
}
