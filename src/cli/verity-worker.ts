// A verity-pool thread (src/cli/verity-pool.ts): the fs-verity digests of a batch of local files,
// read and hashed here with the core's synchronous digest (and Node's SHA-256, src/cli/native.ts).
import { closeSync, openSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import './native.ts';
import { fsverityDigestOfReads } from '../lib/codec/fsverity.ts';
import { readFullSync } from '../lib/io/node.ts';

/** `paths`: the batch's paths joined by NUL (one string to clone), `sizes` in the same order */
export interface VerityBatch { id: number; paths: string; sizes: Float64Array }
/** `digests`: 32 bytes per file, in order; `errors[i]` set where file i failed (its digest is zeros) */
export type VerityBatchDone = { id: number; digests: Uint8Array; errors?: (string | null)[] };

const shrank = (at: number): string => `short read at ${at}: the file shrank since it was listed`;
/** bytes read at once (the core's default), into one buffer per thread */
const PIECE = 1 << 20;
const piece = new Uint8Array(PIECE);

function digestFile(path: string, size: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    return fsverityDigestOfReads(size, (offset, length) => {
      const buf = piece.subarray(0, length);
      readFullSync(fd, buf, offset, path, shrank);
      return buf;
    }, PIECE);
  } finally {
    closeSync(fd);
  }
}

parentPort!.on('message', (m: VerityBatch) => {
  const paths = m.paths.split('\0');
  const digests = new Uint8Array(32 * paths.length);
  let errors: (string | null)[] | undefined;
  for (let i = 0; i < paths.length; i++) {
    try {
      digests.set(digestFile(paths[i]!, m.sizes[i]!), 32 * i);
    } catch (e) {
      (errors ??= paths.map(() => null))[i] = e instanceof Error ? e.message : String(e);
    }
  }
  parentPort!.postMessage({ id: m.id, digests, ...(errors ? { errors } : {}) } satisfies VerityBatchDone, [digests.buffer]);
});
