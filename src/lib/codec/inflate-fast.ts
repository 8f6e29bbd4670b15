/**
 * Fast raw DEFLATE (RFC 1951) decoder into a caller-sized buffer, after libdeflate's design (our own
 * code): one table lookup gives a literal, or a length's base and extra-bit count, or the end of the
 * block (main tables of 10 bits for literal/length, 8 for distance, subtables for longer codes); a
 * 32-bit bit buffer refilled a little-endian word at a time without a loop while at least 12 input
 * bytes remain, byte by byte (zeros past the end, then a truncation check) near the end.
 *
 * EROFS `-zdeflate` pclusters (fs/plan.ts) are independent streams of known output size; ZRAN
 * contexts (codec/inflate.ts inflateRaw without probes) start mid-stream with primed bits and a
 * 32 KiB window, which goes in front of the output (`start`).
 *
 * Codes are accepted as zlib accepts them: over-subscribed and incomplete codes are errors, except
 * a code of one length-1 codeword and a distance code of none (a block of literals only). Damage
 * never hangs (every loop consumes input or produces bounded output) and never writes past `out`;
 * errors are FormatErrors naming the structure and the byte offset of the bad code.
 *
 * Measured (CPU time, Node 20, load 5-17, A/B in one process against fflate 0.8 inflateSync into
 * the same buffer): 8 MiB tar of /usr/bin at zlib -6 276-297 MB/s against 159-187; 911 streams
 * of 4.6 KiB like the extract bench's pclusters 165-187 against 87-96, of which ~6.7 µs a stream
 * is the block header and its tables (the code length loop ~1.6 µs, the two tables ~4.5 µs).
 * In Chromium (renderer CPU time, same cases): 8 MiB 249 against 143 MB/s, 4 KiB streams 126-132
 * against 81-85. Extract of the 494 MB -zdeflate bench image (20k files, `--threads 1`, tmpfs, same
 * run, load 5): 5.19-5.31 CPU-s with fflate, 3.84-3.99 with this decoder; fsck.erofs 1.9.3 1.82-1.86.
 * Since then (3607 pclusters captured from that image, CPU time, load 8-10, interleaved): header and
 * tables 6.7-6.9 -> 5.6-5.9 µs a stream (one table loop per code length, loops for small fills),
 * whole streams 24.1-27.1 -> 21.7-25.2 µs (short matches copied a word at a time); the extract
 * 3.41-4.02 -> 3.20-3.61 CPU-s over five interleaved runs, fsck.erofs 1.9.3 1.83-2.07.
 * Also dropped: rebuilding tables only when the code lengths change (no two of the 3607 headers are
 * alike), the table doubling as a JS loop (slower than copyWithin), a word fill for dist 1 (no gain).
 * Tried and dropped: a byte-wise refill instead of DataView.getUint32 (-10-20%), refilling only
 * below 20 bits (no gain), a literal loop refilling below 15 bits (-10%), 9- or 11-bit main
 * literal/length tables (no change).
 */
import { FormatError } from '../errors.ts';

// ---------------------------------------------------------------------------------------------
// Decode table entries (Int32): bits 0-3 codeword length, 4-7 extra bits (or a subtable's index
// bits), 8-11 flags, 16-30 value (literal byte, length or distance base, symbol, subtable start).

/** the entry is a literal byte (value) */
export const E_LIT = 0x100;
/** the entry points at a subtable: value = its start, extra = its index bits */
export const E_SUB = 0x200;
/** end of block */
export const E_EOB = 0x400;
/** no valid code starts with these bits, or an unused symbol (286, 287; distance 30, 31) */
export const E_BAD = 0x800;

/** main table bits: literal/length, distance, code length */
export const LITLEN_BITS = 10;
export const DIST_BITS = 8;
const CODELEN_BITS = 7;
/**
 * Table sizes: a complete code's main table plus its subtables fits (zlib's `enough` program:
 * 286 symbols, root 10, max 15 → 1332; 30 symbols, root 8 → 402); builders check anyway.
 */
