/**
 * Data blobs of one image: which ByteSource holds which blob table entry, and chunk reads (slice the
 * blob, decompress, verify the digest, cache).
 */
import { check, FormatError, NotFoundError, UnsupportedError } from '../errors.ts';
import type { ByteSource } from '../io/source.ts';
import { bytesEqual } from '../fs/types.ts';
import { crc32c } from '../codec/crc32c.ts';
import { BF, BLOB_BATCH_CTX, BLOB_CI_V2, CF, CHUNK_SIZE_MAX, CI2_FLAGS } from './structs.ts';
import { chunkKey, type ChunkCache } from './chunkcache.ts';
import { cipherOf, decryptUnit } from './crypt.ts';
import { readSeparateMeta, ZranChunks } from './zran.ts';
import { hex, type RafsBlob, type RafsChunk } from './model.ts';
import {
  batchContext, ciEntry, decompress, digestOf, readBlobMeta, readDigestArray, readToc, type BlobMeta, type BlobToc,
} from './blob.ts';

/** A chunk whose blob was not supplied: the UI can ask the user for `blobId` and call `attach`. */
export class MissingBlobError extends NotFoundError {
  constructor(readonly blobIndex: number, readonly blobId: string) {
    super(`data blob ${blobId} (blob table index ${blobIndex}) was not supplied`);
  }
}

/**
 * 'blob': the data blob as built (compressed chunks at compressed offsets);
 * 'cache': a `<id>.blob.data` file, the blob's uncompressed address space (an EROFS extra device).
 */
export type BlobKind = 'blob' | 'cache';

export interface BlobBinding {
  index: number;
  /** id written in the bootstrap */
  blobId: string;
  /** id used for cache keys and messages: the file's name for blobs holding this very bootstrap */
  effectiveId: string;
  source: ByteSource | null;
  kind: BlobKind;
  matchedBy: 'name' | 'size' | 'order' | 'container' | 'attached' | null;
}

export interface BlobMatch {
  bindings: BlobBinding[];
  /** sources that fit no blob table entry */
  unmatched: ByteSource[];
}

export function baseName(name: string): string {
  const b = name.split(/[\\/]/).pop() ?? name;
  return b.replace(/^sha256[:-]/, '');
}

function nameMatch(base: string, id: string): BlobKind | null {
  if (id === '') return null;
  if (base === id) return 'blob';
  if (base === `${id}.blob.data`) return 'cache';
  if (base.startsWith(`${id}.`) && !/\.blob\.(meta|digest|toc)$/.test(base)) return 'blob';
  return null;
}

function sizeFits(blob: RafsBlob, src: ByteSource): boolean {
  if (blob.compressedSize === undefined) return true;
  if (src.size === blob.compressedSize) return true;
  // a blob that carries its bootstrap recorded its size before the bootstrap was appended
  return (blob.features & BF.INLINED_FS_META) !== 0 && src.size > blob.compressedSize;
}

/**
 * Pair blob table entries with the supplied files: by name (the basename is the blob id, or
 * `<id>.blob.data` for an uncompressed cache), then the container (a blob the bootstrap was read
 * from), then a unique size, then the order given among what is left.
 */
export function matchBlobs(blobs: readonly RafsBlob[], sources: readonly ByteSource[], container?: ByteSource): BlobMatch {
  const bindings: BlobBinding[] = blobs.map((b) => ({ index: b.index, blobId: b.blobId, effectiveId: b.blobId, source: null, kind: 'blob', matchedBy: null }));
  const free = new Set(sources);
  for (const bd of bindings) {
    for (const s of free) {
      const kind = nameMatch(baseName(s.name), bd.blobId);
      if (!kind) continue;
      bd.source = s;
      bd.kind = kind;
      bd.matchedBy = 'name';
      free.delete(s);
      break;
    }
  }
  if (container) {
    const open = bindings.filter((b) => !b.source);
    let target = open.filter((b) => (blobs[b.index]!.features & BF.INLINED_FS_META) !== 0);
    if (target.length === 0 && open.length === 1 && blobs.length === 1) target = open;
    if (target.length === 1) {
      const bd = target[0]!;
      bd.source = container;
      bd.matchedBy = 'container';
      bd.effectiveId = baseName(container.name);
      free.delete(container);
    }
  }
  for (const bd of bindings) {
    if (bd.source) continue;
    const size = blobs[bd.index]!.compressedSize;
    if (size === undefined) continue;
    const same = [...free].filter((s) => s.size === size);
    const rivals = bindings.filter((o) => !o.source && blobs[o.index]!.compressedSize === size);
    if (same.length === 1 && rivals.length === 1) {
      bd.source = same[0]!;
      bd.matchedBy = 'size';
      free.delete(same[0]!);
    }
  }
  for (const bd of bindings) {
    if (bd.source) continue;
    const s = [...free].find((x) => sizeFits(blobs[bd.index]!, x));
    if (!s) continue;
    bd.source = s;
    bd.matchedBy = 'order';
    free.delete(s);
  }
  return { bindings, unmatched: [...free] };
}

