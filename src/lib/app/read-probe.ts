// Diagnostics for the build benchmark (bench/build-browser.ts, through workers/builder.ts): read
// every regular file of a source tree once, with no build, to tell reading from hashing apart.
import { inodesOf, type SourceInode, type SourceTree } from '../fs/tree.ts';
import { BlobSource, type ByteSource } from '../io/source.ts';
import { StreamingBlobSource } from './stream-source.ts';
import { sha256 } from '../codec/sha256.ts';

/**
 * Every file of `tree` read in `piece`-byte reads (`piece` 0: through the Blob's own stream, for
 * comparison with sliced reads), `concurrency` files at once, each 4 KiB block optionally SHA-256'd
 * with WebCrypto (`hash` true or 'webcrypto') or with our JS SHA-256 ('js', as the hashing pool's
 * workers do). `originals` gives a file's unmetered source where a build wrapped it.
 */
export async function probeReads(
  tree: SourceTree, originals: WeakMap<SourceInode, ByteSource>, piece = 4 << 20, hash: boolean | 'webcrypto' | 'js' = false, concurrency = 1,
): Promise<{ bytes: number; ms: number }> {
  const files: ByteSource[] = [];
  for (const n of inodesOf(tree.root)) {
    const src = originals.get(n) ?? n.content;
    if (n.type === 'reg' && src) files.push(src);
  }
  const t0 = performance.now();
  let bytes = 0;
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const f = files[next++]!;
      if (piece === 0 && (f instanceof BlobSource || f instanceof StreamingBlobSource)) {
        bytes += await streamBytes(f.blob);
        continue;
      }
      for (let o = 0; o < f.size; o += piece) {
        const b = await f.read(o, Math.min(piece, f.size - o));
        bytes += b.length;
        if (hash === 'js') {
          for (let k = 0; k < b.length; k += 4096) sha256(b.subarray(k, Math.min(b.length, k + 4096)));
        } else if (hash) {
          const ps: Promise<ArrayBuffer>[] = [];
          for (let k = 0; k < b.length; k += 4096) ps.push(crypto.subtle.digest('SHA-256', b.subarray(k, Math.min(b.length, k + 4096)) as Uint8Array<ArrayBuffer>));
          await Promise.all(ps);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { bytes, ms: performance.now() - t0 };
}

/** a Blob read through its own stream, the bytes counted and dropped (also the split read probe's workers, workers/read-probe.ts) */
export async function streamBytes(blob: Blob): Promise<number> {
  const r = blob.stream().getReader();
  let n = 0;
  for (;;) {
    const { done, value } = await r.read();
    if (done) return n;
    n += value.length;
  }
}

/** the Blobs behind the regular files of `tree` (dropped Files), for reads on other workers */
export function fileBlobs(tree: SourceTree, originals: WeakMap<SourceInode, ByteSource>): Blob[] {
  const out: Blob[] = [];
  for (const n of inodesOf(tree.root)) {
    const src = originals.get(n) ?? n.content;
    if (n.type === 'reg' && (src instanceof BlobSource || src instanceof StreamingBlobSource)) out.push(src.blob);
  }
  return out;
}

/** `blobs` dealt to `n` groups of about equal bytes (largest first, each to the lightest group) */
export function splitBySize(blobs: readonly Blob[], n: number): Blob[][] {
  const groups = Array.from({ length: n }, () => ({ blobs: [] as Blob[], bytes: 0 }));
  for (const b of [...blobs].sort((x, y) => y.size - x.size)) {
    const g = groups.reduce((a, x) => (x.bytes < a.bytes ? x : a));
    g.blobs.push(b);
    g.bytes += b.size;
  }
  return groups.map((g) => g.blobs);
}
