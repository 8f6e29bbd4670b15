/** A PAX tar of a file, a subtree or the whole image, handed over in batches of about `batch` bytes. */
import { bytes, type ReadOnlyFs } from '../fs/types.ts';
import { exportTar, type ExportTarResult } from '../tar/writer.ts';

export interface BatchedExportOptions {
  signal?: AbortSignal;
  /** a non-directory start is named this in the tar (default "file") */
  name?: string | null;
  /** bytes per write (default 4 MiB): each batch is one new buffer the caller may transfer */
  batch?: number;
  onProgress?: (entries: number, bytes: number) => void;
}

export async function exportTarBatched(fs: ReadOnlyFs, ino: number, write: (chunk: Uint8Array) => Promise<void>, opts: BatchedExportOptions = {}): Promise<ExportTarResult> {
  const batch = opts.batch ?? 4 << 20;
  const attr = await fs.getattr(ino);
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    if (pendingBytes === 0) return;
    const out = new Uint8Array(pendingBytes);
    let o = 0;
    for (const p of pending) {
      out.set(p, o);
      o += p.length;
    }
    pending = [];
    pendingBytes = 0;
    await write(out);
  };
  const res = await exportTar(fs, ino, {
    write: async (chunk) => {
      pending.push(chunk.slice());
      pendingBytes += chunk.length;
      if (pendingBytes >= batch) await flush();
    },
  }, {
    ...(opts.signal ? { signal: opts.signal } : {}), prefix: attr.type === 'dir' ? [] : [bytes(opts.name ?? 'file')], unsafeNames: 'skip',
    onProgress: (p) => opts.onProgress?.(p.entries, p.bytes),
  });
  await flush();
  return res;
}
