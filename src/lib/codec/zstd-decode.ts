/**
 * Zstandard decoder (RFC 8878), written from the RFC. Decodes straight into a caller-sized output:
 * the output array is the window (single-shot), nothing is ever written past `out.length`, and a
 * frame that would produce more than fits fails at the first block that overflows, so a "zstd
 * bomb" (a few KiB expanding to gigabytes) costs one block of work and no memory.
 *
 * Every length, table and offset read from the input is checked before use; a failure is a
 * FormatError naming the caller's structure and the absolute byte offset (caller's `offset` plus the
 * position in `src`). A frame that needs a dictionary is an UnsupportedError. Every loop is bounded by
 * input bytes already checked or by the output bound.
 *
 * Hot paths: Huffman literals decode four streams interleaved with a table lookup per symbol (two
 * symbols per lookup when a section has 8 KiB of literals or more and short codes);
 * sequences are decoded and executed in one loop with all state in locals. Backward bitstreams are
 * read by bit position with 4-byte loads; to keep those loads in bounds without a check per read, a
 * compressed block is read in place only when at least PAD bytes surround it in `src`, otherwise it
 * is first copied into a padded scratch buffer. Reads that run past a stream's start (corrupt data)
 * land in that padding and are caught once per sequence / per Huffman symbol group.
 */
import { LL_BASE, LL_DEFAULT, LL_EXTRA, ML_BASE, ML_DEFAULT, ML_EXTRA, OF_DEFAULT } from './zstd-tables.ts';
import { FormatError, UnsupportedError } from '../errors.ts';
import { xxh64Parts } from './xxh64.ts';

const FRAME_MAGIC = 0xfd2fb528;
const SKIPPABLE_MAGIC = 0x184d2a50; // low 4 bits free
const BLOCK_MAX = 128 << 10;
/** bytes of slack on both sides of a compressed block for bitstream loads (a sequence reads <= 89 bits) */
const PAD = 32;
const HUF_MAX_BITS = 11;
/** index bits of hufTable2: two lookups take at most 24 bits, one 4-byte load gives at least 25 */
const HUF2_BITS = 12;
/** largest offset code we accept: code 31 means offsets of 2 GiB and more, beyond any output we take */
const OF_MAX_SYMBOL = 30;
const LL_MAX_SYMBOL = 35;
const ML_MAX_SYMBOL = 52;

/** kinds of sequence tables; the index into code tables below */
const LL = 0, OF = 1, ML = 2;
const KIND_NAME = ['literal lengths', 'offsets', 'match lengths'];
const KIND_MAX_SYMBOL = [LL_MAX_SYMBOL, OF_MAX_SYMBOL, ML_MAX_SYMBOL];
const KIND_MAX_LOG = [9, 8, 9];

/**
 * A sequence decoding table of one kind: per state u, e[2u] = nbBits | extraBits << 8 |
 * nextStateBase << 16 and e[2u + 1] = the value baseline of the state's code (literal length, match
 * length, or 1 << offset code). States are numbered in one space for all three kinds (each kind from
 * SEQ_STATE_AT[kind], so nextStateBase includes it): `sequences` copies a block's three tables into
 * the one array seqTab and reads all of them from it.
 */
interface SeqTable {
  e: Int32Array;
  log: number;
}

/** first state of each kind in the common state space: LL 512 states, OF 256, ML 512 */
const SEQ_STATE_AT = [0, 512, 768];
const seqTab = new Int32Array(2 * 1280);

const newSeqTable = (log: number): SeqTable => ({ e: new Int32Array(2 << log), log });

// ---- scratch, reused by every call (decoding is synchronous, so never shared between two calls)

const blockCopy = new Uint8Array(PAD + BLOCK_MAX + PAD);
const blockCopyView = new DataView(blockCopy.buffer);
const litBuf = new Uint8Array(BLOCK_MAX + PAD);
/** Huffman decoding table: symbol << 8 | nbBits, indexed by the next maxBits bits */
const hufTable = new Uint16Array(1 << HUF_MAX_BITS);
/**
 * The same codes two symbols per lookup: per HUF2_BITS-bit index, symbol 1 | symbol 2 << 8 | bits
 * of both << 16 | count << 24, where count is 2 when the second code fits in the bits the first
 * leaves (else 1, and symbol 2 is 0). Indexed by HUF2_BITS bits whatever maxBits is, so that pairs
 * of 6-bit codes fit (base64-like literals). Built from hufTable on the first large 4-stream section
 * after a tree. Measured on 8 MiB of base64 text (zstd -3, nearly all literals; Node CPU time,
 * medians of 11, same process): 610 -> 813 MB/s; on the bench corpus and on source text (matches
 * dominate) no change beyond the noise (about 10%).
 */
const hufTable2 = new Int32Array(1 << HUF2_BITS);
/** hufTable2 matches the tree in hufTable */
let hufTable2Valid = false;
const weights = new Uint8Array(256);
const norm = new Int16Array(256);
const symbolNext = new Uint16Array(256);
const fseSym = new Uint8Array(512);
const fseNb = new Uint8Array(512);
const fseNext = new Uint16Array(512);
const rankStart = new Int32Array(HUF_MAX_BITS + 2);
/** tables built from a block's description (FSE or RLE mode), one per kind */
const dynTables: SeqTable[] = [newSeqTable(9), newSeqTable(8), newSeqTable(9)];
/** results of readFseDescription */
let descLog = 0;
let descSymbols = 0;

/** Per-call state: where errors point, and the frame's repeat state. */
interface State {
  structure: string;
  /** absolute offset of src[0] */
  base: number;
  /** src, for 4-byte bitstream loads */
  srcView: DataView;
  /** Huffman table usable by treeless literals; 0 = none yet in this frame */
  hufBits: number;
  tables: (SeqTable | null)[];
  rep1: number;
  rep2: number;
  rep3: number;
}

function fail(st: State, at: number, detail: string): never {
  throw new FormatError(st.structure, at, `zstd ${detail}`);
}

function highBit(x: number): number {
  return 31 - Math.clz32(x);
}

function u32le(b: Uint8Array, i: number): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
}

// ---- FSE tables

/**
 * Reads an FSE table description (RFC 8878 §4.1.1) from the forward bitstream at buf[p..end):
 * fills `norm`, sets descLog / descSymbols, returns the position after it. `at` maps buffer
 * indices to absolute offsets.
 */
function readFseDescription(st: State, buf: Uint8Array, p: number, end: number, maxSymbol: number, maxLog: number, at: number, what: string): number {
  if (p >= end) fail(st, at + p, `${what}: FSE table description missing`);
  // bits past `end` read as zeros; the byte count used is checked at the end
  const peek = (bp: number, n: number): number => {
    const i = p + (bp >> 3);
    const v = (i < end ? buf[i]! : 0) | (i + 1 < end ? buf[i + 1]! << 8 : 0) | (i + 2 < end ? buf[i + 2]! << 16 : 0);
    return (v >>> (bp & 7)) & ((1 << n) - 1);
  };
  const log = (buf[p]! & 15) + 5;
  if (log > maxLog) fail(st, at + p, `${what}: FSE accuracy log ${log} beyond the maximum ${maxLog}`);
  let bp = 4;
  let remaining = (1 << log) + 1;
  let threshold = 1 << log;
  let nbBits = log + 1;
  let sym = 0;
  while (remaining > 1) {
    if (sym > maxSymbol) fail(st, at + p, `${what}: FSE table has symbols beyond ${maxSymbol}`);
    const max = 2 * threshold - 1 - remaining;
    const v = peek(bp, nbBits);
    let count: number;
    if ((v & (threshold - 1)) < max) {
      count = v & (threshold - 1);
      bp += nbBits - 1;
    } else {
      count = v;
      if (count >= threshold) count -= max;
      bp += nbBits;
    }
    count--; // -1: "less than 1" probability
    norm[sym++] = count;
    remaining -= count < 0 ? -count : count;
    if (remaining < 1) fail(st, at + p, `${what}: FSE probabilities exceed the table size`);
    if (count === 0) {
      // a zero probability is followed by 2-bit repeat flags: that many more zero-probability symbols
      for (;;) {
        const r = peek(bp, 2);
        bp += 2;
        if (sym + r > maxSymbol + 1) fail(st, at + p, `${what}: FSE table has symbols beyond ${maxSymbol}`);
        for (let k = 0; k < r; k++) norm[sym++] = 0;
        if (r !== 3) break;
      }
    }
    while (remaining < threshold) {
      nbBits--;
      threshold >>= 1;
    }
  }
  const used = (bp + 7) >> 3;
  if (used > end - p) fail(st, at + p, `${what}: FSE table description runs past its section`);
  descLog = log;
  descSymbols = sym;
  return p + used;
}

