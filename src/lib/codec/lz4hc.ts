/**
 * LZ4 "high compression" block encoder in destination-size mode, for EROFS pclusters (mkfs
 * -zlz4hc): the longest input prefix whose LZ4 block fits a given number of bytes. Written from
 * the LZ4 block format (token, literals, 2-byte offset, match length), like lz4-compress.ts; the
 * difference is the match finder: hash chains over every position (up to 2^(level-1) candidates
 * per position, level 1-12) and one step of lazy evaluation (at levels 5-9 only after matches
 * under 12 bytes), instead of one probe per position.
 *
 * End-of-block rules (liblz4's safe decoder and the kernel check them against the decoded size,
 * which is the consumed prefix here): the block ends with at least 5 literals, the last match
 * starts at least 12 bytes before the end, matches are ≥ 4 bytes with offsets 1..65535. A
 * sequence is committed only when it and the shortest valid ending still fit.
 *
 * (A codec: belongs in src/lib/codec next to lz4-compress.ts once that file's owner takes it.)
 */

export const LZ4HC_MIN_LEVEL = 1;
export const LZ4HC_MAX_LEVEL = 12;
export const LZ4HC_DEFAULT_LEVEL = 9;

const MINMATCH = 4;
const LASTLITERALS = 5;
const MFLIMIT = 12;
const MAX_DISTANCE = 65535;
const HASH_BITS = 15;
const HASH_SHIFT = 32 - HASH_BITS;
const HASH_PRIME = -1640531535; // 2654435761 as int32
const WINDOW_MASK = 0xffff;
/** levels 5-9: no lazy step after a match this long (see lz4hcCompressDestSizeShared) */
const LAZY_BELOW = 12;

/*
 * Speed (profile of `layerscope build -z lz4hc` on 272 MB of /usr/share, node --cpu-prof): 85% of
 * the time was this function, nearly all of it the chain walk of find(). The match finder below is
 * the same algorithm, with the same candidates in the same order (so the same output, checked
 * byte for byte against the previous version), but: no closures (they were allocated per call and
 * kept `next`/`bestOff` in context slots), one 32-bit load instead of byte compares to reject a
 * candidate, and match extension 4 bytes at a time (XOR, lowest differing byte from clz32).
 */

/** head[hash] and chain[pos & 0xffff]: positions stored as gen + offset, so no clearing between calls */
const head = new Int32Array(1 << HASH_BITS);
const chain = new Int32Array(WINDOW_MASK + 1);
let gen = 0;
let out = new Uint8Array(0);
let outDv = new DataView(out.buffer);
/** state of the current call, shared by find() */
let cur: Uint8Array = new Uint8Array(0);
let curDv: DataView = new DataView(new ArrayBuffer(4));
let curG = 0;
let nextInsert = 0;
let matchEndLimit = 0;
let attempts = 1;
let bestOff = 0;

function extLen(len: number): number {
  return len >= 15 ? ((len - 15) / 255 | 0) + 1 : 0;
}

/** bytes of a final literal-only sequence of `lit` literals */
function tailCost(lit: number): number {
  return 1 + extLen(lit) + lit;
}

/** the longest literal run whose final sequence fits `avail` bytes */
function literalsThatFit(avail: number): number {
  if (avail < 1) return -1;
  let lit = avail - 1;
  while (lit > 0 && tailCost(lit) > avail) lit--;
  return lit;
}

