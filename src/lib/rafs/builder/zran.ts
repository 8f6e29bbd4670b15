/**
 * ZRAN build, nydus-image 2.4 `create --type targz-ref` (nydusify `--oci-ref`): from a .tar.gz
 * layer, a RAFS v6 bootstrap and a metadata-only "RAFS blob" that reference the layer as it is. The
 * data blob is the .tar.gz itself (blob id = its SHA-256, compressed size = its size, compressor
 * gzip, digester sha256); the RAFS blob holds the CI v2 rows, the ZranInflateContexts and their
 * windows (zstd-compressed when that is smaller, as nydus compresses ref blob metas) and the
 * 4096-byte header; the bootstrap names it by `blob_meta_digest` / `blob_meta_size`, and it is
 * written to the blob dir under its SHA-256 (nydus 2.4.4 builder/src/core/blob.rs dump_meta_data,
 * builder/src/lib.rs finalize_blob).
 *
 * Checkpoints as nydus' ZranGenerator places them (utils/src/compress/zlib_random.rs begin_read /
 * end_read, with ZranContextGenerator's limits: 512 KiB min / 1 MiB max compressed, 2 MiB
 * uncompressed per context): before each chunk is read, a new context starts at the last deflate
 * block boundary zlib has passed when the current one holds ≥ 512 KiB of input or would pass 2 MiB
 * of output with another chunk, or when the gap since its last chunk is more than twice its input
 * (and it is over 512 KiB); never twice at the same block. A context's window is the ≤ 32 KiB of the
 * member's output before its boundary; its input position is zlib's `total_in` there (whole bytes)
 * with the unread bits of the last byte primed. Chunk and context input ranges are where zlib's
 * inflate has consumed the input when its output buffer ends at the chunk's end (it decodes the
 * next symbol's codes first, or stops at a block end): codec/inflate.ts reports those positions.
 *
 * One deliberate difference: zlib also stops right after a member's final block (before its
 * trailer), and nydus may start a context there, which no raw inflate can resume from (it would read
 * the trailer as a block header). The builder takes that stop into account exactly as nydus does
 * (same decisions, same context count and chunk offsets) but writes the context as starting at the
 * next member's data: same output offset, input after the trailer and gzip header, no primed bits,
 * empty window.
 *
 * The layer is inflated twice in memory (block starts and tar layout first, then input positions
 * at every chunk boundary): memory is the layer plus its tar.
 */
import { FormatError, UnsupportedError } from '../../errors.ts';
import { BytesSource, SliceSource, type ByteSource } from '../../io/source.ts';
import { alignUp, concat } from '../../bytes.ts';
import { gunzipMembers, WINDOW_SIZE } from '../../codec/inflate.ts';
import { sha256 } from '../../codec/sha256.ts';
import { crc32c } from '../../codec/crc32c.ts';
import { treeFromTar } from '../../fs/sources/tar.ts';
import { encodeStruct } from '../../struct.ts';
import { digestOf } from '../blob.ts';
import { hex, isPow2 } from '../model.ts';
import {
  BF, BLOB_CI_V2, BLOB_META_HEADER, BLOB_META_HEADER_SIZE, BLOB_META_MAGIC, BLOB_ZRAN_CTX, CF, CHUNK_SIZE_MAX, CHUNK_SIZE_MIN, CI2_FLAGS, COMPRESSORS, TAR_BLOCK, TOC_ENTRY, TOC_FLAGS,
} from '../structs.ts';
import { compressChunk, encodeCiV2, sectionTarHeader } from './blob.ts';
import { BlobTable } from './common.ts';
import { resolveOptions, writeBootstrap } from './build.ts';
import { buildBTree, type BNode } from './tree.ts';
import type { BlobRef, ChunkRef, Sink } from './types.ts';

/** RAFS_DEFAULT_CHUNK_SIZE-based limits of ZranContextGenerator::new */
const LIMITS = { minCompressed: 512 * 1024, maxCompressed: 1024 * 1024, maxUncompressed: 2 * 1024 * 1024 };

