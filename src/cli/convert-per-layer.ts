// `convert IMAGE --to erofs --per-layer OUTDIR`: for each layer, its uncompressed tar
// (OUTDIR/layer-N.tar, checked against the config's diff_id) and an EROFS in tar index mode over
// it (OUTDIR/layer-N.erofs, as mkfs.erofs --tar=i), the tar being the image's device 1.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { hex } from '../lib/bytes.ts';
import { FormatError } from '../lib/errors.ts';
import { buildTarIndex } from '../lib/erofs/writer-tar-index.ts';
import { treeFromTar } from '../lib/fs/sources/tar.ts';
import { OciError } from '../lib/oci/errors.ts';
import { hasherFor } from '../lib/oci/digest.ts';
import { uncompressedLayer } from '../lib/oci/layer.ts';
import type { LoadedOci, OciFiles } from '../lib/oci/index.ts';
import { fileSink } from './build.ts';
import { out, toJson, UsageError, humanBytes } from './format.ts';
import { openFile } from './open.ts';

export async function convertErofsPerLayer(img: LoadedOci, files: OciFiles, to: string, outDir: string, v: Record<string, unknown>): Promise<number> {
  if (to !== 'erofs') throw new UsageError('--per-layer goes with --to erofs (one tar index EROFS per layer)');
  mkdirSync(outDir, { recursive: true });
  const layers = [];
  for (const l of img.layers) {
    const blob = await files.get(l.ref.path);
    if (!blob) throw new OciError('missing-blob', 'oci.blob', `layer ${l.ref.index}: ${l.ref.path} is gone`);
    const tarPath = join(outDir, `layer-${l.ref.index}.tar`);
    const h = hasherFor(l.ref.diffId.alg);
    const sink = fileSink(tarPath);
    let padded = 0;
    try {
      for await (const c of uncompressedLayer(blob, l.compression, l.ref.path)) {
        h.update(c);
        sink.write(c);
      }
      // umoci 0.4.7 insert ends a tar right after the last file's content: the device must be whole
      // 512-byte blocks (tar members are addressed by block), so such a tar gets zeros up to its
      // block end and the two end-of-archive blocks (the diff_id covers the bytes before them)
      if (sink.bytes % 512 !== 0) {
        padded = 512 - (sink.bytes % 512) + 1024;
        sink.write(new Uint8Array(padded));
      }
    } finally {
      sink.close();
    }
    const got = hex(h.digest());
    if (got !== l.ref.diffId.hex) throw new OciError('diff-id-mismatch', 'oci.layer', `layer ${l.ref.index}: its tar hashes to ${l.ref.diffId.alg}:${got} this time, not ${l.diffId}`);
    const tar = await openFile(tarPath);
    const erofsPath = join(outDir, `layer-${l.ref.index}.erofs`);
    const es = fileSink(erofsPath);
    try {
      // a layer on its own: a hardlink to a lower layer's file names nothing in its tar (mkfs.erofs
      // --tar=i fails on it with ENOENT too), so such a layer is refused with its number
      const tree = await treeFromTar(tar).catch((e: unknown) => {
        if (e instanceof FormatError) throw new FormatError(e.structure, e.offset, `layer ${l.ref.index} (${tarPath}): ${e.detail}`);
        throw e;
      });
      const r = await buildTarIndex(tree, tar, es, { aufs: v.aufs === true });
      layers.push({ index: l.ref.index, diffId: l.diffId, tar: tarPath, tarSize: tar.size, tarPadded: padded, erofs: erofsPath, ...r });
    } finally {
      es.close();
      await tar.close?.();
    }
  }
  if (v.json) out(toJson({ format: 'erofs-tar-index', out: outDir, layers }));
  else {
    out(`erofs --per-layer ${outDir}: ${layers.length} tar index images (mkfs.erofs --tar=i layout rules), each mounting with its layer-N.tar as device 1`);
    for (const l of layers) out(`  #${l.index} ${l.erofs} ${humanBytes(l.size)} over ${l.tar} ${humanBytes(l.tarSize)}${l.tarPadded ? ` (${l.tarPadded} zero bytes added: the layer's tar stopped inside a block)` : ''} (${l.inodes} inodes)`);
  }
  return 0;
}
