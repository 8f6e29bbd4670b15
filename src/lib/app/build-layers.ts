// RAFS outputs of a build, once for the page (workers/builder.ts) and the CLI (src/cli/build.ts):
// each layer a bootstrap plus a data blob named by its id, a layer after the first built onto the
// previous bootstrap as its parent; and the tarfs bootstrap over an uncompressed tar. Which files
// the bytes go to is the caller's business: it hands in a LayerFiles (OPFS or FileSystem handles,
// Blobs, plain files, memory).
import type { SourceTree } from '../fs/tree.ts';
import type { ByteSource } from '../io/source.ts';
import { buildTarfs } from '../rafs/builder/tarfs.ts';
import type { RafsBuildResult } from '../rafs/builder/types.ts';
import type { Sink } from '../erofs/writer-output.ts';
import type { RafsFs } from '../rafs/model.ts';
import { buildImage, rafsParent, type ImageBuildOptions } from './build.ts';

/** A file being written: closed once complete, aborted when the build fails. */
export interface OutputFile extends Sink {
  close(): void | Promise<void>;
  abort(): void | Promise<void>;
}

/**
 * The files a RAFS build writes. A data blob is named by its id, known only once it is complete,
 * so it is written under a temporary name first and then kept under its id, or removed when the
 * layer stored no chunk.
 */
export interface LayerFiles<F extends OutputFile> {
  /** a new file for a layer's bootstrap */
  bootstrap(name: string): F | Promise<F>;
  /** a new file for a layer's data blob, under the temporary name `tempName` */
  blob(tempName: string): F | Promise<F>;
  /** the closed blob takes its id as its name */
  keep(blob: F, id: string): void | Promise<void>;
  /** a file not kept: an empty blob, or either file of a layer that failed */
  remove(f: F): void | Promise<void>;
  /** a closed bootstrap's bytes, read back as the next layer's parent */
  read(bootstrap: F): ByteSource | Promise<ByteSource>;
}

/** What the page shows of one RAFS layer built. */
export interface RafsLayerOutput {
  layer: string;
  bootstrapName: string;
  bootstrapSize: number;
  blobId: string | null;
  blobSize: number;
  /** the bootstrap's blob table (parent blobs first) */
  blobIds: string[];
  chunksStored: number;
  chunksReferenced: number;
  chunksFromOtherBlobs: number;
  notes: string[];
}

export interface BuiltLayer<F> {
  output: RafsLayerOutput;
  result: RafsBuildResult;
  /** closed; `blob` is null when the layer stored no chunk (its file was removed) */
  bootstrap: F;
  blob: F | null;
}

export interface LayerHooks {
  /** every output byte written, counted */
  onOutput?(bytes: number): void;
  /** before a layer's build starts (the page meters the layer's reads) */
  beforeLayer?(tree: SourceTree, index: number): void;
}

/** `NAME.boot` given as `NAME` or `NAME.boot` (the page's default `image`). */
export function rafsBaseName(name: string | undefined): string {
  return (name ?? 'image').replace(/\.boot$/, '');
}

/** Bootstrap names of an `n`-layer build: `base.boot`, or `base.layerK.boot` for K = 1…n. */
export function rafsBootstrapNames(base: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => (n > 1 ? `${base}.layer${i + 1}.boot` : `${base}.boot`));
}

/** the temporary name of a layer's blob: beside its bootstrap, hidden, and never a blob id */
export function blobTempName(bootstrapName: string): string {
  return `.${bootstrapName.slice(bootstrapName.lastIndexOf('/') + 1)}.blob-partial`;
}

/** `inner` with every written byte counted; `releases` is the inner sink's. */
export function countedSink(inner: Sink, count: ((n: number) => void) | undefined): Sink {
  if (!count) return inner;
  return {
    write(c: Uint8Array) {
      count(c.length);
      return inner.write(c);
    },
    ...(inner.releases ? { releases: true as const } : {}),
  };
}