export interface BlobStoreOptions {
  cache?: ChunkCache;
  /** verify digests on every read (default true) */
  verify?: boolean;
}

export interface BlobDetails {
  meta: BlobMeta | null;
  toc: BlobToc | null;
  digests: { offset: number; bytes: Uint8Array } | null;
}

function isZero(b: Uint8Array): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}

export class BlobStore {
  readonly bindings: BlobBinding[];
  readonly unmatched: ByteSource[];
  private readonly verify: boolean;
  private readonly cache: ChunkCache | undefined;
  private readonly inflight = new Map<string, Promise<Uint8Array>>();
  private readonly details = new Map<number, Promise<BlobDetails>>();
  private readonly zran = new ZranChunks();
  /** recently inflated batches, "blob:batch:offset" → bytes (at most 4) */
  private readonly batches = new Map<string, Promise<Uint8Array>>();

  constructor(readonly blobs: readonly RafsBlob[], match: BlobMatch, opts: BlobStoreOptions = {}) {
    this.bindings = match.bindings;
    this.unmatched = match.unmatched;
    this.verify = opts.verify ?? true;
    this.cache = opts.cache;
  }

  /** Supply (or replace) the file for blob `index`, e.g. after asking the user. */
  attach(index: number, source: ByteSource, kind: BlobKind = 'blob'): void {
    const bd = this.bindings[index];
    if (!bd) throw new NotFoundError(`blob table index ${index}`);
    bd.source = source;
    bd.kind = kind;
    bd.matchedBy = 'attached';
    this.details.delete(index);
    for (const k of [...this.batches.keys()]) if (k.startsWith(`${index}:`)) this.batches.delete(k);
    const u = this.unmatched.indexOf(source);
    if (u >= 0) this.unmatched.splice(u, 1);
  }

  missing(): BlobBinding[] {
    return this.bindings.filter((b) => !b.source);
  }

  blobIdOf(index: number): string {
    return this.bindings[index]?.effectiveId ?? `#${index}`;
  }

  sourceOf(index: number): { source: ByteSource; kind: BlobKind } {
    const bd = this.bindings[index];
    check(bd !== undefined, 'rafs.chunk_info', -1, `blob index ${index} is outside the ${this.bindings.length}-entry blob table`);
    if (!bd.source) throw new MissingBlobError(index, bd.blobId);
    return { source: bd.source, kind: bd.kind };
  }

  /** Blob meta, ToC and digest array of a data blob (v6); null parts where the blob has none. */
  blobDetails(index: number): Promise<BlobDetails> {
    let p = this.details.get(index);
    if (!p) {
      p = this.loadDetails(index);
      this.details.set(index, p);
      p.catch(() => this.details.delete(index));
    }
    return p;
  }

  private async loadDetails(index: number): Promise<BlobDetails> {
    const blob = this.blobs[index]!;
    const { source, kind } = this.sourceOf(index);
    if (kind !== 'blob') return { meta: null, toc: null, digests: null };
    const toc = await readToc(source, blob);
    const hasMeta = (blob.ciCompressedSize ?? 0) > 0 || (blob.ciUncompressedSize ?? 0) > 0;
    // ZRAN and other ref blobs keep their blob meta in a separate RAFS meta blob (rafs/zran.ts)
    const others = [...this.unmatched, ...this.bindings.filter((b) => b.index !== index && b.source).map((b) => b.source!)];
    const meta = !hasMeta ? null : blob.features & (BF.SEPARATE | BF.ZRAN) ? await readSeparateMeta(blob, others) : await readBlobMeta(source, blob);
    const digests = meta ? await readDigestArray(source, blob, meta, toc) : null;
    return { meta, toc, digests };
  }

