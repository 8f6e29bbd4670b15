/**
 * The converter worker: re-opens a dropped OCI image (its File objects, structured-cloned here; a
 * layout's files or one archive) and converts it through src/lib/app/convert.ts, streaming the
 * output to a save-picker file, a picked folder, or a Blob for a download (per layer: a picked
 * folder of layer-N.tar / layer-N.erofs pairs, or one tar of them). Progress goes to the
 * page through a Comlink proxy; `cancel()` aborts the running conversion, and what was written
 * is removed.
 */
import * as Comlink from 'comlink';
import { convertCommand, convertMerged, convertNydus, type ConvertChoice, type MergedResult } from '../src/lib/app/convert.ts';
import { archiveEnd, archiveMember, convertPerLayer, type PerLayerResult, type PerLayerStore } from '../src/lib/app/convert-per-layer.ts';
import { BlobFile } from '../src/lib/app/blob-file.ts';
import { throttled } from '../src/lib/app/throttle.ts';
import { wired, type WireError } from '../src/lib/app/wire.ts';
import { blobSpill } from '../src/lib/fs/sources/tar.ts';
import { CachedSource } from '../src/lib/io/cache.ts';
import { BlobSource, type ByteSource } from '../src/lib/io/source.ts';
import { filesFromList, filesFromTar, filesFromTarGz, loadOci, type LoadedOci, type OciFiles } from '../src/lib/oci/index.ts';
import { layoutBlobHex, tarLayoutSink, type PositionalFile } from '../src/lib/oci/layout-tar.ts';
import type { BlobOut, LayoutSink, NydusConvertResult, NydusProgress } from '../src/lib/oci/nydus.ts';
import { sniffCompression } from '../src/lib/oci/types.ts';

export type { WireError };

/** the dropped image: a layout's files with their paths, or one archive file */
export type ConvertInput = { file: File; path: string }[];

export type ConvertOutput =
  | { kind: 'blob' }
  | { kind: 'handle'; handle: FileSystemFileHandle }
  | { kind: 'dir'; handle: FileSystemDirectoryHandle };

export interface ConvertRequest {
  input: ConvertInput;
  /** the name the command line shows for the image and the output */
  imageName: string;
  outName: string;
  platform?: string;
  choice: ConvertChoice;
  output: ConvertOutput;
}

export type ConvertProgress = NydusProgress;

export interface ConvertResult {
  command: string;
  ms: number;
  /** the download's bytes (output 'blob'); a composefs image's objects go only to a folder */
  blob?: Blob;
  nydus?: NydusConvertResult;
  merged?: Omit<MergedResult, 'objects'> & { objects: number; objectBytes: number; objectsWritten: number };
  /** one tar index EROFS per layer, beside the layer's tar (names as in the folder or the tar) */
  perLayer?: PerLayerResult[];
}

type Writable = {
  write(d: Uint8Array | Blob | { type: 'write'; position: number; data: Uint8Array }): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
};

const writable = (h: FileSystemFileHandle): Promise<Writable> =>
  (h as unknown as { createWritable(o?: { keepExistingData?: boolean }): Promise<Writable> }).createWritable({ keepExistingData: false });

/** A file written at positions into memory (the download): a rewrite replaces the piece it covers. */
function memoryFile(signal: AbortSignal): PositionalFile & { blob(): Blob } {
  const parts: Uint8Array<ArrayBuffer>[] = [];
  const starts = new Map<number, number>();
  let end = 0;
  return {
    async writeAt(position, bytes) {
      signal.throwIfAborted();
      const copy = bytes.slice() as Uint8Array<ArrayBuffer>;
      if (position === end) {
        starts.set(position, parts.length);
        parts.push(copy);
        end += copy.length;
        return;
      }
      // the tar writer goes back only to a blob's header block, written alone before
      const i = starts.get(position);
      if (i === undefined || parts[i]!.length !== copy.length) throw new Error(`converter: a write at ${position} that is no earlier piece`);
      parts[i] = copy;
    },
    async close() {},
    async abort() {
      parts.length = 0;
    },
    blob: () => new Blob(parts, { type: 'application/x-tar' }),
  };
}

function handleFile(w: Writable, signal: AbortSignal): PositionalFile {
  return {
    async writeAt(position, data) {
      signal.throwIfAborted();
      await w.write({ type: 'write', position, data });
    },
    close: () => w.close(),
    abort: () => w.abort().catch(() => {}),
  };
}

/**
 * A picked output folder must be empty (as the CLI's OUT): a cancel removes what was written, and
 * nothing of the user's may be overwritten or removed with it.
 */
async function mustBeEmpty(root: FileSystemDirectoryHandle): Promise<void> {
  for await (const name of (root as unknown as { keys(): AsyncIterable<string> }).keys()) {
    throw { name: 'UsageError', message: `the folder ${root.name} holds ${name}: pick a new or empty folder for the output` } satisfies WireError;
  }
}

