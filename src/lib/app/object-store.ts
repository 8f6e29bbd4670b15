// A composefs build's backing objects (BackingObject: `xx/yyyy…` payload paths) written out for
// the page: as a zip, or into a folder the caller opens files in (workers/builder.ts hands in a
// FileSystemDirectoryHandle-backed ObjectFiles). The CLI copies them with the kernel instead
// (src/cli/build.ts writeObjectStore).
import type { BackingObject } from '../composefs/objects.ts';
import { ZipWriter } from '../io/zip-writer.ts';
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
  const zip = new ZipWriter(sink);
  for (const o of objects) {
    signal?.throwIfAborted();
    await zip.add({ name: o.payload, size: o.size, mtime: MTIME }, pieces(o, signal));
  }
  await zip.end();
}

const MTIME = new Date(Date.UTC(2000, 0, 1));

async function* pieces(o: Obj, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  for (let off = 0; off < o.size; off += PIECE) {
    signal?.throwIfAborted();
    yield await o.content.read(off, Math.min(PIECE, o.size - off));
  }
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
