/**
 * zstd encoder (RFC 8878), written from the RFC: one frame with its content size (Single_Segment,
 * so the window is the whole content) and an optional XXH64 content checksum; raw, RLE and
 * compressed blocks of at most 128 KiB; literals raw, RLE or Huffman-coded (1 or 4 streams, the
 * tree's weights direct or FSE-coded); sequences with literal lengths, match lengths and offsets
 * each coded with the predefined FSE table, an RLE symbol or a custom table, whichever costs least;
 * repeat offsets. No dictionaries.
 *
 * Level 1 uses a single hash table probed greedily (skipping faster through data that does not
 * match); levels 2-3 a 5-byte and an 8-byte hash table, greedy; levels 4-9 rows of recent
 * positions per hash (tagged, longer rows with each level), and lazy matching (one or two positions
 * ahead).
 *
 * Every bitstream the decoder reads backwards is written forwards here with the symbols in reverse
 * order, so the last symbol written is the first one read.
 *
 * zstdCompressDestSize is the destination-size mode (for EROFS pclusters): the longest prefix whose
 * frame fits a capacity, the last block cut at a prefix of its sequences.
 */
import { LL_BASE, LL_DEFAULT, LL_EXTRA, ML_BASE, ML_DEFAULT, ML_EXTRA, OF_DEFAULT } from './zstd-tables.ts';
import { UnsupportedError } from '../errors.ts';
import { xxh64Parts } from './xxh64.ts';

export const ZSTD_MIN_LEVEL = 1;
export const ZSTD_MAX_LEVEL = 9;
export const ZSTD_DEFAULT_LEVEL = 3;

export interface ZstdEncodeOptions {
  /** 1 (fastest) to 9 (smallest); default 3 */
  level?: number;
  /** append the low 32 bits of XXH64(content) (Content_Checksum); default false */
  checksum?: boolean;
}

const MAGIC = 0xfd2fb528;
const BLOCK_MAX = 128 << 10;

const LL_MAX_LOG = 9, ML_MAX_LOG = 9, OF_MAX_LOG = 8;
const HUF_MAX_BITS = 11;

const LL_CODE_SMALL = new Uint8Array(64);
const ML_CODE_SMALL = new Uint8Array(128);
for (let c = 0; c < LL_BASE.length; c++) for (let v = LL_BASE[c]!; v < 64 && v < LL_BASE[c]! + (1 << LL_EXTRA[c]!); v++) LL_CODE_SMALL[v] = c;
for (let c = 0; c < ML_BASE.length; c++) for (let v = ML_BASE[c]! - 3; v < 128 && v < ML_BASE[c]! - 3 + (1 << ML_EXTRA[c]!); v++) ML_CODE_SMALL[v] = c;
// module-local typed copies for the sequence loop: there an imported binding read through tsx's
// module interop is a getter call per access (10% of level-1 time in a node --cpu-prof profile)
const LLB = Int32Array.from(LL_BASE), LLX = Uint8Array.from(LL_EXTRA), MLB = Int32Array.from(ML_BASE), MLX = Uint8Array.from(ML_EXTRA);

function highbit(v: number): number {
  return 31 - Math.clz32(v);
}
/** Little-endian bit writer: bits fill each byte from its lowest bit. */
class BitOut {
  acc = 0;
  n = 0;
  constructor(readonly buf: Uint8Array, public pos: number) {}
  /** v < 2^nb, nb <= 24 */
  add(v: number, nb: number): void {
    this.acc |= v << this.n;
    this.n += nb;
    while (this.n >= 8) {
      this.buf[this.pos++] = this.acc & 255;
      this.acc >>>= 8;
      this.n -= 8;
    }
  }
  /** pad to a byte (forward streams such as table descriptions) */
  flushBytes(): number {
    if (this.n > 0) this.buf[this.pos++] = this.acc & 255;
    this.acc = 0;
    this.n = 0;
    return this.pos;
  }
  /** end a backward-read stream: a 1 bit marks where the data ends */
  close(): number {
    this.add(1, 1);
    return this.flushBytes();
  }
}

// ---------------------------------------------------------------------------------------------
// FSE (§4.1)

/** Encoding view of an FSE table (the decoder's table of §4.1.1, walked backwards). */
interface FseCTable {
  log: number;
  /** per symbol: bits to emit when the state is at or above thr, one fewer below */
  nb0: Int32Array;
  thr: Int32Array;
  /** per symbol: (nb0 << 16) - thr, so the bits to emit from state y are (y + delta) >> 16 without a compare */
  delta: Int32Array;
  /** per symbol: index into next of the symbol's first decoder state, minus its count */
  startOff: Int32Array;
  /** decoder state + tableSize, per symbol in the order of their nextState values */
  next: Int32Array;
}

/** Arrays for an FSE table of up to `syms` symbols and 2^maxLog states, filled by buildCTable. */
function newCTable(syms: number, maxLog: number): FseCTable {
  const n = syms + 1;
  return { log: 0, nb0: new Int32Array(n), thr: new Int32Array(n), startOff: new Int32Array(n), next: new Int32Array(1 << maxLog), delta: new Int32Array(n) };
}

// buildCTable's work arrays. The tables it fills are made once too (newCTable): with a `new` inside
// it, buildCTable (always inlined into writeLiterals and writeSequences, so rarely run by the
// interpreter) had no feedback for the construct, and the optimized caller deopted on it once per
// block: 152 deopts in 6 level-3 calls on 8 MiB (--trace-deopt-verbose), each block's rest then
// interpreted.
const ctSymbolAt = new Uint8Array(1 << Math.max(LL_MAX_LOG, ML_MAX_LOG, OF_MAX_LOG));
const ctCum = new Int32Array(64);

/** Fill `t` with the encoding table of a normalized distribution (values up to maxSym, 1 << log states). */
function buildCTable(norm: ArrayLike<number>, maxSym: number, log: number, t: FseCTable): FseCTable {
  const size = 1 << log, mask = size - 1;
  const symbolAt = ctSymbolAt, cum = ctCum;
  const { nb0, thr, startOff, next, delta } = t;
  let high = size - 1;
  for (let s = 0; s <= maxSym; s++) if (norm[s] === -1) symbolAt[high--] = s;
  const step = (size >> 1) + (size >> 3) + 3;
  let pos = 0;
  for (let s = 0; s <= maxSym; s++) {
    const n = norm[s]!;
    for (let i = 0; i < n; i++) {
      symbolAt[pos] = s;
      do pos = (pos + step) & mask; while (pos > high);
    }
  }
  cum[0] = 0;
  for (let s = 0; s <= maxSym; s++) {
    const c = norm[s] === -1 ? 1 : norm[s]!;
    cum[s + 1] = cum[s]! + c;
    if (c > 0) {
      nb0[s] = log - highbit(c);
      thr[s] = c << nb0[s]!;
      startOff[s] = cum[s]! - c;
      delta[s] = (nb0[s]! << 16) - thr[s]!;
    }
  }
  // cum becomes each symbol's next free slot in `next`
  for (let u = 0; u < size; u++) next[cum[symbolAt[u]!]!++] = u + size;
  t.log = log;
  return t;
}

/** A state (decoder state + tableSize) that decodes `s`, with the most bits to read after it. */
function initState(t: FseCTable, s: number): number {
  return t.next[t.startOff[s]! + (t.thr[s]! >> t.nb0[s]!)]!;
}

const PREDEF_LL = buildCTable(LL_DEFAULT, 35, 6, newCTable(35, 6));
const PREDEF_ML = buildCTable(ML_DEFAULT, 52, 6, newCTable(52, 6));
const PREDEF_OF = buildCTable(OF_DEFAULT, 28, 5, newCTable(28, 5));
/** the tables of the block being written: literal lengths, offsets, match lengths, Huffman weights */
const CT_LL = newCTable(35, LL_MAX_LOG), CT_OF = newCTable(31, OF_MAX_LOG), CT_ML = newCTable(52, ML_MAX_LOG), CT_W = newCTable(12, 6);

/** Normalize counts to sum 1 << log, each present symbol at least 1; null when impossible. */
function normalize(count: Int32Array, maxSym: number, total: number, log: number): Int32Array | null {
  const size = 1 << log;
  const norm = new Int32Array(maxSym + 1);
  let sum = 0, largest = -1, present = 0;
  for (let s = 0; s <= maxSym; s++) {
    const c = count[s]!;
    if (c === 0) continue;
    present++;
    const n = Math.max(1, Math.round((c * size) / total));
    norm[s] = n;
    sum += n;
    if (largest < 0 || c > count[largest]!) largest = s;
  }
  if (present > size || largest < 0) return null;
  if (norm[largest]! + size - sum >= 1) {
    norm[largest] = norm[largest]! + size - sum;
    return norm;
  }
  while (sum > size) {
    let best = -1;
    for (let s = 0; s <= maxSym; s++) if (norm[s]! > 1 && (best < 0 || norm[s]! > norm[best]!)) best = s;
    if (best < 0) return null;
    norm[best] = norm[best]! - 1;
    sum--;
  }
  return norm;
}

/** FSE table description (§4.1.1); returns the new position. */
function writeFseDesc(out: Uint8Array, pos: number, norm: ArrayLike<number>, log: number): number {
  const bw = new BitOut(out, pos);
  bw.add(log - 5, 4);
  let remaining = (1 << log) + 1, threshold = 1 << log, nbBits = log + 1;
  let s = 0, prev0 = false;
  while (remaining > 1) {
    if (prev0) {
      const start = s;
      while (norm[s] === 0) s++;
      let n = s - start;
      while (n >= 3) {
        bw.add(3, 2);
        n -= 3;
      }
      bw.add(n, 2);
    }
    const c = norm[s++]!;
    const value = c + 1;
    const max = 2 * threshold - 1 - remaining;
    remaining -= c < 0 ? -c : c;
    if (value < max) bw.add(value, nbBits - 1);
    else if (value >= threshold) bw.add(value + max, nbBits);
    else bw.add(value, nbBits);
    prev0 = c === 0;
    while (remaining < threshold) {
      nbBits--;
      threshold >>= 1;
    }
  }
  return bw.flushBytes();
}

