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
import { lz4DecodeBlock } from '../codec/lz4.ts';
import { fail } from '../errors.ts';
import type { ByteSource } from '../io/source.ts';

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
  | { kind: 'lz4'; source: S | null; pos: number; plen: number; bytes: Uint8Array | null; length: number; skip: number; take: number; zeroPadding: boolean; structure: string; at: number };

/** bytes a piece adds to the file */
export function pieceLength(p: DataPiece<unknown>): number {
  switch (p.kind) {
    case 'copy':
    case 'zero':
      return p.len;
    case 'bytes':
      return p.bytes.length;
    case 'lz4':
      return p.take;
  }
}

/** What running a plan needs: synchronous reads, and somewhere for the bytes to go. */
export interface PlanIo<S> {
  /** exactly dest.length bytes at `pos` of `source` */
  readAt(source: S, pos: number, dest: Uint8Array): void;
  write(bytes: Uint8Array): void;
}

/**
 * Runs a plan through `buf`: stored bytes are read straight into it and it is written out when
 * full, so a small file is one read and one write however many pieces it has. `scratch` holds
 * LZ4 input and output that do not land in `buf` whole; it grows as needed and is returned.
 */
export function runPlan<S>(pieces: DataPiece<S>[], io: PlanIo<S>, buf: Uint8Array, scratch: Uint8Array): Uint8Array {
  let fill = 0;
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
  for (const p of pieces) {
    switch (p.kind) {
      case 'copy':
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
        if (scratch.length < p.plen + p.length) scratch = new Uint8Array(Math.max(p.plen + p.length, scratch.length * 2));
        let input = p.bytes ?? scratch.subarray(0, p.plen);
        if (!p.bytes) io.readAt(p.source!, p.pos, input);
        if (p.zeroPadding) {
          let margin = 0;
          while (margin < input.length && input[margin] === 0) margin++;
          if (!(margin < input.length)) fail(p.structure, p.at, 'pcluster holds only zero padding');
          input = input.subarray(margin);
        }
        // straight into the write buffer when the whole block is the file's and fits there
        const direct = p.skip === 0 && p.take === p.length && room() >= p.length;
        const dst = direct ? buf.subarray(fill, fill + p.length) : scratch.subarray(p.plen, p.plen + p.length);
        const n = lz4DecodeBlock(input, dst, 0, p.length, p.structure, p.at + (p.plen - input.length));
        if (!(n === p.length)) fail(p.structure, p.at, `pcluster decodes to ${n} bytes, expected ${p.length}`);
        if (direct) fill += p.length;
        else put(dst.subarray(p.skip, p.skip + p.take));
        break;
      }
    }
  }
  if (fill > 0) io.write(buf.subarray(0, fill));
  return scratch;
}
