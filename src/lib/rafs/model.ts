/**
 * The format-neutral model both RAFS readers produce: blobs (v5 blob table + extended table, v6 blob
 * table + device slots) and chunks (v5 chunk infos, v6 chunk indexes resolved through the chunk table
 * or a blob's CI array). Blob access, analyses and checks work on these only.
 */
import type { ByteSource } from '../io/source.ts';
import type { OpenOptions } from '../open.ts';
import type { ReadOnlyFs } from '../fs/types.ts';
import type { ChunkCache } from './chunkcache.ts';
import { COMPRESSORS, DIGESTERS, type Compressor, type Digester } from './structs.ts';
import type { BlobStore } from './blobstore.ts';
import { hex } from '../bytes.ts';

export interface RafsChunk {
  /** block_id: H(uncompressed bytes) */
  digest: Uint8Array;
  blobIndex: number;
  /** BlobChunkFlags as stored (v6 CI v1 rows get COMPRESSED synthesised from the sizes) */
  flags: number;
  compressed: boolean;
  compressedOffset: number;
  compressedSize: number;
  uncompressedOffset: number;
  uncompressedSize: number;
  /** where the chunk's bytes start in the file */
  fileOffset: number;
  /** chunk index inside its blob (v6 ci_index; 0 in pre-2021 v5 images) */
  index: number;
  crc32: number;
}

export interface RafsBlob {
  index: number;
  /** id as written in the bootstrap (may be a placeholder for blobs with an inlined bootstrap) */
  blobId: string;
  compressor: Compressor;
  digester: Digester;
  chunkSize: number;
  features: number;
  /** undefined when the image does not say (v5 without extended blob table) */
  chunkCount?: number;
  compressedSize?: number;
  uncompressedSize?: number;
  // v5 blob table
  readaheadOffset?: number;
  readaheadSize?: number;
  // v6 blob entry
  blobTocSize?: number;
  blobTocDigest?: Uint8Array;
  ciCompressor?: Compressor;
  ciOffset?: number;
  ciCompressedSize?: number;
  ciUncompressedSize?: number;
  blobMetaDigest?: Uint8Array;
  blobMetaSize?: number;
  cipherAlgo?: number;
  cipherIv?: Uint8Array;
  /** encrypted blobs: the whole 16-byte IV, blob_meta_size's 8 bytes then cipher_iv (rafs/crypt.ts) */
  cipherIvFull?: Uint8Array;
  // v6 device slot
  deviceBlocks?: number;
  mappedBlkaddr?: number;
}

export interface RafsOpenOptions extends OpenOptions {
  /** decompressed chunks, keyed by blob id + chunk digest */
  cache?: ChunkCache;
  /** check every chunk read against its digest (default true) */
  verifyChunks?: boolean;
  /** a data blob the bootstrap was inlined into: bound to this image's own blob entry */
  container?: ByteSource;
}

/** What both readers offer beyond ReadOnlyFs. */
export interface RafsFs extends ReadOnlyFs {
  readonly format: 'rafs-v5' | 'rafs-v6';
  readonly version: 5 | 6;
  readonly source: ByteSource;
  readonly chunkSize: number;
  readonly digester: Digester;
  readonly compressor: Compressor;
  readonly blobs: readonly RafsBlob[];
  readonly store: BlobStore;
  /** set when the bootstrap was read out of a data blob: where it came from */
  origin: Record<string, unknown> | null;
  /** chunks of a regular file in file order (empty for other types) */
  fileChunks(ino: number): Promise<RafsChunk[]>;
  /** inode numbers (v5 i_ino / v6 nid) of the prefetch table, 0 entries dropped */
  prefetchInos(): number[];
  /** every absolute path of an inode (all hardlinks), byte components */
  pathsOf(ino: number): Promise<Uint8Array[][]>;
  /** bootstrap-only consistency checks (v5 digests, v6 chunk table vs indexes); problems, not throws */
  verifyMetadata(signal?: AbortSignal, onEntry?: () => void): Promise<MetadataIssue[]>;
}

export interface MetadataIssue {
  path?: string;
  ino?: number;
  structure: string;
  offset: number;
  detail: string;
}

export { hex };

export function fromHex(s: string): Uint8Array {
  const out = new Uint8Array(s.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** An id field: NUL-padded ASCII. */
export function idString(b: Uint8Array): string {
  let end = b.indexOf(0);
  if (end < 0) end = b.length;
  let s = '';
  for (let i = 0; i < end; i++) s += String.fromCharCode(b[i]!);
  return s;
}

export function compressorName(v: number): Compressor | undefined {
  return COMPRESSORS[v];
}
export function digesterName(v: number): Digester | undefined {
  return DIGESTERS[v];
}

export { alignUp as align } from '../bytes.ts';

export function isPow2(n: number): boolean {
  return n > 0 && Number.isInteger(Math.log2(n));
}

/** Path components to "/a/b" for display and JSON: the application layer's one rendering (pathText). */
export { pathText as pathString } from '../app/names.ts';

/** Chunk as JSON, with the field names of the on-disk chunk info. */
export function chunkJson(c: RafsChunk, blobs: readonly RafsBlob[], blobIdOf?: (i: number) => string): Record<string, unknown> {
  return {
    block_id: hex(c.digest),
    blob_index: c.blobIndex,
    blob_id: blobIdOf ? blobIdOf(c.blobIndex) : (blobs[c.blobIndex]?.blobId ?? null),
    flags: c.flags,
    compressed: c.compressed,
    compressed_size: c.compressedSize,
    uncompressed_size: c.uncompressedSize,
    compressed_offset: c.compressedOffset,
    uncompressed_offset: c.uncompressedOffset,
    file_offset: c.fileOffset,
    index: c.index,
    crc32: c.crc32,
  };
}

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw signal.reason ?? new DOMException('aborted', 'AbortError');
}