/**
 * Builds the FSE decoding table for `norm[0..nSymbols)` of accuracy `log` (RFC 8878 §4.1.1) into
 * fseSym / fseNb / fseNext. The counts must sum to 1 << log (readFseDescription checked it).
 */
function buildFse(nSymbols: number, log: number): void {
  // module arrays as locals: a bundle (esbuild) makes module consts `var`s, reloaded and checked per use
  const nrm = norm, sym = fseSym, next = symbolNext, nbs = fseNb, nst = fseNext;
  const size = 1 << log;
  let high = size - 1;
  for (let s = 0; s < nSymbols; s++) {
    const c = nrm[s]!;
    if (c === -1) {
      sym[high--] = s;
      next[s] = 1;
    } else {
      next[s] = c;
    }
  }
  // spread the symbols over the cells not taken by "less than 1" ones; step is odd, so with the
  // counts summing to the free cells every cell is visited once and pos ends at 0
  const mask = size - 1;
  const step = (size >> 1) + (size >> 3) + 3;
  let pos = 0;
  for (let s = 0; s < nSymbols; s++) {
    const c = nrm[s]!;
    for (let i = 0; i < c; i++) {
      sym[pos] = s;
      do pos = (pos + step) & mask; while (pos > high);
    }
  }
  for (let u = 0; u < size; u++) {
    const x = next[sym[u]!]!++;
    const nb = log - (31 - Math.clz32(x));
    nbs[u] = nb;
    nst[u] = (x << nb) - size;
  }
}

function codeBase(kind: number, s: number): number {
  return kind === LL ? LL_BASE[s]! : kind === ML ? ML_BASE[s]! : 1 << s;
}

function codeExtra(kind: number, s: number): number {
  return kind === LL ? LL_EXTRA[s]! : kind === ML ? ML_EXTRA[s]! : s;
}

/** Converts the FSE table in fseSym/fseNb/fseNext into a sequence table of `kind`. */
function fillSeqTable(t: SeqTable, kind: number, log: number): void {
  const size = 1 << log;
  const e = t.e, sym = fseSym, nbs = fseNb, nst = fseNext, at = SEQ_STATE_AT[kind]!;
  const base = kind === LL ? LL_BASE : kind === ML ? ML_BASE : null, extra = kind === LL ? LL_EXTRA : kind === ML ? ML_EXTRA : null;
  for (let u = 0; u < size; u++) {
    const s = sym[u]!;
    e[2 * u] = nbs[u]! | ((extra ? extra[s]! : s) << 8) | ((at + nst[u]!) << 16);
    e[2 * u + 1] = base ? base[s]! : 1 << s;
  }
  t.log = log;
}

function predefined(kind: number, dist: number[], log: number): SeqTable {
  for (let s = 0; s < dist.length; s++) norm[s] = dist[s]!;
  buildFse(dist.length, log);
  const t = newSeqTable(log);
  fillSeqTable(t, kind, log);
  return t;
}

const PREDEFINED: SeqTable[] = [predefined(LL, LL_DEFAULT, 6), predefined(OF, OF_DEFAULT, 5), predefined(ML, ML_DEFAULT, 6)];

// ---- backward bitstreams

/** Bit position just below the end marker of the backward bitstream buf[a..e). */
function streamStart(st: State, buf: Uint8Array, a: number, e: number, at: number, what: string): number {
  if (e <= a) fail(st, at + a, `${what}: empty bitstream`);
  const last = buf[e - 1]!;
  if (last === 0) fail(st, at + e - 1, `${what}: bitstream has no end marker`);
  return (e - 1 - a) * 8 + highBit(last);
}

/** `n` (<= 25) bits of the stream starting at buf[a] at bit position pos (already decremented). */
function bitsAt(buf: Uint8Array, a: number, pos: number, n: number): number {
  const i = a + (pos >> 3);
  return ((buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24)) >> (pos & 7)) & ((1 << n) - 1);
}

// ---- Huffman

/**
 * Reads a Huffman tree description at buf[p..end) (RFC 8878 §4.2.1) and builds hufTable.
 * Returns the position after the description; sets st.hufBits.
 */
function readHuffmanTree(st: State, buf: Uint8Array, p: number, end: number, at: number): number {
  if (p >= end) fail(st, at + p, 'Huffman tree description missing');
  hufTable2Valid = false;
  const header = buf[p++]!;
  let n: number;
  if (header >= 128) {
    n = header - 127;
    const bytes = (n + 1) >> 1;
    if (bytes > end - p) fail(st, at + p - 1, `Huffman weights (${bytes} bytes) run past the literals section`);
    for (let i = 0; i < n; i++) {
      const b = buf[p + (i >> 1)]!;
      weights[i] = i & 1 ? b & 15 : b >> 4;
    }
    p += bytes;
  } else {
    const size = header;
    if (size > end - p) fail(st, at + p - 1, `Huffman weights (${size} bytes) run past the literals section`);
    n = decodeFseWeights(st, buf, p, p + size, at);
    p += size;
  }
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const w = weights[i]!;
    if (w > HUF_MAX_BITS) fail(st, at + p, `Huffman weight ${w} beyond ${HUF_MAX_BITS}`);
    if (w) sum += 1 << (w - 1);
  }
  if (sum === 0) fail(st, at + p, 'Huffman weights are all zero');
  const maxBits = highBit(sum) + 1;
  if (maxBits > HUF_MAX_BITS) fail(st, at + p, `Huffman codes of ${maxBits} bits, beyond ${HUF_MAX_BITS}`);
  const rest = (1 << maxBits) - sum;
  if (rest & (rest - 1)) fail(st, at + p, 'Huffman weights do not complete to a power of two');
  weights[n] = highBit(rest) + 1; // the last symbol's weight is implied
  const nSymbols = n + 1;
  // canonical order: by increasing weight, then by symbol; weight w takes 2^(w-1) cells
  rankStart.fill(0);
  for (let s = 0; s < nSymbols; s++) rankStart[weights[s]!]++;
  // how often a lookup of hufTable2 would give two symbols: code lengths l1 + l2 <= HUF2_BITS,
  // a code of length l taking 2^-l of the probability
  let pairs = 0;
  for (let w1 = 1; w1 <= maxBits; w1++) {
    for (let w2 = 1; w2 <= maxBits; w2++) {
      if (2 * maxBits + 2 - w1 - w2 <= HUF2_BITS) pairs += rankStart[w1]! * rankStart[w2]! * 2 ** (w1 + w2 - 2 * maxBits - 2);
    }
  }
  hufPairsLikely = pairs >= HUF2_MIN_PAIRS;
  let next = 0;
  for (let w = 1; w <= maxBits; w++) {
    const c = rankStart[w]!;
    rankStart[w] = next;
    next += c << (w - 1);
  }
  for (let s = 0; s < nSymbols; s++) {
    const w = weights[s]!;
    if (!w) continue;
    const len = 1 << (w - 1);
    const entry = (s << 8) | (maxBits + 1 - w);
    const from = rankStart[w]!;
    hufTable.fill(entry, from, from + len);
    rankStart[w] = from + len;
  }
  st.hufBits = maxBits;
  return p;
}

/** FSE-compressed Huffman weights in buf[p..end) into `weights`; returns how many. */
function decodeFseWeights(st: State, buf: Uint8Array, p: number, end: number, at: number): number {
  const q = readFseDescription(st, buf, p, end, 255, 6, at, 'Huffman weights');
  const log = descLog;
  buildFse(descSymbols, log);
  let pos = streamStart(st, buf, q, end, at, 'Huffman weights');
  // two interleaved states; when a state update runs past the stream's start, the other state
  // gives the last symbol (RFC 8878 §4.2.1.2). Bits below the start read as whatever precedes the
  // stream: those states are never used.
  pos -= log;
  if (pos < 0) fail(st, at + q, 'Huffman weights: bitstream too short');
  let s1 = bitsAt(buf, q, pos, log);
  pos -= log;
  if (pos < 0) fail(st, at + q, 'Huffman weights: bitstream too short');
  let s2 = bitsAt(buf, q, pos, log);
  let n = 0;
  for (;;) {
    if (n > 253) fail(st, at + p, 'Huffman weights: more than 255 weights');
    weights[n++] = fseSym[s1]!;
    let nb = fseNb[s1]!;
    pos -= nb;
    s1 = fseNext[s1]! + bitsAt(buf, q, pos, nb);
    if (pos < 0) {
      weights[n++] = fseSym[s2]!;
      break;
    }
    weights[n++] = fseSym[s2]!;
    nb = fseNb[s2]!;
    pos -= nb;
    s2 = fseNext[s2]! + bitsAt(buf, q, pos, nb);
    if (pos < 0) {
      if (n > 254) fail(st, at + p, 'Huffman weights: more than 255 weights');
      weights[n++] = fseSym[s1]!;
      break;
    }
  }
  return n;
}