  /** The chunk's stored bytes (compressed as written). */
  async readStored(c: RafsChunk): Promise<Uint8Array> {
    const { source } = this.sourceOf(c.blobIndex);
    check(c.compressedSize <= source.size && c.compressedOffset <= source.size - c.compressedSize, 'rafs.chunk', c.compressedOffset,
      `chunk [${c.compressedOffset}, +${c.compressedSize}) is outside the ${source.size}-byte blob ${source.name}`);
    return source.read(c.compressedOffset, c.compressedSize);
  }

  /** Read, decompress and (unless told otherwise) verify one chunk, through the cache. */
  readChunk(c: RafsChunk, verify = this.verify): Promise<Uint8Array> {
    const known = !isZero(c.digest);
    const key = known ? chunkKey(this.blobIdOf(c.blobIndex), hex(c.digest)) : `${this.blobIdOf(c.blobIndex)}@${c.compressedOffset}+${c.compressedSize}`;
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const p = (async () => {
      const hit = await this.cache?.get(key);
      if (hit && hit.length === c.uncompressedSize) return hit;
      const data = await this.fetch(c);
      if (verify) await this.verifyData(c, data);
      // a shared cache holds verified chunks only: readers that verify trust what they find there
      if (verify || !known) await this.cache?.set(key, data);
      return data;
    })();
    this.inflight.set(key, p);
    const done = () => this.inflight.delete(key);
    p.then(done, done);
    return p;
  }

  /** Fetch and check one chunk without the cache: the error says what is wrong, null when fine. */
  async checkChunk(c: RafsChunk): Promise<{ error: string; structure: string; offset: number } | null> {
    try {
      const data = await this.fetch(c);
      await this.verifyData(c, data);
      return null;
    } catch (e) {
      if (e instanceof FormatError) return { error: e.detail, structure: e.structure, offset: e.offset };
      throw e;
    }
  }

  /** Digest (unless unknown: all zeros) and CRC-32C (when the chunk has HAS_CRC32) of the uncompressed bytes. */
  private async verifyData(c: RafsChunk, data: Uint8Array): Promise<void> {
    if (c.flags & CF.HAS_CRC32) {
      const crc = crc32c(data);
      if (crc !== c.crc32) {
        throw new FormatError('rafs.chunk', c.compressedOffset,
          `${this.bindings[c.blobIndex]?.source?.name ?? this.blobIdOf(c.blobIndex)}: chunk ${c.index} (${c.compressedSize} bytes at ${c.compressedOffset}) has CRC-32C ${crc.toString(16).padStart(8, '0')}, expected ${c.crc32.toString(16).padStart(8, '0')}`);
      }
    }
    if (isZero(c.digest)) return;
    const blob = this.blobs[c.blobIndex]!;
    const d = await digestOf(blob.digester, data);
    if (!bytesEqual(d, c.digest)) {
      const { source } = this.sourceOf(c.blobIndex);
      throw new FormatError('rafs.chunk', c.compressedOffset,
        `${source.name}: chunk ${c.index} (${c.compressedSize} bytes at ${c.compressedOffset}) has ${blob.digester} ${hex(d)}, expected ${hex(c.digest)}`);
    }
  }

  private async fetch(c: RafsChunk): Promise<Uint8Array> {
    const blob = this.blobs[c.blobIndex];
    check(blob !== undefined, 'rafs.chunk_info', -1, `blob index ${c.blobIndex} is outside the ${this.blobs.length}-entry blob table`);
    const { source, kind } = this.sourceOf(c.blobIndex);
    if (kind === 'cache') {
      check(c.uncompressedSize <= source.size && c.uncompressedOffset <= source.size - c.uncompressedSize, 'rafs.chunk', c.uncompressedOffset,
        `chunk [${c.uncompressedOffset}, +${c.uncompressedSize}) is outside the ${source.size}-byte uncompressed blob ${source.name}`);
      return source.read(c.uncompressedOffset, c.uncompressedSize);
    }
    // ZRAN: the blob is the gzip layer; the chunk is inflated from its context's checkpoint
    if (blob.features & BF.ZRAN) return this.zran.read(c, (await this.blobDetails(c.blobIndex)).meta, source);
    // nydus-image 2.4 leaves BATCH out of a batch member's bootstrap row (compressed offset and
    // size 0 there): in a BATCH blob the CI row decides
    if (c.flags & CF.BATCH || blob.features & BF.BATCH) {
      const data = await this.fetchBatched(c, blob);
      if (data) return data;
    }
    const stored = await this.readStored(c);
    // encrypted blobs (rafs/crypt.ts): the stored bytes are one XTS unit over the (compressed) chunk
    const cipher = cipherOf(blob);
    const raw = cipher ? decryptUnit(cipher, stored, 'rafs.chunk', c.compressedOffset) : stored;
    if (!c.compressed) return decompress('none', raw, c.uncompressedSize, 'rafs.chunk', c.compressedOffset);
    return decompress(blob.compressor, raw, c.uncompressedSize, 'rafs.chunk', c.compressedOffset);
  }

