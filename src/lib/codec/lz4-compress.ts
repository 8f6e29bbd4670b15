import { UnsupportedError } from '../errors.ts';

/*
 * LZ4 block compressor (raw blocks, no frame), written from the LZ4 block format description.
 *
 * Greedy single-probe matching like liblz4's default "fast" mode: one hash table (of 4-byte
 * sequences) holding the last position seen per hash, no chains, and a search step that grows
 * after every 64 misses so incompressible input is skipped quickly.
 *
 * The end-of-block rules are what other JS encoders get wrong, and liblz4 rejects blocks that
 * break them (its safe decoder checks the 12-byte rule against the end of the output buffer, so
 * a late last match fails whenever the decoded size equals the buffer: every full Nydus chunk or
 * EROFS pcluster, every full block of an LZ4 frame):
 *  - the last sequence is literals only, and covers at least the last 5 bytes (LASTLITERALS);
 *  - the last match starts at least 12 bytes before the end (MFLIMIT), so inputs < 13 bytes are
 *    all literals;
 *  - matches are >= 4 bytes, offsets 1..65535.
 * Here no match may start after n - 12 or extend past n - 5, where n is the decoded size of the
 * block; lz4CompressDestSize keeps the same invariants for the prefix it actually consumes.
 *
 * Speed (`LZ4_BENCH_TREE=/tmp/q7-small node --import tsx bench/lz4.ts --destsize`, CPU time, load
 * 15-18): 4 KiB pclusters of 160 MB of a /usr tree walked as the EROFS writer does, 263 MB/s
 * against liblz4 LZ4_compress_destSize's 558 on the same walk. The gap is V8's code for the loops,
 * not the algorithm: a minimal fast-mode loop without the destSize rules, run on the same inputs
 * cut to what each call consumed, took 0.56-0.60 s where this took 0.65-0.70 s (liblz4 0.28 s);
 * perf annotate shows a map check, data-pointer reloads and a bounds check on every typed-array
 * access and stack spills in the search loop. Tried without a measurable change (A/B alternated
 * in one process through tsx, whose module constants stay `const` as in the CLI bundle; identical
 * output, CPU time B/A 0.98-1.05): the format's constants as literals, `| 0` on the search step's
 * sums, one hash table instead of two, a cached DataView of the output buffer.
 * Tried and slower: liblz4's 4096-entry table above 64 KiB (more, shorter matches: 6-12% more
 * time, +0.3% output); 32768 entries: no change in time, -0.07% output.
 */

const MINMATCH = 4;
const LASTLITERALS = 5;
const MFLIMIT = 12;
const MIN_INPUT = MFLIMIT + 1; // below this a block is literals only
const MAX_DISTANCE = 65535;
const SKIP_TRIGGER = 6; // the search step grows by one every 2^6 misses
const RUN_MASK = 15;
const ML_MASK = 15;
const HASH_PRIME = -1640531535; // 2654435761 as int32 (Knuth's multiplicative hash)
/** liblz4's LZ4_MAX_INPUT_SIZE; positions are kept in an Int32Array */
const MAX_INPUT = 0x7e000000;

const MODE_UNLIMITED = 0; // dst holds lz4CompressBound(n) bytes
const MODE_LIMITED = 1; // give up (return -1) as soon as the output cannot fit in olimit
const MODE_FILL = 2; // compress the longest prefix that fits (LZ4_compress_destSize)

// hash tables of positions: 8192 entries for inputs up to 64 KiB (liblz4's ratio there), 16384
// above (a better ratio than lz4 -1's 4096 on 1 MiB blocks at no measurable cost)
const tableSmall = new Int32Array(1 << 13);
const tableLarge = new Int32Array(1 << 14);
/**
 * Table entries are tableBase + position. Each call moves tableBase past every earlier entry by
 * more than MAX_DISTANCE, so old entries read as out-of-reach positions and the tables need no
 * clearing: clearing 64 KiB for every 4 KiB EROFS pcluster was 25% of compress() in a profile of
 * `layerscope build -z lz4` (272 MB of /usr/share).
 */
let tableBase = 0;
let scratch = new Uint8Array(0);
/** input bytes covered by the last compress() call (meaningful in MODE_FILL) */
let lastConsumed = 0;

/** Worst-case size of a compressed block for n input bytes (same formula as LZ4_compressBound). */
export function lz4CompressBound(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > MAX_INPUT) return 0;
  return n + Math.floor(n / 255) + 16;
}

/**
 * Compress `src` as one LZ4 block. Returns null when the block would not be smaller than the
 * input (Nydus and EROFS then store the data raw), which includes empty input. With `dst`, the
 * block is written at dst[0..] and a view of dst is returned (null also when it does not fit in
 * dst); without, a new exactly-sized array is returned.
 */
