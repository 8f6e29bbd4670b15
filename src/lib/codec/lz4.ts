import { FormatError } from '../errors.ts';

/** a FormatError at the input byte `s` (kept out of the decoder so its loop stays small) */
function fail(structure: string, srcOffset: number, s: number, why: string): never {
  throw new FormatError(structure, srcOffset < 0 ? -1 : srcOffset + s, `lz4: ${why}`);
}

/**
 * Decode one raw LZ4 block (no frame) into `dst[dstStart..dstEnd)`. Bytes of `dst` before dstStart
 * are usable as match history (a prefix dictionary). Stops as soon as dstEnd is reached, so a caller
 * that needs only a prefix of the output (EROFS partial decoding) can ask for exactly that.
 * Returns the number of bytes written. Every length and offset is checked before use.
 */
export function lz4DecodeBlock(src: Uint8Array, dst: Uint8Array, dstStart = 0, dstEnd = dst.length, structure = 'lz4 block', srcOffset = -1): number {
  const sv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const dv = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  return lz4DecodeRange(src, sv, 0, src.length, dst, dv, 0, dstStart, dstEnd, structure, srcOffset);
}

/**
 * lz4DecodeBlock over `src[sStart..sEnd)`, with the views over `src` and `dst` given: a caller
 * decoding many small blocks out of one buffer into another (EROFS pclusters) would otherwise make
 * four typed-array objects per block. Match history reaches back to `dst[history]`, no further.
 * `srcOffset` is where src[sStart] lies, for errors.
 */
export function lz4DecodeRange(
  src: Uint8Array, sv: DataView, sStart: number, sEnd: number,
  dst: Uint8Array, dv: DataView, history: number, dstStart: number, dstEnd: number,
  structure: string, srcOffset: number,
): number {
  if (srcOffset >= 0) srcOffset -= sStart;
  let s = sStart;
  let d = dstStart;
  // Most sequences are short: away from both ends, literals and matches are copied four bytes at a
  // time and may overshoot into bytes that the next sequence overwrites (as liblz4 does). The
  // views' own bounds checks never fire there: every fast path checks its room first.
  const sFast = sEnd - 16;
  const dFast = dstEnd - 32;
  while (s < sEnd) {
    const token = src[s++]!;
    let lit = token >>> 4;
    if (lit === 15) {
      let b: number;
      do {
        if (s >= sEnd) fail(structure, srcOffset, s, 'literal length runs past the input');
        b = src[s++]!;
        lit += b;
      } while (b === 255);
    }
    if (lit === 0) {
      // three sequences in four of lz4hc-compressed text start with their match
    } else if (lit <= 16 && s <= sFast && d <= dFast) {
      dv.setUint32(d, sv.getUint32(s, true), true);
      dv.setUint32(d + 4, sv.getUint32(s + 4, true), true);
      dv.setUint32(d + 8, sv.getUint32(s + 8, true), true);
      dv.setUint32(d + 12, sv.getUint32(s + 12, true), true);
      s += lit;
      d += lit;
    } else {
      if (s + lit > sEnd) fail(structure, srcOffset, s, 'literals run past the input');
      if (d + lit >= dstEnd) {
        const n = dstEnd - d;
        dst.set(src.subarray(s, s + n), d);
        return dstEnd - dstStart;
      }
      if (lit > 64) {
        dst.set(src.subarray(s, s + lit), d);
        s += lit;
        d += lit;
      } else if (s + lit + 4 <= sEnd && d + lit + 4 <= dstEnd) {
        const e = s + lit;
        for (; s < e; s += 4, d += 4) dv.setUint32(d, sv.getUint32(s, true), true);
        d -= s - e;
        s = e;
      } else {
        const e = s + lit;
        while (s < e) dst[d++] = src[s++]!;
      }
    }
    if (s >= sEnd) break;
    if (s + 2 > sEnd) fail(structure, srcOffset, s, 'match offset runs past the input');
    // one little-endian load (two byte loads and a shift measured 15% slower over a whole image)
    const off = sv.getUint16(s, true);
    s += 2;
    if (off === 0 || off > d - history) fail(structure, srcOffset, s - 2, `match offset ${off} reaches before the output start`);
    let mlen = (token & 15) + 4;
    if (mlen === 19) {
      let b: number;
      do {
        if (s >= sEnd) fail(structure, srcOffset, s, 'match length runs past the input');
        b = src[s++]!;
        mlen += b;
      } while (b === 255);
    }
    let m = d - off;
    if (mlen <= 8 && off >= 8 && d <= dFast) {
      // the common short match (5-7 bytes in text), far enough back that eight bytes copy at once
      dv.setUint32(d, dv.getUint32(m, true), true);
      dv.setUint32(d + 4, dv.getUint32(m + 4, true), true);
      d += mlen;
      continue;
    }
    if (off >= 4 && d + mlen + 4 <= dstEnd && (mlen <= 64 || off < mlen)) {
      // four-byte steps never read a byte of their own step before writing it (off >= 4)
      const stop = d + mlen;
      do {
        dv.setUint32(d, dv.getUint32(m, true), true);
        d += 4;
        m += 4;
      } while (d < stop);
      d = stop;
      continue;
    }
    let stop = d + mlen;
    if (stop > dstEnd) stop = dstEnd;
    if (stop - d > 32 && off >= stop - d) {
      dst.copyWithin(d, m, m + (stop - d));
      d = stop;
    } else if (stop - d > 64 && off >= 16) {
      // overlapping but far enough: copy in off-sized strides
      while (d < stop) { const n = Math.min(off, stop - d); dst.copyWithin(d, m, m + n); d += n; m += n; }
    } else {
      while (d < stop) dst[d++] = dst[m++]!;
    }
    if (d >= dstEnd) return dstEnd - dstStart;
  }
  return d - dstStart;
}

/** Decode a whole block whose decoded size is known; anything else is a FormatError. */
export function lz4Decompress(src: Uint8Array, decodedSize: number, structure = 'lz4 block', srcOffset = -1): Uint8Array {
  const out = new Uint8Array(decodedSize);
  const n = lz4DecodeBlock(src, out, 0, decodedSize, structure, srcOffset);
  if (n !== decodedSize) throw new FormatError(structure, srcOffset, `lz4 block decodes to ${n} bytes, expected ${decodedSize}`);
  return out;
}
