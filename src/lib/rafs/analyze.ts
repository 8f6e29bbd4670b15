/**
 * Analyses over an open RAFS image, each returning a JSON-ready object: what `nydus-image
 * inspect/check` offer (blobs, prefetch, chunk → files, check) plus full
 * content verification with progress and cancellation.
 */
import { checkTree } from '../fs/check.ts';
import { FormatError, isTypedError } from '../errors.ts';
import { bytesEqual, type FileType } from '../fs/types.ts';
import { walk } from '../fs/path.ts';
import { describeStruct } from '../struct.ts';
import { BF, BLOB_FEATURES, BLOB_META_HEADER, CF, CI2_FLAGS, flagNames } from './structs.ts';
import { ciEntry, tarSections } from './blob.ts';
import { MissingBlobError } from './blobstore.ts';
import { createSha256 } from '../codec/sha256.ts';
import { chunkJson, hex, pathString, throwIfAborted, type MetadataIssue, type RafsChunk, type RafsFs } from './model.ts';

export interface Progress {
  phase: 'index' | 'metadata' | 'blobs' | 'data';
  done: number;
  total: number;
  /** bytes of chunk data checked so far (data phase) */
  bytes?: number;
  path?: string;
}

export interface AnalysisOptions {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

// ---------------------------------------------------------------------------------------------
// The index: every directory entry with its path, and every chunk reference (built once per image)

export interface IndexEntry {
  path: Uint8Array[];
  ino: number;
  type: FileType;
  size: number;
}

export interface ChunkRef {
  /** entry index in RafsIndex.entries */
  entry: number;
  /** position of the chunk in its file */
  position: number;
}

export interface RafsIndex {
  entries: IndexEntry[];
  /** chunks of each regular inode (hardlinks share one list) */
  chunksOf: Map<number, RafsChunk[]>;
  /** chunk location key → references from every path */
  refs: Map<string, { chunk: RafsChunk; refs: ChunkRef[] }>;
  /** entries whose chunks could not be resolved */
  errors: { path: string; ino: number; error: string }[];
}

/** A stored chunk is identified by where it lives: blob, compressed range and digest. */
export function chunkLocationKey(c: RafsChunk): string {
  return `${c.blobIndex}:${c.compressedOffset}:${c.compressedSize}:${hex(c.digest)}`;
}

const indexes = new WeakMap<RafsFs, Promise<RafsIndex>>();

export function buildIndex(fs: RafsFs, opts: AnalysisOptions = {}): Promise<RafsIndex> {
  let p = indexes.get(fs);
  if (!p) {
    p = (async () => {
      const entries: IndexEntry[] = [];
      const chunksOf = new Map<number, RafsChunk[]>();
      const refs = new Map<string, { chunk: RafsChunk; refs: ChunkRef[] }>();
      const errors: RafsIndex['errors'] = [];
      for await (const e of walk(fs)) {
        throwIfAborted(opts.signal);
        const i = entries.length;
        entries.push({ path: e.path, ino: e.attr.ino, type: e.attr.type, size: e.attr.size });
        if (i % 256 === 0) opts.onProgress?.({ phase: 'index', done: i, total: 0, path: pathString(e.path) });
        if (e.attr.type !== 'reg') continue;
        let chunks = chunksOf.get(e.attr.ino);
        if (!chunks) {
          try {
            chunks = await fs.fileChunks(e.attr.ino);
          } catch (err) {
            if (!isTypedError(err)) throw err;
            errors.push({ path: pathString(e.path), ino: e.attr.ino, error: err.message });
            continue;
          }
          chunksOf.set(e.attr.ino, chunks);
        }
        chunks.forEach((c, position) => {
          const k = chunkLocationKey(c);
          let r = refs.get(k);
          if (!r) refs.set(k, (r = { chunk: c, refs: [] }));
          r.refs.push({ entry: i, position });
        });
      }
      return { entries, chunksOf, refs, errors };
    })();
    indexes.set(fs, p);
    p.catch(() => indexes.delete(fs));
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// blobs

export async function rafsBlobs(fs: RafsFs): Promise<Record<string, unknown>[]> {
  const info = await fs.info();
  const rows = info.blobs as Record<string, unknown>[];
  const out: Record<string, unknown>[] = [];
  for (const b of fs.blobs) {
    const bd = fs.store.bindings[b.index]!;
    const row: Record<string, unknown> = { ...rows[b.index], feature_names: flagNames(BLOB_FEATURES, b.features) };
    if (!bd.source) {
      row.status = 'missing';
      out.push(row);
      continue;
    }
    row.status = 'present';
    row.file_size = bd.source.size;
    if (b.compressedSize !== undefined && bd.kind === 'blob') {
      row.size_matches = bd.source.size === b.compressedSize || ((b.features & BF.INLINED_FS_META) !== 0 && bd.source.size > b.compressedSize);
    }
    if (bd.kind === 'blob') {
      try {
        row.sections = (await tarSections(bd.source)).map((s) => ({ name: s.name, offset: s.dataOffset, size: s.size, header_offset: s.headerOffset }));
        if (fs.version === 6) {
          const { meta, toc, digests } = await fs.store.blobDetails(b.index);
          if (meta) {
            row.meta = {
              header_offset: meta.headerOffset, ci_version: meta.version, ci_entries: meta.entryCount, ci_compressor: meta.ciCompressor,
              contexts: meta.zranCount, header: describeStruct(BLOB_META_HEADER, meta.headerBytes, 0, meta.headerOffset)
                .filter((f) => f.name !== 's_reserved'),
            };
          }
          if (toc) {
            row.toc = {
              offset: toc.offset, size: toc.size, digest: hex(toc.digest), digest_matches: toc.digestMatches ?? null,
              entries: toc.entries.map((e) => ({ name: e.name, compressor: e.compressor, compressed_offset: e.compressedOffset, compressed_size: e.compressedSize,
                uncompressed_size: e.uncompressedSize, digest: hex(e.digest) })),
            };
          }
          if (digests) row.digest_array = { offset: digests.offset, size: digests.bytes.length };
        }
      } catch (e) {
        if (!isTypedError(e)) throw e;
        row.error = e.message;
      }
    }
    out.push(row);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// prefetch, reverse lookups

export async function rafsPrefetch(fs: RafsFs): Promise<Record<string, unknown>> {
  const entries: Record<string, unknown>[] = [];
  for (const ino of fs.prefetchInos()) {
    try {
      const a = await fs.getattr(ino);
      entries.push({ ino, type: a.type, paths: (await fs.pathsOf(ino)).map(pathString) });
    } catch (e) {
      if (!isTypedError(e)) throw e;
      entries.push({ ino, error: e.message });
    }
  }
  const all = entries.length === 1 && entries[0]!.ino === fs.rootIno;
  return { format: fs.format, count: entries.length, prefetch_all: all, entries };
}

export interface ChunkQuery {
  /** chunk digest (block_id), hex */
  digest?: string;
  blobIndex?: number;
  /** compressed offset in the blob (what `nydus-image inspect chunk OFFSET` takes) */
  compressedOffset?: number;
}

/** Every file (every path) using a chunk, with where in the file. */
export async function chunkUsers(fs: RafsFs, q: ChunkQuery, opts: AnalysisOptions = {}): Promise<Record<string, unknown>[]> {
  const idx = await buildIndex(fs, opts);
  const out: Record<string, unknown>[] = [];
  for (const { chunk: c, refs } of idx.refs.values()) {
    if (q.digest !== undefined && hex(c.digest) !== q.digest.toLowerCase()) continue;
    if (q.blobIndex !== undefined && c.blobIndex !== q.blobIndex) continue;
    if (q.compressedOffset !== undefined && c.compressedOffset !== q.compressedOffset) continue;
    out.push({
      chunk: chunkJson(c, fs.blobs, (i) => fs.store.blobIdOf(i)),
      files: refs.map((r) => {
        const e = idx.entries[r.entry]!;
        return { path: pathString(e.path), ino: e.ino, position: r.position, file_offset: r.position * fs.chunkSize, size: e.size };
      }),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// blob ids (§5.12): SHA-256 of the file, or of the file without its chunk digest array

export interface BlobIdCheck {
  blob_index: number;
  blob_id: string;
  effective_id: string;
  file_sha256: string;
  /** when the blob has a digest array: SHA-256 of the file with those bytes left out (what `create` names it by) */
  sha256_without_digest_array: string | null;
  matches: 'file' | 'file-without-digest-array' | 'none';
}

export async function verifyBlobIds(fs: RafsFs, opts: AnalysisOptions = {}): Promise<BlobIdCheck[]> {
  const out: BlobIdCheck[] = [];
  for (const b of fs.blobs) {
    const bd = fs.store.bindings[b.index]!;
    if (!bd.source || bd.kind !== 'blob') continue;
    let skip: { offset: number; size: number } | null = null;
    if (fs.version === 6) {
      try {
        const { digests } = await fs.store.blobDetails(b.index);
        if (digests) skip = { offset: digests.offset, size: digests.bytes.length };
      } catch (e) {
        if (!isTypedError(e)) throw e;
      }
    }
    const whole = createSha256();
    const partial = skip ? createSha256() : null;
    const src = bd.source;
    const piece = 4 << 20;
    for (let off = 0; off < src.size; off += piece) {
      throwIfAborted(opts.signal);
      const chunk = await src.read(off, Math.min(piece, src.size - off));
      whole.update(chunk);
      if (partial && skip) {
        const a = Math.max(off, skip.offset);
        const z = Math.min(off + chunk.length, skip.offset + skip.size);
        if (a >= z) partial.update(chunk);
        else {
          partial.update(chunk.subarray(0, a - off));
          partial.update(chunk.subarray(z - off));
        }
      }
      opts.onProgress?.({ phase: 'blobs', done: off + chunk.length, total: src.size, path: src.name });
    }
    const file = hex(whole.digest());
    const without = partial ? hex(partial.digest()) : null;
    const ids = new Set([b.blobId, bd.effectiveId]);
    out.push({
      blob_index: b.index, blob_id: b.blobId, effective_id: bd.effectiveId, file_sha256: file, sha256_without_digest_array: without,
      matches: ids.has(file) ? 'file' : without !== null && ids.has(without) ? 'file-without-digest-array' : 'none',
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// check

export interface CheckOptions extends AnalysisOptions {
  /** read and verify every chunk (default true) */
  data?: boolean;
  /** hash whole blob files against their ids (default false: reads every byte of every blob) */
  blobIds?: boolean;
}

export interface BadChunk {
  blob_index: number;
  blob_id: string;
  index: number;
  compressed_offset: number;
  compressed_size: number;
  uncompressed_size: number;
  digest: string;
  error: string;
  files: string[];
}

export interface CheckReport {
  format: string;
  ok: boolean;
  metadata_issues: MetadataIssue[];
  blob_issues: { blob_index: number; blob_id: string; detail: string }[];
  missing_blobs: { blob_index: number; blob_id: string; chunks: number }[];
  unresolved_files: RafsIndex['errors'];
  bad_chunks: BadChunk[];
  bad_files: { path: string; ino: number; chunks: { position: number; file_offset: number; blob_id: string; index: number; compressed_offset: number; error: string }[] }[];
  unsupported: string[];
  /** with `blobIds`: informational, ids may legitimately be placeholders or chosen names */
  blob_ids?: BlobIdCheck[];
  /**
   * chunks_checked: read and decompressed; chunks_verified: of those, the ones whose digest or
   * CRC-32C was compared (a tarfs chunk has neither: its bytes are read, nothing is verified)
   */
  counts: { entries: number; files: number; chunks_checked: number; chunks_verified: number; compressed_bytes: number; uncompressed_bytes: number };
  /** why chunks were read without anything to verify them against ('tarfs': no digests by design); empty when every chunk was verified */
  unverified_reasons: string[];
}

/** What the data pass verified, in words (the CLI's summary line and the page's verify result). */
export function verificationText(r: Pick<CheckReport, 'counts' | 'unverified_reasons'>): string {
  const { chunks_checked: read, chunks_verified: verified } = r.counts;
  const why = r.unverified_reasons.length ? ` (${r.unverified_reasons.join(', ')})` : '';
  if (verified === read) return 'verified';
  if (verified === 0) return `read, no digests to verify${why}`;
  return `read: ${verified} verified, ${read - verified} with no digest to verify${why}`;
}

/**
 * Metadata validation, blob structure checks (ToC digest, blob meta vs chunk table, digest array) and,
 * unless `data: false`, every stored chunk read, decompressed and hashed. Each bad chunk is reported
 * with every file (path) that uses it. Throws the signal's reason when aborted.
 */
export async function checkRafs(fs: RafsFs, opts: CheckOptions = {}): Promise<CheckReport> {
  const { signal, onProgress } = opts;
  const report: CheckReport = {
    format: fs.format, ok: true, metadata_issues: [], blob_issues: [], missing_blobs: [], unresolved_files: [], bad_chunks: [], bad_files: [], unsupported: [],
    counts: { entries: 0, files: 0, chunks_checked: 0, chunks_verified: 0, compressed_bytes: 0, uncompressed_bytes: 0 },
    unverified_reasons: [],
  };
  const unverifiedWhy = new Set<string>();
  let n = 0;
  report.metadata_issues = await fs.verifyMetadata(signal, () => {
    if (++n % 256 === 0) onProgress?.({ phase: 'metadata', done: n, total: 0 });
  });
  // the tree's shape as every format is held to (names, duplicates, types, directories reached twice, targets)
  for (const e of (await checkTree(fs, { data: false, ...(signal ? { signal } : {}) })).errors) {
    report.metadata_issues.push({ path: e.path, structure: e.structure, offset: e.offset, detail: e.detail });
  }
  const idx = await buildIndex(fs, opts);
  report.unresolved_files = idx.errors;
  report.counts.entries = idx.entries.length;
  report.counts.files = idx.entries.filter((e) => e.type === 'reg').length;

  // blobs: structure, and the CI array / digest array against the chunk references
  const usedPerBlob = new Map<number, RafsChunk[]>();
  for (const { chunk } of idx.refs.values()) {
    let l = usedPerBlob.get(chunk.blobIndex);
    if (!l) usedPerBlob.set(chunk.blobIndex, (l = []));
    l.push(chunk);
  }
  for (const b of fs.blobs) {
    throwIfAborted(signal);
    onProgress?.({ phase: 'blobs', done: b.index, total: fs.blobs.length });
    const bd = fs.store.bindings[b.index]!;
    const blobId = fs.store.blobIdOf(b.index);
    const issue = (detail: string) => report.blob_issues.push({ blob_index: b.index, blob_id: blobId, detail });
    if (!bd.source) {
      report.missing_blobs.push({ blob_index: b.index, blob_id: b.blobId, chunks: usedPerBlob.get(b.index)?.length ?? 0 });
      continue;
    }
    if (bd.kind === 'blob' && b.compressedSize !== undefined && bd.source.size !== b.compressedSize
      && !((b.features & BF.INLINED_FS_META) !== 0 || bd.matchedBy === 'container') && bd.source.size < b.compressedSize) {
      issue(`file is ${bd.source.size} bytes, the blob table says ${b.compressedSize}`);
    }
    if (fs.version !== 6 || bd.kind !== 'blob') continue;
    try {
      const { meta, toc, digests } = await fs.store.blobDetails(b.index);
      if (toc && toc.digestMatches === false) issue(`ToC SHA-256 ${hex(toc.digest)} differs from blob_toc_digest ${hex(b.blobTocDigest!)}`);
      if (meta) {
        // nydus-image merge clears INLINED_FS_META in the merged table (BlobContext::from, chunk
        // source Parent); the blob's own header keeps it
        if ((meta.features & ~BF.INLINED_FS_META) !== (b.features & ~BF.INLINED_FS_META)) issue(`blob meta features 0x${meta.features.toString(16)} differ from the blob table's 0x${b.features.toString(16)}`);
        for (const c of usedPerBlob.get(b.index) ?? []) {
          const e = ciEntry(meta, c.index);
          // a batch member's CI row holds its batch's offset and size 0; nydus-image 2.4 leaves 0 and 0 in the bootstrap
          const batch = meta.version === 2 && (e.flags & CI2_FLAGS.BATCH) !== 0;
          const compressedAgrees = batch
            ? c.compressedSize === 0 && (c.compressedOffset === 0 || c.compressedOffset === e.compressedOffset)
            : e.compressedOffset === c.compressedOffset && e.compressedSize === c.compressedSize;
          if (!compressedAgrees || e.uncompressedOffset !== c.uncompressedOffset || e.uncompressedSize !== c.uncompressedSize) {
            issue(`chunk ${c.index}: CI says [${e.compressedOffset}, +${e.compressedSize}) → [${e.uncompressedOffset}, +${e.uncompressedSize}), the bootstrap [${c.compressedOffset}, +${c.compressedSize}) → [${c.uncompressedOffset}, +${c.uncompressedSize})`);
          }
          if (digests && !bytesEqual(digests.bytes.subarray(c.index * 32, c.index * 32 + 32), c.digest)) {
            issue(`chunk ${c.index}: blob.digest row ${hex(digests.bytes.subarray(c.index * 32, c.index * 32 + 32))} differs from the bootstrap's ${hex(c.digest)}`);
          }
        }
      }
    } catch (e) {
      if (e instanceof FormatError) issue(e.message);
      else if (isTypedError(e)) report.unsupported.push(e.message);
      else throw e;
    }
  }

  // data: every stored chunk once, bad ones mapped back to every path using them
  if (opts.data !== false) {
    const all = [...idx.refs.values()].filter(({ chunk }) => fs.store.bindings[chunk.blobIndex]?.source);
    const total = all.length;
    let done = 0;
    let bytes = 0;
    const badFiles = new Map<number, CheckReport['bad_files'][number]>();
    const unsupported = new Set<string>();
    let next = 0;
    const worker = async () => {
      for (let item = all[next++]; item; item = all[next++]) {
        throwIfAborted(signal);
        const { chunk: c, refs } = item;
        let bad: { error: string } | null = null;
        try {
          bad = await fs.store.checkChunk(c);
        } catch (e) {
          if (e instanceof MissingBlobError || !isTypedError(e)) throw e;
          unsupported.add(e.message);
        }
        done++;
        bytes += c.compressedSize;
        report.counts.chunks_checked++;
        // the store compares a digest unless it is all zeros, and a CRC-32C when the chunk has one
        if ((c.flags & CF.HAS_CRC32) !== 0 || c.digest.some((x) => x !== 0)) report.counts.chunks_verified++;
        else unverifiedWhy.add((fs.blobs[c.blobIndex]?.features ?? 0) & BF.TARFS ? 'tarfs' : 'zero digests');
        report.counts.compressed_bytes += c.compressedSize;
        report.counts.uncompressed_bytes += c.uncompressedSize;
        if (bad) {
          const blobId = fs.store.blobIdOf(c.blobIndex);
          report.bad_chunks.push({
            blob_index: c.blobIndex, blob_id: blobId, index: c.index, compressed_offset: c.compressedOffset, compressed_size: c.compressedSize,
            uncompressed_size: c.uncompressedSize, digest: hex(c.digest), error: bad.error, files: refs.map((r) => pathString(idx.entries[r.entry]!.path)),
          });
          for (const r of refs) {
            const e = idx.entries[r.entry]!;
            let f = badFiles.get(r.entry);
            if (!f) badFiles.set(r.entry, (f = { path: pathString(e.path), ino: e.ino, chunks: [] }));
            f.chunks.push({ position: r.position, file_offset: r.position * fs.chunkSize, blob_id: blobId, index: c.index, compressed_offset: c.compressedOffset, error: bad.error });
          }
        }
        if (done % 16 === 0 || done === total) onProgress?.({ phase: 'data', done, total, bytes });
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, Math.max(1, total)) }, worker));
    report.unsupported.push(...unsupported);
    report.unverified_reasons = [...unverifiedWhy].sort();
    report.bad_files = [...badFiles.entries()].sort((a, b) => a[0] - b[0]).map(([, f]) => f);
    report.bad_chunks.sort((a, b) => a.blob_index - b.blob_index || a.compressed_offset - b.compressed_offset);
  }
  if (opts.blobIds) report.blob_ids = await verifyBlobIds(fs, opts);
  report.ok = report.metadata_issues.length === 0 && report.blob_issues.length === 0 && report.missing_blobs.length === 0
    && report.unresolved_files.length === 0 && report.bad_chunks.length === 0 && report.unsupported.length === 0;
  return report;
}
