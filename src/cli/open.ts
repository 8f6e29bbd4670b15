import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import '../lib/formats.ts';
import { IoError } from '../lib/errors.ts';
import { CachedSource } from '../lib/io/cache.ts';
import { NodeFileSource } from '../lib/io/node.ts';
import type { ByteSource } from '../lib/io/source.ts';
import { openImage } from '../lib/open.ts';
import type { ReadOnlyFs } from '../lib/fs/types.ts';

export interface ImageArgs {
  blob?: string[];
  'blob-dir'?: string;
  device?: string[];
  /** composefs object store (mkcomposefs --digest-store, composefs-info --basedir) */
  objects?: string;
}

/** A named, cached Node file: the name is the basename so RAFS can match blobs by id. */
/** Every file the CLI opened, closed once at exit (unmatched blobs would otherwise be closed by GC, with a warning). */
const opened: NodeFileSource[] = [];
export async function closeAll(): Promise<void> {
  await Promise.all(opened.splice(0).map((s) => s.close()));
}

export async function openFile(path: string): Promise<ByteSource> {
  const raw = await NodeFileSource.open(path, { sync: true });
  opened.push(raw);
  // 4 KiB blocks: mkfs.erofs 1.5 writes each inode (and its inline tail) right after the file's data,
  // so bigger blocks mostly fetch file data the metadata walk does not want
  const cached = new CachedSource(raw, 4 * 1024, 64 * 1024 * 1024);
  Object.defineProperty(cached, 'name', { value: basename(path) });
  return cached;
}

export async function openImageFile(path: string, args: ImageArgs = {}): Promise<ReadOnlyFs> {
  return openImageSource(await openFile(path), args);
}

/** An image already opened with openFile, with its blobs, devices and object store from `args`. */
export async function openImageSource(image: ByteSource, args: ImageArgs = {}): Promise<ReadOnlyFs> {
  const blobs: ByteSource[] = [];
  for (const p of [...(args.device ?? []), ...(args.blob ?? [])]) blobs.push(await openFile(p));
  const dir = args['blob-dir'];
  if (dir) {
    for (const name of (await readdir(dir)).sort()) {
      const p = join(dir, name);
      if ((await stat(p)).isFile()) blobs.push(await openFile(p));
    }
  }
  const objects = args.objects;
  const objectStore = objects
    ? async (payload: string): Promise<ByteSource | null> => {
        // payloads come from the image: only "xx/hex…" shapes may touch the disk
        if (!/^[0-9a-f]{2}\/[0-9a-f]{62}$/.test(payload)) return null;
        // opened without a stat first (openFile checks for a regular file): an extract opens one
        // object per file, and each thread-pool round trip left the CLI waiting
        return openFile(join(objects, payload)).catch((e: unknown) => {
          if (e instanceof IoError || (e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
          throw e;
        });
      }
    : undefined;
  return openImage(image, { blobs, ...(objectStore ? { objectStore } : {}) });
}