export interface ZranBuildOptions {
  /** power of two in [4 KiB, 16 MiB] (default 1 MiB) */
  chunkSize?: number;
  /** store uid/gid (default true, as nydus-image without --repeatable) */
  explicitUidGid?: boolean;
  /** CRC-32C in every bootstrap chunk info (default true: nydus-image 2.4.4 always writes it) */
  crc32?: boolean;
  /** largest tar the layer may inflate to (default 2 GiB) */
  maxTarSize?: number;
  /**
   * ZranGenerator's set_min_compressed_size / set_max_compressed_size / set_max_uncompressed_size
   * (default 512 KiB / 1 MiB / 2 MiB, as nydus-image); nydus' own unit tests use 1024 / 2048 / 4096
   */
  contextLimits?: { minCompressed: number; maxCompressed: number; maxUncompressed: number };
  /** compression of the CI data in the RAFS blob (default 'zstd' when smaller, as nydus-image for ref builds) */
  ciCompressor?: 'zstd' | 'none';
  /**
   * The RAFS blob as nydus-snapshotter's Pack asks for it in OCI-ref mode (`create --type targz-ref
   * --blob-inline-meta --features blob-toc`): after the CI and header, the sections `blob.meta`, the
   * layer's bootstrap as `image.boot`, and the ToC `rafs.blob.toc`, each with its reverse-tar
   * header, so the RAFS blob is a nydus blob layer (sections read from EOF back, §5.8). The
   * bootstrap still goes to `sinks.bootstrap` too. Default false: the bare meta blob (`-D DIR`).
   */
  inlineMeta?: boolean;
}

export interface ZranBuildSinks {
  bootstrap: Sink;
  /** the RAFS blob (blob meta): name it `metaBlobId` */
  meta: Sink;
}

export interface ZranContextInfo {
  inOffset: number;
  outOffset: number;
  inLen: number;
  outLen: number;
  ctxByte: number;
  ctxBits: number;
  dict: Uint8Array;
}

export interface ZranBuildResult {
  bootstrapSize: number;
  /** SHA-256 of the .tar.gz: the data blob's id */
  blobId: string;
  /** SHA-256 of the RAFS blob (its file name in the blob dir) */
  metaBlobId: string;
  metaBlobSize: number;
  /** with inlineMeta: the ToC section (entries and its tar header) as it ends the RAFS blob */
  toc?: { size: number; digest: Uint8Array };
  chunks: number;
  contexts: number;
  /** chunks whose digest appeared earlier in the layer (they reference the first one) */
  deduplicated: number;
  tarSize: number;
  /** every chunk read in tar order (deduplicated ones too), as ZranGenerator::end_read reports it */
  reads: { context: number; offset: number; size: number; inPos: number; inLen: number; tarOffset: number }[];
  /** the contexts as written (dictSize: bytes of its window) */
  contextList: (Omit<ZranContextInfo, 'dict'> & { dictSize: number })[];
  notes: string[];
}

interface Block {
  bit: number;
  out: number;
  member: number;
  /** zlib's stop after a member's final block, before its trailer (see the module comment) */
  trailer?: boolean;
}