  /**
   * A chunk merged into a batch (§5.2, §5.6): its CI v2 row gives the batch's offset, the batch index
   * and the chunk's offset in the batch (`data` = index << 32 | offset); the batch's context gives its
   * stored and uncompressed sizes, and the batch is compressed exactly when they differ (as nydus'
   * `decompress_batch` decides; the row's COMPRESSED flag is always set). null when the CI row is
   * not a batch member (a plain chunk of a BATCH blob).
   */
  private async fetchBatched(c: RafsChunk, blob: RafsBlob): Promise<Uint8Array | null> {
    const { meta } = await this.blobDetails(c.blobIndex);
    check(meta !== null && meta.version === 2, 'rafs.chunk', c.compressedOffset, `batch chunk ${c.index} in blob ${this.blobIdOf(c.blobIndex)}, which has no CI v2 blob meta`);
    const e = ciEntry(meta, c.index);
    const at = c.index * BLOB_CI_V2.size;
    if (!(e.flags & CI2_FLAGS.BATCH)) {
      check(!(c.flags & CF.BATCH), BLOB_CI_V2.name, at, `chunk ${c.index}: the bootstrap says batch, the CI row does not`);
      return null;
    }
    check(e.uncompressedSize === c.uncompressedSize && e.uncompressedOffset === c.uncompressedOffset, BLOB_CI_V2.name, at,
      `batch chunk ${c.index}: CI row [${e.uncompressedOffset}, +${e.uncompressedSize}), the bootstrap [${c.uncompressedOffset}, +${c.uncompressedSize})`);
    const ctx = batchContext(meta, e.dataHi);
    const ctxAt = meta.zranOffset + e.dataHi * BLOB_BATCH_CTX.size;
    check(ctx.uncompressedBatchSize <= CHUNK_SIZE_MAX && ctx.compressedSize > 0 && ctx.uncompressedBatchSize > 0, BLOB_BATCH_CTX.name, ctxAt,
      `batch ${e.dataHi}: ${ctx.compressedSize} stored bytes for ${ctx.uncompressedBatchSize} (at most 16 MiB, neither 0)`);
    check(e.dataLo + e.uncompressedSize <= ctx.uncompressedBatchSize, BLOB_CI_V2.name, at,
      `chunk ${c.index}: [${e.dataLo}, +${e.uncompressedSize}) lies outside its ${ctx.uncompressedBatchSize}-byte batch ${e.dataHi}`);
    const batch = await this.batchBytes(c.blobIndex, blob, e.dataHi, e.compressedOffset, ctx);
    return batch.slice(e.dataLo, e.dataLo + e.uncompressedSize);
  }

  /** One batch's uncompressed buffer; the last few are kept, as the members of a batch are read together. */
  private batchBytes(blobIndex: number, blob: RafsBlob, index: number, offset: number, ctx: { compressedSize: number; uncompressedBatchSize: number }): Promise<Uint8Array> {
    const key = `${blobIndex}:${index}:${offset}`;
    let p = this.batches.get(key);
    if (p) {
      this.batches.delete(key);
      this.batches.set(key, p);
      return p;
    }
    p = (async () => {
      const { source } = this.sourceOf(blobIndex);
      check(ctx.compressedSize <= source.size && offset <= source.size - ctx.compressedSize, 'rafs.batch', offset,
        `batch ${index} [${offset}, +${ctx.compressedSize}) is outside the ${source.size}-byte blob ${source.name}`);
      const stored = await source.read(offset, ctx.compressedSize);
      const cipher = cipherOf(blob);
      const raw = cipher ? decryptUnit(cipher, stored, 'rafs.batch', offset) : stored;
      // the context's size is the encrypted one: compressed when what decrypts differs in size
      const compressed = raw.length !== ctx.uncompressedBatchSize;
      return decompress(compressed ? blob.compressor : 'none', raw, ctx.uncompressedBatchSize, 'rafs.batch', offset);
    })();
    this.batches.set(key, p);
    p.catch(() => this.batches.delete(key));
    while (this.batches.size > 4) this.batches.delete(this.batches.keys().next().value!);
    return p;
  }
}
