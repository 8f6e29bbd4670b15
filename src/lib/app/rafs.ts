/** The page's RAFS tables: the blob table with how each blob was matched, and a file's chunks with who shares them. */
import { buildIndex, chunkLocationKey, rafsBlobs, type RafsIndex } from '../rafs/analyze.ts';
import type { RafsFs } from '../rafs/model.ts';
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
  sizeMatches: boolean | null;
  error: string | null;
}

export async function blobTable(fs: RafsFs): Promise<BlobRow[]> {
  const rows = await rafsBlobs(fs);
  return fs.blobs.map((b, i) => {
    const bd = fs.store.bindings[b.index]!;
    const r = rows[i] ?? {};
    return {
      index: b.index, blobId: b.blobId, effectiveId: bd.effectiveId, present: !!bd.source, file: bd.source?.name ?? null, fileSize: bd.source?.size ?? null,
      matchedBy: bd.matchedBy, kind: bd.kind, compressor: b.compressor, digester: b.digester, chunkSize: b.chunkSize, chunkCount: b.chunkCount ?? null,
      compressedSize: b.compressedSize ?? null, uncompressedSize: b.uncompressedSize ?? null,
      features: Array.isArray(r.feature_names) ? (r.feature_names as string[]) : [], sizeMatches: typeof r.size_matches === 'boolean' ? r.size_matches : null,
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
  return chunks.slice(0, max).map((c, position) => {
    const users = idx?.refs.get(chunkLocationKey(c))?.refs ?? [];
    const others = users.filter((u) => idx!.entries[u.entry]!.ino !== ino || u.position !== position);
    return {
      position, fileOffset: c.fileOffset, blobIndex: c.blobIndex, blobId: fs.store.blobIdOf(c.blobIndex), compressed: c.compressed,
      compressedOffset: c.compressedOffset, compressedSize: c.compressedSize, uncompressedOffset: c.uncompressedOffset, uncompressedSize: c.uncompressedSize,
      digest: hex(c.digest), index: c.index,
      sharedWith: others.slice(0, 8).map((u) => ({ path: pathText(idx!.entries[u.entry]!.path), position: u.position })),
      sharedCount: others.length,
    };
  });
}