export function lz4CompressBlock(src: Uint8Array, dst?: Uint8Array): Uint8Array | null {
  checkInput(src);
  const n = src.length;
  const limit = Math.min(n - 1, dst ? dst.length : n - 1);
  if (limit < 1) return null;
  const out = dst ?? scratchFor(limit);
  const len = compress(src, out, limit, MODE_LIMITED);
  if (len < 0) return null;
  return dst ? dst.subarray(0, len) : out.slice(0, len);
}

/**
 * Compress `src` as one LZ4 block whatever its size (an incompressible input grows by about
 * 0.4%); empty input gives the one-byte block [0]. For callers that must emit a compressed block.
 */
export function lz4EncodeBlock(src: Uint8Array): Uint8Array {
  checkInput(src);
  const bound = lz4CompressBound(src.length);
  const out = scratchFor(bound);
  const len = compress(src, out, bound, MODE_UNLIMITED);
  return out.slice(0, len);
}

/**
 * Compress as long a prefix of `src` as fits in `dstCapacity` bytes (LZ4_compress_destSize
 * semantics, what EROFS needs to fill fixed-size pclusters). `compressed` (<= dstCapacity bytes)
 * is a valid block that decodes to exactly src[0..consumed). consumed is 0 only for empty input
 * or dstCapacity 0 (then `compressed` is empty, not even a token fits).
 */
export function lz4CompressDestSize(src: Uint8Array, dstCapacity: number): { compressed: Uint8Array; consumed: number } {
  const f = lz4CompressDestSizeShared(src, dstCapacity);
  return { compressed: f.compressed.slice(), consumed: f.consumed };
}

/**
 * lz4CompressDestSize whose `compressed` is a view of a buffer the next call overwrites, for a
 * caller that copies it at once (the EROFS writer puts each stream into its pcluster): a fresh
 * copy per 4 KiB pcluster was 0.4 s of a 5.7 s \`build -z lz4\` (530 MB tree, self time).
 */
export function lz4CompressDestSizeShared(src: Uint8Array, dstCapacity: number): { compressed: Uint8Array; consumed: number } {
  checkInput(src);
  if (!Number.isInteger(dstCapacity) || dstCapacity < 0) throw new RangeError(`lz4CompressDestSize: bad capacity ${dstCapacity}`);
  const n = src.length;
  if (n === 0 || dstCapacity === 0) return { compressed: new Uint8Array(0), consumed: 0 };
  const bound = lz4CompressBound(n);
  if (dstCapacity >= bound) {
    const out = scratchFor(bound);
    const len = compress(src, out, bound, MODE_UNLIMITED);
    return { compressed: out.subarray(0, len), consumed: n };
  }
  // dstCapacity bytes never decode to more than 255 * dstCapacity, so the rest of a long input
  // (say, the remainder of a file) is never looked at: work per call stays O(dstCapacity)
  const prefix = n > 256 * dstCapacity + 64 ? src.subarray(0, 256 * dstCapacity + 64) : src;
  const out = scratchFor(dstCapacity);
  const len = compress(prefix, out, dstCapacity, MODE_FILL);
  return { compressed: out.subarray(0, len), consumed: lastConsumed };
}

function checkInput(src: Uint8Array): void {
  if (!(src instanceof Uint8Array)) throw new TypeError('lz4: input must be a Uint8Array');
  if (src.length > MAX_INPUT) throw new UnsupportedError('lz4 compression', `input of ${src.length} bytes exceeds the LZ4 block limit of ${MAX_INPUT}`);
}

function scratchFor(size: number): Uint8Array {
  if (scratch.length < size) scratch = new Uint8Array(Math.max(size, Math.min(scratch.length * 2, MAX_INPUT)));
  return scratch;
}

/** number of 255-continued bytes after a 15 in the token for a length field of `len` */
function extraLengthBytes(len: number): number {
  return len >= 15 ? ((len - 15) / 255 | 0) + 1 : 0;
}

/** the longest literal run whose token, length bytes and literals fit in `avail` bytes */
function literalsThatFit(avail: number): number {
  let lit = avail - 1;
  if (lit < 0) return 0;
  lit -= (lit + 256 - RUN_MASK) >> 8;
  while (lit > 0 && 1 + lit + extraLengthBytes(lit) > avail) lit--;
  while (1 + (lit + 1) + extraLengthBytes(lit + 1) <= avail) lit++;
  return lit;
}

