import { FormatError } from '../errors.ts';

/**
 * Raw LZMA1 and MicroLZMA (EROFS compression algorithm 1) decoding, written from the LZMA
 * specification (range coder, probability model, literal/match/rep state machine) and from the
 * MicroLZMA rules in ../../docs/erofs-modern-format.md §3.9:
 *
 * - a raw LZMA1 stream is the .lzma format without its 13-byte header; its first byte is the range
 *   coder's always-zero byte, the next four seed the range decoder's code;
 * - a MicroLZMA stream is the same with that first byte replaced by ~props, where
 *   props = (pb × 5 + lp) × 9 + lc; it carries no end marker and no sizes: the caller knows the
 *   compressed size (the pcluster minus its leading zero padding) and how many bytes it wants.
 *
 * The output buffer is the dictionary: a match may reach back at most min(bytes produced, dictSize).
 * Nothing is ever written at or past out.length, whatever the stream says, and the only allocation
 * is the probability table, whose size is fixed by lc + lp ≤ 4 (≤ 28 KiB, reused across calls).
 *
 * Throughput, decoding 32 MiB of mixed data (45% documentation text, 45% /usr/bin binaries, 10%
 * random; python lzma preset 6, 8.7 MB compressed) into one buffer, best of 3-4, each line one run
 * (node 20.20, 2 shared cores):
 *   quiet machine:  this decoder 45.5 MB/s, python lzma 76.8 MB/s, xz --format=lzma -d 79.5 MB/s
 *   loaded machine: this decoder 21.4 MB/s, python lzma 34.0 MB/s, xz --format=lzma -d 35.5 MB/s
 * i.e. about 0.6 × liblzma. Keeping range/code as int32 (below) instead of unsigned doubles took
 * the first figure from 31 to 45 MB/s. Decoding bits without a branch on their value (literals and
 * bit trees, see the literal case) then measured, same process, MB per CPU-second, load ~11:
 *   the 8050 pclusters of the first 40 MB of a 20k-file mkfs.erofs 1.9.3 -zlzma image (4 KiB
 *   pclusters of mostly incompressible bytes: nearly all literals): 17.0 → 23.5; liblzma's
 *   MicroLZMA decoder on the same pclusters (python ctypes) 24.0;
 *   the 32 MiB mixed stream above: 41.4 → 45.8; python lzma 61-66.
 */

export interface LzmaProps {
  /** literal context bits, 0..4 */
  lc: number;
  /** literal position bits, 0..4 (lc + lp ≤ 4, as liblzma and the kernel's MicroLZMA require) */
  lp: number;
  /** position bits, 0..4 */
  pb: number;
  /** the encoder's dictionary size (or any larger value); matches may not reach further back */
  dictSize: number;
}

export interface LzmaDecodeOptions {
  /** structure named in errors (default "lzma stream") */
  structure?: string;
  /** absolute byte offset of src[0], for errors (default 0: offsets are positions in src) */
  offset?: number;
  /**
   * out.length is the stream's whole decoded size, so demand that the stream ends exactly there:
   * no match cut short, every input byte used, the range coder flushed (code 0). A raw LZMA1
   * stream may also end with an end marker right after the last byte; MicroLZMA may not. This is
   * the kernel's check for a full (non-partial) decode. Default false: stop once out is full
   * (EROFS partial decoding wants only a prefix of a pcluster's output).
   */
  exact?: boolean;
}

/** Largest lc + lp accepted (liblzma's LZMA_LCLP_MAX; the kernel's MicroLZMA has the same limit). */
export const LZMA_LCLP_MAX = 4;
export const LZMA_PB_MAX = 4;
/** Dictionary bounds of the kernel's MicroLZMA decoder (xz_dec_microlzma_alloc): 4 KiB .. 3 GiB. */
export const MICROLZMA_DICT_MIN = 4096;
export const MICROLZMA_DICT_MAX = 3 * 2 ** 30;

const DEFAULT_STRUCTURE = 'lzma stream';

