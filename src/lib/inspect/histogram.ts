/**
 * Size histograms for the stats view: power-of-two buckets ([0], [1,2), [2,4), … [2^k, 2^(k+1))),
 * each with a count and the bytes it holds, trimmed to the first and last non-empty bucket.
 */
export interface Bucket {
  /** inclusive lower bound in bytes */
  lo: number;
  /** exclusive upper bound (lo + 1 for the zero bucket) */
  hi: number;
  count: number;
  bytes: number;
}

export function bucketOf(size: number): number {
  if (!(size > 0)) return 0;
  return Math.min(63, Math.floor(Math.log2(size)) + 1);
}

export class SizeHistogram {
  private readonly counts = new Array<number>(64).fill(0);
  private readonly bytes = new Array<number>(64).fill(0);
  total = 0;
  totalBytes = 0;

  add(size: number, times = 1): void {
    const b = bucketOf(size);
    this.counts[b]! += times;
    this.bytes[b]! += size * times;
    this.total += times;
    this.totalBytes += size * times;
  }

  buckets(): Bucket[] {
    let first = this.counts.findIndex((c) => c > 0);
    if (first < 0) return [];
    let last = 63;
    while (this.counts[last] === 0) last--;
    const out: Bucket[] = [];
    for (let b = first; b <= last; b++) {
      const lo = b === 0 ? 0 : 2 ** (b - 1);
      out.push({ lo, hi: b === 0 ? 1 : 2 ** b, count: this.counts[b]!, bytes: this.bytes[b]! });
    }
    first = 0;
    return out;
  }
}

/** Dedup ratio as nydus reports it: bytes files reference / bytes stored once (≥ 1; 1 with nothing stored). */
export function dedupRatio(referencedBytes: number, storedBytes: number): number {
  return storedBytes > 0 ? referencedBytes / storedBytes : 1;
}
