// One build of the page (workers/builder.ts is its Comlink adapter): source layers and a build
// choice in, progress out, the image written to files the caller opens (OutputFile, LayerFiles,
// ObjectFiles). EROFS and composefs build the layers applied in order; RAFS builds each layer onto
// the previous one's bootstrap; tarfs builds over the one tar source.
import type { SourceInode, SourceTree } from '../fs/tree.ts';
import type { ByteSource } from '../io/source.ts';
import type { Sink } from '../erofs/writer-output.ts';
import { applyLayers, buildImage, choiceOptions, forgetDigests } from './build.ts';
import type { BuildChoice } from './build-choice.ts';
import { buildRafsLayers, buildTarfsLayer, countedSink, rafsBaseName, rafsBootstrapNames, type BuiltLayer, type LayerFiles, type OutputFile } from './build-layers.ts';
import { compressionStatsOf, type CompressionStats } from './compression-stats.ts';
import { meterTree, newMeter } from './meter.ts';
import { storeObjects, zipObjects, type ObjectFiles } from './object-store.ts';
import { summarizeTree } from './tree-summary.ts';
import { throttled } from './throttle.ts';

export interface BuildProgress {
  phase: 'preparing' | 'hashing' | 'writing' | 'objects' | 'finishing';
  files: number;
  filesTotal: number;
  /** content bytes read (all passes) and the expected total */
  bytes: number;
  bytesTotal: number;
  /** output bytes written */
  out: number;
  elapsedMs: number;
}

/** One source layer of a build. */
export interface BuildLayer {
  tree: SourceTree;
  label: string;
  /** inodes whose fs-verity digest came with the input (a dump): never cleared */
  givenDigests: Set<SourceInode>;
  /** a tar source: a tarfs build uses it as its data blob */
  tar?: ByteSource;
}

export interface BuildJob {
  /** lowest first; one for a plain build */
  layers: readonly BuildLayer[];
  choice: BuildChoice;
  /** RAFS: the bootstrap's file name (blobs are named by their ids) */
  rafsName?: string;
  signal: AbortSignal;
  onProgress(p: BuildProgress): void;
  /** each inode's unmetered content, kept across builds (meterTree) */
  originals: WeakMap<SourceInode, ByteSource>;
}

export interface BuildIo<F extends OutputFile> {
  /** EROFS / composefs: the image file, opened before the build starts */
  image(): F | Promise<F>;
  /** the image file's bytes once closed (compressed EROFS: its figures are read back from them) */
  readImage(image: F): Promise<ByteSource | null>;
  /** RAFS: the bootstraps and blobs */
  layers: LayerFiles<F>;
  /** composefs: where the backing objects go */
  objects: { kind: 'none' } | { kind: 'zip'; sink: Sink } | { kind: 'store'; files: ObjectFiles<F> };
}

export interface BuildReport<F> {
  format: BuildChoice['format'];
  size: number;
  /** EROFS / composefs: the image file, closed */
  image?: F;
  /** RAFS: one bootstrap and (unless every chunk was already stored) one data blob per layer */
  rafs?: BuiltLayer<F>[];
  /** composefs: fs-verity digest of the image (hex) */
  digest?: string;
  inodes: number;
  /** EROFS chunk mode */
  chunks?: { stored: number; referenced: number };
  /** compressed EROFS: per-file compression, read back from the image just built */
  compression?: CompressionStats;
  /** compressed EROFS: the workers files were compressed on (0: the build's own thread) */
  compressWorkers?: number;
  /** compressed EROFS: why the read-back figures are missing */
  compressionError?: string;
  uuid?: string;
  objects?: { count: number; bytes: number; written?: number };
  contentBytes: number;
  elapsedMs: number;
  notes: string[];
}

/** Progress reports at most every 100 ms, forced on a phase change (throttle.ts). */
function reporter(job: BuildJob, t0: number) {
  const progress: BuildProgress = { phase: 'preparing', files: 0, filesTotal: 0, bytes: 0, bytesTotal: 0, out: 0, elapsedMs: 0 };
  const report = throttled(() => {
    progress.files = meter.files;
    progress.bytes = meter.bytes;
    progress.elapsedMs = performance.now() - t0;
    job.onProgress({ ...progress });
  }, { ms: 100 });
  const meter = newMeter(job.signal, () => report());
  const phase = (p: BuildProgress['phase'], bytesTotal?: number): void => {
    progress.phase = p;
    if (bytesTotal !== undefined) progress.bytesTotal = bytesTotal;
    report.now();
  };
  return { progress, meter, report, phase, output: (n: number) => void (progress.out += n) };
}

