/**
 * A file's bytes as a list of pieces: which stored bytes to copy, which to decode, which are
 * zeros. A reader that can say this (ReadOnlyFs.dataPlan) lets a caller produce the file without
 * the reader: extract's worker threads run plans made on the main thread, with nothing but system
 * calls and an LZ4 decoder, so they need no parser, caches or format code of their own. The
 * reader validated every offset and length against its sources when it made the plan; running
 * one checks only what a plan cannot promise (a source that shrank, a block that does not decode).
 *
 * `S` names a source: a ByteSource where the plan is made, its file path once it is handed to
 * another thread.
 */
import { inflateFast } from '../codec/inflate-fast.ts';
import { lz4DecodeBlock, lz4DecodeRange } from '../codec/lz4.ts';
import { microLzmaDecode } from '../codec/lzma.ts';
import { zstdDecodeInto, zstdFrameContentSize } from '../codec/zstd-decode.ts';
import { fail, FormatError } from '../errors.ts';
import type { ByteSource } from '../io/source.ts';

/** Algorithms a 'decode' piece names (LZ4 has its own piece kind, on the fast path). */
export type DecodeAlgorithm = 'lzma' | 'deflate' | 'zstd';

export type DataPiece<S = ByteSource> =
  /** `len` bytes as stored at `pos` of `source` */
  | { kind: 'copy'; source: S; pos: number; len: number }
  | { kind: 'zero'; len: number }
  /** bytes the plan carries: an inline tail, a pcluster kept with the metadata (may be a cache view: read-only) */
  | { kind: 'bytes'; bytes: Uint8Array }
  /**
   * An LZ4 block: `plen` stored bytes at `pos` of `source` (or `bytes`, when the plan carries
   * them) decode to `length` bytes, of which [skip, skip + take) belong to the file. With
   * `zeroPadding` the block starts after the zeros that pad it to its pcluster's end.
   * `structure`/`at` name the stored block in errors.
   */
  | { kind: 'lz4'; source: S | null; pos: number; plen: number; bytes: Uint8Array | null; length: number; skip: number; take: number; zeroPadding: boolean; structure: string; at: number }
  /**
   * A MicroLZMA, raw DEFLATE or zstd stream, laid out as an 'lz4' piece: the first skip + take
   * bytes are decoded (the stream may hold more: a partial extent, a deduplicated pcluster) and
   * [skip, skip + take) belong to the file. `dictSize`: LZMA's dictionary (from the image's
   * config record).
   */
  | { kind: 'decode'; algorithm: DecodeAlgorithm; source: S | null; pos: number; plen: number; bytes: Uint8Array | null; skip: number; take: number; zeroPadding: boolean; dictSize: number; structure: string; at: number };

/** bytes a piece adds to the file */
export function pieceLength(p: DataPiece<unknown>): number {
  switch (p.kind) {
    case 'copy':
    case 'zero':
      return p.len;
    case 'bytes':
      return p.bytes.length;
    case 'lz4':
    case 'decode':
      return p.take;
  }
}

/** largest zstd frame decoded whole to give a prefix of it (the kernel's Z_EROFS_PCLUSTER_MAX_DSIZE) */
const ZSTD_PREFIX_MAX = 12 << 20;

/**
 * Fill `out` with the first out.length bytes that `src` (the stream, padding removed) decodes to.
 * Never produces more than out.length bytes into memory the caller did not size, except that a
 * zstd frame declaring a larger content (at most 12 MiB) is decoded whole and cut.
 */
export function decodePrefix(algorithm: DecodeAlgorithm, src: Uint8Array, out: Uint8Array, dictSize: number, structure: string, at: number): void {
  if (out.length === 0) return;
  if (algorithm === 'lzma') {
    microLzmaDecode(src, out, dictSize, { structure, offset: at });
    return;
  }
  if (algorithm === 'deflate') {
    // stops once out is full: the stream may go on (a partial extent, a deduplicated pcluster)
    const r = inflateFast(src, out, { stopAtMax: true, structure, base: at });
    if (r.end < out.length) fail(structure, at, `deflate stream decodes to ${r.end} bytes, ${out.length} expected`);
    return;
  }
  const fcs = zstdFrameContentSize(src);
  if (fcs < 0) {
    // no content size in the frame: try out's size, then twice as much, up to the largest extent
    for (let n = out.length; ; n = Math.min(n * 2, ZSTD_PREFIX_MAX)) {
      const whole = n === out.length ? out : new Uint8Array(n);
      try {
        const got = zstdDecodeInto(src, whole, structure, at);
        if (!(got >= out.length)) fail(structure, at, `zstd frame decodes to ${got} bytes, ${out.length} expected`);
      } catch (e) {
        if (e instanceof FormatError && n < ZSTD_PREFIX_MAX) continue;
        throw e;
      }
      if (whole !== out) out.set(whole.subarray(0, out.length));
      return;
    }
  }
  if (fcs > out.length) {
    if (!(fcs <= ZSTD_PREFIX_MAX)) fail(structure, at, `zstd frame declares ${fcs} bytes, more than a pcluster may hold`);
    const whole = new Uint8Array(fcs);
    const n = zstdDecodeInto(src, whole, structure, at);
    if (!(n >= out.length)) fail(structure, at, `zstd frame decodes to ${n} bytes, ${out.length} expected`);
    out.set(whole.subarray(0, out.length));
    return;
  }
  const n = zstdDecodeInto(src, out, structure, at);
  if (!(n === out.length)) fail(structure, at, `zstd frame decodes to ${n} bytes, ${out.length} expected`);
}