/**
 * The compressor. Writes into dst[0..olimit) and returns the block length.
 *
 * MODE_LIMITED returns -1 when the block cannot fit. Its space checks count only bytes the block
 * must still contain (after a match there is always a last token and >= 5 literals; a match
 * longer than its length bytes can say in the space left cannot be written), so -1 means the
 * complete block really is longer than olimit.
 *
 * MODE_FILL stops at the first sequence that does not fit with room to spare for a valid end
 * (see below) and fills the rest with literals. Before giving up it tries the remaining input
 * in MODE_LIMITED from that point ("trying"): matching decisions are the same in both modes, so
 * if that succeeds the whole input fits; if not, the output is rewound to the saved point.
 */
function compress(src: Uint8Array, dst: Uint8Array, olimit: number, mode: number): number {
  // Module constants as locals: the CLI bundle (esbuild) turned them into mutable `var`s (the
  // bundle has `const` back since b6bfd1b; the locals keep other bundlers safe) that V8
  // reloads and re-checks at every use, and HASH_PRIME, outside the small-integer range, was
  // converted from a double in every search step (perf annotate of the optimized code). User CPU
  // of `build -z lz4` over a 508 MB tree: 4.78/4.48 s before, 3.74/3.88 s after (mkfs.erofs
  // -zlz4: 1.04/1.09 s in the same runs), the image unchanged.
  const minMatch = MINMATCH, lastLiterals = LASTLITERALS, mfLimit = MFLIMIT, minInput = MIN_INPUT, maxDistance = MAX_DISTANCE;
  const skipTrigger = SKIP_TRIGGER, runMask = RUN_MASK, mlMask = ML_MASK, hashPrime = HASH_PRIME;
  const unlimited = MODE_UNLIMITED, limited = MODE_LIMITED, fill = MODE_FILL;
  const n = src.length;
  let op = 0;
  let anchor = 0;
  let trying = false; // MODE_FILL running as MODE_LIMITED past its stop point
  let savedOp = 0;
  let savedAnchor = 0;
  let failed = false; // trying did not fit: rewind to savedOp/savedAnchor

  if (n >= minInput) {
    const table = n > 1 << 16 ? tableLarge : tableSmall;
    const shift = n > 1 << 16 ? 32 - 14 : 32 - 13;
    if (tableBase > 0x7fffffff - n - 2 * (maxDistance + 1)) {
      tableSmall.fill(0);
      tableLarge.fill(0);
      tableBase = 0;
    }
    tableBase += maxDistance + 1;
    const base = tableBase;
    tableBase += n;
    // unaligned little-endian 32-bit loads: measurably faster in V8 than four byte loads
    const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
    const ddv = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
    const mflimitPlusOne = n - mfLimit + 1; // a match may start at most at n - 12
    const matchLimit = n - lastLiterals; // and end at most at n - 5
    let ip = 0;
    let ref = 0;
    let seq = dv.getInt32(0, true);
    table[Math.imul(seq, hashPrime) >>> shift] = base;
    ip = 1;
    let forwardSeq = dv.getInt32(1, true);
    let forwardH = Math.imul(forwardSeq, hashPrime) >>> shift;

    search: for (;;) {
      // find a 4-byte match; every probed position goes into the table. When filling, literals
      // beyond the space left can never be written, so the search stops there (bounding the
      // work per call on a long input whatever its size).
      const searchEnd = mode === fill || trying ? Math.min(mflimitPlusOne, anchor + olimit - op) : mflimitPlusOne;
      let forwardIp = ip;
      let step = 1;
      let misses = 1 << skipTrigger;
      do {
        const h = forwardH;
        seq = forwardSeq;
        ip = forwardIp;
        forwardIp += step;
        step = misses++ >> skipTrigger;
        if (forwardIp > searchEnd) break search;
        ref = table[h]! - base;
        forwardSeq = dv.getInt32(forwardIp, true);
        forwardH = Math.imul(forwardSeq, hashPrime) >>> shift;
        table[h] = base + ip;
      } while (ref + maxDistance < ip || dv.getInt32(ref, true) !== seq);

      // extend backwards over equal bytes not yet emitted
      while (ip > anchor && ref > 0 && src[ip - 1] === src[ref - 1]) { ip--; ref--; }

      // token and literals
      const litLen = ip - anchor;
      let token = op++;
      const litExtra = extraLengthBytes(litLen);
      if (mode === fill && op + litExtra + litLen + 2 + 1 + (mfLimit - minMatch) > olimit) {
        // Filling keeps room for the offset and a last token with 8 literals, so that even a
        // 4-byte match ends up starting 12 bytes before the end of what is consumed.
        trying = true; mode = limited; savedOp = token; savedAnchor = anchor;
      }
      if (mode === limited && op + litExtra + litLen + 2 + 1 + lastLiterals > olimit) {
        if (!trying) return -1;
        failed = true;
        break search;
      }
      if (litLen >= runMask) {
        dst[token] = runMask << 4;
        let rest = litLen - runMask;
        for (; rest >= 255; rest -= 255) dst[op++] = 255;
        dst[op++] = rest;
      } else {
        dst[token] = litLen << 4;
      }
      if (litLen > 64) {
        dst.set(src.subarray(anchor, ip), op);
      } else {
        // 4 bytes at a time, up to 3 past the run: the block always has >= 8 more bytes (offset,
        // a last token, 5 literals) within olimit <= dst.length, and ip <= n - 12 for the reads
        for (let i = 0; i < litLen; i += 4) ddv.setInt32(op + i, dv.getInt32(anchor + i, true), true);
      }
      op += litLen;

      // one or more matches; each iteration writes one match, then tries the very next position
      for (;;) {
        if (mode === fill && op + 2 + 1 + (mfLimit - minMatch) > olimit) {
          trying = true; mode = limited; savedOp = token; savedAnchor = anchor;
        }
        if (mode === limited && op + 2 + 1 + lastLiterals > olimit) {
          if (!trying) return -1;
          failed = true;
          break search;
        }
        const off = ip - ref;
        dst[op++] = off & 255;
        dst[op++] = off >>> 8;

        // the longest match length the space left can encode, keeping a last token + 5 literals:
        // 14 + 255*k needs exactly k length bytes, none of them 0
        let maxCode = 0x7fffffff;
        if (mode !== unlimited) maxCode = mlMask - 1 + Math.max(0, olimit - op - 1 - lastLiterals) * 255;
        const extendEnd = Math.min(matchLimit, ip + minMatch + maxCode + 1);
        let end = ip + minMatch;
        let r = ref + minMatch;
        for (;;) { // 4 bytes at a time; the lowest differing bit says how many bytes matched
          if (end + 4 > extendEnd) {
            while (end < extendEnd && src[end] === src[r]) { end++; r++; }
            break;
          }
          const x = dv.getInt32(end, true) ^ dv.getInt32(r, true);
          if (x !== 0) { end += (31 - Math.clz32(x & -x)) >> 3; break; }
          end += 4;
          r += 4;
        }
        let mlCode = end - ip - minMatch;
        let full = false;
        if (mlCode > maxCode || (mode !== unlimited && op + extraLengthBytes(mlCode) + 1 + lastLiterals > olimit)) {
          if (mode === limited) {
            if (!trying) return -1;
            failed = true;
            break search;
          }
          // MODE_FILL: write the longest match that fits, then the last literals
          mlCode = maxCode;
          end = ip + minMatch + mlCode;
          full = true;
        }
        if (mlCode >= mlMask) {
          dst[token]! |= mlMask;
          let rest = mlCode - mlMask;
          for (; rest >= 255; rest -= 255) dst[op++] = 255;
          dst[op++] = rest;
        } else {
          dst[token]! |= mlCode;
        }
        ip = end;
        anchor = ip;
        if (full || ip >= mflimitPlusOne) break search;

        const p = ip - 2;
        table[Math.imul(dv.getInt32(p, true), hashPrime) >>> shift] = base + p;
        seq = dv.getInt32(ip, true);
        const h = Math.imul(seq, hashPrime) >>> shift;
        ref = table[h]! - base;
        table[h] = base + ip;
        if (ref + maxDistance >= ip && dv.getInt32(ref, true) === seq) {
          token = op++;
          dst[token] = 0;
          continue;
        }
        ip++;
        forwardSeq = dv.getInt32(ip, true);
        forwardH = Math.imul(forwardSeq, hashPrime) >>> shift;
        continue search;
      }
    }
  }

  // last literals: everything from anchor, or when filling as much of it as fits
  let lastRun = n - anchor;
  if (!failed && mode !== unlimited && op + 1 + extraLengthBytes(lastRun) + lastRun > olimit) {
    if (mode === limited && !trying) return -1;
    failed = trying;
    if (!failed) lastRun = Math.min(lastRun, literalsThatFit(olimit - op));
  }
  if (failed) {
    op = savedOp;
    anchor = savedAnchor;
    lastRun = Math.min(n - anchor, literalsThatFit(olimit - op));
  }
  if (lastRun >= runMask) {
    dst[op++] = runMask << 4;
    let rest = lastRun - runMask;
    for (; rest >= 255; rest -= 255) dst[op++] = 255;
    dst[op++] = rest;
  } else {
    dst[op++] = lastRun << 4;
  }
  dst.set(src.subarray(anchor, anchor + lastRun), op);
  op += lastRun;
  lastConsumed = anchor + lastRun;
  return op;
}
