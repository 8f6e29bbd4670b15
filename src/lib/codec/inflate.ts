/**
 * Raw DEFLATE (RFC 1951) decoder that can start in the middle of a stream: at any byte offset, with
 * the unread high bits of the byte before it (zlib's inflatePrime) and a preset 32 KiB window
 * (inflateSetDictionary), producing at most a given number of bytes. This is what zlib random access
 * (nydus ZRAN, zran.c) needs and what fflate cannot do: fflate starts at byte 0 with an empty window.
 *
 * It also reports where each block starts (bit position, output position) and, for given output
 * positions, how far zlib's inflate would have consumed the input when its output buffer ended there
 * (`probes`): the ZRAN builder records checkpoints and chunk input ranges from these.
 *
 * Damage never hangs and never allocates past `maxOutput`: every code is checked (over-subscribed
 * tables, unused codes, distances before the window, lengths past the input) and throws a
 * FormatError naming `structure` and the absolute byte offset of the bad code.
 */
import { concat } from '../bytes.ts';
import { FormatError } from '../errors.ts';
import {
  buildTable, DIST_BASE, DIST_BITS, DIST_ENOUGH, DIST_EXTRA, E_BAD, E_SUB, fixedLengths, inflateFast, LEN_BASE, LEN_EXTRA, LITLEN_BITS, LITLEN_ENOUGH,
  readDynamic as readDynamicHeader, SYMBOL_RESULTS, type Bits,
} from './inflate-fast.ts';

/** DEFLATE's window: a checkpoint needs at most this much earlier output. */
export const WINDOW_SIZE = 32 * 1024;

export interface InflateOptions {
  /** first byte of the raw stream in `src` (default 0) */
  offset?: number;
  /** input ends here, exclusive (default src.length) */
  end?: number;
  /** bits of src[offset − 1] not yet consumed (0–7); they are its high bits (nydus ctx_bits) */
  primeBits?: number;
  /** the byte whose high `primeBits` bits start the stream (nydus ctx_byte) */
  primeByte?: number;
  /** output that precedes this point (the last ≤ 32 KiB), for back-references */
  dict?: Uint8Array;
  /** most bytes to produce */
  maxOutput: number;
  /** true: stop once maxOutput bytes are out (random access); false: more output is an error */
  stopAtMax?: boolean;
  /** called at the start of every block with the absolute bit position of its header and the output position */
  onBlock?: (bitPos: number, outPos: number, final: boolean) => void;
  /**
   * ascending output positions; probeBits[i] receives the absolute bit position zlib's inflate has
   * consumed up to when its output buffer ends at probes[i] (it decodes the codes of the next
   * symbol before it notices the buffer is full, and stops at a block end)
   */
  probes?: readonly number[];
  probeBits?: Float64Array;
  /** structure named in errors (default "deflate") */
  structure?: string;
  /**
   * write the output here (after the window, which must then be empty): a second pass over a
   * stream whose output is already known reuses that buffer instead of allocating another
   */
  into?: Uint8Array;
}

export interface InflateResult {
  output: Uint8Array;
  /** absolute bit position after the last code consumed (after the final block when `ended`) */
  endBit: number;
  /** the final block was completed */
  ended: boolean;
}

/** A decoding table of inflate-fast.ts's builder: entries carry the symbol (SYMBOL_RESULTS), `bits` index the main table. */
interface Huffman {
  table: Int32Array;
  bits: number;
}

/** Look the next code up: its entry (E_BAD when no code starts with these bits). */
function lookup(h: Huffman, bb: number): number {
  const e = h.table[bb & ((1 << h.bits) - 1)]!;
  return e & E_SUB ? h.table[(e >>> 16) + ((bb >>> h.bits) & ((1 << ((e >>> 4) & 15)) - 1))]! : e;
}

