/**
 * ZRAN (nydus `--type targz-ref`, nydusify `--oci-ref`): the data blob is the original gzip layer,
 * untouched (its id is its SHA-256), and a chunk is inflated from a zlib random-access checkpoint.
 * The blob meta lives in a separate RAFS meta blob (feature SEPARATE, named by `blob_meta_digest`):
 * CI v2 rows, then `ZranInflateContext`s (40 bytes each: in_offset, out_offset, dict_offset, in_len,
 * out_len, dict_size, ctx_byte, ctx_bits) and a dictionary table of their windows (§5.6; nydus
 * 2.4.4 storage/src/meta/zran.rs, utils/src/compress/zlib_random.rs).
 *
 * A context's bytes are the gzip layer's [in_offset, +in_len); a raw inflate starts there with the
 * `ctx_bits` high bits of `ctx_byte` primed and the dictionary as its window, and produces `out_len`
 * bytes; a chunk is [offset, +size) of those (`data` of its CI row = context index << 32 | offset).
 * When a member of a multi-member gzip ends inside a context, its 8-byte trailer and the next
 * member's header are skipped and inflation goes on with an empty window, as nydus' ZranDecoder does.
 */
import { fail, FormatError, NotFoundError } from '../errors.ts';
import type { ByteSource } from '../io/source.ts';
import { gzipHeaderLength, inflateRaw, WINDOW_SIZE } from '../codec/inflate.ts';
import { sha256Async } from '../codec/sha256.ts';
import { decodeStruct } from '../struct.ts';
import { bytesEqual } from '../fs/types.ts';
import { BF, BLOB_CI_V2, BLOB_ZRAN_CTX, CHUNK_SIZE_MAX, CI2_FLAGS } from './structs.ts';
import { ciEntry, readBlobMeta, type BlobMeta } from './blob.ts';
import { hex, type RafsBlob, type RafsChunk } from './model.ts';
import { baseName } from './blobstore.ts';

export interface ZranContext {
  index: number;
  inOffset: number;
  outOffset: number;
  dictOffset: number;
  inLen: number;
  outLen: number;
  dictSize: number;
  ctxByte: number;
  ctxBits: number;
  /** where this record sits in the uncompressed CI data */
  at: number;
}

export interface ZranTable {
  contexts: ZranContext[];
  /** all windows, concatenated (dict_offset is relative to its start) */
  dicts: Uint8Array;
  /** offset of the dictionary table in the uncompressed CI data */
  dictsAt: number;
}

/**
 * The context table and dictionary table of a ZRAN blob meta, validated as nydus'
 * `validate_header` and `get_zran_context` do (table right after the CI rows, no more contexts than
 * chunks, every window inside the dictionary table) plus what inflating needs (a window of at most
 * 32 KiB, at most 7 primed bits, output at most 16 MiB per context).
 */
export function zranTable(meta: BlobMeta): ZranTable {
  const H = 'rafs.blob_meta.header';
  if (!(meta.features & BF.ZRAN)) fail(H, meta.headerOffset, 'the blob meta has no ZRAN feature');
  if (!(meta.version === 2)) fail(H, meta.headerOffset, 'ZRAN blob meta without CHUNK_INFO_V2');
  const n = meta.zranCount;
  if (!(meta.zranOffset === meta.entryCount * BLOB_CI_V2.size)) fail(H, meta.headerOffset + 40, `context table at ${meta.zranOffset}, expected right after the ${meta.entryCount} CI rows (${meta.entryCount * BLOB_CI_V2.size})`);
  if (!(n <= meta.entryCount)) fail(H, meta.headerOffset + 56, `${n} ZRAN contexts for ${meta.entryCount} chunks`);
  if (!(n * BLOB_ZRAN_CTX.size <= meta.zranSize && meta.zranOffset + meta.zranSize <= meta.ci.length)) fail(H, meta.headerOffset + 48, `${n} contexts in ${meta.zranSize} bytes at ${meta.zranOffset} do not fit the ${meta.ci.length}-byte CI data`);
  const dictsAt = meta.zranOffset + n * BLOB_ZRAN_CTX.size;
  const dicts = meta.ci.subarray(dictsAt, meta.zranOffset + meta.zranSize);
  const contexts: ZranContext[] = [];
  for (let i = 0; i < n; i++) {
    const at = meta.zranOffset + i * BLOB_ZRAN_CTX.size;
    const c = decodeStruct(BLOB_ZRAN_CTX, meta.ci, at);
    const z: ZranContext = {
      index: i, inOffset: c.in_offset, outOffset: c.out_offset, dictOffset: c.dict_offset, inLen: c.in_len, outLen: c.out_len,
      dictSize: c.dict_size, ctxByte: c.ctx_byte, ctxBits: c.ctx_bits, at,
    };
    if (!(z.dictSize <= WINDOW_SIZE && z.dictOffset + z.dictSize <= dicts.length)) fail(BLOB_ZRAN_CTX.name, at + 16, `context ${i}: window [${z.dictOffset}, +${z.dictSize}) is not inside the ${dicts.length}-byte dictionary table (at most 32 KiB)`);
    if (!(z.outLen <= CHUNK_SIZE_MAX)) fail(BLOB_ZRAN_CTX.name, at + 28, `context ${i}: ${z.outLen} output bytes (at most 16 MiB)`);
    if (!((z.ctxBits & 7) === z.ctxBits)) fail(BLOB_ZRAN_CTX.name, at + 37, `context ${i}: ${z.ctxBits} primed bits (at most 7)`);
    contexts.push(z);
  }
  return { contexts, dicts, dictsAt };
}

