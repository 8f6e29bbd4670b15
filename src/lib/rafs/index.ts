/**
 * Entry points: open a RAFS v5/v6 bootstrap, or a data blob that carries its bootstrap (ToC
 * `image.boot` entry or a trailing [image.boot] section), with its data blobs.
 */
import { FormatError } from '../errors.ts';
import { BytesSource, type ByteSource } from '../io/source.ts';
import { findInlineBootstrap, looksLikeBlobWithBootstrap } from './blob.ts';
import { hex, type RafsFs, type RafsOpenOptions } from './model.ts';
import { isV5, RafsV5 } from './v5.ts';
import { isV6, RafsV6 } from './v6.ts';

export { RafsV5 } from './v5.ts';
export { RafsV6 } from './v6.ts';
export { MissingBlobError, matchBlobs, BlobStore, type BlobBinding } from './blobstore.ts';
export { MemoryChunkCache, type ChunkCache } from './chunkcache.ts';
export type { RafsFs, RafsBlob, RafsChunk, RafsOpenOptions, MetadataIssue } from './model.ts';

export function probeRafsV5(head: Uint8Array): boolean {
  return isV5(head);
}
export function probeRafsV6(head: Uint8Array): boolean {
  return isV6(head);
}

async function openBootstrap(src: ByteSource, opts: RafsOpenOptions): Promise<RafsFs | null> {
  const head = await src.read(0, Math.min(src.size, 8192));
  if (isV5(head)) return RafsV5.open(src, opts);
  if (isV6(head)) return RafsV6.open(src, opts);
  return null;
}

/** A data blob with an inlined bootstrap: the bootstrap opens with this blob bound to its own entry. */
export async function openRafsBlob(blob: ByteSource, opts: RafsOpenOptions = {}): Promise<RafsFs> {
  const inline = await findInlineBootstrap(blob);
  if (!inline) throw new FormatError('rafs.blob', blob.size, `${blob.name}: no ToC image.boot entry and no trailing [image.boot] section`);
  const boot = new BytesSource(inline.bytes, `${blob.name}#image.boot`);
  const fs = await openBootstrap(boot, { ...opts, container: blob, blobs: [blob, ...(opts.blobs ?? []).filter((b) => b !== blob)] });
  if (!fs) throw new FormatError('rafs.blob', inline.offset, `${blob.name}: the inlined image.boot is neither RAFS v5 nor v6`);
  fs.origin = {
    blob: blob.name, via: inline.via, offset: inline.offset, stored_size: inline.storedSize, size: inline.bytes.length,
    ...(inline.toc ? { toc: { offset: inline.toc.offset, size: inline.toc.size, digest: hex(inline.toc.digest), entries: inline.toc.entries.map((e) => e.name) } } : {}),
  };
  return fs;
}

/** Open a bootstrap (v5 or v6) or, failing the magic checks, a data blob carrying one. */
export async function openRafs(src: ByteSource, opts: RafsOpenOptions = {}): Promise<RafsFs> {
  const fs = await openBootstrap(src, opts);
  if (fs) return fs;
  if (await looksLikeBlobWithBootstrap(src)) return openRafsBlob(src, opts);
  throw new FormatError('rafs', 0, `${src.name}: not a RAFS v5/v6 bootstrap nor a data blob with an inlined bootstrap`);
}

/** For openImage's fallback: a blob is recognised by its tail, not its first bytes. */
export { looksLikeBlobWithBootstrap };