/** Table log for `total` symbols with values up to maxSym (at most maxLog). */
function tableLog(total: number, maxSym: number, maxLog: number): number {
  let log = maxLog;
  const bySize = highbit(total - 1) - 2;
  if (bySize < log) log = bySize;
  const minBits = Math.min(highbit(total) + 1, highbit(maxSym) + 2);
  if (minBits > log) log = minBits;
  return Math.max(5, Math.min(log, maxLog));
}

/** Bits to code `count` with a table normalized to `norm` (log) ; Infinity when a symbol is missing. */
function tableCost(count: Int32Array, maxSym: number, norm: ArrayLike<number>, log: number): number {
  let bits = 0;
  for (let s = 0; s <= maxSym; s++) {
    const c = count[s]!;
    if (c === 0) continue;
    const n = s < norm.length ? norm[s]! : 0;
    if (n === 0) return Infinity;
    bits += c * (log - Math.log2(n < 0 ? 1 : n));
  }
  return bits;
}

// ---------------------------------------------------------------------------------------------
// Huffman literals (§4.2)

/** Code lengths (0 = absent) limited to HUF_MAX_BITS, forming a complete prefix code. */
function huffLengths(count: Int32Array, maxSym: number): Uint8Array {
  const len = new Uint8Array(maxSym + 1);
  // symbols by count, then by value: one numeric typed-array sort of count * 256 + symbol (a
  // comparator sort was 8% of encoding 16 KiB pieces, with the closure it needed)
  let m = 0;
  for (let s = 0; s <= maxSym; s++) if (count[s]! > 0) m++;
  const keys = new Float64Array(m);
  for (let s = 0, k = 0; s <= maxSym; s++) if (count[s]! > 0) keys[k++] = count[s]! * 256 + s;
  keys.sort();
  const syms = new Int32Array(m);
  for (let i = 0; i < m; i++) syms[i] = keys[i]! % 256;
  const weight = new Float64Array(2 * m), parent = new Int32Array(2 * m);
  for (let i = 0; i < m; i++) weight[i] = count[syms[i]!]!;
  let leaf = 0, inner = m;
  for (let next = m; next < 2 * m - 1; next++) {
    // the two lightest of the leaves and the inner nodes made so far (leaves first on ties)
    const a = leaf < m && (inner >= next || weight[leaf]! <= weight[inner]!) ? leaf++ : inner++;
    const b = leaf < m && (inner >= next || weight[leaf]! <= weight[inner]!) ? leaf++ : inner++;
    parent[a] = next;
    parent[b] = next;
    weight[next] = weight[a]! + weight[b]!;
  }
  const depth = new Uint8Array(2 * m);
  for (let k = 2 * m - 3; k >= 0; k--) depth[k] = depth[parent[k]!]! + 1;
  // limit to HUF_MAX_BITS, then make the code complete again (kraft in units of 2^-HUF_MAX_BITS)
  const full = 1 << HUF_MAX_BITS;
  let kraft = 0;
  for (let i = 0; i < m; i++) {
    const l = Math.min(depth[i]!, HUF_MAX_BITS);
    len[syms[i]!] = l;
    kraft += 1 << (HUF_MAX_BITS - l);
  }
  while (kraft > full) {
    // lengthen the rarest of the longest codes still below the limit
    let best = -1;
    for (let i = 0; i < m; i++) {
      const l = len[syms[i]!]!;
      if (l < HUF_MAX_BITS && (best < 0 || l > len[syms[best]!]!)) best = i;
    }
    const s = syms[best]!;
    kraft -= 1 << (HUF_MAX_BITS - len[s]! - 1);
    len[s]!++;
  }
  while (kraft < full) {
    const room = full - kraft;
    let best = -1;
    for (let i = m - 1; i >= 0; i--) {
      const l = len[syms[i]!]!;
      if (l >= 2 && 1 << (HUF_MAX_BITS - l) <= room && (best < 0 || l > len[syms[best]!]!)) best = i;
    }
    const s = syms[best]!;
    kraft += 1 << (HUF_MAX_BITS - len[s]!);
    len[s]!--;
  }
  return len;
}

/** Canonical codes (§4.2.1): longest codes first from 0, symbols in order within a length. */
function huffCodes(len: Uint8Array, maxLen: number): Uint16Array {
  const code = new Uint16Array(len.length);
  let c = 0;
  for (let l = maxLen; l >= 1; l--) {
    for (let s = 0; s < len.length; s++) if (len[s] === l) code[s] = c++;
    c >>= 1;
  }
  return code;
}

/** FSE-compressed Huffman weights (§4.2.1.2); returns bytes written, or -1 if not worth it. */
function writeWeightsFse(w: Uint8Array, n: number, out: Uint8Array, pos: number): number {
  const count = new Int32Array(13);
  let maxW = 0;
  for (let i = 0; i < n; i++) {
    count[w[i]!]!++;
    if (w[i]! > maxW) maxW = w[i]!;
  }
  const log = 6;
  let norm: Int32Array | null;
  let distinct = 0;
  for (let s = 0; s <= maxW; s++) if (count[s]! > 0) distinct++;
  if (distinct === 1) {
    // one value: add an unused second symbol, so the last states read bits (the decoder stops there)
    norm = new Int32Array(Math.max(maxW, 1) + 1);
    norm[maxW] = (1 << log) - 1;
    norm[maxW === 0 ? 1 : maxW - 1] = 1;
  } else norm = normalize(count, maxW, n, log);
  if (!norm) return -1;
  const start = pos;
  pos = writeFseDesc(out, pos, norm, log);
  const t = buildCTable(norm, norm.length - 1, log, CT_W);
  const bw = new BitOut(out, pos);
  const st = [0, 0];
  st[(n - 1) & 1] = initState(t, w[n - 1]!);
  st[(n - 2) & 1] = initState(t, w[n - 2]!);
  const { nb0, thr, startOff, next } = t;
  for (let i = n - 3; i >= 0; i--) {
    const s = w[i]!, y = st[i & 1]!;
    const nb = nb0[s]! - (y < thr[s]! ? 1 : 0);
    bw.add(y & ((1 << nb) - 1), nb);
    st[i & 1] = next[startOff[s]! + (y >> nb)]!;
  }
  bw.add(st[1]! - (1 << log), log);
  bw.add(st[0]! - (1 << log), log);
  return bw.close() - start;
}

/**
 * One Huffman stream of lits[from..to), last literal first. `odv` views `out`, which has room for a
 * 4-byte store past the stream's end. The bit writer is inline and flushes without a loop, as in
 * writeSequences; its end too (a BitOut there was code the first, on-stack-replaced call had not
 * reached: 146-257 deopts per 12 calls, --trace-deopt).
 */
function writeHuffStream(lits: Uint8Array, from: number, to: number, code: Uint16Array, len: Uint8Array, odv: DataView, pos: number): number {
  // two codes (at most 22 bits) go in between flushes, so acc holds at most 29
  let acc = 0, n = 0, i = to - 1;
  for (; i > from; i -= 2) {
    const a = lits[i]!, b = lits[i - 1]!;
    acc |= code[a]! << n;
    n += len[a]!;
    acc |= code[b]! << n;
    n += len[b]!;
    odv.setInt32(pos, acc, true); pos += n >> 3; acc >>>= n & 24; n &= 7;
  }
  if (i === from) {
    acc |= code[lits[i]!]! << n;
    n += len[lits[i]!]!;
  }
  // end mark
  acc |= 1 << n;
  n++;
  odv.setInt32(pos, acc, true);
  return pos + ((n + 7) >> 3);
}

function writeRawLiteralsHeader(out: Uint8Array, pos: number, type: number, n: number): number {
  if (n < 32) out[pos++] = type | (n << 3);
  else if (n < 4096) {
    out[pos++] = type | (1 << 2) | ((n & 15) << 4);
    out[pos++] = n >> 4;
  } else {
    out[pos++] = type | (3 << 2) | ((n & 15) << 4);
    out[pos++] = (n >> 4) & 255;
    out[pos++] = n >> 12;
  }
  return pos;
}

/**
 * Histogram of lits[0..n). A function of its own so writeLiterals has no long loop: when that loop
 * was in it, the first call was replaced on stack inside it, and the code after the loop (no type
 * feedback yet) deopted once per block: 28 deopts in 6 level-3 calls on 8 MiB (--trace-deopt).
 */
function countBytes(lits: Uint8Array, n: number): Int32Array {
  // four histograms, summed at the end: with one, each increment waits for the previous one to the
  // same count (runs of one byte value are common in literals). 128 KiB blocks of /usr/bin/bash,
  // bundled, node 20: 955-998 MB/s against 555-564 MB/s with one (best of 5, 4 rounds)
  const c4 = countWork.fill(0);
  let i = 0;
  for (; i + 3 < n; i += 4) {
    c4[lits[i]!]!++;
    c4[256 + lits[i + 1]!]!++;
    c4[512 + lits[i + 2]!]!++;
    c4[768 + lits[i + 3]!]!++;
  }
  for (; i < n; i++) c4[lits[i]!]!++;
  const count = new Int32Array(256);
  for (let s = 0; s < 256; s++) count[s] = c4[s]! + c4[256 + s]! + c4[512 + s]! + c4[768 + s]!;
  return count;
}
const countWork = new Int32Array(1024);