export function zranDict(t: ZranTable, c: ZranContext): Uint8Array {
  return t.dicts.subarray(c.dictOffset, c.dictOffset + c.dictSize);
}

/** A ZRAN chunk's place: its context and the offset of its bytes in the context's output. */
export interface ZranChunkRef {
  context: ZranContext;
  offset: number;
  size: number;
}

/** CI row `i` of a ZRAN blob meta: checked to be a ZRAN chunk inside its context's output. */
export function zranChunk(meta: BlobMeta, t: ZranTable, i: number): ZranChunkRef {
  const e = ciEntry(meta, i);
  const at = i * BLOB_CI_V2.size;
  if (!(e.flags & CI2_FLAGS.ZRAN)) fail(BLOB_CI_V2.name, at + 7, `chunk ${i} of a ZRAN blob has no ZRAN flag (flags 0x${e.flags.toString(16)})`);
  const context = t.contexts[e.dataHi];
  if (!context) fail(BLOB_CI_V2.name, at + 20, `chunk ${i}: ZRAN context ${e.dataHi} of ${t.contexts.length}`);
  if (!(e.dataLo + e.uncompressedSize <= context.outLen)) fail(BLOB_CI_V2.name, at + 16, `chunk ${i}: [${e.dataLo}, +${e.uncompressedSize}) lies outside the ${context.outLen}-byte output of context ${e.dataHi}`);
  return { context, offset: e.dataLo, size: e.uncompressedSize };
}

/**
 * The chunks nydus fetches together with chunk `i` (`add_more_chunks` on a ZRAN blob): from the
 * first chunk of its context to the last one of it, as [first, last] CI indexes.
 */
export function zranContextChunks(meta: BlobMeta, i: number): [number, number] {
  const idx = (k: number) => {
    const e = ciEntry(meta, k);
    if (!(e.flags & CI2_FLAGS.ZRAN)) fail(BLOB_CI_V2.name, k * BLOB_CI_V2.size + 7, `chunk ${k} of a ZRAN blob has no ZRAN flag`);
    return e.dataHi;
  };
  const z = idx(i);
  let first = i;
  while (first > 0 && idx(first - 1) === z) first--;
  let last = i;
  while (last + 1 < meta.entryCount && idx(last + 1) === z) last++;
  return [first, last];
}

/**
 * Inflate one context from the gzip layer's bytes [in_offset, +in_len) (`input`, whose first byte is
 * at `inputAt` in the layer, for error offsets): exactly out_len bytes or a FormatError.
 */
export function inflateContext(input: Uint8Array, c: ZranContext, dict: Uint8Array, inputAt = c.inOffset): Uint8Array {
  const structure = 'rafs.zran.gzip';
  if (!(input.length === c.inLen)) fail(structure, inputAt, `context ${c.index}: ${input.length} input bytes, the context says ${c.inLen}`);
  const out = new Uint8Array(c.outLen);
  let n = 0;
  let pos = 0;
  let prime = c.ctxBits;
  let window = dict;
  // a member ends at most once per 18 bytes (header + trailer): this bounds the loop
  for (let members = 0; n < c.outLen; members++) {
    if (!(members <= input.length / 18 + 1)) fail(structure, inputAt + pos, `context ${c.index}: too many gzip members`);
    let r;
    try {
      r = inflateRaw(input, {
        offset: pos, primeBits: prime, primeByte: prime ? c.ctxByte : 0, dict: window, maxOutput: c.outLen - n, stopAtMax: true, structure,
      });
    } catch (e) {
      if (e instanceof FormatError) throw new FormatError(structure, inputAt + Math.max(0, e.offset), `context ${c.index} (gzip bytes [${c.inOffset}, +${c.inLen})): ${e.detail}`);
      throw e;
    }
    out.set(r.output, n);
    n += r.output.length;
    if (n === c.outLen) break;
    // the member ended: skip its trailer and the next member's header, resume with an empty window
    pos = Math.ceil(r.endBit / 8) + 8;
    if (!(pos < input.length)) fail(structure, inputAt + Math.min(pos, input.length), `context ${c.index}: the gzip input ends after ${n} of ${c.outLen} bytes`);
    try {
      pos += gzipHeaderLength(input, pos, structure);
    } catch (e) {
      if (e instanceof FormatError) throw new FormatError(structure, inputAt + pos, `context ${c.index}: ${e.detail}`);
      throw e;
    }
    prime = 0;
    window = new Uint8Array(0);
  }
  return out;
}