export const LITLEN_ENOUGH = 1334;
export const DIST_ENOUGH = 402;

/** RFC 1951 §3.2.5: length and distance bases and extra bits, by symbol − 257 and by distance symbol */
export const LEN_BASE = new Uint16Array([3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]);
export const LEN_EXTRA = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]);
export const DIST_BASE = new Uint16Array([1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]);
export const DIST_EXTRA = new Uint8Array([0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]);
/** order of the code length code lengths in a dynamic block header */
export const CL_ORDER = new Uint8Array([16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]);

/** what each symbol decodes to (entries without their codeword length) */
const LITLEN_RESULTS = new Int32Array(288);
const DIST_RESULTS = new Int32Array(32);
/** the symbol itself: code length codes, and codec/inflate.ts's tables */
export const SYMBOL_RESULTS = new Int32Array(288);
for (let s = 0; s < 288; s++) {
  SYMBOL_RESULTS[s] = s << 16;
  LITLEN_RESULTS[s] = s < 256 ? E_LIT | (s << 16) : s === 256 ? E_EOB : s < 286 ? (LEN_BASE[s - 257]! << 16) | (LEN_EXTRA[s - 257]! << 4) : E_BAD;
}
for (let s = 0; s < 32; s++) DIST_RESULTS[s] = s < 30 ? (DIST_BASE[s]! << 16) | (DIST_EXTRA[s]! << 4) : E_BAD;

const REV8 = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let r = 0;
  for (let b = 0; b < 8; b++) r |= ((i >> b) & 1) << (7 - b);
  REV8[i] = r;
}

/** buildTable results */
export const CODE_COMPLETE = 0;
/** incomplete, as zlib allows: one codeword of length 1, or no codewords (unused patterns are E_BAD) */
export const CODE_SPARSE = 1;
export const CODE_OVERSUBSCRIBED = -1;
export const CODE_INCOMPLETE = -2;

const count = new Uint16Array(16);
const offs = new Uint16Array(16);
const sorted = new Uint16Array(288);

/**
 * Build the decode table of the canonical code whose lengths are lens[off, off + n): `tableBits`
 * index bits in the main table, subtables after it. Returns a CODE_* status; the table is usable
 * for CODE_COMPLETE and CODE_SPARSE.
 */
