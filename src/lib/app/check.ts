/**
 * check / verify for the page and the CLI: RAFS images by checkRafs (metadata, blobs, every chunk
 * digest), every other image by checkTree (every directory, inode, xattr and byte). Both collect
 * what a damaged image gets wrong (typed errors) and let anything else propagate: a bug is a bug,
 * never one more "problem" in the report.
 */
import { checkTree, type TreeCheckProgress, type TreeCheckReport } from '../fs/check.ts';
import type { ReadOnlyFs } from '../fs/types.ts';
import { checkRafs, verificationText, type CheckReport, type Progress } from '../rafs/analyze.ts';
import { isRafs } from './capabilities.ts';

export type ImageCheck = { kind: 'rafs'; report: CheckReport } | { kind: 'tree'; report: TreeCheckReport };

export interface CheckProgress {
  phase: string;
  done: number;
  total: number;
  bytes: number;
  path: string;
}

export interface ImageCheckOptions {
  signal?: AbortSignal;
  onProgress?: (p: CheckProgress) => void;
  /** false: metadata only (RAFS: no chunk is read) */
  data?: boolean;
  /** RAFS: hash whole blob files against their ids */
  blobIds?: boolean;
}

export async function checkImage(fs: ReadOnlyFs, opts: ImageCheckOptions = {}): Promise<ImageCheck> {
  const { signal, onProgress } = opts;
  if (isRafs(fs)) {
    const report = await checkRafs(fs, {
      ...(signal ? { signal } : {}), data: opts.data ?? true, blobIds: opts.blobIds ?? false,
      onProgress: (p: Progress) => onProgress?.({ phase: p.phase, done: p.done, total: p.total, bytes: p.bytes ?? 0, path: p.path ?? '' }),
    });
    return { kind: 'rafs', report };
  }
  const report = await checkTree(fs, {
    ...(signal ? { signal } : {}), ...(opts.data === false ? { data: false } : {}),
    onProgress: (p: TreeCheckProgress) => onProgress?.({ phase: 'data', done: p.entries, total: 0, bytes: p.bytes, path: p.path }),
  });
  return { kind: 'tree', report };
}

export interface CheckProblem {
  path: string;
  message: string;
}

/** The page's summary of a check: what was read, and every problem as a path and a message. */
export interface CheckSummary {
  ok: boolean;
  entries: number;
  files: number;
  bytes: number;
  chunks: number;
  /**
   * what was done to the chunks, after their count: "verified", or "read, no digests to verify
   * (tarfs)" when they had nothing to compare against; "read" for other formats (every byte read)
   */
  verification: string;
  problems: CheckProblem[];
}

export function checkSummary(c: ImageCheck): CheckSummary {
  if (c.kind === 'tree') {
    const r = c.report;
    return { ok: r.ok, entries: r.entries, files: r.files, bytes: r.bytes, chunks: 0, verification: 'read', problems: r.errors.map((e) => ({ path: e.path, message: e.error })) };
  }
  const r = c.report;
  const problems: CheckProblem[] = [
    ...r.metadata_issues.map((m) => ({ path: m.path ?? '', message: `${m.structure} at byte ${m.offset}: ${m.detail}` })),
    ...r.blob_issues.map((b) => ({ path: `blob ${b.blob_id}`, message: b.detail })),
    ...r.missing_blobs.map((b) => ({ path: `blob ${b.blob_id}`, message: `missing (${b.chunks} chunks unreadable)` })),
    ...r.unresolved_files.map((u) => ({ path: u.path, message: u.error })),
    ...r.bad_chunks.map((c) => ({ path: c.files.join(', '), message: `chunk ${c.index} of blob ${c.blob_id} at ${c.compressed_offset}: ${c.error}` })),
  ];
  return { ok: r.ok, entries: r.counts.entries, files: r.counts.files, bytes: r.counts.uncompressed_bytes, chunks: r.counts.chunks_checked, verification: verificationText(r), problems };
}

/**
 * The findings of a check, one line each, as `layerscope check` prints them under its summary line
 * (the page shows checkSummary's problems instead).
 */
export function checkFindings(c: ImageCheck): string[] {
  if (c.kind === 'tree') return c.report.errors.map((e) => `${e.path}: ${e.error}`);
  const r = c.report;
  return [
    // a record on one line: JSON with its indentation folded
    ...r.metadata_issues.map((m) => `metadata: ${JSON.stringify(m, null, 2).replace(/\s+/g, ' ')}`),
    ...r.blob_issues.map((b) => `blob ${b.blob_index} ${b.blob_id}: ${b.detail}`),
    ...r.missing_blobs.map((b) => `missing blob ${b.blob_index} ${b.blob_id} (${b.chunks} chunks unchecked)`),
    ...r.bad_chunks.map((x) => `bad chunk ${x.index} in blob ${x.blob_id} at ${x.compressed_offset} (+${x.compressed_size}): ${x.error}; used by ${x.files.join(', ')}`),
    ...r.bad_files.map((f) => `bad file ${f.path}: ${f.chunks.map((x) => `chunk ${x.position} (file offset ${x.file_offset}): ${x.error}`).join('; ')}`),
    ...r.unsupported.map((u) => `not checked: ${u}`),
  ];
}
