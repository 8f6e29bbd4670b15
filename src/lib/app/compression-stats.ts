/**
 * How well an EROFS image's files compressed, read back from the image itself (the page shows it
 * after a compressed build; any EROFS image works): per distinct regular file, its logical size
 * against the bytes stored for it, and a histogram of the per-file ratio.
 *
 * Stored bytes of a file: its own pclusters (encoded or raw, inline tails included), plus for a
 * fragment its share of the packed inode's pclusters it lies in (per pcluster: the bytes of the
 * fragment in it times that pcluster's stored / decoded ratio). A pcluster shared by dedupe counts
 * for every file that maps it.
 * Files stored plain (FLAT, inline, chunk-based) count their size: ratio 1.
 */
import { isCompressedLayout } from '../erofs/inode.ts';
import type { ErofsFs } from '../erofs/reader.ts';
import { zExtents, type ZExtent } from '../erofs/zmap.ts';
import { walk } from '../fs/path.ts';
import type { ReadOnlyFs } from '../fs/types.ts';
import type { ByteSource } from '../io/source.ts';
import { openImage } from '../open.ts';
import { erofsOf } from './capabilities.ts';

export interface RatioBucket {
  /** e.g. "2–3×"; "plain" for files not stored compressed */
  label: string;
  /** ratio range [lo, hi) (logical / stored); plain: [1, 1] */
  lo: number;
  hi: number;
  files: number;
  logicalBytes: number;
  storedBytes: number;
}

export interface CompressionStats {
  /** the image file's size */
  imageSize: number;
  /** distinct regular files, their bytes, and the bytes stored for them */
  files: number;
  logicalBytes: number;
  storedBytes: number;
  /** files with a compressed layout */
  compressedFiles: number;
  /** logicalBytes / imageSize: what the whole image saves (metadata included) */
  imageRatio: number;
  /** logicalBytes / storedBytes: file data only */
  dataRatio: number;
  histogram: RatioBucket[];
}

/** bucket edges of the per-file ratio, after the "plain" bucket */
const EDGES = [1, 1.25, 1.5, 2, 3, 4, 8, Infinity];

function edgeText(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(2).replace(/0$/, '');
}

/** Per-file compression of an EROFS (or composefs) image; null for other formats. */
export async function compressionStats(fs: ReadOnlyFs, imageSize: number, signal?: AbortSignal): Promise<CompressionStats | null> {
  const e = erofsOf(fs);
  if (!e) return null;
  const buckets: RatioBucket[] = [{ label: 'plain', lo: 1, hi: 1, files: 0, logicalBytes: 0, storedBytes: 0 }];
  for (let k = 0; k + 1 < EDGES.length; k++) {
    const lo = EDGES[k]!, hi = EDGES[k + 1]!;
    buckets.push({ label: hi === Infinity ? `≥ ${edgeText(lo)}×` : k === 0 ? `< ${edgeText(hi)}×` : `${edgeText(lo)}–${edgeText(hi)}×`, lo: k === 0 ? 0 : lo, hi, files: 0, logicalBytes: 0, storedBytes: 0 });
  }
  const seen = new Set<number>();
  let packed: ZExtent[] | null = null;
  let files = 0, logical = 0, stored = 0, compressed = 0;
  for await (const w of walk(fs)) {
    if (signal?.aborted) throw signal.reason ?? new DOMException('cancelled', 'AbortError');
    if (w.attr.type !== 'reg' || seen.has(w.attr.ino)) continue;
    seen.add(w.attr.ino);
    const size = w.attr.size;
    const own = await storedOf(e, w.attr.ino);
    let s = size;
    if (own) {
      compressed++;
      s = own.pclusters;
      for (const [from, len] of own.fragments) {
        packed ??= await packedExtents(e);
        s += fragmentStored(packed, from, len);
      }
    }
    files++;
    logical += size;
    stored += s;
    const b = !own ? buckets[0]! : buckets.find((x, i) => i > 0 && size / Math.max(1, s) < x.hi)!;
    b.files++;
    b.logicalBytes += size;
    b.storedBytes += s;
  }
  return {
    imageSize, files, logicalBytes: logical, storedBytes: stored, compressedFiles: compressed,
    imageRatio: imageSize > 0 ? logical / imageSize : 1, dataRatio: stored > 0 ? logical / stored : 1,
    histogram: buckets,
  };
}

/** compressionStats of an image file (the page: the image it just built), opened by the usual reader */
export async function compressionStatsOf(image: ByteSource, signal?: AbortSignal): Promise<CompressionStats | null> {
  return compressionStats(await openImage(image), image.size, signal);
}

/** a compressed file's own stored bytes, and its fragments ([offset in the packed inode, length]); null when not compressed */
async function storedOf(e: ErofsFs, nid: number): Promise<{ pclusters: number; fragments: [number, number][] } | null> {
  const i = await e.inode(nid);
  if (!isCompressedLayout(i.layout)) return null;
  const z = await e.zinfo(i);
  let pclusters = 0;
  const fragments: [number, number][] = [];
  for (const x of zExtents(z, Infinity).extents) {
    if (x.algorithm === 'fragment') fragments.push([x.pa, Math.max(0, Math.min(x.end, z.size) - x.la)]);
    else if (x.algorithm !== 'zero') pclusters += x.plen;
  }
  return { pclusters, fragments };
}

/** the packed inode's extents, whole (each from its start to the next one's), in order */
async function packedExtents(e: ErofsFs): Promise<ZExtent[]> {
  const i = await e.inode(e.sb.packedNid);
  if (!isCompressedLayout(i.layout)) return [];
  return zExtents(await e.zinfo(i), Infinity).extents;
}

/**
 * The share of [from, from + len) of the packed inode's data in the pclusters it lies in: per
 * extent, the overlap times the extent's stored / decoded bytes. A plain packed inode (no
 * extents) stores the fragment as it is.
 */
function fragmentStored(packed: ZExtent[], from: number, len: number): number {
  if (packed.length === 0) return len;
  const to = from + len;
  // the first extent ending after `from` (extents are in order and back to back)
  let lo = 0, hi = packed.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (packed[mid]!.end <= from) lo = mid + 1;
    else hi = mid;
  }
  let stored = 0;
  for (let k = lo; k < packed.length && packed[k]!.la < to; k++) {
    const x = packed[k]!;
    const overlap = Math.min(x.end, to) - Math.max(x.la, from);
    if (overlap <= 0) continue;
    stored += x.algorithm === 'zero' ? 0 : (overlap * x.plen) / (x.end - x.la);
  }
  return Math.round(stored);
}
