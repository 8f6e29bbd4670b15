import { FormatError } from '../errors.ts';
import { zstdDecodeInto } from './zstd-decode.ts';

/**
 * Decode a zstd frame (or concatenated frames) whose decoded size the caller knows and has bounded:
 * allocates exactly `expectedSize` bytes, and fails with a FormatError as soon as the data would
 * decode to more, when a frame declares a content size that does not fit, or when it decodes to less.
 * `offset` is the absolute position of src[0] in its source, for error messages.
 */
export function zstdDecompress(src: Uint8Array, expectedSize: number, structure = 'zstd frame', offset = -1): Uint8Array {
  const out = new Uint8Array(expectedSize);
  const n = zstdDecodeInto(src, out, structure, offset);
  if (n !== expectedSize) throw new FormatError(structure, offset, `zstd frame decodes to ${n} bytes, expected ${expectedSize}`);
  return out;
}
