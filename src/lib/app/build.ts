// Building an image from a source tree, once for the page (workers/builder.ts) and the CLI
// (src/cli/build.ts): build options to writer options, the writer calls and their results. Where the
// bytes go (Blob, file handle, file, object store) is the caller's business: it hands in sinks.
import '../formats.ts';
import { objectsOf, type BackingObject } from '../composefs/objects.ts';
import { buildComposefs, type ComposefsOptions, type ComposefsResult } from '../composefs/writer.ts';
import { buildErofs, type ErofsCompression, type ErofsOptions, type ErofsResult } from '../erofs/writer.ts';
import type { Sink } from '../erofs/writer-output.ts';
import { inodesOf, type SourceInode, type SourceTree } from '../fs/tree.ts';
import type { ByteSource } from '../io/source.ts';
import { applyLayer, buildRafs, emptyTree } from '../rafs/builder/index.ts';
import type { RafsBuildOptions, RafsBuildResult, RafsBuildSinks } from '../rafs/builder/types.ts';
import type { RafsFs } from '../rafs/model.ts';
import { COMPRESSION_LEVELS, type BuildChoice, type ErofsChoice } from './build-choice.ts';
import { openImage } from '../open.ts';
import { isRafs } from './capabilities.ts';
import { hex } from './hex.ts';

/** One build's options, format-neutral; unset fields keep each writer's default. */
export type ImageBuildOptions =
  | { format: 'erofs'; chunkSize?: number; dedupe?: boolean; uuid?: string; buildTime?: number; inlineData?: boolean; compression?: ErofsCompression; blockSize?: number }
  /** objects: hash the backing objects first and return them (for an object store) */
  | { format: 'composefs'; minVersion?: number; maxVersion?: number; objects?: boolean; hardlinks?: 'keep' | 'split' }
  | {
    format: 'rafs'; version: 5 | 6; chunkSize?: number; compressor?: RafsBuildOptions['compressor']; digester?: RafsBuildOptions['digester'];
    batchSize?: number; alignedChunk?: boolean; prefetch?: readonly string[]; parent?: RafsFs; chunkDict?: RafsFs; encrypt?: boolean;
    onProgress?: RafsBuildOptions['onProgress']; signal?: AbortSignal;
  };

/**
 * EROFS and composefs write one image (a sink, or a function opening it when the writing starts:
 * after composefs' hashing); RAFS a bootstrap and a data blob.
 */
export type ImageSinks = { image: Sink | (() => Sink | Promise<Sink>) } | RafsBuildSinks;

async function imageSink(s: { image: Sink | (() => Sink | Promise<Sink>) }): Promise<Sink> {
  return typeof s.image === 'function' ? await s.image() : s.image;
}

export type BuiltImage =
  | { format: 'erofs'; erofs: ErofsResult; uuid: string }
  | { format: 'composefs'; composefs: ComposefsResult; digest: string; objects?: BackingObject[] }
  | { format: 'rafs'; rafs: RafsBuildResult };

export interface BuildHooks {
  /** composefs with objects: called once they are hashed, before the image is written */
  objectsHashed?(objects: BackingObject[]): void | Promise<void>;
}

export async function buildImage(tree: SourceTree, o: ImageBuildOptions, sinks: ImageSinks, hooks: BuildHooks = {}): Promise<BuiltImage> {
  if (o.format === 'rafs') {
    if (!('bootstrap' in sinks)) throw new Error('a RAFS build needs a bootstrap sink and a blob sink');
    const opts: RafsBuildOptions = { version: o.version };
    if (o.chunkSize !== undefined) opts.chunkSize = o.chunkSize;
    if (o.compressor !== undefined) opts.compressor = o.compressor;
    if (o.batchSize !== undefined) opts.batchSize = o.batchSize;
    if (o.encrypt) opts.encrypt = true;
    if (o.digester !== undefined) opts.digester = o.digester;
    if (o.alignedChunk !== undefined) opts.alignedChunk = o.alignedChunk;
    if (o.prefetch !== undefined) opts.prefetch = o.prefetch;
    if (o.parent) opts.parent = o.parent;
    if (o.chunkDict) opts.chunkDict = o.chunkDict;
    if (o.onProgress) opts.onProgress = o.onProgress;
    if (o.signal) opts.signal = o.signal;
    return { format: 'rafs', rafs: await buildRafs(tree, opts, sinks) };
  }
  if (!('image' in sinks)) throw new Error(`a ${o.format} build needs one image sink`);
  if (o.format === 'erofs') {
    const opts: ErofsOptions = {};
    if (o.uuid !== undefined) opts.uuid = o.uuid;
    if (o.buildTime !== undefined) opts.buildTime = o.buildTime;
    if (o.chunkSize !== undefined) opts.chunkSize = o.chunkSize;
    if (o.dedupe !== undefined) opts.dedupe = o.dedupe;
    if (o.inlineData !== undefined) opts.inlineData = o.inlineData;
    if (o.compression !== undefined) opts.compression = o.compression;
    if (o.blockSize !== undefined) opts.blockSize = o.blockSize;
    const r = await buildErofs(tree, opts, await imageSink(sinks));
    return { format: 'erofs', erofs: r, uuid: uuidText(r.uuid) };
  }
  // hashing first (4 files at once) fills in the digests the image build then uses
  const objects = o.objects ? await objectsOf(tree, { concurrency: 4 }) : undefined;
  if (objects) await hooks.objectsHashed?.(objects);
  const opts: ComposefsOptions = {};
  if (o.minVersion !== undefined) opts.minVersion = o.minVersion;
  if (o.maxVersion !== undefined) opts.maxVersion = o.maxVersion;
  if (o.hardlinks !== undefined) opts.hardlinks = o.hardlinks;
  const r = await buildComposefs(tree, opts, await imageSink(sinks));
  return { format: 'composefs', composefs: r, digest: hex(r.digest), ...(objects ? { objects } : {}) };
}