// One Uint16Array holds every probability; these are the offsets of its parts. Bit trees index
// from 1 (entry 0 of each tree is unused), so a tree of n bits takes 2^n entries.
const IS_MATCH = 0; //         12 states × 16 position states
const IS_REP = 192; //         12
const IS_REP_G0 = 204; //      12
const IS_REP_G1 = 216; //      12
const IS_REP_G2 = 228; //      12
const IS_REP0_LONG = 240; //   12 × 16
const POS_SLOT = 432; //       4 length states × 64 (6-bit trees)
const SPEC_POS = 688; //       reverse trees of distance slots 4..13, entries 1..114
const ALIGN = 803; //          4-bit reverse tree, entries 1..15
const LEN = 819; //            match length coder (LEN_SIZE)
const REP_LEN = LEN + 514; //  rep match length coder
const LITERAL = REP_LEN + 514; // 0x300 per literal coder, 2^(lc+lp) coders
// inside a length coder
const LEN_CHOICE = 0;
const LEN_CHOICE2 = 1;
const LEN_LOW = 2; //   16 position states × 8 (3-bit trees)
const LEN_MID = 130; // 16 × 8
const LEN_HIGH = 258; // 256 (8-bit tree)

// The range coder's range and code are unsigned 32-bit values. They are kept as int32 (what V8
// handles fastest): `range` holds the bits of the unsigned value, and `code` holds them with the top
// bit flipped (code ^ MIN), so that a signed compare against bound ^ MIN is the unsigned compare.
// Subtraction commutes with the flip (it is + 2^31 mod 2^32), and shifting left by 8 drops it. The
// range is renormalised (one more input byte) when it drops below 2^24: (range >>> 24) === 0.
const MIN = -0x80000000;
const PROB_INIT = 1024; // half of 2^11
const END_MARKER = 0xffffffff;

/** state after a literal, by state */
const NEXT_AFTER_LITERAL = new Uint8Array([0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 4, 5]);

let scratch: Uint16Array | null = null;

/** the probability table, all entries at their initial value; reused across calls (decoding is synchronous) */
function freshProbs(count: number): Uint16Array {
  if (scratch === null) scratch = new Uint16Array(LITERAL + (0x300 << LZMA_LCLP_MAX));
  scratch.fill(PROB_INIT, 0, count);
  return scratch;
}

function fail(structure: string, base: number, pos: number, detail: string): never {
  throw new FormatError(structure, base + pos, detail);
}

function validProps(lc: number, lp: number, pb: number): boolean {
  return Number.isInteger(lc) && Number.isInteger(lp) && Number.isInteger(pb) &&
    lc >= 0 && lp >= 0 && pb >= 0 && lc + lp <= LZMA_LCLP_MAX && pb <= LZMA_PB_MAX;
}

/** lc/lp/pb from an LZMA properties byte, or null when the byte is out of range or lc + lp > 4 */
export function lzmaPropsFromByte(b: number): { lc: number; lp: number; pb: number } | null {
  if (!Number.isInteger(b) || b < 0 || b >= 9 * 5 * 5) return null;
  const lc = b % 9;
  const lp = Math.floor(b / 9) % 5;
  const pb = Math.floor(b / 45);
  return validProps(lc, lp, pb) ? { lc, lp, pb } : null;
}

export function lzmaPropsByte(lc: number, lp: number, pb: number): number {
  return (pb * 5 + lp) * 9 + lc;
}

/**
 * Decode a raw LZMA1 stream (first byte 0, no header) into `out`, producing out.length bytes and
 * stopping there (see `exact`). Returns the number of input bytes consumed. Corrupt or truncated
 * input fails with a FormatError at the input byte where it was noticed.
 */
export function lzmaDecodeRaw(src: Uint8Array, props: LzmaProps, out: Uint8Array, opts: LzmaDecodeOptions = {}): number {
  const structure = opts.structure ?? DEFAULT_STRUCTURE;
  const base = opts.offset ?? 0;
  const { lc, lp, pb, dictSize } = props;
  if (!validProps(lc, lp, pb)) fail(structure, base, 0, `invalid properties lc=${lc} lp=${lp} pb=${pb} (need lc + lp ≤ 4, pb ≤ 4)`);
  if (!Number.isInteger(dictSize) || dictSize < 0 || dictSize > 0xffffffff) fail(structure, base, 0, `invalid dictionary size ${dictSize}`);
  if (src.length < 5) fail(structure, base, src.length, `stream of ${src.length} bytes is shorter than the range coder's 5 initial bytes`);
  if (src[0] !== 0) fail(structure, base, 0, `first byte of a raw LZMA stream is 0x${src[0]!.toString(16)}, not 0`);
  // a .lzma header's dictionary size below 4 KiB means 4 KiB
  return decode(src, lc, lp, pb, Math.max(dictSize, 4096), out, opts.exact === true, true, structure, base);
}