/** What running a plan needs: synchronous reads, and somewhere for the bytes to go. */
export interface PlanIo<S> {
  /** exactly dest.length bytes at `pos` of `source` */
  readAt(source: S, pos: number, dest: Uint8Array): void;
  write(bytes: Uint8Array): void;
}

/**
 * Where the zeros that begin b[start, end) end. Eight at a time: the padding before a block is
 * often half its pcluster, and a byte loop over it was a tenth of a decoding thread's time.
 */
function zeroRun(b: Uint8Array, v: DataView, start: number, end: number): number {
  let i = start;
  while (i + 8 <= end && (v.getUint32(i, true) | v.getUint32(i + 4, true)) === 0) i += 8;
  while (i < end && b[i] === 0) i++;
  return i;
}

/** How one pcluster's stored bytes decode (a 'decode' piece is one). */
export interface PclusterCoding {
  algorithm: DecodeAlgorithm | 'lz4';
  /** the stream ends at the pcluster's end, zeros before it (EROFS ZERO_PADDING) */
  zeroPadding: boolean;
  /** LZMA's dictionary size */
  dictSize: number;
  structure: string;
  /** where the pcluster lies, for errors */
  at: number;
}

/**
 * Fill `out` with the first out.length bytes the pcluster stored at src[start, end) decodes to,
 * its zero padding skipped first; `view` is a DataView of `src` when the caller has one. An LZ4
 * block must decode to exactly out.length bytes. (runPlan's own LZ4 case decodes in place.)
 */
export function decodePcluster(c: PclusterCoding, src: Uint8Array, start: number, end: number, out: Uint8Array, view?: DataView): void {
  const from = c.zeroPadding ? zeroRun(src, view ?? new DataView(src.buffer, src.byteOffset, src.byteLength), start, end) : start;
  if (c.zeroPadding && !(from < end)) fail(c.structure, c.at, 'pcluster holds only zero padding');
  const at = c.at + (from - start);
  if (c.algorithm === 'lz4') {
    const n = lz4DecodeBlock(src.subarray(from, end), out, 0, out.length, c.structure, at);
    if (!(n === out.length)) fail(c.structure, c.at, `pcluster decodes to ${n} bytes, expected ${out.length}`);
  } else decodePrefix(c.algorithm, src.subarray(from, end), out, c.dictSize, c.structure, at);
}

/**
 * most stored bytes read ahead at once for consecutive blocks: small enough that they are still
 * in the core's cache when decoded (1 MiB windows made the 500 MB lz4hc extract 6% slower)
 */
const WINDOW_MAX = 1 << 17;

/**
 * Runs a plan through `buf`: stored bytes are read straight into it and it is written out when
 * full, so a small file is one read and one write however many pieces it has. LZ4 blocks stored
 * one after another are read together into `scratch` (a read per 4 KiB pcluster was a system
 * call per block, a third of the decoding thread's time), as are stored pieces among them.
 * `scratch` holds that window and LZ4 output that does not land in `buf` whole; it grows as
 * needed and is returned.
 */