export function buildTable(lens: Uint8Array, off: number, n: number, results: Int32Array, table: Int32Array, tableBits: number): number {
  // loops, not fill(): a typed array's fill is a call into the runtime, dearer than a few stores
  for (let l = 0; l < 16; l++) count[l] = 0;
  for (let i = 0; i < n; i++) count[lens[off + i]!]!++;
  count[0] = 0;
  let max = 15;
  while (max > 0 && count[max] === 0) max--;
  const size = 1 << tableBits;
  if (max === 0) {
    table.fill(E_BAD, 0, size);
    return CODE_SPARSE;
  }
  let left = 1;
  for (let l = 1; l <= 15; l++) {
    left = (left << 1) - count[l]!;
    if (left < 0) return CODE_OVERSUBSCRIBED;
  }
  if (left > 0) {
    if (max !== 1) return CODE_INCOMPLETE;
    table.fill(E_BAD, 0, size);
  }
  offs[1] = 0;
  for (let l = 1; l < 15; l++) offs[l + 1] = offs[l]! + count[l]!;
  for (let s = 0; s < n; s++) {
    const l = lens[off + s]!;
    if (l !== 0) sorted[offs[l]!++] = s;
  }
  const mask = size - 1;
  let code = 0; // canonical, MSB first: the first code of each length follows the last one shorter
  let next = size; // where the next subtable goes
  let curPrefix = -1;
  let subStart = 0;
  // codes of up to tableBits bits are written once each into the first 2^l entries, which are
  // doubled (copyWithin) before the longer codes go in: a code of l bits owns every 2^l-th entry.
  // One loop per length over its run of `sorted` (no length lookup or change test per symbol).
  let filled = 1;
  for (let l = 1, i = 0; l <= max; l++, code <<= 1) {
    const stop = i + count[l]!;
    if (i === stop) continue;
    if (l <= tableBits) {
      for (; filled < 1 << l; filled <<= 1) table.copyWithin(filled, 0, filled);
      for (; i < stop; i++, code++) {
        const s = sorted[i]!;
        // codes arrive MSB first: reverse to index by the LSB-first bit buffer
        table[((REV8[code & 0xff]! << 8) | REV8[code >>> 8]!) >>> (16 - l)] = results[s]! | l;
      }
      continue;
    }
    for (; filled < size; filled <<= 1) table.copyWithin(filled, 0, filled);
    for (; i < stop; i++, code++) {
      const s = sorted[i]!;
      const r = ((REV8[code & 0xff]! << 8) | REV8[code >>> 8]!) >>> (16 - l);
      const entry = results[s]! | l;
      const prefix = r & mask;
      if (prefix !== curPrefix) {
        // a new subtable: as many index bits as the codes sharing this prefix need
        let cur = l - tableBits;
        let room = 1 << cur;
        while (cur + tableBits < max) {
          room -= count[cur + tableBits]!;
          if (room <= 0) break;
          cur++;
          room <<= 1;
        }
        if (next + (1 << cur) > table.length) throw new Error(`inflate-fast: decode table of ${table.length} entries is too small`);
        subStart = next;
        next += 1 << cur;
        table[prefix] = E_SUB | (subStart << 16) | (cur << 4) | tableBits;
        curPrefix = prefix;
      }
      const sub = (table[prefix]! >>> 4) & 15;
      for (let k = r >>> tableBits; k < 1 << sub; k += 1 << (l - tableBits)) table[subStart + k] = entry;
      // the codes still to place: the subtable sizing above counts only those
      count[l]!--;
    }
  }
  for (; filled < size; filled <<= 1) table.copyWithin(filled, 0, filled);
  return left > 0 ? CODE_SPARSE : CODE_COMPLETE;
}

/** Fixed-code lengths (RFC 1951 §3.2.6): 288 literal/length, then 32 distance. */
export function fixedLengths(): Uint8Array {
  const l = new Uint8Array(320);
  l.fill(8, 0, 144);
  l.fill(9, 144, 256);
  l.fill(7, 256, 280);
  l.fill(8, 280, 288);
  l.fill(5, 288, 320);
  return l;
}

// fixed Huffman tables, built once
const FIXED_LIT = new Int32Array(1 << LITLEN_BITS);
const FIXED_DIST = new Int32Array(1 << DIST_BITS);
buildTable(fixedLengths(), 0, 288, LITLEN_RESULTS, FIXED_LIT, LITLEN_BITS);
buildTable(fixedLengths(), 288, 32, DIST_RESULTS, FIXED_DIST, DIST_BITS);

// dynamic block tables, reused by every call (decoding is synchronous)
const DYN_LIT = new Int32Array(LITLEN_ENOUGH);
const DYN_DIST = new Int32Array(DIST_ENOUGH);
const CL_TABLE = new Int32Array(1 << CODELEN_BITS);
const LENS = new Uint8Array(286 + 30 + 138);
const CL_LENS = new Uint8Array(19);

// ---------------------------------------------------------------------------------------------

export interface FastInflateOptions {
  /** first byte of the stream in src (default 0) */
  offset?: number;
  /** the input ends here, exclusive (default src.length) */
  end?: number;
  /** bits of src[offset − 1] not yet consumed (0–7), its high bits (zlib's inflatePrime) */
  primeBits?: number;
  primeByte?: number;
  /** out[0, start) is earlier output (a window) back-references may reach; output begins at out[start] */
  start?: number;
  /** true: return once out is full, the stream may go on; false (default): more output is an error */
  stopAtMax?: boolean;
  /** structure named in errors (default "deflate") */
  structure?: string;
  /** byte offset of src[0] in the file, for error offsets (default 0) */
  base?: number;
}