/**
 * Decodes `count` literals from the single Huffman stream buf[a..e) into dst[o..). Table entries
 * are symbol << 8 | nbBits for the next maxBits bits.
 */
function huffmanStream(st: State, buf: Uint8Array, bv: DataView, a: number, e: number, o: number, count: number, maxBits: number, at: number, dst: Uint8Array): void {
  let pos = streamStart(st, buf, a, e, at, 'Huffman literals');
  const mask = (1 << maxBits) - 1;
  const oEnd = o + count;
  const table = hufTable, lit = dst;
  // fast part: enough bits left for 4 symbols
  const safe = 4 * maxBits;
  while (oEnd - o >= 4 && pos >= safe) {
    for (let k = 0; k < 4; k++) {
      const x = pos - maxBits;
      const i = a + (x >> 3);
      const t = table[(bv.getInt32(i, true) >>> (x & 7)) & mask]!;
      lit[o++] = t >> 8;
      pos -= t & 15;
    }
  }
  while (o < oEnd) {
    const x = pos - maxBits;
    const i = a + (x >> 3);
    const t = table[(bv.getInt32(i, true) >>> (x & 7)) & mask]!;
    lit[o++] = t >> 8;
    pos -= t & 15;
    if (pos < 0) fail(st, at + a, 'Huffman literals: stream ends before its literals');
  }
  if (pos !== 0) fail(st, at + a, `Huffman literals: ${pos} bits left over in the stream`);
}

/** Four Huffman streams (jump table + streams) in buf[p..end), `regen` literals into dst[base..). */
function huffman4(st: State, buf: Uint8Array, bv: DataView, p: number, end: number, regen: number, maxBits: number, at: number, dst: Uint8Array, base: number): void {
  if (end - p < 10) fail(st, at + p, 'Huffman literals: 4-stream section shorter than its jump table');
  const a1 = p + 6;
  const a2 = a1 + (buf[p]! | (buf[p + 1]! << 8));
  const a3 = a2 + (buf[p + 2]! | (buf[p + 3]! << 8));
  const a4 = a3 + (buf[p + 4]! | (buf[p + 5]! << 8));
  if (a4 >= end) fail(st, at + p, 'Huffman literals: jump table points past the literals section');
  const seg = (regen + 3) >> 2;
  if (3 * seg > regen) fail(st, at + p, `Huffman literals: ${regen} literals cannot be split over 4 streams`);
  let p1 = streamStart(st, buf, a1, a2, at, 'Huffman literals stream 1');
  let p2 = streamStart(st, buf, a2, a3, at, 'Huffman literals stream 2');
  let p3 = streamStart(st, buf, a3, a4, at, 'Huffman literals stream 3');
  let p4 = streamStart(st, buf, a4, end, at, 'Huffman literals stream 4');
  const mask = (1 << maxBits) - 1;
  const table = hufTable, lit = dst;
  const end1 = base + seg, end2 = base + 2 * seg, end3 = base + 3 * seg, end4 = base + regen;
  let o1 = base, o2 = end1, o3 = end2, o4 = end3;
  // fast part: two symbols per stream per round while every stream has the bits for them; the
  // fourth stream is the shortest, so it bounds the round count for all four
  // One 4-byte load gives both symbols of a stream: the 2 * maxBits (<= 22) bits below its
  // position start at most 7 bits into the load
  const safe = 2 * maxBits;
  const shift = maxBits;
  if (forceHuf2 || (regen >= HUF2_FROM && hufPairsLikely)) {
    if (!hufTable2Valid) buildHufTable2(maxBits);
    // Two lookups of hufTable2 per stream per round, 2-4 symbols; each lookup stores two bytes
    // (the second is garbage when its count is 1, and the next store overwrites it), so a stream
    // needs 4 bytes of room before its segment's end; the streams advance unevenly, so all four
    // are checked. The tails finish each stream one symbol at a time.
    const t2 = hufTable2;
    const safe2 = 2 * HUF2_BITS, shift2 = HUF2_BITS, mask2 = (1 << HUF2_BITS) - 1;
    const litV = new DataView(lit.buffer, lit.byteOffset, lit.byteLength);
    const e1 = end1 - 4, e2 = end2 - 4, e3 = end3 - 4, e4 = end4 - 4;
    while (o1 <= e1 && o2 <= e2 && o3 <= e3 && o4 <= e4 && p1 >= safe2 && p2 >= safe2 && p3 >= safe2 && p4 >= safe2) {
      // all loads of a round before its stores: a DataView store makes V8 reload and check every
      // typed array and DataView used after it (their maps, lengths and data pointers), and when the
      // bundler has made the module's tables `var`s instead of consts, nothing is constant-folded
      let x = p1 - safe2;
      let w = bv.getInt32(a1 + (x >> 3), true) >>> (x & 7);
      const t1 = t2[(w >>> shift2) & mask2]!;
      const u1 = t2[(w >>> (shift2 - ((t1 >>> 16) & 255))) & mask2]!;
      x = p2 - safe2;
      w = bv.getInt32(a2 + (x >> 3), true) >>> (x & 7);
      const tb = t2[(w >>> shift2) & mask2]!;
      const ub = t2[(w >>> (shift2 - ((tb >>> 16) & 255))) & mask2]!;
      x = p3 - safe2;
      w = bv.getInt32(a3 + (x >> 3), true) >>> (x & 7);
      const tc = t2[(w >>> shift2) & mask2]!;
      const uc = t2[(w >>> (shift2 - ((tc >>> 16) & 255))) & mask2]!;
      x = p4 - safe2;
      w = bv.getInt32(a4 + (x >> 3), true) >>> (x & 7);
      const td = t2[(w >>> shift2) & mask2]!;
      const ud = t2[(w >>> (shift2 - ((td >>> 16) & 255))) & mask2]!;
      p1 -= ((t1 >>> 16) & 255) + ((u1 >>> 16) & 255);
      p2 -= ((tb >>> 16) & 255) + ((ub >>> 16) & 255);
      p3 -= ((tc >>> 16) & 255) + ((uc >>> 16) & 255);
      p4 -= ((td >>> 16) & 255) + ((ud >>> 16) & 255);
      litV.setUint16(o1, t1, true);
      o1 += t1 >>> 24;
      litV.setUint16(o1, u1, true);
      o1 += u1 >>> 24;
      litV.setUint16(o2, tb, true);
      o2 += tb >>> 24;
      litV.setUint16(o2, ub, true);
      o2 += ub >>> 24;
      litV.setUint16(o3, tc, true);
      o3 += tc >>> 24;
      litV.setUint16(o3, uc, true);
      o3 += uc >>> 24;
      litV.setUint16(o4, td, true);
      o4 += td >>> 24;
      litV.setUint16(o4, ud, true);
      o4 += ud >>> 24;
    }
  }
  // (after the loop above the streams are no longer in step: this loop checks only stream 4)
  else while (end4 - o4 >= 2 && p1 >= safe && p2 >= safe && p3 >= safe && p4 >= safe) {
    // loads first, then stores (see the loop above)
    let x = p1 - safe;
    let w = bv.getInt32(a1 + (x >> 3), true) >>> (x & 7);
    const t1 = table[(w >>> shift) & mask]!;
    const u1 = table[(w >>> (shift - (t1 & 15))) & mask]!;
    x = p2 - safe;
    w = bv.getInt32(a2 + (x >> 3), true) >>> (x & 7);
    const tb = table[(w >>> shift) & mask]!;
    const ub = table[(w >>> (shift - (tb & 15))) & mask]!;
    x = p3 - safe;
    w = bv.getInt32(a3 + (x >> 3), true) >>> (x & 7);
    const tc = table[(w >>> shift) & mask]!;
    const uc = table[(w >>> (shift - (tc & 15))) & mask]!;
    x = p4 - safe;
    w = bv.getInt32(a4 + (x >> 3), true) >>> (x & 7);
    const td = table[(w >>> shift) & mask]!;
    const ud = table[(w >>> (shift - (td & 15))) & mask]!;
    p1 -= (t1 & 15) + (u1 & 15);
    p2 -= (tb & 15) + (ub & 15);
    p3 -= (tc & 15) + (uc & 15);
    p4 -= (td & 15) + (ud & 15);
    lit[o1] = t1 >> 8;
    lit[o1 + 1] = u1 >> 8;
    lit[o2] = tb >> 8;
    lit[o2 + 1] = ub >> 8;
    lit[o3] = tc >> 8;
    lit[o3 + 1] = uc >> 8;
    lit[o4] = td >> 8;
    lit[o4 + 1] = ud >> 8;
    o1 += 2;
    o2 += 2;
    o3 += 2;
    o4 += 2;
  }
  huffmanTail(st, buf, bv, a1, p1, o1, end1, maxBits, at, lit);
  huffmanTail(st, buf, bv, a2, p2, o2, end2, maxBits, at, lit);
  huffmanTail(st, buf, bv, a3, p3, o3, end3, maxBits, at, lit);
  huffmanTail(st, buf, bv, a4, p4, o4, end4, maxBits, at, lit);
}

