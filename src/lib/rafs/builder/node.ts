/**
 * Node glue for the CLI (`layerscope build --format rafs-v6|rafs-v5 SRC OUT.boot --blob-dir DIR`,
 * `merge`, `compact`): file sinks, and blobs named by their id in the blob dir (written to a
 * temporary name first: the id is known only once the blob is complete).
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { SourceTree } from '../../fs/tree.ts';
import type { RafsFs } from '../model.ts';
import { BytesSource } from '../../io/source.ts';
import type { ImageBuildOptions } from '../../app/build.ts';
import { buildRafsLayers, type LayerFiles, type OutputFile } from '../../app/build-layers.ts';
import { compactRafs, type CompactOptions, type CompactResult } from './compact.ts';
import { mergeRafs, type MergeOptions, type MergeResult } from './merge.ts';
import type { RafsBuildResult, Sink } from './types.ts';

type RafsLayerOptions = Extract<ImageBuildOptions, { format: 'rafs' }>;

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
 * RAFS layer files on disk for the one layer loop (src/lib/app/build-layers.ts): bootstraps at
 * their paths, blobs written in `blobDir` under a temporary name, then renamed to their id.
 */
export function rafsLayerFiles(blobDir: string): LayerFiles<FileSink & OutputFile> {
  const file = (path: string): FileSink & OutputFile => {
    const f = new FileSink(path);
    return Object.assign(f, { abort: () => f.close() });
  };
  return {
    bootstrap: file,
    blob: (temp) => file(join(blobDir, `${temp}-${process.pid}-${seq++}`)),
    keep: (f, id) => renameSync(f.path, join(blobDir, id)),
    remove: (f) => rmSync(f.path, { force: true }),
    read: (f) => new BytesSource(new Uint8Array(readFileSync(f.path)), f.path),
  };
}

/**
 * Build to `bootstrapPath` through the page's and CLI's layer loop (buildRafsLayers); the new blob
 * lands in `blobDir` named by its id (none when nothing was stored). A failed build leaves neither file.
 */
export async function buildRafsToFiles(
  tree: SourceTree, opts: Omit<RafsLayerOptions, 'format' | 'version'> & { version?: 5 | 6 }, bootstrapPath: string, blobDir: string,
): Promise<RafsBuildResult & { blobPath: string | null }> {
  const [layer] = await buildRafsLayers([{ tree, label: bootstrapPath, bootstrapName: bootstrapPath }], { ...opts, format: 'rafs', version: opts.version ?? 6 }, rafsLayerFiles(blobDir));
  const r = layer!.result;
  return { ...r, blobPath: r.blobId ? join(blobDir, r.blobId) : null };
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
