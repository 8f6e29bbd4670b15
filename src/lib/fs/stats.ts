import { walk } from './path.ts';
import type { FileType, ReadOnlyFs } from './types.ts';

export interface Histogram {
  /** bucket i holds values in [2^(i-1), 2^i); bucket 0 holds 0 */
  buckets: { upTo: number; count: number; bytes: number }[];
}

export function histogramAdd(h: Histogram, v: number): void {
  const i = v <= 0 ? 0 : Math.min(63, Math.floor(Math.log2(v)) + 1);
  while (h.buckets.length <= i) h.buckets.push({ upTo: 2 ** h.buckets.length, count: 0, bytes: 0 });
  h.buckets[i]!.count++;
  h.buckets[i]!.bytes += v;
}

export interface TreeStats {
  entries: number;
  inodes: number;
  counts: Record<FileType, number>;
  /** regular-file bytes, each inode once */
  bytes: number;
  hardlinkedInodes: number;
  largest: { path: string; size: number }[];
  fileSizes: Histogram;
}

/** Counts, sizes and the largest files of any image, by walking it once. */
export async function treeStats(fs: ReadOnlyFs, opts: { signal?: AbortSignal; top?: number } = {}): Promise<TreeStats> {
  const top = opts.top ?? 10;
  const st: TreeStats = { entries: 0, inodes: 0, counts: { reg: 0, dir: 0, symlink: 0, chr: 0, blk: 0, fifo: 0, sock: 0 }, bytes: 0, hardlinkedInodes: 0, largest: [], fileSizes: { buckets: [] } };
  const seen = new Set<number>();
  const dec = new TextDecoder();
  for await (const { path, attr } of walk(fs)) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
    st.entries++;
    if (seen.has(attr.ino)) continue;
    seen.add(attr.ino);
    st.inodes++;
    st.counts[attr.type]++;
    if (attr.type !== 'reg') continue;
    if (attr.nlink > 1) st.hardlinkedInodes++;
    st.bytes += attr.size;
    histogramAdd(st.fileSizes, attr.size);
    if (st.largest.length < top || attr.size > st.largest[st.largest.length - 1]!.size) {
      st.largest.push({ path: '/' + path.map((c) => dec.decode(c)).join('/'), size: attr.size });
      st.largest.sort((a, b) => b.size - a.size);
      if (st.largest.length > top) st.largest.pop();
    }
  }
  return st;
}
