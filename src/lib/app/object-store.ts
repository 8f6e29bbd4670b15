// A composefs build's backing objects (BackingObject: `xx/yyyy…` payload paths) written out for
// the page: as a zip, or into a folder the caller opens files in (workers/builder.ts hands in a
// FileSystemDirectoryHandle-backed ObjectFiles). The CLI copies them with the kernel instead
// (src/cli/build.ts writeObjectStore).
import { Zip, ZipPassThrough } from 'fflate';
import type { BackingObject } from '../composefs/objects.ts';
import { crc32 } from '../codec/crc32.ts';
import type { Sink } from '../erofs/writer-output.ts';
import type { OutputFile } from './build-layers.ts';

/** bytes of an object read at a time */
const PIECE = 4 << 20;

type Obj = Pick<BackingObject, 'payload' | 'content' | 'size'>;

/**
 * The objects as a zip into `sink` (stored, not deflated: objects are usually compressed already),
 * entries named by payload path, with a fixed mtime (2000-01-01) so the same objects zip the same.
 */
export async function zipObjects(objects: readonly Obj[], sink: Sink, signal?: AbortSignal): Promise<void> {
  const out: Uint8Array[] = [];
  let failed: unknown = null;
  let ended = false;
  const zip = new Zip((err, chunk, final) => {
    if (err) failed = err;
    out.push(chunk);
    if (final) ended = true;
  });
  const flush = async (): Promise<void> => {
    for (const c of out.splice(0)) await sink.write(c);
  };
  for (const o of objects) {
    const e = new ZipPassThrough(o.payload);
    fastCrc(e);
    e.mtime = new Date(Date.UTC(2000, 0, 1));
    zip.add(e);
    if (o.size === 0) e.push(new Uint8Array(0), true);
    for (let off = 0; off < o.size; off += PIECE) {
      signal?.throwIfAborted();
      const n = Math.min(PIECE, o.size - off);
      e.push(await o.content.read(off, n), off + n >= o.size);
      await flush();
    }
    if (failed) throw failed;
  }
  zip.end();
  if (failed) throw failed;
  if (!ended) throw new Error('zip did not finish');
  await flush();
}

/**
 * fflate 0.8's ZipPassThrough keeps an entry's CRC-32 in `c` ({p: update, d: value}) and computes
 * it a byte at a time: in a CPU profile of the page's composefs + objects-zip build of 342 MB
 * (bench/build-browser.ts --profile) that loop was 2.6 s of the builder worker's 20.8 s. Ours
 * (codec/crc32.ts, slicing-by-8) gives the same value, so the zip's bytes do not change.
 */
function fastCrc(e: ZipPassThrough): void {
  const inner = e as unknown as { c?: { p(d: Uint8Array): void; d(): number } };
  if (typeof inner.c?.p !== 'function') return; // another fflate: keep its own
  let crc = 0;
  inner.c = { p: (d) => void (crc = crc32(d, crc)), d: () => crc | 0 };
}

/** Where objects are stored: files by payload path (`xx/yyyy…`). */
export interface ObjectFiles<F extends OutputFile> {
  /** the size of the object already stored under `payload`, 0 when there is none */
  storedSize(payload: string): Promise<number>;
  /** a new file for `payload` (replacing what is there) */
  create(payload: string): Promise<F>;
}

/**
 * The objects into an object store; one already there with the right size is kept (the store is
 * content-addressed). Returns how many were written.
 */
export async function storeObjects<F extends OutputFile>(objects: readonly Obj[], store: ObjectFiles<F>, signal?: AbortSignal): Promise<number> {
  let written = 0;
  for (const o of objects) {
    signal?.throwIfAborted();
    if (o.size > 0 && (await store.storedSize(o.payload)) === o.size) continue;
    const f = await store.create(o.payload);
    try {
      for (let off = 0; off < o.size; off += PIECE) {
        signal?.throwIfAborted();
        await f.write(await o.content.read(off, Math.min(PIECE, o.size - off)));
      }
      await f.close();
    } catch (e) {
      await Promise.resolve().then(() => f.abort()).catch(() => {});
      throw e;
    }
    written++;
  }
  return written;
}
