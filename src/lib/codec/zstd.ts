import { decompress } from 'fzstd';
import { FormatError } from '../errors.ts';

/** Decode one zstd frame whose decoded size the caller knows (and has bounded). */
export function zstdDecompress(src: Uint8Array, expectedSize: number, structure = 'zstd frame', offset = -1): Uint8Array {
  let out: Uint8Array;
  try {
    out = decompress(src); // no preallocated buffer: fzstd is 2-15x slower with one
  } catch (e) {
    throw new FormatError(structure, offset, `zstd: ${(e as Error).message}`);
  }
  if (out.length !== expectedSize) throw new FormatError(structure, offset, `zstd frame decodes to ${out.length} bytes, expected ${expectedSize}`);
  return out;
}
