// A verity-pool thread (src/cli/verity-pool.ts): the fs-verity digest of one local file, read and
// hashed here with the same core function (and Node's SHA-256) the build uses on its own thread.
import { closeSync, openSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import './native.ts';
import { fsverityDigest } from '../lib/codec/fsverity.ts';
import { readFullSync } from '../lib/io/node.ts';

export interface VerityJob { id: number; path: string; size: number }
export type VerityDone = { id: number; digest: Uint8Array } | { id: number; error: string };

const shrank = (at: number): string => `short read at ${at}: the file shrank since it was listed`;
/** one read buffer per thread: filled and hashed with no wait in between */
const piece = new Uint8Array(1 << 20);

parentPort!.on('message', async (m: VerityJob) => {
  let fd = -1;
  try {
    fd = openSync(m.path, 'r');
    const f = fd;
    const digest = await fsverityDigest({
      size: m.size,
      name: m.path,
      read: async (offset, length) => {
        const buf = length <= piece.length ? piece.subarray(0, length) : new Uint8Array(length);
        readFullSync(f, buf, offset, m.path, shrank);
        return buf;
      },
    });
    parentPort!.postMessage({ id: m.id, digest } satisfies VerityDone);
  } catch (e) {
    parentPort!.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) } satisfies VerityDone);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
});
