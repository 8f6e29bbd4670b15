/**
 * Blob compaction (§8), following the intended algorithm (not upstream's inverted conditions):
 *  1. walk every file's chunks; a chunk the chunk dictionary holds is repointed there; otherwise
 *     repeated chunks are deduplicated (key: digest in v5, (blob, compressed offset) in v6); each
 *     blob's referenced chunk set and its used size (Σ compressed sizes) follow;
 *  2. unreferenced blobs → delete;
 *  3. used_ratio = used × 100 / blob size (integer) < min_used_ratio → rebuild;
 *  4. blobs (kept or rebuilt) smaller than compact_blob_size, ascending by size, are merged greedily
 *     while the target's referenced total stays ≤ max_compact_size;
 *  5. nothing happens unless the image has ≥ layers_to_compact blobs.
 * Rebuilt and merged blobs are written anew with the chunks copied verbatim (still compressed),
 * in (blob, compressed offset) order; a new bootstrap points every file at them.
 * `planCompaction` is the pure decision step.
 */
import { UnsupportedError } from '../../errors.ts';
import { BF } from '../structs.ts';
import { hex, type RafsFs } from '../model.ts';
import { BlobWriter } from './blob.ts';
import { writeBootstrap, type ResolvedOptions } from './build.ts';
import { BlobTable } from './common.ts';
import { loadRafsImage } from './layers.ts';
import { buildBTree, type BNode } from './tree.ts';
import type { BlobRef, ChunkRef, Sink } from './types.ts';

export interface CompactPlanOptions {
  /** 0–99; 0 disables rebuilding (default 0) */
  minUsedRatio?: number;
  /** merge candidates are smaller than this (default 10 MiB) */
  compactBlobSize?: number;
  /** a merged blob's referenced total stays ≤ this (default 100 MiB) */
  maxCompactSize?: number;
  /** compact only when the image has at least this many blobs (default 0: always) */
  layersToCompact?: number;
}

export interface BlobUsage {
  index: number;
  /** blob (compressed) size from the blob table */
  size: number;
  /** Σ compressed sizes of the distinct chunks still referenced */
  usedSize: number;
  referencedChunks: number;
  /** a chunk-dictionary blob: never touched */
  dict?: boolean;
}

export type BlobAction = 'keep' | 'delete' | 'rebuild' | 'merge';

export interface BlobDecision {
  index: number;
  action: BlobAction;
  /** integer percentage of the blob still used */
  usedRatio: number;
  /** merge: the blob index whose group this blob joins (the group's first, smallest blob) */
  group?: number;
  reason: string;
}

export function planCompaction(usage: readonly BlobUsage[], opts: CompactPlanOptions = {}): BlobDecision[] {
  const minUsedRatio = opts.minUsedRatio ?? 0;
  const compactBlobSize = opts.compactBlobSize ?? 10 << 20;
  const maxCompactSize = opts.maxCompactSize ?? 100 << 20;
  const layersToCompact = opts.layersToCompact ?? 0;
  if (!Number.isInteger(minUsedRatio) || minUsedRatio < 0 || minUsedRatio > 99) throw new UnsupportedError('compact', `min_used_ratio ${minUsedRatio} is not in 0..99`);
  const ratio = (u: BlobUsage) => (u.size > 0 ? Math.floor((u.usedSize * 100) / u.size) : 0);
  const out: BlobDecision[] = usage.map((u) => ({ index: u.index, action: 'keep', usedRatio: ratio(u), reason: u.dict ? 'chunk dictionary blob' : 'kept' }));
  if (usage.length < layersToCompact) {
    for (const d of out) d.reason = `${usage.length} blobs < layers_to_compact ${layersToCompact}`;
    return out;
  }
  const state = new Map<number, 'original' | 'rebuild' | 'delete'>();
  for (const u of usage) {
    if (u.dict) continue;
    if (u.referencedChunks === 0) {
      state.set(u.index, 'delete');
      continue;
    }
    state.set(u.index, ratio(u) < minUsedRatio ? 'rebuild' : 'original');
  }
  const byIndex = new Map(usage.map((u) => [u.index, u]));
  const sizeOf = (u: BlobUsage) => (state.get(u.index) === 'rebuild' ? u.usedSize : u.size);
  const cands = usage.filter((u) => !u.dict && state.get(u.index) !== 'delete' && sizeOf(u) < compactBlobSize)
    .sort((a, b) => sizeOf(a) - sizeOf(b) || a.index - b.index);
  const groups = new Map<number, number[]>();
  let target: BlobUsage | null = null;
  let total = 0;
  for (const u of cands) {
    if (target && total + u.usedSize <= maxCompactSize) {
      total += u.usedSize;
      groups.get(target.index)!.push(u.index);
      continue;
    }
    target = u;
    total = u.usedSize;
    groups.set(u.index, [u.index]);
  }
  for (const d of out) {
    const s = state.get(d.index);
    const u = byIndex.get(d.index)!;
    if (s === 'delete') {
      d.action = 'delete';
      d.reason = 'no chunk of this blob is referenced';
    } else if (s === 'rebuild') {
      d.action = 'rebuild';
      d.reason = `used ratio ${d.usedRatio}% < min_used_ratio ${minUsedRatio}%`;
    } else if (s === 'original') d.reason = u.size >= compactBlobSize ? `size ${u.size} ≥ compact_blob_size` : 'kept';
  }
  for (const [t, members] of groups) {
    if (members.length < 2) continue;
    for (const m of members) {
      const d = out.find((x) => x.index === m)!;
      d.action = 'merge';
      d.group = t;
      d.reason = `merged with blobs ${members.join(', ')} (referenced total ≤ max_compact_size ${maxCompactSize})`;
    }
  }
  return out;
}

