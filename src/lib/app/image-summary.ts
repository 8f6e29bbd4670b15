// What the page's pane title and Info view show of an image just opened (workers/inspector.ts
// sends it over Comlink): name, size, format, root, the inputs given with it, OCI figures.
import type { Attr, FormatId, ReadOnlyFs } from '../fs/types.ts';
import type { ByteSource } from '../io/source.ts';
import type { LoadedOci } from '../oci/index.ts';
import { plain } from './browse.ts';

export interface ImageSummary {
  id: number;
  /** file name or URL of the image itself */
  name: string;
  size: number;
  format: FormatId;
  rootIno: number;
  root: Attr;
  /** the other inputs given with the image: blobs / extra devices, composefs objects */
  blobs: { name: string; size: number }[];
  objects: number;
  /** an OCI image (layout or archive): the Image view has its config, history and layers */
  oci: boolean;
  /** for an OCI image: what its title line says (the merged tree's own size means little there) */
  ociTitle?: { platform: string; layers: number; compressed: number };
  /** where the bytes come from */
  source: 'file' | 'url' | 'url-whole';
  info: Record<string, unknown>;
}

/** An image opened with what came with it. */
export interface OpenedImage {
  fs: ReadOnlyFs;
  image: ByteSource;
  /** blobs / extra devices */
  others: ByteSource[];
  oci: LoadedOci | null;
}

export async function imageSummary(id: number, h: OpenedImage, source: ImageSummary['source'], objects: number): Promise<ImageSummary> {
  return {
    id, name: h.image.name, size: h.image.size, format: h.fs.format, rootIno: h.fs.rootIno, root: await h.fs.getattr(h.fs.rootIno),
    blobs: h.others.map((s) => ({ name: s.name, size: s.size })), objects, oci: h.oci !== null, source, info: plain(await h.fs.info()) as Record<string, unknown>,
    ...(h.oci ? { ociTitle: { platform: h.oci.image.platform, layers: h.oci.image.layers.length, compressed: h.oci.image.layers.reduce((n, l) => n + l.size, 0) } } : {}),
  };
}