async function discard<F extends OutputFile>(files: LayerFiles<F>, ...fs: F[]): Promise<void> {
  for (const f of fs) await Promise.resolve().then(() => f.abort()).catch(() => {});
  for (const f of fs) await Promise.resolve().then(() => files.remove(f)).catch(() => {});
}

/**
 * RAFS layers, lowest first: each becomes a bootstrap and a data blob; a layer after the first is
 * built with the previous bootstrap as its parent (its unchanged files keep their chunks in the
 * lower blobs). The first layer is built onto `opts.parent` when given. A layer that fails leaves
 * none of its files behind; the layers before it are kept.
 */
export async function buildRafsLayers<F extends OutputFile>(
  layers: readonly { tree: SourceTree; label: string; bootstrapName: string }[],
  opts: Extract<ImageBuildOptions, { format: 'rafs' }>,
  files: LayerFiles<F>,
  hooks: LayerHooks = {},
): Promise<BuiltLayer<F>[]> {
  const built: BuiltLayer<F>[] = [];
  let parent: RafsFs | undefined = opts.parent;
  for (let i = 0; i < layers.length; i++) {
    const { tree, label, bootstrapName } = layers[i]!;
    hooks.beforeLayer?.(tree, i);
    const boot = await files.bootstrap(bootstrapName);
    let blob: F;
    try {
      blob = await files.blob(blobTempName(bootstrapName));
    } catch (e) {
      await discard(files, boot);
      throw e;
    }
    let result: RafsBuildResult;
    try {
      const o = { ...opts };
      if (parent) o.parent = parent;
      const b = await buildImage(tree, o, { bootstrap: countedSink(boot, hooks.onOutput), blob: countedSink(blob, hooks.onOutput) });
      if (b.format !== 'rafs') throw new Error(`a RAFS build gave a ${b.format} result`);
      result = b.rafs;
      await boot.close();
      await blob.close();
      if (result.blobId) await files.keep(blob, result.blobId);
      else await files.remove(blob);
    } catch (e) {
      await discard(files, blob, boot);
      throw e;
    }
    built.push({ output: layerOutput(label, bootstrapName, result), result, bootstrap: boot, blob: result.blobId ? blob : null });
    if (i + 1 < layers.length) parent = await rafsParent(await files.read(boot));
  }
  return built;
}

function layerOutput(layer: string, bootstrapName: string, r: RafsBuildResult): RafsLayerOutput {
  return {
    layer, bootstrapName, bootstrapSize: r.bootstrapSize, blobId: r.blobId, blobSize: r.blobSize, blobIds: r.blobIds,
    chunksStored: r.stats.chunksStored, chunksReferenced: r.stats.chunksReferenced, chunksFromOtherBlobs: r.stats.chunksFromOtherBlobs, notes: r.notes,
  };
}

/**
 * tarfs (nydus-image --type tar-tarfs): the uncompressed tar is the data blob as it is; only the
 * bootstrap is written (src/lib/rafs/builder/tarfs.ts), and the tar is not copied.
 */
export async function buildTarfsLayer<F extends OutputFile>(
  tar: ByteSource, label: string, bootstrapName: string, opts: { chunkSize?: number; signal?: AbortSignal }, files: Pick<LayerFiles<F>, 'bootstrap' | 'remove'>, hooks: LayerHooks = {},
): Promise<BuiltLayer<F>> {
  const boot = await files.bootstrap(bootstrapName);
  let result: RafsBuildResult;
  try {
    result = await buildTarfs(tar, { ...(opts.chunkSize !== undefined ? { chunkSize: opts.chunkSize } : {}), ...(opts.signal ? { signal: opts.signal } : {}) }, countedSink(boot, hooks.onOutput));
    await boot.close();
  } catch (e) {
    await Promise.resolve().then(() => boot.abort()).catch(() => {});
    await Promise.resolve().then(() => files.remove(boot)).catch(() => {});
    throw e;
  }
  // a tarfs layer stores no chunk of its own: every chunk is a range of the tar
  return { output: { ...layerOutput(label, bootstrapName, result), chunksStored: 0, chunksFromOtherBlobs: 0 }, result, bootstrap: boot, blob: null };
}
