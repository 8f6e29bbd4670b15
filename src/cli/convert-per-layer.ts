// `convert IMAGE --to erofs --per-layer OUTDIR`: one EROFS per layer in tar-index mode.
import { UnsupportedError } from '../lib/errors.ts';
import type { LoadedOci } from '../lib/oci/index.ts';

export async function convertErofsPerLayer(_img: LoadedOci, _to: string, _outDir: string, _v: Record<string, unknown>): Promise<number> {
  throw new UnsupportedError('convert --per-layer', 'not built yet');
}
