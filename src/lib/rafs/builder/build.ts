/**
 * buildRafs: a SourceTree to a RAFS v6 (default) or v5 bootstrap plus one data blob (§3–§5), with
 * optional parent layer, chunk dictionary and prefetch list. The blob is written first (its id goes
 * into the bootstrap), file content is read in pieces, both outputs stream through sinks.
 */
import { UnsupportedError } from '../../errors.ts';
import type { SourceTree } from '../../fs/tree.ts';
import { validateTree } from '../../fs/validate.ts';
import { hex, isPow2, type RafsFs } from '../model.ts';
import { CHUNK_SIZE_MAX, CHUNK_SIZE_MIN, DIGESTERS, type Compressor, type Digester } from '../structs.ts';
import { BlobWriter, checkCompressor } from './blob.ts';
import { BlobTable } from './common.ts';
import { applyLayer, loadRafsImage } from './layers.ts';
import { buildBTree, dumpOrder, lookupPath, type BNode, type BTree, type ChunkMap } from './tree.ts';
import type { BlobRef, BuildStats, ChunkRef, RafsBuildOptions, RafsBuildResult, RafsBuildSinks, RafsVersion, Sink } from './types.ts';
import { writeV5 } from './v5.ts';
import { writeV6 } from './v6.ts';
import { MemorySink } from '../../erofs/writer-output.ts';

export interface ResolvedOptions {
  version: RafsVersion;
  chunkSize: number;
  digester: Digester;
  compressor: Compressor;
  alignedChunk: boolean;
  explicitUidGid: boolean;
  /** 0 = no batch chunks */
  batchSize: number;
  /** AES-128-XTS for the new blob (absent: no) */
  encrypt?: boolean;
}

export function resolveOptions(opts: RafsBuildOptions): ResolvedOptions {
  const version = opts.version ?? 6;
  if (version !== 5 && version !== 6) throw new UnsupportedError('rafs build', `RAFS version ${String(version)} (5 or 6)`);
  const chunkSize = opts.chunkSize ?? 0x10_0000;
  if (!isPow2(chunkSize) || chunkSize < CHUNK_SIZE_MIN || chunkSize > CHUNK_SIZE_MAX) {
    throw new UnsupportedError('chunk size', `${chunkSize} is not a power of two from 4 KiB to 16 MiB`);
  }
  const digester = opts.digester ?? 'blake3';
  if (!DIGESTERS.includes(digester)) throw new UnsupportedError('digester', `unknown digester ${String(digester)} (blake3 or sha256)`);
  // nydus-image 2.4's defaults: zstd, blake3, 1 MiB chunks, v6
  const compressor = opts.compressor ?? 'zstd';
  checkCompressor(compressor);
  // nydus-image get_batch_size: v6 only, a power of two in [4 KiB, 16 MiB], at most the chunk size
  const batchSize = opts.batchSize ?? 0;
  if (batchSize !== 0) {
    if (version !== 6) throw new UnsupportedError('batch size', 'batch chunks need RAFS v6 (nydus-image: `--batch-size` conflicts with `--fs-version 5`)');
    if (!isPow2(batchSize) || batchSize < CHUNK_SIZE_MIN || batchSize > CHUNK_SIZE_MAX) throw new UnsupportedError('batch size', `${batchSize} is not 0 or a power of two from 4 KiB to 16 MiB`);
    if (batchSize > chunkSize) throw new UnsupportedError('batch size', `batch size ${batchSize} is bigger than the chunk size ${chunkSize}`);
  }
  const encrypt = opts.encrypt ?? false;
  if (encrypt && version !== 6) throw new UnsupportedError('encryption', 'encrypted blobs need RAFS v6 (their key and IV live in the v6 blob table)');
  return { version, chunkSize, digester, compressor, alignedChunk: opts.alignedChunk ?? false, explicitUidGid: opts.explicitUidGid ?? true, batchSize, encrypt };
}

