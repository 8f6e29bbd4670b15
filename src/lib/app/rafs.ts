/** The page's RAFS tables: the blob table with how each blob was matched, and a file's chunks with who shares them. */
import { buildIndex, chunkLocationKey, rafsBlobs, type RafsIndex } from '../rafs/analyze.ts';
import type { RafsFs } from '../rafs/model.ts';
import { chunkContextOf, type ChunkContextInfo } from '../rafs/describe.ts';
import { BF, CF, CHUNK_FLAGS, CIPHERS, flagNames } from '../rafs/structs.ts';
import { isTypedError } from '../errors.ts';
import { hex } from './hex.ts';
import { pathText } from './names.ts';

export interface BlobRow {
  index: number;
  blobId: string;
  effectiveId: string;
  present: boolean;
  file: string | null;
  fileSize: number | null;
  matchedBy: string | null;
  kind: string;
  compressor: string;
  digester: string;
  chunkSize: number;
  chunkCount: number | null;
  compressedSize: number | null;
  uncompressedSize: number | null;
  features: string[];
  /** BlobFeatures as stored */
  featureBits: number;
  /** the cipher (crypt::Algorithm name) of an encrypted blob, null for a plain one */
  cipher: string | null;
  /** tarfs: the blob is the layer tar itself */
  tarfs: boolean;
  /** batch or ZRAN contexts in the blob meta, when the blob is supplied and has them */
  contexts: { kind: 'batch' | 'zran'; count: number } | null;
  sizeMatches: boolean | null;
  error: string | null;
}

export async function blobTable(fs: RafsFs): Promise<BlobRow[]> {
  const rows = await rafsBlobs(fs);
  const contexts = await Promise.all(fs.blobs.map(async (b): Promise<BlobRow['contexts']> => {
    if (!(b.features & (BF.BATCH | BF.ZRAN)) || !fs.store.bindings[b.index]?.source) return null;
    try {
      const { meta } = await fs.store.blobDetails(b.index);
      return meta ? { kind: b.features & BF.ZRAN ? 'zran' : 'batch', count: meta.zranCount } : null;
    } catch (e) {
      if (!isTypedError(e)) throw e;
      return null; // rafsBlobs' row carries the error
    }
  }));
  return fs.blobs.map((b, i) => {
    const bd = fs.store.bindings[b.index]!;
    const r = rows[i] ?? {};
    return {
      index: b.index, blobId: b.blobId, effectiveId: bd.effectiveId, present: !!bd.source, file: bd.source?.name ?? null, fileSize: bd.source?.size ?? null,
      matchedBy: bd.matchedBy, kind: bd.kind, compressor: b.compressor, digester: b.digester, chunkSize: b.chunkSize, chunkCount: b.chunkCount ?? null,
      compressedSize: b.compressedSize ?? null, uncompressedSize: b.uncompressedSize ?? null,
      features: Array.isArray(r.feature_names) ? (r.feature_names as string[]) : [], featureBits: b.features,
      cipher: b.cipherAlgo ? (CIPHERS[b.cipherAlgo] ?? `cipher ${b.cipherAlgo}`) : null, tarfs: (b.features & BF.TARFS) !== 0, contexts: contexts[i] ?? null, sizeMatches: typeof r.size_matches === 'boolean' ? r.size_matches : null,
      error: typeof r.error === 'string' ? r.error : null,
    };
  });
}

export interface ChunkRow {
  position: number;
  fileOffset: number;
  blobIndex: number;
  blobId: string;
  compressed: boolean;
  compressedOffset: number;
  compressedSize: number;
  uncompressedOffset: number;
  uncompressedSize: number;
  digest: string;
  index: number;
  /** BlobChunkFlags names (COMPRESSED, ENCRYPTED, BATCH, HAS_CRC32) */
  flags: string[];
  encrypted: boolean;
  /** CRC-32C when the chunk carries one */
  crc32: number | null;
  /** the batch or ZRAN context the chunk is read through (v6 CI v2), when its blob is supplied */
  context: ChunkContextInfo | null;
  contextError: string | null;
  sharedWith: { path: string; position: number }[];
  sharedCount: number;
}

/** Chunks of a file (up to `max`) with where they live and which other paths use the same stored chunk. */
export async function fileChunkRows(fs: RafsFs, ino: number, max = 20_000): Promise<ChunkRow[]> {
  const chunks = await fs.fileChunks(ino);
  let idx: RafsIndex | null = null;
  try {
    idx = await buildIndex(fs);
  } catch (e) {
    // a damaged image still shows the file's own chunks; a bug propagates
    if (!isTypedError(e)) throw e;
  }
  const contexts = await Promise.all(chunks.slice(0, max).map(async (c): Promise<[ChunkContextInfo | null, string | null]> => {
    try {
      return [await chunkContextOf(fs, c), null];
    } catch (e) {
      if (!isTypedError(e)) throw e;
      return [null, e.message];
    }
  }));
  return chunks.slice(0, max).map((c, position) => {
    const users = idx?.refs.get(chunkLocationKey(c))?.refs ?? [];
    const others = users.filter((u) => idx!.entries[u.entry]!.ino !== ino || u.position !== position);
    return {
      position, fileOffset: c.fileOffset, blobIndex: c.blobIndex, blobId: fs.store.blobIdOf(c.blobIndex), compressed: c.compressed,
      compressedOffset: c.compressedOffset, compressedSize: c.compressedSize, uncompressedOffset: c.uncompressedOffset, uncompressedSize: c.uncompressedSize,
      digest: hex(c.digest), index: c.index, flags: flagNames(CHUNK_FLAGS, c.flags), encrypted: (c.flags & CF.ENCRYPTED) !== 0,
      crc32: c.flags & CF.HAS_CRC32 ? c.crc32 : null, context: contexts[position]![0], contextError: contexts[position]![1],
      sharedWith: others.slice(0, 8).map((u) => ({ path: pathText(idx!.entries[u.entry]!.path), position: u.position })),
      sharedCount: others.length,
    };
  });
}
