// A compress-pool thread (src/cli/compress-pool.ts): compresses RAFS chunks with the same function
// the blob writer uses on its own thread, and EROFS files with the writer's own compressFile
// (compressRun, through zFilesServer), so the stored bytes are the same either way.
import { parentPort } from 'node:worker_threads';
import { zFilesServer, type ZFilesJob, type ZMore } from '../lib/app/build-zpool.ts';
import { compressChunk } from '../lib/rafs/builder/blob.ts';
import type { Compressor } from '../lib/rafs/structs.ts';

export interface CompressJob {
  id: number; alg: Compressor; data: Uint8Array; level: 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | undefined;
  /** no data: warm this thread's encoder up (warmUp; compress-pool prepare) */
  warm?: boolean;
  /**
   * a job that can be taken back: its cell claims[slot] goes 0 -> 1 when this thread starts it,
   * 0 -> 2 when the writer takes it back. `claims` comes once (with the warm-up, or the first such
   * job): a shared buffer in every message cost the build's thread ~15 us a chunk
   */
  claims?: Int32Array;
  slot?: number;
}
export type CompressDone = { id: number; z: Uint8Array | null } | { id: number; error: string };

// EROFS: the ZFilesJob / ZMore messages are served as the page's compression workers serve them
export type { ZFilesJob, ZMore, ZFilesDone } from '../lib/app/build-zpool.ts';

const port = parentPort!;
const serveZFiles = zFilesServer((m) => port.postMessage(m));

/**
 * Bytes like the chunks a build compresses, for the warm-up: text, machine-code-like bytes (a few
 * common opcodes, some noise), zero runs, and copies of earlier pieces (near and far matches, some
 * with changed bytes), in pieces of 256 B to 4 KiB, so every path of the encoders runs before V8
 * optimizes them.
 */
function warmUpSample(n: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = 0x2545f491;
  const rnd = () => (x = (Math.imul(x, 1103515245) + 12345) | 0) >>> 8;
  const words = ['the ', 'chunk ', 'block ', 'offset ', 'error: ', 'file ', 'RAFS ', '%s: %d\n', '/usr/lib/', '\0'];
  const ops = [0x48, 0x89, 0x8b, 0xe8, 0x00, 0xff, 0x0f, 0x85, 0x24, 0xc3, 0x41, 0x00];
  let o = 0;
  while (o < n) {
    const end = Math.min(n, o + 256 + (rnd() % 3840));
    const kind = rnd() % 4;
    if (kind === 0) {
      while (o < end) {
        const w = words[rnd() % words.length]!;
        for (let k = 0; k < w.length && o < end; k++) b[o++] = w.charCodeAt(k);
      }
    } else if (kind === 1) {
      while (o < end) b[o++] = rnd() % 5 === 0 ? rnd() & 255 : ops[rnd() % ops.length]!;
    } else if (kind === 2 || o < 4096) {
      o = Math.min(end, o + 16 + (rnd() % 256));
    } else {
      const from = rnd() % (o - 8);
      while (o < end) b[o++] = rnd() % 64 === 0 ? rnd() & 255 : b[from + (o % 4096)]!;
    }
  }
  return b;
}

let warmed = false;
/**
 * Four rounds over a 256 KiB warmUpSample and two smaller pieces of it, once per thread. Through the
 * bundled CLI on 67 MB of /usr/bin (own autogroup at nice -20, load 3.4): 90-103 ms on the
 * thread, after which its first chunks took 12-19 ms a MiB (steady state 9-13); with the old 128 KiB
 * text sample, once, the first chunk took 79 ms.
 */
function warmUp(alg: Compressor, level: CompressJob['level']): void {
  if (warmed) return;
  warmed = true;
  const sample = warmUpSample(256 << 10);
  for (let i = 0; i < 4; i++) {
    compressChunk(alg, sample, level);
    // smaller inputs too (a file's last chunk): their smaller match tables, shorter loops
    compressChunk(alg, sample.subarray(i << 12, (i << 12) + 5000), level);
    compressChunk(alg, sample.subarray(i << 14, (i << 14) + 40_000), level);
  }
}

/** the claim cells of take-back jobs (CompressJob.claims) */
let claims: Int32Array | null = null;

port.on('message', (m: CompressJob | ZFilesJob | ZMore) => {
  if ('kind' in m) {
    serveZFiles(m);
    return;
  }
  if (m.claims) claims = m.claims;
  if (m.warm) {
    warmUp(m.alg, m.level);
    port.postMessage({ id: m.id, z: null } satisfies CompressDone);
    return;
  }
  // taken back by the writer (compressed there): answered without compressing
  if (m.slot !== undefined && Atomics.compareExchange(claims!, m.slot, 0, 1) !== 0) {
    port.postMessage({ id: m.id, z: null } satisfies CompressDone);
    return;
  }
  try {
    const z = compressChunk(m.alg, m.data, m.level);
    // copied, not transferred: the first ArrayBuffer detached in a thread invalidates V8's
    // detaching protector, which deoptimized every optimized encoder function at the first reply
    // (node --trace-deopt: "code dependencies") and cost the thread's second chunk 60-90 ms instead
    // of ~15. A view on a larger buffer (a reused output) is cut first, as the clone copies the whole buffer.
    const out = z && z.byteLength !== z.buffer.byteLength ? z.slice() : z;
    port.postMessage({ id: m.id, z: out } satisfies CompressDone);
  } catch (e) {
    port.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) } satisfies CompressDone);
  }
});
