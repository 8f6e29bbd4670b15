/** Searching an open image: names and paths (substring or glob), and bytes in a file or the image. */
import { walk } from '../fs/path.ts';
import type { FileType, ReadOnlyFs } from '../fs/types.ts';
import type { ByteSource } from '../io/source.ts';
import { compileMatcher } from '../inspect/match.ts';
import { nameOf } from './names.ts';

export interface SearchHit {
  path: string;
  ino: number;
  type: FileType;
  size: number;
  /** false when a component is not shown exactly (the path cannot be put in a link) */
  utf8: boolean;
}

export interface SearchResult {
  hits: number;
  scanned: number;
  truncated: boolean;
  cancelled: boolean;
}

/**
 * Every path whose name (or whole path, when the query has '/') matches, handed to `onBatch` in
 * batches of up to 200 or every 100 ms; stops after `limit` hits or when `signal` aborts.
 */
export async function searchNames(
  fs: ReadOnlyFs, query: string, onBatch: (hits: SearchHit[], scanned: number) => unknown, opts: { limit?: number; signal?: AbortSignal } = {},
): Promise<SearchResult> {
  const limit = opts.limit ?? 10_000;
  const m = compileMatcher(query);
  let batch: SearchHit[] = [];
  let hits = 0;
  let scanned = 0;
  let last = Date.now();
  // a directory's rendered path, kept under its name bytes (the walk hands every child the same
  // component objects): each entry renders only its own name
  const dirs = new WeakMap<Uint8Array, { path: string; utf8: boolean }>();
  const root = { path: '', utf8: true };
  for await (const e of walk(fs)) {
    if (opts.signal?.aborted) return { hits, scanned, truncated: false, cancelled: true };
    scanned++;
    if (e.path.length === 0) continue;
    const own = e.path[e.path.length - 1]!;
    const up = e.path.length === 1 ? root : dirs.get(e.path[e.path.length - 2]!) ?? {
      path: e.path.slice(0, -1).map((c) => '/' + nameOf(c).text).join(''),
      utf8: e.path.slice(0, -1).every((c) => nameOf(c).hex === undefined),
    };
    const name = nameOf(own);
    const path = `${up.path}/${name.text}`;
    const utf8 = up.utf8 && name.hex === undefined;
    if (e.attr.type === 'dir') dirs.set(own, { path, utf8 });
    if (m.test(path)) {
      hits++;
      batch.push({ path, ino: e.attr.ino, type: e.attr.type, size: e.attr.size, utf8 });
      if (hits >= limit) break;
    }
    if (batch.length >= 200 || Date.now() - last > 100) {
      onBatch(batch, scanned);
      batch = [];
      last = Date.now();
    }
  }
  // awaited: over a worker boundary the callback travels on its own port, and the last hits must
  // arrive before the result
  await onBatch(batch, scanned);
  return { hits, scanned, truncated: hits >= limit, cancelled: false };
}

export const MAX_NEEDLE = 4096;

/**
 * First offset ≥ `from` where `needle` occurs in `size` bytes read by `read`; -1 when absent. Reads
 * 1 MiB at a time with an overlap of needle-1 bytes.
 */
export async function findBytes(
  size: number, read: (offset: number, length: number) => Promise<Uint8Array>, needle: Uint8Array, from: number, signal?: AbortSignal,
): Promise<number> {
  if (needle.length === 0 || needle.length > MAX_NEEDLE) throw new RangeError(`search for 1 to ${MAX_NEEDLE} bytes, not ${needle.length}`);
  const STEP = 1 << 20;
  const first = needle[0]!;
  for (let o = Math.max(0, from); o + needle.length <= size; o += STEP) {
    if (signal?.aborted) throw new DOMException('search cancelled', 'AbortError');
    const b = await read(o, Math.min(STEP + needle.length - 1, size - o));
    for (let i = b.indexOf(first); i >= 0 && i + needle.length <= b.length; i = b.indexOf(first, i + 1)) {
      let k = 1;
      while (k < needle.length && b[i + k] === needle[k]) k++;
      if (k === needle.length) return o + i;
    }
  }
  return -1;
}

/** findBytes in a file (ino) or in the image's own bytes (ino null). */
export async function findBytesIn(fs: ReadOnlyFs, image: ByteSource, ino: number | null, needle: Uint8Array, from: number, signal?: AbortSignal): Promise<number> {
  if (ino === null) return findBytes(image.size, (o, n) => image.read(o, n), needle, from, signal);
  const size = (await fs.getattr(ino)).size;
  return findBytes(size, (o, n) => fs.read(ino, o, n), needle, from, signal);
}