/**
 * 4-stream literal sections of at least this many literals decode two symbols per lookup when they
 * can: building hufTable2 (4096 entries, once per tree) pays off only over many literals.
 */
const HUF2_FROM = 1 << 13;
/**
 * Below this share of two-symbol lookups (binaries: codes of 7-11 bits) building hufTable2 costs more
 * than it saves (the build was 2% of the bench corpus's decode profile, where the share is low).
 */
const HUF2_MIN_PAIRS = 0.25;
/** the share of two-symbol lookups of the current tree is at least HUF2_MIN_PAIRS */
let hufPairsLikely = false;
/** true while the warm-up runs (its frames are small), so both loops get type feedback */
let forceHuf2 = false;

/** Fills hufTable2 from hufTable (see there). */
function buildHufTable2(maxBits: number): void {
  const size = 1 << HUF2_BITS, mask = size - 1, down = HUF2_BITS - maxBits;
  for (let i = 0; i < size; i++) {
    const t = hufTable[i >> down]!;
    const nb = t & 15;
    const u = hufTable[((i << nb) & mask) >> down]!;
    const nb2 = u & 15;
    hufTable2[i] = nb + nb2 <= HUF2_BITS ? (t >> 8) | (u & 0xff00) | ((nb + nb2) << 16) | (2 << 24) : (t >> 8) | (nb << 16) | (1 << 24);
  }
  hufTable2Valid = true;
}

/** The rest of one stream of huffman4, one symbol at a time; the stream must end exactly. */
function huffmanTail(st: State, buf: Uint8Array, bv: DataView, a: number, pos: number, o: number, oEnd: number, maxBits: number, at: number, dst: Uint8Array): void {
  const mask = (1 << maxBits) - 1;
  const table = hufTable, lit = dst;
  while (o < oEnd) {
    const x = pos - maxBits;
    const i = a + (x >> 3);
    const t = table[(bv.getInt32(i, true) >>> (x & 7)) & mask]!;
    lit[o++] = t >> 8;
    pos -= t & 15;
    if (pos < 0) fail(st, at + a, 'Huffman literals: stream ends before its literals');
  }
  if (pos !== 0) fail(st, at + a, `Huffman literals: ${pos} bits left over in the stream`);
}

// ---- blocks

/**
 * Sets up the sequence table of `kind` for `mode` at buf[p..end); returns the position after its
 * description.
 */
function seqTable(st: State, kind: number, mode: number, buf: Uint8Array, p: number, end: number, at: number): number {
  const what = KIND_NAME[kind]!;
  if (mode === 0) {
    st.tables[kind] = PREDEFINED[kind]!;
    return p;
  }
  if (mode === 1) {
    if (p >= end) fail(st, at + p, `${what}: RLE symbol missing`);
    const s = buf[p]!;
    if (s > KIND_MAX_SYMBOL[kind]!) fail(st, at + p, `${what}: RLE symbol ${s} beyond ${KIND_MAX_SYMBOL[kind]}`);
    const t = dynTables[kind]!;
    t.e[0] = (codeExtra(kind, s) << 8) | (SEQ_STATE_AT[kind]! << 16);
    t.e[1] = codeBase(kind, s);
    t.log = 0;
    st.tables[kind] = t;
    return p + 1;
  }
  if (mode === 2) {
    const q = readFseDescription(st, buf, p, end, KIND_MAX_SYMBOL[kind]!, KIND_MAX_LOG[kind]!, at, what);
    buildFse(descSymbols, descLog);
    const t = dynTables[kind]!;
    fillSeqTable(t, kind, descLog);
    st.tables[kind] = t;
    return q;
  }
  if (!st.tables[kind]) fail(st, at + p, `${what}: repeat mode with no previous table in the frame`);
  return p;
}

/**
 * Decodes the compressed block buf[bs..be) into out[op..); `lim` bounds the output (the caller's
 * bound, the frame's content size and the 128 KiB block maximum, whichever is smallest); `frameStart`
 * is where the frame's output began (no offset may reach before it). Returns the new op.
 */
