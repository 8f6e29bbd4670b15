import { FormatError } from '../errors.ts';
import type { ByteSource } from '../io/source.ts';
import { readTar, sourceInput } from '../tar/reader.ts';
import { splitRawPath } from '../fs/sources/names.ts';
import { utf8 } from '../fs/types.ts';
import { isImageLayout } from './files.ts';

/**
 * A plain tar holding an image layout (oci-archive, docker save), by its names (isImageLayout: a
 * tar of a folder that merely holds a manifest.json stays a layer), read by headers with contents
 * skipped, at most `maxEntries` of them: an image archive has a few files per layer, and a layer tar
 * of thousands of entries is not walked to its end for this.
 */
export async function looksLikeOciArchive(src: ByteSource, maxEntries = 1024): Promise<boolean> {
  const paths: string[] = [];
  try {
    for await (const { entry } of readTar(sourceInput(src))) {
      if (entry.type === 'reg') paths.push(splitRawPath(entry.path).map(utf8).join('/'));
      if (paths.length >= maxEntries) return false;
    }
  } catch (e) {
    // not a tar this reader takes: then not an image archive either
    if (e instanceof FormatError) return false;
    throw e;
  }
  return isImageLayout(paths);
}