export interface FastInflateResult {
  /** output end: out[start, end) was written */
  end: number;
  /** bit position in src after the last code consumed (after the final block when `ended`) */
  endBit: number;
  /** the final block was completed */
  ended: boolean;
}

/**
 * Header reads (per block, not per symbol): the bit reader's state in an object. `pos * 8 - bc` is
 * the exact bit position consumed; codec/inflate.ts's probing decoder hands its reader over in one
 * of these for a dynamic header and continues from that position (its block and probe reports).
 */
export interface Bits {
  src: Uint8Array;
  pos: number;
  bb: number;
  bc: number;
  end: number;
  structure: string;
  base: number;
}

function truncated(b: Bits): never {
  throw new FormatError(b.structure, b.base + b.end, `stream ends in the middle of a block (input ends at byte ${b.end})`);
}

function fail(b: Bits, what: string): never {
  throw new FormatError(b.structure, b.base + Math.min(b.end, Math.max(0, Math.floor((b.pos * 8 - b.bc) / 8))), what);
}

/** `n` (≤ 24) bits from the reader, truncation checked */
function take(b: Bits, n: number): number {
  while (b.bc < n) {
    b.bb |= (b.pos < b.end ? b.src[b.pos]! : 0) << b.bc;
    b.pos++;
    b.bc += 8;
  }
  if (b.pos * 8 - b.bc + n > b.end * 8) truncated(b);
  const v = b.bb & ((1 << n) - 1);
  b.bb >>>= n;
  b.bc -= n;
  return v;
}

/** Refill to at least 24 bits byte by byte, zeros past the end (near the end of the input). */
function refillSlow(b: Bits): void {
  while (b.bc <= 23) {
    b.bb |= (b.pos < b.end ? b.src[b.pos]! : 0) << b.bc;
    b.pos++;
    b.bc += 8;
  }
  // zeros decode as codes too: stop once they are surely past the end
  if (b.pos > b.end + 4 && b.pos * 8 - b.bc > b.end * 8) truncated(b);
}

/**
 * A dynamic block's header (after its 3 type bits): its literal/length and distance codes into
 * `lit` (LITLEN_BITS main bits, LITLEN_ENOUGH entries) and `dist` (DIST_BITS, DIST_ENOUGH), entries
 * from `litResults` and `distResults` (this file's decode entries, or SYMBOL_RESULTS for the symbols
 * codec/inflate.ts decodes). The one reader of dynamic headers: the fast and the probing decoder.
 */
