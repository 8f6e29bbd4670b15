/**
 * Shared types of the RAFS builder (spec: shared/docs/nydus-rafs-format.md §3–§5, §8): what a chunk
 * reference and a blob are while an image is being built, the options and the results.
 */
import type { Sink } from '../../erofs/writer-output.ts';
import type { ByteSource } from '../../io/source.ts';
import type { RafsBlob } from '../model.ts';
import type { Compressor, Digester } from '../structs.ts';

export type { Sink } from '../../erofs/writer-output.ts';

/**
 * A blob while building: the new data blob, or one of a parent layer / chunk dictionary / merged
 * layer. Fields as in the v6 blob table entry (RafsBlob); the position in the output blob table is
 * decided when the bootstrap is laid out.
 */
export type BlobRef = Omit<RafsBlob, 'index'> & {
  /** where the blob's bytes can be read (compaction copies chunks from it) */
  source?: ByteSource;
};

/** One stored chunk: where its bytes are in which blob (a chunk info without the file offset). */
export interface ChunkRef {
  digest: Uint8Array;
  blob: BlobRef;
  /** BlobChunkFlags */
  flags: number;
  compressedOffset: number;
  compressedSize: number;
  uncompressedOffset: number;
  uncompressedSize: number;
  /** chunk index in its blob (row of its CI array) */
  index: number;
  crc32: number;
  /**
   * a member of a batch chunk (BATCH blobs): which batch, where in its uncompressed buffer, and
   * where the batch starts in the blob (known once the batch is written). The bootstrap row keeps
   * compressed offset and size 0, as nydus-image 2.4 writes it.
   */
  batch?: { index: number; offset: number; compressedOffset: number };
}

export type RafsVersion = 5 | 6;

export interface BuildProgress {
  /** regular files whose content has been chunked */
  files: number;
  /** content bytes chunked so far */
  bytes: number;
  /** content bytes to chunk in all */
  total: number;
}

export interface RafsBuildOptions {
  /** 6 (default) or 5 */
  version?: RafsVersion;
  /** power of two in [4 KiB, 16 MiB] (default 1 MiB) */
  chunkSize?: number;
  /** default blake3 */
  digester?: Digester;
  /** default zstd (level 3, as nydus-image 2.4); lz4_block, gzip (nydus-image itself does not build it) or none */
  compressor?: Compressor;
  /**
   * nydus-image `--batch-size`: 0 (default) = off; else a power of two from 4 KiB to the chunk size,
   * v6 only. Files of one chunk smaller than half of it are packed into compressed batches (§5.2).
   */
  batchSize?: number;
  /**
   * nydus-image `--encrypt` (v6): the new blob's chunks, CI array and blob meta header are
   * AES-128-XTS encrypted with a random key and IV kept in its blob table entry (rafs/crypt.ts)
   */
  encrypt?: boolean;
  /** gzip level (default 6, as flate2's default) */
  gzipLevel?: 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;
  /**
   * every chunk starts on a 4 KiB boundary in the data blob and in the uncompressed address space
   * (v6: uncompressed offsets are always aligned). With compressor 'none' the data blob then is the
   * EROFS extra device itself (`fsck.erofs --device=BLOB`).
   */
  alignedChunk?: boolean;
  /** store uid/gid and set EXPLICIT_UID_GID (default true; false = nydus `--repeatable` style, uid/gid 0) */
  explicitUidGid?: boolean;
  /** CRC-32C of every new chunk in its chunk info (nydus ≥ 2.3.1; default false) */
  crc32?: boolean;
  /** absolute paths ("/usr/bin") written to the prefetch table; their files are dumped first */
  prefetch?: readonly string[];
  /** v6 blob tail: CI + header only ('meta'), or also digest array and ToC as nydus-image ≥ 2.2 (default 'toc') */
  blobTail?: 'meta' | 'toc';
  /**
   * nydus-image `--blob-inline-meta` (v6, ToC tail): the bootstrap also goes into the data blob,
   * before its ToC (§5.10), as nydusify's per-layer builds write it. The bootstrap sink gets the same bytes.
   */
  inlineBootstrap?: boolean;
  /** chunk dictionary: an existing image whose chunks are referenced instead of stored again */
  chunkDict?: import('../model.ts').RafsFs;
  /** parent bootstrap: the tree is an upper layer applied onto it (whiteouts interpreted) */
  parent?: import('../model.ts').RafsFs;
  /** whiteouts honoured when applying a layer (default 'both') */
  whiteoutSpec?: WhiteoutSpec;
  /** bytes per content read (default max(chunk size, 4 MiB)) */
  readSize?: number;
  onProgress?: (p: BuildProgress) => void;
  signal?: AbortSignal;
}

export type WhiteoutSpec = 'oci' | 'overlayfs' | 'both' | 'none';

export interface RafsBuildSinks {
  bootstrap: Sink;
  /** receives the new data blob; nothing is written when the build stores no chunk */
  blob: Sink;
}

export interface BuildStats {
  version: RafsVersion;
  entries: number;
  inodes: number;
  files: number;
  /** content bytes of regular files (first entry of each hardlink group) */
  bytes: number;
  /** chunks referenced by files (with repeats) */
  chunksReferenced: number;
  /** chunks written to the new blob */
  chunksStored: number;
  /** chunks found earlier in this build */
  chunksDedupedInBuild: number;
  /** chunks found in the parent, the chunk dictionary or merged layers */
  chunksFromOtherBlobs: number;
  /** stored chunks kept raw because compression did not shrink them */
  chunksRaw: number;
  /** bytes of chunk data in the new blob (compressed, padding included) */
  blobDataSize: number;
  blobSize: number;
  bootstrapSize: number;
  blobs: number;
}

export interface RafsBuildResult {
  /** bootstrap size in bytes (the bytes went to the sink) */
  bootstrapSize: number;
  /** the new data blob's size, 0 when none was written */
  blobSize: number;
  /** id of the new data blob (sha256 as §5.12), null when no chunk was stored */
  blobId: string | null;
  /** the blob table of the bootstrap, in order */
  blobIds: string[];
  stats: BuildStats;
  notes: string[];
}
