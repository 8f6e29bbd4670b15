/**
 * XXH64 (the 64-bit xxHash), written from the xxHash specification. zstd's Content_Checksum is the
 * low 32 bits of XXH64(content, seed 0) (RFC 8878 §3.1.1).
 *
 * JavaScript has no fast 64-bit integers (BigInt allocates; Node 20's BigInt64 arithmetic ran at
 * ~220 MB/s here), so every 64-bit value is a pair of int32 halves. The stripe loop (`stripes`) is
 * written out on locals with `mulHi` from a double product; the few steps outside it use `mulLo` /
 * `addLo`, which return the low half and leave the high half in `H`. In the stripe loop the carry of
 * a 64-bit add is computed from the bits ((a & b) | ((a | b) & ~sum)) >>> 31, not by comparing: the
 * compare compiled to a branch that mispredicts on real data (about half the time), and the
 * branch-free carry took XXH64 of 8 MiB of binaries from ~850 to ~1700 MB/s (Node 20, CPU time).
 */

// the five primes, as [high, low] 32-bit halves
const P1H = 0x9e3779b1 | 0, P1L = 0x85ebca87 | 0;
const P2H = 0xc2b2ae3d | 0, P2L = 0x27d4eb4f | 0;
const P3H = 0x165667b1 | 0, P3L = 0x9e3779f9 | 0;
const P4H = 0x85ebca77 | 0, P4L = 0xc2b2ae63 | 0;
const P5H = 0x27d4eb2f | 0, P5L = 0x165667c5 | 0;

/** high half of the last mulLo / addLo result */
let H = 0;

/** low 64 bits of (ah:al) * (bh:bl); returns the low half, sets H to the high half */
function mulLo(ah: number, al: number, bh: number, bl: number): number {
  // 16-bit limbs: each partial product fits 32 bits, so Math.imul keeps every step in int32
  const a0 = al & 0xffff, a1 = al >>> 16, b0 = bl & 0xffff, b1 = bl >>> 16;
  const p00 = Math.imul(a0, b0), p01 = Math.imul(a0, b1), p10 = Math.imul(a1, b0);
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  H = (Math.imul(a1, b1) + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16) + Math.imul(al, bh) + Math.imul(ah, bl)) | 0;
  return (mid << 16) | (p00 & 0xffff);
}

/** (ah:al) + (bh:bl) mod 2^64; returns the low half, sets H */
function addLo(ah: number, al: number, bh: number, bl: number): number {
  const l = (al + bl) | 0;
  H = (ah + bh + ((l >>> 0) < (al >>> 0) ? 1 : 0)) | 0;
  return l;
}

function read32(b: Uint8Array, i: number): number {
  return b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
}

// Lane state for the 32-byte stripes: v1..v4 as [hi, lo] pairs.
const lanes = new Int32Array(8);

const P1LU = P1L >>> 0, P2LU = P2L >>> 0;

/**
 * High 32 bits of the unsigned product a * b (b given as unsigned), knowing its low half
 * `lo = Math.imul(a, b)`: the double product is within 2^11 of the exact one, so after taking
 * away the low half it rounds to the exact multiple of 2^32. Cheaper than 16-bit limbs.
 */
