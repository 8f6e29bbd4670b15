// A compress-pool thread (src/cli/compress-pool.ts): compresses RAFS chunks with the same function
// the blob writer uses on its own thread, and EROFS files with the writer's own compressFile
// (compressRun), so the stored bytes are the same either way.
import { parentPort } from 'node:worker_threads';
import { compressRun, ZImage, type ZConfig, type ZFile, type ZPoolFile } from '../lib/erofs/writer-compress.ts';
import { compressChunk } from '../lib/rafs/builder/blob.ts';
import type { Compressor } from '../lib/rafs/structs.ts';

export interface CompressJob { id: number; alg: Compressor; data: Uint8Array; level: 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | undefined }
export type CompressDone = { id: number; z: Uint8Array | null } | { id: number; error: string };

/** EROFS: compress `files`, their content back to back in `bytes` (the last file's rest follows in ZMore messages) */
export interface ZFilesJob { id: number; kind: 'zfiles'; z: ZConfig; files: ZPoolFile[]; bytes: Uint8Array }
export interface ZMore { id: number; kind: 'zmore'; bytes: Uint8Array }
/** a ZMore piece taken (note = its length), then the result */
export type ZFilesDone = { id: number; note: number } | { id: number; files: (ZFile | null)[] } | { id: number; error: string };

const port = parentPort!;

/** one ZImage (encoder and reused buffers) per configuration */
const images = new Map<string, ZImage>();
/** pieces of streamed files not yet taken, and a job waiting for its next one */
const streams = new Map<number, { queue: Uint8Array[]; waiter: ((b: Uint8Array) => void) | null }>();
/** EROFS jobs run one after another, in the order they came */
let chain: Promise<void> = Promise.resolve();

async function runFiles(m: ZFilesJob): Promise<void> {
  const s = streams.get(m.id)!;
  try {
    const key = JSON.stringify(m.z);
    let zi = images.get(key);
    if (!zi) images.set(key, (zi = new ZImage(m.z)));
    const more = async (): Promise<Uint8Array> => {
      const b = s.queue.shift() ?? (await new Promise<Uint8Array>((ok) => (s.waiter = ok)));
      port.postMessage({ id: m.id, note: b.length } satisfies ZFilesDone);
      return b;
    };
    const files = await compressRun(zi, m.files, m.bytes, more);
    // each ZFile's data and inline tail are copies of their own (compressFile), so handing them over detaches nothing the image keeps
    const transfer = new Set<ArrayBuffer>();
    for (const f of files) {
      if (!f) continue;
      if (f.data) transfer.add(f.data.buffer as ArrayBuffer);
      if (f.tail) transfer.add(f.tail.bytes.buffer as ArrayBuffer);
    }
    port.postMessage({ id: m.id, files } satisfies ZFilesDone, [...transfer]);
  } catch (e) {
    port.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) } satisfies ZFilesDone);
  } finally {
    streams.delete(m.id);
  }
}

port.on('message', (m: CompressJob | ZFilesJob | ZMore) => {
  if ('kind' in m) {
    if (m.kind === 'zfiles') {
      streams.set(m.id, { queue: [], waiter: null });
      chain = chain.then(() => runFiles(m));
    } else {
      const s = streams.get(m.id);
      if (!s) return;
      if (s.waiter) {
        const w = s.waiter;
        s.waiter = null;
        w(m.bytes);
      } else s.queue.push(m.bytes);
    }
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