/** the longest match at p (length, 0 if < 4), nearest first among equals; sets bestOff */
function find(p: number): number {
  // Module constants and the (never reassigned) table references as locals: the CLI bundle
  // (esbuild) turns top-level consts into `var`s that V8 reloads and re-checks at every use, and
  // HASH_PRIME, outside the small-integer range, is a heap number (see lz4-compress.ts, 49075bc).
  // The tables are the same shared objects, only the reference is copied; bestOff is written once
  // at the end. User CPU of `build -z lz4hc` over 197 MB, 34 interleaved rounds: median 4.99 s
  // before, 4.78 s after (-2.9% paired, faster in 24 of 34; mkfs.erofs -zlz4hc 2.29 s), the
  // image byte-identical. Far less than lz4's 17%: the time here is the chain walk, not hashing.
  const hashPrime = HASH_PRIME, hashShift = HASH_SHIFT, windowMask = WINDOW_MASK, minMatch = MINMATCH;
  const hd = head, ch = chain;
  const src = cur, dv = curDv, g = curG;
  for (let q = nextInsert; q < p; q++) {
    const h = Math.imul(dv.getInt32(q, true), hashPrime) >>> hashShift;
    ch[q & windowMask] = hd[h]!;
    hd[h] = g + q;
  }
  const seq = dv.getInt32(p, true);
  const hp = Math.imul(seq, hashPrime) >>> hashShift;
  let c = hd[hp]!;
  // p goes into the chains now, with the hash just computed (the walk below has read its head):
  // every position searched is the next one inserted, so this saves a load and a hash per find
  ch[p & windowMask] = c;
  hd[hp] = g + p;
  nextInsert = p + 1;
  let best = minMatch - 1;
  let off = 0;
  const lowest = Math.max(g, g + p - MAX_DISTANCE);
  const limit = matchEndLimit - p;
  // a candidate can only beat `best` if its bytes best-3..best match too: one 32-bit compare
  // against the hoisted `atBest` rejects most candidates before the prefix check
  let atBest = seq;
  for (let k = attempts; k > 0 && c >= lowest; k--) {
    const cp = c - g;
    if (dv.getInt32(cp + best - 3, true) === atBest && dv.getInt32(cp, true) === seq) {
      let len = minMatch;
      for (;;) {
        if (len + 4 > limit) {
          while (len < limit && src[cp + len] === src[p + len]) len++;
          break;
        }
        const x = dv.getInt32(cp + len, true) ^ dv.getInt32(p + len, true);
        if (x !== 0) {
          len += (31 - Math.clz32(x & -x)) >> 3;
          break;
        }
        len += 4;
      }
      if (len > best) {
        best = len;
        off = p - cp;
        if (len >= limit) break;
        atBest = dv.getInt32(p + best - 3, true);
      }
    }
    c = ch[cp & windowMask]!;
  }
  bestOff = off;
  return best >= minMatch ? best : 0;
}

function writeLen(o: Uint8Array, op: number, len: number): number {
  let l = len - 15;
  while (l >= 255) {
    o[op++] = 255;
    l -= 255;
  }
  o[op++] = l;
  return op;
}

export function lz4hcCompressDestSize(src: Uint8Array, cap: number, level: number): { compressed: Uint8Array; consumed: number } {
  const f = lz4hcCompressDestSizeShared(src, cap, level);
  return { compressed: f.compressed.slice(), consumed: f.consumed };
}

/**
 * lz4hcCompressDestSize whose `compressed` is a view of a buffer the next call overwrites, for a
 * caller that copies it at once (the EROFS writer puts each stream into its pcluster), as
 * lz4CompressDestSizeShared: saves a fresh 4 KiB array per pcluster.
 */