function mulHi(a: number, bU: number, lo: number): number {
  // 2^-32 as a literal, not a module const (see stripes)
  return (((a >>> 0) * bU - (lo >>> 0)) * 2.3283064365386963e-10 + 0.5) | 0;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** words of a chunk copied out of data that is not 4-byte aligned (or on a big-endian host) */
const CHUNK_WORDS = 1 << 14;
const chunk = new Int32Array(CHUNK_WORDS);

/**
 * The 32-byte stripes of w[j .. j + 8 * n), on the four lanes in st (high, low pairs). The one hot
 * loop: every 64-bit step is written out on int32 locals.
 */
function stripes(w: Int32Array, j: number, n: number, st: Int32Array): void {
  // the primes as locals: a bundler (esbuild, the CLI bundle) turns module consts into `var`s, which
  // V8 reloads and type-checks on every use in the loop (perf annotate showed the checks)
  const P1L_ = P1L, P1H_ = P1H, P2L_ = P2L, P2H_ = P2H, P1LU_ = P1LU, P2LU_ = P2LU;
  let v1h = st[0]!, v1l = st[1]!, v2h = st[2]!, v2l = st[3]!, v3h = st[4]!, v3l = st[5]!, v4h = st[6]!, v4l = st[7]!;
  let il = 0, ih = 0, mh = 0, ml = 0, l = 0, h = 0, rh = 0, rl = 0;
  const end = j + 8 * n;
  for (; j < end; j += 8) {
      il = w[j + 0]!; ih = w[j + 1]!;
      ml = Math.imul(il, P2L_);
      mh = (mulHi(il, P2LU_, ml) + Math.imul(il, P2H_) + Math.imul(ih, P2L_)) | 0;
      l = (v1l + ml) | 0;
      h = (v1h + mh + (((v1l & ml) | ((v1l | ml) & ~l)) >>> 31)) | 0;
      rh = (h << 31) | (l >>> 1); rl = (l << 31) | (h >>> 1);
      v1l = Math.imul(rl, P1L_);
      v1h = (mulHi(rl, P1LU_, v1l) + Math.imul(rl, P1H_) + Math.imul(rh, P1L_)) | 0;
      il = w[j + 2]!; ih = w[j + 3]!;
      ml = Math.imul(il, P2L_);
      mh = (mulHi(il, P2LU_, ml) + Math.imul(il, P2H_) + Math.imul(ih, P2L_)) | 0;
      l = (v2l + ml) | 0;
      h = (v2h + mh + (((v2l & ml) | ((v2l | ml) & ~l)) >>> 31)) | 0;
      rh = (h << 31) | (l >>> 1); rl = (l << 31) | (h >>> 1);
      v2l = Math.imul(rl, P1L_);
      v2h = (mulHi(rl, P1LU_, v2l) + Math.imul(rl, P1H_) + Math.imul(rh, P1L_)) | 0;
      il = w[j + 4]!; ih = w[j + 5]!;
      ml = Math.imul(il, P2L_);
      mh = (mulHi(il, P2LU_, ml) + Math.imul(il, P2H_) + Math.imul(ih, P2L_)) | 0;
      l = (v3l + ml) | 0;
      h = (v3h + mh + (((v3l & ml) | ((v3l | ml) & ~l)) >>> 31)) | 0;
      rh = (h << 31) | (l >>> 1); rl = (l << 31) | (h >>> 1);
      v3l = Math.imul(rl, P1L_);
      v3h = (mulHi(rl, P1LU_, v3l) + Math.imul(rl, P1H_) + Math.imul(rh, P1L_)) | 0;
      il = w[j + 6]!; ih = w[j + 7]!;
      ml = Math.imul(il, P2L_);
      mh = (mulHi(il, P2LU_, ml) + Math.imul(il, P2H_) + Math.imul(ih, P2L_)) | 0;
      l = (v4l + ml) | 0;
      h = (v4h + mh + (((v4l & ml) | ((v4l | ml) & ~l)) >>> 31)) | 0;
      rh = (h << 31) | (l >>> 1); rl = (l << 31) | (h >>> 1);
      v4l = Math.imul(rl, P1L_);
      v4h = (mulHi(rl, P1LU_, v4l) + Math.imul(rl, P1H_) + Math.imul(rh, P1L_)) | 0;
  }
  st[0] = v1h; st[1] = v1l; st[2] = v2h; st[3] = v2l; st[4] = v3h; st[5] = v3l; st[6] = v4h; st[7] = v4l;
}

// A few one-stripe calls at load, so every element access in `stripes` has type feedback before
// its first long call (V8 allocates a function's feedback only after several calls). Without them
// the first call (say a whole 8 MiB zstd frame's content) is compiled on-stack while the stores
// after its loop have never run; leaving the loop then deopts ("insufficient type feedback for
// generic keyed access"), on every later call too (node --trace-deopt).
for (let k = 0, w = new Int32Array(8); k < 16; k++) stripes(w, 0, 1, w);

/**
 * The stripe loop on 64-bit BigInt lanes, for engines that compile `BigInt.asUintN(64, ...)`
 * arithmetic to machine integers. Chromium 156 does: 8 MiB of stripes in 2.3-2.7 GB/s against
 * 0.9-1.5 GB/s for `stripes` in the same page (wall time, load 10). Node 20's V8 allocates a BigInt
 * per operation (~220 MB/s), so `stripes` stays the default (see useBigIntLanes).
 */
function stripesBig(w: BigUint64Array, j: number, n: number, st: Int32Array): void {
  const p1 = 0x9e3779b185ebca87n, p2 = 0xc2b2ae3d27d4eb4fn;
  let v1 = (BigInt(st[0]! >>> 0) << 32n) | BigInt(st[1]! >>> 0), v2 = (BigInt(st[2]! >>> 0) << 32n) | BigInt(st[3]! >>> 0);
  let v3 = (BigInt(st[4]! >>> 0) << 32n) | BigInt(st[5]! >>> 0), v4 = (BigInt(st[6]! >>> 0) << 32n) | BigInt(st[7]! >>> 0);
  const end = j + 4 * n;
  for (; j < end; j += 4) {
    v1 = BigInt.asUintN(64, v1 + w[j]! * p2);
    v1 = BigInt.asUintN(64, ((v1 << 31n) | (v1 >> 33n)) * p1);
    v2 = BigInt.asUintN(64, v2 + w[j + 1]! * p2);
    v2 = BigInt.asUintN(64, ((v2 << 31n) | (v2 >> 33n)) * p1);
    v3 = BigInt.asUintN(64, v3 + w[j + 2]! * p2);
    v3 = BigInt.asUintN(64, ((v3 << 31n) | (v3 >> 33n)) * p1);
    v4 = BigInt.asUintN(64, v4 + w[j + 3]! * p2);
    v4 = BigInt.asUintN(64, ((v4 << 31n) | (v4 >> 33n)) * p1);
  }
  st[0] = Number(v1 >> 32n) | 0; st[1] = Number(BigInt.asUintN(32, v1)) | 0;
  st[2] = Number(v2 >> 32n) | 0; st[3] = Number(BigInt.asUintN(32, v2)) | 0;
  st[4] = Number(v3 >> 32n) | 0; st[5] = Number(BigInt.asUintN(32, v3)) | 0;
  st[6] = Number(v4 >> 32n) | 0; st[7] = Number(BigInt.asUintN(32, v4)) | 0;
}

/**
 * Whether the stripes run on BigInt lanes: in Chromium 156 and later (the version measured; older
 * ones and other engines were not), never in Node. Both loops give the same hash.
 */
function bigIntLanesFast(): boolean {
  const g = globalThis as { process?: { versions?: { node?: string } }; navigator?: { userAgent?: string } };
  if (g.process?.versions?.node || typeof BigUint64Array === 'undefined' || !LITTLE_ENDIAN) return false;
  const m = /Chrom(?:e|ium)\/(\d+)/.exec(g.navigator?.userAgent ?? '');
  return m !== null && Number(m[1]) >= 156;
}
let bigLanes = false;
const chunkBig = new BigUint64Array(chunk.buffer);

/** Chooses the BigInt stripe loop (true) or the int32 one; exported for tests, which run both. */
export function useBigIntLanes(on: boolean): void {
  bigLanes = on && LITTLE_ENDIAN;
  // type feedback before the first long call, as for `stripes` below
  if (bigLanes) for (let k = 0, w = new BigUint64Array(4), st = new Int32Array(8); k < 16; k++) stripesBig(w, 0, 1, st);
}

useBigIntLanes(bigIntLanesFast());

/** All whole stripes of data[0 .. 32 * n), aligned in place or through `chunk` (or chunkBig). */
function allStripes(data: Uint8Array, n: number, st: Int32Array): void {
  if (bigLanes && (data.byteOffset & 7) === 0) {
    stripesBig(new BigUint64Array(data.buffer, data.byteOffset, n * 4), 0, n, st);
    return;
  }
  if (!bigLanes && LITTLE_ENDIAN && (data.byteOffset & 3) === 0) {
    stripes(new Int32Array(data.buffer, data.byteOffset, n * 8), 0, n, st);
    return;
  }
  // unaligned (or big-endian): through the chunk, which chunkBig views too
  const per = CHUNK_WORDS / 8;
  for (let s = 0; s < n; s += per) {
    const m = Math.min(per, n - s);
    for (let k = 0, p = s * 32; k < m * 8; k++, p += 4) chunk[k] = read32(data, p);
    if (bigLanes) stripesBig(chunkBig, 0, m, st);
    else stripes(chunk, 0, m, st);
  }
}

/** round(0, input): rotl(input * P2, 31) * P1; returns low, sets H */
function round0(ih: number, il: number): number {
  const l = mulLo(ih, il, P2H, P2L);
  const h = H;
  const rh = (h << 31) | (l >>> 1), rl = (l << 31) | (h >>> 1);
  return mulLo(rh, rl, P1H, P1L);
}

/** The hash as [high, low] unsigned 32-bit halves. `seed` is taken modulo 2^64. */
export function xxh64Parts(data: Uint8Array, seed: bigint = 0n): [number, number] {
  const len = data.length;
  const s64 = BigInt.asUintN(64, seed);
  const sh = Number(s64 >> 32n) | 0, sl = Number(s64 & 0xffffffffn) | 0;
  let p = 0;
  let ah: number, al: number;
  if (len >= 32) {
    let l = addLo(sh, sl, P1H, P1L);
    lanes[1] = addLo(H, l, P2H, P2L); lanes[0] = H;
    lanes[3] = addLo(sh, sl, P2H, P2L); lanes[2] = H;
    lanes[4] = sh; lanes[5] = sl;
    // seed - P1 = seed + (2^64 - P1)
    l = addLo(~P1H, ~P1L, 0, 1);
    lanes[7] = addLo(sh, sl, H, l); lanes[6] = H;
    const n = len >>> 5;
    allStripes(data, n, lanes);
    p = n * 32;
    // acc = rotl(v1,1) + rotl(v2,7) + rotl(v3,12) + rotl(v4,18)
    ah = 0; al = 0;
    for (let k = 0; k < 4; k++) {
      const r = [1, 7, 12, 18][k]!;
      const vh = lanes[2 * k]!, vl = lanes[2 * k + 1]!;
      al = addLo(ah, al, (vh << r) | (vl >>> (32 - r)), (vl << r) | (vh >>> (32 - r)));
      ah = H;
    }
    // merge each lane: acc = (acc ^ round0(v)) * P1 + P4
    for (let k = 0; k < 4; k++) {
      const rl = round0(lanes[2 * k]!, lanes[2 * k + 1]!);
      al = mulLo(ah ^ H, al ^ rl, P1H, P1L); ah = H;
      al = addLo(ah, al, P4H, P4L); ah = H;
    }
  } else {
    al = addLo(sh, sl, P5H, P5L);
    ah = H;
  }
  // acc += len (a length below 2^53 as two halves)
  al = addLo(ah, al, Math.floor(len / 4294967296) | 0, len | 0);
  ah = H;
  while (p + 8 <= len) {
    const kl = round0(read32(data, p + 4), read32(data, p));
    ah ^= H; al ^= kl;
    // acc = rotl(acc, 27) * P1 + P4
    const rh = (ah << 27) | (al >>> 5), rl = (al << 27) | (ah >>> 5);
    al = mulLo(rh, rl, P1H, P1L); ah = H;
    al = addLo(ah, al, P4H, P4L); ah = H;
    p += 8;
  }
  if (p + 4 <= len) {
    // acc ^= u32 * P1; acc = rotl(acc, 23) * P2 + P3
    const kl = mulLo(0, read32(data, p), P1H, P1L);
    ah ^= H; al ^= kl;
    const rh = (ah << 23) | (al >>> 9), rl = (al << 23) | (ah >>> 9);
    al = mulLo(rh, rl, P2H, P2L); ah = H;
    al = addLo(ah, al, P3H, P3L); ah = H;
    p += 4;
  }
  while (p < len) {
    // acc ^= byte * P5; acc = rotl(acc, 11) * P1
    const kl = mulLo(0, data[p]!, P5H, P5L);
    ah ^= H; al ^= kl;
    const rh = (ah << 11) | (al >>> 21), rl = (al << 11) | (ah >>> 21);
    al = mulLo(rh, rl, P1H, P1L); ah = H;
    p++;
  }
  // avalanche: ^= >>33; *= P2; ^= >>29; *= P3; ^= >>32
  al ^= ah >>> 1;
  al = mulLo(ah, al, P2H, P2L); ah = H;
  al ^= (al >>> 29) | (ah << 3); ah ^= ah >>> 29;
  al = mulLo(ah, al, P3H, P3L); ah = H;
  al ^= ah;
  return [ah >>> 0, al >>> 0];
}

/** XXH64 of `data` with `seed`, as an unsigned 64-bit bigint. */
export function xxh64(data: Uint8Array, seed: bigint = 0n): bigint {
  const [h, l] = xxh64Parts(data, seed);
  return (BigInt(h) << 32n) | BigInt(l);
}