/**
 * Decode an EROFS MicroLZMA pcluster: `src` is exactly the compressed stream (leading zero padding
 * already stripped), `dictSize` comes from the LZMA config record. Returns the input bytes consumed.
 */
export function microLzmaDecode(src: Uint8Array, out: Uint8Array, dictSize: number, opts: LzmaDecodeOptions = {}): number {
  const structure = opts.structure ?? DEFAULT_STRUCTURE;
  const base = opts.offset ?? 0;
  if (src.length < 5) fail(structure, base, src.length, `MicroLZMA stream of ${src.length} bytes is shorter than the range coder's 5 initial bytes`);
  const propsByte = ~src[0]! & 0xff;
  const p = lzmaPropsFromByte(propsByte);
  if (p === null) fail(structure, base, 0, `MicroLZMA first byte 0x${src[0]!.toString(16)} gives invalid properties 0x${propsByte.toString(16)} (need lc + lp ≤ 4, pb ≤ 4)`);
  if (!Number.isInteger(dictSize) || dictSize < MICROLZMA_DICT_MIN || dictSize > MICROLZMA_DICT_MAX) {
    fail(structure, base, 0, `MicroLZMA dictionary size ${dictSize} outside ${MICROLZMA_DICT_MIN}..${MICROLZMA_DICT_MAX}`);
  }
  return decode(src, p.lc, p.lp, p.pb, dictSize, out, opts.exact === true, false, structure, base);
}

/**
 * The decoder proper. src[0] has been validated by the caller (and is otherwise ignored). Every
 * piece of decoder state is a local so that the loop stays in registers; the range-decoder step is
 * written out at each use for the same reason. Each pass of the main loop writes at least one byte
 * or leaves, so it runs at most out.length times.
 */
