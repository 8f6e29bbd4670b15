// `convert IMAGE --to erofs --per-layer`: for each layer its uncompressed tar (layer-N.tar, checked
// against the config's diff_id) and an EROFS in tar index mode over it (layer-N.erofs, as
// mkfs.erofs --tar=i), the tar being the image's device 1. Once for the CLI (files in OUTDIR,
// src/cli/convert-per-layer.ts) and the page (a picked folder, or one tar of the pairs,
// workers/converter.ts): where the bytes go is the caller's `PerLayerStore`.
import { hex } from '../bytes.ts';
import { FormatError } from '../errors.ts';
import { buildTarIndex, type TarIndexResult } from '../erofs/writer-tar-index.ts';
import type { Sink } from '../erofs/writer-output.ts';
import { treeFromTar } from '../fs/sources/tar.ts';
import type { ByteSource } from '../io/source.ts';
import { hasherFor } from '../oci/digest.ts';
import { OciError } from '../oci/errors.ts';
import type { LoadedOci, OciFiles } from '../oci/index.ts';
import { uncompressedLayer } from '../oci/layer.ts';
import type { NydusProgress } from '../oci/nydus.ts';
import { TAR_BLOCK } from '../tar/structs.ts';
import { ustarHeader } from '../tar/writer.ts';

/** The page's choice (the CLI's `--to erofs --per-layer [--aufs]`). */
export interface PerLayerChoice {
  to: 'erofs-per-layer';
  aufs: boolean;
}

/** One layer's tar on its way out: written front to back, ended, then read back as device 1. */
export interface LayerTarOut {
  write(chunk: Uint8Array): void | Promise<void>;
  /** the tar is complete (also called when the layer failed: release what is held) */
  end(): Promise<void>;
  /** the ended tar, for the index build (closed by the converter when done with it) */
  source(): Promise<ByteSource>;
}

export interface PerLayerStore {
  /** how a result names the file `name` (the CLI: its path) */
  where(name: string): string;
  tar(name: string): Promise<LayerTarOut>;
  /** the layer's image; closed once its build is over (built or failed) */
  image(name: string): Promise<Sink & { close(): void | Promise<void> }>;
}

export interface PerLayerResult extends TarIndexResult {
  index: number;
  diffId: string;
  /** the files as the store names them */
  tar: string;
  tarSize: number;
  /** zero bytes added after the layer's own bytes, so the tar is whole 512-byte blocks */
  tarPadded: number;
  erofs: string;
}

export interface PerLayerRun {
  /** mkfs.erofs --aufs: whiteouts kept as .wh. files (overlayfs' "aufs" style) */
  aufs?: boolean;
  signal?: AbortSignal;
  /** stage 'layer' while a layer's tar is read (bytes: uncompressed tar bytes), 'done' at the end */
  onProgress?(p: NydusProgress): void;
}

export const layerFileNames = (index: number): { tar: string; erofs: string } => ({ tar: `layer-${index}.tar`, erofs: `layer-${index}.erofs` });

export async function convertPerLayer(img: LoadedOci, files: OciFiles, store: PerLayerStore, run: PerLayerRun = {}): Promise<PerLayerResult[]> {
  const layers: PerLayerResult[] = [];
  const total = img.layers.reduce((n, l) => n + l.uncompressedSize, 0);
  let bytes = 0;
  const tell = (stage: NydusProgress['stage'], layer: number): void => run.onProgress?.({ stage, layer, layers: img.layers.length, bytes, total });
  for (const [at, l] of img.layers.entries()) {
    run.signal?.throwIfAborted();
    tell('layer', at);
    const blob = await files.get(l.ref.path);
    if (!blob) throw new OciError('missing-blob', 'oci.blob', `layer ${l.ref.index}: ${l.ref.path} is gone`);
    const names = layerFileNames(l.ref.index);
    const tarName = store.where(names.tar);
    const h = hasherFor(l.ref.diffId.alg);
    const out = await store.tar(names.tar);
    let size = 0;
    let padded = 0;
    try {
      for await (const c of uncompressedLayer(blob, l.compression, l.ref.path, run.signal)) {
        size += c.length;
        // the first read (loadOci) held the layer to its decompression cap and counted its bytes:
        // a blob changed since then that decompresses to more is stopped here, not written out in
        // full before its diff_id fails
        if (size > l.uncompressedSize) throw new OciError('too-large', 'oci.layer', `layer ${l.ref.index}: decompresses to more than the ${l.uncompressedSize} bytes it did when the image was loaded`);
        h.update(c);
        await out.write(c);
        bytes += c.length;
        tell('layer', at);
      }
      // umoci 0.4.7 insert ends a tar right after the last file's content: the device must be whole
      // 512-byte blocks (tar members are addressed by block), so such a tar gets zeros up to its
      // block end and the two end-of-archive blocks (the diff_id covers the bytes before them)
      if (size % TAR_BLOCK !== 0) {
        padded = TAR_BLOCK - (size % TAR_BLOCK) + 2 * TAR_BLOCK;
        await out.write(new Uint8Array(padded));
      }
    } finally {
      await out.end();
    }
    const got = hex(h.digest());
    if (got !== l.ref.diffId.hex) throw new OciError('diff-id-mismatch', 'oci.layer', `layer ${l.ref.index}: its tar hashes to ${l.ref.diffId.alg}:${got} this time, not ${l.diffId}`);
    run.signal?.throwIfAborted();
    const tar = await out.source();
    const es = await store.image(names.erofs);
    try {
      // a layer on its own: a hardlink to a lower layer's file names nothing in its tar (mkfs.erofs
      // --tar=i fails on it with ENOENT too), so such a layer is refused with its number
      const tree = await treeFromTar(tar).catch((e: unknown) => {
        if (e instanceof FormatError) throw new FormatError(e.structure, e.offset, `layer ${l.ref.index} (${tarName}): ${e.detail}`);
        throw e;
      });
      const r = await buildTarIndex(tree, tar, es, { aufs: run.aufs === true });
      layers.push({ index: l.ref.index, diffId: l.diffId, tar: tarName, tarSize: tar.size, tarPadded: padded, erofs: store.where(names.erofs), ...r });
    } finally {
      await es.close();
      await tar.close?.();
    }
  }
  tell('done', img.layers.length - 1);
  return layers;
}

const enc = new TextEncoder();

/**
 * The page's single-file output: the pairs as members of one tar (layer-0.tar, layer-0.erofs, …),
 * which `tar -xf` turns into the CLI's OUTDIR. A member's header (mode 0644, owner 0, mtime 0: the
 * same image gives the same archive) and the zeros after its `size` bytes.
 */
export function archiveMember(name: string, size: number): { header: Uint8Array; padding: Uint8Array } {
  const header = ustarHeader(enc.encode(name), '0', 0o644, 0, 0, size, 0, new Uint8Array(0), 0, 0);
  return { header, padding: new Uint8Array((TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK) };
}

/** the two zero blocks that end an archive */
export const archiveEnd = (): Uint8Array => new Uint8Array(2 * TAR_BLOCK);