function decodeBlock(st: State, buf: Uint8Array, bv: DataView, bs: number, be: number, at: number, out: Uint8Array, op: number, lim: number, frameStart: number, boundDetail: string): number {
  // ---- literals section header
  const b0 = buf[bs]!;
  const ltype = b0 & 3;
  const sf = (b0 >> 2) & 3;
  let lit: Uint8Array;
  let lp: number;
  let regen: number;
  let q: number;
  if (ltype < 2) {
    let hs: number;
    if ((sf & 1) === 0) {
      hs = 1;
      regen = b0 >> 3;
    } else if (sf === 1) {
      hs = 2;
      regen = (b0 >> 4) | (buf[bs + 1]! << 4);
    } else {
      hs = 3;
      regen = (b0 >> 4) | (buf[bs + 1]! << 4) | (buf[bs + 2]! << 12);
    }
    if (hs > be - bs) fail(st, at + bs, 'literals section header runs past the block');
    if (regen > BLOCK_MAX) fail(st, at + bs, `literals section of ${regen} bytes, beyond the 128 KiB block maximum`);
    if (ltype === 0) {
      if (regen > be - bs - hs) fail(st, at + bs, `raw literals (${regen} bytes) run past the block`);
      lit = buf;
      lp = bs + hs;
      q = lp + regen;
    } else {
      if (hs >= be - bs) fail(st, at + bs, 'RLE literals byte missing');
      litBuf.fill(buf[bs + hs]!, 0, regen);
      lit = litBuf;
      lp = 0;
      q = bs + hs + 1;
    }
  } else {
    let hs: number;
    let comp: number;
    const h = buf[bs]! | (buf[bs + 1]! << 8) | (buf[bs + 2]! << 16);
    if (sf < 2) {
      hs = 3;
      regen = (h >>> 4) & 0x3ff;
      comp = (h >>> 14) & 0x3ff;
    } else if (sf === 2) {
      hs = 4;
      const h4 = h | (buf[bs + 3]! << 24);
      regen = (h4 >>> 4) & 0x3fff;
      comp = (h4 >>> 18) & 0x3fff;
    } else {
      hs = 5;
      regen = (h >>> 4) & 0x3ffff;
      comp = (h >>> 22) | (buf[bs + 3]! << 2) | (buf[bs + 4]! << 10);
    }
    if (hs > be - bs) fail(st, at + bs, 'literals section header runs past the block');
    if (regen > BLOCK_MAX) fail(st, at + bs, `literals section of ${regen} bytes, beyond the 128 KiB block maximum`);
    if (comp > be - bs - hs) fail(st, at + bs, `compressed literals (${comp} bytes) run past the block`);
    let p = bs + hs;
    const cEnd = p + comp;
    if (ltype === 2) p = readHuffmanTree(st, buf, p, cEnd, at);
    else if (!st.hufBits) fail(st, at + bs, 'treeless literals with no previous Huffman table in the frame');
    // A block of literals only (an empty sequences section right after them) decodes its literals
    // straight into the output, not through litBuf and a copy (the literals then are the block)
    const direct = cEnd + 1 === be && buf[cEnd] === 0 && regen <= lim - op;
    const dst = direct ? out : litBuf, base = direct ? op : 0;
    if (sf === 0) huffmanStream(st, buf, bv, p, cEnd, base, regen, st.hufBits, at, dst);
    else huffman4(st, buf, bv, p, cEnd, regen, st.hufBits, at, dst, base);
    if (direct) return op + regen;
    lit = litBuf;
    lp = 0;
    q = cEnd;
  }
  const litEnd = lp + regen;

  // ---- sequences section header
  if (q >= be) fail(st, at + q, 'sequences section header missing');
  let nbSeq = buf[q]!;
  if (nbSeq === 0) {
    if (q + 1 !== be) fail(st, at + q, 'bytes after an empty sequences section');
  } else if (nbSeq < 128) {
    q += 1;
  } else if (nbSeq < 255) {
    if (be - q < 2) fail(st, at + q, 'sequences section header runs past the block');
    nbSeq = ((nbSeq - 128) << 8) + buf[q + 1]!;
    q += 2;
  } else {
    if (be - q < 3) fail(st, at + q, 'sequences section header runs past the block');
    nbSeq = buf[q + 1]! + (buf[q + 2]! << 8) + 0x7f00;
    q += 3;
  }
  if (nbSeq === 0) {
    if (regen > lim - op) fail(st, at + bs, `${regen} literals would ${boundDetail}`);
    out.set(lit.subarray(lp, litEnd), op);
    return op + regen;
  }
  if (q >= be) fail(st, at + q, 'symbol compression modes missing');
  const modes = buf[q]!;
  if (modes & 3) fail(st, at + q, 'reserved bits set in the symbol compression modes');
  q++;
  q = seqTable(st, LL, modes >> 6, buf, q, be, at);
  q = seqTable(st, OF, (modes >> 4) & 3, buf, q, be, at);
  q = seqTable(st, ML, (modes >> 2) & 3, buf, q, be, at);

  // ---- sequences: decode and execute
  const a = q;
  const pos = streamStart(st, buf, a, be, at, 'sequences');
  op = sequences(st, buf, bv, a, pos, nbSeq, st.tables[LL]!, st.tables[OF]!, st.tables[ML]!, lit, lp, litEnd, out, op, lim, frameStart, at, boundDetail);
  lp = seqLitPos;
  const rest = litEnd - lp;
  if (rest > lim - op) fail(st, at + a, `${rest} trailing literals would ${boundDetail}`);
  if (rest <= 16) {
    for (let k = 0; k < rest; k++) out[op + k] = lit[lp + k]!;
  } else {
    out.set(lit.subarray(lp, litEnd), op);
  }
  return op + rest;
}

/** where `sequences` left the literals */
let seqLitPos = 0;

/**
 * Decodes and executes `nbSeq` sequences from the backward bitstream starting at buf[a] (bit
 * position `pos` just below its end marker): literals from lit[lp..litEnd), matches from out itself.
 * Returns the new op and leaves the literal position in seqLitPos and the repeat offsets in st.
 * The hot loop of the decoder: bit reads are written out (one 4-byte load per group of fields when
 * they fit in it), the three tables are one typed array (seqTab), and nothing is called but fail().
 */
function sequences(
  st: State, buf: Uint8Array, bv: DataView, a: number, pos: number, nbSeq: number, llT: SeqTable, ofT: SeqTable, mlT: SeqTable,
  lit: Uint8Array, lp: number, litEnd: number, out: Uint8Array, op: number, lim: number, frameStart: number, at: number, boundDetail: string,
): number {
  const T = seqTab;
  T.set(llT.e, 2 * SEQ_STATE_AT[LL]!);
  T.set(ofT.e, 2 * SEQ_STATE_AT[OF]!);
  T.set(mlT.e, 2 * SEQ_STATE_AT[ML]!);
  const outV = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const litV = new DataView(lit.buffer, lit.byteOffset, lit.byteLength);
  const outLen = out.length;
  // Everything in the loop stays int32: states, bit positions, lengths and offsets (a double there
  // made V8 carry the states as doubles with a conversion check per table lookup), and the loop
  // calls nothing (no copyWithin / set / subarray; fail() is never reached on valid data), so V8
  // keeps the typed arrays' maps and lengths checked once instead of reloading them per access.
  // initial states: literal lengths, offsets, match lengths, from the top of the stream down
  const llLog = llT.log, ofLog = ofT.log, mlLog = mlT.log;
  pos -= llLog + ofLog + mlLog;
  if (pos < 0) fail(st, at + a, 'sequences: bitstream shorter than the initial states');
  let i = a + ((pos + mlLog + ofLog) >> 3);
  let llS = SEQ_STATE_AT[LL]! + ((bv.getInt32(i, true) >>> ((pos + mlLog + ofLog) & 7)) & ((1 << llLog) - 1));
  i = a + ((pos + mlLog) >> 3);
  let ofS = SEQ_STATE_AT[OF]! + ((bv.getInt32(i, true) >>> ((pos + mlLog) & 7)) & ((1 << ofLog) - 1));
  i = a + (pos >> 3);
  let mlS = SEQ_STATE_AT[ML]! + ((bv.getInt32(i, true) >>> (pos & 7)) & ((1 << mlLog) - 1));
  let w = 0;
  let rep1 = st.rep1, rep2 = st.rep2, rep3 = st.rep3;
  for (let s = 0; s < nbSeq; s++) {
    const ofI = T[ofS << 1]!, mlI = T[mlS << 1]!, llI = T[llS << 1]!;
    const ofN = (ofI >>> 8) & 0xff, mlN = (mlI >>> 8) & 0xff, llN = (llI >>> 8) & 0xff;
    // extra bits: offset (highest), match length, literal length (lowest)
    let offVal: number, ml: number, ll: number;
    const xN = ofN + mlN + llN;
    if (xN <= 25) {
      pos -= xN;
      i = a + (pos >> 3);
      w = bv.getInt32(i, true) >> (pos & 7);
      ll = T[(llS << 1) + 1]! + (w & ((1 << llN) - 1));
      w >>>= llN;
      ml = T[(mlS << 1) + 1]! + (w & ((1 << mlN) - 1));
      offVal = T[(ofS << 1) + 1]! + ((w >>> mlN) & ((1 << ofN) - 1));
    } else {
      // offset bits (up to 30) in two reads, then the lengths (up to 16 bits each) one by one;
      // the sum stays below 2^31
      let n = ofN > 24 ? ofN - 24 : 0;
      pos -= n;
      i = a + (pos >> 3);
      const hi = (bv.getInt32(i, true) >> (pos & 7)) & ((1 << n) - 1);
      n = ofN - n;
      pos -= n;
      i = a + (pos >> 3);
      offVal = T[(ofS << 1) + 1]! + ((hi << n) | ((bv.getInt32(i, true) >> (pos & 7)) & ((1 << n) - 1)));
      pos -= mlN;
      i = a + (pos >> 3);
      ml = T[(mlS << 1) + 1]! + ((bv.getInt32(i, true) >> (pos & 7)) & ((1 << mlN) - 1));
      pos -= llN;
      i = a + (pos >> 3);
      ll = T[(llS << 1) + 1]! + ((bv.getInt32(i, true) >> (pos & 7)) & ((1 << llN) - 1));
    }
    if (s + 1 < nbSeq) {
      // state updates: literal lengths (highest), match lengths, offsets (lowest); at most 26 bits
      const llB = llI & 0xff, mlB = mlI & 0xff, ofB = ofI & 0xff;
      const uN = llB + mlB + ofB;
      if (uN <= 25) {
        pos -= uN;
        i = a + (pos >> 3);
        w = bv.getInt32(i, true) >> (pos & 7);
        ofS = (ofI >>> 16) + (w & ((1 << ofB) - 1));
        w >>>= ofB;
        mlS = (mlI >>> 16) + (w & ((1 << mlB) - 1));
        llS = (llI >>> 16) + ((w >>> mlB) & ((1 << llB) - 1));
      } else {
        // 26 bits (9 + 9 + 8): the lengths' 18 bits, then the offset's 8
        pos -= llB + mlB;
        i = a + (pos >> 3);
        w = bv.getInt32(i, true) >> (pos & 7);
        mlS = (mlI >>> 16) + (w & ((1 << mlB) - 1));
        llS = (llI >>> 16) + ((w >>> mlB) & ((1 << llB) - 1));
        pos -= ofB;
        i = a + (pos >> 3);
        ofS = (ofI >>> 16) + ((bv.getInt32(i, true) >> (pos & 7)) & ((1 << ofB) - 1));
      }
    }
    if (pos < 0) fail(st, at + a, `sequences: bitstream ends in sequence ${s} of ${nbSeq}`);

    let off: number;
    if (offVal > 3) {
      off = offVal - 3;
      rep3 = rep2;
      rep2 = rep1;
      rep1 = off;
    } else {
      // repeat offsets; with no literals the codes shift by one (RFC 8878 §3.1.2.5)
      const r = ll === 0 ? offVal : offVal - 1;
      if (r === 0) {
        off = rep1;
      } else if (r === 1) {
        off = rep2;
        rep2 = rep1;
        rep1 = off;
      } else if (r === 2) {
        off = rep3;
        rep3 = rep2;
        rep2 = rep1;
        rep1 = off;
      } else {
        off = rep1 - 1;
        if (off === 0) fail(st, at + a, `sequences: repeat offset 1 - 1 is zero in sequence ${s}`);
        rep3 = rep2;
        rep2 = rep1;
        rep1 = off;
      }
    }

    if (ll > litEnd - lp) fail(st, at + a, `sequences: sequence ${s} takes ${ll} literals, ${litEnd - lp} left`);
    if (ll + ml > lim - op) fail(st, at + a, `sequences: sequence ${s} would ${boundDetail}`);
    if (off > op + ll - frameStart) fail(st, at + a, `sequences: offset ${off} in sequence ${s} reaches before the frame's ${op + ll - frameStart} decoded bytes`);
    if (op + ll + ml + 16 > outLen) {
      // within 16 bytes of the output's end: byte by byte (which repeats overlaps as the format means)
      for (let k = 0; k < ll; k++) out[op + k] = lit[lp + k]!;
      op += ll;
      lp += ll;
      for (const mEnd = op + ml; op < mEnd; op++) out[op] = out[op - off]!;
      continue;
    }
    // Literals and matches are copied in 4-byte words and may write up to 15 bytes past the
    // sequence (the check above keeps that inside out): the next literals / match / block
    // overwrite them. Literals may be read up to 7 bytes past litEnd: every literals buffer has
    // PAD bytes after its end (litBuf; a block read in place has PAD bytes after it in src, and
    // blockCopy has them too).
    outV.setInt32(op, litV.getInt32(lp, true), true);
    outV.setInt32(op + 4, litV.getInt32(lp + 4, true), true);
    for (let k = 8; k < ll; k += 8) {
      outV.setInt32(op + k, litV.getInt32(lp + k, true), true);
      outV.setInt32(op + k + 4, litV.getInt32(lp + k + 4, true), true);
    }
    op += ll;
    lp += ll;
    const m = op - off;
    const mEnd = op + ml;
    if (off < 4) {
      // a period of 1-3 bytes: the first `d` bytes one by one, where d is the period's smallest
      // multiple of at least 4; from there on, words copied from d bytes back repeat it
      const d = off === 3 ? 6 : 4;
      for (let k = 0; k < d; k++) out[op + k] = out[m + k]!;
      for (let k = d; k < ml; k += 4) outV.setInt32(op + k, outV.getInt32(op + k - d, true), true);
      op = mEnd;
      continue;
    }
    // With a distance of 4 or more every word read lies below the word being written, so overlaps
    // repeat correctly. 16 bytes at a time: always the first four words (a branch on ml > 8
    // mispredicted, ml averages ~11 here), then the rest; copyWithin was tried for long matches
    // but any call in this loop slows every sequence (see above), and matches over 256 bytes are
    // ~0.04% of sequences.
    outV.setInt32(op, outV.getInt32(m, true), true);
    outV.setInt32(op + 4, outV.getInt32(m + 4, true), true);
    outV.setInt32(op + 8, outV.getInt32(m + 8, true), true);
    outV.setInt32(op + 12, outV.getInt32(m + 12, true), true);
    for (let k = 16; k < ml; k += 16) {
      outV.setInt32(op + k, outV.getInt32(m + k, true), true);
      outV.setInt32(op + k + 4, outV.getInt32(m + k + 4, true), true);
      outV.setInt32(op + k + 8, outV.getInt32(m + k + 8, true), true);
      outV.setInt32(op + k + 12, outV.getInt32(m + k + 12, true), true);
    }
    op = mEnd;
  }
  if (pos !== 0) fail(st, at + a, `sequences: ${pos} bits left over after the last sequence`);
  st.rep1 = rep1;
  st.rep2 = rep2;
  st.rep3 = rep3;
  seqLitPos = lp;
  return op;
}

