/**
 * LZ4 "high compression" block encoder in destination-size mode, for EROFS pclusters (mkfs
 * -zlz4hc): the longest input prefix whose LZ4 block fits a given number of bytes. Written from
 * the LZ4 block format (token, literals, 2-byte offset, match length), like lz4-compress.ts; the
 * difference is the match finder: hash chains over every position (up to 2^(level-1) candidates
 * per position, level 1-12) and one step of lazy evaluation, instead of one probe per position.
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
const WINDOW_MASK = 0xffff;

const head = new Int32Array(1 << HASH_BITS).fill(-1);
const chain = new Int32Array(WINDOW_MASK + 1);
/** positions are stored as gen + offset so tables need no clearing between calls */
let gen = 0;
let out = new Uint8Array(0);

function hash4(s: Uint8Array, p: number): number {
  const v = s[p]! | (s[p + 1]! << 8) | (s[p + 2]! << 16) | (s[p + 3]! << 24);
  return Math.imul(v, -1640531535) >>> (32 - HASH_BITS);
}

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

export function lz4hcCompressDestSize(src: Uint8Array, cap: number, level: number): { compressed: Uint8Array; consumed: number } {
  const n = src.length;
  if (n === 0 || cap === 0) return { compressed: new Uint8Array(0), consumed: 0 };
  if (gen + n + 2 * (MAX_DISTANCE + 1) > 0x3fffffff) {
    head.fill(-1);
    gen = 0;
  }
  gen += MAX_DISTANCE + 1; // every position of earlier calls is now out of reach
  const g = gen;
  gen += n;
  if (out.length < cap + 16) out = new Uint8Array(cap + 16);
  const attempts = level <= 1 ? 1 : 1 << Math.min(level - 1, 12);
  const lazy = level >= 3;
  const matchEndLimit = n - LASTLITERALS;
  const matchStartLimit = n - MFLIMIT;
  let next = 0; // next position to insert into the chains
  const insertUpTo = (p: number) => {
    for (; next < p; next++) {
      const h = hash4(src, next);
      chain[next & WINDOW_MASK] = head[h]!;
      head[h] = g + next;
    }
  };
  let bestOff = 0;
  /** longest match at p (length, 0 if < 4); sets bestOff */
  const find = (p: number): number => {
    insertUpTo(p);
    let best = MINMATCH - 1;
    bestOff = 0;
    let c = head[hash4(src, p)]!;
    const lowest = g + p - MAX_DISTANCE;
    const limit = Math.min(matchEndLimit - p, 0xffff + MINMATCH);
    for (let k = attempts; k > 0 && c >= lowest && c >= g; k--) {
      const cp = c - g;
      if (src[cp + best] === src[p + best] && src[cp] === src[p]) {
        let len = 0;
        while (len < limit && src[cp + len] === src[p + len]) len++;
        if (len > best) {
          best = len;
          bestOff = p - cp;
          if (len >= limit) break;
        }
      }
      c = chain[cp & WINDOW_MASK]!;
    }
    return best >= MINMATCH ? best : 0;
  };

  let op = 0;
  let anchor = 0;
  let ip = 0;
  /** literals the ending must still hold after the last committed match */
  let minTail = 0;
  const writeLen = (len: number) => {
    let l = len - 15;
    while (l >= 255) {
      out[op++] = 255;
      l -= 255;
    }
    out[op++] = l;
  };
  while (ip <= matchStartLimit) {
    let len = find(ip);
    if (len === 0) {
      ip++;
      continue;
    }
    let off = bestOff;
    if (lazy && ip + 1 <= matchStartLimit) {
      const len2 = find(ip + 1);
      if (len2 > len + 1) {
        ip++;
        len = len2;
        off = bestOff;
      }
    }
    const lit = ip - anchor;
    const cost = 1 + extLen(lit) + lit + 2 + extLen(len - MINMATCH);
    const end = ip + len;
    const tail = Math.max(LASTLITERALS, ip + MFLIMIT - end);
    if (op + cost + tailCost(tail) > cap) break;
    const tok = op++;
    out[tok] = (Math.min(lit, 15) << 4) | Math.min(len - MINMATCH, 15);
    if (lit >= 15) writeLen(lit);
    out.set(src.subarray(anchor, ip), op);
    op += lit;
    out[op++] = off & 255;
    out[op++] = off >>> 8;
    if (len - MINMATCH >= 15) writeLen(len - MINMATCH);
    ip = end;
    anchor = end;
    minTail = tail;
  }
  // the ending: literals from anchor, as many as fit (at least what the last match needs)
  let lit = Math.min(n - anchor, literalsThatFit(cap - op));
  if (lit < minTail) throw new Error(`lz4hc writer bug: ending of ${lit} literals, ${minTail} needed`);
  if (lit < 0) lit = 0;
  out[op++] = Math.min(lit, 15) << 4;
  if (lit >= 15) writeLen(lit);
  out.set(src.subarray(anchor, anchor + lit), op);
  op += lit;
  return { compressed: out.slice(0, op), consumed: anchor + lit };
}
