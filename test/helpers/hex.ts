/**
 * Hex of bytes or of a string's UTF-8 bytes. Test scripts name paths, xattrs and manifest keys in
 * hex (python's `bytes.hex()`), and many of those names are written as string literals; bytes go
 * through the one `hex` of src/lib/bytes.ts.
 */
import { hex } from '../../src/lib/bytes.ts';

const utf8 = new TextEncoder();

export function hexOf(v: string | Uint8Array): string {
  return hex(typeof v === 'string' ? utf8.encode(v) : v);
}