/** What both writers need besides the tree: compute the blob table, write the bootstrap. */
export async function writeBootstrap(
  o: ResolvedOptions, tree: BTree, chunks: Map<BNode, ChunkRef[]>, blobs: BlobTable, prefetch: BNode[], sink: Sink,
): Promise<number> {
  const input = { tree, chunks, blobs, chunkSize: o.chunkSize, compressor: o.compressor, digester: o.digester, explicitUidGid: o.explicitUidGid, prefetch, encrypted: o.encrypt };
  const r = o.version === 6 ? await writeV6(input, sink) : await writeV5(input, sink);
  return r.size;
}

function checkLayerCompat(what: string, fs: RafsFs, o: ResolvedOptions, strictCompressor: boolean): void {
  if (fs.version !== o.version) throw new UnsupportedError(what, `a RAFS v${fs.version} image cannot be combined with a v${o.version} build`);
  if (fs.digester !== o.digester) throw new UnsupportedError(what, `digester ${fs.digester} differs from the build's ${o.digester}`);
  if (fs.chunkSize !== o.chunkSize) throw new UnsupportedError(what, `chunk size ${fs.chunkSize} differs from the build's ${o.chunkSize}`);
  if (strictCompressor && fs.compressor !== o.compressor) {
    throw new UnsupportedError(what, `RAFS v5 has one compressor per image: ${fs.compressor} differs from the build's ${o.compressor}`);
  }
}

export function prefetchNodes(t: BTree, paths: readonly string[] | undefined, notes: string[]): BNode[] {
  const out: BNode[] = [];
  const seen = new Set<BNode>();
  for (const p of paths ?? []) {
    const n = lookupPath(t, p);
    if (!n) {
      notes.push(`prefetch: ${p} is not in the tree`);
      continue;
    }
    // a pattern below an earlier directory pattern is covered by it
    let covered = false;
    for (let a: BNode | null = n; a; a = a.parent) if (seen.has(a)) covered = true;
    if (covered) continue;
    seen.add(n);
    out.push(n);
  }
  return out;
}

/**
 * Build a RAFS bootstrap and data blob from `tree`. With `opts.parent` the tree is an upper layer:
 * it is applied onto the parent (whiteouts), files of the parent keep their chunks in the parent's
 * blobs, and the blob table lists the parent's blobs before the new one.
 */
