// A compress-pool thread (src/cli/compress-pool.ts): compresses RAFS chunks with the same function
// the blob writer uses on its own thread, and EROFS files with the writer's own compressFile
// (compressRun, through zFilesServer), so the stored bytes are the same either way.
import { parentPort } from 'node:worker_threads';
import { zFilesServer, type ZFilesJob, type ZMore } from '../lib/app/build-zpool.ts';
import { compressChunk } from '../lib/rafs/builder/blob.ts';
import type { Compressor } from '../lib/rafs/structs.ts';

export interface CompressJob { id: number; alg: Compressor; data: Uint8Array; level: 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | undefined }
export type CompressDone = { id: number; z: Uint8Array | null } | { id: number; error: string };

// EROFS: the ZFilesJob / ZMore messages are served as the page's compression workers serve them
export type { ZFilesJob, ZMore, ZFilesDone } from '../lib/app/build-zpool.ts';

const port = parentPort!;
const serveZFiles = zFilesServer((m, transfer) => port.postMessage(m, transfer));

port.on('message', (m: CompressJob | ZFilesJob | ZMore) => {
  if ('kind' in m) {
    serveZFiles(m);
    return;
  }
  try {
    const z = compressChunk(m.alg, m.data, m.level);
    // a fresh buffer of exactly the result, so transferring it detaches nothing an encoder keeps
    const out = z ? z.slice() : null;
    port.postMessage({ id: m.id, z: out } satisfies CompressDone, out ? [out.buffer] : []);
  } catch (e) {
    port.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) } satisfies CompressDone);
  }
});
