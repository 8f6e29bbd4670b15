import { Gunzip, gzipSync } from 'fflate';
import { FormatError } from '../errors.ts';

/**
 * Compressed bytes handed to the inflater at a time. DEFLATE expands at most 1032 times, so one
 * step makes at most ~8 MiB: a stream that decodes to more than it declares (a "gzip bomb": a RAFS
 * chunk claiming 64 KiB that inflates to gigabytes) is stopped a step past its declared size,
 * with memory bounded by the step, not by the stream.
 */
const STEP = 8 << 10;

/**
 * Decode a gzip stream (one or more members) whose decoded size the caller knows and has
 * bounded: exactly `expectedSize` bytes, or a FormatError naming the structure and offset.
 * fflate's gunzipSync allocates what the stream's trailer claims (up to 4 GiB, from untrusted
 * bytes) and inflates all of it; this stops as soon as the output would pass `expectedSize`.
 */
export function gzipDecompress(src: Uint8Array, expectedSize: number, structure = 'gzip stream', offset = -1): Uint8Array {
  const out = new Uint8Array(expectedSize);
  let n = 0;
  let tooLong = false;
  const inflater = new Gunzip((chunk) => {
    if (chunk.length > expectedSize - n) {
      tooLong = true;
      throw new FormatError(structure, offset, `gzip stream decodes to more than the ${expectedSize} bytes expected`);
    }
    out.set(chunk, n);
    n += chunk.length;
  });
  try {
    if (src.length === 0) throw new Error('empty stream');
    for (let at = 0; at < src.length; at += STEP) inflater.push(src.subarray(at, Math.min(src.length, at + STEP)), at + STEP >= src.length);
  } catch (e) {
    if (tooLong && e instanceof FormatError) throw e;
    throw new FormatError(structure, offset, `gzip: ${(e as Error).message}`);
  }
  if (n !== expectedSize) throw new FormatError(structure, offset, `gzip stream decodes to ${n} bytes, expected ${expectedSize}`);
  return out;
}

/** gzip with MTIME 0 in the header (as flate2's GzEncoder writes it for nydus-image): fflate writes the
 *  current time otherwise, so the same tree built in another second gave another blob id and digest. */
export function gzipCompress(src: Uint8Array, level: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 = 6): Uint8Array {
  return gzipSync(src, { level, mtime: 0 });
}