/** An OCI layout into a picked folder: blobs to partial files, renamed (moved) to their digest. */
async function dirLayout(root: FileSystemDirectoryHandle, signal: AbortSignal): Promise<LayoutSink> {
  await mustBeEmpty(root);
  const made: string[] = [];
  const blobs = await (await root.getDirectoryHandle('blobs', { create: true })).getDirectoryHandle('sha256', { create: true });
  let n = 0;
  return {
    async blob(): Promise<BlobOut> {
      const partial = `.partial-${n++}`;
      const h = await blobs.getFileHandle(partial, { create: true });
      const w = await writable(h);
      let done = false;
      return {
        async write(chunk) {
          signal.throwIfAborted();
          await w.write(chunk);
        },
        async commit(digest) {
          done = true;
          await w.close();
          const name = layoutBlobHex(digest);
          const move = (h as unknown as { move?(name: string): Promise<void> }).move;
          if (move) await move.call(h, name);
          else {
            // no FileSystemHandle.move: copied to its name
            const out = await writable(await blobs.getFileHandle(name, { create: true }));
            await out.write(new Uint8Array(await (await h.getFile()).arrayBuffer()));
            await out.close();
            await blobs.removeEntry(partial);
          }
          made.push(`blobs/sha256/${name}`);
        },
        async abort() {
          if (!done) await w.abort().catch(() => {});
          await blobs.removeEntry(partial).catch(() => {});
        },
      };
    },
    async file(path, bytes) {
      const w = await writable(await root.getFileHandle(path, { create: true }));
      await w.write(bytes);
      await w.close();
      made.push(path);
    },
    async close() {},
    async abort() {
      for (const p of made) {
        const at = p.startsWith('blobs/sha256/') ? blobs : root;
        await at.removeEntry(p.slice(p.lastIndexOf('/') + 1)).catch(() => {});
      }
      await root.removeEntry('blobs', { recursive: true }).catch(() => {});
    },
  };
}

const src = (f: Blob, name: string): ByteSource => new CachedSource(new BlobSource(f, name), 64 * 1024, 32 * 1024 * 1024);

/**
 * The per-layer pairs into a picked folder (empty, as the CLI's OUTDIR): each tar is written there
 * and read back from there for its index. `abort` removes every file written.
 */
async function folderPerLayer(root: FileSystemDirectoryHandle, signal: AbortSignal): Promise<PerLayerStore & { abort(): Promise<void> }> {
  await mustBeEmpty(root);
  const made: string[] = [];
  const create = async (name: string): Promise<{ h: FileSystemFileHandle; w: Writable }> => {
    const h = await root.getFileHandle(name, { create: true });
    made.push(name);
    return { h, w: await writable(h) };
  };
  return {
    where: (name) => name,
    async tar(name) {
      const { h, w } = await create(name);
      let open = true;
      return {
        async write(c) {
          signal.throwIfAborted();
          await w.write(c);
        },
        async end() {
          if (open) await w.close();
          open = false;
        },
        source: async () => src(await h.getFile(), name),
      };
    },
    async image(name) {
      const { w } = await create(name);
      return {
        async write(c) {
          signal.throwIfAborted();
          await w.write(c);
        },
        close: () => w.close(),
      };
    },
    async abort() {
      for (const name of made) await root.removeEntry(name).catch(() => {});
    },
  };
}

/**
 * The per-layer pairs as members of one tar, appended through `put` (a picked file, or parts of a
 * download). A layer's tar is kept in a Blob first (the browser pages big blobs to disk): its size
 * goes into the member header, and the index is built over it.
 */
function archivePerLayer(put: (part: Uint8Array | Blob) => Promise<void>, signal: AbortSignal): PerLayerStore {
  const member = async (name: string, b: Blob): Promise<void> => {
    const m = archiveMember(name, b.size);
    await put(m.header);
    await put(b);
    await put(m.padding);
  };
  return {
    where: (name) => name,
    async tar(name) {
      const f = new BlobFile(name, { signal });
      return {
        // the decompressor may fill its buffer again once this returns
        write: (c) => f.write(c.slice()),
        end: async () => f.close(),
        async source() {
          // the tar is whole and its diff_id checked: it goes out now, before its image
          const blob = f.finish();
          await member(name, blob);
          return src(blob, name);
        },
      };
    },
    async image(name) {
      const f = new BlobFile(name, { signal });
      return {
        write: (c) => f.write(c),
        // (closed after a failed build too: the whole output is dropped then)
        close: () => member(name, f.finish()),
      };
    },
  };
}

async function openImage(input: ConvertInput, platform: string | undefined, signal: AbortSignal, content: boolean): Promise<{ img: LoadedOci; files: OciFiles }> {
  let files: OciFiles;
  if (input.length === 1 && !input[0]!.path.includes('/')) {
    const one = src(input[0]!.file, input[0]!.file.name);
    const c = sniffCompression(await one.read(0, Math.min(4, one.size)));
    files = c === 'gzip' ? await filesFromTarGz(one, blobSpill()) : await filesFromTar(one);
  } else {
    files = filesFromList(input.map((f) => ({ path: f.path, source: src(f.file, f.file.name) })));
  }
  signal.throwIfAborted();
  return { img: await loadOci(files, { content, spill: blobSpill(), ...(platform ? { platform } : {}) }), files };
}

