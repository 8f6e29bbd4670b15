// `convert IMAGE --to erofs --per-layer OUTDIR`: the conversion is app/convert-per-layer.ts (the
// page's too); here OUTDIR's files (layer-N.tar, layer-N.erofs) and the printing.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { convertPerLayer, type PerLayerStore } from '../lib/app/convert-per-layer.ts';
import type { LoadedOci, OciFiles } from '../lib/oci/index.ts';
import { fileSink } from './build.ts';
import { out, toJson, UsageError, humanBytes } from './format.ts';
import { openFile } from './open.ts';

/** OUTDIR's files, named by their paths */
function folderStore(dir: string): PerLayerStore {
  return {
    where: (name) => join(dir, name),
    async tar(name) {
      const path = join(dir, name);
      const sink = fileSink(path);
      return {
        write: (c) => sink.write(c),
        end: async () => sink.close(),
        source: () => openFile(path),
      };
    },
    image: async (name) => fileSink(join(dir, name)),
  };
}

export async function convertErofsPerLayer(img: LoadedOci, files: OciFiles, to: string, outDir: string, v: Record<string, unknown>): Promise<number> {
  if (to !== 'erofs') throw new UsageError('--per-layer goes with --to erofs (one tar index EROFS per layer)');
  mkdirSync(outDir, { recursive: true });
  const layers = await convertPerLayer(img, files, folderStore(outDir), { aufs: v.aufs === true });
  if (v.json) out(toJson({ format: 'erofs-tar-index', out: outDir, layers }));
  else {
    out(`erofs --per-layer ${outDir}: ${layers.length} tar index images (mkfs.erofs --tar=i layout rules), each mounting with its layer-N.tar as device 1`);
    for (const l of layers) out(`  #${l.index} ${l.erofs} ${humanBytes(l.size)} over ${l.tar} ${humanBytes(l.tarSize)}${l.tarPadded ? ` (${l.tarPadded} zero bytes added: the layer's tar stopped inside a block)` : ''} (${l.inodes} inodes)`);
  }
  return 0;
}