let fixedLit: Huffman | null = null;
let fixedDist: Huffman | null = null;
function fixedTables(): [Huffman, Huffman] {
  if (!fixedLit || !fixedDist) {
    const l = fixedLengths();
    fixedLit = { table: new Int32Array(LITLEN_ENOUGH), bits: LITLEN_BITS };
    fixedDist = { table: new Int32Array(DIST_ENOUGH), bits: DIST_BITS };
    buildTable(l, 0, 288, SYMBOL_RESULTS, fixedLit.table, LITLEN_BITS);
    buildTable(l, 288, 32, SYMBOL_RESULTS, fixedDist.table, DIST_BITS);
  }
  return [fixedLit, fixedDist];
}

// ---------------------------------------------------------------------------------------------

/** Inflate a raw DEFLATE stream from `opts.offset` (see the module comment). */
export function inflateRaw(src: Uint8Array, opts: InflateOptions): InflateResult {
  const structure = opts.structure ?? 'deflate';
  const start = opts.offset ?? 0;
  const end = Math.min(opts.end ?? src.length, src.length);
  const maxOutput = opts.maxOutput;
  if (!(start >= 0 && start <= end)) throw new FormatError(structure, start, `stream start ${start} is outside the ${end}-byte input`);
  const dict = opts.dict ?? new Uint8Array(0);
  const dictLen = Math.min(dict.length, WINDOW_SIZE);
  const primeBits = opts.primeBits ?? 0;
  if (!(primeBits >= 0 && primeBits <= 7)) throw new FormatError(structure, start, `${primeBits} primed bits (0-7)`);
  const stopAtMax = opts.stopAtMax ?? false;
  const probes = opts.probes;
  const probeBits = opts.probeBits;
  let pi = 0;
  const np = probes ? probes.length : 0;

  // output buffer: the window first, so back-references index one array
  if (opts.into && dictLen) throw new Error('inflateRaw: `into` takes no window');
  if (!opts.onBlock && np === 0) return inflateWhole(src, opts, start, end, dict.subarray(dict.length - dictLen));
  let cap = opts.into ? Math.min(opts.into.length, maxOutput) : dictLen + Math.min(maxOutput, stopAtMax ? maxOutput : Math.max(1 << 16, Math.min(maxOutput, (end - start) * 4)));
  let buf = opts.into ?? new Uint8Array(cap);
  if (!opts.into) buf.set(dict.subarray(dict.length - dictLen), 0);
  let out = dictLen;
  const outEnd = dictLen + maxOutput;

  // bit reader: `pos` is the next byte to load; bytes past `end` load as 0 and are caught by `over`
  let pos = start;
  let bb = primeBits ? ((opts.primeByte ?? 0) & 0xff) >>> (8 - primeBits) : 0;
  let bc = primeBits;
  const endBits = end * 8;
  const bitAt = () => pos * 8 - bc;
  const truncated = (): never => {
    throw new FormatError(structure, end, `stream ends in the middle of a block (input ends at byte ${end})`);
  };
  const bad = (what: string): never => {
    throw new FormatError(structure, Math.floor(bitAt() / 8), what);
  };
  const grow = (need: number) => {
    if (need <= cap) return;
    if (opts.into) throw new FormatError(structure, Math.floor(bitAt() / 8), `stream decodes to more than the ${cap} bytes given`);
    let n = cap * 2;
    while (n < need) n *= 2;
    n = Math.min(n, outEnd);
    const nb = new Uint8Array(n);
    nb.set(buf.subarray(0, out));
    buf = nb;
    cap = n;
  };
  const record = (limit: number, inclusive: boolean) => {
    // probes at output positions reached: they take the current input position
    const rel = limit - dictLen;
    while (pi < np && (inclusive ? probes![pi]! <= rel : probes![pi]! < rel)) probeBits![pi++] = bitAt();
  };

  // dynamic blocks' tables, made at the first one and rebuilt by each
  let dynLit: Huffman | undefined;
  let dynDist: Huffman | undefined;
  let final = false;
  let full = false;
  while (!final && !full) {
    // the output is complete at a block's end: the next block header may lie past the given range
    // (a ZRAN chunk of Go's gzip ends with the tar, exactly where a deflate block ends)
    if (stopAtMax && out >= outEnd) break;
    while (bc < 3) {
      bb |= (pos < end ? src[pos]! : 0) << bc;
      pos++;
      bc += 8;
    }
    if (bitAt() + 3 > endBits) truncated();
    opts.onBlock?.(bitAt(), out - dictLen, (bb & 1) === 1);
    final = (bb & 1) === 1;
    const type = (bb >>> 1) & 3;
    bb >>>= 3;
    bc -= 3;
    if (type === 0) {
      // stored: skip to the byte boundary, then LEN, NLEN and LEN raw bytes
      bb >>>= bc & 7;
      bc -= bc & 7;
      pos -= bc >>> 3;
      bb = 0;
      bc = 0;
      if (pos + 4 > end) truncated();
      const len = src[pos]! | (src[pos + 1]! << 8);
      const nlen = src[pos + 2]! | (src[pos + 3]! << 8);
      if ((len ^ 0xffff) !== nlen) throw new FormatError(structure, pos, `stored block length ${len} does not match its complement ${nlen}`);
      pos += 4;
      record(out, true);
      let n = len;
      if (out + n > outEnd) {
        if (!stopAtMax) throw new FormatError(structure, pos, `stream decodes to more than ${maxOutput} bytes`);
        n = outEnd - out;
        full = true;
      }
      if (pos + n > end) truncated();
      grow(out + n);
      buf.set(src.subarray(pos, pos + n), out);
      const base = out - dictLen;
      if (probes) {
        while (pi < np && probes[pi]! <= base + n) {
          probeBits![pi] = (pos + probes[pi]! - base) * 8;
          pi++;
        }
      }
      out += n;
      pos += n;
      continue;
    }
    let lit: Huffman;
    let dist: Huffman;
    if (type === 1) [lit, dist] = fixedTables();
    else if (type === 2) [lit, dist] = readDynamic();
    else bad('block type 3 is reserved');
    for (;;) {
      while (bc < 24) {
        bb |= (pos < end ? src[pos]! : 0) << bc;
        pos++;
        bc += 8;
      }
      const e = lookup(lit!, bb);
      if (e & E_BAD) bad('invalid literal/length code');
      const l = e & 15;
      bb >>>= l;
      bc -= l;
      const sym = e >>> 16;
      if (sym < 256) {
        if (pos > end && bitAt() > endBits) truncated();
        if (pi < np) record(out, true);
        if (out >= outEnd) {
          if (!stopAtMax) bad(`stream decodes to more than ${maxOutput} bytes`);
          full = true;
          break;
        }
        if (out >= cap) grow(out + 1);
        buf[out++] = sym;
        continue;
      }
      if (sym === 256) {
        if (pos > end && bitAt() > endBits) truncated();
        if (pi < np) record(out, true);
        break;
      }
      const li = sym - 257;
      if (li >= 29) bad(`invalid length symbol ${sym}`);
      const le = LEN_EXTRA[li]!;
      let len = LEN_BASE[li]! + (bb & ((1 << le) - 1));
      bb >>>= le;
      bc -= le;
      while (bc < 16) {
        bb |= (pos < end ? src[pos]! : 0) << bc;
        pos++;
        bc += 8;
      }
      const de = lookup(dist!, bb);
      if (de & E_BAD) bad('invalid distance code');
      const dl = de & 15;
      bb >>>= dl;
      bc -= dl;
      const ds = de >>> 16;
      if (ds >= 30) bad(`invalid distance symbol ${ds}`);
      const dx = DIST_EXTRA[ds]!;
      if (bc < dx) {
        while (bc < 24) {
          bb |= (pos < end ? src[pos]! : 0) << bc;
          pos++;
          bc += 8;
        }
      }
      const d = DIST_BASE[ds]! + (bb & ((1 << dx) - 1));
      bb >>>= dx;
      bc -= dx;
      if (pos > end && bitAt() > endBits) truncated();
      if (d > out) bad(`distance ${d} reaches before the start of the window (${out} bytes available)`);
      if (pi < np) record(out, true);
      if (out + len > outEnd) {
        if (!stopAtMax) bad(`stream decodes to more than ${maxOutput} bytes`);
        len = outEnd - out;
        full = true;
      }
      if (out + len > cap) grow(out + len);
      let from = out - d;
      // copyWithin costs more than a loop for the short matches most streams are made of
      if (d >= len && len > 32) {
        buf.copyWithin(out, from, from + len);
        out += len;
      } else {
        for (let k = 0; k < len; k++) buf[out++] = buf[from++]!;
      }
      if (pi < np) record(out, false);
      if (full) break;
    }
  }
  if (probes) record(out, true);
  return { output: buf.subarray(dictLen, out), endBit: bitAt(), ended: final && !full };

  function readDynamic(): [Huffman, Huffman] {
    // inflate-fast.ts's header reader, on this reader's state: it returns the exact bit position
    // after the header, from which the block's codes (and the probes) go on. `bb | 0`: this loop's
    // `>>>=` leaves numbers above 2^31, which would turn the shared Bits shape's field into a double
    // for the fast decoder too
    const b: Bits = { src, pos, bb: bb | 0, bc, end, structure, base: 0 };
    dynLit ??= { table: new Int32Array(LITLEN_ENOUGH), bits: LITLEN_BITS };
    dynDist ??= { table: new Int32Array(DIST_ENOUGH), bits: DIST_BITS };
    readDynamicHeader(b, SYMBOL_RESULTS, SYMBOL_RESULTS, dynLit.table, dynDist.table);
    pos = b.pos;
    bb = b.bb;
    bc = b.bc;
    return [dynLit, dynDist];
  }
}