export interface CompactOptions extends CompactPlanOptions {
  /** blobs whose chunks others are repointed to (never rewritten) */
  chunkDict?: RafsFs;
  signal?: AbortSignal;
}

export interface CompactResult {
  decisions: BlobDecision[];
  /** ids of the blobs written, in order of the `blobSink` calls */
  newBlobIds: string[];
  /** the new bootstrap's blob table */
  blobIds: string[];
  bootstrapSize: number;
  /** false when every decision was keep: nothing was written */
  changed: boolean;
}

function chunkKey(version: number, c: ChunkRef, blobIndex: number): string {
  return version === 5 ? hex(c.digest) : `${blobIndex}:${c.compressedOffset}`;
}

/** Usage of each blob of `fs` (and the repointing of chunks to the dictionary). */
export async function blobUsage(fs: RafsFs, chunkDict?: RafsFs, signal?: AbortSignal) {
  const img = await loadRafsImage(fs, signal);
  const dictChunks = new Map<string, ChunkRef>();
  if (chunkDict) {
    if (chunkDict.digester !== fs.digester) throw new UnsupportedError('compact', 'the chunk dictionary uses another digester');
    const d = await loadRafsImage(chunkDict, signal);
    for (const cs of d.chunks.values()) for (const c of cs) dictChunks.set(hex(c.digest), c);
  }
  const blobIdx = new Map<BlobRef, number>(img.blobs.map((b, i) => [b, i]));
  const seen = new Map<string, ChunkRef>();
  const perBlob = new Map<number, Map<string, ChunkRef>>();
  // BFS over the tree, as upstream walks it
  const queue = [img.tree.root];
  const done = new Set(queue);
  const files = new Map<import('../../fs/tree.ts').SourceInode, ChunkRef[]>();
  while (queue.length) {
    const d = queue.shift()!;
    for (const c of d.children ?? []) {
      if (c.inode.type === 'dir') queue.push(c.inode);
      if (c.inode.type !== 'reg' || done.has(c.inode)) continue;
      done.add(c.inode);
      const mapped: ChunkRef[] = [];
      for (const ch of img.chunks.get(c.inode) ?? []) {
        const dict = dictChunks.get(hex(ch.digest));
        if (dict && dict.uncompressedSize === ch.uncompressedSize) {
          mapped.push(dict);
          continue;
        }
        const bi = blobIdx.get(ch.blob)!;
        const k = chunkKey(fs.version, ch, bi);
        const prev = seen.get(k);
        if (prev) {
          mapped.push(prev);
          continue;
        }
        seen.set(k, ch);
        let m = perBlob.get(blobIdx.get(ch.blob)!);
        if (!m) perBlob.set(blobIdx.get(ch.blob)!, (m = new Map()));
        m.set(`${ch.compressedOffset}`, ch);
        mapped.push(ch);
      }
      files.set(c.inode, mapped);
    }
  }
  const usage: BlobUsage[] = img.blobs.map((b, i) => {
    const m = perBlob.get(i);
    let used = 0;
    for (const c of m?.values() ?? []) used += c.compressedSize;
    return { index: i, size: b.compressedSize ?? 0, usedSize: used, referencedChunks: m?.size ?? 0 };
  });
  return { img, usage, files, perBlob };
}