/** Build from the bytes of a .tar.gz layer. */
export async function buildZranRafs(layer: ByteSource, opts: ZranBuildOptions, sinks: ZranBuildSinks): Promise<ZranBuildResult> {
  const chunkSize = opts.chunkSize ?? 0x10_0000;
  if (!isPow2(chunkSize) || chunkSize < CHUNK_SIZE_MIN || chunkSize > CHUNK_SIZE_MAX) throw new UnsupportedError('chunk size', `${chunkSize} is not a power of two from 4 KiB to 16 MiB`);
  const crc = opts.crc32 ?? true;
  const maxTar = opts.maxTarSize ?? 2 ** 31;
  const { minCompressed: MIN_COMP, maxCompressed: MAX_COMP, maxUncompressed: MAX_UNCOMP } = opts.contextLimits ?? LIMITS;
  const notes: string[] = [];
  const gz = await layer.read(0, layer.size);
  if (!(gz.length >= 2 && gz[0] === 0x1f && gz[1] === 0x8b)) throw new UnsupportedError('rafs targz-ref build', `${layer.name} is not gzip-compressed (targz-ref references a .tar.gz layer)`);

  // pass 1: the tar, every block start, the members
  const blocks: Block[] = [];
  const { output: tar, members } = gunzipMembers(gz, { maxOutput: maxTar, onBlock: (bit, out, _f, member) => blocks.push({ bit, out, member }) });
  // zlib (Z_BLOCK) also stops after each member's final block: a boundary for the generator too
  for (const [k, m] of members.entries()) if (k + 1 < members.length) blocks.push({ bit: m.finalBit, out: members[k + 1]!.outOffset, member: k, trailer: true });
  blocks.sort((a, b) => a.bit - b.bit);
  const tarSrc = new BytesSource(tar, `${layer.name} (tar)`);
  // as nydus-image (tar-rs with ignore_zeros): a layer of concatenated tars is one tree
  const tree = await treeFromTar(tarSrc, { ignoreZeros: true });
  const t = buildBTree(tree, notes);

  // the chunks of every regular file, in tar stream order
  const files = t.files.filter((f) => f.inode.size > 0).map((f) => {
    const c = f.inode.content;
    if (!(c instanceof SliceSource && c.inner === tarSrc)) throw new Error('builder bug: tar content is not a slice of the tar');
    return { node: f, start: c.start, size: f.inode.size };
  }).sort((a, b) => a.start - b.start);
  const probes: number[] = [];
  for (const f of files) {
    for (let o = 0; o < f.size; o += chunkSize) probes.push(f.start + o);
    probes.push(f.start + f.size);
  }
  const uniq = [...new Set(probes)].sort((a, b) => a - b);
  const probeBits = new Float64Array(uniq.length).fill(NaN);
  // pass 2: where zlib has consumed the input when its output ends at each chunk boundary
  // (into the tar itself: the same bytes again, no second tar-sized buffer)
  gunzipMembers(gz, { maxOutput: maxTar, probes: uniq, probeBits, into: tar });
  const bitAt = new Map<number, number>();
  uniq.forEach((p, i) => {
    if (Number.isNaN(probeBits[i]!)) throw new Error(`builder bug: no input position for output ${p}`);
    bitAt.set(p, probeBits[i]!);
  });
  const inPos = (out: number) => Math.ceil(bitAt.get(out)! / 8);

  // the generator (ZranGenerator begin_read / end_read)
  // zIn / zInLen: the context's input start and length as zlib counts them, which the decisions use
  const contexts: (ZranContextInfo & { zIn: number; zInLen: number })[] = [];
  let cur = -1;
  let curBlockStart = -1;
  let bi = 0; // blocks[0, bi) have been passed
  const newContext = (): number => {
    const b = blocks[bi - 1]!;
    const zIn = Math.ceil(b.bit / 8);
    if (b.trailer) {
      // nydus would resume at the trailer; the same output starts cleanly at the next member's data
      const next = members[b.member + 1]!;
      contexts.push({ inOffset: next.dataOffset, outOffset: b.out, inLen: 0, outLen: 0, ctxByte: 0, ctxBits: 0, dict: new Uint8Array(0), zIn, zInLen: 0 });
    } else {
      const bits = zIn * 8 - b.bit;
      const memberOut = members[b.member]!.outOffset;
      contexts.push({
        inOffset: zIn, outOffset: b.out, inLen: 0, outLen: 0, ctxByte: bits ? gz[zIn - 1]! : 0, ctxBits: bits,
        dict: tar.slice(Math.max(memberOut, b.out - WINDOW_SIZE), b.out), zIn, zInLen: 0,
      });
    }
    curBlockStart = zIn;
    return contexts.length - 1;
  };

  const blob: BlobRef = {
    blobId: hex(sha256(gz)), compressor: 'gzip', digester: 'sha256', chunkSize,
    features: BF.ALIGNED | BF.CHUNK_INFO_V2 | BF.ZRAN | BF.SEPARATE | BF.CAP_TAR_TOC,
  };
  const stored: { c: ChunkRef; ctx: number; offset: number }[] = [];
  const seen = new Map<string, ChunkRef>();
  const chunks = new Map<BNode, ChunkRef[]>();
  let uncompressedEnd = 0;
  let deduplicated = 0;
  const reads: ZranBuildResult['reads'] = [];
  for (const f of files) {
    const list: ChunkRef[] = [];
    for (let o = 0; o < f.size; o += chunkSize) {
      const s = f.start + o;
      const e = f.start + Math.min(f.size, o + chunkSize);
      // begin_read: the block boundaries zlib has passed by now
      const sBit = bitAt.get(s)!;
      while (bi < blocks.length && blocks[bi]!.bit <= sBit) bi++;
      const inS = inPos(s);
      if (cur < 0) cur = newContext();
      else {
        const ctx = contexts[cur]!;
        const comp = inS - ctx.zIn;
        const uncomp = s - ctx.outOffset;
        const first = Math.ceil(blocks[bi - 1]!.bit / 8) === curBlockStart;
        const enough = !first && (comp >= MAX_COMP / 2 || uncomp + chunkSize >= MAX_UNCOMP);
        if (enough || (!first && comp > 2 * ctx.zInLen && ctx.zInLen > MIN_COMP)) cur = newContext();
      }
      // end_read
      const ctx = contexts[cur]!;
      const inE = inPos(e);
      ctx.outLen = e - ctx.outOffset;
      ctx.inLen = inE - ctx.inOffset;
      ctx.zInLen = inE - ctx.zIn;
      reads.push({ context: cur, offset: s - ctx.outOffset, size: e - s, inPos: inS, inLen: inE - inS, tarOffset: s });
      const data = tar.subarray(s, e);
      const digest = await digestOf('sha256', data);
      const key = hex(digest);
      const dup = seen.get(key);
      if (dup && dup.uncompressedSize === data.length) {
        deduplicated++;
        list.push(dup);
        continue;
      }
      const c: ChunkRef = {
        digest, blob, flags: CF.COMPRESSED | (crc ? CF.HAS_CRC32 : 0), compressedOffset: inS, compressedSize: inE - inS,
        uncompressedOffset: uncompressedEnd, uncompressedSize: data.length, index: stored.length, crc32: crc ? crc32c(data) : 0,
      };
      if (c.compressedSize > 0xff_ffff) throw new UnsupportedError('rafs targz-ref build', `a chunk spans ${c.compressedSize} gzip bytes, more than CI v2's 24-bit compressed size`);
      uncompressedEnd += alignUp(data.length, 4096);
      seen.set(key, c);
      stored.push({ c, ctx: cur, offset: s - ctx.outOffset });
      list.push(c);
    }
    chunks.set(f.node, list);
  }
  // every context holds at least one chunk's input (a writer bug otherwise)
  for (const [i, c] of contexts.entries()) {
    if (!(c.inLen > 0 || c.outLen === 0)) throw new FormatError('rafs.zran', c.inOffset, `builder: context ${i} is empty`);
  }

  // the RAFS blob: CI v2 rows, contexts, windows, then the header
  const n = stored.length;
  const ctxAt = n * BLOB_CI_V2.size;
  const dictTotal = contexts.reduce((s, c) => s + c.dict.length, 0);
  const ci = new Uint8Array(ctxAt + contexts.length * BLOB_ZRAN_CTX.size + dictTotal);
  const v = new DataView(ci.buffer);
  for (const [i, s] of stored.entries()) {
    const at = i * BLOB_CI_V2.size;
    encodeCiV2(ci, at, { ...s.c, flags: CF.COMPRESSED });
    // finish_chunk: COMPRESSED | ZRAN, data = context index << 32 | offset in its output
    v.setUint32(at + BLOB_CI_V2.f.uncomp_info_hi.offset, ((s.c.uncompressedSize - 1) | ((CI2_FLAGS.COMPRESSED | CI2_FLAGS.ZRAN) << 24)) >>> 0, true);
    v.setUint32(at + BLOB_CI_V2.f.data_lo.offset, s.offset, true);
    v.setUint32(at + BLOB_CI_V2.f.data_hi.offset, s.ctx, true);
  }
  let dictOff = 0;
  let dictAt = ctxAt + contexts.length * BLOB_ZRAN_CTX.size;
  for (const [i, c] of contexts.entries()) {
    encodeStruct(BLOB_ZRAN_CTX, {
      in_offset: c.inOffset, out_offset: c.outOffset, dict_offset: dictOff, in_len: c.inLen, out_len: c.outLen, dict_size: c.dict.length,
      ctx_byte: c.ctxByte, ctx_bits: c.ctxBits,
    }, ci, ctxAt + i * BLOB_ZRAN_CTX.size);
    ci.set(c.dict, dictAt);
    dictAt += c.dict.length;
    dictOff += c.dict.length;
  }
  const ciZ = n > 0 && opts.ciCompressor !== 'none' ? compressChunk('zstd', ci) : null;
  const ciStored = ciZ ?? ci;
  const hdr = new Uint8Array(BLOB_META_HEADER_SIZE);
  encodeStruct(BLOB_META_HEADER, {
    s_magic: BLOB_META_MAGIC, s_features: blob.features, s_ci_compressor: ciZ ? COMPRESSORS.indexOf('zstd') : 0, s_ci_entries: n, s_ci_offset: 0,
    s_ci_compressed_size: ciStored.length, s_ci_uncompressed_size: ci.length, s_ci_zran_offset: ctxAt,
    s_ci_zran_size: ci.length - ctxAt, s_ci_zran_count: contexts.length, s_magic2: BLOB_META_MAGIC,
  }, hdr);
  const metaBlob = concat(ciStored, hdr);
  const metaDigest = sha256(metaBlob);
  Object.assign(blob, {
    chunkCount: n, compressedSize: gz.length, uncompressedSize: uncompressedEnd, blobTocSize: 0, blobTocDigest: new Uint8Array(32),
    ciCompressor: ciZ ? 'zstd' : 'none', ciOffset: 0, ciCompressedSize: ciStored.length, ciUncompressedSize: ci.length,
    blobMetaDigest: metaDigest, blobMetaSize: metaBlob.length, cipherAlgo: 0, cipherIv: new Uint8Array(8),
  } satisfies Partial<BlobRef>);
  const table = new BlobTable();
  // as nydus-image: a layer without file content has no blob, and no RAFS blob is written
  if (n > 0) {
    await sinks.meta.write(metaBlob);
    table.add(blob);
  } else notes.push('the layer has no file content: no blob and no RAFS blob');
  const bootParts: Uint8Array[] = [];
  const bootSink: Sink = opts.inlineMeta ? { write: async (b) => { bootParts.push(b.slice()); await sinks.bootstrap.write(b); } } : sinks.bootstrap;
  const bootstrapSize = await writeBootstrap(
    { ...resolveOptions({ version: 6, chunkSize, digester: 'sha256', compressor: 'gzip', explicitUidGid: opts.explicitUidGid ?? true }), alignedChunk: true },
    t, chunks, table, [], bootSink,
  );
  let metaSize = n > 0 ? metaBlob.length : 0;
  let toc: ZranBuildResult['toc'];
  if (opts.inlineMeta) {
    // the sections after the meta blob; a content-less layer's RAFS blob is its bootstrap alone
    const boot = concat(...bootParts);
    const entries: { name: string; digest: Uint8Array; offset: number; size: number; usize: number; flags: number }[] = [];
    const parts: Uint8Array[] = [];
    let at = metaSize;
    if (n > 0) {
      parts.push(sectionTarHeader('blob.meta', metaBlob.length));
      entries.push({ name: 'blob.meta', digest: sha256(ci), offset: 0, size: ciStored.length, usize: ci.length, flags: ciZ ? TOC_FLAGS.ZSTD : TOC_FLAGS.NONE });
      entries.push({ name: 'blob.meta.header', digest: sha256(hdr), offset: ciStored.length, size: hdr.length, usize: hdr.length, flags: TOC_FLAGS.NONE });
      at += TAR_BLOCK;
    }
    entries.push({ name: 'image.boot', digest: sha256(boot), offset: at, size: boot.length, usize: boot.length, flags: TOC_FLAGS.NONE });
    parts.push(boot, sectionTarHeader('image.boot', boot.length));
    const tocBytes = new Uint8Array(entries.length * TOC_ENTRY.size + TAR_BLOCK);
    entries.forEach((e, i) => encodeStruct(TOC_ENTRY, {
      flags: e.flags, name: new TextEncoder().encode(e.name), uncompressed_digest: e.digest, compressed_offset: e.offset, compressed_size: e.size, uncompressed_size: e.usize,
    }, tocBytes, i * TOC_ENTRY.size));
    tocBytes.set(sectionTarHeader('rafs.blob.toc', entries.length * TOC_ENTRY.size), entries.length * TOC_ENTRY.size);
    parts.push(tocBytes);
    for (const p of parts) await sinks.meta.write(p);
    metaSize += parts.reduce((s, p) => s + p.length, 0);
    toc = { size: tocBytes.length, digest: sha256(tocBytes) };
  }
  return {
    bootstrapSize, blobId: blob.blobId, metaBlobId: n > 0 ? hex(metaDigest) : '', metaBlobSize: metaSize, ...(toc ? { toc } : {}), chunks: n, contexts: contexts.length,
    deduplicated, tarSize: tar.length, reads, contextList: contexts.map(({ dict, zIn: _z, zInLen: _l, ...c }) => ({ ...c, dictSize: dict.length })), notes,
  };
}
