// Converting a loaded OCI image, once for the CLI (`layerscope convert`, src/cli/oci.ts) and the
// page (workers/converter.ts): to Nydus as nydusify does (lib/oci/nydus.ts, an OCI layout through a
// LayoutSink), or the merged tree to one EROFS / composefs image (the build writers of
// app/build.ts; composefs-rs' own layout and image id with `composefsRs`), or one tar index EROFS
// per layer (app/convert-per-layer.ts). Where the bytes go is the
// caller's business; the page's equivalent command line is made here too.
import { UnsupportedError } from '../errors.ts';
import type { BackingObject } from '../composefs/objects.ts';
import type { Sink } from '../erofs/writer-output.ts';
import type { SourceTree } from '../fs/tree.ts';
import { fsverityDigest } from '../codec/fsverity.ts';
import { hex } from '../bytes.ts';
import { COMPOSEFS_RS_ID_NOTE, composefsRsTree } from '../oci/composefs.ts';
import { composefsRsImage } from '../oci/composefs-rs-erofs.ts';
import type { LoadedOci } from '../oci/index.ts';
import type { OciFiles } from '../oci/files.ts';
import { convertToNydus, type LayoutSink, type NydusConvertResult, type NydusProgress } from '../oci/nydus.ts';
import { buildImage } from './build.ts';
import type { PerLayerChoice } from './convert-per-layer.ts';

export type NydusCompressor = 'zstd' | 'none' | 'lz4_block';

export interface NydusChoice {
  to: 'nydus';
  compressor: NydusCompressor;
  /** bytes; null: the converter's default (1 MiB) */
  chunkSize: number | null;
  alignedChunk: boolean;
  ociRef?: boolean;
  ref?: string;
}

/** The merged tree as one image (EROFS, or composefs; composefs-rs' layout and id with composefsRs). */
export interface MergedChoice {
  to: 'erofs' | 'composefs';
  composefsRs: boolean;
}

export type ConvertChoice = NydusChoice | MergedChoice | PerLayerChoice;

export interface ConvertRun {
  onProgress?(p: NydusProgress): void;
  signal?: AbortSignal;
  /** the source layout: --oci-ref reads the gzip layers from it */
  files?: OciFiles;
}

export const NYDUS_COMPRESSORS: readonly NydusCompressor[] = ['zstd', 'none', 'lz4_block'];

/** chunk sizes RAFS takes: a power of two from 4 KiB to 16 MiB */
export function validChunkSize(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 4096 && n <= 16 << 20 && (n & (n - 1)) === 0;
}

/** `--to nydus`: the image as nydusify convert writes it, into `sink` (removed on error or cancel). */
export function convertNydus(img: LoadedOci, c: NydusChoice, sink: LayoutSink, run: ConvertRun = {}): Promise<NydusConvertResult> {
  return convertToNydus(img, sink, {
    compressor: c.compressor, alignedChunk: c.alignedChunk, ociRef: c.ociRef === true,
    ...(c.chunkSize !== null ? { chunkSize: c.chunkSize } : {}), ...(c.ref !== undefined ? { ref: c.ref } : {}),
    ...(run.onProgress ? { onProgress: run.onProgress } : {}), ...(run.signal ? { signal: run.signal } : {}), ...(run.files ? { files: run.files } : {}),
  });
}

/** The tree a merged conversion builds: composefs-rs stacks the layers by its own rules (lib/oci/composefs.ts). */
export function mergedTree(img: LoadedOci, composefsRs: boolean): SourceTree {
  return composefsRs ? composefsRsTree(img.layers) : img.tree;
}

/** composefs-rs' image of a tree and its fs-verity digest, which is the image id. */
export async function composefsRsOutput(tree: SourceTree): Promise<{ image: Uint8Array; imageId: string; note: string }> {
  const image = await composefsRsImage(tree);
  return { image, imageId: hex(await fsverityDigest(image)), note: COMPOSEFS_RS_ID_NOTE };
}

export interface MergedResult {
  format: 'erofs' | 'composefs';
  size: number;
  /** composefs: the image's fs-verity digest (with composefsRs, the image id); EROFS: its uuid */
  digest?: string;
  uuid?: string;
  imageId?: string;
  imageIdIs?: string;
  /** composefs: the backing files the object store must hold (payload path, content, size) */
  objects?: BackingObject[];
}

/**
 * The merged tree as one image into `image` (the page's output; the CLI writes its own files
 * through `build`). composefs objects are listed, their content is read by `objectContent`.
 */
export async function convertMerged(img: LoadedOci, c: MergedChoice, image: Sink, run: ConvertRun = {}): Promise<MergedResult> {
  if (c.composefsRs && c.to !== 'composefs') throw new UnsupportedError('composefs-rs', 'goes with the composefs target');
  const tree = mergedTree(img, c.composefsRs);
  run.signal?.throwIfAborted();
  if (c.to === 'erofs') {
    const counted = countingSink(image, run.signal);
    const r = await buildImage(tree, { format: 'erofs' }, { image: counted });
    return { format: 'erofs', size: counted.size, uuid: r.format === 'erofs' ? r.uuid : '' };
  }
  if (c.composefsRs) {
    // the objects are hashed by the composefs build (digests land on the tree's inodes); the
    // composefs-rs layout is then written instead of ours
    const r = await buildImage(tree, { format: 'composefs', objects: true }, { image: countingSink({ write() {} }, run.signal) });
    const rs = await composefsRsOutput(tree);
    await image.write(rs.image);
    return { format: 'composefs', size: rs.image.length, digest: rs.imageId, imageId: rs.imageId, imageIdIs: rs.note, objects: r.format === 'composefs' ? r.objects ?? [] : [] };
  }
  const counted = countingSink(image, run.signal);
  const r = await buildImage(tree, { format: 'composefs', objects: true }, { image: counted });
  return { format: 'composefs', size: counted.size, ...(r.format === 'composefs' ? { digest: r.digest, objects: r.objects ?? [] } : {}) };
}

function countingSink(s: Sink, signal?: AbortSignal): Sink & { size: number } {
  let size = 0;
  return {
    get size() { return size; },
    async write(b) {
      signal?.throwIfAborted();
      size += b.length;
      await s.write(b);
    },
  };
}

const quote = (s: string): string => (/^[\w./:@%+=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The `layerscope convert` command line that does what the page did. */
export function convertCommand(image: string, c: ConvertChoice, out: string, platform?: string): string {
  const a = ['layerscope', 'convert', image, '--to', c.to === 'erofs-per-layer' ? 'erofs' : c.to];
  if (c.to === 'erofs-per-layer') {
    a.push('--per-layer');
    if (c.aufs) a.push('--aufs');
  } else if (c.to === 'nydus') {
    if (c.compressor !== 'zstd') a.push('--compressor', c.compressor);
    if (c.chunkSize !== null) a.push('--chunk-size', `0x${c.chunkSize.toString(16)}`);
    if (c.alignedChunk) a.push('--aligned-chunk');
    if (c.ociRef) a.push('--oci-ref');
    if (c.ref !== undefined) a.push('--ref', c.ref);
  } else {
    if (c.composefsRs) a.push('--composefs-rs');
    if (c.to === 'composefs') a.push('--digest-store', 'objects');
  }
  if (platform) a.push('--platform', platform);
  a.push(out);
  return a.map(quote).join(' ');
}