let running: AbortController | null = null;

const api = {
  cancel(): void {
    running?.abort(new DOMException('The conversion was cancelled', 'AbortError'));
  },

  async convert(req: ConvertRequest, onProgress: (p: ConvertProgress) => void): Promise<ConvertResult> {
    running?.abort();
    const ctl = new AbortController();
    running = ctl;
    const signal = ctl.signal;
    // at most one message per 80 ms, but every new layer and stage is told
    const report = throttled((p: ConvertProgress) => onProgress(p), {
      force: ([p], prev) => p.stage !== 'layer' || prev?.[0].stage !== 'layer' || prev[0].layer !== p.layer,
    });
    return wired(async () => {
      const t0 = performance.now();
      const command = convertCommand(req.imageName, req.choice, req.outName, req.platform);
      try {
        const c = req.choice;
        // per layer, the layer tars are read again from the blobs: the merged tree needs no content
        const { img, files } = await openImage(req.input, req.platform, signal, c.to !== 'erofs-per-layer');
        if (c.to === 'erofs-per-layer') {
          const o = req.output;
          const run = { aufs: c.aufs, signal, onProgress: report };
          if (o.kind === 'dir') {
            const store = await folderPerLayer(o.handle, signal);
            try {
              return { command, ms: performance.now() - t0, perLayer: await convertPerLayer(img, files, store, run) };
            } catch (e) {
              await store.abort();
              throw e;
            }
          }
          const parts: (Uint8Array<ArrayBuffer> | Blob)[] = [];
          const w = o.kind === 'handle' ? await writable(o.handle) : null;
          const put = async (p: Uint8Array | Blob): Promise<void> => {
            signal.throwIfAborted();
            if (w) await w.write(p);
            else parts.push(p as Uint8Array<ArrayBuffer> | Blob);
          };
          try {
            const perLayer = await convertPerLayer(img, files, archivePerLayer(put, signal), run);
            await put(archiveEnd());
            if (w) await w.close();
            return { command, ms: performance.now() - t0, perLayer, ...(w ? {} : { blob: new Blob(parts, { type: 'application/x-tar' }) }) };
          } catch (e) {
            if (w) await w.abort().catch(() => {});
            throw e;
          }
        }
        if (c.to === 'nydus') {
          const o = req.output;
          const mem = o.kind === 'blob' ? memoryFile(signal) : null;
          const sink = o.kind === 'dir' ? await dirLayout(o.handle, signal) : await tarLayoutSink(o.kind === 'handle' ? handleFile(await writable(o.handle), signal) : mem!);
          const nydus = await convertNydus(img, c, sink, { onProgress: report, signal, files });
          return { command, ms: performance.now() - t0, nydus, ...(mem ? { blob: mem.blob() } : {}) };
        }
        // one image: into memory, a picked file, or IMAGE + objects/ in a picked folder
        const o = req.output;
        const parts: Uint8Array<ArrayBuffer>[] = [];
        if (o.kind === 'dir') await mustBeEmpty(o.handle);
        const w = o.kind === 'handle' ? await writable(o.handle) : o.kind === 'dir' ? await writable(await o.handle.getFileHandle(req.outName, { create: true })) : null;
        try {
          const r = await convertMerged(img, c, { write: (b) => (w ? w.write(b) : void parts.push(b.slice() as Uint8Array<ArrayBuffer>)) }, { signal });
          if (w) await w.close();
          const objects = r.objects ?? [];
          let written = 0;
          if (o.kind === 'dir' && objects.length) {
            const store = await o.handle.getDirectoryHandle('objects', { create: true });
            for (const ob of objects) {
              signal.throwIfAborted();
              const [d, f] = ob.payload.split('/') as [string, string];
              const fw = await writable(await (await store.getDirectoryHandle(d, { create: true })).getFileHandle(f, { create: true }));
              await fw.write(await ob.content.read(0, ob.size));
              await fw.close();
              written++;
            }
          }
          const { objects: _o, ...rest } = r;
          return {
            command, ms: performance.now() - t0,
            merged: { ...rest, objects: objects.length, objectBytes: objects.reduce((s, x) => s + x.size, 0), objectsWritten: written },
            ...(o.kind === 'blob' ? { blob: new Blob(parts) } : {}),
          };
        } catch (e) {
          if (w) await w.abort().catch(() => {});
          if (o.kind === 'dir') {
            await o.handle.removeEntry(req.outName).catch(() => {});
            await o.handle.removeEntry('objects', { recursive: true }).catch(() => {});
          }
          throw e;
        }
      } catch (e) {
        if (signal.aborted) throw { name: 'AbortError', message: 'The conversion was cancelled' } satisfies WireError;
        throw e;
      } finally {
        if (!signal.aborted) report.flush();
        if (running === ctl) running = null;
      }
    });
  },
};

export type ConverterApi = typeof api;
// only in a worker: Node imports this module for its `api` (tests)
if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined') Comlink.expose(api);
