/**
 * merge (nydus-image `merge`): several layer bootstraps, lowest first, into one bootstrap. Each
 * layer is applied onto the result of the ones below (whiteouts honoured and dropped); no data is
 * written, every file keeps its chunks in its layer's blobs, and the blob table is the union of the
 * layers' tables in layer order.
 */
import { UnsupportedError } from '../../errors.ts';
import type { RafsFs } from '../model.ts';
import { BF } from '../structs.ts';
import { writeBootstrap, prefetchNodes, type ResolvedOptions } from './build.ts';
import { BlobTable } from './common.ts';
import { applyLayer, emptyTree, loadRafsImage } from './layers.ts';
import { buildBTree, type BNode, type ChunkMap } from './tree.ts';
import type { ChunkRef, RafsVersion, Sink, WhiteoutSpec } from './types.ts';

export interface MergeOptions {
  /** output version (default: the layers' version; all layers must share it) */
  version?: RafsVersion;
  whiteoutSpec?: WhiteoutSpec;
  prefetch?: readonly string[];
  explicitUidGid?: boolean;
  signal?: AbortSignal;
  /**
   * nydus-image merge `--blob-digests` / `--blob-sizes` (as nydusify calls it): per layer, the id
   * and size its one blob has in the merged table (the layer's digest and size as pushed); null
   * or absent keeps the layer's own
   */
  layerBlobs?: readonly ({ id: string; size: number } | null)[];
}

export interface MergeResult {
  bootstrapSize: number;
  blobIds: string[];
  entries: number;
  notes: string[];
}

export async function mergeRafs(layers: readonly RafsFs[], opts: MergeOptions, sink: Sink): Promise<MergeResult> {
  if (layers.length === 0) throw new UnsupportedError('rafs merge', 'no layer bootstraps given');
  const first = layers[0]!;
  const version = opts.version ?? first.version;
  for (const l of layers) {
    if (l.version !== version) throw new UnsupportedError('rafs merge', `layers mix RAFS v${l.version} with v${version}`);
    if (l.digester !== first.digester) throw new UnsupportedError('rafs merge', `layers mix digesters ${first.digester} and ${l.digester}`);
    if (l.chunkSize !== first.chunkSize) throw new UnsupportedError('rafs merge', `layers mix chunk sizes ${first.chunkSize} and ${l.chunkSize}`);
    if (version === 5 && l.compressor !== first.compressor) throw new UnsupportedError('rafs merge', `RAFS v5 has one compressor per image: ${first.compressor} and ${l.compressor}`);
  }
  const notes: string[] = [];
  const table = new BlobTable();
  const pre: ChunkMap = new Map();
  let tree = emptyTree();
  for (const [i, l] of layers.entries()) {
    const img = await loadRafsImage(l, opts.signal);
    const named = opts.layerBlobs?.[i];
    if (named) {
      if (img.blobs.length !== 1) throw new UnsupportedError('rafs merge', `layer ${i} has ${img.blobs.length} blobs: a blob digest and size name exactly one`);
      // the chunk refs share this object: they follow
      Object.assign(img.blobs[0]!, { blobId: named.id, compressedSize: named.size });
    }
    // nydus-image merge clears INLINED_FS_META: the merged bootstrap is no blob's own (§5.10)
    for (const b of img.blobs) b.features &= ~BF.INLINED_FS_META;
    for (const b of img.blobs) table.add(b);
    for (const [k, v] of img.chunks) pre.set(k, v);
    tree = applyLayer(tree, img.tree, opts.whiteoutSpec ?? 'both');
  }
  const t = buildBTree(tree, notes);
  const chunks = new Map<BNode, ChunkRef[]>();
  for (const f of t.files) chunks.set(f, pre.get(f.inode) ?? []);
  const o: ResolvedOptions = {
    version, chunkSize: first.chunkSize, digester: first.digester, compressor: first.compressor, alignedChunk: false, explicitUidGid: opts.explicitUidGid ?? true, batchSize: 0,
  };
  const prefetch = prefetchNodes(t, opts.prefetch, notes);
  const bootstrapSize = await writeBootstrap(o, t, chunks, table, prefetch, sink);
  return { bootstrapSize, blobIds: table.list.map((b) => b.blobId), entries: t.byIndex.length, notes };
}
