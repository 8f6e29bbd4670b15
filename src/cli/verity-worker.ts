// A verity-pool thread (src/cli/verity-pool.ts): the fs-verity digests of a batch of local files,
// read and hashed here with the core's synchronous digest (and Node's SHA-256, src/cli/native.ts).
import { closeSync, openSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import './native.ts';
import { fsverityDigestOfReadsInto } from '../lib/codec/fsverity.ts';
import { readFullSync } from '../lib/io/node.ts';

/** `paths`: the batch's paths joined by NUL (one string to clone), `sizes` in the same order */
export interface VerityBatch { id: number; paths: string; sizes: Float64Array }
/** `digests`: 32 bytes per file, in order; `errors[i]` set where file i failed (its digest is zeros) */
export type VerityBatchDone = { id: number; digests: Uint8Array; errors?: (string | null)[] };

const shrank = (at: number): string => `short read at ${at}: the file shrank since it was listed`;
/**
 * bytes read at once (the core's default), into one buffer per thread. Reads of 64 KiB to 1 MiB
 * cost the same: one thread reading and hashing the 1.05 GB bench tree took 1441/1378/1374/1377 ms
 * CPU (min of 3 interleaved, load 3.5) with 64/128/256/1024 KiB pieces; the copy out of the page
 * cache was no dearer for a piece that leaves L2 before it is hashed.
 */
const PIECE = 1 << 20;
const piece = new Uint8Array(PIECE);

/** the file being read (one read function for every file: no closure per file) */
let fd = -1;
let path = '';
const read = (offset: number, length: number): Uint8Array => {
  const buf = piece.subarray(0, length);
  readFullSync(fd, buf, offset, path, shrank);
  return buf;
};

parentPort!.on('message', (m: VerityBatch) => {
  const paths = m.paths.split('\0');
  const digests = new Uint8Array(32 * paths.length);
  let errors: (string | null)[] | undefined;
  for (let i = 0; i < paths.length; i++) {
    path = paths[i]!;
    try {
      fd = openSync(path, 'r');
      try {
        fsverityDigestOfReadsInto(digests, 32 * i, m.sizes[i]!, read, PIECE);
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      digests.fill(0, 32 * i, 32 * i + 32);
      (errors ??= paths.map(() => null))[i] = e instanceof Error ? e.message : String(e);
    }
  }
  parentPort!.postMessage({ id: m.id, digests, ...(errors ? { errors } : {}) } satisfies VerityBatchDone);
});