export function readDynamic(b: Bits, litResults: Int32Array, distResults: Int32Array, lit: Int32Array, dist: Int32Array): void {
  const hlit = take(b, 5) + 257;
  const hdist = take(b, 5) + 1;
  const hclen = take(b, 4) + 4;
  if (hlit > 286) fail(b, `${hlit} literal/length codes (at most 286)`);
  if (hdist > 30) fail(b, `${hdist} distance codes (at most 30)`);
  for (let i = 0; i < 19; i++) CL_LENS[i] = 0;
  for (let i = 0; i < hclen; i++) CL_LENS[CL_ORDER[i]!] = take(b, 3);
  const st = buildTable(CL_LENS, 0, 19, SYMBOL_RESULTS, CL_TABLE, CODELEN_BITS);
  if (st === CODE_OVERSUBSCRIBED) fail(b, 'over-subscribed code length code');
  if (st !== CODE_COMPLETE) fail(b, 'incomplete code length code');
  const n = hlit + hdist;
  // the code lengths (up to 316 codes, 14 bits at most each) with the reader in locals: through
  // take() they were a third of a 4 KiB stream's fixed cost. Zeros past the end decode too; the
  // loop is bounded by n and the truncation check follows it.
  const src = b.src;
  const end = b.end;
  let pos = b.pos;
  let bb = b.bb;
  let bc = b.bc;
  for (let i = 0; i < n;) {
    while (bc <= 23) {
      bb |= (pos < end ? src[pos]! : 0) << bc;
      pos++;
      bc += 8;
    }
    // no subtables: code length codes are at most 7 bits
    const e = CL_TABLE[bb & ((1 << CODELEN_BITS) - 1)]!;
    const l = e & 15;
    bb = (bb >>> l) | 0;
    bc -= l;
    const sym = e >>> 16;
    if (sym < 16) {
      LENS[i++] = sym;
      continue;
    }
    let rep: number;
    let val = 0;
    if (sym === 16) {
      if (i === 0) {
        b.pos = pos; b.bb = bb; b.bc = bc;
        fail(b, 'repeat of a previous code length with none before it');
      }
      val = LENS[i - 1]!;
      rep = 3 + (bb & 3);
      bb = (bb >>> 2) | 0;
      bc -= 2;
    } else if (sym === 17) {
      rep = 3 + (bb & 7);
      bb = (bb >>> 3) | 0;
      bc -= 3;
    } else {
      rep = 11 + (bb & 127);
      bb = (bb >>> 7) | 0;
      bc -= 7;
    }
    if (i + rep > n) {
      b.pos = pos; b.bb = bb; b.bc = bc;
      fail(b, `code length repeat runs past the ${n} codes`);
    }
    for (const stop = i + rep; i < stop; i++) LENS[i] = val;
  }
  b.pos = pos;
  b.bb = bb;
  b.bc = bc;
  if (pos * 8 - bc > end * 8) truncated(b);
  if (LENS[256] === 0) fail(b, 'no end-of-block code');
  const ls = buildTable(LENS, 0, hlit, litResults, lit, LITLEN_BITS);
  if (ls === CODE_OVERSUBSCRIBED) fail(b, 'over-subscribed literal/length code');
  if (ls === CODE_INCOMPLETE) fail(b, 'incomplete literal/length code');
  const ds = buildTable(LENS, hlit, hdist, distResults, dist, DIST_BITS);
  if (ds === CODE_OVERSUBSCRIBED) fail(b, 'over-subscribed distance code');
  if (ds === CODE_INCOMPLETE) fail(b, 'incomplete distance code');
}

/**
 * Inflate the raw DEFLATE stream at src[offset] into out[start, ...). Throws FormatError on a bad
 * or truncated stream, and (unless stopAtMax) when it decodes to more than out holds.
 * Bytes of out past the returned end may be written too (at most 3, see the match copy); nothing
 * past out.length ever is.
 */