export function lz4hcCompressDestSizeShared(src: Uint8Array, cap: number, level: number): { compressed: Uint8Array; consumed: number } {
  const n = src.length;
  if (n === 0 || cap === 0) return { compressed: new Uint8Array(0), consumed: 0 };
  if (gen + n + 2 * (MAX_DISTANCE + 1) > 0x3fffffff) {
    head.fill(0);
    chain.fill(0);
    gen = 0;
  }
  gen += MAX_DISTANCE + 1; // every position of earlier calls is now out of reach
  curG = gen;
  gen += n;
  if (out.length < cap + 16) {
    out = new Uint8Array(cap + 16);
    outDv = new DataView(out.buffer);
  }
  const o = out;
  const odv = outDv;
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  cur = src;
  curDv = dv;
  nextInsert = 0;
  attempts = level <= 1 ? 1 : 1 << Math.min(level - 1, 12);
  matchEndLimit = n - LASTLITERALS;
  const lazy = level >= 3;
  // The lazy step (a second search at ip + 1) only for matches shorter than this: a match of 12
  // or more rarely loses to the next position's, and that search was a third of the calls.
  // Encoder alone, 157 MB of /usr/share + /usr/bin files in 4 KiB pclusters, CPU ms: 3,299 / 3,318
  // with the step after every match, 2,823 / 3,053 without it from 12 on (-10%), for 0.09% more
  // blocks (22,558 against 22,537; liblz4 level 9 makes 22,395). Levels 10-12 keep it always, as
  // do 3-4, whose input per pcluster is already 2.8% under liblz4's at level 4 (the cut: 2.97%).
  const lazyBelow = level >= 10 || level <= 4 ? Infinity : LAZY_BELOW;
  const matchStartLimit = n - MFLIMIT;

  let op = 0;
  let anchor = 0;
  let ip = 0;
  /** literals the ending must still hold after the last committed match */
  let minTail = 0;
  // Literals from anchor that cannot fit the space left end the search: no later sequence could
  // be committed. Without this bound an incompressible window was scanned (and inserted into the
  // chains) to its end, 1 MiB, for each 4 KiB pcluster: 5.7 MB/s over /usr/share/doc.
  let searchEnd = Math.min(matchStartLimit, anchor + cap - op);
  while (ip <= searchEnd) {
    let len = find(ip);
    if (len === 0) {
      ip++;
      continue;
    }
    let off = bestOff;
    if (lazy && len < lazyBelow && ip + 1 <= matchStartLimit) {
      const len2 = find(ip + 1);
      if (len2 > len + 1) {
        ip++;
        len = len2;
        off = bestOff;
      }
    }
    const lit = ip - anchor;
    let cost = 1 + extLen(lit) + lit + 2 + extLen(len - MINMATCH);
    if (op + cost + tailCost(LASTLITERALS) > cap) {
      // a match too long for its length bytes to fit: keep the longest prefix whose length
      // bytes do fit (k bytes say at most 14 + 255k), so a long run of zeros fills the pcluster
      const room = cap - op - (1 + extLen(lit) + lit + 2) - tailCost(LASTLITERALS);
      if (room < 0) break;
      const fits = MINMATCH + 14 + 255 * room;
      if (fits >= len) break;
      len = fits;
      cost = 1 + extLen(lit) + lit + 2 + extLen(len - MINMATCH);
    }
    const end = ip + len;
    const tail = Math.max(LASTLITERALS, ip + MFLIMIT - end);
    if (op + cost + tailCost(tail) > cap) break;
    const tok = op++;
    o[tok] = (Math.min(lit, 15) << 4) | Math.min(len - MINMATCH, 15);
    if (lit >= 15) op = writeLen(o, op, lit);
    if (lit > 32) o.set(src.subarray(anchor, ip), op);
    // 4 bytes at a time, up to 3 past the run: what follows is written over them, `out` has 16
    // spare bytes past cap, and ip <= n - 12 for the reads (4% of the encoder's time, byte by byte)
    else for (let i = 0; i < lit; i += 4) odv.setInt32(op + i, dv.getInt32(anchor + i, true), true);
    op += lit;
    o[op++] = off & 255;
    o[op++] = off >>> 8;
    if (len - MINMATCH >= 15) op = writeLen(o, op, len - MINMATCH);
    ip = end;
    anchor = end;
    minTail = tail;
    searchEnd = Math.min(matchStartLimit, anchor + cap - op);
  }
  // the ending: literals from anchor, as many as fit (at least what the last match needs)
  let lit = Math.min(n - anchor, literalsThatFit(cap - op));
  if (lit < minTail) throw new Error(`lz4hc writer bug: ending of ${lit} literals, ${minTail} needed`);
  if (lit < 0) lit = 0;
  o[op++] = Math.min(lit, 15) << 4;
  if (lit >= 15) op = writeLen(o, op, lit);
  o.set(src.subarray(anchor, anchor + lit), op);
  op += lit;
  cur = new Uint8Array(0); // do not keep the caller's buffer alive
  return { compressed: o.subarray(0, op), consumed: anchor + lit };
}
