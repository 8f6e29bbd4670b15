import { FormatError } from './errors.ts';
import type { ByteSource } from './io/source.ts';
import type { FormatId, ReadOnlyFs } from './fs/types.ts';
import type { ChunkCache } from './rafs/chunkcache.ts';

/** Extra inputs some formats need: RAFS data blobs, EROFS extra devices, a composefs object store. */
export interface OpenOptions {
  /** EROFS extra devices / RAFS blobs, in device-table order or matched by blob id (name) */
  blobs?: ByteSource[];
  /** composefs: resolve a backing path ("xx/yyyy…") to its object, or null when missing */
  objectStore?: (payload: string) => Promise<ByteSource | null>;
  /** RAFS: decompressed, verified chunks (IndexedDB in the page, memory in Node) */
  cache?: ChunkCache;
  /** RAFS: verify each chunk's digest as it is read (default true) */
  verifyChunks?: boolean;
}

export interface FormatHandler {
  id: FormatId;
  /** cheap check on the first 8 KiB (or less if the source is smaller) */
  probe(head: Uint8Array): boolean;
  /** for formats recognised elsewhere than at the start (a Nydus blob carrying its bootstrap at the end) */
  probeSource?(src: ByteSource): Promise<boolean>;
  open(src: ByteSource, opts: OpenOptions): Promise<ReadOnlyFs>;
}

const handlers: FormatHandler[] = [];

/** Formats register themselves; more specific formats (composefs, RAFS v6) before plain EROFS. */
export function registerFormat(h: FormatHandler, priority = 0): void {
  (h as FormatHandler & { priority: number }).priority = priority;
  handlers.push(h);
  handlers.sort((a, b) => ((b as { priority?: number }).priority ?? 0) - ((a as { priority?: number }).priority ?? 0));
}

/** The format whose magic is in the first 8 KiB (not one recognised elsewhere, like a Nydus blob's inline bootstrap). */
export async function detectFormatByHead(src: ByteSource): Promise<FormatHandler | null> {
  const head = await src.read(0, Math.min(src.size, 8192));
  return handlers.find((h) => h.probe(head)) ?? null;
}

export async function detectFormat(src: ByteSource): Promise<FormatHandler | null> {
  const byHead = await detectFormatByHead(src);
  if (byHead) return byHead;
  for (const h of handlers) if (h.probeSource && (await h.probeSource(src))) return h;
  return null;
}

/** Open any image Layerscope reads; the format is decided by magic numbers, never by file name. */
export async function openImage(src: ByteSource, opts: OpenOptions = {}): Promise<ReadOnlyFs> {
  const h = await detectFormat(src);
  if (!h) throw new FormatError('image', 0, `${src.name}: no known magic (not EROFS, composefs or Nydus RAFS)`);
  return h.open(src, opts);
}