export function inflateFast(src: Uint8Array, out: Uint8Array, opts: FastInflateOptions = {}): FastInflateResult {
  const structure = opts.structure ?? 'deflate';
  const base = opts.base ?? 0;
  const end = Math.min(opts.end ?? src.length, src.length);
  const offset = opts.offset ?? 0;
  const primeBits = opts.primeBits ?? 0;
  const stopAtMax = opts.stopAtMax ?? false;
  const start = opts.start ?? 0;
  if (!(offset >= 0 && offset <= end)) throw new FormatError(structure, base + offset, `stream start ${offset} is outside the ${end}-byte input`);
  if (!(primeBits >= 0 && primeBits <= 7)) throw new FormatError(structure, base + offset, `${primeBits} primed bits (0-7)`);
  if (!(start >= 0 && start <= out.length)) throw new RangeError(`inflateFast: start ${start} is outside the ${out.length}-byte output`);
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const ov = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const outEnd = out.length;
  const endBits = end * 8;
  // the word refill reads src[pos, pos + 4); an iteration refills at most three times, 3 bytes each
  const inFast = end - 12;
  const b: Bits = { src, pos: offset, bb: primeBits ? ((opts.primeByte ?? 0) & 0xff) >>> (8 - primeBits) : 0, bc: primeBits, end, structure, base };
  let o = start;
  let final = false;
  let full = false;

  while (!final) {
    if (stopAtMax && o >= outEnd) {
      full = true;
      break;
    }
    final = take(b, 1) === 1;
    const type = take(b, 2);
    let lt: Int32Array;
    let dt: Int32Array;
    if (type === 0) {
      // stored: to the byte boundary, then LEN, NLEN and LEN raw bytes
      b.pos -= b.bc >>> 3;
      b.bb = 0;
      b.bc = 0;
      const p = b.pos;
      if (p + 4 > end) truncated(b);
      const len = src[p]! | (src[p + 1]! << 8);
      const nlen = src[p + 2]! | (src[p + 3]! << 8);
      if ((len ^ 0xffff) !== nlen) throw new FormatError(structure, base + p, `stored block length ${len} does not match its complement ${nlen}`);
      let n = len;
      if (n > outEnd - o) {
        if (!stopAtMax) throw new FormatError(structure, base + p, `stream decodes to more than ${outEnd - start} bytes`);
        n = outEnd - o;
        full = true;
      }
      if (p + 4 + n > end) truncated(b);
      out.set(src.subarray(p + 4, p + 4 + n), o);
      o += n;
      b.pos = p + 4 + n;
      if (full) break;
      continue;
    }
    if (type === 1) {
      lt = FIXED_LIT;
      dt = FIXED_DIST;
    } else if (type === 2) {
      readDynamic(b, LITLEN_RESULTS, DIST_RESULTS, DYN_LIT, DYN_DIST);
      lt = DYN_LIT;
      dt = DYN_DIST;
    } else {
      fail(b, 'block type 3 is reserved');
    }

    // the symbol loop: state in locals (closures over them would slow every access)
    let pos = b.pos;
    let bb = b.bb;
    let bc = b.bc;
    for (;;) {
      // bits above bc may already hold the next byte's low bits: OR-ing them again is harmless
      if (pos <= inFast) {
        bb |= dv.getUint32(pos, true) << bc;
        pos += (31 - bc) >>> 3;
        bc |= 24;
      } else {
        b.pos = pos; b.bb = bb; b.bc = bc;
        refillSlow(b);
        pos = b.pos; bb = b.bb; bc = b.bc;
      }
      let e = lt[bb & ((1 << LITLEN_BITS) - 1)]!;
      if (e & E_SUB) e = lt[(e >>> 16) + ((bb >>> LITLEN_BITS) & ((1 << ((e >>> 4) & 15)) - 1))]!;
      if (e & E_LIT && o < outEnd) {
        let l = e & 15;
        bb = (bb >>> l) | 0;
        bc -= l;
        out[o++] = e >>> 16;
        // a second literal without a refill when the buffer still holds a whole codeword
        if (bc < 15) continue;
        e = lt[bb & ((1 << LITLEN_BITS) - 1)]!;
        if (e & E_SUB) e = lt[(e >>> 16) + ((bb >>> LITLEN_BITS) & ((1 << ((e >>> 4) & 15)) - 1))]!;
        if (e & E_LIT && o < outEnd) {
          l = e & 15;
          bb = (bb >>> l) | 0;
          bc -= l;
          out[o++] = e >>> 16;
          continue;
        }
        if (pos <= inFast) {
          bb |= dv.getUint32(pos, true) << bc;
          pos += (31 - bc) >>> 3;
          bc |= 24;
        } else {
          b.pos = pos; b.bb = bb; b.bc = bc;
          refillSlow(b);
          pos = b.pos; bb = b.bb; bc = b.bc;
        }
      }
      if (e & (E_LIT | E_EOB | E_BAD)) {
        b.pos = pos; b.bb = bb; b.bc = bc;
        if (e & E_BAD) fail(b, 'invalid literal/length code');
        if (e & E_LIT) {
          // a literal with the output full
          if (!stopAtMax) fail(b, `stream decodes to more than ${outEnd - start} bytes`);
          full = true;
          break;
        }
        const l = e & 15;
        bb = (bb >>> l) | 0;
        bc -= l;
        break;
      }
      const l = e & 15;
      const x = (e >>> 4) & 15;
      let len = (e >>> 16) + ((bb >>> l) & ((1 << x) - 1));
      bb = (bb >>> (l + x)) | 0;
      bc -= l + x;
      if (pos <= inFast) {
        bb |= dv.getUint32(pos, true) << bc;
        pos += (31 - bc) >>> 3;
        bc |= 24;
      } else {
        b.pos = pos; b.bb = bb; b.bc = bc;
        refillSlow(b);
        pos = b.pos; bb = b.bb; bc = b.bc;
      }
      let d = dt[bb & ((1 << DIST_BITS) - 1)]!;
      if (d & E_SUB) d = dt[(d >>> 16) + ((bb >>> DIST_BITS) & ((1 << ((d >>> 4) & 15)) - 1))]!;
      if (d & E_BAD) { b.pos = pos; b.bb = bb; b.bc = bc; fail(b, 'invalid distance code'); }
      const dl = d & 15;
      const dx = (d >>> 4) & 15;
      let dist: number;
      if (dl + dx <= bc) {
        dist = (d >>> 16) + ((bb >>> dl) & ((1 << dx) - 1));
        bb = (bb >>> (dl + dx)) | 0;
        bc -= dl + dx;
      } else {
        // a long distance code with many extra bits (up to 28 bits, the buffer holds 24+)
        bb = (bb >>> (dl)) | 0;
        bc -= dl;
        if (pos <= inFast) {
          bb |= dv.getUint32(pos, true) << bc;
          pos += (31 - bc) >>> 3;
          bc |= 24;
        } else {
          b.pos = pos; b.bb = bb; b.bc = bc;
          refillSlow(b);
          pos = b.pos; bb = b.bb; bc = b.bc;
        }
        dist = (d >>> 16) + (bb & ((1 << dx) - 1));
        bb = (bb >>> (dx)) | 0;
        bc -= dx;
      }
      if (dist > o) { b.pos = pos; b.bb = bb; b.bc = bc; fail(b, `distance ${dist} reaches before the start of the window (${o} bytes available)`); }
      if (len > outEnd - o) {
        if (!stopAtMax) { b.pos = pos; b.bb = bb; b.bc = bc; fail(b, `stream decodes to more than ${outEnd - start} bytes`); }
        len = outEnd - o;
        full = true;
      }
      let f = o - dist;
      if (dist >= 4 && len <= 16 && o + len + 3 <= outEnd) {
        // short matches a word at a time: each word read lies before the write (dist >= 4), so an
        // overlapping match repeats as LZ77 says; up to 3 bytes past the match are written, inside
        // out, and the output that follows overwrites them (whole bench pclusters, 3607 streams
        // of 4.8 KiB: 24.1-27.1 -> 21.7-25.2 us a stream, CPU time, load 9)
        const stop = o + len;
        do {
          ov.setUint32(o, ov.getUint32(f, true), true);
          o += 4;
          f += 4;
        } while (o < stop);
        o = stop;
      } else if (dist >= len) {
        // copyWithin costs more than a loop for the short matches most streams are made of
        if (len > 16) {
          out.copyWithin(o, f, f + len);
          o += len;
        } else {
          const stop = o + len;
          while (o < stop) out[o++] = out[f++]!;
        }
      } else if (dist === 1) {
        out.fill(out[f]!, o, o + len);
        o += len;
      } else {
        const stop = o + len;
        while (o < stop) out[o++] = out[f++]!;
      }
      if (full) break;
    }
    b.pos = pos;
    b.bb = bb;
    b.bc = bc;
    if (pos * 8 - bc > endBits) truncated(b);
    if (full) break;
  }
  const endBit = b.pos * 8 - b.bc;
  if (endBit > endBits) truncated(b);
  return { end: o, endBit, ended: final && !full };
}
