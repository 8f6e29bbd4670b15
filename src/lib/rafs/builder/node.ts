/**
 * Node glue for the CLI (`layerscope build --format rafs-v6|rafs-v5 SRC OUT.boot --blob-dir DIR`,
 * `merge`, `compact`): file sinks, and blobs named by their id in the blob dir (written to a
 * temporary name first: the id is known only once the blob is complete).
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { SourceTree } from '../../fs/tree.ts';
import type { RafsFs } from '../model.ts';
import { buildRafs } from './build.ts';
import { compactRafs, type CompactOptions, type CompactResult } from './compact.ts';
import { mergeRafs, type MergeOptions, type MergeResult } from './merge.ts';
import type { RafsBuildOptions, RafsBuildResult, RafsBuildSinks, Sink } from './types.ts';

export class FileSink implements Sink {
  private fd: number;
  size = 0;
  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
  }
  write(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) off += writeSync(this.fd, chunk, off, chunk.length - off);
    this.size += chunk.length;
  }
  close(): void {
    if (this.fd < 0) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
  }
}

let seq = 0;
function tempBlob(dir: string): FileSink {
  return new FileSink(join(dir, `.layerscope-blob-${process.pid}-${seq++}.tmp`));
}

/**
 * Sinks into `bootstrapPath` and a temporary blob in `blobDir`; `commit` names the blob by its id
 * (or removes it when nothing was stored), `abort` removes it.
 */
export function rafsFileSinks(bootstrapPath: string, blobDir: string): { sinks: RafsBuildSinks; commit(blobId: string | null): string | null; abort(): void } {
  const boot = new FileSink(bootstrapPath);
  const blob = tempBlob(blobDir);
  return {
    sinks: { bootstrap: boot, blob },
    commit(blobId) {
      boot.close();
      blob.close();
      if (!blobId) {
        unlinkSync(blob.path);
        return null;
      }
      const blobPath = join(blobDir, blobId);
      renameSync(blob.path, blobPath);
      return blobPath;
    },
    abort() {
      boot.close();
      blob.close();
      try { unlinkSync(blob.path); } catch { /* already gone */ }
    },
  };
}

/** Build to `bootstrapPath`; the new blob lands in `blobDir` named by its id (none when nothing was stored). */
export async function buildRafsToFiles(tree: SourceTree, opts: RafsBuildOptions, bootstrapPath: string, blobDir: string): Promise<RafsBuildResult & { blobPath: string | null }> {
  const files = rafsFileSinks(bootstrapPath, blobDir);
  try {
    const r = await buildRafs(tree, opts, files.sinks);
    return { ...r, blobPath: files.commit(r.blobId) };
  } catch (e) {
    files.abort();
    throw e;
  }
}

export async function mergeRafsToFile(layers: readonly RafsFs[], opts: MergeOptions, bootstrapPath: string): Promise<MergeResult> {
  const boot = new FileSink(bootstrapPath);
  try {
    return await mergeRafs(layers, opts, boot);
  } finally {
    boot.close();
  }
}

/** Compact; new blobs go to `blobDir` named by their ids. The bootstrap file is written only when something changed. */
export async function compactRafsToFiles(fs: RafsFs, opts: CompactOptions, bootstrapPath: string, blobDir: string): Promise<CompactResult> {
  const temps: FileSink[] = [];
  const chunks: Uint8Array[] = [];
  const bootMem: Sink = { write(c) { chunks.push(c); } };
  try {
    const r = await compactRafs(fs, opts, { bootstrap: bootMem, blobSink: () => { const s = tempBlob(blobDir); temps.push(s); return s; } });
    temps.forEach((s, i) => {
      s.close();
      renameSync(s.path, join(blobDir, r.newBlobIds[i]!));
    });
    if (r.changed) {
      const boot = new FileSink(bootstrapPath);
      for (const c of chunks) boot.write(c);
      boot.close();
    }
    return r;
  } catch (e) {
    for (const s of temps) {
      s.close();
      try { unlinkSync(s.path); } catch { /* already gone */ }
    }
    throw e;
  }
}