/**
 * inflateRaw without block or probe reports: inflate-fast.ts's decoder (1.6x this file's loop on
 * an 8 MiB zlib -6 stream, CPU time). Without a known output size it decodes into a guess and
 * again into four times as much while the output does not fit, up to maxOutput.
 */
function inflateWhole(src: Uint8Array, opts: InflateOptions, start: number, end: number, window: Uint8Array): InflateResult {
  const maxOutput = opts.maxOutput;
  const stopAtMax = opts.stopAtMax ?? false;
  const o = { offset: start, end, primeBits: opts.primeBits ?? 0, primeByte: opts.primeByte ?? 0, structure: opts.structure ?? 'deflate' };
  if (opts.into) {
    const r = inflateFast(src, opts.into.subarray(0, Math.min(opts.into.length, maxOutput)), { ...o, stopAtMax });
    return { output: opts.into.subarray(0, r.end), endBit: r.endBit, ended: r.ended };
  }
  let cap = stopAtMax ? maxOutput : Math.min(maxOutput, Math.max(1 << 16, (end - start) * 4));
  for (;;) {
    const buf = new Uint8Array(window.length + cap);
    buf.set(window);
    const last = cap >= maxOutput;
    const r = inflateFast(src, buf, { ...o, start: window.length, stopAtMax: last ? stopAtMax : true });
    if (r.ended || last) return { output: buf.subarray(window.length, r.end), endBit: r.endBit, ended: r.ended };
    cap = Math.min(maxOutput, cap * 4);
  }
}