/**
 * The separate RAFS meta blob of a SEPARATE blob among the supplied files: named by
 * hex(blob_meta_digest) (as nydus-image writes it to --blob-dir), else the one file of
 * blob_meta_size bytes whose SHA-256 is blob_meta_digest. null when none is supplied.
 */
export async function findSeparateMeta(blob: Pick<RafsBlob, 'blobMetaDigest' | 'blobMetaSize'>, candidates: readonly ByteSource[]): Promise<ByteSource | null> {
  const d = blob.blobMetaDigest;
  if (!d || d.every((x) => x === 0)) return null;
  const want = hex(d);
  const named = candidates.find((s) => baseName(s.name) === want);
  if (named) return named;
  for (const s of candidates) {
    if (s.size !== blob.blobMetaSize) continue;
    if (bytesEqual(await sha256Async(await s.read(0, s.size)), d)) return s;
  }
  return null;
}

/**
 * The blob meta of a SEPARATE (or ZRAN) blob: from its RAFS meta blob among `candidates`, else from
 * nydusd's cache file `<blob id>.blob.meta` (uncompressed CI padded to 4 KiB, then the header; ZRAN
 * images built with an inlined bootstrap have no blob_meta_digest to find a RAFS blob by).
 * NotFoundError when neither is supplied.
 */
export async function readSeparateMeta(blob: RafsBlob, candidates: readonly ByteSource[]): Promise<BlobMeta> {
  const cache = candidates.find((s) => baseName(s.name) === `${blob.blobId}.blob.meta`);
  const src = await findSeparateMeta(blob, candidates);
  if (!src && cache) return readBlobMeta(cache, blob, 'cache');
  if (!src) throw new NotFoundError(`RAFS meta blob ${hex(blob.blobMetaDigest ?? new Uint8Array(32))} (${blob.blobMetaSize ?? 0} bytes) or ${blob.blobId}.blob.meta, holding the blob meta of blob ${blob.blobId}`);
  return readBlobMeta(src, blob, 'blob', true);
}

/**
 * ZRAN chunk reads for a BlobStore: a chunk's context is inflated from the gzip layer once and the
 * last few contexts are kept (the chunks of a context are usually read together: one context
 * inflates 1-2 MiB for chunks that are often a few KiB).
 */
export class ZranChunks {
  private readonly tables = new WeakMap<BlobMeta, ZranTable>();
  /** per gzip source: "context index" → its output, most recent last (at most KEEP) */
  private readonly outputs = new WeakMap<ByteSource, Map<number, Promise<Uint8Array>>>();
  private static readonly KEEP = 4;

  async read(c: RafsChunk, meta: BlobMeta | null, source: ByteSource): Promise<Uint8Array> {
    if (!(meta !== null)) fail('rafs.chunk', c.compressedOffset, `ZRAN chunk ${c.index}: the blob has no blob meta (CI array) to find its context`);
    let t = this.tables.get(meta);
    if (!t) {
      t = zranTable(meta);
      this.tables.set(meta, t);
    }
    const z = zranChunk(meta, t, c.index);
    const at = c.index * BLOB_CI_V2.size;
    const e = ciEntry(meta, c.index);
    if (!(e.uncompressedSize === c.uncompressedSize && e.uncompressedOffset === c.uncompressedOffset)) fail(BLOB_CI_V2.name, at, `ZRAN chunk ${c.index}: CI row [${e.uncompressedOffset}, +${e.uncompressedSize}), the bootstrap [${c.uncompressedOffset}, +${c.uncompressedSize})`);
    const out = await this.output(source, z.context, t);
    return out.slice(z.offset, z.offset + z.size);
  }

  private output(source: ByteSource, ctx: ZranContext, t: ZranTable): Promise<Uint8Array> {
    let m = this.outputs.get(source);
    if (!m) {
      m = new Map();
      this.outputs.set(source, m);
    }
    let p = m.get(ctx.index);
    if (p) {
      m.delete(ctx.index);
      m.set(ctx.index, p);
      return p;
    }
    p = (async () => {
      if (!(ctx.inLen <= source.size && ctx.inOffset <= source.size - ctx.inLen)) fail(BLOB_ZRAN_CTX.name, ctx.at, `context ${ctx.index}: gzip bytes [${ctx.inOffset}, +${ctx.inLen}) are outside the ${source.size}-byte layer ${source.name}`);
      const input = await source.read(ctx.inOffset, ctx.inLen);
      return inflateContext(input, ctx, zranDict(t, ctx));
    })();
    const mm = m;
    mm.set(ctx.index, p);
    p.catch(() => mm.delete(ctx.index));
    while (mm.size > ZranChunks.KEEP) mm.delete(mm.keys().next().value!);
    return p;
  }
}