function decode(
  src: Uint8Array, lc: number, lp: number, pb: number, dictSize: number, out: Uint8Array,
  exact: boolean, allowEndMarker: boolean, structure: string, base: number,
): number {
  const inEnd = src.length;
  let inPos = 5;
  let range = -1; // 0xffffffff
  let code = ((src[1]! << 24) | (src[2]! << 16) | (src[3]! << 8) | src[4]!) ^ MIN;
  if ((code ^ MIN) === -1) fail(structure, base, 4, 'range coder starts with code 0xffffffff');
  const probs = freshProbs(LITERAL + (0x300 << (lc + lp)));
  const pbMask = (1 << pb) - 1;
  const lpMask = (1 << lp) - 1;
  const lcShift = 8 - lc;
  const outEnd = out.length;
  let outPos = 0;
  let state = 0;
  let rep0 = 0;
  let rep1 = 0;
  let rep2 = 0;
  let rep3 = 0;
  let pending = 0; // match bytes beyond out.length
  let prob = 0;
  let bound = 0;
  let pi = 0;

  while (outPos < outEnd) {
    const posState = outPos & pbMask;
    pi = IS_MATCH + (state << 4) + posState;
    prob = probs[pi]!;
    if ((range >>> 24) === 0) {
      if (inPos >= inEnd) fail(structure, base, inPos, `input ends after ${outPos} of ${outEnd} bytes`);
      range <<= 8;
      code = ((code << 8) | src[inPos++]!) ^ MIN;
    }
    bound = Math.imul(range >>> 11, prob);
    if (code < (bound ^ MIN)) {
      range = bound;
      probs[pi] = prob + ((2048 - prob) >>> 5);
      // literal
      const prev = outPos > 0 ? out[outPos - 1]! : 0;
      const lit = LITERAL + 0x300 * (((outPos & lpMask) << lc) + (prev >>> lcShift));
      let sym = 1;
      // Literal bits are decoded without a branch on the bit: on data that does not compress, each
      // is a coin toss the CPU mispredicts half the time. bit is 0/1 from a compare, mask is 0/-1,
      // and range, code, the probability and the symbol are updated with it arithmetically:
      //   bit 0: range = bound,         prob += (2048 - prob) >> 5
      //   bit 1: range = range - bound, code -= bound, prob -= prob >> 5
      // where prob - ((prob - 2017) >> 5) (arithmetic shift) is the bit-0 update:
      // -floor((prob - 2017) / 32) = floor((2048 - prob) / 32).
      if (state >= 7) {
        // the byte a match would have given steers the bits, until one differs from it: offs is
        // 0x100 while they agree and 0 after (LZMA's matched-literal coder, as the SDK indexes it),
        // so the probability is at lit + offs + matchBit + sym, matchBit being 0 or 0x100
        let matchByte = out[outPos - rep0 - 1]!;
        let offs = 0x100;
        do {
          matchByte <<= 1;
          const matchBit = matchByte & offs;
          pi = lit + offs + matchBit + sym;
          prob = probs[pi]!;
          if ((range >>> 24) === 0) {
            if (inPos >= inEnd) fail(structure, base, inPos, `input ends after ${outPos} of ${outEnd} bytes`);
            range <<= 8;
            code = ((code << 8) | src[inPos++]!) ^ MIN;
          }
          bound = Math.imul(range >>> 11, prob);
          const bit = +(code >= (bound ^ MIN));
          const mask = -bit;
          range = bound ^ ((bound ^ (range - bound)) & mask);
          code = (code - (bound & mask)) | 0;
          probs[pi] = prob - ((prob - (2017 & (bit - 1))) >> 5);
          sym = (sym << 1) | bit;
          // bit 1 keeps offs where the match bit was 1, bit 0 where it was 0
          offs &= matchBit ^ (bit - 1);
        } while (sym < 0x100);
      } else {
        do {
          pi = lit + sym;
          prob = probs[pi]!;
          if ((range >>> 24) === 0) {
            if (inPos >= inEnd) fail(structure, base, inPos, `input ends after ${outPos} of ${outEnd} bytes`);
            range <<= 8;
            code = ((code << 8) | src[inPos++]!) ^ MIN;
          }
          bound = Math.imul(range >>> 11, prob);
          const bit = +(code >= (bound ^ MIN));
          const mask = -bit;
          range = bound ^ ((bound ^ (range - bound)) & mask);
          code = (code - (bound & mask)) | 0;
          probs[pi] = prob - ((prob - (2017 & (bit - 1))) >> 5);
          sym = (sym << 1) | bit;
        } while (sym < 0x100);
      }
      sym &= 0xff;
      out[outPos++] = sym;
      state = NEXT_AFTER_LITERAL[state]!;
      continue;
    }
    range = (range - bound) | 0;
    code = (code - bound) | 0;
    probs[pi] = prob - (prob >>> 5);

    // a match: new distance (is_rep 0) or one of the last four (is_rep 1)
    let lenCoder: number;
    pi = IS_REP + state;
    prob = probs[pi]!;
    if ((range >>> 24) === 0) {
      if (inPos >= inEnd) fail(structure, base, inPos, `input ends after ${outPos} of ${outEnd} bytes`);
      range <<= 8;
      code = ((code << 8) | src[inPos++]!) ^ MIN;
    }
    bound = Math.imul(range >>> 11, prob);
    const isRep = code >= (bound ^ MIN);
    if (!isRep) {
      range = bound;
      probs[pi] = prob + ((2048 - prob) >>> 5);
      rep3 = rep2;
      rep2 = rep1;
      rep1 = rep0;
      state = state < 7 ? 7 : 10;
      lenCoder = LEN;
    } else {
      range = (range - bound) | 0;
      code = (code - bound) | 0;
      probs[pi] = prob - (prob >>> 5);
      if (outPos === 0) fail(structure, base, inPos, 'stream starts with a repeated match');
      pi = IS_REP_G0 + state;
      prob = probs[pi]!;
      if ((range >>> 24) === 0) {
        if (inPos >= inEnd) fail(structure, base, inPos, `input ends after ${outPos} of ${outEnd} bytes`);
        range <<= 8;
        code = ((code << 8) | src[inPos++]!) ^ MIN;
      }
      bound = Math.imul(range >>> 11, prob);
      if (code < (bound ^ MIN)) {
        range = bound;
        probs[pi] = prob + ((2048 - prob) >>> 5);
        pi = IS_REP0_LONG + (state << 4) + posState;
        prob = probs[pi]!;
        if ((range >>> 24) === 0) {
          if (inPos >= inEnd) fail(structure, base, inPos, `input ends after ${outPos} of ${outEnd} bytes`);
          range <<= 8;
          code = ((code << 8) | src[inPos++]!) ^ MIN;
        }
        bound = Math.imul(range >>> 11, prob);
        if (code < (bound ^ MIN)) {
          range = bound;
          probs[pi] = prob + ((2048 - prob) >>> 5);
          // short rep: one byte from rep0 (valid: every stored distance was checked when decoded)
          state = state < 7 ? 9 : 11;
          out[outPos] = out[outPos - rep0 - 1]!;
          outPos++;
          continue;
        }
        range = (range - bound) | 0;
        code = (code - bound) | 0;
        probs[pi] = prob - (prob >>> 5);
      } else {
        range = (range - bound) | 0;
        code = (code - bound) | 0;
        probs[pi] = prob - (prob >>> 5);
        let dist: number;
        pi = IS_REP_G1 + state;
        prob = probs[pi]!;
        if ((range >>> 24) === 0) {
          if (inPos >= inEnd) fail(structure, base, inPos, `input ends after ${outPos} of ${outEnd} bytes`);
          range <<= 8;
          code = ((code << 8) | src[inPos++]!) ^ MIN;
        }
        bound = Math.imul(range >>> 11, prob);
        if (code < (bound ^ MIN)) {
          range = bound;
          probs[pi] = prob + ((2048 - prob) >>> 5);
          dist = rep1;
        } else {
          range = (range - bound) | 0;
          code = (code - bound) | 0;
          probs[pi] = prob - (prob >>> 5);
          pi = IS_REP_G2 + state;
          prob = probs[pi]!;
          if ((range >>> 24) === 0) {
            if (inPos >= inEnd) fail(structure, base, inPos, `input ends after ${outPos} of ${outEnd} bytes`);
            range <<= 8;
            code = ((code << 8) | src[inPos++]!) ^ MIN;
          }
          bound = Math.imul(range >>> 11, prob);
          if (code < (bound ^ MIN)) {
            range = bound;
            probs[pi] = prob + ((2048 - prob) >>> 5);
            dist = rep2;
          } else {
            range = (range - bound) | 0;
            code = (code - bound) | 0;
            probs[pi] = prob - (prob >>> 5);
            dist = rep3;
            rep3 = rep2;
          }
          rep2 = rep1;
        }
        rep1 = rep0;
        rep0 = dist;
      }
      state = state < 7 ? 8 : 11;
      lenCoder = REP_LEN;
    }

    // match length: 2..9 (low tree), 10..17 (mid tree) or 18..273 (high tree)
    let lenTree: number;
    let lenBits: number;
    let len: number;
    pi = lenCoder + LEN_CHOICE;
    prob = probs[pi]!;
    if ((range >>> 24) === 0) {
      if (inPos >= inEnd) fail(structure, base, inPos, `input ends after ${outPos} of ${outEnd} bytes`);
      range <<= 8;
      code = ((code << 8) | src[inPos++]!) ^ MIN;
    }
    bound = Math.imul(range >>> 11, prob);
    if (code < (bound ^ MIN)) {
      range = bound;
      probs[pi] = prob + ((2048 - prob) >>> 5);
      lenTree = lenCoder + LEN_LOW + (posState << 3);
      lenBits = 3;
      len = 2;
    } else {
      range = (range - bound) | 0;
      code = (code - bound) | 0;
      probs[pi] = prob - (prob >>> 5);
      pi = lenCoder + LEN_CHOICE2;
      prob = probs[pi]!;
      if ((range >>> 24) === 0) {
        if (inPos >= inEnd) fail(structure, base, inPos, `input ends after ${outPos} of ${outEnd} bytes`);
        range <<= 8;
        code = ((code << 8) | src[inPos++]!) ^ MIN;
      }
      bound = Math.imul(range >>> 11, prob);
      if (code < (bound ^ MIN)) {
        range = bound;
        probs[pi] = prob + ((2048 - prob) >>> 5);
        lenTree = lenCoder + LEN_MID + (posState << 3);
        lenBits = 3;
        len = 10;
      } else {
        range = (range - bound) | 0;
        code = (code - bound) | 0;
        probs[pi] = prob - (prob >>> 5);
        lenTree = lenCoder + LEN_HIGH;
        lenBits = 8;
        len = 18;
      }
    }
    const lenLimit = 1 << lenBits;
    let m = 1;
    do {
      pi = lenTree + m;
      prob = probs[pi]!;
      if ((range >>> 24) === 0) {
        if (inPos >= inEnd) fail(structure, base, inPos, `input ends after ${outPos} of ${outEnd} bytes`);
        range <<= 8;
        code = ((code << 8) | src[inPos++]!) ^ MIN;
      }
      bound = Math.imul(range >>> 11, prob);
      const bit = +(code >= (bound ^ MIN));
      const mask = -bit;
      range = bound ^ ((bound ^ (range - bound)) & mask);
      code = (code - (bound & mask)) | 0;
      probs[pi] = prob - ((prob - (2017 & (bit - 1))) >> 5);
      m = (m << 1) | bit;
    } while (m < lenLimit);
    len += m - lenLimit;

    if (!isRep) {
      // distance: a 6-bit slot per length state, then the slot's low bits
      const slotTree = POS_SLOT + ((len < 6 ? len - 2 : 3) << 6);
      m = 1;
      do {
        pi = slotTree + m;
        prob = probs[pi]!;
        if ((range >>> 24) === 0) {
          if (inPos >= inEnd) fail(structure, base, inPos, `input ends after ${outPos} of ${outEnd} bytes`);
          range <<= 8;
          code = ((code << 8) | src[inPos++]!) ^ MIN;
        }
        bound = Math.imul(range >>> 11, prob);
        const bit = +(code >= (bound ^ MIN));
        const mask = -bit;
        range = bound ^ ((bound ^ (range - bound)) & mask);
        code = (code - (bound & mask)) | 0;
        probs[pi] = prob - ((prob - (2017 & (bit - 1))) >> 5);
        m = (m << 1) | bit;
      } while (m < 64);
      const slot = m - 64;
      if (slot < 4) {
        rep0 = slot;
      } else {
        const nBits = (slot >>> 1) - 1;
        let dist = ((2 | (slot & 1)) << nBits) >>> 0; // up to 3 × 2^30: kept unsigned
        let tree: number;
        let treeBits: number;
        if (slot < 14) {
          tree = SPEC_POS + dist - slot;
          treeBits = nBits;
        } else {
          // nBits − 4 bits at probability ½, then 4 modelled (align) bits
          let direct = 0;
          for (let i = nBits - 4; i > 0; i--) {
            if ((range >>> 24) === 0) {
              if (inPos >= inEnd) fail(structure, base, inPos, `input ends after ${outPos} of ${outEnd} bytes`);
              range <<= 8;
              code = ((code << 8) | src[inPos++]!) ^ MIN;
            }
            range = range >>> 1;
            if (code >= (range ^ MIN)) {
              code = (code - range) | 0;
              direct = (direct << 1) | 1;
            } else {
              direct <<= 1;
            }
          }
          dist += direct * 16;
          tree = ALIGN;
          treeBits = 4;
        }
        m = 1;
        for (let i = 0; i < treeBits; i++) {
          pi = tree + m;
          prob = probs[pi]!;
          if ((range >>> 24) === 0) {
            if (inPos >= inEnd) fail(structure, base, inPos, `input ends after ${outPos} of ${outEnd} bytes`);
            range <<= 8;
            code = ((code << 8) | src[inPos++]!) ^ MIN;
          }
          bound = Math.imul(range >>> 11, prob);
          const bit = +(code >= (bound ^ MIN));
          const mask = -bit;
          range = bound ^ ((bound ^ (range - bound)) & mask);
          code = (code - (bound & mask)) | 0;
          probs[pi] = prob - ((prob - (2017 & (bit - 1))) >> 5);
          m = (m << 1) | bit;
          dist += bit << i;
        }
        if (dist === END_MARKER) {
          fail(structure, base, inPos, `end marker after ${outPos} bytes, before the ${outEnd} bytes declared`);
        }
        rep0 = dist;
      }
    }

    if (rep0 >= outPos || rep0 >= dictSize) {
      fail(structure, base, inPos, rep0 >= outPos
        ? `match distance ${rep0 + 1} reaches before the start of the output (${outPos} bytes decoded)`
        : `match distance ${rep0 + 1} exceeds the dictionary size ${dictSize}`);
    }
    let n = len;
    if (n > outEnd - outPos) {
      pending = n - (outEnd - outPos);
      n = outEnd - outPos;
    }
    const stop = outPos + n;
    let from = outPos - rep0 - 1;
    if (rep0 >= n && n > 32) {
      out.copyWithin(outPos, from, from + n);
      outPos = stop;
    } else {
      while (outPos < stop) out[outPos++] = out[from++]!;
    }
  }

  // the decoder reads a byte before a bit when the range is low; do the last one now so that the
  // count of input bytes used includes it
  if ((range >>> 24) === 0 && inPos < inEnd) {
    range <<= 8;
    code = ((code << 8) | src[inPos++]!) ^ MIN;
  }
  if (!exact) return inPos;
  if (pending > 0) fail(structure, base, inPos, `last match runs ${pending} bytes past the ${outEnd} bytes declared`);
  if (inPos === inEnd && code === MIN) return inPos;
  if (!allowEndMarker) {
    fail(structure, base, inPos, inPos < inEnd
      ? `${inEnd - inPos} input bytes left after the ${outEnd} bytes declared`
      : 'range coder not flushed at the end of the stream');
  }
  const end = endMarker(src, inPos, range, code, probs, state, outEnd & pbMask, structure, base);
  if (end !== inEnd) fail(structure, base, end, `${inEnd - end} input bytes left after the end marker`);
  return end;
}

