// Saving what the page produces (a file's content, a tar export). Large or unknown-size outputs go
// through the File System Access API straight to disk (showSaveFilePicker + createWritable) where the
// browser has it; otherwise the pieces are collected into a Blob and downloaded.

/** outputs at or above this size (or of unknown size) use the save picker when there is one */
export const PICKER_THRESHOLD = 32 * 1024 * 1024;

type Picker = (opts: { suggestedName?: string }) => Promise<{ createWritable(): Promise<{ write(b: Uint8Array): Promise<void>; close(): Promise<void>; abort(): Promise<void> }> }>;

export type SaveResult = 'picker' | 'download' | 'cancelled';

/**
 * `produce` calls `write` for every piece, in order (awaiting it gives back-pressure).
 * `size` null: unknown in advance.
 */
export async function saveStream(
  name: string,
  size: number | null,
  produce: (write: (b: Uint8Array) => Promise<void>) => Promise<void>,
  type = 'application/octet-stream',
): Promise<SaveResult> {
  const picker = (globalThis as unknown as { showSaveFilePicker?: Picker }).showSaveFilePicker;
  if (picker && (size === null || size >= PICKER_THRESHOLD)) {
    let handle;
    try {
      handle = await picker({ suggestedName: name });
    } catch (e) {
      if ((e as Error).name === 'AbortError') return 'cancelled';
      throw e;
    }
    const w = await handle.createWritable();
    try {
      await produce((b) => w.write(b));
      await w.close();
    } catch (e) {
      await w.abort().catch(() => {});
      throw e;
    }
    return 'picker';
  }
  const parts: Uint8Array<ArrayBuffer>[] = [];
  await produce(async (b) => {
    parts.push(b as Uint8Array<ArrayBuffer>);
  });
  downloadBlob(new Blob(parts, { type }), name);
  return 'download';
}

/** Hand `blob` to the browser's downloads as `name` (the object URL is revoked a minute later). */
export function downloadBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