/**
 * Compact `fs` (opened with its blobs): plan, write the rebuilt/merged blobs (each to a fresh sink
 * from `blobSink`) and the new bootstrap. Nothing is written when every decision is keep.
 */
export async function compactRafs(fs: RafsFs, opts: CompactOptions, sinks: { bootstrap: Sink; blobSink: () => Sink }): Promise<CompactResult> {
  const { img, usage, files, perBlob } = await blobUsage(fs, opts.chunkDict, opts.signal);
  const decisions = planCompaction(usage, opts);
  const changed = decisions.some((d) => d.action !== 'keep');
  if (!changed) return { decisions, newBlobIds: [], blobIds: img.blobs.map((b) => b.blobId), bootstrapSize: 0, changed };
  // new blobs: one per rebuilt blob, one per merge group
  const jobs = new Map<number, number[]>();
  for (const d of decisions) {
    if (d.action === 'rebuild') jobs.set(d.index, [d.index]);
    if (d.action === 'merge') jobs.set(d.group!, [...(jobs.get(d.group!) ?? []), d.index]);
  }
  const repoint = new Map<ChunkRef, ChunkRef>();
  const newBlobs = new Map<number, BlobRef>();
  const newBlobIds: string[] = [];
  for (const [first, members] of jobs) {
    const src = img.blobs[first]!;
    const w = new BlobWriter(sinks.blobSink(), {
      version: fs.version, chunkSize: fs.chunkSize, digester: fs.digester, compressor: src.compressor, alignedChunk: (src.features & 1) !== 0 && fs.version === 5,
      crc32: false, blobTail: fs.version === 6 && (src.features & 0x20) === 0 ? 'meta' : 'toc', signal: opts.signal,
    });
    for (const bi of [...members].sort((a, b) => a - b)) {
      const b = img.blobs[bi]!;
      if (!b.source) throw new UnsupportedError('compact', `blob ${b.blobId} is needed to copy its chunks but was not supplied`);
      if (b.compressor !== src.compressor) throw new UnsupportedError('compact', `blobs ${src.blobId} and ${b.blobId} use different compressors`);
      // batch members share a compressed unit, ZRAN chunks live in a gzip layer, encrypted ones need the key
      if (b.features & (BF.BATCH | BF.ZRAN | BF.ENCRYPTED)) throw new UnsupportedError('compact', `blob ${b.blobId} holds batch, ZRAN or encrypted chunks, which compaction does not copy`);
      const chunks = [...(perBlob.get(bi)?.values() ?? [])].sort((x, y) => x.compressedOffset - y.compressedOffset);
      for (const c of chunks) {
        opts.signal?.throwIfAborted();
        repoint.set(c, w.addRawChunk(c, await b.source.read(c.compressedOffset, c.compressedSize)));
        await w.drain();
      }
    }
    const nb = (await w.finish())!;
    newBlobs.set(first, nb);
    newBlobIds.push(nb.blobId);
  }
  const t = buildBTree(img.tree);
  const chunks = new Map<BNode, ChunkRef[]>();
  for (const f of t.files) chunks.set(f, (files.get(f.inode) ?? []).map((c) => repoint.get(c) ?? c));
  // blob table: kept blobs in their order, each new blob where its group's first blob was
  const table = new BlobTable();
  for (const d of decisions) {
    if (d.action === 'keep') table.add(img.blobs[d.index]!);
    else if (newBlobs.has(d.index)) table.add(newBlobs.get(d.index)!);
  }
  for (const cs of chunks.values()) for (const c of cs) table.add(c.blob); // dictionary blobs
  const o: ResolvedOptions = { version: fs.version, chunkSize: fs.chunkSize, digester: fs.digester, compressor: fs.compressor, alignedChunk: false, explicitUidGid: true, batchSize: 0 };
  const bootstrapSize = await writeBootstrap(o, t, chunks, table, [], sinks.bootstrap);
  return { decisions, newBlobIds, blobIds: table.list.map((b) => b.blobId), bootstrapSize, changed };
}