/** The page's build choice as build options (RAFS: one layer, onto `parent` when given). */
export function choiceOptions(c: BuildChoice, extra: { objects?: boolean; parent?: RafsFs; signal?: AbortSignal } = {}): ImageBuildOptions {
  if (c.format === 'erofs') {
    const e = c.erofs;
    return {
      format: 'erofs',
      ...(e.uuid.trim() ? { uuid: e.uuid.trim() } : {}),
      ...(e.buildTime !== null ? { buildTime: e.buildTime } : {}),
      ...(e.chunkSize !== null && e.compression === 'none' ? { chunkSize: e.chunkSize, dedupe: e.dedupe } : {}),
      inlineData: e.inlineData,
      ...(e.blockSize !== 4096 ? { blockSize: e.blockSize } : {}),
      ...(e.compression !== 'none' ? { compression: compressionOf(e) } : {}),
    };
  }
  if (c.format === 'composefs') {
    return { format: 'composefs', minVersion: c.composefs.minVersion, maxVersion: c.composefs.maxVersion, objects: extra.objects ?? false };
  }
  const r = c.rafs;
  return {
    format: 'rafs', version: r.version, compressor: r.compressor, digester: r.digester, chunkSize: r.chunkSize, alignedChunk: r.alignedChunk,
    // v6 features; the form keeps their values while v5 is chosen
    ...(r.version === 6 && r.batchSize ? { batchSize: r.batchSize } : {}), ...(r.version === 6 && r.encrypt ? { encrypt: true } : {}),
    ...(r.prefetch.length ? { prefetch: r.prefetch } : {}), ...(extra.parent ? { parent: extra.parent } : {}), ...(extra.signal ? { signal: extra.signal } : {}),
  };
}

/** The page's EROFS compression choice as the writer's options (only what differs from mkfs' defaults). */
export function compressionOf(e: ErofsChoice): ErofsCompression {
  if (e.compression === 'none') throw new Error('compressionOf: no compression chosen');
  return {
    algorithm: e.compression,
    ...(e.level !== null && COMPRESSION_LEVELS[e.compression] ? { level: e.level } : {}),
    ...(e.pclusterSize !== null && e.pclusterSize !== e.blockSize ? { pclusterSize: e.pclusterSize } : {}),
    ...(e.ztailpacking ? { ztailpacking: true } : {}),
    ...(e.fragments ? { fragments: true } : {}),
    ...(e.zdedupe ? { dedupe: true } : {}),
  };
}

/** A bootstrap just built, read back as the parent of the next layer's RAFS build. */
export async function rafsParent(bootstrap: ByteSource): Promise<RafsFs> {
  const fs = await openImage(bootstrap);
  if (!isRafs(fs)) throw new Error(`${bootstrap.name} did not read back as RAFS`);
  return fs;
}

/** Layers applied in order, lowest first (OCI whiteouts and opaque directories honoured); one layer as it is. */
export function applyLayers(layers: readonly SourceTree[]): SourceTree {
  if (layers.length === 0) throw new Error('nothing to build: add a source first');
  if (layers.length === 1) return layers[0]!;
  let tree = emptyTree();
  for (const l of layers) tree = applyLayer(tree, l, 'both');
  return tree;
}

/** Inodes whose fs-verity digest came with the input (a dump). */
export function givenDigests(tree: SourceTree): Set<SourceInode> {
  return new Set(inodesOf(tree.root).filter((n) => n.fsverityDigest));
}

/** Digests computed by an earlier build are dropped, so every build measures its own hashing. */
export function forgetDigests(tree: SourceTree, keep: Set<SourceInode>): void {
  for (const n of inodesOf(tree.root)) if (n.fsverityDigest && !keep.has(n)) delete n.fsverityDigest;
}

export function uuidText(u: Uint8Array): string {
  const h = hex(u);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