/** Literals section (§3.1.1.3.1); returns the new position. */
function writeLiterals(lits: Uint8Array, n: number, out: Uint8Array, pos: number, scratch: Uint8Array): number {
  if (n === 0) return writeRawLiteralsHeader(out, pos, 0, 0);
  const count = countBytes(lits, n);
  let maxSym = 0, distinct = 0;
  for (let s = 0; s < 256; s++) if (count[s]! > 0) { maxSym = s; distinct++; }
  if (distinct === 1) {
    pos = writeRawLiteralsHeader(out, pos, 1, n);
    out[pos++] = lits[0]!;
    return pos;
  }
  const raw = () => {
    pos = writeRawLiteralsHeader(out, pos, 0, n);
    out.set(lits.subarray(0, n), pos);
    return pos + n;
  };
  if (n < 64) return raw();
  const len = huffLengths(count, maxSym);
  let maxLen = 0, bits = 0;
  for (let s = 0; s <= maxSym; s++) {
    if (len[s]! > maxLen) maxLen = len[s]!;
    bits += count[s]! * len[s]!;
  }
  if (bits / 8 + 20 >= n) return raw();
  const code = huffCodes(len, maxLen);
  // tree description into scratch: weights of symbols 0..maxSym-1, the last one is implied
  const w = new Uint8Array(maxSym);
  for (let s = 0; s < maxSym; s++) w[s] = len[s] ? maxLen + 1 - len[s]! : 0;
  let q = 0;
  const fseSize = maxSym >= 2 ? writeWeightsFse(w, maxSym, scratch, 1) : -1;
  const directSize = maxSym <= 128 ? 1 + ((maxSym + 1) >> 1) : Infinity;
  if (fseSize > 0 && fseSize < 128 && fseSize + 1 < directSize) {
    scratch[0] = fseSize;
    q = fseSize + 1;
  } else if (directSize !== Infinity) {
    scratch[0] = 127 + maxSym;
    q = 1;
    for (let i = 0; i < maxSym; i += 2) scratch[q++] = (w[i]! << 4) | (i + 1 < maxSym ? w[i + 1]! : 0);
  } else return raw();
  const single = n <= 255;
  const hdr = single || n <= 1023 ? 3 : n <= 16383 ? 4 : 5;
  const start = pos;
  let p = pos + hdr;
  out.set(scratch.subarray(0, q), p);
  p += q;
  const odv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  if (single) p = writeHuffStream(lits, 0, n, code, len, odv, p);
  else {
    const seg = (n + 3) >> 2;
    const jump = p;
    p += 6;
    for (let k = 0; k < 4; k++) {
      const before = p;
      p = writeHuffStream(lits, k * seg, Math.min(n, (k + 1) * seg), code, len, odv, p);
      if (k < 3) {
        const sz = p - before;
        if (sz > 0xffff) return raw();
        out[jump + 2 * k] = sz & 255;
        out[jump + 2 * k + 1] = sz >> 8;
      }
    }
  }
  const comp = p - start - hdr;
  if (comp >= n) {
    pos = start;
    return raw();
  }
  const sf = single ? 0 : hdr === 3 ? 1 : hdr === 4 ? 2 : 3;
  if (hdr === 3) {
    const v = 2 | (sf << 2) | (n << 4) | (comp << 14);
    out[start] = v & 255;
    out[start + 1] = (v >>> 8) & 255;
    out[start + 2] = (v >>> 16) & 255;
  } else if (hdr === 4) {
    const v = (2 | (sf << 2) | (n << 4)) + comp * 2 ** 18;
    for (let i = 0; i < 4; i++) out[start + i] = Math.floor(v / 2 ** (8 * i)) & 255;
  } else {
    const v = (2 | (sf << 2) | (n << 4)) + comp * 2 ** 22;
    for (let i = 0; i < 5; i++) out[start + i] = Math.floor(v / 2 ** (8 * i)) & 255;
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Sequences (§3.1.1.3.2)

interface SeqBuf {
  n: number;
  ll: Int32Array;
  ml: Int32Array;
  /** Offset_Value: 1-3 repeat offsets, else offset + 3 */
  ofv: Int32Array;
  lits: Uint8Array;
  /** views lits, which has 8 bytes of room past BLOCK_MAX for emit's 4-byte copies */
  litsDv: DataView;
  nLits: number;
  /** the codes of ll, ml and ofv, and how often each occurs in the block */
  llc: Uint8Array;
  mlc: Uint8Array;
  ofc: Uint8Array;
  llCount: Int32Array;
  mlCount: Int32Array;
  ofCount: Int32Array;
}

interface Choice { mode: number; table: FseCTable; desc: Uint8Array | null; rle: number }

function chooseTable(count: Int32Array, n: number, maxCode: number, predef: FseCTable, predefNorm: number[], predefLog: number, maxLog: number, into: FseCTable): Choice {
  let maxSym = 0, distinct = 0;
  for (let s = 0; s <= maxCode; s++) if (count[s]! > 0) { maxSym = s; distinct++; }
  if (distinct === 1 && n > 2) {
    // RLE mode: a one-state table that reads no bits
    const one = new Int32Array(maxSym + 1);
    one[maxSym] = 1;
    return { mode: 1, table: buildCTable(one, maxSym, 0, into), desc: null, rle: maxSym };
  }
  const predefCost = tableCost(count, maxSym, predefNorm, predefLog);
  const log = tableLog(n, maxSym, maxLog);
  const norm = normalize(count, maxSym, n, log);
  if (norm) {
    const tmp = new Uint8Array(512);
    const size = writeFseDesc(tmp, 0, norm, log);
    const cost = tableCost(count, maxSym, norm, log) + size * 8;
    if (cost < predefCost) return { mode: 2, table: buildCTable(norm, maxSym, log, into), desc: tmp.slice(0, size), rle: 0 };
  }
  if (predefCost === Infinity) throw new Error('zstd encoder: no table for the sequence codes');
  return { mode: 0, table: predef, desc: null, rle: 0 };
}

function writeSequences(seq: SeqBuf, out: Uint8Array, pos: number): number {
  const n = seq.n;
  if (n < 128) out[pos++] = n;
  else if (n < 0x7f00) {
    out[pos++] = (n >> 8) + 128;
    out[pos++] = n & 255;
  } else {
    out[pos++] = 255;
    out[pos++] = (n - 0x7f00) & 255;
    out[pos++] = (n - 0x7f00) >> 8;
  }
  if (n === 0) return pos;
  const { ll, ml, ofv, llc, mlc, ofc } = seq;
  const cl = chooseTable(seq.llCount, n, 35, PREDEF_LL, LL_DEFAULT, 6, LL_MAX_LOG, CT_LL);
  const co = chooseTable(seq.ofCount, n, 31, PREDEF_OF, OF_DEFAULT, 5, OF_MAX_LOG, CT_OF);
  const cm = chooseTable(seq.mlCount, n, 52, PREDEF_ML, ML_DEFAULT, 6, ML_MAX_LOG, CT_ML);
  out[pos++] = (cl.mode << 6) | (co.mode << 4) | (cm.mode << 2);
  for (const c of [cl, co, cm]) {
    if (c.mode === 1) out[pos++] = c.rle;
    else if (c.desc) {
      out.set(c.desc, pos);
      pos += c.desc.length;
    }
  }
  const tl = cl.table, to = co.table, tm = cm.table;
  const lDelta = tl.delta, lStart = tl.startOff, lNext = tl.next;
  const mDelta = tm.delta, mStart = tm.startOff, mNext = tm.next;
  const oDelta = to.delta, oStart = to.startOff, oNext = to.next;
  // The bit writer on locals, flushed without a loop or a branch: a 32-bit store of the
  // accumulator, then its whole bytes dropped (out has room past the end for the store). Between
  // flushes at most 24 bits go in, so acc never holds more than 31. Byte-loop flushes
  // (while (nbits >= 8)) were 60 ns per sequence, measured in the level-1 split.
  const odv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let acc = 0, nbits = 0, p = pos;
  let i = n - 1;
  let yl = initState(tl, llc[i]!), yo = initState(to, ofc[i]!), ym = initState(tm, mlc[i]!);
  for (;;) {
    const lc = llc[i]!, mc = mlc[i]!, oc = ofc[i]!;
    acc |= (ll[i]! - LLB[lc]!) << nbits;
    nbits += LLX[lc]!;
    odv.setInt32(p, acc, true); p += nbits >> 3; acc >>>= nbits & 24; nbits &= 7;
    acc |= (ml[i]! - MLB[mc]!) << nbits;
    nbits += MLX[mc]!;
    odv.setInt32(p, acc, true); p += nbits >> 3; acc >>>= nbits & 24; nbits &= 7;
    let extra = ofv[i]! - (1 << oc), eb = oc;
    if (eb > 24) {
      acc |= (extra & 0xffff) << nbits;
      nbits += 16;
      odv.setInt32(p, acc, true); p += nbits >> 3; acc >>>= nbits & 24; nbits &= 7;
      extra >>>= 16;
      eb -= 16;
    }
    acc |= extra << nbits;
    nbits += eb;
    odv.setInt32(p, acc, true); p += nbits >> 3; acc >>>= nbits & 24; nbits &= 7;
    if (--i < 0) break;
    // states: offset (<= 8 bits) and match length (<= 9) together, then literal length (<= 9)
    let s = ofc[i]!, nb = (yo + oDelta[s]!) >> 16;
    acc |= (yo & ((1 << nb) - 1)) << nbits;
    nbits += nb;
    yo = oNext[oStart[s]! + (yo >> nb)]!;
    s = mlc[i]!;
    nb = (ym + mDelta[s]!) >> 16;
    acc |= (ym & ((1 << nb) - 1)) << nbits;
    nbits += nb;
    ym = mNext[mStart[s]! + (ym >> nb)]!;
    odv.setInt32(p, acc, true); p += nbits >> 3; acc >>>= nbits & 24; nbits &= 7;
    s = llc[i]!;
    nb = (yl + lDelta[s]!) >> 16;
    acc |= (yl & ((1 << nb) - 1)) << nbits;
    nbits += nb;
    yl = lNext[lStart[s]! + (yl >> nb)]!;
    odv.setInt32(p, acc, true); p += nbits >> 3; acc >>>= nbits & 24; nbits &= 7;
  }
  // the initial states (<= 27 bits with acc's <= 7) and the end mark, written here rather than
  // with a BitOut: code after the loop that the first (on-stack-replaced) call never reached
  // had no type feedback, and that optimized code deopted there once per block
  acc |= (ym - (1 << tm.log)) << nbits;
  nbits += tm.log;
  acc |= (yo - (1 << to.log)) << nbits;
  nbits += to.log;
  odv.setInt32(p, acc, true); p += nbits >> 3; acc >>>= nbits & 24; nbits &= 7;
  acc |= (yl - (1 << tl.log)) << nbits;
  nbits += tl.log;
  acc |= 1 << nbits;
  nbits++;
  odv.setInt32(p, acc, true);
  return p + ((nbits + 7) >> 3);
}

// ---------------------------------------------------------------------------------------------
// Match finding

interface Params {
  /** 0: single hash table, greedy; 1: rows of recent positions per hash, lazy; 2: a 5-byte and an 8-byte hash table, greedy */
  strategy: 0 | 1 | 2;
  /** log2 entries of the (short) hash table; strategy 1: of all rows' entries together */
  hashLog: number;
  /** the 8-byte hash table (strategy 2), log2 entries; unused otherwise */
  chainLog: number;
  /** strategy 1: entries per row (a power of 2), so at most depth - 1 candidates per search */
  depth: number;
  /** positions looked ahead for a better match (0-2) */
  lazy: number;
  /** literals run length (log2) after which the fast finder skips further ahead */
  skipLog: number;
}

const LEVELS: Params[] = [
  { strategy: 0, hashLog: 15, chainLog: 0, depth: 1, lazy: 0, skipLog: 5 },
  // 1: 2^15 entries (was 2^16; zstd -1 has 2^14): 10-25% faster for 2.4% more output on the bench
  // corpus, still 0.957x zstd -1's size there
  { strategy: 0, hashLog: 15, chainLog: 0, depth: 1, lazy: 0, skipLog: 5 }, // 1
  { strategy: 2, hashLog: 16, chainLog: 16, depth: 1, lazy: 0, skipLog: 6 }, // 2
  // 3: a 2^15-entry short table (zstd -3 has 2^16): a line-level profile put 28% of the time on the
  // table and candidate loads (cache misses); half the short table was 5-10% faster for 0.3% more
  // output on the 8 MiB bench corpus and on 4 MiB of text. A 2^16-entry long table was tried on
  // RAFS' 1 MiB chunks of 67 MB of /usr/bin: 0.85 s CPU against 0.92-1.02 s at load 12-15, but
  // 0.79-0.84 s against 0.81-0.85 s with the runs given priority (own autogroup, nice -20): the
  // gain was other processes' cache pressure, not worth its 0.5% more output.
  // Variants on those chunks, rotated chunk by chunk in one process (the first to run on a chunk
  // pays its cache misses; CPU time, own autogroup nice -20, load 8.5-9.5), sizes against zstd -3
  // on /usr/bin / an 8 MiB tar of /usr/bin and /usr/lib / 8 MiB of /usr/share/doc and
  // /usr/include text: this one 77.9 MB/CPU-s, 1.010/1.008/1.002x. That is ~170 ns per sequence
  // (4.9M of them, 13.6 bytes apart, 29% literals), and no table shape moves it much: long table
  // 2^16 79.7 (+2%; 1.015/1.015/1.003x); tables 2^14/2^16 81.1 (+4%; 1.022x on /usr/bin); skipLog
  // 5 78.0 (+0%; 1.017/1.010/1.021x); skipLog 4 about +7% for 1.046/1.023/1.038x; one table of
  // 2-entry buckets per 5-byte hash (2^16 entries, one load per position where this makes two;
  // skipLog 6) 82.4 (+6%; 1.015/1.037/1.006x: the tar loses the long table's matches); no
  // short-table inserts after a match: 2.4x slower on the text (its matches come later)
  { strategy: 2, hashLog: 15, chainLog: 17, depth: 1, lazy: 0, skipLog: 7 }, // 3
  // 4-9: rows of `depth` entries, 2^hashLog entries in all
  { strategy: 1, hashLog: 17, chainLog: 0, depth: 4, lazy: 1, skipLog: 8 }, // 4
  { strategy: 1, hashLog: 17, chainLog: 0, depth: 16, lazy: 1, skipLog: 8 }, // 5
  { strategy: 1, hashLog: 18, chainLog: 0, depth: 16, lazy: 2, skipLog: 8 }, // 6
  { strategy: 1, hashLog: 18, chainLog: 0, depth: 32, lazy: 2, skipLog: 8 }, // 7
  { strategy: 1, hashLog: 19, chainLog: 0, depth: 32, lazy: 2, skipLog: 8 }, // 8
  { strategy: 1, hashLog: 20, chainLog: 0, depth: 32, lazy: 2, skipLog: 8 }, // 9
];

interface MatchState {
  p: Params;
  /** the whole input */
  dv: DataView;
  head: Int32Array;
  chain: Int32Array;
  /** strategy 1: a tag per entry of head, and each row's newest slot */
  tags: Uint8Array;
  rowHead: Uint8Array;
  /** next position to enter in the rows (strategy 1) */
  ins: number;
  rep1: number;
  rep2: number;
  rep3: number;
}

/** 4 bytes little-endian (DataView reads measured 10-20% faster here than four byte loads) */
function read32(dv: DataView, i: number): number {
  return dv.getInt32(i, true);
}

/** Bytes equal at a and b, b < a, up to `end` for a. */
function matchLen(b: Uint8Array, a: number, m: number, end: number, dv: DataView): number {
  const start = a;
  while (a + 4 <= end && read32(dv, a) === read32(dv, m)) {
    a += 4;
    m += 4;
  }
  while (a < end && b[a] === b[m]) {
    a++;
    m++;
  }
  return a - start;
}

function emit(st: MatchState, seq: SeqBuf, src: Uint8Array, anchor: number, litLen: number, off: number, ml: number): void {
  const lits = seq.lits;
  const o = seq.nLits;
  // long runs by set(): a byte loop there was a quarter of emit's time (node --cpu-prof line ticks);
  // short ones 4 bytes at a time, past the run's end: the finders call emit at least 4 bytes
  // before src ends (they stop 4-8 bytes short of it), and lits has 8 bytes of room past a block
  if (litLen > 32) lits.set(src.subarray(anchor, anchor + litLen), o);
  else {
    const ld = seq.litsDv, sd = st.dv;
    for (let i = 0; i < litLen; i += 4) ld.setInt32(o + i, sd.getInt32(anchor + i, true), true);
  }
  seq.nLits = o + litLen;
  let v: number;
  if (litLen !== 0) v = off === st.rep1 ? 1 : off === st.rep2 ? 2 : off === st.rep3 ? 3 : off + 3;
  else v = off === st.rep2 ? 1 : off === st.rep3 ? 2 : off === st.rep1 - 1 ? 3 : off + 3;
  const k = v > 3 ? 3 : v - 1 + (litLen === 0 ? 1 : 0);
  if (k === 1) {
    st.rep2 = st.rep1;
    st.rep1 = off;
  } else if (k >= 2) {
    st.rep3 = st.rep2;
    st.rep2 = st.rep1;
    st.rep1 = off;
  }
  const i = seq.n++;
  seq.ll[i] = litLen;
  seq.ml[i] = ml;
  seq.ofv[i] = v;
  // the codes and their histograms here, not in a pass of their own over the block's sequences
  const lc = litLen < 64 ? LL_CODE_SMALL[litLen]! : highbit(litLen) + 19;
  const mb = ml - 3, mc = mb < 128 ? ML_CODE_SMALL[mb]! : highbit(mb) + 36;
  const oc = 31 - Math.clz32(v);
  seq.llc[i] = lc;
  seq.mlc[i] = mc;
  seq.ofc[i] = oc;
  seq.llCount[lc]!++;
  seq.mlCount[mc]!++;
  seq.ofCount[oc]!++;
}

const HASH_MUL = 0x9e3779b1 | 0;

/** Level 1: one hash table of the latest position per 4-byte hash, greedy. */
function parseFast(st: MatchState, src: Uint8Array, start: number, end: number, seq: SeqBuf): number {
  const dv = st.dv;
  const { head } = st;
  const shift = 32 - st.p.hashLog, skipLog = st.p.skipLog, tagShift = shift - 8;
  // tagged entries as in parseDouble (8 hash bits above a 24-bit position) up to 16 MiB
  const tagged = src.length <= 1 << 24;
  const hi = tagged ? 0xff000000 | 0 : 0, pos = tagged ? 0xffffff : -1;
  const limit = end - 8;
  let ip = start, anchor = start;
  while (ip < limit) {
    // repeat offset one byte ahead
    const r = st.rep1;
    if (ip + 1 - r >= 0 && read32(dv, ip + 1) === read32(dv, ip + 1 - r)) {
      const ml = 4 + matchLen(src, ip + 5, ip + 5 - r, end, dv);
      const m = mix6(dv, ip);
      head[m >>> shift] = ip | ((m >>> tagShift) << 24 & hi);
      emit(st, seq, src, anchor, ip + 1 - anchor, r, ml);
      ip += 1 + ml;
      anchor = ip;
      continue;
    }
    const v = read32(dv, ip), w = dv.getUint16(ip + 4, true);
    const m = Math.imul(Math.imul(v, HASH_MUL) ^ w, 0x85ebca77), h = m >>> shift, want = (m >>> tagShift) << 24 & hi;
    const e = head[h]!;
    head[h] = ip | want;
    let cand = e & pos;
    if (((e ^ want) & hi) === 0 && cand >= 0 && cand < ip && read32(dv, cand) === v && dv.getUint16(cand + 4, true) === w) {
      let ml = 6 + matchLen(src, ip + 6, cand + 6, end, dv);
      while (ip > anchor && cand > 0 && src[ip - 1] === src[cand - 1]) {
        ip--;
        cand--;
        ml++;
      }
      emit(st, seq, src, anchor, ip - anchor, ip - cand, ml);
      ip += ml;
      anchor = ip;
      if (ip - 2 < limit) {
        const m2 = mix6(dv, ip - 2);
        head[m2 >>> shift] = (ip - 2) | ((m2 >>> tagShift) << 24 & hi);
      }
    } else ip += 1 + ((ip - anchor) >> skipLog);
  }
  return anchor;
}

function mix6(dv: DataView, i: number): number {
  return Math.imul(Math.imul(read32(dv, i), HASH_MUL) ^ dv.getUint16(i + 4, true), 0x85ebca77);
}

/** the 32-bit mixes whose top bits index the 5-byte and 8-byte tables (the next 8 bits are tags) */
function mix5(dv: DataView, i: number): number {
  return Math.imul(Math.imul(read32(dv, i), HASH_MUL) ^ dv.getUint8(i + 4), 0x85ebca77);
}
function mix8(dv: DataView, i: number): number {
  return Math.imul(Math.imul(read32(dv, i), HASH_MUL) ^ read32(dv, i + 4), 0x85ebca77);
}

/**
 * Levels 2-3: greedy over two hash tables, the latest position per 8-byte hash (`chain` holds it) and
 * per 5-byte hash; a long match is preferred, also one byte further on.
 *
 * When the input is at most 16 MiB, an entry is its position (24 bits) with 8 more bits of its
 * hash above: a candidate whose bits differ is passed over without reading the input there. Most
 * probes find no match, and that read was a cache miss: a line-level profile put 29% of level 3's
 * time on the line reading the long candidate.
 */
function parseDouble(st: MatchState, src: Uint8Array, start: number, end: number, seq: SeqBuf): number {
  const dv = st.dv;
  const short = st.head, long = st.chain;
  const shiftS = 32 - st.p.hashLog, shiftL = 32 - st.p.chainLog, skipLog = st.p.skipLog;
  const tagS = shiftS - 8, tagL = shiftL - 8;
  // tagged entries (hi = the tag bits, pos = the position bits), or plain positions past 16 MiB
  const tagged = src.length <= 1 << 24;
  const hi = tagged ? 0xff000000 | 0 : 0, pos = tagged ? 0xffffff : -1;
  const limit = end - 8;
  let ip = start, anchor = start;
  while (ip < limit) {
    const r = st.rep1;
    const v = dv.getInt32(ip, true), v4 = dv.getInt32(ip + 4, true);
    const mS = Math.imul(Math.imul(v, HASH_MUL) ^ (v4 & 255), 0x85ebca77), mL = Math.imul(Math.imul(v, HASH_MUL) ^ v4, 0x85ebca77);
    const hs = mS >>> shiftS, hl = mL >>> shiftL;
    const eS = short[hs]!, eL = long[hl]!;
    const wantS = (mS >>> tagS) << 24 & hi, wantL = (mL >>> tagL) << 24 & hi;
    short[hs] = ip | wantS;
    long[hl] = ip | wantL;
    // an empty slot (-1) is position 0xffffff (>= ip) when tagged, -1 when not
    const candS = eS & pos, candL = eL & pos;
    let ml: number, off: number;
    if (ip + 1 - r >= 0 && dv.getInt32(ip + 1, true) === dv.getInt32(ip + 1 - r, true)) {
      ml = 4 + matchLen(src, ip + 5, ip + 5 - r, end, dv);
      ip++;
      off = r;
    } else if (((eL ^ wantL) & hi) === 0 && candL >= 0 && candL < ip && dv.getInt32(candL, true) === v && dv.getInt32(candL + 4, true) === v4) {
      ml = 8 + matchLen(src, ip + 8, candL + 8, end, dv);
      off = ip - candL;
    } else if (((eS ^ wantS) & hi) === 0 && candS >= 0 && candS < ip && dv.getInt32(candS, true) === v) {
      const m1 = mix8(dv, ip + 1), hl1 = m1 >>> shiftL, e1 = long[hl1]!, want1 = (m1 >>> tagL) << 24 & hi;
      long[hl1] = (ip + 1) | want1;
      const candL1 = e1 & pos;
      if (((e1 ^ want1) & hi) === 0 && candL1 >= 0 && candL1 < ip + 1 && read32(dv, candL1) === read32(dv, ip + 1) && read32(dv, candL1 + 4) === read32(dv, ip + 5)) {
        ml = 8 + matchLen(src, ip + 9, candL1 + 8, end, dv);
        ip++;
        off = ip - candL1;
      } else {
        ml = 4 + matchLen(src, ip + 4, candS + 4, end, dv);
        off = ip - candS;
      }
    } else {
      ip += 1 + ((ip - anchor) >> skipLog);
      continue;
    }
    while (ip > anchor && ip - off > 0 && src[ip - 1] === src[ip - off - 1]) {
      ip--;
      ml++;
    }
    const matchStart = ip;
    emit(st, seq, src, anchor, ip - anchor, off, ml);
    ip += ml;
    anchor = ip;
    if (ip < limit) {
      let m = mix8(dv, matchStart + 2);
      long[m >>> shiftL] = (matchStart + 2) | ((m >>> tagL) << 24 & hi);
      m = mix8(dv, ip - 2);
      long[m >>> shiftL] = (ip - 2) | ((m >>> tagL) << 24 & hi);
      m = mix5(dv, ip - 2);
      short[m >>> shiftS] = (ip - 2) | ((m >>> tagS) << 24 & hi);
      m = mix5(dv, ip - 1);
      short[m >>> shiftS] = (ip - 1) | ((m >>> tagS) << 24 & hi);
      // the second repeat offset straight after a match (as zstd's double-fast does): a match
      // with no literals and no search
      for (;;) {
        const r2 = st.rep2;
        if (ip >= limit || ip - r2 < 0 || dv.getInt32(ip, true) !== dv.getInt32(ip - r2, true)) break;
        const ml2 = 4 + matchLen(src, ip + 4, ip + 4 - r2, end, dv);
        m = mix5(dv, ip);
        short[m >>> shiftS] = ip | ((m >>> tagS) << 24 & hi);
        m = mix8(dv, ip);
        long[m >>> shiftL] = ip | ((m >>> tagL) << 24 & hi);
        emit(st, seq, src, ip, 0, r2, ml2);
        ip += ml2;
        anchor = ip;
      }
    }
  }
  return anchor;
}

/*
 * Levels 4+: rows, lazy matching. The finder's state lives in module variables set per
 * block (lz: ...) instead of closures made per block: insert/find/gain were closures over a dozen
 * locals, called per position.
 */
let lzSt: MatchState = null as unknown as MatchState;
let lzSrc: Uint8Array = new Uint8Array(0);
let lzDv: DataView = new DataView(new ArrayBuffer(4));
let lzEntries: Int32Array = new Int32Array(0);
let lzTags: Uint8Array = new Uint8Array(0);
let lzRowHead: Uint8Array = new Uint8Array(0);
let lzRowShift = 0, lzTagShift = 0, lzRowLog = 0, lzRowMask = 0, lzEnd = 0;
let lzBestOff = 0;

/*
 * Rows, not chains: each 4-byte hash has a row of the last `depth` positions (a power of 2) with an
 * 8-bit tag each from more bits of the hash; a search reads one row and its tags, and only
 * candidates whose tag matches touch the input. With hash chains, level 9's time was 77% on two
 * lines (node --cpu-prof line ticks): the chain link load and the first byte at each candidate,
 * both cache misses, 15 candidates per search.
 */

/** enter positions up to and including `to` in the rows */
function lzInsert(to: number): void {
  const dv = lzDv, entries = lzEntries, tags = lzTags, heads = lzRowHead;
  const rowShift = lzRowShift, tagShift = lzTagShift, rowLog = lzRowLog, rowMask = lzRowMask;
  let i = lzSt.ins;
  while (i <= to) {
    const h = Math.imul(dv.getInt32(i, true), HASH_MUL);
    const row = h >>> rowShift;
    const slot = (heads[row]! - 1) & rowMask;
    heads[row] = slot;
    const e = (row << rowLog) | slot;
    entries[e] = i;
    tags[e] = h >>> tagShift; // a Uint8Array keeps the low 8 bits
    i++;
  }
  if (to + 1 > lzSt.ins) lzSt.ins = to + 1;
}

/** longest match at `at` (with repeat offsets first); sets lzBestOff, returns its length */
function lzFind(at: number, litLen: number): number {
  lzInsert(at);
  const st = lzSt, src = lzSrc, dv = lzDv, end = lzEnd;
  let best = 0;
  let bestOff = 0;
  // repeat offsets: rep1 with literals before, rep2/rep3 always
  for (let k = litLen > 0 ? 0 : 1; k < 3; k++) {
    const r = k === 0 ? st.rep1 : k === 1 ? st.rep2 : st.rep3;
    if (r > at) continue;
    const l = matchLen(src, at, at - r, end, dv);
    if (l >= 4 && l > best) {
      best = l;
      bestOff = r;
    }
  }
  if (best >= 4 && at + best === end) {
    lzBestOff = bestOff;
    return best;
  }
  const entries = lzEntries, tags = lzTags, rowMask = lzRowMask;
  const v = dv.getInt32(at, true);
  const h = Math.imul(v, HASH_MUL);
  const row = h >>> lzRowShift, tag = (h >>> lzTagShift) & 255;
  const base = row << lzRowLog, head = lzRowHead[row]!;
  // slot `head` is `at` itself; the others newest first, then the never-written ones (-1)
  for (let k = 1; k <= rowMask; k++) {
    const e = base | ((head + k) & rowMask);
    if (tags[e] !== tag) continue;
    const cand = entries[e]!;
    if (cand < 0) break;
    if (src[cand + best] === src[at + best] && dv.getInt32(cand, true) === v) {
      const l = 4 + matchLen(src, at + 4, cand + 4, end, dv);
      if (l > best) {
        best = l;
        bestOff = at - cand;
        if (at + l === end) break;
      }
    }
  }
  lzBestOff = bestOff;
  return best;
}

function lzGain(len: number, off: number, litLen: number): number {
  const st = lzSt;
  const rep = (litLen > 0 && off === st.rep1) || off === st.rep2 || off === st.rep3;
  return len * 4 - (rep ? 0 : highbit(off + 3));
}

function parseLazy(st: MatchState, src: Uint8Array, start: number, end: number, seq: SeqBuf): number {
  const p = st.p;
  lzSt = st;
  lzSrc = src;
  lzDv = st.dv;
  lzEntries = st.head;
  lzTags = st.tags;
  lzRowHead = st.rowHead;
  lzRowLog = highbit(p.depth);
  lzRowMask = p.depth - 1;
  // p.hashLog >= lzRowLog + 1 (zstdCompress), so there are 2 rows or more and the shifts are < 32
  const rowsLog = p.hashLog - lzRowLog;
  lzRowShift = 32 - rowsLog;
  lzTagShift = 24 - rowsLog;
  lzEnd = end;
  const lazy = p.lazy, skipLog = p.skipLog;
  const limit = end - 4;
  let ip = start, anchor = start;

  while (ip < limit) {
    let ml = lzFind(ip, ip - anchor);
    if (ml < 4) {
      ip += 1 + ((ip - anchor) >> skipLog);
      continue;
    }
    let off = lzBestOff;
    for (let step = 1; step <= lazy && ip + 1 < limit; step++) {
      const ml2 = lzFind(ip + 1, ip + 1 - anchor);
      if (ml2 >= 4 && lzGain(ml2, lzBestOff, ip + 1 - anchor) > lzGain(ml, off, ip - anchor) + (step === 1 ? 4 : 7)) {
        ip++;
        ml = ml2;
        off = lzBestOff;
      } else break;
    }
    while (ip > anchor && ip - off > 0 && src[ip - 1] === src[ip - off - 1]) {
      ip--;
      ml++;
    }
    emit(st, seq, src, anchor, ip - anchor, off, ml);
    ip += ml;
    anchor = ip;
  }
  // keep the chains whole for the next block (positions that have 4 bytes to hash)
  if (st.ins < limit) lzInsert(Math.min(limit, src.length - 4));
  // do not keep the caller's input alive
  lzSrc = new Uint8Array(0);
  lzDv = new DataView(lzSrc.buffer);
  lzSt = null as unknown as MatchState;
  return anchor;
}

// ---------------------------------------------------------------------------------------------
// Frame

function writeBlockHeader(out: Uint8Array, pos: number, last: boolean, type: number, size: number): number {
  const v = (last ? 1 : 0) | (type << 1) | (size << 3);
  out[pos] = v & 255;
  out[pos + 1] = (v >>> 8) & 255;
  out[pos + 2] = (v >>> 16) & 255;
  return pos + 3;
}

/** Upper bound of zstdCompress's output size for `n` input bytes. */
export function zstdCompressBound(n: number): number {
  return 4 + 1 + 8 + 4 + 3 + n + 3 * Math.ceil(n / BLOCK_MAX);
}

/*
 * Warm-up before the first large input. On a large first call V8 replaces the running code on stack
 * (OSR) inside the first long loop of a function (the histogram in writeSequences, the Huffman
 * stream loop), before the code after that loop, or the functions it calls, ever ran: that
 * optimized code had no type feedback there and deopted, and the next calls entered the same cached
 * OSR code and deopted again at the same spot, once per block or per stream, the rest of the call
 * then interpreted (node 20 --trace-deopt: 450-750 deopts per 12 calls at levels 1 and 3 on 8 MiB).
 * A few small inputs first (short loops, no OSR) run every path in the interpreter, so the
 * optimized code has the feedback. They are compressed 8 times: V8 gives a function its feedback
 * vector only after several calls. Only the match finder of the level asked for is warmed (the
 * entropy stage is shared by all): each of the CLI's compress threads pays its warm-up, and warming
 * levels 1, 3 and 6 cost 94-99 ms CPU where level 3 alone costs 42-61 ms (the first 64 KiB call,
 * bundled, node 20); over a thread's first 8 MiB the saving is smaller, 0.25-0.34 s against
 * 0.28-0.36 s, as part of the compiling only moves to the first large call.
 */
const WARM_UP_FROM = 1 << 16;
/** match finder strategies (Params.strategy) warmed up so far */
const warmed = [false, false, false];
function warmUp(level: number): void {
  const strategy = LEVELS[level]!.strategy;
  if (warmed[strategy]) return;
  warmed[strategy] = true;
  const words = ['zstd ', 'block ', 'literal ', 'sequence ', 'offset ', 'match ', 'the ', 'of ', 'EROFS ', 'RAFS ', '0123', '\n'];
  const sample = new Uint8Array(3000);
  let x = 12345, o = 0;
  while (o < sample.length) {
    x = (Math.imul(x, 1103515245) + 12345) | 0;
    const w = words[(x >>> 16) % words.length]!;
    for (let k = 0; k < w.length && o < sample.length; k++) sample[o++] = w.charCodeAt(k) ^ ((x >>> 8) & 3 ? 0 : 1);
  }
  // the other shapes of block the entropy stage meets, so none of its branches is first taken in
  // optimized code (each such "insufficient type feedback" deopt recompiled writeSequences,
  // writeLiterals, chooseTable or huffLengths, 30-70 ms of compiling apiece): under 128 sequences;
  // under 64 literals; long runs of incompressible literals (raw literals) ending in a long match
  const tiny = sample.subarray(0, 160), least = sample.subarray(0, 40);
  const noise = new Uint8Array(1400);
  for (let i = 0; i < 1000; i++) noise[i] = (x = (Math.imul(x, 1103515245) + 12345) | 0) >>> 24;
  noise.copyWithin(1000, 200, 600);
  // and Huffman code lengths past HUF_MAX_BITS, limited (counts halving from symbol to symbol).
  // The CLI's RAFS build of 67 MB of /usr/bin (zstd, one compress thread; node --trace-deopt): 13
  // such deopts in its two threads before, 4 after (writeLiterals when the Huffman literals come out
  // no smaller, the second loop of huffLengths' limiting), 78 -> 66 compiles; CPU time 1.62-1.67 ->
  // 1.51-1.59 s over four interleaved runs (own autogroup at nice -20, load 5.9-6.0)
  const skew = new Int32Array(256);
  for (let k = 0; k < 20; k++) skew[k * 3] = 1 << (20 - k);
  for (let i = 0; i < 8; i++) {
    zstdCompress(sample, { level });
    zstdCompress(tiny, { level });
    zstdCompress(least, { level });
    zstdCompress(noise, { level });
    huffLengths(skew, 57);
  }
}

/** The match finder's state for `src`, its tables sized for the first `n` bytes (level checked by the caller). */
function newMatchState(src: Uint8Array, n: number, level: number): MatchState {
  const p0 = LEVELS[level]!;
  // tables no larger than the input needs (as zstd caps hashLog and chainLog by the window): with
  // them reused across calls, a small input (an EROFS pcluster) clears O(n) entries, not 1-6 MB
  const fit = n < 2 ? 1 : highbit(n - 1) + 2;
  // rows: at least 2 of them
  const hashLog = p0.strategy === 1 ? Math.max(Math.min(p0.hashLog, fit), highbit(p0.depth) + 1) : Math.min(p0.hashLog, fit);
  // always a copy from this one literal, so every call's Params has one hidden class: LEVELS' own
  // objects and spread copies had two, and the finders, optimized on one, deoptimized ("wrong map")
  // and recompiled at the first input of the other size class (node --trace-deopt)
  const p: Params = { strategy: p0.strategy, hashLog, chainLog: Math.min(p0.chainLog, fit), depth: p0.depth, lazy: p0.lazy, skipLog: p0.skipLog };
  return {
    p,
    dv: new DataView(src.buffer, src.byteOffset, src.byteLength),
    head: table(0, 1 << p.hashLog),
    chain: p.strategy === 2 ? table(1, 1 << p.chainLog) : table(1, 0),
    tags: p.strategy === 1 ? byteTable(0, 1 << p.hashLog) : byteTable(0, 0),
    rowHead: p.strategy === 1 ? byteTable(1, 1 << (p.hashLog - highbit(p.depth))) : byteTable(1, 0),
    ins: 0,
    rep1: 1, rep2: 4, rep3: 8,
  };
}

/** Sequences and literals of src[b..end) into `seq` (the block's last literals appended). */
function parseBlock(st: MatchState, src: Uint8Array, b: number, end: number, seq: SeqBuf): void {
  seq.n = 0;
  seq.nLits = 0;
  seq.llCount.fill(0);
  seq.mlCount.fill(0);
  seq.ofCount.fill(0);
  const s = st.p.strategy;
  const anchor = s === 0 ? parseFast(st, src, b, end, seq) : s === 1 ? parseLazy(st, src, b, end, seq) : parseDouble(st, src, b, end, seq);
  seq.lits.set(src.subarray(anchor, end), seq.nLits);
  seq.nLits += end - anchor;
}

function checkLevel(opts: ZstdEncodeOptions): number {
  const level = opts.level ?? ZSTD_DEFAULT_LEVEL;
  if (!Number.isInteger(level) || level < ZSTD_MIN_LEVEL || level > ZSTD_MAX_LEVEL) {
    throw new UnsupportedError('zstd level', `${level} is not an integer from ${ZSTD_MIN_LEVEL} to ${ZSTD_MAX_LEVEL}`);
  }
  return level;
}

/** Bytes of the frame header (magic, descriptor, content size) for `n` bytes of content. */
function frameHeaderSize(n: number): number {
  return 5 + (n < 256 ? 1 : n < 65536 + 256 ? 2 : n < 2 ** 32 ? 4 : 8);
}

/** Magic and frame header for `n` bytes of content at `pos`; returns the position after it. */
function writeFrameHeader(out: Uint8Array, dv: DataView, pos: number, n: number, checksum: boolean): number {
  dv.setUint32(pos, MAGIC, true);
  const fhd = pos + 4;
  pos += 5;
  // Single_Segment: the window is the content, so the Frame_Content_Size field is always present
  let fcsFlag: number;
  if (n < 256) {
    fcsFlag = 0;
    out[pos++] = n;
  } else if (n < 65536 + 256) {
    fcsFlag = 1;
    dv.setUint16(pos, n - 256, true);
    pos += 2;
  } else if (n < 2 ** 32) {
    fcsFlag = 2;
    dv.setUint32(pos, n, true);
    pos += 4;
  } else {
    fcsFlag = 3;
    dv.setUint32(pos, n % 2 ** 32, true);
    dv.setUint32(pos + 4, Math.floor(n / 2 ** 32), true);
    pos += 8;
  }
  out[fhd] = (fcsFlag << 6) | (1 << 5) | (checksum ? 4 : 0);
  return pos;
}


/**
 * A parsed block of src[b, end) whose compressed body is blockOut[0, q): written compressed when that
 * is smaller, else raw, with the repeat offsets put back to `reps` (a raw block leaves the
 * decoder's as they were). Returns the position after it.
 */
function writeParsedBlock(
  out: Uint8Array, pos: number, last: boolean, blockOut: Uint8Array, q: number,
  st: { rep1: number; rep2: number; rep3: number }, reps: number[], src: Uint8Array, b: number, end: number,
): number {
  const size = end - b;
  if (q < size) {
    pos = writeBlockHeader(out, pos, last, 2, q);
    out.set(blockOut.subarray(0, q), pos);
    return pos + q;
  }
  [st.rep1, st.rep2, st.rep3] = reps as [number, number, number];
  pos = writeBlockHeader(out, pos, last, 0, size);
  out.set(src.subarray(b, end), pos);
  return pos + size;
}
/** Compress `src` into one zstd frame. */
export function zstdCompress(src: Uint8Array, opts: ZstdEncodeOptions = {}): Uint8Array {
  const level = checkLevel(opts);
  const n = src.length;
  if (n >= WARM_UP_FROM) warmUp(level);
  const bound = zstdCompressBound(n);
  if (bound <= OUT_KEEP && outBuf.length < bound) outBuf = new Uint8Array(Math.min(OUT_KEEP, Math.max(bound, 2 * outBuf.length)));
  const out = bound <= OUT_KEEP ? outBuf : new Uint8Array(bound);
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let pos = writeFrameHeader(out, dv, 0, n, opts.checksum === true);
  if (n === 0) pos = writeBlockHeader(out, pos, true, 0, 0);
  const st = newMatchState(src, n, level);
  const seq = seqBuf;
  const blockOut = blockOutBuf;
  const scratch = scratchBuf;
  for (let b = 0; b < n; b += BLOCK_MAX) {
    const end = Math.min(n, b + BLOCK_MAX);
    const last = end === n;
    const size = end - b;
    let same = b + 1;
    const first = src[b]!;
    while (same < end && src[same] === first) same++;
    if (same === end && size > 16) {
      pos = writeBlockHeader(out, pos, last, 1, size);
      out[pos++] = first;
      continue;
    }
    const reps = [st.rep1, st.rep2, st.rep3];
    parseBlock(st, src, b, end, seq);
    let q = writeLiterals(seq.lits, seq.nLits, blockOut, 0, scratch);
    q = writeSequences(seq, blockOut, q);
    pos = writeParsedBlock(out, pos, last, blockOut, q, st, reps, src, b, end);
  }
  if (opts.checksum) {
    dv.setUint32(pos, xxh64Parts(src)[1] >>> 0, true);
    pos += 4;
  }
  return out.slice(0, pos);
}

/** per-call buffers, kept between calls (zstdCompress is synchronous, so one set serves all) */
const litsAll = new Uint8Array(BLOCK_MAX + 8);
const seqBuf: SeqBuf = {
  n: 0,
  ll: new Int32Array(BLOCK_MAX / 3 + 1),
  ml: new Int32Array(BLOCK_MAX / 3 + 1),
  ofv: new Int32Array(BLOCK_MAX / 3 + 1),
  lits: litsAll,
  litsDv: new DataView(litsAll.buffer),
  nLits: 0,
  llc: new Uint8Array(BLOCK_MAX / 3 + 1),
  mlc: new Uint8Array(BLOCK_MAX / 3 + 1),
  ofc: new Uint8Array(BLOCK_MAX / 3 + 1),
  llCount: new Int32Array(36),
  mlCount: new Int32Array(53),
  ofCount: new Int32Array(32),
};
const blockOutBuf = new Uint8Array(BLOCK_MAX * 4);
const scratchBuf = new Uint8Array(512);
/** the output is built here when it fits (then copied out at its size); larger ones get their own */
const OUT_KEEP = 2 << 20;
let outBuf = new Uint8Array(0);
const tables: Int32Array[] = [new Int32Array(0), new Int32Array(0)];

const byteTables: Uint8Array[] = [new Uint8Array(0), new Uint8Array(0)];

/** the first `size` bytes of reusable byte table `which`, zeroed */
function byteTable(which: number, size: number): Uint8Array {
  if (byteTables[which]!.length < size) byteTables[which] = new Uint8Array(size);
  return byteTables[which]!.subarray(0, size).fill(0);
}

/** the first `size` entries of reusable table `which`, set to -1 (no position) */
function table(which: number, size: number): Int32Array {
  if (tables[which]!.length < size) tables[which] = new Int32Array(size);
  return tables[which]!.subarray(0, size).fill(-1);
}

// ---------------------------------------------------------------------------------------------
// Destination size

export interface ZstdDestSize {
  /** one frame of at most `cap` bytes (empty when consumed is 0) */
  compressed: Uint8Array;
  /** the length of the prefix of `src` it holds */
  consumed: number;
}

/** blocks are built from here on: room in front for the largest frame header of a content below 4 GiB */
const BODY_AT = 9;
/**
 * Input of the first block per byte of room: the guess of the compression ratio, 25% over. Too
 * high, and input past what fits is parsed for nothing; too low, and a second block follows with a
 * header, literals header and tables of its own. 3 rather than 4: 8-25% less CPU on 4 KiB
 * pclusters of /usr/share/locale and /usr/bin files (level 3, CPU time of this function on the same pclusters, commit ece002e), the same
 * stored blocks (832 against 831 of 4 KiB).
 */
const FIRST_RATIO = 3;
const RATIO_MARGIN = 1.25;
/** trial encodings of the cut block at most */
const CUT_TRIALS = 10;
let destBuf = new Uint8Array(0);
/** the cut block's sequences: content bytes (P) and literals (L) before each */
let cutP = new Int32Array(BLOCK_MAX / 3 + 2);
let cutL = new Int32Array(BLOCK_MAX / 3 + 2);
let bestBlock = new Uint8Array(0);
/** the room a cut may leave unused (bytes), set per call */
let cutSlack = 1;
/** set by encodeCut: the content it encoded (at most the content asked for) */
let cutContent = 0;
/** trial encodings of cut blocks made so far in this process (for measurements) */
export let cutTrials = 0;

/**
 * Compress the longest prefix of `src` that fits: one frame (header, blocks, the checksum if asked)
 * of at most `cap` bytes, with that prefix's length as its content size (the zstd counterpart of
 * LZ4_compress_destSize, for EROFS pclusters).
 *
 * Blocks are encoded in order, each from an input guessed from the room left and the ratio so far;
 * a block that fits is kept. The first block that does not fit is cut and ends the frame: its
 * sequences are already found, so only its entropy coding is redone, for a prefix of them (the
 * last one's match shortened, or literals after it), at most CUT_TRIALS times, each length
 * interpolated from the sizes seen; a raw or RLE block is taken when it holds more.
 * consumed 0 (and no frame) when not even one byte fits, or src is empty.
 */
export function zstdCompressDestSize(src: Uint8Array, cap: number, opts: ZstdEncodeOptions = {}): ZstdDestSize {
  const level = checkLevel(opts);
  if (!Number.isInteger(cap) || cap < 0) throw new RangeError(`zstdCompressDestSize: bad capacity ${cap}`);
  const chk = opts.checksum ? 4 : 0;
  const n = src.length;
  cutSlack = Math.max(1, cap >> 9);
  // the smallest frame: a 1-byte content size, a block header and one byte (raw or RLE)
  if (n === 0 || cap < frameHeaderSize(1) + 3 + 1 + chk) return { compressed: new Uint8Array(0), consumed: 0 };
  if (n >= WARM_UP_FROM) warmUp(level);
  // room past the end for the 4-byte stores of the bit writers is not needed here (blocks are
  // built in blockOutBuf), only for the checksum
  if (destBuf.length < BODY_AT + cap + 4) destBuf = new Uint8Array(BODY_AT + cap + 4);
  const out = destBuf;
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  // the match tables sized for the first block's input (clearing tables for all of src, 256 KiB
  // in EROFS, took longer than a 4 KiB pcluster's parse); later blocks only see more collisions
  const st = newMatchState(src, Math.min(n, BLOCK_MAX, Math.ceil(cap * FIRST_RATIO * RATIO_MARGIN) + 64), level);
  const seq = seqBuf, blockOut = blockOutBuf, scratch = scratchBuf;
  /** the body's end may reach this when the content is c bytes */
  const budget = BODY_AT + cap - chk;
  let pos = BODY_AT, consumed = 0, lastHdr = -1;
  let ratio = FIRST_RATIO;
  while (consumed < n) {
    const b = consumed;
    const room = budget - frameHeaderSize(b + 1) - pos - 3;
    if (room < 1) break;
    let len = Math.min(BLOCK_MAX, n - b, Math.ceil(room * ratio * RATIO_MARGIN) + 64);
    let same = b + 1;
    const first = src[b]!;
    while (same < b + len && src[same] === first) same++;
    // a run of one byte costs one byte of payload however long: take all of it (to the block size)
    if (same === b + len) {
      const most = Math.min(n, b + BLOCK_MAX);
      while (same < most && src[same] === first) same++;
      len = same - b;
    }
    const end = b + len;
    const limit = budget - frameHeaderSize(end);
    let qFull = -1;
    if (same === end && len > 16) {
      if (pos + 4 <= limit) {
        lastHdr = pos;
        pos = writeBlockHeader(out, pos, false, 1, len);
        out[pos++] = first;
        consumed = end;
        ratio = Math.max(ratio, len / 4);
        continue;
      }
    } else {
      const reps = [st.rep1, st.rep2, st.rep3];
      parseBlock(st, src, b, end, seq);
      // skip encoding the whole block when the estimate says it is well past the room (it is cut
      // anyway) or incompressible (a raw cut)
      estimateCosts(seq.n);
      const est = estimate(len, seq.n) + estOverhead;
      if (est > len * 0.97) qFull = len;
      else if (est > (limit - pos - 3) * 1.15) qFull = -2;
      let q = qFull;
      if (qFull === -1) {
        q = writeLiterals(seq.lits, seq.nLits, blockOut, 0, scratch);
        q = writeSequences(seq, blockOut, q);
        qFull = q;
      }
      if (q >= 0 && pos + 3 + Math.min(q, len) <= limit) {
        lastHdr = pos;
        pos = writeParsedBlock(out, pos, false, blockOut, q, st, reps, src, b, end);
        consumed = end;
        ratio = len / (3 + Math.min(q, len));
        continue;
      }
    }
    // this block does not fit whole: the longest prefix of it that does ends the frame
    const at = pos;
    pos = cutBlock(src, b, len, qFull, out, pos, budget);
    if (pos > at) {
      lastHdr = at;
      consumed = b + cutContent;
    }
    break;
  }
  if (consumed === 0) return { compressed: new Uint8Array(0), consumed: 0 };
  out[lastHdr] = out[lastHdr]! | 1;
  const start = BODY_AT - frameHeaderSize(consumed);
  writeFrameHeader(out, dv, start, consumed, chk > 0);
  if (chk) {
    dv.setUint32(pos, xxh64Parts(src.subarray(0, consumed))[1] >>> 0, true);
    pos += 4;
  }
  if (pos - start > cap) throw new Error(`zstd encoder bug: a ${pos - start}-byte frame for a ${cap}-byte capacity`);
  return { compressed: out.slice(start, pos), consumed };
}

/** content sizes below which the frame header is 6, 7 and 9 bytes (beyond: never reached here) */
const FCS_EDGES = [256, 65536 + 256, 2 ** 32];

/**
 * The last block: the longest prefix of src[b..b+len) whose block fits the body ending at most at
 * `budget` minus the frame header (which grows with the content). seqBuf holds the block's
 * sequences (and estimateCosts has run) unless `qFull` is -1 (a run of one byte, not parsed); else
 * `qFull` is the whole block's compressed size, -2 when not encoded, `len` when incompressible. Writes the block at `pos` and returns its end (pos when nothing fits); its content
 * length in cutContent.
 */
function cutBlock(src: Uint8Array, b: number, len: number, qFull: number, out: Uint8Array, pos: number, budget: number): number {
  /** the most content up to `want` whose payload of `payload(c)` bytes fits: per header size */
  const limitAt = (c: number) => budget - frameHeaderSize(b + c) - pos - 3;
  // raw: c bytes of payload
  let rawC = 0;
  for (const edge of FCS_EDGES) {
    const c = Math.min(len, edge - 1 - b, limitAt(Math.max(1, edge - 1 - b)));
    if (c > rawC && c <= limitAt(c)) rawC = c;
  }
  // RLE: one byte of payload
  let run = 1;
  while (run < len && src[b + run] === src[b]) run++;
  let rleC = 0;
  for (const edge of FCS_EDGES) {
    const c = Math.min(run, edge - 1 - b);
    if (c > rleC && limitAt(c) >= 1) rleC = c;
  }
  // compressed: a prefix of the parsed sequences
  let compC = 0, compQ = 0;
  if (qFull !== -1 && qFull < len) {
    const N = seqBuf.n;
    let lo = Math.max(rawC, rleC), hi = len;
    // the estimate's error, taken as constant near the cut (the tables and headers it leaves out)
    let delta = qFull >= 0 ? qFull - estimate(len, N) : estOverhead;
    for (let trial = 0; trial < CUT_TRIALS; trial++) {
      const tol = Math.max(4, lo >> 9);
      if (hi - lo <= tol) break;
      // after the first trial the estimate is within a few bytes: aim one byte short, so it fits
      const target = limitAt(lo + 1) - delta - (trial > 0 ? 1 : 0);
      // the longest content in (lo, hi) whose estimate is within target (the estimate grows with c)
      let l = lo + 1, h = hi - 1;
      if (estimate(l, N) > target) h = l;
      while (l < h) {
        const m = (l + h + 1) >> 1;
        if (estimate(m, N) <= target) l = m;
        else h = m - 1;
      }
      const c = l;
      const q = encodeCut(c, N);
      cutTrials++;
      const got = cutContent;
      const fits = q <= limitAt(got) && q < got;
      if (fits) {
        if (got > compC) {
          compC = got;
          compQ = q;
          if (bestBlock.length < q) bestBlock = new Uint8Array(Math.max(q, 2 * bestBlock.length));
          bestBlock.set(blockOutBuf.subarray(0, q));
        }
        lo = Math.max(lo, got);
        // close enough: a longer cut would gain a few literals (0.2% of the capacity at most)
        if (limitAt(got) - q <= cutSlack) break;
      } else hi = c;
      delta = q - estimate(got, N);
    }
  }
  const best = Math.max(rawC, rleC, compC);
  cutContent = best;
  if (best === 0) return pos;
  if (best === compC) {
    pos = writeBlockHeader(out, pos, true, 2, compQ);
    out.set(bestBlock.subarray(0, compQ), pos);
    return pos + compQ;
  }
  if (best === rleC) {
    pos = writeBlockHeader(out, pos, true, 1, rleC);
    out[pos] = src[b]!;
    return pos + 1;
  }
  pos = writeBlockHeader(out, pos, true, 0, rawC);
  out.set(src.subarray(b, b + rawC), pos);
  return pos + rawC;
}

/** estimated bits of each literal byte value and each code (with its extra bits) in the block being cut */
const estLit = new Float64Array(256), estLL = new Float64Array(36), estML = new Float64Array(53), estOF = new Float64Array(32);
/** estimated bits of the sequences before each one (their literals included) */
let estB = new Float64Array(BLOCK_MAX / 3 + 2);
let estOverhead = 0;

/**
 * Entropy estimates from the whole block's statistics (seqBuf): -log2 of each symbol's frequency,
 * plus a code's extra bits; and their prefix sums per sequence. One pass, against a trial encoding
 * (a Huffman tree, FSE tables, the streams) per length tried.
 */
function estimateCosts(N: number): void {
  const seq = seqBuf;
  if (cutP.length < N + 1) {
    cutP = new Int32Array(N + 1);
    cutL = new Int32Array(N + 1);
  }
  cutP[0] = 0;
  cutL[0] = 0;
  for (let i = 0; i < N; i++) {
    cutL[i + 1] = cutL[i]! + seq.ll[i]!;
    cutP[i + 1] = cutP[i]! + seq.ll[i]! + seq.ml[i]!;
  }
  const count = countBytes(seq.lits, seq.nLits);
  const nl = Math.max(1, seq.nLits);
  let distinct = 0;
  for (let s = 0; s < 256; s++) {
    if (count[s]! > 0) distinct++;
    estLit[s] = count[s]! > 0 ? Math.min(HUF_MAX_BITS, Math.log2(nl / count[s]!)) : HUF_MAX_BITS;
  }
  // a guess of what the estimate leaves out, until a trial measures it: the Huffman tree's weights
  // (FSE-coded, about 3 bits a symbol), section headers, sequence table descriptions
  estOverhead = (distinct * 3) / 8 + 16;
  const ns = Math.max(1, N);
  for (let c = 0; c < 36; c++) estLL[c] = LLX[c]! + (seq.llCount[c]! > 0 ? Math.log2(ns / seq.llCount[c]!) : 9);
  for (let c = 0; c < 53; c++) estML[c] = MLX[c]! + (seq.mlCount[c]! > 0 ? Math.log2(ns / seq.mlCount[c]!) : 9);
  for (let c = 0; c < 32; c++) estOF[c] = c + (seq.ofCount[c]! > 0 ? Math.log2(ns / seq.ofCount[c]!) : 8);
  if (estB.length < N + 1) estB = new Float64Array(N + 1);
  estB[0] = 0;
  const lits = seq.lits;
  for (let i = 0, o = 0; i < N; i++) {
    let bits = estLL[seq.llc[i]!]! + estML[seq.mlc[i]!]! + estOF[seq.ofc[i]!]!;
    for (const e = o + seq.ll[i]!; o < e; o++) bits += estLit[lits[o]!]!;
    estB[i + 1] = estB[i]! + bits;
  }
}

/** how many of the block's N sequences end at or before `c` bytes of content (cutP: their prefix sums) */
function sequencesEndingBy(c: number, N: number): number {
  let lo = 0, hi = N;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (cutP[mid]! <= c) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** estimated bytes of the block cut to `c` bytes of content (as encodeCut cuts it), tables left out */
function estimate(c: number, N: number): number {
  const seq = seqBuf;
  const k = sequencesEndingBy(c, N);
  let bits = estB[k]!;
  const rest = c - cutP[k]!;
  const ll = k < N ? seq.ll[k]! : rest;
  const lits = seq.lits;
  for (let o = cutL[k]!, e = o + Math.min(rest, ll); o < e; o++) bits += estLit[lits[o]!]!;
  if (k < N && rest >= ll + 3) bits += estLL[seq.llc[k]!]! + estML[seq.mlc[k]!]! + estOF[seq.ofc[k]!]!;
  return bits / 8;
}

/**
 * Encode into blockOutBuf the parsed block (seqBuf, N sequences, prefix sums in cutP/cutL) cut to
 * at most `c` bytes of content: the sequences that end by then, then either the next one with its
 * match shortened (3 bytes or more of it) or literals. Returns the payload size; the content
 * encoded (c, or 1-2 bytes less when neither fits exactly) in cutContent.
 */
function encodeCut(c: number, N: number): number {
  const seq = seqBuf;
  const k = sequencesEndingBy(c, N);
  const rest = c - cutP[k]!;
  let nSeq = k, nLits = cutL[k]! + rest, content = c;
  const savedMl = k < N ? seq.ml[k]! : 0, savedMlc = k < N ? seq.mlc[k]! : 0;
  if (k < N) {
    const ll = seq.ll[k]!;
    if (rest >= ll + 3) {
      // sequence k with a shorter match: its offset code (a repeat or not) stays valid
      nSeq = k + 1;
      nLits = cutL[k]! + ll;
      const ml = rest - ll, mb = ml - 3;
      seq.ml[k] = ml;
      seq.mlc[k] = mb < 128 ? ML_CODE_SMALL[mb]! : highbit(mb) + 36;
    } else if (rest > ll) {
      nLits = cutL[k]! + ll;
      content = cutP[k]! + ll;
    }
  }
  seq.llCount.fill(0);
  seq.mlCount.fill(0);
  seq.ofCount.fill(0);
  for (let i = 0; i < nSeq; i++) {
    seq.llCount[seq.llc[i]!]!++;
    seq.mlCount[seq.mlc[i]!]!++;
    seq.ofCount[seq.ofc[i]!]!++;
  }
  const nAll = seq.n;
  seq.n = nSeq;
  let q = writeLiterals(seq.lits, nLits, blockOutBuf, 0, scratchBuf);
  q = writeSequences(seq, blockOutBuf, q);
  seq.n = nAll;
  if (k < N) {
    seq.ml[k] = savedMl;
    seq.mlc[k] = savedMlc;
  }
  cutContent = content;
  return q;
}