// ---- frames

/** Result of decodeFrame: the positions after it (to avoid allocating a pair per frame). */
let frameEndP = 0;
let frameEndOp = 0;

function decodeFrame(st: State, src: Uint8Array, p: number, out: Uint8Array, op: number): void {
  const base = st.base;
  const frameAt = p;
  p += 4;
  if (p >= src.length) fail(st, base + p, 'frame header missing');
  const fhd = src[p]!;
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  if (fhd & 8) fail(st, base + p, 'reserved bit set in the frame header descriptor');
  const hasChecksum = (fhd >> 2) & 1;
  const didSize = [0, 1, 2, 4][fhd & 3]!;
  const fcsSize = [single, 2, 4, 8][fcsFlag]!;
  const headerSize = 1 + (single ? 0 : 1) + didSize + fcsSize;
  if (headerSize > src.length - p) fail(st, base + p, 'frame header runs past the input');
  let h = p + 1;
  if (!single) h++; // window descriptor: the output array is the window, so its size is not needed
  let did = 0;
  for (let k = 0; k < didSize; k++) did += src[h + k]! * 2 ** (8 * k);
  h += didSize;
  if (did !== 0) throw new UnsupportedError('zstd dictionary', `frame at byte ${base + frameAt} needs dictionary ${did}`);
  let fcs = -1;
  if (fcsSize) {
    fcs = 0;
    for (let k = 0; k < fcsSize; k++) fcs += src[h + k]! * 2 ** (8 * k);
    if (fcsSize === 2) fcs += 256;
  }
  p += headerSize;
  const frameStart = op;
  let limit = out.length;
  let boundDetail = `exceed the ${out.length}-byte output`;
  if (fcs >= 0) {
    if (fcs > out.length - op) fail(st, base + frameAt, `frame declares ${fcs} bytes of content, more than the ${out.length - op} bytes left of the ${out.length}-byte output`);
    limit = op + fcs;
    boundDetail = `exceed the frame's declared ${fcs}-byte content`;
  }
  st.hufBits = 0;
  st.tables[0] = st.tables[1] = st.tables[2] = null;
  st.rep1 = 1;
  st.rep2 = 4;
  st.rep3 = 8;
  // one block per iteration, each at least 3 input bytes
  for (;;) {
    if (src.length - p < 3) fail(st, base + p, 'block header runs past the input');
    const bh = src[p]! | (src[p + 1]! << 8) | (src[p + 2]! << 16);
    const last = bh & 1;
    const type = (bh >> 1) & 3;
    const size = bh >>> 3;
    const blockAt = p;
    p += 3;
    if (type === 3) fail(st, base + blockAt, 'reserved block type');
    if (size > BLOCK_MAX) fail(st, base + blockAt, `block of ${size} bytes, beyond the 128 KiB maximum`);
    if (type === 0) {
      if (size > src.length - p) fail(st, base + blockAt, `raw block of ${size} bytes runs past the input`);
      if (size > limit - op) fail(st, base + blockAt, `raw block of ${size} bytes would ${boundDetail}`);
      out.set(src.subarray(p, p + size), op);
      op += size;
      p += size;
    } else if (type === 1) {
      if (p >= src.length) fail(st, base + blockAt, 'RLE block byte missing');
      if (size > limit - op) fail(st, base + blockAt, `RLE block of ${size} bytes would ${boundDetail}`);
      out.fill(src[p]!, op, op + size);
      op += size;
      p += 1;
    } else {
      if (size > src.length - p) fail(st, base + blockAt, `compressed block of ${size} bytes runs past the input`);
      if (size === 0) fail(st, base + blockAt, 'empty compressed block');
      const lim = Math.min(limit, op + BLOCK_MAX);
      const detail = lim === limit ? boundDetail : 'exceed the 128 KiB block maximum';
      if (p >= PAD && p + size + PAD <= src.length) {
        op = decodeBlock(st, src, st.srcView, p, p + size, base, out, op, lim, frameStart, detail);
      } else {
        blockCopy.set(src.subarray(p, p + size), PAD);
        blockCopy.fill(0, PAD + size, PAD + size + PAD);
        op = decodeBlock(st, blockCopy, blockCopyView, PAD, PAD + size, base + p - PAD, out, op, lim, frameStart, detail);
      }
      p += size;
    }
    if (last) break;
  }
  if (fcs >= 0 && op !== limit) fail(st, base + frameAt, `frame decodes to ${op - frameStart} bytes but declares ${fcs}`);
  if (hasChecksum) {
    if (src.length - p < 4) fail(st, base + p, 'content checksum runs past the input');
    const want = u32le(src, p);
    const got = xxh64Parts(out.subarray(frameStart, op))[1];
    if (got !== want) fail(st, base + p, `content checksum ${got.toString(16)} does not match the frame's ${want.toString(16)}`);
    p += 4;
  }
  frameEndP = p;
  frameEndOp = op;
}

