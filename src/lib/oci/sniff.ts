import { FormatError } from '../errors.ts';
import type { ByteSource } from '../io/source.ts';
import { readTar, sourceInput } from '../tar/reader.ts';
import { splitRawPath } from '../fs/sources/names.ts';
import { utf8 } from '../fs/types.ts';

const TOP = new Set(['oci-layout', 'index.json', 'manifest.json']);

/**
 * A plain tar holding an image layout (oci-archive, docker save) by its top-level file names,
 * read by headers (contents skipped), at most `maxEntries` of them: an image archive has a few
 * files per layer, a layer tar with thousands of entries is never walked to its end for this.
 */
export async function looksLikeOciArchive(src: ByteSource, maxEntries = 1024): Promise<boolean> {
  let n = 0;
  try {
    for await (const { entry } of readTar(sourceInput(src))) {
      const comps = splitRawPath(entry.path);
      if (entry.type === 'reg' && comps.length === 1 && TOP.has(utf8(comps[0]!))) return true;
      if (++n >= maxEntries) return false;
    }
  } catch (e) {
    // not a tar this reader takes: then not an image archive either
    if (e instanceof FormatError) return false;
    throw e;
  }
  return false;
}