export async function runBuild<F extends OutputFile>(job: BuildJob, io: BuildIo<F>): Promise<BuildReport<F>> {
  const t0 = performance.now();
  const { layers, choice: c, signal } = job;
  if (layers.length === 0) throw new Error('nothing to build: add a source first');
  const r = reporter(job, t0);
  // digests computed by an earlier build are dropped, so every build measures its own hashing
  for (const l of layers) forgetDigests(l.tree, l.givenDigests);
  const tree = applyLayers(layers.map((l) => l.tree));
  meterTree(tree, r.meter, job.originals);
  const sum = summarizeTree(tree);
  r.progress.filesTotal = sum.files;
  const notes: string[] = [];
  if (layers.length > 1) notes.push(`${layers.length} layers applied in order (whiteouts and opaque directories honoured)`);

  if (c.format === 'rafs') {
    r.phase('writing', layers.length > 1 ? layers.reduce((a, l) => a + summarizeTree(l.tree).bytes, 0) : sum.bytes);
    const hooks = { onOutput: r.output, beforeLayer: (t: SourceTree) => meterTree(t, r.meter, job.originals) };
    const base = rafsBaseName(job.rafsName);
    let outs: BuiltLayer<F>[];
    if (c.rafs.tarfs) {
      const tar = layers.length === 1 ? layers[0]!.tar : undefined;
      if (!tar) throw new Error('tarfs builds one uncompressed tar source (its bytes become the data blob): drop a single .tar');
      outs = [await buildTarfsLayer(tar, layers[0]!.label, `${base}.boot`, { chunkSize: c.rafs.chunkSize, signal }, io.layers, hooks)];
    } else {
      const names = rafsBootstrapNames(base, layers.length);
      const opts = choiceOptions(c, { signal });
      if (opts.format !== 'rafs') throw new Error('a RAFS choice gave no RAFS options');
      const trees = layers.length > 1 ? layers.map((l, i) => ({ tree: l.tree, label: l.label, bootstrapName: names[i]! })) : [{ tree, label: layers[0]!.label, bootstrapName: names[0]! }];
      outs = await buildRafsLayers(trees, opts, io.layers, hooks);
      if (layers.length > 1) notes.splice(0, notes.length, `${layers.length} layers, each built onto the previous one's bootstrap as its parent`);
    }
    r.phase('finishing');
    return { format: 'rafs', size: outs[outs.length - 1]!.result.bootstrapSize, inodes: 0, contentBytes: sum.bytes, elapsedMs: performance.now() - t0, notes, rafs: outs };
  }

  const file = await io.image();
  try {
    const image = countedSink(file, r.output);
    let report: BuildReport<F>;
    if (c.format === 'erofs') {
      const chunked = c.erofs.chunkSize !== null;
      r.phase(chunked ? 'hashing' : 'writing', sum.bytes * (chunked ? 2 : 1));
      const b = await buildImage(tree, choiceOptions(c), { image });
      if (b.format !== 'erofs') throw new Error(`an erofs build gave a ${b.format} result`);
      report = {
        format: 'erofs', size: b.erofs.size, inodes: b.erofs.inodes, uuid: b.uuid, contentBytes: sum.bytes, elapsedMs: 0, notes,
        ...(b.erofs.chunks ? { chunks: b.erofs.chunks } : {}),
        ...(b.erofs.compressed ? { compressWorkers: b.erofs.compressed.threads ?? 0 } : {}),
      };
    } else {
      r.phase('hashing', sum.bytes);
      // hashed on this thread: a pool of hashing workers (one per core up to 4, each reading its
      // own File) made the build slower on the 2-core bench VM (bench/build-browser.ts, 342 MB, 3
      // interleaved rounds, medians: 128 MB/s and 3.55 CPU-s with it, 151 MB/s and 3.41 without)
      const b = await buildImage(tree, choiceOptions(c, { objects: true }), { image }, { objectsHashed: () => r.phase('writing') });
      if (b.format !== 'composefs') throw new Error(`a composefs build gave a ${b.format} result`);
      const objects = b.objects ?? [];
      report = { format: 'composefs', size: b.composefs.size, digest: b.digest, inodes: b.composefs.inodes, contentBytes: sum.bytes, elapsedMs: 0, notes };
      const objBytes = objects.reduce((a, o) => a + o.size, 0);
      if (io.objects.kind !== 'none') {
        r.phase('objects', r.meter.bytes + objBytes);
        report.objects = { count: objects.length, bytes: objBytes };
        if (io.objects.kind === 'zip') await zipObjects(objects, io.objects.sink, signal);
        else report.objects.written = await storeObjects(objects, io.objects.files, signal);
      } else if (objects.length) {
        report.objects = { count: objects.length, bytes: objBytes };
      }
    }
    r.phase('finishing');
    await file.close();
    report.image = file;
    if (c.format === 'erofs' && c.erofs.compression !== 'none') {
      // the figures come from the image itself, opened with the same reader the inspector uses
      try {
        const bytes = await io.readImage(file);
        const stats = bytes ? await compressionStatsOf(bytes, signal) : null;
        if (stats) report.compression = stats;
      } catch (e) {
        report.compressionError = e instanceof Error ? e.message : String(e);
      }
    }
    report.elapsedMs = performance.now() - t0;
    return report;
  } catch (e) {
    await Promise.resolve().then(() => file.abort()).catch(() => {});
    throw e;
  }
}
