// An OCI image layout written as one tar (an oci-archive) to a file that can be written at a
// position: Node's FileHandle, a page's FileSystemWritableFileStream ({ type: 'write', position }).
// Blobs stream straight into the tar; each blob's header (its name is its digest, known only at its
// end) is written in place once the blob is done. One blob at a time.
import { TAR_BLOCK } from '../tar/structs.ts';
import { ustarHeader } from '../tar/writer.ts';
import type { BlobOut, LayoutSink } from './nydus.ts';

/** A file written front to back, and at earlier positions. */
export interface PositionalFile {
  writeAt(position: number, bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
  /** close and remove what was written */
  abort(): Promise<void>;
}

const enc = new TextEncoder();
const none = new Uint8Array(0);
const SHA256 = /^sha256:([0-9a-f]{64})$/;

/** blobs/sha256/<hex> of a digest the converter computed (never a name from the input). */
export function layoutBlobHex(digest: string): string {
  const m = SHA256.exec(digest);
  if (!m) throw new Error(`layout writer: ${digest} is no sha256 digest`);
  return m[1]!;
}

export async function tarLayoutSink(file: PositionalFile): Promise<LayoutSink> {
  let pos = 0;
  const put = async (b: Uint8Array): Promise<void> => {
    await file.writeAt(pos, b);
    pos += b.length;
  };
  const pad = async (size: number): Promise<void> => {
    const p = (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK;
    if (p) await put(new Uint8Array(p));
  };
  // mtime 0 and owner 0 everywhere: the same image gives the same archive
  const header = (name: string, type: '0' | '5', size: number): Uint8Array => ustarHeader(enc.encode(name), type, type === '5' ? 0o755 : 0o644, 0, 0, size, 0, none, 0, 0);
  for (const d of ['blobs/', 'blobs/sha256/']) await put(header(d, '5', 0));
  let busy = false;
  return {
    async blob(): Promise<BlobOut> {
      if (busy) throw new Error('tar layout writer: one blob at a time');
      busy = true;
      const at = pos;
      await put(new Uint8Array(TAR_BLOCK));
      let size = 0;
      return {
        async write(chunk) {
          await put(chunk);
          size += chunk.length;
        },
        async commit(digest) {
          await file.writeAt(at, header(`blobs/sha256/${layoutBlobHex(digest)}`, '0', size));
          await pad(size);
          busy = false;
        },
        async abort() {
          busy = false;
        },
      };
    },
    async file(name, bytes) {
      await put(header(name, '0', bytes.length));
      await put(bytes);
      await pad(bytes.length);
    },
    async close() {
      await put(new Uint8Array(2 * TAR_BLOCK));
      await file.close();
    },
    abort: () => file.abort(),
  };
}
