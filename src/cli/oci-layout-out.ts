// Where `convert --to nydus` writes its OCI image layout: a folder (blobs streamed to a partial
// file, renamed to their digest at the end) or an oci-archive tar (each blob's header written in
// place once its digest and size are known: lib/oci/layout-tar.ts). Nothing is written outside OUT.
import { mkdir, open, readdir, rename, rm, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobOut, LayoutSink } from '../lib/oci/nydus.ts';
import { layoutBlobHex, tarLayoutSink } from '../lib/oci/layout-tar.ts';
import { UsageError } from './format.ts';

async function writeAll(fh: FileHandle, b: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < b.length) {
    const { bytesWritten } = await fh.write(b, done, b.length - done, position + done);
    done += bytesWritten;
  }
}

/** OUT as a folder: it must not exist, or be an empty directory. */
export async function folderLayout(dir: string): Promise<LayoutSink> {
  const st = await stat(dir).catch(() => null);
  if (st && !(st.isDirectory() && (await readdir(dir)).length === 0)) throw new UsageError(`${dir} exists: the output folder must be new or empty`);
  // OUT itself only (not missing parents: nothing is made outside OUT)
  if (!st) {
    await mkdir(dir).catch((e: NodeJS.ErrnoException) => {
      throw e.code === 'ENOENT' ? new UsageError(`${dir}: its parent folder does not exist`) : e;
    });
  }
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  let n = 0;
  return {
    async blob(): Promise<BlobOut> {
      const partial = join(blobs, `.partial-${n++}`);
      const fh = await open(partial, 'wx');
      let pos = 0;
      let closed = false;
      return {
        async write(chunk) {
          await writeAll(fh, chunk, pos);
          pos += chunk.length;
        },
        async commit(digest) {
          closed = true;
          await fh.close();
          await rename(partial, join(blobs, layoutBlobHex(digest)));
        },
        async abort() {
          if (!closed) await fh.close().catch(() => undefined);
          closed = true;
          await unlink(partial).catch(() => undefined);
        },
      };
    },
    async file(path, bytes) {
      await writeFile(join(dir, path), bytes);
    },
    async close() {},
    async abort() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** OUT as an oci-archive (lib/oci/layout-tar.ts over a file handle). */
export async function tarLayout(path: string): Promise<LayoutSink> {
  const fh = await open(path, 'wx').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'EEXIST') throw new UsageError(`${path} exists: the output archive must be new`);
    throw e;
  });
  return tarLayoutSink({
    writeAt: (position, bytes) => writeAll(fh, bytes, position),
    close: () => fh.close(),
    async abort() {
      await fh.close().catch(() => undefined);
      await rm(path, { force: true });
    },
  });
}