/*
 * Warm-up before the first large output, as zstd-encode.ts does before its first large input (see
 * the comment above its warmUp()). On a large first call V8 replaces the running code on stack (OSR)
 * inside the first long loop of a function (huffman4's 4-stream loop, the sequence loop), before
 * the code after that loop (huffmanTail, the checks after the sequences) ever ran: that optimized
 * code has no type feedback there and deopts, and the next blocks enter the same OSR code and
 * deopt again ("Insufficient type feedback", node 20 --trace-deopt on the 8 MiB bench corpus, 12
 * calls: huffman4 4 times, sequences 12 times, decodeFseWeights once). Small frames first (short
 * loops, no OSR) run every path in the interpreter so the optimized code has the feedback; each is
 * decoded 10 times because V8 allocates a function's feedback vector only after 8 calls, once with
 * the two-symbol Huffman loop forced on (forceHuf2) and once without.
 * The frames: a 3000-byte sample of words mixed with binary runs (the generator is in
 * test/zstd-decode-paths.test.ts, which checks these frames against it) by `zstd -3` (checksum),
 * `zstd -19 --no-check`, and its first 200 bytes by `zstd -1` (one Huffman stream).
 */
/** base64 zstd frames; exported for the test that checks them */
export const ZSTD_WARM_UP_FRAMES = [
  'KLUv/WS4Cg0vANQ6RVJPRlMgQnAKAFFmDQB0aGUgc2VxdWVuY2UgHVra5awbHl95bP0Q/xmvYGJsb2NrIHpzdGQdAitGeHM68gr/' +
    'dQkAMDEyM29mIIVwAgBtYXRjaCBvZmZzZXSCZAQAUkFGUyCd8vf/CgC2Yi7fPPk1/ZQoygl8RLMCbGl0ZXJhbCBteQsAb2Ygb2Yg' +
    'Sv0NAOR2AfFqAADmh0ycBOfSNsnq9Hn2hqDrCmDyCQBiEtUNy7N3FaR2BAA6aLqO23QIRm9mBv0EANn9DQD6JPLS/BiH+8F1BwAK' +
    'rvsLACZzCAo9EHz3eNZ/4hGRKX6TlcsSV85a8dQWGNfxopRxxCqsakj8AgDHrTI4Ah8FOwqtewp0+QoACiC+l2PTkvyv34yXI0Vi' +
    '690HAncBAApvZiDK7j8c6eQKaAqcfb3XWwnU50Q/SozEoZDW7PsAsHEDAGo2KeZw31V33ERtQ7upCBdvZiBhcNktyRJyW6X9CQBv' +
    'Zm9mXnL1CUi2WNEKGXsGAOj2AgAKRGIyDBSnrz8TzhOGy1egR7Z1DQBFtDbViP7SJ38EAHnoBwAQ+wUKY/ECAIiiE9m/Qu+34e0G' +
    'AH3wBQAK6C2oTVCd5phvZiAj/gEecg4AzvQHffYOb2Y0/wsAjROt9RyhAZRs9Yr1KnqR9Qps6AYAJfMNAIFFID3DZxSIPmAOAKb5' +
    'vngDAApl/wkAG/0Nb+cON+gJAAFzDgAKb2Ygwf4PAAptOaFu35REFOEAfJ3jOtNh78NT0E+WH+5NvfNWcAcA2vIPAP7E0ZtFJ7Si' +
    'R2kOTPYHAPbhBG9mIIBwBQD2ZQUKf/kBTX9wjKsvfPq6cQT124z5LLjmfgpH+gqu+wkA7VRX66CXY0GW6A0ATVlo5pK8XKsKBfEG' +
    'YPAAE/8A7vIN33YLABRkDwD1CiykaxZWnXtmvR2Xg6hWP/wKAEtxgHcNAAoeihqFgQ/r5m9m6RS1ic9cU9h0CAAw8QNMFVfFF8SI' +
    'igoK79kR1VBGEuwq6AwAD20GANtzCwvxCACBfgMAEa3G9hr7gJHgPk6OY3n3a5B4AQBH5QgAiYxYI+0YRbr7DAC8YQQAxfsKAGx4' +
    'BQA6+gMAS38LAPceKwvtn8hDCkBXZXMr9jW/BEJAtu6xDB9vZjVwD5zjTgQpOiHvBxAraahcmWDwh0Xx8LTIJwApQUZvac3pdHAd' +
    'PelWodIKB/0I8AaCegyO+QUACNGzJyeQvrNuqd4A5JNrmNjvAABQ7TNEt3fe/id3BgBzZXGBDqgRjmFIRGyCFKSpdCEEEUXCYjIf' +
    'EYAkz0FXtUkHgbgOC9ngd0O9MTtw0iYvY2jnFCMdxVoLm+iNMF7G+FBAMxVi0QHcAJUAOJIkJUi0QvLwvc4tQ+dHGA667YRX+O/U' +
    'sYjQv016nnbq7X+8dxPj64e7f5QHwlI3ZPfluVg5K67bbtJuJ7bV0Y3t1Fyr4NC82xASk9EZav8+NF3vR5AXz3pejpTtMD01Q7V4' +
    '4RNBK6M/BiY/iMd287bzZMpew5NMwt/zrdvgSuzuxmqazfg0CjQK3JQg5xwsMfZxBtAlrcvBkel8R00LWVt6w7UxoBPvgPDWW1UL' +
    'BtckV2I5PCQqUYRiV0/4laIdYeXhH589sjcWZ0lDqUIaJzbD3hN8nHn8TBSg2uB9nSt4g67mUCNKnWlwt0VAlGPTPIgfLWJc8IZw' +
    'RxpWcGMaxO88WD3X5KgVpLUW2KWEoMXbLZ3+x7ZPGQj/J2OiOCZa9s5XNcvMZMcwPY6h265Zni6HUQHb4qmHT1cXZEynDLRZpE/X' +
    'AjaXprJVelEfl8Tz9gy9rcHIWgQh5Wo9ZRi/1o1xKzzWKYbbpcfJ9C0ltDRNctSTpYneSKDm/DYKR55dtngAkX6Ein4DeN0lNCEP' +
    'z3dsES+frVIvbUpBZzWu2s/VXmo/wCJjEp7DcwFsHl+zTx2IHUwS+HvqAxXWybANSHLXHEIsaE+tCpVaw2GGZ7OLYI6vS6i6aIls' +
    'cZ5quyuVMZhYBQM1Kq8qtcfaRw==',
  'KLUv/WC4Cv0sAAZ54RkwuA4ugPLXuRULaxketUQVIQQoEBSNHDoF2gDbANcAt1AOtYeFcyODDct0v23gcQw3vUEe5B+Mc/a/QI11' +
    'fI+CfHfbQ1z408sJgAzSiANNv2g+fW0ygg20NsHXQevXt7F6aki9b7fu6VmYXWh6Y9He8/9h2gBrzT+hfMjeZfYP3MjsY1lo9zSw' +
    'sQBQn7g6rYhh+Uu4DTKK1ujvz8G3HXeWPp3rLu2e7+oys39tpWWR/QB8nr3LrIVlReXX1c77bZp8G1BJQAZXWv7NLrZlNqaF1Vlx' +
    'zlA+5nalcaHpPDyVYb9vld3Vzu55+/0r7Sd0Kf0ez2NnAkJa+gneY4YAkRjemw+A/+DcReFbrqD79iugaQCYdyg+OyYZXZ5E/4Fs' +
    'uU9grUyKzbMq/CDJ9wO0t/o/MM7wC6LdPp0uZNeczxcm9EdtNAgSqlbv4fYhp9MSAoFFy6f/Ad/RnwCuQjdqVKjujWb16+WUVGgO' +
    'syfC+KwJA8zTHjKfYjYnZPzzCEzYFzjz/OPVv4KRrn9DOT7QvXUq4FS5xv6rb5bGyLmm7T8AW0CBMbXWT0fiH3InOSHvVqKqvf99' +
    'eNrv4Tb7moGNABmWzdgfQC4UpkniemYoqQ1MIdGrPRXUC3Z5Fn4a/U9gqzsj+j15ztMlXmJGahec45OE2KRJ7/0XuCD+wRpywvb1' +
    'P3/4PxvrE2gPZFahEj5/SRn9hGjEna1ESGqoJutfH+fsxYP6uedSk/A/Ym/6mal4XErmH57OCCCcrv8D9+8/gK/7dOXvgu+irwAW' +
    'JBka8sOo62r+F7aHfwH+iTvV6HoDESmXqRU7i5eG2THuK0P4GCKXRc6Q9X/BnLX/CnmAX4+OUYBOKL/49fN7/wXaVD9AeOVXwMLh' +
    'g/BqvbH/2P0E7o9PEN333oNvJN5+AWf3/CdgCzE/ZiP1abFO+h87WFGssPkfY5aBqgqGhIDq/oHwwI/wdtd/gmyD8oJ+N/JJ+iYD' +
    'L20LZga0M/JDZEOztX/2srEWqy7BShgKsDloRuhHzI1/Af+ygfB5ParDQ199+S7J36F0+h7ZR+uDEg3wf0BH9AXEaf5A29jvx18/' +
    'PQv1I4yb/lBYd0T99f1v4Bz0AdoExcDdtgKPcJIH68YtvmE3G77AnN030D44yBN/ArKFjxBNUu0AlOTbIIzd+/G5TrxCRRR9AW2V' +
    'b5AWzFSF2ycKId1l9hyBA6gxDkGMiJwUlDSVDiEIQkESJs9uMRAIdUiZnLY1AzgHw0r0wmAI4jqOyp6FXGnYu70otTbdMaN7bFlj' +
    'YbFIgAHKeLhLQk6oEefE+Hh9ohl6UpRSOZCQJ4jIf12/AyGojVQiwt3HhD6lE2ZfRKmWp6nLRV+WQdzRkQSxBPH+pxqI/jwxOSzd' +
    'yV5EMvq9FSU2gwm7rS+eVrzMREyE43QOCKk+FJWZqQSW2L2+ktN93RNcwhyBCm1CYmd3vgAaiE4SAK2e6LKRo0S6fETbWHDnAiSn' +
    'RyGA8rZcA3BY2tETGv397EWKq+91kE6EGMqII6s8k5WNkszcfOMlUIEU386UfKarYKPYbjwOzgyH/lqPVwtwFoi/llOH+NQtg8aW' +
    'nZcaiVnaR1yKIRjsuiYofZr3HDhUeSZzLX63o6ef7d4uRPojsM2/cMUP5EwU7C7BphwOqkX/wBCyFHClaYtLG9A49NEQLT79EEMW' +
    'HlB32SKLfmoJHXizJ3DFZKo+j0KnX7GwpWyXLsGXYCCKTvnlS7iXe075b0MrgKYNT2d5Mx1H9GRBUBY5qZGfF4qOJ2B+MJ7bCNFH' +
    '5BR9AfV/DyN1vrl1qcqV2UH3167Tjy37qMWAJSZmJOAaAIf/2OzTDmTOTWgvsFVUockC09X2F+mtob8Grc8NUhxpnmqciS7AHNgq' +
    'rmlbeZvaRYAAhKurgbKq42eCCiHUKMeq',
  'KLUv/STIJQUAlAhFUk9GUyBCcAoAUWYNAHRoZSBzZXF1ZW5jZSAdWtrlrBseX3ls/RD/Ga9gYmxvY2sgenN0ZB0CK0Z4czryCv91' +
    'CQAwMTIzb2YghXACAG1hdGNoIDAxMjNvZmZzZXSCZAQAUkFGU53y9/8KALZiLt88+TX9lCjKCXxEswJsaXRlcmFsIG15CwBvZgkA' +
    'PhNrthDKAaaOqwGWFkxMGQ7KCKNikgEp3TiF',
];
const WARM_UP_FROM = 1 << 16;
let warmedUp = false;