export async function buildRafs(tree: SourceTree, opts: RafsBuildOptions, sinks: RafsBuildSinks): Promise<RafsBuildResult> {
  const o = resolveOptions(opts);
  const notes: string[] = [];
  let source = tree;
  const pre: ChunkMap = new Map();
  const known = new Map<string, ChunkRef>();
  const table = new BlobTable();
  if (opts.parent) {
    // the upper layer on its own, before whiteouts apply it (buildBTree checks the merged tree)
    validateTree(tree);
    checkLayerCompat('parent bootstrap', opts.parent, o, o.version === 5);
    const lower = await loadRafsImage(opts.parent, opts.signal);
    source = applyLayer(lower.tree, tree, opts.whiteoutSpec ?? 'both');
    for (const [k, v] of lower.chunks) pre.set(k, v);
    for (const b of lower.blobs) table.add(b);
    for (const cs of lower.chunks.values()) for (const c of cs) known.set(hex(c.digest), c);
  }
  if (opts.chunkDict) {
    const d = opts.chunkDict;
    if (d.version !== o.version) throw new UnsupportedError('chunk dictionary', `a RAFS v${d.version} dictionary cannot serve a v${o.version} build`);
    if (d.digester !== o.digester) notes.push(`chunk dictionary uses ${d.digester}, the build ${o.digester}: no chunk can match, dictionary ignored`);
    else if (o.version === 5 && d.compressor !== o.compressor) notes.push(`chunk dictionary is ${d.compressor}, a v5 image has one compressor (${o.compressor}): dictionary ignored`);
    else {
      const dict = await loadRafsImage(d, opts.signal);
      for (const cs of dict.chunks.values()) for (const c of cs) if (!known.has(hex(c.digest))) known.set(hex(c.digest), c);
    }
  }
  const t = buildBTree(source, notes);
  const prefetch = prefetchNodes(t, opts.prefetch, notes);
  const order = dumpOrder(t, prefetch);
  let total = 0;
  for (const f of order) if (!pre.has(f.inode)) total += f.inode.size;
  if (opts.inlineBootstrap && (o.version !== 6 || opts.blobTail === 'meta')) throw new UnsupportedError('rafs build', 'an inlined bootstrap needs RAFS v6 with a ToC (blobTail toc)');
  const chunks = new Map<BNode, ChunkRef[]>();
  const otherBlobs = (): void => {
    // blob table: parent blobs, then other blobs in first-use order, then the new blob
    for (const f of t.files) for (const c of chunks.get(f) ?? []) if (c.blob !== writer.blob) table.add(c.blob);
  };
  let inlined: Uint8Array | null = null;
  const writer = new BlobWriter(sinks.blob, {
    version: o.version, chunkSize: o.chunkSize, digester: o.digester, compressor: o.compressor, gzipLevel: opts.gzipLevel, alignedChunk: o.alignedChunk,
    crc32: opts.crc32 ?? false, blobTail: opts.blobTail ?? 'toc', batchSize: o.batchSize, encrypt: o.encrypt, readSize: opts.readSize, signal: opts.signal, known,
    ...(opts.inlineBootstrap ? {
      inlineBootstrap: async (b: BlobRef) => {
        otherBlobs();
        table.add(b);
        const m = new MemorySink();
        await writeBootstrap(o, t, chunks, table, prefetch, m);
        return (inlined = m.bytes());
      },
    } : {}),
  });
  const progress = { files: 0, bytes: 0, total };
  let lastReport = 0;
  opts.onProgress?.({ ...progress });
  for (let i = 0; i < order.length; i++) {
    const f = order[i]!;
    opts.signal?.throwIfAborted();
    const p = pre.get(f.inode);
    if (p) {
      chunks.set(f, p);
      continue;
    }
    // read-ahead of the next file's first piece (async sources only; BlobWriter.prefetch)
    const nf = order[i + 1];
    if (nf && !pre.has(nf.inode)) writer.prefetch(nf.inode.content, nf.inode.size);
    chunks.set(f, await writer.addFile(f.inode.content, f.inode.size, (n) => {
      progress.bytes += n;
      if (opts.onProgress && progress.bytes - lastReport >= 1 << 20) {
        lastReport = progress.bytes;
        opts.onProgress({ ...progress });
      }
    }));
    progress.files++;
  }
  const blob = await writer.finish();
  opts.onProgress?.({ ...progress });
  otherBlobs();
  if (blob) table.add(blob);
  let bootstrapSize: number;
  if (inlined) {
    // the same bytes as inside the blob (its entry names the blob by a placeholder id)
    const boot: Uint8Array = inlined;
    await sinks.bootstrap.write(boot);
    bootstrapSize = boot.length;
  } else bootstrapSize = await writeBootstrap(o, t, chunks, table, prefetch, sinks.bootstrap);
  let referenced = 0;
  let bytes = 0;
  for (const f of t.files) {
    referenced += chunks.get(f)?.length ?? 0;
    bytes += f.inode.size;
  }
  const ws = writer.stats;
  const stats: BuildStats = {
    version: o.version, entries: t.byIndex.length, inodes: t.byIndex.filter((n) => n.primary === n).length, files: t.files.length, bytes,
    chunksReferenced: referenced, chunksStored: ws.stored, chunksDedupedInBuild: ws.dedupedInBuild, chunksFromOtherBlobs: ws.fromOtherBlobs,
    chunksRaw: ws.raw, blobDataSize: writer.dataSizeAtFinish, blobSize: blob?.compressedSize ?? 0, bootstrapSize, blobs: table.list.length,
  };
  return { bootstrapSize, blobSize: blob?.compressedSize ?? 0, blobId: blob?.blobId ?? null, blobIds: table.list.map((b) => b.blobId), stats, notes };
}

export type { BlobRef };
