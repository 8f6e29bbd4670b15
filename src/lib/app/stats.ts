/**
 * What an image holds, for the page's Stats view and `layerscope stats` alike (one result type,
 * one histogram type): entries by type, distinct files and their sizes, the biggest files, and for
 * Nydus RAFS the chunk figures.
 *
 * Chunk references are counted per distinct regular inode, as file bytes are: a hardlinked file is
 * one file whose chunks are stored once and referenced once, so the dedup ratio (bytes files
 * reference / bytes stored) measures chunks shared between different files or within one, never
 * extra names of one inode. Then referencedBytes equals fileBytes when every chunk list resolves.
 */
import { walk } from '../fs/path.ts';
import type { FileType, FormatId, ReadOnlyFs } from '../fs/types.ts';
import type { ByteSource } from '../io/source.ts';
import { dedupRatio, SizeHistogram, type Bucket } from '../inspect/histogram.ts';
import { buildIndex } from '../rafs/analyze.ts';
import type { RafsFs } from '../rafs/model.ts';
import { isRafs } from './capabilities.ts';
import { hex } from './hex.ts';
import { pathText } from './names.ts';

export type { Bucket } from '../inspect/histogram.ts';

export interface BlobUsage {
  index: number;
  blobId: string;
  /** from the blob table (null when it does not say) */
  compressedSize: number | null;
  chunkCount: number | null;
  /** stored chunks some file uses, and their bytes */
  usedChunks: number;
  usedCompressed: number;
  usedUncompressed: number;
}

export interface ChunkStats {
  chunkSize: number;
  /** chunk references of the distinct regular files */
  references: number;
  referencedBytes: number;
  /** distinct stored chunks (by location: blob, compressed range, digest) */
  unique: number;
  storedBytes: number;
  storedCompressedBytes: number;
  /** distinct digests among the stored chunks, and their bytes: a digest stored twice could be deduplicated further */
  uniqueDigests: number;
  uniqueDigestBytes: number;
  /** referencedBytes / storedBytes (1 with nothing stored) */
  dedupRatio: number;
  /** storedBytes / storedCompressedBytes (1 with nothing stored) */
  compressionRatio: number;
  /** uncompressed sizes of the stored chunks */
  sizes: Bucket[];
  blobs: BlobUsage[];
  /** files whose chunk list could not be read (a damaged image) */
  unresolved: { path: string; ino: number; error: string }[];
}

export interface ImageStats {
  format: FormatId;
  /** bytes of the input itself (a folder: its content bytes) */
  imageSize: number;
  /** directory entries, the root included */
  entries: number;
  /** entries by type (a hardlinked file counts once per name, as nydus-image counts) */
  counts: Record<FileType, number>;
  /** distinct inodes, and the entries beyond the first name of one */
  inodes: number;
  hardlinkEntries: number;
  /** distinct regular files and their bytes (each inode once) */
  files: number;
  fileBytes: number;
  fileSizes: Bucket[];
  /** the biggest distinct files, biggest first (ties: first walked first) */
  biggest: { path: string; size: number }[];
  /** Nydus RAFS only */
  chunks?: ChunkStats;
}

export interface StatsOptions {
  signal?: AbortSignal;
  /** entries walked so far, every 500 entries */
  onProgress?: (entries: number) => void;
  /** how many biggest files (default 10) */
  top?: number;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new DOMException('cancelled', 'AbortError');
}

export async function imageStats(fs: ReadOnlyFs, image: ByteSource, opts: StatsOptions = {}): Promise<ImageStats> {
  const top = opts.top ?? 10;
  const counts: Record<FileType, number> = { reg: 0, dir: 0, symlink: 0, chr: 0, blk: 0, fifo: 0, sock: 0 };
  const inodes = new Set<number>();
  const sizes = new SizeHistogram();
  let entries = 0;
  let hardlinkEntries = 0;
  const biggest: { path: string; size: number }[] = [];
  for await (const e of walk(fs)) {
    throwIfAborted(opts.signal);
    entries++;
    if (entries % 500 === 0) opts.onProgress?.(entries);
    counts[e.attr.type]++;
    if (inodes.has(e.attr.ino)) {
      hardlinkEntries++;
      continue;
    }
    inodes.add(e.attr.ino);
    if (e.attr.type !== 'reg') continue;
    sizes.add(e.attr.size);
    if (biggest.length < top || e.attr.size > biggest[biggest.length - 1]!.size) {
      const at = biggest.findIndex((b) => b.size < e.attr.size);
      biggest.splice(at < 0 ? biggest.length : at, 0, { path: pathText(e.path), size: e.attr.size });
      if (biggest.length > top) biggest.pop();
    }
  }
  const out: ImageStats = {
    format: fs.format, imageSize: image.size, entries, counts, inodes: inodes.size, hardlinkEntries,
    files: sizes.total, fileBytes: sizes.totalBytes, fileSizes: sizes.buckets(), biggest,
  };
  if (isRafs(fs)) out.chunks = await chunkStats(fs, opts.signal);
  return out;
}

async function chunkStats(fs: RafsFs, signal: AbortSignal | undefined): Promise<ChunkStats> {
  const idx = await buildIndex(fs, signal ? { signal } : {});
  let references = 0;
  let referencedBytes = 0;
  for (const chunks of idx.chunksOf.values()) {
    references += chunks.length;
    for (const c of chunks) referencedBytes += c.uncompressedSize;
  }
  const sizes = new SizeHistogram();
  let storedCompressed = 0;
  const byDigest = new Map<string, number>();
  const blobs: BlobUsage[] = fs.blobs.map((b) => ({
    index: b.index, blobId: fs.store.blobIdOf(b.index), compressedSize: b.compressedSize ?? null, chunkCount: b.chunkCount ?? null,
    usedChunks: 0, usedCompressed: 0, usedUncompressed: 0,
  }));
  const byIndex = new Map(blobs.map((b) => [b.index, b]));
  for (const { chunk: c } of idx.refs.values()) {
    sizes.add(c.uncompressedSize);
    storedCompressed += c.compressedSize;
    byDigest.set(hex(c.digest), c.uncompressedSize);
    const u = byIndex.get(c.blobIndex);
    if (!u) continue;
    u.usedChunks++;
    u.usedCompressed += c.compressedSize;
    u.usedUncompressed += c.uncompressedSize;
  }
  const stored = sizes.totalBytes;
  let uniqueDigestBytes = 0;
  for (const v of byDigest.values()) uniqueDigestBytes += v;
  return {
    chunkSize: fs.chunkSize, references, referencedBytes, unique: idx.refs.size, storedBytes: stored, storedCompressedBytes: storedCompressed,
    uniqueDigests: byDigest.size, uniqueDigestBytes, dedupRatio: dedupRatio(referencedBytes, stored),
    compressionRatio: storedCompressed > 0 ? stored / storedCompressed : 1, sizes: sizes.buckets(), blobs, unresolved: idx.errors,
  };
}