/**
 * After out.length bytes, a raw stream with more input must continue with an end marker (a match
 * whose distance is 0xffffffff) and then be flushed. Cold path: one symbol, written for clarity.
 * Returns the input position after it.
 */
function endMarker(
  src: Uint8Array, inPos: number, range: number, code: number, probs: Uint16Array,
  state: number, posState: number, structure: string, base: number,
): number {
  const inEnd = src.length;
  const bit = (pi: number): number => {
    if ((range >>> 24) === 0) {
      if (inPos >= inEnd) fail(structure, base, inPos, 'input ends inside the end marker');
      range <<= 8;
      code = ((code << 8) | src[inPos++]!) ^ MIN;
    }
    const prob = probs[pi]!;
    const b = Math.imul(range >>> 11, prob);
    if (code < (b ^ MIN)) {
      range = b;
      probs[pi] = prob + ((2048 - prob) >>> 5);
      return 0;
    }
    range = (range - b) | 0;
    code = (code - b) | 0;
    probs[pi] = prob - (prob >>> 5);
    return 1;
  };
  const tree = (at: number, bits: number): number => {
    let m = 1;
    for (let i = 0; i < bits; i++) m = (m << 1) | bit(at + m);
    return m - (1 << bits);
  };
  const notEnd = (): never => fail(structure, base, inPos, 'data continues past the declared size (no end marker there)');
  if (bit(IS_MATCH + (state << 4) + posState) === 0 || bit(IS_REP + state) === 1) notEnd();
  let len: number;
  if (bit(LEN + LEN_CHOICE) === 0) len = 2 + tree(LEN + LEN_LOW + (posState << 3), 3);
  else if (bit(LEN + LEN_CHOICE2) === 0) len = 10 + tree(LEN + LEN_MID + (posState << 3), 3);
  else len = 18 + tree(LEN + LEN_HIGH, 8);
  // the marker's distance is all ones: slot 63, 26 direct bits and 4 align bits, all 1
  if (tree(POS_SLOT + ((len < 6 ? len - 2 : 3) << 6), 6) !== 63) notEnd();
  for (let i = 0; i < 26; i++) {
    if ((range >>> 24) === 0) {
      if (inPos >= inEnd) fail(structure, base, inPos, 'input ends inside the end marker');
      range <<= 8;
      code = ((code << 8) | src[inPos++]!) ^ MIN;
    }
    range = range >>> 1;
    if (code < (range ^ MIN)) notEnd();
    code = (code - range) | 0;
  }
  let m = 1;
  for (let i = 0; i < 4; i++) {
    if (bit(ALIGN + m) === 0) notEnd();
    m = (m << 1) | 1;
  }
  if ((range >>> 24) === 0 && inPos < inEnd) {
    range <<= 8;
    code = ((code << 8) | src[inPos++]!) ^ MIN;
  }
  if (code !== MIN) fail(structure, base, inPos, 'range coder not flushed after the end marker');
  return inPos;
}
