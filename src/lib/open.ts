import { FormatError } from './errors.ts';
import type { ByteSource } from './io/source.ts';
import type { FormatId, ReadOnlyFs } from './fs/types.ts';

/** Extra inputs some formats need: RAFS data blobs, EROFS extra devices, a composefs object store. */
export interface OpenOptions {
  /** EROFS extra devices / RAFS blobs, in device-table order or matched by blob id (name) */
  blobs?: ByteSource[];
  /** composefs: resolve a backing path ("xx/yyyy…") to its object, or null when missing */
  objectStore?: (payload: string) => Promise<ByteSource | null>;
}

export interface FormatHandler {
  id: FormatId;
  /** cheap check on the first 8 KiB (or less if the source is smaller) */
  probe(head: Uint8Array): boolean;
  open(src: ByteSource, opts: OpenOptions): Promise<ReadOnlyFs>;
}

const handlers: FormatHandler[] = [];

/** Formats register themselves; more specific formats (composefs, RAFS v6) before plain EROFS. */
export function registerFormat(h: FormatHandler, priority = 0): void {
  (h as FormatHandler & { priority: number }).priority = priority;
  handlers.push(h);
  handlers.sort((a, b) => ((b as { priority?: number }).priority ?? 0) - ((a as { priority?: number }).priority ?? 0));
}

export async function detectFormat(src: ByteSource): Promise<FormatHandler | null> {
  const head = await src.read(0, Math.min(src.size, 8192));
  return handlers.find((h) => h.probe(head)) ?? null;
}

/** Open any image Layerscope reads; the format is decided by magic numbers, never by file name. */
export async function openImage(src: ByteSource, opts: OpenOptions = {}): Promise<ReadOnlyFs> {
  const h = await detectFormat(src);
  if (!h) throw new FormatError('image', 0, `${src.name}: no known magic (not EROFS, composefs or Nydus RAFS)`);
  return h.open(src, opts);
}