/** Decodes the warm-up frames (once per process; later calls return at once). Exported for tests. */
export function zstdDecodeWarmUp(): void {
  if (warmedUp) return;
  warmedUp = true;
  const out = new Uint8Array(3000);
  try {
    for (const force of [true, false]) {
      forceHuf2 = force;
      for (const b64 of ZSTD_WARM_UP_FRAMES) {
        const frame = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        for (let i = 0; i < 10; i++) zstdDecodeInto(frame, out, 'zstd warm-up frame');
      }
    }
  } finally {
    forceHuf2 = false;
  }
}

/**
 * Decodes every frame in `src` (zstd frames and skippable frames, concatenated) into `out`; returns
 * the number of bytes decoded, n. Never writes past out.length: data that would produce more throws a
 * FormatError at the block that overflows. Copies run in 4-byte words, so up to 15 bytes of out
 * after n may be overwritten (scratch: out is the caller's output area). `offset` is the absolute
 * position of src[0], for errors. src and out must not share memory.
 */
export function zstdDecodeInto(src: Uint8Array, out: Uint8Array, structure = 'zstd frame', offset = 0): number {
  const st: State = { structure, base: offset < 0 ? 0 : offset, srcView: new DataView(src.buffer, src.byteOffset, src.byteLength), hufBits: 0, tables: [null, null, null], rep1: 1, rep2: 4, rep3: 8 };
  if (out.length > 0x7fffffff) throw new UnsupportedError('zstd', `output of ${out.length} bytes (2 GiB at most)`);
  if (src.length === 0) fail(st, st.base, 'input is empty: no frame');
  if (!warmedUp && out.length >= WARM_UP_FROM) zstdDecodeWarmUp();
  let p = 0;
  let op = 0;
  // each iteration consumes at least 8 input bytes
  while (p < src.length) {
    if (src.length - p < 4) fail(st, st.base + p, `${src.length - p} bytes after the last frame`);
    const magic = u32le(src, p);
    if ((magic & 0xfffffff0) >>> 0 === SKIPPABLE_MAGIC) {
      if (src.length - p < 8) fail(st, st.base + p, 'skippable frame header runs past the input');
      const size = u32le(src, p + 4);
      if (size > src.length - p - 8) fail(st, st.base + p, `skippable frame of ${size} bytes runs past the input`);
      p += 8 + size;
      continue;
    }
    if (magic !== FRAME_MAGIC) fail(st, st.base + p, `bad magic number ${magic.toString(16)}`);
    decodeFrame(st, src, p, out, op);
    p = frameEndP;
    op = frameEndOp;
  }
  return op;
}

/**
 * The content size the first frame in `src` declares, or -1 when it declares none (or src does not
 * start with a zstd frame). For callers that size the output from the header after bounding it.
 */
export function zstdFrameContentSize(src: Uint8Array): number {
  if (src.length < 5 || u32le(src, 0) !== FRAME_MAGIC) return -1;
  const fhd = src[4]!;
  const single = (fhd >> 5) & 1;
  const didSize = [0, 1, 2, 4][fhd & 3]!;
  const fcsSize = [single, 2, 4, 8][fhd >> 6]!;
  if (!fcsSize) return -1;
  const h = 5 + (single ? 0 : 1) + didSize;
  if (h + fcsSize > src.length) return -1;
  let fcs = 0;
  for (let k = 0; k < fcsSize; k++) fcs += src[h + k]! * 2 ** (8 * k);
  return fcsSize === 2 ? fcs + 256 : fcs;
}
