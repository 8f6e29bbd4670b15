/**
 * The backing objects of a composefs image built from a tree with content (`mkcomposefs
 * --digest-store`): every regular file the image does not inline is stored as
 * `<store>/xx/yyyy…`, named by the fs-verity digest of its content.
 */
import { fsverityDigests } from '../codec/fsverity.ts';
import { inodesOf, type SourceTree } from '../fs/tree.ts';
import type { ByteSource } from '../io/source.ts';
import { DEFAULT_INLINE_MAX } from './writer.ts';
import { digestToPayload } from './verity.ts';

export interface BackingObject {
  /** "xx/yyyy…" relative to the object store */
  payload: string;
  content: ByteSource;
  size: number;
  /** fs-verity SHA-256 digest of the content */
  digest: Uint8Array;
}

export interface ObjectsOptions {
  /** same as ComposefsOptions.inlineMax: files up to this size stay in the image (default 64) */
  inlineMax?: number;
  /** digests streamed on this thread at once (default 4; a registered file digester takes all at once) */
  concurrency?: number;
}

/**
 * One entry per distinct object, in tree order. Digests that were missing are stored in the
 * inodes (`fsverityDigest`), so a following `buildComposefs` of the same tree does not hash again.
 */
export async function objectsOf(tree: SourceTree, opts: ObjectsOptions = {}): Promise<BackingObject[]> {
  const inlineMax = opts.inlineMax ?? DEFAULT_INLINE_MAX;
  const files = inodesOf(tree.root).filter((n) => n.type === 'reg' && n.size > 0 && n.content && !(n.inline ?? n.size <= inlineMax));
  const missing = files.filter((n) => !n.fsverityDigest);
  const digests = await fsverityDigests(missing.map((n) => n.content!), opts.concurrency ?? 4);
  missing.forEach((n, i) => (n.fsverityDigest = digests[i]!));
  const out: BackingObject[] = [];
  const byPayload = new Set<string>();
  const dec = new TextDecoder();
  for (const n of files) {
    const payload = n.payload ? dec.decode(n.payload) : digestToPayload(n.fsverityDigest!);
    if (byPayload.has(payload)) continue;
    byPayload.add(payload);
    out.push({ payload, content: n.content!, size: n.size, digest: n.fsverityDigest! });
  }
  return out;
}
