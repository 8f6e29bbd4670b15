/**
 * Byte helpers every format shares, one definition each: hex and concatenation come from
 * @noble/hashes (already a dependency); prefix test, alignment and binary-safe map keys are here.
 */
export { bytesToHex as hex, concatBytes as concat } from '@noble/hashes/utils.js';

/** whether `b` begins with the bytes `p` */
export function startsWith(b: Uint8Array, p: Uint8Array): boolean {
  if (b.length < p.length) return false;
  for (let i = 0; i < p.length; i++) if (b[i] !== p[i]) return false;
  return true;
}

/** `n` rounded up to a multiple of `a` (a > 0) */
export function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** Binary-safe map key (one char per byte). */
export function binKey(b: Uint8Array): string {
  if (b.length < 64) {
    let s = '';
    for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
    return s;
  }
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode.apply(null, b.subarray(i, i + 8192) as unknown as number[]);
  return s;
}
