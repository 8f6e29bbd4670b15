// Where `convert --to nydus` writes its OCI image layout: a folder (blobs streamed to a partial
// file, renamed to their digest at the end) or an oci-archive tar (each blob's header written in
// place once its digest and size are known). Nothing is written outside OUT.
import { mkdir, open, readdir, rename, rm, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobOut, LayoutSink } from '../lib/oci/nydus.ts';
import { TAR_BLOCK } from '../lib/tar/structs.ts';
import { ustarHeader } from '../lib/tar/writer.ts';
import { UsageError } from './format.ts';

const enc = new TextEncoder();
const SHA256 = /^sha256:([0-9a-f]{64})$/;

function hexOf(digest: string): string {
  const m = SHA256.exec(digest);
  if (!m) throw new Error(`layout writer: ${digest} is no sha256 digest`);
  return m[1]!;
}

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
          await rename(partial, join(blobs, hexOf(digest)));
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

/** OUT as an oci-archive: a tar of the layout, written front to back except each blob's own header. */
export async function tarLayout(path: string): Promise<LayoutSink> {
  const fh = await open(path, 'wx').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'EEXIST') throw new UsageError(`${path} exists: the output archive must be new`);
    throw e;
  });
  let pos = 0;
  const none = new Uint8Array(0);
  const mtime = 0;
  const put = async (b: Uint8Array): Promise<void> => {
    await writeAll(fh, b, pos);
    pos += b.length;
  };
  const pad = async (size: number): Promise<void> => {
    const p = (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK;
    if (p) await put(new Uint8Array(p));
  };
  for (const d of ['blobs/', 'blobs/sha256/']) await put(ustarHeader(enc.encode(d), '5', 0o755, 0, 0, 0, mtime, none, 0, 0));
  let open1 = false;
  return {
    async blob(): Promise<BlobOut> {
      if (open1) throw new Error('tar layout writer: one blob at a time');
      open1 = true;
      const at = pos;
      await put(new Uint8Array(TAR_BLOCK));
      let size = 0;
      return {
        async write(chunk) {
          await put(chunk);
          size += chunk.length;
        },
        async commit(digest) {
          await writeAll(fh, ustarHeader(enc.encode(`blobs/sha256/${hexOf(digest)}`), '0', 0o644, 0, 0, size, mtime, none, 0, 0), at);
          await pad(size);
          open1 = false;
        },
        async abort() {
          open1 = false;
        },
      };
    },
    async file(name, bytes) {
      await put(ustarHeader(enc.encode(name), '0', 0o644, 0, 0, bytes.length, mtime, none, 0, 0));
      await put(bytes);
      await pad(bytes.length);
    },
    async close() {
      await put(new Uint8Array(2 * TAR_BLOCK));
      await fh.close();
    },
    async abort() {
      await fh.close().catch(() => undefined);
      await rm(path, { force: true });
    },
  };
}
