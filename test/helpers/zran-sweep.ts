// Opener for the ZRAN corruption sweep (test/rafs-corrupt.test.ts): the swept "image" is the RAFS
// meta blob (CI rows, ZranInflateContexts, windows, header); extras are [bootstrap, gzip layer].
// The meta blob is handed over under the name the bootstrap's blob_meta_digest gives it, so a
// damaged one is still parsed rather than left unmatched.
import { hex } from '../../src/lib/bytes.ts';
import type { ReadOnlyFs } from '../../src/lib/fs/types.ts';
import { SliceSource, type ByteSource } from '../../src/lib/io/source.ts';
import { openRafs } from '../../src/lib/rafs/index.ts';

export async function openZranWithMeta(meta: ByteSource, o: { blobs?: ByteSource[] }): Promise<ReadOnlyFs> {
  const [boot, layer] = o.blobs ?? [];
  if (!boot || !layer) throw new Error('zran sweep: extras must be [bootstrap, layer]');
  const probe = await openRafs(boot, { blobs: [] });
  const want = hex(probe.blobs[0]!.blobMetaDigest!);
  return openRafs(boot, { blobs: [layer, new SliceSource(meta, 0, meta.size, want)] });
}