// ---------------------------------------------------------------------------------------------
// gzip member framing (RFC 1952)

const FHCRC = 2;
const FEXTRA = 4;
const FNAME = 8;
const FCOMMENT = 16;

/** Length of the gzip member header at `at`, or a FormatError. */
export function gzipHeaderLength(src: Uint8Array, at: number, structure = 'gzip header'): number {
  if (!(at + 10 <= src.length)) throw new FormatError(structure, at, 'gzip header is cut short');
  if (src[at] !== 0x1f || src[at + 1] !== 0x8b) throw new FormatError(structure, at, `bad gzip magic ${src[at]!.toString(16)} ${src[at + 1]!.toString(16)}`);
  if (src[at + 2] !== 8) throw new FormatError(structure, at + 2, `compression method ${src[at + 2]} (8 = deflate)`);
  const flg = src[at + 3]!;
  if (flg & 0xe0) throw new FormatError(structure, at + 3, `reserved flag bits 0x${flg.toString(16)}`);
  let p = at + 10;
  if (flg & FEXTRA) {
    if (p + 2 > src.length) throw new FormatError(structure, p, 'gzip extra field is cut short');
    p += 2 + (src[p]! | (src[p + 1]! << 8));
  }
  for (const f of [FNAME, FCOMMENT]) {
    if (!(flg & f)) continue;
    while (p < src.length && src[p] !== 0) p++;
    p++;
  }
  if (flg & FHCRC) p += 2;
  if (p > src.length) throw new FormatError(structure, at, 'gzip header is cut short');
  return p - at;
}

