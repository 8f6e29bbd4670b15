import { gunzipSync, gzipSync } from 'fflate';
import { FormatError } from '../errors.ts';

export function gzipDecompress(src: Uint8Array, expectedSize: number, structure = 'gzip stream', offset = -1): Uint8Array {
  let out: Uint8Array;
  try {
    out = gunzipSync(src);
  } catch (e) {
    throw new FormatError(structure, offset, `gzip: ${(e as Error).message}`);
  }
  if (out.length !== expectedSize) throw new FormatError(structure, offset, `gzip stream decodes to ${out.length} bytes, expected ${expectedSize}`);
  return out;
}

export function gzipCompress(src: Uint8Array, level: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 = 6): Uint8Array {
  return gzipSync(src, { level });
}