export function runPlan<S>(pieces: DataPiece<S>[], io: PlanIo<S>, buf: Uint8Array, scratch: Uint8Array): Uint8Array {
  let fill = 0;
  // the read-ahead window: scratch[0, winLen) holds winSource's bytes from winPos
  let winSource: S | null = null;
  let winPos = 0;
  let winLen = 0;
  // views for the decoder, made once (a block is often 4 KiB: views per block were a cost of their own)
  const bufView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let scratchView = new DataView(scratch.buffer, scratch.byteOffset, scratch.byteLength);
  const room = (): number => {
    if (fill === buf.length) {
      io.write(buf);
      fill = 0;
    }
    return buf.length - fill;
  };
  const put = (bytes: Uint8Array): void => {
    for (let o = 0; o < bytes.length; ) {
      const n = Math.min(room(), bytes.length - o);
      buf.set(bytes.subarray(o, o + n), fill);
      fill += n;
      o += n;
    }
  };
  /** scratch with at least n bytes, the window kept */
  const grow = (n: number): void => {
    if (scratch.length >= n) return;
    const bigger = new Uint8Array(Math.max(n, scratch.length * 2));
    bigger.set(scratch.subarray(0, winLen));
    scratch = bigger;
    scratchView = new DataView(scratch.buffer);
  };
  /** reads the stored pieces that follow pieces[k] on its source without a gap, pieces[k] first */
  const readAhead = (k: number, source: S, pos: number, len: number): void => {
    let end = pos + len;
    for (let j = k + 1; j < pieces.length; j++) {
      const q = pieces[j]!;
      if (!(q.kind === 'copy' || ((q.kind === 'lz4' || q.kind === 'decode') && !q.bytes))) break;
      const qlen = q.kind === 'copy' ? q.len : q.plen;
      if (q.source !== source || q.pos !== end || end + qlen - pos > WINDOW_MAX) break;
      end += qlen;
    }
    winSource = null;
    winLen = 0;
    grow(end - pos);
    io.readAt(source, pos, scratch.subarray(0, end - pos));
    winSource = source;
    winPos = pos;
    winLen = end - pos;
  };
  const inWindow = (source: S, pos: number, len: number): boolean => winSource === source && pos >= winPos && pos + len <= winPos + winLen;
  for (let k = 0; k < pieces.length; k++) {
    const p = pieces[k]!;
    switch (p.kind) {
      case 'copy':
        if (inWindow(p.source, p.pos, p.len)) {
          put(scratch.subarray(p.pos - winPos, p.pos - winPos + p.len));
          break;
        }
        for (let o = 0; o < p.len; ) {
          const n = Math.min(room(), p.len - o);
          io.readAt(p.source, p.pos + o, buf.subarray(fill, fill + n));
          fill += n;
          o += n;
        }
        break;
      case 'zero':
        for (let o = 0; o < p.len; ) {
          const n = Math.min(room(), p.len - o);
          buf.fill(0, fill, fill + n);
          fill += n;
          o += n;
        }
        break;
      case 'bytes':
        put(p.bytes);
        break;
      case 'lz4': {
        if (!p.bytes && !inWindow(p.source!, p.pos, p.plen)) readAhead(k, p.source!, p.pos, p.plen);
        // decoded output that cannot go straight to buf goes after the window
        grow(winLen + p.length);
        const src = p.bytes ?? scratch;
        const sv = p.bytes ? new DataView(p.bytes.buffer, p.bytes.byteOffset, p.bytes.byteLength) : scratchView;
        const sStart = p.bytes ? 0 : p.pos - winPos;
        const sEnd = p.bytes ? p.bytes.length : sStart + p.plen;
        const start = p.zeroPadding ? zeroRun(src, sv, sStart, sEnd) : sStart;
        if (p.zeroPadding && !(start < sEnd)) fail(p.structure, p.at, 'pcluster holds only zero padding');
        // straight into the write buffer when the whole block is the file's and fits there
        const direct = p.skip === 0 && p.take === p.length && room() >= p.length;
        // one call site: the decoder is inlined here, and twice made this function twice as slow to compile
        const d0 = direct ? fill : winLen;
        const n = lz4DecodeRange(src, sv, start, sEnd, direct ? buf : scratch, direct ? bufView : scratchView, d0, d0, d0 + p.length, p.structure, p.at + (start - sStart));
        if (!(n === p.length)) fail(p.structure, p.at, `pcluster decodes to ${n} bytes, expected ${p.length}`);
        if (direct) fill += p.length;
        else put(scratch.subarray(winLen + p.skip, winLen + p.skip + p.take));
        break;
      }
      case 'decode': {
        if (!p.bytes && !inWindow(p.source!, p.pos, p.plen)) readAhead(k, p.source!, p.pos, p.plen);
        const need = p.skip + p.take;
        grow(winLen + need);
        const src = p.bytes ?? scratch;
        const sv = p.bytes ? new DataView(p.bytes.buffer, p.bytes.byteOffset, p.bytes.byteLength) : scratchView;
        const sStart = p.bytes ? 0 : p.pos - winPos;
        const sEnd = p.bytes ? p.bytes.length : sStart + p.plen;
        const direct = p.skip === 0 && room() >= need;
        const dest = direct ? buf.subarray(fill, fill + need) : scratch.subarray(winLen, winLen + need);
        decodePcluster(p, src, sStart, sEnd, dest, sv);
        if (direct) fill += need;
        else put(scratch.subarray(winLen + p.skip, winLen + need));
        break;
      }
    }
  }
  if (fill > 0) io.write(buf.subarray(0, fill));
  return scratch;
}