export interface GzipMember {
  /** offset of the member's header */
  offset: number;
  /** first byte of its DEFLATE stream */
  dataOffset: number;
  /** output position where its data starts */
  outOffset: number;
  /** byte after its 8-byte trailer */
  end: number;
  /** absolute bit position right after its final block */
  finalBit: number;
}

/**
 * Inflate every member of a gzip file into one output (as `gzip -d` concatenates them), reporting
 * the members, every block start and the consumed-input position at each probe (see InflateOptions).
 * Bytes after the last member that do not start another member are ignored when zero (padding).
 */
export function gunzipMembers(src: Uint8Array, opts: {
  maxOutput: number;
  onBlock?: (bitPos: number, outPos: number, final: boolean, member: number) => void;
  probes?: readonly number[];
  probeBits?: Float64Array;
  /** decode into this buffer (e.g. the output of an earlier pass over the same file) */
  into?: Uint8Array;
}): { output: Uint8Array; members: GzipMember[] } {
  const members: GzipMember[] = [];
  const parts: Uint8Array[] = [];
  let outPos = 0;
  let at = 0;
  let pi = 0;
  const probes = opts.probes ?? [];
  while (at < src.length) {
    if (members.length > 0 && src.subarray(at).every((x) => x === 0)) break;
    const dataOffset = at + gzipHeaderLength(src, at);
    const m = members.length;
    // the probes of this member, relative to its output
    let pj = pi;
    while (pj < probes.length && probes[pj]! >= outPos) pj++;
    const local = probes.slice(pi, pj).map((p) => p - outPos);
    const localBits = new Float64Array(local.length).fill(NaN);
    const r = inflateRaw(src, {
      offset: dataOffset, maxOutput: opts.maxOutput - outPos, structure: 'gzip member',
      onBlock: opts.onBlock ? (b, o, f) => opts.onBlock!(b, outPos + o, f, m) : undefined,
      probes: local, probeBits: localBits, ...(opts.into ? { into: opts.into.subarray(outPos) } : {}),
    });
    // a probe at this member's end belongs to its last block, unless the next member starts there
    let k = 0;
    for (; k < local.length && !Number.isNaN(localBits[k]!); k++) opts.probeBits![pi + k] = localBits[k]!;
    if (!r.ended) throw new FormatError('gzip member', dataOffset, 'the stream ends before its final block');
    const trailer = Math.ceil(r.endBit / 8);
    if (trailer + 8 > src.length) throw new FormatError('gzip trailer', trailer, 'gzip trailer is cut short');
    members.push({ offset: at, dataOffset, outOffset: outPos, end: trailer + 8, finalBit: r.endBit });
    parts.push(r.output);
    outPos += r.output.length;
    pi += k;
    at = trailer + 8;
  }
  if (opts.into) return { output: opts.into.subarray(0, outPos), members };
  return { output: parts.length === 1 ? parts[0]! : concat(...parts), members };
}
