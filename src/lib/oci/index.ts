// An OCI image opened whole: the layout read, one manifest chosen, every layer read and checked
// (blob digest, diff_id), the layers merged. The pieces are exported for callers that want less.
import { treeFs } from '../fs/sources/treefs.ts';
import type { ReadOnlyFs } from '../fs/types.ts';
import type { SourceTree } from '../fs/tree.ts';
import { OciError } from './errors.ts';
import { efficiency, type Efficiency } from './efficiency.ts';
import { openOci, type OciImage, type OpenOciOptions } from './image.ts';
import { readLayer, type LayerReadOptions, type ReadLayer } from './layer.ts';
import { mergeLayers, type LayerChange } from './merge.ts';
import type { OciFiles } from './files.ts';
import { configView, historyView, layersView, type ConfigView, type HistoryView, type LayerView } from './views.ts';

export { OciError, type OciErrorCode } from './errors.ts';
export { openOci, type OciImage, type OpenOciOptions, type LayerRef, type LayoutKind, MAX_JSON_BYTES, MAX_INDEX_ENTRIES, MAX_LAYERS } from './image.ts';
export { filesFromTar, filesFromTarGz, filesFromList, checkedPath, isImageLayout, type OciFiles } from './files.ts';
export { readLayer, pathKey, type ReadLayer, type LayerEntry, type LayerReadOptions } from './layer.ts';
export { mergeLayers, type LayerChange, type ChangeKind, type MergedImage } from './merge.ts';
export { efficiency, type Efficiency, type Inefficiency } from './efficiency.ts';
export { configView, fileList, historyView, layersView, toCsv, type ConfigView, type FileRow, type HistoryView, type LayerView } from './views.ts';
export { parseDigest, type Digest } from './digest.ts';

export interface LoadedOci {
  image: OciImage;
  layers: ReadLayer[];
  /** the merged tree (whiteouts and opaque directories applied) */
  tree: SourceTree;
  /** the merged tree as a filesystem: ls, cat, extract, stats and builds take it as they take any image */
  fs: ReadOnlyFs;
  changes: LayerChange[][];
  efficiency: Efficiency;
}

export interface LoadOciOptions extends OpenOciOptions, LayerReadOptions {
  onLayer?(index: number, count: number): void;
}

export async function loadOci(files: OciFiles, opts: LoadOciOptions = {}): Promise<LoadedOci> {
  const image = await openOci(files, opts);
  const memory = opts.memory ?? { left: 256 << 20 };
  const layers: ReadLayer[] = [];
  for (const ref of image.layers) {
    opts.onLayer?.(ref.index, image.layers.length);
    const blob = await files.get(ref.path);
    if (!blob) throw new OciError('missing-blob', 'oci.blob', `${files.name}: layer ${ref.index} blob ${ref.path} is not in the image`);
    if (ref.digest && blob.size !== ref.size) throw new OciError('size-mismatch', 'oci.blob', `${ref.path} holds ${blob.size} bytes, its descriptor says ${ref.size}`);
    layers.push(await readLayer(blob, ref, { ...opts, memory }));
  }
  // the spill store's sources may be read only after this (fs/sources/tar.ts ContentSpill)
  await opts.spill?.finish?.();
  const { tree, changes } = mergeLayers(layers);
  tree.notes.unshift(`${image.kind} ${image.name}${image.refs.length ? ` (${image.refs.join(', ')})` : ''}, ${image.platform || 'no platform'}`);
  return { image, layers, tree, fs: treeFs(tree), changes, efficiency: efficiency(layers.map((l) => l.entries)) };
}

/**
 * Whether a tar's first entries look like an image archive (oci-layout, index.json or
 * manifest.json at its top): the archive is read by headers only, and at most `maxEntries`.
 */
export { looksLikeOciArchive } from './sniff.ts';

/** What is known of the image as a whole, as plain data (the CLI's --json, a worker's reply). */
export interface ImageSummary {
  kind: OciImage['kind'];
  name: string;
  platform: string;
  manifest: string | null;
  config: string;
  refs: string[];
  choices: OciImage['choices'];
  notes: string[];
}

export function imageSummary(o: LoadedOci): ImageSummary {
  const i = o.image;
  return { kind: i.kind, name: i.name, platform: i.platform, manifest: i.manifestDigest, config: i.configDigest, refs: i.refs, choices: i.choices, notes: [...i.notes, ...o.tree.notes] };
}

/** Every view of a loaded image at once, structured-clone safe: what a page worker hands its view. */
export function imageViews(o: LoadedOci): { image: ImageSummary; config: ConfigView; history: HistoryView[]; layers: LayerView[]; changes: LayerChange[][]; efficiency: Efficiency } {
  return { image: imageSummary(o), config: configView(o.image), history: historyView(o.image), layers: layersView(o.image, o.layers, o.changes), changes: o.changes, efficiency: o.efficiency };
}

